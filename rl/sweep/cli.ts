// `npm run rl -- sweep <file>`: plans a sweep (writes <out>/sweep.json), then runs it on the
// chosen backend. Registered in rl/cli.ts; also runs on its own (`npx tsx rl/sweep/cli.ts sweep …`).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { cellState, MANIFEST_FILE, readManifest, trainArgs, writeJsonAtomic, type SweepManifest } from './manifest.ts';
import { BACKENDS, makeManifest, readSweepFile, type Backend } from './spec.ts';
import { defaultParallel, runLocal } from './local.ts';
import { hasCommand, submitSlurm, waitSlurm } from './slurm.ts';
import { ALGORITHM_NAMES } from '../registry.ts';
import { ENV_IDS } from '../envs/index.ts';

/**
 * Writes the manifest, or checks that an existing one agrees: a cell whose arguments changed
 * would mix two configurations in one run directory, so that is an error; new cells are added.
 * `current` is the cells this file defines: an earlier plan's cells stay in the manifest (SLURM
 * array tasks refer to their indices) but a local run runs only `current`, so a file cut down
 * to one seed runs that seed even after the whole grid was planned. `write: false` (--list)
 * checks and reports without touching the out root.
 */
export function planSweep(file: string, o: { out?: string; write?: boolean } = {}): { manifest: SweepManifest; current: SweepManifest; root: string; spec: ReturnType<typeof readSweepFile> } {
  const spec = readSweepFile(file);
  // Names checked here, before the out root is touched: a typo would otherwise be appended to an
  // existing sweep's manifest as a cell that fails when it runs.
  const algoNames = ALGORITHM_NAMES();
  spec.algos.forEach((a, i) => {
    if (!algoNames.includes(a.name)) throw new Error(`${file}: algos[${i}]: unknown algorithm '${a.name}' (valid: ${algoNames.join(', ')})`);
  });
  spec.envs.forEach((e, i) => {
    if (!ENV_IDS.includes(e.id)) throw new Error(`${file}: envs[${i}]: unknown env id '${e.id}' (valid: ${ENV_IDS.join(', ')})`);
  });
  const root = path.resolve(o.out ?? spec.out);
  const fresh = makeManifest(spec, file);
  const old = readManifest(root);
  let manifest = fresh;
  if (old) {
    const byId = new Map(old.cells.map((c) => [c.id, c]));
    for (const c of fresh.cells) {
      const p = byId.get(c.id);
      if (p && JSON.stringify(trainArgs(p, root)) !== JSON.stringify(trainArgs(c, root))) {
        throw new Error(`${file}: cell ${c.id} already exists in ${root} with other arguments (${trainArgs(p, root).slice(1).join(' ')}); use a new out root or restore the sweep file`);
      }
    }
    // Keep the old indices stable (running array tasks refer to them); append new cells.
    const cells = [...old.cells];
    for (const c of fresh.cells) if (!byId.has(c.id)) cells.push({ ...c, index: cells.length });
    manifest = { ...old, retries: fresh.retries, cells };
  }
  if (o.write !== false) {
    fs.mkdirSync(root, { recursive: true });
    writeJsonAtomic(path.join(root, MANIFEST_FILE), manifest);
  }
  const ids = new Set(fresh.cells.map((c) => c.id));
  return { manifest, current: { ...manifest, cells: manifest.cells.filter((c) => ids.has(c.id)) }, root, spec };
}

/** A path as the user would type it: relative when under the current directory. */
function shown(p: string): string {
  const r = path.relative(process.cwd(), p);
  return !r ? '.' : r.startsWith('..') ? p : r;
}

export function summary(manifest: SweepManifest, root: string): { line: string; unfinished: string[] } {
  const counts = new Map<string, number>();
  const unfinished: string[] = [];
  for (const c of manifest.cells) {
    const s = cellState(root, c);
    counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
    if (s.state !== 'done') unfinished.push(`  ${c.id}: ${s.state}${s.note ? ` (${s.note})` : ''}`);
  }
  return { line: `${manifest.cells.length} cells: ${[...counts].map(([k, v]) => `${v} ${k}`).join(', ')}`, unfinished };
}

