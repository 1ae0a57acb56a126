// Multi-head scaled dot-product attention, fused: one forward dispatch (online softmax over key
// tiles, no L×S matrix) and two backward dispatches that recompute the probabilities from the
// saved row log-sum-exp. Second and higher derivatives go through the composed path: when a
// backward pass is itself being differentiated (it runs recording a graph), the gradient is
// built from differentiable ops (matmul, softmax, ...) instead of the fused backward kernels.

import { Tensor, allocTensor, record, runtime, shapeSize, fmtShape, isGradEnabled, insideTransform, forwardActive, noGrad, scope, withoutTangents, type Shape } from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid, contiguousStrides } from '../../kernels/common.ts';
import { attentionFwdKernel, attentionBwdQKernel, attentionBwdKVKernel, attnProbsKernel, attnSoftmaxBwdKernel } from '../../kernels/attention.ts';
import { tileFor, type AttentionTile } from '../../kernels/tune.ts';
import { softmax } from './functional.ts';

export interface AttentionOptions {
  /** Keep-mask broadcastable to [B, H, L, S]: nonzero = attend. */
  mask?: Tensor;
  /** Query i attends to keys j ≤ i only. */
  causal?: boolean;
  /** Score scale (default 1/√D). */
  scale?: number;
}

const alloc = allocTensor;

