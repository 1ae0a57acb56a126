// Every op against the float64 CPU reference (test/ref) on random shapes, including broadcasting
// edge cases and size-1 dimensions; every backward rule against central finite differences of
// that reference.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';

beforeAll(async () => {
  await E.init();
});

const up = (a: R.ND) => E.tensor(Float32Array.from(a.data), a.shape);

async function expectND(t: E.Tensor, ref: R.ND, label: string, rtol = 1e-4, atol = 1e-5) {
  expect(t.shape, `${label}: shape`).toEqual(ref.shape);
  R.assertClose(await t.data(), ref, { rtol, atol, label });
}

/**
 * Checks E.grad of sum(f(xs) * w) (a random cotangent w) against central differences of the
 * float64 reference fRef.
 */
async function checkGrad(
  fE: (...xs: E.Tensor[]) => E.Tensor,
  fRef: (xs: R.ND[]) => R.ND,
  xs: R.ND[],
  label: string,
  tol = 2e-3,
  seed = 7,
) {
  const rng = R.rng(seed);
  const outShape = fRef(xs).shape;
  const w = rng.ndUniform(outShape, -1, 1);
  const scalarRef = (ys: R.ND[]) => R.sum(R.mul(fRef(ys), w)).data[0];
  const num = R.numGrad(scalarRef, xs, 1e-5);
  const W = up(w);
  const gs = E.grad((...ts: E.Tensor[]) => E.sum(E.mul(fE(...ts), W)), xs.map((_, i) => i))(...xs.map(up)) as E.Tensor[];
  for (let i = 0; i < xs.length; i++) {
    R.assertClose(await gs[i].data(), num[i], { rtol: tol, atol: tol, label: `${label}: d/dx${i}` });
  }
  E.dispose([W, gs]);
}

const UNARY_CASES: Array<[string, (x: E.Tensor) => E.Tensor, (x: R.ND) => R.ND, [number, number]]> = [
  ['neg', E.neg, R.neg, [-3, 3]],
  ['abs', E.abs, R.abs, [-3, 3]],
  ['exp', E.exp, R.exp, [-3, 3]],
  ['log', E.log, R.log, [0.2, 4]],
  ['sqrt', E.sqrt, R.sqrt, [0.2, 4]],
  ['square', E.square, R.square, [-3, 3]],
  ['tanh', E.tanh, R.tanh, [-3, 3]],
  ['sigmoid', E.sigmoid, R.sigmoid, [-4, 4]],
  ['relu', E.relu, R.relu, [-3, 3]],
  ['sign', E.sign, R.sign, [-3, 3]],
  ['sin', E.sin, (x) => R.map(x, Math.sin), [-3, 3]],
  ['cos', E.cos, (x) => R.map(x, Math.cos), [-3, 3]],
  ['reciprocal', E.reciprocal, (x) => R.map(x, (v) => 1 / v), [0.3, 3]],
  ['rsqrt', E.rsqrt, (x) => R.map(x, (v) => 1 / Math.sqrt(v)), [0.3, 3]],
  ['log1p', E.log1p, (x) => R.map(x, Math.log1p), [-0.5, 3]],
  ['expm1', E.expm1, (x) => R.map(x, Math.expm1), [-2, 2]],
  ['softplus', E.softplus, (x) => R.map(x, (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)))), [-4, 4]],
];

