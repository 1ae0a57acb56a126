// Per-adapter tile tables and autotuning.
//
// Tile shapes and workgroup sizes are pipeline constants chosen per adapter class and shape
// class: on lavapipe (LLVM on the CPU, 8-wide SIMD across invocations) register blocking with
// no workgroup memory wins and few, fat threads are best; on a discrete GPU many threads with
// smaller per-thread tiles win. `autotune()` times the candidates once per adapter and shape
// class and caches the choice (in memory, optionally in a JSON file).

import type { LinearTile } from './nn.ts';
import type { MatmulTile } from './matmul.ts';

export type AdapterClass = 'lavapipe' | 'nvidia' | 'other';
export type KernelFamily = 'linear' | 'conv' | 'convBackInput' | 'convBackWeight' | 'attention' | 'matmul';

export interface ConvTile {
  /** Output pixels per thread. */
  TP: number;
  /** Output channels per thread. */
  TC: number;
  /** Workgroup size (1-D). */
  WG: number;
}
export interface AttentionTile {
  /** Key rows per online-softmax tile. */
  BK: number;
  /** Workgroup size (one thread per query row). */
  WG: number;
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
    matmul: {
      small: { TM: 4, TN: 8, WX: 8, WY: 8 },
      medium: { TM: 4, TN: 8, WX: 8, WY: 8 },
      large: { TM: 4, TN: 8, WX: 8, WY: 8 },
    },
    conv: { small: { TP: 4, TC: 4, WG: 64 }, medium: { TP: 4, TC: 4, WG: 64 }, large: { TP: 4, TC: 4, WG: 64 } },
    convBackInput: { small: { TP: 1, TC: 4, WG: 64 }, medium: { TP: 1, TC: 4, WG: 64 }, large: { TP: 1, TC: 8, WG: 64 } },
    convBackWeight: { small: { TP: 4, TC: 4, WG: 64 }, medium: { TP: 4, TC: 4, WG: 64 }, large: { TP: 4, TC: 4, WG: 64 } },
    attention: { small: { BK: 32, WG: 64 }, medium: { BK: 32, WG: 64 }, large: { BK: 32, WG: 64 } },
  },
  // Not measured (no GPU was lent to this task): many light threads, the usual shape for
  // discrete GPUs. Run autotune() on the GPU to replace them.
  nvidia: {
    linear: {
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
  },
  other: {} as Table,
};
DEFAULT_TABLES.other = DEFAULT_TABLES.nvidia;

