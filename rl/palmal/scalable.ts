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
// Rollouts start at real states from the model's data, each trajectory run by one ensemble
// member (trajectory i by member ⌊i·K/N⌋), h steps, bootstrapped by the value function. They are
// batched wide (many start states, few sequential steps) because on a software adapter each
// engine dispatch costs about the same whatever its size.

import * as E from '../../engine/index.ts';
import { makeEnvAsync } from '../envs/index.ts';
import type { VecEnv } from '../envs/vec.ts';
import type { BoxSpace } from '../envs/types.ts';
import { mlpInit, mlpApply, mlpLayers, mlpToHost, mlpForwardHost, type HostMlp, type Mlp } from './mlp.ts';
import { solveDense } from './tabular.ts';
import { V5 } from '../envs/mujoco/tasks.ts';
import { disposeMujocoEnv } from '../envs/mujoco/index.ts';

type T = E.Tensor;
/**
 * `equal` is the schedule ablation: the model and the policy take the same number of updates per
 * iteration, interleaved (one model Adam step, one NPG step, …), so neither player is faster.
 */
export type ScaleAlgo = 'pal' | 'mal' | 'npg' | 'equal';
export const SCALE_ALGOS: ScaleAlgo[] = ['pal', 'mal', 'npg', 'equal'];

/**
 * Termination rules of the continuous-control envs, written on the observation the model predicts
 * (the known rule, as MBPO does, rather than a learned classifier): true when the episode ends at
 * that state. From Gymnasium v5's health rules (rl/envs/mujoco/tasks.ts V5). Hopper's observation
 * is qpos[1:] (z, angle, three joints) and clip(qvel, ±10): z = o[0], angle = o[1], qpos[2:] =
 * o[1..4]; its rule also asks |qvel| < 100, which the clipped velocities cannot show (an observed
 * velocity is at most 10), so a state the env ends only for a velocity over 100 runs on in the model.
 * Walker2d: z = o[0], angle = o[1]. Ant: z = o[0] (qpos[2]) and every entry finite.
 */
export const TERMINATION: Record<string, ((o: ArrayLike<number>) => boolean) | null> = {
  pendulum: null,
  'mujoco/halfcheetah': null,
  'mujoco/swimmer': null,
  'mujoco/reacher': null,
  'mujoco/hopper': (o) => {
    const H = V5.hopper;
    if (!(H.healthyZ[0] < o[0]! && o[0]! < H.healthyZ[1])) return true;
    if (!(H.healthyAngle[0] < o[1]! && o[1]! < H.healthyAngle[1])) return true;
    for (let i = 1; i < o.length; i++) if (!(H.healthyState[0] < o[i]! && o[i]! < H.healthyState[1])) return true;
    return false;
  },
  'mujoco/walker2d': (o) => {
    const H = V5.walker2d;
    return !(H.healthyZ[0] < o[0]! && o[0]! < H.healthyZ[1] && H.healthyAngle[0] < o[1]! && o[1]! < H.healthyAngle[1]);
  },
  'mujoco/ant': (o) => {
    for (let i = 0; i < o.length; i++) if (!Number.isFinite(o[i]!)) return true;
    return !(V5.ant.healthyZ[0] <= o[0]! && o[0]! <= V5.ant.healthyZ[1]);
  },
};

/** The termination rule of `env` for model rollouts (null: the env never terminates, only truncates). */
export function terminationFn(env: string): ((o: ArrayLike<number>) => boolean) | null {
  if (!(env in TERMINATION)) throw new Error(`PAL/MAL: no termination rule for '${env}' (model rollouts need one); known: ${Object.keys(TERMINATION).join(', ')}`);
  return TERMINATION[env]!;
}

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
  /** NPG: KL radius ε, CG iterations, Fisher damping, discount. */
  klStep: number;
  cgIters: number;
  damping: number;
  gamma: number;
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
  /** Equal-steps ablation: model updates = policy updates per iteration, interleaved; data: all, or the latest `palBuffer` steps. */
  equalSteps: number;
  equalData: 'all' | 'latest';
  /** Evaluation episodes (deterministic policy mean, fixed start states) after each iteration. */
  evalEpisodes: number;
  onProgress?: (msg: string) => void;
}

