// The DQN family (DQN, Double DQN, Dueling DQN, Dueling Double DQN) and the off-policy
// training loop SCORER (rl/scorer.ts) shares.
//
// Loop, per vector step: ε-greedy actions (the CPU RNG decides exploration first, so a step
// where every env explores runs no network at all; otherwise ONE forward and ONE readback of
// the greedy actions), env step, transitions into the replay buffer (next observation = the
// final one where an episode ended; only true terminals stop bootstrapping, truncation
// bootstraps). After `learningStarts` env steps, one update every `trainFreq` env steps; hard
// target copies every `targetUpdateEvery` env steps; greedy evaluation episodes every
// `evalEvery` env steps on a separate env batch (ε_eval), logged apart from training episodes.
//
// An update samples a batch from the replay (uniform, from the checkpointed CPU RNG), uploads
// it, and encodes all GPU work with no readback; statistics are read once per log line.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import { makeEnv, type VecEnv, type VecEnvState } from './envs/index.ts';
import { Rng, type RngState } from './common/rng.ts';
import { loadSafetensors, saveSafetensors, writeFileAtomic, type NamedArrays } from './common/safetensors.ts';
import { ReplayBuffer, type BatchTensors } from './replay.ts';
import { qNetwork, type EncoderKind, type QNetParams, type QNetwork } from './dqn/nets.ts';
import { epsilonAt, msbe, qAt, tdLoss, tdTarget, type TdLoss } from './dqn/losses.ts';

type Tensor = E.Tensor;

// ------------------------------------------------------------------ configuration

export const DQN_VARIANTS = ['dqn', 'double', 'dueling', 'dueling-double'] as const;
export type DqnVariant = (typeof DQN_VARIANTS)[number];

export interface DqnConfig {
  /** 'dqn' for the baselines, 'scorer' for SCORER over `variant`. */
  algo: 'dqn' | 'scorer';
  variant: DqnVariant;
  env: string;
  /** MinAtar preset ('paper' | 'gymnax'). */
  preset: string;
  seed: number;
  totalSteps: number;
  numEnvs: number;
  bufferSize: number;
  batchSize: number;
  gamma: number;
  /** Env steps before the first update (replay warm-up). */
  learningStarts: number;
  /** Env steps per update. */
  trainFreq: number;
  /** Env steps between hard target copies. */
  targetUpdateEvery: number;
  epsStart: number;
  epsEnd: number;
  epsDecaySteps: number;
  /** 'start': ε decays from step 0 (CleanRL); 'learningStarts': from the end of the warm-up (MinAtar reference). */
  epsDecayFrom: 'start' | 'learningStarts';
  loss: TdLoss;
  optimizer: 'rmsprop' | 'adam';
  lr: number;
  /** Linear decay of the learning rate(s) to lrEnd over the run. */
  lrDecay: boolean;
  lrEnd: number;
  adamEps: number;
  rmsAlpha: number;
  rmsEps: number;
  rmsCentered: boolean;
  /** Global gradient-norm clip (null = none). */
  maxGradNorm: number | null;
  encoder: EncoderKind;
  hidden: number;
  /** Double DQN's argmax network: 'online' (van Hasselt: Q_θ(f_φ(s′))) or 'online-head' (SCORER's code: Q_θ(f_φ⁻(s′))). */
  doubleSelect: 'online' | 'online-head';
  // ---- SCORER (rl/scorer.ts)
  /** Leader (Q-head θ) and follower (encoder φ) learning rates. */
  leaderLr: number;
  followerLr: number;
  /** Follower loss: Bellman-error variance (paper) or MSBE. */
  followerLoss: 'bev' | 'msbe';
  /** 'q-leader' (paper v2/v3, default) or 'perception-leader' (paper v1, reversed roles). */
  roles: 'q-leader' | 'perception-leader';
  /** Reversed roles: the perception leader's loss and period (env-step updates). */
  reversedLeaderLoss: 'variance' | 'norm' | 'msbe';
  reversedLeaderEvery: number;
  /** 'sequential' (leader step, then follower on a fresh batch) or 'total' (exact Stackelberg: the leader's total derivative through the follower's best response). */
  stackelberg: 'sequential' | 'total';
  cgIters: number;
  cgLambda: number;
  // ---- evaluation and run management
  evalEvery: number;
  evalEpisodes: number;
  evalEps: number;
  /** Step cap of an evaluation episode (a greedy agent can stall forever). */
  evalMaxSteps: number;
  logEvery: number;
  checkpointEvery: number;
  /** Save the replay buffer with checkpoints (exact resume; size in docs/dqn.md). */
  saveReplay: boolean;
}

