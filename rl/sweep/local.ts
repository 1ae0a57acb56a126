// The local backend: N cells at a time, each a cell-runner child process (so a crashing
// training takes down only its own cell), with one progress bar for the whole sweep (env steps
// summed over all cells, read from their metrics files). Failed cells are retried by the cell
// runner, then listed at the end; the sweep exits non-zero when any cell failed.

import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import { cellState, lastLoggedStep, logFile, MANIFEST_FILE, readStatus, type SweepCell, type SweepManifest } from './manifest.ts';
import { PROJECT_ROOT, tsxCommand } from './cell.ts';

export interface LocalOptions {
  /** Cells at once (default: the number of cores). */
  parallel?: number;
  /** Progress bar on stderr (default: when stderr is a terminal); log lines otherwise. */
  progress?: boolean;
  log?: (msg: string) => void;
  /** Aborting acts as Ctrl-C (tests; embedding). */
  signal?: AbortSignal;
}

export interface LocalResult {
  done: SweepCell[];
  failed: SweepCell[];
  interrupted: SweepCell[];
  skipped: SweepCell[];
}

export function defaultParallel(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

export async function runLocal(manifest: SweepManifest, root: string, o: LocalOptions = {}): Promise<LocalResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const parallel = o.parallel ?? defaultParallel();
  const res: LocalResult = { done: [], failed: [], interrupted: [], skipped: [] };
  const todo: SweepCell[] = [];
  for (const c of manifest.cells) {
    if (cellState(root, c).state === 'done') res.skipped.push(c);
    else todo.push(c);
  }
  const budget = (c: SweepCell) => c.steps ?? 0;
  const totalSteps = manifest.cells.reduce((a, c) => a + budget(c), 0);
  const stepsOf = (c: SweepCell) => Math.min(budget(c) || Infinity, lastLoggedStep(path.resolve(root, c.runDir)));
  const useBar = (o.progress ?? !!process.stderr.isTTY) && totalSteps > 0;
  const bar = useBar
    ? new cliProgress.SingleBar({ format: 'sweep |{bar}| {percentage}% | {value}/{total} env steps | cells: {done} done, {running} running, {failed} failed of {cells} | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic)
    : null;
  const running = new Set<SweepCell>();
  const update = () => bar?.update(manifest.cells.reduce((a, c) => a + (res.skipped.includes(c) || res.done.includes(c) ? budget(c) : stepsOf(c)), 0), {
    done: res.done.length + res.skipped.length, running: running.size, failed: res.failed.length, cells: manifest.cells.length,
  });
  bar?.start(totalSteps, 0, { done: res.skipped.length, running: 0, failed: 0, cells: manifest.cells.length });
  if (!bar) log(`sweep ${manifest.name}: ${todo.length} cell(s) to run (${res.skipped.length} already done), ${parallel} at a time`);
  const timer = setInterval(update, 2000);
  const children = new Set<ReturnType<typeof spawn>>();
  const queue = [...todo];
  // Ctrl-C / SIGTERM: start nothing more, stop the running cells (they record 'interrupted' and
  // resume from their checkpoints on the next `sweep --resume`).
  const onSig = () => {
    queue.length = 0;
    for (const ch of children) ch.kill('SIGTERM');
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  o.signal?.addEventListener('abort', onSig);
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) {
      running.add(c);
      const { cmd, args } = tsxCommand(path.join(PROJECT_ROOT, 'rl', 'sweep', 'cell.ts'), [path.join(root, MANIFEST_FILE), String(c.index), '--root', root]);
      const code = await new Promise<number | null>((resolve) => {
        const ch = spawn(cmd, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
        children.add(ch);
        ch.on('error', () => resolve(null));
        ch.on('exit', (code) => (children.delete(ch), resolve(code)));
      });
      running.delete(c);
      const st = readStatus(root, c);
      if (code === 0 && st?.state === 'done') res.done.push(c);
      else if (st?.state === 'interrupted') res.interrupted.push(c);
      else res.failed.push(c);
      update();
      if (!bar) {
        const rel = path.relative(process.cwd(), logFile(root, c));
        const what = res.done.includes(c) ? 'done' : res.interrupted.includes(c) ? 'interrupted' : `FAILED (${rel.startsWith('..') ? logFile(root, c) : rel})`;
        log(`[${res.done.length + res.failed.length + res.interrupted.length}/${todo.length}] ${c.id}: ${what}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, todo.length) }, worker));
  } finally {
    clearInterval(timer);
    process.removeListener('SIGINT', onSig);
    process.removeListener('SIGTERM', onSig);
    update();
    bar?.stop();
  }
  return res;
}
