// The MuJoCo tasks (rl/envs/mujoco) against Gymnasium v5's rules written out again here, state
// by state: rewards and their components recomputed from qpos/qvel/xpos/cfrc_ext before and
// after each step, observations from the state, health rules at their boundaries, reset noise,
// action clamping, exact checkpoint resume, and the errors for bad models and NaN actions.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_IDS, makeEnv, makeEnvAsync, preloadEnv, Rng, type VecEnv, type EnvCore } from '../../rl/envs/index.ts';
import { MujocoCore, MUJOCO_TASKS, disposeMujocoEnv, type MujocoTaskName } from '../../rl/envs/mujoco/index.ts';

type Core = MujocoCore;
const f64 = (x: unknown) => Float64Array.from(x as ArrayLike<number>);

/** The v5 numbers, typed in again from Gymnasium's <task>_v5.py defaults (not imported from the env). */
const REF = {
  hopper: { frameSkip: 4, timestep: 0.002, obs: 11, act: 3, cap: 1000, ctrl: 1e-3 },
  walker2d: { frameSkip: 4, timestep: 0.002, obs: 17, act: 6, cap: 1000, ctrl: 1e-3 },
  halfcheetah: { frameSkip: 5, timestep: 0.01, obs: 17, act: 6, cap: 1000, ctrl: 0.1 },
  swimmer: { frameSkip: 4, timestep: 0.01, obs: 8, act: 2, cap: 1000, ctrl: 1e-4 },
  reacher: { frameSkip: 2, timestep: 0.01, obs: 10, act: 2, cap: 50, ctrl: 1 },
  ant: { frameSkip: 5, timestep: 0.01, obs: 105, act: 8, cap: 1000, ctrl: 0.5 },
} as const;

function refHealthy(task: MujocoTaskName, q: Float64Array, v: Float64Array): boolean {
  if (task === 'hopper') {
    const rest = [...q.slice(2), ...v];
    return q[1]! > 0.7 && q[2]! > -0.2 && q[2]! < 0.2 && rest.every((x) => x > -100 && x < 100);
  }
  if (task === 'walker2d') return q[1]! > 0.8 && q[1]! < 2 && q[2]! > -1 && q[2]! < 1;
  if (task === 'ant') return [...q, ...v].every(Number.isFinite) && q[2]! >= 0.2 && q[2]! <= 1;
  return true;
}

const clip = (x: number, c: number) => Math.min(c, Math.max(-c, x));

/** Observation by the v5 definition, from the state after the step. */
function refObs(task: MujocoTaskName, c: Core): number[] {
  const q = f64(c.data.qpos);
  const v = f64(c.data.qvel);
  const xpos = f64(c.data.xpos);
  const body = (name: string) => c.mj.mj_name2id(c.model, c.mj.mjtObj.mjOBJ_BODY.value, name);
  switch (task) {
    case 'hopper':
    case 'walker2d':
      return [...q.slice(1), ...Array.from(v, (x) => clip(x, 10))];
    case 'halfcheetah':
      return [...q.slice(1), ...v];
    case 'swimmer':
      return [...q.slice(2), ...v];
    case 'reacher': {
      const ft = body('fingertip');
      const tg = body('target');
      return [Math.cos(q[0]!), Math.cos(q[1]!), Math.sin(q[0]!), Math.sin(q[1]!), q[2]!, q[3]!, v[0]!, v[1]!, xpos[3 * ft]! - xpos[3 * tg]!, xpos[3 * ft + 1]! - xpos[3 * tg + 1]!];
    }
    case 'ant':
      return [...q.slice(2), ...v, ...Array.from(f64(c.data.cfrc_ext).slice(6), (x) => clip(x, 1))];
  }
}

function expectFloat32Obs(got: ArrayLike<number>, want: number[]) {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    if (got[k] !== Math.fround(want[k]!)) throw new Error(`obs[${k}]: ${got[k]} vs ${want[k]}`);
  }
}