export const DQN_DEFAULTS: DqnConfig = {
  algo: 'dqn',
  variant: 'dqn',
  env: 'minatar/breakout',
  preset: 'paper',
  seed: 0,
  totalSteps: 5_000_000,
  numEnvs: 1,
  bufferSize: 100_000,
  batchSize: 32,
  gamma: 0.99,
  learningStarts: 5000,
  trainFreq: 1,
  targetUpdateEvery: 1000,
  epsStart: 1,
  epsEnd: 0.1,
  epsDecaySteps: 100_000,
  epsDecayFrom: 'learningStarts',
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
  encoder: 'mlp',
  hidden: 128,
  doubleSelect: 'online',
  leaderLr: 1e-4,
  followerLr: 5e-4,
  followerLoss: 'bev',
  roles: 'q-leader',
  reversedLeaderLoss: 'variance',
  reversedLeaderEvery: 8,
  stackelberg: 'sequential',
  cgIters: 5,
  cgLambda: 1,
  evalEvery: 50_000,
  evalEpisodes: 10,
  evalEps: 0,
  evalMaxSteps: 10_000,
  logEvery: 5000,
  checkpointEvery: 0,
  saveReplay: true,
};

/**
 * Presets (named for what they are):
 * - `minatar-ref`: the MinAtar paper's DQN: centred RMSProp lr 2.5e-4 (α 0.95, ε 0.01), batch
 *   32, replay 100k, target copy every 1000, train every frame, warm-up 5000, ε 1 → 0.1 over
 *   100k frames after the warm-up, Huber, γ 0.99, 5M frames, its conv torso.
 * - `scorer-paper`: SCORER's MinAtar settings: Adam, Q lr 1e-4, encoder lr 5e-4, both
 *   linearly decayed to 0, clip 0.5, batch 64, replay 100k, ε 1 → 0.01 over 250k, warm-up 10k,
 *   the released MLP network; the baselines under it use Adam at the Q lr, MSE.
 * - `scorer-released`: scorer-paper plus the released code's quirks: 128 envs, both players
 *   updated every vector step (trainFreq 128), target copies every 16,000 env steps.
 * - `cleanrl`: CleanRL's dqn.py: Adam 2.5e-4, replay 10k, batch 128, target every 500,
 *   train every 10, warm-up 10k, ε 1 → 0.05 over half the run, MSE.
 * - `minatar-small`: what this 2-core machine affords (docs/dqn.md): scorer-paper's
 *   optimisers and network with a short schedule: warm-up 1k, ε 1 → 0.01 over 20k, replay
 *   20k, target every 1000, train every 4, batch 64.
 */
