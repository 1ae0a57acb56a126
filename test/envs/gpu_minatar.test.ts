// MinAtar Asterix, Space Invaders and Seaquest on the GPU (rl/envs/gpu/minatar.ts) against the
// CPU games (rl/envs/minatar in VecEnv) on the same seeds: the same Philox words drawn in the
// same order, so frames, rewards, terminated / truncated flags and episode statistics must be
// identical, not close. Policies are random, or read the CPU env's state (identical to the
// GPU's while the test passes) to reach the rare branches: ramps, wave clears, full rescues.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { makeEnv, type MinAtarEnv, type VecEnv } from '../../rl/envs/index.ts';
import { makeGpuEnv, SEAQUEST_GPU_CAPS } from '../../rl/envs/gpu/index.ts';
import { Rng } from '../../rl/envs/rng.ts';
import type { AsterixState } from '../../rl/envs/minatar/asterix.ts';
import type { SeaquestState } from '../../rl/envs/minatar/seaquest.ts';
import type { SpaceInvadersState } from '../../rl/envs/minatar/space_invaders.ts';

beforeAll(async () => {
  await E.init();
});

type Cpu = VecEnv<MinAtarEnv>;
/** The network action of env i for this step (the CPU env is read before it steps). */
type Policy = (rng: Rng, i: number, cpu: Cpu) => number;

interface Run {
  steps: number;
  seed?: number;
  n?: number;
  opts?: Record<string, unknown>;
  /** Edits the CPU games after the reset; the GPU batch then takes the CPU state (setState). */
  setup?: (cpu: Cpu) => void;
  /** Called on the CPU env after every step, to record what the run covered. */
  watch?: (cpu: Cpu) => void;
}

async function compare(id: string, policy: Policy, r: Run) {
  const N = r.n ?? 64;
  const live = E.memory().liveBuffers;
  const o = { numEnvs: N, seed: r.seed ?? 3, ...r.opts };
  const cpu = makeEnv(id, o) as unknown as Cpu;
  const gpu = makeGpuEnv(id, o);
  const g0 = gpu.reset();
  const c0 = cpu.reset();
  expect(Array.from(await g0.data()), `${id} reset frames`).toEqual(Array.from(c0));
  E.dispose(g0);
  if (r.setup) {
    r.setup(cpu);
    gpu.setState(cpu.getState());
  }
  const rng = new Rng(17, 0);
  let dones = 0, truncs = 0, rewardSum = 0;
  for (let t = 0; t < r.steps; t++) {
    const a = Float32Array.from({ length: N }, (_, i) => policy(rng, i, cpu));
    const at = E.tensor(a, [N]);
    const g = gpu.step(at);
    const [obs, rew, term, trunc, fin] = await E.readAll([g.obs, g.rewards, g.terminated, g.truncated, g.finalObs]);
    E.dispose([at, g.obs, g.rewards, g.terminated, g.truncated, g.finalObs]);
    const c = cpu.step(a);
    r.watch?.(cpu);
    expect(Array.from(term), `${id} terminated at step ${t}`).toEqual(Array.from(c.terminated));
    expect(Array.from(trunc), `${id} truncated at step ${t}`).toEqual(Array.from(c.truncated));
    expect(Array.from(rew), `${id} rewards at step ${t}`).toEqual(Array.from(c.rewards));
    // first differing float, so a failure names the env and the cell
    const diff = (x: Float32Array, y: Float32Array, rows: (i: number) => boolean) => {
      for (let k = 0; k < x.length; k++) if (rows(Math.floor(k / cpu.obsSize)) && x[k] !== y[k]) return `env ${Math.floor(k / cpu.obsSize)} cell ${k % cpu.obsSize}: GPU ${x[k]} CPU ${y[k]}`;
      return '';
    };
    expect(diff(obs, c.obs, () => true), `${id} frames at step ${t}`).toBe('');
    expect(diff(fin, c.finalObs, (i) => c.done[i] === 1), `${id} final frames at step ${t}`).toBe('');
    for (let i = 0; i < N; i++) {
      dones += c.done[i];
      truncs += c.truncated[i];
      rewardSum += c.rewards[i];
    }
  }
  const eps = cpu.completedEpisodes();
  const st = await gpu.drainEpisodes();
  expect(st.episodes).toBe(eps.length);
  expect(st.returnSum).toBe(eps.reduce((s, e) => s + e.return, 0));
  expect(st.lengthSum).toBe(eps.reduce((s, e) => s + e.length, 0));
  // the batch's state, read back in the CPU format, is the CPU env's (streams included)
  const back = await gpu.getState();
  const ref = cpu.getState();
  expect(back.rng).toEqual(ref.rng);
  expect(back.episodeLengths).toEqual(ref.episodeLengths);
  expect(back.cores.map((k) => ({ ...(k as object), terminal: false }))).toEqual(ref.cores.map((k) => ({ ...(k as object), terminal: false })));
  gpu.dispose();
  expect(E.memory().liveBuffers).toBe(live);
  return { dones, truncs, rewardSum, eps, cpu };
}

