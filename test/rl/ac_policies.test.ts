// rl/continuous.ts: Box scaling, the three policy kinds against float64 formulas, and the bad
// inputs of the actor-critic family (wrong action space, NaN actions, bad options).
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import {
  BoxScaling, requireBox, requireDiscrete, checkFiniteActions, gaussianPolicy, tanhGaussianPolicy, tanhGaussianLogProbCpu,
  deterministicPolicy, addExplorationNoise, sampleTanhGaussian, LOG_STD_MIN, LOG_STD_MAX,
} from '../../rl/continuous.ts';
import { sac } from '../../rl/sac.ts';
import { ddpg, polyakUpdate, packedCopy, ContinuousReplay } from '../../rl/ddpg.ts';
import { ac } from '../../rl/ac.ts';
import { Trainer } from '../../rl/harness/trainer.ts';

beforeAll(async () => {
  await E.init();
});

const box = { kind: 'box' as const, shape: [2], low: [-2, 0], high: [2, 10] };

describe('Box action spaces', () => {
  it('BoxScaling maps [−1, 1] to [low, high] affinely, clips, and inverts', () => {
    const s = new BoxScaling(box);
    expect(Array.from(s.toEnv([-1, -1, 1, 1, 0, 0, 3, -7]))).toEqual([-2, 0, 2, 10, 0, 5, 2, 0]);
    const a = [0.3, -0.6, -0.25, 0.9];
    R.assertClose(s.fromEnv(s.toEnv(a)), a, { rtol: 1e-6, atol: 1e-6, label: 'round trip' });
  });

  it('continuous algorithms refuse discrete envs and vice versa, naming algorithm, env and space', async () => {
    expect(() => requireBox({ id: 'cartpole', actionSpace: { kind: 'discrete', n: 2 } }, 'sac')).toThrow(/sac needs a continuous \(Box\) action space, but cartpole has a discrete space of 2 actions/);
    expect(() => requireBox({ id: 'x', actionSpace: { kind: 'box', shape: [1], low: [-Infinity], high: [1] } }, 'ddpg')).toThrow(/dimension 0 has bounds \[-Infinity, 1\]/);
    expect(() => requireDiscrete({ id: 'pendulum', actionSpace: box }, 'x')).toThrow(/needs a discrete action space, but pendulum has a Box of shape \[2\]/);
    // Through the harness: SAC/DDPG on CartPole are refused before anything runs.
    for (const algo of [sac, ddpg]) {
      expect(() => new Trainer(algo, { ...algo.defaults, env: 'cartpole' })).toThrow(/handles box action spaces; cartpole has a discrete one/);
    }
    // AC handles both (categorical on CartPole, Gaussian on Pendulum).
    expect(ac.actionSpaces).toEqual(['discrete', 'box']);
  });

  it('NaN actions are an error naming the env step, the env index and the env', async () => {
    expect(() => checkFiniteActions(Float32Array.of(0.1, 0.2, NaN, 0.3), 2, 1234, 'pendulum', 'sac')).toThrow(/sac: the policy produced action NaN at env step 1234 for env 1 of pendulum \(dimension 0\)/);
    // A diverged SAC actor (NaN weights) through act().
    const spec = { id: 'pendulum', obsShape: [3], obsSize: 3, actionSpace: { kind: 'box' as const, shape: [1], low: [-2], high: [2] }, actionDim: 1, numEnvs: 2 };
    const agent = sac.create({ ...sac.defaults, hidden: [8] }, spec);
    const w = E.namedParams(agent.params.actor as E.Params)["mean.bias"];
    E.assign(w, E.tensor([NaN], [1]));
    await expect(agent.act(new Float32Array(6), 2, { rng: new Rng(1), sample: 2, mode: 'explore', step: 77 })).rejects.toThrow(/action NaN at env step 77 for env 0 of pendulum/);
    agent.dispose();
  });
});

