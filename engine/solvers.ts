// Implicit-differentiation solvers: Hessian-vector products and mixed second derivatives over
// parameter collections, conjugate gradient that stays on the GPU, and the Stackelberg total
// derivative built from them.
//
// Parameter collections are trees (a tensor, or arrays/objects of tensors; see flattenTree).
// Everything here is built from differentiable engine ops and the functional autodiff API, so
// it works for any function the engine can differentiate twice.
//
// Conjugate gradient never reads back. By default every scalar (α, β, ‖r‖², flags) lives in a
// small GPU state buffer and an iteration is one fused kernel (kernels/cg.ts) plus the caller's
// matvec; inside an active grad/vjp, or with `fused: false`, it is composed from differentiable
// ops (~45 dispatches an iteration). With `replay`, the matvec's GPU work is recorded on the first
// iteration and later iterations replay only what depends on the vector (an HVP's primal passes
// run once; dual kernels replay their tangent half only).
// The vector it iterates on is the tree packed into one flat buffer (each leaf at a 256-byte-
// aligned offset, zero padding between leaves), so an iteration costs the same one dispatch for
// a network with many parameter tensors as for one tensor; the matvec sees the leaves as views
// of that buffer.
//
// API for callers that solve repeatedly (the Stackelberg leader update, games/):
//   const sol = cg(hvp, b, { iters: 10, lambda, x0: prev?.x, negativeCurvature: 'stop' });
//   // sol.x: keep it (it owns its buffer) and pass it as x0 next time: warm start.
//   // sol.negativeCurvature: one-element GPU tensor, # directions with pᵀ(A+λI)p ≤ 0; add it
//   //   to a running GPU counter and read that when logging (no readback here).
// totalDerivative takes the same x0 / negativeCurvature options and returns `implicit` (the
// solution, to warm-start the next call) and `negativeCurvature`.

import {
  Tensor, scope, dispose, noGrad, insideTransform, isGradEnabled, allocTensor, runtime, VIEW_ALIGN_FLOATS, captureCreated, deferDisposal, releaseDeferred, keep, disposalDeferred,
} from './tensor.ts';
import { f32bits, type DispatchArgs } from './runtime.ts';
import {
  add, sub, mul, div, sum, sqrt, gt, le, ne, abs, maximum, where, zeros, full, reshape, assign, stack, concat, clone,
} from './ops.ts';
import { cgKernel, cgKernelVec4, cgKernelAcc, cgKernelVec4Acc, CG_HIST, CG_NEG_MODES } from '../kernels/cg.ts';
import { outputTangentKernel, outputDualKernel, OUTPUT_DUAL_MAX_ROWS } from '../kernels/nn.ts';
import { memoKernel } from '../kernels/common.ts';
import { grad, vjp, jvp, hvp, valueAndGrad, flattenTree, innerProduct, type Tree } from './autodiff.ts';

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

/**
 * H·v for a scalar f of one parameter collection x (a tree like x). Forward over reverse (the
 * engine's `hvp`: the jvp of ∇f along v, one forward and one backward pass carrying tangents,
 * value and tangent in one dual kernel where an op has one); about 1–1.3 gradients on this
 * engine against 2.2–2.9 for the gradient of ⟨∇f(x), v⟩ (docs/actor-critic.md, Speed).
 */
export function hessianVectorProduct(f: (x: any) => Tensor, x: Tree, v: Tree, opts: HvpOptions = {}): any {
  return scope(() => {
    // Only what the product needs runs: forward over reverse computes ∇f too, and the backward's
    // dual kernels write value and tangent; with their values dead they run tangent-only, and the
    // loss value's tangent does not run at all (liveOnly). Inside a transformation or a recording
    // (CG's replay), the plain path.
    if (insideTransform() || disposalDeferred()) return hvp((xx: unknown) => f(xx), [x], [v])[0];
    let out: any;
    liveOnly(() => flattenTree((out = hvp((xx: unknown) => f(xx), [x], [v])[0])).leaves, opts.fuseOutput ?? true);
    return out;
  });
}

export interface HvpOptions {
  /**
   * A 1-wide output layer and its MSE loss (rl/'s critics) run value and tangent in one kernel
   * (kernels/nn.ts outputDualKernel) instead of four dispatches (default true; fuseOutputDual).
   * false: the four dual kernels, for benchmarks that compare both in one process.
   */
  fuseOutput?: boolean;
}

/**
 * Runs fn with its GPU work deferred (dispatches and copies logged, disposal held back), then only
 * the work that reaches the tensors it returns, each dual kernel whose primal half nothing reads in
 * its tangent-only form (liveOps), and with `fuse` a 1-wide output layer and its MSE loss in one
 * kernel (fuseOutputDual). fn must not read back or branch on GPU values.
 */
function liveOnly(fn: () => Tensor[], fuse = false): void {
  const rt = runtime() as unknown as Hookable;
  const log: TapeOp[] = [];
  const [d0, c0] = [rt.dispatch, rt.copy];
  const unhook = hookRuntime({
    dispatch: (a: DispatchArgs) => {
      log.push({ d: a });
    },
    copy: (...a: CopyArgs) => {
      log.push({ c: a });
    },
  });
  let cap: { result: Tensor[]; held: Tensor[] };
  try {
    cap = deferDisposal(fn);
  } finally {
    unhook();
  }
  let keep = liveOps(cap.result.map((t) => span(t.bufferFor('hvp'))), log.map((op) => ({ op, writes: opOuts(op), whole: true }))).filter((op): op is TapeOp => !!op);
  if (fuse) keep = fuseOutputDual(keep);
  for (const op of keep) {
    if ('d' in op) d0.call(rt, op.d);
    else c0.apply(rt, op.c);
  }
  releaseDeferred(cap.held);
}

/** H·v by reverse over reverse (the gradient of ⟨∇f(x), v⟩): the reference for the forward path. */
export function hessianVectorProductReverse(f: (x: any) => Tensor, x: Tree, v: Tree): any {
  return scope(() => grad((xx: unknown) => innerProduct(grad(f)(xx), v))(x));
}

/**
 * Mixed second derivative ∂²f/∂x∂y · v = ∇ₓ⟨∇_y f(x, y), v⟩ for a scalar f(x, y) of two
 * parameter collections; v is shaped like y, the result like x. (The matrix is ∇²ₓᵧf, of size
 * dim(x) × dim(y).) Forward over reverse: the directional derivative along v (in y) of
 * y ↦ ∇ₓf(x, y), since ∂_y[∇ₓf]·v = ∇ₓ⟨∇_y f, v⟩ (symmetry of second derivatives).
 */
export function mixedVjp(f: (x: any, y: any) => Tensor, x: Tree, y: Tree, v: Tree): any {
  return scope(() => jvp((yy: unknown) => grad(f, 0)(x, yy), [y], [v])[1]);
}

/** mixedVjp by reverse over reverse: the reference for the forward path. */
export function mixedVjpReverse(f: (x: any, y: any) => Tensor, x: Tree, y: Tree, v: Tree): any {
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

/**
 * What CG does on a direction p with pᵀ(A+λI)p ≤ 0 (the Hessian of a ReLU critic's loss is in
 * general indefinite, so this happens in practice):
 * - 'stop' (default): the iterate stays where it was before that direction (a truncated-CG /
 *   Steihaug stop); the remaining iterations are no-ops on the GPU.
 * - 'damp': that direction is taken with curvature |pᵀ(A+λI)p| + μ‖p‖² (μ = curvatureDamping),
 *   i.e. the Hessian reflected and shifted along p, as saddle-free/damped Newton methods do; the
 *   residual stays exact (r = b − (A+λI)x), CG continues.
 * - 'ignore': plain CG (the step along p uses the negative curvature as is).
 * In every mode the event is counted on the GPU (CgResult.negativeCurvature), never read back.
 */
export type NegativeCurvatureMode = 'stop' | 'damp' | 'ignore';

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
  /** Initial guess (a tree like b); default zeros. Pass the previous solve's `x` to warm-start. */
  x0?: Tree;
  /** Also return ‖r_k‖ for k = 0..iters as a GPU tensor. */
  residuals?: boolean;
  /** See NegativeCurvatureMode (default 'stop'). */
  negativeCurvature?: NegativeCurvatureMode;
  /** μ of the 'damp' mode (default 1). */
  curvatureDamping?: number;
  /**
   * true (default): one fused kernel per iteration (kernels/cg.ts), used when the solve is not
   * itself being differentiated. false: composed from differentiable engine ops (~30 dispatches
   * per iteration; also what runs inside an active grad/vjp). The native crash that made it
   * opt-in for a while was the runtime's, not this kernel's (unreleased bind groups exhausting
   * lavapipe's memory mappings; docs/engine.md § Execution), fixed there.
   */
  fused?: boolean;
  /**
   * Replay the matvec (fused path only; default false): the first product runs normally while
   * its GPU work is recorded (nothing it frees is reused meanwhile); later products replay only
   * the recorded dispatches and copies that depend on the vector, reading the outputs of the
   * others (work that is the same for every vector, e.g. the primal passes an HVP's forward
   * mode recomputes) from the first product's buffers. Valid when the matvec is a fixed
   * function of its argument's values during the solve: no fresh random draws, no readbacks,
   * no host-side branching on the vector. totalDerivative's forward-over-reverse products use it.
   */
  replay?: boolean;
  /**
   * Internal (totalDerivative's mixed term): with `replay`, the recorded first product calls this
   * instead of `matvec`; it returns the product and side outputs, tensors computed from the same
   * vector that the product does not need (e.g. the leader's tangent). The first product then runs
   * only what the product and the tensors it keeps need; after the solve the side outputs' work is
   * replayed with the solution in place of the vector, and CgResult.side holds copies of them.
   */
  sideMatvec?: (v: any) => { out: any; side: Tensor[] };
  /**
   * Internal (totalDerivative): with `replay`, submit the encoded work once the first product has
   * been recorded, so the GPU runs it while the host encodes the replayed products.
   */
  submitAfterFirst?: boolean;
  /**
   * Internal (totalDerivative): the primal work of f₁'s gradient, which ran just before the solve.
   * With `sideMatvec`, the recorded first product copies the outputs of its dispatches that repeat
   * one of that pass's (same kernel, parameters and input values) instead of running them again.
   */
  primalCache?: PrimalCache;
  /**
   * With `replay` (default true): the replayed products run the tangent dispatches of a 1-wide
   * output layer and its MSE loss as one kernel (kernels/nn.ts outputTangentKernel). false: as recorded.
   */
  fuseReplay?: boolean;
  /**
   * Internal (with `sideMatvec`, x₀ = 0; default true): CG's kernel carries the one tangent range
   * through which the side work meets the product along with x (Tape.side.acc), so that after the
   * solve only the side work's own ops run.
   */
  accumulateSide?: boolean;
}

