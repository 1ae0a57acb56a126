// Statistics for aggregate RL reports, as rliable defines them (Agarwal et al., "Deep RL at the
// Edge of the Statistical Precipice", NeurIPS 2021): point estimates over a runs × tasks score
// matrix (IQM, mean, median, optimality gap), stratified bootstrap confidence intervals,
// probability of improvement, and performance profiles. Plus a Student-t interval (jstat's
// quantiles) for the small per-run summaries. Pure CPU code, no GPU.
//
// A score matrix here is `number[][]` indexed [task][run]: tasks may have different numbers of
// runs (a half-finished sweep), which rliable's dense array cannot express; every statistic
// below is written for that ragged shape and reduces to rliable's on a full matrix.

import { createRequire } from 'node:module';

interface JStatLib {
  studentt: { inv(p: number, dof: number): number; cdf(x: number, dof: number): number };
  normal: { inv(p: number, mean: number, sd: number): number; cdf(x: number, mean: number, sd: number): number };
}
// jstat ships no type declarations; a typed require of the few functions used keeps this module
// independent of any ambient `declare module` elsewhere in the project.
const jStat = createRequire(import.meta.url)('jstat') as JStatLib;

export type ScoreMatrix = number[][];

/** Seeded PRNG for resampling (mulberry32 seeded through splitmix32): reports are reproducible. */
export class SeededRandom {
  private a: number;
  constructor(seed: number) {
    let z = (seed >>> 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.a = (z ^ (z >>> 16)) >>> 0;
  }
  /** Uniform [0, 1). */
  next(): number {
    let t = (this.a = (this.a + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

function assertFinite(xs: ArrayLike<number>, what: string) {
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i])) throw new Error(`${what}: value ${i} is ${xs[i]} (scores must be finite numbers)`);
  }
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

function sorted(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Linear-interpolation quantile (numpy's default, 'linear'), q in [0, 1]. */
export function quantile(xs: ArrayLike<number>, q: number): number {
  const s = sorted(xs);
  if (!s.length) return NaN;
  const h = (s.length - 1) * q;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

export function median(xs: ArrayLike<number>): number {
  return quantile(xs, 0.5);
}

/**
 * Interquartile mean: the mean of the middle 50% of the values, as scipy.stats.trim_mean(x, 0.25)
 * (which rliable calls): sort, drop floor(0.25·n) values from each end, average the rest.
 */
export function iqm(xs: ArrayLike<number>): number {
  const s = sorted(xs);
  const n = s.length;
  if (!n) return NaN;
  const cut = Math.floor(0.25 * n);
  return mean(s.subarray(cut, n - cut));
}

/** Optimality gap: mean shortfall below a target score γ (rliable: γ = 1 for normalised scores). */
export function optimalityGap(xs: ArrayLike<number>, gamma = 1): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.max(gamma - xs[i], 0);
  return xs.length ? s / xs.length : NaN;
}

function flat(m: ScoreMatrix): number[] {
  return m.flat();
}

/** Aggregate functions over a whole score matrix (all runs of all tasks pooled, as rliable). */
export const AGGREGATES = {
  IQM: (m: ScoreMatrix) => iqm(flat(m)),
  Mean: (m: ScoreMatrix) => mean(flat(m)),
  Median: (m: ScoreMatrix) => median(flat(m)),
  'Optimality gap': (m: ScoreMatrix) => optimalityGap(flat(m)),
} as const;
export type AggregateName = keyof typeof AGGREGATES;

export interface Interval {
  /** The statistic on the data as observed. */
  point: number;
  /** Percentile bootstrap interval bounds (or t-interval bounds for meanCi). */
  lo: number;
  hi: number;
}

export interface BootstrapOptions {
  /** Bootstrap replicates (rliable's default is 50,000; 2,000 keeps reports fast and the 95% bounds stable to ~1%). */
  reps?: number;
  /** Confidence level (default 0.95). */
  level?: number;
  seed?: number;
}

/** One stratified resample: each task's runs drawn with replacement, the same number per task. */
function resampleStratified(m: ScoreMatrix, rng: SeededRandom, out: ScoreMatrix) {
  for (let t = 0; t < m.length; t++) {
    const row = m[t], o = out[t];
    for (let i = 0; i < row.length; i++) o[i] = row[rng.int(row.length)];
  }
}

function checkMatrix(m: ScoreMatrix, what: string) {
  if (!Array.isArray(m) || !m.length) throw new Error(`${what}: no tasks`);
  m.forEach((row, t) => {
    if (!row.length) throw new Error(`${what}: task ${t} has no runs`);
    assertFinite(row, `${what}: task ${t}`);
  });
}

function percentileInterval(point: number, reps: Float64Array, level: number): Interval {
  const a = (1 - level) / 2;
  return { point, lo: quantile(reps, a), hi: quantile(reps, 1 - a) };
}

/**
 * Stratified bootstrap confidence interval of `stat` over a score matrix: every replicate
 * resamples runs with replacement within each task (tasks are never mixed, so the task mix
 * stays fixed, as rliable's StratifiedBootstrap), and the interval is the percentile interval.
 */
export function stratifiedBootstrapCi(m: ScoreMatrix, stat: (m: ScoreMatrix) => number, o: BootstrapOptions = {}): Interval {
  checkMatrix(m, 'stratifiedBootstrapCi');
  const reps = o.reps ?? 2000, level = o.level ?? 0.95;
  const rng = new SeededRandom(o.seed ?? 0);
  const buf = m.map((r) => new Array<number>(r.length));
  const out = new Float64Array(reps);
  for (let k = 0; k < reps; k++) {
    resampleStratified(m, rng, buf);
    out[k] = stat(buf);
  }
  return percentileInterval(stat(m), out, level);
}

/** Several statistics of the same replicates at once (one resampling pass for all of them). */
export function stratifiedBootstrapCis<K extends string>(m: ScoreMatrix, stats: Record<K, (m: ScoreMatrix) => number>, o: BootstrapOptions = {}): Record<K, Interval> {
  checkMatrix(m, 'stratifiedBootstrapCis');
  const reps = o.reps ?? 2000, level = o.level ?? 0.95;
  const rng = new SeededRandom(o.seed ?? 0);
  const names = Object.keys(stats) as K[];
  const buf = m.map((r) => new Array<number>(r.length));
  const out = names.map(() => new Float64Array(reps));
  for (let k = 0; k < reps; k++) {
    resampleStratified(m, rng, buf);
    names.forEach((n, j) => (out[j][k] = stats[n](buf)));
  }
  const res = {} as Record<K, Interval>;
  names.forEach((n, j) => (res[n] = percentileInterval(stats[n](m), out[j], level)));
  return res;
}

/**
 * P(X > Y) for one task: the Mann–Whitney U statistic over all run pairs divided by the number
 * of pairs, ties counting one half.
 */
export function probabilityOfImprovementTask(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (!x.length || !y.length) throw new Error(`probabilityOfImprovement: a task has ${x.length} runs of X and ${y.length} of Y (needs ≥ 1 each)`);
  // Sort y once; for each x count y below and equal by binary search: O((n + m) log m).
  const ys = sorted(y);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    let lo = 0, hi = ys.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ys[mid] < v) lo = mid + 1; else hi = mid; }
    const below = lo;
    hi = ys.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ys[mid] <= v) lo = mid + 1; else hi = mid; }
    s += below + 0.5 * (lo - below);
  }
  return s / (x.length * ys.length);
}