export const DQN_PRESETS: Record<string, Partial<DqnConfig>> = {
  'minatar-ref': {},
  'minatar-ref-mlp': { encoder: 'mlp' },
  'scorer-paper': {
    optimizer: 'adam', lr: 1e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 100_000,
    epsEnd: 0.01, epsDecaySteps: 250_000, epsDecayFrom: 'start', learningStarts: 10_000, loss: 'mse',
    targetUpdateEvery: 1000, encoder: 'mlp', doubleSelect: 'online-head',
  },
  'scorer-released': {
    optimizer: 'adam', lr: 1e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 100_000,
    epsEnd: 0.01, epsDecaySteps: 250_000, epsDecayFrom: 'start', learningStarts: 10_000, loss: 'mse',
    numEnvs: 128, trainFreq: 128, targetUpdateEvery: 16_000, encoder: 'mlp', doubleSelect: 'online-head',
  },
  cleanrl: {
    optimizer: 'adam', lr: 2.5e-4, bufferSize: 10_000, batchSize: 128, targetUpdateEvery: 500, trainFreq: 10,
    learningStarts: 10_000, epsEnd: 0.05, epsDecaySteps: 250_000, epsDecayFrom: 'start', loss: 'mse', adamEps: 1e-8,
  },
  'minatar-small': {
    optimizer: 'adam', lr: 1e-4, lrDecay: true, maxGradNorm: 0.5, batchSize: 64, bufferSize: 20_000,
    epsEnd: 0.01, epsDecaySteps: 20_000, epsDecayFrom: 'start', learningStarts: 1000, loss: 'mse',
    targetUpdateEvery: 1000, trainFreq: 4, encoder: 'mlp', doubleSelect: 'online-head', preset: 'gymnax',
    evalEvery: 10_000, evalEpisodes: 10, logEvery: 2000,
  },
};

export function resolveDqnConfig(...layers: Array<Partial<DqnConfig> | string | undefined>): DqnConfig {
  const out: DqnConfig = { ...DQN_DEFAULTS };
  for (const l of layers) {
    if (l === undefined) continue;
    if (typeof l === 'string') {
      const p = DQN_PRESETS[l];
      if (!p) throw new Error(`unknown DQN preset '${l}'; valid presets: ${Object.keys(DQN_PRESETS).join(', ')}`);
      Object.assign(out, p);
    } else {
      for (const k of Object.keys(l)) if (!(k in DQN_DEFAULTS)) throw new Error(`unknown DQN config key '${k}'; valid keys: ${Object.keys(DQN_DEFAULTS).join(', ')}`);
      Object.assign(out, l);
    }
  }
  validateDqnConfig(out);
  return out;
}

export function validateDqnConfig(c: DqnConfig) {
  const oneOf = (k: keyof DqnConfig, vals: readonly unknown[]) => {
    if (!vals.includes(c[k])) throw new Error(`${k} must be one of ${vals.join(', ')}; got '${c[k]}'`);
  };
  oneOf('algo', ['dqn', 'scorer']);
  oneOf('variant', DQN_VARIANTS);
  oneOf('loss', ['huber', 'mse']);
  oneOf('optimizer', ['rmsprop', 'adam']);
  oneOf('encoder', ['mlp', 'conv']);
  oneOf('followerLoss', ['bev', 'msbe']);
  oneOf('roles', ['q-leader', 'perception-leader']);
  oneOf('reversedLeaderLoss', ['variance', 'norm', 'msbe']);
  oneOf('stackelberg', ['sequential', 'total']);
  oneOf('epsDecayFrom', ['start', 'learningStarts']);
  oneOf('doubleSelect', ['online', 'online-head']);
  for (const k of ['totalSteps', 'numEnvs', 'bufferSize', 'batchSize', 'trainFreq'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.learningStarts < c.batchSize) throw new Error(`learningStarts (${c.learningStarts}) must be at least batchSize (${c.batchSize})`);
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

/** TD target y for a batch, with the target network (and the online one for Double DQN's argmax). */
export function batchTarget(cfg: DqnConfig, net: QNetwork, online: QNetParams, target: QNetParams, b: BatchTensors): Tensor {
  return E.noGrad(() => {
    const fT = net.encoder.apply(target.encoder, b.nextObs);
    const qNextTarget = net.head.apply(target.head, fT);
    let qNextSelect: Tensor | undefined;
    if (isDouble(cfg.variant)) {
      const f = cfg.doubleSelect === 'online' ? net.encoder.apply(online.encoder, b.nextObs) : fT;
      qNextSelect = net.head.apply(online.head, f);
    }
    return tdTarget({ rewards: b.rewards, dones: b.dones, gamma: cfg.gamma, qNextTarget, qNextSelect });
  });
}

function makeOptimizer(cfg: DqnConfig, params: E.Params, lr: number): E.Optimizer {
  if (cfg.optimizer === 'adam') return E.adam(params, { lr, eps: cfg.adamEps });
  return E.rmsprop(params, { lr, alpha: cfg.rmsAlpha, eps: cfg.rmsEps, centered: cfg.rmsCentered });
}

export function dqnLearner(cfg: DqnConfig, obsShape: number[], numActions: number): QLearner {
  const net = qNetwork(obsShape, numActions, { encoder: cfg.encoder, dueling: isDueling(cfg.variant), hidden: cfg.hidden });
  const online = packKept(net.init(cfg.seed));
  const params = online.params;
  const tgt = packedClone(params);
  const target = tgt.params;
  const opt = makeOptimizer(cfg, params, cfg.lr);
  const clip = cfg.maxGradNorm ?? undefined;
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
        const y = batchTarget(cfg, net, params, target, b);
        const [, grads] = E.valueAndGrad((p: QNetParams) => {
          const qa = qAt(net.q(p, b.obs), b.actions);
          const loss = tdLoss(cfg.loss, qa, y);
          if (wantStats) stats = E.keep(E.noGrad(() => E.stack([loss, E.mean(qa), msbe(qa, y)])));
          return loss;
        })(params);
        opt.step(params, grads, { lr: cfg.lr * lrFrac, maxGradNorm: clip });
      });
      return stats;
    },
    copyTarget() {
      copyInto(target, params);
    },
    dispose() {
      E.dispose([params, target, online.flat, tgt.flat]);
      opt.dispose();
    },
  };
}

