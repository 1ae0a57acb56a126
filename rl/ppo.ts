// PPO, CleanRL-faithful (ppo.py / ppo_atari.py), and the training loop SPRIG shares.
//
// Per update: collect numSteps × numEnvs transitions (one GPU forward and ONE readback per
// vector step: logits and values of all envs come back together, actions are sampled on the
// CPU from a seeded RNG), GAE(γ, λ) on the CPU, then updateEpochs passes over shuffled
// minibatches: advantage normalisation per minibatch, clipped surrogate, clipped value loss
// ×vfCoef, entropy bonus, global gradient-norm clipping, Adam, optional linear LR annealing.
//
// Truncation: when an episode is cut by the step cap, γ·V(final observation) is added to that
// step's reward and the step is treated as terminal, so the return bootstraps from the
// episode's own last state. The final observations ride along as extra rows of the next
// forward pass (no extra readback).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { VecEnv } from './envs/vec.ts';
import type { VecEnvState } from './envs/types.ts';
import { type TrainConfig } from './common/config.ts';
import { gae } from './common/gae.ts';
import { Rng, type RngState } from './common/rng.ts';
import {
  actorCriticHeads, categorical, minatarTorso, mlpTorso, named,
  type Heads, type Params, type Perception, type Tensor,
} from './common/nets.ts';
import { loadSafetensors, saveSafetensors, type NamedArrays } from './common/safetensors.ts';

// ------------------------------------------------------------------ the algorithm plug-in

/** One minibatch, on the GPU. */
export interface Minibatch {
  obs: Tensor;
  /** Action indices [M] (as floats). */
  actions: Tensor;
  oldLogp: Tensor;
  /** Advantages, already normalised when cfg.normAdv. */
  adv: Tensor;
  returns: Tensor;
  oldValues: Tensor;
}

export interface AgentParams extends Params {
  perception: Params;
  heads: Params;
}

export type Optimizer = E.Optimizer;

/** What differs between PPO and SPRIG: the perception module, the optimizers, the minibatch step. */
export interface Algorithm {
  name: string;
  perception: Perception;
  heads: Heads;
  /** Packs the freshly initialised parameters (engine/nn's one-dispatch optimizers need that) and makes the optimizers. */
  setup(params: AgentParams, cfg: TrainConfig): { params: AgentParams; opts: Record<string, Optimizer> };
  /**
   * One minibatch update in place. With wantStats, returns a kept [k] tensor of statistics
   * named by statNames (read back once per update, for the log).
   */
  updateMinibatch(params: AgentParams, opts: Record<string, Optimizer>, mb: Minibatch, lr: number, cfg: TrainConfig, wantStats: boolean): Tensor | null;
  statNames: string[];
}

/** The PPO loss terms (CleanRL's names), from logits and values of the minibatch. */
export function ppoLossTerms(logits: Tensor, value: Tensor, mb: Minibatch, cfg: Pick<TrainConfig, 'clipCoef' | 'clipVloss' | 'vfCoef' | 'entCoef'>) {
  const { logp, entropy } = categorical(logits, mb.actions);
  const logratio = E.sub(logp, mb.oldLogp);
  const ratio = E.exp(logratio);
  const pg1 = E.mul(E.neg(mb.adv), ratio);
  const pg2 = E.mul(E.neg(mb.adv), E.minimum(E.maximum(ratio, 1 - cfg.clipCoef), 1 + cfg.clipCoef));
  const pgLoss = E.mean(E.maximum(pg1, pg2));
  let vLoss: Tensor;
  if (cfg.clipVloss) {
    const unclipped = E.square(E.sub(value, mb.returns));
    const d = E.sub(value, mb.oldValues);
    const vClipped = E.add(mb.oldValues, E.minimum(E.maximum(d, -cfg.clipCoef), cfg.clipCoef));
    const clipped = E.square(E.sub(vClipped, mb.returns));
    vLoss = E.mul(E.mean(E.maximum(unclipped, clipped)), 0.5);
  } else {
    vLoss = E.mul(E.mean(E.square(E.sub(value, mb.returns))), 0.5);
  }
  const entLoss = E.mean(entropy);
  const loss = E.add(E.sub(pgLoss, E.mul(entLoss, cfg.entCoef)), E.mul(vLoss, cfg.vfCoef));
  return { loss, pgLoss, vLoss, entropy: entLoss, logratio, ratio };
}

