// conv2d's linear path for convolutions whose windows tile the input exactly (kernel = stride,
// no padding: 1×1 convolutions and patch embeddings such as SPRIG's 2×2/stride 2): forward,
// gradients and HVPs against the float64 reference and its central differences, the same
// numbers as the direct kernels (E.convLinearPaths(false)), shapes that do not tile still on
// the direct kernels, and no leaked buffers.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel, wToRef, dispatchLabels } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});
afterEach(() => {
  E.convLinearPaths(true);
});

interface Case { n: number; h: number; w: number; ci: number; co: number; k: number }
const cases: Case[] = [
  { n: 2, h: 4, w: 5, ci: 3, co: 5, k: 1 }, // 1×1, odd channels
  { n: 2, h: 4, w: 4, ci: 8, co: 4, k: 2 }, // SPRIG's conv2 (2×2/2), small
  { n: 1, h: 6, w: 9, ci: 2, co: 3, k: 3 }, // 3×3/3, rectangular
];
const convRef = (x: R.ND, w: R.ND, c: Case, b?: R.ND) => R.conv2d(x, wToRef(w), { layout: 'NHWC', stride: c.k, padding: 0, bias: b });

describe('conv2d, exactly tiling windows (the linear path)', () => {
  it('forward (bias, fused activations) matches the reference and the direct kernels', async () => {
    const rng = R.rng(11);
    for (const c of cases) {
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]);
      for (const act of ['none', 'relu', 'tanh'] as const) {
        const run = () => E.scope(() => E.conv2d(up(x), up(w), up(b), { stride: c.k, activation: act }));
        const y = run();
        E.convLinearPaths(false);
        const yd = run();
        E.convLinearPaths(true);
        const r = convRef(x, w, c, b);
        const ref = act === 'relu' ? R.relu(r) : act === 'tanh' ? R.tanh(r) : r;
        const label = `${act} ${JSON.stringify(c)}`;
        R.assertClose(await y.data(), ref, { rtol: 1e-5, atol: 1e-5, label });
        R.assertClose(await y.data(), Array.from(await yd.data()), { rtol: 1e-5, atol: 1e-6, label: `vs direct ${label}` });
        expect(y.shape).toEqual([c.n, c.h / c.k, c.w / c.k, c.co]);
        E.dispose([y, yd]);
      }
      // without a bias
      const y0 = E.conv2d(up(x), up(w), null, { stride: c.k });
      R.assertClose(await y0.data(), convRef(x, w, c), { rtol: 1e-5, atol: 1e-5, label: `no bias ${JSON.stringify(c)}` });
    }
  });

  it('input, weight and bias gradients match central differences of the reference', async () => {
    const rng = R.rng(12);
    for (const c of cases) {
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]);
      const cw = randn(rng, [c.n, c.h / c.k, c.w / c.k, c.co]);
      const C = up(cw);
      // relu inside (its gradient fused into the linear backward), tanh outside
      const fE = (X: E.Tensor, W: E.Tensor, B: E.Tensor) => E.sum(E.mul(E.tanh(E.conv2d(X, W, B, { stride: c.k, activation: 'relu' })), C));
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(R.relu(convRef(ps[0], ps[1], c, ps[2]))), cw));
      const g = E.grad(fE, [0, 1, 2])(up(x), up(w), up(b)) as E.Tensor[];
      const ng = R.numGrad(fR, [x, w, b], 1e-6);
      for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i} ${JSON.stringify(c)}`);
      E.convLinearPaths(false);
      const gd = E.grad(fE, [0, 1, 2])(up(x), up(w), up(b)) as E.Tensor[];
      E.convLinearPaths(true);
      for (let i = 0; i < 3; i++) R.assertClose(await g[i].data(), Array.from(await gd[i].data()), { rtol: 1e-5, atol: 1e-6, label: `grad ${i} vs direct ${JSON.stringify(c)}` });
    }
  });

  it('HVPs through a two-layer tiling conv net match differences of reference gradients', async () => {
    const rng = R.rng(13);
    const c: Case = { n: 1, h: 4, w: 6, ci: 3, co: 4, k: 2 };
    const c2: Case = { n: 1, h: 2, w: 3, ci: 4, co: 2, k: 1 };
    const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co], 0.3);
    const w2 = randn(rng, [2, 1, 1, c.co]);
    const W2 = up(w2);
    const vs = [randn(rng, x.shape), randn(rng, w.shape), randn(rng, b.shape)];
    const fE = (X: E.Tensor, W: E.Tensor, B: E.Tensor) => E.sum(E.square(E.conv2d(E.tanh(E.conv2d(X, W, B, { stride: 2 })), W2)));
    const fR = (ps: R.ND[]) => R.sum(R.square(convRef(R.tanh(convRef(ps[0], ps[1], c, ps[2])), w2, c2)));
    const hv = E.hvp(fE, [up(x), up(w), up(b)], vs.map(up)) as E.Tensor[];
    const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, w, b], vs, 1e-4);
    for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `hvp ${i}`);
  });

  it('kernel = stride windows that do not cover the input stay on the direct kernels (and are right)', async () => {
    const rng = R.rng(14);
    const c: Case = { n: 2, h: 5, w: 4, ci: 4, co: 3, k: 2 }; // 5 rows: the last is in no window
    const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5);
    let y!: E.Tensor;
    expect(dispatchLabels(() => (y = E.conv2d(up(x), up(w), null, { stride: 2 })))).not.toContain('linear');
    R.assertClose(await y.data(), convRef(x, w, c), { rtol: 1e-5, atol: 1e-5, label: 'uncovered row' });
    expect(dispatchLabels(() => E.conv2d(up(randn(rng, [2, 4, 4, 4])), up(w), null, { stride: 2 }))).toContain('linear'); // 4 rows: covered
  });

  it('frees every intermediate (forward, backward, HVP) inside a scope', async () => {
    const x = E.rand([4, 8, 8, 16], 0, 1, { seed: 1 }), w = E.randn([32, 2, 2, 16], 0, 0.2, { seed: 2 }), b = E.zeros([32]);
    const f = (W: E.Tensor) => E.sum(E.square(E.conv2d(x, W, b, { stride: 2, activation: 'relu' })));
    E.dispose(E.scope(() => E.hvp(f, [w], [w])));
    await E.sync();
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 3; i++) {
      E.dispose(E.scope(() => E.grad(f)(w)));
      E.dispose(E.scope(() => E.hvp(f, [w], [w])));
    }
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([x, w, b]);
  });
});
