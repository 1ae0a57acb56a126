// conv2d (NHWC, weights [outC, kH, kW, inC]) against the float64 reference: forward at several
// shapes/strides/paddings, input and weight gradients against central differences of the
// reference, and second derivatives (HVPs through the conv-family backward kernels) against
// differences of reference gradients.
import { describe, it, expect, beforeAll, beforeEach, afterAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel, wToRef } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

interface Case { n: number; h: number; w: number; ci: number; co: number; k: number; s: number; p: number }
const cases: Case[] = [
  { n: 1, h: 5, w: 5, ci: 1, co: 1, k: 3, s: 1, p: 0 },
  { n: 2, h: 7, w: 6, ci: 3, co: 5, k: 3, s: 2, p: 1 },
  { n: 3, h: 10, w: 10, ci: 4, co: 16, k: 3, s: 1, p: 0 }, // MinAtar
  { n: 2, h: 12, w: 12, ci: 4, co: 6, k: 8, s: 4, p: 0 }, // Nature-CNN first layer, small
  { n: 2, h: 9, w: 9, ci: 7, co: 3, k: 4, s: 2, p: 2 },
  { n: 1, h: 6, w: 8, ci: 2, co: 9, k: 2, s: 3, p: 1 },
];
const convRef = (x: R.ND, w: R.ND, c: Case, b?: R.ND) => R.conv2d(x, wToRef(w), { layout: 'NHWC', stride: c.s, padding: c.p, bias: b });