export const SCALE_DEFAULTS: Omit<ScaleConfig, 'algo' | 'seed'> = {
  env: 'pendulum', realSteps: 2000, stepsPerIter: 200, npgBatch: 400,
  hidden: 32, logStd0: 0, klStep: 0.05, cgIters: 10, damping: 0.01, gamma: 0.99,
  ensemble: 4, modelHidden: 64, modelLr: 2e-3, modelBatch: 128, rollouts: 100, horizon: 50,
  palBuffer: 400, palModelSteps: 150, palPolicySteps: 4, malModelSteps: 40, malPolicySteps: 6,
  equalSteps: 5, equalData: 'all', evalEpisodes: 10,
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

/** Real transitions (host rows); `done`: 0 running, 1 terminated, 2 truncated. */
export interface Transitions {
  obs: number[][];
  act: number[][];
  next: number[][];
  rew: number[];
  done: number[];
}

export const emptyTransitions = (): Transitions => ({ obs: [], act: [], next: [], rew: [], done: [] });

export function sliceTransitions(d: Transitions, from: number, to = d.obs.length): Transitions {
  return { obs: d.obs.slice(from, to), act: d.act.slice(from, to), next: d.next.slice(from, to), rew: d.rew.slice(from, to), done: d.done.slice(from, to) };
}

export function appendTransitions(d: Transitions, more: Transitions) {
  d.obs.push(...more.obs);
  d.act.push(...more.act);
  d.next.push(...more.next);
  d.rew.push(...more.rew);
  d.done.push(...more.done);
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

export interface Norm {
  mu: number[];
  sd: number[];
}

function stats(rows: number[][]): Norm {
  const d = rows[0]!.length, n = rows.length;
  const mu = new Array(d).fill(0), sd = new Array(d).fill(0);
  for (const r of rows) r.forEach((v, i) => (mu[i] += v / n));
  for (const r of rows) r.forEach((v, i) => (sd[i] += (v - mu[i]) ** 2 / n));
  return { mu, sd: sd.map((v) => Math.sqrt(v) + 1e-3) };
}

// ---------------------------------------------------------------- the model

/**
 * K dynamics-and-reward MLPs (obs, clipped act) → (Δobs, r) evaluated as one batched network
 * ([K, in, out] weights). Inputs and targets are normalised by the statistics of the data of the
 * latest `fit`.
 */
export class DynamicsEnsemble {
  readonly params: Mlp;
  private readonly flat: T;
  private readonly opt: E.Optimizer;
  norm: { sx: Norm; sy: Norm } | null = null;
  /** Per-dimension [min, max] of the fitted data's next states and rewards: rollouts are clipped to them. */
  range: { lo: number[]; hi: number[]; rLo: number; rHi: number } | null = null;
  constructor(
    readonly dObs: number,
    readonly dAct: number,
    readonly K: number,
    hidden: number,
    lr: number,
    seed: number,
    private readonly actLow: number[],
    private readonly actHigh: number[],
  ) {
    const packed = E.packParams(mlpInit([dObs + dAct, hidden, hidden, dObs + 1], seed, { batch: K }));
    [this.params, this.flat] = [packed.params as Mlp, packed.flat];
    this.opt = E.adam(this.params, { lr });
  }

  private rows(d: Transitions) {
    const X = d.obs.map((o, i) => [...o, ...d.act[i]!.map((v, j) => Math.min(this.actHigh[j]!, Math.max(this.actLow[j]!, v)))]);
    const Y = d.obs.map((o, i) => [...d.next[i]!.map((v, j) => v - o[j]!), d.rew[i]!]);
    return { X, Y };
  }

  /** `steps` Adam steps on MSE in normalised units, each member on its own minibatches of `d`. */
  async fit(d: Transitions, steps: number, batch: number, rng: E.Rng) {
    if (d.obs.length === 0) throw new Error('DynamicsEnsemble.fit: no transitions to fit');
    const { X, Y } = this.rows(d);
    const sx = stats(X), sy = stats(Y);
    this.norm = { sx, sy };
    const lo = d.next[0]!.map((_, j) => Math.min(...d.next.map((r) => r[j]!))), hi = d.next[0]!.map((_, j) => Math.max(...d.next.map((r) => r[j]!)));
    this.range = { lo, hi, rLo: Math.min(...d.rew), rHi: Math.max(...d.rew) };
    const K = this.K, B = Math.min(batch, X.length), dIn = this.dObs + this.dAct, dOut = this.dObs + 1;
    for (let k = 0; k < steps; k++) {
      const xb = new Float32Array(K * B * dIn), yb = new Float32Array(K * B * dOut);
      for (let m = 0; m < K; m++) for (let b = 0; b < B; b++) {
        const i = rng.int(X.length);
        X[i]!.forEach((v, j) => (xb[(m * B + b) * dIn + j] = (v - sx.mu[j]!) / sx.sd[j]!));
        Y[i]!.forEach((v, j) => (yb[(m * B + b) * dOut + j] = (v - sy.mu[j]!) / sy.sd[j]!));
      }
      E.scope(() => {
        const xt = E.tensor(xb, [K, B, dIn]), yt = E.tensor(yb, [K, B, dOut]);
        this.opt.step(this.params, E.grad((p: Mlp) => E.mean(E.square(E.sub(mlpApply(p, xt), yt))))(this.params));
      });
      if ((k + 1) % 25 === 0) await E.sync();
    }
  }

  /** Raw (Δobs, r) predictions of every member for every row: [K, M, dObs + 1] on the host. */
  async predictAll(d: Transitions): Promise<Float32Array> {
    if (!this.norm) throw new Error('DynamicsEnsemble: predict before any fit (no normalisation statistics)');
    const { X } = this.rows(d);
    const { sx, sy } = this.norm, K = this.K, M = X.length, dIn = this.dObs + this.dAct, dOut = this.dObs + 1;
    const xb = new Float32Array(K * M * dIn);
    for (let m = 0; m < K; m++) X.forEach((r, i) => r.forEach((v, j) => (xb[(m * M + i) * dIn + j] = (v - sx.mu[j]!) / sx.sd[j]!)));
    const out = E.noGrad(() => E.scope(() => mlpApply(this.params, E.tensor(xb, [K, M, dIn]))));
    const y = (await out.data()) as Float32Array;
    out.dispose();
    return y.map((v, i) => v * sy.sd[i % dOut]! + sy.mu[i % dOut]!);
  }

  /**
   * One-step prediction error on (held-out) transitions: mean squared error of the ensemble-mean
   * next state and reward, beside the trivial predictors "the state does not change" and "the
   * reward is the mean reward of the fitted data".
   */
  async oneStepError(d: Transitions) {
    const y = await this.predictAll(d);
    const K = this.K, M = d.obs.length, dO = this.dObs, dOut = dO + 1;
    let state = 0, noChange = 0, rew = 0, rewMean = 0;
    const rMu = this.norm!.sy.mu[dO]!;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j <= dO; j++) {
        let p = 0;
        for (let m = 0; m < K; m++) p += y[(m * M + i) * dOut + j]! / K;
        if (j < dO) {
          const delta = d.next[i]![j]! - d.obs[i]![j]!;
          state += (p - delta) ** 2 / (M * dO);
          noChange += delta ** 2 / (M * dO);
        } else {
          rew += (p - d.rew[i]!) ** 2 / M;
          rewMean += (rMu - d.rew[i]!) ** 2 / M;
        }
      }
    }
    return { state, noChange, rew, rewMean };
  }

  /** Host copies of the K members (float64 forwards in normalised units). */
  async hostMembers(): Promise<HostMlp[]> {
    const L = mlpLayers(this.params), K = this.K;
    const ws = await E.readAll(Array.from({ length: L }, (_, i) => this.params[`w${i}`]!));
    const bs = await E.readAll(Array.from({ length: L }, (_, i) => this.params[`b${i}`]!));
    const sizes = [this.params.w0!.shape[1]!, ...Array.from({ length: L }, (_, i) => this.params[`w${i}`]!.shape[2]!)];
    return Array.from({ length: K }, (_, m) => ({
      sizes,
      w: ws.map((w, i) => (w as Float32Array).subarray(m * sizes[i]! * sizes[i + 1]!, (m + 1) * sizes[i]! * sizes[i + 1]!)),
      b: bs.map((b, i) => (b as Float32Array).subarray(m * sizes[i + 1]!, (m + 1) * sizes[i + 1]!)),
    }));
  }

  dispose() {
    E.dispose([this.params, this.flat]);
    this.opt.dispose();
  }
}

