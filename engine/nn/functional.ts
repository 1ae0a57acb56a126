// Fused, differentiable network ops. Each forward is one hand-written kernel (kernels/nn.ts);
// each backward is written with differentiable engine ops (and these fused ops), so gradients
// can be differentiated again (HVPs, total derivatives).

import {
  Tensor, allocTensor, record, runtime, shapeSize, fmtShape, noGrad, isGradEnabled, insideTransform, forwardActive, dualTangents, tangentOf, setTangent,
  VIEW_ALIGN_FLOATS, type Shape,
} from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid, memoKernel } from '../../kernels/common.ts';
import {
  linearKernel, linearBackInputKernel, linearBackWeightKernel, linearDualKernel, linearBackInputDualKernel, linearBackWeightDualKernel, mseDualKernel, mseBackwardDualKernel, softmaxKernel, categoricalKernel, gaussianLogProbKernel, lossKernel, ACTIVATIONS,
  type Activation, type LinearTile,
} from '../../kernels/nn.ts';
import { tileFor } from '../../kernels/tune.ts';
import { abSwitch } from '../switch.ts';

export type { Activation } from '../../kernels/nn.ts';

const alloc = allocTensor;

/** act'(pre) written from the activation's output y (differentiable in y). */
function activationGrad(act: Activation, g: Tensor, y: Tensor): Tensor {
  switch (act) {
    case 'none': return g;
    case 'relu': return O.mul(g, O.step(y));
    case 'tanh': return O.mul(g, O.sub(1, O.square(y)));
    case 'sigmoid': return O.mul(g, O.mul(y, O.sub(1, y)));
  }
}

export function activate(x: Tensor, act: Activation): Tensor {
  switch (act) {
    case 'none': return x;
    case 'relu': return O.relu(x);
    case 'tanh': return O.tanh(x);
    case 'sigmoid': return O.sigmoid(x);
  }
}

const dualOn = abSwitch(true);
/**
 * Whether the fused linear and MSE ops use their dual (value + tangent) kernels inside a
 * top-level jvp (default true). false makes them take their composed tangent rules, as before
 * those kernels existed: for benchmarks that compare the two in one process. Returns the
 * previous setting.
 */
export const nnDualKernels = dualOn.set;
const dualHere = () => dualOn.on && dualTangents();

