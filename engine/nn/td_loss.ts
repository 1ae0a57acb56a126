// The TD loss of the DQN family and SCORER (target, Q(s, a), MSE / Huber / Bellman-error
// variance) as one differentiable op: one dispatch forward (which also writes the update's
// statistics), one backward (kernels/td_loss.ts). tdLossComposed is the same loss from engine
// ops: the reference the tests hold the fused op to, and the rule taken where its gradient is
// itself differentiated or tangents flow through it.
//
// The target y = r + γ(1 − d)·next is a constant of the loss in every algorithm here (a
// stop-gradient): the op differentiates in q only, and next-state values carry no gradient.

import { Tensor, allocTensor, record, runtime, isGradEnabled, insideTransform, forwardActive, noGrad, fmtShape, VIEW_ALIGN_FLOATS } from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid } from '../../kernels/common.ts';
import { tdLossKernel, tdLossBackwardKernel, tdLossHeadKernel, tdLossHeadBackwardKernel, TD_WG, OUT_PAD } from '../../kernels/td_loss.ts';
import { linear } from './functional.ts';

export const TD_LOSS_KINDS = ['mse', 'huber', 'bev'] as const;
/** 'mse': mean δ² (the MSBE); 'huber': torch's smooth-L1 of qa − y at huberDelta; 'bev': the population variance of δ. */
export type TdLossKind = (typeof TD_LOSS_KINDS)[number];

/** Names of the fused op's statistics vector, in order (`stats` of tdLoss). */
export const TD_STAT_NAMES = ['loss', 'q_mean', 'msbe', 'bev', 'delta_mean'] as const;

export interface TdLossArgs {
  /** Online Q-values [B, A] (the differentiated input). */
  q: Tensor;
  /** The target network's Q-values at the next states [B, A]. */
  qNextTarget: Tensor;
  /** Double DQN: the selector's Q-values at the next states [B, A] (argmax, first index on ties); omitted: max of qNextTarget. */
  qNextSelect?: Tensor | null;
  /** Actions taken [B] (integer-valued floats), rewards [B], terminal flags [B] (1 stops bootstrapping). */
  actions: Tensor;
  rewards: Tensor;
  dones: Tensor;
  gamma: number;
  loss: TdLossKind;
  /** Huber's δ (torch's smooth-L1 beta); default 1. */
  huberDelta?: number;
}

export interface TdLossResult {
  /** The loss, a differentiable scalar in q. */
  loss: Tensor;
  /** [5] = TD_STAT_NAMES: loss, mean Q(s, a), MSBE, BEV, mean δ (no gradient). */
  stats: Tensor;
}

const LOSS_CODE: Record<TdLossKind, 0 | 1 | 2> = { mse: 0, huber: 1, bev: 2 };

function check(a: TdLossArgs, who: string): { B: number; A: number } {
  if (!(a.loss in LOSS_CODE)) throw new Error(`${who}: unknown loss '${a.loss}'; valid: ${TD_LOSS_KINDS.join(', ')}`);
  if (a.q.rank !== 2 || a.q.shape[0] < 1 || a.q.shape[1] < 1) throw new Error(`${who}: q must be [batch, actions] with both > 0, got ${fmtShape(a.q.shape)}`);
  const [B, A] = a.q.shape;
  if (a.qNextTarget.shape.join() !== a.q.shape.join()) throw new Error(`${who}: qNextTarget ${fmtShape(a.qNextTarget.shape)} must match q ${fmtShape(a.q.shape)}`);
  if (a.qNextSelect && a.qNextSelect.shape.join() !== a.q.shape.join()) throw new Error(`${who}: qNextSelect ${fmtShape(a.qNextSelect.shape)} must match q ${fmtShape(a.q.shape)}`);
  for (const [n, t] of [['actions', a.actions], ['rewards', a.rewards], ['dones', a.dones]] as const) {
    if (t.size !== B) throw new Error(`${who}: ${n} has ${t.size} elements ${fmtShape(t.shape)}, q has ${B} rows ${fmtShape(a.q.shape)}`);
  }
  if (!Number.isFinite(a.gamma)) throw new Error(`${who}: gamma must be a finite number, got ${a.gamma}`);
  const h = a.huberDelta ?? 1;
  if (!(h > 0) || !Number.isFinite(h)) throw new Error(`${who}: huberDelta must be a finite number > 0, got ${a.huberDelta}`);
  return { B, A };
}

/** The one-hot mask of the actions [B, A] (a constant). */
const actionMask = (actions: Tensor, B: number, A: number) => noGrad(() => O.eq(O.expandDims(O.reshape(actions, [B]), -1), O.arange(A)));

