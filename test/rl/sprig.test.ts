import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { DEFAULTS, resolveConfig } from '../../rl/common/config.ts';
import { named } from '../../rl/common/nets.ts';
import { Rng } from '../../rl/common/rng.ts';
import type { AgentParams, Minibatch } from '../../rl/ppo.ts';
import { followerStep, leaderStep, sprigAlgorithm } from '../../rl/sprig.ts';

beforeAll(async () => {
  await E.init();
});

async function snapshot(p: AgentParams): Promise<Record<string, Float32Array>> {
  const n = named(p);
  const d = await E.readAll(Object.values(n));
  return Object.fromEntries(Object.keys(n).map((k, i) => [k, d[i]]));
}

function changed(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  return Object.keys(a).filter((k) => a[k].some((v, i) => v !== b[k][i]));
}

describe('SPRIG', () => {
  const cfg = resolveConfig({ algo: 'sprig', frameStack: 2, lr: 1e-3, numEnvs: 1, numSteps: 8, minibatchSize: 8 });
  const algo = sprigAlgorithm(cfg, [10, 10, 4], 3);
  const B = 8;
  const rng = new Rng(5);
  let params: AgentParams;
  let opts: Record<string, E.Optimizer>;
  let mb: Minibatch;

  beforeAll(() => {
    const fresh = E.scope(() => ({ perception: algo.perception.init(rng), heads: algo.heads.init(rng) }));
    ({ params, opts } = algo.setup(fresh, cfg));
    E.keep(params);
    const obs = new Float32Array(B * 2 * 400).map(() => (rng.random() < 0.1 ? 1 : 0));
    mb = E.keep({
      obs: E.tensor(obs, [B, 2, 10, 10, 4]),
      actions: E.tensor(Array.from({ length: B }, (_, i) => i % 3)),
      oldLogp: E.full([B], Math.log(1 / 3)),
      adv: E.tensor(Array.from({ length: B }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 4))),
      returns: E.tensor(Array.from({ length: B }, (_, i) => i / 8)),
      oldValues: E.zeros([B]),
    });
  });

  it('splits parameters: perception (leader) = convolutions + attention, heads (follower) = policy/value', () => {
    expect(Object.keys(named(params.perception)).some((k) => k.startsWith('conv3'))).toBe(true);
    expect(Object.keys(named(params.perception)).some((k) => k.startsWith('temporal.gate'))).toBe(true);
    expect(Object.keys(named(params.heads)).sort()).toEqual(['actor.bias', 'actor.weight', 'critic.bias', 'critic.weight']);
  });

  it('a leader step changes only perception parameters', async () => {
    const before = await snapshot(params);
    E.scope(() => leaderStep(algo.perception, algo.heads, params, opts.leader, mb, 1e-3, cfg));
    const after = await snapshot(params);
    const ch = changed(before, after);
    expect(ch.length).toBeGreaterThan(0);
    expect(ch.every((k) => k.startsWith('perception.'))).toBe(true);
    // every perception tensor with a gradient moved (the attention gates included: the cost reaches them)
    expect(ch).toContain('perception.spatial.gate.weight');
    expect(ch).toContain('perception.conv1.weight');
  });

  it('a follower step changes only policy/value parameters', async () => {
    const before = await snapshot(params);
    E.scope(() => followerStep(algo.perception, algo.heads, params, opts.follower, mb, 1e-3, cfg));
    const after = await snapshot(params);
    const ch = changed(before, after);
    expect(ch.sort()).toEqual(['heads.actor.bias', 'heads.actor.weight', 'heads.critic.bias', 'heads.critic.weight']);
  });

  it('the attention cost is meaningful: its gradient is non-zero and closing the gates lowers it', async () => {
    const cost = (theta: E.Tensor | object) => E.mul(algo.perception.apply(theta as never, mb.obs).attnL1!, DEFAULTS.lambdaC);
    const [c0, g] = E.valueAndGrad(cost)(params.perception);
    const gb = await (g as { spatial: { gate: { bias: E.Tensor } } }).spatial.gate.bias.data();
    expect(gb[0]).toBeGreaterThan(0); // raising the gate bias raises ‖A‖₁
    const v0 = await c0.item();
    // ‖A‖₁ = Σ gates ∈ (0, number of queries): 16 spatial + 16 temporal per sample, times λ_c
    expect(v0).toBeGreaterThan(0);
    expect(v0).toBeLessThan(32 * DEFAULTS.lambdaC);
  });

  it('Eq. 8 is available as the leader objective', () => {
    const c8 = resolveConfig({ ...cfg, leaderObjective: 'eq8' });
    expect(() => E.scope(() => leaderStep(algo.perception, algo.heads, params, opts.leader, mb, 1e-3, c8))).not.toThrow();
  });
});
