// Reductions over any set of axes. Every reduction is written as: collect, for each output
// element, the list of input values that reduce into it (in row-major order), then apply a plain
// function of that list.
import { ND, type NDLike, asND, normAxes, normAxis, ravel, size, unravel } from './nd.ts';

export type Axes = number | number[] | undefined;

/**
 * Groups the elements of x by their position outside `axes`, applies f to each group, and lays
 * the results out with the reduced axes kept as size 1 (keepdims) or dropped.
 */
export function reduceWith(x: NDLike, axes: Axes, keepdims: boolean, f: (vals: number[]) => number): ND {
  const a = asND(x);
  const ax = normAxes(axes, a.rank);
  const reduced = (d: number) => ax.includes(d);
  const keptShape = a.shape.map((n, d) => (reduced(d) ? 1 : n));
  const groups: number[][] = Array.from({ length: size(keptShape) }, () => []);
  for (let i = 0; i < a.size; i++) {
    const idx = unravel(i, a.shape);
    const outIdx = idx.map((v, d) => (reduced(d) ? 0 : v));
    groups[ravel(outIdx, keptShape)].push(a.data[i]);
  }
  const outShape = keepdims ? keptShape : a.shape.filter((_, d) => !reduced(d));
  return new ND(outShape, Float64Array.from(groups.map(f)));
}

function nonEmpty(vals: number[], what: string): number[] {
  if (vals.length === 0) throw new Error(`${what}: reduction over a zero-size axis has no identity`);
  return vals;
}

function listSum(vals: number[]): number {
  let s = 0;
  for (const v of vals) s += v;
  return s;
}

function listMax(vals: number[]): number {
  let m = -Infinity;
  for (const v of nonEmpty(vals, 'max')) m = v > m ? v : m;
  if (vals.some(Number.isNaN)) return NaN;
  return m;
}

function listMin(vals: number[]): number {
  let m = Infinity;
  for (const v of nonEmpty(vals, 'min')) m = v < m ? v : m;
  if (vals.some(Number.isNaN)) return NaN;
  return m;
}

export function sum(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, listSum);
}

export function mean(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => listSum(vals) / vals.length);
}

/** Variance with divisor (n - ddof); ddof = 0 is the biased (population) variance. */
export function variance(x: NDLike, axes?: Axes, keepdims = false, ddof = 0): ND {
  return reduceWith(x, axes, keepdims, (vals) => {
    const m = listSum(vals) / vals.length;
    return listSum(vals.map((v) => (v - m) * (v - m))) / (vals.length - ddof);
  });
}

export function prod(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => vals.reduce((p, v) => p * v, 1));
}

/** Maximum; NaN if any element is NaN (numpy.max). */
export function max(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, listMax);
}

/** Minimum; NaN if any element is NaN (numpy.min). */
export function min(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, listMin);
}

/**
 * log(sum(exp(x))), computed stably as m + log(sum(exp(x - m))) with m the maximum. A group whose
 * maximum is ±Infinity returns that maximum (all -Infinity → -Infinity).
 */
export function logsumexp(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => {
    const m = listMax(vals);
    if (m === Infinity || m === -Infinity) return m;
    return m + Math.log(listSum(vals.map((v) => Math.exp(v - m))));
  });
}

/** Root of the sum of squares. */
export function norm(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => Math.sqrt(listSum(vals.map((v) => v * v))));
}

export function any(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => +vals.some((v) => v !== 0));
}

export function all(x: NDLike, axes?: Axes, keepdims = false): ND {
  return reduceWith(x, axes, keepdims, (vals) => +vals.every((v) => v !== 0));
}

function argBest(x: NDLike, axis: number | undefined, keepdims: boolean, better: (v: number, best: number) => boolean, what: string): ND {
  const a = asND(x);
  if (axis !== undefined) normAxis(axis, a.rank, what);
  // With one axis (or all axes, i.e. the flattened array) the position within a group is the
  // index along that axis (resp. the flat index).
  return reduceWith(a, axis, keepdims, (vals) => {
    nonEmpty(vals, what);
    let best = 0;
    for (let i = 0; i < vals.length; i++) {
      if (Number.isNaN(vals[i])) return i; // numpy: the first NaN wins
      if (better(vals[i], vals[best])) best = i;
    }
    return best;
  });
}

/**
 * Index of the maximum along `axis` (undefined = of the flattened array), as a float. Ties go to
 * the first maximal index; a NaN counts as the maximum (numpy).
 */
export function argmax(x: NDLike, axis?: number, keepdims = false): ND {
  return argBest(x, axis, keepdims, (v, b) => v > b, 'argmax');
}

/** Index of the minimum along `axis`; ties go to the first minimal index. */
export function argmin(x: NDLike, axis?: number, keepdims = false): ND {
  return argBest(x, axis, keepdims, (v, b) => v < b, 'argmin');
}

/** Inclusive cumulative sum along one axis. */
export function cumsum(x: NDLike, axis = -1): ND {
  const a = asND(x);
  const ax = normAxis(axis, a.rank, 'cumsum');
  const out = new ND(a.shape, new Float64Array(a.size));
  for (let i = 0; i < a.size; i++) {
    const idx = unravel(i, a.shape);
    let s = 0;
    for (let k = 0; k <= idx[ax]; k++) {
      const j = [...idx];
      j[ax] = k;
      s += a.data[ravel(j, a.shape)];
    }
    out.data[i] = s;
  }
  return out;
}

/** The shape a reduction of `shape` over `axes` produces (for tests that only need the shape). */
export function reducedShape(shape: readonly number[], axes: Axes, keepdims = false): number[] {
  const ax = normAxes(axes, shape.length);
  return keepdims ? shape.map((n, d) => (ax.includes(d) ? 1 : n)) : shape.filter((_, d) => !ax.includes(d));
}
