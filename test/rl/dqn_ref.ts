// The released MinAtar Q network written again on the CPU in float64, for the DQN tests
// (dqn_losses, dqn_fused_q): parameters read back to float64, dense layers, L1Norm.
import * as E from '../../engine/index.ts';

export type F64 = Record<string, { data: Float64Array; shape: number[] }>;

/** Every named parameter of `p`, read back as float64. */
export async function toF64(p: E.Params): Promise<F64> {
  const named = E.namedParams(p);
  const vals = await E.readAll(Object.values(named));
  const out: F64 = {};
  Object.entries(named).forEach(([n, t], i) => (out[n] = { data: Float64Array.from(vals[i]), shape: t.shape }));
  return out;
}

/** A dense layer x·Wᵀ + b ([out, in] weights, as engine/nn stores them), optionally ReLU. */
export function lin(x: number[][], w: { data: Float64Array; shape: number[] }, b: { data: Float64Array }, relu: boolean): number[][] {
  const [o, k] = w.shape;
  return x.map((row) => Array.from({ length: o }, (_, j) => {
    let s = b.data[j];
    for (let i = 0; i < k; i++) s += w.data[j * k + i] * row[i];
    return relu ? Math.max(0, s) : s;
  }));
}

/** L1Norm of the released network: each row divided by its mean absolute value (floored at 1e-8). */
export function l1n(x: number[][]): number[][] {
  return x.map((r) => {
    const m = Math.max(r.reduce((a, v) => a + Math.abs(v), 0) / r.length, 1e-8);
    return r.map((v) => v / m);
  });
}