export interface CgResult {
  /** The solution, a tree like b (keep it to warm-start the next solve: `x0: result.x`). */
  x: any;
  /** Iterations run. */
  iters: number;
  /** ‖r_k‖ (k = 0..iters), when requested; read it back with `await residuals.data()`. */
  residuals?: Tensor;
  /**
   * A one-element GPU tensor: how many search directions had pᵀ(A+λI)p ≤ 0 while CG was still
   * moving (0 or 1 in 'stop' mode, where 1 means CG stopped there). No readback: add it to a
   * running GPU counter and read that when logging.
   */
  negativeCurvature: Tensor;
  /** CgOptions.sideMatvec's side outputs at the solution x (absent when no product was recorded). */
  side?: Tensor[];
}

const NEG_MODES: readonly NegativeCurvatureMode[] = ['stop', 'damp', 'ignore'];

function checkCgOptions(o: CgOptions, who: string) {
  const mode = o.negativeCurvature ?? 'stop';
  if (!NEG_MODES.includes(mode)) throw new Error(`${who}: negativeCurvature must be one of ${NEG_MODES.join(', ')}, got '${mode}'`);
  const lambda = o.lambda ?? 0;
  if (!Number.isFinite(lambda) || lambda < 0) throw new Error(`${who}: lambda must be a finite number ≥ 0, got ${lambda}`);
  const mu = o.curvatureDamping ?? 1;
  if (!Number.isFinite(mu) || mu < 0) throw new Error(`${who}: curvatureDamping must be a finite number ≥ 0, got ${mu}`);
  return { mode, lambda, mu };
}

/** A CG solve in progress: `step` encodes one iteration; `header` is [‖r‖², tol²‖b‖², stopped, negatives]. */
interface CgRun {
  step(k: number): void;
  header(): Tensor;
  finish(iters: number): CgResult;
  /** Releases the run's state (what finish returned stays). */
  dispose(): void;
}

/**
 * The packed matvec output, never sharing a buffer with the vector it was given (identity
 * matvecs). `into` (a packed buffer whose padding is zero) receives the leaves by buffer copies,
 * so a many-leaf tree costs no fill dispatch per iteration.
 */
function packMatvec(P: Packing, matvec: (v: any) => any, p: Tensor, avoid: Tensor[], into: Tensor | null): Tensor {
  return packProduct(P, matvec(unpack(P, p)), avoid, into);
}
function packProduct(P: Packing, y: any, avoid: Tensor[], into: Tensor | null): Tensor {
  if (into && !P.single) {
    const { leaves } = flattenTree(y);
    if (leaves.length !== P.shapes.length) throw new Error(`cg: the matvec returned ${leaves.length} tensors for a ${P.shapes.length}-tensor vector`);
    leaves.forEach((l, i) => {
      if (l.shape.join() !== P.shapes[i].join()) throw new Error(`cg: matvec leaf ${i} has shape [${l.shape}] but the vector's is [${P.shapes[i]}]`);
      const v = into.subView(P.offsets[i], [l.size]);
      assign(v, reshape(l, [l.size]));
      v.dispose();
    });
    return into;
  }
  const out = pack(P, y);
  const ob = out.buffer.buffer;
  return avoid.some((t) => t.buffer.buffer === ob) ? clone(out) : out;
}

/** One element of a buffer as a new scalar tensor (a buffer copy, no dispatch). */
function element(t: Tensor, i: number): Tensor {
  const out = allocTensor([]);
  const b = t.bufferFor('cg');
  runtime().copy(b.buffer, b.offset + 4 * i, out.buffer.buffer, out.buffer.offset, 4);
  return out;
}

function fusedRun(P: Packing, matvec: (v: any) => any, b: unknown, o: CgOptions, maxIters: number): CgRun {
  const { mode, lambda, mu } = checkCgOptions(o, 'cg');
  const n = P.size;
  const hist = o.residuals ? 1 : 0;
  const words = (k: number) => [n, k, CG_NEG_MODES[mode], hist, f32bits(lambda), f32bits(mu), f32bits((o.tol ?? 0) ** 2), 0];
  const rt = runtime();
  // vec4 loops where the packed length allows (a multi-leaf packing always does: 64-float slots)
  const kern = n % 4 === 0 ? cgKernelVec4 : cgKernel;
  // Owned state: x, r, p, the scalars; the kernel updates them in place.
  const [X, R, Pv, S, AP] = scope(() => {
    const bf = pack(P, b);
    let x: Tensor, r: Tensor;
    if (o.x0) {
      x = clone(pack(P, o.x0));
      const ax = pack(P, matvec(unpack(P, x)));
      r = sub(bf, lambda ? add(ax, mul(x, lambda)) : ax);
    } else {
      x = zeros([n]);
      r = clone(bf);
    }
    const p = allocTensor([n]);
    const s = zeros([CG_HIST + maxIters + 1]);
    const ap = P.single ? null : zeros([n]);
    rt.dispatch({
      kernel: { ...kern, constants: { MODE: 0 } },
      inputs: [bf.bufferFor('cg')], outputs: [x.buffer, r.buffer, p.buffer, s.buffer],
      params: words(0), workgroups: [1], label: 'cg (start)',
    });
    return [x, r, p, s, ap];
  });
  // Z: the side work's frontier tangent carried along with x (Tape.side.acc)
  let Z: Tensor | null = null;
  const iterate = (ap: Tensor, k: number) => {
    const acc = tape?.side?.acc;
    if (acc && !Z) Z = allocTensor([(acc.frontier.hi - acc.frontier.lo) / 4]);
    const zb = Z?.bufferFor('cg');
    rt.dispatch(acc && zb ? {
      kernel: { ...(n % 4 === 0 ? cgKernelVec4Acc : cgKernelAcc), constants: { MODE: 1 } },
      inputs: [ap.bufferFor('cg')], outputs: [X.buffer, R.buffer, Pv.buffer, S.buffer, acc.frontier.buf, zb.buffer],
      params: [...words(k + 1), Z!.size, acc.frontier.lo / 4, zb.offset / 4], workgroups: [1], label: 'cg',
    } : {
      kernel: { ...kern, constants: { MODE: 1 } },
      inputs: [ap.bufferFor('cg')], outputs: [X.buffer, R.buffer, Pv.buffer, S.buffer],
      params: words(k + 1), workgroups: [1], label: 'cg',
    });
  };
  let tape: Tape | null = null;
  return {
    step(k) {
      if (tape) {
        replayTape(tape);
        iterate(tape.ap, k);
      } else if (o.replay && o.sideMatvec) {
        const side = o.sideMatvec;
        let outs: Tensor[] = [];
        o.primalCache?.stopLogging();
        tape = recordTape(() => {
          const r = side(unpack(P, Pv));
          outs = r.side;
          return packProduct(P, r.out, [X, R, Pv, S], AP);
        }, Pv, () => outs, o.primalCache, o.fuseReplay !== false, !o.x0 && o.accumulateSide !== false);
        iterate(tape.ap, k);
        if (o.submitAfterFirst) rt.flush();
      } else if (o.replay) {
        tape = recordTape(() => packMatvec(P, matvec, Pv, [X, R, Pv, S], AP), Pv, undefined, undefined, o.fuseReplay !== false);
        iterate(tape.ap, k);
        if (o.submitAfterFirst) rt.flush();
      } else {
        scope(() => iterate(packMatvec(P, matvec, Pv, [X, R, Pv, S], AP), k));
      }
    },
    header: () => S.subView(0, [4]),
    finish(iters) {
      const out: CgResult = { x: unpack(P, X), iters, negativeCurvature: element(S, 3) };
      if (o.residuals) out.residuals = clone(S.subView(CG_HIST, [iters + 1]));
      if (tape?.side) {
        // The side outputs at the solution: the recorded product's vector buffer now holds x (the
        // solve is over), and the side work replays from it.
        const xb = X.bufferFor('cg'), vb = Pv.bufferFor('cg');
        rt.copy(xb.buffer, xb.offset, vb.buffer, vb.offset, n * 4);
        const acc = tape.side.acc;
        if (acc && Z) {
          // the frontier tangent at x is the one CG accumulated: only the side work's own ops run
          const zb = (Z as Tensor).bufferFor('cg');
          rt.copy(zb.buffer, zb.offset, acc.frontier.buf, acc.frontier.lo, acc.frontier.hi - acc.frontier.lo);
          replayTape({ ...tape, ops: acc.own });
        } else replayTape({ ...tape, ops: tape.side.ops });
        out.side = tape.side.outputs.map((t) => clone(t));
      }
      return out;
    },
    dispose: () => {
      dispose([X, R, Pv, S, AP, Z]);
      if (tape) {
        releaseDeferred(tape.held);
        // (a tensor the matvec kept, e.g. totalDerivative's copy of ∇₂f₂, outlives the solve)
        dispose([...tape.created].filter((t) => !t.kept));
        tape = null;
      }
    },
  };
}

