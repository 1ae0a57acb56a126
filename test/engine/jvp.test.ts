// Forward mode: every op's tangent rule (its own, or its backward rule transposed) against
// central differences of the float64 reference; forward-over-reverse HVPs against a closed-form
// float64 Hessian and against reverse over reverse; jvp inside grad and grad inside jvp.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, unif, wToRef } from '../kernels/helpers.ts';

beforeAll(async () => {
  await E.init();
});

type Case = [name: string, fE: (...xs: E.Tensor[]) => E.Tensor, fR: (xs: R.ND[]) => R.ND, inputs: R.ND[], tol?: number];

/** jvp of each case along random tangents vs central differences of the float64 function. */
async function checkJvp(cases: Case[], seed: number) {
  const rng = R.rng(seed);
  const live = E.memory().liveBuffers;
  for (const [name, fE, fR, xs, tol] of cases) {
    const ts = xs.map((x) => randn(rng, x.shape));
    const num = R.numJvp(fR, xs, ts, 1e-6);
    // dual kernels (value and tangent in one dispatch) and the op-composed rules
    for (const dual of [true, false]) {
      const [out, tan] = E.jvp(fE, xs.map(up), ts.map(up), { dual }) as [E.Tensor, E.Tensor];
      const [o, t] = await E.readAll([out, tan]);
      R.assertClose(o, fR(xs), { rtol: 1e-4, atol: 1e-4, label: `${name} value` });
      const rel = R.relError(t, num);
      expect(rel, `${name} (${dual ? 'dual kernels' : 'composed rules'}): tangent relative error ${rel.toExponential(2)}`).toBeLessThan(tol ?? 1e-4);
      E.dispose([out, tan]);
    }
  }
  await E.sync();
  // inputs uploaded by the loop are the only buffers left (4 bytes each are disposed below)
  expect(E.memory().liveBuffers).toBeLessThanOrEqual(live + cases.reduce((a, c) => a + 4 * c[3].length, 0));
}

