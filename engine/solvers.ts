// Implicit-differentiation solvers: Hessian-vector products and mixed second derivatives over
// parameter collections, conjugate gradient that stays on the GPU, and the Stackelberg total
// derivative built from them.
//
// Parameter collections are trees (a tensor, or arrays/objects of tensors; see flattenTree).
// Everything here is built from differentiable engine ops and the functional autodiff API, so
// it works for any function the engine can differentiate twice.
//
// Conjugate gradient keeps every scalar (α, β, ‖r‖²) as a one-element GPU tensor: an iteration
// encodes ~20 dispatches plus the caller's matvec and never reads back. The vector it iterates
// on is the tree packed into one flat buffer (each leaf at a 256-byte-aligned offset, zero
// padding between leaves), so the vector updates cost the same few dispatches for a network
// with many parameter tensors as for one tensor; the matvec sees the leaves as views of that
// buffer (no copies on the way in, one buffer copy per leaf on the way out).

import { Tensor, scope, dispose, noGrad, insideTransform, VIEW_ALIGN_FLOATS } from './tensor.ts';
import { add, sub, mul, div, sum, sqrt, gt, zeros, reshape, assign, stack } from './ops.ts';
import { grad, vjp, valueAndGrad, flattenTree, innerProduct, type Tree } from './autodiff.ts';

// ------------------------------------------------------------------ tree helpers

/** Applies fn leaf by leaf to trees of the same structure; returns a tree of that structure. */
export function treeMap(fn: (...leaves: Tensor[]) => Tensor, ...trees: unknown[]): any {
  const flats = trees.map((t) => flattenTree(t));
  const n = flats[0].leaves.length;
  for (const f of flats) if (f.leaves.length !== n) throw new Error(`treeMap: trees have ${flats.map((f) => f.leaves.length).join(' and ')} leaves`);
  return flats[0].rebuild(flats[0].leaves.map((_, i) => fn(...flats.map((f) => f.leaves[i]))));
}

/** a + b leafwise. */
export const treeAdd = (a: unknown, b: unknown) => treeMap((x, y) => add(x, y), a, b);
/** a − b leafwise. */
export const treeSub = (a: unknown, b: unknown) => treeMap((x, y) => sub(x, y), a, b);
/** s·a leafwise (s a number or a one-element tensor). */
export const treeScale = (a: unknown, s: number | Tensor) => treeMap((x) => mul(x, s), a);
/** a + s·b leafwise: the parameter update x − lr·g is treeAxpy(x, -lr, g). */
export const treeAxpy = (a: unknown, s: number | Tensor, b: unknown) => treeMap((x, y) => add(x, mul(y, s)), a, b);
/** Zeros shaped like every leaf. */
export const treeZerosLike = (a: unknown) => treeMap((x) => zeros(x.shape), a);
/** ‖a‖₂ over all leaves, as a one-element tensor. */
export const treeNorm = (a: unknown) => sqrt(innerProduct(a, a));

/** Where each leaf of a tree sits in a packed flat vector (offsets aligned for subView). */
interface Packing {
  size: number;
  offsets: number[];
  shapes: number[][];
  rebuild: (leaves: Tensor[]) => any;
  /** One leaf: the flat vector is just a reshape of it (no copies at all). */
  single: boolean;
}