let adapterClass: AdapterClass = 'lavapipe';
let explicitClass = false;
let classifiedFor: unknown = null;
/** Where tileFor learns the current adapter (set by engine/nn at load time: kernels/ never imports engine/). */
let adapterInfoSource: (() => { key: unknown; info: Partial<GPUAdapterInfo> } | null) | null = null;
export function setAdapterInfoSource(f: typeof adapterInfoSource) {
  adapterInfoSource = f;
}
function currentClass(): AdapterClass {
  if (explicitClass || !adapterInfoSource) return adapterClass;
  const s = adapterInfoSource();
  if (s && s.key !== classifiedFor) {
    classifiedFor = s.key;
    adapterClass = classifyAdapter(s.info);
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
  else classifiedFor = null;
}
export function getAdapterClass(): AdapterClass {
  return currentClass();
}

const key = (family: KernelFamily, cls: string, ac = currentClass()) => `${ac}/${family}/${cls}`;

/** The tile for a kernel family at a shape: an autotuned/overridden choice if any, else the default table. */
export function tileFor<T extends AnyTile = any>(family: KernelFamily, dims: ShapeDims): T {
  const cls = shapeClass(dims);
  return (overrides.get(key(family, cls)) ?? DEFAULT_TABLES[currentClass()][family][cls]) as T;
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
  matmul: [
    { TM: 4, TN: 8, WX: 8, WY: 8 }, { TM: 4, TN: 4, WX: 8, WY: 8 }, { TM: 8, TN: 8, WX: 8, WY: 8 },
    { TM: 2, TN: 4, WX: 16, WY: 8 }, { TM: 4, TN: 8, WX: 16, WY: 16 }, { TM: 4, TN: 4, WX: 16, WY: 16 },
  ],
  conv: [
    { TP: 4, TC: 4, WG: 64 }, { TP: 2, TC: 4, WG: 64 }, { TP: 1, TC: 4, WG: 64 }, { TP: 4, TC: 8, WG: 64 },
    { TP: 8, TC: 4, WG: 64 }, { TP: 2, TC: 2, WG: 128 }, { TP: 1, TC: 4, WG: 256 }, { TP: 2, TC: 4, WG: 256 },
  ],
  convBackInput: [
    { TP: 1, TC: 4, WG: 64 }, { TP: 1, TC: 2, WG: 64 }, { TP: 1, TC: 8, WG: 64 }, { TP: 1, TC: 1, WG: 64 },
    { TP: 1, TC: 4, WG: 256 }, { TP: 1, TC: 2, WG: 256 },
  ],
  convBackWeight: [
    { TP: 1, TC: 4, WG: 64 }, { TP: 4, TC: 4, WG: 64 }, { TP: 2, TC: 4, WG: 64 }, { TP: 4, TC: 8, WG: 64 },
    { TP: 1, TC: 1, WG: 64 }, { TP: 1, TC: 4, WG: 256 }, { TP: 2, TC: 2, WG: 128 },
  ],
  attention: [
    { BK: 16, WG: 64 }, { BK: 8, WG: 64 }, { BK: 32, WG: 64 }, { BK: 16, WG: 32 }, { BK: 32, WG: 128 }, { BK: 16, WG: 128 },
  ],
};

/** Representative problem per (family, shape class) for autotune() (dims as tileFor sees them). */
export const TUNE_SHAPES: Record<KernelFamily, Partial<Record<'small' | 'medium' | 'large', ShapeDims>>> = {
  linear: { small: { M: 64, N: 64, K: 32 }, medium: { M: 256, N: 256, K: 64 }, large: { M: 1024, N: 256, K: 256 } },
  matmul: { large: { M: 512, N: 512, K: 512 } },
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
  attention: { large: { M: 64, N: 64, K: 32 * 128, b: 32, heads: 4, d: 32 } },
};

export interface AutotuneOptions {
  families?: KernelFamily[];
  /** Repeats per candidate (median taken). */
  repeats?: number;
  /** JSON file caching the choices per adapter (Node only): read first, written after tuning. */
  file?: string;
  /** Re-time even if the file has an entry for this adapter. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface TuneResult {
  adapter: string;
  adapterClass: AdapterClass;
  chosen: Record<string, AnyTile>;
  timings: Record<string, Array<{ tile: AnyTile; ms: number }>>;
  fromCache: boolean;
}

/**
 * Times every candidate of each (family, shape class) with `time(family, tile, dims)` (which
 * runs the kernel with that tile and returns milliseconds per run) and pins the fastest.
 * engine/nn's `autotune()` supplies the timer; this function only decides and caches.
 */
export async function autotuneWith(
  adapter: string,
  time: (family: KernelFamily, tile: AnyTile, dims: ShapeDims) => Promise<number>,
  opts: AutotuneOptions = {},
): Promise<TuneResult> {
  const families = opts.families ?? (Object.keys(CANDIDATES) as KernelFamily[]);
  const res: TuneResult = { adapter, adapterClass: currentClass(), chosen: {}, timings: {}, fromCache: false };
  let cache: Record<string, Record<string, AnyTile>> = {};
  const fs = opts.file ? await import('node:fs').catch(() => null) : null;
  if (fs && opts.file && fs.existsSync(opts.file)) {
    cache = JSON.parse(fs.readFileSync(opts.file, 'utf8'));
    if (!opts.force && cache[adapter]) {
      loadTunedTiles(cache[adapter]);
      res.chosen = cache[adapter];
      res.fromCache = true;
      return res;
    }
  }
  for (const family of families) {
    for (const dims of Object.values(TUNE_SHAPES[family]) as ShapeDims[]) {
      const cls = shapeClass(dims);
      const k = key(family, cls);
      const list: Array<{ tile: AnyTile; ms: number }> = [];
      for (const tile of CANDIDATES[family]) {
        try {
          const samples: number[] = [];
          for (let r = 0; r < (opts.repeats ?? 3); r++) samples.push(await time(family, tile, dims));
          samples.sort((a, b) => a - b);
          list.push({ tile, ms: samples[samples.length >> 1] });
        } catch (e) {
          opts.log?.(`${k}: candidate ${JSON.stringify(tile)} failed: ${(e as Error).message.split('\n')[0]}`);
        }
      }
      list.sort((a, b) => a.ms - b.ms);
      res.timings[k] = list;
      if (list.length) {
        overrides.set(k, list[0].tile);
        res.chosen[k] = list[0].tile;
        opts.log?.(`${k}: ${JSON.stringify(list[0].tile)} ${list[0].ms.toFixed(3)} ms (default ${JSON.stringify(DEFAULT_TABLES[currentClass()][family][cls])}: ${(list.find((l) => JSON.stringify(l.tile) === JSON.stringify(DEFAULT_TABLES[currentClass()][family][cls]))?.ms ?? NaN).toFixed(3)} ms)`);
      }
    }
  }
  if (fs && opts.file) {
    cache[adapter] = res.chosen;
    const tmp = `${opts.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(cache, null, 2));
    fs.renameSync(tmp, opts.file);
  }
  return res;
}
