// Ours against jax-js (and tfjs-webgpu) on one spec, alternating single repeats many times and
// recording wall and process CPU time per iteration. On a machine shared with other jobs the
// wall clock swings by 10× between repeats; CPU time (lavapipe runs the kernels on this
// process's threads, for every engine here) moves far less, so its ratio is the steadier one.
//
//   npx tsx bench/alternate.ts [mlp|hvp|matmul|conv_minatar|conv_minatar32|conv_nature1|conv_nature2|conv_nature3|attention] [rounds]
//       (conv cases also time the engine with the scalar kernels and the residue-class input gradient: 'ours scalar')
//   npx tsx bench/alternate.ts critic [rounds]   fresh HVP (forward over reverse, and reverse over
//       reverse) against a gradient on bench/implicit.ts's two critic networks
//   npx tsx bench/alternate.ts ppo [rounds]      one PPO minibatch update, composed loss vs the fused ppoLoss
//   npx tsx bench/alternate.ts critic_fused [rounds]   the same on bench/implicit.ts's fused-linear + MSE
//       critics, with and without the dual linear/MSE kernels
//   npx tsx bench/alternate.ts dual_kernels [rounds]   the dual linear forward (value + tangent, and
//       the tangent half CG's replay runs) against the plain forward, 256×256 layer, batch 100
//   npx tsx bench/alternate.ts leader_parts [rounds]   the default update's fixed part, first and
//       replayed CG products, in CPU time against the actor gradient
//   npx tsx bench/alternate.ts leader [rounds]   the 10-CG leader update (totalDerivative) against the
//       actor's individual gradient on bench/implicit.ts's games: forward over reverse (with the
//       dual linear/MSE kernels and CG's matvec replay; without the replay; without either), and
//       the recorded reverse path
//   npx tsx bench/alternate.ts leader_mixed [rounds]   the same update with the mixed term replayed from
//       CG's recorded first product (the default) and by a fresh jvp after the solve (the path before)
//   npx tsx bench/alternate.ts leader_s9 [rounds]   the default update against session 8's path (no primal
//       work shared between f₁'s gradient and CG's first product, the output layer's tangent dispatches
//       not fused, the mixed term not carried through CG: totalDerivative's sharePrimal, fuseOutputTangent
//       and accumulateMixed off)
//   npx tsx bench/alternate.ts attention_paths [rounds]   attention's fused and composed paths
//   npx tsx bench/alternate.ts hvp_s10 [rounds] [tanh|relu]   the fresh HVP (E.hessianVectorProduct, bench/implicit.ts's
//       "hvp" rows) against the critic gradient, with session 10's changes (the output layer + MSE fused,
//       the dual kernels' narrow folds) and without them (session 9's path), wall and CPU time, paired
//   npx tsx bench/alternate.ts leader_s10 [rounds]   the 10-CG leader update against the actor gradient, with
//       and without session 10's dual-kernel folds (nnFoldDualForward, nnFoldMinWorkgroups), which CG's
//       products run too

import os from 'node:os';
import * as E from '../engine/index.ts';
import { KERNEL_CASES, type CaseSpec, type Prepared, polled } from './common.ts';
import { prepareOurs } from './core.ts';

const which = process.argv[2] ?? 'mlp';
const rounds = Number(process.argv[3] ?? 15);
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** Dispatches of one call of each case, after `warm` calls (pipelines, pool, bind groups). */
async function countDispatches(cases: Array<[string, () => unknown]>, warm = 1): Promise<number[]> {
  const disp: number[] = [];
  for (const [, f] of cases) {
    for (let w = 0; w < warm; w++) f();
    await E.sync();
    const d0 = E.counters().dispatches;
    f();
    disp.push(E.counters().dispatches - d0);
    await E.sync();
  }
  return disp;
}

/**
 * `rounds` rounds, each timing every case in turn (`reps(i)` back-to-back calls, then one wait):
 * wall and process CPU ms per call, [case][round], so a round's cases saw the same load.
 */