describe('policies against float64', () => {
  it('Gaussian policy: log-prob and entropy', async () => {
    const pi = gaussianPolicy(3, 2, [4], 'tanh', -0.3);
    const p = pi.init(5);
    const obs = R.rng(1).ndUniform([6, 3], -1, 1), acts = R.rng(2).ndUniform([6, 2], -2, 2);
    const [mean, lp, ent] = await E.readAll(E.scope(() => [pi.mean(p, E.tensor(Float32Array.from(obs.data), [6, 3])), pi.logProb(p, E.tensor(Float32Array.from(obs.data), [6, 3]), E.tensor(Float32Array.from(acts.data), [6, 2])), pi.entropy(p)]));
    const want = Array.from({ length: 6 }, (_, i) => [0, 1].reduce((s, j) => {
      const z = (acts.data[i * 2 + j] - mean[i * 2 + j]) / Math.exp(-0.3);
      return s - 0.5 * z * z + 0.3 - 0.5 * Math.log(2 * Math.PI);
    }, 0));
    R.assertClose(lp, want, { rtol: 1e-5, atol: 1e-5, label: 'Gaussian log-prob' });
    R.assertClose(ent, [2 * (0.5 * Math.log(2 * Math.PI * Math.E) - 0.3)], { rtol: 1e-6, atol: 1e-6, label: 'entropy' });
    E.dispose(p);
  });

  it('tanh-Gaussian: log-prob with the tanh correction (incl. large |u|), log-std bounds, reparameterised gradient', async () => {
    const pi = tanhGaussianPolicy(3, 2, [5], 'relu');
    const p = pi.init(9);
    const B = 8;
    const obs = E.tensor(Float32Array.from(R.rng(3).ndUniform([B, 3], -2, 2).data), [B, 3]);
    // Noise with some large draws, so u reaches |u| ≫ 1 where the naive log(1 − tanh²u) is −∞ in float32.
    const noise = Float32Array.from(R.rng(4).ndUniform([B, 2], -3, 3).data);
    noise[0] = 40;
    noise[3] = -35;
    const eps = E.tensor(noise, [B, 2]);
    const { mean, logStd } = pi.dist(p, obs);
    const s = pi.sample(p, obs, eps);
    const [m, ls, a, lp] = await E.readAll([mean, logStd, s.action, s.logProb]);
    for (const v of ls) {
      expect(v).toBeGreaterThanOrEqual(LOG_STD_MIN);
      expect(v).toBeLessThanOrEqual(LOG_STD_MAX);
    }
    const want: number[] = [];
    for (let i = 0; i < B; i++) {
      const u = [0, 1].map((j) => m[i * 2 + j] + Math.exp(ls[i * 2 + j]) * noise[i * 2 + j]);
      want.push(tanhGaussianLogProbCpu(u, [m[i * 2], m[i * 2 + 1]], [ls[i * 2], ls[i * 2 + 1]]));
      u.forEach((ui, j) => expect(a[i * 2 + j]).toBeCloseTo(Math.tanh(ui), 5));
    }
    expect(lp.every(Number.isFinite)).toBe(true);
    R.assertClose(lp, want, { rtol: 1e-4, atol: 2e-4, label: 'tanh-Gaussian log-prob' });
    // The CPU reference itself against the textbook form where that is finite in float64.
    const u = [0.3, -1.2], mu = [0.1, -0.5], lsd = [-0.4, 0.2];
    const naive = u.reduce((acc, ui, j) => acc - 0.5 * ((ui - mu[j]) / Math.exp(lsd[j])) ** 2 - lsd[j] - 0.5 * Math.log(2 * Math.PI) - Math.log(1 - Math.tanh(ui) ** 2), 0);
    expect(tanhGaussianLogProbCpu(u, mu, lsd)).toBeCloseTo(naive, 10);
    // Reparameterised: d(mean action-sum)/d(params) matches central differences of the float64-free engine forward.
    const f = (pp: E.Params) => E.sum(pi.sample(pp, obs, eps).action);
    const g = E.grad(f)(p);
    const bias = E.namedParams(p)['mean.bias'];
    const gb = await E.namedParams(g)['mean.bias'].data();
    const h = 1e-2, b0 = await bias.data();
    const fd: number[] = [];
    for (let j = 0; j < 2; j++) {
      const at = async (d: number) => {
        const bb = Float32Array.from(b0);
        bb[j] += d;
        E.assign(bias, E.tensor(bb, [2]));
        return (await E.scope(() => f(p)).data())[0];
      };
      fd.push((await at(h) - await at(-h)) / (2 * h));
    }
    E.assign(bias, E.tensor(b0, [2]));
    R.assertClose(gb, fd, { rtol: 2e-2, atol: 2e-3, label: 'reparameterised gradient' });
    E.dispose([p, obs, eps, mean, logStd, s, g]);
  });

  it('deterministic policy in [−1, 1]; exploration noise has the asked σ and stays in bounds; CPU tanh-Gaussian sampling', async () => {
    const pi = deterministicPolicy(3, 2, [4]);
    const p = pi.init(3);
    const a = await E.scope(() => pi.apply(p, E.tensor(Float32Array.from(R.rng(5).ndUniform([50, 3], -50, 50).data), [50, 3]))).data();
    for (const v of a) expect(Math.abs(v)).toBeLessThanOrEqual(1);
    const rng = new Rng(11);
    const n = 20000;
    const x = addExplorationNoise(new Float32Array(n), 0.1, rng);
    const m = x.reduce((s, v) => s + v, 0) / n, sd = Math.sqrt(x.reduce((s, v) => s + (v - m) ** 2, 0) / n);
    expect(Math.abs(m)).toBeLessThan(0.005);
    expect(Math.abs(sd - 0.1)).toBeLessThan(0.005);
    const edge = addExplorationNoise(new Float32Array(n).fill(0.99), 0.1, rng);
    for (const v of edge) expect(v).toBeLessThanOrEqual(1);
    const means = new Float32Array(n).fill(0.5), logStds = new Float32Array(n).fill(Math.log(0.2));
    const s = sampleTanhGaussian(means, logStds, n, 1, rng, false, new Float32Array(n));
    const atanhMean = s.reduce((acc, v) => acc + Math.atanh(v), 0) / n;
    expect(Math.abs(atanhMean - 0.5)).toBeLessThan(0.01);
    expect(sampleTanhGaussian(means, logStds, 1, 1, rng, true, new Float32Array(1))[0]).toBeCloseTo(Math.tanh(0.5), 6);
    E.dispose(p);
  });

  it('Polyak averaging: every target parameter of two networks in one dispatch, = ρ·target + (1 − ρ)·online', async () => {
    const a = E.packParams({ w: E.tensor([1, 2, 3]), v: E.tensor([[4, 5], [6, 7]]) }).params;
    const c = E.packParams({ u: E.tensor([10, 20]) }).params;
    const ta = packedCopy(a), tc = packedCopy(c);
    E.assign(a.w as E.Tensor, E.tensor([2, 2, 2]));
    E.assign(c.u as E.Tensor, E.tensor([0, 0]));
    const d0 = E.counters().dispatches;
    polyakUpdate([[a, ta], [c, tc]], 0.9);
    expect(E.counters().dispatches - d0).toBe(1);
    R.assertClose(await (ta.w as E.Tensor).data(), [1.1, 2, 2.9], { rtol: 1e-6, atol: 1e-6, label: 'actor target' });
    R.assertClose(await (ta.v as E.Tensor).data(), [4, 5, 6, 7], { rtol: 1e-6, atol: 1e-6, label: 'unchanged' });
    R.assertClose(await (tc.u as E.Tensor).data(), [9, 18], { rtol: 1e-6, atol: 1e-6, label: 'critic target' });
    expect(() => polyakUpdate([[a, { w: E.tensor([1]) }]], 0.9)).toThrow(/not two packed parameter trees/);
    E.dispose([a, c, ta, tc]);
  });
});