// ---------------------------------------------------------------- the policy and its update

/**
 * Advantages for NPG: discounted reward-to-go of each trajectory minus a linear-feature baseline
 * (features o, o², t/H, (t/H)², (t/H)³, 1; the time-dependent baseline of Duan et al.'s benchmark
 * suite, fitted by ridge least squares in float64). `obs` [n·dObs], `rew` [n] and `t` [n] (the step
 * index inside its trajectory) are trajectory-major; `start[i]` marks the first step of a
 * trajectory. Trajectories are not bootstrapped at their end (model rollouts stop at h, real ones
 * at the time limit).
 */
export function baselineAdvantages(obs: ArrayLike<number>, rew: ArrayLike<number>, t: ArrayLike<number>, start: ArrayLike<number>, dObs: number, H: number, gamma: number) {
  const n = rew.length;
  const ret = new Float64Array(n);
  for (let i = n - 1, acc = 0; i >= 0; i--) {
    acc = rew[i]! + (i + 1 < n && !start[i + 1] ? gamma * acc : 0);
    ret[i] = acc;
  }
  const feat = (i: number) => {
    const f: number[] = [];
    for (let j = 0; j < dObs; j++) f.push(obs[i * dObs + j]!);
    for (let j = 0; j < dObs; j++) f.push(obs[i * dObs + j]! ** 2);
    const a = t[i]! / H;
    f.push(a, a * a, a * a * a, 1);
    return f;
  };
  const p = 2 * dObs + 4;
  const A = Array.from({ length: p }, () => new Array<number>(p).fill(0)), b = new Array<number>(p).fill(0);
  for (let i = 0; i < n; i++) {
    const f = feat(i);
    for (let r = 0; r < p; r++) {
      b[r] += f[r]! * ret[i]!;
      for (let c = 0; c < p; c++) A[r]![c] += f[r]! * f[c]!;
    }
  }
  for (let r = 0; r < p; r++) A[r]![r] += 1e-5 * n;
  const w = solveDense(A, b);
  const adv = new Float32Array(n);
  for (let i = 0; i < n; i++) adv[i] = ret[i]! - feat(i).reduce((acc, x, k) => acc + x * w[k]!, 0);
  return { adv, ret };
}

