// PAL/MAL on Hopper (rl/palmal/scalable.ts): the termination rule the model rollouts use, written on
// the observation, against the env's own health check (float64 qpos/qvel in rl/envs/mujoco) on
// states from real steps; model rollouts never continue from a state the rule ends; one PAL
// iteration and one equal-steps iteration run end to end without leaking GPU buffers.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { makeEnvAsync } from '../../rl/envs/index.ts';
import { disposeMujocoEnv, type MujocoCore } from '../../rl/envs/mujoco/index.ts';
import {
  DynamicsEnsemble, emptyTransitions, modelRollouts, NpgLearner, SCALE_DEFAULTS, terminationFn, trainScalable, type Transitions,
} from '../../rl/palmal/scalable.ts';

beforeAll(async () => {
  await E.init();
});

/** Hopper transitions under uniform random torques in [−1, 1]³ (autoreset; `next` is the final observation at an episode's end). */
async function randomHopper(n: number, seed: number): Promise<Transitions> {
  const env = await makeEnvAsync('mujoco/hopper', { numEnvs: 1, seed });
  const rng = new E.Rng(seed + 100);
  const d = emptyTransitions();
  let o = Array.from(env.reset());
  for (let k = 0; k < n; k++) {
    const a = [0, 1, 2].map(() => 2 * rng.uniform() - 1);
    const r = env.step(Float32Array.from(a));
    d.obs.push(o);
    d.act.push(a);
    d.next.push(Array.from(r.done[0] ? r.finalObs : r.obs));
    d.rew.push(r.rewards[0]!);
    d.done.push(r.terminated[0] ? 1 : r.truncated[0] ? 2 : 0);
    o = Array.from(r.obs);
  }
  disposeMujocoEnv(env);
  return d;
}

describe('Hopper termination in model rollouts', () => {
  it('the rule on the observation agrees with the env\'s termination on every real step', { timeout: 60_000 }, async () => {
    const term = terminationFn('mujoco/hopper')!;
    const d = await randomHopper(3000, 3);
    let ends = 0, byHeight = 0, byAngle = 0, disagree = 0;
    for (let i = 0; i < d.next.length; i++) {
      const envEnds = d.done[i] === 1, ruleEnds = term(d.next[i]!);
      if (envEnds !== ruleEnds) disagree++;
      if (envEnds) {
        ends++;
        if (!(d.next[i]![0]! > 0.7)) byHeight++;
        if (!(Math.abs(d.next[i]![1]!) < 0.2)) byAngle++;
      }
      // Every state the env starts a step from is healthy.
      expect(term(d.obs[i]!)).toBe(false);
    }
    // Random torques end episodes by the angle only: for the height part, real steps from states
    // placed (setState) at torso heights around the 0.7 limit with small angles.
    const env = await makeEnvAsync('mujoco/hopper', { numEnvs: 1, seed: 9 });
    const core = env.envs[0] as MujocoCore, rng = new E.Rng(9);
    let lowDisagree = 0, lowEnds = 0, lowKept = 0;
    for (let k = 0; k < 200; k++) {
      env.reset();
      const st = core.getState();
      st.qpos[1] = 0.6 + 0.25 * rng.uniform();
      st.qpos[2] = 0.1 * (2 * rng.uniform() - 1);
      core.setState(st);
      const r = env.step(Float32Array.from([0, 1, 2].map(() => 2 * rng.uniform() - 1)));
      const next = Array.from(r.done[0] ? r.finalObs : r.obs);
      if ((r.terminated[0] === 1) !== term(next)) lowDisagree++;
      if (r.terminated[0] && next[0]! <= 0.7 && Math.abs(next[1]!) < 0.2) lowEnds++;
      if (!r.terminated[0]) lowKept++;
    }
    disposeMujocoEnv(env);
    console.log(`3000 random steps: ${ends} terminations (height ${byHeight}, angle ${byAngle}), ${disagree} disagreements; 200 steps from low states: ${lowEnds} ended by height alone, ${lowKept} continued, ${lowDisagree} disagreements`);
    expect(disagree).toBe(0);
    expect(lowDisagree).toBe(0);
    // Many episodes ended, and both parts of the rule (height and angle) were exercised, on both sides of the height limit.
    expect(ends).toBeGreaterThan(30);
    expect(byAngle).toBeGreaterThan(30);
    expect(lowEnds).toBeGreaterThan(20);
    expect(lowKept).toBeGreaterThan(20);
    expect(terminationFn('pendulum')).toBeNull();
    expect(() => terminationFn('cartpole')).toThrow(/no termination rule for 'cartpole'.*known: pendulum/);
  });

  it('model rollouts stop at the first predicted state the rule ends, and never continue from one', { timeout: 120_000 }, async () => {
    const before = E.memory().liveBuffers;
    const term = terminationFn('mujoco/hopper')!;
    const d = await randomHopper(600, 4);
    const rng = new E.Rng(2);
    const ens = new DynamicsEnsemble(11, 3, 2, 32, 2e-3, 5, [-1, -1, -1], [1, 1, 1]);
    await ens.fit(d, 60, 128, rng);
    const learner = new NpgLearner(11, 3, { ...SCALE_DEFAULTS, seed: 1 });
    const N = 40, h = 60;
    const r = await modelRollouts(learner, ens, d.obs, N, h, [-1, -1, -1], [1, 1, 1], rng, term);
    let trajectories = 0, short = 0;
    for (let j = 0, len = 0; j <= r.t.length; j++) {
      if (j === r.t.length || r.start[j]) {
        if (j > 0) {
          trajectories++;
          if (len < h) short++;
        }
        len = 0;
      }
      if (j === r.t.length) break;
      expect(r.t[j]).toBe(len);
      // A state inside a trajectory (not its start) is a predicted next state: never one the rule ends.
      if (!r.start[j]) expect(term(r.obs.subarray(j * 11, (j + 1) * 11))).toBe(false);
      len++;
    }
    console.log(`model rollouts: ${N} trajectories, ${r.ended} terminated, ${r.t.length} steps`);
    expect(trajectories).toBe(N);
    // Every trajectory shorter than h ended by the rule, and only those.
    expect(short).toBe(r.ended);
    // The model, fitted on random Hopper data where episodes last ~ tens of steps, predicts falls.
    expect(r.ended).toBeGreaterThan(0);
    learner.dispose();
    ens.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });
});