describe('MuJoCo envs: loading and registration', () => {
  it('makeEnv before the module is loaded says how to load it; ids are listed for unknown ids', async () => {
    expect(() => makeEnv('mujoco/hopper')).toThrow(/preloadEnv\('mujoco\/hopper'\).*makeEnvAsync/);
    for (const t of MUJOCO_TASKS) expect(ENV_IDS).toContain(`mujoco/${t}`);
    expect(() => makeEnv('mujoco/humanoid')).toThrow(/valid ids: .*mujoco\/hopper.*mujoco\/ant/);
    await preloadEnv('mujoco/hopper');
    expect(() => makeEnv('mujoco/hopper', { preset: 'paper' } as never)).toThrow(/unknown option 'preset'.*valid options: numEnvs, seed, maxEpisodeSteps, modelFile/);
  });

  it('spaces, dt and caps are the v5 ones', async () => {
    for (const t of MUJOCO_TASKS) {
      const env = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 1 });
      const r = REF[t];
      expect(env.obsSize).toBe(r.obs);
      expect(env.actSize).toBe(r.act);
      expect(env.maxEpisodeSteps).toBe(r.cap);
      expect(env.actionSpace).toEqual({ kind: 'box', shape: [r.act], low: Array(r.act).fill(-1), high: Array(r.act).fill(1) });
      const c = env.envs[0] as Core;
      expect(c.model.opt.timestep).toBe(r.timestep);
      expect(c.dt).toBeCloseTo(r.frameSkip * r.timestep, 15);
      disposeMujocoEnv(env);
    }
  });

  it('models: body masses equal the closed-form volumes of their geoms × density', async () => {
    // capsule of radius r and half-length h: π r² (2h) + 4/3 π r³; sphere: 4/3 π r³.
    const cap = (r: number, h: number, rho = 1000) => rho * (Math.PI * r * r * 2 * h + (4 / 3) * Math.PI * r ** 3);
    const sph = (r: number, rho: number) => rho * (4 / 3) * Math.PI * r ** 3;
    const masses = async (t: MujocoTaskName) => {
      const env = await makeEnvAsync(`mujoco/${t}`);
      const m = Array.from((env.envs[0] as Core).model.body_mass as Float64Array);
      disposeMujocoEnv(env);
      return m;
    };
    // Hopper: world, torso (0.05, 0.2), thigh (0.05, 0.225), leg (0.04, 0.25), foot (0.06, 0.195).
    const hop = await masses('hopper');
    [0, cap(0.05, 0.2), cap(0.05, 0.225), cap(0.04, 0.25), cap(0.06, 0.195)].forEach((w, i) => expect(hop[i]).toBeCloseTo(w, 9));
    // Walker2d: the hopper's upper parts, feet (0.06, 0.1), both legs.
    const wal = await masses('walker2d');
    const leg = [cap(0.05, 0.225), cap(0.04, 0.25), cap(0.06, 0.1)];
    [0, cap(0.05, 0.2), ...leg, ...leg].forEach((w, i) => expect(wal[i]).toBeCloseTo(w, 9));
    // Swimmer: three capsules of radius 0.1 and length 1.
    const sw = await masses('swimmer');
    [0, cap(0.1, 0.5), cap(0.1, 0.5), cap(0.1, 0.5)].forEach((w, i) => expect(sw[i]).toBeCloseTo(w, 9));
    // Ant (density 5): torso sphere 0.25; per leg a 0.2·√2 stub, hip link, and a 0.4·√2 ankle link, radius 0.08.
    const ant = await masses('ant');
    const s2 = Math.SQRT2;
    const legA = [cap(0.08, 0.1 * s2, 5), cap(0.08, 0.1 * s2, 5), cap(0.08, 0.2 * s2, 5)];
    [0, sph(0.25, 5), ...legA, ...legA, ...legA, ...legA].forEach((w, i) => expect(ant[i]).toBeCloseTo(w, 9));
    // HalfCheetah: settotalmass 14.
    const hc = await masses('halfcheetah');
    expect(hc.reduce((a, b) => a + b, 0)).toBeCloseTo(14, 9);
  });
});

