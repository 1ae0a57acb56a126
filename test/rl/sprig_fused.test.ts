// SPRIG's session-10 fused paths against the paths they replace: act() with both heads in one
// kernel (kernels/sprig.ts sprigHeadsKernel) against PpoAgent.act's two linear heads, on
// Breakout's shape (10×10×4, 2 frames, d = 32, 3 actions), the same frames and the same seeded
// draws; the spatial gated-attention layer as one first-order op (engine/nn/sprig_blocks.ts)
// against the composed layer (value, gates, and the gradients in x and all eight parameters under
// cotangents on both outputs); the perception's first-order training path (conv2 through the
// spatial position as one op, engine/nn/sprig_blocks.ts sprigTemporalBlock, then the spatial op)
// against its composed path: features, cost and the gradients of all parameters and of the
// input frames' conv1 path; dispatch counts; no leaked buffers.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { sprigSpatialBlock, type GatedAttentionParams } from '../../engine/nn/sprig_blocks.ts';
import { SPRIG_DEFAULTS, SPRIG_SCHEMA, SprigAgent, sprigFusedHeads, sprigFusedBlocks, sprigPerception, type SprigConfig } from '../../rl/sprig.ts';

beforeAll(async () => {
  await E.init();
});

const env = { id: 'test', obsShape: [10, 10, 4], obsSize: 400, actionSpace: { kind: 'discrete' as const, n: 3 }, actionDim: 1, numEnvs: 1 };
const config = (v: Partial<SprigConfig> = {}) =>
  resolveLayers(SPRIG_DEFAULTS, SPRIG_SCHEMA, [{ source: 'test', values: { frameStack: 2, lr: 1e-3, numEnvs: 16, numSteps: 8, minibatchSize: 32, seed: 3, ...v } }]);

describe('SPRIG fused act()', () => {
  it('both heads in one kernel: the same values, log-probabilities and draws as the two linear heads; 5 dispatches', async () => {
    const live = E.memory().liveBuffers;
    const agent = new SprigAgent(config(), env);
    // nonzero head biases (they start at zero) so that the kernel's bias offsets are checked too
    const h = agent.params.heads as { actor: E.LinearParams; critic: E.LinearParams };
    E.scope(() => { E.assign(h.actor.bias!, E.tensor([0.1, -0.2, 0.3])); E.assign(h.critic.bias!, E.tensor([0.5])); });
    const rows = 17, rng = new Rng(9);
    // binary frames, 20 % ones; the last row only needs a value (a truncated episode's final observation)
    const obs = new Float32Array(rows * agent.inputSize).map(() => (rng.uniform() < 0.2 ? 1 : 0));
    const run = async (fused: boolean) => {
      const was = sprigFusedHeads(fused);
      try {
        const d0 = E.counters().dispatches;
        const r = await agent.act(obs, rows, { rng: new Rng(21), sample: 16, mode: 'explore', step: 0 });
        return { ...r, dispatches: E.counters().dispatches - d0 };
      } finally {
        sprigFusedHeads(was);
      }
    };
    const a = await run(true), b = await run(false);
    expect(a.dispatches).toBe(sprigFusedBlocks() ? 5 : 18);
    expect(b.dispatches).toBe(a.dispatches + 1);
    expect(Array.from(a.actions)).toEqual(Array.from(b.actions));
    const [av, bv, al, bl] = [a.values!, b.values!, a.logp!, b.logp!];
    for (let i = 0; i < rows; i++) expect(Math.abs(av[i] - bv[i]), `value ${i}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(bv[i])));
    for (let i = 0; i < 16; i++) expect(Math.abs(al[i] - bl[i]), `logp ${i}`).toBeLessThanOrEqual(1e-6);
    // the values are not all alike (a kernel that wrote one row everywhere would fail above only by luck)
    expect(new Set(Array.from(av)).size).toBeGreaterThan(rows / 2);
    agent.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('SPRIG spatial block op (first order)', () => {
  /** The composed layer, as rl/sprig.ts gatedAttentionModule writes it. */
  function composed(p: GatedAttentionParams, x: E.Tensor) {
    const lin = (q: { weight: E.Tensor; bias: E.Tensor }, t: E.Tensor, act: 'none' | 'sigmoid' = 'none') => E.linear(t, q.weight, q.bias, act);
    const att = E.attention(lin(p.q, x), lin(p.k, x), lin(p.v, x));
    const gates = lin(p.gate, x, 'sigmoid');
    return { out: E.add(x, E.mul(gates, att)), gates };
  }

  const fused = (p: GatedAttentionParams, x: E.Tensor) => sprigSpatialBlock(x, p);

  for (const [B, HW, D] of [[5, 16, 32], [3, 4, 8]]) {
    it(`B ${B}, ${HW} tokens, d ${D}: out, gates and the gradients equal the composed layer's; 1 dispatch forward, 2 backward`, async () => {
      const live = E.memory().liveBuffers;
      const rng = new Rng(B * 100 + D);
      const rnd = (shape: number[], s: number) => E.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s * rng.normal()), shape);
      const lin = (o: number) => ({ weight: rnd([o, D], 1 / Math.sqrt(D)), bias: rnd([o], 0.1) });
      const packed = E.packParams({ q: lin(D), k: lin(D), v: lin(D), gate: lin(1) });
      const p = packed.params as unknown as GatedAttentionParams;
      const x = rnd([B, 1, HW, D], 1), C = rnd([B, 1, HW, D], 1), Cg = rnd([B, 1, HW, 1], 1);
      const names = Object.keys(E.namedParams(packed.params));
      const loss = (f: typeof composed) => (xx: E.Tensor, pp: E.Params) => {
        const o = f(pp as unknown as GatedAttentionParams, xx);
        return E.add(E.sum(E.mul(o.out, C)), E.sum(E.mul(o.gates, Cg)));
      };
      const fwd = (f: typeof composed) => E.scope(() => { const o = E.noGrad(() => f(p, x)); return [o.out, o.gates]; });
      const [o1, g1] = fwd(composed), [o2, g2] = fwd(fused);
      R.assertClose(await o2.data(), await o1.data(), { rtol: 1e-5, atol: 1e-5, label: 'out' });
      R.assertClose(await g2.data(), await g1.data(), { rtol: 1e-5, atol: 1e-6, label: 'gates' });
      const ref = E.grad(loss(composed), [0, 1])(x, packed.params) as [E.Tensor, E.Params];
      const got = E.grad(loss(fused), [0, 1])(x, packed.params) as [E.Tensor, E.Params];
      // the block's own dispatches: Σ out + Σ gates around it costs 3 forward, the seed 1 and the sums' backward 2
      const d0 = E.counters().dispatches;
      E.dispose(E.valueAndGrad((pp: E.Params) => { const o = sprigSpatialBlock(x, pp as unknown as GatedAttentionParams); return E.add(E.sum(o.out), E.sum(o.gates)); })(packed.params));
      expect(E.counters().dispatches - d0, 'forward 1, sums 3, seed 1, sum backward 2, block backward 2').toBe(1 + 3 + 1 + 2 + 2);
      R.assertClose(await got[0].data(), await ref[0].data(), { rtol: 1e-4, atol: 1e-5, label: 'dx' });
      const gn = E.namedParams(got[1]), rn = E.namedParams(ref[1]);
      for (const n of names) R.assertClose(await gn[n].data(), await rn[n].data(), { rtol: 1e-4, atol: 1e-5, label: `d ${n}` });
      // a second derivative is refused with a message
      expect(() => E.hvp((xx: E.Tensor) => loss(fused)(xx, packed.params), [x], [C])).toThrow(/first-order/);
      E.dispose([o1, g1, o2, g2, ...ref, ...got, x, C, Cg, packed.params, packed.flat]);
      expect(E.memory().liveBuffers).toBe(live);
    });
  }
});

