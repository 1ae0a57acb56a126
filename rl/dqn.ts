// The DQN family (DQN, Double DQN, Dueling DQN, Dueling Double DQN) as off-policy algorithms of
// the run harness (rl/harness/), and the agent SCORER (rl/scorer.ts) shares.
//
// The harness runs the loop (env steps, transitions, training calls every trainFreq vector
// steps once learningStarts env steps are done, evaluation, checkpoints). The agent:
//   act      ε-greedy: the harness's CPU Rng decides exploration first, so a step where every
//            env explores runs no network at all; otherwise ONE forward and ONE readback of
//            the greedy action indices. Greedy mode (evaluation) uses ε_eval = cfg.evalEps.
//   observe  transitions into the replay buffer (rl/replay.ts: bit-packed MinAtar frames; the
//            next observation of a finished episode is its final one; only true terminals stop
//            bootstrapping, truncation bootstraps).
//   train    gradientSteps updates: a uniform batch from the replay (the harness's Rng) is
//            uploaded and every GPU op is encoded with no readback, and submitted at once (the
//            GPU's update overlaps the CPU's next env steps); statistics are read back only for
//            log lines. Hard target copies every targetUpdateEvery env steps.
//   state    target networks are params (params.target.*); the replay buffer is saved with
//            checkpoints when saveReplay (exact resume; sizes in docs/dqn.md).

import * as E from '../engine/index.ts';
import { OFF_POLICY_SCHEMA, RUN_DEFAULTS, resolveLayers } from './harness/config.ts';
import type { NamedArrays } from '../engine/safetensors.ts';
import type { AgentState, EnvSpec, OffPolicyAgent, OffPolicyAlgorithm, OffPolicyConfig, Schema, Stats, Transitions, UpdateContext, ActOptions, ActResult } from './harness/types.ts';
import { ReplayBuffer, type BatchTensors } from './replay.ts';
import { GpuReplay, gpuReplayStorage } from './dqn/gpu_replay.ts';
import { GPU_ENV_IDS } from './envs/gpu/envs.ts';
import type { GpuStepResult } from './envs/gpu/vec.ts';
import { qNetwork, type EncoderKind, type QNetParams, type QNetwork } from './dqn/nets.ts';
import { fusedGreedy, fusedQ, fusedQSupported } from './dqn/fused_q.ts';
import { epsilonAt, headTdLoss, lossAndGrad, tdTarget, type NextQ } from './dqn/losses.ts';
import { FusedDqnGrad, FusedAdam } from './dqn/fused_update.ts';
import { FlatAdam } from '../engine/nn/ppo_mlp.ts';
import { allocTensor } from '../engine/tensor.ts';

type Tensor = E.Tensor;

// ------------------------------------------------------------------ configuration

export const DQN_VARIANTS = ['dqn', 'double', 'dueling', 'dueling-double'] as const;
export type DqnVariant = (typeof DQN_VARIANTS)[number];