type CopyArgs = [GPUBuffer, number, GPUBuffer, number, number];
type Hookable = { dispatch: (a: DispatchArgs) => void; copy: (...a: CopyArgs) => void; upload: (d: Float32Array | Uint32Array | Int32Array) => GPUBuffer };

/**
 * Puts `hooks` over the runtime's methods (as the instance's own properties) and returns what puts
 * back exactly what was there: an own property again, or none, so the class's method shows through.
 * The hooks call the originals they captured (`runtime()`'s methods read before this call).
 */
function hookRuntime(hooks: Partial<Hookable>): () => void {
  const rt = runtime() as unknown as Record<string, unknown>;
  const saved = Object.keys(hooks).map((k) => ({ k, own: Object.prototype.hasOwnProperty.call(rt, k), v: rt[k] }));
  Object.assign(rt, hooks);
  // Put back in the reverse order of Object.assign's additions: V8 undoes the deletion of an
  // object's last-added property by going back to its previous hidden class, while any other
  // deletion turns the object into a dictionary for good, and every later access to the runtime's
  // fields (each dispatch reads several) then takes the slow path: after one fresh HVP the
  // runtime had lost its fast properties, and both the gradient and the HVP paid for it.
  return () => {
    for (const s of [...saved].reverse()) {
      if (s.own) rt[s.k] = s.v;
      else delete rt[s.k];
    }
  };
}
/** A kernel that can replay its tangent half only (engine/nn/functional.ts's dual kernels). */
type ReplayHinted = DispatchArgs['kernel'] & {
  replay?: {
    constants: Record<string, number>; tangentInputs: number[]; tangentOut: Array<[number, number]>;
    /** With these constants the kernel reads no output: its primal byte ranges and the inputs it then reads. */
    tangentOnly?: { primalOut: Array<[number, number]>; reads: number[] };
    /** The plain dispatch whose output equals this kernel's primal half (see shareWithCache). */
    primal?: PrimalTwin;
  };
};
/** A recorded matvec: the GPU work to replay, its output, and what holds its buffers. */
interface Tape {
  ops: Array<{ d: DispatchArgs } | { c: CopyArgs }>;
  ap: Tensor;
  held: Tensor[];
  created: Set<Tensor>;
  /** The side outputs' work (recordTape's `side`): what to replay for them, in order. */
  side?: {
    ops: Array<{ d: DispatchArgs } | { c: CopyArgs }>; outputs: Tensor[];
    /**
     * With x₀ = 0 the solution is x = Σ_k α_k p_k, and every tangent a product computes is linear
     * in p: `frontier`, the one range of the product's tangents that the side work's own ops (those
     * the product never runs) read, is carried along as Z = Σ_k α_k T(p_k) by CG's kernel; after
     * the solve only `own` runs, reading Z in place of the replayed tangent at x.
     */
    acc?: { frontier: Span; own: TapeOp[] };
  };
}

interface Span { buf: GPUBuffer; lo: number; hi: number }
function span(x: GPUBuffer | GPUBufferBinding): Span {
  if ('buffer' in x && x.buffer) {
    const lo = x.offset ?? 0;
    return { buf: x.buffer, lo, hi: x.size !== undefined ? lo + x.size : Infinity };
  }
  const b = x as GPUBuffer;
  return { buf: b, lo: 0, hi: b.size };
}
/** Byte ranges grouped by buffer: an overlap test looks at one buffer's ranges only (a tape's analysis is ~O(ops²) otherwise). */
class SpanSet {
  private m = new Map<GPUBuffer, Span[]>();
  constructor(s: Span[] = []) {
    this.push(...s);
  }
  push(...s: Span[]) {
    for (const x of s) {
      const l = this.m.get(x.buf);
      if (l) l.push(x);
      else this.m.set(x.buf, [x]);
    }
  }
  hits(a: Span) {
    const l = this.m.get(a.buf);
    return !!l && l.some((d) => a.lo < d.hi && d.lo < a.hi);
  }
}
const overlaps = (a: Span, set: SpanSet) => set.hits(a);

type TapeOp = Tape['ops'][number];
/** What primal twin a dual kernel run with PRIMAL = 1 has: the plain dispatch whose output is its primal half. */
type PrimalTwin = { label: string; constants: Record<string, number>; params: number[]; inputs: number[]; out: [number, number] };

/**
 * The GPU work of a pass that ran before CG (totalDerivative: f₁'s gradient, whose actor forward
 * and critic forward the follower's first product repeats): its dispatches and copies, with the
 * buffers it freed held back from the pool, so their contents stay valid until release().
 */
export interface PrimalCache {
  log: TapeOp[];
  /** Buffers written by uploads while the cache was open (their contents are not the log's). */
  uploads: SpanSet;
  stopLogging(): void;
  release(): void;
}


/** Runs fn while logging its GPU work into a PrimalCache (the caller releases it). */
function withPrimalCache<T>(fn: () => T): { result: T; cache: PrimalCache } {
  const rt = runtime() as unknown as Hookable;
  const log: TapeOp[] = [];
  const uploads = new SpanSet();
  const [d0, c0, u0] = [rt.dispatch, rt.copy, rt.upload];
  let logging = true;
  const restore = hookRuntime({
    dispatch: (a: DispatchArgs) => {
      if (logging) log.push({ d: a });
      return d0.call(rt, a);
    },
    copy: (...a: CopyArgs) => {
      if (logging) log.push({ c: a });
      return c0.apply(rt, a);
    },
    upload: (d) => {
      const b = u0.call(rt, d);
      uploads.push({ buf: b, lo: 0, hi: Infinity });
      return b;
    },
  });
  let hooked = true;
  const unhook = () => {
    if (!hooked) return;
    hooked = false;
    restore();
  };
  let held: Tensor[] = [];
  const cache: PrimalCache = {
    log, uploads,
    stopLogging: () => {
      logging = false;
    },
    release: () => {
      unhook();
      releaseDeferred(held);
      held = [];
    },
  };
  try {
    const r = deferDisposal(fn);
    held = r.held;
    return { result: r.result, cache };
  } catch (e) {
    cache.release();
    throw e;
  }
}

/**
 * For each op of a recorded first product that runs now (`ran`): the ops to run instead when it
 * repeats work of the cache's pass. A dispatch with the same kernel, parameters and grid whose
 * inputs hold the same values (the same byte ranges, untouched since, or outputs of ops already
 * replaced this way) becomes copies of that dispatch's outputs, still in their buffers; a dual
 * kernel asked for its primal half too (PRIMAL = 1) whose primal twin ran in the cache's pass gets
 * that output copied into its primal half and runs its tangent half only. Conservative: any write
 * since (by the cache's later ops, this product's earlier ops, or an upload) to a range involved
 * keeps the op as it is.
 */
