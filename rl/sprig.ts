// SPRIG: a Stackelberg game inside one PPO agent. The perception module θ (three convolutions
// and spatio-temporal self-attention over the last K frames) is the leader; the policy/value
// heads φ are the follower. Every minibatch runs two stages with separate Adam optimizers:
//
//   1. Leader, on θ:  u_L = α·(−C_θ) + (1 − α)·u_policy           (Algorithm 1, line 13; default)
//                 or  u_L = α·u_policy − (1 − α)·C_θ               (Eq. 8; leaderObjective 'eq8')
//      with u_policy = mean(log π(a|s)·Â) and C_θ = λ_c·Σₖ mean_batch ‖Aₖ(s)‖₁.
//      leaderUpdate 'sequential' (the paper): ascend ∂u_L/∂θ with φ held constant.
//      leaderUpdate 'total': ascend the total derivative of u_L through the heads' best
//      response φ*(θ) = argmin_φ L_PPO(θ, φ):  ∇_θ u_L − ∇²_θφ L_PPO (∇²_φφ L_PPO + λI)⁻¹ ∇_φ u_L,
//      by CG over Hessian-vector products (games/: the `sprigGame` below and its update rule),
//      warm-started from the previous minibatch's solve; negative curvature stops or damps CG.
//   2. Follower, on φ (followerSteps = m times), with features from the just-updated θ: the PPO loss
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
import {
  sprigLeaderLoss, sprigSpatialBlock, sprigTemporalBlock, gatedAttentionLayout, temporalBlockLayout, type GatedAttentionParams, type TemporalBlockParams,
} from '../engine/index.ts';
import { stackelbergGradients, type Game, type LeaderRule } from '../games/game.ts';
import { PPO_DEFAULTS, PPO_PRESETS, PPO_SCHEMA, PpoAgent, ppoLossTerms, sampleFromPacked, validatePpo, type AgentParams, type Minibatch, type Perception, type PpoConfig } from './ppo.ts';
import type { ActOptions, ActResult, AgentState, EnvSpec, OnPolicyAlgorithm, Schema } from './harness/types.ts';
import { sprigGatedResidualKernel } from '../kernels/ppo.ts';
import { sprigHeadsKernel, sprigWorkgroupBytes } from '../kernels/sprig.ts';
import { grid } from '../kernels/common.ts';
import { abSwitch } from '../engine/switch.ts';

type Tensor = E.Tensor;
type Params = E.Params;

// ------------------------------------------------------------------ hyperparameters

export interface SprigConfig extends PpoConfig {
  /** α_coop: weight of the leader's cost term vs the policy term. */
  alphaCoop: number;
  /** λ_c: attention cost weight. */
  lambdaC: number;
  /** 'alg1': u_L = α(−C) + (1−α)·u_policy (Algorithm 1, default); 'eq8': u_L = α·u_policy − (1−α)·C. */
  leaderObjective: 'alg1' | 'eq8';
  /** 'sequential': the paper's leader step (φ constant); 'total': the exact Stackelberg gradient through φ*(θ). */
  leaderUpdate: 'sequential' | 'total';
  /** Tikhonov damping λ of the heads' Hessian in the total derivative. */
  cgLambda: number;
  /** CG iterations of the total derivative (warm-started from the previous solve). */
  cgIters: number;
  /** What CG does on negative curvature of the heads' Hessian: 'stop' (truncated CG) or 'damp'. */
  cgNegativeCurvature: 'stop' | 'damp';
  /** Follower (heads) steps per leader step, m (the papers' unroll; 1 in SPRIG's Algorithm 1). */
  followerSteps: number;
  /** Leader (perception) learning rate; null = lr. */
  leaderLr: number | null;
  frameStack: number;
  attnDim: number;
}

export const SPRIG_DEFAULTS: SprigConfig = {
  ...PPO_DEFAULTS,
  algo: 'sprig',
  alphaCoop: 0.7,
  lambdaC: 1e-4,
  leaderObjective: 'alg1',
  leaderUpdate: 'sequential',
  cgLambda: 1,
  cgIters: 10,
  cgNegativeCurvature: 'stop',
  followerSteps: 1,
  leaderLr: null,
  frameStack: 4,
  attnDim: 32,
};

