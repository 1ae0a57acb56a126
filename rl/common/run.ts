// Runs on disk: one directory per run, one subdirectory per seed.
//   runs/<name>/seed<k>/config.json          the resolved config
//   runs/<name>/seed<k>/metrics.jsonl        one JSON line per log step
//   runs/<name>/seed<k>/checkpoint.safetensors  weights + optimizer + RNG + env state (atomic)
// Resume: load the checkpoint, drop metric lines logged after it, continue; the result is the
// run an uninterrupted process would have produced.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { ppoAlgorithm, Trainer, type Algorithm, type LogLine, type TrainerOptions } from '../ppo.ts';
import { sprigAlgorithm } from '../sprig.ts';
import { resolveConfig, type TrainConfig } from './config.ts';
import { createEnv, obsShapeOf } from './envs.ts';
import { loadSafetensors } from './safetensors.ts';

export function makeAlgorithm(cfg: TrainConfig, obsShape: number[], numActions: number): Algorithm {
  return cfg.algo === 'sprig' ? sprigAlgorithm(cfg, obsShape, numActions) : ppoAlgorithm(cfg, obsShape, numActions);
}

export function makeTrainer(cfg: TrainConfig, o: TrainerOptions = {}): Trainer {
  const env = createEnv(cfg.env, { numEnvs: cfg.numEnvs, seed: cfg.seed, preset: cfg.preset });
  if (env.actionSpace.kind !== 'discrete') throw new Error(`${cfg.env} has a continuous action space; PPO/SPRIG here are discrete`);
  const algo = makeAlgorithm(cfg, obsShapeOf(env), env.actionSpace.n);
  return new Trainer(cfg, env, algo, o);
}

export function seedDir(out: string, seed: number) {
  return path.join(out, `seed${seed}`);
}

/** Reads the config stored in a checkpoint. */
export function checkpointConfig(file: string): TrainConfig {
  const { metadata } = loadSafetensors(file);
  if (!metadata.config) throw new Error(`checkpoint ${file} has no config in its metadata`);
  return JSON.parse(metadata.config) as TrainConfig;
}

/** Keeps only the metric lines logged at or before `step` (a resumed run rewrites the rest). */
function truncateMetrics(file: string, step: number) {
  if (!fs.existsSync(file)) return;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as LogLine).step <= step;
    } catch {
      return false;
    }
  });
  fs.writeFileSync(file, kept.map((l) => l + '\n').join(''));
}

export interface RunSeedOptions {
  resume?: boolean;
  onLog?: (l: LogLine) => void;
  onUpdate?: (t: Trainer) => void;
  /** Stop (with a checkpoint) after this many updates in this process: for tests of resume. */
  maxUpdates?: number;
}

/** Trains one seed into `dir`; resumes from dir/checkpoint.safetensors when asked and present. */
export async function runSeed(cfgIn: TrainConfig, dir: string, o: RunSeedOptions = {}): Promise<Trainer> {
  fs.mkdirSync(dir, { recursive: true });
  const ckpt = path.join(dir, 'checkpoint.safetensors');
  let cfg = cfgIn;
  const resuming = !!o.resume && fs.existsSync(ckpt);
  if (resuming) {
    // The run's own config wins (it defines the run); only the step budget may grow.
    cfg = resolveConfig(checkpointConfig(ckpt), { totalSteps: Math.max(cfgIn.totalSteps, checkpointConfig(ckpt).totalSteps) });
  } else {
    for (const f of ['metrics.jsonl', 'checkpoint.safetensors']) fs.rmSync(path.join(dir, f), { force: true });
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const trainer = makeTrainer(cfg, { dir, onLog: o.onLog, onUpdate: o.onUpdate });
  if (resuming) {
    await trainer.loadCheckpoint(ckpt);
    truncateMetrics(path.join(dir, 'metrics.jsonl'), trainer.globalStep);
  }
  if (o.maxUpdates !== undefined) {
    const stopAt = trainer.update + o.maxUpdates;
    while (!trainer.done() && trainer.update < stopAt) await trainer.step();
    await trainer.saveCheckpoint(ckpt);
  } else {
    await trainer.train();
  }
  await E.sync();
  return trainer;
}

export function readMetrics(dir: string): LogLine[] {
  const f = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LogLine);
}
