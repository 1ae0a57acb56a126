/**
 * GPU-resident vs CPU environments: CartPole steps per second with a uniformly random policy,
 * the CPU env (rl/envs/cartpole.ts in VecEnv, actions from a Philox stream) against the GPU env
 * (rl/envs/gpu/cartpole.ts, actions drawn on the GPU, no readback inside the rollout, one sync at
 * its end), alternating the two, `--reps` times each, median reported, at several batch sizes.
 * Not a test: `npx tsx bench/gpu_envs.ts [--reps 3] [--steps 200] [--envs 64,1024,16384] [--json FILE]`.
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import * as E from '../engine/index.ts';
import { makeEnv, Rng } from '../rl/envs/index.ts';
import { GpuCartPole } from '../rl/envs/gpu/cartpole.ts';

const prog = new Command()
  .option('--reps <n>', 'timed rollouts per path and batch size', '3')
  .option('--steps <n>', 'env steps per rollout (per env)', '200')
  .option('--envs <list>', 'batch sizes', '64,1024,16384')
  .option('--json <file>', 'also write the rows as JSON')
  .parse();
const o = prog.opts();
const reps = Number(o.reps), T = Number(o.steps);
const sizes = String(o.envs).split(',').map(Number);
for (const [k, v] of [['--reps', reps], ['--steps', T], ...sizes.map((s) => ['--envs', s] as const)] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
}

function cpuRollout(n: number): number {
  const env = makeEnv('cartpole', { numEnvs: n, seed: 1 });
  env.reset();
  const rng = new Rng(2, 0);
  const a = new Int32Array(n);
  const t0 = performance.now();
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < n; i++) a[i] = rng.int(2);
    env.step(a);
  }
  return performance.now() - t0;
}

async function gpuRollout(n: number): Promise<number> {
  const env = new GpuCartPole({ numEnvs: n, seed: 1 });
  E.dispose(env.reset());
  await E.sync();
  const t0 = performance.now();
  for (let t = 0; t < T; t++) {
    const a = E.rand([n]);
    const r = env.step(a);
    E.dispose([a, r.obs, r.rewards, r.terminated, r.truncated, r.finalObs]);
    // Long loops must let the driver drain now and then (docs/engine.md § Execution).
    if (t % 100 === 99) await E.sync();
  }
  await env.drainEpisodes();
  const ms = performance.now() - t0;
  env.dispose();
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await E.init();
const info = E.runtime().info.adapterInfo;
const adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
const rows: Array<{ env: string; numEnvs: number; cpuStepsPerSec: number; gpuStepsPerSec: number; ratio: number }> = [];
console.log(`CartPole random-policy rollouts of ${T} steps, ${reps} alternating reps; adapter ${adapter}; host ${os.cpus()[0]?.model} × ${os.cpus().length}; load ${os.loadavg()[0].toFixed(2)}`);
await gpuRollout(64); // compile the kernels outside the timing
for (const n of sizes) {
  const cpu: number[] = [], gpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    cpu.push(cpuRollout(n));
    gpu.push(await gpuRollout(n));
  }
  const c = (n * T) / (median(cpu) / 1000), g = (n * T) / (median(gpu) / 1000);
  rows.push({ env: 'cartpole', numEnvs: n, cpuStepsPerSec: c, gpuStepsPerSec: g, ratio: g / c });
  console.log(`cartpole ×${String(n).padStart(6)}: CPU ${(c / 1e6).toFixed(3)} M steps/s, GPU ${(g / 1e6).toFixed(3)} M steps/s, GPU/CPU ${(g / c).toFixed(2)}×`);
}
if (o.json) {
  fs.writeFileSync(o.json, JSON.stringify({ adapter, host: `${os.cpus()[0]?.model} × ${os.cpus().length}`, load: os.loadavg()[0], steps: T, reps, rows }, null, 2) + '\n');
}
E.destroy();