describe('MuJoCo envs: reset', () => {
  it('is a function of (seed, env index): same seed same obs, other seed other obs, batch size irrelevant', async () => {
    for (const t of MUJOCO_TASKS) {
      const a = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 3, seed: 7 });
      const b = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 1, seed: 7 });
      const oa = a.reset().slice();
      expect(Array.from(b.reset())).toEqual(Array.from(oa.subarray(0, a.obsSize)));
      expect(Array.from(a.reset(7))).toEqual(Array.from(oa));
      expect(Array.from(a.reset(8))).not.toEqual(Array.from(oa));
      expect(Array.from(oa.subarray(0, a.obsSize))).not.toEqual(Array.from(oa.subarray(a.obsSize, 2 * a.obsSize)));
      disposeMujocoEnv(a);
      disposeMujocoEnv(b);
    }
  });

  it('noise: uniform ±0.005 (Hopper, Walker2d), ±0.1 (Swimmer); HalfCheetah/Ant qvel 0.1·N(0, 1); Reacher goal in the 0.2 disc', async () => {
    const n = 64;
    const spread = async (t: MujocoTaskName) => {
      const env = await makeEnvAsync(`mujoco/${t}`, { numEnvs: n, seed: 3 });
      env.reset();
      const dq: number[] = [];
      const dv: number[] = [];
      for (const c of env.envs as Core[]) {
        const q0 = f64(c.model.qpos0);
        f64(c.data.qpos).forEach((x, i) => dq.push(x - q0[i]!));
        dv.push(...f64(c.data.qvel));
      }
      return { env, dq, dv };
    };
    for (const [t, s] of [['hopper', 5e-3], ['walker2d', 5e-3], ['swimmer', 0.1]] as const) {
      const { env, dq, dv } = await spread(t);
      for (const x of [...dq, ...dv]) expect(Math.abs(x)).toBeLessThanOrEqual(s);
      expect(Math.max(...dq.map(Math.abs))).toBeGreaterThan(0.9 * s); // spans the interval
      disposeMujocoEnv(env);
    }
    for (const t of ['halfcheetah', 'ant'] as const) {
      const { env, dq, dv } = await spread(t);
      for (const x of dq) expect(Math.abs(x)).toBeLessThanOrEqual(0.1);
      const sd = Math.sqrt(dv.reduce((a, x) => a + x * x, 0) / dv.length);
      expect(sd).toBeGreaterThan(0.085); // 0.1 · N(0,1): n·nv ≥ 576 draws, sd within ±15 %
      expect(sd).toBeLessThan(0.115);
      expect(Math.max(...dv.map(Math.abs))).toBeGreaterThan(0.2); // not a ±0.1 uniform
      disposeMujocoEnv(env);
    }
    const env = await makeEnvAsync('mujoco/reacher', { numEnvs: n, seed: 3 });
    env.reset();
    for (const c of env.envs as Core[]) {
      const q = f64(c.data.qpos);
      const v = f64(c.data.qvel);
      expect(Math.hypot(q[2]!, q[3]!)).toBeLessThan(0.2);
      expect(Math.abs(q[0]!)).toBeLessThanOrEqual(0.1);
      expect(Math.abs(v[0]!)).toBeLessThanOrEqual(0.005);
      expect([v[2], v[3]]).toEqual([0, 0]);
    }
    disposeMujocoEnv(env);
  });
});

/**
 * Step cores directly (no autoreset, so the post-step state stays readable) with random actions
 * and check reward, components, termination and observation against the v5 definitions.
 */
