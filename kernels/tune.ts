// Per-adapter tile tables and autotuning.
//
// Tile shapes and workgroup sizes are pipeline constants chosen per adapter class and shape
// class: on lavapipe (LLVM on the CPU, 8-wide SIMD across invocations) register blocking with
// no workgroup memory wins and few, fat threads are best; on a discrete GPU many threads with
// smaller per-thread tiles win. `autotune()` times the candidates once per adapter and shape
// class and caches the choice (in memory, optionally in a JSON file).

import type { LinearTile } from './nn.ts';
import type { MatmulTile } from './matmul.ts';
import { nodeBuiltin as builtin } from './common.ts';

export type AdapterClass = 'lavapipe' | 'nvidia' | 'other';
export type KernelFamily = 'linear' | 'linearDual' | 'conv' | 'convBackInput' | 'convBackWeight' | 'attention' | 'attentionBackward' | 'matmul';

export interface ConvTile {
  /** Output pixels per thread. */
  TP: number;
  /** Output channels per thread. */
  TC: number;
  /** Workgroup size (1-D). */
  WG: number;
  /**
   * 1: im2col + the register-blocked linear/matmul kernels instead of the direct kernel (conv
   * forward and weight gradient only; TP and TC are then unused, WG is im2col's workgroup).
   */
  IM2COL?: number;
}
export interface AttentionTile {
  /** Key rows per online-softmax tile. */
  BK: number;
  /** Workgroup size (one thread per query row). */
  WG: number;
  /**
   * 1: batched matmuls and a softmax (the L×S probabilities materialised) instead of the fused
   * kernels: `attention` — the forward (and then its backward too, nothing fused is saved);
   * `attentionBackward` — the backward of a fused forward. BK and WG are then unused. On
   * lavapipe at short key lengths the register-blocked matmuls can beat one-thread-per-row.
   */
  COMPOSED?: number;
}
export type AnyTile = LinearTile | ConvTile | AttentionTile | MatmulTile;

export interface ShapeDims {
  M?: number;
  N?: number;
  K?: number;
  [k: string]: number | undefined;
}

/** 'small' (< 2^18 multiply-adds), 'medium' (< 2^24), 'large'. */
export function shapeClass(d: ShapeDims): 'small' | 'medium' | 'large' {
  const work = (d.M ?? 1) * (d.N ?? 1) * (d.K ?? 1);
  return work < 1 << 18 ? 'small' : work < 1 << 24 ? 'medium' : 'large';
}

type Table = Record<KernelFamily, Record<'small' | 'medium' | 'large', AnyTile>>;

