// Shape manipulation: reshape, transpose, slicing, concatenation, indexing, padding.
import { ND, type NDLike, asND, fmtShape, normAxis, full, ravel, size, unravel, zeros } from './nd.ts';

/** Same data, new shape; one dimension may be -1 (inferred). */
export function reshape(x: NDLike, shape: readonly number[]): ND {
  const a = asND(x);
  const unknown = shape.filter((d) => d === -1).length;
  if (unknown > 1) throw new Error(`reshape: more than one -1 in ${fmtShape(shape)}`);
  let out = [...shape];
  if (unknown === 1) {
    const known = size(shape.filter((d) => d !== -1));
    if (known === 0 || a.size % known !== 0) throw new Error(`reshape: cannot infer -1 reshaping ${fmtShape(a.shape)} to ${fmtShape(shape)}`);
    out = shape.map((d) => (d === -1 ? a.size / known : d));
  }
  if (size(out) !== a.size) throw new Error(`reshape: cannot reshape ${fmtShape(a.shape)} (size ${a.size}) to ${fmtShape(shape)}`);
  return new ND(out, Float64Array.from(a.data));
}

export function flatten(x: NDLike): ND {
  return reshape(x, [asND(x).size]);
}

/** Inserts a size-1 axis at `axis` (in [-(rank+1), rank]). */
export function expandDims(x: NDLike, axis: number): ND {
  const a = asND(x);
  const ax = normAxis(axis, a.rank + 1, 'expandDims');
  const shape = [...a.shape];
  shape.splice(ax, 0, 1);
  return reshape(a, shape);
}

/** Removes the given size-1 axes (all size-1 axes when omitted). */
export function squeeze(x: NDLike, axes?: number | number[]): ND {
  const a = asND(x);
  const list = axes === undefined ? a.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : (typeof axes === 'number' ? [axes] : axes).map((ax) => normAxis(ax, a.rank, 'squeeze'));
  for (const ax of list) if (a.shape[ax] !== 1) throw new Error(`squeeze: axis ${ax} of shape ${fmtShape(a.shape)} is not 1`);
  return reshape(a, a.shape.filter((_, i) => !list.includes(i)));
}

/**
 * Permutes axes: output axis i is input axis perm[i] (numpy.transpose). Default perm reverses the
 * axes. Negative entries are allowed.
 */
export function transpose(x: NDLike, perm?: readonly number[]): ND {
  const a = asND(x);
  const p = (perm ?? a.shape.map((_, i) => a.rank - 1 - i)).map((v) => normAxis(v, a.rank, 'transpose'));
  if (p.length !== a.rank || new Set(p).size !== p.length) {
    throw new Error(`transpose: ${JSON.stringify(perm)} is not a permutation of the axes of ${fmtShape(a.shape)}`);
  }
  const outShape = p.map((ax) => a.shape[ax]);
  const out = zeros(outShape);
  for (let i = 0; i < out.size; i++) {
    const oi = unravel(i, outShape);
    const src = new Array<number>(a.rank);
    for (let d = 0; d < a.rank; d++) src[p[d]] = oi[d];
    out.data[i] = a.data[ravel(src, a.shape)];
  }
  return out;
}

/** Swaps the last two axes (matrix transpose of a batch). */
export function mT(x: NDLike): ND {
  const a = asND(x);
  if (a.rank < 2) throw new Error(`mT: needs rank >= 2, got ${fmtShape(a.shape)}`);
  const perm = a.shape.map((_, i) => i);
  [perm[a.rank - 2], perm[a.rank - 1]] = [perm[a.rank - 1], perm[a.rank - 2]];
  return transpose(a, perm);
}

/** Swaps two axes. */
export function swapAxes(x: NDLike, a1: number, a2: number): ND {
  const a = asND(x);
  const perm = a.shape.map((_, i) => i);
  const i = normAxis(a1, a.rank, 'swapAxes'), j = normAxis(a2, a.rank, 'swapAxes');
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return transpose(a, perm);
}

/**
 * The indices a Python slice start:end:step selects from an axis of length n (Python's
 * slice.indices semantics: negative start/end count from the end, out-of-range values clamp,
 * null/undefined means "from the beginning / to the end" in the direction of step).
 */
