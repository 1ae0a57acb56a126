// The scalable PAL/MAL pieces (rl/palmal/scalable.ts) on Pendulum: the baseline's advantages
// against an explicit reward-to-go and the least-squares orthogonality they must satisfy; the
// host float64 copy of the ensemble against the engine's forward; the ensemble's one-step error on
// held-out transitions against the trivial predictors; and a seeded learning run: NPG in the
// fitted model improves the real return of the policy by a clear margin.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { makeEnvAsync } from '../../rl/envs/index.ts';
import { mlpForwardHost } from '../../rl/palmal/mlp.ts';
import {
  baselineAdvantages, DynamicsEnsemble, emptyTransitions, modelPolicyStep, NpgLearner, SCALE_DEFAULTS, type Transitions,
} from '../../rl/palmal/scalable.ts';

beforeAll(async () => {
  await E.init();
});

/**
 * Pendulum transitions under N(0, 2²) torques (clipped by the env), from a seeded env; with
 * `resetEvery`, a fresh random start (angle U(−π, π)) every that many steps, so the data cover the
 * circle, the upright states included, rather than a few 200-step episodes near where they began.
 */
async function randomPendulum(n: number, seed: number, resetEvery = Infinity): Promise<Transitions> {
  const env = await makeEnvAsync('pendulum', { numEnvs: 1, seed });
  const rng = new E.Rng(seed + 100);
  const d = emptyTransitions();
  let o = Array.from(env.reset());
  for (let k = 0; k < n; k++) {
    if (k > 0 && k % resetEvery === 0) o = Array.from(env.reset());
    const a = [2 * rng.normal()];
    const r = env.step(Float32Array.from([Math.max(-2, Math.min(2, a[0]!))]));
    d.obs.push(o);
    d.act.push(a);
    d.next.push(Array.from(r.done[0] ? r.finalObs : r.obs));
    d.rew.push(r.rewards[0]!);
    d.done.push(r.done[0] ? 2 : 0);
    o = Array.from(r.obs);
  }
  return d;
}

/** Deterministic (mean-action) return on Pendulum averaged over fixed start states. */
async function evalPolicy(learner: NpgLearner, episodes: number): Promise<number> {
  const env = await makeEnvAsync('pendulum', { numEnvs: 1, seed: 5 });
  const { net } = await learner.host();
  let total = 0;
  for (let e = 0; e < episodes; e++) {
    let o = Array.from(env.reset(1000 + e));
    for (;;) {
      const r = env.step(Float32Array.from([Math.max(-2, Math.min(2, mlpForwardHost(net, o)[0]!))]));
      total += r.rewards[0]!;
      if (r.done[0]) break;
      o = Array.from(r.obs);
    }
  }
  return total / episodes;
}

describe('baseline advantages', () => {
  it('returns are the explicit discounted reward-to-go per trajectory; advantages are orthogonal to every baseline feature', () => {
    let s = 3;
    const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const lengths = [7, 12, 5], dObs = 2, H = 12, gamma = 0.9;
    const obs: number[] = [], rew: number[] = [], t: number[] = [], start: number[] = [];
    for (const L of lengths) for (let k = 0; k < L; k++) {
      obs.push(rnd(), rnd());
      rew.push(rnd() + obs[obs.length - 2]! ** 2);
      t.push(k);
      start.push(k === 0 ? 1 : 0);
    }
    const { adv, ret } = baselineAdvantages(obs, rew, t, start, dObs, H, gamma);
    let off = 0;
    for (const L of lengths) {
      for (let k = 0; k < L; k++) {
        let want = 0;
        for (let j = k; j < L; j++) want += gamma ** (j - k) * rew[off + j]!;
        expect(ret[off + k]).toBeCloseTo(want, 10);
      }
      off += L;
    }
    const feats = (i: number) => {
      const a = t[i]! / H;
      return [obs[2 * i]!, obs[2 * i + 1]!, obs[2 * i]! ** 2, obs[2 * i + 1]! ** 2, a, a * a, a * a * a, 1];
    };
    const scale = Math.hypot(...Array.from(ret));
    for (let k = 0; k < 8; k++) {
      let dot = 0;
      for (let i = 0; i < adv.length; i++) dot += adv[i]! * feats(i)[k]!;
      // Exact orthogonality up to the 1e-5 ridge and float32 storage of the advantages.
      expect(Math.abs(dot)).toBeLessThan(1e-4 * scale * Math.sqrt(adv.length));
    }
  });
});