export const DEFAULT_TABLES: Record<AdapterClass, Table> = {
  // Measured with autotune() on llvmpipe (Mesa 25.0.7, LLVM 15, 2 cores); see docs/kernels.md.
  lavapipe: {
    linear: {
      small: { TM: 8, TN: 4, WX: 8, WY: 8 },
      medium: { TM: 8, TN: 4, WX: 8, WY: 8 },
      large: { TM: 8, TN: 4, WX: 8, WY: 8 },
    },
    // The dual (value + tangent) linear forward of forward-mode HVPs: its own family, because it
    // holds two accumulators per output and so fits a different register tile than the plain
    // forward (on lavapipe 8×4 ran its tangent half at 3.6 ms where the 4×2 tile tuned for the
    // plain kernel on this host took 5.7: 256×256 layer, batch 100, .scratch timing in
    // docs/kernels.md)
    linearDual: {
      small: { TM: 8, TN: 4, WX: 8, WY: 8 },
      medium: { TM: 8, TN: 4, WX: 8, WY: 8 },
      large: { TM: 8, TN: 4, WX: 8, WY: 8 },
    },
    // 4×8 outputs per thread; large: 8×8 workgroups, the register-blocked probe's shape (the
    // engine's kernel at the probe's tile does the same work, so by default it is not slower);
    // autotune replaces a tile per host only when another beats it clearly (AutotuneOptions.margin)
    matmul: {
      small: { TM: 4, TN: 8, WX: 64, WY: 1 },
      medium: { TM: 4, TN: 8, WX: 64, WY: 1 },
      large: { TM: 4, TN: 8, WX: 8, WY: 8 },
    },
    conv: { small: { TP: 4, TC: 4, WG: 64 }, medium: { TP: 4, TC: 4, WG: 64 }, large: { TP: 4, TC: 4, WG: 64 } },
    convBackInput: { small: { TP: 1, TC: 4, WG: 64 }, medium: { TP: 1, TC: 4, WG: 64 }, large: { TP: 1, TC: 8, WG: 64 } },
    // the vec4 kernel (channels % 4 == 0): 8 output channels per thread and small workgroups, so
    // the few threads a weight gradient has (co/8 · taps · ci/TP) still spread over both cores
    // (bench/alternate.ts-style CPU times at MinAtar N32/N128 and Nature layer 3, load 8: {4,8,8}
    // 0.54 / 1.80 ms against {4,4,64} 0.84 / 2.27; {8,8,8} 10.7 against {4,8,64} 16.3 ms)
    convBackWeight: { small: { TP: 4, TC: 8, WG: 8 }, medium: { TP: 4, TC: 8, WG: 8 }, large: { TP: 8, TC: 8, WG: 8 } },
    // medium: the composed path (batched matmuls, probabilities saved for the backward). At
    // SPRIG's spatial attention (batch 256, 16 queries over 16 keys, d 32) forward + backward
    // took 16.0 ms of CPU composed against 26.3 fused (bench micro, alternating, load 8); its
    // single-query temporal attention stays fused whatever the tile (engine/nn/attention.ts)
    attention: { small: { BK: 32, WG: 64 }, medium: { BK: 32, WG: 64, COMPOSED: 1 }, large: { BK: 32, WG: 64 } },
    // the two backward kernels (dq; dk and dv) have their own tile: tuned on forward + backward
    attentionBackward: { small: { BK: 32, WG: 64 }, medium: { BK: 32, WG: 64, COMPOSED: 1 }, large: { BK: 32, WG: 64 } },
  },
  // Not measured (no GPU was lent to this task): many light threads, the usual shape for
  // discrete GPUs. Run autotune() on the GPU to replace them.
  nvidia: {
    linear: {
      small: { TM: 1, TN: 1, WX: 16, WY: 16 },
      medium: { TM: 2, TN: 2, WX: 16, WY: 8 },
      large: { TM: 4, TN: 4, WX: 16, WY: 16 },
    },
    linearDual: {
      small: { TM: 1, TN: 1, WX: 16, WY: 16 },
      medium: { TM: 2, TN: 2, WX: 16, WY: 8 },
      large: { TM: 4, TN: 4, WX: 16, WY: 16 },
    },
    matmul: {
      small: { TM: 2, TN: 4, WX: 16, WY: 8 },
      medium: { TM: 4, TN: 4, WX: 16, WY: 16 },
      large: { TM: 4, TN: 8, WX: 16, WY: 16 },
    },
    conv: { small: { TP: 1, TC: 4, WG: 128 }, medium: { TP: 2, TC: 4, WG: 128 }, large: { TP: 2, TC: 4, WG: 256 } },
    convBackInput: { small: { TP: 1, TC: 4, WG: 128 }, medium: { TP: 1, TC: 4, WG: 128 }, large: { TP: 1, TC: 4, WG: 256 } },
    convBackWeight: { small: { TP: 1, TC: 4, WG: 128 }, medium: { TP: 1, TC: 4, WG: 128 }, large: { TP: 1, TC: 4, WG: 256 } },
    attention: { small: { BK: 16, WG: 64 }, medium: { BK: 32, WG: 128 }, large: { BK: 32, WG: 128 } },
    attentionBackward: { small: { BK: 16, WG: 64 }, medium: { BK: 32, WG: 128 }, large: { BK: 32, WG: 128 } },
  },
  other: {} as Table,
};
DEFAULT_TABLES.other = DEFAULT_TABLES.nvidia;

let adapterClass: AdapterClass = 'lavapipe';
let explicitClass = false;
let classifiedFor: unknown = null;

