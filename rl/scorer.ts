// SCORER: value-based RL as a Stackelberg game between control and perception, over any of the
// four DQN variants (rl/dqn.ts supplies the loop, the networks and the targets).
//
// Default (paper v2/v3, the released code's update): the Q-head θ leads on the slow timescale,
// the encoder φ follows on the fast one. Each update:
//   1. leader, batch 1: y = r + γ(1 − d)·Q_θ⁻(f_φ⁻(s′)) (Double: argmax by the online head),
//      MSBE = mean((y − Q_θ(stopgrad f_φ(s), a))²), Adam step on θ (lr leaderLr, clip);
//   2. follower, a fresh batch 2, against the just-updated θ: δ = y − Q_{stopgrad θ}(f_φ(s), a),
//      BEV = mean((δ − mean δ)²) (population variance), Adam step on φ (lr followerLr, clip).
// Both learning rates decay linearly with cfg.lrDecay.
// Options:
//   - followerLoss 'msbe': the follower minimises MSBE instead of BEV.
//   - stackelberg 'total': the leader steps along the total derivative of its MSBE through the
//     follower's BEV best response, ∇θf₁ − ∇²φθf₂ (∇²φφf₂ + λI)⁻¹ ∇φf₁ (engine/solvers'
//     totalDerivative, CG with cgIters iterations, λ = cgLambda), on batch 1; the follower
//     then steps as above. With cgWarmStart (default) each CG solve starts from the previous
//     update's solution, which checkpoints carry (exact resume). No released code has this.
//   - roles 'perception-leader' (paper v1): φ leads, updated every reversedLeaderEvery
//     updates (lr leaderLr) with reversedLeaderLoss ('variance': the BEV; 'norm':
//     0.1·(1 − mean(z²))² of the features z; 'msbe'); θ follows with MSBE every update
//     (lr followerLr). The papers found inverted roles can collapse.
//   - the released code's quirks (128 envs, both players every vector step, target copies every
//     16,000 env steps): the 'scorer-released' preset.

import * as E from '../engine/index.ts';
import { stackelbergGradients } from '../games/game.ts';
import {
  batchTarget, batchNextQ, packKept, packedClone, copyInto, qAlgorithm, isDueling, DQN_VARIANTS,
  type DqnConfig, type QLearner,
} from './dqn.ts';
import type { OffPolicyAlgorithm } from './harness/types.ts';
import { qNetwork, type EncoderKind, type QNetParams } from './dqn/nets.ts';
import { bev, headTdLoss, lossAndGrad, msbe, qAt } from './dqn/losses.ts';
import type { BatchTensors } from './replay.ts';
import { FusedDqnGrad, FusedAdam } from './dqn/fused_update.ts';
import { allocTensor } from '../engine/tensor.ts';

type Tensor = E.Tensor;
type Params = E.Params;

/** SCORER's MinAtar settings (docs/dqn.md § SCORER) on top of the DQN defaults. */
export const SCORER_DEFAULTS: Partial<DqnConfig> = {
  optimizer: 'adam', lr: 1e-4, leaderLr: 1e-4, followerLr: 5e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64,
  bufferSize: 100_000, epsEnd: 0.01, epsDecaySteps: 250_000, epsDecayFrom: 'start', learningStarts: 10_000,
  loss: 'mse', targetUpdateEvery: 1000, encoder: 'mlp', doubleSelect: 'online-head',
};