describe('tangent rules vs central differences', () => {
  it('unary elementwise ops', async () => {
    const rng = R.rng(1);
    const x = unif(rng, [3, 5], -1.5, 1.5), pos = unif(rng, [3, 5], 0.3, 2), small = unif(rng, [3, 5], -0.5, 0.5);
    const cases: Case[] = ([
      ['neg', R.neg], ['abs', R.abs], ['exp', R.exp], ['tanh', R.tanh], ['sigmoid', R.sigmoid], ['relu', R.relu], ['sin', R.sin],
      ['cos', R.cos], ['square', R.square], ['expm1', R.expm1], ['softplus', R.softplus],
    ] as const).map(([op, r]): Case => [op, (a) => (E as any)[op](a), (xs) => r(xs[0]), [x]]);
    for (const [op, r] of [['log', R.log], ['sqrt', R.sqrt], ['rsqrt', R.rsqrt], ['reciprocal', R.reciprocal]] as const) cases.push([op, (a) => (E as any)[op](a), (xs) => r(xs[0]), [pos]]);
    cases.push(['log1p', (a) => E.log1p(a), (xs) => R.log1p(xs[0]), [small]]);
    // piecewise constant: zero tangent
    cases.push(['sign·x', (a) => E.mul(E.sign(a), a), (xs) => R.mul(R.sign(xs[0]), xs[0]), [x]]);
    await checkJvp(cases, 2);
  });

  it('binary ops: same shape, broadcast, and against numbers on either side', async () => {
    const rng = R.rng(3);
    const a = unif(rng, [2, 3, 4], -1, 1), b = unif(rng, [3, 1], 0.5, 1.5), c = unif(rng, [2, 3, 4], 0.5, 1.5), p = unif(rng, [2, 3, 4], 0.5, 2);
    const cases: Case[] = [];
    for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'atan2'] as const) {
      const r = (R as any)[op] as (x: R.NDLike, y: R.NDLike) => R.ND;
      cases.push([`${op} same`, (x, y) => (E as any)[op](x, y), (xs) => r(xs[0], xs[1]), [a, c]]);
      cases.push([`${op} broadcast`, (x, y) => (E as any)[op](x, y), (xs) => r(xs[0], xs[1]), [a, b]]);
      cases.push([`${op} number right`, (x) => (E as any)[op](x, 0.7), (xs) => r(xs[0], 0.7), [a]]);
      cases.push([`${op} number left`, (x) => (E as any)[op](1.3, x), (xs) => r(1.3, xs[0]), [c]]);
    }
    cases.push(['pow', (x, y) => E.pow(x, y), (xs) => R.pow(xs[0], xs[1]), [p, b]]);
    cases.push(['pow number exponent', (x) => E.pow(x, 3), (xs) => R.pow(xs[0], 3), [a]]);
    cases.push(['pow number base', (x) => E.pow(2, x), (xs) => R.pow(2, xs[0]), [a]]);
    cases.push(['where', (x, y) => E.where(E.gt(x, 0), x, E.mul(y, 2)), (xs) => R.where(R.gt(xs[0], 0), xs[0], R.mul(xs[1], 2)), [a, b]]);
    await checkJvp(cases, 4);
  });

  it('movement ops and reductions', async () => {
    const rng = R.rng(5);
    const x = unif(rng, [2, 3, 4]), y = unif(rng, [2, 2, 4]);
    const idx = R.nd([2, 2, 4], [0, 2, 1, 1, 2, 0, 0, 1, 1, 1, 2, 0, 0, 2, 2, 1]);
    const cases: Case[] = [
      ['reshape', (a) => E.reshape(a, [4, 6]), (xs) => R.reshape(xs[0], [4, 6]), [x]],
      ['permute', (a) => E.permute(a, [2, 0, 1]), (xs) => R.transpose(xs[0], [2, 0, 1]), [x]],
      ['broadcastTo', (a) => E.broadcastTo(a, [3, 2, 3, 4]), (xs) => R.broadcastTo(xs[0], [3, 2, 3, 4]), [x]],
      ['slice', (a) => E.slice(a, [null, [0, 3, 2], [1, 4]]), (xs) => R.slice(xs[0], [null, 0, 1], [null, 3, 4], [1, 2, 1]), [x]],
      ['concat', (a, b) => E.concat([a, b], 1), (xs) => R.concat([xs[0], xs[1]], 1), [x, y]],
      ['stack', (a, b) => E.stack([a, b], 0), (xs) => R.stack([xs[0], xs[1]], 0), [y, y]],
      ['gather', (a) => E.gather(a, E.tensor(Float32Array.from(idx.data), idx.shape), 1), (xs) => R.gather(xs[0], idx, 1), [x]],
      ['scatterAdd', (a) => E.scatterAdd(a, E.tensor(Float32Array.from(idx.data), idx.shape), 1, [2, 3, 4]), (xs) => R.scatterAdd(xs[0], idx, 1, [2, 3, 4]), [y]],
      ['take', (a) => E.take(a, E.tensor([2, 0, 2]), 1), (xs) => R.take(xs[0], [2, 0, 2], 1), [x]],
      ['sum axes', (a) => E.sum(a, [0, 2]), (xs) => R.sum(xs[0], [0, 2]), [x]],
      ['sum keepdims', (a) => E.sum(a, 1, true), (xs) => R.sum(xs[0], 1, true), [x]],
      ['mean', (a) => E.mean(a, -1), (xs) => R.mean(xs[0], -1), [x]],
      ['max', (a) => E.max(a, 1), (xs) => R.max(xs[0], 1), [x]],
      ['min', (a) => E.min(a), (xs) => R.min(xs[0]), [x]],
      ['logsumexp', (a) => E.logsumexp(a, -1), (xs) => R.logsumexp(xs[0], -1), [x]],
      ['clone', (a) => E.clone(a), (xs) => xs[0], [x]],
      ['stopGradient', (a) => E.mul(E.stopGradient(a), a), (xs) => R.mul(xs[0], xs[0]), [x]],
    ];
    // stopGradient: the tangent is x·ẋ (only the second factor is differentiated), not 2x·ẋ
    const sg = cases.pop()!;
    await checkJvp(cases, 6);
    const xs = [x], ts = [randn(rng, x.shape)];
    const [, t] = E.jvp(sg[1], [up(x)], [up(ts[0])]) as [E.Tensor, E.Tensor];
    R.assertClose(await t.data(), R.mul(x, ts[0]), { rtol: 1e-5, atol: 1e-5, label: 'stopGradient' });
  });

  it('matmul (batched, broadcast batch dims, transposes, vec4 and strided paths)', async () => {
    const rng = R.rng(7);
    const a = randn(rng, [2, 5, 8]), b = randn(rng, [8, 12]), c = randn(rng, [3, 7]), d = randn(rng, [7, 3]);
    const big = randn(rng, [64, 64]);
    await checkJvp([
      ['matmul batched·broadcast', (x, y) => E.matmul(x, y), (xs) => R.matmul(xs[0], xs[1]), [a, b]],
      ['matmul ragged', (x, y) => E.matmul(x, y), (xs) => R.matmul(xs[0], xs[1]), [c, d]],
      ['mm transposed', (x, y) => E.mm(x, y, true, true), (xs) => R.matmul(R.transpose(xs[0]), R.transpose(xs[1])), [d, c]],
      ['matmul vec4 path', (x) => E.matmul(x, x), (xs) => R.matmul(xs[0], xs[0]), [big], 2e-4],
      ['matmul vector', (x, y) => E.matmul(x, y), (xs) => R.matmul(xs[0], xs[1]), [randn(rng, [7]), d]],
    ], 8);
  });

  it('fused nn ops through their transposed backward rules', async () => {
    const rng = R.rng(9);
    const x = randn(rng, [6, 8]), w = randn(rng, [5, 8], 0.4), b = randn(rng, [5], 0.3), t = randn(rng, [6, 5]);
    const lin = (act: E.Activation) => (xs: R.ND[]) => {
      const y = R.add(R.matmul(xs[0], R.transpose(xs[1])), xs[2]);
      return act === 'tanh' ? R.tanh(y) : act === 'relu' ? R.relu(y) : act === 'sigmoid' ? R.sigmoid(y) : y;
    };
    const xc = randn(rng, [2, 7, 7, 3]), wc = randn(rng, [4, 3, 3, 3], 0.3);
    await checkJvp([
      ...(['none', 'tanh', 'relu', 'sigmoid'] as E.Activation[]).map((act): Case => [`linear ${act}`, (a, ww, bb) => E.linear(a, ww, bb, act), lin(act), [x, w, b]]),
      ['softmax', (a) => E.softmax(a, -1), (xs) => R.softmax(xs[0], -1), [x]],
      ['logSoftmax', (a) => E.logSoftmax(a, 0), (xs) => R.logSoftmax(xs[0], 0), [x]],
      ['mse', (a, tt) => E.mse(a, tt), (xs) => R.mse(xs[0], xs[1]), [t, R.mul(t, 0.5)]],
      ['layerNorm', (a) => E.layerNorm(a, null, null), (xs) => R.layerNorm(xs[0]), [x], 5e-4],
      ['conv2d', (a, ww) => E.conv2d(a, ww, null, { stride: 2 }), (xs) => R.conv2d(xs[0], wToRef(xs[1]), { layout: 'NHWC', stride: 2 }), [xc, wc]],
    ], 10);
  });
});

