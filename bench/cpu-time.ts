// benchmark.js timing for CPU-side code, shared by bench/cpu.ts and bench/envs.ts (kept apart so
// bench/envs.ts loads no GPU engine). benchmark.js picks the calls per sample itself, samples
// until `minTime`/`maxTime` are spent, and reports the mean with its relative margin of error
// (95 % confidence), which is what a short synchronous CPU call needs. GPU work cannot be timed
// this way (a dispatch returns before the GPU has run it): GPU cases keep bench/common.ts's
// "N iterations, then one wait" method.
import Benchmark from 'benchmark';
import type { Row, Stats } from './common.ts';

export interface CpuTiming {
  /** Calls per second (benchmark.js `hz`). */
  hz: number;
  /** Mean ms per call, and the relative margin of error of the mean in % (95 % confidence). */
  meanMs: number;
  rmePct: number;
  /** Samples taken, and per-sample ms per call (median, min, max). */
  samples: number;
  wall: Stats;
}

/** Times `fn` with benchmark.js (synchronous call; its time includes everything it does). */
export function timeCpu(name: string, fn: () => void, o: { minTime?: number; maxTime?: number } = {}): CpuTiming {
  const b = new Benchmark(name, fn, { minTime: o.minTime ?? 0.05, maxTime: o.maxTime ?? 1.5, minSamples: 5 });
  b.run();
  if (b.error) throw b.error instanceof Error ? b.error : new Error(`${name}: ${String(b.error)}`);
  const sample = [...b.stats.sample].map((s) => s * 1000).sort((a, c) => a - c);
  if (!sample.length) throw new Error(`${name}: benchmark.js took no samples`);
  return {
    hz: b.hz,
    meanMs: b.stats.mean * 1000,
    rmePct: b.stats.rme,
    samples: sample.length,
    wall: {
      median: sample[Math.floor(sample.length / 2)]!,
      min: sample[0]!,
      max: sample[sample.length - 1]!,
      repeats: sample.length,
      iters: Math.max(1, Math.round(b.count)),
    },
  };
}

/** A bench/common.ts row (group 'cpu') from a timing; `per` names what one call does. */
export function cpuRow(id: string, t: CpuTiming, note: string, extra: Record<string, number> = {}): Row {
  return {
    id, group: 'cpu', engine: 'ours', status: 'ok', wall: t.wall,
    metrics: { callsPerSec: +t.hz.toPrecision(4), rmePct: +t.rmePct.toFixed(2), samples: t.samples, ...extra },
    note: `${note}; benchmark.js: mean ± ${t.rmePct.toFixed(1)} % (95 %) over ${t.samples} samples`,
  };
}
