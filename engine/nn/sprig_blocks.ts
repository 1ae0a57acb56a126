// SPRIG's spatial gated-attention layer as one differentiable op for first-order gradients
// (SPRIG's sequential leader step): the forward is one dispatch (kernels/sprig.ts
// sprigSpatialKernel, saving Q, K, V, P and P·V per sample), the backward two (a per-sample
// kernel writing dX and each sample's share of the eight parameter gradients, then their sum).
// The composed layer (three linear projections, attention, a gate linear, a product and a
// residual add) is 9 dispatches forward and ~18 backward. Its backward is not itself
// differentiable: a second derivative (HVPs, SPRIG's total leader rule) throws; those callers
// keep the composed layer.
//
// The gates are a second output whose cotangent reaches the parameters through the first's
// backward: the gates' node takes `out` as its input, so it is processed first and hands its
// cotangent over. So `out` must receive a cotangent whenever the gates do (in SPRIG it feeds the
// features, which every objective reads).

import { Tensor, allocTensor, record, runtime, isGradEnabled, insideTransform, forwardActive, VIEW_ALIGN_FLOATS, fmtShape } from '../tensor.ts';

/** Whether record() will attach a node for these inputs (grad mode on and one of them tracked). */
const willRecord = (inputs: Tensor[]) => isGradEnabled() && inputs.some((t) => t.tracked);
import { f32bits } from '../runtime.ts';
import { grid } from '../../kernels/common.ts';
import {
  sprigSpatialKernel, sprigSpatialBackwardKernel, sprigSumRowsKernel, SPRIG_SPATIAL_PARAMS, SPRIG_SPATIAL_BACKWARD_PARAMS,
  sprigTemporalKernel, sprigTemporalBackwardKernel, temporalSaveLayout, SPRIG_TEMPORAL_PARAMS, SPRIG_TEMPORAL_BACKWARD_PARAMS, SPRIG_TEMPORAL_CELLS,
} from '../../kernels/sprig.ts';

/** A gated attention layer's parameters (rl/sprig.ts gatedAttentionModule). */
export interface GatedAttentionParams {
  q: { weight: Tensor; bias: Tensor };
  k: { weight: Tensor; bias: Tensor };
  v: { weight: Tensor; bias: Tensor };
  gate: { weight: Tensor; bias: Tensor };
}

/** The temporal block's parameters, in the packed perception's order (rl/sprig.ts sprigPerception). */
export interface TemporalBlockParams {
  conv2: { weight: Tensor; bias: Tensor };
  conv3: { weight: Tensor; bias: Tensor };
  posTemporal: Tensor;
  posSpatial: Tensor;
  temporal: GatedAttentionParams;
}

const LEAVES = ['q.weight', 'q.bias', 'k.weight', 'k.bias', 'v.weight', 'v.bias', 'gate.weight', 'gate.bias'] as const;

interface Layout {
  buffer: GPUBuffer;
  leaves: Tensor[];
  /** absolute offsets (floats) of the leaves in `buffer` */
  abs: number[];
  /** offsets relative to q.weight (floats, multiples of VIEW_ALIGN_FLOATS) */
  rel: number[];
  /** floats from q.weight to past gate.bias, aligned */
  size: number;
}

/** Where the layer's eight leaves sit: one buffer, in LEAVES order, aligned as packParams lays them out; else null. */
export function gatedAttentionLayout(p: GatedAttentionParams): Layout | null {
  const leaves = LEAVES.map((n) => { const [a, b] = n.split('.') as [keyof GatedAttentionParams, 'weight' | 'bias']; return p[a]?.[b]; });
  return leafLayout(leaves);
}