export function scorerLearner(cfg: DqnConfig, obsShape: number[], numActions: number): QLearner {
  const net = qNetwork(obsShape, numActions, { encoder: cfg.encoder as EncoderKind, dueling: isDueling(cfg.variant), hidden: cfg.hidden });
  const init = net.init(cfg.seed);
  // The players are packed apart: each has its own Adam (its own timescale).
  const enc = packKept(init.encoder), head = packKept(init.head);
  const params: QNetParams = { encoder: enc.params, head: head.params };
  const tEnc = packedClone(enc.params), tHead = packedClone(head.params);
  const target: QNetParams = { encoder: tEnc.params, head: tHead.params };
  const qLeads = cfg.roles === 'q-leader';
  const leaderParams = qLeads ? params.head : params.encoder;
  const followerParams = qLeads ? params.encoder : params.head;
  // The released MLP network, Q leading, sequential update: each player's gradient in two
  // dispatches (rl/dqn/fused_update.ts, its part only) into its FusedAdam's gradient buffer
  // (E.adam's rule and state names); otherwise the composed ops.
  const fused = qLeads && cfg.leaderUpdate === 'sequential' ? FusedDqnGrad.create(net, params) : null;
  // (FusedAdam: the dw kernel's per-workgroup sums of squares feed the clip, so each player's
  // clipped step is one dispatch.)
  const leader = fused ? new FusedAdam(leaderParams, { lr: cfg.leaderLr, eps: cfg.adamEps }) : E.adam(leaderParams, { lr: cfg.leaderLr, eps: cfg.adamEps });
  const follower = fused ? new FusedAdam(followerParams, { lr: cfg.followerLr, eps: cfg.adamEps }) : E.adam(followerParams, { lr: cfg.followerLr, eps: cfg.adamEps });
  const normParts = fused && (leader as FusedAdam).partials ? { head: E.keep(allocTensor([fused.normParts('head')])), encoder: E.keep(allocTensor([fused.normParts('encoder')])) } : null;
  /** One player's fused gradient into its optimizer and the step; the kept [8] statistics with wantStats. */
  const fusedStep = (b: BatchTensors, kind: 'mse' | 'bev', part: 'head' | 'encoder', opt: FusedAdam, lr: number, wantStats: boolean): Tensor | null => {
    const S = wantStats ? allocTensor([8]) : null;
    const N = normParts?.[part] ?? null;
    fused!.grad({ batch: b, next: batchNextQ(cfg, net, params, target, b), gamma: cfg.gamma, loss: kind, G: opt.grad, S, part, N });
    opt.stepPartials({ lr, maxGradNorm: clip, partials: N });
    return S;
  };
  const clip = cfg.maxGradNorm ?? undefined;
  /** The backward passes' unit seed, made once. */
  const one = E.keep(E.ones([]));
  const followerLoss = cfg.followerLoss === 'bev' ? bev : msbe;
  /** The follower's loss for the fused TD op (MSBE is its 'mse'). */
  const followerKind: 'bev' | 'mse' = cfg.followerLoss === 'bev' ? 'bev' : 'mse';
  /** 'total' with cgWarmStart: the previous update's CG solution q (shaped like the encoder), checkpointed. */
  let warmStart: Params | null = null;

  /** Q(s, a) for a batch with the given head and encoder parameters. */
  const qa = (b: BatchTensors, h: Params, e: Params) => qAt(net.head.apply(h, net.encoder.apply(e, b.obs)), b.actions);

  function qLeaderUpdate(sample: () => BatchTensors, lrFrac: number, wantStats: boolean): Tensor | null {
    const stats: Tensor[] = [];
    E.scope(() => {
      const b1 = sample();
      let g1: Params;
      if (cfg.leaderUpdate === 'total') {
        // The leader's MSBE differentiated through the follower's BEV best response (games/):
        // second order, so the losses are composed from ops here.
        const y1 = batchTarget(cfg, net, params, target, b1);
        const game = {
          leaderLoss: (h: Params, e: Params) => msbe(qa(b1, h, e), y1),
          followerLoss: (h: Params, e: Params) => followerLoss(qa(b1, h, e), y1),
        };
        const sg = stackelbergGradients(game, params.head, params.encoder, {
          kind: 'total', lambda: cfg.cgLambda, cgIters: cfg.cgIters, warmStart: cfg.cgWarmStart ? warmStart ?? undefined : undefined,
        });
        if (cfg.cgWarmStart) {
          // This solve starts the next update's CG: consecutive batches' BEV Hessians are close.
          if (warmStart) E.dispose(warmStart);
          warmStart = E.keep(sg.implicit!);
        }
        g1 = sg.leaderGrad;
        if (wantStats) stats.push(E.keep(E.noGrad(() => E.reshape(sg.leaderValue, []))));
        if (wantStats && sg.negativeCurvature) stats.push(E.keep(E.noGrad(() => E.reshape(sg.negativeCurvature!, []))));
      } else if (fused) {
        const S = fusedStep(b1, 'mse', 'head', leader as FusedAdam, cfg.leaderLr * lrFrac, wantStats);
        if (S) stats.push(E.keep(E.noGrad(() => E.reshape(E.slice(S, [[0, 1]]), []))));
        return;
      } else {
        const n1 = batchNextQ(cfg, net, params, target, b1);
        const f1 = E.noGrad(() => net.encoder.apply(params.encoder, b1.obs));
        // MSBE: target, Q(s, a) and loss in one fused dispatch, its gradient in one.
        const [l1, g] = lossAndGrad((h: Params) => headTdLoss('mse', net.head, h, f1, n1, b1, cfg.gamma).loss, params.head, one);
        g1 = g;
        if (wantStats) stats.push(E.keep(l1));
      }
      leader.step(params.head, g1, { lr: cfg.leaderLr * lrFrac, maxGradNorm: clip });
    });
    E.scope(() => {
      // Fresh batch, targets and Q from the just-updated head (θ is a constant here).
      const b2 = sample();
      if (fused) {
        const S = fusedStep(b2, followerKind, 'encoder', follower as FusedAdam, cfg.followerLr * lrFrac, wantStats);
        // the same statistics as below: q_mean, then the follower's loss
        if (S) stats.push(E.keep(E.noGrad(() => E.reshape(E.slice(S, [[1, 2]]), []))), E.keep(E.noGrad(() => E.reshape(E.slice(S, [[0, 1]]), []))));
        return;
      }
      const n2 = batchNextQ(cfg, net, params, target, b2);
      const [, g2] = lossAndGrad((e: Params) => {
        const td = headTdLoss(followerKind, net.head, params.head, net.encoder.apply(e, b2.obs), n2, b2, cfg.gamma);
        // stats: follower loss (TD_STAT_NAMES[0]) and q_mean ([1]), picked out on log steps only
        if (wantStats) stats.push(E.keep(E.noGrad(() => E.reshape(E.slice(td.stats, [[1, 2]]), []))), E.keep(E.noGrad(() => E.reshape(E.slice(td.stats, [[0, 1]]), []))));
        return td.loss;
      }, params.encoder, one);
      follower.step(params.encoder, g2, { lr: cfg.followerLr * lrFrac, maxGradNorm: clip });
    });
    if (!wantStats) return null;
    // Order: leader_loss, follower_loss, q_mean (+ cg_negative_curvature for 'total').
    return stats.length === 4 ? stackStats(stats, [0, 3, 2, 1]) : stackStats(stats, [0, 2, 1]);
  }

  function perceptionLeaderUpdate(sample: () => BatchTensors, lrFrac: number, u: number, wantStats: boolean): Tensor | null {
    const stats: Tensor[] = [];
    const leaderDue = u % Math.max(1, cfg.reversedLeaderEvery) === 0;
    E.scope(() => {
      if (!leaderDue && !wantStats) return;
      const b1 = sample();
      const n1 = batchNextQ(cfg, net, params, target, b1);
      const lossOf = (e: Params) => {
        if (cfg.reversedLeaderLoss === 'norm') {
          const z = net.encoder.apply(e, b1.obs);
          return E.mul(E.square(E.sub(1, E.mean(E.square(z)))), 0.1);
        }
        return headTdLoss(cfg.reversedLeaderLoss === 'variance' ? 'bev' : 'mse', net.head, params.head, net.encoder.apply(e, b1.obs), n1, b1, cfg.gamma).loss;
      };
      if (!leaderDue) {
        // Not the leader's turn: its loss on this batch is still logged (no step).
        stats.push(E.keep(E.noGrad(() => lossOf(params.encoder))));
        return;
      }
      const [l1, g1] = lossAndGrad(lossOf, params.encoder, one);
      if (wantStats) stats.push(E.keep(l1));
      leader.step(params.encoder, g1, { lr: cfg.leaderLr * lrFrac, maxGradNorm: clip });
    });
    E.scope(() => {
      const b2 = sample();
      const n2 = batchNextQ(cfg, net, params, target, b2);
      const f2 = E.noGrad(() => net.encoder.apply(params.encoder, b2.obs));
      const [l2, g2] = lossAndGrad((h: Params) => {
        const td = headTdLoss('mse', net.head, h, f2, n2, b2, cfg.gamma);
        if (wantStats) stats.push(E.keep(E.noGrad(() => E.reshape(E.slice(td.stats, [[1, 2]]), []))));
        return td.loss;
      }, params.head, one);
      if (wantStats) stats.push(E.keep(l2));
      follower.step(params.head, g2, { lr: cfg.followerLr * lrFrac, maxGradNorm: clip });
    });
    return wantStats ? stackStats(stats, [0, 2, 1]) : null;
  }

  return {
    name: `scorer-${cfg.variant}`,
    net,
    params,
    target,
    opts: { leader, follower },
    statNames: ['leader_loss', 'follower_loss', 'q_mean', ...(qLeads && cfg.leaderUpdate === 'total' ? ['cg_negative_curvature'] : [])],
    update(sample, lrFrac, u, wantStats) {
      return qLeads ? qLeaderUpdate(sample, lrFrac, wantStats) : perceptionLeaderUpdate(sample, lrFrac, u, wantStats);
    },
    copyTarget() {
      copyInto(target.encoder, params.encoder);
      copyInto(target.head, params.head);
    },
    async saveState() {
      if (!warmStart) return { arrays: {}, json: { cgWarmStart: false } };
      const named = E.namedParams(warmStart);
      const data = await E.readAll(Object.values(named));
      const arrays = Object.fromEntries(Object.keys(named).map((n, i) => [`cg_warm_start.${n}`, { data: data[i], shape: named[n].shape.length ? named[n].shape : [1] }]));
      return { arrays, json: { cgWarmStart: true } };
    },
    loadState(arrays, json) {
      if (warmStart) E.dispose(warmStart);
      warmStart = null;
      if (!(json as { cgWarmStart?: boolean } | undefined)?.cgWarmStart) return;
      // Rebuilt in the encoder's own leaf order (CG pairs leaves by position; the file sorts names).
      const named: Record<string, Tensor> = {};
      for (const [n, t] of Object.entries(E.namedParams(params.encoder))) {
        const a = arrays[`cg_warm_start.${n}`];
        if (!a) throw new Error(`scorer-${cfg.variant} checkpoint: the CG warm start lacks agent.learner.cg_warm_start.${n} (has: ${Object.keys(arrays).join(', ') || 'nothing'})`);
        if (a.data.length !== t.size) throw new Error(`scorer-${cfg.variant} checkpoint: agent.learner.cg_warm_start.${n} has ${a.data.length} values, the encoder's ${n} has ${t.size} [${t.shape}]`);
        named[n] = E.tensor(a.data as Float32Array, t.shape);
      }
      warmStart = E.keep(E.fromNamed(named));
    },
    dispose() {
      if (warmStart) E.dispose(warmStart);
      E.dispose([params, target, enc.flat, head.flat, tEnc.flat, tHead.flat, one]);
      leader.dispose();
      follower.dispose();
      if (normParts) E.dispose([normParts.head, normParts.encoder]);
      fused?.dispose();
    },
  };
}

/** One kept [k] tensor from kept scalars, in the given order; the parts are disposed. */
function stackStats(parts: Tensor[], order: number[]): Tensor {
  const out = E.scope(() => E.keep(E.noGrad(() => E.stack(order.map((i) => E.reshape(parts[i], []))))));
  E.dispose(parts);
  return out;
}

/** SCORER over each DQN variant: 'scorer-dqn', 'scorer-double-dqn', 'scorer-dueling-dqn', 'scorer-dueling-double-dqn'. */
export const scorerAlgorithms: Record<string, OffPolicyAlgorithm<DqnConfig>> = Object.fromEntries(
  DQN_VARIANTS.map((v) => {
    const a = qAlgorithm(v, scorerLearner, 'scorer-');
    // SCORER's own defaults: the scorer-paper preset (Adam for both players, decayed, clip 0.5, the MLP network).
    return [a.name, { ...a, defaults: { ...a.defaults, ...SCORER_DEFAULTS } }];
  }),
);

export default scorerAlgorithms['scorer-dqn'];
