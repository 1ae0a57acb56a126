// Training-loop speed: env steps per second of rl/ppo.ts's Trainer (rollout + GAE + updates,
// everything a training run does) against bench/ppo_torch.py, a CleanRL-style PyTorch PPO with
// the same networks and hyperparameters, on this machine.
//   npx tsx bench/train_speed.ts [--no-torch] [--updates 3] [--case cartpole]
// The CartPole cases also run our PPO with rollouts on the GPU env (envDevice 'gpu').
// Cases (identical in both implementations):
//   cartpole-cleanrl  CartPole, MLP 64-64 tanh, CleanRL defaults: 4 envs × 128 steps, minibatch 128, 4 epochs
//   cartpole-fast     CartPole, our CI config: 16 envs × 64 steps, minibatch 256, 6 epochs
//   grid-paper        MinAtar-shaped stand-in env (10×10×4 binary frames), MinAtar torso, SPRIG's PPO table:
//                     8 envs × 256 steps, minibatch 64, 4 epochs
//   grid-fast         same env and network, docs/results.md config: 16 envs × 64 steps, minibatch 256, 2 epochs
// SPRIG (ours only; PyTorch has no counterpart here) is timed on grid-fast.
// The first update is warm-up (pipeline compilation) and is not counted.

import { execFileSync } from 'node:child_process';
import * as E from '../engine/index.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { createEnv } from '../rl/harness/envs.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { RunConfig } from '../rl/harness/types.ts';
import { getAlgorithm } from '../rl/registry.ts';
import type { SprigConfig } from '../rl/sprig.ts';
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
  env: 'cartpole' | 'grid';
  cfg: Partial<SprigConfig>;
}

const CASES: Case[] = [
  { name: 'cartpole-cleanrl', env: 'cartpole', cfg: { numEnvs: 4, numSteps: 128, minibatchSize: 128, updateEpochs: 4, lr: 2.5e-4 } },
  { name: 'cartpole-fast', env: 'cartpole', cfg: { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 6, lr: 3e-3 } },
  { name: 'grid-paper', env: 'grid', cfg: { numEnvs: 8, numSteps: 256, minibatchSize: 64, updateEpochs: 4, lr: 1e-4 } },
  { name: 'grid-fast', env: 'grid', cfg: { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3 } },
];

function makeEnv(kind: Case['env'], numEnvs: number): VecEnv {
  if (kind === 'cartpole') return createEnv('cartpole', { numEnvs, seed: 0 });
  return new VecEnv({
    id: 'dummy-grid', numEnvs, seed: 0,
    observationSpace: { kind: 'box', shape: [10, 10, 4], low: new Array(400).fill(0), high: new Array(400).fill(1) },
    actionSpace: { kind: 'discrete', n: 3 },
    maxEpisodeSteps: 0,
    makeCore: () => new DummyGrid(),
  });
}

/** Steps/s of our trainer; gpuEnv: rollouts on rl/envs/gpu (envDevice 'gpu', CartPole only). */
async function ours(c: Case, algo: 'ppo' | 'sprig', updates: number, gpuEnv = false): Promise<number> {
  const a = await getAlgorithm(algo);
  const cfg = resolveLayers(a.defaults, a.schema, [{ source: c.name, values: { ...c.cfg, env: c.env, totalSteps: 1e9, logEvery: 1e9, ...(algo === 'sprig' ? { frameStack: 2 } : {}), ...(gpuEnv ? { envDevice: 'gpu' } : {}) } }]) as RunConfig & SprigConfig;
  const t = new Trainer(a, cfg, gpuEnv ? {} : { env: makeEnv(c.env, cfg.numEnvs) });
  await t.step(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < updates; i++) await t.step();
  const s = (performance.now() - t0) / 1000;
  t.dispose();
  return (updates * cfg.numEnvs * cfg.numSteps) / s;
}

function torch(c: Case, updates: number): number | null {
  const f = c.cfg;
  try {
    const out = execFileSync('/usr/bin/python3', [
      'bench/ppo_torch.py', '--case', c.env === 'cartpole' ? 'cartpole' : 'minatar-dummy',
      '--num-envs', String(f.numEnvs), '--num-steps', String(f.numSteps), '--minibatch', String(f.minibatchSize),
      '--epochs', String(f.updateEpochs), '--updates', String(updates), '--lr', String(f.lr),
    ], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!).steps_per_s;
  } catch (e) {
    console.error(`torch run failed (${(e as Error).message.split('\n')[0]}); is python3-torch installed?`);
    return null;
  }
}

async function main() {
  const args = process.argv.slice(2);
  const updates = Number(args[args.indexOf('--updates') + 1] || 3) || 3;
  const only = args.includes('--case') ? args[args.indexOf('--case') + 1] : null;
  const noTorch = args.includes('--no-torch');
  await E.init();
  const rows: string[] = ['| case | ours PPO (steps/s) | PyTorch PPO (steps/s) | ours / PyTorch | ours PPO, GPU env (steps/s) | GPU env / PyTorch | ours SPRIG (steps/s) |', '|---|---|---|---|---|---|---|'];
  for (const c of CASES) {
    if (only && c.name !== only) continue;
    const o = await ours(c, 'ppo', updates);
    const p = noTorch ? null : torch(c, updates);
    const g = c.env === 'cartpole' ? await ours(c, 'ppo', updates, true) : null;
    const s = c.name === 'grid-fast' ? await ours(c, 'sprig', Math.max(1, Math.floor(updates / 2))) : null;
    const ratio = (x: number | null) => (x === null || p === null ? '–' : (x / p).toFixed(2) + '×');
    const row = `| ${c.name} | ${o.toFixed(0)} | ${p === null ? '–' : p.toFixed(0)} | ${ratio(o)} | ${g === null ? '–' : g.toFixed(0)} | ${ratio(g)} | ${s === null ? '–' : s.toFixed(0)} |`;
    rows.push(row);
    console.error(row);
  }
  console.log(rows.join('\n'));
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
