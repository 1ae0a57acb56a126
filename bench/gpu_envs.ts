/**
 * GPU-resident vs CPU environments: steps per second with a uniformly random policy, the CPU env
 * (rl/envs in VecEnv, actions from a Philox stream) against its GPU twin (rl/envs/gpu, actions
 * drawn on the GPU, no readback inside the rollout, one sync at its end), alternating the two,
 * `--reps` times each, median reported, for each GPU env at several batch sizes. Not a test:
 * `npx tsx bench/gpu_envs.ts [--reps 3] [--steps 200] [--envs 64,1024,16384] [--only ID] [--json FILE]`.
 *
 * With `--dqn`: the DQN training loop (the harness's Trainer, rl/dqn.ts, minatar-small preset on
 * MinAtar Breakout: ε-greedy acting, env steps, replay inserts, one update of batch 64 per vector
 * step) with envDevice 'cpu' against envDevice 'gpu' (env, ε-greedy mix and replay on the GPU),
 * alternating, `--reps` each, timed after the replay warm-up: env steps per second.
 * `npx tsx bench/gpu_envs.ts --dqn [--no-train] [--reps 3] [--dqn-steps 2000] [--envs 8,64]` (--no-train:
 * acting, env steps and replay inserts only, the part the GPU env changes).
 */
import fs from 'node:fs';
import os from 'node:os';
import { Command } from 'commander';
import * as E from '../engine/index.ts';
import { makeEnv, Rng } from '../rl/envs/index.ts';
import { makeGpuEnv, GPU_ENV_IDS } from '../rl/envs/gpu/index.ts';
import { dqnAlgorithms, resolveDqnConfig } from '../rl/dqn.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { RunConfig } from '../rl/harness/types.ts';

const prog = new Command()
  .option('--reps <n>', 'timed rollouts per path and batch size', '3')
  .option('--steps <n>', 'env steps per rollout (per env)', '200')
  .option('--envs <list>', 'batch sizes', '64,1024,16384')
  .option('--only <id>', `one env (${GPU_ENV_IDS.join(', ')})`)
  .option('--json <file>', 'also write the rows as JSON')
  .option('--dqn', 'time the DQN training loop on the CPU env against the GPU env instead')
  .option('--dqn-steps <n>', 'timed env steps per DQN rep', '2000')
  .option('--no-train', 'with --dqn: time acting, env steps and replay inserts only (no updates)')
  .parse();
const o = prog.opts();
const reps = Number(o.reps), T = Number(o.steps);
const sizes = String(o.envs).split(',').map(Number);
for (const [k, v] of [['--reps', reps], ['--steps', T], ...sizes.map((s) => ['--envs', s] as const)] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
}

const ids = o.only ? [String(o.only)] : GPU_ENV_IDS;
for (const id of ids) if (!GPU_ENV_IDS.includes(id)) throw new Error(`--only: no GPU env ${JSON.stringify(id)}; GPU envs: ${GPU_ENV_IDS.join(', ')}`);

function cpuRollout(id: string, n: number): number {
  const env = makeEnv(id, { numEnvs: n, seed: 1 });
  env.reset();
  const rng = new Rng(2, 0);
  const sp = env.actionSpace;
  const a = sp.kind === 'discrete' ? new Int32Array(n) : new Float32Array(n);
  const t0 = performance.now();
  for (let t = 0; t < T; t++) {
    if (sp.kind === 'discrete') for (let i = 0; i < n; i++) a[i] = rng.int(sp.n);
    else for (let i = 0; i < n; i++) a[i] = rng.uniformRange(sp.low[0]!, sp.high[0]!);
    env.step(a);
  }
  return performance.now() - t0;
}