/** approx_kl (k3 estimator) and the clip fraction, as CleanRL logs them. */
export function klAndClipfrac(logratio: Tensor, ratio: Tensor, clipCoef: number) {
  const approxKl = E.mean(E.sub(E.sub(ratio, 1), logratio));
  const clipfrac = E.mean(E.gt(E.abs(E.sub(ratio, 1)), clipCoef));
  return { approxKl, clipfrac };
}

export function makePerception(cfg: TrainConfig, obsShape: number[]): Perception {
  const kind = cfg.torso === 'auto' ? (obsShape.length === 3 ? 'minatar' : 'mlp') : cfg.torso;
  if (kind === 'minatar') {
    if (obsShape.length !== 3) throw new Error(`the MinAtar torso needs [H, W, C] observations, got [${obsShape}]`);
    return minatarTorso(obsShape[0], obsShape[1], obsShape[2]);
  }
  return mlpTorso(obsShape.reduce((a, b) => a * b, 1), cfg.mlpHidden);
}

export function ppoAlgorithm(cfg: TrainConfig, obsShape: number[], numActions: number): Algorithm {
  const perception = makePerception(cfg, obsShape);
  const heads = actorCriticHeads(perception.featureDim, numActions);
  return {
    name: 'ppo',
    perception,
    heads,
    statNames: ['pg_loss', 'v_loss', 'entropy', 'approx_kl', 'clipfrac'],
    setup(params, c) {
      const packed = E.packParams(params).params;
      return { params: packed, opts: { agent: E.adam(packed, { lr: c.lr, eps: c.adamEps }) } };
    },
    updateMinibatch(params, opts, mb, lr, c, wantStats) {
      let stats: Tensor | null = null;
      const [loss, grads] = E.valueAndGrad((p: AgentParams) => {
        const { features } = perception.apply(p.perception, mb.obs);
        const { logits, value } = heads.apply(p.heads, features);
        const t = ppoLossTerms(logits, value, mb, c);
        if (wantStats) {
          stats = E.keep(E.noGrad(() => {
            const { approxKl, clipfrac } = klAndClipfrac(t.logratio, t.ratio, c.clipCoef);
            return E.stack([t.pgLoss, t.vLoss, t.entropy, approxKl, clipfrac]);
          }));
        }
        return t.loss;
      })(params);
      opts.agent.step(params, grads, { lr, maxGradNorm: c.maxGradNorm });
      E.dispose(grads);
      loss.dispose();
      return stats;
    },
  };
}

// ------------------------------------------------------------------ observation stacking

/**
 * Keeps the last K frames of every env (SPRIG's temporal attention needs them); K = 1 is the
 * identity. Stacked layout per env: [K, ...frame], oldest first. A new episode starts from
 * zeros with its first frame last.
 */
export class FrameStack {
  readonly out: Float32Array;
  constructor(readonly numEnvs: number, readonly frameSize: number, readonly k: number) {
    this.out = new Float32Array(numEnvs * frameSize * k);
  }
  get size() {
    return this.frameSize * this.k;
  }
  reset(frames: Float32Array) {
    this.out.fill(0);
    for (let i = 0; i < this.numEnvs; i++) this.put(i, frames, i);
  }
  /** Push env i's new frame (row j of frames); clears the history first when the episode restarted. */
  push(i: number, frames: Float32Array, j: number, restarted: boolean) {
    const s = this.size, f = this.frameSize, o = i * s;
    if (restarted) this.out.fill(0, o, o + s);
    else this.out.copyWithin(o, o + f, o + s);
    this.put(i, frames, j);
  }
  /** Env i's stack with its newest frame replaced by `frames` row j, written at dst[off…]. */
  withLast(i: number, frames: Float32Array, j: number, dst: Float32Array, off: number) {
    const s = this.size, f = this.frameSize, o = i * s;
    dst.set(this.out.subarray(o + f, o + s), off);
    dst.set(frames.subarray(j * f, (j + 1) * f), off + s - f);
  }
  private put(i: number, frames: Float32Array, j: number) {
    const s = this.size, f = this.frameSize;
    this.out.set(frames.subarray(j * f, (j + 1) * f), i * s + s - f);
  }
}

