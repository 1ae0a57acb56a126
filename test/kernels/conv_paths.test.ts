// The conv2d kernel paths beside the plain scalar kernels (conv.test.ts covers the operator):
// 1. the stride-1 input gradient run as a forward convolution of gy with the flipped weight
// (engine/nn/conv.ts backInputFlipped; kernels/conv.ts convFwdKernel with flipW): against a
// float64 closed form of the adjoint (dx[n, oh·s+kh−p, ow·s+kw−p, ci] += gy[n, oh, ow, co] ·
// w[co, kh, kw, ci]), at every forward tile it can be given, with paddings 0 ≤ p < k, square and
// non-square kernels, the fallback to the residue-class kernel where p ≥ k, second order through
// it, and live buffers; scalar and vec4 (convFwdVec4Kernel) variants.
// 2. the vec4 forward, weight-gradient and residue-class input-gradient kernels (channel counts
// % 4 == 0) against the float64 forward and closed forms of both gradients, at several tiles, strides and paddings, and
// equal to the scalar kernels (E.convVec4(false)).
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel, wToRef } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});
afterEach(() => {
  E.clearTiles();
  E.convFlippedBackInput(true);
  E.convVec4(true);
});

interface Geo { n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number; p: number }

/** A conv2d's shape: NHWC input, [co, kh, kw, ci] weight, stride s both ways, zero padding p. */
interface ProductGeo { n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number; s: number; p: number }

/**
 * Every multiply-add of conv2d at any stride and padding, in one fixed order: f(index into x,
 * index into w, index into gy). The float64 references below are sums over it.
 */
function forEachConvProduct(c: ProductGeo, f: (xi: number, wi: number, gi: number) => void) {
  const oh = Math.floor((c.h + 2 * c.p - c.kh) / c.s) + 1, ow = Math.floor((c.w + 2 * c.p - c.kw) / c.s) + 1;
  for (let n = 0; n < c.n; n++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let kh = 0; kh < c.kh; kh++) {
          const ih = y * c.s + kh - c.p;
          if (ih < 0 || ih >= c.h) continue;
          for (let kw = 0; kw < c.kw; kw++) {
            const iw = xx * c.s + kw - c.p;
            if (iw < 0 || iw >= c.w) continue;
            for (let co = 0; co < c.co; co++)
              for (let ci = 0; ci < c.ci; ci++)
                f(((n * c.h + ih) * c.w + iw) * c.ci + ci, ((co * c.kh + kh) * c.kw + kw) * c.ci + ci, ((n * oh + y) * ow + xx) * c.co + co);
          }
        }
}

/** dx of L = Σ conv2d(x, w) ⊙ gy at any stride and padding, by scattering every product once. */
function refBackInput(gy: R.ND, w: R.ND, g: ProductGeo): Float64Array {
  const dx = new Float64Array(g.n * g.h * g.w * g.ci);
  forEachConvProduct(g, (xi, wi, gi) => { dx[xi] += gy.data[gi] * w.data[wi]; });
  return dx;
}

/** dw of L = Σ conv2d(x, w) ⊙ gy: Σ over (n, oh, ow) of gy[co] · x[ci] at each tap. */
function refBackWeight(x: R.ND, gy: R.ND, g: ProductGeo): Float64Array {
  const dw = new Float64Array(g.co * g.kh * g.kw * g.ci);
  forEachConvProduct(g, (xi, wi, gi) => { dw[wi] += gy.data[gi] * x.data[xi]; });
  return dw;
}

