// Pendulum and the 3-state MDP on the GPU against their CPU envs on the same seeds (CartPole has
// its own file): same reset draws, same transitions (the MDP's exactly: it picks the next state
// from the same Philox word with integer thresholds), same flags and episode statistics.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { makeGpuEnv, GPU_ENV_IDS } from '../../rl/envs/gpu/index.ts';
import { Rng } from '../../rl/envs/rng.ts';

beforeAll(async () => {
  await E.init();
});

const N = 64;

async function compare(id: string, steps: number, cap: number | undefined, action: (rng: Rng) => number, extra: Record<string, unknown> = {}) {
  const live = E.memory().liveBuffers;
  const cpu = makeEnv(id, { numEnvs: N, seed: 5, maxEpisodeSteps: cap, ...extra });
  const gpu = makeGpuEnv(id, { numEnvs: N, seed: 5, maxEpisodeSteps: cap, ...extra });
  const g0 = gpu.reset();
  const c0 = cpu.reset();
  const resetDiff = Math.max(...Array.from(await g0.data(), (v, i) => Math.abs(v - c0[i])));
  E.dispose(g0);
  const rng = new Rng(17, 0);
  let worstObs = 0, worstReward = 0, dones = 0;
  for (let t = 0; t < steps; t++) {
    const a = Float32Array.from({ length: N }, () => action(rng));
    const at = E.tensor(a, [N]);
    const r = gpu.step(at);
    const [obs, rew, term, trunc, fin] = await E.readAll([r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
    E.dispose([at, r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
    const c = cpu.step(a);
    expect(Array.from(term), `${id} terminated at step ${t}`).toEqual(Array.from(c.terminated));
    expect(Array.from(trunc), `${id} truncated at step ${t}`).toEqual(Array.from(c.truncated));
    for (let i = 0; i < N; i++) {
      worstReward = Math.max(worstReward, Math.abs(rew[i] - c.rewards[i]));
      dones += c.done[i];
      for (let j = 0; j < cpu.obsSize; j++) {
        const k = i * cpu.obsSize + j;
        worstObs = Math.max(worstObs, Math.abs(obs[k] - c.obs[k]));
        if (c.done[i]) worstObs = Math.max(worstObs, Math.abs(fin[k] - c.finalObs[k]));
      }
    }
  }
  const eps = cpu.completedEpisodes();
  const st = await gpu.drainEpisodes();
  gpu.dispose();
  expect(E.memory().liveBuffers).toBe(live);
  return { resetDiff, worstObs, worstReward, dones, eps, st };
}

describe('GPU envs', () => {
  it('pendulum: resets to 1e-6, 300 steps of clipped random torques within float32 drift, same truncations', async () => {
    // torques beyond ±2 check the clipping; cap 40 gives several truncations per env
    const r = await compare('pendulum', 300, 40, (rng) => rng.uniformRange(-3, 3));
    expect(r.resetDiff).toBeLessThan(1e-6);
    expect(r.dones).toBe(N * Math.floor(300 / 40));
    expect(r.worstObs).toBeLessThan(1e-3);
    expect(r.worstReward).toBeLessThan(1e-3);
    expect(r.st.episodes).toBe(r.eps.length);
    expect(r.st.lengthSum).toBe(r.eps.reduce((s, e) => s + e.length, 0));
    const cpuSum = r.eps.reduce((s, e) => s + e.return, 0);
    expect(Math.abs(r.st.returnSum - cpuSum) / Math.abs(cpuSum)).toBeLessThan(1e-4);
  });

  it('mdp/three-state: identical states, rewards, flags and episode statistics for 400 steps', async () => {
    const r = await compare('mdp/three-state', 400, 50, (rng) => rng.int(2));
    expect(r.resetDiff).toBe(0);
    expect(r.worstObs).toBe(0);
    // the CPU's float32 rewards are the same float32 constants
    expect(r.worstReward).toBe(0);
    expect(r.dones).toBeGreaterThan(1000);
    expect(r.st.episodes).toBe(r.eps.length);
    expect(r.st.lengthSum).toBe(r.eps.reduce((s, e) => s + e.length, 0));
    expect(r.st.returnSum).toBeCloseTo(r.eps.reduce((s, e) => s + e.return, 0), 2);
  });

  it('minatar/breakout, paper preset (sticky actions, all 6 actions, no cap): identical frames, rewards and flags for 400 steps', async () => {
    const r = await compare('minatar/breakout', 400, undefined, (rng) => rng.int(6), { preset: 'paper' });
    expect(r.resetDiff).toBe(0);
    expect(r.worstObs).toBe(0);
    expect(r.worstReward).toBe(0);
    expect(r.dones).toBeGreaterThan(100);
    expect(r.eps.some((e) => e.return > 0)).toBe(true);
    expect(r.st.episodes).toBe(r.eps.length);
    expect(r.st.returnSum).toBe(r.eps.reduce((s, e) => s + e.return, 0));
    expect(r.st.lengthSum).toBe(r.eps.reduce((s, e) => s + e.length, 0));
  });

  it('minatar/breakout, gymnax preset (minimal actions) with a 20-step cap: identical, truncations included', async () => {
    const r = await compare('minatar/breakout', 300, 20, (rng) => rng.int(3), { preset: 'gymnax' });
    expect(r.worstObs).toBe(0);
    expect(r.worstReward).toBe(0);
    expect(r.eps.some((e) => !e.terminated)).toBe(true);
    expect(r.st.lengthSum).toBe(r.eps.reduce((s, e) => s + e.length, 0));
  });

  it('minatar/freeway, both presets (mostly "up", so the chicken scores and the cars are redrawn): identical for 200 steps', async () => {
    // paper: 6 actions, index 2 is up; gymnax: minimal actions [noop, up, down], index 1 is up
    const paper = await compare('minatar/freeway', 200, undefined, (rng) => (rng.uniform() < 0.8 ? 2 : rng.int(6)), { preset: 'paper' });
    const gymnax = await compare('minatar/freeway', 200, 80, (rng) => (rng.uniform() < 0.8 ? 1 : rng.int(3)), { preset: 'gymnax' });
    for (const r of [paper, gymnax]) {
      expect(r.resetDiff).toBe(0);
      expect(r.worstObs).toBe(0);
      expect(r.worstReward).toBe(0);
    }
    expect(gymnax.dones).toBe(N * 2); // truncated at 80 and 160
    expect(gymnax.st.returnSum).toBe(gymnax.eps.reduce((s, e) => s + e.return, 0));
    expect(gymnax.st.returnSum).toBeGreaterThan(0);
  });

  it('an unknown id lists the GPU envs; a Box action of the wrong shape names both shapes', () => {
    expect(() => makeGpuEnv('hopper', { numEnvs: 1 })).toThrow(`no GPU version of env "hopper"; GPU envs: ${GPU_ENV_IDS.join(', ')}`);
    const env = makeGpuEnv('pendulum', { numEnvs: 3 });
    E.dispose(env.reset());
    const a = E.zeros([3, 2]);
    expect(() => env.step(a)).toThrow(/pendulum \(GPU\): actions must have shape \[3\] \(one action per env\), got \[3, 2\]/);
    E.dispose(a);
    env.dispose();
  });
});
