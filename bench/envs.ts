/**
 * Environment throughput: env steps per second (summed over the batch) with a uniformly random
 * policy, for every env at 1, 64 and 1024 envs. Not a test: run `npx tsx bench/envs.ts [filter]`.
 * Action sampling is included (a Philox stream, as a real policy's sampling would be);
 * MinAtar envs use the paper preset (sticky actions on, all 6 actions).
 */
import { pathToFileURL } from 'node:url';
import { ENV_IDS, makeEnv, preloadEnv, Rng } from '../rl/envs/index.ts';
import { disposeMujocoEnv } from '../rl/envs/mujoco/index.ts';
import type { Row } from './common.ts';

/**
 * One measurement: `env`, `numEnvs`, `stepsPerSec` (best of the repeats), plus the fields of
 * bench/common.ts's Row so bench/run.ts can put it in its table (group 'envs'; `wall` is the
 * time of one batched step).
 */
export interface EnvBenchRow extends Row {
  env: string;
  numEnvs: number;
  stepsPerSec: number;
}

export const BENCH_BATCH_SIZES = [1, 64, 1024] as const;

/** One timing of one env at one batch size: warm up, then time ≥ `minMs` of stepping. */
export function benchOne(id: string, numEnvs: number, minMs = 400): { stepsPerSec: number; msPerBatch: number; batches: number } {
  const env = makeEnv(id, { numEnvs, seed: 1 });
  env.reset();
  const sp = env.actionSpace;
  const rng = new Rng(2, 0);
  const actions = sp.kind === 'discrete' ? new Int32Array(numEnvs) : new Float32Array(numEnvs * env.actSize);
  const fill = () => {
    if (sp.kind === 'discrete') for (let i = 0; i < actions.length; i++) actions[i] = rng.int(sp.n);
    else for (let i = 0; i < actions.length; i++) actions[i] = rng.uniformRange(sp.low[0]!, sp.high[0]!);
  };
  const warm = Math.max(5, Math.ceil(2000 / numEnvs));
  for (let t = 0; t < warm; t++) {
    fill();
    env.step(actions);
  }
  let batches = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (let k = 0; k < Math.max(1, Math.ceil(256 / numEnvs)); k++) {
      fill();
      env.step(actions);
      batches++;
    }
    elapsed = performance.now() - t0;
  }
  disposeMujocoEnv(env); // MuJoCo envs hold WebAssembly memory (a no-op for the others)
  return { stepsPerSec: (batches * numEnvs) / (elapsed / 1000), msPerBatch: elapsed / batches, batches };
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

/**
 * Every env (filtered as bench/run.ts does: `breakout`, `minatar`, `envs`…) at 1, 64 and 1024 envs; each figure is the best
 * of `repeats` timings, which filters out interference from other processes on a shared machine.
 */
export async function benchEnvs(filter?: string, repeats = 3): Promise<EnvBenchRow[]> {
  const rows: EnvBenchRow[] = [];
  for (const id of ENV_IDS) {
    if (!matches(filter, id)) continue;
    await preloadEnv(id); // mujoco/*: MuJoCo's WebAssembly module
    for (const n of BENCH_BATCH_SIZES) {
      const runs: ReturnType<typeof benchOne>[] = [];
      for (let k = 0; k < repeats; k++) {
        runs.push(benchOne(id, n));
        await new Promise((r) => setImmediate(r));
      }
      const ms = runs.map((r) => r.msPerBatch).sort((a, b) => a - b);
      const best = Math.max(...runs.map((r) => r.stepsPerSec));
      rows.push({
        env: id,
        numEnvs: n,
        stepsPerSec: best,
        id: `env ${id} x${n}`,
        group: 'envs',
        engine: 'ours',
        status: 'ok',
        wall: { median: ms[Math.floor(ms.length / 2)]!, min: ms[0]!, max: ms[ms.length - 1]!, repeats, iters: runs[0]!.batches },
        metrics: { stepsPerSec: best },
        note: 'CPU, random policy, steps/s summed over the batch (best of repeats)',
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
    const cells = sizes.map((n) => fmt(rows.find((r) => r.env === id && r.numEnvs === n)?.stepsPerSec ?? NaN));
    lines.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchEnvs(process.argv.slice(2).join(' ') || undefined);
  console.log('env steps per second (random policy, summed over the batch, best of 3)\n');
  console.log(formatEnvBench(rows));
}