export interface DqnConfig extends OffPolicyConfig {
  /** Set by the registered algorithm ('dqn', 'double-dqn', ..., 'scorer-dqn', ...). */
  variant: DqnVariant;
  bufferSize: number;
  batchSize: number;
  /** Env steps between hard target copies. */
  targetUpdateEvery: number;
  epsStart: number;
  epsEnd: number;
  epsDecaySteps: number;
  /** 'start': ε decays from step 0 (CleanRL); 'learningStarts': from the end of the warm-up (MinAtar reference). */
  epsDecayFrom: string;
  /** ε of the evaluation episodes (greedy mode). */
  evalEps: number;
  loss: string;
  optimizer: string;
  lr: number;
  /** Linear decay of the learning rate(s) to lrEnd·lr over the run. */
  lrDecay: boolean;
  lrEnd: number;
  adamEps: number;
  rmsAlpha: number;
  rmsEps: number;
  rmsCentered: boolean;
  /** Global gradient-norm clip (null = none). */
  maxGradNorm: number | null;
  encoder: string;
  hidden: number;
  /** Double DQN's argmax: 'online' (van Hasselt: Q_θ(f_φ(s′))) or 'online-head' (SCORER's code: Q_θ(f_φ⁻(s′))). */
  doubleSelect: string;
  /** Save the replay buffer with checkpoints (exact resume). */
  saveReplay: boolean;
  /**
   * 'gpu': the env steps on the GPU (rl/envs/gpu), ε-greedy actions are formed there (the
   * exploration draws still come from the harness's CPU Rng, uploaded), and transitions go
   * into a replay buffer on the GPU (rl/dqn/gpu_replay.ts): no readback per step.
   */
  envDevice: string;
  // ---- SCORER (rl/scorer.ts); ignored by the baselines
  /** Leader and follower learning rates (q-leader roles: Q-head θ and encoder φ). */
  leaderLr: number;
  followerLr: number;
  /** Follower loss: 'bev' (Bellman-error variance, the paper) or 'msbe'. */
  followerLoss: string;
  /** 'q-leader' (paper v2/v3, default) or 'perception-leader' (paper v1, reversed roles). */
  roles: string;
  /** Reversed roles: the perception leader's loss and its period in updates. */
  reversedLeaderLoss: string;
  reversedLeaderEvery: number;
  /** 'sequential' (the papers' update) or 'total' (exact Stackelberg gradient through the follower's BEV best response, games/). */
  leaderUpdate: string;
  cgIters: number;
  cgLambda: number;
  /** 'total': start each CG solve from the previous update's solution (kept in checkpoints), else from zero. */
  cgWarmStart: boolean;
}

export const DQN_DEFAULTS: DqnConfig = {
  ...RUN_DEFAULTS,
  algo: 'dqn',
  variant: 'dqn',
  env: 'minatar/breakout',
  preset: 'paper',
  totalSteps: 5_000_000,
  numEnvs: 1,
  logEvery: 5000,
  evalEvery: 50_000,
  evalEpisodes: 10,
  gamma: 0.99,
  learningStarts: 5000,
  trainFreq: 1,
  gradientSteps: 1,
  randomSteps: 0,
  bufferSize: 100_000,
  batchSize: 32,
  targetUpdateEvery: 1000,
  epsStart: 1,
  epsEnd: 0.1,
  epsDecaySteps: 100_000,
  epsDecayFrom: 'learningStarts',
  evalEps: 0,
  loss: 'huber',
  optimizer: 'rmsprop',
  lr: 2.5e-4,
  lrDecay: false,
  lrEnd: 0,
  adamEps: 1e-8,
  rmsAlpha: 0.95,
  rmsEps: 0.01,
  rmsCentered: true,
  maxGradNorm: null,
  encoder: 'conv',
  hidden: 128,
  doubleSelect: 'online',
  saveReplay: true,
  envDevice: 'cpu',
  leaderLr: 1e-4,
  followerLr: 5e-4,
  followerLoss: 'bev',
  roles: 'q-leader',
  reversedLeaderLoss: 'variance',
  reversedLeaderEvery: 8,
  leaderUpdate: 'sequential',
  cgIters: 5,
  cgLambda: 1,
  cgWarmStart: true,
};

export const DQN_SCHEMA: Schema<DqnConfig> = {
  ...OFF_POLICY_SCHEMA,
  variant: { type: 'string', choices: DQN_VARIANTS },
  bufferSize: { type: 'int', min: 1 },
  batchSize: { type: 'int', min: 1 },
  targetUpdateEvery: { type: 'int', min: 1 },
  epsStart: { type: 'number', min: 0, max: 1 },
  epsEnd: { type: 'number', min: 0, max: 1 },
  epsDecaySteps: { type: 'int', min: 0 },
  epsDecayFrom: { type: 'string', choices: ['start', 'learningStarts'] },
  evalEps: { type: 'number', min: 0, max: 1 },
  loss: { type: 'string', choices: ['huber', 'mse'] },
  optimizer: { type: 'string', choices: ['rmsprop', 'adam'] },
  lr: { type: 'number', positive: true },
  lrEnd: { type: 'number', min: 0, max: 1 },
  adamEps: { type: 'number', positive: true },
  rmsAlpha: { type: 'number', min: 0, max: 1 },
  rmsEps: { type: 'number', positive: true },
  maxGradNorm: { type: 'number', positive: true, nullable: true },
  encoder: { type: 'string', choices: ['mlp', 'conv'] },
  hidden: { type: 'int', min: 1 },
  doubleSelect: { type: 'string', choices: ['online', 'online-head'] },
  envDevice: { type: 'string', choices: ['cpu', 'gpu'] },
  leaderLr: { type: 'number', positive: true },
  followerLr: { type: 'number', positive: true },
  followerLoss: { type: 'string', choices: ['bev', 'msbe'] },
  roles: { type: 'string', choices: ['q-leader', 'perception-leader'] },
  reversedLeaderLoss: { type: 'string', choices: ['variance', 'norm', 'msbe'] },
  reversedLeaderEvery: { type: 'int', min: 1 },
  leaderUpdate: { type: 'string', choices: ['sequential', 'total'] },
  cgIters: { type: 'int', min: 1 },
  cgLambda: { type: 'number', min: 0 },
};

