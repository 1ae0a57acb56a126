// Where SPRIG's time goes: dispatches and GPU time per kernel label of one rollout and one
// update (Trainer.step() split into its two halves) on MinAtar Breakout with the minatar-fast
// settings (16 envs × 64 steps, minibatch 256, 2 epochs, frame stack 2), beside PPO with the
// MinAtar torso on the same settings.
//   npx tsx bench/sprig_profile.ts [--algos sprig,ppo] [--updates 2] [--top 25] [--env-device cpu|gpu]
// GPU time: every dispatch is put in a compute pass of its own with timestamp queries around it
// (lavapipe's timestamps bracket each pass), so each dispatch's time is attributed to its label.
// Splitting passes costs a little; the wall times are measured in separate, unsplit runs.
// "host" = wall − GPU time of the section: JS, encoding, submits, readbacks and idle waits.

import os from 'node:os';
import * as E from '../engine/index.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { OnPolicyAgent, OnPolicyConfig, RunConfig, OnPolicyAlgorithm, Rollout } from '../rl/harness/types.ts';
import { getAlgorithm } from '../rl/registry.ts';

const args = process.argv.slice(2);
const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
const algos = (opt('--algos') ?? 'sprig,ppo').split(',');
const updates = Number(opt('--updates') ?? 2);
const top = Number(opt('--top') ?? 25);
const envDevice = opt('--env-device') ?? 'cpu';

await E.init();
const rt = E.runtime() as unknown as {
  dispatch(a: { label: string }): void;
  pass: GPUComputePassEncoder | null;
  device: GPUDevice;
  info: { features: Set<string>; adapterInfo: { vendor: string; architecture: string; description: string } };
};
if (!rt.info.features.has('timestamp-query')) throw new Error('this adapter has no timestamp-query: per-kernel GPU time needs it');
const dev = rt.device;
const G = globalThis as unknown as { GPUBufferUsage: Record<string, number>; GPUMapMode: { READ: number } };
// query sets hold at most 4096 queries on Dawn: several sets of 2048 passes each
const PER_SET = 2048, SETS = 8, CAP = PER_SET * SETS;
const qsets = Array.from({ length: SETS }, () => dev.createQuerySet({ type: 'timestamp', count: PER_SET * 2 }));
const resolveBuf = dev.createBuffer({ size: CAP * 16, usage: G.GPUBufferUsage.QUERY_RESOLVE | G.GPUBufferUsage.COPY_SRC });
const readBuf = dev.createBuffer({ size: CAP * 16, usage: G.GPUBufferUsage.MAP_READ | G.GPUBufferUsage.COPY_DST });
const origCreate = Object.getPrototypeOf(dev).createCommandEncoder as GPUDevice['createCommandEncoder'];
const origDispatch = rt.dispatch.bind(rt);

let profiling = false;
let order: string[] = [];
let passes = 0;
// One pass per dispatch while profiling: end the pass the runtime left open after each dispatch.
// --shapes: conv/linear/attention dispatches keyed by their kernel and workgroup grid too
const byShape = args.includes('--shapes');
rt.dispatch = (a) => {
  origDispatch(a);
  if (!profiling) return;
  const d = a as unknown as { label: string; workgroups: number[]; kernel: { name: string } };
  order.push(byShape && /conv|linear|attention/.test(a.label) ? `${a.label} ${d.kernel.name} wg[${d.workgroups}]` : a.label);
  if (rt.pass) {
    rt.pass.end();
    rt.pass = null;
  }
};
(dev as unknown as { createCommandEncoder: unknown }).createCommandEncoder = function (desc?: GPUCommandEncoderDescriptor) {
  const enc = origCreate.call(dev, desc);
  const begin = enc.beginComputePass;
  (enc as unknown as { beginComputePass: unknown }).beginComputePass = function (d?: GPUComputePassDescriptor) {
    if (!profiling || passes >= CAP) return begin.call(enc, d);
    const i = passes++;
    const j = i % PER_SET;
    return begin.call(enc, { ...d, timestampWrites: { querySet: qsets[Math.floor(i / PER_SET)], beginningOfPassWriteIndex: 2 * j, endOfPassWriteIndex: 2 * j + 1 } });
  };
  return enc;
};

