// Two-player (leader/follower) games and their learning dynamics.
//
// Sign convention: BOTH players MINIMISE their own objective. The leader minimises
// f₁(leader, follower) and the follower minimises f₂(leader, follower); a player that maximises
// something (an actor maximising its return J) is given f = −J. The Stackelberg total derivative
// ∇f₁ = ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁ assumes this: the follower's best response solves ∇₂f₂ = 0.
//
// Parameters are trees of tensors (a tensor, or arrays/objects of tensors). An update rule is
// chosen by one option (`rule.kind`); `step` encodes one update on the GPU with no readback, and
// `play` runs many, recording the trajectory with one readback per `readEvery` iterations.

import * as E from '../engine/index.ts';
import { treeAxpy, totalDerivative } from '../engine/solvers.ts';

type Tree = E.Tree;

/** f₁ or f₂ of a game: a scalar of both players' parameters. */
export type Objective<L, F> = (leader: L, follower: F) => E.Tensor;

export interface Game<L extends Tree = E.Tensor, F extends Tree = E.Tensor> {
  name: string;
  /** f₁(leader, follower), minimised by the leader. */
  leaderLoss: Objective<L, F>;
  /** f₂(leader, follower), minimised by the follower. */
  followerLoss: Objective<L, F>;
  /** Starting parameters (fresh tensors). */
  init(): { leader: L; follower: F };
  /** A (local) Stackelberg equilibrium as flat leader/follower values, when known in closed form. */
  equilibrium?: { leader: number[]; follower: number[] };
}

export interface GameState<L extends Tree = E.Tensor, F extends Tree = E.Tensor> {
  leader: L;
  follower: F;
}

/**
 * The update rules (one option swaps them). Learning rates are plain step sizes of gradient
 * descent on each player's own objective.
 *
 * - `simultaneous`: individual gradient play. Both players step along their own partial gradient,
 *   both evaluated at the same point: x₁ ← x₁ − η₁∇₁f₁, x₂ ← x₂ − η₂∇₂f₂.
 * - `stackelberg`: the leader steps along the total derivative (λ-regularised, CG with
 *   `cgIters` iterations), the follower along ∇₂f₂ at the same point; then the follower takes
 *   `followerSteps − 1` more steps (m follower unroll steps per leader step, default m = 1) at
 *   the new leader parameters.
 * - `twoTimescale`: leader first, then follower, both individual gradients with stop-gradients
 *   (each player treats the other's parameters as constants); the follower sees the leader's new
 *   parameters. Typically η₂ ≫ η₁ (the follower on the fast timescale), and `followerSteps` > 1.
 */
export type UpdateRule =
  | { kind: 'simultaneous'; leaderLr: number; followerLr?: number }
  | { kind: 'stackelberg'; leaderLr: number; followerLr?: number; lambda?: number; cgIters?: number; followerSteps?: number }
  | { kind: 'twoTimescale'; leaderLr: number; followerLr: number; followerSteps?: number };

// ------------------------------------------------------------------ gradients for any optimiser

/**
 * How the leader's gradient is formed (the follower always uses its individual gradient ∇₂f₂):
 *
 * - `sequential`: the papers' leader-then-follower update with stop-gradients (SPRIG's
 *   Algorithm 1, SCORER, two-timescale play): ∇₁f₁ at the current follower, which is treated
 *   as a constant.
 * - `total`: the Stackelberg gradient, the leader differentiating through the follower's best
 *   response: ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁, the inverse by `cgIters` CG iterations started
 *   from `warmStart` (the previous call's `implicit`; zeros when absent). CG meets negative
 *   curvature when ∇²₂₂f₂ + λI is indefinite (a ReLU critic's loss): `negativeCurvature` 'stop'
 *   (default: truncated CG keeps the iterate before that direction) or 'damp' (that direction
 *   gets curvature |pᵀAp| + μ‖p‖²), counted on the GPU either way. λ → ∞ recovers `sequential`.
 *   The follower unroll m (extra follower steps per leader step) belongs to the caller's loop:
 *   it applies `followerGradient` m times with its own optimiser.
 */
export type LeaderRule<F extends Tree = Tree> =
  | { kind: 'sequential' }
  | { kind: 'total'; lambda: number; cgIters: number; warmStart?: F; negativeCurvature?: 'stop' | 'damp' | 'ignore'; curvatureDamping?: number };

export interface StackelbergGradients<L extends Tree, F extends Tree> {
  /** The leader's update direction (descent on f₁), shaped like the leader. */
  leaderGrad: L;
  /** f₁ at (leader, follower). */
  leaderValue: E.Tensor;
  /** `total` only: the follower's ∇₂f₂ at the same point (computed on the way). */
  followerGrad?: F;
  /** `total` only: the CG solution q ≈ (∇²₂₂f₂ + λI)⁻¹∇₂f₁; keep it (E.keep) as the next call's warm start. */
  implicit?: F;
  /** `total` only: one-element tensor, the number of CG directions with pᵀ(∇²₂₂f₂ + λI)p ≤ 0 (no readback). */
  negativeCurvature?: E.Tensor;
  /** Frees every tensor above except those the caller kept (E.keep). */
  dispose(): void;
}

