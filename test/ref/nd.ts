// The ND array of the float64 reference library: a row-major, contiguous Float64Array plus a shape.
// Everything here is deliberately plain: index arithmetic is done one element at a time with
// ravel/unravel so that each function can be checked by reading it.

export type Shape = number[];
/** Anything the constructors accept as element data. */
export type DataLike = ArrayLike<number>;
/** An ND or a plain number (treated as a 0-d array). */
export type NDLike = ND | number;
/** A (possibly nested) JS array of numbers, or a number for a 0-d array. */
export type Nested = number | Nested[];

export class ND {
  readonly shape: number[];
  readonly data: Float64Array;

  constructor(shape: readonly number[], data: Float64Array) {
    checkShape(shape);
    if (data.length !== size(shape)) {
      throw new Error(`ND: data length ${data.length} does not match shape ${fmtShape(shape)} (size ${size(shape)})`);
    }
    this.shape = [...shape];
    this.data = data;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.data.length;
  }

  /** Element at a multi-index (negative indices count from the end). */
  get(...idx: number[]): number {
    if (idx.length !== this.rank) throw new Error(`ND.get: ${idx.length} indices for shape ${fmtShape(this.shape)}`);
    const norm = idx.map((v, d) => {
      const n = this.shape[d];
      const w = v < 0 ? v + n : v;
      if (!Number.isInteger(w) || w < 0 || w >= n) throw new Error(`ND.get: index ${v} out of range for axis ${d} of size ${n}`);
      return w;
    });
    return this.data[ravel(norm, this.shape)];
  }

  /** The single element of a size-1 array. */
  item(): number {
    if (this.data.length !== 1) throw new Error(`ND.item: array of shape ${fmtShape(this.shape)} has ${this.data.length} elements`);
    return this.data[0];
  }

  clone(): ND {
    return new ND(this.shape, Float64Array.from(this.data));
  }

  toNested(): Nested {
    return toNested(this);
  }

  toString(): string {
    return `ND${fmtShape(this.shape)} ${JSON.stringify(toNested(this))}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Shape utilities

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${fmtShape(shape)}: dimensions must be non-negative integers`);
  }
}

/** Number of elements: product of the dimensions (1 for the 0-d shape []). */
export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides in elements: the last axis has stride 1. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Flat (row-major) offset of a multi-index. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
  return flat;
}

/** Multi-index of a flat (row-major) offset. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    idx[d] = n === 0 ? 0 : flat % n;
    flat = n === 0 ? 0 : Math.floor(flat / n);
  }
  return idx;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalises a possibly negative axis into [0, rank). */
export function normAxis(axis: number, rank: number, what = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new Error(`${what}: axis ${axis} out of range for rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Normalises reduction axes: undefined = all axes, a number = that axis; negatives count from
 * the end. Returns sorted, de-duplicated axes (duplicates are an error, as in numpy).
 */
export function normAxes(axes: number | readonly number[] | undefined, rank: number, what = 'axes'): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => normAxis(a, rank, what));
  if (new Set(out).size !== out.length) throw new Error(`${what}: duplicate axis in ${JSON.stringify(list)}`);
  return out.sort((x, y) => x - y);
}

// ---------------------------------------------------------------------------------------------
// Constructors

/** An ND of the given shape; the data is copied into a new Float64Array. A number fills. */
export function nd(shape: readonly number[], data: DataLike | number): ND {
  if (typeof data === 'number') return full(shape, data);
  return new ND(shape, Float64Array.from(data));
}

/** A 0-d array holding v. */
export function scalar(v: number): ND {
  return new ND([], Float64Array.of(v));
}

/** Wraps a number as a 0-d ND; returns an ND unchanged. */
export function asND(x: NDLike): ND {
  return typeof x === 'number' ? scalar(x) : x;
}

/** Builds an ND from a rectangular nested array, e.g. [[1, 2], [3, 4]] → shape [2, 2]. */
export function fromNested(nested: Nested): ND {
  const shape: number[] = [];
  let probe: Nested = nested;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0];
  }
  const data: number[] = [];
  const walk = (v: Nested, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw new Error(`fromNested: ragged array at ${path} (expected a number)`);
      data.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new Error(`fromNested: ragged array at ${path} (expected length ${shape[depth]})`);
    }
    v.forEach((c, i) => walk(c, depth + 1, `${path}[${i}]`));
  };
  walk(nested, 0, 'root');
  return new ND(shape, Float64Array.from(data));
}

/** The nested JS array of an ND (a number for a 0-d array). */
export function toNested(a: ND): Nested {
  const build = (depth: number, offset: number): Nested => {
    if (depth === a.rank) return a.data[offset];
    const stride = size(a.shape.slice(depth + 1));
    const out: Nested[] = [];
    for (let i = 0; i < a.shape[depth]; i++) out.push(build(depth + 1, offset + i * stride));
    return out;
  };
  return build(0, 0);
}

export function zeros(shape: readonly number[]): ND {
  return new ND(shape, new Float64Array(size(shape)));
}

export function ones(shape: readonly number[]): ND {
  return full(shape, 1);
}

export function full(shape: readonly number[], v: number): ND {
  return new ND(shape, new Float64Array(size(shape)).fill(v));
}

export function zerosLike(x: ND): ND {
  return zeros(x.shape);
}

/** n×n identity. */
export function eye(n: number): ND {
  const out = zeros([n, n]);
  for (let i = 0; i < n; i++) out.data[i * n + i] = 1;
  return out;
}

/** [0, 1, ..., n-1] as a 1-D array. */
export function arange(n: number): ND {
  const out = zeros([n]);
  for (let i = 0; i < n; i++) out.data[i] = i;
  return out;
}

/** n evenly spaced values from lo to hi inclusive. */
export function linspace(lo: number, hi: number, n: number): ND {
  const out = zeros([n]);
  for (let i = 0; i < n; i++) out.data[i] = n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1);
  return out;
}

/** The data as a Float32Array (for uploading to the GPU). */
export function toF32(x: ND): Float32Array {
  return Float32Array.from(x.data);
}

/** Rounds every element to the nearest float32 (so the reference sees exactly what the GPU sees). */
export function fround(x: ND): ND {
  return new ND(x.shape, x.data.map(Math.fround));
}