async function checkRewards(t: MujocoTaskName, steps: number, seed: number) {
  const env = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 1, seed });
  const c = env.envs[0] as Core;
  const rng = new Rng(seed, 0);
  const pick = new Rng(seed + 100, 0);
  const nu = env.actSize;
  const r = REF[t];
  const torso = c.mj.mj_name2id(c.model, c.mj.mjtObj.mjOBJ_BODY.value, 'torso');
  const ft = c.mj.mj_name2id(c.model, c.mj.mjtObj.mjOBJ_BODY.value, 'fingertip');
  const tg = c.mj.mj_name2id(c.model, c.mj.mjtObj.mjOBJ_BODY.value, 'target');
  c.reset(rng);
  let terminations = 0;
  for (let s = 0; s < steps; s++) {
    const a = Array.from({ length: nu }, () => pick.uniformRange(-1, 1));
    const q0 = f64(c.data.qpos);
    const xy0 = f64(c.data.xpos).slice(3 * torso, 3 * torso + 2);
    const reward = c.step(a[0]!, rng, a, 0);
    const q1 = f64(c.data.qpos);
    const v1 = f64(c.data.qvel);
    const xpos = f64(c.data.xpos);
    const dt = r.frameSkip * r.timestep;
    const sq = a.reduce((acc, x) => acc + x * x, 0);
    const healthy = refHealthy(t, q1, v1);
    let want: Record<string, number>;
    if (t === 'hopper' || t === 'walker2d') {
      const fwd = (q1[0]! - q0[0]!) / dt;
      want = { reward_forward: fwd, reward_ctrl: -r.ctrl * sq, reward_survive: healthy ? 1 : 0 };
    } else if (t === 'halfcheetah' || t === 'swimmer') {
      want = { reward_forward: (q1[0]! - q0[0]!) / dt, reward_ctrl: -r.ctrl * sq };
    } else if (t === 'reacher') {
      const d = [0, 1, 2].map((k) => xpos[3 * ft + k]! - xpos[3 * tg + k]!);
      want = { reward_dist: -Math.hypot(...d), reward_ctrl: -sq };
    } else {
      // Ant: x velocity of the torso body's xpos; contact cost on all of cfrc_ext clipped to ±1.
      const cf = f64(c.data.cfrc_ext);
      const contact = 5e-4 * cf.reduce((acc, x) => acc + clip(x, 1) ** 2, 0);
      want = {
        reward_forward: (xpos[3 * torso]! - xy0[0]!) / dt,
        reward_ctrl: -0.5 * sq,
        reward_survive: healthy ? 1 : 0,
        reward_contact: -contact,
      };
    }
    const total = Object.values(want).reduce((x, y) => x + y, 0);
    for (const [k, w] of Object.entries(want)) expect(c.info[k as keyof typeof c.info], `${t} step ${s} ${k}`).toBeCloseTo(w, 9);
    expect(reward).toBeCloseTo(total, 9);
    expect(c.terminated).toBe(!healthy);
    const obs = new Float32Array(env.obsSize);
    c.writeObs(obs, 0);
    expectFloat32Obs(obs, refObs(t, c));
    if (c.terminated) {
      terminations++;
      c.reset(rng);
    }
  }
  disposeMujocoEnv(env);
  return terminations;
}

describe('MuJoCo envs: rewards, components, termination and observations, recomputed from the state', () => {
  for (const t of MUJOCO_TASKS) {
    it(`${t}`, async () => {
      const steps = t === 'reacher' ? 120 : 150;
      const terms = await checkRewards(t, steps, 5);
      // Random play ends Hopper/Walker2d/Ant episodes now and then: the unhealthy branch is exercised.
      if (t === 'hopper' || t === 'walker2d') expect(terms).toBeGreaterThan(0);
    });
  }
});