/** The temporal block's 14 leaves (conv2, conv3, posTemporal, posSpatial, temporal's 8), laid out as packParams does; else null. */
export function temporalBlockLayout(p: TemporalBlockParams): Layout | null {
  const t = p.temporal;
  if (!t || !p.conv2 || !p.conv3) return null;
  return leafLayout([p.conv2.weight, p.conv2.bias, p.conv3.weight, p.conv3.bias, p.posTemporal, p.posSpatial, t.q?.weight, t.q?.bias, t.k?.weight, t.k?.bias, t.v?.weight, t.v?.bias, t.gate?.weight, t.gate?.bias]);
}

function leafLayout(leaves: Array<Tensor | undefined>): Layout | null {
  if (leaves.some((t) => !(t instanceof Tensor))) return null;
  const bs = leaves.map((t) => t!.bufferFor('sprig spatial block'));
  if (bs.some((b) => b.buffer !== bs[0].buffer || b.offset % 16 !== 0)) return null;
  const abs = bs.map((b) => b.offset / 4);
  const rel = abs.map((a) => a - abs[0]);
  if (rel.some((r, i) => r % VIEW_ALIGN_FLOATS !== 0 || (i > 0 && r <= rel[i - 1]))) return null;
  const last = rel.length - 1;
  const size = Math.ceil((rel[last] + leaves[last]!.size) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
  return { buffer: bs[0].buffer, leaves: leaves as Tensor[], abs, rel, size };
}

/**
 * x [B, 1, HW, D] (or [B, HW, D]) → out = x + g ⊙ softmax(q kᵀ/√D)·v with q, k, v = x·W{q,k,v}ᵀ + b,
 * g = σ(x·w_gᵀ + b_g) per token, and the gates [B, 1, HW, 1]; differentiable once in x and the
 * eight parameters (which must be laid out as gatedAttentionLayout accepts).
 */
export function sprigSpatialBlock(x: Tensor, p: GatedAttentionParams): { out: Tensor; gates: Tensor } {
  const L = gatedAttentionLayout(p);
  if (!L) throw new Error('sprigSpatialBlock: the layer\'s parameters must be views of one packed buffer (E.packParams), in q, k, v, gate order');
  const D = x.shape[x.rank - 1], HW = x.shape[x.rank - 2], B = x.size / (HW * D);
  if (D % 4 || HW % 4 || !Number.isInteger(B)) throw new Error(`sprigSpatialBlock: x ${fmtShape(x.shape)} needs HW and D multiples of 4`);
  if (p.q.weight.shape.join() !== `${D},${D}`) throw new Error(`sprigSpatialBlock: q.weight ${fmtShape(p.q.weight.shape)} does not match x's width ${D}`);
  const rt = runtime();
  const out = allocTensor(x.shape);
  const gates = allocTensor([...x.shape.slice(0, -1), 1]);
  // what the backward reads, written only when the op will be recorded (not when acting)
  const save = willRecord([x, ...L.leaves]) ? allocTensor([B * (4 * HW * D + HW * HW)]) : null;
  const scale = f32bits(1 / Math.sqrt(D));
  const [wq, bq, wk, bk, wv, bv, wg, bg] = L.abs;
  const fp: Record<string, number> = { samples: B, wq, bq, wk, bk, wv, bv, wg, bg, scale };
  rt.dispatch({
    kernel: sprigSpatialKernel(HW, D, !!save), inputs: [x.bufferFor('sprig spatial block'), L.buffer, L.buffer], outputs: save ? [out.buffer, gates.buffer, save.buffer] : [out.buffer, gates.buffer],
    params: SPRIG_SPATIAL_PARAMS.map((k) => fp[k]), workgroups: grid(B, 1), label: 'sprig spatial block',
  });
  // unrecorded and outside a jvp: nothing to attach (inside one, record() reaches the backward's error)
  if (!save && !forwardActive()) return { out, gates };
  let dGates: Tensor | null = null;
  record(out, 'sprigSpatialBlock', [x, ...L.leaves], (g, needs) => {
    if ((isGradEnabled() && insideTransform()) || forwardActive()) {
      throw new Error('sprigSpatialBlock: first-order gradients only (its backward is not differentiable); a second derivative needs the composed layer');
    }
    const dx = allocTensor(x.shape);
    const part = allocTensor([B * L.size]);
    const grad = allocTensor([L.size]);
    const [rq, rbq, rk, rbk, rv, rbv, rg, rbg] = L.rel;
    const bp: Record<string, number> = { samples: B, wq, wk, wv, wg, bg, rq, rbq, rk, rbk, rv, rbv, rg, rbg, ps: L.size, scale, hasDG: dGates ? 1 : 0, n_hw: HW, n_h4: HW / 4, n_d4: D / 4 };
    const gb = g.bufferFor('sprig spatial block backward');
    rt.dispatch({
      kernel: sprigSpatialBackwardKernel(HW, D),
      inputs: [x.bufferFor('sprig spatial block backward'), L.buffer, L.buffer, save!.buffer, gb, dGates ? dGates.bufferFor('sprig spatial block backward') : gb],
      outputs: [dx.buffer, part.buffer], params: SPRIG_SPATIAL_BACKWARD_PARAMS.map((k) => bp[k]), workgroups: grid(B, 1), label: 'sprig spatial block backward',
    });
    rt.dispatch({ kernel: sprigSumRowsKernel, inputs: [part.buffer], outputs: [grad.buffer], params: [B, L.size / 4], workgroups: [Math.ceil(L.size / 4 / 64)], label: 'sprig spatial block backward (sum)' });
    part.dispose();
    dGates = null;
    const grads = L.leaves.map((t, i) => (needs[i + 1] ? grad.subView(L.rel[i], t.shape) : null));
    grad.dispose();
    return [needs[0] ? dx : (dx.dispose(), null), ...grads];
  }, save ? [save] : []);
  record(gates, 'sprigSpatialBlockGates', [out], (g) => {
    dGates = g;
    return [null];
  });
  return { out, gates };
}

/**
 * The temporal block from conv1's output y1 [B·K, 2·h2, 2·w2, C1] (relu applied): per cell, the
 * 2×2 windows of the K frames → conv2 (ReLU) → conv3 (ReLU) → + posTemporal → q (newest frame),
 * k, v → single-query attention → gate, residual → + posSpatial. Returns tok [B, 1, hw, D] (the
 * spatial layer's input) and the gates [B, hw, 1, 1]; differentiable once in y1 and the 14
 * parameters (kernels/sprig.ts: 1 dispatch forward, 2 backward). C2 = 32 (conv2's channels).
 * `reluInput`: y1 is conv1's pre-activation and the op applies the ReLU itself (its backward
 * returns the masked gradient, so conv1 runs with no activation and no ReLU backward).
 */
export function sprigTemporalBlock(y1: Tensor, p: TemporalBlockParams, B: number, K: number, opts: { reluInput?: boolean } = {}): { tok: Tensor; gates: Tensor } {
  const L = temporalBlockLayout(p);
  if (!L) throw new Error('sprigTemporalBlock: the parameters must be views of one packed buffer (E.packParams), in sprigPerception\'s order');
  const [N, h1, w1, C1] = y1.shape;
  const D = p.conv3.weight.shape[0], C2 = p.conv2.weight.shape[0];
  if (N !== B * K || h1 % 2 || w1 % 2 || C1 % 4 || D % 4 || C2 % 4 || p.conv2.weight.size !== C2 * 4 * C1) {
    throw new Error(`sprigTemporalBlock: y1 ${fmtShape(y1.shape)} with B ${B}, K ${K}, conv2 ${fmtShape(p.conv2.weight.shape)}, conv3 ${fmtShape(p.conv3.weight.shape)} is not a tiled 2×2 layout`);
  }
  const h2 = h1 / 2, w2 = w1 / 2, hw = h2 * w2, cells = B * hw;
  const rt = runtime();
  const tok = allocTensor([B, 1, hw, D]);
  const gates = allocTensor([B, hw, 1, 1]);
  // what the backward reads, written only when the op will be recorded (not when acting)
  const save = willRecord([y1, ...L.leaves]) ? allocTensor([cells * temporalSaveLayout(K, D, C2).size * 4]) : null;
  const scale = f32bits(1 / Math.sqrt(D));
  const [w2off, b2, w3, b3, posT, posS, wq, bq, wk, bk, wv, bv, wg, bg] = L.abs;
  const fp: Record<string, number> = { cells, hw, w2, h1w1: h1 * w1, w2off, b2, w3, b3, posT, wq, bq, wk, bk, wv, bv, wg, bg, posS, scale, n_r4: C1, n_c24: C2 / 4, n_d4: D / 4 };
  rt.dispatch({
    kernel: sprigTemporalKernel(K, D, C1, C2, !!save, !!opts.reluInput), inputs: [y1.bufferFor('sprig temporal block'), L.buffer, L.buffer],
    outputs: save ? [tok.buffer, gates.buffer, save.buffer] : [tok.buffer, gates.buffer],
    params: SPRIG_TEMPORAL_PARAMS.map((k) => fp[k]), workgroups: grid(cells, SPRIG_TEMPORAL_CELLS), label: 'sprig temporal block',
  });
  if (!save && !forwardActive()) return { tok, gates };
  let dGates: Tensor | null = null;
  record(tok, 'sprigTemporalBlock', [y1, ...L.leaves], (g, needs) => {
    if ((isGradEnabled() && insideTransform()) || forwardActive()) {
      throw new Error('sprigTemporalBlock: first-order gradients only (its backward is not differentiable); a second derivative needs the composed layers');
    }
    const groups = Math.ceil(cells / SPRIG_TEMPORAL_CELLS);
    const dy1 = allocTensor(y1.shape);
    const part = allocTensor([groups * L.size]);
    const grad = allocTensor([L.size]);
    const [r2w, r2b, r3w, r3b, rpT, rpS, rqw, rqb, rkw, rkb, rvw, rvb, rgw, rgb] = L.rel;
    const bp: Record<string, number> = {
      cells, hw, w2, h1w1: h1 * w1, w2off, w3, posT, wq, wk, wv, wg, r2w, r2b, r3w, r3b, rpT, rpS, rqw, rqb, rkw, rkb, rvw, rvb, rgw, rgb,
      ps: L.size, scale, hasDG: dGates ? 1 : 0, n_d4: D / 4, n_c24: C2 / 4, n_t: SPRIG_TEMPORAL_CELLS * K, n_cpw: SPRIG_TEMPORAL_CELLS,
    };
    const gb = g.bufferFor('sprig temporal block backward');
    rt.dispatch({
      kernel: sprigTemporalBackwardKernel(K, D, C1, C2, !!opts.reluInput),
      inputs: [y1.bufferFor('sprig temporal block backward'), L.buffer, L.buffer, save!.buffer, gb, dGates ? dGates.bufferFor('sprig temporal block backward') : gb],
      outputs: [dy1.buffer, part.buffer], params: SPRIG_TEMPORAL_BACKWARD_PARAMS.map((k) => bp[k]), workgroups: grid(cells, SPRIG_TEMPORAL_CELLS), label: 'sprig temporal block backward',
    });
    rt.dispatch({ kernel: sprigSumRowsKernel, inputs: [part.buffer], outputs: [grad.buffer], params: [groups, L.size / 4], workgroups: [Math.ceil(L.size / 4 / 64)], label: 'sprig temporal block backward (sum)' });
    part.dispose();
    dGates = null;
    const grads = L.leaves.map((t, i) => (needs[i + 1] ? grad.subView(L.rel[i], t.shape) : null));
    grad.dispose();
    return [needs[0] ? dy1 : (dy1.dispose(), null), ...grads];
  }, save ? [save] : []);
  record(gates, 'sprigTemporalBlockGates', [tok], (g) => {
    dGates = g;
    return [null];
  });
  return { tok, gates };
}
