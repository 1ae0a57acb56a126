// Implicit-differentiation benchmarks on networks of the Stackelberg actor-critic paper's sizes:
// (64, 32) tanh (on-policy STAC) and (256, 256) ReLU (STDDPG/STSAC). For each:
//   grad            one gradient of the critic loss (the unit of the ratios)
//   hvp             one fresh Hessian-vector product of the same loss (goal ≤ 1.5× grad)
//   hvp linearised  one more HVP once ∇f's graph is recorded (what each CG iteration costs)
//   reverse-over-reverse hvp  the gradient of ⟨∇f, v⟩ (the older path, for comparison)
//   leader update   totalDerivative with 10 CG iterations on an actor/critic game, which also
//                   returns the critic's gradient (goal ≤ 12× the actor's individual gradient),
//                   with forward-over-reverse (the default), the same without the dual linear/MSE
//                   kernels (E.nnDualKernels(false): what forward over reverse cost before them),
//                   and recorded reverse second derivatives
// with the dispatches and readbacks of one iteration. Not tests: numbers, not assertions.
//
// Timing: every case is warmed (pipelines compiled, buffers pooled, bind groups cached), then
// all cases of a network run in alternating rounds (one sample of each per round, a sample being
// enough back-to-back iterations to last ~targetMs, then one wait). A full garbage collection runs
// between samples, outside the timed region, so no sample pays for another's garbage. A ratio is
// the ratio of the two medians over the same alternating rounds, so load that changes during the
// run (another process starting on a 2-core host) hits both sides alike; the median of the
// per-round ratios (case sample / unit sample of the same round) is reported beside it
// (pairedRatioToGrad). Nothing inside a timed sample reads back.
// The losses are rl/ddpg.ts's: f₂ = E.mse(Q(s, π(s)), y) with Q reshaped to [B], f₁ = −mean Q.
//
//   npx tsx bench/implicit.ts [filter] [--quick] [--composed] [--fused] [--hvp-only]
//   (--hvp-only: the "grad" and "hvp" rows alone, alternating with each other)

import os from 'node:os';
import * as E from '../engine/index.ts';
import { opts, selected, type Row } from './common.ts';

type Layer = { w: E.Tensor; b: E.Tensor };
type Act = 'tanh' | 'relu';

// Networks as rl/ builds them: engine/nn's fused linear kernel (x·Wᵀ + b and the activation in
// one dispatch, W [out, in]); `--composed` uses matmul + add + activation ops instead (the
// numbers docs/games.md reported before the fused path).
const COMPOSED = process.argv.includes('--composed');
// `--fused`: CG's one-kernel iteration (kernels/cg.ts), opt-in while its native crash is open.
const FUSED = process.argv.includes('--fused');
const HVP_ONLY = process.argv.includes('--hvp-only');
function mlpInit(sizes: number[], seed: number): Layer[] {
  return sizes.slice(1).map((n, i) => ({
    w: COMPOSED ? E.randn([sizes[i], n], 0, 1 / Math.sqrt(sizes[i]), { seed: seed + i }) : E.randn([n, sizes[i]], 0, 1 / Math.sqrt(sizes[i]), { seed: seed + i }),
    b: E.zeros([n]),
  }));
}
function mlp(ps: Layer[], x: E.Tensor, act: Act): E.Tensor {
  ps.forEach((p, i) => {
    const a = i < ps.length - 1 ? act : 'none';
    if (!COMPOSED) x = E.linear(x, p.w, p.b, a);
    else {
      x = E.add(E.matmul(x, p.w), p.b);
      if (a !== 'none') x = act === 'tanh' ? E.tanh(x) : E.relu(x);
    }
  });
  return x;
}

export interface Net {
  name: string;
  act: Act;
  hidden: number[];
  obs: number;
  actDim: number;
  batch: number;
}
export const NETS: Net[] = [
  { name: '64x32 tanh', act: 'tanh', hidden: [64, 32], obs: 8, actDim: 2, batch: 1000 },
  { name: '256x256 relu', act: 'relu', hidden: [256, 256], obs: 17, actDim: 6, batch: 100 },
];

/**
 * The actor/critic game of the leader-update rows (kept tensors: call dispose()). f₂ (critic) =
 * rl/ddpg.ts's mse(Q(s, π(s)), y); f₁ (actor) = −mean Q(s, π(s)).
 */
