// rl/report/stats.ts against independent computations: IQM by hand, percentile bootstrap
// coverage on a known distribution, probability of improvement in closed form and via the
// rank-sum form of Mann–Whitney U, performance profiles by counting, t quantiles from tables.

import { describe, expect, it } from 'vitest';
import {
  AGGREGATES, iqm, mean, meanCi, median, normalise, optimalityGap, performanceProfile, performanceProfileCi,
  probabilityOfImprovement, probabilityOfImprovementCi, quantile, SeededRandom, stratifiedBootstrapCi, tCritical,
} from '../../rl/report/stats.ts';

/** Standard normal draws (Box–Muller) from a seeded uniform stream. */
function normals(rng: SeededRandom, n: number, mu = 0, sd = 1): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const u = 1 - rng.next(), v = rng.next();
    out.push(mu + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }
  return out;
}

describe('point estimates', () => {
  it('IQM is the mean of the middle 50% (scipy trim_mean 0.25)', () => {
    // n = 8: drop 2 from each end of 1..8 → mean(3,4,5,6) = 4.5; order must not matter.
    expect(iqm([8, 1, 7, 2, 6, 3, 5, 4])).toBe(4.5);
    // n = 10: floor(2.5) = 2 dropped each end (−1000, 2 and 9, 1000) → mean of 3..8 = 5.5.
    expect(iqm([2, 3, 4, 5, 6, 7, 8, 9, -1000, 1000])).toBe(5.5);
    // n = 3: floor(0.75) = 0 → plain mean.
    expect(iqm([1, 2, 10])).toBeCloseTo(13 / 3, 12);
    // n = 5: drop 1 each end → mean(2, 3, 4).
    expect(iqm([100, 3, 2, -50, 4])).toBe(3);
  });

  it('mean, median, quantile, optimality gap by hand', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([0, 10], 0.25)).toBe(2.5); // numpy 'linear'
    expect(quantile([1, 2, 3, 4, 5], 0.9)).toBeCloseTo(4.6, 12);
    expect(optimalityGap([0.5, 1.5, 0, 1])).toBeCloseTo((0.5 + 0 + 1 + 0) / 4, 12);
    expect(AGGREGATES.IQM([[1, 2, 3, 4], [5, 6, 7, 8]])).toBe(4.5); // pooled over tasks
  });

  it('normalisation and its error', () => {
    expect(normalise(10, 0.5, 10)).toBe(1);
    expect(normalise(0.5, 0.5, 10)).toBe(0);
    expect(normalise(5.25, 0.5, 10)).toBe(0.5);
    expect(() => normalise(1, 2, 2)).toThrow(/equals the random score/);
  });
});

describe('Student-t intervals (jstat)', () => {
  it('critical values match published tables, including df > 30', () => {
    expect(tCritical(1)).toBeCloseTo(12.706, 3);
    expect(tCritical(4)).toBeCloseTo(2.776, 3);
    expect(tCritical(30)).toBeCloseTo(2.042, 3);
    expect(tCritical(40)).toBeCloseTo(2.021, 3);
    expect(tCritical(120)).toBeCloseTo(1.980, 3);
    expect(tCritical(1e6)).toBeCloseTo(1.960, 3);
  });
  it('meanCi: half-width t·s/√n; one value has no interval', () => {
    const xs = [1, 2, 3, 4, 10];
    const m = 4, sd = Math.sqrt(((1 - m) ** 2 + (2 - m) ** 2 + (3 - m) ** 2 + 0 + 36) / 4);
    const r = meanCi(xs);
    expect(r.mean).toBe(4);
    expect(r.ci95).toBeCloseTo((2.776445 * sd) / Math.sqrt(5), 5);
    expect(meanCi([3]).ci95).toBeNaN();
  });
});

describe('stratified bootstrap', () => {
  it('resamples within tasks: a constant task mix has a zero-width interval', () => {
    // Task A's runs all score 0 and task B's all 1: every stratified replicate has two of each,
    // so the mean is exactly 0.5; an unstratified bootstrap would vary.
    const ci = stratifiedBootstrapCi([[0, 0], [1, 1]], AGGREGATES.Mean, { reps: 500 });
    expect(ci).toEqual({ point: 0.5, lo: 0.5, hi: 0.5 });
  });

  it('is reproducible from its seed and changes with it', () => {
    const m = [normals(new SeededRandom(3), 10)];
    const a = stratifiedBootstrapCi(m, AGGREGATES.IQM, { reps: 300, seed: 7 });
    expect(stratifiedBootstrapCi(m, AGGREGATES.IQM, { reps: 300, seed: 7 })).toEqual(a);
    expect(stratifiedBootstrapCi(m, AGGREGATES.IQM, { reps: 300, seed: 8 }).lo).not.toBe(a.lo);
  });

  it('95% interval of the mean covers the true mean ~95% of the time on N(μ, 1)', () => {
    // 400 samples of 40 draws from N(3, 1); each gets a 1000-replicate percentile interval.
    // The percentile bootstrap undercovers slightly at n = 40 (~94%); binomial sd at 400 trials
    // is 1.1%, so [0.90, 0.98] fails only for a broken interval.
    const rng = new SeededRandom(11);
    let covered = 0, widthRatio = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const xs = normals(rng, 40, 3, 1);
      const ci = stratifiedBootstrapCi([xs], AGGREGATES.Mean, { reps: 1000, seed: t });
      if (ci.lo <= 3 && 3 <= ci.hi) covered++;
      widthRatio += (ci.hi - ci.lo) / (2 * meanCi(xs).ci95);
    }
    expect(covered / trials).toBeGreaterThan(0.9);
    expect(covered / trials).toBeLessThan(0.98);
    // Normal theory: the bootstrap width is close to the t-interval's (slightly narrower).
    expect(widthRatio / trials).toBeGreaterThan(0.85);
    expect(widthRatio / trials).toBeLessThan(1.05);
  });

  it('rejects empty tasks and non-finite scores with a message', () => {
    expect(() => stratifiedBootstrapCi([[1, 2], []], AGGREGATES.Mean)).toThrow(/task 1 has no runs/);
    expect(() => stratifiedBootstrapCi([[1, NaN]], AGGREGATES.Mean)).toThrow(/task 0: value 1 is NaN/);
  });
});