describe('elementwise unary', () => {
  for (const [name, fE, fR, [lo, hi]] of UNARY_CASES) {
    it(`${name}: forward and backward match the float64 reference`, async () => {
      const rng = R.rng(name.length * 31 + 1);
      for (let trial = 0; trial < 3; trial++) {
        const shape = rng.randomShape(1 + trial, 5);
        let x = rng.ndUniform(shape, lo, hi);
        // Keep finite differences away from kinks (abs, relu, sign at 0).
        x = R.map(x, (v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
        const X = up(x);
        await expectND(fE(X), fR(x), name, 2e-4, 1e-5);
        if (!['sign'].includes(name)) await checkGrad(fE, (xs) => fR(xs[0]), [x], name);
        X.dispose();
      }
    });
  }

  it('tanh and sigmoid stay finite at extreme inputs', async () => {
    const x = E.tensor([-1000, -50, 0, 50, 1000]);
    expect(Array.from(await E.tanh(x).data())).toEqual([-1, -1, 0, 1, 1]);
    const s = await E.sigmoid(x).data();
    expect(s[0]).toBe(0);
    expect(s[4]).toBe(1);
  });
});

const BINARY_CASES: Array<[string, (a: E.TensorLike, b: E.TensorLike) => E.Tensor, (a: R.ND, b: R.ND) => R.ND, [number, number], [number, number]]> = [
  ['add', E.add, R.add, [-2, 2], [-2, 2]],
  ['sub', E.sub, R.sub, [-2, 2], [-2, 2]],
  ['mul', E.mul, R.mul, [-2, 2], [-2, 2]],
  ['div', E.div, R.div, [-2, 2], [0.5, 2]],
  ['pow', E.pow, R.pow, [0.5, 2], [-1.5, 2]],
  ['maximum', E.maximum, R.maximum, [-2, 2], [-2, 2]],
  ['minimum', E.minimum, R.minimum, [-2, 2], [-2, 2]],
];

describe('elementwise binary with numpy broadcasting', () => {
  for (const [name, fE, fR, ra, rb] of BINARY_CASES) {
    it(`${name}: forward and backward on random broadcast pairs`, async () => {
      const rng = R.rng(100 + name.length);
      for (let trial = 0; trial < 4; trial++) {
        const [sa, sb] = rng.randomBroadcastPair(1 + (trial % 4), 4);
        const a = rng.ndUniform(sa, ...ra);
        const b = rng.ndUniform(sb, ...rb);
        const A = up(a), B = up(b);
        await expectND(fE(A, B), fR(a, b), `${name} ${JSON.stringify(sa)}×${JSON.stringify(sb)}`, 2e-4, 1e-5);
        await checkGrad((x, y) => fE(x, y), (xs) => fR(xs[0], xs[1]), [a, b], `${name} ${JSON.stringify(sa)}×${JSON.stringify(sb)}`);
        E.dispose([A, B]);
      }
    });
  }

  it('scalar operands on either side, with gradients', async () => {
    const x = R.rng(3).ndUniform([3, 4], 0.5, 2);
    const X = up(x);
    await expectND(E.sub(2, X), R.map(x, (v) => 2 - v), '2 - x');
    await expectND(E.div(X, 4), R.map(x, (v) => v / 4), 'x / 4');
    await expectND(E.pow(2, X), R.map(x, (v) => 2 ** v), '2 ** x');
    await checkGrad((t) => E.pow(2, t), (xs) => R.map(xs[0], (v) => 2 ** v), [x], '2 ** x');
    await checkGrad((t) => E.div(3, t), (xs) => R.map(xs[0], (v) => 3 / v), [x], '3 / x');
    await checkGrad((t) => E.pow(t, 3), (xs) => R.map(xs[0], (v) => v ** 3), [x], 'x ** 3');
  });

  it('pow follows C for negative bases with integer exponents', async () => {
    const out = await E.pow(E.tensor([-2, -2, 0, 3]), E.tensor([3, 2, 0, -1])).data();
    R.assertClose(out, [-8, 4, 1, 1 / 3], { rtol: 1e-6, atol: 0, label: 'pow' });
    expect(Number.isNaN((await E.pow(E.tensor([-2]), 0.5).data())[0])).toBe(true);
  });

  it('comparisons and where', async () => {
    const rng = R.rng(11);
    const a = rng.ndUniform([4, 1, 3], -1, 1), b = rng.ndUniform([5, 1], -1, 1);
    const A = up(a), B = up(b);
    for (const [f, g] of [[E.lt, (x: number, y: number) => x < y], [E.ge, (x: number, y: number) => x >= y], [E.eq, (x: number, y: number) => x === y]] as const) {
      await expectND(f(A, B), R.zip(a, b, (x, y) => +g(x, y)), 'compare');
    }
    const c = R.zip(a, b, (x, y) => +(x > y));
    const C = up(c);
    await expectND(E.where(C, A, B), R.where(c, a, b), 'where');
    await checkGrad((x, y) => E.where(C, x, y), (xs) => R.where(c, xs[0], xs[1]), [a, b], 'where');
  });
});

describe('reductions', () => {
  it('sum/mean/max/min over any axes with keepdims, forward and backward', async () => {
    const rng = R.rng(21);
    for (let trial = 0; trial < 8; trial++) {
      const rank = 1 + (trial % 4);
      const shape = rng.randomShape(rank, 5);
      const x = rng.ndUniform(shape, -2, 2);
      const X = up(x);
      const axes = shape.map((_, i) => i).filter(() => rng.uniform(0, 1) < 0.5);
      const ax = axes.length ? axes : [rank - 1];
      const keep = trial % 2 === 0;
      const label = `${JSON.stringify(shape)} axes ${JSON.stringify(ax)} keepdims ${keep}`;
      await expectND(E.sum(X, ax, keep), R.sum(x, ax, keep), `sum ${label}`);
      await expectND(E.mean(X, ax, keep), R.mean(x, ax, keep), `mean ${label}`);
      await expectND(E.max(X, ax, keep), R.max(x, ax, keep), `max ${label}`);
      await expectND(E.min(X, ax, keep), R.min(x, ax, keep), `min ${label}`);
      await expectND(E.logsumexp(X, ax, keep), R.logsumexp(x, ax, keep), `logsumexp ${label}`);
      await checkGrad((t) => E.sum(t, ax, keep), (xs) => R.sum(xs[0], ax, keep), [x], `sum ${label}`);
      await checkGrad((t) => E.mean(t, ax, keep), (xs) => R.mean(xs[0], ax, keep), [x], `mean ${label}`);
      await checkGrad((t) => E.max(t, ax, keep), (xs) => R.max(xs[0], ax, keep), [x], `max ${label}`);
      await checkGrad((t) => E.logsumexp(t, ax, keep), (xs) => R.logsumexp(xs[0], ax, keep), [x], `logsumexp ${label}`);
      X.dispose();
    }
  });

  it('long rows (workgroup reduction) and all-axes reductions', async () => {
    const rng = R.rng(5);
    for (const shape of [[3, 5000], [70000], [2, 3000, 2]]) {
      const x = rng.ndUniform(shape, -1, 1);
      const X = up(x);
      await expectND(E.sum(X, -1), R.sum(x, -1), `sum ${shape}`, 1e-4, 1e-3);
      await expectND(E.max(X), R.max(x), `max ${shape}`);
      await expectND(E.argmax(X, -1), R.argmax(x, -1), `argmax ${shape}`);
      X.dispose();
    }
  });

  it('argmax/argmin pick the first extremum', async () => {
    const X = E.tensor([[1, 3, 3, 0], [5, 5, -1, 5]]);
    expect(Array.from(await E.argmax(X, 1).data())).toEqual([1, 0]);
    expect(Array.from(await E.argmin(X, 1).data())).toEqual([3, 2]);
    expect(Array.from(await E.argmax(X, 0).data())).toEqual([1, 1, 0, 1]);
  });

  it('logsumexp is stable for large inputs and rows of -inf', async () => {
    const out = await E.logsumexp(E.tensor([[1000, 1000], [-Infinity, -Infinity]]), -1).data();
    expect(out[0]).toBeCloseTo(1000 + Math.log(2), 3);
    expect(out[1]).toBe(-Infinity);
  });
});

describe('matmul', () => {
  const cases: Array<[number[], number[]]> = [
    [[3, 5], [5, 4]],
    [[8, 16], [16, 8]], // vec4 path
    [[7, 13], [13, 9]], // strided path
    [[2, 3, 8, 12], [12, 4]], // batch broadcast of a matrix
    [[4, 1, 6, 8], [3, 8, 4]], // batch broadcast both ways
    [[5], [5, 3]], // 1-D promotion
    [[2, 4, 6], [6]],
    [[6], [6]],
    [[130, 260], [260, 68]], // big enough for the multi-workgroup tiles
  ];
  it('matches the reference (forward and both gradients) across shapes and paths', async () => {
    const rng = R.rng(31);
    for (const [sa, sb] of cases) {
      const a = rng.ndUniform(sa, -1, 1), b = rng.ndUniform(sb, -1, 1);
      const A = up(a), B = up(b);
      const K = sa[sa.length - 1];
      await expectND(E.matmul(A, B), R.matmul(a, b), `matmul ${sa}×${sb}`, 1e-4, 1e-4 * K);
      if (a.data.length * b.data.length < 5000) {
        await checkGrad(E.matmul, (xs) => R.matmul(xs[0], xs[1]), [a, b], `matmul ${sa}×${sb}`, 3e-3);
      }
      E.dispose([A, B]);
    }
  });

  it('transposed operands read in place (mm) and the large-transpose path agree with the reference', async () => {
    const rng = R.rng(32);
    for (const [M, K, N] of [[5, 7, 3], [128, 132, 128]]) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          const a = rng.ndUniform(tA ? [K, M] : [M, K], -1, 1);
          const b = rng.ndUniform(tB ? [N, K] : [K, N], -1, 1);
          const ref = R.matmul(tA ? R.transpose(a) : a, tB ? R.transpose(b) : b);
          const A = up(a), B = up(b);
          await expectND(E.mm(A, B, tA, tB), ref, `mm tA=${tA} tB=${tB} ${M}×${K}×${N}`, 1e-4, 1e-4 * K);
          if (M < 10) {
            await checkGrad((x, y) => E.mm(x, y, tA, tB), (xs) => R.matmul(tA ? R.transpose(xs[0]) : xs[0], tB ? R.transpose(xs[1]) : xs[1]), [a, b], `mm grad tA=${tA} tB=${tB}`, 3e-3);
          }
          E.dispose([A, B]);
        }
      }
    }
  });

  it('names both shapes when inner dimensions differ', () => {
    expect(() => E.matmul(E.zeros([2, 3]), E.zeros([4, 5]))).toThrow(/\[2, 3\].*\[4, 5\]/);
  });
});

