// Toy games from the papers, in the minimise-both convention of games/game.ts. They double as
// tests (closed-form equilibria and derivatives) and as pictures (games/figures.ts).

import * as E from '../engine/index.ts';
import type { Game } from './game.ts';

// ------------------------------------------------------------------ actor-critic motivating example

export interface ActorCriticOptions {
  /**
   * Weight α of a concave (entropy-style) regulariser on the actor: J = w·θ − (α/2)θ². 0 gives
   * the plain example. This stands in for the SAC entropy bonus: a term that makes the actor's
   * objective strongly concave in its own parameter (our modelling choice; see docs/games.md).
   */
  entropy?: number;
  /** Start (θ₀, w₀); the paper's is (−1, 1). */
  start?: [number, number];
}

/**
 * The Stackelberg actor-critic paper's motivating example. Actor θ (leader) maximises
 * J(θ, w) = w·θ, so f₁ = −w·θ; critic w (follower) minimises L(θ, w) = (w·θ + θ²/5)². The
 * Stackelberg equilibrium is (θ, w) = (0, 0). Both parameters are tensors of shape [1].
 *
 * Closed forms (used by tests as a float64 reference): ∇_θ f₁ = −w, ∇_w f₁ = −θ,
 * ∇_w L = 2θ(wθ + θ²/5), ∇²_ww L = 2θ², ∇²_wθ L = 4wθ + 6θ²/5.
 */
export function actorCritic(opts: ActorCriticOptions = {}): Game<E.Tensor, E.Tensor> & { entropy: number } {
  const alpha = opts.entropy ?? 0;
  const [t0, w0] = opts.start ?? [-1, 1];
  return {
    name: alpha ? `actor-critic (entropy ${alpha})` : 'actor-critic',
    entropy: alpha,
    leaderLoss: (theta, w) => {
      const j = E.sum(E.mul(w, theta));
      return alpha ? E.sub(E.mul(E.sum(E.square(theta)), alpha / 2), j) : E.neg(j);
    },
    followerLoss: (theta, w) => E.sum(E.square(E.add(E.mul(w, theta), E.mul(E.square(theta), 0.2)))),
    init: () => ({ leader: E.tensor([t0]), follower: E.tensor([w0]) }),
    equilibrium: { leader: [0], follower: [0] },
  };
}

/**
 * Float64 closed-form update of the motivating example (the same dynamics the engine runs, for
 * cross-checking): returns the next (θ, w) for one step of individual (lambda = Infinity) or
 * Stackelberg play with damping λ, step sizes η (both players).
 */
export function actorCriticStepCpu(theta: number, w: number, lr: number, lambda: number, entropy = 0): [number, number] {
  const g1 = -w + entropy * theta; // ∇_θ f₁
  const g2f1 = -theta; // ∇_w f₁
  const h = 2 * theta * theta; // ∇²_ww L
  const mixed = 4 * w * theta + 1.2 * theta * theta; // ∇²_wθ L
  const total = Number.isFinite(lambda) ? g1 - (mixed * g2f1) / (h + lambda) : g1;
  const gw = 2 * theta * (w * theta + 0.2 * theta * theta);
  return [theta - lr * total, w - lr * gw];
}

// ------------------------------------------------------------------ quadratic game

type Mat = number[][];
type Vec = number[];

export interface QuadraticSpec {
  /** f₁(x, y) = ½xᵀAx + xᵀBy + ½yᵀCy + aᵀx (x: leader, y: follower). */
  A: Mat; B: Mat; C: Mat; a: Vec;
  /** f₂(x, y) = ½yᵀDy + yᵀEx + bᵀy, D symmetric positive definite. */
  D: Mat; E: Mat; b: Vec;
}

/** A default instance (leader and follower in R²) whose Stackelberg equilibrium is a strict local minimum. */
export const DEFAULT_QUADRATIC: QuadraticSpec = {
  A: [[2, 0.5], [0.5, 1]],
  B: [[1, 0], [0.5, -1]],
  C: [[1, 0], [0, 0.5]],
  a: [1, -1],
  D: [[2, 0.3], [0.3, 1]],
  E: [[1, -0.5], [0.2, 1]],
  b: [0.5, 0.2],
};

const T = (M: Mat): Mat => M[0].map((_, j) => M.map((r) => r[j]));
const mm = (P: Mat, Q: Mat): Mat => P.map((r) => Q[0].map((_, j) => r.reduce((s, v, k) => s + v * Q[k][j], 0)));
const mv = (P: Mat, v: Vec): Vec => P.map((r) => r.reduce((s, x, k) => s + x * v[k], 0));
const addM = (P: Mat, Q: Mat): Mat => P.map((r, i) => r.map((v, j) => v + Q[i][j]));
const addV = (u: Vec, v: Vec): Vec => u.map((x, i) => x + v[i]);
const negM = (P: Mat): Mat => P.map((r) => r.map((v) => -v));

