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
  lavapipe: {
    linear: {
      small: { TM: 4, TN: 4, WX: 8, WY: 8 },
      medium: { TM: 4, TN: 4, WX: 8, WY: 8 },
      large: { TM: 4, TN: 4, WX: 8, WY: 8 },
    },
    matmul: {
      small: { TM: 4, TN: 8, WX: 8, WY: 8 },
      medium: { TM: 4, TN: 8, WX: 8, WY: 8 },
      large: { TM: 4, TN: 8, WX: 8, WY: 8 },
    },
    conv: { small: { TP: 4, TC: 4, WG: 64 }, medium: { TP: 4, TC: 4, WG: 64 }, large: { TP: 4, TC: 4, WG: 64 } },
    convBackInput: { small: { TP: 1, TC: 4, WG: 64 }, medium: { TP: 1, TC: 4, WG: 64 }, large: { TP: 1, TC: 4, WG: 64 } },
    convBackWeight: { small: { TP: 1, TC: 4, WG: 64 }, medium: { TP: 1, TC: 4, WG: 64 }, large: { TP: 1, TC: 4, WG: 64 } },
    attention: { small: { BK: 16, WG: 64 }, medium: { BK: 16, WG: 64 }, large: { BK: 32, WG: 64 } },
  },
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
