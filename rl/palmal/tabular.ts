// Float64 CPU side of the tabular PAL/MAL study on the 3-state MDP (docs/spec/classic.md § The 3-state MDP of PAL/MAL): the exact
// quantities every training run is judged by (J in the real MDP, the optimal value by dynamic
// programming, visitations, ℓ and its analytic gradient), Monte-Carlo rollouts in the real env,
// and a Newton solver for the model's best response (the reference for the implicit derivative).
//
// Conventions shared with games.ts (the engine side):
// - Only A = 0 and B = 1 carry decisions; C = 2 is terminal (absorbing, reward 0), so the tables
//   are indexed [s ∈ {A, B}][a ∈ {X, Y}] and transitions go to s′ ∈ {A, B, C}.
// - Visitation: an episode lasts at most H = 50 steps, and the poster reports the average
//   episode reward (the undiscounted 50-step return). The occupancy that makes J = Σ μ·r̄ hold
//   exactly is the finite-horizon one, ν(s) = Σ_{t<H} Pr(s_t = s) (expected visits per episode),
//   i.e. S = Σ_{t<H} Qᵗ of the transient block Q of P_π, the solution of (I − Q)S = I − Q^H.
//   We sum it (doubling, see geometricSum) rather than invert I − Q: with A,Y → A surely, a
//   policy that keeps choosing Y makes I − Q singular, while the finite sum is always defined.
//   A discounted occupancy would optimise a different objective than the one reported.
// - ℓ weighs (s, a) by the normalised occupancy μ̄ = μ/Σμ (a distribution: ℓ is an expectation).

import { Rng as EnvRng } from '../envs/rng.ts';
import { MDP_P, MDP_R, MDP_START, MDP_MAX_STEPS, ThreeStateMdp } from '../envs/mdp.ts';

export const NS = 2; // decision states A, B
export const NA = 2; // actions X, Y
export const NN = 3; // next states A, B, C
export const H = MDP_MAX_STEPS;

/** A tabular model: P[s][a][s′] (rows sum to 1) and expected rewards r[s][a]. */
export interface TabularModel {
  P: number[][][];
  r: number[][];
}

/** π[s][a] for s ∈ {A, B}. */
export type TabularPolicy = number[][];

/** The real MDP as a TabularModel: P from mdp.ts, r̄(s, a) = Σ_s′ P(s′|s, a) R(s, a, s′). */
export function trueModel(): TabularModel {
  const P = MDP_P.map((row) => row.map((p) => [...p]));
  const r = MDP_R.map((row, s) => row.map((R, a) => R.reduce((acc, x, k) => acc + MDP_P[s]![a]![k]! * x, 0)));
  return { P, r };
}