describe('MuJoCo envs: health rules at their boundaries', () => {
  const place = async (t: MujocoTaskName, set: (q: Float64Array, v: Float64Array) => void) => {
    const env = await makeEnvAsync(`mujoco/${t}`);
    const c = env.envs[0] as Core;
    c.reset(new Rng(1, 0));
    const q = c.data.qpos as Float64Array;
    const v = c.data.qvel as Float64Array;
    set(q, v);
    const h = c.healthy();
    disposeMujocoEnv(env);
    return h;
  };
  it('Hopper: z > 0.7, |angle| < 0.2 and |qpos[2:]|, |qvel| < 100, all strict', async () => {
    expect(await place('hopper', (q) => (q[1] = 0.7))).toBe(false);
    expect(await place('hopper', (q) => (q[1] = 0.7000001))).toBe(true);
    expect(await place('hopper', (q) => (q[2] = 0.2))).toBe(false);
    expect(await place('hopper', (q) => (q[2] = -0.1999999))).toBe(true);
    expect(await place('hopper', (_q, v) => (v[0] = 100))).toBe(false);
    expect(await place('hopper', (_q, v) => (v[5] = -99.9))).toBe(true);
    expect(await place('hopper', (q) => (q[0] = 1e6))).toBe(true); // x is not in the state range
  });
  it('Walker2d: 0.8 < z < 2, −1 < angle < 1', async () => {
    expect(await place('walker2d', (q) => (q[1] = 0.8))).toBe(false);
    expect(await place('walker2d', (q) => (q[1] = 1.9999))).toBe(true);
    expect(await place('walker2d', (q) => (q[1] = 2))).toBe(false);
    expect(await place('walker2d', (q) => (q[2] = -1))).toBe(false);
    expect(await place('walker2d', (q) => (q[2] = 0.9999))).toBe(true);
  });
  it('Ant: 0.2 ≤ z ≤ 1 inclusive, and every qpos/qvel finite', async () => {
    expect(await place('ant', (q) => (q[2] = 0.2))).toBe(true);
    expect(await place('ant', (q) => (q[2] = 1))).toBe(true);
    expect(await place('ant', (q) => (q[2] = 0.1999999))).toBe(false);
    expect(await place('ant', (q) => (q[2] = 1.0000001))).toBe(false);
    expect(await place('ant', (_q, v) => (v[7] = NaN))).toBe(false);
  });
  it('HalfCheetah, Swimmer, Reacher never terminate', async () => {
    expect(await place('halfcheetah', (q) => (q[2] = 3))).toBe(true);
    expect(await place('swimmer', (q) => (q[1] = -50))).toBe(true);
    expect(await place('reacher', (q) => (q[0] = 10))).toBe(true);
  });
  it('through VecEnv: an unhealthy Hopper step is terminated (not truncated), survive reward 0, and autoresets', async () => {
    const env = await makeEnvAsync('mujoco/hopper', { numEnvs: 2, seed: 2 });
    env.reset();
    const c = env.envs[1] as Core;
    (c.data.qpos as Float64Array)[2] = 0.5; // tilted beyond 0.2 rad; one step cannot right it
    const res = env.step(new Float32Array(6));
    expect([res.terminated[0], res.terminated[1], res.truncated[1]]).toEqual([0, 1, 0]);
    expect(c.info.reward_survive).toBe(0); // the terminal step's components survive the autoreset
    expect(c.info.reward_forward).not.toBe(0);
    expect(res.rewards[1]).toBeCloseTo(c.info.reward_forward + c.info.reward_ctrl, 5);
    expect(res.finalObs[11 + 1]).toBeGreaterThan(0.2); // angle in the final observation
    expect(Math.abs(res.obs[11 + 1]!)).toBeLessThanOrEqual(0.005 + 1e-6); // next episode's reset angle
    expect(env.completedEpisodes()).toEqual([{ envIndex: 1, return: res.rewards[1]!, length: 1, terminated: true }].map((e) => ({ ...e, return: expect.closeTo(e.return, 5) })));
    disposeMujocoEnv(env);
  });
});

describe('MuJoCo envs: actions', () => {
  it('are clamped to [−1, 1] by MuJoCo (same motion as the bound) while the control cost takes them as given (v5)', async () => {
    for (const t of ['hopper', 'ant'] as const) {
      const env = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 2, seed: 9 });
      env.reset();
      (env.envs[1] as Core).setState((env.envs[0] as Core).getState());
      const nu = env.actSize;
      const a = new Float32Array(2 * nu);
      for (let k = 0; k < nu; k++) {
        const big = k % 2 === 0 ? 3 : -5;
        a[k] = big;
        a[nu + k] = Math.sign(big);
      }
      env.step(a);
      const [c0, c1] = env.envs as Core[];
      expect(Array.from(c0!.data.qpos as Float64Array)).toEqual(Array.from(c1!.data.qpos as Float64Array));
      const sq0 = Array.from(a.subarray(0, nu)).reduce((s, x) => s + x * x, 0);
      const w = t === 'hopper' ? 1e-3 : 0.5;
      expect(c0!.info.reward_ctrl).toBeCloseTo(-w * sq0, 10);
      expect(c1!.info.reward_ctrl).toBeCloseTo(-w * nu, 10);
      disposeMujocoEnv(env);
    }
  });

  it('a NaN action names the env, component and step', async () => {
    const env = await makeEnvAsync('mujoco/walker2d', { numEnvs: 3, seed: 1 });
    env.reset();
    const a = new Float32Array(18);
    for (let s = 0; s < 4; s++) env.step(a);
    a[2 * 6 + 1] = NaN;
    expect(() => env.step(a)).toThrow(/mujoco\/walker2d: action NaN for env 2 \(component 1 of 6\) at step 5 of its episode/);
    disposeMujocoEnv(env);
  });
});