describe('one iteration end to end', () => {
  it('one PAL iteration on Hopper runs, records its model rollouts and leaks no GPU buffer', { timeout: 180_000 }, async () => {
    const before = E.memory().liveBuffers;
    const res = await trainScalable({
      ...SCALE_DEFAULTS, env: 'mujoco/hopper', algo: 'pal', seed: 0, realSteps: 200, stepsPerIter: 200,
      palModelSteps: 20, palPolicySteps: 1, rollouts: 20, horizon: 20, evalEpisodes: 2,
    });
    expect(res.curve.map((c) => c.steps)).toEqual([0, 200]);
    for (const c of res.curve) expect(Number.isFinite(c.evalReturn)).toBe(true);
    expect(res.modelRollout).toHaveLength(1);
    expect(res.modelRollout![0]!.endedFraction).toBeGreaterThanOrEqual(0);
    expect(res.modelRollout![0]!.endedFraction).toBeLessThanOrEqual(1);
    expect(Number.isFinite(res.randomReturn)).toBe(true);
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('one equal-steps iteration on Pendulum runs and leaks no GPU buffer; a bad equalData is named', { timeout: 120_000 }, async () => {
    const before = E.memory().liveBuffers;
    const res = await trainScalable({ ...SCALE_DEFAULTS, algo: 'equal', seed: 0, realSteps: 200, equalSteps: 2, rollouts: 20, horizon: 20, evalEpisodes: 1 });
    expect(res.curve).toHaveLength(2);
    expect(res.modelRollout![0]!.endedFraction).toBe(0); // Pendulum never terminates
    expect(E.memory().liveBuffers).toBe(before);
    await expect(trainScalable({ ...SCALE_DEFAULTS, algo: 'equal', seed: 0, equalData: 'some' as 'all' })).rejects.toThrow(/equalData 'some' unknown; choose all or latest/);
  });
});