export function sliceIndices(n: number, start: number | null | undefined, end: number | null | undefined, step = 1): number[] {
  if (!Number.isInteger(step) || step === 0) throw new Error(`slice: step must be a nonzero integer, got ${step}`);
  let lo: number, hi: number;
  if (step > 0) {
    lo = start == null ? 0 : start < 0 ? Math.max(start + n, 0) : Math.min(start, n);
    hi = end == null ? n : end < 0 ? Math.max(end + n, 0) : Math.min(end, n);
  } else {
    lo = start == null ? n - 1 : start < 0 ? Math.max(start + n, -1) : Math.min(start, n - 1);
    hi = end == null ? -1 : end < 0 ? Math.max(end + n, -1) : Math.min(end, n - 1);
  }
  const out: number[] = [];
  if (step > 0) for (let i = lo; i < hi; i += step) out.push(i);
  else for (let i = lo; i > hi; i += step) out.push(i);
  return out;
}

/**
 * x[starts[0]:ends[0]:steps[0], starts[1]:ends[1]:steps[1], ...] with Python semantics per axis
 * (see sliceIndices). Axes beyond the given lists are taken whole.
 */
export function slice(
  x: NDLike,
  starts: readonly (number | null | undefined)[],
  ends: readonly (number | null | undefined)[],
  steps?: readonly number[],
): ND {
  const a = asND(x);
  if (starts.length > a.rank || ends.length > a.rank || (steps && steps.length > a.rank)) {
    throw new Error(`slice: more slice entries than axes of ${fmtShape(a.shape)}`);
  }
  const picks = a.shape.map((n, d) => sliceIndices(n, starts[d], ends[d], steps?.[d] ?? 1));
  return selectEach(a, picks);
}

/** The sub-array taking, on each axis d, the listed indices picks[d] (an outer-product index). */
function selectEach(a: ND, picks: number[][]): ND {
  const outShape = picks.map((p) => p.length);
  const out = zeros(outShape);
  for (let i = 0; i < out.size; i++) {
    const oi = unravel(i, outShape);
    out.data[i] = a.data[ravel(oi.map((v, d) => picks[d][v]), a.shape)];
  }
  return out;
}

/** Joins arrays along an existing axis; all other dimensions must match. */
export function concat(xs: readonly NDLike[], axis = 0): ND {
  const arrs = xs.map(asND);
  if (arrs.length === 0) throw new Error('concat: no arrays');
  const rank = arrs[0].rank;
  const ax = normAxis(axis, rank, 'concat');
  for (const t of arrs) {
    if (t.rank !== rank || t.shape.some((d, i) => i !== ax && d !== arrs[0].shape[i])) {
      throw new Error(`concat: shapes ${arrs.map((s) => fmtShape(s.shape)).join(', ')} do not match off axis ${ax}`);
    }
  }
  const outShape = [...arrs[0].shape];
  outShape[ax] = arrs.reduce((s, t) => s + t.shape[ax], 0);
  const out = zeros(outShape);
  let offset = 0;
  for (const t of arrs) {
    for (let i = 0; i < t.size; i++) {
      const idx = unravel(i, t.shape);
      idx[ax] += offset;
      out.data[ravel(idx, outShape)] = t.data[i];
    }
    offset += t.shape[ax];
  }
  return out;
}

/** Joins same-shape arrays along a new axis (in [-(rank+1), rank]). */
export function stack(xs: readonly NDLike[], axis = 0): ND {
  const arrs = xs.map(asND);
  if (arrs.length === 0) throw new Error('stack: no arrays');
  for (const t of arrs) {
    if (t.rank !== arrs[0].rank || t.shape.some((d, i) => d !== arrs[0].shape[i])) {
      throw new Error(`stack: shapes ${arrs.map((s) => fmtShape(s.shape)).join(', ')} differ`);
    }
  }
  const ax = normAxis(axis, arrs[0].rank + 1, 'stack');
  return concat(arrs.map((t) => expandDims(t, ax)), ax);
}

