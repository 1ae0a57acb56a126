// engine/nn/optim.ts: clip_grad_norm_ inside E.adam / E.adamw / E.rmsprop steps, on every
// path the step can take — one single-workgroup clipped Adam (≤ NORM_ONE_WORKGROUP floats), the
// multi-workgroup sums of squares feeding kernels/optim.ts's adamPartialsKernel (bigger plain
// Adam), and the sums of squares plus the one-thread finish feeding the generic update kernel
// (AdamW, RMSprop) — against float64 transcriptions of torch.optim with
// torch.nn.utils.clip_grad_norm_, step for step: the clip active, inactive, then off; the norm
// lastGradNorm() reports. packParams pads every leaf to 64 floats, so the optimizers only see
// multiples of 64: the two new kernels are also run directly on sizes that are not multiples of
// 4 or of a workgroup, with garbage past n.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { NORM_ONE_WORKGROUP } from '../../engine/nn/optim.ts';
import { runtime } from '../../engine/tensor.ts';
import { gradSquarePartialsKernel, normFinishKernel } from '../../kernels/optim.ts';

beforeAll(async () => {
  await E.init();
});

/** A deterministic pseudo-random sequence in [-1, 1) (test/ref's seeded generator). */
function noise(n: number, seed: number): Float32Array {
  return Float32Array.from(R.rng(seed).ndUniform([n], -1, 1).data);
}

type Kind = 'adam' | 'adamw' | 'rmsprop';

/** One float64 step of torch.optim.<kind> (after the clip has scaled g). */
function refStep(kind: Kind, t: number, lr: number, eps: number, p: Float64Array, a: Float64Array, b: Float64Array, g: Float64Array) {
  const [b1, b2, wd, alpha] = [0.9, 0.999, 0.05, 0.95];
  for (let i = 0; i < p.length; i++) {
    if (kind === 'rmsprop') {
      a[i] = alpha * a[i] + (1 - alpha) * g[i] * g[i];
      p[i] -= (lr * g[i]) / (Math.sqrt(a[i]) + eps);
      continue;
    }
    if (kind === 'adamw') p[i] *= 1 - lr * wd;
    a[i] = b1 * a[i] + (1 - b1) * g[i];
    b[i] = b2 * b[i] + (1 - b2) * g[i] * g[i];
    p[i] -= (lr / (1 - b1 ** t)) * (a[i] / (Math.sqrt(b[i]) / Math.sqrt(1 - b2 ** t) + eps));
  }
}

function make(kind: Kind, params: E.Params, lr: number, eps: number) {
  if (kind === 'adam') return E.adam(params, { lr, eps });
  if (kind === 'adamw') return E.adamw(params, { lr, eps, weightDecay: 0.05 });
  return E.rmsprop(params, { lr, eps, alpha: 0.95 });
}