/** Probability of improvement of X over Y: the per-task P(X_m > Y_m) averaged over tasks. */
export function probabilityOfImprovement(x: ScoreMatrix, y: ScoreMatrix): number {
  if (x.length !== y.length) throw new Error(`probabilityOfImprovement: X has ${x.length} tasks and Y has ${y.length}; compare on the same tasks`);
  let s = 0;
  for (let t = 0; t < x.length; t++) s += probabilityOfImprovementTask(x[t], y[t]);
  return s / x.length;
}

/** PoI with a stratified bootstrap interval: X's and Y's runs are resampled independently within each task. */
export function probabilityOfImprovementCi(x: ScoreMatrix, y: ScoreMatrix, o: BootstrapOptions = {}): Interval {
  checkMatrix(x, 'probabilityOfImprovement (X)');
  checkMatrix(y, 'probabilityOfImprovement (Y)');
  const point = probabilityOfImprovement(x, y);
  const reps = o.reps ?? 2000, level = o.level ?? 0.95;
  const rng = new SeededRandom(o.seed ?? 0);
  const bx = x.map((r) => new Array<number>(r.length)), by = y.map((r) => new Array<number>(r.length));
  const out = new Float64Array(reps);
  for (let k = 0; k < reps; k++) {
    resampleStratified(x, rng, bx);
    resampleStratified(y, rng, by);
    out[k] = probabilityOfImprovement(bx, by);
  }
  return percentileInterval(point, out, level);
}