/** The Gaussian MLP policy and its natural-gradient update, shared by PAL, MAL and the model-free baseline. */
export class NpgLearner {
  pol: Policy;
  constructor(
    readonly dObs: number,
    readonly dAct: number,
    private readonly cfg: Pick<ScaleConfig, 'hidden' | 'logStd0' | 'klStep' | 'cgIters' | 'damping' | 'seed'>,
  ) {
    this.pol = { net: mlpInit([dObs, cfg.hidden, cfg.hidden, dAct], cfg.seed, { outScale: 0.1 }), logStd: E.full([dAct], cfg.logStd0) };
  }

  /** Host copy (float64 forwards): mean network and σ. */
  async host() {
    return { net: await mlpToHost(this.pol.net), std: Array.from(await this.pol.logStd.data(), (v) => Math.exp(v)) };
  }

  /** One NPG step on host samples obs [n·dObs], act [n·dAct] with advantages (normalised here). */
  async update(obs: Float32Array, act: Float32Array, adv: Float32Array) {
    const n = adv.length;
    const [obsT, actT, advT] = [E.tensor(obs, [n, this.dObs]), E.tensor(act, [n, this.dAct]), E.tensor(normalised(adv), [n])];
    const next = npgStep(this.pol, obsT, actT, advT, this.cfg);
    E.dispose([this.pol, obsT, actT, advT]);
    this.pol = next;
    await E.sync();
  }

  dispose() {
    E.dispose(this.pol);
  }
}

