// The PPO loss as one differentiable op: one dispatch forward (loss and CleanRL's statistics),
// one dispatch backward (∂/∂logits and ∂/∂value), kernels/ppo.ts. The same maths composed from
// ops (ppoLossComposed) is the reference the tests hold it to, and the path taken where the
// gradient is itself differentiated or tangents flow through it (HVPs, jvp).

import { Tensor, allocTensor, record, runtime, noGrad, isGradEnabled, insideTransform, forwardActive, fmtShape } from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid } from '../../kernels/common.ts';
import { ppoLossKernel, ppoLossBackwardKernel, PPO_DATA_ROWS, sprigLeaderLossKernel, sprigLeaderLossBackwardKernel } from '../../kernels/ppo.ts';
import { categoricalLogProb, categoricalEntropy, logSoftmax } from './functional.ts';

export interface PpoLossOptions {
  /** Surrogate (and value) clip range ε. */
  clipCoef: number;
  /** CleanRL's clipped value loss. */
  clipVloss: boolean;
  vfCoef: number;
  entCoef: number;
}

/** A minibatch's per-row data, each [M]; actions as float indices; adv already normalised if wanted. */
export interface PpoBatch {
  actions: Tensor;
  oldLogp: Tensor;
  adv: Tensor;
  returns: Tensor;
  oldValues: Tensor;
}

/** The names of ppoLoss's statistics, in order (CleanRL's). */
export const PPO_STAT_NAMES = ['pg_loss', 'v_loss', 'entropy', 'approx_kl', 'clipfrac'] as const;

/**
 * The [5, M] buffer the kernels read (rows: actions, oldLogp, adv, returns, oldValues). From the
 * CPU, pack the five arrays into one Float32Array of 5·M and upload it once instead.
 */
export function packPpoBatch(b: PpoBatch): Tensor {
  const ts = PPO_DATA_ROWS.map((k) => b[k]);
  const m = b.actions.size;
  ts.forEach((t, i) => {
    if (!t || t.size !== m) throw new Error(`ppoLoss: batch.${PPO_DATA_ROWS[i]} has shape ${t ? fmtShape(t.shape) : 'undefined'}, expected [${m}] like batch.actions`);
  });
  return noGrad(() => O.stack(ts.map((t) => O.reshape(t, [m]))));
}

function checkArgs(logits: Tensor, value: Tensor, data: Tensor, o: PpoLossOptions) {
  if (logits.rank !== 2 || logits.shape[1] < 1) throw new Error(`ppoLoss: logits must be [M, A], got ${fmtShape(logits.shape)}`);
  const M = logits.shape[0];
  if (M < 1) throw new Error('ppoLoss: empty minibatch (logits [0, A])');
  if (value.size !== M) throw new Error(`ppoLoss: value ${fmtShape(value.shape)} does not match logits ${fmtShape(logits.shape)} (expected ${M} values)`);
  if (data.size !== 5 * M) throw new Error(`ppoLoss: the packed batch ${fmtShape(data.shape)} should be [5, ${M}] (${PPO_DATA_ROWS.join(', ')})`);
  for (const k of ['clipCoef', 'vfCoef', 'entCoef'] as const) {
    if (!Number.isFinite(o[k])) throw new Error(`ppoLoss: ${k} must be a finite number, got ${o[k]}`);
  }
  if (o.clipCoef < 0) throw new Error(`ppoLoss: clipCoef must be >= 0, got ${o.clipCoef}`);
}

const params = (M: number, A: number, o: PpoLossOptions) =>
  [M, A, o.clipVloss ? 1 : 0, 0, f32bits(o.clipCoef), f32bits(o.vfCoef), f32bits(o.entCoef), 0];

/**
 * loss = mean(max(−adv·r, −adv·clip(r, 1±ε))) − entCoef·mean(H) + vfCoef·v_loss for logits [M, A]
 * and values [M]; returns the scalar loss (differentiable in logits and value) and the statistics
 * [pg_loss, v_loss, entropy, approx_kl, clipfrac] (not differentiable). `batch`: the five [M]
 * tensors, or one [5, M] tensor already packed (see packPpoBatch).
 */
