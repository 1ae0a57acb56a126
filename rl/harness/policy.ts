// CPU-side action selection shared by the algorithms: one GPU forward and one readback per
// vector step bring the distribution parameters back; actions are drawn here from the
// harness's seeded Rng (float64 arithmetic), so a rollout is reproducible and resumable.

import type { Rng } from '../../engine/nn/rng.ts';
import type { BoxSpace } from '../envs/types.ts';

/**
 * Draws actions from softmax(logits) ([rows × A], row-major) by inverse CDF, or takes the
 * argmax when greedy; writes log π(a) into logp when given.
 */
export function sampleCategorical(logits: Float32Array, rows: number, A: number, rng: Rng, greedy: boolean, actions: Int32Array, logp?: Float32Array) {
  const p = new Float64Array(A);
  for (let i = 0; i < rows; i++) {
    const o = i * A;
    let m = -Infinity, best = 0;
    for (let a = 0; a < A; a++) if (logits[o + a] > m) (m = logits[o + a]), (best = a);
    let z = 0;
    for (let a = 0; a < A; a++) z += (p[a] = Math.exp(logits[o + a] - m));
    let act = best;
    if (!greedy) {
      let u = rng.uniform() * z;
      act = A - 1;
      for (let a = 0; a < A; a++) {
        u -= p[a];
        if (u < 0) {
          act = a;
          break;
        }
      }
    }
    actions[i] = act;
    if (logp) logp[i] = logits[o + act] - m - Math.log(z);
  }
}

/**
 * Draws a ~ N(mean, exp(logStd)²) per dimension ([rows × d]; logStd [d] shared or [rows × d]),
 * or takes the mean when greedy; writes Σ log N(a) into logp when given.
 */
export function sampleDiagGaussian(mean: Float32Array, logStd: Float32Array, rows: number, d: number, rng: Rng, greedy: boolean, actions: Float32Array, logp?: Float32Array) {
  const perRow = logStd.length === rows * d;
  const half = 0.5 * Math.log(2 * Math.PI);
  for (let i = 0; i < rows; i++) {
    let lp = 0;
    for (let j = 0; j < d; j++) {
      const ls = logStd[perRow ? i * d + j : j];
      const e = greedy ? 0 : rng.normal();
      actions[i * d + j] = mean[i * d + j] + Math.exp(ls) * e;
      lp += -0.5 * e * e - ls - half;
    }
    if (logp) logp[i] = lp;
  }
}

/**
 * Maps normalised actions in [−1, 1] to the Box's [low, high] (clipped; dimensions with an
 * infinite bound pass through unchanged), into `out`.
 */
export function scaleToBox(a: Float32Array, space: BoxSpace, rows: number, out: Float32Array) {
  const d = space.low.length;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < d; j++) {
      const lo = space.low[j], hi = space.high[j], x = a[i * d + j];
      if (Number.isFinite(lo) && Number.isFinite(hi)) {
        const c = Math.min(1, Math.max(-1, x));
        out[i * d + j] = lo + (c + 1) * 0.5 * (hi - lo);
      } else {
        out[i * d + j] = x;
      }
    }
  }
  return out;
}

/** Uniform random normalised actions in [−1, 1]^d (start steps of DDPG/SAC). */
export function uniformBox(rows: number, d: number, rng: Rng, out: Float32Array) {
  for (let i = 0; i < rows * d; i++) out[i] = 2 * rng.uniform() - 1;
  return out;
}
