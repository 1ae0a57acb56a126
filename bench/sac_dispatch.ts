// What one off-policy update costs, in GPU work: dispatches, submits and readbacks per gradient
// update (agent.train with one gradient step, no statistics) and per env step of the harness
// (act + env step + replay + update), for DDPG, SAC and their Stackelberg versions, with the wall
// and CPU time of each. It answers "why does a SAC update cost more than a DDPG update": the
// counts come from the engine's counters (E.counters()), so they do not depend on the load.
//
//   npx tsx bench/sac_dispatch.ts [--hidden 64] [--batch 64] [--updates 100] [--cg 2] [--algos ddpg,sac,...] [--labels]
//
// The ST entries run with the released critic target (criticTarget: released), the only setting
// with non-zero Stackelberg terms; the baselines with the standard one. The first 20 updates
// (pipeline compilation) are not counted.

import * as os from 'node:os';
import * as E from '../engine/index.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import { Rng } from '../engine/nn/rng.ts';
import { ddpg, stddpgAl, stddpgCl } from '../rl/ddpg.ts';
import { sac, stsacAl, stsacCl } from '../rl/sac.ts';
import type { OffPolicyAgent } from '../rl/harness/types.ts';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const hidden = Number(arg('hidden', '64')), batch = Number(arg('batch', '64')), updates = Number(arg('updates', '100')), cg = Number(arg('cg', '2'));
const all = { ddpg, sac, 'stddpg-al': stddpgAl, 'stddpg-cl': stddpgCl, 'stsac-al': stsacAl, 'stsac-cl': stsacCl } as const;
const names = arg('algos', Object.keys(all).join(',')).split(',') as Array<keyof typeof all>;
for (const n of names) if (!(n in all)) throw new Error(`sac_dispatch: unknown algorithm '${n}' (valid: ${Object.keys(all).join(', ')})`);

const warmup = 300;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Row { name: string; perUpdate: E.Counters; updMs: number; updCpu: number; perStep: E.Counters; stepMs: number; perLabel: Array<[string, number]> }

// --labels: which kernels an update dispatches (the runtime's dispatch labels, counted per update).
const labels = new Map<string, number>();
let counting = false;

async function measure(name: keyof typeof all): Promise<Row> {
  const algo = all[name] as typeof ddpg;
  const st = name.startsWith('st');
  const cfg = {
    ...algo.defaults, env: 'pendulum', numEnvs: 1, seed: 1, totalSteps: warmup + 40 + 2 * updates, randomSteps: warmup, learningStarts: warmup,
    trainFreq: 1, gradientSteps: 1, hidden: [hidden, hidden], batchSize: batch, logEvery: 1_000_000, checkpointEvery: 0,
    ...(st ? { criticTarget: 'released' as const, cgIters: cg } : {}),
  };
  const t = new Trainer(algo, cfg);
  while (t.globalStep < warmup + 20) await t.step();
  await E.sync();
  const diff = (a: E.Counters, b: E.Counters) => Object.fromEntries(Object.keys(a).map((k) => [k, (b[k as keyof E.Counters] - a[k as keyof E.Counters]) / updates])) as unknown as E.Counters;
  // Updates alone: the agent's train() as the harness calls it when no log line is due.
  const agent = t.agent as OffPolicyAgent;
  const rng = new Rng(7);
  let c0 = { ...E.counters() };
  let w0 = performance.now(), p0 = cpuMs();
  labels.clear();
  counting = true;
  for (let i = 0; i < updates; i++) await agent.train({ rng, step: t.globalStep, iteration: i, iterations: updates, wantStats: false });
  await E.sync();
  counting = false;
  const perLabel = [...labels].map(([k, v]) => [k, v / updates] as [string, number]).sort((a, b) => b[1] - a[1]);
  const perUpdate = diff(c0, { ...E.counters() });
  const updMs = (performance.now() - w0) / updates, updCpu = (cpuMs() - p0) / updates;
  // Whole env steps of the harness (act with its readback, env, replay, one update).
  c0 = { ...E.counters() };
  w0 = performance.now();
  for (let i = 0; i < updates; i++) await t.step();
  await E.sync();
  const perStep = diff(c0, { ...E.counters() });
  const stepMs = (performance.now() - w0) / updates;
  t.agent.dispose();
  return { name, perUpdate, updMs, updCpu, perStep, stepMs, perLabel };
}

await E.init();
if (process.argv.includes('--labels')) {
  const rt = E.runtime() as unknown as { dispatch(a: { label: string }): void };
  const orig = rt.dispatch.bind(rt);
  rt.dispatch = (a) => {
    if (counting) labels.set(a.label, (labels.get(a.label) ?? 0) + 1);
    orig(a);
  };
}
const rows: Row[] = [];
for (const n of names) rows.push(await measure(n));
const info = E.runtime().info.adapterInfo;
console.log(`Pendulum, ${hidden}×${hidden} ReLU, batch ${batch}, ${updates} updates per row (ST: released target, ${cg} CG iterations); adapter: ${info.vendor} ${info.architecture} ${info.description}; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
console.log('| algorithm | dispatches / update | submits / update | readbacks / update | wall ms / update | CPU ms / update | dispatches / env step | wall ms / env step |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.perUpdate.dispatches.toFixed(1)} | ${r.perUpdate.submits.toFixed(1)} | ${r.perUpdate.readbacks.toFixed(1)} | ${r.updMs.toFixed(1)} | ${r.updCpu.toFixed(1)} | ${r.perStep.dispatches.toFixed(1)} | ${r.stepMs.toFixed(1)} |`);
}
if (process.argv.includes('--labels')) {
  for (const r of rows) console.log(`\n${r.name}: dispatches per update by kernel label\n` + r.perLabel.map(([k, v]) => `  ${v.toFixed(1).padStart(6)}  ${k}`).join('\n'));
}