async function alternateRounds(cases: Array<[string, () => unknown]>, rounds: number, reps: (i: number) => number) {
  const wall: number[][] = cases.map(() => []), cpu: number[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++)
    for (const [i, [, f]] of cases.entries()) {
      const n = reps(i);
      const u0 = process.cpuUsage(), t0 = performance.now();
      for (let k = 0; k < n; k++) f();
      await E.sync();
      const u = process.cpuUsage(u0);
      wall[i].push((performance.now() - t0) / n);
      cpu[i].push((u.user + u.system) / 1000 / n);
    }
  return { wall, cpu };
}

if (which === 'critic') {
  await E.init();
  type Layer = { w: E.Tensor; b: E.Tensor };
  const init = (sizes: number[], seed: number): Layer[] =>
    sizes.slice(1).map((n, i) => ({ w: E.randn([sizes[i], n], 0, 1 / Math.sqrt(sizes[i]), { seed: seed + i }), b: E.zeros([n]) }));
  const mlp = (ps: Layer[], x: E.Tensor, act: string) => {
    ps.forEach((p, i) => {
      x = E.add(E.matmul(x, p.w), p.b);
      if (i < ps.length - 1) x = act === 'tanh' ? E.tanh(x) : E.relu(x);
    });
    return x;
  };
  for (const net of [
    { name: '64x32 tanh', act: 'tanh', hidden: [64, 32], obs: 8, actDim: 2, batch: 1000 },
    { name: '256x256 relu', act: 'relu', hidden: [256, 256], obs: 17, actDim: 6, batch: 100 },
  ]) {
    const held = E.keep([E.randn([net.batch, net.obs], 0, 1, { seed: 1 }), E.randn([net.batch, 1], 0, 1, { seed: 2 })]);
    const [s, target] = held;
    const actor = E.keep(init([net.obs, ...net.hidden, net.actDim], 10)), critic = E.keep(init([net.obs + net.actDim, ...net.hidden, 1], 20));
    const v = E.keep(critic.map((p) => ({ w: E.randn(p.w.shape, 0, 1, { seed: 30 }), b: E.randn(p.b.shape, 0, 1, { seed: 31 }) })));
    const fC = (c: Layer[]) => E.mean(E.square(E.sub(mlp(c, E.concat([s, E.tanh(mlp(actor, s, net.act))], 1), net.act), target)));
    const cases: Array<[string, () => unknown]> = [
      ['grad', () => E.grad(fC)(critic)],
      ['hvp (forward over reverse)', () => E.hvp(fC, [critic], [v])],
      ['hvp (reverse over reverse)', () => E.hvpReverse(fC, [critic], [v])],
    ];
    const timed = cases.map(([n, f]): [string, () => unknown] => [n, () => E.dispose(f())]);
    const disp = await countDispatches(timed);
    const load0 = os.loadavg()[0];
    const { wall, cpu } = await alternateRounds(timed, rounds, () => 5);
    console.log(`critic ${net.name}: ${rounds} alternating rounds of 5; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(28)} wall ${med(wall[i]).toFixed(2)} ms (${(med(wall[i]) / med(wall[0])).toFixed(2)}× grad)  cpu ${med(cpu[i]).toFixed(2)} ms (${(med(cpu[i]) / med(cpu[0])).toFixed(2)}× grad)  dispatches ${disp[i]}`));
    E.dispose([held, actor, critic, v]);
  }
  process.exit(0);
}