// ------------------------------------------------------------------ the trainer

export interface DqnLogLine {
  step: number;
  updates: number;
  time_s: number;
  sps: number;
  episodes: number;
  episodic_return: number | null;
  recent_return: number | null;
  epsilon: number;
  lr_frac: number;
  [k: string]: number | null;
}

export interface EvalLine {
  step: number;
  time_s: number;
  eval_return: number;
  eval_returns: number[];
  eval_eps: number;
}

export interface DqnTrainerOptions {
  dir?: string;
  onLog?: (l: DqnLogLine) => void;
  onEval?: (l: EvalLine) => void;
  /** Builds the learner (SCORER passes its own); default: by cfg.algo. */
  learner?: QLearner;
}

const CKPT_FORMAT = 'stackelberg-gpu/dqn-checkpoint/v1';

export type LearnerFactory = (cfg: DqnConfig, obsShape: number[], numActions: number) => QLearner;
const learners: Record<string, LearnerFactory> = { dqn: dqnLearner };
/** SCORER registers itself here (rl/scorer.ts) so that this file does not import it. */
export function registerLearner(algo: string, f: LearnerFactory) {
  learners[algo] = f;
}

export function makeDqnEnv(cfg: DqnConfig, numEnvs: number, seed: number): VecEnv {
  const opts: Record<string, unknown> = { numEnvs, seed };
  if (cfg.env.startsWith('minatar/')) opts.preset = cfg.preset;
  const env = makeEnv(cfg.env, opts);
  if (env.actionSpace.kind !== 'discrete') {
    throw new Error(`${cfg.algo === 'scorer' ? 'SCORER' : 'DQN'} needs a discrete action space; ${cfg.env} has a continuous one (a box of shape [${env.actionSpace.shape}]): use an actor-critic algorithm (ddpg, sac) there`);
  }
  return env;
}