/**
 * Presets (named for what they are):
 * - `minatar-ref`: the MinAtar paper's DQN (the defaults): centred RMSProp lr 2.5e-4 (α 0.95,
 *   ε 0.01), batch 32, replay 100k, target copy every 1000, train every frame, warm-up 5000,
 *   ε 1 → 0.1 over 100k frames after the warm-up, Huber, γ 0.99, 5M frames, its conv torso.
 * - `scorer-paper`: SCORER's MinAtar settings (paper preset env): Adam, Q lr 1e-4, encoder lr
 *   5e-4, both linearly decayed to 0, clip 0.5, batch 64, replay 100k, ε 1 → 0.01 over 250k,
 *   warm-up 10k, MSE, the released MLP network (no convolution). The baselines under this
 *   preset use Adam at lr 1e-4 with the same schedule and network.
 * - `scorer-released`: scorer-paper plus the released code's quirks: 128 envs, one update of
 *   both players every vector step, target copies every 16,000 env steps.
 * - `cleanrl`: CleanRL's dqn.py: Adam 2.5e-4, replay 10k, batch 128, target every 500,
 *   train every 10 steps, warm-up 10k, ε 1 → 0.05 over 250k, MSE.
 * - `minatar-small`: what this shared 2-core machine affords (docs/dqn.md), for a 10k-step
 *   budget: scorer-paper's optimisers, losses, clip, decay and network on the gymnax preset;
 *   8 envs with one update per vector step (8 env steps), warm-up 1000, ε 1 → 0.01 over 5000,
 *   replay 10k, target copy every 1000 env steps, batch 64; learning rates 5× the paper's
 *   (baselines 5e-4; SCORER Q 5e-4, encoder 2.5e-3: the 1 : 5 timescale ratio kept), because
 *   ~1,100 updates at the paper's rates barely move the network.
 */
export const DQN_PRESETS: Record<string, Partial<DqnConfig>> = {
  'minatar-ref': {},
  'scorer-paper': {
    optimizer: 'adam', lr: 1e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 100_000,
    epsEnd: 0.01, epsDecaySteps: 250_000, epsDecayFrom: 'start', learningStarts: 10_000, loss: 'mse',
    targetUpdateEvery: 1000, encoder: 'mlp', doubleSelect: 'online-head',
  },
  'scorer-released': {
    optimizer: 'adam', lr: 1e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 100_000,
    epsEnd: 0.01, epsDecaySteps: 250_000, epsDecayFrom: 'start', learningStarts: 10_000, loss: 'mse',
    numEnvs: 128, trainFreq: 1, targetUpdateEvery: 16_000, encoder: 'mlp', doubleSelect: 'online-head',
  },
  cleanrl: {
    optimizer: 'adam', lr: 2.5e-4, bufferSize: 10_000, batchSize: 128, targetUpdateEvery: 500, trainFreq: 10,
    learningStarts: 10_000, epsEnd: 0.05, epsDecaySteps: 250_000, epsDecayFrom: 'start', loss: 'mse',
  },
  'minatar-small': {
    preset: 'gymnax', numEnvs: 8, trainFreq: 1, totalSteps: 10_000, optimizer: 'adam', lr: 5e-4, leaderLr: 5e-4, followerLr: 2.5e-3,
    lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 10_000, epsEnd: 0.01, epsDecaySteps: 5000, epsDecayFrom: 'start',
    learningStarts: 1000, loss: 'mse', targetUpdateEvery: 1000, encoder: 'mlp', doubleSelect: 'online-head',
    evalEvery: 5000, evalEpisodes: 16, logEvery: 1000,
  },
};