/**
 * y = act(x·Wᵀ + b) in one dispatch. w: [out, in] (PyTorch layout); b: [out] or null;
 * x: [..., in] → y: [..., out].
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null = null, activation: Activation = 'none'): Tensor {
  if (w.rank !== 2) throw new Error(`linear: weight must be [out, in], got ${fmtShape(w.shape)}`);
  const [N, K] = w.shape;
  if (x.shape[x.rank - 1] !== K) throw new Error(`linear: input ${fmtShape(x.shape)} does not end in the weight's in-features ${K} (weight ${fmtShape(w.shape)})`);
  if (b && (b.size !== N)) throw new Error(`linear: bias ${fmtShape(b.shape)} does not match out-features ${N}`);
  if (!(activation in ACTIVATIONS)) throw new Error(`linear: unknown activation '${activation}'`);
  const lead = x.shape.slice(0, -1);
  const M = shapeSize(lead);
  // Inside a top-level jvp: y and ẏ in one dual dispatch (its tangent carries no graph).
  const dual = dualHere() && M * N * K > 0;
  const tx = dual ? tangentOf(x) : null, tw = dual ? tangentOf(w) : null, tb = dual && b ? tangentOf(b) : null;
  let out: Tensor;
  if (tx || tw || tb) {
    const [y, ty] = linearDual(x, w, b, activation, tx, tw, tb, M, N, K, [...lead, N]);
    setTangent(y, ty);
    out = y;
  } else out = alloc([...lead, N]);
  if (M * N > 0 && !(tx || tw || tb)) {
    const vec4 = K % 4 === 0 && K > 0;
    const t = tileFor('linear', { M, N, K });
    runtime().dispatch({
      kernel: fwdKernel(t, vec4, activation, !!b),
      inputs: [x.bufferFor('linear'), w.bufferFor('linear'), (b ?? w).bufferFor('linear')],
      outputs: [out.buffer],
      params: [M, N, K],
      workgroups: [Math.ceil(N / t.TN / t.WX), Math.ceil(M / t.TM / t.WY), 1],
      label: 'linear',
    });
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'linear', inputs, (g, needs) => {
    const x2 = O.reshape(x, [M, K]);
    // Forward over reverse at top level (an HVP is the jvp of a gradient): the backward and its
    // tangent in the same two fused dispatches, dual kernels.
    if (!(isGradEnabled() && insideTransform()) && dualHere() && M * N * K > 0) {
      const g2 = O.reshape(g, [M, N]), y2 = O.reshape(out, [M, N]);
      const [dx, dw, db] = linearBackwardDual(g2, y2, x2, w, activation, !!b && needs[2], needs[0], needs[1] || (!!b && needs[2]));
      return [dx ? O.reshape(dx, x.shape) : null, needs[1] ? dw : null, db ? O.reshape(db, b!.shape) : null];
    }
    // A first-order backward (not itself differentiated, no tangents through it): two fused
    // dispatches, dX and (dW, db).
    if (!(isGradEnabled() && insideTransform()) && !forwardActive() && M * N * K > 0) {
      const g2 = O.reshape(g, [M, N]), y2 = O.reshape(out, [M, N]);
      const dx = needs[0] ? O.reshape(linearBackInput(g2, y2, w, activation), x.shape) : null;
      const [dw, db] = needs[1] || (b && needs[2]) ? linearBackWeight(g2, y2, x2, activation, !!b && needs[2]) : [null, null];
      return [dx, needs[1] ? dw : (dw?.dispose(), null), db ? O.reshape(db, b!.shape) : null];
    }
    // Differentiated again (HVPs, grad of grad): the same maths from differentiable ops.
    const gp = O.reshape(activationGrad(activation, g, out), [M, N]);
    return [
      needs[0] ? O.reshape(O.mm(gp, w), x.shape) : null,
      needs[1] ? O.mm(gp, x2, true, false) : null,
      b && needs[2] ? O.reshape(O.sum(gp, 0), b.shape) : null,
    ];
  }, [], ([tx, tw, tb]) => {
    // ẏ = act′(y) ⊙ (ẋ·Wᵀ + x·Ẇᵀ + ḃ), the linear parts on the fused kernel
    let z = tx ? linear(tx, w, null, 'none') : null;
    if (tw || tb) {
      const part = tw ? linear(x, tw, tb ?? null, 'none') : O.broadcastTo(tb!, out.shape);
      z = z ? O.add(z, part) : part;
    }
    return activationGrad(activation, z!, out);
  });
}

/** Two tensors of `shape` in one buffer (the second at an aligned offset), and that offset: dual kernels write both. */
function pairAlloc(shape: Shape, extra = 0): { base: Tensor; a: Tensor; t: Tensor; toff: number } {
  const n = shapeSize(shape);
  const toff = Math.ceil(Math.max(n, 1) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
  const base = alloc([toff * 2 + extra]);
  return { base, a: base.subView(0, shape), t: base.subView(toff, shape), toff };
}

const dualFlags = (act: Activation, bias: boolean, t0: boolean, t1: boolean, t2: boolean) =>
  ({ ACT: ACTIVATIONS[act], HAS_BIAS: bias ? 1 : 0, HAS_T0: t0 ? 1 : 0, HAS_T1: t1 ? 1 : 0, HAS_T2: t2 ? 1 : 0, PRIMAL: 1 });

/**
 * A dual dispatch's kernel with its replay hint (engine/solvers.ts, CgOptions.replay): replayed
 * with its primal inputs (bindings other than 3–5) unchanged, it may skip the primal half
 * (PRIMAL = 0), which is then already in OUT; only the byte ranges `tangentOut` of OUT change.
 */
function withReplay<K extends object>(k: K, constants: Record<string, number>, tangentOut: Array<[number, number]>, tangentOnly?: TangentOnly) {
  return { ...k, constants, replay: { constants: { PRIMAL: 0 }, tangentInputs: [3, 4, 5], tangentOut, ...(tangentOnly ? { tangentOnly } : {}) } };
}

/**
 * For a dual kernel that, run with PRIMAL = 0, reads none of its output: the byte ranges of OUT
 * that hold the primal half, and the input bindings the tangent half reads. CG's replay of a
 * side output (engine/solvers.ts) runs such a kernel tangent-only when nothing reads its primal
 * half (the leader's own gradient inside the mixed term, whose tangent is all that is wanted).
 */
interface TangentOnly { primalOut: Array<[number, number]>; reads: number[] }
/** The linear backward dual kernels (bindings G, Y, W|X, TG, TY, TW|TX): ė = ġ⊙act′(y) + g⊙act″(y)⊙ẏ, then ė·W (+ e·Ẇ). */
const backwardTangentReads = (tg: boolean, ty: boolean, t2: boolean) => [1, 2, ...(tg ? [3] : []), ...(ty ? [0, 4] : []), ...(t2 ? [0, 5] : [])];

// One spec object per tile/activation/bias: the runtime finds its pipeline by the object
// (bySpec) instead of hashing a freshly built multi-KB WGSL string on every call (~0.07 ms of
// host time per critic gradient before).
const fwdKernel = memoKernel((t: LinearTile, vec4: boolean, activation: Activation, bias: boolean) =>
  ({ ...linearKernel(t, vec4), constants: { ACT: ACTIVATIONS[activation], HAS_BIAS: bias ? 1 : 0 } }));
const dualKernel = memoKernel((which: 'f' | 'x' | 'w', t: LinearTile, vec4: boolean) =>
  which === 'f' ? linearDualKernel(t, vec4) : which === 'x' ? linearBackInputDualKernel(t, vec4) : linearBackWeightDualKernel(t, vec4));

/** y = act(x·Wᵀ + b) and ẏ, one dispatch; returns [y, ẏ] (views of one buffer). No autodiff record. */
function linearDual(x: Tensor, w: Tensor, b: Tensor | null, act: Activation, tx: Tensor | null, tw: Tensor | null, tb: Tensor | null, M: number, N: number, K: number, shape: Shape): [Tensor, Tensor] {
  const { base, a, t: ta, toff } = pairAlloc(shape);
  const vec4 = K % 4 === 0;
  const t0 = tileFor<LinearTile>('linearDual', { M, N, K });
  // a narrow layer (the 64×32 tanh critic's 32 outputs at the 256-wide layer's tuned 64×1
  // workgroups: 4 busy threads in each of 250) gets its workgroup folded as the backward's
  const t = foldDualForward.on ? foldNarrow(t0, Math.ceil(N / t0.TN), Math.ceil(M / t0.TM)) : t0;
  const at = (u: Tensor) => u.bufferFor('linear (dual)');
  const k = withReplay(dualKernel('f', t, vec4), dualFlags(act, !!b, !!tx, !!tw, !!tb), [[toff * 4, (toff + M * N) * 4]]);
  // its primal half is what linear()'s plain dispatch on the same x, W, b writes (engine/solvers.ts
  // copies that output in when the pass before CG ran it: the critic's forward in f₁'s gradient)
  const primal = { label: 'linear', constants: { ACT: ACTIVATIONS[act], HAS_BIAS: b ? 1 : 0 }, params: [M, N, K], inputs: [0, 1, 2], out: [0, M * N * 4] as [number, number] };
  const kernel = { ...k, replay: { ...k.replay, primal } };
  runtime().dispatch({
    kernel,
    inputs: [at(x), at(w), at(b ?? w), at(tx ?? x), at(tw ?? w), at(tb ?? b ?? w)],
    outputs: [base.buffer],
    params: [M, N, K, toff],
    workgroups: [Math.ceil(N / t.TN / t.WX), Math.ceil(M / t.TM / t.WY), 1],
    label: 'linear (dual)',
  });
  base.dispose();
  return [a, ta];
}

/**
 * The matmul tile with its workgroup folded for a narrow output: when the columns of threads the
 * output needs fill at most a quarter of the workgroup's width, the workgroup takes only as many
 * columns as needed (a power of two) and as many more rows. The first layer of a critic reading
 * (observation, action), 23 inputs, at the matmul tile's 64×1 workgroups ran 3 busy threads in
 * each of 64 workgroups: its weight-gradient tangent took 0.35 ms against 0.21 folded to 4×16
 * (lavapipe, CPU time, load 6.6; docs/kernels.md). The fold stops while `threadRows` (the rows of
 * threads the output needs) would still fill `foldMinWorkgroups` workgroups: a workgroup runs on
 * one core of a CPU adapter, and the 64×32 tanh critic's 32×64 weight-gradient tangent folded into
 * a single workgroup left lavapipe's second core idle (docs/kernels.md, Session 10).
 */
function foldNarrow(t: LinearTile, threadCols: number, threadRows: number): LinearTile {
  if (threadCols * 4 > t.WX) return t;
  const wx = Math.max(1, 2 ** Math.ceil(Math.log2(threadCols)));
  let wy = (t.WX * t.WY) / wx;
  while (wy > 1 && Math.ceil(threadRows / wy) < foldMinWorkgroups) wy = Math.floor(wy / 2);
  return { ...t, WX: wx, WY: wy };
}
let foldMinWorkgroups = 2;
const foldDualForward = abSwitch(true);
/**
 * Whether the dual linear forward folds its workgroup for a narrow output as the dual backward
 * kernels do (default true since session 10; false: the linearDual tile as tuned). For benchmarks
 * that compare both in one process. Returns the previous setting.
 */
export const nnFoldDualForward = foldDualForward.set;
/**
 * The fewest workgroups a folded dual backward dispatch keeps where its output has enough rows of
 * threads (default 2; 1 folds as far as the workgroup size allows, as before session 10). For
 * benchmarks that compare both in one process. Returns the previous setting.
 */
export function nnFoldMinWorkgroups(n?: number): number {
  const prev = foldMinWorkgroups;
  if (n !== undefined) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`nnFoldMinWorkgroups: expected a positive integer, got ${n}`);
    foldMinWorkgroups = n;
  }
  return prev;
}