/** The compute limits a tile must respect (a subset of GPUSupportedLimits). */
export interface TileLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
}
export interface AdapterSource {
  key: unknown;
  info: Partial<GPUAdapterInfo>;
  limits?: TileLimits;
}
/** Where tileFor learns the current adapter (set by engine/nn at load time: kernels/ never imports engine/). */
let adapterInfoSource: (() => AdapterSource | null) | null = null;
let limits: TileLimits | null = null;
let currentInfo: Partial<GPUAdapterInfo> | null = null;
export function setAdapterInfoSource(f: typeof adapterInfoSource) {
  adapterInfoSource = f;
}
function currentClass(): AdapterClass {
  if (!adapterInfoSource) return adapterClass;
  const s = adapterInfoSource();
  if (s && s.key !== classifiedFor) {
    classifiedFor = s.key;
    currentInfo = s.info;
    limits = s.limits ?? null;
    if (!explicitClass) adapterClass = classifyAdapter(s.info);
    // A new device: its cached autotune choices (this adapter on this host), if any.
    if (autoLoad) loadCachedTiles();
  }
  return adapterClass;
}
const overrides = new Map<string, AnyTile>();

/** Classifies an adapter from its GPUAdapterInfo (vendor/architecture/device/description). */
export function classifyAdapter(info: Partial<GPUAdapterInfo> | undefined | null): AdapterClass {
  const s = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ').toLowerCase();
  if (/llvmpipe|lavapipe|swiftshader|software|\bcpu\b/.test(s)) return 'lavapipe';
  if (/nvidia|geforce|quadro|tesla|\bh100\b|\bh200\b|\ba100\b/.test(s)) return 'nvidia';
  return 'other';
}

/** Forces an adapter class (null: detect from the runtime's adapter again). */
export function setAdapterClass(c: AdapterClass | null) {
  explicitClass = c !== null;
  if (c) adapterClass = c;
  else {
    classifiedFor = null;
    if (currentInfo) adapterClass = classifyAdapter(currentInfo);
  }
}
export function getAdapterClass(): AdapterClass {
  return currentClass();
}

const key = (family: KernelFamily, cls: string, ac = currentClass()) => `${ac}/${family}/${cls}`;

/** The tile for a kernel family at a shape: an autotuned/overridden choice if any, else the default table. */
export function tileFor<T extends AnyTile = any>(family: KernelFamily, dims: ShapeDims): T {
  const cls = shapeClass(dims);
  return fitTile(family, overrides.get(key(family, cls)) ?? DEFAULT_TABLES[currentClass()][family][cls], cls) as T;
}

// ---------------------------------------------------------------- adapter limits

/** Workgroup shape of a tile: [x, y] (1-D families use WG). */
function workgroupOf(t: AnyTile): [number, number] {
  const a = t as Partial<MatmulTile & ConvTile>;
  return a.WX !== undefined ? [a.WX, a.WY ?? 1] : [a.WG ?? 1, 1];
}

/** Why a tile does not fit the current adapter's limits, or null when it fits (or the limits are unknown). */
export function tileMisfit(t: AnyTile, l: TileLimits | null = (currentClass(), limits)): string | null {
  if (!l) return null;
  const [x, y] = workgroupOf(t);
  if (x * y > l.maxComputeInvocationsPerWorkgroup) return `${x * y} invocations per workgroup > maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}`;
  if (x > l.maxComputeWorkgroupSizeX) return `workgroup x ${x} > maxComputeWorkgroupSizeX ${l.maxComputeWorkgroupSizeX}`;
  if (y > l.maxComputeWorkgroupSizeY) return `workgroup y ${y} > maxComputeWorkgroupSizeY ${l.maxComputeWorkgroupSizeY}`;
  return null;
}

/** Halves the workgroup until it fits (the per-thread register tile is kept: it never depends on limits). */
function shrink(t: AnyTile): AnyTile {
  const a = { ...t } as Record<string, number>;
  for (let i = 0; i < 32 && tileMisfit(a as unknown as AnyTile); i++) {
    if ('WX' in a) {
      if (a.WY > 1 && (a.WY >= a.WX || a.WX === 1)) a.WY = Math.max(1, a.WY >> 1);
      else a.WX = Math.max(1, a.WX >> 1);
    } else a.WG = Math.max(1, a.WG >> 1);
  }
  return a as unknown as AnyTile;
}

const noted = new Set<string>();
let noteFn: (line: string) => void = (line) => console.warn(line);
/** Where one-line tuning notes go (default console.warn); tests capture them. */
export function setTuneNote(f: ((line: string) => void) | null) {
  noteFn = f ?? ((line) => console.warn(line));
}
function noteOnce(line: string) {
  if (noted.has(line)) return;
  noted.add(line);
  noteFn(line);
}

