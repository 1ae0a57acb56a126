// The two-dispatch DQN gradient of the released MinAtar network (rl/dqn/fused_update.ts,
// kernels/dqn_mlp.ts): its gradient against central differences of the loss written again in
// float64, and against the composed path (encoder ops + tdLossHead + vjp) element by element,
// for MSE, Huber and BEV, DQN and Double DQN targets, batches that do and do not fill the
// kernel's row blocks; the statistics; one player's half (SCORER); the networks it declines;
// bad input; live buffers; and a DQN learner with it against one without it.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { qNetwork, type QNetParams } from '../../rl/dqn/nets.ts';
import { FusedDqnGrad, fusedDqnEnabled, fusedDqnMisfit } from '../../rl/dqn/fused_update.ts';
import { dqnMlpCap, DQN_MLP_RB } from '../../kernels/dqn_mlp.ts';
import { headTdLoss, lossAndGrad } from '../../rl/dqn/losses.ts';
import { dqnAlgorithms, dqnLearner, resolveDqnConfig } from '../../rl/dqn.ts';
import { scorerAlgorithms, scorerLearner } from '../../rl/scorer.ts';
import { type F64, toF64, lin, l1n } from './dqn_ref.ts';

beforeAll(async () => {
  await E.init();
});

interface Case {
  obs: number[];
  A: number;
  H: number;
  B: number;
  loss: 'mse' | 'huber' | 'bev';
  double: boolean;
  /**
   * The observations: 'mixed' (default) binary frames with ~30 % ones and one real-valued row
   * (its workgroup takes the kernels' dense first layer, the others the sparse one); 'sparse'
   * all binary, ~4 % ones, an all-zero row (MinAtar-like: the sparse first layer everywhere);
   * 'full' all binary with ~60 % ones (wider than the sparse list: the dense fallback).
   */
  frames?: 'mixed' | 'sparse' | 'full';
  /** A row of zeros (an empty frame; its L1Norm divides by ε, so not for central differences). */
  zeroRow?: number;
}

/** A batch: binary frames with a few real-valued rows, actions (one outside [0, A)), rewards, dones, next-state values. */
function batchData(c: Case, seed: number) {
  const n = c.obs.reduce((a, b) => a * b, 1);
  const r = (i: number) => Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453 % 1;
  const on = c.frames === 'sparse' ? 0.96 : c.frames === 'full' ? 0.4 : 0.7;
  const X = Array.from({ length: c.B }, (_, i) => Array.from({ length: n }, (_, k) => {
    if (i === c.zeroRow) return 0;
    return i === 1 && !c.frames ? r(i * n + k) * 2 : +(Math.abs(r(i * n + k)) > on);
  }));
  const actions = Array.from({ length: c.B }, (_, i) => (i === 2 ? c.A : Math.floor(Math.abs(r(9000 + i)) * c.A)));
  const rewards = Array.from({ length: c.B }, (_, i) => (i % 3 === 0 ? 1 : 0) + 0.1 * r(9100 + i));
  const dones = Array.from({ length: c.B }, (_, i) => +(i % 5 === 4));
  // ties in the selector (row 0) go to the first index
  const qT = Array.from({ length: c.B * c.A }, (_, i) => 2 * r(9200 + i));
  const qS = Array.from({ length: c.B * c.A }, (_, i) => (i < c.A ? 0.5 : r(9300 + i)));
  return { X, actions, rewards, dones, qT, qS };
}