export function validateDqn(c: DqnConfig) {
  if (c.learningStarts < c.batchSize) throw new Error(`learningStarts (${c.learningStarts}) must be at least batchSize (${c.batchSize}): the first batch is drawn from the replay then`);
  if (c.bufferSize < c.batchSize) throw new Error(`bufferSize (${c.bufferSize}) must be at least batchSize (${c.batchSize})`);
  if (c.envDevice === 'gpu' && !GPU_ENV_IDS.includes(c.env)) throw new Error(`envDevice 'gpu': ${c.env} has no GPU version (GPU envs: ${GPU_ENV_IDS.join(', ')}); use envDevice 'cpu'`);
}

/** A config for `algo` from named presets and/or objects of keys (later wins), checked. */
export function resolveDqnConfig(algo: OffPolicyAlgorithm<DqnConfig>, ...layers: Array<string | Partial<DqnConfig>>): DqnConfig {
  const cfg = resolveLayers(algo.defaults, algo.schema, layers.map((l) => {
    if (typeof l !== 'string') return { source: 'config', values: l };
    const p = algo.presets[l];
    if (!p) throw new Error(`unknown preset '${l}' for ${algo.name}; valid presets: ${Object.keys(algo.presets).join(', ')}`);
    return { source: `preset ${l}`, values: p };
  }));
  algo.validate?.(cfg);
  return cfg;
}

export const isDueling = (v: DqnVariant) => v === 'dueling' || v === 'dueling-double';
export const isDouble = (v: DqnVariant) => v === 'double' || v === 'dueling-double';

// ------------------------------------------------------------------ learners

/** What differs between the baselines and SCORER: parameter layout, optimizers, one update. */
export interface QLearner {
  name: string;
  net: QNetwork;
  /** Online parameters { encoder, head } (packed as the optimizers need). */
  params: QNetParams;
  /** Target parameters, same layout. */
  target: QNetParams;
  opts: Record<string, E.Optimizer>;
  statNames: string[];
  /**
   * One update, encoded with no readback. `sample` draws a fresh batch (SCORER's follower
   * takes a second one); `lrFrac` scales the learning rates (decay). With wantStats, returns
   * a kept [k] tensor of statNames.
   */
  update(sample: () => BatchTensors, lrFrac: number, updateIndex: number, wantStats: boolean): Tensor | null;
  /** Hard copy online → target. */
  copyTarget(): void;
  /** State beyond parameters and optimizers (SCORER's CG warm start), saved as agent.learner.* and in the agent's JSON. */
  saveState?(): Promise<{ arrays: NamedArrays; json: unknown }>;
  loadState?(arrays: NamedArrays, json: unknown): void;
  dispose(): void;
}

/** Packs a fresh tree (kept); `flat` must be disposed with the views (they share its buffer). */
export function packKept<P extends E.Params>(tree: P): { params: P; flat: Tensor } {
  const p = E.packParams(tree);
  return { params: E.keep(p.params), flat: E.keep(p.flat) };
}

/** A packed copy of a packed tree (same layout), for target networks. */
export function packedClone<P extends E.Params>(p: P): { params: P; flat: Tensor } {
  return packKept(E.scope(() => E.flattenTree(p).rebuild(E.flattenTree(p).leaves.map((t) => E.clone(t)))) as P);
}

/** Copies every leaf of `src` into `dst` (same structure): whole flat buffers when both are packed alike. */
export function copyInto(dst: E.Params, src: E.Params) {
  const a = E.packedOf(dst), b = E.packedOf(src);
  if (a && b && a.flat.size === b.flat.size) {
    E.assign(a.flat, b.flat);
    return;
  }
  const d = E.namedParams(dst), s = E.namedParams(src);
  for (const [n, t] of Object.entries(d)) E.assign(t, s[n]);
}

