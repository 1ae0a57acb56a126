// Diagnostic for the slow phases (docs/benchmarks.md, "Session 10: the slow phases"): 2048²
// matmuls one at a time, each read back, printing wall time and the cores the process had
// (process CPU / wall) per iteration. A phase shows as a run of iterations at ~2× wall with ~1.5
// cores busy.
//   npx tsx bench/matmul_phases.ts [throttled|timer|busy] [iterations, default 40]
import * as E from '../engine/index.ts';
await E.init();
const n = 2048;
const a = E.keep(E.randn([n, n], 0, 1, { seed: 1 }));
const b = E.keep(E.randn([n, n], 0, 1, { seed: 2 }));
const mode = process.argv[2];
if (mode) E.setPollingMode(mode as E.PollingMode);
for (let i = 0; i < 3; i++) { const c = E.matmul(a, b); await E.sync(); c.dispose(); }
const t00 = performance.now();
for (let i = 0; i < Number(process.argv[3] ?? 40); i++) {
  const c0 = process.cpuUsage(); const t0 = performance.now();
  const c = E.matmul(a, b); await c.data(); c.dispose();
  const w = performance.now() - t0; const u = process.cpuUsage(c0);
  console.log(`${((t0 - t00) / 1000).toFixed(1)} s  iter ${i}: ${w.toFixed(0)} ms, cores ${(((u.user + u.system) / 1000) / w).toFixed(2)}`);
}
