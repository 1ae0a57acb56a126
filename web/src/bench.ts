// The kernel benchmark page: bench/core.ts's cases and the kernel cases of bench/common.ts on
// this browser's WebGPU adapter, each row made by bench/core.ts's runOurs (checked against the
// float64 reference, dispatches counted, timed, GPU timestamps where the adapter has them), so
// the rows are the objects `npm run bench` writes to bench/results/<adapter>.json.
//
// Peers: bench/peers/tfjs.ts and jax.ts are Node modules (createRequire from node:module for
// their versions, a Node navigator shim), so they are not in the browser bundle; the page says so.

// bench/common.ts reads its options from process.argv and process.env (Node). A page has
// neither: give it an empty pair before anything asks (the engine only treats `process` as Node
// when process.versions.node is set, which this object lacks).
(globalThis as { process?: unknown }).process ??= { argv: [], env: {} };

import * as E from '../../engine/index.ts';
import { CORE_CASES, runOurs, setTuning } from '../../bench/core.ts';
import { KERNEL_CASES, setOptions, specLabel, type CaseSpec, type Row } from '../../bench/common.ts';
import { $, download, errorText, startEngine, status } from './ui.ts';

export interface BenchCase {
  id: string;
  group: string;
  spec: CaseSpec;
}

function groupOf(s: CaseSpec): string {
  return s.kind === 'mlp_grad' ? 'mlp' : s.kind === 'adam' ? 'optimizer' : s.kind;
}

/** Every case of `npm run bench` that has a spec: the core cases, then the kernel cases (ids as bench/run.ts writes them). */
export const BENCH_CASES: BenchCase[] = [
  ...CORE_CASES,
  ...Object.values(KERNEL_CASES).map((spec) => ({ id: specLabel(spec), group: groupOf(spec), spec })),
];

export const PEERS_NOTE =
  'tfjs-webgpu and jax-js are not run here: their bench adapters (bench/peers/tfjs.ts, bench/peers/jax.ts) are Node modules ' +
  '(node:module createRequire for their versions, a Node navigator shim), so they are not in the browser bundle. ' +
  'Side-by-side figures come from `npm run bench` in Node (docs/benchmarks.md).';

const rows: Row[] = [];
let adapter: Record<string, unknown> = {};

function fmt(v: number | undefined, d = 3) {
  return v === undefined || !Number.isFinite(v) ? '' : v >= 100 ? v.toFixed(0) : v.toPrecision(d);
}

function addRowToTable(r: Row) {
  const tr = document.createElement('tr');
  tr.dataset.id = r.id;
  tr.dataset.status = r.status;
  const rate = r.wall && r.flops ? `${fmt(r.flops / r.wall.median / 1e6)} GFLOP/s` : r.wall && r.bytes ? `${fmt(r.bytes / r.wall.median / 1e6)} GB/s` : '';
  const cells = [
    r.id, r.group, r.status,
    r.wall ? fmt(r.wall.median) : '', r.wall ? `${fmt(r.wall.min)}–${fmt(r.wall.max)} ×${r.wall.iters}` : '',
    r.gpu ? fmt(r.gpu.median) : '', rate, r.err !== undefined ? r.err.toExponential(1) : '',
    r.metrics?.dispatches !== undefined ? String(r.metrics.dispatches) : '', r.note ?? '',
  ];
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    td.textContent = c;
    if (i >= 3 && i <= 8) td.className = 'num';
    tr.appendChild(td);
  });
  $('rows').appendChild(tr);
}

/** The results object: the layout of bench/results/<adapter>.json, with browser facts for the machine. */
export function results(quick: boolean) {
  return {
    command: `browser: ${location.pathname}`,
    date: new Date().toISOString(),
    quick,
    machine: { userAgent: navigator.userAgent, cores: navigator.hardwareConcurrency },
    adapter,
    pollingMode: 'browser (the page awaits mapAsync; no Dawn polling throttle)',
    versions: {},
    peers: {},
    notes: [PEERS_NOTE, tiles === 'tuned' ? 'tiles tuned on this page before the first case' : "the engine's default tiles (not tuned: a browser keeps no tile cache)"],
    tiles,
    rows,
  };
}

