// The scalable PAL and MAL (Rajeswaran, Mordatch & Kumar, "A Game Theoretic Framework for Model
// Based Reinforcement Learning"): no implicit derivatives; the leader/follower roles come from
// how fast each player learns and on which data.
//
// - Model: an ensemble of K MLPs (obs, act) → (Δobs, r), trained by MSE on normalised inputs and
//   targets; each member draws its own minibatches.
// - Policy: a Gaussian MLP (state-independent log-std), improved by natural policy gradient on
//   model rollouts: g = ∇ E[ratio·A], Fisher-vector products F·v = HVP of the mean KL(π_old‖π) at
//   π_old (engine linearizeGrad), x = (F + δ_F I)⁻¹ g by the engine's conjugate gradient, step
//   √(2ε / xᵀFx)·x. Advantages by GAE with a value MLP fitted to the rollout returns.
// - PAL (policy leads): each iteration the model is fitted to the CURRENT policy's data (a small
//   buffer of the latest episodes) with many model steps (it best-responds), then a few
//   conservative policy steps.
// - MAL (model leads): the model is fitted on ALL data so far with few steps (it moves slowly),
//   then many policy steps (the policy best-responds in the model).
// - NPG: the model-free baseline, the same policy update on real data only.
//
// Rollouts start at real states from the model's buffer, each trajectory run by one ensemble
// member (a different one per trajectory), h steps, bootstrapped by the value function.

import * as E from '../../engine/index.ts';
import { makeEnvAsync } from '../envs/index.ts';
import type { VecEnv } from '../envs/vec.ts';
import type { BoxSpace } from '../envs/types.ts';
import { mlpInit, mlpApply, mlpToHost, mlpForwardHost, type Mlp } from './mlp.ts';

type T = E.Tensor;
export type ScaleAlgo = 'pal' | 'mal' | 'npg';
export const SCALE_ALGOS: ScaleAlgo[] = ['pal', 'mal', 'npg'];

export interface ScaleConfig {
  env: string;
  algo: ScaleAlgo;
  seed: number;
  /** Real environment steps in all (the budget). */
  realSteps: number;
  /** Real steps collected per iteration (model-based); NPG collects `npgBatch` per update. */
  stepsPerIter: number;
  npgBatch: number;
  /** Policy: hidden width; initial log-std. */
  hidden: number;
  logStd0: number;
  /** NPG: KL radius ε, CG iterations, Fisher damping, discount, GAE λ. */
  klStep: number;
  cgIters: number;
  damping: number;
  gamma: number;
  lam: number;
  /** Value function: Adam steps per policy update. */
  valueSteps: number;
  /** Ensemble size, hidden width, Adam lr, minibatch. */
  ensemble: number;
  modelHidden: number;
  modelLr: number;
  modelBatch: number;
  /** Model rollouts: start states and horizon. */
  rollouts: number;
  horizon: number;
  /** PAL: buffer = the latest `palBuffer` real steps; model steps; policy steps per iteration. */
  palBuffer: number;
  palModelSteps: number;
  palPolicySteps: number;
  /** MAL: all data; model steps; policy steps per iteration. */
  malModelSteps: number;
  malPolicySteps: number;
  /** Evaluation episodes (deterministic policy mean) after each iteration. */
  evalEpisodes: number;
  onProgress?: (msg: string) => void;
}

export const SCALE_DEFAULTS: Omit<ScaleConfig, 'algo' | 'seed'> = {
  env: 'pendulum', realSteps: 1000, stepsPerIter: 200, npgBatch: 200,
  hidden: 32, logStd0: -0.5, klStep: 0.05, cgIters: 8, damping: 0.01, gamma: 0.99, lam: 0.95, valueSteps: 8,
  ensemble: 4, modelHidden: 64, modelLr: 2e-3, modelBatch: 128, rollouts: 100, horizon: 15,
  palBuffer: 400, palModelSteps: 40, palPolicySteps: 1, malModelSteps: 8, malPolicySteps: 3,
  evalEpisodes: 2,
};

/** Gaussian policy: mean MLP and a state-independent log-std. */
export type Policy = {
  net: Mlp;
  logStd: T;
};

