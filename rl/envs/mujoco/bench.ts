/**
 * What the env layer costs over bare MuJoCo: env steps/s of each task (VecEnv, random actions
 * in [−1, 1]) beside the same number of bare mj_step calls (frameSkip per env step, ctrl set,
 * nothing read back) on one MjData of the same model, measured in alternating rounds in one
 * process so a loaded machine slows both alike, and also per CPU second of this process (which
 * other processes' load distorts far less than wall time). Not a test.
 *
 *   npx tsx rl/envs/mujoco/bench.ts [numEnvs=16] [rounds=5] [ms per timing=300]
 */
import { pathToFileURL } from 'node:url';
import { makeEnvAsync, Rng } from '../index.ts';
import { disposeMujocoEnv, MUJOCO_TASKS, type MujocoCore, type MujocoTaskName } from './index.ts';

export interface RawVsEnvRow {
  task: MujocoTaskName;
  numEnvs: number;
  /** Env steps/s summed over the batch (best round, wall clock). */
  envStepsPerSec: number;
  /** Bare MuJoCo, counted in env steps (frameSkip mj_step calls each), best round, wall clock. */
  rawStepsPerSec: number;
  /** The same two per CPU second of this process (best round). */
  envStepsPerCpuSec: number;
  rawStepsPerCpuSec: number;
}

/** Steps per wall second over ≥ `ms` ms of `body` (which returns the steps it took). */
function time(ms: number, body: () => number): number {
  return timeBoth(ms, body).wall;
}

/**
 * Steps per wall second and per CPU second of this process (user + system, all threads): on a
 * shared machine the wall rate falls with the other processes' load, the CPU rate much less.
 */
function timeBoth(ms: number, body: () => number): { wall: number; cpu: number } {
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let dt = 0;
  while (dt < ms) {
    n += body();
    dt = performance.now() - t0;
  }
  const c = process.cpuUsage(c0);
  return { wall: n / (dt / 1000), cpu: n / ((c.user + c.system) / 1e6) };
}

/**
 * Step Hopper and Ant until their speed stops rising (at most `maxMs`): V8 runs WebAssembly on
 * baseline code first and swaps in optimised code for hot functions in the background, which
 * on a loaded 2-core machine took ~6 s and multiplied Hopper's steps/s by ~10. Benchmarks call
 * this before timing MuJoCo envs. Returns the milliseconds spent.
 */
export async function warmUpMujoco(maxMs = 20000, windowMs = 250): Promise<number> {
  const envs = [await makeEnvAsync('mujoco/hopper', { numEnvs: 4, seed: 0 }), await makeEnvAsync('mujoco/ant', { numEnvs: 4, seed: 0 })];
  const rng = new Rng(0, 1);
  const t0 = performance.now();
  let best = 0;
  let flat = 0;
  for (const e of envs) e.reset();
  while (performance.now() - t0 < maxMs && flat < 3) {
    const rate = time(windowMs, () => {
      for (const e of envs) e.step(Float32Array.from({ length: 4 * e.actSize }, () => rng.uniformRange(-1, 1)));
      return 1;
    });
    if (rate > 1.1 * best) {
      best = rate;
      flat = 0;
    } else flat++;
  }
  for (const e of envs) disposeMujocoEnv(e);
  return performance.now() - t0;
}

export async function benchRawVsEnv(numEnvs = 16, rounds = 5, ms = 300): Promise<RawVsEnvRow[]> {
  const rows: RawVsEnvRow[] = [];
  await warmUpMujoco();
  for (const task of MUJOCO_TASKS) {
    const env = await makeEnvAsync(`mujoco/${task}`, { numEnvs, seed: 1 });
    const core = env.envs[0] as MujocoCore;
    const { mj, model } = core;
    const raw = new mj.MjData(model);
    const skip = core.task.frameSkip;
    const rng = new Rng(3, 0);
    const acts = new Float32Array(numEnvs * env.actSize);
    env.reset();
    // Warm up (WebAssembly tiers up from baseline to optimised code while it runs).
    time(ms, () => {
      env.step(acts);
      for (let f = 0; f < skip; f++) mj.mj_step(model, raw);
      return 1;
    });
    const best = { env: 0, raw: 0, envCpu: 0, rawCpu: 0 };
    for (let r = 0; r < rounds; r++) {
      const e = timeBoth(ms, () => {
        for (let i = 0; i < acts.length; i++) acts[i] = rng.uniformRange(-1, 1);
        env.step(acts);
        return numEnvs;
      });
      const b = timeBoth(ms, () => {
        const ctrl = raw.ctrl as Float64Array;
        for (let k = 0; k < env.actSize; k++) ctrl[k] = rng.uniformRange(-1, 1);
        for (let f = 0; f < skip; f++) mj.mj_step(model, raw);
        return 1;
      });
      best.env = Math.max(best.env, e.wall);
      best.envCpu = Math.max(best.envCpu, e.cpu);
      best.raw = Math.max(best.raw, b.wall);
      best.rawCpu = Math.max(best.rawCpu, b.cpu);
    }
    raw.delete();
    disposeMujocoEnv(env);
    rows.push({ task, numEnvs, envStepsPerSec: best.env, rawStepsPerSec: best.raw, envStepsPerCpuSec: best.envCpu, rawStepsPerCpuSec: best.rawCpu });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [n, rounds, ms] = process.argv.slice(2).map(Number);
  const rows = await benchRawVsEnv(n || 16, rounds || 5, ms || 300);
  const k = (x: number) => (x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0));
  console.log(`| task | env steps/s (${rows[0]!.numEnvs} envs) | bare, env steps/s | env / bare | env steps per CPU s | bare, per CPU s | env / bare (CPU) |`);
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.task} | ${k(r.envStepsPerSec)} | ${k(r.rawStepsPerSec)} | ${(r.envStepsPerSec / r.rawStepsPerSec).toFixed(2)} | ` +
        `${k(r.envStepsPerCpuSec)} | ${k(r.rawStepsPerCpuSec)} | ${(r.envStepsPerCpuSec / r.rawStepsPerCpuSec).toFixed(2)} |`,
    );
  }
}