if (which === 'leader_s10') {
  await E.init();
  const { NETS, leaderGame } = await import('./implicit.ts');
  for (const net of NETS) {
    const g = leaderGame(net);
    const td = () => E.dispose(E.totalDerivative({ leaderLoss: g.actorLoss, followerLoss: g.criticLoss, leader: g.actor, follower: g.critic, lambda: 1, cgIters: 10 }));
    const noFolds = () => {
      const prev = [E.nnFoldDualForward(false), E.nnFoldMinWorkgroups(1)] as const;
      try {
        td();
      } finally {
        E.nnFoldDualForward(prev[0]);
        E.nnFoldMinWorkgroups(prev[1]);
      }
    };
    const cases: Array<[string, () => void]> = [
      ['actor grad', () => E.dispose(E.grad(g.actorLoss, 0)(g.actor, g.critic))],
      ['update (no folds)', noFolds],
      ['update (default)', td],
    ];
    for (const [, f] of cases) {
      f();
      f();
      await E.sync();
    }
    const load0 = os.loadavg()[0];
    const { wall, cpu } = await alternateRounds(cases, rounds, () => 3);
    const paired = (k: number[][], i: number, j: number) => med(k[i].map((x, r) => x / k[j][r]));
    console.log(`leader_s10 ${net.name}: ${rounds} alternating rounds of 3; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(18)} wall ${med(wall[i]).toFixed(2)} ms (paired ${paired(wall, i, 0).toFixed(2)}× actor grad)  cpu ${med(cpu[i]).toFixed(2)} ms (paired ${paired(cpu, i, 0).toFixed(2)}×)`));
    console.log(`  no folds / default, paired: wall ${paired(wall, 1, 2).toFixed(3)}, cpu ${paired(cpu, 1, 2).toFixed(3)}`);
    g.dispose();
  }
  process.exit(0);
}

if (which === 'hvp_s10') {
  // bench/implicit.ts's "grad" and "hvp" rows, and the same HVP on session 9's path, alternating
  // single samples of 5 calls (then one wait); ratios of medians and medians of per-round ratios.
  await E.init();
  const { NETS, leaderGame } = await import('./implicit.ts');
  const only = process.argv[4];
  const s9 = <T>(fn: () => T): T => {
    const prev = [E.nnFoldDualForward(false), E.nnFoldMinWorkgroups(1)] as const;
    try {
      return fn();
    } finally {
      E.nnFoldDualForward(prev[0]);
      E.nnFoldMinWorkgroups(prev[1]);
    }
  };
  for (const net of NETS.filter((n) => !only || n.name.includes(only))) {
    const g = leaderGame(net);
    const v = E.keep(g.critic.map((p) => ({ w: E.randn(p.w.shape, 0, 1, { seed: 30 }), b: E.randn(p.b.shape, 0, 1, { seed: 31 }) })));
    const fC = (c: typeof g.critic) => g.criticLoss(g.actor, c);
    const cases: Array<[string, () => void]> = [
      ['grad', () => E.dispose(E.grad(fC)(g.critic))],
      ['hvp (session 9 path)', () => s9(() => E.dispose(E.hessianVectorProduct(fC, g.critic, v, { fuseOutput: false })))],
      ['hvp (default)', () => E.dispose(E.hessianVectorProduct(fC, g.critic, v))],
    ];
    const disp = await countDispatches(cases, 2);
    const load0 = os.loadavg()[0];
    const { wall, cpu } = await alternateRounds(cases, rounds, () => 5);
    const paired = (k: number[][], i: number, j: number) => med(k[i].map((x, r) => x / k[j][r]));
    console.log(`hvp_s10 ${net.name}: ${rounds} alternating rounds of 5; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(22)} wall ${med(wall[i]).toFixed(2)} ms (${(med(wall[i]) / med(wall[0])).toFixed(2)}× grad, paired ${paired(wall, i, 0).toFixed(2)}×)  cpu ${med(cpu[i]).toFixed(2)} ms (${(med(cpu[i]) / med(cpu[0])).toFixed(2)}× grad, paired ${paired(cpu, i, 0).toFixed(2)}×)  dispatches ${disp[i]}`));
    console.log(`  session 9 path / default, paired: wall ${paired(wall, 1, 2).toFixed(3)}, cpu ${paired(cpu, 1, 2).toFixed(3)}`);
    E.dispose(v);
    g.dispose();
  }
  process.exit(0);
}

