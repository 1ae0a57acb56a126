// Small MLPs written with plain engine ops (matmul, add, tanh) so that every derivative the
// PAL/MAL code takes, second order included (Fisher-vector products, implicit derivatives), goes
// through ops the autodiff differentiates twice. Weights are [in, out] (or [K, in, out] for K
// independent networks evaluated at once by batched matmul: the ensemble, one network per run).

import * as E from '../../engine/index.ts';

type T = E.Tensor;
export type Mlp = Record<string, T>;

/**
 * Glorot-uniform weights, zero biases; the last layer scaled by `outScale` (small outputs at the
 * start). `batch` = K gives K independent networks with weights [K, in, out] and biases [K, 1, out].
 */
export function mlpInit(sizes: number[], seed: number, opts: { batch?: number; outScale?: number } = {}): Mlp {
  const rng = new E.Rng(seed);
  const p: Mlp = {};
  const K = opts.batch;
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [a, b] = [sizes[i]!, sizes[i + 1]!];
    const bound = Math.sqrt(6 / (a + b)) * (i + 2 === sizes.length ? opts.outScale ?? 1 : 1);
    const w = new Float32Array((K ?? 1) * a * b);
    for (let k = 0; k < w.length; k++) w[k] = (2 * rng.uniform() - 1) * bound;
    p[`w${i}`] = E.tensor(w, K ? [K, a, b] : [a, b]);
    p[`b${i}`] = E.zeros(K ? [K, 1, b] : [b]);
  }
  return p;
}

export function mlpLayers(p: Mlp): number {
  return Object.keys(p).filter((k) => k.startsWith('w')).length;
}

/** x [..., in] → [..., out]; tanh between layers, linear output. */
export function mlpApply(p: Mlp, x: T): T {
  const L = mlpLayers(p);
  let h = x;
  for (let i = 0; i < L; i++) {
    h = E.add(E.matmul(h, p[`w${i}`]!), p[`b${i}`]!);
    if (i + 1 < L) h = E.tanh(h);
  }
  return h;
}

/** Host copy of an unbatched MLP's weights, for float64 forward passes on the CPU. */
export interface HostMlp {
  w: Float32Array[];
  b: Float32Array[];
  sizes: number[];
}

export async function mlpToHost(p: Mlp): Promise<HostMlp> {
  const L = mlpLayers(p);
  const w: Float32Array[] = [], b: Float32Array[] = [];
  const sizes: number[] = [];
  for (let i = 0; i < L; i++) {
    const W = p[`w${i}`]!;
    if (W.rank !== 2) throw new Error(`mlpToHost: layer ${i} weight has shape [${W.shape}], expected an unbatched [in, out]`);
    if (i === 0) sizes.push(W.shape[0]!);
    sizes.push(W.shape[1]!);
    w.push((await W.data()) as Float32Array);
    b.push((await p[`b${i}`]!.data()) as Float32Array);
  }
  return { w, b, sizes };
}

/** Float64 forward of a host MLP on one input. */
export function mlpForwardHost(m: HostMlp, x: ArrayLike<number>): Float64Array {
  let h = Float64Array.from(x);
  for (let i = 0; i + 1 < m.sizes.length; i++) {
    const [a, b] = [m.sizes[i]!, m.sizes[i + 1]!];
    const o = new Float64Array(b);
    for (let j = 0; j < b; j++) {
      let s = m.b[i]![j]!;
      for (let k = 0; k < a; k++) s += h[k]! * m.w[i]![k * b + j]!;
      o[j] = i + 2 < m.sizes.length ? Math.tanh(s) : s;
    }
    h = o;
  }
  return h;
}