/**
 * Model rollouts on the host in float64 (the ensemble's and the policy's weights copied down once):
 * on a software adapter a rollout is hundreds of tiny sequential dispatches, while the host does
 * one 4×64×64 forward in microseconds. N trajectories from `starts` (drawn at random), at most h
 * steps, trajectory i run by member i mod K. Predicted states and rewards are clipped to the range
 * of the data the model was fitted on: without it the policy learns to steer the model where it
 * extrapolates (on Pendulum, to positive predicted rewards, which the real env never gives).
 * `terminated` (the env's known rule on the predicted next state, `terminationFn`) ends a
 * trajectory after the step that reaches such a state: its reward counts, nothing follows (the
 * return after it is 0, as in the env). Returns trajectory-major obs, act (unclipped, as
 * sampled), rew, t and start flags (variable length when trajectories terminate) and the number of
 * trajectories that terminated.
 */
export async function modelRollouts(
  learner: NpgLearner, ens: DynamicsEnsemble, starts: number[][], N: number, h: number, lo: number[], hi: number[], rng: E.Rng,
  terminated: ((o: ArrayLike<number>) => boolean) | null = null,
) {
  const dObs = ens.dObs, dAct = ens.dAct;
  const [pol, members] = [await learner.host(), await ens.hostMembers()];
  const { sx, sy } = ens.norm!;
  const rg = ens.range!;
  const clip = (v: number, a: number, b: number) => Math.min(b, Math.max(a, v));
  const obs: number[] = [], act: number[] = [], rew: number[] = [], t: number[] = [], start: number[] = [];
  let ended = 0;
  for (let i = 0; i < N; i++) {
    let o = starts[rng.int(starts.length)]!.slice();
    const m = members[i % ens.K]!;
    for (let k = 0; k < h; k++) {
      const mean = mlpForwardHost(pol.net, o);
      const a = Array.from(mean, (v, d) => v + pol.std[d]! * rng.normal());
      const x = [...o, ...a.map((v, d) => Math.min(hi[d]!, Math.max(lo[d]!, v)))].map((v, d) => (v - sx.mu[d]!) / sx.sd[d]!);
      const y = mlpForwardHost(m, x);
      obs.push(...o);
      act.push(...a);
      rew.push(clip(y[dObs]! * sy.sd[dObs]! + sy.mu[dObs]!, rg.rLo, rg.rHi));
      t.push(k);
      start.push(k === 0 ? 1 : 0);
      o = o.map((v, d) => clip(v + y[d]! * sy.sd[d]! + sy.mu[d]!, rg.lo[d]!, rg.hi[d]!));
      if (terminated?.(o)) {
        ended++;
        break;
      }
    }
  }
  return { obs: Float32Array.from(obs), act: Float32Array.from(act), rew: Float64Array.from(rew), t: Float64Array.from(t), start: Uint8Array.from(start), ended };
}

/**
 * One policy step in the model: rollouts from `starts`, baseline advantages, NPG. Returns the mean
 * model reward per step, the mean model return per trajectory and the fraction of trajectories that
 * terminated.
 */
export async function modelPolicyStep(
  learner: NpgLearner, ens: DynamicsEnsemble, starts: number[][], cfg: Pick<ScaleConfig, 'rollouts' | 'horizon' | 'gamma'>, lo: number[], hi: number[], rng: E.Rng,
  terminated: ((o: ArrayLike<number>) => boolean) | null = null,
) {
  const r = await modelRollouts(learner, ens, starts, cfg.rollouts, cfg.horizon, lo, hi, rng, terminated);
  const { adv } = baselineAdvantages(r.obs, r.rew, r.t, r.start, ens.dObs, cfg.horizon, cfg.gamma);
  await learner.update(r.obs, r.act, adv);
  let m = 0;
  for (const x of r.rew) m += x;
  return { meanReward: m / r.rew.length, meanReturn: m / cfg.rollouts, endedFraction: r.ended / cfg.rollouts };
}