describe('the off-policy replay across a resume', () => {
  // Transition t (1-based) has obs [t, −t], next obs [t + 0.5, 0], action [10t], reward 100t,
  // terminated on even t: every field says which transition a row holds.
  const fill = (r: ContinuousReplay, from: number, to: number) => {
    for (let t = from; t <= to; t++) {
      r.add({ N: 1, obs: Float32Array.of(t, -t), nextObs: Float32Array.of(t + 0.5, 0), actions: Float32Array.of(10 * t), rewards: Float32Array.of(100 * t),
        terminated: Uint8Array.of(t % 2 === 0 ? 1 : 0), truncated: Uint8Array.of(0) });
    }
  };
  // Which transition each of the first `size` rows holds, checked against every field.
  const rows = (r: ContinuousReplay) => {
    const st = r.state();
    const ids = Array.from(st.rewards, (x) => x / 100);
    ids.forEach((t, k) => {
      expect([st.obs[2 * k], st.obs[2 * k + 1], st.nextObs[2 * k], st.actions[k], st.dones[k]]).toEqual([t, -t, t + 0.5, 10 * t, t % 2 === 0 ? 1 : 0]);
    });
    return { ids, ptr: st.meta[1] };
  };

  it('a larger capacity (a run resumed with more --steps) appends after the newest transition and samples only written rows', async () => {
    const full = new ContinuousReplay(4, 2, 1);
    fill(full, 1, 6); // wrapped: slots hold 5, 6, 3, 4; the next write goes to slot 2
    expect(rows(full)).toEqual({ ids: [5, 6, 3, 4], ptr: 2 });
    const justFull = new ContinuousReplay(4, 2, 1);
    fill(justFull, 1, 4); // as a run whose capacity is its totalSteps leaves it: ptr wrapped to 0
    for (const [src, want] of [[full, [3, 4, 5, 6]], [justFull, [1, 2, 3, 4]]] as const) {
      const big = new ContinuousReplay(8, 2, 1);
      big.load(src.state());
      expect(rows(big)).toEqual({ ids: want, ptr: 4 });
      fill(big, 7, 8);
      expect(rows(big)).toEqual({ ids: [...want, 7, 8], ptr: 6 });
      // every sampled row is a written transition (before the fix, rows 4-5 were zeros here)
      const b = big.sample(64, new Rng(3));
      const r = await b.rewards.data();
      expect(Array.from(r).every((x) => [...want, 7, 8].includes(x / 100))).toBe(true);
      E.dispose(b);
    }
  });

  it('the same capacity restores the saved layout exactly; a smaller one keeps the newest; an unwrapped buffer loads as saved', () => {
    const full = new ContinuousReplay(4, 2, 1);
    fill(full, 1, 6);
    const same = new ContinuousReplay(4, 2, 1);
    same.load(full.state());
    expect(rows(same)).toEqual({ ids: [5, 6, 3, 4], ptr: 2 });
    fill(same, 7, 7);
    fill(full, 7, 7);
    expect(rows(same)).toEqual(rows(full));
    const small = new ContinuousReplay(3, 2, 1);
    small.load(full.state()); // full holds 5, 6, 7, 4 (oldest 4)
    expect(rows(small)).toEqual({ ids: [5, 6, 7], ptr: 0 });
    const part = new ContinuousReplay(8, 2, 1);
    fill(part, 1, 3);
    const other = new ContinuousReplay(5, 2, 1);
    other.load(part.state());
    expect(rows(other)).toEqual({ ids: [1, 2, 3], ptr: 3 });
    const exact = new ContinuousReplay(3, 2, 1);
    exact.load(part.state());
    expect(rows(exact)).toEqual({ ids: [1, 2, 3], ptr: 0 });
  });
});