export const SPRIG_SCHEMA: Schema<SprigConfig> = {
  ...PPO_SCHEMA,
  alphaCoop: { type: 'number', min: 0, max: 1 },
  lambdaC: { type: 'number', min: 0 },
  leaderObjective: { type: 'string', choices: ['alg1', 'eq8'] },
  leaderUpdate: { type: 'string', choices: ['sequential', 'total'] },
  cgLambda: { type: 'number', min: 0 },
  cgIters: { type: 'int', min: 1 },
  cgNegativeCurvature: { type: 'string', choices: ['stop', 'damp'] },
  followerSteps: { type: 'int', min: 1 },
  leaderLr: { type: 'number', positive: true, nullable: true },
  frameStack: { type: 'int', min: 1 },
  attnDim: { type: 'int', min: 1 },
};

/** PPO's presets; on MinAtar SPRIG's frame stack is cut to 2 (its perception dominates the cost). */
export const SPRIG_PRESETS: Record<string, Partial<SprigConfig>> = {
  ...PPO_PRESETS,
  'minatar-fast': { ...PPO_PRESETS['minatar-fast'], frameStack: 2 },
};

// ------------------------------------------------------------------ networks

/** Gated attention's parameters: q, k, v projections and the per-query gate. */
function gatedAttentionModule(d: number) {
  const proj = E.Linear(d, d, { gain: 1 });
  const gate = E.Linear(d, 1, { gain: 1, activation: 'sigmoid' });
  return {
    init: (seed: number): Params => ({
      q: proj.init(E.childSeed(seed, 'q')), k: proj.init(E.childSeed(seed, 'k')), v: proj.init(E.childSeed(seed, 'v')), gate: gate.init(E.childSeed(seed, 'gate')),
    }),
    /**
     * Queries xq [G, H, Lq, d] over keys/values xkv [G, H, L, d] (H independent groups, one
     * shared projection): out = xq + g ⊙ softmax(q kᵀ/√d) v, and the gates g [G, H, Lq, 1]
     * (so ‖A‖₁ = Σ g: softmax rows sum to one).
     */
    apply(p: Params, xq: Tensor, xkv: Tensor, fused?: GatedResidual): { out: Tensor; gates: Tensor } {
      const lin = (n: string, x: Tensor) => proj.apply(p[n] as E.LinearParams, x);
      const att = E.attention(lin('q', xq), lin('k', xkv), lin('v', xkv));
      if (fused) return gatedResidual(xq, att, fused);
      const gates = gate.apply(p.gate as E.LinearParams, xq);
      return { out: E.add(xq, E.mul(gates, att)), gates };
    },
  };
}

const fusedGate = abSwitch(true);
/** Benchmarks' A/B switch: false makes the inference path compose the gates, products and adds (session 8). Returns the previous setting. */
export const sprigFusedGatedResidual = fusedGate.set;

const fusedBlocks = abSwitch(true);
/**
 * Benchmarks' A/B switch: false makes the inference path run the window gather, conv2, conv3 and
 * each attention layer as separate dispatches (session 9's 17 a forward) instead of one kernel
 * for the temporal block and one for the spatial block (5 a forward). Returns the previous setting.
 */
export const sprigFusedBlocks = fusedBlocks.set;


const fusedSpatialTrain = abSwitch(true);
/** Benchmarks' A/B switch: false makes the sequential leader's forward/backward compose the spatial layer (9 + ~18 dispatches) instead of sprigSpatialBlock (1 + 2). Returns the previous setting. */
export const sprigFusedSpatialTrain = fusedSpatialTrain.set;

const fusedTemporalTrain = abSwitch(true);
/** Benchmarks' A/B switch: false makes the sequential leader's forward/backward compose conv2 through the temporal layer (13 + ~30 dispatches) instead of sprigTemporalBlock (1 + 2). Returns the previous setting. */
export const sprigFusedTemporalTrain = fusedTemporalTrain.set;

const reluInTemporal = abSwitch(true);
/** Benchmarks' A/B switch: false runs conv1 with its ReLU (and the ReLU's backward, 2 dispatches) before the temporal op instead of inside it. Returns the previous setting. */
export const sprigReluInTemporal = reluInTemporal.set;

const fusedHeads = abSwitch(true);
/** Benchmarks' A/B switch: false makes SPRIG's act() run the policy and value heads as two linear dispatches (PpoAgent.act). Returns the previous setting. */
export const sprigFusedHeads = fusedHeads.set;

