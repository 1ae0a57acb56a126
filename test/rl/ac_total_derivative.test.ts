// The Stackelberg leader's total derivative on the RL losses of rl/ac.ts, rl/ddpg.ts and rl/sac.ts,
// on tiny actor/critic networks, against a dense float64 computation: the same losses written
// again in float64 (independent code), their gradients and Hessian blocks by central finite
// differences, and ∇₁f₁ − H₂₁(H₂₂ + λI)⁻¹∇₂f₁ by a dense solve. Also Proposition 2 (λ → ∞ gives
// the individual gradient) on those losses, and that the 'standard' critic targets (stop-gradient)
// make the cross terms vanish exactly.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { solveDense } from '../../games/toys.ts';
import { categoricalPolicy, vNetwork, deterministicPolicy, qNetwork, tanhGaussianPolicy, LOG_STD_MIN, LOG_STD_MAX } from '../../rl/continuous.ts';
import { acLeaderLoss, acFollowerLoss, type AcBatch, type CrossTerm } from '../../rl/ac.ts';
import { ddpgActorLoss, ddpgCriticLoss, type OffPolicyBatch, type CriticTarget } from '../../rl/ddpg.ts';
import { sacActorLoss, sacCriticLoss, type SacNoise } from '../../rl/sac.ts';

beforeAll(async () => {
  await E.init();
});

// ------------------------------------------------------------------ float64 twins of the networks

type Flat = Record<string, Float64Array>;
type Shapes = Array<[string, number[]]>;
type M = number[][];