describe('the critic target of the Stackelberg entries', () => {
  // The issue asks the released code's quirk (the online actor inside the critic's target, no
  // stop-gradient) to be a named option, not the default: every entry's default critic loss must
  // not depend on the actor, and the `released` preset must make it depend on it.
  it("defaults to the stop-gradient target (∂f_Q/∂θ = 0); the 'released' preset puts the online actor in it (∂f_Q/∂θ ≠ 0)", async () => {
    const { stddpgAl, stddpgCl, ddpgCriticLoss } = await import('../../rl/ddpg.ts');
    const { stsacAl, stsacCl, sacCriticLoss } = await import('../../rl/sac.ts');
    const { qNetwork } = await import('../../rl/continuous.ts');
    const OBS = 3, ACT = 1, B = 8;
    const before = E.memory().liveBuffers;
    const rng = new Rng(4);
    const u = (n: number, s = 1) => Float32Array.from({ length: n }, () => s * (2 * rng.uniform() - 1));
    const batch = {
      obs: E.tensor(u(B * OBS), [B, OBS]), actions: E.tensor(u(B * ACT), [B, ACT]), rewards: E.tensor(u(B), [B]),
      nextObs: E.tensor(u(B * OBS), [B, OBS]), dones: E.zeros([B]),
    };
    const noise = { eps: E.tensor(u(B * ACT), [B, ACT]), epsNext: E.tensor(u(B * ACT), [B, ACT]) };
    const q = qNetwork(OBS, ACT, [8], 'tanh');
    const dpi = deterministicPolicy(OBS, ACT, [8], 'tanh'), spi = tanhGaussianPolicy(OBS, ACT, [8], 'tanh');
    const ddpgActor = dpi.init(1), sacActor = spi.init(2), critic = q.init(3), targetCritic = q.init(4), twin = { q1: q.init(5), q2: q.init(6) };
    // ‖∂f_Q/∂θ‖ for the critic target a config selects.
    const actorGradNorm = async (family: 'ddpg' | 'sac', mode: 'standard' | 'released') => {
      const g = E.scope(() => {
        if (family === 'ddpg') {
          return E.grad((a: E.Params) => ddpgCriticLoss(dpi, q, a, critic, { actor: ddpgActor, critic: targetCritic }, batch, 0.99, mode))(ddpgActor);
        }
        return E.grad((a: E.Params) => sacCriticLoss(spi, q, a, twin, twin, batch, noise, 0.2, 0.99, mode))(sacActor);
      });
      const t = E.scope(() => E.treeNorm(g));
      const n = await t.item();
      E.dispose([g, t]);
      return n;
    };
    for (const [algo, family] of [[stddpgAl, 'ddpg'], [stddpgCl, 'ddpg'], [stsacAl, 'sac'], [stsacCl, 'sac']] as const) {
      const def = algo.defaults.criticTarget, rel = { ...algo.defaults, ...algo.presets.released }.criticTarget!;
      expect(def, `${algo.name} default`).toBe('standard');
      expect(rel, `${algo.name} released preset`).toBe('released');
      expect({ ...algo.defaults, ...algo.presets['pendulum-fast-released'] }.criticTarget).toBe('released');
      expect(await actorGradNorm(family, def)).toBe(0);
      expect(await actorGradNorm(family, rel)).toBeGreaterThan(1e-4);
    }
    E.dispose([batch, noise, ddpgActor, sacActor, critic, targetCritic, twin]);
    expect(E.memory().liveBuffers).toBe(before);
  }, 60_000);
});