/** The next-state Q-values a TD target needs: the target network's, and for Double DQN the argmax selector's (no gradient). */
export function batchNextQ(cfg: DqnConfig, net: QNetwork, online: QNetParams, target: QNetParams, b: BatchTensors): NextQ {
  return E.noGrad(() => {
    // The released MLP network: each network's values in one dispatch (rl/dqn/fused_q.ts).
    if (fusedQSupported(net)) {
      const double = isDouble(cfg.variant);
      const shared = double && cfg.doubleSelect !== 'online';
      const t = fusedQ(net, target.encoder, shared ? [target.head, online.head] : [target.head], b.nextObs);
      const s = double && !shared ? fusedQ(net, online.encoder, [online.head], b.nextObs) : null;
      if (t && (!double || shared || s)) return { qNextTarget: t[0], qNextSelect: shared ? t[1] : s?.[0] };
    }
    const fT = net.encoder.apply(target.encoder, b.nextObs);
    const qNextTarget = net.head.apply(target.head, fT);
    let qNextSelect: Tensor | undefined;
    if (isDouble(cfg.variant)) {
      const f = cfg.doubleSelect === 'online' ? net.encoder.apply(online.encoder, b.nextObs) : fT;
      qNextSelect = net.head.apply(online.head, f);
    }
    return { qNextTarget, qNextSelect };
  });
}

/** TD target y for a batch, with the target network (and the online one for Double DQN's argmax). */
export function batchTarget(cfg: DqnConfig, net: QNetwork, online: QNetParams, target: QNetParams, b: BatchTensors): Tensor {
  const n = batchNextQ(cfg, net, online, target, b);
  return tdTarget({ rewards: b.rewards, dones: b.dones, gamma: cfg.gamma, ...n });
}

function makeOptimizer(cfg: DqnConfig, params: E.Params, lr: number): E.Optimizer {
  if (cfg.optimizer === 'adam') return E.adam(params, { lr, eps: cfg.adamEps });
  return E.rmsprop(params, { lr, alpha: cfg.rmsAlpha, eps: cfg.rmsEps, centered: cfg.rmsCentered });
}