/** Runs fn with per-dispatch timestamps; returns {label: [count, ms]} and the total GPU ms. */
async function profile(fn: () => Promise<unknown>): Promise<{ per: Map<string, [number, number]>; gpuMs: number; dispatches: number }> {
  await E.sync();
  order = [];
  passes = 0;
  profiling = true;
  await fn();
  E.flush();
  await E.sync();
  profiling = false;
  const n = passes;
  if (n !== order.length) throw new Error(`profile: ${n} timed passes for ${order.length} dispatches (a pass opened outside dispatch?)`);
  if (n >= CAP) throw new Error(`profile: more than ${CAP} dispatches; profile less at once`);
  const enc = origCreate.call(dev);
  for (let s = 0; s * PER_SET < n; s++) enc.resolveQuerySet(qsets[s], 0, 2 * Math.min(PER_SET, n - s * PER_SET), resolveBuf, s * PER_SET * 16);
  enc.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, 16 * n);
  dev.queue.submit([enc.finish()]);
  await readBuf.mapAsync(G.GPUMapMode.READ);
  const ts = new BigUint64Array(readBuf.getMappedRange().slice(0));
  readBuf.unmap();
  const per = new Map<string, [number, number]>();
  let total = 0;
  for (let i = 0; i < n; i++) {
    const ms = ts[2 * i + 1] > ts[2 * i] ? Number(ts[2 * i + 1] - ts[2 * i]) / 1e6 : 0;
    total += ms;
    const e = per.get(order[i]) ?? [0, 0];
    e[0]++;
    e[1] += ms;
    per.set(order[i], e);
  }
  return { per, gpuMs: total, dispatches: n };
}

const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
const info = rt.info.adapterInfo;
console.log(`adapter: ${info.vendor} ${info.architecture} ${info.description}; CPU ${os.cpus()[0]?.model} x${os.cpus().length}; load ${load()}`);

for (const name of algos) {
  const algo = (await getAlgorithm(name)) as OnPolicyAlgorithm<OnPolicyConfig>;
  const cfg = resolveLayers(algo.defaults, algo.schema, [{
    source: 'profile', values: { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3, totalSteps: 1e9, logEvery: 1e9, envDevice, ...(name === 'sprig' ? { frameStack: 2 } : {}) },
  }]) as RunConfig & OnPolicyConfig;
  const t = new Trainer(algo, cfg);
  await t.step(); // warm-up (pipelines)
  const tr = t as unknown as { collect(c: OnPolicyConfig): Promise<Rollout>; collectOnGpu(c: OnPolicyConfig): Promise<Rollout>; genv: unknown; rng: unknown; globalStep: number };
  const agent = t.agent as OnPolicyAgent;
  const collect = () => (tr.genv ? tr.collectOnGpu(cfg) : tr.collect(cfg));
  const ctx = (i: number) => ({ rng: tr.rng, step: tr.globalStep, iteration: i, iterations: 1e6, wantStats: true }) as Parameters<OnPolicyAgent['update']>[1];
  // wall times, unsplit passes
  let roMs = 0, upMs = 0;
  for (let i = 0; i < updates; i++) {
    let w = performance.now();
    const ro = await collect();
    await E.sync();
    roMs += performance.now() - w;
    w = performance.now();
    await agent.update(ro, ctx(i));
    await E.sync();
    upMs += performance.now() - w;
  }
  roMs /= updates;
  upMs /= updates;
  // GPU time per label, one rollout and one update
  let ro: Rollout | null = null;
  const pr = await profile(async () => (ro = await collect()));
  const pu = await profile(() => agent.update(ro!, ctx(updates)));
  const steps = cfg.numEnvs * cfg.numSteps;
  const nMb = (steps / (cfg as unknown as { minibatchSize: number }).minibatchSize) * (cfg as unknown as { updateEpochs: number }).updateEpochs;
  console.log(`\n## ${name} (envDevice ${t.envDevice}), ${cfg.numEnvs} envs × ${cfg.numSteps} steps, ${nMb} minibatches per update; load ${load()}`);
  console.log(`rollout: wall ${roMs.toFixed(0)} ms, GPU ${pr.gpuMs.toFixed(0)} ms, ${pr.dispatches} dispatches; update: wall ${upMs.toFixed(0)} ms, GPU ${pu.gpuMs.toFixed(0)} ms, ${pu.dispatches} dispatches (${(pu.dispatches / nMb).toFixed(1)} per minibatch)`);
  console.log(`per env step: wall ${(((roMs + upMs) / steps) * 1000).toFixed(0)} µs (rollout ${((roMs / steps) * 1000).toFixed(0)}, update ${((upMs / steps) * 1000).toFixed(0)})`);
  for (const [sec, p] of [['rollout', pr], ['update', pu]] as const) {
    console.log(`\n${name} ${sec}: label | dispatches | GPU ms | share`);
    const rows = [...p.per].sort((a, b) => b[1][1] - a[1][1]).slice(0, top);
    for (const [l, [c, ms]] of rows) console.log(`  ${l.padEnd(byShape ? 70 : 40)} ${String(c).padStart(6)} ${ms.toFixed(1).padStart(8)} ${((100 * ms) / p.gpuMs).toFixed(1).padStart(5)}%`);
  }
  t.dispose();
}
for (const q of qsets) q.destroy();
resolveBuf.destroy();
readBuf.destroy();
process.exit(0);
