// `npm run bench [-- words...] [--quick] [--no-peers] [--no-torch] [--no-docs]`
//
// Runs every benchmark case on our engine and, side by side on the same adapter in the same
// process, on tfjs-webgpu and jax-js; PyTorch (CPU, or CUDA where present) in a separate
// process on the same cases. Each engine's result is checked against a float64 reference once
// per run (a wrong result reports no number). Writes bench/results/<adapter>.json and the
// table in docs/benchmarks.md. Words filter cases by id or group (`npm run bench -- matmul`);
// a filtered run merges its rows into the existing JSON and table.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from '../engine/index.ts';
import {
  type CaseSpec, type Row, opts, selected, pollingMode, errMessage, specLabel, specFlops, specBytes, KERNEL_CASES,
} from './common.ts';
import { CORE_CASES, runCase, addRatios } from './core.ts';
import type { Peer } from './peers/peer.ts';
import { runTorch, findTorch, type TorchInfo } from './peers/torch.ts';
import { QUOTE_SOURCES, rewriteQuotes, implicitRatioTo } from './quotes.ts';

// The checkout root: BENCH_ROOT, else the working directory when it holds bench/ (also in the
// esbuild bundle that gpu-pack.sh makes), else this file's parent folder.
const root = process.env.BENCH_ROOT ??
  (fs.existsSync(path.join(process.cwd(), 'bench', 'torch_bench.py')) ? process.cwd() : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith('--')));
const words = args.filter((a) => !a.startsWith('--'));
const filter = words.join(' ') || undefined;
// --polling=throttled|timer|busy: the engine's Dawn polling mode for every contender (default
// throttled; validated by setPollingMode, which lists the valid modes).
const pollingArg = args.find((a) => a.startsWith('--polling='));
if (pollingArg) E.setPollingMode(pollingArg.slice('--polling='.length) as E.PollingMode);
const withPeers = !flags.has('--no-peers');
const withTorch = withPeers && !flags.has('--no-torch');

const log = (...a: unknown[]) => console.error(...a);

export interface Results {
  command: string;
  date: string;
  quick: boolean;
  machine: { hostname: string; cpus: string; cores: number; memGiB: number; os: string; node: string; loadavgStart: number; loadavgEnd: number };
  adapter: { vendor: string; architecture: string; device: string; description: string; features: string[] };
  pollingMode: string;
  versions: Record<string, string>;
  peers: Record<string, string>;
  notes: string[];
  rows: Row[];
  goals?: ReturnType<typeof evaluateGoals>;
}

