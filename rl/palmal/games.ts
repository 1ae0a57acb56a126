// PAL and MAL on the 3-state MDP as two-player games on the engine (games/ sign convention:
// both players minimise). R independent runs are batched along a leading axis: every objective
// is the SUM over runs of per-run objectives, so each run's gradient, Hessian block and total
// derivative are exactly its own (the Hessians are block diagonal across runs).
//
// Players (see tabular.ts for the shared conventions):
//   policy  φ [R, 2, 2]                  π = softmax(φ) over actions, per state A, B
//   model   { theta [R, 2, 2, 3], rho [R, 2, 2] }   P̂ = softmax(θ) over next states A, B, C; r̂ = ρ
//
// Visitation μ^π (expected visits per 50-step episode) is exact: S = Σ_{t<H} Qᵗ by doubling, Q the
// transient (A, B) block of P_π. The data the model is fitted on are the policy's visits in the
// REAL MDP (μ^π under the true P: what collecting data with π gives, in expectation); the policy's
// return Ĵ is computed in the MODEL (the agent plans in what it learned).
//
//   PAL (policy leads):  f₁ = −Ĵ(π, M̂)                     f₂ = ℓ(M̂; μ̄^π) + (κ/2)‖M̂‖²
//   MAL (model leads):   f₁ = ℓ(M̂; μ̄^π)                     f₂ = −Ĵ(π, M̂) − τ·Σ_s H(π(·|s))
//   MAL + agent reward:  f₁ = α·ℓ(M̂; μ̄^π) − (1 − α)·Ĵ(π, M̂)
//   MAL + random noise:  f₁ = ℓ(M̂; α·μ̄^π + (1 − α)·μ̄^rand)  (μ̄^rand: mean visitation of random policies)
//
// ℓ = ℓ_P + ℓ_r: ℓ_P = E_{(s,a)∼μ̄} KL(P(·|s,a) ‖ P̂(·|s,a)) and ℓ_r = E_{(s,a)∼μ̄} ½(r̂ − r̄)².
// κ (PAL) makes the model's best response unique where μ̄ = 0 (and the softmax logits' shift
// direction); τ (MAL) does the same for the policy (an entropy bonus, so the best response is a
// smooth function of the model and the implicit function theorem applies).

import * as E from '../../engine/index.ts';
import type { Game } from '../../games/game.ts';
import { trueModel, H, NN } from './tabular.ts';

type T = E.Tensor;
export interface ModelParams extends E.Params {
  theta: T;
  rho: T;
}

export type Formulation = 'pal' | 'mal' | 'mal-agent' | 'mal-noise';
export const FORMULATIONS: Formulation[] = ['mal', 'mal-agent', 'mal-noise', 'pal'];

/** Constants of the real MDP as tensors (fresh; caller disposes). */
export function realTensors() {
  const m = trueModel();
  const P = E.tensor(Float32Array.from(m.P.flat(2)), [1, 2, 2, NN]);
  const rbar = E.tensor(Float32Array.from(m.r.flat()), [1, 2, 2]);
  // Σ_k P log P per (s, a): KL = this − Σ_k P log P̂ (0·log 0 = 0).
  const plogp = E.tensor(Float32Array.from(m.P.flat().map((row) => row.reduce((a, p) => a + (p > 0 ? p * Math.log(p) : 0), 0))), [1, 2, 2]);
  return { P, rbar, plogp };
}
export type Real = ReturnType<typeof realTensors>;

const lead = (x: T, k: number) => Array<null>(x.rank - k).fill(null);

/** Σ_{t<n} Qᵗ for a batch of square matrices Q [..., d, d], by doubling (O(log n) matmuls). */
export function geometricSum(Q: T, n: number): T {
  const d = Q.shape[Q.rank - 1]!;
  const I = E.eye(d);
  const bits = n.toString(2);
  let S: T = E.add(E.mul(Q, 0), I); // S₁ = I (shaped like the batch)
  let Qn: T = Q; // Q^m where m is the count summed so far
  for (let i = 1; i < bits.length; i++) {
    const last = i === bits.length - 1;
    // S_{2m} = S_m + Q^m S_m; Q^{2m} = Q^m Q^m
    S = E.add(S, E.matmul(Qn, S));
    if (!last) Qn = E.matmul(Qn, Qn);
    if (bits[i] === '1') {
      // S_{m+1} = I + Q S_m; Q^{m+1} = Q^m Q
      S = E.add(I, E.matmul(Q, S));
      if (!last) Qn = E.matmul(Qn, Q);
    }
  }
  return S;
}

/**
 * State-action occupancy μ [..., 2, 2] (expected visits per H-step episode from B) of policy
 * probabilities pi [..., 2, 2] under transition probabilities P [..., 2, 2, 3] (broadcast).
 */