describe('the dynamics ensemble on Pendulum', () => {
  it('the host float64 copy of each member reproduces the engine forward', { timeout: 60_000 }, async () => {
    const before = E.memory().liveBuffers;
    const data = await randomPendulum(64, 11);
    const ens = new DynamicsEnsemble(3, 1, 3, 16, 2e-3, 4, [-2], [2]);
    await ens.fit(data, 5, 32, new E.Rng(1));
    const all = await ens.predictAll(data);
    const members = await ens.hostMembers();
    const { sx, sy } = ens.norm!;
    let worst = 0;
    for (let m = 0; m < 3; m++) for (let i = 0; i < 64; i++) {
      const x = [...data.obs[i]!, Math.max(-2, Math.min(2, data.act[i]![0]!))].map((v, j) => (v - sx.mu[j]!) / sx.sd[j]!);
      const y = mlpForwardHost(members[m]!, x);
      for (let j = 0; j < 4; j++) worst = Math.max(worst, Math.abs(y[j]! * sy.sd[j]! + sy.mu[j]! - all[(m * 64 + i) * 4 + j]!) / (1 + Math.abs(all[(m * 64 + i) * 4 + j]!)));
    }
    expect(worst).toBeLessThan(1e-4);
    ens.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('fits held-out one-step transitions far better than predicting no change (state) or the mean (reward)', { timeout: 180_000 }, async () => {
    const before = E.memory().liveBuffers;
    const train = await randomPendulum(400, 0), test = await randomPendulum(400, 1);
    const ens = new DynamicsEnsemble(3, 1, 4, 64, 2e-3, 2, [-2], [2]);
    await ens.fit(train, 200, 128, new E.Rng(1));
    const e = await ens.oneStepError(test);
    console.log(`held-out one-step MSE: state ${e.state.toExponential(2)} (no change ${e.noChange.toExponential(2)}), reward ${e.rew.toFixed(3)} (mean ${e.rewMean.toFixed(3)})`);
    expect(e.state).toBeLessThan(0.05 * e.noChange);
    expect(e.rew).toBeLessThan(0.2 * e.rewMean);
    ens.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });
});

describe('learning on Pendulum', () => {
  // The real return of the deterministic policy is not monotone in the NPG steps (a start state
  // swings up or not, so the 10-start mean jumps by hundreds between nearby policies). Measured with
  // this procedure (scratch runs, seeds 0–6 of data, model and policy): after 35 steps the gain
  // over the initial policy was +445, +332, +372, +429, +946, +319, +555, and > +150 from step 30
  // on in every seed (seed 0 is this test: −1,083.6 → −639.2). The earlier version (one 1,000-step episode of data, 20 steps, bar +300) met its bar
  // in its own seed only at step 20 and in 2 of 5 other seeds not even at step 25.
  it('NPG in the fitted model (host rollouts, CG Fisher solves) raises the real return of the policy by a clear margin', { timeout: 600_000 }, async () => {
    const before = E.memory().liveBuffers;
    const data = await randomPendulum(1000, 0, 25);
    const rng = new E.Rng(1);
    const ens = new DynamicsEnsemble(3, 1, 4, 64, 2e-3, 2, [-2], [2]);
    await ens.fit(data, 400, 128, rng);
    E.seed(3);
    const cfg = { ...SCALE_DEFAULTS, seed: 0 };
    const learner = new NpgLearner(3, 1, cfg);
    const initial = await evalPolicy(learner, 10);
    const modelReward: number[] = [];
    const evals: number[] = [];
    const steps = 35;
    for (let k = 1; k <= steps; k++) {
      modelReward.push((await modelPolicyStep(learner, ens, data.obs, cfg, [-2], [2], rng)).meanReward);
      if (k % 5 === 0) evals.push(await evalPolicy(learner, 10));
    }
    console.log(`initial ${initial.toFixed(1)}, after 5, 10, …, ${steps} NPG steps ${evals.map((x) => x.toFixed(1)).join(' ')}; model reward per step ${modelReward[0]!.toFixed(2)} -> ${modelReward[steps - 1]!.toFixed(2)}`);
    // The policy improves in the model (mean reward per rollout step, stochastic policy) ...
    expect(modelReward[steps - 1]!).toBeGreaterThan(modelReward[0]! + 1);
    // ... and in the real env (deterministic policy, 10 fixed start states): the smallest gain
    // measured over seven seeds (+319) is twice this bar.
    expect(evals[evals.length - 1]!).toBeGreaterThan(initial + 150);
    learner.dispose();
    ens.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });
});