export function dqnLearner(cfg: DqnConfig, obsShape: number[], numActions: number): QLearner {
  const net = qNetwork(obsShape, numActions, { encoder: cfg.encoder as EncoderKind, dueling: isDueling(cfg.variant), hidden: cfg.hidden });
  const online = packKept(net.init(cfg.seed));
  const params = online.params;
  const tgt = packedClone(params);
  const target = tgt.params;
  // The released MLP network with a plain head: the whole gradient in two dispatches
  // (rl/dqn/fused_update.ts), written into Adam's flat gradient buffer (FlatAdam: E.adam's rule
  // and state names) or, for RMSProp, into a buffer whose views the optimizer gathers (copies).
  // With Adam the dw kernel also sums the gradient's squares per workgroup, so the clipped step
  // is one dispatch (FusedAdam) instead of a one-workgroup norm pass and the update.
  const fused = FusedDqnGrad.create(net, params);
  const opt = fused && cfg.optimizer === 'adam' ? new FusedAdam(params, { lr: cfg.lr, eps: cfg.adamEps }) : makeOptimizer(cfg, params, cfg.lr);
  const normParts = fused && opt instanceof FusedAdam && opt.partials ? E.keep(allocTensor([fused.normParts()])) : null;
  const G = fused && !(opt instanceof FlatAdam) ? E.keep(allocTensor([fused.layoutSize.all!])) : null;
  let gTree: E.Params | null = null;
  if (G) {
    const layout = E.packedOf(params)!.layout;
    const names = new Map(Object.entries(E.namedParams(params)).map(([n, t]) => [t, n]));
    const ft = E.flattenTree(params);
    gTree = ft.rebuild(ft.leaves.map((t) => {
      const i = layout.names.indexOf(names.get(t)!);
      return E.keep(G.subView(layout.offsets[i], layout.shapes[i]));
    }));
  }
  const clip = cfg.maxGradNorm ?? undefined;
  /** The backward pass's unit seed, made once. */
  const one = E.keep(E.ones([]));
  const loss = cfg.loss === 'huber' ? 'huber' : 'mse';
  return {
    name: cfg.variant,
    net,
    params,
    target,
    opts: { q: opt },
    statNames: ['loss', 'q_mean', 'msbe'],
    update(sample, lrFrac, _u, wantStats) {
      let stats: Tensor | null = null;
      E.scope(() => {
        const b = sample();
        const next = batchNextQ(cfg, net, params, target, b);
        if (fused) {
          const S = wantStats ? allocTensor([8]) : null;
          fused.grad({ batch: b, next, gamma: cfg.gamma, loss, G: G ?? (opt as FlatAdam).grad, S, N: normParts });
          if (S) stats = E.keep(S.subView(0, [3]));
          if (opt instanceof FusedAdam) opt.stepPartials({ lr: cfg.lr * lrFrac, maxGradNorm: clip, partials: normParts });
          else opt.step(params, gTree!, { lr: cfg.lr * lrFrac, maxGradNorm: clip });
          return;
        }
        const [, grads] = lossAndGrad((p: QNetParams) => {
          // Target, Q(s, a) and the loss in one dispatch; its statistics start with loss, q_mean, msbe.
          const td = headTdLoss(loss, net.head, p.head, net.encoder.apply(p.encoder, b.obs), next, b, cfg.gamma);
          if (wantStats) stats = E.keep(td.stats.subView(0, [3]));
          return td.loss;
        }, params, one);
        opt.step(params, grads, { lr: cfg.lr * lrFrac, maxGradNorm: clip });
      });
      return stats;
    },
    copyTarget() {
      copyInto(target, params);
    },
    dispose() {
      E.dispose([params, target, online.flat, tgt.flat, one]);
      if (gTree) E.dispose(gTree);
      G?.dispose();
      normParts?.dispose();
      fused?.dispose();
      opt.dispose();
    },
  };
}

// ------------------------------------------------------------------ the agent

export type LearnerFactory = (cfg: DqnConfig, obsShape: number[], numActions: number) => QLearner;

/** The off-policy agent of every Q-learning algorithm here; the learner makes the difference. */
export class QAgent implements OffPolicyAgent {
  readonly learner: QLearner;
  readonly replay: ReplayBuffer;
  /** The replay on the GPU when cfg.envDevice is 'gpu' (then `replay` stays empty). */
  readonly greplay: GpuReplay | null = null;
  readonly params: E.Params;
  readonly optimizers: Record<string, E.Optimizer>;
  readonly obsShape: number[];
  readonly numActions: number;
  /** Gradient updates so far. */
  updates = 0;
  /** The env step at or after which the next hard target copy happens. */
  nextTargetCopy: number;
  private actions = new Int32Array(0);

  constructor(readonly cfg: DqnConfig, readonly env: EnvSpec, make: LearnerFactory) {
    if (env.actionSpace.kind !== 'discrete') {
      throw new Error(`${cfg.algo} needs a discrete action space; ${env.id} has a continuous one (a box of shape [${env.actionSpace.shape}]): use an actor-critic algorithm (ddpg, sac) there`);
    }
    this.obsShape = env.obsShape;
    this.numActions = env.actionSpace.n;
    this.replay = new ReplayBuffer({ capacity: cfg.envDevice === 'gpu' ? 1 : cfg.bufferSize, obsSize: env.obsSize });
    if (cfg.envDevice === 'gpu') this.greplay = new GpuReplay({ capacity: cfg.bufferSize, obsSize: env.obsSize, storage: gpuReplayStorage(env.id) });
    this.learner = make(cfg, env.obsShape, this.numActions);
    this.params = { online: this.learner.params, target: this.learner.target };
    this.optimizers = this.learner.opts;
    this.nextTargetCopy = cfg.targetUpdateEvery;
  }

  epsilon(step: number): number {
    const c = this.cfg;
    return epsilonAt(step, { start: c.epsStart, end: c.epsEnd, decaySteps: c.epsDecaySteps, startAt: c.epsDecayFrom === 'learningStarts' ? c.learningStarts : 0 });
  }