/** Where a gated attention layer's gate (and the position added after it) sit in the packed perception. */
interface GatedResidual {
  flat: Tensor;
  wg: number;
  bg: number;
  /** the spatial position embedding added to the output ([hw, d] at this offset), or null */
  pos: { off: number; hw: number } | null;
}

/** x + g ⊙ att (+ pos) with g = sigmoid(x·w_g + b_g), one dispatch, no backward (kernels/ppo.ts sprigGatedResidualKernel). */
function gatedResidual(xq: Tensor, att: Tensor, f: GatedResidual): { out: Tensor; gates: Tensor } {
  const d = xq.shape[xq.shape.length - 1], n = xq.size / d;
  const rt = E.runtime();
  const out = E.Tensor.fromBuffer(rt.alloc(xq.size * 4), xq.shape);
  const gates = E.Tensor.fromBuffer(rt.alloc(n * 4), [...xq.shape.slice(0, -1), 1]);
  rt.dispatch({
    kernel: sprigGatedResidualKernel, inputs: [xq.bufferFor('sprig gated residual'), att.bufferFor('sprig gated residual'), f.flat.buffer], outputs: [out.buffer, gates.buffer],
    params: [n, d, f.pos?.hw ?? 1, f.pos ? 1 : 0, f.wg, f.bg, f.pos?.off ?? 0], workgroups: grid(n, 64), label: 'sprig gated residual',
  });
  return { out, gates };
}

/** Whether the block kernels' workgroup memory fits this device (K = 4 frames needs more than WebGPU's default 16 KiB). */
function blocksFit(K: number, d: number, hw: number, training: boolean): boolean {
  const b = sprigWorkgroupBytes(K, d, 16, 32, hw);
  const lim = E.runtime().device.limits.maxComputeWorkgroupStorageSize;
  return Math.max(b.temporal, b.spatial, ...(training ? [b.temporalBackward, b.spatialBackward] : [])) <= lim;
}

/**
 * The perception's result: features, both layers' gates, and ‖A‖₁ per sample summed over both
 * layers and averaged over the batch, computed when read (the update's two stages read it;
 * acting, once per rollout step, does not).
 */
function perceptionOut(features: Tensor, temporalGates: Tensor, spatialGates: Tensor, B: number) {
  let cost: Tensor | undefined;
  return {
    features,
    gates: [temporalGates, spatialGates],
    get cost() {
      return (cost ??= E.div(E.add(E.sum(temporalGates), E.sum(spatialGates)), B));
    },
  };
}

