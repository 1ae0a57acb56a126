// bench/common.ts timeInterleaved's CPU column: the `cores` figure the bench tables print
// (process CPU / wall while a row was timed) must measure this process's CPU, not wall time,
// so a row slowed by a core taken elsewhere shows as fewer cores busy.
import { describe, expect, it } from 'vitest';
import { timeInterleaved, type Prepared, type Stats } from '../bench/common.ts';

const spin = (ms: number) => {
  const t = performance.now();
  while (performance.now() - t < ms) { /* burn CPU on this thread */ }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const prep = (step: () => unknown): Prepared => ({ step, wait: async () => {}, dispose: () => {} });

describe('timeInterleaved CPU time', () => {
  it('reads ~1 core for a step that spins on this thread and ~0 for one that sleeps', async () => {
    const st = await timeInterleaved([prep(() => spin(4)), prep(() => sleep(4))], { targetMs: 20, repeats: 5, warmup: 1 });
    const [busy, idle] = st as Stats[];
    expect(busy).not.toBeInstanceOf(Error);
    expect(idle).not.toBeInstanceOf(Error);
    expect(busy.cpu).toBeDefined();
    expect(idle.cpu).toBeDefined();
    // spinning: CPU per iteration ≈ wall per iteration (one thread busy)
    expect(busy.cpu! / busy.median).toBeGreaterThan(0.7);
    expect(busy.cpu! / busy.median).toBeLessThan(1.5);
    // sleeping: the wall passes, the CPU does not
    expect(idle.median).toBeGreaterThan(3);
    expect(idle.cpu! / idle.median).toBeLessThan(0.3);
  });
});