function shareWithCache(cache: PrimalCache, log: TapeOp[], ran: boolean[]): Array<TapeOp[] | undefined> {
  const ids = new Map<GPUBuffer, number>();
  const id = (b: GPUBuffer) => {
    let i = ids.get(b);
    if (i === undefined) ids.set(b, (i = ids.size));
    return i;
  };
  const key = (s: Span) => `${id(s.buf)}:${s.lo}:${s.hi}`;
  const consts = (d: DispatchArgs) => JSON.stringify(d.kernel.constants ?? {});
  const params = (d: DispatchArgs) => Array.from(d.params ?? []).join();
  // The cache's dispatches whose inputs and outputs no later op of its pass wrote, indexed by what
  // they computed: exactly (kernel, constants, parameters, grid, inputs) and by label (primal twins).
  const exact = new Map<string, DispatchArgs>(), byLabel = new Map<string, DispatchArgs>();
  const later = new SpanSet();
  for (let j = cache.log.length - 1; j >= 0; j--) {
    const op = cache.log[j];
    if ('c' in op) {
      later.push({ buf: op.c[2], lo: op.c[3], hi: op.c[3] + op.c[4] });
      continue;
    }
    const ins = op.d.inputs.map(span), outs = op.d.outputs.map(span);
    const inPlace = outs.some((o) => ins.some((x) => x.buf === o.buf && x.lo < o.hi && o.lo < x.hi));
    if (!inPlace && ![...ins, ...outs].some((x) => later.hits(x) || cache.uploads.hits(x))) {
      const k = ins.map(key).join('|');
      const e = `${op.d.kernel.name}|${consts(op.d)}|${params(op.d)}|${op.d.workgroups.join()}|${k}`;
      if (!exact.has(e)) exact.set(e, op.d);
      const l = `${op.d.label}|${consts(op.d)}|${params(op.d)}|${k}`;
      if (!byLabel.has(l)) byLabel.set(l, op.d);
    }
    later.push(...outs);
  }
  const out: Array<TapeOp[] | undefined> = new Array(log.length);
  if (!exact.size) return out;
  // Ranges of this product's buffers that hold a copy of a cache range.
  const equiv = new Map<GPUBuffer, Array<{ lo: number; hi: number; to: Span }>>();
  const alias = (from: Span, to: Span) => {
    const l = equiv.get(from.buf) ?? [];
    l.push({ lo: from.lo, hi: from.hi, to });
    equiv.set(from.buf, l);
  };
  const written = new SpanSet();
  const clean = (s: Span) => !written.hits(s) && !cache.uploads.hits(s);
  // the cache range that holds what `s` holds now, or null when unknown
  const source = (s: Span): Span | null => {
    for (const e of equiv.get(s.buf) ?? []) if (e.lo <= s.lo && s.hi <= e.hi) return { buf: e.to.buf, lo: e.to.lo + s.lo - e.lo, hi: e.to.lo + s.hi - e.lo };
    return clean(s) ? s : null;
  };
  log.forEach((op, i) => {
    if (!ran[i]) return;
    if ('d' in op) {
      const d = op.d;
      const src = d.inputs.map((x) => source(span(x)));
      const outs = d.outputs.map(span);
      const c = src.every((x) => x) ? exact.get(`${d.kernel.name}|${consts(d)}|${params(d)}|${d.workgroups.join()}|${src.map((x) => key(x!)).join('|')}`) : undefined;
      if (c && c.kernel.code === d.kernel.code && c.outputs.length === outs.length) {
        const couts = c.outputs.map(span);
        // A buffer the cache's pass freed after it ended goes back to the pool, and the product can
        // be handed it for the same op's output: then the value is already in place (nothing wrote
        // it since, or `clean` would fail) and a copy onto itself is invalid in WebGPU; the same
        // buffer at another offset is not shared.
        if (couts.every(clean) && couts.every((co, k) => co.buf !== outs[k].buf || co.lo === outs[k].lo)) {
          out[i] = couts.flatMap((co, k) => {
            const n = Math.min(co.hi - co.lo, outs[k].hi - outs[k].lo);
            alias({ buf: outs[k].buf, lo: outs[k].lo, hi: outs[k].lo + n }, { buf: co.buf, lo: co.lo, hi: co.lo + n });
            return co.buf === outs[k].buf ? [] : [{ c: [co.buf, co.lo, outs[k].buf, outs[k].lo, n] as CopyArgs }];
          });
        }
      } else {
        const hint = (d.kernel as ReplayHinted).replay;
        const twin = hint?.primal;
        if (twin && d.kernel.constants?.PRIMAL === 1 && outs.length === 1 && twin.inputs.every((k) => src[k])) {
          const p = byLabel.get(`${twin.label}|${JSON.stringify(twin.constants)}|${twin.params.join()}|${twin.inputs.map((k) => key(src[k]!)).join('|')}`);
          const po = p && p.outputs.length === 1 ? span(p.outputs[0]) : null;
          const n = twin.out[1] - twin.out[0];
          const lo = outs[0].lo + twin.out[0];
          if (po && po.hi - po.lo >= n && clean(po) && (po.buf !== outs[0].buf || po.lo === lo)) {
            const tangentOnly: TapeOp = { d: { ...d, kernel: { ...d.kernel, constants: { ...d.kernel.constants, ...hint!.constants } } } };
            alias({ buf: outs[0].buf, lo, hi: lo + n }, { buf: po.buf, lo: po.lo, hi: po.lo + n });
            // the primal half is already in place when the pool handed back the twin's buffer (see above)
            out[i] = po.buf === outs[0].buf ? [tangentOnly] : [{ c: [po.buf, po.lo, outs[0].buf, lo, n] }, tangentOnly];
          }
        }
      }
      written.push(...outs);
    } else written.push({ buf: op.c[2], lo: op.c[3], hi: op.c[3] + op.c[4] });
  });
  return out;
}

/**
 * The storage bindings of a fused kernel whose operands share few buffers: each distinct buffer
 * bound once, in the order `order` first meets it; `idx` gives each role's binding (0 for a role
 * not present) and `lo(role, plus)` its offset in floats.
 */
function bindRoles(roles: Record<string, Span>, order: string[]) {
  const bufs: GPUBuffer[] = [];
  const idx: Record<string, number> = {};
  for (const r of order) {
    const sp = roles[r];
    if (!sp) {
      idx[r] = 0;
      continue;
    }
    let k = bufs.indexOf(sp.buf);
    if (k < 0) k = bufs.push(sp.buf) - 1;
    idx[r] = k;
  }
  return { bufs, idx, lo: (r: string, plus = 0) => (roles[r] ? roles[r].lo / 4 + plus : 0) };
}
const outputTangentKernelFor = memoKernel((idx: Record<string, number>, n: number) => outputTangentKernel(idx, n));
const outputDualKernelFor = memoKernel((idx: Record<string, number>, n: number) => outputDualKernel(idx, n));
/**
 * A replayed product's tape with each run of the four tangent dispatches of a 1-wide output layer
 * and its MSE loss (linear (dual) with one output and no activation, mse backward (dual), and that
 * layer's linear backward dx and dw (dual), consecutive, reading one another's outputs) replaced by
 * one dispatch of kernels/nn.ts's outputTangentKernel, which writes the same tangent ranges. Each
 * of the four is a few thousand multiply-adds, so on lavapipe they cost their fixed dispatch cost.
 */
