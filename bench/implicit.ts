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
//                   and recorded reverse second derivatives, alternating, two rounds each
// with the dispatches and readbacks of one iteration. Not tests: numbers, not assertions.
// The losses are rl/ddpg.ts's: f₂ = E.mse(Q(s, π(s)), y) with Q reshaped to [B], f₁ = −mean Q.
//
//   npx tsx bench/implicit.ts [filter] [--quick] [--composed] [--fused]

import * as E from '../engine/index.ts';
import { timeIt, selected, type Row, type Stats } from './common.ts';

type Layer = { w: E.Tensor; b: E.Tensor };
type Act = 'tanh' | 'relu';

// Networks as rl/ builds them: engine/nn's fused linear kernel (x·Wᵀ + b and the activation in
// one dispatch, W [out, in]); `--composed` uses matmul + add + activation ops instead (the
// numbers docs/games.md reported before the fused path).
const COMPOSED = process.argv.includes('--composed');
// `--fused`: CG's one-kernel iteration (kernels/cg.ts), opt-in while its native crash is open.
const FUSED = process.argv.includes('--fused');
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
 * Wall time (harness timing), and process CPU time per iteration: lavapipe runs the kernels on
 * this process's threads, so CPU time counts the whole cost (JS + Dawn + kernels) and, unlike wall
 * time, is barely moved by other jobs on a shared machine.
 */
async function measure(step: () => void): Promise<{ wall: Stats; cpuMs: number; dispatches: number; readbacks: number }> {
  const wall = await timeIt(() => step(), () => E.sync(), { maxIters: 256 });
  await E.sync();
  const c0 = E.counters();
  step();
  const c1 = E.counters();
  await E.sync();
  const n = Math.max(3, Math.min(wall.iters, 20));
  const u0 = process.cpuUsage();
  for (let i = 0; i < n; i++) step();
  await E.sync();
  const u = process.cpuUsage(u0);
  return { wall, cpuMs: (u.user + u.system) / 1000 / n, dispatches: c1.dispatches - c0.dispatches, readbacks: c1.readbacks - c0.readbacks };
}

export async function benchImplicit(filter?: string): Promise<ImplicitRow[]> {
  await E.init();
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
        // Amortised: linearise once, then 10 HVPs; reported per HVP (the loop below divides).
        E.scope(() => {
          const lin = E.linearizeGrad(fCritic, critic);
          for (let k = 0; k < 10; k++) lin.hvp(v);
          lin.dispose();
        });
      }, 'critic'],
      [`actor grad ${net.name}`, () => E.dispose(E.grad(actorLoss, 0)(actor, critic)), null],
    ];
    // Forward-over-reverse (the default) and the recorded reverse path, alternating, twice each.
    for (const round of [1, 2]) {
      for (const variant of ['forward', 'forward, no dual kernels', 'reverse'] as const) {
        // Row ids: the default path keeps the id docs/benchmarks.md quotes; the other rows are
        // named so that bench/run.ts's goal check (/leader/) reads the default path only.
        const cgTag = `10 CG${FUSED ? ', fused CG' : ''}`;
        const id = variant === 'forward' ? `leader update (${cgTag})${round > 1 ? ` #${round}` : ''}`
          : variant === 'reverse' ? `total derivative, recorded reverse (${cgTag}) #${round}` : `total derivative, forward without dual kernels (${cgTag}) #${round}`;
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
    }
    const base: Record<string, number> = {};
    const baseCpu: Record<string, number> = {};
    for (const [name, fn, ratioTo] of cases) {
      const m = await measure(fn);
      const per = name.startsWith('hvp linearised') ? 10 : 1;
      const ms = m.wall.median / per;
      const cpuMs = m.cpuMs / per;
      if (name.startsWith('grad ')) [base.critic, baseCpu.critic] = [ms, cpuMs];
      if (name.startsWith('actor grad')) [base.actor, baseCpu.actor] = [ms, cpuMs];
      const ratio = ratioTo ? ms / base[ratioTo] : 1;
      const cpuRatio = ratioTo ? cpuMs / baseCpu[ratioTo] : 1;
      rows.push({
        id: name, group: 'implicit', engine: 'ours', status: 'ok', wall: m.wall,
        metrics: {
          ratioToGrad: ratio, dispatches: m.dispatches / per, readbacks: m.readbacks / per,
          cpuMs, cpuRatioToGrad: cpuRatio,
          // The leader update also yields the critic's gradient: compare with a plain actor-critic step too.
          ...(ratioTo === 'actor' ? { ratioToActorPlusCriticGrad: ms / (base.actor + base.critic), cpuRatioToActorPlusCriticGrad: cpuMs / (baseCpu.actor + baseCpu.critic) } : {}),
        },
        note: ratioTo ? `ratio to ${ratioTo === 'critic' ? 'the critic-loss gradient' : "the actor's individual gradient"}` : undefined,
        name, ms, ratioToGrad: ratio, dispatches: m.dispatches / per, readbacks: m.readbacks / per,
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
  console.log('| case | wall ms | wall ratio | CPU ms | CPU ratio | dispatches | readbacks |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m = r.metrics!;
    const both = m.ratioToActorPlusCriticGrad;
    console.log(
      `| ${r.name} | ${r.ms.toFixed(1)} | ${r.ratioToGrad.toFixed(2)}×${both ? ` (${both.toFixed(2)}× a+c)` : ''} | ${m.cpuMs.toFixed(1)} | ` +
        `${m.cpuRatioToGrad.toFixed(2)}×${both ? ` (${m.cpuRatioToActorPlusCriticGrad.toFixed(2)}× a+c)` : ''} | ${r.dispatches} | ${r.readbacks} |`,
    );
  }
}