export class DqnTrainer {
  readonly env: VecEnv;
  readonly evalEnv: VecEnv;
  readonly learner: QLearner;
  readonly replay: ReplayBuffer;
  readonly rng: Rng;
  readonly obsShape: number[];
  readonly numActions: number;
  readonly N: number;
  globalStep = 0;
  updates = 0;
  private sinceUpdate = 0;
  private obs: Float32Array;
  private nextObs: Float32Array;
  recentReturns: number[] = [];
  private pendingReturns: number[] = [];
  private nextLog: number;
  private nextEval: number;
  private nextCkpt: number;
  private nextTargetCopy: number;
  private statsT: Tensor | null = null;
  evals: EvalLine[] = [];
  lastLog: DqnLogLine | null = null;
  private startTime = Date.now();
  private stepsAtStart = 0;
  private elapsedBefore = 0;

  constructor(readonly cfg: DqnConfig, readonly o: DqnTrainerOptions = {}) {
    validateDqnConfig(cfg);
    this.env = makeDqnEnv(cfg, cfg.numEnvs, cfg.seed);
    this.evalEnv = makeDqnEnv(cfg, Math.max(1, cfg.evalEpisodes), cfg.seed + 1_000_003);
    const sp = this.env.observationSpace;
    this.obsShape = sp.kind === 'box' ? sp.shape : [1];
    this.numActions = (this.env.actionSpace as { n: number }).n;
    this.N = cfg.numEnvs;
    const make = learners[cfg.algo];
    if (!make && !o.learner) throw new Error(`no learner for algo '${cfg.algo}' (import rl/scorer.ts for SCORER); known: ${Object.keys(learners).join(', ')}`);
    this.learner = o.learner ?? make(cfg, this.obsShape, this.numActions);
    this.replay = new ReplayBuffer({ capacity: cfg.bufferSize, obsSize: this.env.obsSize });
    this.rng = new Rng(cfg.seed);
    E.seed(cfg.seed);
    this.obs = this.env.reset(cfg.seed).slice();
    this.nextObs = new Float32Array(this.obs.length);
    this.nextLog = cfg.logEvery;
    this.nextEval = cfg.evalEvery > 0 ? cfg.evalEvery : Infinity;
    this.nextCkpt = cfg.checkpointEvery > 0 ? cfg.checkpointEvery : Infinity;
    this.nextTargetCopy = cfg.targetUpdateEvery;
  }

  epsilon(t = this.globalStep): number {
    const c = this.cfg;
    return epsilonAt(t, { start: c.epsStart, end: c.epsEnd, decaySteps: c.epsDecaySteps, startAt: c.epsDecayFrom === 'learningStarts' ? c.learningStarts : 0 });
  }

  lrFrac(): number {
    const c = this.cfg;
    if (!c.lrDecay) return 1;
    const frac = Math.max(0, 1 - this.globalStep / c.totalSteps);
    return (c.lrEnd + (1 - c.lrEnd) * frac);
  }

  /** Greedy actions for `rows` observations: one forward, one readback of [rows] action indices. */
  async greedy(obs: Float32Array, rows: number): Promise<Float32Array> {
    const a = E.noGrad(() => E.scope(() => E.argmax(this.learner.net.q(this.learner.params, E.tensor(obs.subarray(0, rows * this.env.obsSize), [rows, ...this.obsShape])), -1)));
    const d = await a.data();
    a.dispose();
    return d;
  }

  private actions: Int32Array | null = null;
  private explore: Uint8Array | null = null;

  /** ε-greedy actions for the current observations. */
  async act(eps: number): Promise<Int32Array> {
    const N = this.N, A = this.numActions;
    this.actions ??= new Int32Array(N);
    this.explore ??= new Uint8Array(N);
    let anyGreedy = false;
    for (let i = 0; i < N; i++) {
      this.explore[i] = this.rng.random() < eps ? 1 : 0;
      if (this.explore[i]) this.actions[i] = this.rng.int(A);
      else anyGreedy = true;
    }
    if (anyGreedy) {
      const g = await this.greedy(this.obs, N);
      for (let i = 0; i < N; i++) if (!this.explore[i]) this.actions[i] = g[i];
    }
    return this.actions;
  }

