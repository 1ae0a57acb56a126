// Training-loop speed: env steps per second of rl/ppo.ts's Trainer (rollout + GAE + updates,
// everything a training run does) against bench/ppo_torch.py, a CleanRL-style PyTorch PPO with
// the same networks and hyperparameters, on this machine.
//   npx tsx bench/train_speed.ts [--no-torch] [--updates 3] [--rounds 2] [--case cartpole-fast] [--torch-threads 1,2]
// The CartPole cases also run our PPO with rollouts on the GPU env (envDevice 'gpu'), and on the
// CPU env through the composed path (fusedMlp false: autodiff over the modules and E.adam, what
// ran before the fused small-MLP kernels of engine/nn/ppo_mlp.ts). Each round
// alternates the engines (ours, PyTorch at each thread count, ours on the GPU env, SPRIG) so that
// load drifts hit all of them; the table gives medians over rounds, PyTorch at its faster thread
// count (on this 2-core host OpenMP's second thread often slows it down under load).
// Cases (identical in both implementations):
//   cartpole-cleanrl  CartPole, MLP 64-64 tanh, CleanRL defaults: 4 envs × 128 steps, minibatch 128, 4 epochs
//   cartpole-fast     CartPole, our CI config: 16 envs × 64 steps, minibatch 256, 6 epochs
//   grid-paper        MinAtar-shaped stand-in env (10×10×4 binary frames), MinAtar torso, SPRIG's PPO table:
//                     8 envs × 256 steps, minibatch 64, 4 epochs
//   grid-fast         same env and network, docs/results.md config: 16 envs × 64 steps, minibatch 256, 2 epochs
//   breakout-fast     MinAtar Breakout (gymnax preset), the minatar-fast preset (16 × 64, minibatch 256, 2 epochs):
//                     ours only (PPO with the MinAtar torso and SPRIG, each on the CPU and the GPU env),
//                     for envDevice 'auto''s choice on MinAtar and SPRIG's cost over PPO on the GPU path
// The "default" column is what a run gets without --set envDevice (envDevice 'auto', rl/harness/
// trainer.ts's autoEnvDevice): the GPU env where it is listed as faster, else the CPU env.
// SPRIG (ours only; PyTorch has no counterpart here) is timed on grid-fast with frame stack 2 (its
// minatar-fast preset), beside PPO on the same network (SPRIG's perception: convolutions and gated
// attention over the stacked frames, one Adam step on all parameters per minibatch), so the
// table separates the cost of the bigger network from the cost of the two-stage Stackelberg
// update (a leader step, then a follower step on features of the updated leader).
// The first update is warm-up (pipeline compilation) and is not counted.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { findTorch } from './peers/torch.ts';
import * as E from '../engine/index.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { createEnv } from '../rl/harness/envs.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { RunConfig } from '../rl/harness/types.ts';
import { getAlgorithm } from '../rl/registry.ts';
import { SprigAgent, type SprigConfig } from '../rl/sprig.ts';
import { PpoAgent, type Minibatch } from '../rl/ppo.ts';
import type { EnvSpec, OnPolicyAlgorithm } from '../rl/harness/types.ts';
import { VecEnv } from '../rl/envs/vec.ts';
import type { EnvCore } from '../rl/envs/types.ts';
import type { Rng } from '../rl/envs/rng.ts';

/** 10×10×4 frames with ~10% cells on, reward 1 with p 0.05, episodes of 100 steps (as ppo_torch.py). */
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
    return { t: this.t, frame: Array.from(this.frame) };
  }
  setState(s: unknown) {
    const st = s as { t: number; frame: number[] };
    this.t = st.t;
    this.frame.set(st.frame);
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
  env: 'cartpole' | 'grid' | 'minatar/breakout';
  cfg: Partial<SprigConfig>;
}

const CASES: Case[] = [
  { name: 'cartpole-cleanrl', env: 'cartpole', cfg: { numEnvs: 4, numSteps: 128, minibatchSize: 128, updateEpochs: 4, lr: 2.5e-4 } },
  { name: 'cartpole-fast', env: 'cartpole', cfg: { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 6, lr: 3e-3 } },
  { name: 'grid-paper', env: 'grid', cfg: { numEnvs: 8, numSteps: 256, minibatchSize: 64, updateEpochs: 4, lr: 1e-4 } },
  { name: 'grid-fast', env: 'grid', cfg: { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3 } },
  { name: 'breakout-fast', env: 'minatar/breakout', cfg: { preset: 'gymnax', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3 } },
];

