// The fused L1Norm layer (kernels/l1norm.ts, engine/nn/l1norm.ts): y = x / max(mean|x|, ε) per
// row against a float64 reference, its gradient against central differences of that reference
// (including rows below ε, where the scale is the constant ε, and rows longer than a
// workgroup), one dispatch each way, agreement with the composed ops through a network, the
// composed paths taken by forward mode and HVPs, bad input, and no leaked buffers.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { expectRel, randn, up } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

/** float64 L1Norm of x [rows, n], scale max(mean|x|, eps). */
function refL1(x: R.ND, eps: number): R.ND {
  const n = x.shape[x.shape.length - 1], rows = x.size / n;
  const out = new Float64Array(x.size);
  for (let r = 0; r < rows; r++) {
    let a = 0;
    for (let j = 0; j < n; j++) a += Math.abs(x.data[r * n + j]);
    const s = Math.max(a / n, eps);
    for (let j = 0; j < n; j++) out[r * n + j] = x.data[r * n + j] / s;
  }
  return R.nd(x.shape, out);
}

/** Inputs: normal rows, one row scaled below eps (constant scale), one with exact zeros. */
function input(rows: number, n: number, seed: number, eps: number): R.ND {
  const x = randn(R.rng(seed), [rows, n]);
  const d = Float32Array.from(x.data);
  if (rows > 2) {
    for (let j = 0; j < n; j++) d[n + j] = Math.fround(d[n + j] * eps * 0.1);
    for (let j = 0; j < n; j += 3) d[2 * n + j] = 0;
  }
  return R.nd([rows, n], d);
}

describe('l1Norm (fused)', () => {
  for (const [rows, n] of [[5, 7], [4, 128], [3, 400], [33, 1], [6, 97]] as const) {
    it(`forward and backward vs float64 and central differences [${rows}, ${n}]`, async () => {
      const eps = 1e-3;
      const live0 = E.memory().liveBuffers;
      const x = input(rows, n, rows * 100 + n, eps);
      const w = randn(R.rng(7 + n), [rows, n]);
      const X = up(x), W = up(w);
      const d0 = E.counters().dispatches;
      const y = E.l1Norm(X, eps);
      expect(E.counters().dispatches - d0, 'forward dispatches').toBe(1);
      await expectRel(y, refL1(x, eps), 1e-5, 'forward');
      // loss = Σ w·y: its gradient is the backward's output for cotangent w
      const f = (xs: R.ND[]) => R.sum(R.mul(refL1(xs[0], eps), w));
      const num = R.numGrad(f, [x], 1e-4 * eps)[0];
      const [l, g] = E.valueAndGrad((t: E.Tensor) => E.sum(E.mul(E.l1Norm(t, eps), W)))(X);
      await expectRel(g, num, 2e-3, 'gradient vs central differences');
      const d1 = E.counters().dispatches;
      const [yv, back] = E.vjp((t: E.Tensor) => E.l1Norm(t, eps), X);
      const [gv] = back(W) as E.Tensor[];
      back.dispose();
      expect(E.counters().dispatches - d1, 'forward + backward dispatches').toBe(2);
      const [lc, gc] = E.valueAndGrad((t: E.Tensor) => E.sum(E.mul(E.l1NormComposed(t, eps), W)))(X);
      await expectRel(gv, await gc.data(), 1e-5, 'fused vs composed gradient');
      E.dispose([X, W, y, l, g, yv, gv, lc, gc]);
      expect(E.memory().liveBuffers).toBe(live0);
    });
  }

  it('through a network: gradient, jvp and HVP equal the composed layer', async () => {
    const live0 = E.memory().liveBuffers;
    const rng = R.rng(3);
    const x = up(randn(rng, [8, 20]));
    const p = { w: up(randn(rng, [20, 16], 0.3)), v: up(randn(rng, [16, 4], 0.3)) };
    const net = (l1: (t: E.Tensor) => E.Tensor) => (q: typeof p) =>
      E.sum(E.square(E.matmul(l1(E.relu(E.matmul(l1(x), q.w))), q.v)));
    const fF = net((t) => E.l1Norm(t)), fC = net((t) => E.l1NormComposed(t));
    const [lF, gF] = E.valueAndGrad(fF)(p);
    const [lC, gC] = E.valueAndGrad(fC)(p);
    await expectRel(lF, await lC.data(), 1e-5, 'loss');
    await expectRel(gF.w, await gC.w.data(), 1e-4, 'grad w');
    await expectRel(gF.v, await gC.v.data(), 1e-4, 'grad v');
    const t = { w: up(randn(rng, [20, 16])), v: up(randn(rng, [16, 4])) };
    const [yF, jF] = E.jvp(fF, [p], [t]);
    const [yC, jC] = E.jvp(fC, [p], [t]);
    await expectRel(jF, await jC.data(), 1e-4, 'jvp');
    const hF = E.hvp(fF, [p], [t]) as unknown as [typeof p];
    const hC = E.hvp(fC, [p], [t]) as unknown as [typeof p];
    await expectRel(hF[0].w, await hC[0].w.data(), 1e-4, 'hvp w');
    await expectRel(hF[0].v, await hC[0].v.data(), 1e-4, 'hvp v');
    E.dispose([x, p, lF, gF, lC, gC, t, yF, jF, yC, jC, hF, hC] as unknown as E.Tensor[]);
    expect(E.memory().liveBuffers).toBe(live0);
  });

  it('refuses bad input with the reason', () => {
    const s = E.tensor(Float32Array.of(1), []);
    expect(() => E.l1Norm(s)).toThrow(/l1Norm: x must have a non-empty last axis, got \[\]/);
    const x = E.zeros([2, 3]);
    expect(() => E.l1Norm(x, 0)).toThrow(/eps must be a finite number > 0, got 0/);
    E.dispose([s, x]);
  });
});
