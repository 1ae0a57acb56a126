// Runs on disk, made safe. One directory per seed:
//   <dir>/config.json             the resolved config
//   <dir>/metrics.jsonl           one JSON line per log step (kind 'train') and per evaluation (kind 'eval')
//   <dir>/checkpoint.safetensors  full state (atomic)
//   <dir>/run.lock                held while a process trains into the directory
//
// Safety rules (each has a test in test/rl/harness_safety.test.ts):
//   - everything is validated before any file is touched;
//   - a non-empty directory is refused unless `resume` (continue it) or `overwrite` (start over);
//   - `resume` without a checkpoint stops with an error (it never silently starts fresh);
//   - a resume continues the run's OWN config: only keys given explicitly change, the changes
//     are reported, and algo/env/preset/seed/numEnvs (and an algorithm's fixedOnResume keys)
//     may not change;
//   - the directory is locked while training (two processes cannot interleave metrics);
//   - metric lines logged after the checkpoint are dropped on resume, so the result is the run
//     an uninterrupted process would have produced.

import { configDiff, resolveLayers } from './config.ts';
import { preloadEnv } from './envs.ts';
import type { Storage } from './storage.ts';
import { CHECKPOINT_FILE, checkpointInfo, METRICS_FILE, Trainer, type EvalLine, type LogLine, type TrainerOptions } from './trainer.ts';
import type { Algorithm, RunConfig } from './types.ts';

export const CONFIG_FILE = 'config.json';
/** Files a run writes; `overwrite` removes exactly these. */
export const RUN_FILES = [CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE];
const ALWAYS_FIXED = ['algo', 'env', 'preset', 'seed', 'numEnvs'];

export interface RunOptions {
  storage: Storage;
  dir: string;
  algo: Algorithm;
  /** The resolved, validated config of a fresh run. */
  cfg: RunConfig;
  /** Continue from dir's checkpoint (required to exist). */
  resume?: boolean;
  /** Start over in a non-empty directory (removes the run's files). */
  overwrite?: boolean;
  /**
   * On resume: the keys the user gave explicitly this time (flags, --set, a config file);
   * they override the checkpoint's config, nothing else does.
   */
  explicit?: Record<string, unknown>;
  onLog?: (l: LogLine) => void;
  onEval?: (l: EvalLine) => void;
  onIteration?: (t: Trainer) => void;
  /** Every finished training episode (TrainerOptions.onEpisodes). */
  onEpisodes?: TrainerOptions['onEpisodes'];
  /** Stop (with a checkpoint) after this many iterations in this process (tests of resume). */
  maxIterations?: number;
}

export interface PreparedRun {
  cfg: RunConfig;
  /** "key: old → new" for each key a resume changed. */
  changes: string[];
  /** The checkpoint's step when resuming. */
  resumeStep: number | null;
}

/** Files in dir that belong to a run (anything but a stale lock counts as "not empty"). */
async function runContents(s: Storage, dir: string): Promise<string[]> {
  return (await s.list(dir)).filter((f) => f !== 'run.lock' && !/^\.checkpoint\.safetensors\.\d+\.tmp$/.test(f));
}

/**
 * Checks what a run would do to `dir` and works out its config, touching nothing: call it for
 * every seed before training any.
 */
export async function prepareRun(o: Pick<RunOptions, 'storage' | 'dir' | 'algo' | 'cfg' | 'resume' | 'overwrite' | 'explicit'>): Promise<PreparedRun> {
  const { storage: s, dir } = o;
  if (o.resume && o.overwrite) throw new Error('--resume and --overwrite contradict each other: pick one');
  const contents = await runContents(s, dir);
  const ckpt = s.join(dir, CHECKPOINT_FILE);
  if (o.resume) {
    if (!(await s.exists(ckpt))) {
      throw new Error(`--resume: ${dir} has no ${CHECKPOINT_FILE}${contents.length ? ` (it holds ${contents.join(', ')})` : ''}; nothing to resume. Start a new run without --resume (add --overwrite to replace what is there).`);
    }
    const info = checkpointInfo(await s.readBytes(ckpt), `checkpoint ${ckpt}`);
    const ex = o.explicit ?? {};
    for (const k of ['algo', 'env']) {
      if (k in ex && ex[k] !== undefined && ex[k] !== (info.config as Record<string, unknown>)[k]) {
        throw new Error(`--resume: the run in ${dir} is ${info.algo} on ${info.env}, but --${k} ${ex[k]} was given; drop --${k} to continue it, or train into another directory`);
      }
    }
    if (info.algo !== o.algo.name) throw new Error(`--resume: the run in ${dir} is ${info.algo}, not ${o.algo.name}`);
    const saved = { ...o.algo.defaults, ...info.config } as RunConfig;
    // Runs from before envDevice existed stepped the CPU env: they resume there, not on 'auto'.
    if ('envDevice' in o.algo.defaults && !('envDevice' in info.config)) (saved as { envDevice?: string }).envDevice = 'cpu';
    const cfg = resolveLayers(saved, o.algo.schema, [{ source: 'resume overrides', values: ex }]) as RunConfig;
    o.algo.validate?.(cfg);
    const changes = configDiff(saved, cfg);
    const fixed = [...ALWAYS_FIXED, ...(o.algo.fixedOnResume ?? [])];
    const bad = changes.filter((c) => fixed.includes(c.split(':')[0]));
    if (bad.length) throw new Error(`--resume: these keys define the run and cannot change: ${bad.join('; ')}`);
    if (cfg.totalSteps <= info.step) {
      throw new Error(`--resume: the run in ${dir} is already at step ${info.step} of totalSteps ${cfg.totalSteps}; raise --steps to continue it`);
    }
    return { cfg, changes, resumeStep: info.step };
  }
  if (contents.length && !o.overwrite) {
    throw new Error(`${dir} is not empty (${contents.join(', ')}): pass --resume to continue that run, --overwrite to replace it, or choose another --out`);
  }
  return { cfg: o.cfg, changes: [], resumeStep: null };
}

