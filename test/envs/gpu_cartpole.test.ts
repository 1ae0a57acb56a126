// The GPU CartPole against the CPU env (rl/envs/cartpole.ts in VecEnv) on the same seeds: the
// same reset draws from the same Philox words, the same dynamics to float32 rounding, the same
// termination / truncation / autoreset flags and episode statistics, checkpoints that move
// between the two, a rollout with no readback, and the episode log (every finished episode, as
// the CPU env's completedEpisodes(), growing as needed; an overflowed log is an error).
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { GpuCartPole } from '../../rl/envs/gpu/cartpole.ts';
import { episodesOfLog } from '../../rl/envs/gpu/vec.ts';
import { Rng } from '../../rl/envs/rng.ts';

beforeAll(async () => {
  await E.init();
});

const N = 64;

async function take(r: { obs: E.Tensor; rewards: E.Tensor; terminated: E.Tensor; truncated: E.Tensor; finalObs: E.Tensor }) {
  const [obs, rewards, terminated, truncated, finalObs] = await E.readAll([r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
  E.dispose([r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
  return { obs, rewards, terminated, truncated, finalObs };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, rows?: (i: number) => boolean, width = 4) {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (!rows || rows(Math.floor(i / width))) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('GPU CartPole', () => {
  it('reset draws the CPU env\'s words: same initial observations, also after a reseed', async () => {
    const live = E.memory().liveBuffers;
    const cpu = makeEnv('cartpole', { numEnvs: N, seed: 7 });
    const gpu = new GpuCartPole({ numEnvs: N, seed: 7 });
    const g0 = gpu.reset();
    expect(maxAbsDiff(await g0.data(), cpu.reset())).toBeLessThan(1e-8);
    const g1 = gpu.reset(123);
    expect(maxAbsDiff(await g1.data(), cpu.reset(123))).toBeLessThan(1e-8);
    // Without a seed the streams continue: the next four words of each env.
    const g2 = gpu.reset();
    const c2 = cpu.reset();
    expect(maxAbsDiff(await g2.data(), c2)).toBeLessThan(1e-8);
    expect(maxAbsDiff(await g2.data(), await g1.data())).toBeGreaterThan(1e-3);
    E.dispose([g0, g1, g2]);
    gpu.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('steps like the CPU env for 300 steps: observations to float32 rounding, identical flags and episode statistics', async () => {
    const live = E.memory().liveBuffers;
    const cap = 15; // short cap so truncation and autoreset both happen often
    const cpu = makeEnv('cartpole', { numEnvs: N, seed: 3, maxEpisodeSteps: cap });
    const gpu = new GpuCartPole({ numEnvs: N, seed: 3, maxEpisodeSteps: cap });
    cpu.reset();
    E.dispose(gpu.reset());
    const rng = new Rng(99, 0);
    let worst = 0;
    let terms = 0;
    let truncs = 0;
    for (let t = 0; t < 300; t++) {
      const a = Int32Array.from({ length: N }, () => rng.int(2));
      const at = E.tensor(Float32Array.from(a), [N]);
      const g = await take(gpu.step(at));
      E.dispose(at);
      const c = cpu.step(a);
      expect(Array.from(g.terminated), `terminated at step ${t}`).toEqual(Array.from(c.terminated));
      expect(Array.from(g.truncated), `truncated at step ${t}`).toEqual(Array.from(c.truncated));
      expect(Array.from(g.rewards)).toEqual(Array.from(c.rewards));
      worst = Math.max(worst, maxAbsDiff(g.obs, c.obs), maxAbsDiff(g.finalObs, c.finalObs, (i) => c.done[i] === 1));
      for (let i = 0; i < N; i++) {
        terms += c.terminated[i];
        truncs += c.truncated[i];
      }
    }
    expect(terms).toBeGreaterThan(100);
    expect(truncs).toBeGreaterThan(100);
    // float32 vs float64 over episodes of at most 15 steps
    expect(worst).toBeLessThan(1e-4);
    const eps = cpu.completedEpisodes();
    const st = await gpu.drainEpisodes();
    expect(st.episodes).toBe(eps.length);
    expect(st.returnSum).toBe(eps.reduce((s, e) => s + e.return, 0));
    expect(st.lengthSum).toBe(eps.reduce((s, e) => s + e.length, 0));
    expect(await gpu.drainEpisodes()).toEqual({ episodes: 0, returnSum: 0, lengthSum: 0 });
    gpu.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('a checkpoint moves between the CPU and the GPU env and continues identically', async () => {
    const cpu = makeEnv('cartpole', { numEnvs: 8, seed: 11 });
    const gpu = new GpuCartPole({ numEnvs: 8, seed: 5 });
    cpu.reset();
    const rng = new Rng(1, 0);
    for (let t = 0; t < 40; t++) cpu.step(Int32Array.from({ length: 8 }, () => rng.int(2)));
    cpu.completedEpisodes();
    gpu.setState(cpu.getState() as never);
    const back = await gpu.getState();
    expect(back.rng.map((r) => r.words)).toEqual(cpu.getState().rng.map((r) => r.words));
    expect(back.episodeLengths).toEqual(cpu.getState().episodeLengths);
    for (let t = 0; t < 40; t++) {
      const a = Int32Array.from({ length: 8 }, () => rng.int(2));
      const at = E.tensor(Float32Array.from(a), [8]);
      const g = await take(gpu.step(at));
      E.dispose(at);
      const c = cpu.step(a);
      expect(Array.from(g.terminated), `step ${t}`).toEqual(Array.from(c.terminated));
      // the state was rounded to float32 when it moved; the error stays at that scale
      expect(maxAbsDiff(g.obs, c.obs)).toBeLessThan(1e-4);
    }
    gpu.dispose();
  });

  it('a rollout with actions sampled on the GPU reads nothing back until the statistics are drained', async () => {
    const gpu = new GpuCartPole({ numEnvs: 256, seed: 1 });
    let obs = gpu.reset();
    const before = E.counters().readbacks;
    for (let t = 0; t < 200; t++) {
      const a = E.rand([256]); // ≥ 0.5 pushes right: a uniformly random policy
      const r = gpu.step(a);
      E.dispose([a, obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
      obs = r.obs;
    }
    expect(E.counters().readbacks).toBe(before);
    const st = await gpu.drainEpisodes();
    expect(E.counters().readbacks).toBe(before + 1);
    // A random policy's CartPole episodes last about 22 steps on average.
    expect(st.episodes).toBeGreaterThan(1500);
    expect(st.lengthSum / st.episodes).toBeGreaterThan(15);
    expect(st.lengthSum / st.episodes).toBeLessThan(30);
    E.dispose(obs);
    gpu.dispose();
  });

  it('bad input is an error that names it', () => {
    expect(() => new GpuCartPole({ numEnvs: 0 })).toThrow(/numEnvs must be a positive integer, got 0/);
    expect(() => new GpuCartPole({ numEnvs: 2, maxEpisodeSteps: -1 })).toThrow(/maxEpisodeSteps/);
    const gpu = new GpuCartPole({ numEnvs: 4 });
    const a = E.zeros([3]);
    expect(() => gpu.step(a)).toThrow(/call reset\(\) before step/);
    E.dispose(gpu.reset());
    expect(() => gpu.step(a)).toThrow(/actions must have shape \[4\] \(one action per env\), got \[3\]/);
    E.dispose(a);
    gpu.dispose();
    expect(() => gpu.reset()).toThrow(/after dispose/);
  });

  it('the episode log lists every finished episode as the CPU env\'s completedEpisodes() (growing past its first capacity); an overflowed log is an error', async () => {
    const live = E.memory().liveBuffers;
    const n = 5, cap = 9;
    const cpu = makeEnv('cartpole', { numEnvs: n, seed: 21, maxEpisodeSteps: cap });
    const gpu = new GpuCartPole({ numEnvs: n, seed: 21, maxEpisodeSteps: cap });
    cpu.reset();
    gpu.reset().dispose();
    const rng = new Rng(3, 0);
    const run = (steps: number) => {
      const want: { step: number; envIndex: number; return: number; length: number }[] = [];
      for (let k = 0; k < steps; k++) {
        // mostly pushing one way, so terminations come before the cap too
        const a = Int32Array.from({ length: n }, (_, i) => (rng.uniform() < (i % 2 ? 0.9 : 0.5) ? 1 : 0));
        const t = E.tensor(Float32Array.from(a), [n]);
        const r = gpu.step(t);
        E.dispose([t, r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
        cpu.step(a);
        for (const e of cpu.completedEpisodes()) want.push({ step: k, envIndex: e.envIndex, return: e.return, length: e.length });
      }
      return want;
    };
    const want = run(150); // past the log's first capacity of 64 steps
    expect(gpu.loggedSteps).toBe(150);
    const t = gpu.takeEpisodeLog()!;
    expect(t.steps).toBe(150);
    const got = episodesOfLog(await t.log.data(), n);
    t.log.dispose();
    expect(want.some((e) => e.length < cap) && want.some((e) => e.length === cap)).toBe(true);
    expect(got).toEqual(want);
    expect(gpu.takeEpisodeLog()).toBeNull();
    gpu.dispose();
    // a log nobody takes restarts past maxLogSteps; the next take says so, then the log works again
    const small = new GpuCartPole({ numEnvs: n, seed: 21, maxEpisodeSteps: cap, maxLogSteps: 8 });
    small.reset().dispose();
    const a = E.tensor(new Float32Array(n).fill(1), [n]);
    for (let k = 0; k < 12; k++) {
      const r = small.step(a);
      E.dispose([r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
    }
    expect(() => small.takeEpisodeLog()).toThrow(/the episode log overflowed: more than maxLogSteps \(8\) vector steps since the last takeEpisodeLog\(\), 8 of them dropped/);
    const r = small.step(a);
    E.dispose([r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
    const again = small.takeEpisodeLog()!;
    expect(again.steps).toBe(1);
    again.log.dispose();
    expect(() => new GpuCartPole({ numEnvs: n, maxLogSteps: 0 })).toThrow(/maxLogSteps must be an integer in \[1, \d+\] for 5 envs, got 0/);
    a.dispose();
    small.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});
