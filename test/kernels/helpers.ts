// Shared helpers for the kernel suites: float32-rounded reference inputs, uploads, relative errors.
import { expect } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';

/** A float64 array whose values are exactly representable in float32 (so GPU and reference see the same inputs). */
export function f32nd(a: R.ND): R.ND {
  return R.nd(a.shape, Float32Array.from(a.data));
}
export function randn(rng: R.Rng, shape: number[], std = 1): R.ND {
  return f32nd(rng.ndNormal(shape, 0, std));
}
export function unif(rng: R.Rng, shape: number[], lo = -1, hi = 1): R.ND {
  return f32nd(rng.ndUniform(shape, lo, hi));
}
export const up = (a: R.ND) => E.tensor(Float32Array.from(a.data), a.shape);

export async function expectRel(actual: E.Tensor, expected: R.ND | ArrayLike<number>, tol: number, label: string) {
  const a = await actual.data();
  const rel = R.relError(a, expected);
  expect(rel, `${label}: relative error ${rel.toExponential(2)} (tolerance ${tol})`).toBeLessThan(tol);
  expect(a.length).toBe(expected instanceof R.ND ? expected.size : expected.length);
}

/** NHWC/[O, KH, KW, C] weights as the reference's NHWC layout [KH, KW, C, O]. */
export function wToRef(w: R.ND): R.ND {
  return R.transpose(w, [1, 2, 3, 0]);
}

/** The runtime's dispatch labels, in order, of every dispatch fn encodes (fn runs synchronously). */
export function dispatchLabels(fn: () => void): string[] {
  const labels: string[] = [];
  const rt = E.runtime() as unknown as { dispatch(a: { label: string }): void };
  const orig = rt.dispatch;
  rt.dispatch = function (a) {
    labels.push(a.label);
    return orig.call(this, a);
  };
  try {
    fn();
  } finally {
    rt.dispatch = orig;
  }
  return labels;
}

/** dispatchLabels(fn), counted per label. */
export function dispatchCounts(fn: () => void): Map<string, number> {
  const counts = new Map<string, number>();
  for (const l of dispatchLabels(fn)) counts.set(l, (counts.get(l) ?? 0) + 1);
  return counts;
}
