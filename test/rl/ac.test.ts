// On-policy actor-critic and STAC through the run harness: STAC learns CartPole within a small
// budget (clears the random policy by a clear margin), and the m (follower unroll) and λ options
// do what they say.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import { randomPolicyReturns } from '../../rl/harness/envs.ts';
import { ac, stac } from '../../rl/ac.ts';

beforeAll(async () => {
  await E.init();
});
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('STAC', () => {
  // λ = 1000, not the preset's 100: at λ = 100 CG meets negative curvature and the policy
  // collapses in 3 of 5 seeds by 20k steps, so a λ = 100 test only passes on a lucky seed. At
  // λ = 1000 the damped follower Hessian stayed positive definite along CG's directions and
  // every one of 10 seeds (docs/actor-critic.md: seeds 1–5 and the fresh 6–10) ended at ≥ 4× the
  // random policy, so the assertion below holds for the method, not for one trajectory.
  it('learns CartPole: with λ = 1000, no negative curvature and a greedy policy > 3× random after the cartpole-fast budget', async () => {
    const cfg = { ...stac.defaults, ...stac.presets['cartpole-fast'], lambda: 1000, seed: 1 };
    const negCurvature: number[] = [];
    const t = new Trainer(stac, cfg, { onLog: (l) => negCurvature.push(l.neg_curvature as number) });
    const t0 = Date.now();
    await t.train();
    const ev = await t.evaluate(16, { seed: 777 });
    const rand = mean(randomPolicyReturns('cartpole', { episodes: 64, envSeed: 777, policySeed: 1 }));
    console.log(`STAC λ = 1000 CartPole, ${cfg.totalSteps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s: greedy return ${ev.mean_return?.toFixed(1)} vs random ${rand.toFixed(1)}; negative-curvature events ${negCurvature.at(-1)}`);
    expect(negCurvature.length).toBeGreaterThan(0);
    expect(negCurvature.at(-1)).toBe(0);
    expect(ev.mean_return!).toBeGreaterThan(3 * rand);
    t.agent.dispose();
  }, 900_000);

  it('AC and STAC differ only in the leader gradient: same start, λ = 1e9 makes STAC follow AC', async () => {
    const runs: number[][] = [];
    for (const [algo, over] of [[ac, {}], [stac, { lambda: 1e9 }], [stac, { lambda: 0 }]] as const) {
      const stats: number[] = [];
      const cfg = { ...algo.defaults, env: 'cartpole', seed: 5, numEnvs: 2, numSteps: 64, totalSteps: 256, followerSteps: 3, logEvery: 128, ...over };
      const t = new Trainer(algo, cfg, { onLog: (l) => stats.push(l.leader_grad_norm as number, l.recent_return as number) });
      await t.train();
      runs.push(stats);
      t.agent.dispose();
    }
    // λ = 1e9: the total derivative is the individual gradient to ~1e-9, so the runs coincide.
    runs[1].forEach((v, i) => expect(v).toBeCloseTo(runs[0][i], 3));
    // λ = 0 (the released CartPole setting): the implicit term changes the leader gradient.
    expect(Math.abs(runs[2][0] - runs[0][0])).toBeGreaterThan(1e-3);
  }, 300_000);
});
