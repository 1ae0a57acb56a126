// The sweep manifest (<root>/sweep.json): every cell of the grid with the exact `train`
// arguments it runs, written once when a sweep is planned and read by every backend's cell
// runner (by index) and by the report (what was expected, what is missing). Paths inside are
// relative to the sweep root, so the root can be mounted anywhere (a cluster volume, a copy).
// Per-cell status files (<root>/status/<id>.json) record attempts, exit codes and resumes.

import * as fs from 'node:fs';
import * as path from 'node:path';

export const MANIFEST_FILE = 'sweep.json';

export type SetValue = number | string | boolean | null | number[];

export interface SweepCell {
  index: number;
  /** Unique, filesystem-safe name of the cell (status and log files use it). */
  id: string;
  /** Algorithm label in reports (algorithm, plus config preset / grid values when they vary). */
  label: string;
  algo: string;
  env: string;
  preset: string | null;
  /** Hyperparameter preset or config file passed as --config (null = none). */
  config: string | null;
  seed: number;
  steps: number | null;
  set: Record<string, SetValue>;
  /** `train --out` directory, relative to the root. */
  outDir: string;
  /** The run directory train writes (outDir/seed<k>), relative to the root. */
  runDir: string;
}

export interface SweepManifest {
  version: 1;
  name: string;
  created: string;
  /** The sweep file it came from (as given). */
  source: string;
  retries: number;
  cells: SweepCell[];
}

export type CellState = 'done' | 'running' | 'interrupted' | 'partial' | 'failed' | 'missing';

/**
 * The code an attempt ran: a cell's `train` process reads the working tree when it starts, so
 * an engine change committed (or merely saved) during a sweep changes rounding between its
 * cells. `dirty` lists the source files that differed from `commit` then (null: not a git
 * checkout, e.g. a container image).
 */
export interface CodeVersion {
  commit: string;
  dirty: string[];
}

export interface CellStatus {
  state: 'running' | 'done' | 'failed' | 'interrupted';
  attempts: number;
  exitCode: number | null;
  signal: string | null;
  /** Checkpoint step this attempt resumed from (0 = started fresh). */
  resumedFromStep: number;
  /** Every attempt's start step, in order (resumes across invocations accumulate). */
  history: Array<{ attempt: number; fromStep: number; started: string; ended?: string; exitCode?: number | null; signal?: string | null; host: string; code?: CodeVersion | null }>;
  host: string;
  pid: number;
  updated: string;
  message?: string;
}

/** Cell argument values as --set strings (arrays comma-joined, as the CLI parses them). */
export function setArg(k: string, v: SetValue): string {
  return `${k}=${Array.isArray(v) ? v.join(',') : v === null ? 'null' : String(v)}`;
}

/**
 * How a cell starts: from its checkpoint when it has one (--resume), over the leftovers of an
 * attempt that died before its first checkpoint (--overwrite), or fresh.
 */
export function startMode(root: string, cell: SweepCell): 'resume' | 'overwrite' | 'fresh' {
  const dir = path.resolve(root, cell.runDir);
  if (fs.existsSync(path.join(dir, 'checkpoint.safetensors'))) return 'resume';
  return fs.existsSync(dir) && fs.readdirSync(dir).length ? 'overwrite' : 'fresh';
}

/** The `train` arguments of a cell, with its --out resolved against the sweep root. */
export function trainArgs(cell: SweepCell, root: string, mode: 'resume' | 'overwrite' | 'fresh' = 'fresh'): string[] {
  const a = ['train', '--algo', cell.algo, '--env', cell.env, '--seeds', String(cell.seed), '--out', path.resolve(root, cell.outDir)];
  if (mode !== 'fresh') a.push(`--${mode}`);
  if (cell.config) a.push('--config', cell.config);
  if (cell.steps !== null) a.push('--steps', String(cell.steps));
  const sets: Record<string, SetValue> = { ...cell.set };
  if (cell.preset) sets.preset = cell.preset;
  for (const [k, v] of Object.entries(sets)) a.push('--set', setArg(k, v));
  return a;
}

export function readManifest(root: string): SweepManifest | null {
  const f = path.join(root, MANIFEST_FILE);
  if (!fs.existsSync(f)) return null;
  let m: SweepManifest;
  try {
    m = JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    throw new Error(`${f}: ${(e as Error).message}`);
  }
  if (m.version !== 1 || !Array.isArray(m.cells)) throw new Error(`${f}: not a sweep manifest (version ${m.version})`);
  return m;
}

export function writeJsonAtomic(file: string, value: unknown) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 1) + '\n');
  fs.renameSync(tmp, file);
}

export function statusFile(root: string, cell: SweepCell) {
  return path.join(root, 'status', `${cell.id}.json`);
}

export function logFile(root: string, cell: SweepCell) {
  return path.join(root, 'logs', `${cell.id}.log`);
}

export function readStatus(root: string, cell: SweepCell): CellStatus | null {
  try {
    return JSON.parse(fs.readFileSync(statusFile(root, cell), 'utf8')) as CellStatus;
  } catch {
    return null;
  }
}

/**
 * The env step a run's checkpoint was written at (0 without one), from the safetensors header
 * alone (8-byte length, then JSON whose __metadata__.state holds globalStep): no tensor is read.
 */
export function checkpointStep(runDir: string): number {
  const f = path.join(runDir, 'checkpoint.safetensors');
  if (!fs.existsSync(f)) return 0;
  const fd = fs.openSync(f, 'r');
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (!(n > 0 && n < 1e8)) return 0;
    const h = Buffer.alloc(n);
    fs.readSync(fd, h, 0, n, 8);
    const meta = JSON.parse(h.toString('utf8')).__metadata__ ?? {};
    const st = typeof meta.state === 'string' ? JSON.parse(meta.state) : {};
    return Number(st.globalStep ?? st.step ?? 0) || 0;
  } catch {
    return 0;
  } finally {
    fs.closeSync(fd);
  }
}

/** Last env step in a run directory's metrics (0 when none): cheap, reads the file once. */
export function lastLoggedStep(runDir: string): number {
  const f = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(f)) return 0;
  let last = 0;
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    const m = /"step":\s*(\d+)/.exec(line);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

/**
 * What state a cell is in, from its status file and its run directory: a run that reached its
 * budget is done whatever the status says (it may come from another machine).
 */
export function cellState(root: string, cell: SweepCell, run?: { complete: boolean; lastStep: number }): { state: CellState; note: string } {
  const st = readStatus(root, cell);
  const dir = path.resolve(root, cell.runDir);
  const exists = fs.existsSync(path.join(dir, 'config.json'));
  const complete = run ? run.complete : exists && cell.steps !== null && lastLoggedStep(dir) >= cell.steps;
  if (complete || (st?.state === 'done' && exists)) return { state: 'done', note: '' };
  if (st?.state === 'failed') return { state: 'failed', note: `failed after ${st.attempts} attempt(s), exit ${st.exitCode ?? st.signal}: ${st.message ?? ''} (log: logs/${cell.id}.log)` };
  if (st?.state === 'interrupted') return { state: 'interrupted', note: `stopped by ${st.signal ?? 'a signal'}; resumes from its last checkpoint` };
  if (st?.state === 'running') return { state: 'running', note: `running on ${st.host} (pid ${st.pid}) since ${st.updated}, or killed without notice` };
  if (exists) return { state: 'partial', note: 'started, not finished' };
  return { state: 'missing', note: 'not started' };
}
