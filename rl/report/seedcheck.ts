// How much the bootstrap bounds depend on the bootstrap seed (docs/report.md quotes it):
// the IQM's 95% CI of a fixed 5 tasks × 5 runs matrix under 20 seeds, at 2000 and 10,000
// replicates; prints each bound's standard deviation as a fraction of the interval's width.
//   npx tsx rl/report/seedcheck.ts

import { AGGREGATES, SeededRandom, stratifiedBootstrapCi } from './stats.ts';

const rng = new SeededRandom(1);
const normal = () => {
  const u = 1 - rng.next(), v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
};
const m = Array.from({ length: 5 }, (_, t) => Array.from({ length: 5 }, () => 0.2 * t + 0.3 * normal()));
const sd = (x: number[]) => {
  const mu = x.reduce((a, b) => a + b) / x.length;
  return Math.sqrt(x.reduce((a, b) => a + (b - mu) ** 2, 0) / (x.length - 1));
};
for (const reps of [2000, 10000]) {
  const los: number[] = [], his: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < 20; s++) {
    const c = stratifiedBootstrapCi(m, AGGREGATES.IQM, { reps, seed: s });
    los.push(c.lo), his.push(c.hi);
  }
  const w = (his.reduce((a, b) => a + b) - los.reduce((a, b) => a + b)) / 20;
  console.log(`${reps} replicates: width ${w.toFixed(4)}, sd(lo)/width ${(sd(los) / w).toFixed(4)}, sd(hi)/width ${(sd(his) / w).toFixed(4)}, ${((performance.now() - t0) / 20).toFixed(0)} ms per interval`);
}