// ------------------------------------------------------------------ the trainer

export interface LogLine {
  step: number;
  update: number;
  time_s: number;
  sps: number;
  episodes: number;
  episodic_return: number | null;
  episodic_length: number | null;
  recent_return: number | null;
  lr: number;
  [k: string]: number | null;
}

export interface TrainerOptions {
  /** Run directory (metrics.jsonl, checkpoint.safetensors, config.json); none = nothing written. */
  dir?: string;
  onLog?: (l: LogLine) => void;
  /** Called after every update (progress bars). */
  onUpdate?: (t: Trainer) => void;
}

export class Trainer {
  readonly params: AgentParams;
  readonly opts: Record<string, Optimizer>;
  readonly rng: Rng;
  readonly stack: FrameStack;
  readonly T: number;
  readonly N: number;
  readonly numUpdates: number;
  readonly numActions: number;
  globalStep = 0;
  update = 0;
  /** Returns of the most recent completed episodes (up to 100). */
  recentReturns: number[] = [];
  private pendingEpisodes: { ret: number; len: number }[] = [];
  private nextLogStep: number;
  private nextCkptStep: number;
  private startTime = Date.now();
  private stepsAtStart = 0;
  private elapsedBefore = 0;
  lastLog: LogLine | null = null;
  // rollout storage (CPU)
  private bObs: Float32Array;
  private bAct: Int32Array;
  private bLogp: Float32Array;
  private bVal: Float32Array;
  private bRew: Float32Array;
  private bDone: Float32Array;

  constructor(readonly cfg: TrainConfig, readonly env: VecEnv, readonly algo: Algorithm, readonly o: TrainerOptions = {}) {
    if (env.actionSpace.kind !== 'discrete') throw new Error(`${env.id}: PPO here needs a discrete action space`);
    this.numActions = env.actionSpace.n;
    this.N = env.numEnvs;
    this.T = cfg.numSteps;
    if (this.N !== cfg.numEnvs) throw new Error(`env has ${this.N} envs but config says ${cfg.numEnvs}`);
    this.numUpdates = Math.ceil(cfg.totalSteps / (this.N * this.T));
    const init = new Rng(cfg.seed * 2 + 1);
    const fresh = E.scope(() => ({ perception: algo.perception.init(init), heads: algo.heads.init(init) }));
    const { params, opts } = algo.setup(fresh, cfg);
    this.params = E.keep(params);
    this.opts = opts;
    this.rng = new Rng(cfg.seed);
    E.seed(cfg.seed);
    const k = cfg.algo === 'sprig' ? cfg.frameStack : 1;
    this.stack = new FrameStack(this.N, env.obsSize, k);
    if (this.stack.size !== algo.perception.rawSize) throw new Error(`${algo.name}: perception wants ${algo.perception.rawSize} floats per sample, the env (×${k} frames) gives ${this.stack.size}`);
    this.stack.reset(env.reset(cfg.seed));
    const B = this.N * this.T;
    this.bObs = new Float32Array(B * this.stack.size);
    this.bAct = new Int32Array(B);
    this.bLogp = new Float32Array(B);
    this.bVal = new Float32Array(B);
    this.bRew = new Float32Array(B);
    this.bDone = new Float32Array(B);
    this.nextLogStep = cfg.logEvery;
    this.nextCkptStep = cfg.checkpointEvery || Infinity;
  }

  private inBuf: Float32Array | null = null;
  /** Network inputs for `rows` raw samples (the perception's CPU preprocessing, e.g. im2col). */
  prepareRows(src: Float32Array, rows: number, pick?: ArrayLike<number>): Float32Array {
    const per = this.algo.perception;
    const inSize = per.inputShape.reduce((a, b) => a * b, 1);
    const raw = this.stack.size;
    if (!this.inBuf || this.inBuf.length < rows * inSize) this.inBuf = new Float32Array(rows * inSize);
    const out = this.inBuf.subarray(0, rows * inSize);
    for (let j = 0; j < rows; j++) {
      const k = pick ? pick[j] : j;
      if (per.prepare) per.prepare(src, k * raw, out, j * inSize);
      else out.set(src.subarray(k * raw, (k + 1) * raw), j * inSize);
    }
    return out;
  }