describe('shape ops', () => {
  it('reshape, permute, transpose, broadcastTo, with gradients', async () => {
    const rng = R.rng(41);
    const x = rng.ndUniform([2, 3, 4], -1, 1);
    const X = up(x);
    await expectND(E.reshape(X, [4, -1]), R.reshape(x, [4, 6]), 'reshape');
    await expectND(E.permute(X, [2, 0, 1]), R.transpose(x, [2, 0, 1]), 'permute');
    await expectND(E.transpose(X), R.transpose(x, [0, 2, 1]), 'transpose');
    await checkGrad((t) => E.permute(t, [1, 2, 0]), (xs) => R.transpose(xs[0], [1, 2, 0]), [x], 'permute');
    const y = rng.ndUniform([3, 1], -1, 1);
    await expectND(E.broadcastTo(up(y), [2, 3, 5]), R.broadcastTo(y, [2, 3, 5]), 'broadcastTo');
    await checkGrad((t) => E.broadcastTo(t, [2, 3, 5]), (xs) => R.broadcastTo(xs[0], [2, 3, 5]), [y], 'broadcastTo');
  });

  it('slice with steps and integer indices, concat, stack, with gradients', async () => {
    const rng = R.rng(42);
    const x = rng.ndUniform([5, 6, 3], -1, 1);
    const X = up(x);
    const refSlice = (t: R.ND) => R.slice(t, [1, 0, 0], [5, 6, 3], [2, 3, 1]);
    await expectND(E.slice(X, [[1, 5, 2], [0, 6, 3], null]), refSlice(x), 'slice steps');
    await checkGrad((t) => E.slice(t, [[1, 5, 2], [0, 6, 3], null]), (xs) => refSlice(xs[0]), [x], 'slice');
    await expectND(E.slice(X, [2, [-2]]), R.reshape(R.slice(x, [2, 4, 0], [3, 6, 3]), [2, 3]), 'slice index + negative start');
    const a = rng.ndUniform([2, 3], -1, 1), b = rng.ndUniform([2, 1], -1, 1), c = rng.ndUniform([2, 4], -1, 1);
    await expectND(E.concat([up(a), up(b), up(c)], 1), R.concat([a, b, c], 1), 'concat');
    await checkGrad((p, q, r) => E.concat([p, q, r], -1), (xs) => R.concat(xs, 1), [a, b, c], 'concat');
    await expectND(E.stack([up(a), up(a)], 1), R.stack([a, a], 1), 'stack');
  });

  it('gather (torch semantics) and take, with gradients through gather and its adjoint', async () => {
    const rng = R.rng(43);
    const x = rng.ndUniform([4, 5, 3], -1, 1);
    const idx = R.map(rng.ndUniform([4, 2, 3], 0, 5), Math.floor);
    const X = up(x), I = up(idx);
    await expectND(E.gather(X, I, 1), R.gather(x, idx, 1), 'gather axis 1');
    await checkGrad((t) => E.gather(t, I, 1), (xs) => R.gather(xs[0], idx, 1), [x], 'gather');
    const logits = rng.ndUniform([6, 4], -1, 1);
    const acts = R.map(rng.ndUniform([6, 1], 0, 4), Math.floor);
    await expectND(E.gather(up(logits), up(acts), 1), R.gather(logits, acts, 1), 'pick actions');
    const ti = R.nd([3], [2, 0, 2]);
    await expectND(E.take(X, up(ti), 0), R.take(x, ti, 0), 'take');
    // Second order through gather: d/dx of <d/dx sum(gather(x)^2), v>.
    const v = rng.ndUniform([4, 5, 3], -1, 1);
    const V = up(v);
    const hv = E.hvp((t: E.Tensor) => E.sum(E.square(E.gather(t, I, 1))), [X], [V])[0] as E.Tensor;
    // Closed form: H = 2·diag(count of each x position in idx).
    const counts = R.zeros([4, 5, 3]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 3; k++) counts.data[i * 15 + idx.data[i * 6 + j * 3 + k] * 3 + k] += 1;
    R.assertClose(await hv.data(), R.mul(R.mul(counts, v), R.full([4, 5, 3], 2)), { label: 'hvp through gather' });
  });
});