  /** One vector step, with the updates and target copies it makes due. */
  async step() {
    const { cfg, N, env } = this;
    const actions = await this.act(this.epsilon());
    const r = env.step(actions);
    const os = env.obsSize;
    this.nextObs.set(r.obs);
    for (let i = 0; i < N; i++) if (r.done[i]) this.nextObs.set(r.finalObs.subarray(i * os, (i + 1) * os), i * os);
    this.replay.addBatch(N, this.obs, actions, r.rewards, this.nextObs, r.terminated);
    this.obs.set(r.obs);
    for (const ep of env.completedEpisodes()) {
      this.pendingReturns.push(ep.return);
      this.recentReturns.push(ep.return);
      if (this.recentReturns.length > 100) this.recentReturns.shift();
    }
    this.globalStep += N;
    if (this.globalStep >= cfg.learningStarts) {
      this.sinceUpdate += N;
      while (this.sinceUpdate >= cfg.trainFreq) {
        this.sinceUpdate -= cfg.trainFreq;
        this.updates++;
        // Statistics only for the last update before a log line (they are read once per line).
        const want = this.globalStep + cfg.trainFreq > Math.min(this.nextLog, cfg.totalSteps) && this.sinceUpdate < cfg.trainFreq;
        const sample = () => this.replay.sampleTensors(cfg.batchSize, this.rng, this.obsShape);
        const st = this.learner.update(sample, this.lrFrac(), this.updates, want);
        if (st) {
          this.statsT?.dispose();
          this.statsT = st;
        }
      }
    }
    while (this.globalStep >= this.nextTargetCopy) {
      if (this.globalStep >= cfg.learningStarts) this.learner.copyTarget();
      this.nextTargetCopy += cfg.targetUpdateEvery;
    }
    if (this.globalStep >= this.nextLog || this.done()) {
      await this.log();
      while (this.nextLog <= this.globalStep) this.nextLog += cfg.logEvery;
    }
    if (this.globalStep >= this.nextEval || (this.done() && cfg.evalEvery > 0 && this.evals.at(-1)?.step !== this.globalStep)) {
      await this.evaluate();
      while (this.nextEval <= this.globalStep) this.nextEval += cfg.evalEvery;
    }
    if (this.globalStep >= this.nextCkpt) {
      if (this.o.dir) await this.saveCheckpoint(this.o.dir);
      while (this.nextCkpt <= this.globalStep) this.nextCkpt += cfg.checkpointEvery;
    }
    // Let the GPU retire finished work now and then (long encode-only stretches grow lavapipe's memory).
    if (this.globalStep % 256 < N) await E.sync();
  }

  done() {
    return this.globalStep >= this.cfg.totalSteps;
  }

  async train() {
    while (!this.done()) await this.step();
    if (this.o.dir) await this.saveCheckpoint(this.o.dir);
    return this.lastLog;
  }

  elapsed() {
    return this.elapsedBefore + (Date.now() - this.startTime) / 1000;
  }

  recentMean(n = 20): number | null {
    const r = this.recentReturns.slice(-n);
    return r.length ? r.reduce((a, b) => a + b, 0) / r.length : null;
  }