/** The tile itself when it fits this adapter; else the default table's (or a shrunk one) with a one-line note. */
export function fitTile(family: KernelFamily, t: AnyTile, cls: 'small' | 'medium' | 'large' = 'large'): AnyTile {
  const why = tileMisfit(t);
  if (!why) return t;
  const def = DEFAULT_TABLES[currentClass()][family][cls];
  const alt = tileMisfit(def) ? shrink(t) : def;
  noteOnce(`tune: ${family} tile ${JSON.stringify(t)} does not fit this adapter (${why}); using ${JSON.stringify(alt)}`);
  return alt;
}

/** Pins a tile for (family, shape class) on the current adapter class. */
export function setTile(family: KernelFamily, cls: 'small' | 'medium' | 'large', tile: AnyTile) {
  overrides.set(key(family, cls), tile);
}
export function clearTiles() {
  overrides.clear();
}
/** The in-memory cache of chosen tiles (for saving as JSON). */
export function tunedTiles(): Record<string, AnyTile> {
  return Object.fromEntries(overrides);
}
export function loadTunedTiles(t: Record<string, AnyTile>) {
  for (const [k, v] of Object.entries(t)) overrides.set(k, v);
}

// ---------------------------------------------------------------- autotuning

/** Candidate tiles per family (what autotune() times). */
export const CANDIDATES: Record<KernelFamily, AnyTile[]> = {
  linear: [
    { TM: 4, TN: 4, WX: 8, WY: 8 }, { TM: 2, TN: 2, WX: 8, WY: 8 }, { TM: 2, TN: 4, WX: 8, WY: 8 },
    { TM: 4, TN: 2, WX: 8, WY: 8 }, { TM: 1, TN: 1, WX: 16, WY: 16 }, { TM: 2, TN: 2, WX: 16, WY: 16 },
    { TM: 4, TN: 4, WX: 16, WY: 16 }, { TM: 8, TN: 4, WX: 8, WY: 8 },
  ],
  linearDual: [
    { TM: 8, TN: 4, WX: 8, WY: 8 }, { TM: 4, TN: 4, WX: 8, WY: 8 }, { TM: 4, TN: 2, WX: 8, WY: 8 }, { TM: 8, TN: 4, WX: 64, WY: 1 },
    { TM: 4, TN: 8, WX: 64, WY: 1 }, { TM: 4, TN: 8, WX: 8, WY: 8 }, { TM: 2, TN: 2, WX: 16, WY: 8 }, { TM: 4, TN: 4, WX: 16, WY: 16 },
  ],
  matmul: [
    { TM: 4, TN: 8, WX: 64, WY: 1 }, { TM: 4, TN: 8, WX: 8, WY: 8 }, { TM: 4, TN: 8, WX: 16, WY: 4 }, { TM: 4, TN: 8, WX: 32, WY: 2 },
    { TM: 8, TN: 4, WX: 64, WY: 1 }, { TM: 8, TN: 4, WX: 8, WY: 8 }, { TM: 4, TN: 4, WX: 64, WY: 1 }, { TM: 4, TN: 4, WX: 8, WY: 8 },
    { TM: 8, TN: 8, WX: 64, WY: 1 }, { TM: 8, TN: 8, WX: 8, WY: 8 }, { TM: 2, TN: 8, WX: 64, WY: 1 },
    { TM: 2, TN: 4, WX: 16, WY: 8 }, { TM: 4, TN: 8, WX: 16, WY: 16 }, { TM: 4, TN: 4, WX: 16, WY: 16 },
  ],
  conv: [
    { TP: 1, TC: 1, WG: 256, IM2COL: 1 },
    { TP: 4, TC: 4, WG: 64 }, { TP: 2, TC: 4, WG: 64 }, { TP: 1, TC: 4, WG: 64 }, { TP: 4, TC: 8, WG: 64 },
    { TP: 8, TC: 4, WG: 64 }, { TP: 2, TC: 2, WG: 128 }, { TP: 1, TC: 4, WG: 256 }, { TP: 2, TC: 4, WG: 256 },
  ],
  convBackInput: [
    { TP: 1, TC: 4, WG: 64 }, { TP: 1, TC: 2, WG: 64 }, { TP: 1, TC: 8, WG: 64 }, { TP: 1, TC: 1, WG: 64 },
    { TP: 1, TC: 4, WG: 256 }, { TP: 1, TC: 2, WG: 256 },
  ],
  convBackWeight: [
    { TP: 1, TC: 1, WG: 256, IM2COL: 1 },
    { TP: 4, TC: 8, WG: 8 }, { TP: 8, TC: 8, WG: 8 }, { TP: 8, TC: 8, WG: 64 }, { TP: 4, TC: 16, WG: 16 },
    { TP: 1, TC: 4, WG: 64 }, { TP: 4, TC: 4, WG: 64 }, { TP: 2, TC: 4, WG: 64 }, { TP: 4, TC: 8, WG: 64 },
    { TP: 1, TC: 1, WG: 64 }, { TP: 1, TC: 4, WG: 256 }, { TP: 2, TC: 2, WG: 128 },
  ],
  attention: [
    { BK: 32, WG: 64, COMPOSED: 1 },
    { BK: 16, WG: 64 }, { BK: 8, WG: 64 }, { BK: 32, WG: 64 }, { BK: 16, WG: 32 }, { BK: 32, WG: 128 }, { BK: 16, WG: 128 },
  ],
  attentionBackward: [
    { BK: 32, WG: 64, COMPOSED: 1 },
    { BK: 32, WG: 64 }, { BK: 16, WG: 64 }, { BK: 8, WG: 64 }, { BK: 64, WG: 64 }, { BK: 32, WG: 32 }, { BK: 16, WG: 32 },
    { BK: 32, WG: 128 }, { BK: 16, WG: 128 },
  ],
};