async function gpuRollout(id: string, n: number): Promise<number> {
  const env = makeGpuEnv(id, { numEnvs: n, seed: 1 });
  E.dispose(env.reset());
  await E.sync();
  // Discrete actions arrive as indices rounded to the nearest: uniform on [−0.5, n − 0.5) picks
  // each of the n actions with equal probability. Pendulum's torque is uniform on [−2, 2).
  const sp = makeEnv(id, { numEnvs: 1 }).actionSpace;
  const [lo, hi] = sp.kind === 'discrete' ? [-0.5, sp.n - 0.5] : [sp.low[0]!, sp.high[0]!];
  const t0 = performance.now();
  for (let t = 0; t < T; t++) {
    const a = E.rand([n], lo, hi);
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

/** Env steps per second of the DQN loop after the warm-up (learningStarts 1000 env steps + one vector step). */
async function dqnRate(envDevice: 'cpu' | 'gpu', n: number, steps: number, train: boolean): Promise<number> {
  const algo = dqnAlgorithms.dqn;
  // without training: ε-greedy acting (ε 0.01 after the warm-up: nearly every step greedy), env steps, replay inserts
  const cfg = resolveDqnConfig(algo, 'minatar-small', { env: 'minatar/breakout', numEnvs: n, envDevice, totalSteps: 10_000_000, logEvery: 10_000_000, evalEvery: 0, learningStarts: train ? 1000 : 10_000_000, ...(train ? {} : { epsDecaySteps: 1000 }) }) as RunConfig;
  const tr = new Trainer(algo, cfg);
  while (tr.globalStep < 1000 + n) await tr.step();
  await E.sync();
  const t0 = performance.now(), s0 = tr.globalStep;
  let k = 0;
  while (tr.globalStep - s0 < steps) {
    await tr.step();
    // long loops let the driver drain now and then (docs/engine.md § Execution)
    if (++k % 100 === 0) await E.sync();
  }
  await E.sync();
  const rate = (tr.globalStep - s0) / ((performance.now() - t0) / 1000);
  tr.dispose();
  return rate;
}

await E.init();
const info = E.runtime().info.adapterInfo;
const adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
const rows: Array<{ env: string; numEnvs: number; cpuStepsPerSec: number; gpuStepsPerSec: number; ratio: number }> = [];
if (o.dqn) {
  const steps = Number(o.dqnSteps);
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`--dqn-steps must be a positive integer, got ${o.dqnSteps}`);
  const dsizes = o.envs === '64,1024,16384' ? [8, 64] : sizes;
  console.log(`DQN training loop (minatar-small preset, MinAtar Breakout), ${steps} timed env steps after the warm-up, ${reps} alternating reps; adapter ${adapter}; host ${os.cpus()[0]?.model} × ${os.cpus().length}; load ${os.loadavg()[0].toFixed(2)}`);
  const train = o.train !== false;
  if (!train) console.log('acting only: no updates (learningStarts beyond the run), ε 0.01 after 1,000 steps');
  const dqnRows: Array<{ numEnvs: number; train: boolean; cpuEnvStepsPerSec: number; gpuEnvStepsPerSec: number; ratio: number }> = [];
  for (const n of dsizes) {
    const cpu: number[] = [], gpu: number[] = [];
    for (let r = 0; r < reps; r++) {
      cpu.push(await dqnRate('cpu', n, steps, train));
      gpu.push(await dqnRate('gpu', n, steps, train));
    }
    const c = median(cpu), g = median(gpu);
    dqnRows.push({ numEnvs: n, train, cpuEnvStepsPerSec: c, gpuEnvStepsPerSec: g, ratio: g / c });
    console.log(`dqn minatar/breakout ×${String(n).padStart(4)}: envDevice cpu ${c.toFixed(0)} env steps/s, gpu ${g.toFixed(0)} env steps/s, gpu/cpu ${(g / c).toFixed(2)}× (per rep gpu/cpu ${gpu.map((x, i) => (x / cpu[i]).toFixed(2)).join(', ')}; cpu ${cpu.map((x) => x.toFixed(0)).join(', ')}; gpu ${gpu.map((x) => x.toFixed(0)).join(', ')}); load ${os.loadavg()[0].toFixed(2)}`);
  }
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ adapter, host: `${os.cpus()[0]?.model} × ${os.cpus().length}`, load: os.loadavg()[0], steps, reps, rows: dqnRows }, null, 2) + '\n');
  E.destroy();
  process.exit(0);
}
console.log(`Random-policy rollouts of ${T} steps, ${reps} alternating reps; adapter ${adapter}; host ${os.cpus()[0]?.model} × ${os.cpus().length}; load ${os.loadavg()[0].toFixed(2)}`);
for (const id of ids) {
  await gpuRollout(id, 64); // compile the kernels outside the timing
  for (const n of sizes) {
    const cpu: number[] = [], gpu: number[] = [];
    for (let r = 0; r < reps; r++) {
      cpu.push(cpuRollout(id, n));
      gpu.push(await gpuRollout(id, n));
    }
    const c = (n * T) / (median(cpu) / 1000), g = (n * T) / (median(gpu) / 1000);
    rows.push({ env: id, numEnvs: n, cpuStepsPerSec: c, gpuStepsPerSec: g, ratio: g / c });
    console.log(`${id.padEnd(16)} ×${String(n).padStart(6)}: CPU ${(c / 1e6).toFixed(3)} M steps/s, GPU ${(g / 1e6).toFixed(3)} M steps/s, GPU/CPU ${(g / c).toFixed(2)}×`);
  }
}
if (o.json) {
  fs.writeFileSync(o.json, JSON.stringify({ adapter, host: `${os.cpus()[0]?.model} × ${os.cpus().length}`, load: os.loadavg()[0], steps: T, reps, rows }, null, 2) + '\n');
}
E.destroy();
