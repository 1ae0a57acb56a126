// SPRIG's cost over PPO's per env step on MinAtar Breakout (minatar-fast settings: 16 envs × 64
// steps, minibatch 256, 2 epochs; SPRIG with frame stack 2, PPO with the MinAtar torso), as wall
// time AND process CPU time (llvmpipe's worker threads run in this process, so CPU time counts
// the work done whatever other processes take from the 2 cores: the steadier measure on a
// shared machine). Alternates 2 PPO updates and 1 SPRIG update per round; medians over rounds.
//   npx tsx bench/sprig_ab.ts [cpu|gpu] [rounds]
// Before/after a change: run it alternately in two checkouts (e.g. `git archive <commit> | tar
// -x -C /tmp/before`, node_modules linked) and compare ratioCpu.
import os from 'node:os';
import * as E from '../engine/index.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import { getAlgorithm } from '../rl/registry.ts';
await E.init();
const dev = process.argv[2] ?? 'cpu';
const rounds = Number(process.argv[3] ?? 3);
async function make(name: string) {
  const a = await getAlgorithm(name);
  const cfg = resolveLayers(a.defaults, a.schema, [{ source: 'ab', values: { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3, totalSteps: 1e9, logEvery: 1e9, envDevice: dev, ...(name === 'sprig' ? { frameStack: 2 } : {}) } }]);
  const t = new Trainer(a as never, cfg as never);
  await t.step();
  return t;
}
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
async function seg(t: Trainer, n: number) {
  const w0 = performance.now(), c0 = cpu();
  for (let i = 0; i < n; i++) await t.step();
  return { wall: (performance.now() - w0) / 1000 / (n * 1024) * 1e6, cpu: (cpu() - c0) / (n * 1024) * 1e6 };
}
const ppo = await make('ppo'), sprig = await make('sprig');
const P: { wall: number; cpu: number }[] = [], S: typeof P = [];
for (let r = 0; r < rounds; r++) {
  P.push(await seg(ppo, 2));
  S.push(await seg(sprig, 1));
}
const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pw = med(P.map((x) => x.wall)), pc = med(P.map((x) => x.cpu)), sw = med(S.map((x) => x.wall)), sc = med(S.map((x) => x.cpu));
console.log(JSON.stringify({ ppoUsWall: +pw.toFixed(0), sprigUsWall: +sw.toFixed(0), ratioWall: +(sw / pw).toFixed(2), ppoUsCpu: +pc.toFixed(0), sprigUsCpu: +sc.toFixed(0), ratioCpu: +(sc / pc).toFixed(2), ratiosWall: S.map((s, i) => +(s.wall / P[i].wall).toFixed(2)), load: os.loadavg()[0].toFixed(1) }));
process.exit(0);
