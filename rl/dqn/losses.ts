// TD targets and the losses of the DQN family and SCORER, plus the schedules (ε, target copies,
// learning rate). Everything on the GPU is written with differentiable engine ops, so the exact
// Stackelberg update can differentiate the follower's gradient again.

import * as E from '../../engine/index.ts';
import { tdLoss as tdLossOp, tdLossHead, type TdLossKind, type TdLossResult } from '../../engine/nn/td_loss.ts';
import type { QModule } from './nets.ts';

type Tensor = E.Tensor;

/** Q(s, a) for actions [B] (integer-valued floats) from Q-values [B, A], via a one-hot mask. */
export function qAt(q: Tensor, actions: Tensor): Tensor {
  const A = q.shape[q.rank - 1];
  if (actions.size !== q.shape[0]) throw new Error(`qAt: ${actions.size} actions for Q-values of shape [${q.shape}]`);
  const mask = E.noGrad(() => E.eq(E.expandDims(E.reshape(actions, [actions.size]), -1), E.arange(A)));
  return E.sum(E.mul(q, mask), -1);
}

/**
 * y = r + γ(1 − d)·Q_next, no gradient. DQN: Q_next = max_a′ qNextTarget. Double DQN:
 * a* = argmax qNextSelect (the online head), Q_next = qNextTarget[a*].
 */
export function tdTarget(o: { rewards: Tensor; dones: Tensor; gamma: number; qNextTarget: Tensor; qNextSelect?: Tensor }): Tensor {
  return E.noGrad(() => {
    const next = o.qNextSelect ? qAt(o.qNextTarget, E.argmax(o.qNextSelect, -1)) : E.max(o.qNextTarget, -1);
    return E.add(o.rewards, E.mul(E.mul(E.sub(1, o.dones), o.gamma), next));
  });
}

export type TdLoss = 'huber' | 'mse';

/** A batch's next-state Q-values: the target network's, and Double DQN's argmax selector's. */
export interface NextQ {
  qNextTarget: Tensor;
  qNextSelect?: Tensor;
}

/**
 * The TD target, Q(s, a) and the loss ('mse' = MSBE, 'huber', 'bev') in one dispatch and its
 * gradient in q in one (engine/nn/td_loss.ts); the same values as tdTarget + qAt + tdLoss/msbe/bev,
 * for a first-order update. `stats`: loss, q_mean, msbe, bev, delta_mean.
 */
export function fusedTdLoss(kind: TdLossKind, q: Tensor, next: NextQ, b: { actions: Tensor; rewards: Tensor; dones: Tensor }, gamma: number): TdLossResult {
  return tdLossOp({ q, qNextTarget: next.qNextTarget, qNextSelect: next.qNextSelect ?? null, actions: b.actions, rewards: b.rewards, dones: b.dones, gamma, loss: kind });
}

/** The baselines' loss: mean Huber (δ = 1, torch's smooth_l1) or mean squared TD error. */
export function tdLoss(kind: TdLoss, qa: Tensor, y: Tensor): Tensor {
  if (kind === 'huber') return E.huber(qa, y, 1);
  if (kind === 'mse') return E.mse(qa, y);
  throw new Error(`unknown TD loss '${kind}'; valid: huber, mse`);
}

/** Mean squared Bellman error, mean((y − Q)²). */
export function msbe(qa: Tensor, y: Tensor): Tensor {
  return E.mean(E.square(E.sub(y, qa)));
}

/** Bellman-error variance: the population variance of δ = y − Q over the batch. */
export function bev(qa: Tensor, y: Tensor): Tensor {
  const d = E.sub(y, qa);
  return E.mean(E.square(E.sub(d, E.mean(d))));
}

/**
 * fusedTdLoss of a Q-head on features f: with a plain head its output layer is folded into the
 * loss (Q(s, a) only, and the layer's backward in the loss's backward dispatch: tdLossHead),
 * otherwise the head runs as usual. Same values either way.
 */
export function headTdLoss(kind: TdLossKind, head: QModule, hp: E.Params, f: Tensor, next: NextQ, b: { actions: Tensor; rewards: Tensor; dones: Tensor }, gamma: number): TdLossResult {
  if (!head.outputLayer) return fusedTdLoss(kind, head.apply(hp, f), next, b, gamma);
  const out = head.outputLayer.params(hp);
  return tdLossHead({ h: head.outputLayer.hidden(hp, f), w: out.weight, b: out.bias, qNextTarget: next.qNextTarget, qNextSelect: next.qNextSelect ?? null, actions: b.actions, rewards: b.rewards, dones: b.dones, gamma, loss: kind });
}

/**
 * [loss, gradient] of a scalar loss in one parameter tree, seeded with a kept unit cotangent
 * `one` ([] of 1): E.valueAndGrad's result, without its per-call fill dispatch for the seed.
 */
export function lossAndGrad<P extends E.Params>(f: (p: P) => Tensor, p: P, one: Tensor): [Tensor, P] {
  const [out, back] = E.vjp(f, p);
  const [g] = back(one);
  return [out as Tensor, g as P];
}

// ---------------------------------------------------------------- schedules

/** CleanRL's linear_schedule: start → end linearly over `duration` steps, then end. */
export function linearSchedule(start: number, end: number, duration: number, t: number): number {
  if (duration <= 0) return end;
  return start + (end - start) * Math.min(1, Math.max(0, t) / duration);
}

/**
 * ε at env step t: 1.0 → εEnd over `decaySteps` steps starting after `startAt` (MinAtar's
 * reference decays from the end of the replay warm-up; CleanRL from step 0).
 */
export function epsilonAt(t: number, o: { start: number; end: number; decaySteps: number; startAt?: number }): number {
  return linearSchedule(o.start, o.end, o.decaySteps, Math.max(0, t - (o.startAt ?? 0)));
}

/** Whether a hard target copy happens after update number `update` (1-based) with period `every` updates. */
export function targetCopyDue(update: number, every: number): boolean {
  return every > 0 && update % every === 0;
}