/**
 * The leader's gradient under `rule`, for any optimiser to apply (nothing is updated here).
 * Encodes GPU work only; no readback.
 */
export function stackelbergGradients<L extends Tree, F extends Tree>(
  game: Pick<Game<L, F>, 'leaderLoss' | 'followerLoss'>, leader: L, follower: F, rule: LeaderRule<F>,
): StackelbergGradients<L, F> {
  const out: Omit<StackelbergGradients<L, F>, 'dispose'> = E.scope(() => {
    if (rule.kind === 'sequential') {
      const [v, g] = E.valueAndGrad((x: L) => game.leaderLoss(x, follower))(leader);
      return { leaderGrad: g as L, leaderValue: v };
    }
    if (rule.kind === 'total') {
      if (!(rule.lambda >= 0) || !Number.isInteger(rule.cgIters) || rule.cgIters < 1) {
        throw new Error(`stackelbergGradients: 'total' needs lambda ≥ 0 and an integer cgIters ≥ 1, got lambda ${rule.lambda}, cgIters ${rule.cgIters}`);
      }
      const td = totalDerivative({
        leaderLoss: game.leaderLoss, followerLoss: game.followerLoss, leader, follower,
        lambda: rule.lambda, cgIters: rule.cgIters, x0: rule.warmStart,
        negativeCurvature: rule.negativeCurvature ?? 'stop', curvatureDamping: rule.curvatureDamping,
      });
      E.dispose(td.leaderIndividualGrad);
      return { leaderGrad: td.leaderGrad, leaderValue: td.leaderValue, followerGrad: td.followerGrad, implicit: td.implicit, negativeCurvature: td.negativeCurvature };
    }
    throw new Error(`stackelbergGradients: unknown leader rule '${(rule as { kind: string }).kind}' (use 'sequential' or 'total')`);
  });
  const all = [out.leaderGrad, out.leaderValue, out.followerGrad, out.implicit, out.negativeCurvature].filter((x) => x !== undefined);
  return { ...out, dispose: () => E.dispose(all.flatMap((x) => E.flattenTree(x as Tree).leaves).filter((t) => !t.kept)) };
}

/** The follower's individual gradient ∇₂f₂ (the leader held constant), for any optimiser. */
export function followerGradient<L extends Tree, F extends Tree>(game: Pick<Game<L, F>, 'followerLoss'>, leader: L, follower: F): { grad: F; value: E.Tensor } {
  const [v, g] = E.valueAndGrad((y: F) => game.followerLoss(leader, y))(follower);
  return { grad: g as F, value: v };
}

/**
 * One update of both players under `rule`, as plain gradient descent with the rule's step sizes
 * (the gradients come from stackelbergGradients / followerGradient, as any other optimiser would
 * use them): returns new parameter trees (the old ones are left to the caller). Encodes GPU work
 * only: no readback. Run it inside E.scope or dispose the old state.
 */
export function step<L extends Tree, F extends Tree>(game: Game<L, F>, s: GameState<L, F>, rule: UpdateRule): GameState<L, F> {
  return E.scope(() => {
    const lr2 = rule.followerLr ?? rule.leaderLr;
    const follow = (leader: L, follower: F, lr: number): F => treeAxpy(follower, -lr, followerGradient(game, leader, follower).grad);
    if (rule.kind === 'simultaneous') {
      const g1 = stackelbergGradients(game, s.leader, s.follower, { kind: 'sequential' }).leaderGrad;
      return { leader: treeAxpy(s.leader, -rule.leaderLr, g1), follower: follow(s.leader, s.follower, lr2) };
    }
    if (rule.kind === 'stackelberg') {
      const r = stackelbergGradients(game, s.leader, s.follower, { kind: 'total', lambda: rule.lambda ?? 0, cgIters: rule.cgIters ?? 10 });
      const leader: L = treeAxpy(s.leader, -rule.leaderLr, r.leaderGrad);
      let follower: F = treeAxpy(s.follower, -lr2, r.followerGrad!);
      for (let k = 1; k < (rule.followerSteps ?? 1); k++) follower = follow(leader, follower, lr2);
      return { leader, follower };
    }
    if (rule.kind === 'twoTimescale') {
      const g1 = stackelbergGradients(game, s.leader, s.follower, { kind: 'sequential' }).leaderGrad;
      const leader: L = treeAxpy(s.leader, -rule.leaderLr, g1);
      let follower = s.follower;
      for (let k = 0; k < (rule.followerSteps ?? 1); k++) follower = follow(leader, follower, rule.followerLr);
      return { leader, follower };
    }
    throw new Error(`step: unknown update rule ${(rule as { kind: string }).kind}`);
  });
}

/** Flat values of a tree (leaves in flattenTree order), as one tensor. */
function flatValues(t: Tree): E.Tensor {
  const { leaves } = E.flattenTree(t);
  return leaves.length === 1 ? E.reshape(leaves[0], [leaves[0].size]) : E.concat(leaves.map((l) => E.reshape(l, [l.size])));
}

