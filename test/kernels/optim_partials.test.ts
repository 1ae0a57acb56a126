// kernels/optim.ts adamPartialsKernel (the DQN family's one-dispatch clipped Adam, fed by the
// fused dW kernel's per-workgroup sums of squares) against a float64 transcription of
// torch.optim.Adam with torch.nn.utils.clip_grad_norm_, step for step; and against the engine's
// two-dispatch path (gradNormKernel + optim_adam) on the same gradients.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { runtime } from '../../engine/tensor.ts';
import { adamPartialsKernel } from '../../kernels/optim.ts';

beforeAll(async () => {
  await E.init();
});

/** A deterministic pseudo-random sequence in [-1, 1). */
function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** Sums of squares of G over `k` uneven consecutive pieces (float64, stored as f32, as the dW kernel's workgroups write them). */
function partials(g: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(k);
  const cut = Array.from({ length: k + 1 }, (_, i) => Math.round((n * i * i) / (k * k)));
  for (let j = 0; j < k; j++) for (let i = cut[j]; i < cut[j + 1]; i++) out[j] += g[i] * g[i];
  return out;
}

function step(o: { n: number; G: E.Tensor; NS: E.Tensor; k: number; P: E.Tensor; M: E.Tensor; V: E.Tensor; H: E.Tensor; lr: number; maxNorm: number; eps: number; t: number; groups: number }) {
  const [b1, b2] = [0.9, 0.999];
  runtime().dispatch({
    kernel: adamPartialsKernel,
    inputs: [o.G.buffer, o.NS.buffer],
    outputs: [o.P.buffer, o.M.buffer, o.V.buffer, o.H.buffer],
    params: [o.n, o.k, ...[o.lr, o.maxNorm, b1, b2, o.eps, 1 - b1 ** o.t, Math.sqrt(1 - b2 ** o.t)].map(E.f32bits)],
    workgroups: [o.groups],
    label: 'adam partials (test)',
  });
}

describe('adamPartialsKernel', () => {
  it.each([
    { n: 1001, k: 7, groups: 3, note: 'n not a multiple of 4, fewer threads than vec4s' },
    { n: 64, k: 1, groups: 5, note: 'more threads than vec4s' },
  ])('equals float64 Adam with clip_grad_norm_ over 4 steps, clip on and off ($note)', async ({ n, k, groups }) => {
    const live = E.memory().liveBuffers;
    const pad = Math.ceil(n / 4) * 4 + 8; // floats past n must stay as they are
    const SENT = 123.5;
    const p0 = noise(pad, 1);
    for (let i = n; i < pad; i++) p0[i] = SENT;
    const P = E.tensor(p0, [pad]), M = E.zeros([pad]), V = E.zeros([pad]), H = E.zeros([128]);
    const lr = 0.01, eps = 1e-3; // a large eps: Adam's step then depends on the clip's scale
    const p = Float64Array.from(p0.subarray(0, n)), m = new Float64Array(n), v = new Float64Array(n);
    // clip active (norm over max), inactive (under), active again, then no clip at all (k = 0)
    const gains = [3, 0.05, 1, 2];
    for (let t = 1; t <= gains.length; t++) {
      const g = noise(pad, 10 + t).map((x) => x * gains[t - 1]);
      for (let i = n; i < pad; i++) g[i] = 7; // garbage past n: not part of the norm or the update
      const ns = partials(g, n, k);
      let sq = 0;
      for (let i = 0; i < n; i++) sq += g[i] * g[i];
      const norm = Math.sqrt(sq);
      const maxNorm = 0.5 * Math.sqrt(n / 3); // about half the norm at gain 1
      const clip = t < 4;
      const G = E.tensor(g, [pad]), NS = E.tensor(ns, [k]);
      step({ n, G, NS, k: clip ? k : 0, P, M, V, H, lr, maxNorm, eps, t, groups });
      const scale = clip ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
      if (t === 1) expect(scale).toBeLessThan(0.5);
      if (t === 2) expect(scale).toBe(1);
      const [b1, b2] = [0.9, 0.999];
      for (let i = 0; i < n; i++) {
        const gi = g[i] * scale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= (lr / (1 - b1 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps));
      }
      const [gp, gm, gv, gh] = await Promise.all([P.data(), M.data(), V.data(), H.data()]);
      if (clip) expect(Math.abs(gh[64] - norm) / norm).toBeLessThan(1e-5);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(gp[i] - p[i]), Math.abs(gm[i] - m[i]) / (Math.abs(m[i]) + 1e-3), Math.abs(gv[i] - v[i]) / (Math.abs(v[i]) + 1e-6));
      }
      expect(worst).toBeLessThan(2e-5);
      for (let i = n; i < pad; i++) {
        expect(gp[i]).toBe(SENT);
        expect(gm[i]).toBe(0);
        expect(gv[i]).toBe(0);
      }
      E.dispose([G, NS]);
    }
    E.dispose([P, M, V, H]);
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('matches the engine two-dispatch clipped Adam (gradNormKernel + optim_adam) on the same gradients', async () => {
    const live = E.memory().liveBuffers;
    const shapes = { w: [37, 11], b: [37] };
    const mk = () => E.packParams({ w: E.tensor(noise(37 * 11, 3), shapes.w), b: E.tensor(noise(37, 4), shapes.b) });
    const A = mk();
    const n = A.flat.size;
    const B = E.tensor(await A.flat.data(), [n]);
    const opt = E.adam(A.params, { lr: 0.02, eps: 1e-3 });
    const M = E.zeros([n]), V = E.zeros([n]), H = E.zeros([128]);
    for (let t = 1; t <= 3; t++) {
      const gw = noise(37 * 11, 20 + t).map((x) => x * t), gb = noise(37, 30 + t);
      E.scope(() => opt.step(A.params, { w: E.tensor(gw, shapes.w), b: E.tensor(gb, shapes.b) }, { maxGradNorm: 2 }));
      // the packed layout's order and offsets, the same gradients
      const g = new Float32Array(n);
      const layout = E.packedOf(A.params)!.layout;
      layout.names.forEach((name, i) => g.set(name === 'w' ? gw : gb, layout.offsets[i]));
      const G = E.tensor(g, [n]), NS = E.tensor(partials(g, n, 5), [5]);
      step({ n, G, NS, k: 5, P: B, M, V, H, lr: 0.02, maxNorm: 2, eps: 1e-3, t, groups: 2 });
      const [a, b] = [await A.flat.data(), await B.data()];
      let worst = 0;
      a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[i]))));
      expect(worst).toBeLessThan(1e-6);
      const ln = opt.lastGradNorm();
      expect(Math.abs((await H.data())[64] - (await ln.item()))).toBeLessThan(1e-5);
      E.dispose([G, NS, ln]);
    }
    opt.dispose();
    E.dispose([A.params, A.flat, B, M, V, H]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});
