// The kernel benchmark page: bench/core.ts's cases and the kernel cases of bench/common.ts on
// this browser's WebGPU adapter, each row made by bench/core.ts's runCase (checked against the
// float64 reference, dispatches counted, timed, GPU timestamps where the adapter has them), so
// the rows are the objects `npm run bench` writes to bench/results/<adapter>.json.
//
// Peers: tfjs-webgpu and jax-js run side by side through the Node bench's own adapters
// (bench/peers/tfjs.ts, bench/peers/jax.ts), given the modules this bundle holds; each case is
// run by bench/core.ts's runCase (every engine checked against float64, repeats interleaved), as
// bench/run.ts does in Node. A peer that does not load gets a failed row per case with its error.

// bench/common.ts reads its options from process.argv and process.env (Node). A page has
// neither: give it an empty pair before anything asks (the engine only treats `process` as Node
// when process.versions.node is set, which this object lacks).
(globalThis as { process?: unknown }).process ??= { argv: [], env: {} };

import * as E from '../../engine/index.ts';
import { CORE_CASES, addRatios, runCase, setTuning } from '../../bench/core.ts';
import type { Peer } from '../../bench/peers/peer.ts';
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

// Filled in by scripts/build-browser.mjs (esbuild `define`) from the installed packages' package.json.
declare const __PEER_VERSIONS__: Record<string, string>;
const PEER_VERSIONS: Record<string, string> = typeof __PEER_VERSIONS__ === 'undefined' ? {} : __PEER_VERSIONS__;

export const PEER_NAMES = ['tfjs-webgpu', 'jax-js'] as const;
type PeerName = (typeof PEER_NAMES)[number];

/** The peers, loaded on first use (their modules are lazy chunks: tfjs alone is ~1 MB). */
const PEER_LOADERS: Record<PeerName, () => Promise<Peer>> = {
  'tfjs-webgpu': async () => {
    const [{ createTfjsPeer }, tf, webgpu] = await Promise.all([
      import('../../bench/peers/tfjs.ts'), import('@tensorflow/tfjs-core'), import('@tensorflow/tfjs-backend-webgpu'),
    ]);
    return createTfjsPeer({ tf, webgpu, version: tf.version_core });
  },
  'jax-js': async () => {
    const [{ createJaxPeer }, jax] = await Promise.all([import('../../bench/peers/jax.ts'), import('@jax-js/jax')]);
    return createJaxPeer({ jax, version: PEER_VERSIONS['@jax-js/jax'] ?? '?' });
  },
};

export const PEERS_NOTE =
  'tfjs-webgpu (@tensorflow/tfjs-core + tfjs-backend-webgpu, on this page\'s GPUDevice) and jax-js (its own device on this browser\'s adapter) ' +
  'run side by side with ours through the adapters of `npm run bench` (bench/peers/tfjs.ts, bench/peers/jax.ts): each result is checked against the same float64 reference, ' +
  'then the engines\' repeats are interleaved. A peer that does not load in this browser gets a failed row per case naming its error.';

const loaded = new Map<PeerName, Promise<Peer>>();
const peerInfo: Record<string, string> = {};
const notes: string[] = [];

/** Loads the chosen peers once; a peer that fails to load is an Error here (and stays one). */
async function loadPeers(names: readonly PeerName[]): Promise<Map<PeerName, Peer | Error>> {
  const out = new Map<PeerName, Peer | Error>();
  for (const n of names) {
    let p = loaded.get(n);
    if (!p) loaded.set(n, (p = PEER_LOADERS[n]()));
    try {
      const peer = await p;
      peerInfo[n] = peer.details ?? peer.version;
      out.set(n, peer);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      const note = `${n} unavailable: ${errorText(err)}`;
      if (!notes.includes(note)) notes.push(note);
      out.set(n, err);
    }
  }
  $('peer-status').textContent = names.length
    ? [...out].map(([n, p]) => (p instanceof Error ? `${n}: did not load (${errorText(p)})` : `${n}: ${peerInfo[n]}`)).join('; ')
    : 'peers off';
  return out;
}

const rows: Row[] = [];
let adapter: Record<string, unknown> = {};

function fmt(v: number | undefined, d = 3) {
  return v === undefined || !Number.isFinite(v) ? '' : v >= 100 ? v.toFixed(0) : v.toPrecision(d);
}

/** On a peer's row: the peer's time over ours on the same case (> 1 = ours is faster), as bench/results' ratios. */
function vsOurs(r: Row): string {
  if (r.engine === 'ours' || r.status !== 'ok' || !r.wall) return '';
  const o = rows.find((x) => x.id === r.id && x.engine === 'ours');
  return o?.status === 'ok' && o.wall ? `${(r.wall.median / o.wall.median).toFixed(2)}×` : '';
}