/** Mean KL(π_old ‖ π) of diagonal Gaussians over a batch: Σ_d log σ/σ₀ + (σ₀² + (μ₀ − μ)²)/(2σ²) − ½. */
export function gaussianKl(mean0: T, logStd0: T, mean: T, logStd: T): T {
  const var0 = E.exp(E.mul(logStd0, 2)), varr = E.exp(E.mul(logStd, 2));
  const t = E.add(E.sub(logStd, logStd0), E.div(E.add(var0, E.square(E.sub(mean0, mean))), E.mul(varr, 2)));
  return E.mean(E.sum(E.sub(t, 0.5), -1));
}

/** log N(a; μ, σ²) summed over action dimensions. */
export function gaussianLogProb(a: T, mean: T, logStd: T): T {
  const z = E.div(E.sub(a, mean), E.exp(logStd));
  return E.sum(E.sub(E.sub(E.mul(E.square(z), -0.5), logStd), 0.5 * Math.log(2 * Math.PI)), -1);
}

/**
 * The Fisher-vector product the NPG step uses: F·v = ∇²_θ KL(π_θold ‖ π_θ)|_θold · v over the batch
 * of observations (the KL's Hessian at θold is the Fisher information). Returns a tree like the
 * policy; `lin` is reusable for several products (CG), dispose it when done.
 */
export function fisherLinearisation(pol: Policy, obs: T) {
  const mean0 = E.noGrad(() => mlpApply(pol.net, obs));
  const logStd0 = E.noGrad(() => E.clone(pol.logStd));
  const kl = (p: Policy) => gaussianKl(mean0, logStd0, mlpApply(p.net, obs), p.logStd);
  const lin = E.linearizeGrad(kl, pol);
  return {
    hvp: lin.hvp,
    dispose: () => {
      lin.dispose();
      E.dispose([lin.grad, mean0, logStd0]);
    },
  };
}

/**
 * One natural-policy-gradient step: x = (F + δI)⁻¹ ∇_θ E[ratio·A] by CG (engine), scaled to the
 * KL radius ε. Returns the new policy (fresh tensors; the old one is left to the caller).
 */
export function npgStep(pol: Policy, obs: T, act: T, adv: T, o: { klStep: number; cgIters: number; damping: number }): Policy {
  return E.scope(() => {
    const logp0 = E.noGrad(() => gaussianLogProb(act, mlpApply(pol.net, obs), pol.logStd));
    const surrogate = (p: Policy) => E.mean(E.mul(E.exp(E.sub(gaussianLogProb(act, mlpApply(p.net, obs), p.logStd), logp0)), adv));
    const g = E.grad(surrogate)(pol);
    const lin = fisherLinearisation(pol, obs);
    const { x } = E.noGrad(() => E.cg(lin.hvp, g, { iters: o.cgIters, lambda: o.damping }));
    const xFx = E.noGrad(() => E.innerProduct(x, lin.hvp(x)));
    const scale = E.sqrt(E.div(2 * o.klStep, E.add(xFx, 1e-8)));
    lin.dispose();
    return E.treeAxpy(pol, scale, x) as Policy;
  });
}

// ---------------------------------------------------------------- host-side data

interface Buffer {
  obs: number[][];
  act: number[][];
  next: number[][];
  rew: number[];
}

function gae(rew: Float32Array, val: Float32Array, h: number, n: number, gamma: number, lam: number) {
  // rew [h, n], val [h + 1, n] (time-major); no terminations inside model rollouts.
  const adv = new Float32Array(h * n), ret = new Float32Array(h * n);
  for (let j = 0; j < n; j++) {
    let last = 0;
    for (let t = h - 1; t >= 0; t--) {
      const d = rew[t * n + j]! + gamma * val[(t + 1) * n + j]! - val[t * n + j]!;
      last = d + gamma * lam * last;
      adv[t * n + j] = last;
      ret[t * n + j] = last + val[t * n + j]!;
    }
  }
  return { adv, ret };
}

function normalised(x: Float32Array): Float32Array {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let s = 0;
  for (const v of x) s += (v - m) ** 2;
  s = Math.sqrt(s / x.length) + 1e-8;
  return x.map((v) => (v - m) / s);
}

