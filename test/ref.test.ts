// Tests of the float64 reference library itself, against values computed by hand (or quoted from
// the numpy / torch documentation examples).
import { describe, it, expect } from 'vitest';
import * as R from './ref/index.ts';

const N = R.fromNested;
/** Exact comparison of an ND with a nested array (shape and values). */
const same = (x: R.ND, nested: R.Nested) => expect(R.toNested(x)).toEqual(nested);
const close = (x: R.ND, nested: R.Nested, tol = 1e-12) => {
  const e = N(nested);
  expect(x.shape).toEqual(e.shape);
  R.assertClose(x, e, { rtol: tol, atol: tol });
};

describe('ND basics', () => {
  it('constructs, strides, nested round trip', () => {
    const a = R.nd([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.data).toBeInstanceOf(Float64Array);
    same(a, [[1, 2, 3], [4, 5, 6]]);
    expect(a.get(1, 2)).toBe(6);
    expect(a.get(-1, 0)).toBe(4);
    expect(R.size([2, 3, 4])).toBe(24);
    expect(R.size([])).toBe(1);
    expect(R.stridesOf([2, 3, 4])).toEqual([12, 4, 1]);
    expect(R.stridesOf([])).toEqual([]);
    expect(R.unravel(17, [2, 3, 4])).toEqual([1, 1, 1]);
    expect(R.ravel([1, 1, 1], [2, 3, 4])).toBe(17);
    same(N([[[1], [2]]]), [[[1], [2]]]);
    expect(N([[[1], [2]]]).shape).toEqual([1, 2, 1]);
    expect(N(5).shape).toEqual([]);
    expect(R.toNested(N(5))).toBe(5);
    expect(() => N([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => R.nd([2, 2], [1, 2, 3])).toThrow(/does not match/);
  });

  it('copies its data and accepts Float32Array', () => {
    const src = [1, 2, 3];
    const a = R.nd([3], src);
    src[0] = 99;
    expect(a.data[0]).toBe(1);
    const f = R.nd([2], Float32Array.of(0.5, 1.5));
    expect(Array.from(f.data)).toEqual([0.5, 1.5]);
  });

  it('zeros, full, eye, arange', () => {
    same(R.zeros([2, 2]), [[0, 0], [0, 0]]);
    same(R.full([3], 7), [7, 7, 7]);
    same(R.eye(3), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    same(R.arange(4), [0, 1, 2, 3]);
    same(R.zeros([0, 3]), []);
  });
});

describe('rng', () => {
  it('is deterministic per seed and in range', () => {
    const a = R.rng(42), b = R.rng(42), c = R.rng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(c.next()).not.toBe(xs[0]);
    const r = R.rng(1);
    for (let i = 0; i < 1000; i++) {
      const u = r.uniform(-2, 3);
      expect(u >= -2 && u < 3).toBe(true);
      const k = r.int(3, 7);
      expect(Number.isInteger(k) && k >= 3 && k < 7).toBe(true);
    }
  });

  it('normal has about zero mean and unit variance', () => {
    const x = R.rng(7).ndNormal([20000]);
    expect(Math.abs(R.mean(x).item())).toBeLessThan(0.03);
    expect(Math.abs(R.variance(x).item() - 1)).toBeLessThan(0.05);
  });

  it('ndUniform / randomShape', () => {
    const r = R.rng(3);
    const x = r.ndUniform([4, 5], 2, 3);
    expect(x.shape).toEqual([4, 5]);
    expect(x.data.every((v) => v >= 2 && v < 3)).toBe(true);
    const y = r.ndUniform([100]);
    expect(y.data.every((v) => v >= -1 && v < 1)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const s = r.randomShape(3, 4);
      expect(s.length).toBe(3);
      expect(s.every((d) => d >= 1 && d <= 4)).toBe(true);
    }
  });

  it('randomBroadcastPair yields compatible shapes covering the edge cases', () => {
    const r = R.rng(11);
    let sawRankDiff = false, sawOneVsN = false, sawScalar = false;
    for (let i = 0; i < 300; i++) {
      const rank = 1 + (i % 4);
      const [a, b] = r.randomBroadcastPair(rank, 4);
      const out = R.broadcastShapes(a, b);
      expect(out.length).toBe(rank);
      expect(Math.max(a.length, b.length)).toBe(rank);
      if (a.length !== b.length) sawRankDiff = true;
      if (a.length === 0 || b.length === 0) sawScalar = true;
      const la = a.length, lb = b.length;
      for (let k = 1; k <= Math.min(la, lb); k++) if (a[la - k] !== b[lb - k]) sawOneVsN = true;
    }
    expect(sawRankDiff && sawOneVsN && sawScalar).toBe(true);
  });
});

describe('broadcasting and elementwise', () => {
  it('broadcastShapes follows numpy', () => {
    expect(R.broadcastShapes([3, 1], [4])).toEqual([3, 4]);
    expect(R.broadcastShapes([8, 1, 6, 1], [7, 1, 5])).toEqual([8, 7, 6, 5]);
    expect(R.broadcastShapes([], [2, 3])).toEqual([2, 3]);
    expect(R.broadcastShapes([5, 4], [1])).toEqual([5, 4]);
    expect(R.broadcastShapes([15, 3, 5], [15, 1, 5])).toEqual([15, 3, 5]);
    expect(() => R.broadcastShapes([3], [4])).toThrow(/\[3\].*\[4\]/);
    expect(() => R.broadcastShapes([2, 1], [8, 4, 3])).toThrow(/\[2, 1\].*\[8, 4, 3\]/);
  });

  it('broadcastTo and its adjoint sumTo', () => {
    const x = N([[1], [2], [3]]);
    same(R.broadcastTo(x, [3, 4]), [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]]);
    same(R.broadcastTo(N([1, 2]), [2, 2]), [[1, 2], [1, 2]]);
    same(R.broadcastTo(5, [2]), [5, 5]);
    expect(() => R.broadcastTo(N([1, 2]), [3])).toThrow();
    expect(() => R.broadcastTo(N([[1, 2]]), [2])).toThrow();
    same(R.sumTo(R.broadcastTo(x, [2, 3, 4]), [3, 1]), [[8], [16], [24]]);
  });

  it('zip broadcasts [3,1] with [4]', () => {
    const a = N([[0], [10], [20]]);
    const b = N([1, 2, 3, 4]);
    same(R.add(a, b), [[1, 2, 3, 4], [11, 12, 13, 14], [21, 22, 23, 24]]);
    same(R.sub(b, 1), [0, 1, 2, 3]);
    same(R.mul(N([[1, 2], [3, 4]]), N([10, 100])), [[10, 200], [30, 400]]);
    same(R.div(N([1, 3]), 2), [0.5, 1.5]);
    same(R.pow(N([2, 3]), N([3, 2])), [8, 9]);
    same(R.maximum(N([1, 5]), N([[3], [0]])), [[3, 5], [1, 5]]);
    same(R.minimum(N([1, 5]), 2), [1, 2]);
  });

  it('where broadcasts three ways', () => {
    const c = N([[1], [0]]);
    same(R.where(c, N([1, 2, 3]), -1), [[1, 2, 3], [-1, -1, -1]]);
  });

  it('unary functions', () => {
    const x = N([-2, 0, 3]);
    same(R.neg(x), [2, -0, -3]);
    same(R.abs(x), [2, 0, 3]);
    same(R.sign(x), [-1, 0, 1]);
    same(R.square(x), [4, 0, 9]);
    same(R.relu(x), [0, 0, 3]);
    expect(Number.isNaN(R.relu(N([NaN])).item())).toBe(true);
    close(R.exp(N([0, 1])), [1, Math.E]);
    close(R.log(N([1, Math.E])), [0, 1]);
    close(R.sqrt(N([4, 9])), [2, 3]);
    close(R.sigmoid(N([0, Math.log(3)])), [0.5, 0.75]);
    close(R.tanh(N([0, Math.log(2)])), [0, 0.6]); // (4-1)/(4+1)
    close(R.softplus(N([0, 1000, -1000])), [Math.log(2), 1000, 0]);
    same(R.map(N([1, 2]), (v, i) => v * 10 + i), [10, 21]);
  });
});

describe('reductions', () => {
  const x = N([[1, 2, 3], [4, 5, 6]]);
  it('sum / mean / prod over axes with keepdims', () => {
    same(R.sum(x), 21);
    same(R.sum(x, 0), [5, 7, 9]);
    same(R.sum(x, 1), [6, 15]);
    same(R.sum(x, -1, true), [[6], [15]]);
    same(R.sum(x, [0, 1], true), [[21]]);
    same(R.sum(x, []), [[1, 2, 3], [4, 5, 6]]);
    same(R.mean(x, 0), [2.5, 3.5, 4.5]);
    same(R.prod(x, 1), [6, 120]);
    const y = R.arange(24);
    const y3 = R.reshape(y, [2, 3, 4]);
    same(R.sum(y3, [0, 2]), [0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19, 8 + 9 + 10 + 11 + 20 + 21 + 22 + 23]);
    same(R.sum(y3, [-1, 0], true), [[[60], [92], [124]]]);
    expect(() => R.sum(x, [0, -2])).toThrow(/duplicate/);
    expect(() => R.sum(x, 2)).toThrow(/out of range/);
  });

  it('max / min / logsumexp / argmax', () => {
    same(R.max(x), 6);
    same(R.max(x, 0), [4, 5, 6]);
    same(R.min(x, 1, true), [[1], [4]]);
    close(R.logsumexp(N([0, 0, 0, 0])), Math.log(4));
    close(R.logsumexp(N([[1000, 1000], [-1000, -1000]]), 1), [1000 + Math.log(2), -1000 + Math.log(2)]);
    same(R.logsumexp(N([-Infinity, -Infinity])), -Infinity);
    const t = N([[1, 3, 3, 0], [5, 5, -1, 5]]);
    same(R.argmax(t, 1), [1, 0]);
    same(R.argmax(t, -1, true), [[1], [0]]);
    same(R.argmax(t, 0), [1, 1, 0, 1]);
    same(R.argmax(t), 4);
    same(R.argmin(t, 1), [3, 2]);
    expect(Number.isNaN(R.max(N([1, NaN, 2])).item())).toBe(true);
  });

  it('variance and cumsum', () => {
    close(R.variance(N([1, 2, 3, 4])), 1.25);
    close(R.variance(N([1, 2, 3, 4]), undefined, false, 1), 5 / 3);
    same(R.cumsum(x, 1), [[1, 3, 6], [4, 9, 15]]);
    same(R.cumsum(x, 0), [[1, 2, 3], [5, 7, 9]]);
  });
});

describe('shape ops', () => {
  const x = R.reshape(R.arange(6), [2, 3]);
  it('reshape / transpose', () => {
    same(R.reshape(x, [3, -1]), [[0, 1], [2, 3], [4, 5]]);
    expect(() => R.reshape(x, [4, -1])).toThrow();
    same(R.transpose(x), [[0, 3], [1, 4], [2, 5]]);
    const y = R.reshape(R.arange(24), [2, 3, 4]);
    const t = R.transpose(y, [2, 0, 1]);
    expect(t.shape).toEqual([4, 2, 3]);
    expect(t.get(3, 1, 2)).toBe(y.get(1, 2, 3));
    expect(R.transpose(y).shape).toEqual([4, 3, 2]);
    expect(R.transpose(y).get(1, 2, 0)).toBe(y.get(0, 2, 1));
    same(R.mT(N([[[1, 2]]])), [[[1], [2]]]);
    same(R.expandDims(N([1, 2]), -1), [[1], [2]]);
    same(R.squeeze(N([[[1], [2]]])), [1, 2]);
  });

  it('slice with python semantics', () => {
    const a = R.arange(10);
    same(R.slice(a, [2], [7], [2]), [2, 4, 6]);
    same(R.slice(a, [-3], [100]), [7, 8, 9]);
    same(R.slice(a, [null], [null], [-3]), [9, 6, 3, 0]);
    same(R.slice(a, [8], [2], [-2]), [8, 6, 4]);
    same(R.slice(a, [5], [2]), []);
    same(R.slice(x, [0, 1], [2, 3]), [[1, 2], [4, 5]]);
    same(R.slice(x, [1], [2]), [[3, 4, 5]]);
  });

  it('concat / stack / split', () => {
    const a = N([[1, 2], [3, 4]]), b = N([[5, 6]]);
    same(R.concat([a, b], 0), [[1, 2], [3, 4], [5, 6]]);
    same(R.concat([a, R.transpose(b)], 1), [[1, 2, 5], [3, 4, 6]]);
    same(R.concat([a, R.transpose(b)], -1), [[1, 2, 5], [3, 4, 6]]);
    expect(() => R.concat([a, b], 1)).toThrow();
    same(R.stack([N([1, 2]), N([3, 4])], 0), [[1, 2], [3, 4]]);
    same(R.stack([N([1, 2]), N([3, 4])], 1), [[1, 3], [2, 4]]);
    same(R.stack([N([1, 2]), N([3, 4])], -1), [[1, 3], [2, 4]]);
    const [p, q] = R.split(N([1, 2, 3, 4, 5]), [2, 3]);
    same(p, [1, 2]);
    same(q, [3, 4, 5]);
  });

  it('gather (torch.gather doc example)', () => {
    // torch.gather(torch.tensor([[1, 2], [3, 4]]), 1, torch.tensor([[0, 0], [1, 0]])) → [[1, 1], [4, 3]]
    const t = N([[1, 2], [3, 4]]);
    same(R.gather(t, N([[0, 0], [1, 0]]), 1), [[1, 1], [4, 3]]);
    // axis 0: out[i][j] = t[idx[i][j]][j]
    same(R.gather(t, N([[1, 0], [0, 0]]), 0), [[3, 2], [1, 2]]);
    // indices smaller than x off the axis, and more indices than x along it
    same(R.gather(N([[1, 2, 3], [4, 5, 6]]), N([[2, 2, 0, 1]]), 1), [[3, 3, 1, 2]]);
    expect(() => R.gather(t, N([[2, 0]]), 1)).toThrow(/out of range/);
    expect(() => R.gather(t, N([[-1, 0]]), 1)).toThrow(/out of range/);
    expect(() => R.gather(t, N([0, 1]), 1)).toThrow(/rank/);
    // scatterAdd is gather's adjoint: <gather(x, i), g> = <x, scatterAdd(g, i)>
    const rg = R.rng(5);
    const xx = rg.ndUniform([3, 4]), ii = rg.ndInt([3, 6], 0, 4), gg = rg.ndUniform([3, 6]);
    close(R.sum(R.mul(R.gather(xx, ii, 1), gg)), R.sum(R.mul(xx, R.scatterAdd(gg, ii, 1, [3, 4]))).item() as number);
  });

  it('take (numpy.take doc example)', () => {
    // np.take([4, 3, 5, 7, 6, 8], [0, 1, 4]) → [4, 3, 6]
    const a = N([4, 3, 5, 7, 6, 8]);
    same(R.take(a, [0, 1, 4]), [4, 3, 6]);
    // np.take(a, [[0, 1], [2, 3]]) → [[4, 3], [5, 7]]
    same(R.take(a, N([[0, 1], [2, 3]])), [[4, 3], [5, 7]]);
    same(R.take(a, [-1]), [8]);
    const m = N([[1, 2, 3], [4, 5, 6]]);
    same(R.take(m, [2, 0], 1), [[3, 1], [6, 4]]);
    same(R.take(m, [1, 1, 0], 0), [[4, 5, 6], [4, 5, 6], [1, 2, 3]]);
    same(R.take(m, 1, 1), [2, 5]);
    same(R.take(m, [5]), [6]); // flattened
    same(R.takeAlongAxis(m, N([[2], [0]]), 1), [[3], [4]]);
    same(R.oneHot(N([2, 0]), 3), [[0, 0, 1], [1, 0, 0]]);
  });

  it('pad / flip / tile / repeat', () => {
    same(R.pad(N([[1, 2]]), [[1, 0], [0, 2]]), [[0, 0, 0, 0], [1, 2, 0, 0]]);
    same(R.pad(N([1]), 1, 9), [9, 1, 9]);
    same(R.flip(N([[1, 2], [3, 4]]), 1), [[2, 1], [4, 3]]);
    same(R.flip(N([[1, 2], [3, 4]])), [[4, 3], [2, 1]]);
    same(R.tile(N([1, 2]), [2]), [1, 2, 1, 2]);
    same(R.repeat(N([1, 2]), 2, 0), [1, 1, 2, 2]);
  });
});

describe('linear algebra', () => {
  it('matmul of known matrices', () => {
    const a = N([[1, 2], [3, 4]]), b = N([[5, 6], [7, 8]]);
    same(R.matmul(a, b), [[19, 22], [43, 50]]);
    same(R.matmul(N([[1, 2, 3]]), N([[1], [2], [3]])), [[14]]);
    // 1-D promotion
    same(R.matmul(N([1, 2]), a), [7, 10]);
    same(R.matmul(a, N([1, 2])), [5, 11]);
    same(R.matmul(N([1, 2]), N([3, 4])), 11);
    // batch broadcast: [2,1,2] with [2,2] and [3,2,2]
    const batch = N([[[1, 0]], [[0, 1]]]);
    same(R.matmul(batch, a), [[[1, 2]], [[3, 4]]]);
    const bb = R.stack([R.eye(2), a, b], 0);
    const out = R.matmul(N([[[1, 1]]]), bb); // [1,1,2] @ [3,2,2] → [3,1,2]
    same(out, [[[1, 1]], [[4, 6]], [[12, 14]]]);
    expect(() => R.matmul(a, N([[1, 2, 3]]))).toThrow(/inner/);
  });

  it('dot / outer / trace / diag', () => {
    same(R.dot(N([1, 2, 3]), N([4, 5, 6])), 32);
    same(R.dot(N([[1, 2], [3, 4]]), N([[5, 6], [7, 8]])), [[19, 22], [43, 50]]);
    same(R.dot(N([[1, 2], [3, 4]]), N([1, 1])), [3, 7]);
    // N-D dot: a [2,2] · b [3,2,1] → [2,3,1]; dot(a, b)[i,j,0] = sum_k a[i,k] b[j,k,0]
    const d = R.dot(N([[1, 2], [3, 4]]), N([[[1], [0]], [[0], [1]], [[1], [1]]]));
    same(d, [[[1], [2], [3]], [[3], [4], [7]]]);
    same(R.outer(N([1, 2]), N([3, 4, 5])), [[3, 4, 5], [6, 8, 10]]);
    expect(R.trace(N([[1, 2], [3, 4]]))).toBe(5);
    same(R.diag(N([1, 2])), [[1, 0], [0, 2]]);
  });

  it('solve / inv / det', () => {
    const A = N([[2, 1], [1, 3]]);
    close(R.solve(A, N([3, 5])), [0.8, 1.4]); // 2x+y=3, x+3y=5
    close(R.inv(A), [[0.6, -0.2], [-0.2, 0.4]]);
    close(R.det(A), 5);
    close(R.det(N([[0, 1], [1, 0]])), -1); // needs a pivot swap
    close(R.det(N([[1, 2], [2, 4]])), 0);
    close(R.det(N([[2, 0, 0], [0, 3, 0], [4, 5, 6]])), 36);
    expect(() => R.solve(N([[1, 2], [2, 4]]), N([1, 1]))).toThrow(/singular/);
    const M = R.rng(9).ndUniform([3, 5, 5]);
    const I = R.broadcastTo(R.eye(5), [3, 5, 5]);
    R.assertClose(R.matmul(R.inv(M), M), I, { rtol: 1e-9, atol: 1e-9, label: 'inv·A' });
    R.assertClose(R.matmul(M, R.solve(M, R.eye(5))), I, { rtol: 1e-9, atol: 1e-9, label: 'A·solve(A, I)' });
    // zero leading pivot needs partial pivoting
    close(R.solve(N([[0, 1], [1, 0]]), N([[2], [3]])), [[3], [2]]);
  });
});

describe('finite differences', () => {
  it('numGrad of x³ is 3x², and inputs are untouched', () => {
    const x = N([-1.5, 0.5, 2]);
    const before = Array.from(x.data);
    const [g] = R.numGrad((xs) => R.sum(R.pow(xs[0], 3)), [x]);
    close(g, [6.75, 0.75, 12], 1e-8);
    expect(Array.from(x.data)).toEqual(before);
  });

  it('numGrad with several inputs', () => {
    // f(a, b) = sum(a * b²): df/da = b², df/db = 2ab
    const a = N([1, 2]), b = N([3, -1]);
    const [ga, gb] = R.numGrad((xs) => R.sum(R.mul(xs[0], R.square(xs[1]))).item(), [a, b]);
    close(ga, [9, 1], 1e-8);
    close(gb, [6, -4], 1e-8);
  });

  it('numJacobian of a matrix-vector product is the matrix', () => {
    const A = N([[1, 2, 3], [4, 5, 6]]);
    const x = N([0.5, -1, 2]);
    const [Jx, JA] = R.numJacobian((xs) => R.matmul(xs[1], xs[0]), [x, A]);
    close(Jx, [[1, 2, 3], [4, 5, 6]], 1e-8);
    expect(JA.shape).toEqual([2, 2, 3]);
    // d(Ax)_o / dA[i][j] = [o = i] x_j
    close(JA, [[[0.5, -1, 2], [0, 0, 0]], [[0, 0, 0], [0.5, -1, 2]]], 1e-8);
  });

  it('numHessian of xᵀAx is A + Aᵀ, and numHvp matches it', () => {
    const A = N([[1, 2, 0], [-1, 3, 4], [0.5, 0, 2]]);
    const f = (x: R.ND) => R.dot(x, R.matmul(A, x)).item();
    const x = N([0.3, -0.7, 1.1]);
    const H = R.numHessian(f, x);
    R.assertClose(H, R.add(A, R.transpose(A)), { rtol: 1e-6, atol: 1e-6, label: 'hessian' });
    const v = N([1, 2, -1]);
    const [hv] = R.numHvp((xs) => R.numGrad((ys) => f(ys[0]), xs), [x], [v], 1e-3);
    R.assertClose(hv, R.matmul(R.add(A, R.transpose(A)), v), { rtol: 1e-5, atol: 1e-5, label: 'hvp' });
    close(R.numJvp((xs) => R.matmul(A, xs[0]), [x], [v]), R.toNested(R.matmul(A, v)), 1e-8);
  });
});

describe('assertClose / errors', () => {
  it('passes within tolerance and reports the worst multi-index otherwise', () => {
    const e = N([[1, 2], [3, 4]]);
    R.assertClose(Float32Array.of(1, 2, 3, 4.00001), e);
    let msg = '';
    try {
      R.assertClose(Float32Array.of(1, 2.1, 3, 5), e, { label: 'my op' });
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/my op/);
    expect(msg).toMatch(/2 of 4/);
    expect(msg).toMatch(/worst at \[1, 1\]/);
    expect(msg).toMatch(/actual 5\.0+ vs expected 4\.0+/);
    expect(msg).toMatch(/max abs error 1\.0+/);
    expect(msg).toMatch(/max rel error 0\.25/);
    expect(() => R.assertClose([1, 2, 3], e, { label: 'len' })).toThrow(/len.*length/);
    expect(() => R.assertClose(N([1, 2, 3, 4]), e)).toThrow(/shape mismatch/);
    expect(() => R.assertClose([NaN], [1])).toThrow();
    R.assertClose([NaN, Infinity], [NaN, Infinity]);
    expect(() => R.assertClose([Infinity], [-Infinity])).toThrow();
  });

  it('relError and maxRelError', () => {
    expect(R.relError([3, 4], [3, 4])).toBe(0);
    expect(R.relError([3, 5], N([3, 4]))).toBeCloseTo(1 / 5, 12);
    expect(R.maxRelError([1, 2.2], [1, 2])).toBeCloseTo(0.1, 12);
    expect(R.maxAbsError([1, 2.5], [1, 2])).toBe(0.5);
  });
});

describe('nn', () => {
  it('softmax / logSoftmax', () => {
    close(R.softmax(N([0, Math.log(3)])), [0.25, 0.75]);
    const x = R.rng(2).ndUniform([3, 5], -3, 3);
    close(R.sum(R.softmax(x), -1), [1, 1, 1]);
    close(R.sum(R.softmax(x, 0), 0), [1, 1, 1, 1, 1]);
    R.assertClose(R.logSoftmax(x), R.log(R.softmax(x)), { rtol: 1e-12, atol: 1e-12 });
    close(R.softmax(N([1000, 1000])), [0.5, 0.5]);
    close(R.softmax(N([0, -Infinity])), [1, 0]);
    expect(R.softmax(N([-Infinity, -Infinity])).data.every(Number.isNaN)).toBe(true);
    // d/dx logsumexp(x) = softmax(x)
    const v = N([0.1, -0.4, 2]);
    const [g] = R.numGrad((xs) => R.logsumexp(xs[0]), [v]);
    R.assertClose(g, R.softmax(v), { rtol: 1e-8, atol: 1e-9 });
  });

  const img = N([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]); // [1,1,3,3]
  const k = N([[[[1, 0], [0, -1]]]]); // [1,1,2,2]: out = x[i,j] - x[i+1,j+1]
  it('conv2d by hand (NCHW)', () => {
    same(R.conv2d(img, k), [[[[-4, -4], [-4, -4]]]]);
    same(R.conv2d(img, k, { padding: 1 }), [[[[-1, -2, -3, 0], [-4, -4, -4, 3], [-7, -4, -4, 6], [0, 7, 8, 9]]]]);
    same(R.conv2d(img, k, { padding: 1, stride: 2 }), [[[[-1, -3], [-7, -4]]]]);
    // ph = 0, pw = 1: out[0, j] = x[0, j-1] - x[1, j]
    same(R.conv2d(img, k, { padding: [0, 1], stride: [2, 1] }), [[[[-4, -4, -4, 3]]]]);
    // dilation 2: out = x[0,0] - x[2,2]
    same(R.conv2d(img, k, { dilation: 2 }), [[[[-8]]]]);
    // two input channels (second all ones), two output channels, bias
    const x2 = R.concat([img, R.full([1, 1, 3, 3], 1)], 1);
    const w2 = N([
      [[[1, 0], [0, -1]], [[1, 1], [1, 1]]],
      [[[0, 0], [0, 0]], [[0.5, 0], [0, 0]]],
    ]);
    same(R.conv2d(x2, w2, { bias: N([10, 20]) }), [[[[10, 10], [10, 10]], [[20.5, 20.5], [20.5, 20.5]]]]);
    expect(() => R.conv2d(img, w2)).toThrow(/channels/);
  });

  it('conv2d NHWC agrees with NCHW via transposition', () => {
    const r = R.rng(21);
    for (const [stride, padding, dilation] of [[1, 0, 1], [2, 1, 1], [[2, 1], [1, 2], [1, 2]]] as const) {
      const x = r.ndUniform([2, 3, 7, 6]);
      const w = r.ndUniform([4, 3, 3, 2]);
      const b = r.ndUniform([4]);
      const outNCHW = R.conv2d(x, w, { stride, padding, dilation, bias: b });
      const outNHWC = R.conv2d(R.transpose(x, [0, 2, 3, 1]), R.transpose(w, [2, 3, 1, 0]), { stride, padding, dilation, bias: b, layout: 'NHWC' });
      R.assertClose(R.transpose(outNHWC, [0, 3, 1, 2]), outNCHW, { rtol: 1e-12, atol: 1e-12, label: `conv layouts ${JSON.stringify([stride, padding])}` });
    }
  });

  it('attention by hand', () => {
    const q = N([[1, 0]]), k = N([[1, 0], [0, 1]]), v = N([[1, 2], [3, 4]]);
    const e = Math.E;
    close(R.attention(q, k, v, { scale: 1 }), [[(1 * e + 3) / (e + 1), (2 * e + 4) / (e + 1)]]);
    const s = Math.exp(1 / Math.sqrt(2));
    close(R.attention(q, k, v), [[(1 * s + 3) / (s + 1), (2 * s + 4) / (s + 1)]]);
    close(R.attention(q, k, v, { mask: N([[1, 0]]) }), [[1, 2]]);
    close(R.attention(q, k, v, { mask: N([0, 1]) }), [[3, 4]]);
    close(R.attentionWeights(N([[0, 0], [5, 5]]), k, { mask: R.causalMask(2) }), [[1, 0], [0.5, 0.5]]);
    // batch broadcast: q [2,1,3,4], k/v [5,4] → [2,1,3,6]; equals per-batch attention
    const r = R.rng(4);
    const qb = r.ndUniform([2, 1, 3, 4]), kb = r.ndUniform([5, 4]), vb = r.ndUniform([5, 6]);
    const out = R.attention(qb, kb, vb);
    expect(out.shape).toEqual([2, 1, 3, 6]);
    const w0 = R.softmax(R.mul(R.matmul(R.reshape(R.slice(qb, [0], [1]), [3, 4]), R.transpose(kb)), 0.5));
    R.assertClose(R.slice(out, [0], [1]), R.reshape(R.matmul(w0, vb), [1, 1, 3, 6]), { rtol: 1e-12, atol: 1e-12 });
  });

  it('layerNorm by hand', () => {
    const c = 1 / Math.sqrt(2 / 3);
    close(R.layerNorm(N([[1, 2, 3]]), N([1, 2, 3]), N([0, 1, 0]), 0), [[-c, 1, 3 * c]]);
    const x = R.rng(8).ndUniform([4, 6], -2, 2);
    const y = R.layerNorm(x);
    close(R.mean(y, -1), [0, 0, 0, 0]);
    R.assertClose(R.variance(y, -1), R.full([4], 1), { rtol: 1e-4, atol: 1e-4 });
  });

  it('losses', () => {
    close(R.mse(N([1, 2]), N([3, 2])), 2);
    close(R.huber(N([0.5, 3]), N([0, 0])), 1.3125);
    close(R.huber(N([0.5, 3]), N([0, 0]), 2), 2.0625);
    close(R.smoothL1(N([0.5, 3]), N([0, 0]), 2), 1.03125);
    close(R.huber(N([-3]), 0), 2.5);
  });

  it('categorical and Gaussian distributions', () => {
    close(R.categoricalLogProb(N([[0, Math.log(3)], [0, 0]]), N([1, 0])), [Math.log(0.75), Math.log(0.5)]);
    close(R.categoricalEntropy(N([[0, 0, 0, 0], [0, -Infinity, -Infinity, -Infinity]])), [Math.log(4), 0]);
    close(R.categoricalEntropy(N([0, Math.log(3)])), -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75)));
    close(R.categoricalKL(N([0, 1]), N([0, 1])), 0);
    close(R.categoricalKL(N([0, Math.log(3)]), N([0, 0])), 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5));
    expect(() => R.categoricalLogProb(N([[0, 1]]), N([2]))).toThrow(/out of range/);
    const l2p = Math.log(2 * Math.PI);
    close(R.gaussianLogProb(N([0]), 0, 0), -0.5 * l2p);
    close(R.gaussianLogProb(N([1, 2]), 0, N([0, Math.log(2)])), -1 - Math.log(2) - l2p);
    close(R.gaussianLogProb(N([[1, 2], [0, 0]]), N([1, 2]), 0), [-l2p, -2.5 - l2p]);
    close(R.gaussianEntropy(N([0, Math.log(2)])), 0.5 * l2p + 0.5 + Math.log(2) + 0.5 * l2p + 0.5);
    // d/dlogits of -log p(a) = softmax - onehot(a)
    const logits = N([[0.2, -1, 0.5]]);
    const [g] = R.numGrad((xs) => R.neg(R.sum(R.categoricalLogProb(xs[0], N([2])))), [logits]);
    R.assertClose(g, R.sub(R.softmax(logits), R.oneHot(N([2]), 3)), { rtol: 1e-8, atol: 1e-9 });
  });

  it('pool2d and linear', () => {
    same(R.pool2d(N([[[[1, 2, 3, 4], [5, 6, 7, 8]]]]), 2), [[[[6, 8]]]]);
    same(R.pool2d(N([[[[1, 2, 3, 4], [5, 6, 7, 8]]]]), 2, { mode: 'avg' }), [[[[3.5, 5.5]]]]);
    same(R.linear(N([[1, 2]]), N([[1, 0, 1], [0, 1, 1]]), N([0, 0, 10])), [[1, 2, 13]]);
  });
});