  /** Logits [rows, A] and values [rows] for stacked observations, in one readback. */
  async forward(obs: Float32Array, rows: number): Promise<[Float32Array, Float32Array]> {
    const input = this.prepareRows(obs, rows);
    const out = E.noGrad(() =>
      E.scope(() => {
        const x = E.tensor(input, [rows, ...this.algo.perception.inputShape]);
        const { features } = this.algo.perception.apply(this.params.perception, x);
        const { logits, value } = this.algo.heads.apply(this.params.heads, features);
        return [logits, value];
      }),
    );
    const [l, v] = await E.readAll(out);
    E.dispose(out);
    return [l, v];
  }

  lr(): number {
    const frac = this.cfg.annealLr ? 1 - this.update / this.numUpdates : 1;
    return frac * this.cfg.lr;
  }

  /** One rollout of numSteps vector steps. */
  async collect() {
    const { N, T, cfg, env, stack } = this;
    const S = stack.size;
    const A = this.numActions;
    const obsIn = new Float32Array(2 * N * S);
    let pending: number[] = []; // rollout indices t·N+i whose reward awaits γ·V(final obs)
    const actions = new Int32Array(N);
    const probs = new Float64Array(A);
    for (let t = 0; t < T; t++) {
      obsIn.set(stack.out, 0);
      const [logits, values] = await this.forward(obsIn, N + pending.length);
      pending.forEach((k, j) => (this.bRew[k] += cfg.gamma * values[N + j]));
      pending = [];
      for (let i = 0; i < N; i++) {
        // Sample from softmax(logits) in float64 by inverse CDF.
        let m = -Infinity;
        for (let a = 0; a < A; a++) m = Math.max(m, logits[i * A + a]);
        let z = 0;
        for (let a = 0; a < A; a++) z += (probs[a] = Math.exp(logits[i * A + a] - m));
        let u = this.rng.random() * z;
        let act = A - 1;
        for (let a = 0; a < A; a++) {
          u -= probs[a];
          if (u < 0) {
            act = a;
            break;
          }
        }
        actions[i] = act;
        const k = t * N + i;
        this.bAct[k] = act;
        this.bLogp[k] = logits[i * A + act] - m - Math.log(z);
        this.bVal[k] = values[i];
      }
      this.bObs.set(stack.out, t * N * S);
      const r = env.step(actions);
      for (let i = 0; i < N; i++) {
        const k = t * N + i;
        this.bRew[k] = r.rewards[i];
        this.bDone[k] = r.done[i];
        if (r.truncated[i]) {
          stack.withLast(i, r.finalObs, i, obsIn, (N + pending.length) * S);
          pending.push(k);
        }
        stack.push(i, r.obs, i, r.done[i] === 1);
      }
      for (const ep of env.completedEpisodes()) {
        this.pendingEpisodes.push({ ret: ep.return, len: ep.length });
        this.recentReturns.push(ep.return);
        if (this.recentReturns.length > 100) this.recentReturns.shift();
      }
      this.globalStep += N;
    }
    obsIn.set(stack.out, 0);
    const [, lastAll] = await this.forward(obsIn, N + pending.length);
    pending.forEach((k, j) => (this.bRew[k] += cfg.gamma * lastAll[N + j]));
    return lastAll.slice(0, N);
  }

