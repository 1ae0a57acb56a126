// SPRIG's perception (rl/sprig.ts) against a float64 re-implementation of the documented design
// (docs/rl.md § The attention block): conv 3×3 → conv 2×2/2 → conv 1×1, temporal gated attention
// of the newest frame over its cell's K tokens, spatial gated attention among the cells, fc;
// cost = Σ gates / B. Features, cost, and the gradient of a scalar of both along a random
// direction (central differences of the reference), on frames whose conv1 output tiles into 2×2
// windows (the one-permute path MinAtar takes) and on frames where it does not (the conv2d path).
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { sprigPerception, sprigFusedBlocks } from '../../rl/sprig.ts';

beforeAll(async () => {
  await E.init();
});

type P = Record<string, R.ND>;
const T = (w: R.ND) => R.transpose(w, [1, 0]);
const wRef = (w: R.ND) => R.transpose(w, [1, 2, 3, 0]); // [O, KH, KW, C] → [KH, KW, C, O]
const lin = (x: R.ND, p: P, n: string) => {
  const lead = x.shape.slice(0, -1);
  const y = R.linear(R.reshape(x, [-1, x.shape[x.rank - 1]]), T(p[`${n}.weight`]), p[`${n}.bias`]);
  return R.reshape(y, [...lead, y.shape[1]]);
};

function gated(p: P, n: string, xq: R.ND, xkv: R.ND) {
  const att = R.attention(lin(xq, p, `${n}.q`), lin(xkv, p, `${n}.k`), lin(xkv, p, `${n}.v`));
  const g = R.sigmoid(lin(xq, p, `${n}.gate`));
  return { out: R.add(xq, R.mul(g, att)), g };
}

function reference(p: P, x: R.ND, K: number, d: number) {
  const [B, , h, w, c] = x.shape;
  const conv = (y: R.ND, n: string, s: number) => R.relu(R.conv2d(y, wRef(p[`${n}.weight`]), { layout: 'NHWC', stride: s, bias: p[`${n}.bias`] }));
  const y3 = conv(conv(conv(R.reshape(x, [B * K, h, w, c]), 'conv1', 1), 'conv2', 2), 'conv3', 1);
  const hw = y3.shape[1] * y3.shape[2];
  const seq = R.add(R.transpose(R.reshape(y3, [B, K, hw, d]), [0, 2, 1, 3]), p.posTemporal);
  const newest = R.slice(seq, [0, 0, K - 1, 0], [B, hw, K, d]);
  const tp = gated(p, 'temporal', newest, seq);
  const tok = R.add(R.reshape(tp.out, [B, 1, hw, d]), p.posSpatial);
  const sp = gated(p, 'spatial', tok, tok);
  const features = R.relu(lin(R.reshape(sp.out, [B, hw * d]), p, 'fc'));
  const cost = (R.sum(tp.g).data[0] + R.sum(sp.g).data[0]) / B;
  return { features, cost };
}

/** The parameters as float64 arrays (and their names), and seeded binary frames (30 % ones) as float64 and as a tensor. */
async function fixture(params: E.Params, shape: number[]) {
  const named = E.namedParams(params);
  const names = Object.keys(named);
  const vals = await E.readAll(names.map((n) => named[n]));
  const p: P = Object.fromEntries(names.map((n, i) => [n, R.nd(named[n].shape, Float64Array.from(vals[i]))]));
  const rng = R.rng(5);
  const xr = R.nd(shape, Float64Array.from(rng.ndUniform([shape.reduce((a, b) => a * b, 1)], 0, 1).data, (v) => (v < 0.3 ? 1 : 0)));
  // rng goes on from the frames' draws (the gradient check's directions)
  return { p, names, rng, xr, x: E.tensor(Float32Array.from(xr.data), xr.shape) };
}