function fuseOutputTangent(ops: TapeOp[]): TapeOp[] {
  const out: TapeOp[] = [];
  const c = (d: DispatchArgs, k: string) => d.kernel.constants?.[k];
  const at = (x: GPUBuffer | GPUBufferBinding) => span(x);
  const same = (x: Span, buf: GPUBuffer, lo: number) => x.buf === buf && x.lo === lo;
  for (let i = 0; i < ops.length; i++) {
    const [a, b, cx, dw] = ops.slice(i, i + 4).map((op) => ('d' in op ? op.d : null));
    const fused = a && b && cx && dw ? fuse4(a, b, cx, dw) : null;
    if (fused) {
      out.push({ d: fused });
      i += 3;
    } else out.push(ops[i]);
  }
  return out;

  function fuse4(A: DispatchArgs, B: DispatchArgs, C: DispatchArgs, D: DispatchArgs): DispatchArgs | null {
    if (A.label !== 'linear (dual)' || B.label !== 'mse backward (dual)' || C.label !== 'linear backward (dx, dual)' || D.label !== 'linear backward (dw, db, dual)') return null;
    const [M, N, K, toffA] = Array.from(A.params ?? []);
    if (N !== 1 || c(A, 'ACT') !== 0 || c(A, 'PRIMAL') !== 0) return null;
    const tx = c(A, 'HAS_T0') === 1, tw = c(A, 'HAS_T1') === 1, tb = c(A, 'HAS_T2') === 1, bias = c(A, 'HAS_BIAS') === 1;
    const [n, toffB, cbits] = Array.from(B.params ?? []);
    if (n !== M || c(B, 'HAS_T0') !== 1 || c(B, 'HAS_T1') !== 0 || c(B, 'HAS_T2') !== 0 || c(B, 'PRIMAL') !== 0) return null;
    const ao = at(A.outputs[0]), bo = at(B.outputs[0]), co = at(C.outputs[0]), dO = at(D.outputs[0]);
    const ain = A.inputs.map(at), bin = B.inputs.map(at), cin = C.inputs.map(at), din = D.inputs.map(at);
    // B reads the layer's output and its tangent; C and D read B's gradient and its tangent and the layer's operands
    if (!same(bin[0], ao.buf, ao.lo) || !same(bin[3], ao.buf, ao.lo + toffA * 4)) return null;
    const [cM, cN, cK, toffC] = Array.from(C.params ?? []);
    const [dM, dN, dK, toffD, boffD, tboffD] = Array.from(D.params ?? []);
    if (cM !== M || cN !== 1 || cK !== K || dM !== M || dN !== 1 || dK !== K) return null;
    for (const [X, xin] of [[C, cin], [D, din]] as const) {
      if (c(X, 'ACT') !== 0 || c(X, 'PRIMAL') !== 0 || c(X, 'HAS_T0') !== 1 || c(X, 'HAS_T1') !== 0) return null;
      if (!same(xin[0], bo.buf, bo.lo) || !same(xin[3], bo.buf, bo.lo + toffB * 4)) return null;
    }
    if (c(C, 'HAS_T2') !== (tw ? 1 : 0) || !same(cin[2], ain[1].buf, ain[1].lo) || (tw && !same(cin[5], ain[4].buf, ain[4].lo))) return null;
    if (c(D, 'HAS_T2') !== (tx ? 1 : 0) || c(D, 'HAS_BIAS') !== (bias ? 1 : 0) || !same(din[2], ain[0].buf, ain[0].lo) || (tx && !same(din[5], ain[3].buf, ain[3].lo))) return null;
    // each distinct buffer bound once (read_write), at most 8
    const roles: Record<string, Span> = { X: ain[0], W: ain[1], G: bin[2], AO: ao, BO: bo, CO: co, DO: dO, ...(tx ? { TX: ain[3] } : {}), ...(tw ? { TW: ain[4] } : {}), ...(tb ? { TB: ain[5] } : {}) };
    const { bufs, idx, lo: f } = bindRoles(roles, ['X', 'TX', 'W', 'TW', 'TB', 'G', 'AO', 'BO', 'CO', 'DO']);
    if (bufs.length > 8) return null;
    const kernel = outputTangentKernelFor(idx, bufs.length);
    return {
      kernel: { ...kernel, constants: { HAS_TX: tx ? 1 : 0, HAS_TW: tw ? 1 : 0, HAS_TB: tb ? 1 : 0, HAS_BIAS: bias ? 1 : 0 } },
      inputs: [], outputs: bufs,
      params: [M, K, cbits, f('X'), f('TX'), f('W'), f('TW'), f('TB'), f('G'), f('AO', toffA), f('BO'), f('BO', toffB), f('CO', toffC), f('DO', toffD), f('DO', boffD + tboffD)],
      workgroups: [1], label: 'output layer + mse tangents (fused)',
    };
  }
}

/**
 * A fresh HVP's kept ops (liveOnly) with the four dispatches of a 1-wide output layer and its MSE
 * loss, value and tangent (linear (dual) with one output and no activation, mse backward (dual),
 * that layer's linear backward dx and dw (dual), each reading the one before; at most three other
 * ops between the first two, e.g. the backward's seed, which then run first, the seed not at all
 * when it is a one-element fill that only the MSE backward reads: the kernel takes its value)
 * replaced by one dispatch of kernels/nn.ts's outputDualKernel. It writes dX (both halves: the layer below reads the
 * value) and the weight gradient's tangents where their kernels wrote them; q, q̇, e and ė stay
 * inside it, so nothing else may read the first two ops' outputs. Not applied when more buffers
 * would be bound than the device allows or the batch exceeds OUTPUT_DUAL_MAX_ROWS.
 */
function fuseOutputDual(ops: TapeOp[]): TapeOp[] {
  const c = (d: DispatchArgs, k: string) => d.kernel.constants?.[k];
  const same = (x: Span, y: Span) => x.buf === y.buf && x.lo === y.lo;
  const at = (x: GPUBuffer | GPUBufferBinding, plus = 0) => ({ ...span(x), lo: span(x).lo + plus * 4 });
  const limit = runtime().device.limits.maxStorageBuffersPerShaderStage;
  const out: TapeOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const r = match(i);
    if (r) {
      out.push(...r.ops);
      i = r.next - 1;
    } else out.push(ops[i]);
  }
  return out;

  function match(i: number): { ops: TapeOp[]; next: number } | null {
    const dd = (j: number) => (j < ops.length && 'd' in ops[j] ? (ops[j] as { d: DispatchArgs }).d : null);
    const A = dd(i);
    if (!A || A.label !== 'linear (dual)' || c(A, 'ACT') !== 0 || c(A, 'PRIMAL') !== 1) return null;
    const [M, N, K, toffA] = Array.from(A.params ?? []);
    if (N !== 1 || M > OUTPUT_DUAL_MAX_ROWS) return null;
    const ao = span(A.outputs[0]);
    // at most three ops between A and the mse backward (the backward's seed, a loss scale), touching
    // none of A's ranges: they run first
    let j = i + 1;
    const between: TapeOp[] = [];
    const aIns = new SpanSet(A.inputs.map((y) => span(y)));
    while (dd(j)?.label !== 'mse backward (dual)') {
      if (j >= ops.length || between.length === 3) return null;
      const o = ops[j];
      if ([...opIns(o), ...opOuts(o)].some((x) => x.buf === ao.buf) || opOuts(o).some((x) => overlaps(x, aIns))) return null;
      between.push(o);
      j++;
    }
    const B = dd(j), C = dd(j + 1), D = dd(j + 2);
    if (!B || !C || !D || B.label !== 'mse backward (dual)' || C.label !== 'linear backward (dx, dual)' || D.label !== 'linear backward (dw, db, dual)') return null;
    const tx = c(A, 'HAS_T0') === 1, tw = c(A, 'HAS_T1') === 1, tb = c(A, 'HAS_T2') === 1, bias = c(A, 'HAS_BIAS') === 1;
    const [n, toffB, cbits] = Array.from(B.params ?? []);
    if (n !== M || c(B, 'HAS_T0') !== 1 || c(B, 'HAS_T1') !== 0 || c(B, 'HAS_T2') !== 0 || c(B, 'PRIMAL') !== 1) return null;
    const ain = A.inputs.map((x) => span(x)), bin = B.inputs.map((x) => span(x)), bo = span(B.outputs[0]);
    if (!same(bin[0], ao) || !same(bin[3], at(A.outputs[0], toffA))) return null;
    const [cM, cN, cK, toffC] = Array.from(C.params ?? []);
    const [dM, dN, dK, toffD, boffD, tboffD] = Array.from(D.params ?? []);
    if (cM !== M || cN !== 1 || cK !== K || dM !== M || dN !== 1 || dK !== K) return null;
    const cin = C.inputs.map((x) => span(x)), din = D.inputs.map((x) => span(x));
    for (const [X, xin] of [[C, cin], [D, din]] as const) {
      if (c(X, 'ACT') !== 0 || c(X, 'HAS_T0') !== 1 || c(X, 'HAS_T1') !== 0) return null;
      if (!same(xin[0], bo) || !same(xin[3], at(B.outputs[0], toffB))) return null;
    }
    if (c(D, 'PRIMAL') !== 0 || c(C, 'HAS_T2') !== (tw ? 1 : 0) || !same(cin[2], ain[1]) || (tw && !same(cin[5], ain[4]))) return null;
    if (c(D, 'HAS_T2') !== (tx ? 1 : 0) || c(D, 'HAS_BIAS') !== (bias ? 1 : 0) || !same(din[2], ain[0]) || (tx && !same(din[5], ain[3]))) return null;
    // q, q̇, e and ė are not written: nothing but B, C and D may read A's and B's outputs
    const inner = new SpanSet([ao, bo]);
    if (ops.some((o, k) => k !== i && (k < j || k > j + 2) && opIns(o).some((x) => overlaps(x, inner)))) return null;
    // the backward's seed (a one-element fill between A and B that only B reads) becomes a constant
    const fill = between.length === 1 && 'd' in between[0] ? between[0].d : null;
    const seed = fill && fill.label === 'full' && fill.kernel.name === 'fill' && fill.params?.[0] === 1 && fill.outputs.length === 1 && same(span(fill.outputs[0]), bin[2]) &&
      !ops.some((o, k) => k !== j && opIns(o).some((x) => overlaps(x, new SpanSet([bin[2]]))))
      ? fill.params[1] : null;
    if (seed !== null) between.length = 0;
    const roles: Record<string, Span> = {
      X: ain[0], W: ain[1], T: bin[1], CO: span(C.outputs[0]), DO: span(D.outputs[0]), ...(seed === null ? { G: bin[2] } : {}),
      ...(bias ? { B: ain[2] } : {}), ...(tx ? { TX: ain[3] } : {}), ...(tw ? { TW: ain[4] } : {}), ...(tb ? { TB: ain[5] } : {}),
    };
    const { bufs, idx, lo: f } = bindRoles(roles, ['X', 'TX', 'W', 'TW', 'TB', 'B', 'G', 'T', 'CO', 'DO']);
    if (bufs.length > limit) return null;
    const kernel = outputDualKernelFor(idx, bufs.length);
    const fused: DispatchArgs = {
      kernel: { ...kernel, constants: { HAS_TX: tx ? 1 : 0, HAS_TW: tw ? 1 : 0, HAS_TB: tb ? 1 : 0, HAS_BIAS: bias ? 1 : 0, SEED_CONST: seed === null ? 0 : 1 } },
      inputs: [], outputs: bufs,
      params: [M, K, cbits, f('X'), f('TX'), f('W'), f('TW'), f('TB'), f('G'), f('B'), f('T'), f('CO'), f('CO', toffC), f('DO', toffD), f('DO', boffD + tboffD), seed ?? 0],
      workgroups: [1], label: 'output layer + mse, value and tangent (fused)',
    };
    return { ops: [...between, { d: fused }], next: j + 3 };
  }
}