/** Splits along an axis into pieces of the given sizes. */
export function split(x: NDLike, sizes: readonly number[], axis = 0): ND[] {
  const a = asND(x);
  const ax = normAxis(axis, a.rank, 'split');
  if (sizes.reduce((s, v) => s + v, 0) !== a.shape[ax]) throw new Error(`split: sizes ${JSON.stringify(sizes)} do not sum to ${a.shape[ax]}`);
  const out: ND[] = [];
  let start = 0;
  for (const n of sizes) {
    const starts = a.shape.map(() => 0 as number | null);
    const ends = a.shape.map((d) => d as number | null);
    starts[ax] = start;
    ends[ax] = start + n;
    out.push(slice(a, starts, ends));
    start += n;
  }
  return out;
}

function checkIndex(v: number, n: number, what: string, allowNegative: boolean): number {
  if (!Number.isInteger(v)) throw new Error(`${what}: index ${v} is not an integer`);
  const w = allowNegative && v < 0 ? v + n : v;
  if (w < 0 || w >= n) throw new Error(`${what}: index ${v} out of range for axis of size ${n}`);
  return w;
}

/**
 * torch.gather: out has the shape of `indices` (same rank as x; indices.shape[d] <= x.shape[d]
 * off the gather axis) and out[i][j][k] = x[i][indices[i][j][k]][k] for axis 1. Indices must be
 * integers in [0, x.shape[axis]) (negative indices are an error, as in torch).
 */
export function gather(x: NDLike, indices: ND, axis: number): ND {
  const a = asND(x);
  const ax = normAxis(axis, a.rank, 'gather');
  if (indices.rank !== a.rank) {
    throw new Error(`gather: indices shape ${fmtShape(indices.shape)} must have the rank of x ${fmtShape(a.shape)}`);
  }
  for (let d = 0; d < a.rank; d++) {
    if (d !== ax && indices.shape[d] > a.shape[d]) {
      throw new Error(`gather: indices shape ${fmtShape(indices.shape)} exceeds x shape ${fmtShape(a.shape)} on axis ${d}`);
    }
  }
  const out = zeros(indices.shape);
  for (let i = 0; i < out.size; i++) {
    const idx = unravel(i, indices.shape);
    idx[ax] = checkIndex(indices.data[i], a.shape[ax], 'gather', false);
    out.data[i] = a.data[ravel(idx, a.shape)];
  }
  return out;
}

/**
 * The adjoint of gather (torch scatter_add into zeros of `shape`): out[..., indices[p], ...] +=
 * src[p] along `axis`. The reference for gather's gradient.
 */
export function scatterAdd(src: ND, indices: ND, axis: number, shape: readonly number[]): ND {
  const ax = normAxis(axis, shape.length, 'scatterAdd');
  if (src.rank !== indices.rank || src.shape.some((d, i) => d !== indices.shape[i])) {
    throw new Error(`scatterAdd: src ${fmtShape(src.shape)} and indices ${fmtShape(indices.shape)} differ`);
  }
  const out = zeros(shape);
  for (let i = 0; i < src.size; i++) {
    const idx = unravel(i, indices.shape);
    idx[ax] = checkIndex(indices.data[i], shape[ax], 'scatterAdd', false);
    out.data[ravel(idx, shape)] += src.data[i];
  }
  return out;
}

/**
 * numpy.take: picks whole slices along `axis` (undefined = of the flattened x). Output shape is
 * x.shape[:axis] + indices.shape + x.shape[axis+1:]; a plain number index removes the axis.
 * Negative indices count from the end (numpy mode='raise').
 */
export function take(x: NDLike, indices: ND | readonly number[] | number, axis?: number): ND {
  let a = asND(x);
  if (axis === undefined) {
    a = flatten(a);
    axis = 0;
  }
  const ax = normAxis(axis, a.rank, 'take');
  const ind = typeof indices === 'number' ? new ND([], Float64Array.of(indices)) : indices instanceof ND ? indices : new ND([indices.length], Float64Array.from(indices));
  const outShape = [...a.shape.slice(0, ax), ...ind.shape, ...a.shape.slice(ax + 1)];
  const out = zeros(outShape);
  for (let i = 0; i < out.size; i++) {
    const oi = unravel(i, outShape);
    const before = oi.slice(0, ax);
    const mid = oi.slice(ax, ax + ind.rank);
    const after = oi.slice(ax + ind.rank);
    const k = checkIndex(ind.data[ravel(mid, ind.shape)], a.shape[ax], 'take', true);
    out.data[i] = a.data[ravel([...before, k, ...after], a.shape)];
  }
  return out;
}