describe('MuJoCo envs: batches', () => {
  it('env 0 follows the same trajectory at batch size 1 and 3; a disposed batch refuses to step', async () => {
    for (const t of ['walker2d', 'reacher'] as const) {
      const run = async (n: number) => {
        const env = await makeEnvAsync(`mujoco/${t}`, { numEnvs: n, seed: 12 });
        const mine = new Rng(1, 0);
        const others = new Rng(2, 0);
        const trace: number[] = [...env.reset().subarray(0, env.obsSize)];
        for (let s = 0; s < 60; s++) {
          const a = Float32Array.from({ length: n * env.actSize }, (_, k) => (k < env.actSize ? mine : others).uniformRange(-1, 1));
          const r = env.step(a);
          trace.push(...r.obs.subarray(0, env.obsSize), r.rewards[0]!, r.done[0]!);
        }
        disposeMujocoEnv(env);
        expect(() => env.step(new Float32Array(n * env.actSize))).toThrow(/disposed/);
        return trace;
      };
      expect(await run(3)).toEqual(await run(1));
    }
  });
});

describe('MuJoCo envs: checkpoints', () => {
  it('getState → JSON → setState resumes exactly (obs, rewards, dones bit for bit)', async () => {
    for (const t of ['hopper', 'ant', 'reacher'] as const) {
      const a = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 2, seed: 4 });
      const b = await makeEnvAsync(`mujoco/${t}`, { numEnvs: 2, seed: 99 });
      const pick = new Rng(5, 0);
      const act = () => Float32Array.from({ length: 2 * a.actSize }, () => pick.uniformRange(-1, 1));
      a.reset();
      for (let s = 0; s < 40; s++) a.step(act());
      const saved = JSON.parse(JSON.stringify(a.getState()));
      const current = Array.from(a.getState().cores.map((c) => (c as { obs: number[] }).obs).flat(), Math.fround);
      expect(Array.from(b.setState(saved))).toEqual(current);
      for (let s = 0; s < 40; s++) {
        const x = act();
        const ra = a.step(x);
        const oa = ra.obs.slice();
        const rwa = ra.rewards.slice();
        const da = ra.done.slice();
        const rb = b.step(x);
        expect(Array.from(rb.obs)).toEqual(Array.from(oa));
        expect(Array.from(rb.rewards)).toEqual(Array.from(rwa));
        expect(Array.from(rb.done)).toEqual(Array.from(da));
      }
      disposeMujocoEnv(a);
      disposeMujocoEnv(b);
    }
  });

  it('a state for another task is refused', async () => {
    const h = await makeEnvAsync('mujoco/hopper');
    const w = await makeEnvAsync('mujoco/walker2d');
    h.reset();
    expect(() => (w.envs[0] as Core).setState((h.envs[0] as Core).getState())).toThrow(/mujoco\/walker2d: state is for task 'hopper'/);
    disposeMujocoEnv(h);
    disposeMujocoEnv(w);
  });
});