if (which === 'critic_fused') {
  // A fresh HVP (forward over reverse) against a gradient of the critic loss on bench/implicit.ts's
  // fused-linear + MSE games, with and without the dual linear/MSE kernels.
  await E.init();
  const { NETS, leaderGame } = await import('./implicit.ts');
  for (const net of NETS) {
    const g = leaderGame(net);
    const v = E.keep(g.critic.map((p) => ({ w: E.randn(p.w.shape, 0, 1, { seed: 30 }), b: E.randn(p.b.shape, 0, 1, { seed: 31 }) })));
    const fC = (c: typeof g.critic) => g.criticLoss(g.actor, c);
    const hvp = (dual: boolean) => () => {
      const prev = E.nnDualKernels(dual);
      try {
        E.dispose(E.hvp(fC, [g.critic], [v]));
      } finally {
        E.nnDualKernels(prev);
      }
    };
    const cases: Array<[string, () => void]> = [
      ['grad', () => E.dispose(E.grad(fC)(g.critic))],
      ['hvp (dual kernels)', hvp(true)],
      ['hvp (no dual kernels)', hvp(false)],
      ['hvp (reverse over reverse)', () => E.dispose(E.hvpReverse(fC, [g.critic], [v]))],
    ];
    const disp = await countDispatches(cases);
    const load0 = os.loadavg()[0];
    const { wall, cpu } = await alternateRounds(cases, rounds, () => 5);
    console.log(`fused critic ${net.name}: ${rounds} alternating rounds of 5; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(28)} wall ${med(wall[i]).toFixed(2)} ms (${(med(wall[i]) / med(wall[0])).toFixed(2)}× grad)  cpu ${med(cpu[i]).toFixed(2)} ms (${(med(cpu[i]) / med(cpu[0])).toFixed(2)}× grad)  dispatches ${disp[i]}`));
    E.dispose(v);
    g.dispose();
  }
  process.exit(0);
}

if (which === 'dual_kernels') {
  // The dual linear forward (value + tangent; tangent half only, as CG's replay runs it) against
  // the plain forward, on the 256×256 layer of bench/implicit.ts's ReLU game (batch 100, every
  // tangent present), with the tile each family gets on this host: CPU ms per dispatch.
  await E.init();
  const { linearKernel, linearDualKernel } = await import('../kernels/nn.ts');
  type LinearTile = import('../kernels/nn.ts').LinearTile;
  const rt = E.runtime();
  const [M, N, K] = [100, 256, 256];
  const r = (shape: number[], seed: number) => E.keep(E.randn(shape, 0, 1, { seed }));
  const x = r([M, K], 1), w = r([N, K], 2), b = r([N], 3), tx = r([M, K], 4), tw = r([N, K], 5), tb = r([N], 6);
  const out = E.keep(E.zeros([4 * M * N]));
  const at = (t: E.Tensor) => t.bufferFor('dual_kernels');
  const tp = E.tileFor<LinearTile>('linear', { M, N, K }), td = E.tileFor<LinearTile>('linearDual', { M, N, K });
  const plain = { ...linearKernel(tp, true), constants: { ACT: 1, HAS_BIAS: 1 } };
  const dual = (primal: number) => ({ ...linearDualKernel(td, true), constants: { ACT: 1, HAS_BIAS: 1, HAS_T0: 1, HAS_T1: 1, HAS_T2: 1, PRIMAL: primal } });
  const cases: Array<[string, () => void]> = [
    [`plain forward ${JSON.stringify(tp)}`, () => rt.dispatch({ kernel: plain, inputs: [at(x), at(w), at(b)], outputs: [out.buffer], params: [M, N, K], workgroups: [Math.ceil(N / tp.TN / tp.WX), Math.ceil(M / tp.TM / tp.WY), 1], label: 'linear' })],
    ...[1, 0].map((primal): [string, () => void] => {
      const k = dual(primal);
      return [`dual forward, ${primal ? 'value + tangent' : 'tangent half'} ${JSON.stringify(td)}`, () => rt.dispatch({
        kernel: k, inputs: [at(x), at(w), at(b), at(tx), at(tw), at(tb)], outputs: [out.buffer], params: [M, N, K, 2 * M * N],
        workgroups: [Math.ceil(N / td.TN / td.WX), Math.ceil(M / td.TM / td.WY), 1], label: 'linear (dual)',
      })];
    }),
  ];
  for (const [, f] of cases) f();
  await E.sync();
  const cpu: number[][] = cases.map(() => []);
  const load0 = os.loadavg()[0];
  for (let q = 0; q < rounds; q++)
    for (const [i, [, f]] of cases.entries()) {
      const u0 = process.cpuUsage();
      for (let k = 0; k < 10; k++) f();
      await E.sync();
      const u = process.cpuUsage(u0);
      cpu[i].push((u.user + u.system) / 1000 / 10);
    }
  console.log(`dual kernels, ${M}×${K} · ${N}×${K}ᵀ ReLU: ${rounds} alternating rounds of 10; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}; CPU ms per dispatch (× plain)`);
  cases.forEach(([n], i) => console.log(`  ${n.padEnd(70)} ${med(cpu[i]).toFixed(2)} (${(med(cpu[i]) / med(cpu[0])).toFixed(2)}×)`));
  process.exit(0);
}