/**
 * numpy.take_along_axis: like gather but indices broadcast against x off the axis and negative
 * indices count from the end.
 */
export function takeAlongAxis(x: NDLike, indices: ND, axis: number): ND {
  const a = asND(x);
  const ax = normAxis(axis, a.rank, 'takeAlongAxis');
  if (indices.rank !== a.rank) throw new Error(`takeAlongAxis: indices ${fmtShape(indices.shape)} and x ${fmtShape(a.shape)} differ in rank`);
  const outShape = a.shape.map((d, i) => {
    if (i === ax) return indices.shape[i];
    if (d !== indices.shape[i] && d !== 1 && indices.shape[i] !== 1) throw new Error(`takeAlongAxis: cannot broadcast ${fmtShape(indices.shape)} with ${fmtShape(a.shape)}`);
    return d === 1 ? indices.shape[i] : d;
  });
  const out = zeros(outShape);
  for (let i = 0; i < out.size; i++) {
    const oi = unravel(i, outShape);
    const ii = oi.map((v, d) => (indices.shape[d] === 1 ? 0 : v));
    const xi = oi.map((v, d) => (a.shape[d] === 1 ? 0 : v));
    xi[ax] = checkIndex(indices.data[ravel(ii, indices.shape)], a.shape[ax], 'takeAlongAxis', true);
    out.data[i] = a.data[ravel(xi, a.shape)];
  }
  return out;
}

/** One-hot encoding: indices of any shape → [...shape, n]. */
export function oneHot(indices: ND, n: number): ND {
  const out = zeros([...indices.shape, n]);
  for (let i = 0; i < indices.size; i++) out.data[i * n + checkIndex(indices.data[i], n, 'oneHot', false)] = 1;
  return out;
}

/**
 * Constant padding (numpy.pad mode='constant'): pads is a number (that much before and after on
 * every axis) or one [before, after] pair per axis.
 */
export function pad(x: NDLike, pads: number | readonly (readonly [number, number])[], value = 0): ND {
  const a = asND(x);
  const pp = typeof pads === 'number' ? a.shape.map(() => [pads, pads] as const) : pads;
  if (pp.length !== a.rank) throw new Error(`pad: ${pp.length} pad pairs for shape ${fmtShape(a.shape)}`);
  for (const [b, e] of pp) if (!Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < 0) throw new Error(`pad: pads must be non-negative integers`);
  const outShape = a.shape.map((d, i) => d + pp[i][0] + pp[i][1]);
  const out = full(outShape, value);
  for (let i = 0; i < a.size; i++) {
    const idx = unravel(i, a.shape).map((v, d) => v + pp[d][0]);
    out.data[ravel(idx, outShape)] = a.data[i];
  }
  return out;
}

/** Reverses the order along the given axes (all when omitted). */
export function flip(x: NDLike, axes?: number | number[]): ND {
  const a = asND(x);
  const list = axes === undefined ? a.shape.map((_, i) => i) : (typeof axes === 'number' ? [axes] : axes).map((v) => normAxis(v, a.rank, 'flip'));
  const picks = a.shape.map((n, d) => Array.from({ length: n }, (_, i) => (list.includes(d) ? n - 1 - i : i)));
  return selectEach(a, picks);
}

/** numpy.tile with one repetition count per axis (reps.length must equal rank). */
export function tile(x: NDLike, reps: readonly number[]): ND {
  const a = asND(x);
  if (reps.length !== a.rank) throw new Error(`tile: ${reps.length} reps for shape ${fmtShape(a.shape)}`);
  const picks = a.shape.map((n, d) => Array.from({ length: n * reps[d] }, (_, i) => i % n));
  return selectEach(a, picks);
}

/** numpy.repeat along one axis: each slice repeated `repeats` times in place. */
export function repeat(x: NDLike, repeats: number, axis: number): ND {
  const a = asND(x);
  const ax = normAxis(axis, a.rank, 'repeat');
  const picks = a.shape.map((n, d) => (d === ax ? Array.from({ length: n * repeats }, (_, i) => Math.floor(i / repeats)) : Array.from({ length: n }, (_, i) => i)));
  return selectEach(a, picks);
}
