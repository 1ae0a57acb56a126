// Training-loop speed of the DQN family: env steps per second of the whole loop (the harness's
// Trainer: ε-greedy acting with one readback per vector step, env steps, replay inserts,
// uniform batches uploaded, the update, target copies) against bench/dqn_torch.py, a
// CleanRL-style PyTorch DQN with the same network, env logic, batch size and train frequency,
// in one run; and SCORER's cost per env step relative to DQN's. Our rounds also print GPU
// dispatches and uploads per vector step (the engine's counters over the timed steps).
//   npx tsx bench/dqn_speed.ts [--steps 2000] [--rounds 3] [--no-torch] [--case small] [--torch-threads 1,2]
//                              [--eps-decay 20000 | --whole-run [cleanrl|reference]] [--env-device] [--fused-ab] [--s8-ab] [--no-unpack] | --profile [--profile-n 40] | --poll-ab [--blocks 40] [--poll-modes timer,throttled]
//                              [--polling throttled|timer|busy]
// --eps-decay: env steps of the ε decay 1 → 0.05 on both sides (default 20,000: ε ≈ 0.97 in the timed
// steps, so most steps explore and both sides skip the greedy forward, as CleanRL does; ours
// also skips its readback; 1: ε = 0.05, nearly every step greedy, as late in training). --whole-run: ε 1 → 0.05 over the first half of the timed
// steps (counted from the end of the warm-up), then 0.05: CleanRL's schedule (ε decays over the
// first half of a run) laid over the timed steps, so the timing is a whole run's mix of
// exploring and greedy steps (~71 % greedy). --whole-run reference: the MinAtar reference
// schedule (this family's default: ε 1 → 0.1 over the first 100k of 5M frames) laid over the
// timed steps the same way: ε 1 → 0.1 over the first 2 %, then 0.1 (~89 % greedy). The bench
// prints the expected greedy share of the timed steps. --s8-ab: in one process, trainers on
// session 7's path (a separate gradient-norm pass before Adam; replay batches decoded on the
// CPU, uploaded as floats) against session 8's (the norm from the dw kernel's partial sums, Adam
// in one dispatch; the batch's bits uploaded and unpacked on the GPU), alternating segments.
// --profile: only the GPU time of each piece of one ref update (no loop, no PyTorch).
// --poll-ab: only the engine's polling modes against each other (engine/device.ts: 'timer', the
// 1 ms timer past the 0.3 ms spin, session 8's default; 'throttled', short Atomics.wait naps,
// session 9's), in one process, alternating blocks (the order flipped every block): a DQN and a
// SCORER ref trainer at the reference schedule's final ε 0.1 (25 env steps a block each), a tiny round trip (20
// a block), a steady 3 ms wait with no GPU work (10 a block: the mode's own lateness) and a 1024²
// matmul (1 a block); no PyTorch. --polling MODE: every run of ours in that
// polling mode (default: the engine's, 'throttled'), e.g. --polling timer for session 8's.
// --no-unpack: replay batches decoded on the CPU and uploaded as floats (rl/replay.ts
// replayGpuUnpack(false)), to time the bits upload's share against a run without the flag. --env-device: also ours DQN on MinAtar Breakout with
// envDevice 'cpu' against 'gpu' (rl/envs/gpu), alternating, same cases. --fused-ab: in one
// process, two trainers of each algorithm, one with the fused update (rl/dqn/fused_update.ts)
// and one with the composed ops, timed in alternating segments of --steps env steps (--rounds
// pairs): the fused update's own speed-up, free of the load drift between separate runs.
// The PyTorch side runs under the first python that imports torch ($BENCH_PYTHON, python3 on
// PATH, /usr/bin/python3: a pyenv python3 first on PATH often has none).
// Cases (identical in both implementations):
//   ref    1 env, one update per env step, batch 32 (the MinAtar reference ratio)
//   small  8 envs, one update per vector step (8 env steps), batch 64 (the minatar-small preset)
// The env is a MinAtar-shaped stand-in (10×10×4 binary frames, ~10 % cells on, reward 1 with
// p 0.05, episodes of 100 steps), so both sides pay the same env cost. Timing starts after the
// replay warm-up (learningStarts env steps with updates off) and one further step.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findTorch } from './peers/torch.ts';
import * as E from '../engine/index.ts';
import { dqnAlgorithms, resolveDqnConfig, type DqnConfig } from '../rl/dqn.ts';
import { scorerAlgorithms } from '../rl/scorer.ts';
import { fusedDqnEnabled, fusedAdamEnabled } from '../rl/dqn/fused_update.ts';
import { replayGpuUnpack, ReplayBuffer } from '../rl/replay.ts';
import { dqnLearner, batchNextQ } from '../rl/dqn.ts';
import { FusedDqnGrad, FusedAdam } from '../rl/dqn/fused_update.ts';
import { fusedGreedy } from '../rl/dqn/fused_q.ts';
import { FlatAdam } from '../engine/nn/ppo_mlp.ts';
import { Rng as EngineRng } from '../engine/nn/rng.ts';
import { runtime } from '../engine/tensor.ts';
import { throttledWait } from '../engine/device.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { OffPolicyAlgorithm, RunConfig } from '../rl/harness/types.ts';
import { VecEnv } from '../rl/envs/vec.ts';
import type { EnvCore } from '../rl/envs/types.ts';
import type { Rng } from '../rl/envs/rng.ts';