if (which === 'leader_parts') {
  // Where the default leader update's time goes: the update with 0, 1, 2 and 10 CG iterations
  // (1 CG: the fixed part and the recorded first product; 10 − 2: eight replayed products),
  // against the actor gradient.
  await E.init();
  const { NETS, leaderGame } = await import('./implicit.ts');
  for (const net of NETS) {
    const g = leaderGame(net);
    const td = (n: number) => () => E.dispose(E.totalDerivative({ leaderLoss: g.actorLoss, followerLoss: g.criticLoss, leader: g.actor, follower: g.critic, lambda: 1, cgIters: n }));
    const cases: Array<[string, () => void]> = [['actor grad', () => E.dispose(E.grad(g.actorLoss, 0)(g.actor, g.critic))], ['0 CG', td(0)], ['1 CG', td(1)], ['2 CG', td(2)], ['10 CG', td(10)]];
    for (const [, f] of cases) {
      f();
      await E.sync();
    }
    const cpu: number[][] = cases.map(() => []);
    const load0 = os.loadavg()[0];
    for (let r = 0; r < rounds; r++)
      for (const [i, [, f]] of cases.entries()) {
        const u0 = process.cpuUsage();
        for (let k = 0; k < 3; k++) f();
        await E.sync();
        const u = process.cpuUsage(u0);
        cpu[i].push((u.user + u.system) / 1000 / 3);
      }
    const m = cpu.map(med);
    console.log(`leader parts ${net.name}: ${rounds} alternating rounds of 3; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}; CPU ms (× actor grad)`);
    // (0 CG takes the path without CG's products: its mixed-term pass also computes ∇₂f₂)
    console.log(`  actor grad ${m[0].toFixed(1)}; 0 CG ${m[1].toFixed(1)} (${(m[1] / m[0]).toFixed(2)}×); 1 CG: fixed part + recorded first product ${m[2].toFixed(1)} (${(m[2] / m[0]).toFixed(2)}×); replayed product ${((m[4] - m[3]) / 8).toFixed(1)} (${((m[4] - m[3]) / 8 / m[0]).toFixed(2)}×); 10 CG ${m[4].toFixed(1)} (${(m[4] / m[0]).toFixed(2)}×)`);
    g.dispose();
  }
  process.exit(0);
}

