/**
 * Environment throughput: env steps per second (summed over the batch) with a uniformly random
 * policy, for every env at 1, 64 and 1024 envs. Not a test: run `npx tsx bench/envs.ts [filter]`.
 * Action sampling is included (a Philox stream, as a real policy's sampling would be);
 * MinAtar envs use the paper preset (sticky actions on, all 6 actions).
 */
import { pathToFileURL } from 'node:url';
import { ENV_IDS, makeEnv, Rng } from '../rl/envs/index.ts';

export interface EnvBenchRow {
  env: string;
  numEnvs: number;
  stepsPerSec: number;
}

export const BENCH_BATCH_SIZES = [1, 64, 1024] as const;

/** Steps/s of one env at one batch size: warm up, then time ≥ `minMs` of stepping. */
export function benchOne(id: string, numEnvs: number, minMs = 400): number {
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
  return (batches * numEnvs) / (elapsed / 1000);
}

/**
 * Every env (ids containing `filter`, if given) at 1, 64 and 1024 envs; each figure is the best
 * of `repeats` timings, which filters out interference from other processes on a shared machine.
 */
export async function benchEnvs(filter?: string, repeats = 3): Promise<EnvBenchRow[]> {
  const rows: EnvBenchRow[] = [];
  for (const id of ENV_IDS) {
    if (filter && !id.includes(filter)) continue;
    for (const n of BENCH_BATCH_SIZES) {
      let best = 0;
      for (let k = 0; k < repeats; k++) {
        best = Math.max(best, benchOne(id, n));
        await new Promise((r) => setImmediate(r));
      }
      rows.push({ env: id, numEnvs: n, stepsPerSec: best });
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
  const rows = await benchEnvs(process.argv[2]);
  console.log('env steps per second (random policy, summed over the batch, best of 3)\n');
  console.log(formatEnvBench(rows));
}
