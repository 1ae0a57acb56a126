// SPRIG's cost over PPO's per env step on MinAtar Breakout (minatar-fast settings: 16 envs × 64
// steps, minibatch 256, 2 epochs; SPRIG with frame stack 2, PPO with the MinAtar torso), as wall
// time AND process CPU time (llvmpipe's worker threads run in this process, so CPU time counts
// the work done whatever other processes take from the 2 cores: the steadier measure on a
// shared machine). Alternates 2 PPO updates and 1 SPRIG update per round; medians over rounds.
//   npx tsx bench/sprig_ab.ts [cpu|gpu] [rounds]
// Before/after a change: run it alternately in two checkouts (e.g. `git archive <commit> | tar
// -x -C /tmp/before`, node_modules linked) and compare ratioCpu.
//   npx tsx bench/sprig_ab.ts cpu [rounds] --s9-ab
// --s9-ab: the same PPO and SPRIG trainers timed with session 9's update changes off (session 8's
// one-workgroup clip norm, the composed SPRIG leader objective, E.ppoLoss's five-tensor input,
// SPRIG's composed gated residuals when acting and in the follower's features)
// and on, alternating within each round (A/B switches read at every step); prints both.
//   npx tsx bench/sprig_ab.ts cpu [rounds] --s10-ab
// --s10-ab: the same with session 10's changes off and on (SPRIG's inference forward as conv1 +
// two block kernels + fc instead of 17 dispatches: sprigFusedBlocks; both heads of act() in one
// kernel: sprigFusedHeads; the sequential leader's spatial attention layer as one first-order op:
// sprigFusedSpatialTrain; conv2 through the temporal layer as one, conv1's ReLU inside it:
// sprigFusedTemporalTrain, sprigReluInTemporal; all
// left on in both arms with --s10-only-inference); prints both, labelled
// "session8"/"S8" for the off side as --s9-ab does (read: off).
//   npx tsx bench/sprig_ab.ts optim
// optim: the clipped Adam step alone (E.adam's step from its gathered gradients, session 9:
// multi-workgroup norm partials + kernels/optim.ts adamPartialsKernel above 32k floats, one
// single-workgroup dispatch below) against session 8's path (the one-workgroup gradNormKernel,
// then optim_adam), alternating, 7 rounds of 200 steps, at SPRIG's perception, PPO's MinAtar
// network and SPRIG's heads sizes.
import os from 'node:os';
import * as E from '../engine/index.ts';
import { gradNormKernel, optimKernel } from '../kernels/optim.ts';
import { grid } from '../kernels/common.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import { getAlgorithm } from '../rl/registry.ts';
import { clipNormSession8 } from '../engine/nn/optim.ts';
import { ppoPackedBatch } from '../rl/ppo.ts';
import { sprigFusedLeaderObjective, sprigFusedGatedResidual, sprigFusedBlocks, sprigFusedHeads, sprigFusedSpatialTrain, sprigFusedTemporalTrain, sprigReluInTemporal } from '../rl/sprig.ts';
await E.init();
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
if (process.argv[2] === 'optim') {
  const rt = E.runtime();
  const f = E.f32bits;
  for (const [rows, cols, label] of [[128, 600, 'SPRIG perception-sized'], [128, 1035, 'PPO MinAtar-sized'], [8, 128, 'SPRIG heads-sized']] as const) {
    const pk = E.packParams({ w: E.randn([rows, cols]), b: E.zeros([rows]) });
    const n = E.packedOf(pk.params)!.layout.size;
    const opt = E.adam(pk.params, { lr: 1e-4, eps: 1e-5 }) as unknown as { gflat: E.Tensor; stepGathered(o: object): void; dispose(): void };
    E.scope(() => E.assign(opt.gflat, E.mul(E.randn([n]), 0.01)));
    const M = E.zeros([n]), V = E.zeros([n]), H = E.zeros([128]);
    const K = 200;
    const oldStep = () => {
      rt.dispatch({ kernel: gradNormKernel, inputs: [opt.gflat.buffer], outputs: [H.buffer], params: [n], workgroups: [1], label: 'old norm' });
      rt.dispatch({ kernel: optimKernel('adam'), inputs: [opt.gflat.buffer, H.buffer], outputs: [pk.flat.buffer, M.buffer, V.buffer], params: [n, 2, f(1e-4), 0, f(0.5), f(0.9), f(0.999), f(1e-5), f(0.1), f(0.03), 0], workgroups: grid(n), label: 'old adam' });
    };
    const newStep = () => opt.stepGathered({ lr: 1e-4, maxGradNorm: 0.5 });
    const time = async (fn: () => void) => { await pk.flat.data(); const t0 = performance.now(), c0 = cpuMs(); for (let i = 0; i < K; i++) fn(); await pk.flat.data(); return { w: ((performance.now() - t0) / K) * 1000, c: ((cpuMs() - c0) / K) * 1000 }; };
    const o: { w: number; c: number }[] = [], nn: typeof o = [];
    for (let r = 0; r < 7; r++) { o.push(await time(oldStep)); nn.push(await time(newStep)); }
    const m = (x: number[]) => [...x].sort((a, b) => a - b)[3];
    const [ow, nw, oc, nc] = [m(o.map((x) => x.w)), m(nn.map((x) => x.w)), m(o.map((x) => x.c)), m(nn.map((x) => x.c))];
    console.log(JSON.stringify({ label, n, oldUsWall: +ow.toFixed(0), newUsWall: +nw.toFixed(0), oldOverNewWall: +(ow / nw).toFixed(2), oldUsCpu: +oc.toFixed(0), newUsCpu: +nc.toFixed(0), oldOverNewCpu: +(oc / nc).toFixed(2), pairsWall: o.map((x, i) => +(x.w / nn[i].w).toFixed(2)), load: os.loadavg()[0].toFixed(1) }));
    opt.dispose();
    E.dispose([pk.params, pk.flat, M, V, H]);
  }
  process.exit(0);
}
const dev = process.argv[2] ?? 'cpu';
const rounds = Number(process.argv[3] ?? 3);
async function make(name: string) {
  const a = await getAlgorithm(name);
  const cfg = resolveLayers(a.defaults, a.schema, [{ source: 'ab', values: { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3, totalSteps: 1e9, logEvery: 1e9, envDevice: dev, ...(name === 'sprig' ? { frameStack: 2 } : {}) } }]);
  const t = new Trainer(a as never, cfg as never);
  await t.step();
  return t;
}
const cpu = () => cpuMs() / 1e3;
async function seg(t: Trainer, n: number) {
  const w0 = performance.now(), c0 = cpu();
  for (let i = 0; i < n; i++) await t.step();
  return { wall: (performance.now() - w0) / 1000 / (n * 1024) * 1e6, cpu: (cpu() - c0) / (n * 1024) * 1e6 };
}
const ppo = await make('ppo'), sprig = await make('sprig');
const P: { wall: number; cpu: number }[] = [], S: typeof P = [];
const s10ab = process.argv.includes('--s10-ab');
const s9ab = process.argv.includes('--s9-ab') || s10ab;
const session9 = (on: boolean) => {
  if (s10ab) {
    sprigFusedBlocks(on);
    sprigFusedHeads(on);
    if (!process.argv.includes('--s10-only-inference')) {
      sprigFusedSpatialTrain(on);
      sprigFusedTemporalTrain(on);
      sprigReluInTemporal(on);
    }
    return;
  }
  clipNormSession8(!on);
  ppoPackedBatch(on);
  sprigFusedLeaderObjective(on);
  sprigFusedGatedResidual(on);
};
const P8: typeof P = [], S8: typeof P = [];
for (let r = 0; r < rounds; r++) {
  const order = s9ab ? (r % 2 ? [true, false] : [false, true]) : [true];
  for (const on of order) {
    session9(on);
    (on ? P : P8).push(await seg(ppo, 2));
    (on ? S : S8).push(await seg(sprig, 1));
  }
}
session9(true);
const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
if (s9ab) {
  const m = (xs: { wall: number; cpu: number }[], k: 'wall' | 'cpu') => +med(xs.map((x) => x[k])).toFixed(0);
  console.log(JSON.stringify({
    session8: { ppoUsWall: m(P8, 'wall'), sprigUsWall: m(S8, 'wall'), ppoUsCpu: m(P8, 'cpu'), sprigUsCpu: m(S8, 'cpu'), ratioCpu: +(m(S8, 'cpu') / m(P8, 'cpu')).toFixed(2), ratioWall: +(m(S8, 'wall') / m(P8, 'wall')).toFixed(2) },
    sprigS8OverS9Cpu: +(m(S8, 'cpu') / m(S, 'cpu')).toFixed(2), sprigS8OverS9Wall: +(m(S8, 'wall') / m(S, 'wall')).toFixed(2),
    ppoS8OverS9Cpu: +(m(P8, 'cpu') / m(P, 'cpu')).toFixed(2), ppoS8OverS9Wall: +(m(P8, 'wall') / m(P, 'wall')).toFixed(2),
    sprigPairsCpu: S8.map((x, i) => +(x.cpu / S[i].cpu).toFixed(2)),
  }));
}
const pw = med(P.map((x) => x.wall)), pc = med(P.map((x) => x.cpu)), sw = med(S.map((x) => x.wall)), sc = med(S.map((x) => x.cpu));
console.log(JSON.stringify({ ...(s10ab ? { note: 'session8 = session 10 changes off' } : {}), ppoUsWall: +pw.toFixed(0), sprigUsWall: +sw.toFixed(0), ratioWall: +(sw / pw).toFixed(2), ppoUsCpu: +pc.toFixed(0), sprigUsCpu: +sc.toFixed(0), ratioCpu: +(sc / pc).toFixed(2), ratiosWall: S.map((s, i) => +(s.wall / P[i].wall).toFixed(2)), load: os.loadavg()[0].toFixed(1) }));
process.exit(0);