export function occupancy(pi: T, P: T, horizon = H): T {
  const Pfull = E.sum(E.mul(E.expandDims(pi, -1), P), -2); // [..., s, s′] over s′ ∈ {A, B, C}
  const Q = E.slice(Pfull, [...lead(Pfull, 2), null, [0, 2]]);
  const S = geometricSum(Q, horizon);
  const nu = E.slice(S, [...lead(S, 2), 1, null]); // row B: the start state
  return E.mul(E.expandDims(nu, -1), pi);
}

/** Normalised occupancy μ̄ = μ / Σμ per run. */
export function normalise(mu: T): T {
  return E.div(mu, E.sum(mu, [-2, -1], true));
}

/** Ĵ per run [...]: Σ μ·r̂ for π in model (P̂, r̂). */
export function modelReturn(pi: T, Phat: T, rhat: T): T {
  return E.sum(E.mul(occupancy(pi, Phat), rhat), [-2, -1]);
}

/** ℓ_P and ℓ_r per run [...] at weights w [..., 2, 2] (a distribution over (s, a)). */
export function modelLossParts(m: ModelParams, w: T, real: Real): { lP: T; lr: T } {
  const logq = E.logSoftmax(m.theta, -1);
  const kl = E.sub(real.plogp, E.sum(E.mul(real.P, logq), -1));
  const lP = E.sum(E.mul(w, kl), [-2, -1]);
  const e = E.sub(m.rho, real.rbar);
  const lr = E.sum(E.mul(w, E.mul(E.square(e), 0.5)), [-2, -1]);
  return { lP, lr };
}

export function modelLoss(m: ModelParams, w: T, real: Real): T {
  const { lP, lr } = modelLossParts(m, w, real);
  return E.add(lP, lr);
}

/** Σ_s H(π(·|s)) per run. */
export function policyEntropy(phi: T): T {
  const lp = E.logSoftmax(phi, -1);
  return E.neg(E.sum(E.mul(E.exp(lp), lp), [-2, -1]));
}

const sq = (t: T) => E.sum(E.square(t));

export interface GameOptions {
  /** α of the MAL fixes (weight of ℓ, resp. of the policy's own visitation). */
  alpha: number;
  /** L2 weight on the model in PAL's follower objective. */
  kappa: number;
  /** Entropy weight in MAL's follower (policy) objective. */
  tau: number;
  /** MAL + random noise: μ̄ of random policies in the real MDP [R, 2, 2]. */
  randomVisitation?: T;
}

/** The model's data weights for formulation f: μ̄^π in the real MDP (mixed with random visitation for mal-noise). */
export function dataWeights(f: Formulation, phi: T, real: Real, o: GameOptions): T {
  const w = normalise(occupancy(E.softmax(phi, -1), real.P));
  if (f !== 'mal-noise') return w;
  if (!o.randomVisitation) throw new Error('mal-noise needs randomVisitation (the random policies\' visitation)');
  return E.add(E.mul(w, o.alpha), E.mul(o.randomVisitation, 1 - o.alpha));
}

/** PAL: the policy leads (f₁ = −Ĵ), the model follows (f₂ = ℓ on the policy's data + κ/2‖M̂‖²). */
export function palGame(real: Real, o: GameOptions): Game<T, ModelParams> {
  return {
    name: 'PAL',
    leaderLoss: (phi, m) => E.neg(E.sum(modelReturn(E.softmax(phi, -1), E.softmax(m.theta, -1), m.rho))),
    followerLoss: (phi, m) => E.add(E.sum(modelLoss(m, dataWeights('pal', phi, real, o), real)), E.mul(E.add(sq(m.theta), sq(m.rho)), o.kappa / 2)),
    init: () => {
      throw new Error('palGame.init: the trainer draws the starting parameters (see train.ts)');
    },
  };
}

/** MAL and its fixes: the model leads, the policy follows (f₂ = −Ĵ − τ·entropy). */
export function malGame(f: Exclude<Formulation, 'pal'>, real: Real, o: GameOptions): Game<ModelParams, T> {
  return {
    name: f,
    leaderLoss: (m, phi) => {
      const l = E.sum(modelLoss(m, dataWeights(f, phi, real, o), real));
      if (f !== 'mal-agent') return l;
      const J = E.sum(modelReturn(E.softmax(phi, -1), E.softmax(m.theta, -1), m.rho));
      return E.sub(E.mul(l, o.alpha), E.mul(J, 1 - o.alpha));
    },
    followerLoss: (m, phi) => E.neg(E.add(E.sum(modelReturn(E.softmax(phi, -1), E.softmax(m.theta, -1), m.rho)), E.mul(E.sum(policyEntropy(phi)), o.tau))),
    init: () => {
      throw new Error('malGame.init: the trainer draws the starting parameters (see train.ts)');
    },
  };
}
