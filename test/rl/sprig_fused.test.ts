// SPRIG's session-10 fused paths against the paths they replace, on Breakout's shape (10×10×4,
// 2 frames, d = 32, 3 actions): act() with both heads in one kernel (kernels/sprig.ts
// sprigHeadsKernel) against PpoAgent.act's two linear heads, on the same frames and the same
// seeded draws; dispatch counts; no leaked buffers.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { SPRIG_DEFAULTS, SPRIG_SCHEMA, SprigAgent, sprigFusedHeads, sprigFusedBlocks, type SprigConfig } from '../../rl/sprig.ts';

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