export function softmaxRow(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]!);
  const e = Array.from(z, (x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

/** π from logits φ (flat [s·NA + a]). */
export function policyFromLogits(phi: ArrayLike<number>): TabularPolicy {
  return [0, 1].map((s) => softmaxRow([phi[s * NA]!, phi[s * NA + 1]!]));
}

/** Model from logits θ (flat [(s·NA + a)·NN + s′]) and rewards ρ (flat [s·NA + a]). */
export function modelFromLogits(theta: ArrayLike<number>, rho: ArrayLike<number>): TabularModel {
  const P: number[][][] = [], r: number[][] = [];
  for (let s = 0; s < NS; s++) {
    P.push([]);
    r.push([]);
    for (let a = 0; a < NA; a++) {
      const o = (s * NA + a) * NN;
      P[s]!.push(softmaxRow([theta[o]!, theta[o + 1]!, theta[o + 2]!]));
      r[s]!.push(rho[s * NA + a]!);
    }
  }
  return { P, r };
}

/** Expected visits per episode ν[s] (s ∈ {A, B}) of π in model m: Σ_{t<H} Pr(s_t = s), start B. */
export function stateOccupancy(m: TabularModel, pi: TabularPolicy, horizon = H): number[] {
  let d = [0, 0];
  d[MDP_START] = 1;
  const nu = [0, 0];
  for (let t = 0; t < horizon; t++) {
    nu[0] += d[0]!;
    nu[1] += d[1]!;
    const nd = [0, 0];
    for (let s = 0; s < NS; s++) for (let a = 0; a < NA; a++) for (let k = 0; k < NS; k++) nd[k] += d[s]! * pi[s]![a]! * m.P[s]![a]![k]!;
    d = nd;
  }
  return nu;
}

/** State-action occupancy μ[s][a] = ν[s]·π[s][a] (expected visits per episode). */
export function occupancy(m: TabularModel, pi: TabularPolicy, horizon = H): number[][] {
  const nu = stateOccupancy(m, pi, horizon);
  return nu.map((n, s) => pi[s]!.map((p) => n * p));
}

/** Expected episode return of π in model m (exact): Σ μ(s, a)·r(s, a). */
export function episodeReturn(m: TabularModel, pi: TabularPolicy, horizon = H): number {
  const mu = occupancy(m, pi, horizon);
  let J = 0;
  for (let s = 0; s < NS; s++) for (let a = 0; a < NA; a++) J += mu[s]![a]! * m.r[s]![a]!;
  return J;
}

/**
 * Optimal expected episode return by finite-horizon dynamic programming in model m:
 * V_t(s) = max_a [r(s, a) + Σ_s′ P(s′|s, a) V_{t+1}(s′)], V_H = 0, V(C) = 0. Also the greedy
 * action per (t, s) (the optimal policy may depend on the steps left).
 */
export function optimalValue(m: TabularModel = trueModel(), horizon = H): { value: number; V0: number[]; actions: number[][] } {
  let V = [0, 0];
  const actions: number[][] = [];
  for (let t = horizon - 1; t >= 0; t--) {
    const nV = [0, 0];
    const act = [0, 0];
    for (let s = 0; s < NS; s++) {
      let best = -Infinity;
      for (let a = 0; a < NA; a++) {
        const q = m.r[s]![a]! + m.P[s]![a]![0]! * V[0]! + m.P[s]![a]![1]! * V[1]!;
        if (q > best) {
          best = q;
          act[s] = a;
        }
      }
      nV[s] = best;
    }
    actions.unshift(act);
    V = nV;
  }
  return { value: V[MDP_START]!, V0: V, actions };
}

/** The best stationary deterministic policy of the real MDP (enumerating all four) and its return. */
export function bestStationary(m: TabularModel = trueModel()): { value: number; policy: number[] } {
  let best = { value: -Infinity, policy: [0, 0] };
  for (let aA = 0; aA < NA; aA++) for (let aB = 0; aB < NA; aB++) {
    const pi = [[1 - aA, aA], [1 - aB, aB]];
    const v = episodeReturn(m, pi);
    if (v > best.value) best = { value: v, policy: [aA, aB] };
  }
  return best;
}

/** Normalised occupancy μ̄ = μ/Σμ (flat [s·NA + a]). */
export function normalisedOccupancy(mu: number[][]): number[] {
  const flat = mu.flat();
  const z = flat.reduce((a, b) => a + b, 0);
  return flat.map((x) => x / z);
}

/**
 * Model loss at weights w (flat [s·NA + a], e.g. μ̄): ℓ_P = Σ w·KL(P‖P̂) and ℓ_r = Σ w·½(r̂ − r̄)²,
 * with the analytic gradients in the logits θ (∂ℓ_P/∂θ_{sa,k} = w_sa (P̂_k − P_k)) and in ρ.
 */
export function modelLoss(w: ArrayLike<number>, theta: ArrayLike<number>, rho: ArrayLike<number>, real = trueModel()) {
  const m = modelFromLogits(theta, rho);
  let lP = 0, lr = 0;
  const gTheta = new Float64Array(NS * NA * NN), gRho = new Float64Array(NS * NA);
  for (let s = 0; s < NS; s++) for (let a = 0; a < NA; a++) {
    const i = s * NA + a;
    const p = real.P[s]![a]!, q = m.P[s]![a]!;
    let kl = 0;
    for (let k = 0; k < NN; k++) {
      if (p[k]! > 0) kl += p[k]! * (Math.log(p[k]!) - Math.log(q[k]!));
      gTheta[i * NN + k] = w[i]! * (q[k]! - p[k]!);
    }
    lP += w[i]! * kl;
    const e = m.r[s]![a]! - real.r[s]![a]!;
    lr += w[i]! * 0.5 * e * e;
    gRho[i] = w[i]! * e;
  }
  return { lP, lr, gTheta, gRho };
}

/**
 * The model's best response to weights w in float64: argmin over (θ, ρ) of ℓ_P + ℓ_r + (κ/2)‖(θ, ρ)‖²,
 * row by row (the rows decouple): Newton on each 3-logit row (Hessian w(diag(q) − qqᵀ) + κI),
 * and ρ = w·r̄/(w + κ) in closed form.
 */
export function modelBestResponse(w: ArrayLike<number>, kappa: number, real = trueModel(), theta0?: ArrayLike<number>) {
  const theta = new Float64Array(NS * NA * NN);
  if (theta0) theta.set(Array.from(theta0));
  const rho = new Float64Array(NS * NA);
  for (let i = 0; i < NS * NA; i++) {
    const s = Math.floor(i / NA), a = i % NA;
    const p = real.P[s]![a]!;
    const wi = w[i]!;
    rho[i] = (wi * real.r[s]![a]!) / (wi + kappa);
    for (let it = 0; it < 100; it++) {
      const z = [theta[i * NN]!, theta[i * NN + 1]!, theta[i * NN + 2]!];
      const q = softmaxRow(z);
      const g = q.map((qk, k) => wi * (qk - p[k]!) + kappa * z[k]!);
      const Hm = q.map((qj, j) => q.map((qk, k) => wi * ((j === k ? qj : 0) - qj * qk) + (j === k ? kappa : 0)));
      const dz = solveDense(Hm, g);
      for (let k = 0; k < NN; k++) theta[i * NN + k] -= dz[k]!;
      if (Math.hypot(...g) < 1e-13) break;
    }
  }
  return { theta, rho };
}

/** Solves A x = b (small dense, Gaussian elimination with partial pivoting). */
export function solveDense(A: number[][], b: number[]): number[] {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[piv]![c]!)) piv = r;
    [M[c], M[piv]] = [M[piv]!, M[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k] -= f * M[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= M[r]![k]! * x[k]!;
    x[r] = s / M[r]![r]!;
  }
  return x;
}

/**
 * Monte-Carlo average episode reward of a stationary policy in the real env (rl/envs/mdp.ts):
 * `episodes` episodes of at most H steps, actions drawn from π with a separate stream.
 */
export function rolloutReturn(pi: TabularPolicy, episodes: number, seed: number): { mean: number; std: number; returns: number[] } {
  const env = new ThreeStateMdp();
  const envRng = new EnvRng(seed, 0);
  const actRng = new EnvRng(seed, 1);
  const returns: number[] = [];
  for (let e = 0; e < episodes; e++) {
    env.reset();
    let G = 0;
    for (let t = 0; t < H && !env.terminated; t++) {
      const s = env.state.s;
      const a = actRng.uniform() < pi[s]![0]! ? 0 : 1;
      G += env.step(a, envRng);
    }
    returns.push(G);
  }
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, episodes - 1));
  return { mean, std, returns };
}

/** Mean, sample std and the 95% t-interval half-width of a sample. */
export function summary(xs: number[]): { mean: number; std: number; ci95: number; n: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, ci95: n > 1 ? tQuantile975(n - 1) * std / Math.sqrt(n) : NaN, n };
}

/** Two-sided 95% Student-t quantile for small degrees of freedom (table; normal beyond 30). */
export function tQuantile975(df: number): number {
  const T = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
    2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  return df < T.length ? T[df]! : 1.96;
}
