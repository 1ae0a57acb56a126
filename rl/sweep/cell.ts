// The cell runner: runs one cell of a sweep as an ordinary `train` process and records what
// happened. Every backend calls it the same way, so retries, resumes and status files behave
// identically on a laptop, in a SLURM array task and in a Kubernetes Indexed Job pod:
//
//   node --import tsx rl/sweep/cell.ts <root>/sweep.json [index] [--root DIR]
//
// index: the argument, else $SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX (Kubernetes) or
// $SWEEP_CELL_INDEX. --root: where the runs go (default: the manifest's folder; Kubernetes
// mounts the manifest from a ConfigMap and the runs on a volume).
//
// `train --resume` continues from the cell's checkpoint when one exists, so a killed or
// preempted cell picks up where its last checkpoint left it. A failed attempt is retried
// (manifest.retries, default once), then reported as failed in the status file and the exit
// code; a cell killed by a signal is marked interrupted and not retried here (the scheduler or
// `sweep --resume` reruns it).

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MANIFEST_FILE, checkpointStep, lastLoggedStep, logFile, readManifest, readStatus, startMode, statusFile, trainArgs, writeJsonAtomic,
  type CellStatus, type CodeVersion, type SweepCell, type SweepManifest,
} from './manifest.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(PROJECT_ROOT, 'rl', 'cli.ts');

/** How to start a TS entry point of this project as a child process (node with tsx's loader). */
export function tsxCommand(script: string, args: string[]): { cmd: string; args: string[] } {
  return { cmd: process.execPath, args: ['--import', 'tsx', script, ...args] };
}

function tail(file: string, n = 5): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
    return lines.slice(-n).join(' | ').slice(-600);
  } catch {
    return '';
  }
}

/** Source folders whose contents decide a run's numbers (docs, tests and benches do not). */
const SOURCE_DIRS = ['engine', 'kernels', 'rl', 'games', 'package-lock.json'];

/**
 * The commit checked out in `dir` and the source files that differ from it, or null where
 * `dir` is not a git checkout or git is missing (a cluster node may have neither).
 */
export function codeVersion(dir: string = PROJECT_ROOT): CodeVersion | null {
  const git = (args: string[]) => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', timeout: 10_000 });
  const head = git(['rev-parse', 'HEAD']);
  if (head.status !== 0 || !/^[0-9a-f]{40}$/.test(head.stdout.trim())) return null;
  const st = git(['status', '--porcelain', '--untracked-files=all', '--', ...SOURCE_DIRS]);
  if (st.status !== 0) return null;
  const dirty = st.stdout.split('\n').filter((l) => l.trim()).map((l) => l.slice(3).trim()).sort();
  return { commit: head.stdout.trim(), dirty };
}

export interface CellResult {
  state: CellStatus['state'];
  exitCode: number;
}