/** SPRIG's perception: K stacked channels-last frames [K, H, W, C] per sample; cost = ‖A‖₁ per sample (both layers). */
export function sprigPerception(h: number, w: number, c: number, K: number, d = 32, hidden = 128): Perception {
  const h1 = h - 2, w1 = w - 2; // conv1 3×3 valid
  const h2 = Math.floor((h1 - 2) / 2) + 1, w2 = Math.floor((w1 - 2) / 2) + 1; // conv2 2×2 stride 2
  const hw = h2 * w2; // spatial tokens per frame (conv3 is 1×1)
  const g = Math.SQRT2;
  const conv1 = E.Conv2d(c, 16, 3, { gain: g, activation: 'relu' });
  const conv2 = E.Conv2d(16, 32, 2, { gain: g, stride: 2, activation: 'relu' });
  const conv3 = E.Conv2d(32, d, 1, { gain: g, activation: 'relu' });
  const fc = E.Linear(hw * d, hidden, { gain: g, activation: 'relu' });
  const temporal = gatedAttentionModule(d), spatial = gatedAttentionModule(d);
  return {
    inputShape: [K, h, w, c],
    featureDim: hidden,
    init(seed) {
      const s = (n: string) => E.childSeed(seed, n);
      return {
        conv1: conv1.init(s('conv1')),
        conv2: conv2.init(s('conv2')),
        conv3: conv3.init(s('conv3')),
        posTemporal: E.normalInit([K, d], 0.02, s('posTemporal')),
        posSpatial: E.normalInit([hw, d], 0.02, s('posSpatial')),
        temporal: temporal.init(s('temporal')),
        spatial: spatial.init(s('spatial')),
        fc: fc.init(s('fc')),
      };
    },
    apply(p, x, opts) {
      const B = x.shape[0], N = B * K;
      // Nothing differentiated and the parameters packed: each gated attention's gate, product
      // and residual add (and the spatial position after the temporal layer) in one dispatch.
      const packed = opts?.inference && fusedGate.on ? E.packedOf(p) : undefined;
      const at = (n: string) => packed!.layout.offsets[packed!.layout.names.indexOf(n)];
      const fusedT: GatedResidual | undefined = packed ? { flat: packed.flat, wg: at('temporal.gate.weight'), bg: at('temporal.gate.bias'), pos: { off: at('posSpatial'), hw } } : undefined;
      const fusedS: GatedResidual | undefined = packed ? { flat: packed.flat, wg: at('spatial.gate.weight'), bg: at('spatial.gate.bias'), pos: null } : undefined;
      if (!packed && opts?.firstOrder && fusedTemporalTrain.on && h1 % 2 === 0 && w1 % 2 === 0 && hw % 4 === 0 && d % 4 === 0 && blocksFit(K, d, hw, true) && temporalBlockLayout(p as unknown as TemporalBlockParams)) {
        // first-order training (SPRIG's sequential leader): conv1 without its ReLU (the temporal op
        // applies it and masks the gradient), conv2 through the spatial position as one op, then
        // the spatial layer as one
        const c1 = p.conv1 as E.LinearParams;
        const z1 = E.conv2d(E.reshape(x, [N, h, w, c]), c1.weight, c1.bias ?? null, { activation: reluInTemporal.on ? 'none' : 'relu' }); // [N, 8, 8, 16]
        const tb = sprigTemporalBlock(z1, p as unknown as TemporalBlockParams, B, K, { reluInput: reluInTemporal.on });
        const spt = fusedSpatialTrain.on && gatedAttentionLayout(p.spatial as unknown as GatedAttentionParams)
          ? sprigSpatialBlock(tb.tok, p.spatial as unknown as GatedAttentionParams) : spatial.apply(p.spatial as Params, tb.tok, tb.tok);
        const features = fc.apply(p.fc as E.LinearParams, E.reshape(spt.out, [B, hw * d]));
        return perceptionOut(features, tb.gates, spt.gates, B);
      }
      const y1 = conv1.apply(p.conv1 as E.LinearParams, E.reshape(x, [N, h, w, c])); // [N, 8, 8, 16]
      if (packed && fusedBlocks.on && h1 % 2 === 0 && w1 % 2 === 0 && hw % 4 === 0 && d % 4 === 0 && blocksFit(K, d, hw, false)) {
        // everything between conv1 and fc in two dispatches (kernels/sprig.ts)
        // (no grad here: the ops skip what their backward would read)
        const tb = sprigTemporalBlock(y1, p as unknown as TemporalBlockParams, B, K);
        const spt = sprigSpatialBlock(tb.tok, p.spatial as unknown as GatedAttentionParams);
        const features = fc.apply(p.fc as E.LinearParams, E.reshape(spt.out, [B, hw * d]));
        return perceptionOut(features, tb.gates, spt.gates, B);
      }
      // Temporal attention at each cell (the cells act as attention heads): the newest
      // frame's token queries that cell's K tokens, so it wants the tokens as [B, hw, K, d].
      let byCell: Tensor;
      if (h1 % 2 === 0 && w1 % 2 === 0) {
        // conv2 (2×2, stride 2) reads each pixel of conv1's output once and conv3 (1×1) is
        // per cell: both are linear maps of the rows of non-overlapping 2×2 windows. One permute
        // gathers those rows in (sample, cell, frame) order, so conv3's output is already
        // [B, hw, K, d] (the same sums as conv2d → conv2d → permute, one permute fewer each
        // way; MinAtar's 10×10 frames always take this path).
        const win = E.permute(E.reshape(y1, [B, K, h2, 2, w2, 2, 16]), [0, 2, 4, 1, 3, 5, 6]); // [B, h2, w2, K, 2, 2, 16]
        const lin = (q: E.LinearParams, rows: Tensor) => E.linear(rows, E.reshape(q.weight, [q.weight.shape[0], -1]), q.bias, 'relu');
        const y3 = lin(p.conv3 as E.LinearParams, lin(p.conv2 as E.LinearParams, E.reshape(win, [B * hw * K, 4 * 16])));
        byCell = E.reshape(y3, [B, hw, K, d]);
      } else {
        const y = conv3.apply(p.conv3 as E.LinearParams, conv2.apply(p.conv2 as E.LinearParams, y1)); // [N, h2, w2, d]
        byCell = E.permute(E.reshape(y, [B, K, hw, d]), [0, 2, 1, 3]);
      }
      const seq = E.add(byCell, p.posTemporal as Tensor);
      const newest = E.slice(seq, [null, null, [K - 1, K], null]); // [B, hw, 1, d]
      const tp = temporal.apply(p.temporal as Params, newest, seq, fusedT);
      // Spatial attention among the cells of the (temporally attended) newest frame.
      const tok = fusedT ? E.reshape(tp.out, [B, 1, hw, d]) : E.add(E.reshape(tp.out, [B, 1, hw, d]), p.posSpatial as Tensor);
      // first-order training (SPRIG's sequential leader): the spatial layer as one op, 1 dispatch forward and 2 backward
      const spatialOp = !packed && opts?.firstOrder && fusedSpatialTrain.on && hw % 4 === 0 && d % 4 === 0 && blocksFit(1, d, hw, true) && gatedAttentionLayout(p.spatial as unknown as GatedAttentionParams);
      const sp = spatialOp ? sprigSpatialBlock(tok, p.spatial as unknown as GatedAttentionParams) : spatial.apply(p.spatial as Params, tok, tok, fusedS); // [B, 1, hw, d]
      const features = fc.apply(p.fc as E.LinearParams, E.reshape(sp.out, [B, hw * d]));
      return perceptionOut(features, tp.gates, sp.gates, B);
    },
  };
}