function makeEnv(kind: Case['env'], numEnvs: number): VecEnv {
  if (kind === 'cartpole') return createEnv('cartpole', { numEnvs, seed: 0 });
  if (kind === 'minatar/breakout') return createEnv(kind, { numEnvs, seed: 0, preset: 'gymnax' });
  return new VecEnv({
    id: 'dummy-grid', numEnvs, seed: 0,
    observationSpace: { kind: 'box', shape: [10, 10, 4], low: new Array(400).fill(0), high: new Array(400).fill(1) },
    actionSpace: { kind: 'discrete', n: 3 },
    maxEpisodeSteps: 0,
    makeCore: () => new DummyGrid(),
  });
}

/**
 * PPO on SPRIG's network: SPRIG's perception over the stacked frames and its heads, one packed
 * parameter set and one Adam step per minibatch on the PPO loss (PpoAgent's update), no leader
 * stage. Only for this benchmark: SPRIG's cost over it is the cost of the Stackelberg update.
 */
class PpoOnSprigNet extends SprigAgent {
  constructor(cfg: SprigConfig, env: EnvSpec) {
    super(cfg, env);
    this.statNames = this.statNames.slice(0, -2);
  }
  protected override setup(fresh: Parameters<SprigAgent['setup']>[0]) {
    return PpoAgent.prototype['setup'].call(this, fresh) as ReturnType<SprigAgent['setup']>;
  }
  protected override updateMinibatch(mb: Minibatch, lr: number, wantStats: boolean) {
    return PpoAgent.prototype['updateMinibatch'].call(this, mb, lr, wantStats);
  }
}

type Which = 'ppo' | 'sprig' | 'ppo-sprig-net';

/**
 * Steps/s of our trainer and the env device it ran on. device 'cpu' / 'gpu': that envDevice;
 * 'default': no envDevice given (the run's default, 'auto'); the grid stand-in has no GPU version.
 */
async function ours(c: Case, algo: Which, updates: number, device: 'cpu' | 'gpu' | 'default' = 'cpu', extra: Record<string, unknown> = {}): Promise<{ sps: number; device: string }> {
  const sprigNet = algo !== 'ppo';
  const base = await getAlgorithm(sprigNet ? 'sprig' : 'ppo');
  const a: OnPolicyAlgorithm<SprigConfig> = algo === 'ppo-sprig-net'
    ? { ...(base as OnPolicyAlgorithm<SprigConfig>), create: (cfg, env) => new PpoOnSprigNet(cfg, env) }
    : (base as OnPolicyAlgorithm<SprigConfig>);
  const cfg = resolveLayers(a.defaults, a.schema, [{ source: c.name, values: { ...c.cfg, env: c.env, totalSteps: 1e9, logEvery: 1e9, ...(sprigNet ? { frameStack: 2 } : {}), ...(device !== 'default' ? { envDevice: device } : {}), ...extra } }]) as RunConfig & SprigConfig;
  // the stand-in grid env is handed over ready-made; the real envs are made by the Trainer
  const t = new Trainer(a, cfg, c.env === 'grid' ? { env: makeEnv(c.env, cfg.numEnvs) } : {});
  await t.step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < updates; i++) await t.step();
  const s = (performance.now() - t0) / 1000;
  const used = t.envDevice;
  t.dispose();
  return { sps: (updates * cfg.numEnvs * cfg.numSteps) / s, device: used };
}

const torchInfo = findTorch();