export function ppoLoss(logits: Tensor, value: Tensor, batch: PpoBatch | Tensor, o: PpoLossOptions): { loss: Tensor; stats: Tensor } {
  const packed = batch instanceof Tensor ? null : packPpoBatch(batch);
  const data = packed ?? (batch as Tensor);
  checkArgs(logits, value, data, o);
  const [M, A] = logits.shape;
  const loss = allocTensor([]);
  const stats = allocTensor([5]);
  const rt = runtime();
  const p = params(M, A, o);
  const ins = () => [logits.bufferFor('ppoLoss'), value.bufferFor('ppoLoss'), data.bufferFor('ppoLoss')];
  rt.dispatch({ kernel: ppoLossKernel, inputs: ins(), outputs: [loss.buffer, stats.buffer], params: p, workgroups: [1, 1, 1], label: 'ppoLoss' });
  // The backward and tangent rules read the packed data after this call returns.
  const saved = packed ? [packed] : [];
  const composedGrad = (g: Tensor) => ppoLossGradComposed(logits, value, data, o, g);
  record(loss, 'ppoLoss', [logits, value], (g, needs) => {
    // First order (not differentiated again, no tangents through it): one fused dispatch.
    if (!(isGradEnabled() && insideTransform()) && !forwardActive()) {
      const dz = allocTensor([M, A]), dv = allocTensor([M]);
      rt.dispatch({
        kernel: ppoLossBackwardKernel, inputs: [...ins(), g.bufferFor('ppoLoss backward')], outputs: [dz.buffer, dv.buffer], params: p,
        workgroups: [...grid(M, 64), 1] as [number, number, number], label: 'ppoLoss backward',
      });
      return [needs[0] ? dz : (dz.dispose(), null), needs[1] ? O.reshape(dv, value.shape) : (dv.dispose(), null)];
    }
    const [dz, dv] = composedGrad(g);
    return [needs[0] ? dz : null, needs[1] ? O.reshape(dv, value.shape) : null];
  }, saved, (tans) => {
    // The loss is a scalar: its tangent is ⟨∇loss, (ż, v̇)⟩.
    const [dz, dv] = composedGrad(O.ones([]));
    const parts: Tensor[] = [];
    if (tans[0]) parts.push(O.sum(O.mul(dz, tans[0])));
    if (tans[1]) parts.push(O.sum(O.mul(dv, O.reshape(tans[1], [M]))));
    return parts.length === 2 ? O.add(parts[0], parts[1]) : parts[0];
  });
  if (packed && !loss.node) packed.dispose();
  return { loss, stats };
}

/** Row k of the packed [5, M] data. */
const rowOf = (data: Tensor, k: number, M: number) => O.reshape(O.slice(O.reshape(data, [5, M]), [k]), [M]);

/**
 * The same loss and statistics composed from engine ops (CleanRL's code line by line): the
 * reference for tests and benchmarks.
 */
export function ppoLossComposed(logits: Tensor, value: Tensor, batch: PpoBatch | Tensor, o: PpoLossOptions): { loss: Tensor; stats: Tensor } {
  const data = batch instanceof Tensor ? batch : packPpoBatch(batch);
  checkArgs(logits, value, data, o);
  const M = logits.shape[0];
  const [actions, oldLogp, adv, returns, oldValues] = [0, 1, 2, 3, 4].map((k) => rowOf(data, k, M));
  const v = O.reshape(value, [M]);
  const logp = categoricalLogProb(logits, actions);
  const entropy = categoricalEntropy(logits);
  const logratio = O.sub(logp, oldLogp);
  const ratio = O.exp(logratio);
  const pg1 = O.mul(O.neg(adv), ratio);
  const pg2 = O.mul(O.neg(adv), O.minimum(O.maximum(ratio, 1 - o.clipCoef), 1 + o.clipCoef));
  const pgLoss = O.mean(O.maximum(pg1, pg2));
  let vLoss: Tensor;
  if (o.clipVloss) {
    const unclipped = O.square(O.sub(v, returns));
    const vClipped = O.add(oldValues, O.minimum(O.maximum(O.sub(v, oldValues), -o.clipCoef), o.clipCoef));
    vLoss = O.mul(O.mean(O.maximum(unclipped, O.square(O.sub(vClipped, returns)))), 0.5);
  } else vLoss = O.mul(O.mean(O.square(O.sub(v, returns))), 0.5);
  const entLoss = O.mean(entropy);
  const loss = O.add(O.sub(pgLoss, O.mul(entLoss, o.entCoef)), O.mul(vLoss, o.vfCoef));
  const stats = noGrad(() => O.stack([pgLoss, vLoss, entLoss, O.mean(O.sub(O.sub(ratio, 1), logratio)), O.mean(O.gt(O.abs(O.sub(ratio, 1)), o.clipCoef))]));
  return { loss, stats };
}

/**
 * ∂loss/∂logits and ∂loss/∂value (times the scalar cotangent g) from differentiable ops: the
 * kernel's formulas (kernels/ppo.ts), for gradients that are differentiated again.
 */
