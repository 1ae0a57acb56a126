// SPRIG: a Stackelberg game inside one PPO agent. The perception module θ (three convolutions
// and spatio-temporal self-attention over the last K frames) is the leader; the policy/value
// heads φ are the follower. Every minibatch runs two stages with separate Adam optimizers:
//
//   1. Leader, on θ only:  u_L = α·(−C_θ) + (1 − α)·u_policy           (Algorithm 1, line 13; default)
//                      or  u_L = α·u_policy − (1 − α)·C_θ               (Eq. 8; leaderObjective 'eq8')
//      with u_policy = mean(log π(a|s)·Â) and C_θ = λ_c·Σₖ mean_batch ‖Aₖ(s)‖₁; gradient ascent
//      on u_L (descent on −u_L), global-norm clipping.
//   2. Follower, on φ only, with features from the just-updated θ: the PPO loss
//      −L_CLIP + vfCoef·L_V − entCoef·H(π) + C_θ (C_θ is constant in φ; it is reported).
//
// The attention block (the paper gives no details; this is our design, see docs/rl.md):
//   frames [B, K, 10, 10, C] → per frame conv 3×3 (C→16, stride 1: 10 → 8) → ReLU →
//   conv 2×2 (16→32, stride 2: 8 → 4) → ReLU → conv 1×1 (32→d) → ReLU: 16 cells × d per frame
//   → + temporal position embedding → TEMPORAL gated attention: at each cell, the newest
//   frame's token queries that cell's K tokens (what moved, and where from)
//   → + spatial position embedding → SPATIAL gated attention among the 16 cells of that
//   attended frame → flattened (16·d) → Linear(16·d → 128) → ReLU = the features.
// Gated attention: A = g ⊙ softmax(QKᵀ/√d), with a per-query gate g = sigmoid(x·w_g + b_g)
// ∈ (0, 1), out = x + A·V. A plain row-softmax has ‖A‖₁ = (number of rows) whatever θ is, so
// an L1 cost on it would have zero gradient; with the gate ‖A‖₁ = Σ g, and the cost asks the
// leader to attend only where attention pays for itself (a closed gate passes x through).

import * as E from '../engine/index.ts';
import type { TrainConfig } from './common/config.ts';
import {
  actorCriticHeads, categorical, conv, convInit, linear, linearInit,
  type Heads, type Params, type Perception, type Tensor,
} from './common/nets.ts';
import type { Rng } from './common/rng.ts';
import { klAndClipfrac, ppoLossTerms, type AgentParams, type Algorithm, type Minibatch } from './ppo.ts';

function attnInit(d: number, rng: Rng): Params {
  return { q: linearInit(d, d, 1, rng), k: linearInit(d, d, 1, rng), v: linearInit(d, d, 1, rng), gate: linearInit(d, 1, 1, rng) };
}

/**
 * Gated attention of queries xq [G, H, Lq, d] over keys/values xkv [G, H, L, d] (H independent
 * groups, one shared projection): out = xq + g ⊙ softmax(q kᵀ/√d) v, and the gates
 * g [G, H, Lq, 1] (so ‖A‖₁ = Σ g: softmax rows sum to one).
 */
export function gatedAttention(p: Params, xq: Tensor, xkv: Tensor): { out: Tensor; gates: Tensor } {
  const q = linear(p.q as Params, xq);
  const k = linear(p.k as Params, xkv);
  const v = linear(p.v as Params, xkv);
  const att = E.attention(q, k, v);
  const gates = linear(p.gate as Params, xq, 'sigmoid');
  return { out: E.add(xq, E.mul(gates, att)), gates };
}

/** SPRIG's perception: K stacked channels-last frames [K, H, W, C] per sample. */
export function sprigPerception(h: number, w: number, c: number, K: number, d = 32, hidden = 128): Perception {
  const h1 = h - 2, w1 = w - 2; // conv1 3×3 valid
  const h2 = Math.floor((h1 - 2) / 2) + 1, w2 = Math.floor((w1 - 2) / 2) + 1; // conv2 2×2 stride 2
  const hw = h2 * w2; // spatial tokens per frame (conv3 is 1×1)
  const frame = h * w * c;
  return {
    inputShape: [K, h, w, c],
    rawSize: K * frame,
    featureDim: hidden,
    init(rng) {
      const pos = (n: number) => {
        const a = new Float32Array(n * d);
        for (let i = 0; i < a.length; i++) a[i] = 0.02 * Math.sqrt(-2 * Math.log(1 - rng.random())) * Math.cos(2 * Math.PI * rng.random());
        return E.tensor(a, [n, d]);
      };
      return {
        conv1: convInit(c, 16, 3, Math.SQRT2, rng),
        conv2: convInit(16, 32, 2, Math.SQRT2, rng),
        conv3: convInit(32, d, 1, Math.SQRT2, rng),
        posTemporal: pos(K),
        posSpatial: pos(hw),
        temporal: attnInit(d, rng),
        spatial: attnInit(d, rng),
        fc: linearInit(hw * d, hidden, Math.SQRT2, rng),
      };
    },
    apply(p, x) {
      const B = x.shape[0], N = B * K;
      let y = conv(p.conv1 as Params, E.reshape(x, [N, h, w, c]), 1, 'relu'); // [N, 8, 8, 16]
      y = conv(p.conv2 as Params, y, 2, 'relu'); // [N, 4, 4, 32]
      y = conv(p.conv3 as Params, y, 1, 'relu'); // [N, 4, 4, d]
      // Temporal attention at each cell (the cells act as attention heads): the newest
      // frame's token queries that cell's K tokens.
      const byCell = E.permute(E.reshape(y, [B, K, hw, d]), [0, 2, 1, 3]); // [B, hw, K, d]
      const seq = E.add(byCell, p.posTemporal as Tensor);
      const newest = E.slice(seq, [null, null, [K - 1, K], null]); // [B, hw, 1, d]
      const tp = gatedAttention(p.temporal as Params, newest, seq);
      // Spatial attention among the cells of the (temporally attended) newest frame.
      const tok = E.add(E.reshape(tp.out, [B, 1, hw, d]), p.posSpatial as Tensor);
      const sp = gatedAttention(p.spatial as Params, tok, tok); // [B, 1, hw, d]
      const features = linear(p.fc as Params, E.reshape(sp.out, [B, hw * d]), 'relu');
      // ‖A‖₁ per sample, summed over both layers, averaged over the batch.
      const attnL1 = E.div(E.add(E.sum(tp.gates), E.sum(sp.gates)), B);
      return { features, attnL1 };
    },
  };
}