/** Representative problem per (family, shape class) for autotune() (dims as tileFor sees them). */
export const TUNE_SHAPES: Record<KernelFamily, Partial<Record<'small' | 'medium' | 'large', ShapeDims>>> = {
  linear: { small: { M: 64, N: 64, K: 32 }, medium: { M: 256, N: 256, K: 64 }, large: { M: 1024, N: 256, K: 256 } },
  // the actor/critic layers of bench/implicit.ts (timed as a jvp: value and tangent)
  linearDual: { small: { M: 64, N: 64, K: 32 }, medium: { M: 100, N: 256, K: 256 }, large: { M: 1024, N: 256, K: 256 } },
  // large at 1024³, the shape the goal is measured at: a tile chosen at 512³ (8× cheaper to
  // tune) ran 0.96× the register-blocked probe at 1024² on the AMD host while the 8×8 workgroup
  // beat it (docs/kernels.md)
  matmul: { small: { M: 64, N: 64, K: 32 }, medium: { M: 256, N: 256, K: 64 }, large: { M: 1024, N: 1024, K: 1024 } },
  // conv: M = N·OH·OW, N = outC, K = kH·kW·inC; extra fields give the geometry.
  conv: {
    medium: { M: 32 * 64, N: 16, K: 36, n: 32, h: 10, c: 4, o: 16, k: 3, s: 1 },
    large: { M: 32 * 400, N: 32, K: 256, n: 32, h: 84, c: 4, o: 32, k: 8, s: 4 },
  },
  convBackInput: { large: { M: 32 * 81, N: 64, K: 512, n: 32, h: 20, c: 32, o: 64, k: 4, s: 2 } },
  convBackWeight: {
    medium: { M: 32 * 64, N: 16, K: 36, n: 32, h: 10, c: 4, o: 16, k: 3, s: 1 },
    large: { M: 32 * 400, N: 32, K: 256, n: 32, h: 84, c: 4, o: 32, k: 8, s: 4 },
  },
  // medium: SPRIG's spatial attention at its minatar-fast minibatch (256 samples, 16 cells)
  attention: { medium: { M: 16, N: 16, K: 32 * 256, b: 256, heads: 1, d: 32 }, large: { M: 64, N: 64, K: 32 * 128, b: 32, heads: 4, d: 32 } },
  // timed as forward + backward (the bench's and SPRIG's shape), the forward on its own tile
  attentionBackward: { medium: { M: 16, N: 16, K: 32 * 256, b: 256, heads: 1, d: 32 }, large: { M: 64, N: 64, K: 32 * 128, b: 32, heads: 4, d: 32 } },
};