/**
 * The linear backward inside a top-level jvp: dX, dW, db with their tangents (from the tangents
 * of g, y = the forward's output, x and W), in at most two dispatches. An output whose tangent is
 * zero runs the first-order kernel. Returns [dx | null, dW | null, db | null]; tangents attached.
 */
function linearBackwardDual(g: Tensor, y: Tensor, x: Tensor, w: Tensor, act: Activation, withBias: boolean, wantX: boolean, wantW: boolean): [Tensor | null, Tensor | null, Tensor | null] {
  const [M, N] = g.shape, K = w.shape[1];
  const tg = tangentOf(g), ty = act === 'tanh' || act === 'sigmoid' ? tangentOf(y) : null, tx = tangentOf(x), tw = tangentOf(w);
  const at = (u: Tensor) => u.bufferFor('linear backward (dual)');
  const vec4 = K % 4 === 0;
  let dx: Tensor | null = null, dw: Tensor | null = null, db: Tensor | null = null;
  if (wantX) {
    if (tg || ty || tw) {
      const { base, a, t: ta, toff } = pairAlloc([M, K]);
      const t0 = tileFor<LinearTile>('matmul', { M, N: K, K: N });
      const cols = vec4 ? Math.max(1, Math.round(t0.TN / 4)) : t0.TN;
      const t = foldNarrow(t0, Math.ceil(K / (vec4 ? 4 : 1) / cols), Math.ceil(M / t0.TM));
      runtime().dispatch({
        kernel: withReplay(dualKernel('x', t, vec4), dualFlags(act, false, !!tg, !!ty, !!tw), [[toff * 4, (toff + M * K) * 4]], {
          primalOut: [[0, M * K * 4]], reads: backwardTangentReads(!!tg, !!ty, !!tw),
        }),
        inputs: [at(g), at(y), at(w), at(tg ?? g), at(ty ?? y), at(tw ?? w)],
        outputs: [base.buffer],
        params: [M, N, K, toff],
        workgroups: [Math.ceil(K / (vec4 ? 4 : 1) / cols / t.WX), Math.ceil(M / t.TM / t.WY), 1],
        label: 'linear backward (dx, dual)',
      });
      base.dispose();
      setTangent(a, ta);
      dx = a;
    } else dx = linearBackInput(g, y, w, act);
  }
  if (wantW) {
    if (tg || ty || tx) {
      const nk = N * K;
      const toff = Math.ceil(Math.max(nk, 1) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
      const boff = 2 * toff, tboff = Math.ceil(N / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
      const base = alloc([boff + (withBias ? 2 * tboff : 0)]);
      const t0 = tileFor<LinearTile>('matmul', { M: N, N: K, K: M });
      const cols = vec4 ? Math.max(1, Math.round(t0.TN / 4)) : t0.TN;
      const t = foldNarrow(t0, Math.ceil(K / (vec4 ? 4 : 1) / cols), Math.ceil(N / t0.TM));
      runtime().dispatch({
        kernel: withReplay(dualKernel('w', t, vec4), dualFlags(act, withBias, !!tg, !!ty, !!tx), [[toff * 4, (toff + nk) * 4], [(boff + tboff) * 4, (boff + tboff + N) * 4]], {
          primalOut: [[0, nk * 4], ...(withBias ? [[boff * 4, (boff + N) * 4] as [number, number]] : [])], reads: backwardTangentReads(!!tg, !!ty, !!tx),
        }),
        inputs: [at(g), at(y), at(x), at(tg ?? g), at(ty ?? y), at(tx ?? x)],
        outputs: [base.buffer],
        params: [M, N, K, toff, boff, tboff],
        workgroups: [Math.ceil(K / (vec4 ? 4 : 1) / cols / t.WX), Math.ceil(N / t.TM / t.WY), 1],
        label: 'linear backward (dw, db, dual)',
      });
      dw = base.subView(0, [N, K]);
      setTangent(dw, base.subView(toff, [N, K]));
      if (withBias) {
        db = base.subView(boff, [N]);
        setTangent(db, base.subView(boff + tboff, [N]));
      }
      base.dispose();
    } else [dw, db] = linearBackWeight(g, y, x, act, withBias);
  }
  return [dx, dw, db];
}

const bwdKernel = memoKernel((which: 'x' | 'w', t: LinearTile, vec4: boolean, act: Activation, bias: boolean) => {
  const k = which === 'x' ? linearBackInputKernel(t, vec4) : linearBackWeightKernel(t, vec4);
  return { ...k, constants: { ACT: ACTIVATIONS[act], HAS_BIAS: bias ? 1 : 0 } };
});

/** dX = (g ⊙ act′(y))·W for y = act(x·Wᵀ + b): one dispatch. g, y: [M, N]; w: [N, K] → [M, K]. No autodiff record. */
export function linearBackInput(g: Tensor, y: Tensor, w: Tensor, activation: Activation): Tensor {
  const [M, N] = g.shape, K = w.shape[1];
  const dx = alloc([M, K]);
  const vec4 = K % 4 === 0;
  // dX is an M×K matmul with an N-long reduction: the matmul family's register tile.
  const t = tileFor<LinearTile>('matmul', { M, N: K, K: N });
  const cols = vec4 ? Math.max(1, Math.round(t.TN / 4)) : t.TN;
  runtime().dispatch({
    kernel: bwdKernel('x', t, vec4, activation, false),
    inputs: [g.bufferFor('linear backward'), y.bufferFor('linear backward'), w.bufferFor('linear backward')],
    outputs: [dx.buffer],
    params: [M, N, K],
    workgroups: [Math.ceil(K / (vec4 ? 4 : 1) / cols / t.WX), Math.ceil(M / t.TM / t.WY), 1],
    label: 'linear backward (dx)',
  });
  return dx;
}

/** dW = (g ⊙ act′(y))ᵀ·x and db = Σ rows of g ⊙ act′(y), one dispatch. g, y: [M, N]; x: [M, K] → [N, K], [N]. No autodiff record. */
export function linearBackWeight(g: Tensor, y: Tensor, x: Tensor, activation: Activation, withBias: boolean): [Tensor, Tensor | null] {
  const [M, N] = g.shape, K = x.shape[1];
  const dw = alloc([N, K]);
  const db = withBias ? alloc([N]) : null;
  const vec4 = K % 4 === 0;
  const t = tileFor<LinearTile>('matmul', { M: N, N: K, K: M });
  const cols = vec4 ? Math.max(1, Math.round(t.TN / 4)) : t.TN;
  const scratch = db ?? alloc([1]);
  runtime().dispatch({
    kernel: bwdKernel('w', t, vec4, activation, withBias),
    inputs: [g.bufferFor('linear backward'), y.bufferFor('linear backward'), x.bufferFor('linear backward')],
    outputs: [dw.buffer, scratch.buffer],
    params: [M, N, K],
    workgroups: [Math.ceil(K / (vec4 ? 4 : 1) / cols / t.WX), Math.ceil(N / t.TM / t.WY), 1],
    label: 'linear backward (dw, db)',
  });
  if (!db) scratch.dispose();
  return [dw, db];
}

// ---------------------------------------------------------------- softmax family

function lastAxis<T extends Tensor>(x: Tensor, axis: number, op: string, f: (x: Tensor) => T): T | Tensor {
  const a = axis < 0 ? axis + x.rank : axis;
  if (a < 0 || a >= x.rank) throw new Error(`${op}: axis ${axis} out of range for shape ${fmtShape(x.shape)}`);
  if (a === x.rank - 1) return f(x);
  const perm = x.shape.map((_, i) => i);
  [perm[a], perm[x.rank - 1]] = [perm[x.rank - 1], perm[a]];
  return O.permute(f(O.permute(x, perm)), perm);
}

function softmaxRaw(x: Tensor, mode: 0 | 1): Tensor {
  const c = x.shape[x.rank - 1];
  const rows = x.size / Math.max(c, 1);
  const out = alloc(x.shape);
  runtime().dispatch({
    kernel: { ...softmaxKernel, constants: { MODE: mode } },
    inputs: [x.bufferFor(mode ? 'logSoftmax' : 'softmax')],
    outputs: [out.buffer],
    params: [rows, c],
    workgroups: grid(rows),
    label: mode ? 'logSoftmax' : 'softmax',
  });
  return out;
}

/** softmax along `axis` (default last), one dispatch. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return lastAxis(x, axis, 'softmax', (x) => {
    const y = softmaxRaw(x, 0);
    return record(y, 'softmax', [x], (g) => [O.mul(y, O.sub(g, O.sum(O.mul(g, y), -1, true)))]);
  });
}

/** log-softmax along `axis` (default last), one dispatch. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return lastAxis(x, axis, 'logSoftmax', (x) => {
    const y = softmaxRaw(x, 1);
    return record(y, 'logSoftmax', [x], (g) => [O.sub(g, O.mul(O.exp(y), O.sum(g, -1, true)))]);
  });
}

function oneHot(actions: Tensor, n: number): Tensor {
  return noGrad(() => O.eq(O.expandDims(actions, -1), O.arange(n)));
}

/** log π(a) for logits [..., A] and integer-valued actions [...] (as f32), one dispatch. */
export function categoricalLogProb(logits: Tensor, actions: Tensor): Tensor {
  const A = logits.shape[logits.rank - 1];
  const lead = logits.shape.slice(0, -1);
  if (actions.size !== shapeSize(lead)) {
    throw new Error(`categoricalLogProb: actions ${fmtShape(actions.shape)} do not match logits ${fmtShape(logits.shape)} without the last axis`);
  }
  const out = alloc(lead);
  runtime().dispatch({
    kernel: { ...categoricalKernel, constants: { MODE: 0 } },
    inputs: [logits.bufferFor('categoricalLogProb'), actions.bufferFor('categoricalLogProb')],
    outputs: [out.buffer],
    params: [out.size, A],
    workgroups: grid(out.size),
    label: 'categoricalLogProb',
  });
  return record(out, 'categoricalLogProb', [logits], (g) => {
    const oh = oneHot(O.reshape(actions, lead), A);
    return [O.mul(O.expandDims(g, -1), O.sub(oh, softmax(logits)))];
  }, [actions]);
}

/** Entropy −Σ p log p of categorical distributions given logits [..., A] → [...], one dispatch. */
export function categoricalEntropy(logits: Tensor): Tensor {
  const A = logits.shape[logits.rank - 1];
  const lead = logits.shape.slice(0, -1);
  const out = alloc(lead);
  runtime().dispatch({
    kernel: { ...categoricalKernel, constants: { MODE: 1 } },
    inputs: [logits.bufferFor('categoricalEntropy'), logits.bufferFor('categoricalEntropy')],
    outputs: [out.buffer],
    params: [out.size, A],
    workgroups: grid(out.size),
    label: 'categoricalEntropy',
  });
  // dH/dx = −p ⊙ (log p + H)
  return record(out, 'categoricalEntropy', [logits], (g) => {
    const lp = logSoftmax(logits);
    return [O.neg(O.mul(O.mul(O.expandDims(g, -1), O.exp(lp)), O.add(lp, O.expandDims(out, -1))))];
  });
}

// ---------------------------------------------------------------- Gaussian policies

/**
 * Σ over the last axis of log N(x | mean, exp(logStd)), one dispatch. Operands broadcast;
 * the usual state-independent logStd of shape [A] (or [1, A]) is read without a copy.
 */
export function gaussianLogProb(x: Tensor, mean: Tensor, logStd: Tensor): Tensor {
  const shape = O.broadcastShapes(O.broadcastShapes(x.shape, mean.shape, 'gaussianLogProb'), logStd.shape, 'gaussianLogProb');
  const c = shape[shape.length - 1] ?? 1;
  const rows = shapeSize(shape) / Math.max(c, 1);
  const operand = (t: Tensor): [Tensor, number] => {
    if (shapeSize(t.shape) === shapeSize(shape) && t.rank === shape.length) return [t, 1];
    if (t.size === c && t.shape[t.rank - 1] === c) return [t, 0];
    return [noGrad(() => O.broadcastTo(t, shape)), 1];
  };
  const [X, fx] = operand(x), [M, fm] = operand(mean), [S, fs] = operand(logStd);
  const lead = shape.slice(0, -1);
  const out = alloc(lead);
  runtime().dispatch({
    kernel: gaussianLogProbKernel,
    inputs: [X.bufferFor('gaussianLogProb'), M.bufferFor('gaussianLogProb'), S.bufferFor('gaussianLogProb')],
    outputs: [out.buffer],
    params: [rows, c, fx, fm, fs],
    workgroups: grid(rows),
    label: 'gaussianLogProb',
  });
  for (const t of [X, M, S]) if (t !== x && t !== mean && t !== logStd) t.dispose();
  return record(out, 'gaussianLogProb', [x, mean, logStd], (g, needs) => {
    const ge = O.expandDims(g, -1);
    const d = O.sub(x, mean);
    const invVar = O.exp(O.mul(logStd, -2));
    const gx = O.mul(ge, O.mul(d, invVar)); // = −∂/∂x, = +∂/∂mean
    return [
      needs[0] ? O.sumToShape(O.neg(gx), x.shape) : null,
      needs[1] ? O.sumToShape(gx, mean.shape) : null,
      needs[2] ? O.sumToShape(O.mul(ge, O.sub(O.mul(O.square(d), invVar), 1)), logStd.shape) : null,
    ];
  });
}

export interface TanhGaussianOptions {
  /** Standard-normal noise to use (reparameterisation); drawn with randn if absent. */
  noise?: Tensor;
  /** Seed for the noise draw (else the engine's global RNG stream). */
  seed?: number;
  /** Action = tanh(u)·scale + bias (CleanRL's action_scale / action_bias). */
  scale?: number | Tensor;
  bias?: number | Tensor;
}

/**
 * Reparameterised sample of a tanh-squashed diagonal Gaussian and its log-probability with the
 * exact change-of-variables term: log π(a) = log N(u) − Σ log(scale·(1 − tanh²u)), where
 * log(1 − tanh²u) = 2(log 2 − u − softplus(−2u)) (stable for large |u|).
 */
export function tanhGaussian(mean: Tensor, logStd: Tensor, opts: TanhGaussianOptions = {}) {
  const noise = opts.noise ?? O.randn(O.broadcastShapes(mean.shape, logStd.shape), 0, 1, opts.seed === undefined ? {} : { seed: opts.seed });
  const u = O.add(mean, O.mul(O.exp(logStd), noise));
  const t = O.tanh(u);
  const scale = opts.scale ?? 1, bias = opts.bias ?? 0;
  const action = O.add(O.mul(t, scale as Tensor), bias as Tensor);
  const logDet = O.mul(O.sub(O.sub(Math.LN2, u), O.softplus(O.mul(u, -2))), 2);
  let logProb = O.sub(gaussianLogProb(u, mean, logStd), O.sum(logDet, -1));
  if (typeof scale === 'number') {
    if (scale !== 1) logProb = O.sub(logProb, u.shape[u.rank - 1] * Math.log(Math.abs(scale)));
  } else {
    logProb = O.sub(logProb, O.sum(O.broadcastTo(O.log(O.abs(scale)), u.shape), -1));
  }
  if (!opts.noise) noise.dispose();
  return { action, logProb, preTanh: u, mean: O.add(O.mul(O.tanh(mean), scale as Tensor), bias as Tensor) };
}

// ---------------------------------------------------------------- losses

function lossRaw(mode: 0 | 1, pred: Tensor, target: Tensor, delta: number, op: string): Tensor {
  if (pred.shape.join() !== target.shape.join()) throw new Error(`${op}: prediction ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} differ`);
  if (pred.size === 0) throw new Error(`${op}: empty tensors`);
  const out = alloc([]);
  runtime().dispatch({
    kernel: { ...lossKernel, constants: { MODE: mode } },
    inputs: [pred.bufferFor(op), target.bufferFor(op)],
    outputs: [out.buffer],
    params: [pred.size, f32bits(delta)],
    workgroups: [1],
    label: op,
  });
  return out;
}

/** mean((pred − target)²), one dispatch. Differentiable in both operands. */
export function mse(pred: Tensor, target: Tensor): Tensor {
  // Inside a top-level jvp: the value and its tangent in one dispatch.
  const tp = dualHere() ? tangentOf(pred) : null, tt = dualHere() ? tangentOf(target) : null;
  let out: Tensor;
  if (tp || tt) {
    if (pred.shape.join() !== target.shape.join()) throw new Error(`mse: prediction ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} differ`);
    if (pred.size === 0) throw new Error('mse: empty tensors');
    const base = alloc([VIEW_ALIGN_FLOATS + 1]);
    runtime().dispatch({
      kernel: { ...mseDualKernel, constants: { HAS_T0: tp ? 1 : 0, HAS_T1: tt ? 1 : 0 } },
      inputs: [pred.bufferFor('mse'), target.bufferFor('mse'), (tp ?? pred).bufferFor('mse'), (tt ?? target).bufferFor('mse')],
      outputs: [base.buffer], params: [pred.size], workgroups: [1], label: 'mse (dual)',
    });
    out = base.subView(0, []);
    setTangent(out, base.subView(VIEW_ALIGN_FLOATS, []));
    base.dispose();
  } else out = lossRaw(0, pred, target, 0, 'mse');
  return record(out, 'mse', [pred, target], (g, needs) => {
    if (!(isGradEnabled() && insideTransform()) && dualHere()) {
      const ta = tangentOf(pred), tb = tangentOf(target), tg = tangentOf(g);
      if (ta || tb || tg) {
        // the backward and its tangent in one dispatch (a forward-over-reverse HVP runs this)
        const { base, a, t, toff } = pairAlloc(pred.shape);
        runtime().dispatch({
          kernel: withReplay(mseBackwardDualKernel, { HAS_T0: ta ? 1 : 0, HAS_T1: tb ? 1 : 0, HAS_T2: tg ? 1 : 0, PRIMAL: 1 }, [[toff * 4, (toff + pred.size) * 4]]),
          inputs: [pred.bufferFor('mse'), target.bufferFor('mse'), g.bufferFor('mse'), (ta ?? pred).bufferFor('mse'), (tb ?? target).bufferFor('mse'), (tg ?? g).bufferFor('mse')],
          outputs: [base.buffer], params: [pred.size, toff, f32bits(2 / pred.size)], workgroups: grid(pred.size), label: 'mse backward (dual)',
        });
        base.dispose();
        setTangent(a, t);
        return [needs[0] ? a : null, needs[1] ? O.neg(a) : null];
      }
    }
    const d = O.mul(O.sub(pred, target), O.mul(g, 2 / pred.size));
    return [needs[0] ? d : null, needs[1] ? O.neg(d) : null];
  }, [], ([tp, tt]) => O.mul(O.sum(O.mul(O.sub(pred, target), tp && tt ? O.sub(tp, tt) : tp ?? O.neg(tt!))), 2 / pred.size));
}

/** mean Huber(pred − target; delta) (= torch's HuberLoss / smooth_l1 for delta 1), one dispatch. */
export function huber(pred: Tensor, target: Tensor, delta = 1): Tensor {
  const out = lossRaw(1, pred, target, delta, 'huber');
  return record(out, 'huber', [pred, target], (g, needs) => {
    const d = O.sub(pred, target);
    const clipped = O.minimum(O.maximum(d, -delta), delta);
    const gd = O.mul(clipped, O.mul(g, 1 / pred.size));
    return [needs[0] ? gd : null, needs[1] ? O.neg(gd) : null];
  });
}

/** Layer normalisation over the last axis (composed from differentiable ops: exact to any order). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const mu = O.mean(x, -1, true);
  const d = O.sub(x, mu);
  const v = O.mean(O.square(d), -1, true);
  let y = O.mul(d, O.rsqrt(O.add(v, eps)));
  if (weight) y = O.mul(y, weight);
  if (bias) y = O.add(y, bias);
  return y;
}