describe('clipped optimizer steps against float64 torch.optim + clip_grad_norm_', () => {
  it.each([
    // leaves: w [rows, cols], b [rows]
    { kind: 'adam' as Kind, rows: 37, cols: 26, note: 'one-workgroup clipped Adam, 999 floats' },
    { kind: 'adam' as Kind, rows: 173, cols: 211, note: 'sums of squares + adamPartialsKernel, 36,676 floats' },
    { kind: 'adam' as Kind, rows: 331, cols: 301, note: 'sums of squares + adamPartialsKernel, 99,962 floats (more vec4s than the grid has threads)' },
    { kind: 'adamw' as Kind, rows: 181, cols: 199, note: 'AdamW: sums of squares + finish + optim_adam, 36,200 floats' },
    { kind: 'rmsprop' as Kind, rows: 181, cols: 203, note: 'RMSprop: sums of squares + finish + optim_rmsprop, 36,924 floats' },
    { kind: 'rmsprop' as Kind, rows: 29, cols: 31, note: 'RMSprop: one-workgroup norm, 928 floats' },
  ])('$kind, $note: clip active, inactive, active, off', async ({ kind, rows, cols }) => {
    const live = E.memory().liveBuffers;
    const shapes = { w: [rows, cols], b: [rows] };
    const packed = E.packParams({ w: E.tensor(noise(rows * cols, 1), shapes.w), b: E.tensor(noise(rows, 2), shapes.b) });
    const layout = E.packedOf(packed.params)!.layout;
    const n = layout.size; // the leaves plus packParams' alignment padding (zero gradients)
    if (rows > 100) expect(n).toBeGreaterThan(NORM_ONE_WORKGROUP);
    else expect(n).toBeLessThanOrEqual(NORM_ONE_WORKGROUP);
    const lr = 0.01, eps = 1e-3; // a large eps: the step then depends on the clip's scale
    const opt = make(kind, packed.params, lr, eps);
    const p = Float64Array.from(await packed.flat.data()).subarray(0, n);
    const a = new Float64Array(n), b = new Float64Array(n);
    const maxNorm = 0.5 * Math.sqrt(n / 3); // about half the norm of a gain-1 gradient
    const gains = [3, 0.05, 1, 2];
    for (let t = 1; t <= gains.length; t++) {
      const gw = noise(rows * cols, 10 + t).map((x) => x * gains[t - 1]), gb = noise(rows, 20 + t).map((x) => x * gains[t - 1]);
      const g = new Float64Array(n);
      layout.names.forEach((name, i) => g.set(name === 'w' ? gw : gb, layout.offsets[i]));
      let sq = 0;
      for (let i = 0; i < n; i++) sq += g[i] * g[i];
      const norm = Math.sqrt(sq);
      const clip = t < 4;
      const scale = clip ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
      if (t === 1 || t === 3) expect(scale).toBeLessThan(0.6);
      if (t === 2) expect(scale).toBe(1);
      E.scope(() => opt.step(packed.params, { w: E.tensor(gw, shapes.w), b: E.tensor(gb, shapes.b) }, clip ? { maxGradNorm: maxNorm } : {}));
      refStep(kind, t, lr, eps, p, a, b, g.map((x) => x * scale));
      const got = (await packed.flat.data()).subarray(0, n);
      let worst = 0, moved = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(got[i] - p[i]));
        moved = Math.max(moved, Math.abs(p[i]));
      }
      // every float's step is ~lr·(clipped g)/(…): an error at f32 rounding of the parameters
      expect(worst, `step ${t}`).toBeLessThan(2e-6 * Math.max(1, moved));
      if (clip) {
        const ln = opt.lastGradNorm();
        expect(Math.abs((await ln.item()) - norm) / norm, `norm at step ${t}`).toBeLessThan(1e-5);
        ln.dispose();
      }
    }
    // the first moment (Adam) / square average (RMSprop) too
    const st = opt.state();
    const mName = kind === 'rmsprop' ? 'square_avg' : 'exp_avg';
    const mw = await st[`${mName}.w`].data();
    let worstM = 0;
    for (let i = 0; i < rows * cols; i++) worstM = Math.max(worstM, Math.abs(mw[i] - a[layout.offsets[layout.names.indexOf('w')] + i]));
    expect(worstM).toBeLessThan(1e-6);
    E.dispose(Object.values(st));
    opt.dispose();
    E.dispose([packed.params, packed.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('gradSquarePartialsKernel and normFinishKernel', () => {
  it.each([
    { n: 1001, groups: 1 },
    { n: 1001, groups: 5 },
    { n: 99_997, groups: 32 },
    { n: 6, groups: 3 }, // more workgroups than vec4s: the idle ones write 0
  ])('n = $n over $groups workgroups: the partials add up to ‖G‖² and the finish writes ‖G‖ to H[64]', async ({ n, groups }) => {
    const live = E.memory().liveBuffers;
    const pad = Math.ceil(n / 4) * 4 + 8;
    const g = noise(pad, 7);
    for (let i = n; i < pad; i++) g[i] = 1000; // garbage past n: not part of the norm
    let sq = 0;
    for (let i = 0; i < n; i++) sq += g[i] * g[i];
    const G = E.tensor(g, [pad]), NS = E.zeros([groups]), H = E.zeros([128]);
    runtime().dispatch({ kernel: gradSquarePartialsKernel, inputs: [G.buffer], outputs: [NS.buffer], params: [n], workgroups: [groups], label: 'partials (test)' });
    runtime().dispatch({ kernel: normFinishKernel, inputs: [NS.buffer], outputs: [H.buffer], params: [groups], workgroups: [1], label: 'finish (test)' });
    const [ns, h] = await Promise.all([NS.data(), H.data()]);
    const total = ns.reduce((s, x) => s + x, 0);
    expect(Math.abs(total - sq) / sq).toBeLessThan(1e-5);
    if (n > 4 * 64 * groups) expect(Math.min(...ns)).toBeGreaterThan(0); // every workgroup took a share
    expect(Math.abs(h[64] - Math.sqrt(sq)) / Math.sqrt(sq)).toBeLessThan(1e-5);
    E.dispose([G, NS, H]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});