  /** One PPO update (collect, GAE, epochs of minibatch steps); logs and checkpoints on schedule. */
  async step() {
    const { cfg, N, T } = this;
    const lr = this.lr();
    const lastValues = await this.collect();
    const { advantages, returns } = gae(this.bRew, this.bVal, this.bDone, lastValues, T, N, cfg.gamma, cfg.gaeLambda);
    const B = N * T, M = cfg.minibatchSize, S = this.stack.size, A = this.numActions;
    const mbIdx = new Int32Array(M), mbAct = new Float32Array(M);
    const mbLogp = new Float32Array(M), mbAdv = new Float32Array(M), mbRet = new Float32Array(M), mbVal = new Float32Array(M);
    let statsT: Tensor | null = null;
    const nMb = B / M;
    for (let epoch = 0; epoch < cfg.updateEpochs; epoch++) {
      const perm = this.rng.permutation(B);
      for (let s = 0; s < nMb; s++) {
        let mean = 0;
        for (let j = 0; j < M; j++) {
          const k = perm[s * M + j];
          mbIdx[j] = k;
          mbAct[j] = this.bAct[k];
          mbLogp[j] = this.bLogp[k];
          mbAdv[j] = advantages[k];
          mbRet[j] = returns[k];
          mbVal[j] = this.bVal[k];
          mean += advantages[k];
        }
        if (cfg.normAdv) {
          mean /= M;
          let v = 0;
          for (let j = 0; j < M; j++) v += (mbAdv[j] - mean) ** 2;
          const std = Math.sqrt(v / (M - 1)); // torch.std is unbiased
          for (let j = 0; j < M; j++) mbAdv[j] = (mbAdv[j] - mean) / (std + 1e-8);
        }
        // Statistics of the last minibatch (CleanRL logs those); with targetKl, of every epoch's last.
        const last = s === nMb - 1 && (epoch === cfg.updateEpochs - 1 || cfg.targetKl !== null);
        E.scope(() => {
          const mb: Minibatch = {
            obs: E.tensor(this.prepareRows(this.bObs, M, mbIdx), [M, ...this.algo.perception.inputShape]),
            actions: E.tensor(mbAct, [M]),
            oldLogp: E.tensor(mbLogp, [M]),
            adv: E.tensor(mbAdv, [M]),
            returns: E.tensor(mbRet, [M]),
            oldValues: E.tensor(mbVal, [M]),
          };
          const st = this.algo.updateMinibatch(this.params, this.opts, mb, lr, cfg, last);
          if (st) {
            (statsT as Tensor | null)?.dispose();
            statsT = st;
          }
        });
      }
      if (cfg.targetKl !== null && statsT) {
        // CleanRL's early stop: approx_kl of the epoch's last minibatch above the target.
        const kl = (await (statsT as Tensor).data())[this.algo.statNames.indexOf('approx_kl')];
        if (kl > cfg.targetKl) break;
      }
    }
    this.update++;
    let stats: Record<string, number> = {};
    if (statsT) {
      const st: Tensor = statsT;
      const d = await st.data();
      st.dispose();
      this.algo.statNames.forEach((n, i) => (stats[n] = d[i]));
    } else {
      await E.sync();
    }
    if (this.globalStep >= this.nextLogStep || this.update === this.numUpdates || this.reachedTarget()) {
      this.log(lr, stats);
      while (this.nextLogStep <= this.globalStep) this.nextLogStep += cfg.logEvery;
    }
    if (this.globalStep >= this.nextCkptStep && this.cfg.checkpointEvery > 0) {
      if (this.o.dir) await this.saveCheckpoint(path.join(this.o.dir, 'checkpoint.safetensors'));
      while (this.nextCkptStep <= this.globalStep) this.nextCkptStep += cfg.checkpointEvery;
    }
    this.o.onUpdate?.(this);
  }

