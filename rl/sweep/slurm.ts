// The SLURM backend: one `sbatch --array` job whose array task i runs cell i through the cell
// runner. Submitted when `sbatch` is on PATH, otherwise written and printed. `--resume`
// resubmits only the cells that are neither done nor queued/running (squeue). There is no
// `sacct` on clusters without accounting, so state comes from squeue and the cells' own status
// files, never from the accounting database.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cellState, MANIFEST_FILE, type SweepManifest } from './manifest.ts';
import { PROJECT_ROOT } from './cell.ts';
import type { SlurmOptions } from './spec.ts';

/** Compresses sorted cell indices into SLURM's array syntax ("0-3,5,7-9"). */
export function arraySpec(indices: number[]): string {
  const s = [...new Set(indices)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Expands SLURM array syntax back into indices (tests; reading a script). */
export function parseArraySpec(spec: string): number[] {
  const out: number[] = [];
  for (const p of spec.replace(/%\d+$/, '').split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) throw new Error(`not a SLURM array spec: '${spec}'`);
    for (let i = Number(m[1]); i <= Number(m[2] ?? m[1]); i++) out.push(i);
  }
  return out;
}

/** The job name: the sweep's name plus a hash of its root, so two sweeps never share one. */
export function jobName(manifest: SweepManifest, root: string): string {
  return `sweep-${manifest.name}-${createHash('sha1').update(path.resolve(root)).digest('hex').slice(0, 8)}`;
}

function shq(s: string): string {
  return /^[A-Za-z0-9_./@%:=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function renderSbatch(manifest: SweepManifest, root: string, indices: number[], s: SlurmOptions): string {
  if (!indices.length) throw new Error('renderSbatch: no cells to submit');
  const bad = indices.find((i) => !(i >= 0 && i < manifest.cells.length));
  if (bad !== undefined) throw new Error(`renderSbatch: cell ${bad} is out of range (0..${manifest.cells.length - 1})`);
  const abs = path.resolve(root);
  const L = ['#!/bin/bash'];
  L.push(`#SBATCH --job-name=${jobName(manifest, root)}`);
  L.push(`#SBATCH --array=${arraySpec(indices)}${s.maxParallel ? `%${s.maxParallel}` : ''}`);
  L.push('#SBATCH --ntasks=1');
  L.push(`#SBATCH --cpus-per-task=${s.cpusPerTask}`);
  L.push(`#SBATCH --mem=${s.mem}`);
  L.push(`#SBATCH --time=${s.time}`);
  L.push(`#SBATCH --output=${abs}/logs/slurm-%A_%a.out`);
  if (s.partition) L.push(`#SBATCH --partition=${s.partition}`);
  if (s.account) L.push(`#SBATCH --account=${s.account}`);
  if (s.qos) L.push(`#SBATCH --qos=${s.qos}`);
  if (s.gpus) L.push(`#SBATCH --gres=gpu:${s.gpus}`);
  // A cell killed by the scheduler (time limit, preemption) gets SIGTERM first: the cell runner
  // marks it interrupted, and its last checkpoint is where `sweep --resume` continues.
  L.push('#SBATCH --signal=B:TERM@60');
  for (const e of s.extra) L.push(`#SBATCH ${e}`);
  L.push('');
  L.push(`# Sweep '${manifest.name}': ${manifest.cells.length} cells in ${abs}; array task i runs cell i of ${MANIFEST_FILE}.`);
  L.push('# Written by `npm run rl -- sweep`; resubmit unfinished cells with `npm run rl -- sweep <file> --resume`.');
  L.push('set -eo pipefail');
  L.push('export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}');
  for (const line of s.setup) L.push(line);
  L.push(`NODE=\${NODE:-${shq(process.execPath)}}`);
  L.push(`cd ${shq(PROJECT_ROOT)}`);
  L.push(`exec "$NODE" --import tsx rl/sweep/cell.ts ${shq(path.join(abs, MANIFEST_FILE))} "$SLURM_ARRAY_TASK_ID" --root ${shq(abs)}`);
  return L.join('\n') + '\n';
}

export function hasCommand(cmd: string): boolean {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && !!r.stdout.trim();
}

export interface Submission {
  jobId: string;
  indices: number[];
  submitted: string;
  script: string;
}

function submissionsFile(root: string) {
  return path.join(root, 'slurm', 'submissions.jsonl');
}

export function readSubmissions(root: string): Submission[] {
  const f = submissionsFile(root);
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Submission);
}

/** Array tasks of this sweep that SLURM still holds (pending or running): cell index → state. */
export function activeTasks(manifest: SweepManifest, root: string): Map<number, string> {
  const out = new Map<number, string>();
  const ids = new Set(readSubmissions(root).map((s) => s.jobId));
  // Nothing submitted from this root: no task of ours can be queued, so SLURM is not asked (a
  // dry run or a first --resume works without a reachable controller).
  if (ids.size === 0 || !hasCommand('squeue')) return out;
  // -r: one line per array element, also for pending ones ("123_[4-9]" otherwise).
  const r = spawnSync('squeue', ['-h', '-r', '-n', jobName(manifest, root), '-o', '%F|%K|%T'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`squeue failed: ${r.stderr.trim()}`);
  for (const line of r.stdout.split('\n')) {
    const [job, task, state] = line.trim().split('|');
    if (!job || !ids.has(job)) continue;
    const i = Number(task);
    if (Number.isInteger(i)) out.set(i, state);
  }
  return out;
}

/** Cells to submit: all (first submission) or those neither done nor held by SLURM (resume). */
export function cellsToSubmit(manifest: SweepManifest, root: string, resume: boolean): number[] {
  const active = resume ? activeTasks(manifest, root) : new Map<number, string>();
  return manifest.cells.filter((c) => !active.has(c.index) && cellState(root, c).state !== 'done').map((c) => c.index);
}

export interface SlurmSubmitResult {
  script: string;
  indices: number[];
  /** The job id when submitted; null when sbatch is not available (script printed). */
  jobId: string | null;
}

export function submitSlurm(manifest: SweepManifest, root: string, s: SlurmOptions, o: { resume?: boolean; dryRun?: boolean } = {}): SlurmSubmitResult {
  const indices = cellsToSubmit(manifest, root, !!o.resume);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const script = path.join(root, 'slurm', `sweep-${stamp}.sbatch`);
  if (!indices.length) return { script: '', indices, jobId: null };
  fs.mkdirSync(path.dirname(script), { recursive: true });
  fs.mkdirSync(path.join(root, 'logs'), { recursive: true });
  fs.writeFileSync(script, renderSbatch(manifest, root, indices, s), { mode: 0o755 });
  if (o.dryRun || !hasCommand('sbatch')) return { script, indices, jobId: null };
  const r = spawnSync('sbatch', ['--parsable', script], { encoding: 'utf8', cwd: PROJECT_ROOT });
  if (r.status !== 0) throw new Error(`sbatch ${script} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim()}`);
  const jobId = r.stdout.trim().split(';')[0];
  fs.appendFileSync(submissionsFile(root), JSON.stringify({ jobId, indices, submitted: new Date().toISOString(), script } satisfies Submission) + '\n');
  return { script, indices, jobId };
}

/** Polls squeue until none of this sweep's array tasks is pending or running (sbatch --wait returns ~30 s late). */
export async function waitSlurm(manifest: SweepManifest, root: string, o: { pollMs?: number; timeoutMs?: number; log?: (m: string) => void } = {}): Promise<void> {
  const poll = o.pollMs ?? 2000, t0 = Date.now();
  let last = '';
  for (;;) {
    const active = activeTasks(manifest, root);
    const counts = new Map<string, number>();
    for (const st of active.values()) counts.set(st, (counts.get(st) ?? 0) + 1);
    const done = manifest.cells.filter((c) => cellState(root, c).state === 'done').length;
    const line = `slurm: ${done}/${manifest.cells.length} cells done; ${[...counts].map(([k, v]) => `${v} ${k.toLowerCase()}`).join(', ') || 'none queued'}`;
    if (line !== last) o.log?.(line), (last = line);
    if (!active.size) return;
    if (o.timeoutMs !== undefined && Date.now() - t0 > o.timeoutMs) throw new Error(`waitSlurm: still ${active.size} task(s) in the queue after ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, poll));
  }
}