export function leaderGame(net: Net) {
  const s = E.keep(E.randn([net.batch, net.obs], 0, 1, { seed: 1 }));
  const target = E.keep(E.randn([net.batch], 0, 1, { seed: 2 }));
  const actor = E.keep(mlpInit([net.obs, ...net.hidden, net.actDim], 10));
  const critic = E.keep(mlpInit([net.obs + net.actDim, ...net.hidden, 1], 20));
  const q = (a: Layer[], c: Layer[]) => E.reshape(mlp(c, E.concat([s, E.tanh(mlp(a, s, net.act))], 1), net.act), [net.batch]);
  const criticLoss = (a: Layer[], c: Layer[]) => (COMPOSED ? E.mean(E.square(E.sub(q(a, c), target))) : E.mse(q(a, c), target));
  const actorLoss = (a: Layer[], c: Layer[]) => E.neg(E.mean(q(a, c)));
  return { s, target, actor, critic, criticLoss, actorLoss, dispose: () => E.dispose([s, target, actor, critic]) };
}

export interface ImplicitRow extends Row {
  name: string;
  ms: number;
  ratioToGrad: number;
  dispatches: number;
  readbacks: number;
}

/**
 * V8's full collection (Node exposes gc() once --expose-gc is set at run time): run between
 * samples so that a sample never pays for garbage the previous one left. null where unavailable.
 */
