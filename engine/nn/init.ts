// Seeded parameter initialisers. Computed on the CPU in float64 (a seeded generator, and for
// orthogonal a Householder QR), then uploaded: deterministic across adapters and runs, and the
// cost is paid once per model.
//
// Fans follow PyTorch for the engine's weight layouts, which put the output dimension first:
// Linear [out, in], Conv2d [outC, kH, kW, inC]: fanIn = prod(shape[1:]), fanOut = shape[0]·kH·kW.

import { Tensor } from '../tensor.ts';
import { tensor } from '../ops.ts';
import { Rng } from './rng.ts';

export { Rng, type RngState } from './rng.ts';

/** Mixes a parent seed with a child index (so layers of a model get independent streams). */
export function childSeed(seed: number, index: number | string): number {
  let h = (seed >>> 0) ^ 0x811c9dc5;
  const s = String(index);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return (h ^ (h >>> 15)) >>> 0;
}

export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) return { fanIn: shape[0] ?? 1, fanOut: shape[0] ?? 1 };
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  const receptive = shape.slice(1, -1).reduce((a, b) => a * b, 1);
  return { fanIn, fanOut: shape[0] * (shape.length > 2 ? receptive : 1) };
}

function upload(data: Float64Array, shape: readonly number[]): Tensor {
  return tensor(Float32Array.from(data), shape);
}

export function uniformInit(shape: readonly number[], lo: number, hi: number, seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = lo + (hi - lo) * rng.uniform();
  return upload(d, shape);
}

export function normalInit(shape: readonly number[], std: number, seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = std * rng.normal();
  return upload(d, shape);
}

/** Glorot/Xavier uniform: U(±gain·√(6/(fanIn+fanOut))). */
export function xavierUniform(shape: readonly number[], gain = 1, seed = 0): Tensor {
  const { fanIn, fanOut } = fans(shape);
  const b = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniformInit(shape, -b, b, seed);
}

/** He/Kaiming uniform: U(±gain·√(3/fanIn)); gain √2 suits ReLU; gain √(1/3) is PyTorch's default Linear/Conv init. */
export function kaimingUniform(shape: readonly number[], gain = Math.SQRT2, seed = 0): Tensor {
  const { fanIn } = fans(shape);
  const b = gain * Math.sqrt(3 / fanIn);
  return uniformInit(shape, -b, b, seed);
}

/** The float64 orthogonal matrix behind `orthogonal` (rows = shape[0], cols = prod(rest)), row-major. */
export function orthogonalData(shape: readonly number[], gain = 1, seed = 0): Float64Array {
  const rows = shape[0];
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  // As torch.nn.init.orthogonal_: QR of a Gaussian matrix with more rows than columns, the
  // signs of R's diagonal folded into Q (so Q is Haar-distributed), transposed back if needed.
  const tall = rows >= cols;
  const m = tall ? rows : cols, n = tall ? cols : rows;
  const a = new Float64Array(m * n); // a[i*n + j], m x n
  const g = new Float64Array(rows * cols);
  for (let i = 0; i < g.length; i++) g[i] = rng.normal();
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) a[i * n + j] = tall ? g[i * cols + j] : g[j * cols + i];
  // Householder QR: accumulate Q (m x n, thin).
  const vs: Float64Array[] = [];
  const rdiag = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let norm = 0;
    for (let i = k; i < m; i++) norm += a[i * n + k] ** 2;
    norm = Math.sqrt(norm);
    const alpha = a[k * n + k] > 0 ? -norm : norm;
    const v = new Float64Array(m);
    for (let i = k; i < m; i++) v[i] = a[i * n + k];
    v[k] -= alpha;
    let vn = 0;
    for (let i = k; i < m; i++) vn += v[i] * v[i];
    if (vn > 0) {
      for (let j = k; j < n; j++) {
        let s = 0;
        for (let i = k; i < m; i++) s += v[i] * a[i * n + j];
        s = (2 * s) / vn;
        for (let i = k; i < m; i++) a[i * n + j] -= s * v[i];
      }
    }
    rdiag[k] = a[k * n + k];
    vs.push(vn > 0 ? v.map((x) => x / Math.sqrt(vn)) : v);
  }
  // Q = H0 H1 ... H(n-1) applied to the first n columns of I.
  const q = new Float64Array(m * n);
  for (let j = 0; j < n; j++) q[j * n + j] = 1;
  for (let k = n - 1; k >= 0; k--) {
    const v = vs[k];
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = k; i < m; i++) s += v[i] * q[i * n + j];
      for (let i = k; i < m; i++) q[i * n + j] -= 2 * s * v[i];
    }
  }
  for (let j = 0; j < n; j++) {
    const sgn = rdiag[j] < 0 ? -1 : 1;
    for (let i = 0; i < m; i++) q[i * n + j] *= sgn * gain;
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = tall ? q[i * n + j] : q[j * n + i];
  return out;
}

/** Orthogonal init with gain (CleanRL's layer_init: gain √2 hidden, 0.01 policy head, 1 value head). */
export function orthogonal(shape: readonly number[], gain = 1, seed = 0): Tensor {
  return upload(orthogonalData(shape, gain, seed), shape);
}

export type InitSpec =
  | 'torch' // PyTorch's default: U(±1/√fanIn) for weight and bias
  | 'xavier'
  | 'kaiming'
  | 'zeros'
  | { orthogonal: number } // gain
  | { uniform: [number, number] }
  | { normal: number } // std
  | { constant: number };

/** Builds a tensor of `shape` from an init spec; `fanInOf` is the weight's shape (for bias inits that depend on fanIn). */
export function initTensor(spec: InitSpec, shape: readonly number[], seed: number, fanShape: readonly number[] = shape): Tensor {
  if (spec === 'torch') {
    const b = 1 / Math.sqrt(fans(fanShape).fanIn);
    return uniformInit(shape, -b, b, seed);
  }
  if (spec === 'xavier') return xavierUniform(shape, 1, seed);
  if (spec === 'kaiming') return kaimingUniform(shape, Math.SQRT2, seed);
  if (spec === 'zeros') return upload(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape);
  if ('orthogonal' in spec) return orthogonal(shape, spec.orthogonal, seed);
  if ('uniform' in spec) return uniformInit(shape, spec.uniform[0], spec.uniform[1], seed);
  if ('normal' in spec) return normalInit(shape, spec.normal, seed);
  return upload(new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(spec.constant), shape);
}