const GEOS: Geo[] = [
  { n: 2, h: 10, w: 10, ci: 4, co: 16, kh: 3, kw: 3, p: 0 }, // MinAtar torso
  { n: 2, h: 9, w: 9, ci: 12, co: 8, kh: 3, kw: 3, p: 1 }, // Nature layer 3's geometry, fewer channels
  { n: 3, h: 7, w: 6, ci: 5, co: 3, kh: 3, kw: 2, p: 1 }, // non-square kernel, odd channel counts
  { n: 1, h: 6, w: 7, ci: 2, co: 7, kh: 4, kw: 4, p: 3 }, // p = k − 1: the equivalent forward has no padding
  { n: 2, h: 5, w: 5, ci: 3, co: 2, kh: 1, kw: 1, p: 0 }, // 1×1
];
const TILES: E.ConvTile[] = [
  { TP: 4, TC: 4, WG: 64 }, { TP: 1, TC: 1, WG: 64 }, { TP: 8, TC: 4, WG: 64 }, { TP: 2, TC: 8, WG: 128 }, { TP: 4, TC: 2, WG: 32 },
];

describe('conv2dBackInput at stride 1 (flipped-weight forward kernel)', () => {
  it('matches the float64 adjoint at every forward tile, in one dispatch, equal to the residue-class kernel', async () => {
    const rng = R.rng(21);
    for (const g of GEOS) {
      const oshape = [g.n, g.h + 2 * g.p - g.kh + 1, g.w + 2 * g.p - g.kw + 1, g.co];
      const gy = randn(rng, oshape), w = randn(rng, [g.co, g.kh, g.kw, g.ci], 0.5);
      const ref = refBackInput(gy, w, { ...g, s: 1 });
      const GY = up(gy), W = up(w);
      for (const t of TILES) {
        for (const cls of ['small', 'medium', 'large'] as const) E.setTile('conv', cls, t);
        const d0 = E.counters().dispatches;
        const dx = E.conv2dBackInput(GY, W, [g.n, g.h, g.w, g.ci], [1, 1], [g.p, g.p]);
        expect(E.counters().dispatches - d0).toBe(1);
        expect(dx.shape).toEqual([g.n, g.h, g.w, g.ci]);
        await expectRel(dx, ref, 1e-5, `flipped ${JSON.stringify(g)} tile ${JSON.stringify(t)}`);
        dx.dispose();
      }
      E.convFlippedBackInput(false);
      const dxr = E.conv2dBackInput(GY, W, [g.n, g.h, g.w, g.ci], [1, 1], [g.p, g.p]);
      await expectRel(dxr, ref, 1e-5, `residue ${JSON.stringify(g)}`);
      E.convFlippedBackInput(true);
      E.dispose([GY, W, dxr]);
    }
  });

  it('falls back to the residue-class kernel where padding ≥ kernel size, still exact', async () => {
    const rng = R.rng(22);
    const g: Geo = { n: 1, h: 4, w: 4, ci: 2, co: 3, kh: 2, kw: 2, p: 2 };
    const gy = randn(rng, [1, 7, 7, 3]), w = randn(rng, [3, 2, 2, 2]);
    const dx = E.conv2dBackInput(up(gy), up(w), [1, 4, 4, 2], [1, 1], [2, 2]);
    await expectRel(dx, refBackInput(gy, w, { ...g, s: 1 }), 1e-5, 'p ≥ k');
  });

  it('gradients and HVPs of a stride-1, padded two-layer conv net match the float64 reference', async () => {
    const rng = R.rng(23);
    const c = { n: 2, h: 6, w: 6, ci: 3, co: 4, k: 3, p: 1 };
    const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), w2 = randn(rng, [2, 3, 3, c.co], 0.5);
    const W2 = up(w2);
    const ref = (a: R.ND, b: R.ND, p: number) => R.conv2d(a, wToRef(b), { layout: 'NHWC', stride: 1, padding: p });
    // conv → tanh → conv (unpadded) → Σ square: the gradient w.r.t. x runs the flipped kernel
    // twice, and the HVP runs conv2dBackInput's own backward (conv2d, conv2dBackWeight)
    const fE = (X: E.Tensor, Wt: E.Tensor) => E.sum(E.square(E.conv2d(E.tanh(E.conv2d(X, Wt, null, { padding: c.p })), W2)));
    const fR = (ps: R.ND[]) => R.sum(R.square(ref(R.tanh(ref(ps[0], ps[1], c.p)), w2, 0)));
    const live0 = E.memory().liveBuffers;
    const X = up(x), Wt = up(w);
    const g = E.scope(() => E.grad(fE, [0, 1])(X, Wt)) as E.Tensor[];
    const ng = R.numGrad(fR, [x, w], 1e-6);
    for (let i = 0; i < 2; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i}`);
    const vs = [randn(rng, x.shape), randn(rng, w.shape)];
    const Vs = vs.map(up);
    const hv = E.scope(() => E.hvp(fE, [X, Wt], Vs)) as E.Tensor[];
    const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, w], vs, 1e-4);
    for (let i = 0; i < 2; i++) await expectRel(hv[i], nh[i], 2e-3, `hvp ${i}`);
    E.dispose([X, Wt, g, Vs, hv]);
    await E.sync();
    expect(E.memory().liveBuffers).toBe(live0);
    W2.dispose();
  });
});

describe('conv2d vec4 kernels (forward, weight gradient, strided input gradient)', () => {
  const VCASES = [
    { n: 3, h: 10, w: 10, ci: 4, co: 16, k: 3, s: 1, p: 0 }, // MinAtar
    { n: 2, h: 9, w: 9, ci: 8, co: 12, k: 3, s: 1, p: 1 },
    { n: 2, h: 12, w: 12, ci: 4, co: 8, k: 8, s: 4, p: 0 }, // Nature-CNN layer 1, small
    { n: 2, h: 8, w: 7, ci: 12, co: 4, k: 4, s: 2, p: 2 },
  ];
  const VTILES: E.ConvTile[] = [{ TP: 4, TC: 4, WG: 64 }, { TP: 1, TC: 1, WG: 64 }, { TP: 8, TC: 8, WG: 32 }];
  it('match the float64 forward and weight gradient at three tiles, and the scalar kernels', async () => {
    const rng = R.rng(31);
    for (const c of VCASES) {
      const oshape = [c.n, E.convOutputSize(c.h, c.k, c.s, c.p), E.convOutputSize(c.w, c.k, c.s, c.p), c.co];
      const x = randn(rng, [c.n, c.h, c.w, c.ci]), w = randn(rng, [c.co, c.k, c.k, c.ci], 0.5), b = randn(rng, [c.co]), gy = randn(rng, oshape);
      const yRef = R.relu(R.conv2d(x, wToRef(w), { layout: 'NHWC', stride: c.s, padding: c.p, bias: b }));
      const dwRef = refBackWeight(x, gy, { ...c, kh: c.k, kw: c.k });
      const dxRef = refBackInput(gy, w, { ...c, kh: c.k, kw: c.k });
      const X = up(x), W = up(w), B = up(b), GY = up(gy);
      for (const t of VTILES) {
        for (const cls of ['small', 'medium', 'large'] as const) {
          E.setTile('conv', cls, t);
          E.setTile('convBackWeight', cls, t);
        }
        for (const v4 of t === VTILES[0] ? [true, false] : [true]) {
          E.convVec4(v4);
          const tag = `${v4 ? 'vec4' : 'scalar'} ${JSON.stringify(c)} tile ${JSON.stringify(t)}`;
          const y = E.conv2d(X, W, B, { stride: c.s, padding: c.p, activation: 'relu' });
          await expectRel(y, yRef, 1e-5, `forward ${tag}`);
          const dw = E.conv2dBackWeight(X, GY, W.shape, [c.s, c.s], [c.p, c.p]);
          await expectRel(dw, dwRef, 1e-5, `weight gradient ${tag}`);
          // input gradient: the residue-class kernel at stride > 1 (vec4 over input channels), the flipped forward at stride 1
          E.setTile('convBackInput', 'small', t);
          E.setTile('convBackInput', 'medium', t);
          E.setTile('convBackInput', 'large', t);
          const dx = E.conv2dBackInput(GY, W, X.shape, [c.s, c.s], [c.p, c.p]);
          await expectRel(dx, dxRef, 1e-5, `input gradient ${tag}`);
          E.dispose([y, dw, dx]);
        }
      }
      E.dispose([X, W, B, GY]);
    }
  });
});
