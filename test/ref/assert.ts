// Comparison helpers for tests. The closeness rule is numpy.allclose's:
// |actual - expected| <= atol + rtol·|expected|, with NaN equal to NaN (by default) and equal
// infinities equal.
import { ND, fmtShape, sameShape, unravel } from './nd.ts';

export type Values = ND | ArrayLike<number>;

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  /** Names the comparison in the error message. */
  label?: string;
  /** Shape used to print multi-indices when neither argument is an ND. */
  shape?: readonly number[];
  /** Whether NaN matches NaN (default true). */
  equalNan?: boolean;
}

function valuesOf(x: Values): ArrayLike<number> {
  return x instanceof ND ? x.data : x;
}

function isClose(a: number, e: number, rtol: number, atol: number, equalNan: boolean): boolean {
  if (Number.isNaN(a) || Number.isNaN(e)) return equalNan && Number.isNaN(a) && Number.isNaN(e);
  if (a === e) return true; // includes equal infinities
  if (!Number.isFinite(a) || !Number.isFinite(e)) return false;
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

function fmtNum(v: number): string {
  return Number.isFinite(v) ? v.toPrecision(8) : String(v);
}

function fmtIndex(flat: number, shape: readonly number[] | undefined): string {
  return shape && shape.length > 0 ? `[${unravel(flat, shape).join(', ')}] (flat ${flat})` : `[${flat}]`;
}

/** Largest |a_i - b_i| (NaN if any pair involves a NaN; Infinity for mismatched infinities). */
export function maxAbsError(a: Values, b: Values): number {
  const av = valuesOf(a), bv = valuesOf(b);
  checkLengths(av, bv, 'maxAbsError');
  let m = 0;
  for (let i = 0; i < av.length; i++) {
    const d = av[i] === bv[i] ? 0 : Math.abs(av[i] - bv[i]);
    if (Number.isNaN(d)) return NaN;
    m = Math.max(m, d);
  }
  return m;
}

/**
 * Largest elementwise relative error, max_i |a_i - b_i| / max(|b_i|, floor, 1e-300), with b the
 * reference. Near-zero references make this large; use `floor` (or assertClose's atol) there.
 */
export function maxRelError(a: Values, b: Values, floor = 0): number {
  const av = valuesOf(a), bv = valuesOf(b);
  checkLengths(av, bv, 'maxRelError');
  let m = 0;
  for (let i = 0; i < av.length; i++) {
    const d = av[i] === bv[i] ? 0 : Math.abs(av[i] - bv[i]);
    if (Number.isNaN(d)) return NaN;
    m = Math.max(m, d / Math.max(Math.abs(bv[i]), floor, 1e-300));
  }
  return m;
}

/** Norm-wise relative error ‖a − b‖₂ / max(‖b‖₂, 1e-300), with b the reference. */
export function relError(a: Values, b: Values): number {
  const av = valuesOf(a), bv = valuesOf(b);
  checkLengths(av, bv, 'relError');
  let num = 0, den = 0;
  for (let i = 0; i < av.length; i++) {
    num += (av[i] - bv[i]) ** 2;
    den += bv[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300);
}

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new Error(`${what}: lengths differ (${a.length} vs ${b.length})`);
}

/** True when every element is close (numpy.allclose). */
export function allClose(actual: Values, expected: Values, opts: CloseOptions = {}): boolean {
  const { rtol = 1e-4, atol = 1e-5, equalNan = true } = opts;
  const a = valuesOf(actual), e = valuesOf(expected);
  if (a.length !== e.length) return false;
  if (actual instanceof ND && expected instanceof ND && !sameShape(actual.shape, expected.shape)) return false;
  for (let i = 0; i < a.length; i++) if (!isClose(a[i], e[i], rtol, atol, equalNan)) return false;
  return true;
}

/**
 * Throws unless every element of actual is close to expected (numpy.allclose rule). The message
 * names the label, the count of bad elements, the worst element (multi-index when a shape is
 * known) with actual vs expected there, the first few bad elements, and the max abs / rel error.
 */
export function assertClose(actual: Values, expected: Values, opts: CloseOptions = {}): void {
  const { rtol = 1e-4, atol = 1e-5, label = 'assertClose', equalNan = true } = opts;
  const a = valuesOf(actual), e = valuesOf(expected);
  const shape = opts.shape ?? (expected instanceof ND ? expected.shape : actual instanceof ND ? actual.shape : undefined);
  if (actual instanceof ND && expected instanceof ND && !sameShape(actual.shape, expected.shape)) {
    throw new Error(`${label}: shape mismatch: actual ${fmtShape(actual.shape)} vs expected ${fmtShape(expected.shape)}`);
  }
  if (a.length !== e.length) {
    throw new Error(`${label}: length mismatch: actual has ${a.length} elements, expected ${e.length}${shape ? ` (shape ${fmtShape(shape)})` : ''}`);
  }
  let bad = 0, worst = -1, worstScore = -1, maxAbs = 0, maxRel = 0;
  const firstBad: number[] = [];
  for (let i = 0; i < a.length; i++) {
    const diff = a[i] === e[i] ? 0 : Math.abs(a[i] - e[i]);
    if (!Number.isNaN(diff)) {
      maxAbs = Math.max(maxAbs, diff);
      maxRel = Math.max(maxRel, diff / Math.max(Math.abs(e[i]), 1e-300));
    }
    if (isClose(a[i], e[i], rtol, atol, equalNan)) continue;
    bad++;
    if (firstBad.length < 5) firstBad.push(i);
    const score = Number.isFinite(diff) ? diff / (atol + rtol * Math.abs(e[i])) : Infinity;
    if (score > worstScore) {
      worstScore = score;
      worst = i;
    }
  }
  if (bad === 0) return;
  const w = worst;
  const lines = [
    `${label}: ${bad} of ${a.length} elements not close (rtol=${rtol}, atol=${atol})${shape ? `, shape ${fmtShape(shape)}` : ''}`,
    `  worst at ${fmtIndex(w, shape)}: actual ${fmtNum(a[w])} vs expected ${fmtNum(e[w])} (|diff| ${fmtNum(Math.abs(a[w] - e[w]))})`,
    `  first bad: ${firstBad.map((i) => `${fmtIndex(i, shape)} ${fmtNum(a[i])} vs ${fmtNum(e[i])}`).join('; ')}`,
    `  max abs error ${fmtNum(maxAbs)}, max rel error ${fmtNum(maxRel)}`,
  ];
  throw new Error(lines.join('\n'));
}