class DummyGrid implements EnvCore {
  terminated = false;
  private t = 0;
  private frame = new Float32Array(400);
  reset(rng: Rng) {
    this.t = 0;
    this.draw(rng);
  }
  step(_a: number, rng: Rng) {
    this.t++;
    this.terminated = this.t >= 100;
    this.draw(rng);
    return rng.uniform() < 0.05 ? 1 : 0;
  }
  private draw(rng: Rng) {
    for (let i = 0; i < 400; i++) this.frame[i] = rng.uniform() < 0.1 ? 1 : 0;
  }
  writeObs(out: Float32Array, o: number) {
    out.set(this.frame, o);
  }
  getState() {
    return { t: this.t };
  }
  setState(s: unknown) {
    this.t = (s as { t: number }).t;
  }
  renderText() {
    return '';
  }
  renderSvg() {
    return '';
  }
}

interface Case {
  name: string;
  numEnvs: number;
  batch: number;
}
const CASES: Case[] = [
  { name: 'ref', numEnvs: 1, batch: 32 },
  { name: 'small', numEnvs: 8, batch: 64 },
];
const WARMUP = 512;

function env(n: number) {
  return new VecEnv({
    id: 'dummy-grid', numEnvs: n, seed: 0,
    observationSpace: { kind: 'box', shape: [10, 10, 4], low: new Array(400).fill(0), high: new Array(400).fill(1) },
    actionSpace: { kind: 'discrete', n: 3 },
    maxEpisodeSteps: 0,
    makeCore: () => new DummyGrid(),
  });
}

/** Env steps per wall second and per CPU second (all threads of the process: lavapipe's too). */
interface Speed {
  wall: number;
  cpu: number;
  /** Ours only: GPU dispatches and buffer uploads per vector step (engine counters over the timed steps). */
  dispatches?: number;
  uploads?: number;
}

let epsDecay = 20_000;
/** The final ε on both sides (0.05 CleanRL; 0.1 the MinAtar reference, --whole-run reference). */
let epsEnd = 0.05;
/**
 * --whole-run [cleanrl]: ε decays from the end of the warm-up over the first half of the timed
 * steps to 0.05 (CleanRL's profile over its training steps); --whole-run reference: to 0.1 over
 * the first 2 % of them (the MinAtar reference: the first 100k of 5M frames after the replay
 * start), this family's default schedule.
 */
let wholeRun: null | 'cleanrl' | 'reference' = null;
let fusedAb = false;

/** The bench's trainer for a case on the stand-in env. */
function trainerFor(algo: OffPolicyAlgorithm<DqnConfig>, c: Case, envDevice?: 'cpu' | 'gpu') {
  const cfg = resolveDqnConfig(algo, {
    env: envDevice ? 'minatar/breakout' : 'cartpole', preset: null, numEnvs: c.numEnvs, batchSize: c.batch, trainFreq: 1, learningStarts: WARMUP,
    bufferSize: 10_000, totalSteps: 1e9, logEvery: 1e9, evalEvery: 0, encoder: 'mlp', optimizer: 'adam', lr: 1e-4,
    loss: 'mse', maxGradNorm: 0.5, targetUpdateEvery: 1000, epsDecaySteps: epsDecay, epsEnd, epsDecayFrom: wholeRun ? 'learningStarts' : 'start',
    ...(envDevice ? { envDevice } : {}),
  });
  return new Trainer(algo, cfg as RunConfig, envDevice ? {} : { env: env(c.numEnvs) });
}