export function sprigAlgorithm(cfg: TrainConfig, obsShape: number[], numActions: number): Algorithm {
  if (obsShape.length !== 3) throw new Error(`SPRIG needs image observations [H, W, C], got [${obsShape}]`);
  const [h, w, c] = obsShape;
  const perception = sprigPerception(h, w, c, cfg.frameStack, cfg.attnDim);
  const heads = actorCriticHeads(perception.featureDim, numActions);
  return {
    name: 'sprig',
    perception,
    heads,
    statNames: ['pg_loss', 'v_loss', 'entropy', 'approx_kl', 'clipfrac', 'attn_cost', 'leader_u'],
    setup(params, c) {
      // Leader and follower live in separate packed buffers with separate Adam states.
      const perception = E.packParams(params.perception).params;
      const heads = E.packParams(params.heads).params;
      return {
        params: { perception, heads },
        opts: {
          leader: E.adam(perception, { lr: c.leaderLr ?? c.lr, eps: c.adamEps }),
          follower: E.adam(heads, { lr: c.lr, eps: c.adamEps }),
        },
      };
    },
    updateMinibatch(params: AgentParams, opts, mb, lr, c, wantStats) {
      const leaderLr = c.leaderLr === null ? lr : lr * (c.leaderLr / c.lr);
      const leaderU = leaderStep(perception, heads, params, opts.leader, mb, leaderLr, c, wantStats);
      const stats = followerStep(perception, heads, params, opts.follower, mb, lr, c, leaderU);
      leaderU?.dispose();
      return stats;
    },
  };
}

/**
 * Stage 1: one Adam step on the perception θ maximising u_L (the heads φ are constants here).
 * Returns u_L (kept) when asked.
 */
export function leaderStep(
  perception: Perception, heads: Heads, params: AgentParams, opt: E.Optimizer, mb: Minibatch, lr: number,
  c: Pick<TrainConfig, 'alphaCoop' | 'lambdaC' | 'leaderObjective' | 'maxGradNorm'>, wantU = false,
): Tensor | null {
  const a = c.alphaCoop;
  const [negU, gTheta] = E.valueAndGrad((theta: Params) => {
    const { features, attnL1 } = perception.apply(theta, mb.obs);
    const { logits } = heads.apply(params.heads, features);
    const { logp } = categorical(logits, mb.actions);
    const uPolicy = E.mean(E.mul(logp, mb.adv));
    const cost = E.mul(attnL1!, c.lambdaC);
    const u = c.leaderObjective === 'alg1'
      ? E.add(E.mul(cost, -a), E.mul(uPolicy, 1 - a))
      : E.sub(E.mul(uPolicy, a), E.mul(cost, 1 - a));
    return E.neg(u);
  })(params.perception);
  opt.step(params.perception, gTheta, { lr, maxGradNorm: c.maxGradNorm });
  E.dispose(gTheta);
  const u = wantU ? E.keep(E.noGrad(() => E.neg(negU))) : null;
  negU.dispose();
  return u;
}

/**
 * Stage 2: one Adam step on the heads φ with the PPO loss (+ C_θ, constant in φ), on features
 * of the current (just updated) θ. Returns the statistics row when leaderU is given.
 */
export function followerStep(
  perception: Perception, heads: Heads, params: AgentParams, opt: E.Optimizer, mb: Minibatch, lr: number,
  c: Pick<TrainConfig, 'lambdaC' | 'clipCoef' | 'clipVloss' | 'vfCoef' | 'entCoef' | 'maxGradNorm'>, leaderU: Tensor | null = null,
): Tensor | null {
  const { features, attnL1 } = E.noGrad(() => perception.apply(params.perception, mb.obs));
  const cost = E.noGrad(() => E.mul(attnL1!, c.lambdaC));
  let stats: Tensor | null = null;
  const [loss, gPhi] = E.valueAndGrad((phi: Params) => {
    const { logits, value } = heads.apply(phi, features);
    const t = ppoLossTerms(logits, value, mb, c);
    if (leaderU) {
      stats = E.keep(E.noGrad(() => {
        const { approxKl, clipfrac } = klAndClipfrac(t.logratio, t.ratio, c.clipCoef);
        return E.stack([t.pgLoss, t.vLoss, t.entropy, approxKl, clipfrac, E.reshape(cost, []), E.reshape(leaderU, [])]);
      }));
    }
    return E.add(t.loss, cost);
  })(params.heads);
  opt.step(params.heads, gPhi, { lr, maxGradNorm: c.maxGradNorm });
  E.dispose(gPhi);
  loss.dispose();
  features.dispose();
  attnL1?.dispose();
  cost.dispose();
  return stats;
}
