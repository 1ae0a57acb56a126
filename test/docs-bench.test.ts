// bench/cpu-time.ts's benchmark.js wrapper (bench/cpu.ts, bench/envs.ts): the statistics it hands on are benchmark.js's own and
// consistent with each other, and a failing case is an error (not a row with a bogus figure).
// Not a speed test: no assertion depends on how fast this machine is.
import { describe, expect, it } from 'vitest';
import { cpuRow, timeCpu } from '../bench/cpu-time.ts';

describe('bench/cpu.ts timeCpu', () => {
  it('reports calls/s = 1000 / mean ms, ordered per-sample figures, and really calls the function', () => {
    let calls = 0;
    const acc = new Float64Array(256);
    const t = timeCpu('fill', () => {
      for (let i = 0; i < acc.length; i++) acc[i] += i;
      calls++;
    }, { minTime: 0.01, maxTime: 0.3 });
    expect(t.samples).toBeGreaterThanOrEqual(5);
    expect(Math.abs(t.hz * t.meanMs - 1000) / 1000).toBeLessThan(1e-9);
    expect(t.wall.min).toBeLessThanOrEqual(t.wall.median);
    expect(t.wall.median).toBeLessThanOrEqual(t.wall.max);
    // benchmark.js runs at least one call per sample (the count per sample grows between cycles)
    expect(calls).toBeGreaterThanOrEqual(t.samples);
    expect(t.rmePct).toBeGreaterThanOrEqual(0);
    const row = cpuRow('fill', t, 'one fill');
    expect(row.group).toBe('cpu');
    expect(Math.abs(row.metrics!.callsPerSec! - t.hz) / t.hz).toBeLessThan(1e-3);
    expect(row.note).toMatch(/benchmark\.js: mean ± [\d.]+ % \(95 %\) over \d+ samples/);
  });

  it('a case that throws is an error naming it', () => {
    expect(() => timeCpu('broken case', () => {
      throw new Error('no buffer');
    }, { minTime: 0.01, maxTime: 0.1 })).toThrow(/no buffer/);
  });
});