describe('forward-over-reverse HVP', () => {
  it('equals the closed-form float64 Hessian of Σ c·tanh(Ax) + ½xᵀBx times v', async () => {
    const rng = R.rng(11);
    const n = 6, m = 5;
    const A = randn(rng, [m, n], 0.6), Bh = randn(rng, [n, n], 0.5), c = randn(rng, [m]), x = randn(rng, [n]), v = randn(rng, [n]);
    const B = R.add(Bh, R.transpose(Bh));
    const f = (xx: E.Tensor) => E.add(E.sum(E.mul(up(c), E.tanh(E.matmul(up(A), xx)))), E.mul(E.dot(xx, E.matmul(up(B), xx)), 0.5));
    // H = Aᵀ diag(c ⊙ tanh''(Ax)) A + B, tanh'' = −2 tanh (1 − tanh²)
    const z = R.matmul(A, x);
    const dd = R.map(z, (zi, i) => { const t = Math.tanh(zi); return c.data[i] * -2 * t * (1 - t * t); });
    const H = R.add(R.matmul(R.transpose(A), R.mul(R.reshape(dd, [m, 1]), A)), B);
    const [hv] = E.hvp(f, [up(x)], [up(v)]) as E.Tensor[];
    R.assertClose(await hv.data(), R.matmul(H, v), { rtol: 1e-4, atol: 1e-4, label: 'hvp closed form' });
  });

  it('matches reverse over reverse on MLP losses (tanh, relu, fused linear), and frees everything', async () => {
    const rng = R.rng(12);
    const X = up(randn(rng, [16, 6])), T = up(randn(rng, [16, 2]));
    const shapes = [[6, 8], [8], [8, 2], [2]];
    const ps = shapes.map((s) => up(randn(rng, s, 0.5))), vs = shapes.map((s) => up(randn(rng, s)));
    const losses: Array<[string, (p: E.Tensor[]) => E.Tensor]> = [
      ['matmul/tanh', (p) => E.mean(E.square(E.sub(E.add(E.matmul(E.tanh(E.add(E.matmul(X, p[0]), p[1])), p[2]), p[3]), T)))],
      ['fused linear relu + mse', (p) => E.mse(E.linear(E.linear(X, E.transpose(p[0]), p[1], 'relu'), E.transpose(p[2]), p[3]), T)],
      ['fused linear tanh, log-softmax', (p) => E.neg(E.mean(E.logSoftmax(E.linear(E.linear(X, E.transpose(p[0]), p[1], 'tanh'), E.transpose(p[2]), p[3]))))],
    ];
    for (const [name, f] of losses) {
      await E.sync();
      const live = E.memory().liveBuffers;
      const fwd = E.hvp((...p: E.Tensor[]) => f(p), ps, vs) as E.Tensor[];
      const rev = E.hvpReverse((...p: E.Tensor[]) => f(p), ps, vs) as E.Tensor[];
      const a = await E.readAll(fwd), b = await E.readAll(rev);
      a.forEach((ai, i) => R.assertClose(ai, b[i], { rtol: 2e-4, atol: 2e-5, label: `${name} block ${i}` }));
      E.dispose([fwd, rev]);
      await E.sync();
      expect(E.memory().liveBuffers, name).toBe(live);
    }
  });

  it('grad of a jvp, and a jvp of a jvp (nested levels transpose)', async () => {
    const rng = R.rng(13);
    const x = randn(rng, [4]), t = randn(rng, [4]);
    // g(x) = ⟨∇(Σ sin x²), t⟩ = Σ 2x cos(x²) t; its gradient 2 t (cos x² − 2x² sin x²)
    const g = (xx: E.Tensor) => E.sum(E.jvp((a: E.Tensor) => E.sum(E.sin(E.square(a))), [xx], [up(t)])[1] as E.Tensor);
    const gx = E.grad(g)(up(x)) as E.Tensor;
    const ref = R.zip(x, t, (xi, ti) => 2 * ti * (Math.cos(xi * xi) - 2 * xi * xi * Math.sin(xi * xi)));
    R.assertClose(await gx.data(), ref, { rtol: 1e-4, atol: 1e-4, label: 'grad of jvp' });
    // second directional derivative of Σ sin x² along t: Σ t² (2 cos x² − 4x² sin x²)
    const [, jj] = E.jvp((xx: E.Tensor) => E.jvp((a: E.Tensor) => E.sum(E.sin(E.square(a))), [xx], [up(t)])[1] as E.Tensor, [up(x)], [up(t)]);
    const r2 = R.sum(R.zip(x, t, (xi, ti) => ti * ti * (2 * Math.cos(xi * xi) - 4 * xi * xi * Math.sin(xi * xi))));
    R.assertClose(await (jj as E.Tensor).data(), r2, { rtol: 1e-4, atol: 1e-4, label: 'jvp of jvp' });
  });

  it('names the mismatch in a bad tangent', () => {
    expect(() => E.jvp((a: E.Tensor) => a, [E.zeros([3])], [E.zeros([4])])).toThrow(/tangent 0 leaf 0 has shape \[4\] but its primal has \[3\]/);
    expect(() => E.hvp((a: E.Tensor) => E.sum(a), [E.zeros([3])], [])).toThrow(/1 primals but 0 tangents/);
  });
});