/**
 * The side work split for CG's accumulation (Tape.side.acc): null unless the ops of the side tape
 * that the first product ran (shared, replayed in every product) and those it did not (own) meet
 * through one tangent range that a shared op of the product tape writes.
 */
function accumulation(keepSide: Array<TapeOp | null>, entries: Array<{ op: TapeOp; writes: Span[]; whole?: boolean } | null>, ran: boolean[], product: Set<TapeOp>): { frontier: Span; own: TapeOp[] } | null {
  const own: TapeOp[] = [];
  const shared: Array<{ op: TapeOp; writes: Span[] }> = [];
  keepSide.forEach((op, i) => {
    if (!op) return;
    if (ran[i]) shared.push({ op, writes: entries[i]!.writes });
    else own.push(op);
  });
  let frontier: Span | null = null;
  let from: TapeOp | null = null;
  for (const op of own) {
    const ins = 'd' in op ? op.d.inputs.map(span) : [{ buf: op.c[0], lo: op.c[1], hi: op.c[1] + op.c[4] }];
    for (const x of ins)
      for (const sh of shared)
        for (const w of sh.writes) {
          if (w.buf !== x.buf || !(x.lo < w.hi && w.lo < x.hi)) continue;
          if (frontier && (frontier.buf !== w.buf || frontier.lo !== w.lo || frontier.hi !== w.hi)) return null;
          frontier = w;
          from = sh.op;
          // the read must lie inside the one range carried
          if (x.lo < w.lo || x.hi > w.hi) return null;
        }
  }
  if (!frontier || !from || !product.has(from) || !Number.isFinite(frontier.hi)) return null;
  return { frontier, own };
}

function opIns(op: TapeOp): Span[] {
  return 'd' in op ? op.d.inputs.map(span) : [{ buf: op.c[0], lo: op.c[1], hi: op.c[1] + op.c[4] }];
}
function opOuts(op: TapeOp): Span[] {
  return 'd' in op ? op.d.outputs.map(span) : [{ buf: op.c[2], lo: op.c[3], hi: op.c[3] + op.c[4] }];
}
/** Walking backwards from `roots`: the ops (of `entries`; null = skip) whose writes reach them. */
// `whole`: ops that run as recorded; one of them whose primal half nothing later reads runs its
// tangent half only, where its kernel allows (replay.tangentOnly), e.g. the leader's own
// gradient inside the mixed term. Returns the ops kept, in their (possibly tangent-only) form.
function liveOps(roots: Span[], entries: Array<{ op: TapeOp; writes: Span[]; whole?: boolean } | null>): Array<TapeOp | null> {
  const live = new SpanSet(roots);
  const keep = new Array<Tape['ops'][number] | null>(entries.length).fill(null);
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (!e || !e.writes.some((w) => overlaps(w, live))) continue;
    const op = e.op;
    const only = e.whole && 'd' in op ? (op.d.kernel as ReplayHinted).replay?.tangentOnly : undefined;
    if (only && 'd' in op && op.d.outputs.length === 1) {
      const out = span(op.d.outputs[0]);
      if (!only.primalOut.some(([lo, hi]) => overlaps({ buf: out.buf, lo: out.lo + lo, hi: out.lo + hi }, live))) {
        const hint = (op.d.kernel as ReplayHinted).replay!;
        keep[i] = { d: { ...op.d, kernel: { ...op.d.kernel, constants: { ...op.d.kernel.constants, ...hint.constants } } } };
        live.push(...only.reads.map((b) => span(op.d.inputs[b])));
        continue;
      }
    }
    keep[i] = op;
    live.push(...opIns(op), ...opOuts(op));
  }
  return keep;
}

/**
 * Runs fn (the matvec) once, recording its dispatches and copies with disposal deferred, and
 * keeps those that (transitively) read the vector `v` or write where such work wrote: the rest
 * computed values that do not depend on v, which stay in their (unrecycled) buffers.
 */
function recordTape(fn: () => Tensor, v: Tensor, side?: () => Tensor[], cache?: PrimalCache, fuse = false, accumulate = false): Tape {
  const rt = runtime() as unknown as Hookable;
  const log: Tape['ops'] = [];
  const [d0, c0] = [rt.dispatch, rt.copy];
  // With side outputs nothing runs while fn records: afterwards only the work that the product
  // and the tensors fn keeps depend on runs (the side outputs' own work runs once, after the
  // solve). No op may read back or branch on values meanwhile (CgOptions.replay's contract).
  const defer = !!side;
  const unhook = hookRuntime({
    dispatch: (a: DispatchArgs) => {
      log.push({ d: a });
      if (!defer) return d0.call(rt, a);
    },
    copy: (...a: CopyArgs) => {
      log.push({ c: a });
      if (!defer) return c0.apply(rt, a);
    },
  });
  let cap: { result: { result: Tensor; created: Set<Tensor> }; held: Tensor[] };
  try {
    cap = deferDisposal(() => captureCreated(fn));
  } finally {
    unhook();
  }
  const insOf = opIns, outsOf = opOuts, liveFrom = liveOps;
  const ap0 = cap.result.result;
  let ran: boolean[] | null = null;
  if (defer) {
    // Run now what the product and the tensors fn kept (e.g. a copy of the primal gradient) need.
    const roots = [span(ap0.bufferFor('cg')), ...[...cap.result.created].filter((t) => t.kept).map((t) => span(t.bufferFor('cg')))];
    ran = liveFrom(roots, log.map((op) => ({ op, writes: outsOf(op) }))).map((op) => !!op);
    const reuse = cache ? shareWithCache(cache, log, ran) : [];
    log.forEach((op, i) => {
      if (!ran![i]) return;
      for (const x of reuse[i] ?? [op]) {
        if ('d' in x) d0.call(rt, x.d);
        else c0.apply(rt, x.c);
      }
    });
  }
  const dirty = new SpanSet([span(v.bufferFor('cg'))]);
  const ops: Tape['ops'] = [];
  const writes: Span[][] = [];
  // per op of the log: its replayed form and writes when it depends on v (else null)
  const replayed: Array<{ op: Tape['ops'][number]; writes: Span[] } | null> = [];
  for (const op of log) {
    const ins = insOf(op);
    const outs = outsOf(op);
    if (!ins.some((x) => overlaps(x, dirty)) && !outs.some((x) => overlaps(x, dirty))) {
      replayed.push(null);
      continue;
    }
    // A dual kernel whose primal inputs did not change replays its tangent half only (its
    // primal outputs, from the recorded run, stay valid): kernels/nn.ts's PRIMAL override.
    const hint = 'd' in op ? (op.d.kernel as ReplayHinted).replay : undefined;
    if (hint && 'd' in op && outs.length === 1 && ins.every((x, i) => hint.tangentInputs.includes(i) || !overlaps(x, dirty))) {
      ops.push({ d: { ...op.d, kernel: { ...op.d.kernel, constants: { ...op.d.kernel.constants, ...hint.constants } } } });
      const w = hint.tangentOut.map(([lo, hi]) => ({ buf: outs[0].buf, lo: outs[0].lo + lo, hi: outs[0].lo + hi }));
      dirty.push(...w);
      writes.push(w);
    } else {
      ops.push(op);
      dirty.push(...outs);
      writes.push(outs);
    }
    replayed.push({ op: ops[ops.length - 1], writes: writes[writes.length - 1] });
  }
  let sideTape: Tape['side'];
  let sideParts: { keepSide: Array<TapeOp | null>; entries: Array<{ op: TapeOp; writes: Span[]; whole?: boolean } | null> } | null = null;
  if (defer && side) {
    // The side outputs' work after the solve: what ran in the first product and depends on v
    // replays (tangent halves where the primal inputs are unchanged); what never ran runs whole;
    // what ran and does not depend on v is still in its buffers.
    const outputs = side();
    const entries = log.map((op, i) => (ran![i] ? replayed[i] : { op, writes: outsOf(op), whole: true }));
    const keepSide = liveFrom(outputs.map((t) => span(t.bufferFor('cg'))), entries);
    sideTape = { ops: keepSide.filter((op): op is Tape['ops'][number] => !!op), outputs };
    sideParts = { keepSide, entries };
  }
  // Dead work: a replayed op none of whose writes reach the product (e.g. the tangent of the loss
  // value inside an HVP, which the gradient's tangent never reads) is dropped. Walking backwards
  // from the output, an op is live when it writes a live span; its inputs, and its outputs
  // (read_write bindings may be read), become live.
  const ap = ap0;
  const live = new SpanSet([span(ap.bufferFor('cg'))]);
  const keepOp = new Array<boolean>(ops.length).fill(false);
  for (let i = ops.length - 1; i >= 0; i--) {
    if (!writes[i].some((w) => overlaps(w, live))) continue;
    keepOp[i] = true;
    const op = ops[i];
    if ('d' in op) live.push(...op.d.inputs.map(span), ...op.d.outputs.map(span));
    else live.push({ buf: op.c[0], lo: op.c[1], hi: op.c[1] + op.c[4] });
  }
  const kept = ops.filter((_, i) => keepOp[i]);
  if (sideTape && sideParts && accumulate) sideTape.acc = accumulation(sideParts.keepSide, sideParts.entries, ran!, new Set(kept)) ?? undefined;
  return { ops: fuse ? fuseOutputTangent(kept) : kept, ap, held: cap.held, created: cap.result.created, side: sideTape };
}