  /** The online network's Q-values for acting (no gradient): one dispatch for the released MLP network. */
  private actQ(obs: Tensor): Tensor {
    const L = this.learner;
    return fusedQ(L.net, L.params.encoder, [L.params.head], obs)?.[0] ?? L.net.q(L.params, obs);
  }

  /** Greedy actions [n] of observations on the GPU: the forward and the argmax in one dispatch for the released MLP network. */
  private greedyActions(obs: Tensor): Tensor {
    const L = this.learner;
    return fusedGreedy(L.net, L.params.encoder, L.params.head, obs) ?? E.argmax(this.actQ(obs), -1);
  }

  /** Greedy actions for `rows` observations: one forward, one readback of [rows] indices. */
  async greedy(obs: Float32Array, rows: number): Promise<Float32Array> {
    const a = E.noGrad(() => E.scope(() => this.greedyActions(E.tensor(obs.subarray(0, rows * this.env.obsSize), [rows, ...this.obsShape]))));
    const d = await a.data();
    a.dispose();
    return d;
  }

  async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const n = o.sample;
    if (this.actions.length < n) this.actions = new Int32Array(n);
    const acts = this.actions.subarray(0, n);
    const eps = o.mode === 'greedy' ? this.cfg.evalEps : this.epsilon(o.step);
    const explore = new Uint8Array(n);
    let anyGreedy = false;
    for (let i = 0; i < n; i++) {
      if (eps > 0 && o.rng.uniform() < eps) {
        explore[i] = 1;
        acts[i] = o.rng.int(this.numActions);
      } else {
        anyGreedy = true;
      }
    }
    if (anyGreedy) {
      const g = await this.greedy(obs, n);
      for (let i = 0; i < n; i++) if (!explore[i]) acts[i] = g[i];
    }
    return { actions: acts.slice() };
  }

  /**
   * act() on the GPU (envDevice 'gpu'): the same exploration draws from o.rng in the same
   * order, uploaded; the greedy rows' argmax and the mix stay on the GPU. Returns actions [n].
   */
  actGpu(obs: Tensor, n: number, o: ActOptions): Tensor {
    const eps = o.mode === 'greedy' ? this.cfg.evalEps : this.epsilon(o.step);
    const explore = new Float32Array(n), rand = new Float32Array(n);
    let anyGreedy = false;
    for (let i = 0; i < n; i++) {
      if (eps > 0 && o.rng.uniform() < eps) {
        explore[i] = 1;
        rand[i] = o.rng.int(this.numActions);
      } else {
        anyGreedy = true;
      }
    }
    if (!anyGreedy) return E.tensor(rand, [n]);
    return E.noGrad(() => E.scope(() => {
      const greedy = this.greedyActions(E.reshape(obs, [n, ...this.obsShape]));
      return E.where(E.tensor(explore, [n]), E.tensor(rand, [n]), greedy);
    }));
  }

  observe(t: Transitions) {
    if (this.greplay) throw new Error(`${this.cfg.algo}: envDevice 'gpu' takes transitions on the GPU (observeGpu), not from the CPU`);
    this.replay.addBatch(t.N, t.obs, t.actions, t.rewards, t.nextObs, t.terminated);
  }

  /** One vector step of a GPU env into the GPU replay: no readback. */
  observeGpu(n: number, obs: Tensor, actions: Tensor, r: GpuStepResult) {
    if (!this.greplay) throw new Error(`${this.cfg.algo}: observeGpu needs envDevice 'gpu'`);
    this.greplay.addGpu(n, obs, actions, r);
  }

  lrFrac(step: number): number {
    const c = this.cfg;
    if (!c.lrDecay) return 1;
    const frac = Math.max(0, 1 - step / c.totalSteps);
    return c.lrEnd + (1 - c.lrEnd) * frac;
  }

  async train(ctx: UpdateContext): Promise<Stats> {
    const { cfg } = this;
    const sample = () => (this.greplay ?? this.replay).sampleTensors(cfg.batchSize, ctx.rng, this.obsShape);
    let st: Tensor | null = null;
    for (let k = 0; k < cfg.gradientSteps; k++) {
      this.updates++;
      const want = ctx.wantStats && k === cfg.gradientSteps - 1;
      const r = this.learner.update(sample, this.lrFrac(ctx.step), this.updates, want);
      if (r) st = r;
    }
    if (ctx.step >= this.nextTargetCopy) {
      this.learner.copyTarget();
      while (this.nextTargetCopy <= ctx.step) this.nextTargetCopy += cfg.targetUpdateEvery;
    }
    // Submit the update now: the GPU runs it while the CPU steps the env and fills the replay.
    // Left to the engine, it would wait for the next readback (the next greedy step, maybe
    // dozens of steps later while ε is high), and the CPU would then wait for all of them.
    E.flush();
    const out: Stats = {};
    if (st) {
      const d = await (st as Tensor).data();
      (st as Tensor).dispose();
      this.learner.statNames.forEach((n, i) => (out[n] = d[i]));
      out.epsilon = this.epsilon(ctx.step);
      out.lr_frac = this.lrFrac(ctx.step);
      out.updates = this.updates;
    }
    return out;
  }

  async saveState(): Promise<AgentState> {
    const learner = await this.learner.saveState?.();
    const replay = this.greplay ?? this.replay;
    const json = { updates: this.updates, nextTargetCopy: this.nextTargetCopy, replaySaved: this.cfg.saveReplay, replay: replay.meta(), learner: learner?.json };
    const arrays: NamedArrays = this.cfg.saveReplay ? await replay.toArrays('replay.') : {};
    for (const [n, a] of Object.entries(learner?.arrays ?? {})) arrays[`learner.${n}`] = a;
    return { arrays, json };
  }

  async loadState(s: AgentState) {
    const j = s.json as { updates: number; nextTargetCopy: number; replaySaved: boolean; replay: ReturnType<ReplayBuffer['meta']>; learner?: unknown };
    this.updates = j.updates;
    this.nextTargetCopy = j.nextTargetCopy;
    if (j.replaySaved) (this.greplay ?? this.replay).fromArrays(s.arrays ?? {}, 'replay.', j.replay);
    const learnerArrays: NamedArrays = {};
    for (const [n, a] of Object.entries(s.arrays ?? {})) if (n.startsWith('learner.')) learnerArrays[n.slice(8)] = a;
    this.learner.loadState?.(learnerArrays, j.learner);
  }

  dispose() {
    this.learner.dispose();
    this.greplay?.dispose();
  }
}