// ------------------------------------------------------------------ the leader/follower game

const fusedLeader = abSwitch(true);
/** Benchmarks' A/B switch: false gives the sequential leader the composed objective (session 8). Returns the previous setting. */
export const sprigFusedLeaderObjective = fusedLeader.set;

/**
 * SPRIG's two objectives as a games/ Game over (θ = perception, φ = heads) on one minibatch,
 * in the minimise-both convention: f₁ = −u_L (leader), f₂ = the PPO loss + C_θ (follower).
 */
export function sprigGame(agent: { perception: Perception; heads: PpoAgent['heads'] }, mb: Minibatch, c: SprigConfig): Game<Params, Params> {
  const a = c.alphaCoop;
  return {
    name: 'sprig',
    leaderLoss(theta, phi) {
      // (the cost is a getter: reading it dispatches its sums, which the fused objective does itself)
      // the sequential rule takes one gradient of f₁: the perception may use first-order-only ops
      const seqFused = c.leaderUpdate === 'sequential' && fusedLeader.on;
      const out = agent.perception.apply(theta, mb.obs, seqFused ? { firstOrder: true } : undefined);
      const { features, gates } = out;
      const logits = agent.heads.logits(phi, features);
      if (c.leaderUpdate === 'sequential' && gates && fusedLeader.on) {
        // One dispatch each way (engine/nn/ppo_loss.ts); the total rule differentiates f₁ twice
        // and keeps the composed form below. Same f: with C = Σ gates / B,
        // alg1: −u_L = α·λ_c·C − (1 − α)·u_policy;  eq8: −u_L = (1 − α)·λ_c·C − α·u_policy.
        const [costCoef, policyCoef] = c.leaderObjective === 'alg1' ? [a * c.lambdaC, 1 - a] : [(1 - a) * c.lambdaC, a];
        return sprigLeaderLoss(logits, mb.actions, mb.adv, gates, { costCoef, policyCoef, samples: mb.obs.shape[0] });
      }
      const uPolicy = E.mean(E.mul(E.categoricalLogProb(logits, mb.actions), mb.adv));
      const C = E.mul(out.cost!, c.lambdaC);
      const u = c.leaderObjective === 'alg1' ? E.add(E.mul(C, -a), E.mul(uPolicy, 1 - a)) : E.sub(E.mul(uPolicy, a), E.mul(C, 1 - a));
      return E.neg(u);
    },
    followerLoss(theta, phi) {
      const { features, cost } = agent.perception.apply(theta, mb.obs);
      const { logits, value } = agent.heads.apply(phi, features);
      return E.add(ppoLossTerms(logits, value, mb, c).loss, E.mul(cost!, c.lambdaC));
    },
    init: () => {
      throw new Error('sprigGame: the parameters live in the agent');
    },
  };
}

// ------------------------------------------------------------------ the agent

export class SprigAgent extends PpoAgent {
  declare readonly cfg: SprigConfig;
  /** CG warm start for the total derivative (the previous minibatch's solve), kept across updates and checkpointed. */
  warmStart: Params | null = null;
  /** Totals for the log: CG solves and how many met negative curvature. */
  private cgSolves = 0;
  private cgNegative = 0;

