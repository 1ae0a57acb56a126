// CPU-side timings with benchmark.js (bench/cpu-time.ts), where its statistics fit: many short,
// repeatable calls that need no GPU wait.
//
// Cases: replay insertion and sampling (rl/replay.ts), and the harness's CPU work per vector
// step: categorical action sampling from logits, frame stacking, and GAE over a rollout
// (rl/harness). Env stepping is timed the same way by bench/envs.ts.
//
//   npx tsx bench/cpu.ts [filter words]        (npm run bench -- cpu adds these rows to the report)

import { pathToFileURL } from 'node:url';
import { Rng } from '../engine/nn/rng.ts';
import { FrameStack } from '../rl/harness/envs.ts';
import { gae } from '../rl/harness/gae.ts';
import { sampleCategorical } from '../rl/harness/policy.ts';
import { ReplayBuffer } from '../rl/replay.ts';
import type { Row } from './common.ts';
import { cpuRow, timeCpu } from './cpu-time.ts';

export { cpuRow, timeCpu, type CpuTiming } from './cpu-time.ts';

function matches(filter: string | undefined, id: string): boolean {
  if (!filter) return true;
  const hay = `${id} cpu`.toLowerCase();
  return filter.toLowerCase().split(/[\s,]+/).filter(Boolean).some((w) => hay.includes(w));
}

/** Random 0/1 frames (MinAtar-like) for `rows` envs of `size` cells. */
function binaryFrames(rows: number, size: number, rng: Rng): Float32Array {
  const f = new Float32Array(rows * size);
  for (let i = 0; i < f.length; i++) f[i] = rng.uniform() < 0.1 ? 1 : 0;
  return f;
}

export async function benchCpu(filter?: string): Promise<Row[]> {
  const rows: Row[] = [];
  const rng = new Rng(1);

  // ---- replay (rl/replay.ts): a Breakout-sized buffer (400 cells, bit-packed), full
  const obsSize = 400;
  const capacity = 100_000;
  if (matches(filter, 'replay')) {
    const rb = new ReplayBuffer({ capacity, obsSize });
    const n = 64;
    const obs = binaryFrames(n, obsSize, rng);
    const next = binaryFrames(n, obsSize, rng);
    const acts = new Int32Array(n).map((_, i) => i % 3);
    const rew = new Float32Array(n);
    const term = new Uint8Array(n);
    for (let k = 0; k < capacity / n + 1; k++) rb.addBatch(n, obs, acts, rew, next, term);
    const add16 = timeCpu('replay addBatch', () => rb.addBatch(16, obs, acts, rew, next, term));
    rows.push(cpuRow('replay addBatch 16 transitions (400 cells, bits)', add16, 'one vector step of 16 envs into a full 100k buffer', { transitionsPerSec: +(16 * add16.hz).toPrecision(4) }));
    const r = new Rng(2);
    for (const batch of [32, 256]) {
      const t = timeCpu(`replay sample ${batch}`, () => rb.sample(batch, r));
      rows.push(cpuRow(`replay sample ${batch} of 100k (400 cells, bits)`, t, 'uniform indices, observations decoded to float32', { transitionsPerSec: +(batch * t.hz).toPrecision(4) }));
    }
  }

  // ---- the harness's CPU work per vector step (rl/harness): sample actions, push frames
  for (const [N, A, K] of [[16, 3, 2], [64, 6, 4]] as const) {
    const id = `harness step CPU work ${N} envs (${A} actions, frame stack ${K})`;
    if (!matches(filter, `${id} harness`)) continue;
    const logits = new Float32Array(N * A).map(() => rng.normal());
    const actions = new Int32Array(N);
    const logp = new Float32Array(N);
    const frames = binaryFrames(N, obsSize, rng);
    const stack = new FrameStack(N, obsSize, K);
    stack.reset(frames);
    const r = new Rng(3);
    let t = 0;
    const step = () => {
      sampleCategorical(logits, N, A, r, false, actions, logp);
      for (let i = 0; i < N; i++) stack.push(i, frames, i, ((t + i) & 63) === 0);
      t++;
    };
    rows.push(cpuRow(id, timeCpu(id, step), 'categorical sampling from logits + frame-stack pushes, per vector step (env step and GPU forward excluded)'));
  }
  for (const [T, N] of [[64, 16], [256, 8]] as const) {
    const id = `harness GAE ${T}×${N} rollout`;
    if (!matches(filter, `${id} harness gae`)) continue;
    const rew = new Float32Array(T * N).map(() => rng.normal());
    const val = new Float32Array(T * N).map(() => rng.normal());
    const done = new Float32Array(T * N).map(() => (rng.uniform() < 0.02 ? 1 : 0));
    const last = new Float32Array(N).map(() => rng.normal());
    rows.push(cpuRow(id, timeCpu(id, () => gae(rew, val, done, last, T, N, 0.99, 0.95)), 'once per rollout'));
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const filter = process.argv.slice(2).join(' ') || undefined;
  const rows = await benchCpu(filter);
  console.log('| case | µs per call (mean) | ± (95 %) | calls/s | samples |\n|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = r.metrics!;
    console.log(`| ${r.id} | ${((1000 / m.callsPerSec!) * 1000).toFixed(2)} | ${m.rmePct!.toFixed(1)} % | ${m.callsPerSec} | ${m.samples} |`);
  }
}