function stats(rows: number[][]): { mu: number[]; sd: number[] } {
  const d = rows[0]!.length, n = rows.length;
  const mu = new Array(d).fill(0), sd = new Array(d).fill(0);
  for (const r of rows) r.forEach((v, i) => (mu[i] += v / n));
  for (const r of rows) r.forEach((v, i) => (sd[i] += (v - mu[i]) ** 2 / n));
  return { mu, sd: sd.map((v) => Math.sqrt(v) + 1e-3) };
}

export interface ScaleResult {
  config: Omit<ScaleConfig, 'onProgress'>;
  /** Real steps used and the evaluation return after each iteration/update. */
  curve: { steps: number; evalReturn: number }[];
  finalReturn: number;
  seconds: number;
}

/** Runs one seed of PAL, MAL or model-free NPG on a continuous-control env at the stated budget. */
export async function trainScalable(cfg: ScaleConfig): Promise<ScaleResult> {
  if (!SCALE_ALGOS.includes(cfg.algo)) throw new Error(`algorithm '${cfg.algo}' unknown; choose one of ${SCALE_ALGOS.join(', ')}`);
  const t0 = performance.now();
  const log = cfg.onProgress ?? (() => {});
  const env = await makeEnvAsync(cfg.env, { numEnvs: 1, seed: cfg.seed });
  const evalEnv = await makeEnvAsync(cfg.env, { numEnvs: 1, seed: cfg.seed + 7919 });
  if (env.actionSpace.kind !== 'box') throw new Error(`${cfg.env}: PAL/MAL here need a continuous (box) action space, got ${env.actionSpace.kind}`);
  const aSpace = env.actionSpace as BoxSpace;
  const dObs = env.observationSpace.kind === 'box' ? env.observationSpace.shape.reduce((a, b) => a * b, 1) : 1;
  const dAct = aSpace.shape.reduce((a, b) => a * b, 1);
  const rng = new E.Rng(cfg.seed * 7 + 1);

  let pol: Policy = { net: mlpInit([dObs, cfg.hidden, cfg.hidden, dAct], cfg.seed, { outScale: 0.1 }), logStd: E.full([dAct], cfg.logStd0) };
  const vf = E.packParams(mlpInit([dObs, 64, 64, 1], cfg.seed + 1)).params as Mlp;
  const vOpt = E.adam(vf, { lr: 1e-3 });
  const K = cfg.ensemble;
  const model = cfg.algo === 'npg' ? null : (E.packParams(mlpInit([dObs + dAct, cfg.modelHidden, cfg.modelHidden, dObs + 1], cfg.seed + 2, { batch: K })).params as Mlp);
  const mOpt = model ? E.adam(model, { lr: cfg.modelLr }) : null;
  const buf: Buffer = { obs: [], act: [], next: [], rew: [] };
  const curve: ScaleResult['curve'] = [];
  let obs = Array.from(env.reset());
  let steps = 0;

  const clipAct = (a: number[]) => a.map((v, i) => Math.min(aSpace.high[i]!, Math.max(aSpace.low[i]!, v)));

  /** Collects n real steps with the stochastic policy (CPU float64 forward). */
  const collect = async (n: number) => {
    const host = await mlpToHost(pol.net);
    const std = Array.from(await pol.logStd.data(), (v) => Math.exp(v));
    const out: Buffer & { done: number[] } = { obs: [], act: [], next: [], rew: [], done: [] };
    for (let k = 0; k < n; k++) {
      const m = mlpForwardHost(host, obs);
      const a = Array.from(m, (v, i) => v + std[i]! * rng.normal());
      const r = env.step(Float32Array.from(clipAct(a)));
      const next = r.done[0] ? Array.from(r.finalObs.subarray(0, dObs)) : Array.from(r.obs.subarray(0, dObs));
      out.obs.push(obs);
      out.act.push(a);
      out.next.push(next);
      out.rew.push(r.rewards[0]!);
      out.done.push(r.terminated[0] ? 1 : r.truncated[0] ? 2 : 0);
      obs = Array.from(r.obs.subarray(0, dObs));
    }
    steps += n;
    return out;
  };

  /** Average return of the deterministic (mean) policy over evalEpisodes. */
  const evaluate = async () => {
    const host = await mlpToHost(pol.net);
    let total = 0;
    for (let e = 0; e < cfg.evalEpisodes; e++) {
      let o = Array.from(evalEnv.reset(cfg.seed * 1000 + e + 1));
      for (;;) {
        const r = evalEnv.step(Float32Array.from(clipAct(Array.from(mlpForwardHost(host, o)))));
        total += r.rewards[0]!;
        if (r.done[0]) break;
        o = Array.from(r.obs.subarray(0, dObs));
      }
    }
    return total / cfg.evalEpisodes;
  };

  /** Value fit + NPG step on a batch (obs [n, dObs], act [n, dAct], rewards time-major for GAE). */
  const policyUpdate = async (obsT: T, actT: T, adv: Float32Array, ret: Float32Array) => {
    const n = adv.length;
    const advT = E.tensor(normalised(adv), [n]);
    const retT = E.tensor(ret, [n, 1]);
    for (let k = 0; k < cfg.valueSteps; k++) E.scope(() => vOpt.step(vf, E.grad((p: Mlp) => E.mean(E.square(E.sub(mlpApply(p, obsT), retT))))(vf)));
    const next = npgStep(pol, obsT, actT, advT, cfg);
    E.dispose([pol, advT, retT]);
    pol = next;
    await E.sync();
  };

  /** Values of observations [m, dObs] (host). */
  const values = async (o: T) => {
    const v = E.noGrad(() => mlpApply(vf, o));
    const d = (await v.data()) as Float32Array;
    v.dispose();
    return d;
  };

  /** Model training: `iters` Adam steps, each member on its own minibatch of `data`. */
  const fitModel = async (data: Buffer, iters: number) => {
    const X = data.obs.map((o, i) => [...o, ...data.act[i]!.map((v, j) => Math.min(aSpace.high[j]!, Math.max(aSpace.low[j]!, v)))]);
    const Y = data.obs.map((o, i) => [...data.next[i]!.map((v, j) => v - o[j]!), data.rew[i]!]);
    const sx = stats(X), sy = stats(Y);
    const B = Math.min(cfg.modelBatch, X.length);
    for (let k = 0; k < iters; k++) {
      const xb = new Float32Array(K * B * (dObs + dAct)), yb = new Float32Array(K * B * (dObs + 1));
      for (let m = 0; m < K; m++) for (let b = 0; b < B; b++) {
        const i = rng.int(X.length);
        X[i]!.forEach((v, j) => (xb[(m * B + b) * (dObs + dAct) + j] = (v - sx.mu[j]) / sx.sd[j]));
        Y[i]!.forEach((v, j) => (yb[(m * B + b) * (dObs + 1) + j] = (v - sy.mu[j]) / sy.sd[j]));
      }
      E.scope(() => {
        const xt = E.tensor(xb, [K, B, dObs + dAct]), yt = E.tensor(yb, [K, B, dObs + 1]);
        mOpt!.step(model!, E.grad((p: Mlp) => E.mean(E.square(E.sub(mlpApply(p, xt), yt))))(model!));
      });
      if ((k + 1) % 25 === 0) await E.sync();
    }
    return { sx, sy };
  };

  /** Model rollouts from buffer states, then one policy update on them. */
  const modelPolicyStep = async (starts: number[][], norm: { sx: { mu: number[]; sd: number[] }; sy: { mu: number[]; sd: number[] } }) => {
    const N = Math.floor(cfg.rollouts / K) * K, per = N / K, h = cfg.horizon;
    const s0 = new Float32Array(N * dObs);
    for (let i = 0; i < N; i++) starts[rng.int(starts.length)]!.forEach((v, j) => (s0[i * dObs + j] = v));
    const c = (v: number[]) => E.tensor(Float32Array.from(v), [v.length]);
    const [xmu, xsd, ymu, ysd] = [c(norm.sx.mu), c(norm.sx.sd), c(norm.sy.mu), c(norm.sy.sd)];
    const lo = E.tensor(Float32Array.from(aSpace.low), [dAct]), hi = E.tensor(Float32Array.from(aSpace.high), [dAct]);
    const obsList: T[] = [], actList: T[] = [], rewList: T[] = [];
    let o = E.tensor(s0, [N, dObs]);
    const std = E.noGrad(() => E.exp(pol.logStd));
    for (let t = 0; t < h; t++) {
      const step = E.noGrad(() => E.scope(() => {
        const a = E.add(mlpApply(pol.net, o), E.mul(E.randn([N, dAct]), std));
        const ac = E.minimum(E.maximum(a, lo), hi);
        const x = E.div(E.sub(E.concat([o, ac], -1), xmu), xsd);
        const y = E.reshape(E.add(E.mul(mlpApply(model!, E.reshape(x, [K, per, dObs + dAct])), ysd), ymu), [N, dObs + 1]);
        return { a, r: E.slice(y, [null, [dObs, dObs + 1]]), next: E.add(o, E.slice(y, [null, [0, dObs]])) };
      }));
      obsList.push(o);
      actList.push(step.a);
      rewList.push(step.r);
      o = step.next;
    }
    std.dispose();
    obsList.push(o);
    const allObs = E.concat(obsList, 0); // [(h + 1)·N, dObs]
    const rew = E.concat(rewList, 0);
    const [rd, vd] = [(await rew.data()) as Float32Array, await values(allObs)];
    const { adv, ret } = gae(rd, vd, h, N, cfg.gamma, cfg.lam);
    const obsT = E.slice(allObs, [[0, h * N], null]);
    const actT = E.concat(actList, 0);
    await policyUpdate(obsT, actT, adv, ret);
    E.dispose([obsList, actList, rewList, allObs, rew, obsT, actT, xmu, xsd, ymu, ysd, lo, hi]);
  };

  while (steps < cfg.realSteps) {
    if (cfg.algo === 'npg') {
      const n = Math.min(cfg.npgBatch, cfg.realSteps - steps);
      const d = await collect(n);
      // GAE on the real trajectory (bootstrap at truncations and at the batch end; not at terminations).
      const obsT = E.tensor(Float32Array.from(d.obs.flat()), [n, dObs]);
      const nextT = E.tensor(Float32Array.from(d.next.flat()), [n, dObs]);
      const [v, vn] = [await values(obsT), await values(nextT)];
      const adv = new Float32Array(n), ret = new Float32Array(n);
      let last = 0;
      for (let t = n - 1; t >= 0; t--) {
        const boot = d.done[t] === 1 ? 0 : cfg.gamma * vn[t]!;
        const delta = d.rew[t]! + boot - v[t]!;
        last = delta + (d.done[t] ? 0 : cfg.gamma * cfg.lam * last);
        adv[t] = last;
        ret[t] = last + v[t]!;
      }
      const actT = E.tensor(Float32Array.from(d.act.flat()), [n, dAct]);
      await policyUpdate(obsT, actT, adv, ret);
      E.dispose([obsT, nextT, actT]);
    } else {
      const d = await collect(Math.min(cfg.stepsPerIter, cfg.realSteps - steps));
      buf.obs.push(...d.obs);
      buf.act.push(...d.act);
      buf.next.push(...d.next);
      buf.rew.push(...d.rew);
      const pal = cfg.algo === 'pal';
      const from = pal ? Math.max(0, buf.obs.length - cfg.palBuffer) : 0;
      const data: Buffer = { obs: buf.obs.slice(from), act: buf.act.slice(from), next: buf.next.slice(from), rew: buf.rew.slice(from) };
      const norm = await fitModel(data, pal ? cfg.palModelSteps : cfg.malModelSteps);
      for (let k = 0; k < (pal ? cfg.palPolicySteps : cfg.malPolicySteps); k++) await modelPolicyStep(data.obs, norm);
    }
    const ev = await evaluate();
    curve.push({ steps, evalReturn: ev });
    log(`${cfg.algo} seed ${cfg.seed}: ${steps}/${cfg.realSteps} real steps, eval return ${ev.toFixed(1)}`);
  }
  E.dispose([pol, vf, model]);
  vOpt.dispose();
  mOpt?.dispose();
  const { onProgress: _, ...config } = cfg;
  return { config, curve, finalReturn: curve[curve.length - 1]!.evalReturn, seconds: (performance.now() - t0) / 1000 };
}

export type { VecEnv };