if (which === 'leader' || which === 'leader_mixed' || which === 'leader_s9') {
  await E.init();
  const { NETS, leaderGame } = await import('./implicit.ts');
  for (const net of NETS) {
    const g = leaderGame(net);
    const td = (secondOrder: 'forward' | 'reverse', dual: boolean, replay = true, mixedReplay = true, s9 = true) => () => {
      const prev = E.nnDualKernels(dual);
      try {
        E.dispose(E.totalDerivative({
          leaderLoss: g.actorLoss, followerLoss: g.criticLoss, leader: g.actor, follower: g.critic, lambda: 1, cgIters: 10, secondOrder, replay, mixedReplay,
          ...(s9 ? {} : { sharePrimal: false, fuseOutputTangent: false, accumulateMixed: false }),
        }));
      } finally {
        E.nnDualKernels(prev);
      }
    };
    const cases: Array<[string, () => void]> = which === 'leader_s9'
      ? [
        ['actor grad', () => E.dispose(E.grad(g.actorLoss, 0)(g.actor, g.critic))],
        ['leader (session 9 default)', td('forward', true)],
        ['leader, session 8 path', td('forward', true, true, true, false)],
      ]
      : which === 'leader_mixed'
      ? [
        ['actor grad', () => E.dispose(E.grad(g.actorLoss, 0)(g.actor, g.critic))],
        ['leader, mixed term replayed', td('forward', true)],
        ['leader, mixed term by a fresh jvp', td('forward', true, true, false)],
      ]
      : [
        ['actor grad', () => E.dispose(E.grad(g.actorLoss, 0)(g.actor, g.critic))],
        ['leader, forward (dual, replay)', td('forward', true)],
        ['leader, forward (dual, no replay)', td('forward', true, false)],
        ['leader, forward (no dual, no replay)', td('forward', false, false)],
        ['leader, recorded reverse', td('reverse', true)],
      ];
    const disp = await countDispatches(cases);
    const load0 = os.loadavg()[0];
    // the unit is cheap: time it over more iterations so each timed block lasts comparably long
    const { wall, cpu } = await alternateRounds(cases, rounds, (i) => (i === 0 ? 10 : 1));
    console.log(`leader update ${net.name}: ${rounds} alternating rounds; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    // ratio of medians, and the median of each round's own ratio (the pair ran back to back)
    const paired = (x: number[][], i: number) => med(x[i].map((v, r) => v / x[0][r]));
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(36)} wall ${med(wall[i]).toFixed(2)} ms (${(med(wall[i]) / med(wall[0])).toFixed(2)}×, paired ${paired(wall, i).toFixed(2)}×)  cpu ${med(cpu[i]).toFixed(2)} ms (${(med(cpu[i]) / med(cpu[0])).toFixed(2)}×, paired ${paired(cpu, i).toFixed(2)}×)  dispatches ${disp[i]} (${(disp[i] / disp[0]).toFixed(1)}×)`));
    g.dispose();
  }
  process.exit(0);
}