/** Mean return of the uniformly random policy (actions U(low, high)) over `episodes` episodes from the evaluation's fixed start states. */
export async function randomPolicyReturn(env: string, seed: number, episodes: number): Promise<number> {
  const e = await makeEnvAsync(env, { numEnvs: 1, seed: seed + 7919 });
  const sp = e.actionSpace as BoxSpace;
  const rng = new E.Rng(seed * 31 + 5);
  let total = 0;
  for (let k = 0; k < episodes; k++) {
    e.reset(seed * 1000 + k + 1);
    for (;;) {
      const r = e.step(Float32Array.from(Array.from(sp.low), (l, d) => l + (sp.high[d]! - l) * rng.uniform()));
      total += r.rewards[0]!;
      if (r.done[0]) break;
    }
  }
  disposeMujocoEnv(e);
  return total / episodes;
}

export interface ScaleResult {
  config: Omit<ScaleConfig, 'onProgress'>;
  /** Real steps used and the evaluation return after each iteration/update (steps 0: the initial policy). */
  curve: { steps: number; evalReturn: number }[];
  /** One-step model error on the next iteration's fresh real data (before fitting on it): ensemble-mean MSE vs predict-no-change. */
  modelError?: { steps: number; state: number; noChange: number; rew: number; rewMean: number }[];
  /** Per iteration, the last policy step's model rollouts: mean return per trajectory and the fraction that terminated. */
  modelRollout?: { steps: number; meanReturn: number; endedFraction: number }[];
  /** The uniformly random policy's mean return on the same evaluation start states. */
  randomReturn?: number;
  finalReturn: number;
  seconds: number;
}

