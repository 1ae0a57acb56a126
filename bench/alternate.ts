// Ours against jax-js (and tfjs-webgpu) on one spec, alternating single repeats many times and
// recording wall and process CPU time per iteration. On a machine shared with other jobs the
// wall clock swings by 10× between repeats; CPU time (lavapipe runs the kernels on this
// process's threads, for every engine here) moves far less, so its ratio is the steadier one.
//
//   npx tsx bench/alternate.ts [mlp|hvp|matmul] [rounds]

import os from 'node:os';
import * as E from '../engine/index.ts';
import { KERNEL_CASES, type CaseSpec, type Prepared, polled } from './common.ts';
import { prepareOurs } from './core.ts';

const which = process.argv[2] ?? 'mlp';
const rounds = Number(process.argv[3] ?? 15);
const specs: Record<string, CaseSpec> = {
  mlp: KERNEL_CASES['mlp grad'],
  hvp: { kind: 'hvp_mlp', batch: 256, sizes: [64, 256, 256, 8] },
  matmul: { kind: 'matmul', batch: 1, m: 1024, k: 1024, n: 1024 },
};
const spec = specs[which];
if (!spec) throw new Error(`alternate: unknown case '${which}' (valid: ${Object.keys(specs).join(', ')})`);
await E.init();
void polled;
const load0 = os.loadavg()[0];
const contenders: Array<{ name: string; p: Prepared }> = [{ name: 'ours', p: await prepareOurs(spec) }];
for (const [name, mk] of [
  ['jax-js', async () => (await import('./peers/jax.ts')).createJaxPeer()],
  ['tfjs-webgpu', async () => (await import('./peers/tfjs.ts')).createTfjsPeer()],
] as const) {
  try {
    const peer = await mk();
    if (peer.supports(spec)) contenders.push({ name, p: await peer.prepare(spec) });
  } catch (e) {
    console.error(`${name} unavailable: ${(e as Error).message}`);
  }
}
const wall: Record<string, number[]> = {}, cpu: Record<string, number[]> = {};
for (const c of contenders) for (let w = 0; w < 2; w++) { await c.p.step(); await c.p.wait(); }
const iters = spec.kind === 'matmul' ? 1 : 4;
for (let r = 0; r < rounds; r++) {
  for (const c of contenders) {
    const u0 = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < iters; i++) await c.p.step();
    await c.p.wait();
    const u = process.cpuUsage(u0);
    (wall[c.name] ??= []).push((performance.now() - t0) / iters);
    (cpu[c.name] ??= []).push((u.user + u.system) / 1000 / iters);
  }
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(`${which}: ${JSON.stringify(spec)}; ${rounds} alternating rounds of ${iters}; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
for (const c of contenders) {
  const w = med(wall[c.name]), u = med(cpu[c.name]);
  console.log(`  ${c.name.padEnd(12)} wall ${w.toFixed(2)} ms (ours ${(w / med(wall.ours)).toFixed(2)}× faster)   cpu ${u.toFixed(2)} ms (ours ${(u / med(cpu.ours)).toFixed(2)}× faster)`);
  c.p.dispose();
}
process.exit(0);
