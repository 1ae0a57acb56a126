// Broadcasting (numpy rules) and elementwise functions.
import { ND, type NDLike, asND, fmtShape, ravel, sameShape, size, unravel, zeros } from './nd.ts';

/**
 * numpy broadcasting of two shapes: align on the right; each pair of dimensions must be equal or
 * one of them 1; missing leading dimensions count as 1.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`cannot broadcast shapes ${fmtShape(a)} and ${fmtShape(b)} (axis ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Broadcast of any number of shapes. */
export function broadcastShapesN(...shapes: (readonly number[])[]): number[] {
  return shapes.reduce<number[]>((acc, s) => broadcastShapes(acc, s), []);
}

/** The index into a source of shape srcShape that a broadcast output multi-index reads. */
export function broadcastIndex(outIdx: readonly number[], srcShape: readonly number[]): number[] {
  const lead = outIdx.length - srcShape.length;
  return srcShape.map((d, i) => (d === 1 ? 0 : outIdx[lead + i]));
}

/** Materialises x broadcast to shape (x must broadcast to exactly that shape). */
export function broadcastTo(x: NDLike, shape: readonly number[]): ND {
  const a = asND(x);
  if (a.rank > shape.length || !sameShape(broadcastShapes(a.shape, shape), shape)) {
    throw new Error(`cannot broadcast shape ${fmtShape(a.shape)} to ${fmtShape(shape)}`);
  }
  const out = zeros(shape);
  for (let i = 0; i < out.size; i++) {
    out.data[i] = a.data[ravel(broadcastIndex(unravel(i, shape), a.shape), a.shape)];
  }
  return out;
}

/**
 * The adjoint of broadcastTo: sums x over the axes that broadcasting x's `shape` would have
 * expanded, giving an array of `shape`. (The reference for gradients of broadcast ops.)
 */
export function sumTo(x: ND, shape: readonly number[]): ND {
  if (!sameShape(broadcastShapes(shape, x.shape), x.shape)) {
    throw new Error(`sumTo: shape ${fmtShape(shape)} does not broadcast to ${fmtShape(x.shape)}`);
  }
  const out = zeros(shape);
  for (let i = 0; i < x.size; i++) {
    out.data[ravel(broadcastIndex(unravel(i, x.shape), shape), shape)] += x.data[i];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Generic elementwise

/** f applied to every element (f also gets the flat index). */
export function map(x: NDLike, f: (v: number, i: number) => number): ND {
  const a = asND(x);
  const out = zeros(a.shape);
  for (let i = 0; i < a.size; i++) out.data[i] = f(a.data[i], i);
  return out;
}

/** f applied elementwise to a and b broadcast together. */
export function zip(a: NDLike, b: NDLike, f: (x: number, y: number) => number): ND {
  const A = asND(a), B = asND(b);
  const shape = broadcastShapes(A.shape, B.shape);
  const ab = broadcastTo(A, shape), bb = broadcastTo(B, shape);
  const out = zeros(shape);
  for (let i = 0; i < out.size; i++) out.data[i] = f(ab.data[i], bb.data[i]);
  return out;
}

/** f applied elementwise to any number of arrays broadcast together. */
export function zipN(xs: NDLike[], f: (...vs: number[]) => number): ND {
  const arrs = xs.map(asND);
  const shape = broadcastShapesN(...arrs.map((x) => x.shape));
  const bs = arrs.map((x) => broadcastTo(x, shape));
  const out = zeros(shape);
  for (let i = 0; i < out.size; i++) out.data[i] = f(...bs.map((b) => b.data[i]));
  return out;
}

/** c ? a : b elementwise (c nonzero = true), all three broadcast together. */
export function where(c: NDLike, a: NDLike, b: NDLike): ND {
  return zipN([c, a, b], (cv, av, bv) => (cv !== 0 ? av : bv));
}

// ---------------------------------------------------------------------------------------------
// Binary

export const add = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => x + y);
export const sub = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => x - y);
export const mul = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => x * y);
export const div = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => x / y);
export const pow = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => Math.pow(x, y));
/** Elementwise max; NaN propagates (numpy.maximum). */
export const maximum = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => Math.max(x, y));
/** Elementwise min; NaN propagates (numpy.minimum). */
export const minimum = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => Math.min(x, y));
export const atan2 = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => Math.atan2(x, y));

// Comparisons give 1 / 0.
export const eq = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x === y));
export const ne = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x !== y));
export const lt = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x < y));
export const le = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x <= y));
export const gt = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x > y));
export const ge = (a: NDLike, b: NDLike): ND => zip(a, b, (x, y) => +(x >= y));

// ---------------------------------------------------------------------------------------------
// Unary

export const neg = (x: NDLike): ND => map(x, (v) => -v);
export const exp = (x: NDLike): ND => map(x, Math.exp);
export const log = (x: NDLike): ND => map(x, Math.log);
export const sqrt = (x: NDLike): ND => map(x, Math.sqrt);
export const tanh = (x: NDLike): ND => map(x, Math.tanh);
export const sin = (x: NDLike): ND => map(x, Math.sin);
export const cos = (x: NDLike): ND => map(x, Math.cos);
export const log1p = (x: NDLike): ND => map(x, Math.log1p);
export const expm1 = (x: NDLike): ND => map(x, Math.expm1);
export const abs = (x: NDLike): ND => map(x, Math.abs);
/** -1, 0 or 1 (NaN stays NaN). */
export const sign = (x: NDLike): ND => map(x, (v) => (v > 0 ? 1 : v < 0 ? -1 : v === 0 ? 0 : NaN));
export const square = (x: NDLike): ND => map(x, (v) => v * v);
export const reciprocal = (x: NDLike): ND => map(x, (v) => 1 / v);
export const rsqrt = (x: NDLike): ND => map(x, (v) => 1 / Math.sqrt(v));
/** 1 / (1 + e^-x). */
export const sigmoid = (x: NDLike): ND => map(x, (v) => 1 / (1 + Math.exp(-v)));
/** max(x, 0) (NaN propagates). */
export const relu = (x: NDLike): ND => map(x, (v) => Math.max(v, 0));
/** log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) to avoid overflow. */
export const softplus = (x: NDLike): ND => map(x, (v) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))));
/** Clamps into [lo, hi]. */
export const clip = (x: NDLike, lo: number, hi: number): ND => map(x, (v) => Math.min(Math.max(v, lo), hi));

/** Fresh copy with the same shape. */
export function copy(x: ND): ND {
  return x.clone();
}

/** Checks the shape matches exactly (no broadcasting) — a guard for tests. */
export function expectShape(x: ND, shape: readonly number[], what = 'shape'): ND {
  if (!sameShape(x.shape, shape)) throw new Error(`${what}: expected ${fmtShape(shape)}, got ${fmtShape(x.shape)}`);
  return x;
}

/** Number of elements of the broadcast of the given shapes. */
export function broadcastSize(...shapes: (readonly number[])[]): number {
  return size(broadcastShapesN(...shapes));
}