export interface AutotuneOptions {
  families?: KernelFamily[];
  /** Repeats per candidate (median taken). */
  repeats?: number;
  /**
   * JSON file caching the choices per adapter and host (Node only): read first, written after
   * tuning. Default: defaultCacheFile(); false: no file.
   */
  file?: string | false;
  /**
   * A candidate replaces the default tile only when its fastest repeat beats the default's by
   * more than this fraction (default 0.05) and it is faster in at least 2/3 of the rounds.
   */
  margin?: number;
  /** Re-time even if the file has an entry for this adapter and host. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface TuneResult {
  /** The cache key: the adapter's description, plus the host's CPU for software adapters. */
  adapter: string;
  adapterClass: AdapterClass;
  chosen: Record<string, AnyTile>;
  timings: Record<string, Array<{ tile: AnyTile; ms: number }>>;
  fromCache: boolean;
  file?: string;
}

type NodeFs = typeof import('node:fs');
type NodeOs = typeof import('node:os');
type NodePath = typeof import('node:path');

/**
 * The host part of the cache key. A software adapter (lavapipe, SwiftShader) runs on the CPU, so
 * the best tile follows the CPU model and core count, not the adapter string: an Intel and an AMD
 * host report the same "llvmpipe". A hardware adapter's key is its own description.
 */
export function hostFingerprint(info: Partial<GPUAdapterInfo> | null | undefined = currentInfo): string {
  if (classifyAdapter(info) !== 'lavapipe') return '';
  const os = builtin<NodeOs>('node:os');
  if (os) {
    const cpus = os.cpus();
    return `${(cpus[0]?.model ?? 'unknown cpu').trim()} ×${cpus.length} (${os.arch()})`;
  }
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number; userAgent?: string } }).navigator;
  return `${nav?.hardwareConcurrency ?? '?'} threads (${nav?.userAgent ?? 'unknown host'})`;
}

/** The autotune cache key for an adapter (description string) on this host. */
export function tuneKey(adapter: string, info: Partial<GPUAdapterInfo> | null | undefined = currentInfo): string {
  const host = hostFingerprint(info);
  return host ? `${adapter} @ ${host}` : adapter;
}

/** The adapter description autotune keys on. */
export function describeAdapter(info: Partial<GPUAdapterInfo> | null | undefined): string {
  return [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' | ');
}

/**
 * The default cache file: $STACKELBERG_TUNE_CACHE, else $XDG_CACHE_HOME/stackelberg-gpu/tiles.json,
 * else ~/.cache/stackelberg-gpu/tiles.json. null outside Node or when STACKELBERG_TUNE_CACHE=off.
 */
export function defaultCacheFile(): string | null {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const path = builtin<NodePath>('node:path'), os = builtin<NodeOs>('node:os');
  if (!env || !path || !os) return null;
  const v = env.STACKELBERG_TUNE_CACHE;
  if (v === 'off' || v === '0') return null;
  if (v) return v;
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'stackelberg-gpu', 'tiles.json');
}

const FIELDS: Record<KernelFamily, string[]> = {
  linear: ['TM', 'TN', 'WX', 'WY'], linearDual: ['TM', 'TN', 'WX', 'WY'], matmul: ['TM', 'TN', 'WX', 'WY'], conv: ['TP', 'TC', 'WG'],
  convBackInput: ['TP', 'TC', 'WG'], convBackWeight: ['TP', 'TC', 'WG'], attention: ['BK', 'WG'], attentionBackward: ['BK', 'WG'],
};

const OPTIONAL_FIELDS: Partial<Record<KernelFamily, string[]>> = { conv: ['IM2COL'], convBackWeight: ['IM2COL'], attention: ['COMPOSED'], attentionBackward: ['COMPOSED'] };

/** A tile read from a file is usable: the family's fields (and its optional ones), positive integers, nothing else. */
function validEntry(k: string, v: unknown): boolean {
  const fam = k.split('/')[1] as KernelFamily;
  const f = FIELDS[fam];
  if (!f || !v || typeof v !== 'object') return false;
  const opt = OPTIONAL_FIELDS[fam] ?? [];
  const keys = Object.keys(v);
  const ok = (n: string) => Number.isInteger((v as Record<string, unknown>)[n]) && ((v as Record<string, number>)[n]) > 0;
  return f.every(ok) && keys.every((n) => f.includes(n) || (opt.includes(n) && ok(n)));
}

