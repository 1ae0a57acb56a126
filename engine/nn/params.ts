// Parameter trees: dotted names (checkpoint keys) and packing into one flat buffer.

import { Tensor, VIEW_ALIGN_FLOATS, runtime, fmtShape, shapeSize } from '../tensor.ts';
import { zeros } from '../ops.ts';

/** A nested plain object of tensors: { conv1: { weight, bias }, '0': {...} }. */
export interface Params {
  [name: string]: Tensor | Params;
}

/** Flattens a parameter tree to dotted names ('torso.conv1.weight'), in the tree's key order. */
export function namedParams(params: Params, prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  const walk = (x: unknown, p: string) => {
    if (x instanceof Tensor) {
      out[p] = x;
    } else if (x && typeof x === 'object') {
      for (const [k, v] of Object.entries(x)) {
        if (k.includes('.')) throw new Error(`namedParams: key '${k}' contains a '.'`);
        walk(v, p ? `${p}.${k}` : k);
      }
    } else {
      throw new Error(`namedParams: '${p}' is not a tensor or a tree of tensors`);
    }
  };
  walk(params, prefix);
  return out;
}

/** The inverse of namedParams: builds the nested tree from dotted names. */
export function fromNamed(named: Record<string, Tensor>): Params {
  const root: Params = {};
  for (const [name, t] of Object.entries(named)) {
    const parts = name.split('.');
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = node[parts[i]];
      if (next instanceof Tensor) throw new Error(`fromNamed: '${parts.slice(0, i + 1).join('.')}' is both a tensor and a prefix`);
      node = (node[parts[i]] ??= {}) as Params;
    }
    node[parts[parts.length - 1]] = t;
  }
  return root;
}

/** Layout of a packed tree: every leaf at an offset aligned to VIEW_ALIGN_FLOATS floats. */
export interface PackLayout {
  names: string[];
  shapes: number[][];
  offsets: number[];
  /** Total floats (including alignment padding). */
  size: number;
}

export function packLayout(named: Record<string, Tensor>): PackLayout {
  const names = Object.keys(named);
  const shapes = names.map((n) => named[n].shape.slice());
  const offsets: number[] = [];
  let off = 0;
  for (const s of shapes) {
    offsets.push(off);
    off += Math.ceil(Math.max(1, shapeSize(s)) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
  }
  return { names, shapes, offsets, size: Math.max(off, VIEW_ALIGN_FLOATS) };
}

export interface Packed<P extends Params = Params> {
  /** One buffer holding every parameter (zero padding between them). */
  flat: Tensor;
  /** The same tree, its leaves views into `flat`. */
  params: P;
  layout: PackLayout;
}

const packs = new WeakMap<Tensor, { flat: Tensor; layout: PackLayout; index: number }>();

/**
 * Moves a parameter tree into one flat buffer (leaves at 64-float-aligned offsets) and returns
 * the tree of views. The original leaves are disposed unless `keepOriginals`. Optimizers
 * require packed parameters: that is what lets them update everything in one dispatch.
 */
export function packParams<P extends Params>(params: P, opts: { keepOriginals?: boolean } = {}): Packed<P> {
  const named = namedParams(params);
  const layout = packLayout(named);
  const flat = zeros([layout.size]);
  const fb = flat.buffer;
  const rt = runtime();
  const views: Record<string, Tensor> = {};
  layout.names.forEach((n, i) => {
    const t = named[n];
    if (t.size) {
      const b = t.bufferFor('packParams');
      rt.copy(b.buffer, b.offset, fb.buffer, fb.offset + layout.offsets[i] * 4, t.size * 4);
    }
    const v = flat.subView(layout.offsets[i], t.shape);
    packs.set(v, { flat, layout, index: i });
    views[n] = v;
  });
  if (!opts.keepOriginals) for (const t of Object.values(named)) t.dispose('packParams moved it into a flat buffer');
  return { flat, params: fromNamed(views) as P, layout };
}

/** The flat buffer and layout a packed tree lives in, or null if it is not one packed tree (in order). */
export function packedOf(params: Params): { flat: Tensor; layout: PackLayout } | null {
  const leaves = Object.values(namedParams(params));
  const first = leaves.length ? packs.get(leaves[0]) : undefined;
  if (!first || leaves.length !== first.layout.names.length) return null;
  for (let i = 0; i < leaves.length; i++) {
    const p = packs.get(leaves[i]);
    if (!p || p.flat !== first.flat || p.index !== i) return null;
  }
  return first;
}

/** Copies a tree of tensors shaped like `layout` into `dst` (encoder copies, no dispatch). */
export function gatherInto(tree: Params | Tensor[], layout: PackLayout, dst: Tensor, what: string) {
  const leaves = Array.isArray(tree) ? tree : Object.values(namedParams(tree));
  if (leaves.length !== layout.names.length) throw new Error(`${what}: expected ${layout.names.length} tensors, got ${leaves.length}`);
  const rt = runtime();
  const d = dst.buffer;
  leaves.forEach((t, i) => {
    if (t.shape.join() !== layout.shapes[i].join()) {
      throw new Error(`${what}: '${layout.names[i]}' has shape ${fmtShape(t.shape)}, expected ${fmtShape(layout.shapes[i])}`);
    }
    if (!t.size) return;
    const b = t.bufferFor(what);
    if (b.buffer === d.buffer && b.offset === d.offset + layout.offsets[i] * 4) return;
    rt.copy(b.buffer, b.offset, d.buffer, d.offset + layout.offsets[i] * 4, t.size * 4);
  });
}