let tiles: 'tuned' | 'defaults' = 'defaults';

async function run(selectedIds: string[], quick: boolean, tune: boolean) {
  setOptions(quick ? { quick, targetMs: 60, repeats: 5, warmup: 2 } : { quick, targetMs: 200, repeats: 7, warmup: 2 });
  setTuning(tune ? 'tune' : 'defaults');
  tiles = tune ? 'tuned' : 'defaults';
  rows.length = 0;
  $('rows').replaceChildren();
  document.body.dataset.state = 'running';
  const cases = BENCH_CASES.filter((c) => selectedIds.includes(c.id));
  for (const [i, c] of cases.entries()) {
    status(`running ${i + 1}/${cases.length}: ${c.id}${i === 0 && tune ? ' (the first case tunes the tiles for this adapter first, as npm run bench does)' : ''}`);
    const r = await runOurs(c.spec, c.id, c.group);
    rows.push(r);
    addRowToTable(r);
  }
  $('json').textContent = JSON.stringify(results(quick), null, 1);
  document.body.dataset.state = 'done';
  const failed = rows.filter((r) => r.status !== 'ok').length;
  status(`done: ${rows.length} rows${failed ? `, ${failed} failed (see notes)` : ''}; live buffers ${E.memory().liveBuffers}`, failed ? 'error' : 'ok');
}

async function main() {
  $('peers').textContent = PEERS_NOTE;
  const list = $('cases');
  for (const c of BENCH_CASES) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = c.id;
    box.checked = ['overhead', 'elementwise'].includes(c.group) || c.id === 'matmul 256²';
    label.append(box, ` ${c.id} `);
    const g = document.createElement('small');
    g.textContent = c.group;
    label.append(g);
    list.appendChild(label);
  }
  const q = new URLSearchParams(location.search);
  if (q.get('cases')) {
    const want = q.get('cases')!.split(',').map((s) => s.trim());
    const bad = want.filter((w) => !BENCH_CASES.some((c) => c.id === w));
    if (bad.length) status(`URL parameter cases: unknown case ${bad.map((b) => `'${b}'`).join(', ')}; cases: ${BENCH_CASES.map((c) => c.id).join(', ')}`, 'error');
    for (const box of list.querySelectorAll('input')) box.checked = want.includes(box.value);
  }
  if (q.get('quick') === '0') $<HTMLInputElement>('quick').checked = false;
  if (q.get('tune') === '1') $<HTMLInputElement>('tune').checked = true;
  if (!(await startEngine())) {
    document.body.dataset.ready = 'no-webgpu';
    return;
  }
  const rt = E.runtime();
  adapter = { ...rt.info.adapterInfo, features: [...rt.info.features] };
  document.body.dataset.ready = 'yes';
  const btn = $<HTMLButtonElement>('run');
  btn.disabled = false;
  const go = async () => {
    btn.disabled = true;
    try {
      const ids = [...list.querySelectorAll('input')].filter((b) => (b as HTMLInputElement).checked).map((b) => (b as HTMLInputElement).value);
      if (!ids.length) throw new Error('no case selected');
      await run(ids, $<HTMLInputElement>('quick').checked, $<HTMLInputElement>('tune').checked);
    } catch (e) {
      document.body.dataset.state = 'failed';
      status(errorText(e), 'error');
    } finally {
      btn.disabled = false;
    }
  };
  btn.onclick = () => void go();
  $('download').onclick = () => download(JSON.stringify(results($<HTMLInputElement>('quick').checked), null, 1), 'bench-browser.json', 'application/json');
  if (q.get('autorun') === '1') await go();
}

void main().catch((e) => status(`the page failed to start: ${errorText(e)}`, 'error'));