function addRowToTable(r: Row) {
  const tr = document.createElement('tr');
  tr.dataset.id = r.id;
  tr.dataset.status = r.status;
  tr.dataset.engine = r.engine;
  const rate = r.wall && r.flops ? `${fmt(r.flops / r.wall.median / 1e6)} GFLOP/s` : r.wall && r.bytes ? `${fmt(r.bytes / r.wall.median / 1e6)} GB/s` : '';
  const cells = [
    r.id, r.engine, r.group, r.status,
    r.wall ? fmt(r.wall.median) : '', r.wall ? `${fmt(r.wall.min)}–${fmt(r.wall.max)} ×${r.wall.iters}` : '',
    r.gpu ? fmt(r.gpu.median) : '', rate, r.err !== undefined ? r.err.toExponential(1) : '',
    r.metrics?.dispatches !== undefined ? String(r.metrics.dispatches) : '', vsOurs(r), r.note ?? '',
  ];
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    td.textContent = c;
    if (i >= 4 && i <= 10) td.className = 'num';
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
    versions: { ...PEER_VERSIONS },
    peers: { ...peerInfo },
    notes: [...notes, tiles === 'tuned' ? 'tiles tuned on this page before the first case' : "the engine's default tiles (not tuned: a browser keeps no tile cache)"],
    tiles,
    rows,
  };
}

let tiles: 'tuned' | 'defaults' = 'defaults';

async function run(selectedIds: string[], quick: boolean, tune: boolean, peerNames: readonly PeerName[]) {
  setOptions(quick ? { quick, targetMs: 60, repeats: 5, warmup: 2 } : { quick, targetMs: 200, repeats: 7, warmup: 2 });
  setTuning(tune ? 'tune' : 'defaults');
  tiles = tune ? 'tuned' : 'defaults';
  rows.length = 0;
  $('rows').replaceChildren();
  document.body.dataset.state = 'running';
  const cases = BENCH_CASES.filter((c) => selectedIds.includes(c.id));
  if (peerNames.length) status(`loading ${peerNames.join(' and ')}…`);
  const peers = await loadPeers(peerNames);
  const ready = [...peers.values()].filter((p): p is Peer => !(p instanceof Error));
  for (const [i, c] of cases.entries()) {
    status(`running ${i + 1}/${cases.length}: ${c.id}${i === 0 && tune ? ' (the first case tunes the tiles for this adapter first, as npm run bench does)' : ''}`);
    const got = await runCase(c.spec, c.id, c.group, ready);
    // a peer that did not load: one failed row per case, with its error, where it would have run
    for (const [n, p] of peers) if (p instanceof Error) got.push({ id: c.id, group: c.group, engine: n, status: 'failed', spec: c.spec, note: `did not load in this browser: ${errorText(p)}` });
    rows.push(...got);
    addRatios(rows);
    for (const r of got) addRowToTable(r);
  }
  $('json').textContent = JSON.stringify(results(quick), null, 1);
  document.body.dataset.state = 'done';
  const failed = rows.filter((r) => r.status !== 'ok').length;
  status(`done: ${rows.length} rows (${[...new Set(rows.map((r) => r.engine))].join(', ')})${failed ? `, ${failed} failed (see notes)` : ''}; our live buffers ${E.memory().liveBuffers}`, failed ? 'error' : 'ok');
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
  // ?peers=0 runs ours alone; ?peers=jax-js (comma-separated) picks peers
  const peerBoxes = PEER_NAMES.map((n) => {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = n;
    box.checked = true;
    label.append(box, ` ${n} `);
    $('peer-choice').appendChild(label);
    return box;
  });
  if (q.get('peers') !== null) {
    const want = q.get('peers')!.split(',').map((s) => s.trim());
    const bad = want.filter((w) => w && w !== '0' && !(PEER_NAMES as readonly string[]).includes(w));
    if (bad.length) status(`URL parameter peers: unknown peer ${bad.map((b) => `'${b}'`).join(', ')}; peers: ${PEER_NAMES.join(', ')} (or 0 for none)`, 'error');
    for (const b of peerBoxes) b.checked = want.includes(b.value);
  }
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
      const peerNames = peerBoxes.filter((b) => b.checked).map((b) => b.value as PeerName);
      await run(ids, $<HTMLInputElement>('quick').checked, $<HTMLInputElement>('tune').checked, peerNames);
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