const shapesOf = (p: E.Params): Shapes => Object.entries(E.namedParams(p)).map(([k, t]) => [k, t.shape]);
const sizeOf = (s: Shapes) => s.reduce((a, [, sh]) => a + sh.reduce((x, y) => x * y, 1), 0);
/** Splits a flat float64 vector into named arrays in namedParams order. */
function split(z: ArrayLike<number>, shapes: Shapes, off = 0): Flat {
  const out: Flat = {};
  for (const [k, sh] of shapes) {
    const n = sh.reduce((x, y) => x * y, 1);
    out[k] = Float64Array.from({ length: n }, (_, i) => z[off + i]);
    off += n;
  }
  return out;
}
/** The engine tree of the same values. */
function toEngine(z: ArrayLike<number>, shapes: Shapes, off = 0): E.Params {
  const f = split(z, shapes, off);
  return E.fromNamed(Object.fromEntries(shapes.map(([k, sh]) => [k, E.tensor(Float32Array.from(f[k]), sh)])));
}
/** x·Wᵀ + b for W [out, in] stored row-major. */
function lin(p: Flat, name: string, x: M): M {
  const W = p[`${name}.weight`], b = p[`${name}.bias`];
  const out = b.length, inn = W.length / out;
  return x.map((row) => Array.from({ length: out }, (_, o) => {
    let s = b[o];
    for (let i = 0; i < inn; i++) s += W[o * inn + i] * row[i];
    return s;
  }));
}
const mapM = (x: M, f: (v: number) => number) => x.map((r) => r.map(f));
/** MLP with tanh hidden layers, keys '<prefix>0', '<prefix>2', ... */
function mlp64(p: Flat, prefix: string, layers: number, x: M, outAct: 'none' | 'tanh' = 'none'): M {
  let h = x;
  for (let i = 0; i < layers; i++) {
    h = lin(p, `${prefix}${2 * i}`, h);
    if (i < layers - 1 || outAct === 'tanh') h = mapM(h, Math.tanh);
  }
  return h;
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cat = (a: M, b: M): M => a.map((r, i) => [...r, ...b[i]]);
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

// ------------------------------------------------------------------ shared fixtures

const B = 5, OBS = 2, ACT = 1, HID = [3];
const rng = R.rng(7);
const rows = (r: number, c: number, lo = -1, hi = 1): M => Array.from({ length: r }, () => Array.from(rng.ndUniform([c], lo, hi).data));
const S = rows(B, OBS), S2 = rows(B, OBS), A = rows(B, ACT, -0.9, 0.9);
const Rw = Array.from(rng.ndUniform([B], -1, 1).data), D = [0, 0, 1, 0, 0];
const up = (m: M) => E.tensor(Float32Array.from(m.flat()), [m.length, m[0].length]);
const upv = (v: number[]) => E.tensor(Float32Array.from(v), [v.length]);
const GAMMA = 0.9, LAMBDA = 2;

interface Case {
  name: string;
  leaderShapes: Shapes;
  followerShapes: Shapes;
  /** float64 losses of z = [leader, follower] (stop-gradients evaluated at z0). */
  f1: (z: ArrayLike<number>, z0: ArrayLike<number>) => number;
  f2: (z: ArrayLike<number>, z0: ArrayLike<number>) => number;
  /** engine losses. */
  e1: (l: E.Params, f: E.Params) => E.Tensor;
  e2: (l: E.Params, f: E.Params) => E.Tensor;
}

/** The dense float64 total derivative at z0. */
function denseTotal(c: Case, z0: number[], lambda: number) {
  const nl = sizeOf(c.leaderShapes), nf = sizeOf(c.followerShapes), n = nl + nf;
  const g1 = R.numGrad((zs) => c.f1(zs[0].data, z0), [R.nd([n], z0)], 1e-5)[0].data;
  const H = R.numHessian((z) => c.f2(z.data, z0), R.nd([n], z0), 1e-4);
  const h = (i: number, j: number) => H.data[i * n + j];
  const H22 = Array.from({ length: nf }, (_, i) => Array.from({ length: nf }, (_, j) => h(nl + i, nl + j) + (i === j ? lambda : 0)));
  const q = solveDense(H22, Array.from(g1.slice(nl)));
  const total = Array.from({ length: nl }, (_, i) => g1[i] - q.reduce((s, qj, j) => s + h(i, nl + j) * qj, 0));
  return { total, individual: Array.from(g1.slice(0, nl)) };
}

async function engineTotal(c: Case, z0: number[], lambda: number, cgIters: number, secondOrder: 'forward' | 'reverse' = 'reverse') {
  const nl = sizeOf(c.leaderShapes);
  const L = toEngine(z0, c.leaderShapes), F = toEngine(z0, c.followerShapes, nl);
  const r = E.totalDerivative({ leaderLoss: c.e1, followerLoss: c.e2, leader: L, follower: F, lambda, cgIters, secondOrder });
  const flat = async (t: unknown) => (await E.readAll(E.flattenTree(t).leaves)).flatMap((v) => Array.from(v));
  const out = { total: await flat(r.leaderGrad), individual: await flat(r.leaderIndividualGrad), neg: await r.negativeCurvature.item() };
  E.dispose([r, L, F]);
  return out;
}

async function checkCase(c: Case, seed: number) {
  const nl = sizeOf(c.leaderShapes), nf = sizeOf(c.followerShapes);
  const z0 = Array.from(R.rng(seed).ndUniform([nl + nf], -0.8, 0.8).data);
  const want = denseTotal(c, z0, LAMBDA);
  await engineTotal(c, z0, LAMBDA, 3 * nf); // uploads the case's fixed batch (kept)
  const before = E.memory().liveBuffers;
  const got = await engineTotal(c, z0, LAMBDA, 3 * nf);
  expect(E.memory().liveBuffers).toBe(before);
  expect(got.neg).toBe(0); // H₂₂ + λI positive definite along CG's directions: the solve is the dense one
  const rel = R.relError(got.total, want.total);
  const relInd = R.relError(got.individual, want.individual);
  const gap = R.relError(want.total, want.individual);
  console.log(`${c.name}: ${nl} leader + ${nf} follower params, λ=${LAMBDA}: total derivative vs dense float64 rel. error ${rel.toExponential(2)} (individual ${relInd.toExponential(2)}; total differs from individual by ${gap.toExponential(2)})`);
  // The implicit term is far larger than the error, so the comparison can fail.
  expect(gap).toBeGreaterThan(1e-3);
  expect(rel).toBeLessThan(Math.min(1e-3, gap / 100));
  expect(relInd).toBeLessThan(1e-3);
  // The forward-over-reverse second derivatives (engine hvp / jvp of the gradient) give the same answer.
  const fwd = await engineTotal(c, z0, LAMBDA, 3 * nf, 'forward');
  expect(E.memory().liveBuffers).toBe(before);
  const relF = R.relError(fwd.total, want.total);
  console.log(`${c.name}: forward over reverse: rel. error ${relF.toExponential(2)}`);
  expect(relF).toBeLessThan(Math.min(1e-3, gap / 100));
}

// ------------------------------------------------------------------ AC (categorical actor, V critic)

function acCase(cross: CrossTerm): Case {
  const pi = categoricalPolicy(OBS, 2, HID, 'tanh');
  const v = vNetwork(OBS, HID, 'tanh');
  const ls = shapesOf(pi.init(1)), fs = shapesOf(v.init(2));
  const acts = [0, 1, 1, 0, 1], adv = Array.from(R.rng(3).ndUniform([B], -1, 1).data), ret = Array.from(R.rng(4).ndUniform([B], -1, 1).data);
  const nl = sizeOf(ls);
  const lp64 = (z: ArrayLike<number>) => {
    const lg = mlp64(split(z, ls), 'logits.', 2, S);
    return lg.map((r, i) => r[acts[i]] - Math.log(Math.exp(r[0]) + Math.exp(r[1])));
  };
  const V64 = (z: ArrayLike<number>) => mlp64(split(z, fs, nl), '', 2, S).map((r) => r[0]);
  const J64 = (z: ArrayLike<number>) => mean(lp64(z).map((l, i) => l * adv[i]));
  let batch: AcBatch | null = null;
  const b = () => (batch ??= E.keep({ obs: up(S), actions: upv(acts), adv: upv(adv), returns: upv(ret) }));
  return {
    name: `AC (STAC, cross term '${cross}')`,
    leaderShapes: ls, followerShapes: fs,
    f1: (z) => -J64(z) - mean(V64(z)),
    f2: (z, z0) => {
      const V = V64(z), sq = V.map((x, i) => (x - ret[i]) ** 2);
      if (cross === 'score') {
        const lp = lp64(z), lp0 = lp64(z0);
        return mean(sq.map((s, i) => Math.exp(lp[i] - lp0[i]) * s));
      }
      return mean(sq) + 2 * (J64(z) - J64(z0)) * (ret[0] - V[0]);
    },
    e1: (l, f) => acLeaderLoss(pi, v, l, f, b()),
    e2: (l, f) => acFollowerLoss(pi, v, l, f, b(), cross),
  };
}

// ------------------------------------------------------------------ DDPG

function ddpgCase(role: 'AL' | 'CL', mode: CriticTarget): Case {
  const pi = deterministicPolicy(OBS, ACT, HID, 'tanh');
  const q = qNetwork(OBS, ACT, HID, 'tanh');
  const as = shapesOf(pi.init(1)), cs = shapesOf(q.init(2));
  const tA = Array.from(R.rng(5).ndUniform([sizeOf(as)], -0.8, 0.8).data), tC = Array.from(R.rng(6).ndUniform([sizeOf(cs)], -0.8, 0.8).data);
  const mu64 = (p: Flat, x: M) => mlp64(p, '', 2, x, 'tanh');
  const Q64 = (p: Flat, x: M, a: M) => mlp64(p, '', 2, cat(x, a)).map((r) => r[0]);
  const actorOf = (z: ArrayLike<number>) => (role === 'AL' ? split(z, as) : split(z, as, sizeOf(cs)));
  const criticOf = (z: ArrayLike<number>) => (role === 'AL' ? split(z, cs, sizeOf(as)) : split(z, cs));
  const fPi = (z: ArrayLike<number>) => -mean(Q64(criticOf(z), S, mu64(actorOf(z), S)));
  const fQ = (z: ArrayLike<number>) => {
    const nextA = mode === 'released' ? mu64(actorOf(z), S2) : mu64(split(tA, as), S2);
    const qn = Q64(split(tC, cs), S2, nextA);
    const q0 = Q64(criticOf(z), S, A);
    return mean(q0.map((x, i) => (x - (Rw[i] + GAMMA * (1 - D[i]) * qn[i])) ** 2));
  };
  let st: { b: OffPolicyBatch; t: { actor: E.Params; critic: E.Params } } | null = null;
  const fx = () => (st ??= E.keep({ b: { obs: up(S), actions: up(A), rewards: upv(Rw), nextObs: up(S2), dones: upv(D) }, t: { actor: toEngine(tA, as), critic: toEngine(tC, cs) } }));
  const ePi = (a: E.Params, c: E.Params) => ddpgActorLoss(pi, q, a, c, fx().b);
  const eQ = (a: E.Params, c: E.Params) => ddpgCriticLoss(pi, q, a, c, fx().t, fx().b, GAMMA, mode);
  return role === 'AL'
    ? { name: `STDDPG-AL (${mode} target)`, leaderShapes: as, followerShapes: cs, f1: fPi, f2: fQ, e1: ePi, e2: eQ }
    : { name: `STDDPG-CL (${mode} target)`, leaderShapes: cs, followerShapes: as, f1: fQ, f2: fPi, e1: (c, a) => eQ(a, c), e2: (c, a) => ePi(a, c) };
}

// ------------------------------------------------------------------ SAC

function sacCase(role: 'AL' | 'CL', mode: CriticTarget): Case {
  const pi = tanhGaussianPolicy(OBS, ACT, HID, 'tanh');
  const q = qNetwork(OBS, ACT, HID, 'tanh');
  const as = shapesOf(pi.init(1));
  const cs = shapesOf({ q1: q.init(2), q2: q.init(3) });
  const tC = Array.from(R.rng(8).ndUniform([sizeOf(cs)], -0.8, 0.8).data);
  const eps = Array.from(R.rng(9).ndUniform([B], -1.5, 1.5).data), epsN = Array.from(R.rng(10).ndUniform([B], -1.5, 1.5).data);
  const alpha = 0.2;
  /** Action and log π of the tanh-Gaussian at fixed noise (the engine's formulas, written again). */
  const sample64 = (p: Flat, x: M, e: number[]) => {
    const h = mapM(lin(p, 'trunk.0', x), Math.tanh);
    const mu = lin(p, 'mean', h).map((r) => r[0]);
    const ls = lin(p, 'logStd', h).map((r) => LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (Math.tanh(r[0]) + 1));
    const u = mu.map((m, i) => m + Math.exp(ls[i]) * e[i]);
    const logp = u.map((ui, i) => -0.5 * e[i] * e[i] - ls[i] - 0.5 * Math.log(2 * Math.PI) - 2 * (Math.LN2 - ui - softplus(-2 * ui)));
    return { a: u.map((ui) => [Math.tanh(ui)]), logp };
  };
  const Q64 = (p: Flat, k: string, x: M, a: M) => mlp64(p, `${k}.`, 2, cat(x, a)).map((r) => r[0]);
  const actorOf = (z: ArrayLike<number>) => (role === 'AL' ? split(z, as) : split(z, as, sizeOf(cs)));
  const criticOf = (z: ArrayLike<number>) => (role === 'AL' ? split(z, cs, sizeOf(as)) : split(z, cs));
  const fPi = (z: ArrayLike<number>) => {
    const c = criticOf(z), { a, logp } = sample64(actorOf(z), S, eps);
    const q1 = Q64(c, 'q1', S, a), q2 = Q64(c, 'q2', S, a);
    return mean(logp.map((l, i) => alpha * l - Math.min(q1[i], q2[i])));
  };
  const fQ = (z: ArrayLike<number>, z0: ArrayLike<number>) => {
    const actor = mode === 'released' ? actorOf(z) : actorOf(z0);
    const { a, logp } = sample64(actor, S2, epsN);
    const t = split(tC, cs);
    const q1n = Q64(t, 'q1', S2, a), q2n = Q64(t, 'q2', S2, a);
    const y = Rw.map((r, i) => r + GAMMA * (1 - D[i]) * (Math.min(q1n[i], q2n[i]) - alpha * logp[i]));
    const c = criticOf(z);
    const q1 = Q64(c, 'q1', S, A), q2 = Q64(c, 'q2', S, A);
    return mean(q1.map((x, i) => (x - y[i]) ** 2)) + mean(q2.map((x, i) => (x - y[i]) ** 2));
  };
  let st: { b: OffPolicyBatch; n: SacNoise; t: E.Params } | null = null;
  const fx = () => (st ??= E.keep({
    b: { obs: up(S), actions: up(A), rewards: upv(Rw), nextObs: up(S2), dones: upv(D) },
    n: { eps: E.tensor(Float32Array.from(eps), [B, 1]), epsNext: E.tensor(Float32Array.from(epsN), [B, 1]) },
    t: toEngine(tC, cs),
  }));
  const ePi = (a: E.Params, c: E.Params) => sacActorLoss(pi, q, a, c, fx().b, fx().n, alpha);
  const eQ = (a: E.Params, c: E.Params) => sacCriticLoss(pi, q, a, c, fx().t, fx().b, fx().n, alpha, GAMMA, mode);
  return role === 'AL'
    ? { name: `STSAC-AL (${mode} target)`, leaderShapes: as, followerShapes: cs, f1: fPi, f2: fQ, e1: ePi, e2: eQ }
    : { name: `STSAC-CL (${mode} target)`, leaderShapes: cs, followerShapes: as, f1: fQ, f2: fPi, e1: (c, a) => eQ(a, c), e2: (c, a) => ePi(a, c) };
}

// ------------------------------------------------------------------ the tests

describe('the leader total derivative on the RL losses vs dense float64', () => {
  it('AC / STAC (both cross-term surrogates)', async () => {
    await checkCase(acCase('score'), 11);
    await checkCase(acCase('released'), 12);
  }, 60_000);
  it('STDDPG-AL and STDDPG-CL (the released critic target)', async () => {
    await checkCase(ddpgCase('AL', 'released'), 13);
    await checkCase(ddpgCase('CL', 'released'), 14);
  }, 60_000);
  it('STSAC-AL and STSAC-CL (the released critic target)', async () => {
    await checkCase(sacCase('AL', 'released'), 15);
    await checkCase(sacCase('CL', 'released'), 16);
  }, 60_000);
});

describe('properties of the Stackelberg update on the RL losses', () => {
  it("the 'standard' (stop-gradient) critic target makes the cross terms vanish: total = individual gradient", async () => {
    for (const c of [ddpgCase('AL', 'standard'), ddpgCase('CL', 'standard'), sacCase('AL', 'standard'), sacCase('CL', 'standard')]) {
      const nl = sizeOf(c.leaderShapes), nf = sizeOf(c.followerShapes);
      const z0 = Array.from(R.rng(21).ndUniform([nl + nf], -0.8, 0.8).data);
      const want = denseTotal(c, z0, LAMBDA);
      expect(R.relError(want.total, want.individual)).toBeLessThan(1e-6); // float64 says: the implicit term is zero
      const got = await engineTotal(c, z0, LAMBDA, nf);
      R.assertClose(got.total, got.individual, { rtol: 1e-6, atol: 1e-7, label: `${c.name}: total vs individual` });
    }
  }, 60_000);

  it('Proposition 2: λ → ∞ gives the individual gradient, monotonically, on every RL loss pair', async () => {
    for (const c of [acCase('score'), ddpgCase('AL', 'released'), ddpgCase('CL', 'released'), sacCase('AL', 'released'), sacCase('CL', 'released')]) {
      const nl = sizeOf(c.leaderShapes), nf = sizeOf(c.followerShapes);
      const z0 = Array.from(R.rng(31).ndUniform([nl + nf], -0.8, 0.8).data);
      const dists: number[] = [];
      let ind: number[] = [];
      for (const lambda of [1e1, 1e2, 1e3, 1e4, 1e6]) {
        const got = await engineTotal(c, z0, lambda, lambda < 1e2 ? nf : 8);
        ind = got.individual;
        dists.push(Math.hypot(...got.total.map((v, i) => v - got.individual[i])));
      }
      for (let i = 1; i < dists.length; i++) expect(dists[i]).toBeLessThan(dists[i - 1]);
      expect(dists.at(-1)!).toBeLessThan(1e-4 * Math.hypot(...ind));
      // Roughly ∝ 1/λ for large λ (the Neumann series' first term).
      expect(dists[3] / dists[4]).toBeGreaterThan(30);
    }
  }, 60_000);

  it('the cross-term surrogates of STAC change neither f₂, ∇_w f₂ nor ∇²_ww f₂', async () => {
    const cs = acCase('score'), cr = acCase('released');
    const nl = sizeOf(cs.leaderShapes), nf = sizeOf(cs.followerShapes);
    const z0 = Array.from(R.rng(41).ndUniform([nl + nf], -0.8, 0.8).data);
    const L = toEngine(z0, cs.leaderShapes), F = toEngine(z0, cs.followerShapes, nl);
    const plain = (l: E.Params, f: E.Params) => E.mean(E.square(E.sub(vNetwork(OBS, HID, 'tanh').apply(f, up(S)), upv(Array.from(R.rng(4).ndUniform([B], -1, 1).data)))));
    const v = toEngine(Array.from(R.rng(42).ndUniform([nf], -1, 1).data), cs.followerShapes);
    const outs = E.scope(() => [plain, cs.e2, cr.e2].map((f) => {
      const [val, g] = E.valueAndGrad((y: E.Params) => f(L, y))(F);
      return [val, g, E.hessianVectorProduct((y: E.Params) => f(L, y), F, v)];
    }));
    const flat = async (t: unknown) => (await E.readAll(E.flattenTree(t).leaves)).flatMap((x) => Array.from(x));
    const ref = await Promise.all(outs[0].map(flat));
    for (const o of outs.slice(1)) {
      const got = await Promise.all(o.map(flat));
      got.forEach((g, k) => R.assertClose(g, ref[k], { rtol: 1e-5, atol: 1e-6, label: ['value', 'gradient', 'HVP'][k] }));
    }
    E.dispose([outs, L, F, v]);
  }, 60_000);
});