  constructor(cfg: SprigConfig, env: EnvSpec) {
    if (env.obsShape.length !== 3) throw new Error(`SPRIG needs image observations [H, W, C], got [${env.obsShape}]`);
    const [h, w, c] = env.obsShape;
    super(cfg, env, sprigPerception(h, w, c, cfg.frameStack, cfg.attnDim), cfg.frameStack);
    this.statNames = [...this.statNames, 'attn_cost', 'leader_u'];
  }

  /**
   * act() on a CPU env: the inference forward (5 dispatches with the block kernels: conv1, the
   * temporal and spatial blocks, fc, and both heads in one kernel) and one readback of
   * [rows, A + 1]. Same logits, values and draws as PpoAgent.act's composed heads.
   */
  override async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const heads = E.packedOf(this.params.heads);
    const F = this.perception.featureDim;
    if (!fusedHeads.on || !heads || F % 4 !== 0) return super.act(obs, rows, o);
    const A = this.numActions;
    const out = E.noGrad(() =>
      E.scope(() => {
        const x = E.tensor(obs.subarray(0, rows * this.inputSize), [rows, ...this.perception.inputShape]);
        const { features } = this.perception.apply(this.params.perception, x, { inference: true });
        const rt = E.runtime();
        const y = E.Tensor.fromBuffer(rt.alloc(rows * (A + 1) * 4), [rows, A + 1]);
        const at = (n: string) => heads.layout.offsets[heads.layout.names.indexOf(n)];
        rt.dispatch({
          kernel: sprigHeadsKernel, inputs: [features.bufferFor('sprig heads'), heads.flat.buffer, heads.flat.buffer], outputs: [y.buffer],
          params: [rows, A, F / 4, at('actor.weight'), at('actor.bias'), at('critic.weight'), at('critic.bias')], workgroups: grid(rows * (A + 1), 64), label: 'sprig heads',
        });
        return y;
      }),
    );
    return sampleFromPacked(out, rows, A, o);
  }

  /** Leader and follower in separate packed buffers with separate Adam states. */
  protected override setup(fresh: AgentParams) {
    const c = this.cfg;
    const perception = this.pack(fresh.perception);
    const heads = this.pack(fresh.heads);
    return {
      params: { perception, heads },
      optimizers: {
        leader: E.adam(perception, { lr: c.leaderLr ?? c.lr, eps: c.adamEps }),
        follower: E.adam(heads, { lr: c.lr, eps: c.adamEps }),
      },
    };
  }

  protected override updateMinibatch(mb: Minibatch, lr: number, wantStats: boolean): Tensor | null {
    const c = this.cfg;
    const leaderLr = c.leaderLr === null ? lr : lr * (c.leaderLr / c.lr);
    const leaderU = this.leaderStep(mb, leaderLr, wantStats);
    // m follower steps at the new leader (statistics from the last one).
    for (let k = 1; k < c.followerSteps; k++) E.scope(() => this.followerStep(mb, lr));
    const stats = this.followerStep(mb, lr, leaderU);
    leaderU?.dispose();
    return stats;
  }

  /** Stage 1: one Adam step on θ (descent on f₁ = −u_L) by the configured rule. Returns u_L (kept) when asked. */
  leaderStep(mb: Minibatch, lr: number, wantU = false): Tensor | null {
    const c = this.cfg;
    const rule: LeaderRule<Params> = c.leaderUpdate === 'total'
      ? { kind: 'total', lambda: c.cgLambda, cgIters: c.cgIters, warmStart: this.warmStart ?? undefined, negativeCurvature: c.cgNegativeCurvature }
      : { kind: 'sequential' };
    const r = stackelbergGradients(sprigGame(this, mb, c), this.params.perception, this.params.heads, rule);
    this.optimizers.leader.step(this.params.perception, r.leaderGrad, { lr, maxGradNorm: c.maxGradNorm });
    if (r.implicit) {
      // The solve's q warm-starts the next minibatch's CG (the heads' Hessian changes slowly between them).
      if (this.warmStart) E.dispose(this.warmStart);
      this.warmStart = E.keep(r.implicit as Params);
      this.cgSolves++;
      this.pendingNegative.push(E.keep(r.negativeCurvature!));
    }
    const u = wantU ? E.keep(E.noGrad(() => E.neg(r.leaderValue))) : null;
    r.dispose();
    return u;
  }
  private pendingNegative: Tensor[] = [];

  /** Stage 2: one Adam step on φ with the PPO loss (+ C_θ, constant in φ) on features of the updated θ. */
  followerStep(mb: Minibatch, lr: number, leaderU: Tensor | null = null): Tensor | null {
    const c = this.cfg;
    const out = E.noGrad(() => this.perception.apply(this.params.perception, mb.obs, { inference: true }));
    const features = out.features;
    // C_θ is constant in φ: it changes no gradient here, only the logged loss, so it is
    // computed for the minibatch whose statistics are kept (leaderU given)
    const cost = leaderU ? E.noGrad(() => E.mul(out.cost!, c.lambdaC)) : null;
    let stats: Tensor | null = null;
    const [loss, gPhi] = E.valueAndGrad((phi: Params) => {
      const { logits, value } = this.heads.apply(phi, features);
      // Fused PPO loss (one dispatch each way): this gradient is not differentiated again.
      const { loss: pl, stats: st } = E.ppoLoss(logits, value, mb.data ?? mb, c);
      if (leaderU && cost) stats = E.keep(E.noGrad(() => E.concat([st, E.reshape(cost, [1]), E.reshape(leaderU, [1])])));
      return cost ? E.add(pl, cost) : pl;
    })(this.params.heads);
    this.optimizers.follower.step(this.params.heads, gPhi, { lr, maxGradNorm: c.maxGradNorm });
    E.dispose([gPhi, loss, features, ...(cost ? [out.cost!, cost] : [])]);
    return stats;
  }

  override async update(...args: Parameters<PpoAgent['update']>) {
    const stats = await super.update(...args);
    if (this.cfg.leaderUpdate === 'total') {
      // Negative-curvature flags of this update's solves, read back once.
      const flags = this.pendingNegative.length ? await E.readAll(this.pendingNegative) : [];
      E.dispose(this.pendingNegative);
      this.pendingNegative = [];
      this.cgNegative += flags.filter((f) => f[0] > 0).length;
      stats.cg_solves = this.cgSolves;
      stats.cg_negative_curvature = this.cgNegative;
    }
    return stats;
  }

  async saveState(): Promise<AgentState> {
    const arrays: NonNullable<AgentState['arrays']> = {};
    if (this.warmStart) {
      const named = E.namedParams(this.warmStart);
      const data = await E.readAll(Object.values(named));
      Object.entries(named).forEach(([n, t], i) => (arrays[`cg_warm_start.${n}`] = { data: data[i], shape: t.shape.length ? t.shape : [1] }));
    }
    return { arrays, json: { cgSolves: this.cgSolves, cgNegative: this.cgNegative } };
  }

  async loadState(s: AgentState) {
    const j = (s.json ?? {}) as { cgSolves?: number; cgNegative?: number };
    this.cgSolves = j.cgSolves ?? 0;
    this.cgNegative = j.cgNegative ?? 0;
    const pre = 'cg_warm_start.';
    const arrays = s.arrays ?? {};
    if (!Object.keys(arrays).some((n) => n.startsWith(pre))) return;
    // In the heads' own key order (the checkpoint sorts names; CG needs the follower's leaf order).
    const named: Record<string, Tensor> = {};
    for (const [n, t] of Object.entries(E.namedParams(this.params.heads))) {
      const a = arrays[pre + n];
      if (!a) throw new Error(`SPRIG checkpoint: the CG warm start lacks ${pre + n}`);
      named[n] = E.tensor(a.data as Float32Array, t.shape);
    }
    if (this.warmStart) E.dispose(this.warmStart);
    this.warmStart = E.keep(E.fromNamed(named));
  }

  override dispose() {
    super.dispose();
    if (this.warmStart) E.dispose(this.warmStart);
    E.dispose(this.pendingNegative);
  }
}

// ------------------------------------------------------------------ the algorithm

export const sprig: OnPolicyAlgorithm<SprigConfig> = {
  name: 'sprig',
  kind: 'on-policy',
  actionSpaces: ['discrete'],
  defaults: SPRIG_DEFAULTS,
  schema: SPRIG_SCHEMA,
  presets: SPRIG_PRESETS,
  validate: validatePpo,
  fixedOnResume: ['frameStack', 'attnDim'],
  create: (cfg, env) => new SprigAgent(cfg, env),
};

export default sprig;