function replayTape(t: Tape) {
  const rt = runtime();
  for (const op of t.ops) {
    if ('d' in op) rt.dispatch(op.d);
    else rt.copy(...op.c);
  }
}

interface ComposedState {
  x: Tensor;
  r: Tensor;
  p: Tensor;
  rs: Tensor;
  thresh: Tensor | null;
  stopped: Tensor;
  neg: Tensor;
  res: Tensor[];
}

// The same algorithm as the fused kernel from differentiable ops (the reference and the path
// used when the solve itself is differentiated).
function composedRun(P: Packing, matvec: (v: any) => any, b: unknown, o: CgOptions): CgRun {
  const { mode, lambda, mu } = checkCgOptions(o, 'cg');
  let s: ComposedState = scope(() => {
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
    return { x, r, p: r, rs, thresh, stopped: zeros([]), neg: zeros([]), res: o.residuals ? [sqrt(rs)] : [] };
  });
  const all = (st: ComposedState) => [st.x, st.r, st.p, st.rs, st.thresh, st.stopped, st.neg, ...st.res].filter((t): t is Tensor => !!t);
  return {
    step() {
      const prev = s;
      s = scope(() => {
        const Ap0 = pack(P, matvec(unpack(P, prev.p)));
        const Ap = lambda ? add(Ap0, mul(prev.p, lambda)) : Ap0;
        const pap = sum(mul(prev.p, Ap)), pp = sum(mul(prev.p, prev.p));
        const converged = prev.thresh ? maximum(le(prev.rs, prev.thresh), le(prev.rs, 0)) : le(prev.rs, 0);
        const active0 = mul(sub(1, prev.stopped), sub(1, converged));
        const neg = mul(le(pap, 0), gt(pp, 0));
        const newNeg = mul(neg, active0);
        let active = active0, den = pap, stopped = prev.stopped;
        if (mode === 'stop') {
          active = mul(active0, sub(1, neg));
          stopped = add(prev.stopped, newNeg);
        } else if (mode === 'damp') {
          den = where(neg, add(abs(pap), mul(pp, mu)), pap);
        }
        const go = mul(active, ne(den, 0));
        const alpha = where(go, div(prev.rs, where(go, den, 1)), 0);
        const x = add(prev.x, mul(prev.p, alpha));
        const r = sub(prev.r, mul(Ap, alpha));
        const rsNew = sum(mul(r, r));
        const rs = where(active, rsNew, prev.rs);
        const beta = where(active, div(rsNew, where(active, prev.rs, 1)), 0);
        const p = where(active, add(r, mul(prev.p, beta)), prev.p);
        return { x, r, p, rs, thresh: prev.thresh, stopped, neg: add(prev.neg, newNeg), res: o.residuals ? [...prev.res, sqrt(rs)] : prev.res };
      });
      const keepNow = new Set(all(s));
      for (const t of all(prev)) if (!keepNow.has(t)) t.dispose();
    },
    header: () => concat([reshape(s.rs, [1]), reshape(s.thresh ?? full([], -1), [1]), reshape(s.stopped, [1]), reshape(s.neg, [1])]),
    finish(iters) {
      const out: CgResult = { x: unpack(P, s.x), iters, negativeCurvature: clone(s.neg) };
      if (o.residuals) out.residuals = stack(s.res.map((t) => reshape(t, [])));
      return out;
    },
    dispose: () => dispose(all(s)),
  };
}

function startRun(P: Packing, matvec: (v: any) => any, b: unknown, o: CgOptions, maxIters: number): CgRun {
  // In-place kernels cannot be differentiated: inside an active transformation with recording on,
  // the composed ops run instead.
  const fused = (o.fused ?? true) && !(isGradEnabled() && insideTransform());
  return fused ? fusedRun(P, matvec, b, o, maxIters) : composedRun(P, matvec, b, o);
}

/**
 * Conjugate gradient for (A + λI)x = b with A symmetric (positive definite in theory; for an
 * indefinite A see NegativeCurvatureMode) and given only as a matrix-free `matvec` (a tree →
 * tree function, e.g. a Hessian-vector product). Runs a fixed number of iterations entirely on
 * the GPU: no readback, all scalars stay on the device, one fused kernel per iteration plus the
 * caller's matvec. With `tol`, converged iterations become no-ops on the GPU; use cgAsync to
 * stop early instead. Warm start: `x0` (e.g. the previous solve's `x`).
 */
export function cg(matvec: (v: any) => any, b: Tree, opts: CgOptions = {}): CgResult {
  const iters = opts.iters ?? 10;
  return scope(() => {
    const P = packing(b);
    const run = startRun(P, matvec, b, opts, iters);
    for (let k = 0; k < iters; k++) run.step(k);
    const out = run.finish(iters);
    run.dispose();
    return out;
  });
}

export interface CgAsyncOptions extends CgOptions {
  /** Read ‖r‖ back every this many iterations and stop once ‖r‖ ≤ tol·‖b‖ (default 5). */
  checkEvery?: number;
}

/**
 * Conjugate gradient that stops early: runs `checkEvery` iterations on the GPU, then reads ‖r‖
 * back once (one readback per chunk, never per iteration) and stops once ‖r‖ ≤ tol·‖b‖, once a
 * negative-curvature stop happened, or after `iters` iterations (default 100). Returns the
 * iterations actually run.
 */
export async function cgAsync(matvec: (v: any) => any, b: Tree, opts: CgAsyncOptions = {}): Promise<CgResult> {
  const iters = opts.iters ?? 100;
  const every = Math.max(1, opts.checkEvery ?? 5);
  const o: CgOptions = { ...opts, tol: opts.tol ?? 1e-6 };
  const P = packing(b);
  const run = startRun(P, matvec, b, o, iters); // owns its state until dispose()
  const done = async () => {
    const h = scope(() => run.header());
    const [rs, thresh, stopped] = await h.data();
    h.dispose();
    return rs <= thresh || rs === 0 || stopped !== 0;
  };
  let k = 0;
  let finished = await done();
  while (k < iters && !finished) {
    const n = Math.min(every, iters - k);
    for (let i = 0; i < n; i++) run.step(k + i);
    k += n;
    finished = await done();
  }
  const out = scope(() => run.finish(k));
  run.dispose();
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
  /** CG on a direction with pᵀ(∇²₂₂f₂ + λI)p ≤ 0 (default 'stop'; see NegativeCurvatureMode). */
  negativeCurvature?: NegativeCurvatureMode;
  /** μ of the 'damp' mode (default 1). */
  curvatureDamping?: number;
  /**
   * How the second derivatives are computed (the same maths either way; tests check both):
   * - 'forward' (default): forward over reverse — each CG product is the engine's `hvp` (the jvp
   *   of ∇₂f₂ along p, recomputing f₂'s forward pass), and the mixed term ∇²₁₂f₂·q together
   *   with ∇₂f₂ is one jvp of y ↦ (∇₁f₂, ∇₂f₂) along q;
   * - 'reverse': ∇₂f₂ recorded once as a function of both players, each CG product one reverse
   *   pass over that recorded gradient (composed ops), the mixed term one more reverse pass.
   * On rl/'s fused-linear actor/critic networks with the fused MSE loss, forward over reverse
   * runs the dual linear/MSE kernels (value and tangent in one dispatch; the backward's two
   * fused kernels carry tangents), 18 dispatches for the first product; CG then replays only
   * the tangent work (`replay`), 8 dispatches and no primal arithmetic a product (the output
   * layer's and the loss's four tangent dispatches fused into one, `fuseOutputTangent`). A
   * 10-iteration update is 127 (ReLU) and 133 (tanh) dispatches on bench/implicit.ts's games
   * (the ReLU mixed term carried through CG, `accumulateMixed`; 166 with `sharePrimal`,
   * `fuseOutputTangent` and `accumulateMixed` off, 175 with `mixedReplay: false` as well) against
   * the recorded reverse path's 435–547, about half its CPU time (docs/actor-critic.md, Speed).
   */
  secondOrder?: 'forward' | 'reverse';
  /** CG's one-kernel iteration (CgOptions.fused; default: CG's default). */
  fused?: boolean;
  /**
   * Replay the forward-over-reverse products (CgOptions.replay; default true in 'forward' mode):
   * the primal passes are computed by the first product only. false recomputes them every time.
   */
  replay?: boolean;
  /**
   * With the replay (and outside an enclosing transformation): the mixed term ∇²ₓᵧf₂·q replayed
   * from the recorded first product (default true), which then records the jvp of both players'
   * gradients; false computes it by a fresh jvp of ∇ₓf₂ after the solve (the path before; the
   * same maths, for comparisons in one process).
   */
  mixedReplay?: boolean;
  /**
   * Submit the encoded GPU work at two points of the update (default false): after f₁'s gradient and
   * after CG's recorded first product, so the GPU can run each part while the host encodes the next
   * (otherwise the whole update is encoded first and runs at the caller's next sync or readback).
   * Off by default: on lavapipe (2 cores, where the host thread and the driver's threads share the
   * cores) it did not help in loaded in-process A/Bs (docs/kernels.md, Session 9); a GPU that runs
   * beside the host is where it would.
   */
  submitEarly?: boolean;
  /**
   * With the mixed term replayed (default true): CG's recorded first product copies the outputs of
   * the primal work it repeats from f₁'s gradient (the actor's forward, the critic's forward) instead
   * of running it again (166 → 160 dispatches on bench/implicit.ts's games). false runs it again.
   */
  sharePrimal?: boolean;
  /** CG's replayed products fuse a 1-wide output layer's and its MSE loss's tangent dispatches (CgOptions.fuseReplay, default true). */
  fuseOutputTangent?: boolean;
  /**
   * With the mixed term replayed and no warm start (default true): the critic's tangents the mixed
   * term needs at the solution q = Σ_k α_k p_k are carried through CG (CgOptions.accumulateSide)
   * instead of replayed at q, where they meet the leader's part in one range.
   */
  accumulateMixed?: boolean;
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
  /** CG's negative-curvature count (a one-element GPU tensor, see CgResult.negativeCurvature). */
  negativeCurvature: Tensor;
}

