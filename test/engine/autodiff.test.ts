// Second-order autodiff: grad-of-grad and hvp against finite differences of gradients and
// against closed-form Hessians; jvp/vjp against numeric Jacobians; trees and argnums.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';

beforeAll(async () => {
  await E.init();
});

const up = (a: R.ND) => E.tensor(Float32Array.from(a.data), a.shape);

describe('second derivatives', () => {
  it('hvp of a quadratic xᵀAx + bᵀx equals (A + Aᵀ)v exactly', async () => {
    const rng = R.rng(1);
    const n = 6;
    const a = rng.ndUniform([n, n], -1, 1), b = rng.ndUniform([n], -1, 1);
    const x = rng.ndUniform([n], -1, 1), v = rng.ndUniform([n], -1, 1);
    const A = up(a), B = up(b);
    const f = (t: E.Tensor) => E.add(E.dot(t, E.matmul(A, t)), E.dot(B, t));
    const [hv] = E.hvp(f, [up(x)], [up(v)]) as E.Tensor[];
    const expected = R.matmul(R.add(a, R.transpose(a)), v);
    R.assertClose(await hv.data(), expected, { rtol: 1e-5, atol: 1e-5, label: 'hvp quadratic' });
    // The dense Hessian, column by column, equals A + Aᵀ.
    for (let j = 0; j < n; j++) {
      const e = R.zeros([n]);
      e.data[j] = 1;
      const [col] = E.hvp(f, [up(x)], [up(e)]) as E.Tensor[];
      const expCol = R.matmul(R.add(a, R.transpose(a)), e);
      R.assertClose(await col.data(), expCol, { rtol: 1e-5, atol: 1e-5, label: `Hessian column ${j}` });
    }
  });

  it('grad of grad of a scalar cubic equals the closed form', async () => {
    const x = E.tensor([0.5, -1.5, 2]);
    const f = (t: E.Tensor) => E.sum(E.mul(E.square(t), t));
    const g1 = E.grad(f)(x) as E.Tensor;
    const g2 = E.grad((t: E.Tensor) => E.sum(E.grad(f)(t) as E.Tensor))(x) as E.Tensor;
    const g3 = E.grad((t: E.Tensor) => E.sum(E.grad((s: E.Tensor) => E.sum(E.grad(f)(s) as E.Tensor))(t) as E.Tensor))(x) as E.Tensor;
    R.assertClose(await g1.data(), [0.75, 6.75, 12], { label: "f'" });
    R.assertClose(await g2.data(), [3, -9, 12], { label: "f''" });
    R.assertClose(await g3.data(), [6, 6, 6], { label: "f'''" });
  });

  it('hvp of a small tanh MLP matches finite differences of float64 gradients', async () => {
    const rng = R.rng(2);
    const x = rng.ndUniform([5, 3], -1, 1);
    const w1 = rng.ndUniform([3, 4], -1, 1), b1 = rng.ndUniform([4], -0.5, 0.5), w2 = rng.ndUniform([4, 2], -1, 1);
    const v = [rng.ndUniform([3, 4], -1, 1), rng.ndUniform([4], -1, 1), rng.ndUniform([4, 2], -1, 1)];
    const fRef = (ps: R.ND[]) => R.sum(R.square(R.matmul(R.tanh(R.add(R.matmul(x, ps[0]), ps[1])), ps[2]))).data[0];
    const X = up(x);
    const fE = (p1: E.Tensor, q1: E.Tensor, p2: E.Tensor) => E.sum(E.square(E.matmul(E.tanh(E.add(E.matmul(X, p1), q1)), p2)));
    const hv = E.hvp(fE, [up(w1), up(b1), up(w2)], v.map(up)) as E.Tensor[];
    const numHv = R.numHvp((ps) => R.numGrad(fRef, ps, 1e-4), [w1, b1, w2], v, 1e-3);
    for (let i = 0; i < 3; i++) {
      const rel = R.relError(await hv[i].data(), numHv[i]);
      expect(rel, `hvp block ${i} relative error ${rel}`).toBeLessThan(2e-3);
    }
  });

  it('a mixed second derivative (grad wrt x of ⟨∇_y f, v⟩) matches finite differences', async () => {
    const rng = R.rng(3);
    const x = rng.ndUniform([3], -1, 1), y = rng.ndUniform([3], -1, 1), v = rng.ndUniform([3], -1, 1);
    const fRef = (xs: R.ND[]) => R.sum(R.tanh(R.mul(R.mul(xs[0], xs[1]), xs[1]))).data[0];
    const fE = (a: E.Tensor, b: E.Tensor) => E.sum(E.tanh(E.mul(E.mul(a, b), b)));
    const V = up(v);
    const mixed = E.grad((a: E.Tensor, b: E.Tensor) => E.dot((E.grad(fE, 1)(a, b) as E.Tensor), V), 0)(up(x), up(y)) as E.Tensor;
    // d/dx ⟨∇_y f, v⟩ by central differences of the float64 ∇_y f.
    const gy = (xs: R.ND[]) => [R.numGrad(fRef, [xs[0], y], 1e-5)[1]];
    const num = R.zeros([3]);
    for (let i = 0; i < 3; i++) {
      const xp = R.nd([3], x.data.slice()), xm = R.nd([3], x.data.slice());
      xp.data[i] += 1e-4;
      xm.data[i] -= 1e-4;
      const dp = R.sum(R.mul(gy([xp])[0], v)).data[0], dm = R.sum(R.mul(gy([xm])[0], v)).data[0];
      num.data[i] = (dp - dm) / 2e-4;
    }
    R.assertClose(await mixed.data(), num, { rtol: 2e-3, atol: 2e-3, label: 'mixed second derivative' });
  });
});