const game = <S>(cpu: Cpu, i: number) => cpu.envs[i]!.game.state as S;
const uniform = (n: number): Policy => (rng) => rng.int(n);

describe('MinAtar on the GPU, step for step against the CPU games', () => {
  it('asterix, paper preset (sticky, 6 actions, ramping): identical for 400 steps, through spawns, gold, deaths and the first ramps', async () => {
    let ramped = 0;
    const r = await compare('minatar/asterix', uniform(6), {
      steps: 400,
      opts: { preset: 'paper' },
      watch: (cpu) => {
        for (let i = 0; i < cpu.numEnvs; i++) ramped = Math.max(ramped, game<AsterixState>(cpu, i).rampIndex);
      },
    });
    expect(r.dones).toBeGreaterThan(64);
    expect(r.rewardSum).toBeGreaterThan(20);
    expect(ramped).toBeGreaterThanOrEqual(1);
  });

  it('asterix, gymnax preset (minimal actions) with ramping off, sticky 0.25 and a 60-step cap: identical, truncations included', async () => {
    const r = await compare('minatar/asterix', uniform(5), { steps: 200, opts: { preset: 'gymnax', ramping: false, stickyProb: 0.25, maxEpisodeSteps: 60 } });
    expect(r.truncs).toBeGreaterThan(0);
    expect(r.dones).toBeGreaterThan(r.truncs);
  });

  it('space invaders, paper preset: identical for 300 steps of a fire-heavy random policy', async () => {
    // index 5 fires; 1 and 3 move the cannon
    const r = await compare('minatar/space_invaders', (rng) => (rng.uniform() < 0.5 ? 5 : rng.int(6)), { steps: 300, opts: { preset: 'paper' } });
    expect(r.rewardSum).toBeGreaterThan(100);
    expect(r.dones).toBeGreaterThan(0);
  });

  it.each([true, false])('space invaders, gymnax preset from states near a wave clear (ramping %s): the ramp and the respawn match, and a 50-step cap', async (ramping) => {
    // a few envs start with one alien left above the cannon and a shot in flight under it
    const N = 16;
    const cpu = makeEnv('minatar/space_invaders', { numEnvs: N, seed: 9, preset: 'gymnax', maxEpisodeSteps: 50, ramping }) as unknown as Cpu;
    cpu.reset();
    for (let i = 0; i < N; i += 2) {
      const s = game<SpaceInvadersState>(cpu, i);
      s.aliens.fill(0);
      s.aliens[3 * 10 + s.cannonX] = 1;
      s.alienMoveTimer = 5;
      s.friendlyBullets[8 * 10 + s.cannonX] = 1;
      s.moveInterval = 7 + (i % 4 === 0 ? 0 : 2);
    }
    const st = cpu.getState();
    let cleared = 0, minInterval = 99;
    const prevCount = new Array<number>(N).fill(-1);
    const policy: Policy = (rng) => [0, 1, 2, 3][rng.int(4)]; // gymnax: noop, left, right, fire
    const live = E.memory().liveBuffers;
    const gpu = makeGpuEnv('minatar/space_invaders', { numEnvs: N, seed: 9, preset: 'gymnax', maxEpisodeSteps: 50, ramping });
    gpu.setState(st);
    const rng = new Rng(4, 0);
    for (let t = 0; t < 120; t++) {
      const a = Float32Array.from({ length: N }, () => policy(rng, 0, cpu));
      const at = E.tensor(a, [N]);
      const g = gpu.step(at);
      const [obs, rew, term, trunc] = await E.readAll([g.obs, g.rewards, g.terminated, g.truncated]);
      E.dispose([at, g.obs, g.rewards, g.terminated, g.truncated, g.finalObs]);
      for (let i = 0; i < N; i++) prevCount[i] = game<SpaceInvadersState>(cpu, i).aliens.reduce((x, y) => x + y, 0);
      const c = cpu.step(a);
      for (let i = 0; i < N; i++) {
        const s = game<SpaceInvadersState>(cpu, i);
        // a cleared wave respawns the block within the episode: 1 alien, then 24
        if (!c.done[i] && prevCount[i] === 1 && s.aliens.reduce((x, y) => x + y, 0) === 24) cleared++;
        minInterval = Math.min(minInterval, s.moveInterval);
      }
      expect(Array.from(rew), `step ${t}`).toEqual(Array.from(c.rewards));
      expect(Array.from(term), `step ${t}`).toEqual(Array.from(c.terminated));
      expect(Array.from(trunc), `step ${t}`).toEqual(Array.from(c.truncated));
      expect(Array.from(obs).every((v, k) => v === c.obs[k]), `frames at step ${t}`).toBe(true);
    }
    const back = await gpu.getState();
    expect(back.cores.map((k) => ({ ...(k as object), terminal: false }))).toEqual(cpu.getState().cores.map((k) => ({ ...(k as object), terminal: false })));
    gpu.dispose();
    expect(E.memory().liveBuffers).toBe(live);
    expect(cleared).toBeGreaterThan(0);
    expect(minInterval).toBe(ramping ? 6 : 7); // ramped from 7 to the floor, or not at all
  });

  it('seaquest, paper preset: identical for 300 steps of a random policy', async () => {
    const r = await compare('minatar/seaquest', uniform(6), { steps: 300, opts: { preset: 'paper' } });
    expect(r.dones).toBeGreaterThan(64);
    expect(r.rewardSum).toBeGreaterThan(0);
  });

  it('seaquest, gymnax preset with a diver-chasing policy: rescues, surfacing, ramps and oxygen deaths identical for 400 steps', async () => {
    // chase the first diver while fewer than 6 are aboard and oxygen lasts, then surface; shoot
    // now and then; a fifth of the actions random
    let rescues = 0, fullRescue = 0, ramped = 0, maxEnemies = 0, maxEb = 0;
    const policy: Policy = (rng, i, cpu) => {
      if (rng.uniform() < 0.2) return rng.int(6);
      const s = game<SeaquestState>(cpu, i);
      const d = s.diverList[0];
      const surface = s.divers >= 6 || s.oxygen < 40 || (!d && s.divers > 0);
      if (surface) return s.subY > 0 ? 2 : 0;
      if (d) {
        if (d.y !== s.subY) return d.y < s.subY ? 2 : 4;
        if (d.x !== s.subX) return d.x < s.subX ? 1 : 3;
      }
      return rng.uniform() < 0.5 ? 5 : 4;
    };
    const r = await compare('minatar/seaquest', policy, {
      steps: 400,
      seed: 21,
      opts: { preset: 'gymnax', maxEpisodeSteps: 350 },
      // a quarter of the envs start deep with 6 divers aboard (the full-rescue bonus), a
      // quarter deep with 3 units of oxygen left (death by oxygen on the way up)
      setup: (cpu) => {
        for (let i = 0; i < cpu.numEnvs; i++) {
          const s = game<SeaquestState>(cpu, i);
          if (i % 4 === 0) Object.assign(s, { divers: 6, subY: 3, oxygen: 150, atSurface: false });
          if (i % 4 === 1) Object.assign(s, { subY: 4, oxygen: 3, atSurface: false });
        }
      },
      watch: (cpu) => {
        for (let i = 0; i < cpu.numEnvs; i++) {
          if (cpu.envs[i]!.game.terminal) continue;
          const s = game<SeaquestState>(cpu, i);
          ramped = Math.max(ramped, s.rampIndex);
          if (s.atSurface && s.rampIndex > 0) rescues++;
          if (s.divers < 0) fullRescue++;
          maxEnemies = Math.max(maxEnemies, s.fish.length + s.subs.length);
          maxEb = Math.max(maxEb, s.enemyBullets.length);
        }
      },
    });
    expect(rescues).toBeGreaterThan(0);
    expect(fullRescue).toBeGreaterThan(0);
    expect(r.eps.filter((e) => e.terminated && e.length < 10).length).toBeGreaterThanOrEqual(16); // the oxygen deaths
    expect(ramped).toBeGreaterThanOrEqual(2);
    expect(maxEnemies).toBeLessThanOrEqual(SEAQUEST_GPU_CAPS.fish);
    expect(maxEb).toBeLessThanOrEqual(SEAQUEST_GPU_CAPS.enemyBullets);
  });

  it('a checkpoint moves CPU → GPU → CPU for each game and both continue identically', async () => {
    for (const id of ['minatar/asterix', 'minatar/space_invaders', 'minatar/seaquest']) {
      const N = 8;
      const cpu = makeEnv(id, { numEnvs: N, seed: 2, preset: 'paper' });
      cpu.reset();
      const rng = new Rng(6, 0);
      for (let t = 0; t < 60; t++) cpu.step(Int32Array.from({ length: N }, () => rng.int(6)));
      cpu.completedEpisodes();
      const gpu = makeGpuEnv(id, { numEnvs: N, seed: 99, preset: 'paper' });
      gpu.setState(cpu.getState());
      for (let t = 0; t < 40; t++) {
        const a = Float32Array.from({ length: N }, () => rng.int(6));
        const at = E.tensor(a, [N]);
        const g = gpu.step(at);
        const [obs, rew] = await E.readAll([g.obs, g.rewards]);
        E.dispose([at, g.obs, g.rewards, g.terminated, g.truncated, g.finalObs]);
        const c = cpu.step(a);
        expect(Array.from(rew), `${id} step ${t}`).toEqual(Array.from(c.rewards));
        expect(Array.from(obs).every((v, k) => v === c.obs[k]), `${id} frames at step ${t}`).toBe(true);
      }
      // back to a fresh CPU env: it continues as the original CPU env does
      const fresh = makeEnv(id, { numEnvs: N, seed: 0, preset: 'paper' });
      fresh.setState(await gpu.getState());
      gpu.dispose();
      for (let t = 0; t < 40; t++) {
        const a = Int32Array.from({ length: N }, () => rng.int(6));
        const x = Array.from(fresh.step(a).obs);
        expect(x, `${id} after the move back, step ${t}`).toEqual(Array.from(cpu.step(a).obs));
      }
    }
  });

  it('a Seaquest state beyond the GPU list capacities is refused by name', () => {
    const cpu = makeEnv('minatar/seaquest', { numEnvs: 1, seed: 0 }) as unknown as Cpu;
    cpu.reset();
    const s = game<SeaquestState>(cpu, 0);
    s.fish = Array.from({ length: SEAQUEST_GPU_CAPS.fish + 1 }, (_, k) => ({ x: k % 10, y: 1 + (k % 8), right: true, moveTimer: 1 }));
    const gpu = makeGpuEnv('minatar/seaquest', { numEnvs: 1 });
    expect(() => gpu.setState(cpu.getState())).toThrow(`minatar/seaquest (GPU): the state holds ${SEAQUEST_GPU_CAPS.fish + 1} fish; the GPU version holds at most ${SEAQUEST_GPU_CAPS.fish} (SEAQUEST_GPU_CAPS)`);
    gpu.dispose();
  });
});