/** Runs one seed of PAL, MAL, the equal-steps schedule or model-free NPG on a continuous-control env at the stated budget. */
export async function trainScalable(cfg: ScaleConfig): Promise<ScaleResult> {
  if (!SCALE_ALGOS.includes(cfg.algo)) throw new Error(`algorithm '${cfg.algo}' unknown; choose one of ${SCALE_ALGOS.join(', ')}`);
  if (cfg.equalData !== 'all' && cfg.equalData !== 'latest') throw new Error(`equalData '${cfg.equalData}' unknown; choose all or latest`);
  const t0 = performance.now();
  const log = cfg.onProgress ?? (() => {});
  const terminated = terminationFn(cfg.env);
  const env = await makeEnvAsync(cfg.env, { numEnvs: 1, seed: cfg.seed });
  const evalEnv = await makeEnvAsync(cfg.env, { numEnvs: 1, seed: cfg.seed + 7919 });
  if (env.actionSpace.kind !== 'box') throw new Error(`${cfg.env}: PAL/MAL here need a continuous (box) action space, got ${env.actionSpace.kind}`);
  const aSpace = env.actionSpace as BoxSpace;
  const lo = Array.from(aSpace.low), hi = Array.from(aSpace.high);
  const dObs = env.observationSpace.kind === 'box' ? env.observationSpace.shape.reduce((a, b) => a * b, 1) : 1;
  const dAct = aSpace.shape.reduce((a, b) => a * b, 1);
  const rng = new E.Rng(cfg.seed * 7 + 1);
  E.seed(cfg.seed * 7 + 3);

  const learner = new NpgLearner(dObs, dAct, cfg);
  const ens = cfg.algo === 'npg' ? null : new DynamicsEnsemble(dObs, dAct, cfg.ensemble, cfg.modelHidden, cfg.modelLr, cfg.seed + 2, lo, hi);
  const buf = emptyTransitions();
  const curve: ScaleResult['curve'] = [];
  const modelError: NonNullable<ScaleResult['modelError']> = [];
  const modelRollout: NonNullable<ScaleResult['modelRollout']> = [];
  let obs = Array.from(env.reset());
  let steps = 0;
  const clipAct = (a: number[]) => a.map((v, i) => Math.min(hi[i]!, Math.max(lo[i]!, v)));

  let epT = 0;
  /** Collects n real steps with the stochastic policy (CPU float64 forward of the policy). */
  const collect = async (n: number): Promise<Transitions & { t: number[] }> => {
    const { net, std } = await learner.host();
    const out = { ...emptyTransitions(), t: [] as number[] };
    for (let k = 0; k < n; k++) {
      const m = mlpForwardHost(net, obs);
      const a = Array.from(m, (v, i) => v + std[i]! * rng.normal());
      const r = env.step(Float32Array.from(clipAct(a)));
      const next = r.done[0] ? Array.from(r.finalObs.subarray(0, dObs)) : Array.from(r.obs.subarray(0, dObs));
      out.obs.push(obs);
      out.act.push(a);
      out.next.push(next);
      out.rew.push(r.rewards[0]!);
      out.done.push(r.terminated[0] ? 1 : r.truncated[0] ? 2 : 0);
      out.t.push(epT);
      epT = r.done[0] ? 0 : epT + 1;
      obs = Array.from(r.obs.subarray(0, dObs));
    }
    steps += n;
    return out;
  };

  /** Average return of the deterministic (mean) policy over evalEpisodes fixed start states. */
  const evaluate = async () => {
    const { net: host } = await learner.host();
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

  curve.push({ steps: 0, evalReturn: await evaluate() });
  while (steps < cfg.realSteps) {
    if (cfg.algo === 'npg') {
      // Real trajectories, reward-to-go cut at episode ends (and at the batch end), the same
      // baseline and NPG step as in the model.
      const d = await collect(Math.min(cfg.npgBatch, cfg.realSteps - steps));
      const o = Float32Array.from(d.obs.flat()), start = d.t.map((t, i) => (i === 0 || t === 0 ? 1 : 0));
      const { adv } = baselineAdvantages(o, d.rew, d.t, start, dObs, env.maxEpisodeSteps, cfg.gamma);
      await learner.update(o, Float32Array.from(d.act.flat()), adv);
    } else {
      const d = await collect(Math.min(cfg.stepsPerIter, cfg.realSteps - steps));
      if (ens!.norm) modelError.push({ steps, ...(await ens!.oneStepError(d)) });
      appendTransitions(buf, d);
      const latest = cfg.algo === 'pal' || (cfg.algo === 'equal' && cfg.equalData === 'latest');
      const data = latest ? sliceTransitions(buf, Math.max(0, buf.obs.length - cfg.palBuffer)) : buf;
      const last: { step?: Awaited<ReturnType<typeof modelPolicyStep>> } = {};
      const policyStep = async () => (last.step = await modelPolicyStep(learner, ens!, data.obs, cfg, lo, hi, rng, terminated));
      if (cfg.algo === 'equal') {
        // Neither player faster: one model update, then one policy update, equalSteps times.
        for (let k = 0; k < cfg.equalSteps; k++) {
          await ens!.fit(data, 1, cfg.modelBatch, rng);
          await policyStep();
        }
      } else {
        const pal = cfg.algo === 'pal';
        await ens!.fit(data, pal ? cfg.palModelSteps : cfg.malModelSteps, cfg.modelBatch, rng);
        for (let k = 0; k < (pal ? cfg.palPolicySteps : cfg.malPolicySteps); k++) await policyStep();
      }
      if (last.step) modelRollout.push({ steps, meanReturn: last.step.meanReturn, endedFraction: last.step.endedFraction });
    }
    const ev = await evaluate();
    curve.push({ steps, evalReturn: ev });
    const me = modelError[modelError.length - 1];
    const mr = modelRollout[modelRollout.length - 1];
    log(`${cfg.algo} seed ${cfg.seed}: ${steps}/${cfg.realSteps} real steps, eval return ${ev.toFixed(1)}${me ? `, model MSE ${me.state.toExponential(2)} (no-change ${me.noChange.toExponential(2)})` : ''}${mr ? `, model return ${mr.meanReturn.toFixed(1)} (${(100 * mr.endedFraction).toFixed(0)}% terminated)` : ''} [${((performance.now() - t0) / 1000).toFixed(0)} s]`);
  }
  learner.dispose();
  ens?.dispose();
  disposeMujocoEnv(env);
  disposeMujocoEnv(evalEnv);
  const randomReturn = await randomPolicyReturn(cfg.env, cfg.seed, cfg.evalEpisodes);
  const { onProgress: _, ...config } = cfg;
  return { config, curve, ...(ens ? { modelError, modelRollout } : {}), randomReturn, finalReturn: curve[curve.length - 1]!.evalReturn, seconds: (performance.now() - t0) / 1000 };
}

export type { VecEnv };