function ppoLossGradComposed(logits: Tensor, value: Tensor, data: Tensor, o: PpoLossOptions, g: Tensor): [Tensor, Tensor] {
  const [M, A] = logits.shape;
  const [actions, oldLogp, adv, returns, oldValues] = [0, 1, 2, 3, 4].map((k) => rowOf(data, k, M));
  const v = O.reshape(value, [M]);
  const lsm = logSoftmax(logits);
  const prob = O.exp(lsm);
  const ratio = O.exp(O.sub(categoricalLogProb(logits, actions), oldLogp));
  const h = categoricalEntropy(logits);
  // Where the unclipped surrogate is the max (constant masks: their derivative is zero a.e.)
  const pgMask = noGrad(() => O.ge(O.mul(O.neg(adv), ratio), O.mul(O.neg(adv), O.minimum(O.maximum(ratio, 1 - o.clipCoef), 1 + o.clipCoef))));
  const coef = O.mul(O.mul(O.neg(adv), pgMask), ratio);
  const onehot = noGrad(() => O.eq(O.expandDims(actions, -1), O.arange(A)));
  const scale = O.div(g, M);
  const dz = O.mul(O.add(O.mul(O.expandDims(coef, -1), O.sub(onehot, prob)), O.mul(O.mul(prob, O.add(lsm, O.expandDims(h, -1))), o.entCoef)), scale);
  let dvRow = O.sub(v, returns);
  if (o.clipVloss) {
    // The max's branch as a constant mask; the clipped branch's slope is vc − R inside the clip
    // range and 0 outside (where V ≈ vc inside the range, rounding may pick either branch).
    const vc = O.add(oldValues, O.minimum(O.maximum(O.sub(v, oldValues), -o.clipCoef), o.clipCoef));
    const vMask = noGrad(() => O.ge(O.square(O.sub(v, returns)), O.square(O.sub(vc, returns))));
    const inside = noGrad(() => O.le(O.abs(O.sub(v, oldValues)), o.clipCoef));
    dvRow = O.add(O.mul(dvRow, vMask), O.mul(O.mul(O.sub(vc, returns), inside), O.sub(1, vMask)));
  }
  return [dz, O.mul(O.mul(dvRow, o.vfCoef), scale)];
}

export interface SprigLeaderLossOptions {
  /** Weight of the attention cost C = (Σ gates)/B in f. */
  costCoef: number;
  /** Weight of u_policy = mean(log π(a|s)·Â) in f (subtracted). */
  policyCoef: number;
  /** B, the number of samples the gates belong to (C is ‖A‖₁ per sample). */
  samples: number;
}

/**
 * SPRIG's leader objective f = costCoef·(Σᵢ Σ gatesᵢ)/B − policyCoef·mean(log π(a|s)·Â) as one
 * dispatch forward and one backward (kernels/ppo.ts), for logits [M, A], actions [M] (float
 * indices), advantages [M] and the gated attention layers' gates (any shapes). Differentiable
 * once (in logits and gates): rl/sprig.ts uses it for the sequential leader step, and keeps the
 * composed objective where it is differentiated again (the total derivative's HVPs).
 */
export function sprigLeaderLoss(logits: Tensor, actions: Tensor, adv: Tensor, gates: Tensor[], o: SprigLeaderLossOptions): Tensor {
  if (logits.shape.length !== 2) throw new Error(`sprigLeaderLoss: logits must be [M, A], got ${fmtShape(logits.shape)}`);
  const [M, A] = logits.shape;
  if (actions.size !== M || adv.size !== M) throw new Error(`sprigLeaderLoss: actions ${fmtShape(actions.shape)} and adv ${fmtShape(adv.shape)} must have ${M} rows like logits ${fmtShape(logits.shape)}`);
  if (gates.length !== 2) throw new Error(`sprigLeaderLoss: expects the gates of SPRIG's two attention layers, got ${gates.length} tensors`);
  if (!(o.samples > 0)) throw new Error(`sprigLeaderLoss: samples must be positive, got ${o.samples}`);
  const [gt, gs] = gates;
  const p = [M, A, gt.size, gs.size, f32bits(o.costCoef), f32bits(o.policyCoef), f32bits(1 / o.samples), 0];
  const loss = allocTensor([]);
  const rt = runtime();
  const ins = () => [logits.bufferFor('sprigLeaderLoss'), actions.bufferFor('sprigLeaderLoss'), adv.bufferFor('sprigLeaderLoss')];
  rt.dispatch({ kernel: sprigLeaderLossKernel, inputs: [...ins(), gt.bufferFor('sprigLeaderLoss'), gs.bufferFor('sprigLeaderLoss')], outputs: [loss.buffer], params: p, workgroups: [1, 1, 1], label: 'sprigLeaderLoss' });
  record(loss, 'sprigLeaderLoss', [logits, gt, gs], (g, needs) => {
    if ((isGradEnabled() && insideTransform()) || forwardActive()) {
      throw new Error('sprigLeaderLoss is differentiable once: for second derivatives use the composed objective (rl/sprig.ts does for the total leader update)');
    }
    const dz = allocTensor([M, A]), dgt = allocTensor(gt.shape), dgs = allocTensor(gs.shape);
    rt.dispatch({
      kernel: sprigLeaderLossBackwardKernel, inputs: [...ins(), g.bufferFor('sprigLeaderLoss backward')], outputs: [dz.buffer, dgt.buffer, dgs.buffer], params: p,
      workgroups: [...grid(Math.max(M, gt.size, gs.size), 64), 1] as [number, number, number], label: 'sprigLeaderLoss backward',
    });
    return [needs[0] ? dz : (dz.dispose(), null), needs[1] ? dgt : (dgt.dispose(), null), needs[2] ? dgs : (dgs.dispose(), null)];
  }, [actions, adv]);
  return loss;
}