/** The loss in float64 (the network of dqn_ref.ts, the TD target of kernels/td_loss.ts). */
function loss64(p: F64, d: ReturnType<typeof batchData>, c: Case, gamma: number) {
  let h = lin(l1n(d.X), p['encoder.0.weight'], p['encoder.0.bias'], true);
  h = l1n(lin(h, p['encoder.1.weight'], p['encoder.1.bias'], true));
  const q = lin(lin(h, p['head.0.weight'], p['head.0.bias'], true), p['head.1.weight'], p['head.1.bias'], false);
  const deltas: number[] = [], qas: number[] = [], hub: number[] = [];
  for (let i = 0; i < c.B; i++) {
    const t = d.qT.slice(i * c.A, (i + 1) * c.A), s = d.qS.slice(i * c.A, (i + 1) * c.A);
    const next = c.double ? t[s.indexOf(Math.max(...s))] : Math.max(...t);
    const y = d.rewards[i] + (1 - d.dones[i]) * gamma * next;
    const a = d.actions[i];
    const qa = a >= 0 && a < c.A ? q[i][a] : 0;
    deltas.push(y - qa);
    qas.push(qa);
    const e = Math.abs(qa - y);
    hub.push(e <= 1 ? 0.5 * e * e : e - 0.5);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const dm = mean(deltas);
  const msbe = mean(deltas.map((x) => x * x)), bev = mean(deltas.map((x) => (x - dm) ** 2));
  const loss = c.loss === 'mse' ? msbe : c.loss === 'huber' ? mean(hub) : bev;
  return { loss, stats: [loss, mean(qas), msbe, bev, dm] };
}

/** Arrays as views of one uploaded buffer at 64-float-aligned offsets (what the replay's sampleTensors makes). */
function oneBuffer(parts: Array<[number[], number[]]>): E.Tensor[] {
  const offs: number[] = [];
  let n = 0;
  for (const [d] of parts) (offs.push(n), (n += Math.ceil(d.length / 64) * 64));
  const buf = new Float32Array(n);
  parts.forEach(([d], i) => buf.set(d, offs[i]));
  const all = E.tensor(buf, [n]);
  const out = parts.map(([, shape], i) => all.subView(offs[i], shape));
  all.dispose();
  return out;
}

function setup(c: Case, seed = 5) {
  const net = qNetwork(c.obs, c.A, { encoder: 'mlp', hidden: c.H });
  const packed = E.packParams(net.init(seed));
  const d = batchData(c, seed);
  const [obs, actions, rewards, dones] = oneBuffer([[d.X.flat(), [c.B, ...c.obs]], [d.actions, [c.B]], [d.rewards, [c.B]], [d.dones, [c.B]]]);
  const t = { obs, actions, rewards, dones, qT: E.tensor(d.qT, [c.B, c.A]), qS: E.tensor(d.qS, [c.B, c.A]) };
  return { net, packed, d, t, dispose: () => E.dispose([packed.params, packed.flat, Object.values(t)]) };
}

/** The fused gradient (flat, layout order) and statistics; checks the dispatch count. */
async function fusedGrad(s: ReturnType<typeof setup>, c: Case, gamma: number, part: 'all' | 'encoder' | 'head' = 'all') {
  const f = FusedDqnGrad.create(s.net, s.packed.params as QNetParams)!;
  expect(f).not.toBeNull();
  const G = E.zeros([f.layoutSize.all!]), S = E.zeros([8]), N = E.full([f.normParts(part)], NaN);
  await E.readAll([G, S, N]);
  const d0 = E.counters().dispatches;
  f.grad({ batch: { obs: s.t.obs, actions: s.t.actions, rewards: s.t.rewards, dones: s.t.dones }, next: { qNextTarget: s.t.qT, qNextSelect: c.double ? s.t.qS : undefined }, gamma, loss: c.loss, G, S, part, N });
  expect(E.counters().dispatches - d0).toBe(2);
  const [g, st, ns] = await E.readAll([G, S, N]);
  // the dw workgroups' sums of squares add up to ‖G‖² of the part (every workgroup writes its sum; the rest of G stays 0)
  const sq = Array.from(g).reduce((a, x) => a + x * x, 0), sn = Array.from(ns).reduce((a, x) => a + x, 0);
  expect(ns.every((x) => Number.isFinite(x) && x >= 0)).toBe(true);
  expect(Math.abs(sn - sq)).toBeLessThanOrEqual(1e-5 * sq + 1e-30);
  E.dispose([G, S, N]);
  f.dispose();
  return { g, st };
}

const layoutOf = (s: ReturnType<typeof setup>) => E.packedOf(s.packed.params)!.layout;

describe.each<Case>([
  { obs: [4, 4, 4], A: 3, H: 16, B: 13, loss: 'mse', double: false },
  { obs: [4, 4, 4], A: 5, H: 16, B: 8, loss: 'huber', double: true },
  { obs: [4, 4, 4], A: 4, H: 12, B: 11, loss: 'bev', double: true },
  { obs: [4, 4, 4], A: 3, H: 16, B: 12, loss: 'mse', double: false, frames: 'sparse' },
])('fused DQN gradient vs float64 central differences: $loss, double $double, A $A, H $H, batch $B, frames $frames', (c) => {
  it('matches the derivative of the float64 loss at sampled parameters, and the statistics', async () => {
    const live = E.memory().liveBuffers;
    const s = setup(c);
    const gamma = 0.99;
    const { g, st } = await fusedGrad(s, c, gamma);
    const p = await toF64(s.packed.params);
    const ref = loss64(p, s.d, c, gamma);
    st.slice(0, 5).forEach((v, i) => expect(v).toBeCloseTo(ref.stats[i], 4));
    const layout = layoutOf(s);
    const scale = Math.max(...Array.from(g).map(Math.abs));
    expect(scale).toBeGreaterThan(1e-3);
    let checked = 0;
    layout.names.forEach((name, li) => {
      const n = p[name].data.length;
      // every bias, and 25 weights spread over the matrix
      const idx = n <= 16 ? [...Array(n).keys()] : Array.from({ length: 25 }, (_, k) => Math.floor((k * 7919) % n));
      for (const k of idx) {
        const h = 1e-6, v0 = p[name].data[k];
        p[name].data[k] = v0 + h;
        const lp = loss64(p, s.d, c, gamma).loss;
        p[name].data[k] = v0 - h;
        const lm = loss64(p, s.d, c, gamma).loss;
        p[name].data[k] = v0;
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(g[layout.offsets[li] + k] - fd), `${name}[${k}]: fused ${g[layout.offsets[li] + k]}, central difference ${fd}`).toBeLessThan(2e-4 * Math.max(1, scale));
        checked++;
      }
    });
    expect(checked).toBeGreaterThan(80);
    s.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe.each<Case>([
  { obs: [10, 10, 4], A: 3, H: 128, B: 32, loss: 'mse', double: false },
  { obs: [10, 10, 4], A: 6, H: 128, B: 13, loss: 'huber', double: true },
  { obs: [10, 10, 7], A: 6, H: 64, B: 64, loss: 'bev', double: false },
  { obs: [10, 10, 4], A: 3, H: 128, B: 32, loss: 'mse', double: true, frames: 'sparse', zeroRow: 3 },
  { obs: [16, 16, 4], A: 3, H: 128, B: 16, loss: 'huber', double: false, frames: 'full' },
])('fused DQN gradient vs the composed path: $loss, double $double, obs $obs, H $H, batch $B, frames $frames, zero row $zeroRow', (c) => {
  it('every element of the gradient and the statistics; one player at a time leaves the other side untouched', async () => {
    const live = E.memory().liveBuffers;
    const s = setup(c, 7);
    const gamma = 0.9;
    const { g, st } = await fusedGrad(s, c, gamma);
    const layout = layoutOf(s);
    const { net, t } = s;
    const one = E.ones([]);
    const [grads, stats] = E.scope(() => {
      let stats: E.Tensor | null = null;
      const [, gr] = lossAndGrad((pp: QNetParams) => {
        const td = headTdLoss(c.loss, net.head, pp.head, net.encoder.apply(pp.encoder, t.obs), { qNextTarget: t.qT, qNextSelect: c.double ? t.qS : undefined }, t, gamma);
        stats = td.stats;
        return td.loss;
      }, s.packed.params as QNetParams, one);
      return [gr, stats!] as const;
    });
    const named = E.namedParams(grads);
    const vals = await E.readAll([...layout.names.map((n) => named[n]), stats]);
    const scale = vals.slice(0, -1).reduce((m, v) => v.reduce((a, x) => Math.max(a, Math.abs(x)), m), 0);
    expect(scale).toBeGreaterThan(1e-3);
    layout.names.forEach((n, i) => {
      const want = vals[i];
      let worst = 0;
      want.forEach((v, k) => (worst = Math.max(worst, Math.abs(g[layout.offsets[i] + k] - v))));
      expect(worst, n).toBeLessThan(1e-4 * scale);
    });
    Array.from(vals.at(-1)!.subarray(0, 5)).forEach((v, i) => expect(st[i]).toBeCloseTo(v, 4));
    // each player packed apart (SCORER): its part's gradient equals its slice of the whole one
    const init = net.init(7);
    const parts = { encoder: E.packParams(init.encoder), head: E.packParams(init.head) };
    const f2 = FusedDqnGrad.create(net, { encoder: parts.encoder.params, head: parts.head.params })!;
    expect(f2.layoutSize.all).toBeUndefined();
    for (const part of ['encoder', 'head'] as const) {
      const G = E.zeros([f2.layoutSize[part]!]);
      f2.grad({ batch: t, next: { qNextTarget: t.qT, qNextSelect: c.double ? t.qS : undefined }, gamma, loss: c.loss, G, part });
      const got = await G.data();
      const lay = parts[part].layout;
      lay.names.forEach((n, i) => {
        const j = layout.names.indexOf(`${part}.${n}`);
        const sz = lay.shapes[i].reduce((a, b) => a * b, 1);
        expect(Array.from(got.subarray(lay.offsets[i], lay.offsets[i] + sz)), `${part}.${n}`).toEqual(Array.from(g.subarray(layout.offsets[j], layout.offsets[j] + sz)));
      });
      G.dispose();
    }
    E.scope(() => expect(() => f2.grad({ batch: t, next: { qNextTarget: t.qT }, gamma, loss: c.loss, G: E.zeros([10]) })).toThrow(/part 'all' needs its own gradient layout/));
    f2.dispose();
    E.dispose([parts.encoder.params, parts.encoder.flat, parts.head.params, parts.head.flat]);
    E.dispose([grads, stats, one]);
    s.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});

it("the frame cases take the rows kernel's paths they name: sparse lists within the cap, 'full' blocks over it", () => {
  // columns where any row of a workgroup's block is nonzero: the sparse list's length
  const unions = (c: Case) => {
    const X = batchData(c, 7).X;
    const out: number[] = [];
    for (let r0 = 0; r0 < c.B; r0 += DQN_MLP_RB) out.push(X[0].filter((_, k) => X.slice(r0, r0 + DQN_MLP_RB).some((row) => row[k] !== 0)).length);
    return out;
  };
  const sparse: Case = { obs: [10, 10, 4], A: 3, H: 128, B: 32, loss: 'mse', double: true, frames: 'sparse', zeroRow: 3 };
  const full: Case = { obs: [16, 16, 4], A: 3, H: 128, B: 16, loss: 'huber', double: false, frames: 'full' };
  const us = unions(sparse), uf = unions(full);
  expect(Math.max(...us)).toBeLessThan(dqnMlpCap({ IN: 400, H: 128, A: 3 }));
  expect(Math.max(...us)).toBeLessThan(150);
  expect(batchData(sparse, 7).X[3].every((v) => v === 0)).toBe(true);
  expect(Math.min(...uf)).toBeGreaterThan(dqnMlpCap({ IN: 1024, H: 128, A: 3 }));
});

it('declines networks it does not cover, with the reason; refuses bad input with clear errors; no leaks', async () => {
  const live = E.memory().liveBuffers;
  const cases: Array<[number[], Parameters<typeof qNetwork>[2], RegExp]> = [
    [[10, 10, 4], { encoder: 'mlp', dueling: true }, /DuelingQHead/],
    [[10, 10, 4], { encoder: 'conv' }, /ConvEncoder/],
    [[10, 10, 4], { encoder: 'mlp', hidden: 256 }, /up to 128/],
    [[5, 5, 3], { encoder: 'mlp' }, /multiples of 4/],
  ];
  for (const [obs, o, why] of cases) {
    const net = qNetwork(obs, 3, o);
    const p = E.packParams(net.init(1));
    expect(fusedDqnMisfit(net, p.params as QNetParams)).toMatch(why);
    expect(FusedDqnGrad.create(net, p.params as QNetParams)).toBeNull();
    E.dispose([p.params, p.flat]);
  }
  // unpacked parameters: declined
  const net = qNetwork([4, 4, 4], 3, { encoder: 'mlp', hidden: 16 });
  const loose = net.init(1);
  expect(FusedDqnGrad.create(net, loose)).toBeNull();
  E.dispose(loose);
  const c: Case = { obs: [4, 4, 4], A: 3, H: 16, B: 6, loss: 'mse', double: false };
  const s = setup(c);
  const f = FusedDqnGrad.create(s.net, s.packed.params as QNetParams)!;
  E.scope(() => {
    const G = E.zeros([f.layoutSize.all!]);
    const base = { batch: { obs: s.t.obs, actions: s.t.actions, rewards: s.t.rewards, dones: s.t.dones }, next: { qNextTarget: s.t.qT }, gamma: 0.9, loss: 'mse' as const, G };
    expect(() => f.grad({ ...base, loss: 'l1' as 'mse' })).toThrow(/unknown loss 'l1'; valid: mse, huber, bev/);
    expect(() => f.grad({ ...base, batch: { ...base.batch, actions: E.zeros([5]) } })).toThrow(/actions has 5 elements \[5\], the batch 6 rows/);
    expect(() => f.grad({ ...base, next: { qNextTarget: E.zeros([6, 4]) } })).toThrow(/qNextTarget \[6, 4\] must be \[6, 3\]/);
    expect(() => f.grad({ ...base, G: E.zeros([10]) })).toThrow(/gradient buffer has 10 floats/);
    expect(() => f.grad({ ...base, batch: { ...base.batch, obs: E.zeros([6, 63]) } })).toThrow(/not \[batch, \.\.\.\] rows of 64 floats/);
    expect(() => f.grad({ ...base, S: E.zeros([3]) })).toThrow(/statistics buffer has 3 floats/);
  });
  // actions, rewards and dones in separate buffers: gathered into one first, same gradient
  const grads = E.scope(() => {
    const G1 = E.zeros([f.layoutSize.all!]), G2 = E.zeros([f.layoutSize.all!]);
    const next = { qNextTarget: s.t.qT };
    f.grad({ batch: { obs: s.t.obs, actions: s.t.actions, rewards: s.t.rewards, dones: s.t.dones }, next, gamma: 0.9, loss: 'huber', G: G1 });
    f.grad({ batch: { obs: s.t.obs, actions: E.tensor(s.d.actions, [6]), rewards: E.tensor(s.d.rewards, [6]), dones: E.tensor(s.d.dones, [6]) }, next, gamma: 0.9, loss: 'huber', G: G2 });
    return [G1, G2];
  });
  const [g1, g2] = await E.readAll(grads);
  expect(Math.max(...Array.from(g1).map(Math.abs))).toBeGreaterThan(1e-4);
  expect(Array.from(g2)).toEqual(Array.from(g1));
  E.dispose(grads);
  f.dispose();
  s.dispose();
  expect(E.memory().liveBuffers).toBe(live);
});

describe.each(['adam', 'rmsprop'] as const)('the DQN learner with the fused update (%s)', (optimizer) => {
  it('takes the fused path (4 dispatches per update with Adam; with RMSProp 3 plus the engine clipped step) and steps as the composed learner does', async () => {
    const live = E.memory().liveBuffers;
    const cfg = resolveDqnConfig(dqnAlgorithms['double-dqn'], 'minatar-small', { optimizer, batchSize: 32, doubleSelect: 'online-head', loss: 'huber' });
    const obsShape = [10, 10, 4];
    const c: Case = { obs: obsShape, A: 3, H: 128, B: 32, loss: 'huber', double: true };
    const d = batchData(c, 3);
    const sample = () => {
      const [obs, nextObs, actions, rewards, dones] = oneBuffer([[d.X.flat(), [32, ...obsShape]], [d.X.slice().reverse().flat(), [32, ...obsShape]], [d.actions.map((a) => a % 3), [32]], [d.rewards, [32]], [d.dones, [32]]]);
      return { obs, nextObs, actions, rewards, dones };
    };
    const prev = fusedDqnEnabled(false);
    const composed = dqnLearner(cfg, obsShape, 3);
    fusedDqnEnabled(true);
    const fused = dqnLearner(cfg, obsShape, 3);
    fusedDqnEnabled(prev);
    const stats: Float32Array[][] = [[], []];
    for (let u = 0; u < 3; u++) {
      for (const [i, L] of [composed, fused].entries()) {
        await E.sync();
        const d0 = E.counters().dispatches;
        // the engine's own optimizer step (RMSProp: E.rmsprop's clipped step, whose dispatch
        // count is engine/nn/optim.ts's business) is counted apart from the fused part
        const q = L.opts.q as unknown as { step: (...a: unknown[]) => void };
        const ownStep = q.step;
        let optD = 0;
        q.step = (...a: unknown[]) => {
          const k = E.counters().dispatches;
          ownStep.apply(q, a);
          optD += E.counters().dispatches - k;
        };
        const st = L.update(sample, 1, u + 1, true)!;
        q.step = ownStep;
        // Adam: target forward, rows, dw and the one-dispatch clipped Adam (no engine step);
        // RMSProp: the first three, then the engine's clipped step (a norm and the update at least)
        if (i === 1 && optimizer === 'adam') expect([E.counters().dispatches - d0, optD]).toEqual([4, 0]);
        if (i === 1 && optimizer !== 'adam') {
          expect(E.counters().dispatches - d0 - optD).toBe(3);
          expect(optD).toBeGreaterThanOrEqual(2);
        }
        stats[i].push(await st.data());
        st.dispose();
      }
      // the clip's norm (the fused Adam adds the dw kernel's partial sums) is the composed gradient's norm
      const [n0, n1] = [composed.opts.q.lastGradNorm(), fused.opts.q.lastGradNorm()];
      const [a0, a1] = [await n0.item(), await n1.item()];
      expect(a0).toBeGreaterThan(cfg.maxGradNorm!); // the clip is active
      expect(Math.abs(a1 - a0) / a0).toBeLessThan(1e-4);
      E.dispose([n0, n1]);
    }
    // statistics of each update (loss, q_mean, msbe) agree; so do the parameters after 3 steps
    stats[0].forEach((s, u) => s.forEach((v, k) => expect(stats[1][u][k]).toBeCloseTo(v, 4)));
    const [a, b] = [await toF64(composed.params), await toF64(fused.params)];
    let worst = 0;
    for (const n of Object.keys(a)) a[n].data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[n].data[k]))));
    // Adam's first steps are ±lr where a gradient is tiny; rounding may flip those: bound by 3 steps of lr
    expect(worst).toBeLessThan(optimizer === 'adam' ? 3 * cfg.lr + 1e-6 : 1e-5);
    composed.dispose();
    fused.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});

it('SCORER (Q leads, sequential) takes the fused half-updates (8 dispatches per update) and steps as its composed learner does', async () => {
  const live = E.memory().liveBuffers;
  const cfg = resolveDqnConfig(scorerAlgorithms['scorer-double-dqn'], 'minatar-small', { batchSize: 32 });
  const obsShape = [10, 10, 4];
  const c: Case = { obs: obsShape, A: 3, H: 128, B: 32, loss: 'bev', double: true };
  let draw = 0;
  const sample = () => {
    // the leader's and the follower's batches differ, as fresh draws from the replay do
    const d = batchData(c, 11 + (draw++ % 2));
    const [obs, nextObs, actions, rewards, dones] = oneBuffer([[d.X.flat(), [32, ...obsShape]], [d.X.slice().reverse().flat(), [32, ...obsShape]], [d.actions.map((a) => a % 3), [32]], [d.rewards, [32]], [d.dones, [32]]]);
    return { obs, nextObs, actions, rewards, dones };
  };
  const prev = fusedDqnEnabled(false);
  const composed = scorerLearner(cfg, obsShape, 3);
  fusedDqnEnabled(true);
  const fused = scorerLearner(cfg, obsShape, 3);
  fusedDqnEnabled(prev);
  const stats: Float32Array[][] = [[], []];
  for (let u = 0; u < 3; u++) {
    for (const [i, L] of [composed, fused].entries()) {
      draw = 0;
      await E.sync();
      const d0 = E.counters().dispatches;
      const st = L.update(sample, 1, u + 1, u === 2);
      // each player: target forward, rows, dw (with the norm's partial sums), Adam
      if (i === 1 && u < 2) expect(E.counters().dispatches - d0).toBe(8);
      if (st) {
        stats[i].push(await st.data());
        st.dispose();
      }
    }
    // each player's clip norm (the follower's is the last step's): the composed gradient's
    for (const k of ['leader', 'follower']) {
      const [n0, n1] = [composed.opts[k].lastGradNorm(), fused.opts[k].lastGradNorm()];
      const [a0, a1] = [await n0.item(), await n1.item()];
      expect(a0).toBeGreaterThan(0);
      expect(Math.abs(a1 - a0) / a0).toBeLessThan(1e-4);
      E.dispose([n0, n1]);
    }
  }
  expect(fused.statNames).toEqual(composed.statNames);
  stats[0][0].forEach((v, k) => expect(stats[1][0][k]).toBeCloseTo(v, 4));
  const [a, b] = [await toF64(composed.params), await toF64(fused.params)];
  let worst = 0;
  for (const n of Object.keys(a)) a[n].data.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[n].data[k]))));
  expect(worst).toBeLessThan(3 * cfg.followerLr + 1e-6);
  composed.dispose();
  fused.dispose();
  expect(E.memory().liveBuffers).toBe(live);
});