/**
 * trainerFor with a module switch (fusedDqnEnabled, fusedAdamEnabled: set it, return the
 * previous value) at `on` while the trainer is made, then restored: the A/B tables' two sides.
 */
function trainerWith(toggle: (on?: boolean) => boolean, on: boolean, algo: OffPolicyAlgorithm<DqnConfig>, c: Case) {
  const prev = toggle(on);
  try {
    return trainerFor(algo, c);
  } finally {
    toggle(prev);
  }
}

/** `steps` more env steps of a trainer: wall and CPU speed, dispatches and uploads per vector step. */
async function timed(t: Trainer, steps: number, numEnvs: number, drainEvery = 0): Promise<Speed> {
  await E.sync();
  const s0 = t.globalStep, t0 = performance.now(), c0 = process.cpuUsage(), k0 = { ...E.counters() };
  let k = 0;
  while (t.globalStep - s0 < steps) {
    await t.step();
    // the GPU env path never reads back: let the driver drain now and then (as bench/gpu_envs.ts)
    if (drainEvery && ++k % drainEvery === 0) await E.sync();
  }
  await E.sync();
  const n = t.globalStep - s0, cu = process.cpuUsage(c0), k1 = E.counters(), vsteps = n / numEnvs;
  return {
    wall: n / ((performance.now() - t0) / 1000), cpu: n / ((cu.user + cu.system) / 1e6),
    dispatches: (k1.dispatches - k0.dispatches) / vsteps, uploads: (k1.uploads - k0.uploads) / vsteps,
  };
}

/** envDevice: MinAtar Breakout on that device instead of the stand-in env (--env-device). */
async function ours(algo: OffPolicyAlgorithm<DqnConfig>, c: Case, steps: number, envDevice?: 'cpu' | 'gpu'): Promise<Speed> {
  const t = trainerFor(algo, c, envDevice);
  while (t.globalStep <= WARMUP) await t.step();
  const out = await timed(t, steps, c.numEnvs, envDevice === 'gpu' ? 100 : 0);
  t.dispose();
  return out;
}

/** The python that imports torch (bench/peers/torch.ts: $BENCH_PYTHON, python3 on PATH, /usr/bin/python3, python). */
const torchInfo = findTorch();