describe('MuJoCo envs: bad models', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mjbad-'));
  const file = (name: string, xml: string) => {
    const p = join(dir, name);
    writeFileSync(p, xml);
    return p;
  };
  it("an MJCF error gives MuJoCo's own message with the file", async () => {
    await preloadEnv('mujoco/hopper');
    const schema = file('schema.xml', '<mujoco>\n<worldbody>\n<bodyy/>\n</worldbody>\n</mujoco>');
    expect(() => makeEnv('mujoco/hopper', { modelFile: schema })).toThrow(/MuJoCo could not compile schema\.xml:\nXML Error: Schema violation: unrecognized element\nElement 'bodyy', line 3/);
    const neg = file('negative_mass.xml', '<mujoco><worldbody><body><joint/><geom size="0.1" mass="-1"/></body></worldbody></mujoco>');
    expect(() => makeEnv('mujoco/hopper', { modelFile: neg })).toThrow(/negative_mass\.xml:\nError: mass, inertia or density are negative/);
    const syntax = file('unclosed.xml', '<mujoco><worldbody><body></worldbody></mujoco>');
    expect(() => makeEnv('mujoco/hopper', { modelFile: syntax })).toThrow(/unclosed\.xml:\n.*XML parse error.*MISMATCHED_ELEMENT/s);
    expect(() => makeEnv('mujoco/hopper', { modelFile: join(dir, 'missing.xml') })).toThrow(/cannot read modelFile .*missing\.xml/);
  });
  it('a model that compiles but does not fit the task is refused with the counts', async () => {
    await preloadEnv('mujoco/hopper');
    const small = file('one_joint.xml', '<mujoco><worldbody><body name="torso"><joint/><geom size="0.1"/></body></worldbody></mujoco>');
    expect(() => makeEnv('mujoco/hopper', { modelFile: small })).toThrow(/model .*one_joint\.xml has nq = 1, the task needs 6/);
  });
  it("the built-in model loaded from a file behaves as the built-in one", async () => {
    const { MODEL_XML } = await import('../../rl/envs/mujoco/index.ts');
    const p = file('hopper_copy.xml', MODEL_XML.hopper());
    const a = await makeEnvAsync('mujoco/hopper', { seed: 3, modelFile: p });
    const b = await makeEnvAsync('mujoco/hopper', { seed: 3 });
    expect(Array.from(a.reset())).toEqual(Array.from(b.reset()));
    disposeMujocoEnv(a);
    disposeMujocoEnv(b);
  });
});

describe('MuJoCo envs: pictures', () => {
  it('SVG/PNG/text of the current state and of a final observation', async () => {
    for (const t of MUJOCO_TASKS) {
      const env = (await makeEnvAsync(`mujoco/${t}`, { numEnvs: 1, seed: 1 })) as VecEnv<EnvCore>;
      env.reset();
      const c = env.envs[0] as Core;
      const svg = env.renderSvg(0);
      // One round-capped line per capsule geom (planes excluded), per panel.
      const types = Array.from(c.model.geom_type as Int32Array);
      const capsules = types.filter((x) => x === 3 || x === 5).length;
      const panels = t === 'ant' ? 2 : 1;
      expect((svg.match(/stroke-linecap="round"/g) ?? []).length).toBe(capsules * panels);
      const png = env.renderPng(0, 200);
      expect(Array.from(png.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);
      expect(env.renderText(0)).toContain('#');
      const res = env.step(new Float32Array(env.actSize));
      expect(env.renderSvg(0, 'final')).toContain('final obs');
      void res;
      disposeMujocoEnv(env);
    }
  });
  it('side view: at reset the Hopper torso, thigh and leg are vertical strokes of their lengths and the foot a horizontal one', async () => {
    const env = await makeEnvAsync('mujoco/hopper', { seed: 1 });
    env.reset();
    const svg = env.renderSvg(0);
    const px = Number(/1 m = (\d+) px/.exec(svg)![1]);
    const lines = [...svg.matchAll(/<line x1="([-\d.]+)" y1="([-\d.]+)" x2="([-\d.]+)" y2="([-\d.]+)" [^>]*stroke-linecap="round"/g)].map((m) => m.slice(1, 5).map(Number));
    expect(lines.length).toBe(4); // torso, thigh, leg, foot in geom order (all at depth y = 0)
    // Lengths between cap centres: 0.4, 0.45, 0.5 (vertical) and 0.39 (horizontal); reset noise ≤ 0.005 rad.
    [0.4, 0.45, 0.5].forEach((len, i) => {
      const [x1, y1, x2, y2] = lines[i]!;
      expect(Math.abs(x1! - x2!)).toBeLessThan(0.01 * px);
      expect(Math.abs(Math.abs(y1! - y2!) / px - len)).toBeLessThan(0.01);
    });
    const [x1, y1, x2, y2] = lines[3]!;
    expect(Math.abs(y1! - y2!)).toBeLessThan(0.01 * px);
    expect(Math.abs(Math.abs(x1! - x2!) / px - 0.39)).toBeLessThan(0.01);
    disposeMujocoEnv(env);
  });
});