  private log(lr: number, stats: Record<string, number>) {
    const eps = this.pendingEpisodes;
    this.pendingEpisodes = [];
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    const elapsed = this.elapsed();
    const line: LogLine = {
      step: this.globalStep,
      update: this.update,
      time_s: +elapsed.toFixed(3),
      sps: Math.round((this.globalStep - this.stepsAtStart) / Math.max(1e-9, (Date.now() - this.startTime) / 1000)),
      episodes: eps.length,
      episodic_return: mean(eps.map((e) => e.ret)),
      episodic_length: mean(eps.map((e) => e.len)),
      recent_return: this.recentMean(),
      lr,
      ...stats,
    };
    this.lastLog = line;
    if (this.o.dir) fs.appendFileSync(path.join(this.o.dir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
    this.o.onLog?.(line);
  }

  elapsed() {
    return this.elapsedBefore + (Date.now() - this.startTime) / 1000;
  }

  /** Mean return of the last 20 episodes. */
  recentMean(n = 20): number | null {
    const r = this.recentReturns.slice(-n);
    return r.length ? r.reduce((a, b) => a + b, 0) / r.length : null;
  }

  reachedTarget(): boolean {
    const t = this.cfg.stopAtReturn;
    return t !== null && this.recentReturns.length >= 20 && (this.recentMean() ?? -Infinity) >= t;
  }

  done(): boolean {
    return this.update >= this.numUpdates || this.reachedTarget();
  }

  async train() {
    while (!this.done()) await this.step();
    if (this.o.dir) await this.saveCheckpoint(path.join(this.o.dir, 'checkpoint.safetensors'));
    return this.lastLog;
  }

  // ---------------------------------------------------------------- checkpoints

  /** Reads params and optimizer state back and writes them, with all CPU state, atomically. */
  async saveCheckpoint(file: string) {
    this.saveCheckpointData(file, await this.readState());
  }

  private async readState(): Promise<NamedArrays> {
    const entries: [string, Tensor][] = [];
    for (const [n, t] of Object.entries(named(this.params))) entries.push([`params.${n}`, t]);
    const views: Tensor[] = [];
    for (const [on, o] of Object.entries(this.opts)) {
      for (const [n, t] of Object.entries(o.state())) {
        entries.push([`optim.${on}.${n}`, t]);
        views.push(t);
      }
    }
    const data = await E.readAll(entries.map((e) => e[1]));
    const out: NamedArrays = {};
    entries.forEach(([n, t], i) => (out[n] = { data: data[i], shape: t.shape.length ? t.shape : [1] }));
    E.dispose(views);
    return out;
  }


  private saveCheckpointData(file: string, tensors: NamedArrays) {
    tensors['state.next_obs'] = { data: this.stack.out.slice(), shape: [this.N, this.stack.size] };
    const state = {
      globalStep: this.globalStep,
      update: this.update,
      rng: this.rng.getState(),
      engineRng: E.getRngState(),
      env: this.env.getState(),
      recentReturns: this.recentReturns,
      pendingEpisodes: this.pendingEpisodes,
      nextLogStep: this.nextLogStep,
      nextCkptStep: this.nextCkptStep,
      elapsed: this.elapsed(),
    };
    saveSafetensors(file, tensors, {
      format: 'stackelberg-gpu/rl-checkpoint/v1',
      algo: this.cfg.algo,
      config: JSON.stringify(this.cfg),
      state: JSON.stringify(state),
    });
  }

  /** Restores everything a checkpoint holds; the next step() continues exactly where it stopped. */
  async loadCheckpoint(file: string, opts: { weightsOnly?: boolean } = {}) {
    const { tensors, metadata } = loadSafetensors(file);
    if (metadata.format !== 'stackelberg-gpu/rl-checkpoint/v1') throw new Error(`checkpoint ${file}: unknown format '${metadata.format}'`);
    const need = (n: string) => {
      const t = tensors[n];
      if (!t) throw new Error(`checkpoint ${file} lacks tensor ${n}`);
      return t;
    };
    for (const [n, t] of Object.entries(named(this.params))) {
      const d = need(`params.${n}`);
      if (d.data.length !== t.size) throw new Error(`checkpoint ${file}: params.${n} has ${d.data.length} values, the model wants ${t.size} ([${t.shape}])`);
      const src = E.tensor(d.data, t.shape);
      E.assign(t, src);
      src.dispose();
    }
    if (opts.weightsOnly) return;
    const state = JSON.parse(metadata.state);
    for (const [on, o] of Object.entries(this.opts)) {
      const pre = `optim.${on}.`;
      const ts: Record<string, Tensor | number> = {};
      for (const [n, t] of Object.entries(tensors)) {
        if (!n.startsWith(pre)) continue;
        const key = n.slice(pre.length);
        ts[key] = key === 'step' ? Math.round(t.data[0]) : E.tensor(t.data, t.shape);
      }
      await o.loadState(ts);
      E.dispose(Object.values(ts).filter((t) => t instanceof E.Tensor));
    }
    this.globalStep = state.globalStep;
    this.update = state.update;
    this.rng.setState(state.rng as RngState);
    E.setRngState(state.engineRng);
    this.env.setState(state.env as VecEnvState);
    this.stack.out.set(need('state.next_obs').data);
    this.recentReturns = state.recentReturns;
    this.pendingEpisodes = state.pendingEpisodes;
    this.nextLogStep = state.nextLogStep;
    this.nextCkptStep = state.nextCkptStep ?? Infinity; // JSON writes Infinity as null
    this.elapsedBefore = state.elapsed;
    this.startTime = Date.now();
    this.stepsAtStart = this.globalStep;
  }

  dispose() {
    E.dispose(this.params);
    for (const o of Object.values(this.opts)) o.dispose();
  }
}