async function main() {
  if (flags.has('--report')) return reportOnly(words[0] ?? 'llvmpipe');
  if (flags.has('--tune-matmul')) {
    const { tuneMatmul } = await import('./core.ts');
    const res = await tuneMatmul(Number(words[0] ?? 1024));
    console.log(`matmul ${words[0] ?? 1024}² tiles, fastest first (current default ${JSON.stringify(E.getMatmulTile())}):`);
    for (const r of res) console.log(`  ${JSON.stringify(r.tile)}: ${r.gflops.toFixed(2)} GFLOP/s (${r.ms.toFixed(2)} ms)`);
    return;
  }
  const t0 = performance.now();
  const loadStart = os.loadavg()[0];
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  const rt = await E.init();
  const info = rt.info.adapterInfo;
  const slug = adapterSlug(info);
  const notes: string[] = [];
  log(`bench: adapter ${info.description || info.device} (${slug}); polling ${E.getPollingMode()}; ${opts().quick ? 'quick' : 'full'}${filter ? `; filter "${filter}"` : ''}`);

  // ---- peers in this process
  const peers: Peer[] = [];
  if (withPeers) {
    for (const [name, load] of [
      ['tfjs-webgpu', async () => (await import('./peers/tfjs.ts')).createTfjsPeer()],
      ['jax-js', async () => (await import('./peers/jax.ts')).createJaxPeer()],
    ] as const) {
      try {
        peers.push(await load());
      } catch (e) {
        notes.push(`${name} unavailable: ${errMessage(e)}`);
        log(`bench: ${name} unavailable: ${errMessage(e)}`);
      }
    }
  }
  const rows: Row[] = [];
  const push = (list: Row[]) => {
    for (const r of list) {
      rows.push(r);
      log(`  ${fmtRowLog(r)}`);
    }
  };

  // ---- core cases: ours and the peers, repeats interleaved case by case
  for (const c of CORE_CASES) {
    if (!selected(filter, c.id, c.group)) continue;
    push(await runCase(c.spec, c.id, c.group, peers));
  }

  // ---- the other bench modules (owned by their areas); missing ones are skipped with a note.
  // A row with a spec is re-run here on the shared inputs, checked, and timed interleaved with
  // the peers (through the same fused kernels); the module's own figure stays in metrics.moduleMs.
  // literal import() paths so esbuild (gpu-pack.sh) bundles them
  const modules: Array<[string, string, string, () => Promise<Record<string, unknown>>]> = [
    ['./kernels.ts', 'benchKernels', 'kernels (conv2d, attention, fused linear, MLP grad, optimizer step)', () => import('./kernels.ts')],
    ['./implicit.ts', 'benchImplicit', 'implicit differentiation (HVP/grad, leader update/grad)', () => import('./implicit.ts')],
    // envs pull in native rendering deps (resvg) that gpu-pack's bundle cannot hold: a runtime
    // specifier keeps them out of the bundle (there, env rows are skipped with a note; they are CPU figures anyway)
    ['./envs.ts', 'benchEnvs', 'environments (steps/s)', () => import(envsModule)],
    // CPU-side paths timed with benchmark.js (replay, the harness's per-step work)
    ['./cpu.ts', 'benchCpu', 'CPU-side (benchmark.js: replay, harness per-step work)', () => import(cpuModule)],
  ];
  for (const [file, fn, what, load] of modules) {
    let got: Row[] = [];
    try {
      const mod = await load();
      const f = mod[fn] as ((filter?: string) => Promise<Row[]>) | undefined;
      if (typeof f !== 'function') throw new Error(`bench/${file.slice(2)} has no ${fn} export`);
      log(`bench: ${what}`);
      got = (await f(filter)).map(normaliseRow);
    } catch (e) {
      notes.push(`${what}: skipped (${errMessage(e)})`);
      log(`bench: ${what}: skipped (${errMessage(e)})`);
    }
    for (const r of got) {
      if (!r.spec) {
        if (r.group !== 'envs' && r.group !== 'cpu' && !r.id.startsWith('calibration')) r.note = [r.note, 'timed only: no spec for a float64 check here (the module\'s tests cover it)'].filter(Boolean).join('; ');
        push([r]);
        continue;
      }
      push(await runCase(r.spec, r.id, r.group, peers, r));
    }
    if (file === './kernels.ts') {
      // canonical kernel cases the module did not provide
      const have = new Set(got.map((r) => JSON.stringify(r.spec)));
      for (const [id, spec] of Object.entries(KERNEL_CASES)) {
        if (have.has(JSON.stringify(spec)) || !selected(filter, id, spec.kind, specLabel(spec))) continue;
        push(await runCase(spec, specLabel(spec), groupOf(spec), peers));
      }
    }
  }

  // ---- PyTorch, a separate process on the same specs
  let torch: TorchInfo | null = null;
  const peerVersions: Record<string, string> = Object.fromEntries(peers.map((p) => [p.name, p.details ?? p.version]));
  if (withTorch) {
    torch = findTorch();
    if (!torch) {
      notes.push('PyTorch: no python3 with torch found (apt-get install python3-torch, or set BENCH_PYTHON): torch columns empty');
      log('bench: PyTorch not found; skipping');
    } else {
      const specs = rows.filter((r) => r.engine === 'ours' && r.spec).map((r) => ({ id: r.id, group: r.group, spec: r.spec! }));
      log(`bench: PyTorch ${torch.version} (${torch.device}) via ${torch.python} on ${specs.length} cases`);
      try {
        const tr = await runTorch(torch, specs);
        for (const r of tr) log(`  ${fmtRowLog(r)}`);
        rows.push(...tr);
        peerVersions[`torch-${torch.device}`] = `PyTorch ${torch.version} (${torch.device}${torch.details ? ', ' + torch.details : ''}) via ${torch.python}`;
      } catch (e) {
        notes.push(`PyTorch run failed: ${errMessage(e)}`);
      }
    }
  }

  // ---- results
  const resultsDir = path.join(root, 'bench', 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${slug}.json`);
  const command = `npm run bench${args.length ? ' -- ' + args.join(' ') : ''}`;
  let all = rows;
  if (filter && fs.existsSync(file)) {
    // a filtered run replaces only its own rows
    const prev = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
    const key = (r: Row) => `${r.id}\0${r.engine}`;
    const mine = new Set(rows.map(key));
    all = [...prev.rows.filter((r) => !mine.has(key(r))), ...rows];
    notes.push(...(prev.notes ?? []).filter((n) => !notes.includes(n)));
  }
  addRatios(all);
  const res: Results = {
    command: filter && fs.existsSync(file) ? `npm run bench (full), then ${command}` : command,
    date: new Date().toISOString(),
    quick: opts().quick,
    machine: {
      hostname: os.hostname(),
      cpus: os.cpus()[0]?.model ?? '?',
      cores: os.cpus().length,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.versions.node,
      loadavgStart: +loadStart.toFixed(2),
      loadavgEnd: +os.loadavg()[0].toFixed(2),
    },
    adapter: { ...info, features: [...rt.info.features] },
    pollingMode: pollingMode(),
    versions: versions(),
    peers: peerVersions,
    notes,
    rows: all,
  };
  res.goals = evaluateGoals(res);
  fs.writeFileSync(file, JSON.stringify(res, null, 1) + '\n');
  log(`bench: wrote ${path.relative(root, file)}`);
  // BENCH_OUT (e.g. $OUT on a lent GPU machine): a copy of the JSON and the markdown section
  if (process.env.BENCH_OUT) {
    fs.mkdirSync(process.env.BENCH_OUT, { recursive: true });
    fs.copyFileSync(file, path.join(process.env.BENCH_OUT, `${slug}.json`));
    fs.writeFileSync(path.join(process.env.BENCH_OUT, `${slug}.md`), renderMarkdown(res, slug) + '\n');
  }
  const md = renderMarkdown(res, slug);
  if (!flags.has('--no-docs')) {
    updateDoc(path.join(root, 'docs', 'benchmarks.md'), slug, md);
    log('bench: updated docs/benchmarks.md');
  }
  console.log(md);
  log(`bench: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

const envsModule: string = ['.', 'envs.ts'].join('/');
const cpuModule: string = ['.', 'cpu.ts'].join('/');

/** `--report [adapter]`: recomputes ratios and goals of bench/results/<adapter>.json and rewrites its docs section. */
function reportOnly(slug: string) {
  const file = path.join(root, 'bench', 'results', `${slug}.json`);
  const res = JSON.parse(fs.readFileSync(file, 'utf8')) as Results;
  addRatios(res.rows);
  res.goals = evaluateGoals(res);
  fs.writeFileSync(file, JSON.stringify(res, null, 1) + '\n');
  const md = renderMarkdown(res, slug);
  updateDoc(path.join(root, 'docs', 'benchmarks.md'), slug, md);
  console.log(md);
}

function groupOf(s: CaseSpec): string {
  return s.kind === 'mlp_grad' ? 'mlp' : s.kind === 'adam' ? 'optimizer' : s.kind;
}

/** Fills in derived fields of rows from other modules (flops/bytes from their spec). */
function normaliseRow(r: Row): Row {
  const out = { ...r, engine: r.engine ?? 'ours', status: r.status ?? 'ok' };
  if (out.spec) {
    out.flops ??= specFlops(out.spec);
    out.bytes ??= specBytes(out.spec);
  }
  return out;
}

function fmtRowLog(r: Row): string {
  const w = r.wall ? `${r.wall.median.toFixed(3)} ms [${r.wall.min.toFixed(3)}–${r.wall.max.toFixed(3)}] ×${r.wall.iters}` : '';
  const g = r.gpu ? ` gpu ${r.gpu.median.toFixed(3)} ms` : '';
  const f = r.wall && r.flops ? ` ${(r.flops / r.wall.median / 1e6).toFixed(2)} GFLOP/s` : '';
  const b = r.wall && r.bytes && !r.flops ? ` ${(r.bytes / r.wall.median / 1e6).toFixed(2)} GB/s` : '';
  const m = r.metrics ? ' ' + Object.entries(r.metrics).map(([k, v]) => `${k}=${+v.toPrecision(4)}`).join(' ') : '';
  return `${r.engine.padEnd(12)} ${r.status === 'ok' ? '' : r.status.toUpperCase() + ' '}${r.id}: ${w}${g}${f}${b}${m}${r.note ? ` (${r.note})` : ''}`;
}

export function adapterSlug(info: { vendor: string; architecture: string; device: string; description: string }): string {
  const d = `${info.device} ${info.description}`.toLowerCase();
  if (d.includes('llvmpipe')) return 'llvmpipe';
  if (d.includes('swiftshader')) return 'swiftshader';
  const name = (info.description || info.device || info.vendor || 'adapter').toLowerCase();
  return name.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'adapter';
}

function versions(): Record<string, string> {
  const v: Record<string, string> = { node: process.versions.node };
  for (const p of ['webgpu', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@jax-js/jax']) {
    try {
      v[p] = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      /* absent */
    }
  }
  try {
    v.mesa = execFileSync('sh', ['-c', "dpkg-query -W -f '${Version}' mesa-vulkan-drivers 2>/dev/null"], { encoding: 'utf8' }).trim();
    if (!v.mesa) delete v.mesa;
  } catch {
    /* not Debian */
  }
  try {
    v.commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  void spawnSync;
  return v;
}


// ------------------------------------------------------------------ report: goals, markdown

interface Goal {
  goal: string;
  target: string;
  measured: string;
  status: 'met' | 'missed' | 'not measured';
}

const byEngine = (rows: Row[], id: string, engine: string) => rows.find((r) => r.id === id && r.engine === engine);
const okMs = (r?: Row) => (r && r.status === 'ok' && r.wall ? r.wall.median : undefined);
const jsPeers = ['tfjs-webgpu', 'jax-js'];

export function evaluateGoals(res: Results): Goal[] {
  const rows = res.rows;
  const goals: Goal[] = [];
  const ratioGoal = (goal: string, target: number, ids: string[], peers: string[], extra?: (id: string) => string) => {
    const parts: string[] = [];
    let status: Goal['status'] = ids.length ? 'met' : 'not measured';
    for (const id of ids) {
      const ours = okMs(byEngine(rows, id, 'ours'));
      const best = Math.min(...peers.map((p) => okMs(byEngine(rows, id, p)) ?? Infinity));
      if (ours === undefined || !Number.isFinite(best)) {
        parts.push(`${id}: ${ours === undefined ? 'no valid figure of ours' : 'no valid peer figure'}`);
        if (status === 'met') status = 'not measured';
        continue;
      }
      const r = best / ours;
      parts.push(`${id}: ${r.toFixed(2)}×${extra ? extra(id) : ''}`);
      if (r < target) status = 'missed';
    }
    goals.push({ goal, target: `≥ ${target}×`, measured: parts.join('; ') || 'no rows', status });
  };
  const mm = 'matmul 1024²';
  ratioGoal('matmul 1024² f32 vs the best JS WebGPU peer', 2.0, rows.some((r) => r.id === mm && r.engine === 'ours') ? [mm] : [], jsPeers, (id) => {
    const r = byEngine(rows, id, 'ours');
    // the cores the row had (bench/common.ts timeInterleaved): a reading near 1 on a 2-core host
    // means a core was taken elsewhere while it ran, not that the kernel got slower
    const cores = r?.metrics?.cores;
    return r?.wall && r.flops ? ` (ours ${(r.flops / r.wall.median / 1e6).toFixed(1)} GFLOP/s${cores === undefined ? '' : `, ${cores.toFixed(2)} cores busy`})` : '';
  });
  const ourIds = (g: RegExp) => [...new Set(rows.filter((r) => r.engine === 'ours' && g.test(r.id)).map((r) => r.id))];
  ratioGoal('conv2d fwd+bwd vs jax-js', 1.5, ourIds(/^conv2d fwd\+bwd/), ['jax-js']);
  ratioGoal('MLP gradient vs jax-js jit(grad)', 1.5, ourIds(/^MLP grad/), ['jax-js']);
  const implicit = (re: RegExp, goal: string, target: number) => {
    const found = rows.filter((x) => x.engine === 'ours' && x.status === 'ok' && re.test(x.id) && x.metrics && Object.keys(x.metrics).some((k) => /ratio/i.test(k)));
    if (!found.length) {
      goals.push({ goal, target: `≤ ${target}×`, measured: 'no row (bench/implicit.ts)', status: 'not measured' });
      return;
    }
    const parts: string[] = [];
    let ok = true;
    for (const r of found) {
      const ks = Object.keys(r.metrics!).filter((k) => /ratio/i.test(k));
      const v = r.metrics![ks[0]];
      const more = ks.slice(1).map((k) => `, ${k} ${r.metrics![k].toFixed(2)}×`).join('');
      parts.push(`${r.id}: ${v.toFixed(2)}×${more}`);
      if (!(v <= target)) ok = false;
    }
    goals.push({ goal, target: `≤ ${target}×`, measured: parts.join('; '), status: ok ? 'met' : 'missed' });
  };
  implicit(/^hvp (?!linearised)/i, 'HVP (fresh: records ∇f, then differentiates ⟨∇f, v⟩) / gradient', 1.5);
  implicit(/^hvp linearised/i, 'HVP (linearised once, per further HVP, what a CG iteration costs) / gradient', 1.5);
  implicit(/leader/i, '10-iteration leader update (total derivative, 10 CG) / gradient', 12);
  const nvidia = /nvidia/i.test(`${res.adapter.vendor} ${res.adapter.description} ${res.adapter.device}`);
  if (nvidia) ratioGoal('f32 matmul vs PyTorch fp32 (TF32 off)', 0.7, [mm, 'matmul 2048²'].filter((id) => rows.some((r) => r.id === id)), ['torch-cuda']);
  else goals.push({ goal: 'on an NVIDIA GPU: f32 matmul vs PyTorch fp32 (TF32 off)', target: '≥ 0.7×', measured: 'not on this adapter (no GPU was lent to this task)', status: 'not measured' });
  return goals;
}

const GROUP_ORDER = ['matmul', 'conv2d', 'attention', 'linear', 'mlp', 'optimizer', 'implicit', 'overhead', 'elementwise', 'reduce', 'envs', 'cpu'];
const GROUP_TITLE: Record<string, string> = {
  matmul: 'matmul (f32)', conv2d: 'conv2d', attention: 'attention', linear: 'fused linear', mlp: 'MLP forward + gradient',
  optimizer: 'optimizer step', implicit: 'implicit differentiation', overhead: 'dispatch overhead and round trip',
  elementwise: 'elementwise', reduce: 'reductions', envs: 'environments', cpu: 'CPU-side work (benchmark.js)',
};

function fmt(ms: number): string {
  // below 10 µs (a CPU env step) three significant digits, so no figure prints as 0.000
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms >= 0.01 ? ms.toFixed(3) : ms.toPrecision(3);
}

function rate(r: Row): string {
  if (!r.wall || r.status !== 'ok') return '';
  if (r.flops) return `${(r.flops / r.wall.median / 1e6).toFixed(1)} GFLOP/s`;
  if (r.bytes) return `${(r.bytes / r.wall.median / 1e6).toFixed(1)} GB/s`;
  return '';
}

export function renderMarkdown(res: Results, slug: string): string {
  const rows = res.rows;
  const peerNames = [...new Set(rows.map((r) => r.engine).filter((e) => e !== 'ours'))].sort((a, b) => order(a) - order(b));
  const L: string[] = [];
  const a = res.adapter;
  L.push(`### ${slug}: ${a.description || a.device} (${a.vendor}${a.architecture ? ', ' + a.architecture : ''})`);
  L.push('');
  L.push(`- Command: \`${res.command}\`${res.quick ? ' (quick: fewer repetitions)' : ''}, ${res.date.slice(0, 16).replace('T', ' ')} UTC, commit ${res.versions.commit ?? '?'}`);
  L.push(`- Machine: ${res.machine.cpus}, ${res.machine.cores} cores, ${res.machine.memGiB} GiB, ${res.machine.os}, Node ${res.machine.node}; adapter features: ${a.features.join(', ') || 'none'}; ` +
    `1-min load average ${res.machine.loadavgStart ?? '?'} at start, ${res.machine.loadavgEnd ?? '?'} at end (other work on the machine inflates and scatters every engine's times alike)`);
  L.push(`- Dawn polling mode: ${res.pollingMode}`);
  L.push(`- Versions: ${Object.entries(res.versions).filter(([k]) => k !== 'commit').map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const [k, v] of Object.entries(res.peers)) L.push(`- Peer ${k}: ${v}`);
  L.push(`- Times are wall-clock ms per iteration: median [min–max] over repeats of N back-to-back iterations and one wait, after warm-up. ` +
    `\`kernel\` = our GPU time from timestamp queries (lavapipe's timestamps bracket each compute pass). ` +
    `Peer cells: median ms (speedup = peer time / our time; > 1 means we are faster). ` +
    `Every engine's result is checked against a float64 reference once per run; FAILED rows post no number.`);
  for (const n of res.notes) L.push(`- Note: ${n}`);
  L.push('');
  L.push('#### Goals');
  L.push('');
  L.push('| goal | target | measured | status |');
  L.push('|---|---|---|---|');
  for (const g of res.goals ?? []) L.push(`| ${g.goal} | ${g.target} | ${g.measured} | ${g.status === 'met' ? '**met**' : g.status === 'missed' ? '**missed**' : g.status} |`);
  L.push('');
  const groups = [...new Set(rows.map((r) => r.group))].sort((x, y) => gi(x) - gi(y));
  for (const g of groups) {
    const ids = [...new Set(rows.filter((r) => r.group === g).map((r) => r.id))];
    const ours = ids.map((id) => byEngine(rows, id, 'ours'));
    const hasKernel = ours.some((r) => r?.gpu);
    const gPeers = peerNames.filter((p) => rows.some((r) => r.group === g && r.engine === p));
    L.push(`#### ${GROUP_TITLE[g] ?? g}`);
    L.push('');
    if (g === 'implicit') {
      L.push(...implicitTable(rows.filter((r) => r.group === g && r.engine === 'ours')), '');
      continue;
    }
    const head = ['case', 'ours ms', 'rate', ...(hasKernel ? ['kernel ms'] : []), ...gPeers, 'notes'];
    L.push(`| ${head.join(' | ')} |`);
    L.push(`|${head.map(() => '---').join('|')}|`);
    for (const id of ids) {
      const o = byEngine(rows, id, 'ours');
      const cells: string[] = [id];
      cells.push(o ? cellOurs(o) : '—');
      cells.push(o ? rate(o) : '');
      if (hasKernel) cells.push(o?.gpu ? fmt(o.gpu.median) : '');
      for (const p of gPeers) {
        const r = byEngine(rows, id, p);
        if (!r) cells.push('—');
        else if (r.status !== 'ok' || !r.wall) cells.push(r.status === 'failed' ? `FAILED${r.note ? ` (${esc(r.note).slice(0, 80)})` : ''}` : r.status);
        else {
          const om = okMs(o);
          cells.push(`${fmt(r.wall.median)}${om ? ` (**${(r.wall.median / om).toFixed(2)}×**)` : ''}`);
        }
      }
      const notes: string[] = [];
      if (o?.metrics) notes.push(Object.entries(o.metrics).map(([k, v]) => `${k} ${+v.toPrecision(4)}`).join(', '));
      if (o?.note) notes.push(esc(o.note));
      cells.push(notes.join('; '));
      L.push(`| ${cells.join(' | ')} |`);
    }
    L.push('');
  }
  return L.join('\n');
}

/**
 * The implicit-differentiation rows in one unit per column: every time is per unit of work (one
 * gradient, one HVP, one leader update), so the linearised HVP row, timed as one linearisation
 * plus 10 HVPs, shows its per-HVP figures beside its per-HVP ratio.
 */
function implicitTable(rows: Array<Row & { ms?: number }>): string[] {
  const L = [
    '| case | unit of work | wall ms per unit, median [min–max] | wall ratio | CPU ms per unit | CPU ratio | ratio to | dispatches per unit | readbacks |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    if (r.status !== 'ok' || !r.wall) {
      L.push(`| ${r.id} | | ${cellOurs(r)} | | | | | | |`);
      continue;
    }
    // bench/implicit.ts stores the per-unit time in `ms`; the wall stats cover one timed step
    const per = r.ms ? Math.max(1, Math.round(r.wall.median / r.ms)) : 1;
    const m = r.metrics ?? {};
    // What a row is a ratio to comes from bench/implicit.ts's note (the variants it adds, e.g.
    // "hvp, no dual kernels" or "total derivative, recorded reverse", name it there too).
    const { toActor, toCritic } = implicitRatioTo(r);
    const unit = /^hvp linearised/.test(r.id)
      ? `one HVP (a step is 1 linearisation + ${per} HVPs, ÷ ${per})`
      : /^reverse-over-reverse hvp/.test(r.id) ? 'one HVP (reverse over reverse)'
      : /hvp/.test(r.id) && toCritic ? 'one HVP (records ∇f, then differentiates ⟨∇f, v⟩)'
      : toActor ? 'one leader update (total derivative, 10 CG iterations)'
      : /^actor grad/.test(r.id) ? "one gradient of the actor's loss"
      : /^grad/.test(r.id) ? "one gradient of the critic's loss" : 'one step';
    const to = toActor ? 'actor grad (actor + critic grads)' : toCritic ? 'critic grad' : '—';
    const ratio = (k: string, both?: string) => (m[k] === undefined ? '' : `${m[k]!.toFixed(2)}×${both && m[both] !== undefined ? ` (${m[both]!.toFixed(2)}×)` : ''}`);
    const wall = `${fmt(r.wall.median / per)} [${fmt(r.wall.min / per)}–${fmt(r.wall.max / per)}]`;
    L.push(`| ${r.id} | ${unit} | ${wall} | ${ratio('ratioToGrad', 'ratioToActorPlusCriticGrad')} | ${m.cpuMs === undefined ? '' : fmt(m.cpuMs)} | ` +
      `${ratio('cpuRatioToGrad', 'cpuRatioToActorPlusCriticGrad')} | ${to} | ${m.dispatches === undefined ? '' : +m.dispatches.toPrecision(4)} | ${m.readbacks ?? ''} |`);
  }
  L.push('', 'Timed only: these rows have no float64 check here (the solvers\' and games\' tests cover their correctness). ' +
    'CPU ms is the process\'s CPU time per unit (lavapipe runs the kernels on this process\'s threads), less moved by other jobs than wall time.');
  return L;
}

function cellOurs(r: Row): string {
  if (r.status === 'failed') return `FAILED${r.note ? ` (${esc(r.note).slice(0, 100)})` : ''}`;
  if (r.status === 'skipped' || !r.wall) return r.status === 'skipped' ? 'n/a' : '—';
  return `${fmt(r.wall.median)} [${fmt(r.wall.min)}–${fmt(r.wall.max)}]`;
}

function esc(s: string) {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
function order(e: string) {
  const i = ['tfjs-webgpu', 'jax-js', 'torch-cpu', 'torch-cuda'].indexOf(e);
  return i < 0 ? 99 : i;
}
function gi(g: string) {
  const i = GROUP_ORDER.indexOf(g);
  return i < 0 ? 99 : i;
}

/** Rewrites the section of docs/benchmarks.md between this adapter's markers (appends it if absent). */
export function updateDoc(file: string, slug: string, md: string) {
  const begin = `<!-- bench:begin ${slug} (generated by npm run bench; edits inside are overwritten) -->`;
  const end = `<!-- bench:end ${slug} -->`;
  let doc = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n\n## Results\n\n';
  const bi = doc.indexOf(`<!-- bench:begin ${slug} `);
  const ei = doc.indexOf(end);
  const block = `${begin}\n${md}\n${end}`;
  if (bi >= 0 && ei > bi) doc = doc.slice(0, bi) + block + doc.slice(ei + end.length);
  else doc = doc.replace(/\s*$/, '\n\n') + block + '\n';
  fs.writeFileSync(file, doc);
  refreshQuotes(slug);
}

/** Rewrites the figures that hand-written docs quote from bench/results/<slug>.json (bench/quotes.ts). */
function refreshQuotes(slug: string) {
  const source = path.join('bench', 'results', `${slug}.json`);
  for (const [doc, src] of Object.entries(QUOTE_SOURCES)) {
    if (src !== source) continue;
    const file = path.join(root, doc);
    try {
      const text = fs.readFileSync(file, 'utf8');
      const next = rewriteQuotes(text, JSON.parse(fs.readFileSync(path.join(root, src), 'utf8')));
      if (next !== text) fs.writeFileSync(file, next);
    } catch (e) {
      log(`bench: ${doc}: a quoted figure has no source in this run, so its prose was left as it was (test/docs.test.ts fails until it is fixed): ${errMessage(e)}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
