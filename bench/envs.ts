/**
 * Environment throughput: env steps per second (summed over the batch) with a uniformly random
 * policy, for every env at 1, 64 and 1024 envs, timed with benchmark.js (bench/cpu-time.ts: mean
 * of its samples and the 95 % margin of error). Not a test: run `npx tsx bench/envs.ts [filter]`.
 * Action sampling is included (a Philox stream, as a real policy's sampling would be);
 * MinAtar envs use the paper preset (sticky actions on, all 6 actions).
 */
import { pathToFileURL } from 'node:url';
import { ENV_IDS, makeEnv, preloadEnv, Rng } from '../rl/envs/index.ts';
import { disposeMujocoEnv } from '../rl/envs/mujoco/index.ts';
import { warmUpMujoco } from '../rl/envs/mujoco/bench.ts';
import type { Row } from './common.ts';
import { timeCpu, type CpuTiming } from './cpu-time.ts';

/**
 * One measurement: `env`, `numEnvs`, `stepsPerSec` (numEnvs × benchmark.js's calls per second),
 * plus the fields of bench/common.ts's Row so bench/run.ts can put it in its table (group
 * 'envs'; `wall` is the time of one batched step).
 */
export interface EnvBenchRow extends Row {
  env: string;
  numEnvs: number;
  stepsPerSec: number;
}

export const BENCH_BATCH_SIZES = [1, 64, 1024] as const;

/** One env at one batch size: one batched step (random actions, then `step`) timed by benchmark.js. */
export function benchOne(id: string, numEnvs: number, maxTime = 1.5): { stepsPerSec: number; timing: CpuTiming } {
  const env = makeEnv(id, { numEnvs, seed: 1 });
  try {
    env.reset();
    const sp = env.actionSpace;
    const rng = new Rng(2, 0);
    const actions = sp.kind === 'discrete' ? new Int32Array(numEnvs) : new Float32Array(numEnvs * env.actSize);
    const step = () => {
      if (sp.kind === 'discrete') for (let i = 0; i < actions.length; i++) actions[i] = rng.int(sp.n);
      else for (let i = 0; i < actions.length; i++) actions[i] = rng.uniformRange(sp.low[0]!, sp.high[0]!);
      env.step(actions);
    };
    const timing = timeCpu(`env ${id} x${numEnvs}`, step, { minTime: 0.05, maxTime });
    return { stepsPerSec: numEnvs * timing.hz, timing };
  } finally {
    disposeMujocoEnv(env); // MuJoCo envs hold WebAssembly memory (a no-op for the others)
  }
}

/**
 * bench/run.ts's filter rule (kept here so this CPU bench does not load the GPU engine): words
 * separated by spaces or commas; a case runs when any word occurs in its id or its group 'envs'.
 */
function matches(filter: string | undefined, id: string): boolean {
  if (!filter) return true;
  const hay = `${id} envs`.toLowerCase();
  return filter.toLowerCase().split(/[\s,]+/).filter(Boolean).some((w) => hay.includes(w));
}

/** Every env (filtered as bench/run.ts does: `breakout`, `minatar`, `envs`…) at 1, 64 and 1024 envs. */
export async function benchEnvs(filter?: string): Promise<EnvBenchRow[]> {
  const rows: EnvBenchRow[] = [];
  let mujocoWarm = false;
  for (const id of ENV_IDS) {
    if (!matches(filter, id)) continue;
    await preloadEnv(id); // mujoco/*: MuJoCo's WebAssembly module
    if (id.startsWith('mujoco/') && !mujocoWarm) mujocoWarm = (await warmUpMujoco()) > 0; // until WebAssembly runs optimised code
    for (const n of BENCH_BATCH_SIZES) {
      const { stepsPerSec, timing: t } = benchOne(id, n);
      await new Promise((r) => setImmediate(r));
      rows.push({
        env: id,
        numEnvs: n,
        stepsPerSec,
        id: `env ${id} x${n}`,
        group: 'envs',
        engine: 'ours',
        status: 'ok',
        wall: t.wall,
        metrics: { stepsPerSec: +stepsPerSec.toPrecision(4), rmePct: +t.rmePct.toFixed(2), samples: t.samples },
        note: `CPU, random policy, steps/s summed over the batch; benchmark.js: mean ± ${t.rmePct.toFixed(1)} % (95 %) over ${t.samples} samples`,
      });
    }
  }
  return rows;
}

function fmt(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);
}

/** A markdown table: one row per env, one column per batch size. */
export function formatEnvBench(rows: EnvBenchRow[]): string {
  const ids = [...new Set(rows.map((r) => r.env))];
  const sizes = [...new Set(rows.map((r) => r.numEnvs))];
  const lines = [
    `| env | ${sizes.map((n) => `${n} env${n > 1 ? 's' : ''}`).join(' | ')} |`,
    `|---|${sizes.map(() => '---:').join('|')}|`,
  ];
  for (const id of ids) {
    const cells = sizes.map((n) => {
      const r = rows.find((x) => x.env === id && x.numEnvs === n);
      return r ? `${fmt(r.stepsPerSec)} ± ${r.metrics?.rmePct?.toFixed(0) ?? '?'} %` : '';
    });
    lines.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchEnvs(process.argv.slice(2).join(' ') || undefined);
  console.log('env steps per second (random policy, summed over the batch; benchmark.js mean, ± its 95 % margin of error)\n');
  console.log(formatEnvBench(rows));
}