/**
 * The Stackelberg leader's total derivative, for a follower that minimises f₂ (its best response
 * solves ∇₂f₂ = 0), together with the follower's gradient, from one call and with no readback:
 *
 *   ∇f₁ = ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁
 *
 * One forward/backward of f₁ gives ∇₁f₁ and ∇₂f₁; CG (x₀ = 0 or the warm start) solves the damped
 * system with one Hessian-vector product per iteration; the mixed term and ∇₂f₂ come from one
 * more pass (see `secondOrder`). λ → ∞ gives the individual gradient ∇₁f₁; λ = 0 with enough CG
 * iterations gives the implicit-function-theorem derivative.
 */
export function totalDerivative<L extends Tree, F extends Tree>(o: TotalDerivativeOptions<L, F>): TotalDerivativeResult<L, F> {
  const mode = o.secondOrder ?? 'forward';
  if (mode !== 'forward' && mode !== 'reverse') throw new Error(`totalDerivative: secondOrder must be 'forward' or 'reverse', got '${mode}'`);
  return scope(() => {
    // With the mixed term replayed from CG's recorded first product, f₁'s gradient is logged (its
    // freed buffers held) so that product can copy the primal work it repeats (the actor's
    // forward, the critic's forward) instead of running it again.
    const sharing = mode === 'forward' && o.replay !== false && o.mixedReplay !== false && o.sharePrimal !== false && !insideTransform() && !disposalDeferred();
    const f1 = () => valueAndGrad(o.leaderLoss, [0, 1])(o.leader, o.follower);
    let primalCache: PrimalCache | undefined;
    let first: ReturnType<typeof f1>;
    if (sharing) ({ result: first, cache: primalCache } = withPrimalCache(f1));
    else first = f1();
    try {
      const [leaderValue, [g1, g2]] = first;
      const early = o.submitEarly === true;
      if (early) runtime().flush();
      const cgOpts = (): CgOptions => ({
        iters: o.cgIters ?? 10, lambda: o.lambda ?? 0, x0: o.x0, residuals: o.residuals, replay: mode === 'forward' && o.replay !== false,
        negativeCurvature: o.negativeCurvature, curvatureDamping: o.curvatureDamping, ...(o.fused !== undefined ? { fused: o.fused } : {}),
        fuseReplay: o.fuseOutputTangent, accumulateSide: o.accumulateMixed,
      });
      let sol: CgResult;
      let g2f2: F, mixed: L;
      if (mode === 'forward') {
        // Forward over reverse: a product costs about one gradient and needs no recorded graph.
        const fy = (y: F) => o.followerLoss(o.leader, y);
        // Each product is the jvp of ∇₂f₂ along p, whose primal output is ∇₂f₂ itself: the first
        // product's is kept (a copy) as the follower's gradient, so the mixed-term pass below
        // differentiates for the leader only.
        let kept: Tensor[] | null = null;
        const reuse = !insideTransform();
        const keepGrad = (g: F) => {
          if (reuse && !kept) kept = flattenTree(g).leaves.map((t) => keep(clone(t)));
        };
        const opts = cgOpts();
        opts.submitAfterFirst = early;
        opts.primalCache = primalCache;
        // With the replay, the recorded first product is the jvp of BOTH gradients along p: the
        // follower's tangent is the product; the leader's, ∂_y(∇ₓf₂)·p, is a side output that CG
        // replays once at the solution (CgOptions.sideMatvec), the mixed term ∇²ₓᵧf₂·q. It reuses
        // the first product's primal passes (the actor's forward, the critic's forward and
        // backward) instead of a fresh jvp computing them again, and the leader-only part does
        // not run during the first product.
        if (reuse && opts.replay && o.mixedReplay !== false) {
          const leaves = flattenTree(o.leader).leaves.length;
          opts.sideMatvec = (v: F) => {
            const [gs, ts] = jvp((y: F) => grad(o.followerLoss, [0, 1])(o.leader, y), [o.follower], [v]) as [[L, F], [L, F]];
            keepGrad(gs[1]);
            const side = flattenTree(ts[0]).leaves;
            if (side.length !== leaves) throw new Error(`totalDerivative: the mixed term has ${side.length} tensors for a ${leaves}-tensor leader`);
            return { out: ts[1], side };
          };
        }
        sol = noGrad(() => cg((v: F) => {
          const [g, hv] = jvp((y: F) => grad(fy)(y), [o.follower], [v]);
          keepGrad(g);
          return hv;
        }, g2, opts));
        if (kept) {
          for (const t of kept as Tensor[]) t.kept = false;
          g2f2 = flattenTree(o.follower).rebuild(kept);
          // ∂_y(∇ₓf₂)·q = ∇²ₓᵧf₂·q, the mixed term: replayed by CG from its recorded first product,
          // else a jvp of the leader's gradient only
          mixed = sol.side ? flattenTree(o.leader).rebuild(sol.side) : jvp((y: F) => grad(o.followerLoss, 0)(o.leader, y), [o.follower], [sol.x])[1];
        } else {
          // ∂_y(∇ₓf₂, ∇_y f₂)·q = (∇²ₓᵧf₂·q, ∇²ᵧᵧf₂·q): the first is the mixed term, and the jvp's
          // primal output is the follower's gradient, so both cost one pass.
          const [grads, tans] = jvp((y: F) => grad(o.followerLoss, [0, 1])(o.leader, y), [o.follower], [sol.x]);
          g2f2 = grads[1];
          mixed = tans[0];
        }
      } else {
        // ∇₂f₂ is recorded once as a function of BOTH players: the leader is a variable of an outer
        // vjp, the follower of the inner linearisation. CG's HVPs walk only the follower-dependent
        // part of that graph (no recording: noGrad), and the mixed term ∇₁⟨∇₂f₂, q⟩ is then one
        // reverse pass of the outer vjp over the same graph, not a fresh forward/backward of f₂.
        let inner: CgResult | null = null;
        const [g, outer] = vjp((x: L) => {
          const lin = linearizeGrad((y: F) => o.followerLoss(x, y), o.follower);
          inner = noGrad(() => cg(lin.hvp, g2, cgOpts()));
          return lin.grad;
        }, o.leader);
        sol = inner as unknown as CgResult;
        g2f2 = g;
        [mixed] = outer(sol.x);
        // The follower gradient's graph is not needed by anything returned: unlink it so the scope
        // frees it (inside an enclosing transformation it stays, for higher derivatives).
        if (!insideTransform()) for (const t of flattenTree(g2f2).leaves) t.node = null;
      }
      const { x: q, residuals, negativeCurvature } = sol;
      const leaderGrad = treeSub(g1, mixed);
      const res: TotalDerivativeResult<L, F> = {
        leaderGrad, followerGrad: g2f2, leaderIndividualGrad: g1, leaderValue, implicit: q, negativeCurvature,
      };
      if (residuals) res.residuals = residuals;
      return res;
    } finally {
      primalCache?.release();
    }
  });
}