function torch(c: Case, steps: number, threads: number): Speed | null {
  if (!torchInfo) return null;
  try {
    const out = execFileSync(torchInfo.python, ['bench/dqn_torch.py', '--num-envs', String(c.numEnvs), '--batch', String(c.batch), '--train-freq', '1', '--steps', String(steps), '--learning-starts', String(WARMUP), '--threads', String(threads), '--eps-decay', String(epsDecay), '--eps-end', String(epsEnd), ...(wholeRun ? ['--eps-from-learning-starts'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const j = JSON.parse(out.trim().split('\n').pop()!);
    return { wall: j.steps_per_s, cpu: j.steps_per_cpu_s };
  } catch (e) {
    const msg = (e as { stderr?: string }).stderr ?? (e as Error).message;
    console.error(`PyTorch run failed (${torchInfo.python}): ${msg.split('\n').slice(-2).join(' ')}`);
    return null;
  }
}

/**
 * --profile: the GPU time of each piece of one ref update (batch 32 of the stand-in's frames),
 * each piece --profile-n times (one submit each) and then one wait, the median of 5 such runs; the
 * pieces are isolated by dropping the other dispatches of the same calls.
 */
async function profile(n: number) {
  const B = 32;
  const cfg = resolveDqnConfig(dqnAlgorithms.dqn, { env: 'cartpole', preset: null, batchSize: B, encoder: 'mlp', optimizer: 'adam', lr: 1e-4, loss: 'mse', maxGradNorm: 0.5 });
  const L = dqnLearner(cfg, [10, 10, 4], 3);
  const rep = new ReplayBuffer({ capacity: 2000, obsSize: 400 });
  const r0 = new EngineRng(1);
  const frame = () => Float32Array.from({ length: 400 }, () => +(r0.uniform() < 0.1));
  for (let i = 0; i < 1000; i++) rep.addBatch(1, frame(), [r0.int(3)], [+(r0.uniform() < 0.05)], frame(), [0]);
  const rng = new EngineRng(2);
  const fused = FusedDqnGrad.create(L.net, L.params)!;
  const fa = new FusedAdam(L.params, { lr: 1e-4 });
  const old = new FlatAdam(L.params, { lr: 1e-4 });
  const b = rep.sampleTensors(B, rng, [10, 10, 4]);
  const next = batchNextQ(cfg, L.net, L.params, L.target, b);
  const parts = E.keep(E.zeros([fused.normParts()]));
  const obs1 = E.tensor(frame(), [1, 10, 10, 4]);
  const rt = runtime() as unknown as { dispatch: (d: { label?: string }) => void };
  const dispatch = rt.dispatch.bind(rt);
  const time = async (name: string, fn: () => void, only?: string) => {
    rt.dispatch = only ? (d) => void (d.label === only && dispatch(d)) : dispatch;
    const ms: number[] = [];
    for (let r = 0; r < 5; r++) {
      await E.sync();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        E.scope(fn);
        E.flush(); // a submit each call, as the loop does (and an upload can then reuse its buffer)
      }
      await E.sync();
      ms.push((performance.now() - t0) / n);
    }
    rt.dispatch = dispatch;
    console.log(`| ${name} | ${median(ms).toFixed(3)} |`);
  };
  console.log(`GPU time of the pieces of one DQN ref update (batch ${B}), ${n} calls (a submit each) then one wait, median of 5 (load ${load()}):\n| piece | ms a call |\n|---|---|`);
  await time('batch upload (bits) + GPU unpack', () => void rep.sampleTensors(B, rng, [10, 10, 4]));
  await time('target forward', () => void batchNextQ(cfg, L.net, L.params, L.target, b));
  const grad = () => fused.grad({ batch: b, next, gamma: 0.99, loss: 'mse', G: fa.grad, N: parts });
  await time('rows kernel', grad, 'dqn_mlp_rows');
  await time('dw kernel (with the norm partials)', grad, 'dqn_mlp_dw');
  await time('Adam with the partials\' norm (session 8, one dispatch)', () => fa.stepPartials({ lr: 1e-4, maxGradNorm: 0.5, partials: parts }));
  await time('norm pass + Adam (session 7, two dispatches)', () => old.stepStaged({ lr: 1e-4, maxGradNorm: 0.5 }));
  await time('whole update (learner.update: sample, upload and the pieces above)', () => void L.update(() => rep.sampleTensors(B, rng, [10, 10, 4]), 1, 1, false));
  await time('greedy action (one row, forward only)', () => void fusedGreedy(L.net, L.params.encoder, L.params.head, obs1));
  E.dispose([...Object.values(b), next.qNextTarget, parts, obs1]);
  fa.dispose();
  old.dispose();
  fused.dispose();
  L.dispose();
}

/** A promise resolved by a chain of setImmediate polls (looked up on globalThis each time, as Dawn's binding does) once `ms` have passed. */
function pollUntil(ms: number) {
  const t0 = performance.now();
  return new Promise<void>((resolve) => {
    const poll = () => (performance.now() - t0 >= ms ? resolve() : void globalThis.setImmediate(poll));
    globalThis.setImmediate(poll);
  });
}

/** --poll-ab: the polling modes in alternating blocks in one process (see the header). */
let pollModes: string | undefined;
async function pollAb(blocks: number) {
  const modes = (pollModes ?? 'timer,throttled').split(',') as E.PollingMode[];
  const prevMode = E.getPollingMode();
  epsDecay = 1;
  epsEnd = 0.1;
  const t = trainerFor(dqnAlgorithms.dqn, CASES[0]), ts = trainerFor(scorerAlgorithms['scorer-dqn'], CASES[0]);
  for (const x of [t, ts]) while (x.globalStep <= WARMUP) await x.step();
  const a = E.keep(E.randn([1024, 1024], 0, 1, { seed: 1 }));
  const x = E.keep(E.tensor(new Float32Array(16), [4, 4]));
  const items = [
    { name: 'DQN ref loop, ε 0.1 (ms an env step)', chunk: 25, scale: 1, run: async () => void (await t.step()) },
    { name: 'SCORER (over DQN) ref loop, ε 0.1 (ms an env step)', chunk: 25, scale: 1, run: async () => void (await ts.step()) },
    { name: 'round trip: upload, 1 dispatch, read 64 B (µs)', chunk: 20, scale: 1000, run: async () => { const y = E.scope(() => E.add(E.tensor(new Float32Array(16), [4, 4]), x)); await y.data(); y.dispose(); } },
    // no GPU: a promise the polling resolves once 3 ms have passed, the way Dawn's binding polls a
    // fence, so the mode's own lateness shows without the GPU's spread (minus 3000 µs: how late)
    { name: 'a steady 3 ms wait, no GPU: its length (µs)', chunk: 10, scale: 1000, run: async () => void (await throttledWait(pollUntil(3), true)) },
    { name: 'matmul 1024² (ms)', chunk: 1, scale: 1, run: async () => { const y = E.scope(() => E.matmul(a, a)); await E.sync(); y.dispose(); } },
  ];
  console.log(`polling modes A/B, ${blocks} blocks each, alternating (load ${load()}):`);
  console.log(`| piece | ${modes[0]} | ${modes[1]} | speed ${modes[1]} / ${modes[0]}: total (median block; blocks faster) | CPU per piece, ${modes[0]} → ${modes[1]} |\n|---|---|---|---|---|`);
  for (const it of items) {
    const wall = [0, 0], cpu = [0, 0], ratios: number[] = [];
    for (const m of modes) {
      E.setPollingMode(m);
      for (let i = 0; i < it.chunk; i++) await it.run();
    }
    for (let b = 0; b < blocks; b++) {
      const per = [0, 0];
      for (const k of b % 2 ? [1, 0] : [0, 1]) {
        E.setPollingMode(modes[k]);
        await E.sync();
        const t0 = performance.now(), c0 = process.cpuUsage();
        for (let i = 0; i < it.chunk; i++) await it.run();
        await E.sync();
        const cu = process.cpuUsage(c0);
        per[k] = performance.now() - t0;
        wall[k] += per[k];
        cpu[k] += (cu.user + cu.system) / 1000;
      }
      ratios.push(per[0] / per[1]);
    }
    const n = blocks * it.chunk, f = (v: number) => ((v / n) * it.scale).toFixed(it.scale > 1 ? 0 : 2);
    console.log(`| ${it.name} | ${f(wall[0])} | ${f(wall[1])} | ${(wall[0] / wall[1]).toFixed(3)}× (${median(ratios).toFixed(3)}×; ${ratios.filter((r) => r > 1).length}/${blocks}) | ${f(cpu[0])} → ${f(cpu[1])} |`);
  }
  E.setPollingMode(prevMode);
  t.dispose();
  ts.dispose();
  E.dispose([a, x]);
  console.log(`load average at end: ${load()}`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');

async function main() {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const steps = Number(opt('--steps') ?? 2000);
  const rounds = Number(opt('--rounds') ?? 1);
  const only = opt('--case') ?? null;
  const noTorch = args.includes('--no-torch');
  const envDevices = args.includes('--env-device');
  fusedAb = args.includes('--fused-ab');
  epsDecay = Number(opt('--eps-decay') ?? 20_000);
  if (!(Number.isInteger(epsDecay) && epsDecay >= 1)) throw new Error(`--eps-decay must be an integer >= 1, got ${opt('--eps-decay')}`);
  if (args.includes('--whole-run')) {
    const m = opt('--whole-run');
    wholeRun = m === undefined || m.startsWith('--') ? 'cleanrl' : (m as 'cleanrl' | 'reference');
    if (wholeRun !== 'cleanrl' && wholeRun !== 'reference') throw new Error(`--whole-run ${m}: unknown schedule; valid: cleanrl (the default), reference`);
    if (opt('--eps-decay') !== undefined) throw new Error('--whole-run sets the ε decay itself (from the end of the warm-up: half the timed steps for cleanrl, 2 % for reference); drop --eps-decay');
    epsDecay = Math.max(1, Math.round(steps * (wholeRun === 'cleanrl' ? 0.5 : 100_000 / 5_000_000)));
    epsEnd = wholeRun === 'cleanrl' ? 0.05 : 0.1;
  }
  // PyTorch at each of these intra-op thread counts, every round; its faster one is the peer
  // (on this loaded 2-core host 2 threads ran 5x slower than 1: OpenMP workers wait on each other).
  const threads = (opt('--torch-threads') ?? '1,2').split(',').map(Number);
  if (!threads.every((t) => Number.isInteger(t) && t >= 1)) throw new Error(`--torch-threads: expected a comma-separated list of integers >= 1, got '${opt('--torch-threads')}'`);
  if (!(steps > 0) || !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--steps must be > 0 and --rounds an integer >= 1, got --steps ${opt('--steps')} --rounds ${opt('--rounds')}`);
  if (only && !CASES.some((c) => c.name === only)) throw new Error(`--case ${only}: unknown case; valid: ${CASES.map((c) => c.name).join(', ')}`);
  await E.init();
  if (opt('--polling') !== undefined) E.setPollingMode(opt('--polling') as E.PollingMode);
  // --no-unpack: replay batches decoded on the CPU and uploaded as floats (session 7's upload) everywhere but --s8-ab's session 8 trainer
  if (args.includes('--no-unpack')) replayGpuUnpack(false);
  if (args.includes('--profile')) {
    await profile(Number(opt('--profile-n') ?? 40));
    return;
  }
  if (args.includes('--poll-ab')) {
    pollModes = opt('--poll-modes');
    await pollAb(Number(opt('--blocks') ?? 40));
    return;
  }
  const info = E.runtime().info.adapterInfo;
  console.log(`DQN training loop, ${steps} timed env steps per cell, ${rounds} round(s) alternating ours DQN / PyTorch DQN / ours SCORER; medians over rounds`);
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; CPU ${os.cpus()[0]?.model} x${os.cpus().length}; polling ${E.getPollingMode()}`);
  console.log(`PyTorch: ${noTorch ? 'skipped (--no-torch)' : torchInfo ? `${torchInfo.version} (${torchInfo.device}) via ${torchInfo.python}, intra-op threads ${threads.join(' and ')} (the faster is the peer)` : 'unavailable (no python with torch: set BENCH_PYTHON, or apt-get install python3-torch)'}`);
  // the expected share of greedy env steps in the timed steps (1 − ε averaged over them)
  const epsAt = (t: number) => 1 + (epsEnd - 1) * Math.min(1, Math.max(0, t) / epsDecay);
  let greedy = 0;
  for (let k = 1; k <= steps; k++) greedy += 1 - epsAt(wholeRun ? k : WARMUP + k);
  const share = `${((100 * greedy) / steps).toFixed(1)} % of the timed steps greedy (expected)`;
  if (wholeRun === 'cleanrl') console.log(`ε (--whole-run cleanrl): 1 → 0.05 over the first ${epsDecay} timed env steps (from the end of the ${WARMUP}-step warm-up), then 0.05 for the other ${steps - epsDecay}, on both sides: CleanRL's schedule (ε decays over the first half of a run) over the timed steps; ${share}`);
  else if (wholeRun === 'reference') console.log(`ε (--whole-run reference): 1 → 0.1 over the first ${epsDecay} timed env steps (from the end of the ${WARMUP}-step warm-up), then 0.1 for the other ${steps - epsDecay}, on both sides: the MinAtar reference schedule (the first 100k of 5M frames, 2 %) over the timed steps; ${share}`);
  else console.log(`ε: 1 → ${epsEnd} over ${epsDecay} env steps on both sides (timed steps ${WARMUP + 1}..${WARMUP + steps}: ε ${epsAt(WARMUP + 1).toFixed(2)} → ${epsAt(WARMUP + steps).toFixed(2)}); ${share}`);
  console.log(`load average at start: ${load()}`);
  const rows = [
    '| case | ours DQN (steps/s) | PyTorch DQN (steps/s) | ours / PyTorch | per CPU-second: ours / PyTorch | ours SCORER (steps/s) | SCORER cost / DQN cost per env step |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const c of CASES) {
    if (only && c.name !== only) continue;
    const d: Speed[] = [], s: Speed[] = [];
    const pt: Speed[][] = threads.map(() => []);
    for (let r = 0; r < rounds; r++) {
      // Alternate the engines (DQN, PyTorch, SCORER) so load drifts hit all of them alike.
      d.push(await ours(dqnAlgorithms.dqn, c, steps));
      const tps = noTorch ? [] : threads.map((th, i) => {
        const x = torch(c, steps, th);
        if (x) pt[i].push(x);
        return x;
      });
      s.push(await ours(scorerAlgorithms['scorer-dqn'], c, steps));
      const f = (x: Speed | null | undefined) => (x ? `${x.wall.toFixed(1)} (${x.cpu.toFixed(1)}/CPU-s${x.dispatches !== undefined ? `, ${x.dispatches.toFixed(1)} dispatches and ${x.uploads!.toFixed(1)} uploads per vector step` : ''})` : '-');
      console.error(`  ${c.name} round ${r + 1}: ours DQN ${f(d.at(-1))}, ${tps.map((x, i) => `PyTorch ${threads[i]}t ${f(x)}`).join(', ')}, ours SCORER ${f(s.at(-1))} steps/s (load ${load()})`);
    }
    // The peer: the thread count with the higher median wall speed.
    const best = pt.map((xs, i) => ({ i, m: xs.length === rounds ? median(xs.map((x) => x.wall)) : -1 })).sort((a, b) => b.m - a.m)[0];
    const p = best && best.m > 0 ? pt[best.i] : [];
    const dm = median(d.map((x) => x.wall)), sm = median(s.map((x) => x.wall));
    const pm = p.length ? median(p.map((x) => x.wall)) : null;
    if (p.length) console.error(`  ${c.name}: PyTorch peer = ${threads[best.i]} thread(s)`);
    const cpuRatio = p.length ? median(d.map((x) => x.cpu)) / median(p.map((x) => x.cpu)) : null;
    // Per-round ratios too: their spread says how much the load moved within the run.
    const ratios = p.length === d.length ? d.map((x, i) => (x.wall / p[i].wall).toFixed(2)).join(', ') : null;
    const row = `| ${c.name} (${c.numEnvs} env${c.numEnvs > 1 ? 's' : ''}, batch ${c.batch}) | ${dm.toFixed(1)} | ${pm === null ? '–' : `${pm.toFixed(1)} (${threads[best.i]}t)`} | ${pm === null ? '–' : (dm / pm).toFixed(2) + '×'}${ratios && rounds > 1 ? ` (rounds: ${ratios})` : ''} | ${cpuRatio === null ? '–' : cpuRatio.toFixed(2) + '×'} | ${sm.toFixed(1)} | ${(dm / sm).toFixed(2)}× |`;
    rows.push(row);
    console.error(row);
  }
  console.log(rows.join('\n'));
  if (envDevices) {
    // the GPU env path (issue 14): same loop on MinAtar Breakout, the env and replay on each device
    const er = ['| case | DQN, envDevice cpu (steps/s) | DQN, envDevice gpu (steps/s) | gpu / cpu (per round) | dispatches per vector step (cpu, gpu) |', '|---|---|---|---|---|'];
    for (const c of CASES) {
      if (only && c.name !== only) continue;
      const cpu: Speed[] = [], gpu: Speed[] = [];
      for (let r = 0; r < rounds; r++) {
        cpu.push(await ours(dqnAlgorithms.dqn, c, steps, 'cpu'));
        gpu.push(await ours(dqnAlgorithms.dqn, c, steps, 'gpu'));
        console.error(`  breakout ${c.name} round ${r + 1}: envDevice cpu ${cpu.at(-1)!.wall.toFixed(1)}, gpu ${gpu.at(-1)!.wall.toFixed(1)} steps/s (load ${load()})`);
      }
      const cm = median(cpu.map((x) => x.wall)), gm = median(gpu.map((x) => x.wall));
      er.push(`| ${c.name} (${c.numEnvs} env${c.numEnvs > 1 ? 's' : ''}, batch ${c.batch}), MinAtar Breakout | ${cm.toFixed(1)} | ${gm.toFixed(1)} | ${(gm / cm).toFixed(2)}× (${gpu.map((x, i) => (x.wall / cpu[i].wall).toFixed(2)).join(', ')}) | ${median(cpu.map((x) => x.dispatches!)).toFixed(1)}, ${median(gpu.map((x) => x.dispatches!)).toFixed(1)} |`);
      console.error(er.at(-1));
    }
    console.log(er.join('\n'));
  }
  if (fusedAb) {
    const ab = ['| case | algorithm | composed (steps/s) | fused (steps/s) | fused / composed (per pair) | dispatches per vector step (composed, fused) |', '|---|---|---|---|---|---|'];
    for (const c of CASES) {
      if (only && c.name !== only) continue;
      for (const [name, algo] of [['DQN', dqnAlgorithms.dqn], ['SCORER', scorerAlgorithms['scorer-dqn']]] as const) {
        const tc = trainerWith(fusedDqnEnabled, false, algo, c), tf = trainerWith(fusedDqnEnabled, true, algo, c);
        for (const t of [tc, tf]) while (t.globalStep <= WARMUP) await t.step();
        const sc: Speed[] = [], sf: Speed[] = [];
        for (let r = 0; r < rounds; r++) {
          sc.push(await timed(tc, steps, c.numEnvs));
          sf.push(await timed(tf, steps, c.numEnvs));
        }
        tc.dispose();
        tf.dispose();
        const cm = median(sc.map((x) => x.wall)), fm = median(sf.map((x) => x.wall));
        ab.push(`| ${c.name} | ${name} | ${cm.toFixed(1)} | ${fm.toFixed(1)} | ${median(sf.map((x, i) => x.wall / sc[i].wall)).toFixed(2)}× (${sf.map((x, i) => (x.wall / sc[i].wall).toFixed(2)).join(', ')}) | ${median(sc.map((x) => x.dispatches!)).toFixed(1)}, ${median(sf.map((x) => x.dispatches!)).toFixed(1)} |`);
        console.error(ab.at(-1), `(load ${load()})`);
      }
    }
    console.log(ab.join('\n'));
  }
  if (args.includes('--s8-ab')) {
    // In one process, a trainer as at the end of session 7 (Adam's clip by a separate
    // one-workgroup norm pass; replay batches decoded on the CPU and uploaded as floats) against
    // one with session 8's changes (the norm from the dw kernel's partial sums, Adam in one
    // vec4 dispatch; the batch's bits uploaded and unpacked on the GPU), alternating segments.
    const ab = ['| case | algorithm | session 7 path (steps/s) | session 8 path (steps/s) | session 8 / session 7 (per pair) | per CPU-second (per pair) | dispatches, uploaded KB per vector step (7; 8) |', '|---|---|---|---|---|---|---|'];
    for (const c of CASES) {
      if (only && c.name !== only) continue;
      for (const [name, algo] of [['DQN', dqnAlgorithms.dqn], ['SCORER', scorerAlgorithms['scorer-dqn']]] as const) {
        const prevUnpack = replayGpuUnpack();
        const t7 = trainerWith(fusedAdamEnabled, false, algo, c), t8 = trainerWith(fusedAdamEnabled, true, algo, c);
        for (const t of [t7, t8]) while (t.globalStep <= WARMUP) await t.step();
        const s7: Speed[] = [], s8: Speed[] = [];
        for (let r = 0; r < rounds; r++) {
          replayGpuUnpack(false);
          s7.push(await timed(t7, steps, c.numEnvs));
          replayGpuUnpack(true);
          s8.push(await timed(t8, steps, c.numEnvs));
        }
        replayGpuUnpack(prevUnpack);
        t7.dispose();
        t8.dispose();
        // uploaded per batch: two observations as floats (7) or as whole words of bits (8), and 3 floats; SCORER draws two batches
        const kb = (bits: boolean) => ((name === 'SCORER' ? 2 : 1) * c.batch * ((bits ? 2 * 4 * Math.ceil(50 / 4) : 2 * 1600) + 12)) / 1024;
        const m7 = median(s7.map((x) => x.wall)), m8 = median(s8.map((x) => x.wall));
        ab.push(`| ${c.name} | ${name} | ${m7.toFixed(1)} | ${m8.toFixed(1)} | ${median(s8.map((x, i) => x.wall / s7[i].wall)).toFixed(2)}× (${s8.map((x, i) => (x.wall / s7[i].wall).toFixed(2)).join(', ')}) | ${median(s8.map((x, i) => x.cpu / s7[i].cpu)).toFixed(2)}× (${s8.map((x, i) => (x.cpu / s7[i].cpu).toFixed(2)).join(', ')}) | ${median(s7.map((x) => x.dispatches!)).toFixed(1)}, ${kb(false).toFixed(1)}; ${median(s8.map((x) => x.dispatches!)).toFixed(1)}, ${kb(true).toFixed(1)} |`);
        console.error(ab.at(-1), `(load ${load()})`);
      }
    }
    console.log(ab.join('\n'));
  }
  console.log(`load average at end: ${load()}`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