if (which === 'attention_paths') {
  // Attention B32 H4 S64 D32 (SPRIG's shape) on each path the tuner chooses between: fused
  // forward + fused backward (two tiles), fused forward + composed backward, composed both ways;
  // and the forward alone fused vs composed. Alternating, wall and CPU time.
  await E.init();
  const sh = [32, 4, 64, 32];
  const [q, k, v, g] = E.keep([1, 2, 3, 4].map((seed) => E.rand(sh, -1, 1, { seed })));
  const pin = (fwd: E.AttentionTile, bwd: E.AttentionTile) => {
    for (const c of ['small', 'medium', 'large'] as const) {
      E.setTile('attention', c, fwd);
      E.setTile('attentionBackward', c, bwd);
    }
  };
  const fused = { BK: 32, WG: 64 }, composed = { BK: 32, WG: 64, COMPOSED: 1 };
  const fb = (fwd: E.AttentionTile, bwd: E.AttentionTile) => () => {
    pin(fwd, bwd);
    E.dispose(E.scope(() => {
      const [o, back] = E.vjp((a: E.Tensor, b: E.Tensor, c: E.Tensor) => E.attention(a, b, c), q, k, v);
      const gs = back(g);
      back.dispose();
      return [o, gs];
    }));
  };
  const fwdOnly = (fwd: E.AttentionTile) => () => {
    pin(fwd, fused);
    E.attention(q, k, v).dispose();
  };
  const cases: Array<[string, () => void]> = [
    ['fwd+bwd fused, fused bwd {32,64}', fb(fused, fused)], ['fwd+bwd fused, fused bwd {16,32}', fb(fused, { BK: 16, WG: 32 })],
    ['fwd+bwd fused, composed bwd', fb(fused, composed)], ['fwd+bwd composed', fb(composed, composed)],
    ['fwd fused', fwdOnly(fused)], ['fwd composed', fwdOnly(composed)],
  ];
  for (const [, f] of cases) { f(); await E.sync(); }
  const wall: number[][] = cases.map(() => []), cpu: number[][] = cases.map(() => []);
  const load0 = os.loadavg()[0];
  for (let r = 0; r < rounds; r++)
    for (const [i, [, f]] of cases.entries()) {
      const u0 = process.cpuUsage(), t0 = performance.now();
      for (let j = 0; j < 3; j++) f();
      await E.sync();
      const u = process.cpuUsage(u0);
      wall[i].push((performance.now() - t0) / 3);
      cpu[i].push((u.user + u.system) / 1000 / 3);
    }
  E.clearTiles();
  console.log(`attention paths B32 H4 S64 D32: ${rounds} alternating rounds of 3; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
  cases.forEach(([n], i) => console.log(`  ${n.padEnd(34)} wall ${med(wall[i]).toFixed(1)} ms  cpu ${med(cpu[i]).toFixed(1)} ms`));
  E.dispose([q, k, v, g]);
  process.exit(0);
}

if (which === 'ppo') {
  // One PPO minibatch update (forward, loss, backward, Adam with gradient clipping) on CleanRL's
  // CartPole network (MLP 4→64→64 tanh, heads 2 and 1; minibatch 128) and the MinAtar torso
  // (conv 4→16 3×3, linear →128; 6 actions, minibatch 64 of SPRIG's table): the loss composed
  // from ops (as rl/ppo.ts's ppoLossTerms) against the fused ppoLoss, alternating.
  await E.init();
  const o = { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5, entCoef: 0.01 };
  for (const net of [
    { name: 'CartPole MLP 4→64→64', obs: [4], A: 2, M: 128, torso: E.MLP([4, 64, 64], { activation: 'tanh', outActivation: 'tanh' }) },
    { name: 'MinAtar conv 10×10×4', obs: [10, 10, 4], A: 6, M: 64, torso: E.Sequential([E.Conv2d(4, 16, 3), E.ReLU(), E.Flatten(), E.Linear(8 * 8 * 16, 128), E.ReLU()]) },
  ]) {
    const feat = net.name.startsWith('Cart') ? 64 : 128;
    const actor = E.Linear(feat, net.A), critic = E.Linear(feat, 1);
    const packed = E.packParams({ torso: net.torso.init(1), actor: actor.init(2), critic: critic.init(3) });
    const params = E.keep(packed.params);
    E.keep(packed.flat);
    const opt = E.adam(params, { lr: 2.5e-4, eps: 1e-5 });
    const M = net.M;
    const obs = E.keep(E.rand([M, ...net.obs], -1, 1, { seed: 4 }));
    const d = new Float32Array(5 * M);
    for (let i = 0; i < M; i++) { d[i] = i % net.A; d[M + i] = Math.log(1 / net.A) + 0.1 * Math.sin(i); d[2 * M + i] = Math.cos(i); d[3 * M + i] = Math.sin(2 * i); d[4 * M + i] = 0.1 * Math.cos(3 * i); }
    const data = E.keep(E.tensor(d, [5, M]));
    const step = (lossFn: typeof E.ppoLoss) => () => E.scope(() => {
      const [loss, grads] = E.valueAndGrad((p: E.Params) => {
        const f = net.torso.apply(p.torso as E.Params, obs);
        const logits = actor.apply(p.actor as E.LinearParams, f), value = E.reshape(critic.apply(p.critic as E.LinearParams, f), [M]);
        return lossFn(logits, value, data, o).loss;
      })(params);
      opt.step(params, grads, { maxGradNorm: 0.5 });
      E.dispose([loss, grads]);
    });
    const cases: Array<[string, () => void]> = [['composed loss', step(E.ppoLossComposed)], ['fused ppoLoss', step(E.ppoLoss)]];
    const disp = await countDispatches(cases);
    const load0 = os.loadavg()[0];
    const { wall, cpu } = await alternateRounds(cases, rounds, () => 5);
    console.log(`ppo minibatch update, ${net.name}, M ${M}: ${rounds} alternating rounds of 5; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
    cases.forEach(([n], i) =>
      console.log(`  ${n.padEnd(16)} wall ${med(wall[i]).toFixed(2)} ms (${(med(wall[0]) / med(wall[i])).toFixed(2)}× faster than composed)  cpu ${med(cpu[i]).toFixed(2)} ms (${(med(cpu[0]) / med(cpu[i])).toFixed(2)}×)  dispatches ${disp[i]}`));
    E.dispose([params, packed.flat, obs, data]);
    opt.dispose();
  }
  process.exit(0);
}