export interface PlayOptions {
  /** Record the parameters every this many iterations (default 1; iteration 0 and the last are always recorded). */
  recordEvery?: number;
  /** Read the recorded values back every this many records (default 1000): bounds GPU memory and readbacks. */
  readEvery?: number;
  /** Wait for the GPU every this many iterations (default 100; see play). */
  syncEvery?: number;
  /** Called after each readback with the iterations done so far. */
  onProgress?: (done: number) => void;
}

export interface Trajectory {
  /** Iteration index of each record. */
  iters: number[];
  /** Flat leader / follower values at each record. */
  leader: number[][];
  follower: number[][];
  /** Final parameters (tensors owned by the caller). */
  final: GameState<any, any>;
}

/**
 * Runs `iters` updates of `rule` from `start` (not modified or disposed), recording the flat
 * parameters. GPU work is encoded back to back; values come back in batches (one readback per
 * `readEvery` records).
 */
export async function play<L extends Tree, F extends Tree>(
  game: Game<L, F>, start: GameState<L, F>, rule: UpdateRule, iters: number, opts: PlayOptions = {},
): Promise<Trajectory> {
  const every = Math.max(1, opts.recordEvery ?? 1);
  const readEveryOpt = Math.max(1, opts.readEvery ?? 1000);
  const syncEvery = Math.max(1, opts.syncEvery ?? 100);
  const out: Trajectory = { iters: [], leader: [], follower: [], final: start };
  // Records are copied into one GPU history buffer (a 256-byte-aligned slot each: a buffer copy,
  // no dispatch) that is read back whole every `readEvery` records. (Holding hundreds of small
  // record tensors instead grew lavapipe's memory until it crashed in our 50,000-step runs.)
  const nl = E.flattenTree(start.leader).leaves.reduce((a, t) => a + t.size, 0);
  const nf = E.flattenTree(start.follower).leaves.reduce((a, t) => a + t.size, 0);
  const stride = Math.ceil((nl + nf) / 64) * 64;
  // Big players (networks): fewer records per chunk, so the history buffer stays ≤ 16 MB.
  const readEvery = Math.max(1, Math.min(readEveryOpt, Math.floor((4 << 20) / stride)));
  let hist: E.Tensor | null = null;
  let pending: number[] = [];
  const flushRecords = async () => {
    if (!pending.length || !hist) return;
    const vals = await hist.data();
    pending.forEach((it, i) => {
      out.iters.push(it);
      out.leader.push(Array.from(vals.subarray(i * stride, i * stride + nl)));
      out.follower.push(Array.from(vals.subarray(i * stride + nl, i * stride + nl + nf)));
    });
    pending = [];
  };
  const snap = (it: number, s: GameState<L, F>) => {
    hist ??= E.zeros([readEvery * stride]);
    const h = hist;
    E.scope(() => {
      const row = E.concat([flatValues(s.leader), flatValues(s.follower)]);
      E.assign(h.subView(pending.length * stride, [nl + nf]), row);
    });
    pending.push(it);
  };
  let s = start;
  snap(0, s);
  for (let k = 1; k <= iters; k++) {
    const next = step(game, s, rule);
    if (s !== start) E.dispose([s.leader, s.follower]);
    s = next;
    if (k % every === 0 || k === iters) snap(k, s);
    if (pending.length >= readEvery) {
      await flushRecords();
      opts.onProgress?.(k);
    } else if (k % syncEvery === 0) {
      // Waiting for the GPU now and then lets Dawn retire finished work (bind groups, descriptor
      // pools): encoding ~10⁵ dispatches with no wait crashed lavapipe in our runs.
      await E.sync();
    }
  }
  await flushRecords();
  (hist as E.Tensor | null)?.dispose();
  const copy = (t: Tree) => E.scope(() => E.flattenTree(t).rebuild(E.flattenTree(t).leaves.map((x) => E.clone(x))));
  out.final = s === start ? { leader: copy(start.leader), follower: copy(start.follower) } : s;
  return out;
}

/** How many times a sequence changes sign (zeros skipped): counts cycling around an equilibrium. */
export function signChanges(xs: ArrayLike<number>): number {
  let n = 0, prev = 0;
  for (let i = 0; i < xs.length; i++) {
    const s = Math.sign(xs[i]);
    if (s === 0) continue;
    if (prev !== 0 && s !== prev) n++;
    prev = s;
  }
  return n;
}

/** Euclidean distance of each record of a trajectory to a point (leader ++ follower). */
export function distanceTo(t: Trajectory, eq: { leader: number[]; follower: number[] }): number[] {
  return t.iters.map((_, i) => {
    let d = 0;
    t.leader[i].forEach((v, j) => (d += (v - eq.leader[j]) ** 2));
    t.follower[i].forEach((v, j) => (d += (v - eq.follower[j]) ** 2));
    return Math.sqrt(d);
  });
}