/** Solves P x = q (Gaussian elimination with partial pivoting, float64). */
export function solveDense(P: Mat, q: Vec): Vec {
  const n = q.length;
  const M = P.map((r, i) => [...r, q[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    [M[c], M[p]] = [M[p], M[c]];
    if (M[c][c] === 0) throw new Error('solveDense: singular matrix');
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = M[r][n];
    for (let k = r + 1; k < n; k++) s -= M[r][k] * x[k];
    x[r] = s / M[r][r];
  }
  return x;
}

const solveM = (P: Mat, Q: Mat): Mat => T(T(Q).map((col) => solveDense(P, col)));

/** Float64 closed forms of a quadratic game: total derivative at any point, and the Stackelberg equilibrium. */
export function quadraticClosedForm(q: QuadraticSpec) {
  const n2 = q.D.length;
  const damp = (lambda: number) => q.D.map((r, i) => r.map((v, j) => v + (i === j ? lambda : 0)));
  /** ∇₁f₁ − Eᵀ(D + λI)⁻¹ ∇₂f₁ at (x, y); λ = Infinity gives ∇₁f₁. */
  const totalDerivative = (x: Vec, y: Vec, lambda = 0): Vec => {
    const g1 = addV(addV(mv(q.A, x), mv(q.B, y)), q.a);
    if (!Number.isFinite(lambda)) return g1;
    const g2 = addV(mv(T(q.B), x), mv(q.C, y));
    const z = solveDense(damp(lambda), g2);
    return g1.map((v, i) => v - mv(T(q.E), z)[i]);
  };
  const followerGrad = (x: Vec, y: Vec): Vec => addV(addV(mv(q.D, y), mv(q.E, x)), q.b);
  // Best response y*(x) = Kx + k; the leader's reduced objective is quadratic in x.
  const K = negM(solveM(q.D, q.E));
  const k = solveDense(q.D, q.b).map((v) => -v);
  const BK = mm(q.B, K);
  const M = addM(addM(addM(q.A, BK), T(BK)), mm(mm(T(K), q.C), K));
  const rhs = addV(addV(mv(q.B, k), mv(mm(T(K), q.C), k)), q.a).map((v) => -v);
  const xStar = solveDense(M, rhs);
  const yStar = addV(mv(K, xStar), k);
  void n2;
  return { totalDerivative, followerGrad, equilibrium: { leader: xStar, follower: yStar }, reducedHessian: M };
}

/** The quadratic game of `spec` (default DEFAULT_QUADRATIC) with its closed-form Stackelberg equilibrium. */
export function quadraticGame(spec: QuadraticSpec = DEFAULT_QUADRATIC, start?: { leader: Vec; follower: Vec }): Game<E.Tensor, E.Tensor> {
  const cf = quadraticClosedForm(spec);
  const n1 = spec.A.length, n2 = spec.D.length;
  // Matrices are uploaded lazily (the engine must be initialised) and cached per game.
  let t: Record<string, E.Tensor> | null = null;
  const m = () => {
    if (!t || t.A.disposed) {
      t = E.keep({
        A: E.tensor(spec.A), B: E.tensor(spec.B), C: E.tensor(spec.C), a: E.tensor(spec.a),
        D: E.tensor(spec.D), E: E.tensor(spec.E), b: E.tensor(spec.b),
      });
    }
    return t!;
  };
  const quad = (M: E.Tensor, u: E.Tensor, v: E.Tensor) => E.sum(E.mul(u, E.matmul(M, v)));
  return {
    name: 'quadratic',
    leaderLoss: (x, y) => {
      const k = m();
      return E.add(E.add(E.add(E.mul(quad(k.A, x, x), 0.5), quad(k.B, x, y)), E.mul(quad(k.C, y, y), 0.5)), E.sum(E.mul(k.a, x)));
    },
    followerLoss: (x, y) => {
      const k = m();
      return E.add(E.add(E.mul(quad(k.D, y, y), 0.5), quad(k.E, y, x)), E.sum(E.mul(k.b, y)));
    },
    init: () => ({
      leader: E.tensor(start?.leader ?? new Array(n1).fill(1)),
      follower: E.tensor(start?.follower ?? new Array(n2).fill(-1)),
    }),
    equilibrium: cf.equilibrium,
  };
}

// ------------------------------------------------------------------ bilinear game

/**
 * The bilinear zero-sum game f₁(x, y) = x·y, f₂ = −x·y + (μ/2)y² (x, y ∈ R, shape [1]).
 * Simultaneous gradient play spirals away from (0, 0); with μ = 0 the follower's Hessian is 0,
 * so the Stackelberg update needs λ > 0 (it is then ∇₁f₁ + x/λ, which pulls x to 0).
 */
export function bilinearGame(opts: { mu?: number; start?: [number, number] } = {}): Game<E.Tensor, E.Tensor> {
  const mu = opts.mu ?? 0;
  const [x0, y0] = opts.start ?? [1, 1];
  return {
    name: mu ? `bilinear (μ = ${mu})` : 'bilinear',
    leaderLoss: (x, y) => E.sum(E.mul(x, y)),
    followerLoss: (x, y) => {
      const f = E.neg(E.sum(E.mul(x, y)));
      return mu ? E.add(f, E.mul(E.sum(E.square(y)), mu / 2)) : f;
    },
    init: () => ({ leader: E.tensor([x0]), follower: E.tensor([y0]) }),
    equilibrium: { leader: [0], follower: [0] },
  };
}