function checkShapes(q: Tensor, k: Tensor, v: Tensor) {
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new Error(`attention: q, k, v must be [B, H, L, D], got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  }
  const [B, H, L, D] = q.shape;
  const S = k.shape[2];
  if (k.shape.join() !== [B, H, S, D].join() || v.shape.join() !== k.shape.join()) {
    throw new Error(`attention: k and v must be [${B}, ${H}, S, ${D}] and equal, got ${fmtShape(k.shape)} and ${fmtShape(v.shape)}`);
  }
  return { B, H, L, S, D };
}

function maskStrides(mask: Tensor | undefined, B: number, H: number, L: number, S: number): number[] {
  if (!mask) return [0, 0, 0, 0];
  const target = [B, H, L, S];
  O.broadcastShapes(mask.shape, target, 'attention mask');
  const m = [...new Array(4 - mask.rank).fill(1), ...mask.shape];
  const st = contiguousStrides(m);
  return m.map((d, i) => (d === 1 ? 0 : st[i]));
}

/**
 * softmax(scale·QKᵀ, masked)·V for q [B, H, L, D], k/v [B, H, S, D]. Rows with every key
 * masked give zeros. Differentiable to any order (see the file comment for how).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const { B, H, L, S, D } = checkShapes(q, k, v);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const ms = maskStrides(opts.mask, B, H, L, S);
  const t = tileFor<AttentionTile>('attention', { M: L, N: S, K: D * B * H });
  const tracked = isGradEnabled() && (q.tracked || k.tracked || v.tracked);
  // The composed path: the tuner's forward choice, or its backward choice when a backward will
  // run (the forward's probabilities are then saved for it instead of recomputed).
  // One query row per (batch, head) stays on the fused kernels: the composed path's matmuls
  // would be 1-row products (at SPRIG's temporal attention, 1 query over 2 keys, it took 2.1x
  // the fused path's CPU time, forward + backward on llvmpipe)
  const composed = L > 1 && (t.COMPOSED || (tracked && tileFor<AttentionTile>('attentionBackward', { M: L, N: S, K: D * B * H }).COMPOSED));
  if (composed) {
    const [p, y] = scope(() => withoutTangents(() => noGrad(() => {
      const pr = probsFast(q, k, opts, scale);
      return [pr, O.mm(pr, v)];
    })));
    const out = record(y, 'attention', [q, k, v], (g) => {
      // differentiated again, or carrying tangents: the differentiable composed backward
      if ((isGradEnabled() && insideTransform()) || forwardActive()) return attentionVjpComposed(q, k, v, g, opts, scale);
      return scope(() => vjpFromProbs(p, q, k, v, g, scale));
    }, opts.mask ? [p, opts.mask] : [p]);
    if (!out.node) p.dispose();
    return out;
  }
  const rows = B * H * L;
  const out = alloc([B, H, L, D]);
  const stats = alloc([2 * rows]);
  const params = (threads: number) => [B * H, L, S, H, f32bits(scale), opts.mask ? 1 : 0, opts.causal ? 1 : 0, 0, ...ms, threads];
  const maskBuf = (opts.mask ?? q).bufferFor('attention');
  const rt = runtime();
  rt.dispatch({
    kernel: attentionFwdKernel(D, t),
    inputs: [q.bufferFor('attention'), k.bufferFor('attention'), v.bufferFor('attention'), maskBuf],
    outputs: [out.buffer, stats.buffer],
    params: params(rows),
    workgroups: grid(rows, t.WG),
    label: 'attention',
  });
  const saved = opts.mask ? [stats, opts.mask] : [stats];
  const y = record(out, 'attention', [q, k, v], (g) => {
    // (also inside a jvp: the fused kernels' outputs would carry no tangents)
    if ((isGradEnabled() && insideTransform()) || forwardActive()) return attentionVjpComposed(q, k, v, g, opts, scale);
    // the backward's own tile (tuned on forward + backward); COMPOSED: batched matmuls instead
    const tb = tileFor<AttentionTile>('attentionBackward', { M: L, N: S, K: D * B * H });
    if (tb.COMPOSED && L > 1) return scope(() => attentionVjpComposed(q, k, v, g, opts, scale));
    const dq = alloc(q.shape), dk = alloc(k.shape), dv = alloc(v.shape);
    const mb = (opts.mask ?? q).bufferFor('attention backward');
    rt.dispatch({
      kernel: attentionBwdQKernel(D, tb),
      inputs: [q.bufferFor('attention backward'), k.buffer, v.buffer, mb, out.buffer, g.buffer],
      outputs: [dq.buffer, stats.buffer],
      params: params(rows),
      workgroups: grid(rows, tb.WG),
      label: 'attention backward (dq)',
    });
    rt.dispatch({
      kernel: attentionBwdKVKernel(D, tb),
      inputs: [q.buffer, k.buffer, v.buffer, mb, stats.buffer, g.buffer],
      outputs: [dk.buffer, dv.buffer],
      params: params(B * H * S),
      workgroups: grid(B * H * S, tb.WG),
      label: 'attention backward (dk, dv)',
    });
    return [dq, dk, dv];
  }, saved);
  // nothing will differentiate an untracked output: its backward's statistics can go now
  if (!y.node) stats.dispose();
  return y;
}

function keepMask(opts: AttentionOptions, L: number, S: number): Tensor | null {
  let m: Tensor | null = null;
  if (opts.causal) {
    const d = new Float32Array(L * S);
    for (let i = 0; i < L; i++) for (let j = 0; j <= Math.min(i, S - 1); j++) d[i * S + j] = 1;
    m = O.tensor(d, [L, S]);
  }
  if (opts.mask) {
    const mm = O.ne(opts.mask, 0);
    m = m ? O.mul(m, mm) : mm;
  }
  return m;
}

/** The attention probabilities, composed from differentiable ops (the L×S matrix is materialised). */
function probs(q: Tensor, k: Tensor, opts: AttentionOptions, scale: number): Tensor {
  const [, , L] = q.shape;
  const S = k.shape[2];
  let s = O.mul(O.mm(q, k, false, true), scale);
  const keep = noGrad(() => keepMask(opts, L, S));
  if (!keep) return softmax(s);
  s = O.where(keep, s, -1e30);
  return O.mul(softmax(s), keep);
}

/** Row kernel launch: P = softmax(scale·S) or dS = scale·P ⊙ (dP − Σ dP ⊙ P), rows of the last axis. */
function rowPass(kernel: typeof attnProbsKernel, inputs: Tensor[], shape: Shape, scale: number, label: string): Tensor {
  const c = shape[shape.length - 1];
  const rows = shapeSize(shape) / Math.max(c, 1);
  const out = alloc(shape);
  runtime().dispatch({
    kernel, inputs: inputs.map((x) => x.bufferFor(label)), outputs: [out.buffer], params: [rows, c, f32bits(scale)],
    workgroups: grid(rows, 64), label,
  });
  return out;
}

/** The probabilities (no autodiff record): one row kernel with the scale folded in when unmasked. */
function probsFast(q: Tensor, k: Tensor, opts: AttentionOptions, scale: number): Tensor {
  if (opts.mask || opts.causal) return probs(q, k, opts, scale);
  const s = O.mm(q, k, false, true);
  return rowPass(attnProbsKernel, [s], s.shape, scale, 'attention probs');
}

/** dQ, dK, dV from the saved probabilities: four batched matmuls and one row pass (first order, no record). */
function vjpFromProbs(p: Tensor, q: Tensor, k: Tensor, v: Tensor, g: Tensor, scale: number): Tensor[] {
  const dv = O.mm(p, g, true, false);
  const dp = O.mm(g, v, false, true);
  const ds = rowPass(attnSoftmaxBwdKernel, [p, dp], dp.shape, scale, 'attention softmax backward');
  return [O.mm(ds, k), O.mm(ds, q, true, false), dv];
}

/** attention() written with differentiable ops: the reference the fused kernels are tested against. */
export function attentionComposed(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  checkShapes(q, k, v);
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[3]);
  return O.mm(probs(q, k, opts, scale), v);
}

function attentionVjpComposed(q: Tensor, k: Tensor, v: Tensor, g: Tensor, opts: AttentionOptions, scale: number): Tensor[] {
  const p = probs(q, k, opts, scale);
  const dv = O.mm(p, g, true, false);
  const dp = O.mm(g, v, false, true);
  const ds = O.mul(p, O.sub(dp, O.sum(O.mul(dp, p), -1, true)));
  const dq = O.mul(O.mm(ds, k), scale);
  const dk = O.mul(O.mm(ds, q, true, false), scale);
  return [dq, dk, dv];
}