/** dL/dQ(s, a) per row [B] from Q(s, a) and the constant y, written with differentiable ops. */
function rowGrad(kind: TdLossKind, qa: Tensor, y: Tensor, B: number, h: number): Tensor {
  if (kind === 'huber') return O.mul(O.minimum(O.maximum(O.sub(qa, y), -h), h), 1 / B);
  const d = O.sub(y, qa);
  return O.mul(kind === 'bev' ? O.sub(d, O.mean(d)) : d, -2 / B);
}

/** The targets y [B] (no gradient), from ops. */
export function tdTargetComposed(a: Pick<TdLossArgs, 'qNextTarget' | 'qNextSelect' | 'rewards' | 'dones' | 'gamma'>): Tensor {
  return noGrad(() => {
    const [B, A] = a.qNextTarget.shape;
    const next = a.qNextSelect
      ? O.sum(O.mul(a.qNextTarget, actionMask(O.argmax(a.qNextSelect, -1), B, A)), -1)
      : O.max(a.qNextTarget, -1);
    return O.add(O.reshape(a.rewards, [B]), O.mul(O.mul(O.sub(1, O.reshape(a.dones, [B])), a.gamma), next));
  });
}

/** The loss and statistics composed from engine ops (differentiable in q to any order). */
export function tdLossComposed(a: TdLossArgs): TdLossResult {
  const { B, A } = check(a, 'tdLossComposed');
  const h = a.huberDelta ?? 1;
  const y = tdTargetComposed(a);
  const qa = O.sum(O.mul(a.q, actionMask(a.actions, B, A)), -1);
  const d = O.sub(y, qa);
  const e = O.sub(qa, y);
  const ae = O.abs(e);
  const huber = O.mean(O.where(O.le(ae, h), O.mul(O.square(e), 0.5), O.mul(O.sub(ae, 0.5 * h), h)));
  const msbe = O.mean(O.square(d));
  const bev = O.mean(O.square(O.sub(d, O.mean(d))));
  const loss = a.loss === 'mse' ? msbe : a.loss === 'huber' ? huber : bev;
  const stats = noGrad(() => O.stack([loss, O.mean(qa), msbe, bev, O.mean(d)]));
  return { loss, stats };
}

/**
 * The TD loss in one dispatch (and its gradient in one): y = r + γ(1 − d)·next with next the
 * max of qNextTarget (DQN) or qNextTarget at the argmax of qNextSelect (Double DQN), δ = y − q[a],
 * loss = mean δ² ('mse'), mean Huber(q[a] − y) ('huber') or the population variance of δ ('bev').
 */
export function tdLoss(a: TdLossArgs): TdLossResult {
  const { B, A } = check(a, 'tdLoss');
  const h = a.huberDelta ?? 1;
  const code = LOSS_CODE[a.loss];
  const rt = runtime();
  const yd = allocTensor([2 * B]);
  const out = allocTensor([8]);
  const p = [B, A, f32bits(a.gamma), f32bits(h)];
  const act = a.actions.bufferFor('tdLoss');
  rt.dispatch({
    kernel: tdLossKernel(code, !!a.qNextSelect),
    inputs: [a.q.bufferFor('tdLoss'), a.qNextTarget.bufferFor('tdLoss'), (a.qNextSelect ?? a.qNextTarget).bufferFor('tdLoss'), act, a.rewards.bufferFor('tdLoss'), a.dones.bufferFor('tdLoss')],
    outputs: [yd.buffer, out.buffer],
    params: p,
    workgroups: [1],
    label: 'tdLoss',
  });
  const stats = out.subView(0, [TD_STAT_NAMES.length]);
  const loss = out.subView(0, []);
  const actions = a.actions, q = a.q;
  // Composed rule pieces, for a gradient that is differentiated again or tangents through it.
  const composedGrad = () => rowGrad(a.loss, O.sum(O.mul(q, actionMask(actions, B, A)), -1), yd.subView(0, [B]), B, h);
  record(loss, 'tdLoss', [q], (g) => {
    if (!(isGradEnabled() && insideTransform()) && !forwardActive()) {
      const dq = allocTensor([B, A]);
      rt.dispatch({
        kernel: tdLossBackwardKernel(code),
        inputs: [yd.bufferFor('tdLoss backward'), out.bufferFor('tdLoss backward'), actions.bufferFor('tdLoss backward'), g.bufferFor('tdLoss backward')],
        outputs: [dq.buffer],
        params: p,
        workgroups: grid(B * A, TD_WG),
        label: 'tdLoss backward',
      });
      return [dq];
    }
    return [O.mul(O.mul(O.expandDims(composedGrad(), -1), actionMask(actions, B, A)), O.reshape(g, [1, 1]))];
  }, [yd, out, actions], (tans) => {
    const t = tans[0]!;
    return O.sum(O.mul(composedGrad(), O.sum(O.mul(t, actionMask(actions, B, A)), -1)));
  });
  return { loss, stats };
}