describe('properties on random data', () => {
  it('slice matches Array.prototype.slice for step 1 (negative and out-of-range bounds)', () => {
    const r = R.rng(31);
    for (let t = 0; t < 200; t++) {
      const n = r.int(0, 7);
      const a = R.arange(n);
      const s = r.int(-9, 10), e = r.int(-9, 10);
      expect(Array.from(R.slice(a, [s], [e]).data)).toEqual(Array.from(a.data).slice(s, e));
    }
    // negative steps against an explicit python-style loop: x[s:e:-k]
    expect(R.sliceIndices(5, -1, -6, -1)).toEqual([4, 3, 2, 1, 0]);
    expect(R.sliceIndices(5, 10, null, -2)).toEqual([4, 2, 0]);
    expect(R.sliceIndices(5, null, 1, -1)).toEqual([4, 3, 2]);
  });

  it('transpose by a permutation then its inverse is the identity', () => {
    const r = R.rng(32);
    const x = r.ndUniform([2, 3, 4, 5]);
    const perm = r.shuffle([0, 1, 2, 3]);
    const invPerm = perm.map((_, i) => perm.indexOf(i));
    same(R.transpose(R.transpose(x, perm), invPerm), R.toNested(x));
    expect(R.transpose(x, perm).shape).toEqual(perm.map((p) => x.shape[p]));
  });

  it('matmul is associative and agrees with dot of rows and columns', () => {
    const r = R.rng(33);
    const A = r.ndUniform([3, 4]), B = r.ndUniform([4, 5]), C = r.ndUniform([5, 2]);
    R.assertClose(R.matmul(R.matmul(A, B), C), R.matmul(A, R.matmul(B, C)), { rtol: 1e-12, atol: 1e-12 });
    const AB = R.matmul(A, B);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 5; j++) {
      const row = R.take(A, [i], 0), col = R.take(B, [j], 1);
      expect(AB.get(i, j)).toBeCloseTo(R.sum(R.mul(R.reshape(row, [4]), R.reshape(col, [4]))).item(), 12);
    }
  });

  it('det is multiplicative; inv is an involution', () => {
    const r = R.rng(34);
    const A = r.ndUniform([2, 4, 4]), B = r.ndUniform([2, 4, 4]);
    R.assertClose(R.det(R.matmul(A, B)), R.mul(R.det(A), R.det(B)), { rtol: 1e-10, atol: 1e-12 });
    R.assertClose(R.inv(R.inv(A)), A, { rtol: 1e-8, atol: 1e-8 });
    // det of an upper-triangular matrix is the product of its diagonal
    close(R.det(N([[2, 5, 7], [0, -3, 1], [0, 0, 0.5]])), -3);
  });

  it('conv2d with a 1×1 kernel is a matmul over channels', () => {
    const r = R.rng(35);
    const x = r.ndUniform([2, 3, 4, 5]); // NCHW
    const w = r.ndUniform([6, 3, 1, 1]);
    const viaMatmul = R.matmul(R.reshape(w, [6, 3]), R.reshape(x, [2, 3, 20])); // [2, 6, 20]
    R.assertClose(R.conv2d(x, w), R.reshape(viaMatmul, [2, 6, 4, 5]), { rtol: 1e-12, atol: 1e-12 });
  });

  it('take along an axis equals gather with a broadcast index', () => {
    const r = R.rng(36);
    const x = r.ndUniform([3, 4, 2]);
    const idx = [3, 0, 0, 2, 1];
    const viaGather = R.gather(x, R.broadcastTo(R.reshape(N(idx), [1, 5, 1]), [3, 5, 2]), 1);
    same(R.take(x, idx, 1), R.toNested(viaGather));
  });

  it('concat then split is the identity; stack matches concat of expanded arrays', () => {
    const r = R.rng(37);
    const a = r.ndUniform([2, 3]), b = r.ndUniform([2, 4]);
    const [a2, b2] = R.split(R.concat([a, b], 1), [3, 4], 1);
    same(a2, R.toNested(a));
    same(b2, R.toNested(b));
    same(R.stack([a, a], 2), R.toNested(R.concat([R.expandDims(a, 2), R.expandDims(a, 2)], 2)));
  });

  it('sumTo is the adjoint of broadcastTo on random broadcast pairs', () => {
    const r = R.rng(38);
    for (let t = 0; t < 30; t++) {
      const [sa, sb] = r.randomBroadcastPair(1 + (t % 4), 4);
      const out = R.broadcastShapes(sa, sb);
      const x = r.ndUniform(sa), g = r.ndUniform(out);
      expect(R.sum(R.mul(R.broadcastTo(x, out), g)).item()).toBeCloseTo(R.sum(R.mul(x, R.sumTo(g, sa))).item(), 12);
      // numGrad of <broadcast(x), g> w.r.t. x is sumTo(g)
      const [gx] = R.numGrad((xs) => R.sum(R.mul(R.broadcastTo(xs[0], out), g)), [x]);
      R.assertClose(gx, R.sumTo(g, sa), { rtol: 1e-8, atol: 1e-9, label: `${JSON.stringify(sa)}→${JSON.stringify(out)}` });
    }
  });

  it('numHessian equals the Jacobian of numGrad and is symmetric', () => {
    const f = (x: R.ND) => R.sum(R.mul(R.tanh(x), R.square(x))).item() + x.data[0] * x.data[1] * x.data[2];
    const x = N([0.3, -0.8, 0.5]);
    const H = R.numHessian(f, x);
    const [J] = R.numJacobian((xs) => R.numGrad((ys) => f(ys[0]), xs, 1e-5)[0], [x], 1e-4);
    R.assertClose(H, J, { rtol: 1e-4, atol: 1e-5 });
    R.assertClose(H, R.transpose(H), { rtol: 0, atol: 0 });
    // exact: H = diag(d²/dx² (x² tanh x)) + the mixed terms of x0 x1 x2
    const t = (v: number) => Math.tanh(v), s2 = (v: number) => 1 - Math.tanh(v) ** 2;
    const d2 = (v: number) => 2 * t(v) + 4 * v * s2(v) - 2 * v * v * s2(v) * t(v);
    const [a, b, c] = x.data;
    R.assertClose(H, N([[d2(a), c, b], [c, d2(b), a], [b, a, d2(c)]]), { rtol: 1e-6, atol: 1e-6 });
  });
});