type CacheFile = Record<string, Record<string, AnyTile>>;

/**
 * Reads a tuning cache. A file that is not valid JSON of the expected shape is not fatal: one
 * line says so and the caller rebuilds it (`rebuild: true`).
 */
export function readTuneCache(file: string, log: (line: string) => void = (l) => noteFn(l)): { cache: CacheFile; rebuild: boolean } {
  const fs = builtin<NodeFs>('node:fs');
  if (!fs || !fs.existsSync(file)) return { cache: {}, rebuild: false };
  let why = '';
  try {
    const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) why = 'not a JSON object';
    else {
      const cache: CacheFile = {};
      for (const [adapter, entries] of Object.entries(raw as Record<string, unknown>)) {
        if (!entries || typeof entries !== 'object') {
          why = `entry "${adapter}" is not an object`;
          break;
        }
        const bad = Object.entries(entries as Record<string, unknown>).find(([k, v]) => !validEntry(k, v));
        if (bad) {
          why = `entry "${adapter}" has an invalid tile ${bad[0]} = ${JSON.stringify(bad[1])}`;
          break;
        }
        cache[adapter] = entries as Record<string, AnyTile>;
      }
      if (!why) return { cache, rebuild: false };
    }
  } catch (e) {
    why = (e as Error).message.split('\n')[0];
  }
  log(`tune: the tuning cache ${file} is corrupt (${why}); rebuilding it`);
  return { cache: {}, rebuild: true };
}