const collect: (() => void) | null = await (async () => {
  try {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
})();

interface Sample { wall: number; cpu: number }

/** One sample: `iters` back-to-back iterations, then one wait; per-iteration wall and process CPU ms. */
async function sample(step: () => void, iters: number): Promise<Sample> {
  await E.sync();
  collect?.();
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) step();
  await E.sync();
  const wall = (performance.now() - t0) / iters;
  const u = process.cpuUsage(u0);
  return { wall, cpu: (u.user + u.system) / 1000 / iters };
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function benchImplicit(filter?: string): Promise<ImplicitRow[]> {
  await E.init();
  const { targetMs, repeats, quick } = opts();
  // Enough rounds that the median of the paired ratios is stable on a shared 2-core host.
  const rounds = Math.max(repeats, quick ? 5 : 11);
  const rows: ImplicitRow[] = [];
  for (const net of NETS) {
    if (!selected(filter, net.name, 'implicit', 'hvp', 'leader')) continue;
    // Critic loss (follower f₂) depends on the actor through the actions; actor loss f₁ = −mean Q(s, π(s)).
    const game = leaderGame(net);
    const { actor, critic, criticLoss, actorLoss } = game;
    const v = E.keep(critic.map((p) => ({ w: E.randn(p.w.shape, 0, 1, { seed: 30 }), b: E.randn(p.b.shape, 0, 1, { seed: 31 }) })));
    const fCritic = (c: Layer[]) => criticLoss(actor, c);

    const cases: Array<[string, () => void, 'critic' | 'actor' | null]> = [
      [`grad ${net.name}`, () => E.dispose(E.grad(fCritic)(critic)), null],
      [`hvp ${net.name}`, () => E.dispose(E.hessianVectorProduct(fCritic, critic, v)), 'critic'],
      [`hvp, no dual kernels ${net.name}`, () => {
        const prev = E.nnDualKernels(false);
        try {
          E.dispose(E.hessianVectorProduct(fCritic, critic, v));
        } finally {
          E.nnDualKernels(prev);
        }
      }, 'critic'],
      [`reverse-over-reverse hvp ${net.name}`, () => E.dispose(E.hessianVectorProductReverse(fCritic, critic, v)), 'critic'],
      [`hvp linearised ${net.name}`, () => {
        // Amortised: linearise once, then 10 HVPs; reported per HVP (divided below).
        E.scope(() => {
          const lin = E.linearizeGrad(fCritic, critic);
          for (let k = 0; k < 10; k++) lin.hvp(v);
          lin.dispose();
        });
      }, 'critic'],
      [`actor grad ${net.name}`, () => E.dispose(E.grad(actorLoss, 0)(actor, critic)), null],
    ];
    if (HVP_ONLY) cases.splice(2);
    // Forward over reverse (the default), the same without the dual kernels, and the recorded
    // reverse path. Row ids: the default path keeps the id docs quote; the others are named so
    // that bench/run.ts's goal check (/leader/) reads the default path only.
    for (const variant of HVP_ONLY ? [] : (['forward', 'forward, no dual kernels', 'reverse'] as const)) {
      const cgTag = `10 CG${FUSED ? ', fused CG' : ''}`;
      const id = variant === 'forward' ? `leader update (${cgTag})`
        : variant === 'reverse' ? `total derivative, recorded reverse (${cgTag})` : `total derivative, forward without dual kernels (${cgTag})`;
      const secondOrder = variant === 'reverse' ? 'reverse' : 'forward';
      cases.push([`${id} ${net.name}`, () => {
        const prev = E.nnDualKernels(variant !== 'forward, no dual kernels');
        try {
          E.dispose(E.totalDerivative({
            leaderLoss: actorLoss, followerLoss: criticLoss, leader: actor, follower: critic, lambda: 1, cgIters: 10, secondOrder, ...(FUSED ? { fused: true } : {}),
          }));
        } finally {
          E.nnDualKernels(prev);
        }
      }, 'actor']);
    }

    // Warm-up (pipelines, pool, bind groups), the dispatches and readbacks of one call, and the
    // iterations per sample from a first estimate of each case's cost.
    const info = [];
    for (const [, fn] of cases) {
      fn();
      fn();
      await E.sync();
      const c0 = E.counters();
      fn();
      const c1 = E.counters();
      const est = await sample(fn, 1);
      info.push({ dispatches: c1.dispatches - c0.dispatches, readbacks: c1.readbacks - c0.readbacks, iters: Math.max(1, Math.min(64, Math.round(targetMs / 2 / Math.max(est.wall, 1e-3)))) });
    }
    const samples: Sample[][] = cases.map(() => []);
    for (let r = 0; r < rounds; r++) for (const [i, [, fn]] of cases.entries()) samples[i].push(await sample(fn, info[i].iters));

    const unitIndex = { critic: cases.findIndex(([n]) => n.startsWith('grad ')), actor: cases.findIndex(([n]) => n.startsWith('actor grad')) };
    for (const [i, [name, , ratioTo]] of cases.entries()) {
      const per = name.startsWith('hvp linearised') ? 10 : 1;
      const wall = samples[i].map((x) => x.wall / per), cpu = samples[i].map((x) => x.cpu / per);
      const ms = median(wall), cpuMs = median(cpu);
      const paired = (j: number, k: 'wall' | 'cpu') => median(samples[i].map((x, r) => x[k] / per / samples[j][r][k]));
      let metrics: Record<string, number> = { ratioToGrad: 1, dispatches: info[i].dispatches / per, readbacks: info[i].readbacks / per, cpuMs, cpuRatioToGrad: 1 };
      if (ratioTo) {
        const j = unitIndex[ratioTo];
        const unitMs = median(samples[j].map((x) => x.wall)), unitCpu = median(samples[j].map((x) => x.cpu));
        metrics = {
          // ratio of the medians over the same alternating rounds first (what the docs table
          // divides, and bench/run.ts's goal check reads), the median of per-round ratios beside
          ratioToGrad: ms / unitMs, dispatches: info[i].dispatches / per, readbacks: info[i].readbacks / per, cpuMs, cpuRatioToGrad: cpuMs / unitCpu,
          pairedRatioToGrad: paired(j, 'wall'), cpuPairedRatioToGrad: paired(j, 'cpu'),
        };
        // The leader update also yields the critic's gradient: compare with a plain actor-critic step too.
        if (ratioTo === 'actor') {
          const c = unitIndex.critic;
          metrics.ratioToActorPlusCriticGrad = ms / (unitMs + median(samples[c].map((x) => x.wall)));
          metrics.cpuRatioToActorPlusCriticGrad = cpuMs / (unitCpu + median(samples[c].map((x) => x.cpu)));
        }
      }
      // wall stats per timed step (the linearised row's step is 1 linearisation + 10 HVPs), `ms` per unit
      const step = samples[i].map((x) => x.wall);
      const wallStats = { median: median(step), min: Math.min(...step), max: Math.max(...step), repeats: rounds, iters: info[i].iters };
      rows.push({
        id: name, group: 'implicit', engine: 'ours', status: 'ok', wall: wallStats, metrics,
        note: ratioTo
          ? `ratio to ${ratioTo === 'critic' ? 'the critic-loss gradient' : "the actor's individual gradient"}: medians over ${rounds} alternating rounds (pairedRatioToGrad: the median of the per-round ratios)`
          : `unit: ${rounds} rounds alternating with the cases measured against it`,
        name, ms, ratioToGrad: metrics.ratioToGrad, dispatches: metrics.dispatches, readbacks: metrics.readbacks,
      });
    }
    game.dispose();
    E.dispose(v);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const filter = process.argv.slice(2).filter((a) => !a.startsWith('--')).join(' ') || undefined;
  const rows = await benchImplicit(filter);
  console.log(`load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| case | wall ms | wall ratio (of medians; paired) | CPU ms | CPU ratio (of medians; paired) | dispatches | readbacks |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = r.metrics!;
    const both = m.ratioToActorPlusCriticGrad;
    console.log(
      `| ${r.name} | ${r.ms.toFixed(1)} | ${r.ratioToGrad.toFixed(2)}×${m.pairedRatioToGrad ? `; ${m.pairedRatioToGrad.toFixed(2)}×` : ''}${both ? ` (${both.toFixed(2)}× a+c)` : ''} | ${m.cpuMs.toFixed(1)} | ` +
        `${m.cpuRatioToGrad.toFixed(2)}×${m.cpuPairedRatioToGrad ? `; ${m.cpuPairedRatioToGrad.toFixed(2)}×` : ''}${both ? ` (${m.cpuRatioToActorPlusCriticGrad.toFixed(2)}× a+c)` : ''} | ${r.dispatches} | ${r.readbacks} |`,
    );
  }
}