export interface TdLossHeadArgs extends Omit<TdLossArgs, 'q'> {
  /** The output layer's input [B, H] (the head's last hidden activations). */
  h: Tensor;
  /** The output layer: weight [A, H], bias [A] (Q = h·Wᵀ + b). */
  w: Tensor;
  b: Tensor;
}

const align = (n: number) => Math.ceil(n / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;

/**
 * The TD loss through the Q-network's output layer, q = h·Wᵀ + b: the same value as
 * tdLoss({ q: linear(h, w, b), ... }), differentiable in h, w and b, with the layer's forward
 * folded into the loss's dispatch (only Q(s, a) is computed) and its whole backward (dh, dW, db)
 * in one more. w and b must live in one buffer (packed parameters); otherwise, and where the
 * gradient is differentiated again or tangents flow, it is that composition.
 */
export function tdLossHead(a: TdLossHeadArgs): TdLossResult {
  if (a.h.rank !== 2 || a.w.rank !== 2 || a.w.shape[1] !== a.h.shape[1] || a.b.size !== a.w.shape[0]) {
    throw new Error(`tdLossHead: need h [batch, H], w [actions, H], b [actions]; got h ${fmtShape(a.h.shape)}, w ${fmtShape(a.w.shape)}, b ${fmtShape(a.b.shape)}`);
  }
  const wb = a.w.bufferFor('tdLossHead'), bb = a.b.bufferFor('tdLossHead');
  if (wb.buffer !== bb.buffer || forwardActive()) return tdLoss({ ...a, q: linear(a.h, a.w, a.b) });
  const [B, H] = a.h.shape;
  const A = a.w.shape[0];
  check({ ...a, q: { rank: 2, shape: [B, A] } as Tensor }, 'tdLossHead');
  const hd = a.huberDelta ?? 1;
  const code = LOSS_CODE[a.loss];
  const rt = runtime();
  const yo = allocTensor([OUT_PAD + 2 * B]);
  const pw = { buffer: wb.buffer, offset: 0, size: wb.buffer.size };
  const p = [B, A, f32bits(a.gamma), f32bits(hd), H, wb.offset / 4, bb.offset / 4];
  rt.dispatch({
    kernel: tdLossHeadKernel(code, !!a.qNextSelect),
    inputs: [a.h.bufferFor('tdLossHead'), pw, a.qNextTarget.bufferFor('tdLossHead'), (a.qNextSelect ?? a.qNextTarget).bufferFor('tdLossHead'), a.actions.bufferFor('tdLossHead'), a.rewards.bufferFor('tdLossHead'), a.dones.bufferFor('tdLossHead')],
    outputs: [yo.buffer],
    params: p,
    workgroups: [1],
    label: 'tdLossHead',
  });
  const stats = yo.subView(0, [TD_STAT_NAMES.length]);
  const loss = yo.subView(0, []);
  const { h, w, b, actions } = a;
  const composedGrad = (q: Tensor) => rowGrad(a.loss, O.sum(O.mul(q, actionMask(actions, B, A)), -1), yo.subView(OUT_PAD, [B]), B, hd);
  record(loss, 'tdLossHead', [h, w, b], (g, needs) => {
    if (!(isGradEnabled() && insideTransform()) && !forwardActive()) {
      const ow = align(B * H), ob = ow + align(A * H);
      const go = allocTensor([ob + A]);
      rt.dispatch({
        kernel: tdLossHeadBackwardKernel(code),
        inputs: [yo.bufferFor('tdLossHead backward'), actions.bufferFor('tdLossHead backward'), g.bufferFor('tdLossHead backward'), h.bufferFor('tdLossHead backward'), pw],
        outputs: [go.buffer],
        params: [...p, ow, ob],
        workgroups: grid(B * H + A * H + A, TD_WG),
        label: 'tdLossHead backward',
      });
      const out = [needs[0] ? go.subView(0, [B, H]) : null, needs[1] ? go.subView(ow, [A, H]) : null, needs[2] ? go.subView(ob, b.shape) : null];
      go.dispose();
      return out;
    }
    // Differentiated again: dq = [j = a_i]·c_i·g through the layer, from differentiable ops.
    const dq = O.mul(O.mul(O.expandDims(composedGrad(linear(h, w, b)), -1), actionMask(actions, B, A)), O.reshape(g, [1, 1]));
    return [needs[0] ? O.mm(dq, w) : null, needs[1] ? O.mm(dq, h, true, false) : null, needs[2] ? O.reshape(O.sum(dq, 0), b.shape) : null];
  }, [yo, actions]);
  return { loss, stats };
}