// ------------------------------------------------------------------ the algorithms

export const DQN_ALGORITHM_NAMES: Record<DqnVariant, string> = {
  dqn: 'dqn', double: 'double-dqn', dueling: 'dueling-dqn', 'dueling-double': 'dueling-double-dqn',
};

/** The registered algorithm of one variant; `prefix` 'scorer-' with SCORER's learner. */
export function qAlgorithm(variant: DqnVariant, make: LearnerFactory, prefix = ''): OffPolicyAlgorithm<DqnConfig> {
  const name = prefix + DQN_ALGORITHM_NAMES[variant];
  return {
    name,
    kind: 'off-policy',
    actionSpaces: ['discrete'],
    defaults: { ...DQN_DEFAULTS, algo: name, variant },
    schema: DQN_SCHEMA,
    presets: DQN_PRESETS,
    validate(cfg) {
      if (cfg.variant !== variant) throw new Error(`${name}: 'variant' is fixed to '${variant}' (choose the algorithm instead: ${Object.values(DQN_ALGORITHM_NAMES).map((n) => prefix + n).join(', ')})`);
      validateDqn(cfg);
    },
    fixedOnResume: ['variant', 'encoder', 'hidden', 'bufferSize', 'optimizer'],
    create: (cfg, env) => new QAgent(cfg, env, make),
  };
}

export const dqnAlgorithms: Record<string, OffPolicyAlgorithm<DqnConfig>> = Object.fromEntries(
  DQN_VARIANTS.map((v) => [DQN_ALGORITHM_NAMES[v], qAlgorithm(v, dqnLearner)]),
);

export default dqnAlgorithms.dqn;
