import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import type { Minibatch } from '../../rl/ppo.ts';
import { SPRIG_DEFAULTS, SPRIG_SCHEMA, SprigAgent, type SprigConfig } from '../../rl/sprig.ts';

beforeAll(async () => {
  await E.init();
});

async function snapshot(p: E.Params): Promise<Record<string, Float32Array>> {
  const n = E.namedParams(p);
  const d = await E.readAll(Object.values(n));
  return Object.fromEntries(Object.keys(n).map((k, i) => [k, d[i]]));
}

function changed(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  return Object.keys(a).filter((k) => a[k].some((v, i) => v !== b[k][i]));
}

const env = { id: 'test', obsShape: [10, 10, 4], obsSize: 400, actionSpace: { kind: 'discrete' as const, n: 3 }, actionDim: 1, numEnvs: 1 };
const config = (v: Partial<SprigConfig> = {}) =>
  resolveLayers(SPRIG_DEFAULTS, SPRIG_SCHEMA, [{ source: 'test', values: { frameStack: 2, lr: 1e-3, numEnvs: 1, numSteps: 8, minibatchSize: 8, ...v } }]);

function minibatch(B: number, rng: Rng): Minibatch {
  const obs = new Float32Array(B * 2 * 400).map(() => (rng.uniform() < 0.1 ? 1 : 0));
  return E.keep({
    obs: E.tensor(obs, [B, 2, 10, 10, 4]),
    actions: E.tensor(Array.from({ length: B }, (_, i) => i % 3)),
    oldLogp: E.full([B], Math.log(1 / 3)),
    adv: E.tensor(Array.from({ length: B }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 4))),
    returns: E.tensor(Array.from({ length: B }, (_, i) => i / 8)),
    oldValues: E.zeros([B]),
  });
}

describe('SPRIG', () => {
  const cfg = config();
  let agent: SprigAgent;
  let mb: Minibatch;

  beforeAll(() => {
    agent = new SprigAgent(cfg, env);
    mb = minibatch(8, new Rng(5));
  });

  it('splits parameters: perception (leader) = convolutions + attention, heads (follower) = policy/value', () => {
    expect(Object.keys(E.namedParams(agent.params.perception)).some((k) => k.startsWith('conv3'))).toBe(true);
    expect(Object.keys(E.namedParams(agent.params.perception)).some((k) => k.startsWith('temporal.gate'))).toBe(true);
    expect(Object.keys(E.namedParams(agent.params.heads)).sort()).toEqual(['actor.bias', 'actor.weight', 'critic.bias', 'critic.weight']);
  });

  it('a leader step changes only perception parameters', async () => {
    const before = await snapshot(agent.params);
    E.scope(() => agent.leaderStep(mb, 1e-3));
    const after = await snapshot(agent.params);
    const ch = changed(before, after);
    expect(ch.length).toBeGreaterThan(0);
    expect(ch.every((k) => k.startsWith('perception.'))).toBe(true);
    // every perception tensor with a gradient moved (the attention gates included: the cost reaches them)
    expect(ch).toContain('perception.spatial.gate.weight');
    expect(ch).toContain('perception.conv1.weight');
  });

  it('a follower step changes only policy/value parameters', async () => {
    const before = await snapshot(agent.params);
    E.scope(() => agent.followerStep(mb, 1e-3));
    const after = await snapshot(agent.params);
    const ch = changed(before, after);
    expect(ch.sort()).toEqual(['heads.actor.bias', 'heads.actor.weight', 'heads.critic.bias', 'heads.critic.weight']);
  });

  it('the attention cost is meaningful: its gradient is non-zero and closing the gates lowers it', async () => {
    const cost = (theta: E.Params) => E.mul(agent.perception.apply(theta, mb.obs).cost!, SPRIG_DEFAULTS.lambdaC);
    const [c0, g] = E.valueAndGrad(cost)(agent.params.perception);
    const gb = await (g as { spatial: { gate: { bias: E.Tensor } } }).spatial.gate.bias.data();
    expect(gb[0]).toBeGreaterThan(0); // raising the gate bias raises ‖A‖₁
    const v0 = await c0.item();
    // ‖A‖₁ = Σ gates ∈ (0, number of queries): 16 spatial + 16 temporal per sample, times λ_c
    expect(v0).toBeGreaterThan(0);
    expect(v0).toBeLessThan(32 * SPRIG_DEFAULTS.lambdaC);
    E.dispose([c0, g as E.Tree]);
  });

  it('Eq. 8 is available as the leader objective', () => {
    const a8 = new SprigAgent(config({ leaderObjective: 'eq8' }), env);
    expect(() => E.scope(() => a8.leaderStep(mb, 1e-3))).not.toThrow();
    a8.dispose();
  });
});