function packing(tree: unknown): Packing {
  const { leaves, rebuild } = flattenTree(tree);
  if (!leaves.length) throw new Error('cg: the right-hand side has no tensors');
  const offsets: number[] = [];
  let off = 0;
  for (const l of leaves) {
    offsets.push(off);
    off += Math.ceil(Math.max(1, l.size) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
  }
  const single = leaves.length === 1;
  return { size: single ? leaves[0].size : off, offsets, shapes: leaves.map((l) => l.shape), rebuild, single };
}

function pack(P: Packing, tree: unknown): Tensor {
  const { leaves } = flattenTree(tree);
  if (leaves.length !== P.shapes.length) throw new Error(`cg: the matvec returned ${leaves.length} tensors for a ${P.shapes.length}-tensor vector`);
  leaves.forEach((l, i) => {
    if (l.shape.join() !== P.shapes[i].join()) throw new Error(`cg: matvec leaf ${i} has shape [${l.shape}] but the vector's is [${P.shapes[i]}]`);
  });
  if (P.single) return reshape(leaves[0], [P.size]);
  const flat = zeros([P.size]);
  leaves.forEach((l, i) => assign(flat.subView(P.offsets[i], [l.size]), reshape(l, [l.size])));
  return flat;
}

function unpack(P: Packing, flat: Tensor): any {
  if (P.single) return P.rebuild([reshape(flat, P.shapes[0])]);
  return P.rebuild(P.shapes.map((s, i) => flat.subView(P.offsets[i], s)));
}

// ------------------------------------------------------------------ second derivatives

/** H·v for a scalar f of one parameter collection x: the gradient of ⟨∇f(x), v⟩ (a tree like x). */
export function hessianVectorProduct(f: (x: any) => Tensor, x: Tree, v: Tree): any {
  return scope(() => grad((xx: unknown) => innerProduct(grad(f)(xx), v))(x));
}

/**
 * Mixed second derivative ∂²f/∂x∂y · v = ∇ₓ⟨∇_y f(x, y), v⟩ for a scalar f(x, y) of two
 * parameter collections; v is shaped like y, the result like x. (The matrix is ∇²ₓᵧf, of size
 * dim(x) × dim(y); this is its product with v, computed by reverse over reverse.)
 */
export function mixedVjp(f: (x: any, y: any) => Tensor, x: Tree, y: Tree, v: Tree): any {
  return scope(() => grad((xx: unknown, yy: unknown) => innerProduct(grad(f, 1)(xx, yy), v), 0)(x, y));
}

/**
 * Linearises ∇f at x once: returns the gradient and a function v ↦ H·v that reuses the recorded
 * graph of the gradient (one reverse pass per product, no new forward/backward of f). Run inside
 * scope(), or call dispose() when done.
 */
export function linearizeGrad(f: (x: any) => Tensor, x: Tree): { grad: any; hvp: (v: Tree) => any; dispose: () => void } {
  const [g, vjpFn] = vjp((xx: unknown) => grad(f)(xx), x);
  // The Hessian is symmetric, so the vjp of the gradient map is the HVP.
  return { grad: g, hvp: (v: Tree) => vjpFn(v)[0], dispose: () => vjpFn.dispose() };
}

// ------------------------------------------------------------------ conjugate gradient

export interface CgOptions {
  /** Iterations (a fixed count: no readback; default 10). */
  iters?: number;
  /**
   * Relative tolerance: once ‖r‖ ≤ tol·‖b‖ the iterate stops moving (α is masked to 0 on the
   * GPU, so the remaining iterations are no-ops and nothing is read back). Default 0 (off).
   */
  tol?: number;
  /** Tikhonov damping: solves (A + λI)x = b. Default 0. */
  lambda?: number;
  /** Initial guess (a tree like b); default zeros. */
  x0?: Tree;
  /** Also return ‖r_k‖ for k = 0..iters as a GPU tensor (one extra dispatch per iteration). */
  residuals?: boolean;
}

export interface CgResult {
  /** The solution, a tree like b. */
  x: any;
  /** Iterations run. */
  iters: number;
  /** ‖r_k‖ (k = 0..iters), when requested; read it back with `await residuals.data()`. */
  residuals?: Tensor;
}

// Guards α = ‖r‖²/⟨p, Ap⟩ and β = ‖r'‖²/‖r‖² against 0/0 once the residual is exactly zero.
const EPS = 1e-30;

interface CgState {
  x: Tensor;
  r: Tensor;
  p: Tensor;
  rs: Tensor;
  /** tol²·‖b‖² (the GPU-side stopping threshold), or null when tol is off. */
  thresh: Tensor | null;
  res: Tensor[];
}

function cgStart(P: Packing, matvec: (v: any) => any, b: unknown, o: CgOptions): CgState {
  const lambda = o.lambda ?? 0;
  const bf = pack(P, b);
  let x: Tensor, r: Tensor;
  if (o.x0) {
    x = pack(P, o.x0);
    const ax = pack(P, matvec(unpack(P, x)));
    r = sub(bf, lambda ? add(ax, mul(x, lambda)) : ax);
  } else {
    x = zeros([P.size]);
    r = bf;
  }
  const rs = sum(mul(r, r));
  const thresh = o.tol ? mul(sum(mul(bf, bf)), o.tol * o.tol) : null;
  return { x, r, p: r, rs, thresh, res: o.residuals ? [sqrt(rs)] : [] };
}

function cgStep(P: Packing, matvec: (v: any) => any, s: CgState, o: CgOptions): CgState {
  const lambda = o.lambda ?? 0;
  const Ap0 = pack(P, matvec(unpack(P, s.p)));
  const Ap = lambda ? add(Ap0, mul(s.p, lambda)) : Ap0;
  let alpha = div(s.rs, add(sum(mul(s.p, Ap)), EPS));
  if (s.thresh) alpha = mul(alpha, gt(s.rs, s.thresh));
  const x = add(s.x, mul(s.p, alpha));
  const r = sub(s.r, mul(Ap, alpha));
  const rs = sum(mul(r, r));
  const beta = div(rs, add(s.rs, EPS));
  const p = add(r, mul(s.p, beta));
  return { x, r, p, rs, thresh: s.thresh, res: o.residuals ? [...s.res, sqrt(rs)] : s.res };
}

function cgFinish(P: Packing, s: CgState, iters: number, o: CgOptions): CgResult {
  const out: CgResult = { x: unpack(P, s.x), iters };
  if (o.residuals) out.residuals = stack(s.res.map((t) => reshape(t, [])));
  return out;
}

/**
 * Conjugate gradient for (A + λI)x = b with A symmetric positive (semi)definite and given only
 * as a matrix-free `matvec` (a tree → tree function, e.g. a Hessian-vector product). Runs a
 * fixed number of iterations entirely on the GPU: no readback, all scalars stay on the device.
 * With `tol`, converged iterations become no-ops on the GPU (see CgOptions.tol); use cgAsync to
 * stop early instead. The matvec runs without gradient recording at top level.
 */
export function cg(matvec: (v: any) => any, b: Tree, opts: CgOptions = {}): CgResult {
  const iters = opts.iters ?? 10;
  return scope(() => {
    const P = packing(b);
    let s = cgStart(P, matvec, b, opts);
    for (let k = 0; k < iters; k++) s = cgStep(P, matvec, s, opts);
    return cgFinish(P, s, iters, opts);
  });
}

export interface CgAsyncOptions extends CgOptions {
  /** Read ‖r‖ back every this many iterations and stop once ‖r‖ ≤ tol·‖b‖ (default 5). */
  checkEvery?: number;
}

/**
 * Conjugate gradient that stops early: runs `checkEvery` iterations on the GPU, then reads ‖r‖
 * back once (one readback per chunk, never per iteration) and stops once ‖r‖ ≤ tol·‖b‖ or after
 * `iters` iterations (default 100). Returns the iterations actually run.
 */
export async function cgAsync(matvec: (v: any) => any, b: Tree, opts: CgAsyncOptions = {}): Promise<CgResult> {
  const iters = opts.iters ?? 100;
  const every = Math.max(1, opts.checkEvery ?? 5);
  const tol = opts.tol ?? 1e-6;
  // The masked (GPU-side) tolerance is unnecessary here: the loop stops instead.
  const o: CgOptions = { ...opts, tol: 0 };
  const P = packing(b);
  let s = scope(() => {
    const st = cgStart(P, matvec, b, o);
    return { ...st, bn: sum(mul(pack(P, b), pack(P, b))) };
  });
  const bnorm2 = (await s.bn.item()) as number;
  s.bn.dispose();
  const target = tol * tol * bnorm2;
  let k = 0;
  let rs = await s.rs.item();
  while (k < iters && rs > target) {
    const n = Math.min(every, iters - k);
    const prev = s;
    s = scope(() => {
      let t: CgState = prev;
      for (let i = 0; i < n; i++) t = cgStep(P, matvec, t, o);
      return { ...t, bn: prev.bn };
    });
    const keepRes = new Set(s.res);
    for (const t of [prev.x, prev.r, prev.p, prev.rs]) if (t !== s.x && t !== s.r && t !== s.p && !keepRes.has(t)) t.dispose();
    k += n;
    rs = await s.rs.item();
  }
  const out = scope(() => cgFinish(P, s, k, opts));
  // Everything but the returned solution/residual history goes (views keep x's buffer alive).
  dispose([s.x, s.r, s.p, s.rs, s.res]);
  return out;
}

// ------------------------------------------------------------------ total derivative

export interface TotalDerivativeOptions<L extends Tree, F extends Tree> {
  /** f₁(leader, follower): the leader's objective (minimised). */
  leaderLoss: (leader: L, follower: F) => Tensor;
  /** f₂(leader, follower): the follower's objective (minimised). */
  followerLoss: (leader: L, follower: F) => Tensor;
  leader: L;
  follower: F;
  /** Tikhonov damping of the follower Hessian (default 0). */
  lambda?: number;
  /** Conjugate-gradient iterations (default 10, x₀ = 0). */
  cgIters?: number;
  /** Warm start for the CG solve (a tree like follower), e.g. last step's `implicit`. */
  x0?: F;
  /** Return the CG residual history ‖r_k‖ (k = 0..cgIters). */
  residuals?: boolean;
}

export interface TotalDerivativeResult<L, F> {
  /** ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁, shaped like the leader. */
  leaderGrad: L;
  /** The follower's individual gradient ∇₂f₂ (its own update direction). */
  followerGrad: F;
  /** The leader's individual gradient ∇₁f₁ (the λ → ∞ limit of leaderGrad). */
  leaderIndividualGrad: L;
  /** f₁'s value at (leader, follower). */
  leaderValue: Tensor;
  /** q = (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁ as solved by CG (shaped like the follower; a warm start for the next call). */
  implicit: F;
  residuals?: Tensor;
}

/**
 * The Stackelberg leader's total derivative, for a follower that minimises f₂ (its best response
 * solves ∇₂f₂ = 0), together with the follower's gradient, from one call and with no readback:
 *
 *   ∇f₁ = ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁
 *
 * One forward/backward of f₁ gives ∇₁f₁ and ∇₂f₁; ∇₂f₂ is recorded once (as a function of both
 * players) and CG (x₀ = 0 or the warm start) solves the damped system with one reverse pass per
 * iteration; the mixed term ∇₁⟨∇₂f₂, q⟩ is one more reverse pass over the same graph. λ → ∞ gives the individual gradient ∇₁f₁; λ = 0 with enough CG iterations gives
 * the implicit-function-theorem derivative.
 */
export function totalDerivative<L extends Tree, F extends Tree>(o: TotalDerivativeOptions<L, F>): TotalDerivativeResult<L, F> {
  return scope(() => {
    const [leaderValue, [g1, g2]] = valueAndGrad(o.leaderLoss, [0, 1])(o.leader, o.follower);
    // ∇₂f₂ is recorded once as a function of BOTH players: the leader is a variable of an outer
    // vjp, the follower of the inner linearisation. CG's HVPs walk only the follower-dependent
    // part of that graph (no recording: noGrad), and the mixed term ∇₁⟨∇₂f₂, q⟩ is then one
    // reverse pass of the outer vjp over the same graph, not a fresh forward/backward of f₂.
    let sol: CgResult | null = null;
    const [g2f2, outer] = vjp((x: L) => {
      const lin = linearizeGrad((y: F) => o.followerLoss(x, y), o.follower);
      sol = noGrad(() => cg(lin.hvp, g2, { iters: o.cgIters ?? 10, lambda: o.lambda ?? 0, x0: o.x0, residuals: o.residuals }));
      return lin.grad;
    }, o.leader);
    const { x: q, residuals } = sol as unknown as CgResult;
    const [mixed] = outer(q);
    const leaderGrad = treeSub(g1, mixed);
    // The follower gradient's graph is not needed by anything returned: unlink it so the scope
    // frees it (inside an enclosing transformation it stays, for higher derivatives).
    if (!insideTransform()) for (const t of flattenTree(g2f2).leaves) t.node = null;
    const res: TotalDerivativeResult<L, F> = {
      leaderGrad, followerGrad: g2f2, leaderIndividualGrad: g1, leaderValue, implicit: q,
    };
    if (residuals) res.residuals = residuals;
    return res;
  });
}