/** Keeps only the metric lines logged at or before `step` (a resumed run rewrites the rest). */
async function truncateMetrics(s: Storage, file: string, step: number) {
  if (!(await s.exists(file))) return;
  const lines = (await s.readText(file)).split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as { step: number }).step <= step;
    } catch {
      return false;
    }
  });
  await s.writeAtomic(file, kept.map((l) => l + '\n').join(''));
}

/**
 * Trains one seed into `dir` (after prepareRun's checks): locks the directory, writes
 * config.json, resumes or starts fresh, trains, writes the final checkpoint. Returns the
 * trainer (dispose it) and what a resume changed.
 */
export async function runSeed(o: RunOptions, prepared?: PreparedRun): Promise<{ trainer: Trainer; changes: string[] }> {
  const p = prepared ?? (await prepareRun(o));
  const { storage: s, dir } = o;
  await s.mkdir(dir);
  const lock = await s.lock(dir);
  let trainer: Trainer | null = null;
  try {
    if (o.overwrite) for (const f of RUN_FILES) await s.remove(s.join(dir, f));
    await s.writeAtomic(s.join(dir, CONFIG_FILE), JSON.stringify(p.cfg, null, 2) + '\n');
    await preloadEnv(p.cfg.env);
    trainer = new Trainer(o.algo, p.cfg, { dir, storage: s, onLog: o.onLog, onEval: o.onEval, onIteration: o.onIteration, onEpisodes: o.onEpisodes });
    if (p.resumeStep !== null) {
      await trainer.loadCheckpoint(s.join(dir, CHECKPOINT_FILE));
      await truncateMetrics(s, s.join(dir, METRICS_FILE), trainer.globalStep);
    }
    await trainer.train(o.maxIterations);
    return { trainer, changes: p.changes };
  } catch (e) {
    trainer?.dispose();
    throw e;
  } finally {
    await lock.release();
  }
}

/** Train and eval log lines of a run directory. */
export async function readMetrics(s: Storage, dir: string): Promise<{ train: LogLine[]; eval: EvalLine[] }> {
  const f = s.join(dir, METRICS_FILE);
  if (!(await s.exists(f))) return { train: [], eval: [] };
  const lines = (await s.readText(f)).split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l);
    } catch (e) {
      throw new Error(`${f}:${i + 1} is not valid JSON (${(e as Error).message})`);
    }
  });
  return { train: lines.filter((l) => l.kind !== 'eval'), eval: lines.filter((l) => l.kind === 'eval') };
}

/**
 * Runs a checkpoint's policy for `episodes` episodes on fresh envs (greedy/deterministic, or
 * sampled with greedy: false). The model is built from the checkpoint's own config.
 */
export async function evaluateCheckpoint(
  storage: Storage, file: string, algo: Algorithm, o: { episodes: number; numEnvs?: number; seed?: number; greedy?: boolean },
): Promise<EvalLine & { algo: string; env: string }> {
  const info = checkpointInfo(await storage.readBytes(file), `checkpoint ${file}`);
  if (info.algo !== algo.name) throw new Error(`checkpoint ${file} is ${info.algo}, not ${algo.name}`);
  // evaluation steps CPU envs only: no GPU env is made for it
  const cfg = { ...algo.defaults, ...info.config, numEnvs: o.numEnvs ?? 8, checkpointEvery: 0, ...('envDevice' in algo.defaults ? { envDevice: 'cpu' } : {}) } as RunConfig;
  await preloadEnv(cfg.env);
  const t = new Trainer(algo, cfg, { storage });
  try {
    await t.loadCheckpoint(file, { weightsOnly: true });
    const line = await t.evaluate(o.episodes, { seed: o.seed ?? 12345, greedy: o.greedy ?? true, write: false });
    return { ...line, algo: info.algo, env: info.env };
  } finally {
    t.dispose();
  }
}