/** Runs a cell with retries; resolves with its final state (never throws for a failed run). */
export async function runCell(manifest: SweepManifest, cell: SweepCell, root: string, o: { onChild?: (pid: number) => void; signal?: AbortSignal } = {}): Promise<CellResult> {
  const runDir = path.resolve(root, cell.runDir);
  const prev = readStatus(root, cell);
  const host = os.hostname();
  if (prev?.state === 'done' && fs.existsSync(path.join(runDir, 'config.json'))) return { state: 'done', exitCode: 0 };
  const log = logFile(root, cell);
  fs.mkdirSync(path.dirname(log), { recursive: true });
  const history = prev?.history ?? [];
  const maxAttempts = 1 + manifest.retries;
  let status: CellStatus | null = null;
  let interrupted: NodeJS.Signals | null = null;
  let child: ReturnType<typeof spawn> | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    child?.kill(sig);
  };
  const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1'];
  for (const s of sigs) process.on(s, onSignal);
  o.signal?.addEventListener('abort', () => onSignal('SIGTERM'));
  try {
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      const mode = startMode(root, cell);
      const fromStep = mode === 'resume' ? checkpointStep(runDir) : 0;
      const started = new Date().toISOString();
      history.push({ attempt: history.length + 1, fromStep, started, host, code: codeVersion() });
      status = { state: 'running', attempts: history.length, exitCode: null, signal: null, resumedFromStep: fromStep, history, host, pid: process.pid, updated: started };
      writeJsonAtomic(statusFile(root, cell), status);
      fs.appendFileSync(log, `\n=== ${started} ${host} attempt ${attempt}/${maxAttempts} of cell ${cell.index} (${cell.id}), ${mode === 'resume' ? `resuming from the checkpoint at step ${fromStep}` : mode === 'overwrite' ? 'restarting (no checkpoint was written)' : 'fresh'}\n`);
      const { cmd, args } = tsxCommand(CLI, trainArgs(cell, root, mode));
      fs.appendFileSync(log, `$ ${[cmd, ...args].map((a) => (/[\s'"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
      const fd = fs.openSync(log, 'a');
      const res = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
        child = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
        o.onChild?.(child.pid!);
        child.on('error', (error) => resolve({ code: null, signal: null, error }));
        child.on('exit', (code, signal) => resolve({ code, signal }));
      });
      child = null;
      fs.closeSync(fd);
      const h = history[history.length - 1];
      h.ended = new Date().toISOString();
      h.exitCode = res.code;
      h.signal = res.signal;
      status = { ...status, exitCode: res.code, signal: res.signal ?? interrupted, updated: h.ended };
      if (res.code === 0 && !interrupted) {
        status.state = 'done';
        status.message = undefined;
        writeJsonAtomic(statusFile(root, cell), status);
        return { state: 'done', exitCode: 0 };
      }
      if (interrupted) {
        status.state = 'interrupted';
        status.message = `stopped by ${interrupted} at step ${lastLoggedStep(runDir)}`;
        writeJsonAtomic(statusFile(root, cell), status);
        return { state: 'interrupted', exitCode: 143 };
      }
      status.message = res.error ? res.error.message : tail(log);
      fs.appendFileSync(log, `=== attempt ${attempt} failed: exit ${res.code ?? res.signal}${attempt < maxAttempts ? '; retrying (with --resume)' : ''}\n`);
      status.state = attempt < maxAttempts ? 'running' : 'failed';
      writeJsonAtomic(statusFile(root, cell), status);
    }
    return { state: 'failed', exitCode: 1 };
  } finally {
    for (const s of sigs) process.removeListener(s, onSignal);
  }
}

function cellIndexFromEnv(): string | undefined {
  return process.env.SLURM_ARRAY_TASK_ID ?? process.env.JOB_COMPLETION_INDEX ?? process.env.SWEEP_CELL_INDEX;
}

async function main(argv: string[]) {
  const pos: string[] = [];
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = argv[++i];
    else pos.push(argv[i]);
  }
  const [mfile, idxArg] = pos;
  if (!mfile) throw new Error('usage: cell.ts <root>/sweep.json [index] [--root DIR]');
  const mdir = fs.statSync(mfile).isDirectory() ? mfile : path.dirname(mfile);
  const manifest = fs.statSync(mfile).isDirectory() ? readManifest(mfile) : (JSON.parse(fs.readFileSync(mfile, 'utf8')) as SweepManifest);
  if (!manifest) throw new Error(`${mfile}: no ${MANIFEST_FILE}`);
  const idxS = idxArg ?? cellIndexFromEnv();
  if (idxS === undefined) throw new Error('cell index: give it as an argument or set SLURM_ARRAY_TASK_ID / JOB_COMPLETION_INDEX / SWEEP_CELL_INDEX');
  const idx = Number(idxS);
  if (!Number.isInteger(idx) || idx < 0 || idx >= manifest.cells.length) throw new Error(`cell index ${idxS} is out of range: the sweep has cells 0..${manifest.cells.length - 1}`);
  const r = path.resolve(root ?? mdir);
  const cell = manifest.cells[idx];
  const res = await runCell(manifest, cell, r);
  console.log(`cell ${idx} (${cell.id}): ${res.state}${res.state === 'failed' ? ` (see ${path.relative(process.cwd(), logFile(r, cell))})` : ''}`);
  process.exitCode = res.exitCode;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(2);
  });
}