describe('SPRIG perception', () => {
  for (const { h, w, tiled } of [{ h: 6, w: 8, tiled: true }, { h: 7, w: 7, tiled: false }]) {
    it(`matches the float64 design on ${h}×${w} frames (${tiled ? 'one-permute path' : 'conv2d path'}): features, cost, directional gradient`, async () => {
      const [B, K, c, d, hidden] = [3, 2, 3, 8, 16];
      const net = sprigPerception(h, w, c, K, d, hidden);
      const params = E.keep(net.init(7));
      const { p, names, rng, xr, x } = await fixture(params, [B, K, h, w, c]);
      const ref = reference(p, xr, K, d);
      const out = net.apply(params, x);
      R.assertClose(await out.features.data(), ref.features, { rtol: 1e-4, atol: 1e-5, label: 'features' });
      expect(Math.abs((await out.cost!.data())[0] - ref.cost)).toBeLessThan(1e-5 * Math.max(1, ref.cost));
      // L = Σ features ⊙ C + cost, differentiated along a random direction V of every parameter
      const Cr = rng.ndNormal([B, hidden], 0, 1);
      const C = E.tensor(Float32Array.from(Cr.data), Cr.shape);
      const V: P = Object.fromEntries(names.map((n) => [n, rng.ndNormal(p[n].shape, 0, 1)]));
      const L = (q: P) => { const r = reference(q, xr, K, d); return R.sum(R.mul(r.features, Cr)).data[0] + r.cost; };
      const eps = 1e-5;
      const shifted = (s: number) => Object.fromEntries(names.map((n) => [n, R.add(p[n], R.mul(V[n], s * eps))])) as P;
      const numeric = (L(shifted(1)) - L(shifted(-1))) / (2 * eps);
      const g = E.grad((q: E.Params) => { const o = net.apply(q, x); return E.add(E.sum(E.mul(o.features, C)), o.cost!); })(params);
      const gn = E.namedParams(g);
      const gv = await E.readAll(names.map((n) => gn[n]));
      const analytic = names.reduce((s, n, i) => s + gv[i].reduce((t, v, j) => t + v * V[n].data[j], 0), 0);
      expect(Math.abs(analytic - numeric), `⟨∇L, V⟩ ${analytic} vs central difference ${numeric}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(numeric)));
      E.dispose([params, g, x, C, out.features, out.cost!]);
    });
  }
});

// The inference path (opts.inference on packed parameters: acting and the follower's features).
// Session 10 (default): conv1, then one kernel for the temporal block (window gather, conv2,
// conv3, position, q/k/v, attention, gate, residual, spatial position) and one for the spatial
// block (kernels/sprig.ts), then fc: 4 dispatches. sprigFusedBlocks(false): session 9's path, each
// gated attention's gate, product, residual and the spatial position in one kernel
// (kernels/ppo.ts sprigGatedResidualKernel): 17. Both against the same float64 design.
describe('SPRIG perception, inference path', () => {
  /** Features and cost of the inference forward with the block kernels on or off, and its dispatch count. */
  function infer(net: ReturnType<typeof sprigPerception>, params: E.Params, x: E.Tensor, blocks: boolean) {
    const was = sprigFusedBlocks(blocks);
    try {
      const d0 = E.counters().dispatches;
      const [features, cost] = E.scope(() => E.noGrad(() => {
        const o = net.apply(params, x, { inference: true });
        const f = E.keep(o.features);
        return [f, o.cost!];
      }));
      return { features, cost, dispatches: E.counters().dispatches - d0 - 4 }; // the cost's 4 (sum, sum, add, div)
    } finally {
      sprigFusedBlocks(was);
    }
  }

  for (const { label, B, K, h, c, d, hidden } of [
    { label: "Breakout's shape (10×10×4, 2 frames, d = 32, 19 samples)", B: 19, K: 2, h: 10, c: 4, d: 32, hidden: 128 },
    // 3 samples × 4 cells = 12 cells: the second temporal workgroup of 8 cells is half empty
    { label: '6×6×3 frames, 3 frames, d = 8, 3 samples (a part-filled workgroup)', B: 3, K: 3, h: 6, c: 3, d: 8, hidden: 16 },
  ]) {
    it(`matches the float64 design on ${label}: features and cost, block kernels on and off`, async () => {
      const live = E.memory().liveBuffers;
      const net = sprigPerception(h, h, c, K, d, hidden);
      const packed = E.packParams(net.init(7));
      const { p, xr, x } = await fixture(packed.params, [B, K, h, h, c]);
      const ref = reference(p, xr, K, d);
      for (const blocks of [true, false]) {
        const r = infer(net, packed.params, x, blocks);
        expect(r.dispatches, `dispatches of a forward, blocks ${blocks}`).toBe(blocks ? 4 : 17);
        R.assertClose(await r.features.data(), ref.features, { rtol: 1e-4, atol: 1e-5, label: `features, blocks ${blocks}` });
        expect(Math.abs((await r.cost.data())[0] - ref.cost), `cost, blocks ${blocks}`).toBeLessThan(1e-5 * Math.max(1, ref.cost));
        E.dispose([r.features, r.cost]);
      }
      E.dispose([x, packed.params, packed.flat]);
      expect(E.memory().liveBuffers).toBe(live);
    });
  }
});