/**
 * Performance profile (score distribution): for each threshold τ, the fraction of runs with a
 * score above τ, computed per task and averaged over tasks (rliable's run-score distribution,
 * which weighs every task equally even when run counts differ).
 */
export function performanceProfile(m: ScoreMatrix, taus: ArrayLike<number>): number[] {
  const out: number[] = [];
  for (let k = 0; k < taus.length; k++) {
    let s = 0;
    for (const row of m) {
      let c = 0;
      for (const v of row) if (v > taus[k]) c++;
      s += c / row.length;
    }
    out.push(s / m.length);
  }
  return out;
}

/** Performance profile with pointwise stratified bootstrap bands. */
export function performanceProfileCi(m: ScoreMatrix, taus: ArrayLike<number>, o: BootstrapOptions = {}): { tau: number[]; point: number[]; lo: number[]; hi: number[] } {
  checkMatrix(m, 'performanceProfile');
  const reps = o.reps ?? 2000, level = o.level ?? 0.95;
  const rng = new SeededRandom(o.seed ?? 0);
  const buf = m.map((r) => new Array<number>(r.length));
  const cols = Array.from({ length: taus.length }, () => new Float64Array(reps));
  for (let k = 0; k < reps; k++) {
    resampleStratified(m, rng, buf);
    performanceProfile(buf, taus).forEach((v, j) => (cols[j][k] = v));
  }
  const point = performanceProfile(m, taus);
  const a = (1 - level) / 2;
  return { tau: Array.from(taus), point, lo: cols.map((c) => quantile(c, a)), hi: cols.map((c) => quantile(c, 1 - a)) };
}

/** Evenly spaced thresholds from lo to hi inclusive. */
export function linspace(lo: number, hi: number, n: number): number[] {
  if (n < 2) return [lo];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

/** Two-sided Student-t critical value for a level (jstat's inverse CDF; any df ≥ 1). */
export function tCritical(df: number, level = 0.95): number {
  if (!(df >= 1)) throw new Error(`tCritical: degrees of freedom must be ≥ 1, got ${df}`);
  return jStat.studentt.inv(1 - (1 - level) / 2, df);
}

/** Mean and half-width of the Student-t confidence interval (NaN half-width for one value: no interval). */
export function meanCi(xs: number[], level = 0.95): { mean: number; ci95: number; n: number } {
  const n = xs.length;
  if (!n) return { mean: NaN, ci95: NaN, n };
  const m = mean(xs);
  if (n < 2) return { mean: m, ci95: NaN, n };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
  return { mean: m, ci95: (tCritical(n - 1, level) * sd) / Math.sqrt(n), n };
}

/** Normalised score: (score − random) / (reference − random); 0 = random policy, 1 = reference. */
export function normalise(score: number, random: number, reference: number): number {
  if (!(reference !== random)) throw new Error(`normalise: reference score ${reference} equals the random score ${random}; the normalisation is undefined`);
  return (score - random) / (reference - random);
}