describe('probability of improvement', () => {
  /** Mann–Whitney U from ranks (average ranks for ties): U = R_x − n(n+1)/2, P = U/(n·m). */
  function poiByRanks(x: number[], y: number[]): number {
    const all = [...x.map((v) => ({ v, g: 0 })), ...y.map((v) => ({ v, g: 1 }))].sort((a, b) => a.v - b.v);
    const ranks = new Array(all.length);
    for (let i = 0; i < all.length; ) {
      let j = i;
      while (j + 1 < all.length && all[j + 1].v === all[i].v) j++;
      for (let k = i; k <= j; k++) ranks[k] = (i + j) / 2 + 1;
      i = j + 1;
    }
    const rx = all.reduce((s, e, i) => s + (e.g === 0 ? ranks[i] : 0), 0);
    return (rx - (x.length * (x.length + 1)) / 2) / (x.length * y.length);
  }

  it('closed forms: separated → 1 (and 0 reversed), identical → ½', () => {
    expect(probabilityOfImprovement([[5, 6, 7]], [[1, 2, 3, 4]])).toBe(1);
    expect(probabilityOfImprovement([[1, 2, 3, 4]], [[5, 6, 7]])).toBe(0);
    expect(probabilityOfImprovement([[2, 2, 2]], [[2, 2]])).toBe(0.5);
    const s = [[0.3, 0.1, 0.9], [4, 5]];
    expect(probabilityOfImprovement(s, s)).toBe(0.5);
    // By hand: x = 1, 2, 3 vs y = 2, 2, 2 → (0 + 3·½ + 3) / 9 = ½.
    expect(probabilityOfImprovement([[1, 2, 3]], [[2, 2, 2]])).toBe(0.5);
  });

  it('equals the rank-sum Mann–Whitney U / (n·m), averaged over tasks', () => {
    const rng = new SeededRandom(5);
    for (let t = 0; t < 20; t++) {
      // Rounded values so ties occur.
      const x = normals(rng, 3 + (t % 5), 0.3).map((v) => Math.round(v * 2) / 2);
      const y = normals(rng, 2 + (t % 4)).map((v) => Math.round(v * 2) / 2);
      const x2 = normals(rng, 5).map((v) => Math.round(v)), y2 = normals(rng, 6).map((v) => Math.round(v));
      expect(probabilityOfImprovement([x, x2], [y, y2])).toBeCloseTo((poiByRanks(x, y) + poiByRanks(x2, y2)) / 2, 12);
    }
  });

  it('interval: degenerate for separated samples, contains ½ for identical distributions', () => {
    expect(probabilityOfImprovementCi([[5, 6, 7]], [[1, 2, 3]], { reps: 300 })).toEqual({ point: 1, lo: 1, hi: 1 });
    const rng = new SeededRandom(9);
    const x = [normals(rng, 10), normals(rng, 10, 5)], y = [normals(rng, 10), normals(rng, 10, 5)];
    const ci = probabilityOfImprovementCi(x, y, { reps: 1000 });
    expect(ci.lo).toBeLessThan(0.5);
    expect(ci.hi).toBeGreaterThan(0.5);
    expect(ci.lo).toBeLessThanOrEqual(ci.point);
    expect(ci.hi).toBeGreaterThanOrEqual(ci.point);
    expect(() => probabilityOfImprovement([[1]], [[1], [2]])).toThrow(/X has 1 tasks and Y has 2/);
  });
});

describe('performance profiles', () => {
  it('fraction of runs above τ, per task, averaged over tasks', () => {
    const m = [[0.1, 0.5, 0.9, 1.3], [2]]; // task 2 has one run
    // τ = 0.5: task 1 has 2 of 4 above (strictly), task 2 1 of 1 → (0.5 + 1)/2.
    expect(performanceProfile(m, [-1, 0.5, 1.5, 2])).toEqual([1, 0.75, 0.5, 0]);
  });
  it('bands contain the point estimate and are monotone-sized within [0, 1]', () => {
    const rng = new SeededRandom(2);
    const m = [normals(rng, 8, 1), normals(rng, 8, 0.5)];
    const p = performanceProfileCi(m, [-1, 0, 0.5, 1, 2, 4], { reps: 400 });
    for (let i = 0; i < p.tau.length; i++) {
      expect(p.lo[i]).toBeLessThanOrEqual(p.point[i] + 1e-12);
      expect(p.hi[i]).toBeGreaterThanOrEqual(p.point[i] - 1e-12);
      expect(p.lo[i]).toBeGreaterThanOrEqual(0);
      expect(p.hi[i]).toBeLessThanOrEqual(1);
    }
    expect(p.point[p.point.length - 1]).toBe(0);
  });
});