describe('SPRIG perception, first-order training path (temporal and spatial block ops)', () => {
  for (const { label, B, K, h, c, d, hidden } of [
    { label: "Breakout's shape (10×10×4, 2 frames, d = 32), 5 samples", B: 5, K: 2, h: 10, c: 4, d: 32, hidden: 128 },
    // 3 samples × 4 cells = 12 cells: the second temporal workgroup of 8 cells is half empty
    { label: '6×6×3 frames, 3 frames, d = 8, 3 samples (a part-filled workgroup)', B: 3, K: 3, h: 6, c: 3, d: 8, hidden: 16 },
  ]) {
    it(`${label}: features, cost and every parameter's gradient equal the composed path's; 4 forward dispatches`, async () => {
      const live = E.memory().liveBuffers;
      const net = sprigPerception(h, h, c, K, d, hidden);
      const packed = E.packParams(net.init(11));
      const rng = new Rng(B + K);
      const x = E.tensor(Float32Array.from({ length: B * K * h * h * c }, () => (rng.uniform() < 0.3 ? 1 : 0)), [B, K, h, h, c]);
      const C = E.tensor(Float32Array.from({ length: B * hidden }, () => rng.normal()), [B, hidden]);
      const Cg = [E.tensor(Float32Array.from({ length: B * 16 }, () => rng.normal()), [B * 16]), null];
      // L = Σ features ⊙ C + 3·cost + Σ temporal gates ⊙ c_g: cotangents on the features and on both layers' gates
      const run = (firstOrder: boolean) => {
        const d0 = E.counters().dispatches;
        let fwd = 0;
        const [v, g] = E.valueAndGrad((pp: E.Params) => {
          const o = net.apply(pp, x, firstOrder ? { firstOrder: true } : undefined);
          fwd = E.counters().dispatches - d0;
          const tg = E.reshape(o.gates![0], [-1]);
          const w = tg.size === Cg[0]!.size ? E.sum(E.mul(tg, Cg[0]!)) : E.mul(E.sum(tg), 0.5);
          return E.add(E.add(E.sum(E.mul(o.features, C)), E.mul(o.cost!, 3)), w);
        })(packed.params);
        return { v, g: g as E.Params, fwd };
      };
      const a = run(true), b = run(false);
      expect(a.fwd, 'forward dispatches with the block ops (conv1, temporal, spatial, fc)').toBe(4);
      expect(b.fwd).toBeGreaterThan(20);
      R.assertClose(await a.v.data(), await b.v.data(), { rtol: 1e-5, atol: 1e-5, label: 'value' });
      const ga = E.namedParams(a.g), gb = E.namedParams(b.g);
      for (const n of Object.keys(gb)) R.assertClose(await ga[n].data(), await gb[n].data(), { rtol: 2e-4, atol: 2e-5, label: `d ${n}` });
      E.dispose([a.v, b.v, a.g, b.g, x, C, Cg[0]!, packed.params, packed.flat]);
      expect(E.memory().liveBuffers).toBe(live);
    });
  }
});