  private async log() {
    const stats: Record<string, number> = {};
    if (this.statsT) {
      const d = await this.statsT.data();
      this.learner.statNames.forEach((n, i) => (stats[n] = d[i]));
      this.statsT.dispose();
      this.statsT = null;
    }
    const eps = this.pendingReturns;
    this.pendingReturns = [];
    const line: DqnLogLine = {
      step: this.globalStep,
      updates: this.updates,
      time_s: +this.elapsed().toFixed(3),
      sps: Math.round((this.globalStep - this.stepsAtStart) / Math.max(1e-9, (Date.now() - this.startTime) / 1000)),
      episodes: eps.length,
      episodic_return: eps.length ? eps.reduce((a, b) => a + b, 0) / eps.length : null,
      recent_return: this.recentMean(),
      epsilon: this.epsilon(),
      lr_frac: this.lrFrac(),
      ...stats,
    };
    this.lastLog = line;
    if (this.o.dir) fs.appendFileSync(path.join(this.o.dir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
    this.o.onLog?.(line);
  }

  /**
   * Greedy evaluation (ε_eval): one episode in each of evalEpisodes envs of a separate batch,
   * seeded from the run seed and the step (independent of training, reproducible on resume).
   */
  async evaluate(): Promise<EvalLine> {
    const { cfg } = this;
    const env = this.evalEnv;
    const n = env.numEnvs;
    const rng = new Rng(cfg.seed * 7919 + this.globalStep);
    let obs = env.reset((cfg.seed * 1_000_003 + this.globalStep) % 2 ** 31);
    const returns: (number | null)[] = new Array(n).fill(null);
    const acc = new Float64Array(n);
    const actions = new Int32Array(n);
    for (let t = 0; t < cfg.evalMaxSteps && returns.some((r) => r === null); t++) {
      const g = await this.greedy(obs, n);
      for (let i = 0; i < n; i++) actions[i] = rng.random() < cfg.evalEps ? rng.int(this.numActions) : g[i];
      const r = env.step(actions);
      for (let i = 0; i < n; i++) {
        acc[i] += r.rewards[i];
        if (r.done[i] && returns[i] === null) returns[i] = acc[i];
      }
      obs = r.obs;
    }
    env.completedEpisodes();
    // Episodes still running at the cap count with what they scored.
    const rets = returns.map((r, i) => r ?? acc[i]);
    const line: EvalLine = {
      step: this.globalStep, time_s: +this.elapsed().toFixed(3),
      eval_return: rets.reduce((a, b) => a + b, 0) / n, eval_returns: rets, eval_eps: cfg.evalEps,
    };
    this.evals.push(line);
    if (this.o.dir) fs.appendFileSync(path.join(this.o.dir, 'eval.jsonl'), JSON.stringify(line) + '\n');
    this.o.onEval?.(line);
    return line;
  }

  // ---------------------------------------------------------------- checkpoints

  /**
   * dir/checkpoint.safetensors: online and target parameters, optimizer moments, and in the
   * metadata the config, counters, RNG states and env states; dir/replay.bin: the replay
   * buffer (when saveReplay), written first so a checkpoint never points at a missing buffer.
   */
  async saveCheckpoint(dir: string) {
    const L = this.learner;
    const entries: [string, Tensor][] = [];
    for (const [n, t] of Object.entries(E.namedParams(L.params))) entries.push([`params.${n}`, t]);
    for (const [n, t] of Object.entries(E.namedParams(L.target))) entries.push([`target.${n}`, t]);
    const views: Tensor[] = [];
    for (const [on, o] of Object.entries(L.opts)) {
      for (const [n, t] of Object.entries(o.state())) {
        entries.push([`optim.${on}.${n}`, t]);
        views.push(t);
      }
    }
    const data = await E.readAll(entries.map((e) => e[1]));
    E.dispose(views);
    const tensors: NamedArrays = {};
    entries.forEach(([n, t], i) => (tensors[n] = { data: data[i], shape: t.shape.length ? t.shape : [1] }));
    tensors['state.obs'] = { data: this.obs.slice(), shape: [this.N, this.env.obsSize] };
    fs.mkdirSync(dir, { recursive: true });
    if (this.cfg.saveReplay) writeFileAtomic(path.join(dir, 'replay.bin'), Buffer.from(this.replay.toBytes()));
    const state = {
      globalStep: this.globalStep, updates: this.updates, sinceUpdate: this.sinceUpdate,
      rng: this.rng.getState(), engineRng: E.getRngState(), env: this.env.getState(),
      recentReturns: this.recentReturns, pendingReturns: this.pendingReturns,
      nextLog: this.nextLog, nextEval: this.nextEval, nextCkpt: this.nextCkpt, nextTargetCopy: this.nextTargetCopy,
      elapsed: this.elapsed(), replaySaved: this.cfg.saveReplay, replaySize: this.replay.size, replayPos: this.replay.pos,
    };
    saveSafetensors(path.join(dir, 'checkpoint.safetensors'), tensors, {
      format: CKPT_FORMAT, algo: this.cfg.algo, variant: this.cfg.variant,
      config: JSON.stringify(this.cfg), state: JSON.stringify(state, (_k, v) => (v === Infinity ? 'Infinity' : v)),
    });
  }

  async loadCheckpoint(dir: string) {
    const file = path.join(dir, 'checkpoint.safetensors');
    const { tensors, metadata } = loadSafetensors(file);
    if (metadata.format !== CKPT_FORMAT) throw new Error(`checkpoint ${file} is not a DQN/SCORER checkpoint (format '${metadata.format ?? 'none'}', algo '${metadata.algo ?? 'unknown'}'); it cannot be loaded into ${this.cfg.algo}`);
    if (metadata.algo !== this.cfg.algo || metadata.variant !== this.cfg.variant) {
      throw new Error(`checkpoint ${file} is from ${metadata.algo}/${metadata.variant}, this run is ${this.cfg.algo}/${this.cfg.variant}`);
    }
    const need = (n: string) => {
      const t = tensors[n];
      if (!t) throw new Error(`checkpoint ${file} lacks tensor ${n}`);
      return t;
    };
    const L = this.learner;
    for (const [pre, tree] of [['params', L.params], ['target', L.target]] as const) {
      for (const [n, t] of Object.entries(E.namedParams(tree))) {
        const d = need(`${pre}.${n}`);
        if (d.data.length !== t.size) throw new Error(`checkpoint ${file}: ${pre}.${n} has ${d.data.length} values, the model wants ${t.size} ([${t.shape}])`);
        const src = E.tensor(d.data, t.shape);
        E.assign(t, src);
        src.dispose();
      }
    }
    for (const [on, o] of Object.entries(L.opts)) {
      const p = `optim.${on}.`;
      const ts: Record<string, Tensor | number> = {};
      for (const [n, t] of Object.entries(tensors)) {
        if (!n.startsWith(p)) continue;
        const key = n.slice(p.length);
        ts[key] = key === 'step' ? Math.round(t.data[0]) : E.tensor(t.data, t.shape);
      }
      await o.loadState(ts);
      E.dispose(Object.values(ts).filter((t) => t instanceof E.Tensor) as Tensor[]);
    }
    const st = JSON.parse(metadata.state, (_k, v) => (v === 'Infinity' ? Infinity : v));
    if (st.replaySaved) {
      const rf = path.join(dir, 'replay.bin');
      if (!fs.existsSync(rf)) throw new Error(`checkpoint ${file} expects its replay buffer at ${rf}, which is missing`);
      const b = fs.readFileSync(rf);
      this.replay.fromBytes(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), rf);
      if (this.replay.size !== st.replaySize || this.replay.pos !== st.replayPos) throw new Error(`${rf} does not belong to ${file} (size ${this.replay.size}/${st.replaySize})`);
    }
    this.globalStep = st.globalStep;
    this.updates = st.updates;
    this.sinceUpdate = st.sinceUpdate;
    this.rng.setState(st.rng as RngState);
    E.setRngState(st.engineRng);
    this.env.setState(st.env as VecEnvState);
    this.obs.set(need('state.obs').data);
    this.recentReturns = st.recentReturns;
    this.pendingReturns = st.pendingReturns;
    this.nextLog = st.nextLog;
    this.nextEval = st.nextEval;
    this.nextCkpt = st.nextCkpt;
    this.nextTargetCopy = st.nextTargetCopy;
    this.elapsedBefore = st.elapsed;
    this.startTime = Date.now();
    this.stepsAtStart = this.globalStep;
  }

  dispose() {
    this.statsT?.dispose();
    this.learner.dispose();
  }
}