describe('jvp, vjp, trees', () => {
  it('jvp equals J·v of a numeric Jacobian; vjp equals uᵀJ', async () => {
    const rng = R.rng(4);
    const x = rng.ndUniform([4], -1, 1), t = rng.ndUniform([4], -1, 1), u = rng.ndUniform([2, 4], -1, 1);
    const m = rng.ndUniform([2, 4, 4], -1, 1);
    const M = up(m);
    const fE = (a: E.Tensor) => E.tanh(E.matmul(M, a));
    const fR = (xs: R.ND[]) => R.tanh(R.matmul(m, xs[0]));
    const [out, jt] = E.jvp(fE, [up(x)], [up(t)]);
    R.assertClose(await out.data(), fR([x]), { label: 'jvp primal out' });
    const J = R.numJacobian(fR, [x], 1e-6)[0]; // [2, 4, 4]
    const Jt = R.matmul(J, t);
    R.assertClose(await jt.data(), Jt, { rtol: 1e-4, atol: 1e-4, label: 'jvp' });
    const [o2, pull] = E.vjp(fE, up(x));
    const [ct] = pull(up(u));
    const uJ = R.sum(R.mul(R.reshape(u, [2, 4, 1]), J), [0, 1]);
    R.assertClose(await ct.data(), uJ, { rtol: 1e-4, atol: 1e-4, label: 'vjp' });
    expect(() => pull(E.zeros([3]))).toThrow(/cotangent 0 has shape \[3\] but the output has shape \[2, 4\]/);
    pull.dispose();
    o2.dispose();
  });

  it('parameter trees (objects and arrays) and several argnums', async () => {
    const params = { w: E.tensor([[1, 2], [3, 4]]), b: [E.tensor([0.5, -0.5])] };
    const x = E.tensor([1, -1]);
    const loss = (p: typeof params, xx: E.Tensor) => E.sum(E.square(E.add(E.matmul(p.w, xx), p.b[0])));
    const [val, [gp, gx]] = E.valueAndGrad(loss, [0, 1])(params, x);
    // r = W x + b = [-1 + .5, -1 - .5] = [-0.5, -1.5]; loss = 0.25 + 2.25
    expect(await val.item()).toBeCloseTo(2.5, 5);
    expect(await gp.w.array()).toEqual([[-1, 1], [-3, 3]]);
    expect(Array.from(await gp.b[0].data())).toEqual([-1, -3]);
    // d/dx = Wᵀ 2r = [[1,3],[2,4]]·[-1,-3] = [-10, -14]
    expect(Array.from(await gx.data())).toEqual([-10, -14]);
  });

  it('stopGradient and noGrad block derivatives', async () => {
    const x = E.tensor([2]);
    const g = E.grad((t: E.Tensor) => E.sum(E.mul(t, E.stopGradient(t))))(x) as E.Tensor;
    expect(await g.item()).toBe(2);
    const g2 = E.grad((t: E.Tensor) => E.sum(E.add(E.mul(t, 3), E.noGrad(() => E.mul(t, t)))))(x) as E.Tensor;
    expect(await g2.item()).toBe(3);
  });

  it('an output that does not depend on the input has a zero gradient', async () => {
    const c = E.tensor([5]);
    const g = E.grad((_t: E.Tensor) => E.sum(c))(E.tensor([1, 2])) as E.Tensor;
    expect(Array.from(await g.data())).toEqual([0, 0]);
  });
});