describe('conv2d', () => {
  // the direct kernels, whatever this host's tuning chose (the tuner may pick the im2col path)
  beforeEach(() => {
    for (const cls of ['small', 'medium', 'large'] as const) {
      E.setTile('conv', cls, { TP: 4, TC: 4, WG: 64 });
      E.setTile('convBackWeight', cls, { TP: 4, TC: 4, WG: 64 });
    }
  });
  afterAll(() => E.clearTiles());
  it('forward (with and without bias, fused activation) matches the reference', async () => {
    const rng = R.rng(1);
    for (const c of cases) {
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]);
      const y = E.conv2d(up(x), up(w), null, { stride: c.s, padding: c.p });
      R.assertClose(await y.data(), convRef(x, w, c), { rtol: 1e-4, atol: 1e-4, label: JSON.stringify(c) });
      const yb = E.conv2d(up(x), up(w), up(b), { stride: c.s, padding: c.p, activation: 'relu' });
      R.assertClose(await yb.data(), R.relu(convRef(x, w, c, b)), { rtol: 1e-4, atol: 1e-4, label: `bias+relu ${JSON.stringify(c)}` });
      expect(y.shape).toEqual([c.n, E.convOutputSize(c.h, c.k, c.s, c.p), E.convOutputSize(c.w, c.k, c.s, c.p), c.co]);
    }
  });

  it('input, weight and bias gradients match central differences of the reference', async () => {
    const rng = R.rng(2);
    for (const c of cases.filter((c) => c.n * c.h * c.w * c.ci < 800)) {
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]);
      const oshape = [c.n, E.convOutputSize(c.h, c.k, c.s, c.p), E.convOutputSize(c.w, c.k, c.s, c.p), c.co];
      const cw = randn(rng, oshape);
      const C = up(cw);
      const fE = (X: E.Tensor, W: E.Tensor, B: E.Tensor) => E.sum(E.mul(E.tanh(E.conv2d(X, W, B, { stride: c.s, padding: c.p })), C));
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(convRef(ps[0], ps[1], c, ps[2])), cw));
      const g = E.grad(fE, [0, 1, 2])(up(x), up(w), up(b)) as E.Tensor[];
      const ng = R.numGrad(fR, [x, w, b], 1e-6);
      for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i} ${JSON.stringify(c)}`);
    }
  });

  it('second derivatives through the convolution (HVP) match differences of reference gradients', async () => {
    const rng = R.rng(3);
    for (const c of [
      { n: 1, h: 6, w: 5, ci: 2, co: 3, k: 3, s: 2, p: 1 },
      { n: 2, h: 7, w: 7, ci: 2, co: 2, k: 4, s: 2, p: 2 },
      { n: 1, h: 5, w: 6, ci: 3, co: 2, k: 2, s: 3, p: 1 },
    ]) {
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co], 0.3);
      const vs = [randn(rng, x.shape), randn(rng, w.shape), randn(rng, b.shape)];
      // A two-layer conv net with a tanh: the HVP differentiates the gradient, i.e. runs the
      // backward of conv2dBackInput and conv2dBackWeight (which are conv-family kernels again).
      const c2: Case = { ...c, ci: c.co, co: 2, k: 1, s: 1, p: 0 };
      const w2 = randn(rng, [2, 1, 1, c.co]);
      const W2 = up(w2);
      const fE = (X: E.Tensor, W: E.Tensor, B: E.Tensor) =>
        E.sum(E.square(E.conv2d(E.tanh(E.conv2d(X, W, B, { stride: c.s, padding: c.p })), W2)));
      const fR = (ps: R.ND[]) => R.sum(R.square(convRef(R.tanh(convRef(ps[0], ps[1], c, ps[2])), w2, c2)));
      const hv = E.hvp(fE, [up(x), up(w), up(b)], vs.map(up)) as E.Tensor[];
      const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, w, b], vs, 1e-4);
      for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `hvp ${i} ${JSON.stringify(c)}`);
    }
  });

  it('frees every intermediate (forward, backward, HVP) inside a scope', async () => {
    const x = E.rand([2, 10, 10, 4], 0, 1, { seed: 1 }), w = E.randn([16, 3, 3, 4], 0, 0.2, { seed: 2 }), b = E.zeros([16]);
    const f = (W: E.Tensor) => E.sum(E.square(E.conv2d(x, W, b, { activation: 'relu' })));
    E.dispose(E.scope(() => E.hvp(f, [w], [w])));
    await E.sync();
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 4; i++) {
      E.dispose(E.scope(() => E.grad(f)(w)));
      E.dispose(E.scope(() => E.hvp(f, [w], [w])));
    }
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([x, w, b]);
  });
});

describe('conv2d on the im2col path (im2col + the linear kernels, forced for every shape class)', () => {
  const forceIm2col = () => {
    for (const cls of ['small', 'medium', 'large'] as const) {
      E.setTile('conv', cls, { TP: 1, TC: 1, WG: 256, IM2COL: 1 });
      E.setTile('convBackWeight', cls, { TP: 1, TC: 1, WG: 256, IM2COL: 1 });
    }
  };

  it('forward (bias, fused activation), gradients, HVP match the float64 reference; no buffers leak', async () => {
    forceIm2col();
    try {
      const rng = R.rng(11);
      const live0 = E.memory().liveBuffers;
      for (const c of cases) {
        const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]);
        const X = up(x), W = up(w), B = up(b);
        const d0 = E.counters().dispatches;
        const yb = E.conv2d(X, W, B, { stride: c.s, padding: c.p, activation: 'relu' });
        expect(E.counters().dispatches - d0, 'im2col + fused linear').toBe(2);
        R.assertClose(await yb.data(), R.relu(convRef(x, w, c, b)), { rtol: 1e-4, atol: 1e-4, label: `im2col bias+relu ${JSON.stringify(c)}` });
        const oshape = [c.n, E.convOutputSize(c.h, c.k, c.s, c.p), E.convOutputSize(c.w, c.k, c.s, c.p), c.co];
        expect(yb.shape).toEqual(oshape);
        if (c.n * c.h * c.w * c.ci < 800) {
          const cw = randn(rng, oshape);
          const C = up(cw);
          const fE = (XX: E.Tensor, WW: E.Tensor, BB: E.Tensor) => E.sum(E.mul(E.tanh(E.conv2d(XX, WW, BB, { stride: c.s, padding: c.p })), C));
          const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(convRef(ps[0], ps[1], c, ps[2])), cw));
          const g = E.scope(() => E.grad(fE, [0, 1, 2])(X, W, B)) as E.Tensor[];
          const ng = R.numGrad(fR, [x, w, b], 1e-6);
          for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `im2col grad ${i} ${JSON.stringify(c)}`);
          // second order: the HVP runs conv2dBackWeight's own backward (conv2d on the im2col path again)
          const vs = [randn(rng, x.shape), randn(rng, w.shape), randn(rng, b.shape)];
          const Vs = vs.map(up);
          const hv = E.scope(() => E.hvp(fE, [X, W, B], Vs)) as E.Tensor[];
          const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, w, b], vs, 1e-4);
          for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `im2col hvp ${i} ${JSON.stringify(c)}`);
          E.dispose([C, g, Vs, hv]);
        }
        E.dispose([X, W, B, yb]);
      }
      expect(E.memory().liveBuffers).toBe(live0);
    } finally {
      E.clearTiles();
    }
  });
});