describe('creation and random numbers', () => {
  it('tensor() from numbers, nested arrays and typed arrays; zeros/ones/full/arange/eye/linspace', async () => {
    expect(await E.tensor(3).item()).toBe(3);
    expect(await E.tensor([[1, 2], [3, 4]]).array()).toEqual([[1, 2], [3, 4]]);
    expect(Array.from(await E.tensor(new Float64Array([1.5, 2.5]), [2, 1]).data())).toEqual([1.5, 2.5]);
    expect(Array.from(await E.tensor(Int32Array.from([1, -2])).data())).toEqual([1, -2]);
    expect(Array.from(await E.full([2, 2], 7).data())).toEqual([7, 7, 7, 7]);
    expect(Array.from(await E.arange(2, 8, 2).data())).toEqual([2, 4, 6]);
    expect(await E.eye(2, 3).array()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(Array.from(await E.linspace(0, 1, 5).data())).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(() => E.tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => E.tensor([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
  });

  it('Threefry-2x32-20 matches the Random123 known-answer vectors, and the GPU matches the CPU', async () => {
    const { threefry2x32 } = await import('../../kernels/random.ts');
    expect(threefry2x32(0, 0, 0, 0)).toEqual([0x6b200159, 0x99ba4efe]);
    expect(threefry2x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff)).toEqual([0x1cb996fc, 0xbb002be7]);
    expect(threefry2x32(0x13198a2e, 0x03707344, 0x243f6a88, 0x85a308d3)).toEqual([0xc4923a9c, 0x483df7a0]);
    const u = await E.rand([9], 0, 1, { seed: 1234 }).data();
    for (let i = 0; i < 9; i++) {
      const w = threefry2x32(1234, 0, Math.floor(i / 2), 0)[i % 2];
      expect(u[i]).toBe((w >>> 8) * 2 ** -24);
    }
  });

  it('uniform and normal draws have the right moments; seeded draws repeat, counters advance', async () => {
    const n = 200_000;
    const u = await E.rand([n], -1, 3).data();
    const z = await E.randn([n], 2, 0.5).data();
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    const variance = (a: Float32Array) => { const m = mean(a); return a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length; };
    expect(mean(u)).toBeCloseTo(1, 1.5);
    expect(variance(u)).toBeCloseTo(16 / 12, 1.5);
    expect(Math.min(...u.subarray(0, 10000))).toBeGreaterThanOrEqual(-1);
    expect(mean(z)).toBeCloseTo(2, 2);
    expect(variance(z)).toBeCloseTo(0.25, 2);
    // Fraction within one sigma ≈ 0.6827.
    const within = z.reduce((s, v) => s + (Math.abs(v - 2) < 0.5 ? 1 : 0), 0) / n;
    expect(Math.abs(within - 0.6827)).toBeLessThan(0.005);
    E.seed(5);
    const a = await E.rand([5]).data();
    const b = await E.rand([5]).data();
    E.seed(5);
    expect(Array.from(await E.rand([5]).data())).toEqual(Array.from(a));
    expect(Array.from(b)).not.toEqual(Array.from(a));
  });
});
