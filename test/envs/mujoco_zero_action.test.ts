// rl/envs/mujoco/zero_action.ts replays Trainer.evaluate's episodes with zero actions: the
// MuJoCo results pair every run with it (docs/actor-critic.md), so it must see exactly the
// episodes a run's greedy evaluation sees. Checked against the harness itself: a DDPG agent whose
// actor's output layer is zero acts tanh(0) = 0 everywhere, and Trainer.evaluate of that agent
// must give the same returns, episode for episode, as zeroActionEvalReturns.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { ddpg } from '../../rl/ddpg.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import { preloadEnv } from '../../rl/envs/index.ts';
import { zeroActionEvalReturns } from '../../rl/envs/mujoco/zero_action.ts';

beforeAll(async () => {
  await E.init();
  await preloadEnv('mujoco/reacher');
});

describe('zero-action references on the evaluation episodes', () => {
  it('equal Trainer.evaluate of an actor that outputs zero (Reacher, 10 episodes, two run seeds)', async () => {
    const live = E.memory().liveBuffers;
    for (const seed of [2, 4]) {
      const t = new Trainer(ddpg, { ...ddpg.defaults, env: 'mujoco/reacher', seed, hidden: [8] } as typeof ddpg.defaults);
      const actor = E.namedParams((t.agent as unknown as { params: { actor: E.Params } }).params.actor);
      const names = Object.keys(actor).sort();
      // The output layer: the last weight and bias of the MLP (names sort by layer index).
      const last = names.filter((k) => k.startsWith(names.at(-1)!.split('.')[0]));
      expect(last.length).toBe(2);
      for (const k of last) {
        const z = E.zeros(actor[k].shape);
        E.assign(actor[k], z);
        z.dispose();
      }
      const ev = await t.evaluate(10, { write: false });
      const want = await zeroActionEvalReturns('mujoco/reacher', 10, seed);
      expect(ev.returns).toHaveLength(10);
      for (let i = 0; i < 10; i++) expect(ev.returns[i]).toBeCloseTo(want[i], 10);
      // Not a trivial agreement: the episodes differ between run seeds, and an untrained actor scores otherwise.
      t.agent.dispose();
    }
    const a = await zeroActionEvalReturns('mujoco/reacher', 10, 2), b = await zeroActionEvalReturns('mujoco/reacher', 10, 4);
    expect(a.some((x, i) => Math.abs(x - b[i]) > 0.1)).toBe(true);
    expect(E.memory().liveBuffers).toBe(live);
  }, 120_000);

  it('refuses a bad episode count and a discrete env', async () => {
    await expect(zeroActionEvalReturns('mujoco/reacher', 0, 1)).rejects.toThrow(/episodes must be an integer ≥ 1, got 0/);
    await expect(zeroActionEvalReturns('cartpole', 2, 1)).rejects.toThrow(/cartpole has a discrete action space; the zero action needs a Box/);
  });
});