function writeTuneCache(file: string, cache: CacheFile) {
  const fs = builtin<NodeFs>('node:fs'), path = builtin<NodePath>('node:path');
  if (!fs || !path) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${Date.now()}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(cache, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

let autoLoad = true;
let loadedFrom: string | null = null;
/** Off: a new device does not read the default cache (tests that need the built-in tables). */
export function setAutoLoadTiles(on: boolean) {
  autoLoad = on;
}
/**
 * Pins the cached choices for the current adapter on this host, if the cache has them. Runs by
 * itself when the engine meets a new device; returns the file it read, or null.
 */
export function loadCachedTiles(file: string | null = defaultCacheFile()): string | null {
  if (!file || !currentInfo) return null;
  const { cache } = readTuneCache(file);
  const entry = cache[tuneKey(describeAdapter(currentInfo))];
  if (!entry) return null;
  loadTunedTiles(entry);
  loadedFrom = file;
  return file;
}
/** The cache file the current tiles came from (null: built-in tables or in-process tuning). */
export function tilesLoadedFrom() {
  return loadedFrom;
}

/**
 * Times every candidate of each (family, shape class) with `time(family, tile, dims)` (which
 * runs the kernel with that tile and returns milliseconds per run) and pins the fastest.
 * engine/nn's `autotune()` supplies the timer; this function only decides and caches.
 * `adapter` is the cache key (engine/nn passes tuneKey(adapter description)).
 */
export async function autotuneWith(
  adapter: string,
  time: (family: KernelFamily, tile: AnyTile, dims: ShapeDims) => Promise<number>,
  opts: AutotuneOptions = {},
): Promise<TuneResult> {
  let families = opts.families ?? (Object.keys(CANDIDATES) as KernelFamily[]);
  const file = opts.file === false ? null : opts.file ?? defaultCacheFile();
  const res: TuneResult = { adapter, adapterClass: currentClass(), chosen: {}, timings: {}, fromCache: false, file: file ?? undefined };
  let cache: CacheFile = {};
  if (file) {
    cache = readTuneCache(file, opts.log ?? ((l) => noteFn(l))).cache;
    const have = cache[adapter];
    const covers = have && families.every((f) => Object.keys(have).some((k) => k.split('/')[1] === f));
    if (!opts.force && covers) {
      loadTunedTiles(have);
      res.chosen = have;
      res.fromCache = true;
      loadedFrom = file;
      return res;
    }
    // Not forced: keep the families the cache has, time only the missing ones.
    if (!opts.force && have) {
      loadTunedTiles(have);
      loadedFrom = file;
      families = families.filter((f) => !Object.keys(have).some((k) => k.split('/')[1] === f));
    }
  }
  for (const family of families) {
    for (const dims of Object.values(TUNE_SHAPES[family]) as ShapeDims[]) {
      const cls = shapeClass(dims);
      const k = key(family, cls);
      // Repeats interleaved across candidates (A, B, C, A, B, C, ...): load from other processes
      // then hits every candidate alike instead of whichever ran during a busy second.
      const live = CANDIDATES[family].filter((tile) => {
        const misfit = tileMisfit(tile);
        if (misfit) opts.log?.(`${k}: candidate ${JSON.stringify(tile)} skipped: ${misfit}`);
        return !misfit;
      });
      const samples = new Map<AnyTile, number[]>(live.map((t) => [t, []]));
      for (let r = 0; r < (opts.repeats ?? 5); r++) {
        for (const tile of live) {
          const got = samples.get(tile);
          if (!got) continue;
          try {
            got.push(await time(family, tile, dims));
          } catch (e) {
            samples.delete(tile);
            opts.log?.(`${k}: candidate ${JSON.stringify(tile)} failed: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      }
      // The fastest repeat, not the median: other processes only ever add time, so on a shared
      // machine the minimum is the steadier estimate of a tile's own cost (the median picked a
      // different tile on each of two runs at load 40).
      const list = [...samples].map(([tile, ms]) => ({ tile, ms: Math.min(...ms) }));
      list.sort((a, b) => a.ms - b.ms);
      res.timings[k] = list;
      if (list.length) {
        const def = DEFAULT_TABLES[currentClass()][family][cls];
        const defMs = list.find((l) => JSON.stringify(l.tile) === JSON.stringify(def))?.ms ?? NaN;
        // The default stays unless a candidate beats it by more than `margin`: on a loaded
        // machine a near-tie is noise, and a tile chosen by noise ran 0.96× the probe.
        const margin = opts.margin ?? 0.05;
        const defTile = list.find((l) => l.ms === defMs)?.tile;
        // And it must be faster in most rounds, paired (a sign test): one lucky quiet repeat
        // cannot carry a tile whose other repeats all lose to the default. Candidates are tried
        // in order of their fastest repeat, so a lucky one that fails the test does not hide a
        // slightly slower tile that beats the default in nearly every round (1024² matmul on
        // lavapipe: the fastest-by-minimum won 3 of 5 rounds and the default stayed, at 0.78 of
        // the best forced tile in the bench).
        const defSamples = defTile ? samples.get(defTile) : undefined;
        const winsOf = (tile: AnyTile) => {
          const top = samples.get(tile);
          if (!defSamples || !top) return { wins: 0, rounds: 0 };
          const rounds = Math.min(defSamples.length, top.length);
          return { wins: top.filter((t, r) => r < rounds && t < defSamples[r]).length, rounds };
        };
        let chosen: AnyTile | undefined;
        let why = '';
        if (!defTile || list[0].tile === defTile) chosen = list[0].tile;
        else if (defMs <= list[0].ms * (1 + margin)) why = `the fastest, ${JSON.stringify(list[0].tile)}, is within ${Math.round(margin * 100)} %`;
        else {
          for (const c of list) {
            if (c.tile === defTile || defMs <= c.ms * (1 + margin)) break;
            const { wins, rounds } = winsOf(c.tile);
            if (wins * 3 >= rounds * 2) { chosen = c.tile; break; }
          }
          if (!chosen) {
            const { wins, rounds } = winsOf(list[0].tile);
            why = `the fastest, ${JSON.stringify(list[0].tile)}, beat it in only ${wins} of ${rounds} rounds, and no other candidate faster by ${Math.round(margin * 100)} % beat it in 2 of 3`;
          }
        }
        const pick = chosen ?? defTile!;
        overrides.set(k, pick);
        res.chosen[k] = pick;
        opts.log?.(`${k}: ${JSON.stringify(pick)}${why ? ` (the default: ${why})` : ''} ${(list.find((l) => l.tile === pick)?.ms ?? NaN).toFixed(3)} ms (fastest ${list[0].ms.toFixed(3)} ms) (default ${JSON.stringify(def)}: ${defMs.toFixed(3)} ms)`);
      }
    }
  }
  if (file) {
    // Families not re-tuned this time keep their cached choice.
    cache[adapter] = { ...(cache[adapter] ?? {}), ...res.chosen };
    writeTuneCache(file, cache);
  }
  return res;
}