function torch(c: Case, updates: number, threads: number): number | null {
  const f = c.cfg;
  if (!torchInfo || c.env === 'minatar/breakout') return null;
  try {
    const out = execFileSync(torchInfo.python, [
      'bench/ppo_torch.py', '--case', c.env === 'cartpole' ? 'cartpole' : 'minatar-dummy',
      '--num-envs', String(f.numEnvs), '--num-steps', String(f.numSteps), '--minibatch', String(f.minibatchSize),
      '--epochs', String(f.updateEpochs), '--updates', String(updates), '--lr', String(f.lr), '--threads', String(threads),
    ], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!).steps_per_s;
  } catch (e) {
    console.error(`torch run failed (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');

async function main() {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const updates = Number(opt('--updates') ?? 3);
  const rounds = Number(opt('--rounds') ?? 1);
  const only = opt('--case') ?? null;
  const noTorch = args.includes('--no-torch');
  const threads = (opt('--torch-threads') ?? '1,2').split(',').map(Number);
  if (!(Number.isInteger(updates) && updates >= 1) || !(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--updates and --rounds must be integers >= 1, got --updates ${opt('--updates')} --rounds ${opt('--rounds')}`);
  if (!threads.every((t) => Number.isInteger(t) && t >= 1)) throw new Error(`--torch-threads: expected a comma-separated list of integers >= 1, got '${opt('--torch-threads')}'`);
  if (only && !CASES.some((c) => c.name === only)) throw new Error(`--case ${only}: unknown case; valid: ${CASES.map((c) => c.name).join(', ')}`);
  await E.init();
  const info = E.runtime().info.adapterInfo;
  console.log(`training-loop speed, ${updates} timed updates per cell after one warm-up, ${rounds} round(s) alternating engines; medians over rounds`);
  console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; CPU ${os.cpus()[0]?.model} x${os.cpus().length}`);
  console.log(`PyTorch: ${noTorch ? 'skipped (--no-torch)' : torchInfo ? `${torchInfo.version} (${torchInfo.device}) via ${torchInfo.python}, intra-op threads ${threads.join(' and ')} (the faster is the peer)` : 'unavailable (no python with torch: set BENCH_PYTHON, or apt-get install python3-torch)'}`);
  console.log(`load average at start: ${load()}`);
  const rows: string[] = [
    '| case | ours PPO, CPU env (steps/s) | PyTorch PPO (steps/s) | CPU env / PyTorch | ours PPO, GPU env (steps/s) | GPU env / PyTorch | default envDevice (auto →) | default / PyTorch | ours PPO, composed path (steps/s) | composed / PyTorch | ours SPRIG (steps/s) | PPO on SPRIG\'s network (steps/s) | SPRIG cost / PPO cost per env step | SPRIG cost / same-network PPO cost | SPRIG, GPU env (steps/s) | SPRIG / PPO cost per env step, GPU env |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of CASES) {
    if (only && c.name !== only) continue;
    const o: number[] = [], g: number[] = [], s: number[] = [], n: number[] = [], u: number[] = [], d: number[] = [], sg: number[] = [];
    let defDevice = '–';
    const pt: number[][] = threads.map(() => []);
    const hasGpu = c.env !== 'grid';
    for (let r = 0; r < rounds; r++) {
      o.push((await ours(c, 'ppo', updates)).sps);
      if (!noTorch) threads.forEach((th, i) => {
        const x = torch(c, updates, th);
        if (x !== null) pt[i].push(x);
      });
      if (hasGpu) {
        g.push((await ours(c, 'ppo', updates, 'gpu')).sps);
        const def = await ours(c, 'ppo', updates, 'default');
        d.push(def.sps);
        defDevice = def.device;
      }
      if (c.env === 'cartpole') {
        // the composed path (autodiff over the modules, E.adam), for the fused kernels' effect
        u.push((await ours(c, 'ppo', updates, 'cpu', { fusedMlp: false })).sps);
      }
      if (c.name === 'grid-fast' || c.env === 'minatar/breakout') {
        const k = Math.max(1, Math.floor(updates / 2));
        s.push((await ours(c, 'sprig', k)).sps);
        if (c.env === 'grid') n.push((await ours(c, 'ppo-sprig-net', k)).sps);
        else sg.push((await ours(c, 'sprig', k, 'gpu')).sps);
      }
      const f = (xs: number[]) => (xs.length > r ? xs[r].toFixed(0) : '-');
      console.error(`  ${c.name} round ${r + 1}: ours CPU env ${f(o)}, ${threads.map((th, i) => `PyTorch ${th}t ${f(pt[i])}`).join(', ')}, GPU env ${f(g)}, default (${defDevice}) ${f(d)}, composed (fusedMlp off) ${f(u)}, SPRIG ${f(s)}, PPO on SPRIG's net ${f(n)}, SPRIG GPU env ${f(sg)} steps/s (load ${load()})`);
    }
    const best = pt.map((xs, i) => ({ i, m: xs.length === rounds ? median(xs) : -1 })).sort((a, b) => b.m - a.m)[0];
    const p = best && best.m > 0 ? best.m : null;
    const m = (xs: number[]) => (xs.length ? median(xs) : null);
    const [om, gm, sm, nm, um, dm, sgm] = [m(o), m(g), m(s), m(n), m(u), m(d), m(sg)];
    const fmt = (x: number | null) => (x === null ? '–' : x.toFixed(0));
    const ratio = (x: number | null, y: number | null) => (x === null || y === null ? '–' : (x / y).toFixed(2) + '×');
    // Cost per env step is 1 / steps-per-second: SPRIG's cost over PPO's = PPO's speed / SPRIG's.
    const row = `| ${c.name} | ${fmt(om)} | ${p === null ? '–' : `${p.toFixed(0)} (${threads[best.i]}t)`} | ${ratio(om, p)} | ${fmt(gm)} | ${ratio(gm, p)} | ${dm === null ? '–' : `${fmt(dm)} (${defDevice})`} | ${ratio(dm, p)} | ${fmt(um)} | ${ratio(um, p)} | ${fmt(sm)} | ${fmt(nm)} | ${ratio(om, sm)} | ${ratio(nm, sm)} | ${fmt(sgm)} | ${ratio(gm, sgm)} |`;
    rows.push(row);
    console.error(row);
  }
  console.log(rows.join('\n'));
  console.log(`load average at end: ${load()}`);
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
