// Reading runs for reports: finds every run (a directory holding config.json, the seed
// directories `train` writes) under any number of paths at any nesting, and reads its training
// and evaluation lines. Only files are read, so runs from any backend (local, SLURM, Kubernetes,
// copied from elsewhere) merge the same way.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** A point of a learning curve: env step and a return. */
export interface CurvePoint {
  step: number;
  value: number;
}

export interface RunData {
  dir: string;
  config: Record<string, unknown>;
  algo: string;
  env: string;
  preset: string | null;
  seed: number;
  totalSteps: number;
  /** Last env step logged (train or eval lines). */
  lastStep: number;
  /** Mean of the last 20 training episodes per train log line (`recent_return`). */
  train: CurvePoint[];
  /** Mean return of each evaluation (greedy/deterministic policy, own episodes). */
  evals: CurvePoint[];
  /** Whether the run reached its step budget (or its stopAtReturn target). */
  complete: boolean;
}

const SKIP_DIRS = new Set(['node_modules', '.git', 'logs', 'slurm', 'k8s', 'report']);

/** Every run directory under `paths` (a path that is itself a run counts), sorted. */
export function findRunDirs(paths: string[], maxDepth = 8): string[] {
  const out = new Set<string>();
  const walk = (d: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isFile() && e.name === 'config.json') && entries.some((e) => e.isFile() && /^metrics.*\.jsonl$|^checkpoint/.test(e.name))) {
      out.add(path.resolve(d));
      return;
    }
    if (depth >= maxDepth) return;
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.') && !SKIP_DIRS.has(e.name)) walk(path.join(d, e.name), depth + 1);
  };
  for (const p of paths) {
    if (!fs.existsSync(p)) throw new Error(`${p} does not exist`);
    if (!fs.statSync(p).isDirectory()) throw new Error(`${p} is not a directory (give run directories or a sweep root)`);
    walk(p, 0);
  }
  return [...out].sort();
}

function num(x: unknown): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** The mean return an evaluation line carries, in any of the shapes the harness may write. */
function evalValue(l: Record<string, unknown>): number | undefined {
  for (const k of ['eval_return', 'eval_mean_return', 'mean_return', 'return_mean', 'episodic_return', 'return']) {
    const v = num(l[k]);
    if (v !== undefined) return v;
  }
  for (const k of ['eval_returns', 'returns']) {
    const a = l[k];
    if (Array.isArray(a) && a.length && a.every((v) => typeof v === 'number')) return a.reduce((s: number, v: number) => s + v, 0) / a.length;
  }
  return undefined;
}

function isEvalLine(l: Record<string, unknown>): boolean {
  return l.kind === 'eval' || l.type === 'eval' || l.event === 'eval' || 'eval_return' in l || 'eval_returns' in l;
}

function readJsonl(file: string): Record<string, unknown>[] {
  if (!fs.existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  // A line being written while we read (a live run) is skipped, not an error.
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line);
      if (v && typeof v === 'object') out.push(v);
    } catch {
      // partial last line
    }
  }
  return out;
}

export function loadRun(dir: string): RunData {
  const cfgFile = path.join(dir, 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgFile}: ${(e as Error).message}`);
  }
  const algo = String(config.algo ?? '?');
  const env = String(config.env ?? '?');
  const preset = typeof config.preset === 'string' && config.preset ? config.preset : null;
  const seed = num(config.seed) ?? Number(path.basename(dir).replace(/^seed/, ''));
  const totalSteps = num(config.totalSteps) ?? Infinity;
  const train: CurvePoint[] = [], evals: CurvePoint[] = [];
  const lines: Record<string, unknown>[] = [...readJsonl(path.join(dir, 'metrics.jsonl')), ...readJsonl(path.join(dir, 'eval.jsonl')).map((l) => ({ kind: 'eval', ...l }))];
  let lastStep = 0;
  let lastTrainReturn: number | undefined;
  for (const l of lines) {
    const step = num(l.step);
    if (step === undefined) continue;
    lastStep = Math.max(lastStep, step);
    if (isEvalLine(l)) {
      const v = evalValue(l);
      if (v !== undefined) evals.push({ step, value: v });
    } else {
      const v = num(l.recent_return) ?? num(l.episodic_return);
      if (v !== undefined) train.push({ step, value: v }), (lastTrainReturn = v);
    }
  }
  train.sort((a, b) => a.step - b.step);
  evals.sort((a, b) => a.step - b.step);
  const stopAt = num(config.stopAtReturn);
  const complete = lastStep >= totalSteps || (stopAt !== undefined && lastTrainReturn !== undefined && lastTrainReturn >= stopAt);
  return { dir, config, algo, env, preset, seed, totalSteps, lastStep, train, evals, complete };
}

/**
 * The score of a run: the mean return of its last evaluation when it has evaluations, else
 * the last logged mean of its last 20 training episodes.
 */
export function finalScore(r: RunData, source: 'eval' | 'train'): number | undefined {
  const c = source === 'eval' ? r.evals : r.train;
  return c.at(-1)?.value;
}

/** Value of a curve at `step`: the last point at or before it (undefined before the first or after the last point). */
export function valueAt(c: CurvePoint[], step: number): number | undefined {
  if (!c.length || step < c[0].step || step > c[c.length - 1].step) return undefined;
  let lo = 0, hi = c.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (c[mid].step <= step) lo = mid;
    else hi = mid - 1;
  }
  return c[lo].value;
}