export function registerSweep(program: Command): Command {
  return program
    .command('sweep')
    .description('run a grid of train runs (algorithms × envs × presets × configs × seeds) locally, on SLURM or on Kubernetes; see docs/sweeps.md')
    .argument('<file>', 'sweep file (.yaml, .yml or .json)')
    .option('--backend <name>', `override the file's backend (${BACKENDS.join(', ')})`)
    .option('--out <dir>', "override the file's output root")
    .option('--resume', 'continue: run (local) or resubmit (slurm, k8s) only the cells that are not done', false)
    .option('--jobs <n>', 'local: cells at once (default: local.parallel, else the core count)')
    .option('--dry-run', 'write sweep.json and the backend script/manifest, run nothing', false)
    .option('--wait', 'slurm: poll squeue until the array finishes, then print the summary', false)
    .option('--list', 'print the cells and their state, run nothing, write nothing', false)
    .action(async (file: string, o) => {
      const { manifest, current, root, spec } = planSweep(file, { out: o.out, write: !o.list });
      const backend = (o.backend ?? spec.backend) as Backend;
      if (!BACKENDS.includes(backend)) throw new Error(`--backend: '${backend}' is not a backend (valid: ${BACKENDS.join(', ')})`);
      console.error(`sweep ${manifest.name}: ${manifest.cells.length} cells → ${root} (backend ${backend})`);
      if (o.list) {
        const ids = new Set(current.cells.map((c) => c.id));
        for (const c of manifest.cells) console.log(`${String(c.index).padStart(4)} ${c.id}  ${cellState(root, c).state}${ids.has(c.id) ? '' : '  (an earlier plan\'s cell, not in this file)'}`);
        return;
      }
      if (backend === 'local') {
        if (o.dryRun) return;
        const jobs = o.jobs !== undefined ? Number(o.jobs) : spec.local.parallel ?? defaultParallel();
        if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected an integer ≥ 1, got '${o.jobs}'`);
        const earlier = manifest.cells.length - current.cells.length;
        if (earlier) console.error(`sweep ${manifest.name}: ${current.cells.length} cells of this file run; ${earlier} cell(s) of an earlier plan in ${shown(path.join(root, MANIFEST_FILE))} are not in it and do not`);
        const r = await runLocal(current, root, { parallel: jobs });
        const s = summary(current, root);
        console.log(`sweep ${manifest.name}: ${s.line}`);
        console.log(`report: npm run rl -- report ${shown(root)}`);
        // An error (exit status 1) rather than a quiet summary: no failed cell goes unnoticed.
        if (r.failed.length || r.interrupted.length || s.unfinished.length) throw new Error(`${s.unfinished.length} cell(s) not done (rerun with --resume; logs in ${path.join(root, 'logs')}):\n${s.unfinished.join('\n')}`);
      } else if (backend === 'slurm') {
        const r = submitSlurm(manifest, root, spec.slurm, { resume: o.resume, dryRun: o.dryRun });
        if (!r.indices.length) {
          console.log(`slurm: nothing to submit (every cell is done or still queued). ${summary(manifest, root).line}`);
          return;
        }
        if (r.jobId) console.log(`slurm: submitted job ${r.jobId}, array of ${r.indices.length} cell(s): ${r.script}`);
        else {
          console.log(fs.readFileSync(r.script, 'utf8'));
          console.log(`# ${o.dryRun ? 'dry run' : 'sbatch is not on PATH'}: submit with  sbatch ${r.script}`);
        }
        if (o.wait && r.jobId) {
          await waitSlurm(manifest, root, { log: (m) => console.error(m) });
          const s = summary(manifest, root);
          console.log(`sweep ${manifest.name}: ${s.line}`);
          if (s.unfinished.length) throw new Error(`${s.unfinished.length} cell(s) not done (resubmit with --resume):\n${s.unfinished.join('\n')}`);
        }
      } else {
        // kubernetes-models' schema validators load only for this backend.
        const { writeK8s } = await import('./k8s.ts');
        const { file: f, render } = writeK8s(manifest, root, spec.k8s, o.resume);
        console.log(`k8s: wrote ${f} (Job ${render.jobName}, ${manifest.cells.length} indices, validated against the Kubernetes schema)`);
        console.log(`  build the image:  podman build -f deploy/Containerfile -t ${spec.k8s.image} .`);
        console.log(`  run:              kubectl apply -f ${f}${hasCommand('kubectl') ? '' : '   (kubectl is not on PATH here)'}`);
        console.log(`  then copy the volume's runs to ${root} and: npm run rl -- report ${shown(root)}`);
      }
    });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const program = new Command().name('sweep');
  registerSweep(program);
  program.parseAsync(process.argv).catch((e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  });
}