const specs: Record<string, CaseSpec> = {
  mlp: KERNEL_CASES['mlp grad'],
  hvp: { kind: 'hvp_mlp', batch: 256, sizes: [64, 256, 256, 8] },
  matmul: { kind: 'matmul', batch: 1, m: 1024, k: 1024, n: 1024 },
  conv_minatar: KERNEL_CASES['conv2d minatar'],
  conv_minatar32: { ...(KERNEL_CASES['conv2d minatar'] as Extract<CaseSpec, { kind: 'conv2d' }>), n: 32 },
  conv_nature1: KERNEL_CASES['conv2d nature1'],
  conv_nature2: KERNEL_CASES['conv2d nature2'],
  conv_nature3: KERNEL_CASES['conv2d nature3'],
  attention: KERNEL_CASES['attention sprig'],
};
const spec = specs[which];
if (!spec) throw new Error(`alternate: unknown case '${which}' (valid: ${Object.keys(specs).join(', ')})`);
await E.init();
void polled;
const load0 = os.loadavg()[0];
const contenders: Array<{ name: string; p: Prepared }> = [{ name: 'ours', p: await prepareOurs(spec) }];
if (spec.kind === 'conv2d') {
  // the same engine with the scalar kernels and the residue-class input gradient (before vec4 loads and the flipped stride-1 input gradient)
  const p = await prepareOurs(spec);
  const step = p.step;
  p.step = async () => {
    const v = E.convVec4(false), f = E.convFlippedBackInput(false);
    try {
      return await step();
    } finally {
      E.convVec4(v);
      E.convFlippedBackInput(f);
    }
  };
  contenders.push({ name: 'ours scalar', p });
}
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
const iters = spec.kind === 'matmul' || (spec.kind === 'conv2d' && spec.h > 20) ? 1 : 4;
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
console.log(`${which}: ${JSON.stringify(spec)}; ${rounds} alternating rounds of ${iters}; load ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}`);
for (const c of contenders) {
  const w = med(wall[c.name]), u = med(cpu[c.name]);
  console.log(`  ${c.name.padEnd(12)} wall ${w.toFixed(2)} ms (ours ${(w / med(wall.ours)).toFixed(2)}× faster)   cpu ${u.toFixed(2)} ms (ours ${(u / med(cpu.ours)).toFixed(2)}× faster)`);
  c.p.dispose();
}
process.exit(0);
