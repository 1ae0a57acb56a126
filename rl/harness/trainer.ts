// The run loop, for both kinds of algorithm (see types.ts for the contract):
//
//   on-policy   one iteration = a rollout of numSteps vector steps (one GPU forward and ONE
//               readback per vector step; truncated episodes' final observations ride along as
//               extra rows of the next forward, for γ·V(final) bootstrapping), GAE(γ, λ) on the
//               CPU, then agent.update(rollout).
//   off-policy  one iteration = one vector step: act (uniform random actions for the first
//               randomSteps env steps), env step, agent.observe(transitions); every trainFreq
//               vector steps once globalStep ≥ learningStarts, agent.train().
//
// After each iteration, on schedule: a train log line (JSONL), evaluation episodes with the
// greedy/deterministic policy on a separate env (their own log line, kind 'eval'), and a
// checkpoint with the full state (parameters, optimiser state, the harness Rng, the engine
// RNG, env state, frame stacks, episode statistics, schedules, the agent's own state), written
// atomically through a Storage. loadCheckpoint() restores all of it: the next step() continues
// exactly as an uninterrupted run would.
//
// Divergence: every statistic an update returns must be finite, and parameters must be finite
// before a checkpoint is written; otherwise the run stops with a DivergedError naming the step,
// and the last good checkpoint stays.

import * as E from '../../engine/index.ts';
import { allocTensor } from '../../engine/tensor.ts';
import { Rng, type RngState } from '../../engine/nn/rng.ts';
import { decodeSafetensors, encodeSafetensors, type NamedArrays } from '../../engine/safetensors.ts';
import type { VecEnv } from '../envs/vec.ts';
import { GPU_ENV_IDS, episodesOfLog, makeGpuEnv, type GpuStepResult, type GpuVecEnv } from '../envs/gpu/index.ts';
import type { VecEnvState } from '../envs/types.ts';
import type { OffPolicyConfig, OnPolicyConfig, RunConfig } from './config.ts';
import { GpuFrameStack } from './framestack_gpu.ts';
import { collectEvalEpisodes, createEnv, createEvalEnv, envSpecOf, EVAL_SEED_OFFSET, FrameStack } from './envs.ts';
import { gae } from './gae.ts';
import { scaleToBox, uniformBox } from './policy.ts';
import type { Storage } from './storage.ts';
import type {
  ActOptions, AgentBase, Algorithm, EnvSpec, OffPolicyAgent, OffPolicyAlgorithm, OnPolicyAgent, OnPolicyAlgorithm, Rollout, Stats, Transitions,
} from './types.ts';

export const CHECKPOINT_FORMAT = 'stackelberg-gpu/rl-checkpoint/v2';
export const CHECKPOINT_FILE = 'checkpoint.safetensors';
export const METRICS_FILE = 'metrics.jsonl';

/** A train log line (kind 'train'); algorithm statistics are spread into it. */
export interface LogLine {
  kind: 'train';
  step: number;
  /** Iterations done (on-policy: updates; off-policy: vector steps). */
  update: number;
  time_s: number;
  sps: number;
  episodes: number;
  episodic_return: number | null;
  episodic_length: number | null;
  recent_return: number | null;
  [k: string]: number | null | string;
}

/** An evaluation log line (kind 'eval'): greedy/deterministic policy on a separate env. */
export interface EvalLine {
  kind: 'eval';
  step: number;
  episodes: number;
  mean_return: number;
  std_return: number;
  min_return: number;
  max_return: number;
  mean_length: number;
  returns: number[];
}

/** A non-finite loss, statistic or parameter: the run stops, the last good checkpoint stays. */
export class DivergedError extends Error {
  constructor(readonly step: number, readonly what: string) {
    super(`training diverged at step ${step}: ${what} is not finite. The run stopped; the last good checkpoint (if any) was kept. Lower the learning rate or check the config.`);
  }
}

export interface TrainerOptions {
  /** Run directory (metrics.jsonl, checkpoint.safetensors); none = nothing written. */
  dir?: string;
  storage?: Storage;
  onLog?: (l: LogLine) => void;
  onEval?: (l: EvalLine) => void;
  /** After every iteration (progress bars). */
  onIteration?: (t: Trainer) => void;
  /** A ready env instead of createEnv(cfg.env) (benchmarks, scripted test envs); numEnvs must match. */
  env?: VecEnv;
  /**
   * The training episodes that ended in an iteration, in the order the CPU env finishes them
   * (vector step by vector step, env by env), from either env device. Off-policy runs on a GPU
   * env report them at log lines (their log is read there).
   */
  onEpisodes?: (eps: TrainingEpisode[]) => void;
}

/** A finished training episode. */
export interface TrainingEpisode {
  return: number;
  length: number;
  /** The run's env step count when it ended (all envs together, as LogLine.step). */
  step: number;
  envIndex: number;
}

/** An off-policy agent that can run on a GPU env (the DQN family, rl/dqn.ts). */
interface GpuOffPolicyAgent extends OffPolicyAgent {
  /** ε-greedy (or whatever the agent does) from observations on the GPU: actions [n], no readback. */
  actGpu(obs: E.Tensor, n: number, o: ActOptions): E.Tensor;
  /** The vector step's transitions into the agent's GPU replay, no readback. */
  observeGpu(n: number, obs: E.Tensor, actions: E.Tensor, r: GpuStepResult): void;
}

interface EpisodeStat {
  ret: number;
  len: number;
  /** The env step when it ended and its env (absent in checkpoints written before they were recorded). */
  step?: number;
  env?: number;
  /** Episodes summed in ret and len (checkpoints of GPU runs before per-episode records); absent = 1. */
  n?: number;
}

export class Trainer {
  /** The CPU env: rollouts step it unless the run is on the GPU env (then it only describes the env). */
  readonly env: VecEnv;
  /** The GPU env rollouts step when envDevice is 'gpu' (rl/envs/gpu); null otherwise. */
  readonly genv: GpuVecEnv | null = null;
  /** Where this run steps its env: cfg.envDevice, with 'auto' resolved by autoEnvDevice. */
  readonly envDevice: 'cpu' | 'gpu';
  /** The GPU env's current observations (what the next rollout acts on first). */
  private gobs: E.Tensor | null = null;
  /** The GPU rollout's frame stack (agents that act on their last K frames); null when K = 1. */
  private gstack: GpuFrameStack | null = null;
  readonly spec: EnvSpec;
  readonly agent: AgentBase;
  readonly rng: Rng;
  readonly stack: FrameStack;
  readonly N: number;
  /** Iterations the run plans (on-policy: updates; off-policy: vector steps). */
  readonly iterations: number;
  globalStep = 0;
  iteration = 0;
  /** Training calls made (off-policy). */
  trainCalls = 0;
  evaluations = 0;
  /** Returns of the most recent completed episodes (up to 100). */
  recentReturns: number[] = [];
  lastLog: LogLine | null = null;
  lastEval: EvalLine | null = null;
  private pendingEpisodes: EpisodeStat[] = [];
  private lastStats: Stats = {};
  private nextLogStep: number;
  private nextCkptStep: number;
  private nextEvalStep: number;
  private startTime = Date.now();
  private stepsAtStart = 0;
  private elapsedBefore = 0;
  private rollout: Rollout | null = null;

  constructor(readonly algo: Algorithm, readonly cfg: RunConfig, readonly o: TrainerOptions = {}) {
    if (o.dir && !o.storage) throw new Error('Trainer: a run directory needs a storage');
    this.env = o.env ?? createEnv(cfg.env, { numEnvs: cfg.numEnvs, seed: cfg.seed, preset: cfg.preset });
    if (this.env.numEnvs !== cfg.numEnvs) throw new Error(`Trainer: the env has ${this.env.numEnvs} envs, the config's numEnvs is ${cfg.numEnvs}`);
    this.spec = envSpecOf(this.env);
    const kind = this.spec.actionSpace.kind;
    if (!algo.actionSpaces.includes(kind)) {
      throw new Error(`${algo.name} handles ${algo.actionSpaces.join(' and ')} action spaces; ${cfg.env} has a ${kind} one`);
    }
    this.N = cfg.numEnvs;
    const asked = ((cfg as OnPolicyConfig).envDevice ?? 'cpu') as string;
    if (!ENV_DEVICES.includes(asked as EnvDevice)) throw new Error(`envDevice '${asked}' is not one of ${ENV_DEVICES.map((d) => `'${d}'`).join(', ')}`);
    if (asked === 'gpu') {
      if (o.env) throw new Error(`envDevice 'gpu' steps its own GPU env; a ready CPU env (TrainerOptions.env) cannot be used with it`);
      if (!GPU_ENV_IDS.includes(cfg.env)) throw new Error(`envDevice 'gpu': ${cfg.env} has no GPU version (GPU envs: ${GPU_ENV_IDS.join(', ')}); use envDevice 'cpu'`);
    }
    E.seed(cfg.seed);
    this.agent = algo.kind === 'on-policy' ? (algo as OnPolicyAlgorithm).create(cfg as OnPolicyConfig, this.spec) : (algo as OffPolicyAlgorithm).create(cfg as OffPolicyConfig, this.spec);
    this.envDevice = asked === 'auto' ? autoEnvDevice(algo, cfg, this.agent, this.spec, !!o.env) : (asked as 'cpu' | 'gpu');
    const onGpu = this.envDevice === 'gpu';
    this.rng = new Rng(cfg.seed);
    this.stack = new FrameStack(this.N, this.spec.obsSize, this.agent.frameStack ?? 1);
    this.stack.reset(this.env.reset(cfg.seed));
    if (onGpu) {
      const agent = this.agent as { actGpu?: unknown; observeGpu?: unknown; frameStack?: number; dispose(): void };
      const canAct = algo.kind === 'on-policy' ? !!agent.actGpu : !!agent.actGpu && !!agent.observeGpu;
      const why = !canAct ? `${algo.name} cannot act on the GPU (its agent has no actGpu${algo.kind === 'off-policy' ? ' / observeGpu' : ''})` : algo.kind === 'off-policy' && (agent.frameStack ?? 1) !== 1 ? `${algo.name} stacks frames, which the off-policy GPU path does not` : null;
      if (why) {
        agent.dispose();
        throw new Error(`envDevice 'gpu': ${why}; use envDevice 'cpu'`);
      }
      // The GPU batch starts from the CPU env's reset state (same seed, same Philox words).
      this.genv = makeGpuEnv(cfg.env, { numEnvs: this.N, seed: cfg.seed, maxEpisodeSteps: this.env.maxEpisodeSteps, ...(cfg.preset && cfg.env.startsWith('minatar/') ? { preset: cfg.preset as 'paper' | 'gymnax' } : {}) });
      this.genv.setState(this.env.getState());
      // Stacked rows [N, K·S] (K = 1 without stacking): the frame stack lives on the GPU too.
      this.gobs = E.tensor(this.stack.out, [this.N, this.stack.size]);
      if (this.stack.k > 1) this.gstack = new GpuFrameStack(this.N, this.spec.obsSize, this.stack.k);
    }
    const perIter = algo.kind === 'on-policy' ? this.N * (cfg as OnPolicyConfig).numSteps : this.N;
    this.iterations = Math.ceil(cfg.totalSteps / perIter);
    this.nextLogStep = cfg.logEvery;
    this.nextCkptStep = cfg.checkpointEvery || Infinity;
    this.nextEvalStep = cfg.evalEvery || Infinity;
  }

  // ---------------------------------------------------------------- one iteration

  async step() {
    const { cfg } = this;
    const ctx = () => ({
      rng: this.rng, step: this.globalStep, iteration: this.iteration, iterations: this.iterations,
      wantStats: this.algo.kind === 'on-policy' || this.globalStep + this.N >= Math.min(this.nextLogStep, this.nextCkptStep),
    });
    if (this.algo.kind === 'on-policy') {
      const c = cfg as OnPolicyConfig;
      const ro = this.genv ? await this.collectOnGpu(c) : await this.collect(c);
      this.checkStats(await (this.agent as OnPolicyAgent).update(ro, ctx()));
    } else {
      const c = cfg as OffPolicyConfig;
      if (this.genv) await this.offPolicyStepGpu(c);
      else await this.offPolicyStep(c);
      if (this.globalStep >= c.learningStarts && (this.iteration + 1) % c.trainFreq === 0) {
        const st = await (this.agent as OffPolicyAgent).train({ ...ctx(), iteration: this.trainCalls });
        this.trainCalls++;
        this.checkStats(st);
      }
    }
    this.iteration++;
    if (this.globalStep >= this.nextLogStep || this.iteration === this.iterations || this.reachedTarget()) {
      await this.log();
      while (this.nextLogStep <= this.globalStep) this.nextLogStep += cfg.logEvery;
    }
    if (this.globalStep >= this.nextEvalStep) {
      await this.evaluate();
      while (this.nextEvalStep <= this.globalStep) this.nextEvalStep += cfg.evalEvery;
    }
    if (this.globalStep >= this.nextCkptStep) {
      if (this.o.dir) await this.saveCheckpoint();
      while (this.nextCkptStep <= this.globalStep) this.nextCkptStep += cfg.checkpointEvery;
    }
    this.o.onIteration?.(this);
  }

  private checkStats(st: Stats) {
    for (const [k, v] of Object.entries(st)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new DivergedError(this.globalStep, `the statistic '${k}' (${v})`);
    }
    if (Object.keys(st).length) this.lastStats = st;
  }

  /** The CPU env's episodes that ended in the vector step being taken (globalStep not yet advanced). */
  private recordEpisodes() {
    const eps = this.env.completedEpisodes();
    if (eps.length) this.addEpisodes(eps.map((e) => ({ ret: e.return, len: e.length, step: this.globalStep + this.N, env: e.envIndex })));
  }

  /**
   * Finished episodes into the log-line statistics and the recent-return window (which
   * stopAtReturn reads): the one place both env devices' episodes go through.
   */
  private addEpisodes(eps: EpisodeStat[]) {
    for (const e of eps) {
      this.pendingEpisodes.push(e);
      // a sum record (old checkpoints) stands for its episodes by their mean, as it did when written
      const n = e.n ?? 1;
      for (let k = 0; k < Math.min(n, 100); k++) this.recentReturns.push(e.ret / n);
    }
    if (this.recentReturns.length > 100) this.recentReturns.splice(0, this.recentReturns.length - 100);
    const whole = eps.filter((e) => e.n === undefined && e.step !== undefined);
    if (whole.length) this.o.onEpisodes?.(whole.map((e) => ({ return: e.ret, length: e.len, step: e.step!, envIndex: e.env! })));
  }

  /**
   * The episodes of a GPU env's episode log (takeEpisodeLog, read back) of `steps` vector steps,
   * the last of which brought the run to `stepAfter` env steps.
   */
  private gpuLogEpisodes(log: Float32Array, steps: number, stepAfter: number): EpisodeStat[] {
    const N = this.N;
    return episodesOfLog(log, N).map((e) => ({ ret: e.return, len: e.length, step: stepAfter - (steps - 1 - e.step) * N, env: e.envIndex }));
  }

  private envActions: Float32Array | null = null;
  /** The env's action array for normalised agent actions (Box: scaled to [low, high]). */
  private toEnv(actions: Int32Array | Float32Array, rows: number): Int32Array | Float32Array {
    const sp = this.spec.actionSpace;
    if (sp.kind === 'discrete') return actions;
    this.envActions ??= new Float32Array(rows * this.spec.actionDim);
    return scaleToBox(actions as Float32Array, sp, rows, this.envActions);
  }

  /** The rollout arrays (numSteps × numEnvs rows), made once and reused by every rollout. */
  private rolloutBuffers(T: number, S: number, D: number): Rollout {
    const N = this.N;
    return (this.rollout ??= {
      T, N,
      obs: new Float32Array(T * N * S), actions: new Float32Array(T * N * D), logp: new Float32Array(T * N),
      values: new Float32Array(T * N), rewards: new Float32Array(T * N), dones: new Float32Array(T * N),
      advantages: new Float32Array(T * N), returns: new Float32Array(T * N),
    });
  }

  /** One rollout of numSteps vector steps, with GAE. */
  private async collect(c: OnPolicyConfig): Promise<Rollout> {
    const { N, stack, env } = this;
    const T = c.numSteps, S = stack.size, D = this.spec.actionDim;
    const ro = this.rolloutBuffers(T, S, D);
    const agent = this.agent as OnPolicyAgent;
    const obsIn = new Float32Array(2 * N * S);
    let pending: number[] = []; // rollout indices t·N+i whose reward awaits γ·V(final obs)
    const valuesOf = (r: { values?: Float32Array }) => {
      if (!r.values) throw new Error(`${this.algo.name}: an on-policy agent's act() must return values`);
      return r.values;
    };
    for (let t = 0; t < T; t++) {
      obsIn.set(stack.out, 0);
      const out = await agent.act(obsIn, N + pending.length, { rng: this.rng, sample: N, mode: 'explore', step: this.globalStep });
      const values = valuesOf(out);
      if (!out.logp) throw new Error(`${this.algo.name}: an on-policy agent's act() must return logp`);
      pending.forEach((k, j) => (ro.rewards[k] += c.gamma * values[N + j]));
      pending = [];
      const base = t * N;
      for (let i = 0; i < N; i++) {
        ro.logp[base + i] = out.logp[i];
        ro.values[base + i] = values[i];
      }
      ro.actions.set(D === 1 && out.actions instanceof Int32Array ? Float32Array.from(out.actions.subarray(0, N)) : out.actions.subarray(0, N * D), base * D);
      ro.obs.set(stack.out, base * S);
      const r = env.step(this.toEnv(out.actions, N));
      for (let i = 0; i < N; i++) {
        const k = base + i;
        ro.rewards[k] = r.rewards[i];
        ro.dones[k] = r.done[i];
        if (r.truncated[i]) {
          stack.withLast(i, r.finalObs, i, obsIn, (N + pending.length) * S);
          pending.push(k);
        }
        stack.push(i, r.obs, i, r.done[i] === 1);
      }
      this.recordEpisodes();
      this.globalStep += N;
    }
    obsIn.set(stack.out, 0);
    const last = valuesOf(await agent.act(obsIn, N + pending.length, { rng: this.rng, sample: 0, mode: 'explore', step: this.globalStep }));
    pending.forEach((k, j) => (ro.rewards[k] += c.gamma * last[N + j]));
    const { advantages, returns } = gae(ro.rewards, ro.values, ro.dones, last.subarray(0, N), T, N, c.gamma, c.gaeLambda);
    ro.advantages.set(advantages);
    ro.returns.set(returns);
    return ro;
  }

  /**
   * One rollout on the GPU env: actions sampled on the GPU (agent.actGpu), env steps, rewards,
   * flags and the episode log all stay on the GPU; the final observations of every step go through
   * one forward at the end (γ·V(final) bootstrapping for truncated episodes, as collect()
   * does). Then ONE readback of the whole rollout (its finished episodes included, recorded as
   * collect() records the CPU env's), and GAE on the CPU as in collect().
   */
  private async collectOnGpu(c: OnPolicyConfig): Promise<Rollout> {
    const { N } = this;
    const genv = this.genv!;
    const T = c.numSteps, S = this.stack.size;
    const ro = this.rolloutBuffers(T, S, 1);
    const agent = this.agent as OnPolicyAgent;
    if (!this.gstack && agent.rolloutGpu) {
      const ro2 = await this.collectOnGpuFused(c, ro);
      if (ro2) return ro2;
    }
    // Each step's tensors are copied into [T, N, ...] buffers (encoder copies, no dispatch):
    // stacking T per-step tensors at the end cost one dispatch per tensor (8·T per rollout).
    const rt = E.runtime();
    const buf = (w: number) => allocTensor([T * N * w]);
    const R = { obs: buf(S), act: buf(1), logp: buf(1), val: buf(1), rew: buf(1), term: buf(1), trunc: buf(1), fin: buf(S) };
    const put = (dst: E.Tensor, src: E.Tensor, t: number, w: number) => {
      const d = dst.bufferFor('rollout'), b = src.bufferFor('rollout');
      rt.copy(b.buffer, b.offset, d.buffer, d.offset + t * N * w * 4, N * w * 4);
    };
    let obs = this.gobs!;
    for (let t = 0; t < T; t++) {
      const out = agent.actGpu!(obs, N);
      const r = genv.step(out.actions!);
      put(R.obs, obs, t, S);
      put(R.val, out.values, t, 1);
      put(R.act, out.actions!, t, 1);
      put(R.logp, out.logp!, t, 1);
      put(R.rew, r.rewards, t, 1);
      put(R.term, r.terminated, t, 1);
      put(R.trunc, r.truncated, t, 1);
      let next: E.Tensor;
      if (this.gstack) {
        // FrameStack's rules on the GPU: the final observation goes in place of the newest
        // frame of the old stack; the new frame is pushed, clearing the history of restarts.
        const fin = this.gstack.withLast(obs, r.finalObs);
        put(R.fin, fin, t, S);
        next = this.gstack.push(obs, r.obs, r.terminated, r.truncated);
        E.dispose([fin, r.finalObs, r.obs]);
      } else {
        put(R.fin, r.finalObs, t, S);
        r.finalObs.dispose();
        next = r.obs;
      }
      E.dispose([out.values, out.actions!, out.logp!, r.rewards, r.terminated, r.truncated]);
      obs.dispose(); // copied above; the copy runs before any later reuse of its buffer
      obs = next;
      this.globalStep += N;
    }
    // One forward for V(last obs) and every step's V(final obs): truncated episodes bootstrap
    // with γ·V(final) (collect() does the same with extra rows per step).
    const packed = E.scope(() => {
      const all = agent.actGpu!(E.concat([E.reshape(obs, [N, S]), E.reshape(R.fin, [T * N, S])]), 0).values;
      const lastValues = E.slice(all, [[0, N]]);
      const boot = E.slice(all, [[N, (T + 1) * N]]);
      return [
        R.obs,
        R.act,
        R.logp,
        R.val,
        E.add(R.rew, E.mul(E.mul(boot, R.trunc), c.gamma)),
        E.add(R.term, R.trunc),
        lastValues,
        genv.takeEpisodeLog()!.log,
      ];
    });
    const [o, a, lp, v, rw, dn, lv, log] = await E.readAll(packed);
    E.dispose([packed, Object.values(R)]);
    this.gobs = obs;
    ro.obs.set(o);
    ro.actions.set(a);
    ro.logp.set(lp);
    ro.values.set(v);
    ro.rewards.set(rw);
    ro.dones.set(dn);
    const { advantages, returns } = gae(ro.rewards, ro.values, ro.dones, lv, T, N, c.gamma, c.gaeLambda);
    ro.advantages.set(advantages);
    ro.returns.set(returns);
    this.addEpisodes(this.gpuLogEpisodes(log, T, this.globalStep));
    return ro;
  }

  /**
   * collectOnGpu when the agent runs the whole rollout itself (agent.rolloutGpu: PPO's fused
   * small-MLP kernels, one dispatch for T vector steps): then the bootstrap forward and ONE
   * readback; rewards get γ·V(final) where truncated, as above. Null when the agent declines.
   */
  private async collectOnGpuFused(c: OnPolicyConfig, ro: Rollout): Promise<Rollout | null> {
    const { N } = this;
    const genv = this.genv!;
    const T = c.numSteps, S = this.stack.size;
    const agent = this.agent as OnPolicyAgent;
    const rt = E.runtime();
    const OB = allocTensor([(2 * T + 1) * N, S]), ROW = allocTensor([T * N, 8]);
    const g = this.gobs!.bufferFor('rollout'), ob = OB.bufferFor('rollout');
    rt.copy(g.buffer, g.offset, ob.buffer, ob.offset, N * S * 4);
    const vals = agent.rolloutGpu!(genv, T, OB, ROW);
    if (!vals) {
      E.dispose([OB, ROW]);
      return null;
    }
    const next = allocTensor([N, S]), nb = next.bufferFor('rollout');
    rt.copy(ob.buffer, ob.offset + T * N * S * 4, nb.buffer, nb.offset, N * S * 4);
    const { log: logT } = genv.takeEpisodeLog()!;
    const [o, rw, v, log] = await E.readAll([OB, ROW, vals, logT]);
    E.dispose([OB, ROW, vals, logT, this.gobs!]);
    this.gobs = next;
    const W = vals.shape[1];
    ro.obs.set(o.subarray(0, T * N * S));
    for (let k = 0; k < T * N; k++) {
      ro.actions[k] = rw[8 * k];
      ro.logp[k] = rw[8 * k + 1];
      ro.values[k] = rw[8 * k + 2];
      // γ·V(final observation) where the step cap cut the episode (collect() does the same)
      ro.rewards[k] = rw[8 * k + 3] + (rw[8 * k + 5] ? c.gamma * v[(N + k) * W + W - 1] : 0);
      ro.dones[k] = rw[8 * k + 4] + rw[8 * k + 5];
    }
    const last = new Float32Array(N);
    for (let i = 0; i < N; i++) last[i] = v[i * W + W - 1];
    this.globalStep += T * N;
    const { advantages, returns } = gae(ro.rewards, ro.values, ro.dones, last, T, N, c.gamma, c.gaeLambda);
    ro.advantages.set(advantages);
    ro.returns.set(returns);
    this.addEpisodes(this.gpuLogEpisodes(log, T, this.globalStep));
    return ro;
  }

  private tr: Transitions | null = null;
  private randActs: Float32Array | null = null;
  private async offPolicyStep(c: OffPolicyConfig) {
    const { N, stack, env } = this;
    const S = stack.size, D = this.spec.actionDim;
    const tr = (this.tr ??= {
      N, obs: new Float32Array(N * S), actions: new Float32Array(N * D), rewards: new Float32Array(N),
      nextObs: new Float32Array(N * S), terminated: new Uint8Array(N), truncated: new Uint8Array(N),
    });
    tr.obs.set(stack.out);
    let actions: Int32Array | Float32Array;
    const sp = this.spec.actionSpace;
    if (this.globalStep < c.randomSteps) {
      if (sp.kind === 'discrete') {
        const a = new Int32Array(N);
        for (let i = 0; i < N; i++) a[i] = this.rng.int(sp.n);
        actions = a;
      } else {
        actions = uniformBox(N, D, this.rng, (this.randActs ??= new Float32Array(N * D)));
      }
    } else {
      actions = (await this.agent.act(stack.out, N, { rng: this.rng, sample: N, mode: 'explore', step: this.globalStep })).actions;
    }
    for (let i = 0; i < N * D; i++) tr.actions[i] = actions[i];
    const r = env.step(this.toEnv(actions, N));
    tr.rewards.set(r.rewards);
    tr.terminated.set(r.terminated);
    tr.truncated.set(r.truncated);
    for (let i = 0; i < N; i++) {
      if (r.done[i]) stack.withLast(i, r.finalObs, i, tr.nextObs, i * S);
      stack.push(i, r.obs, i, r.done[i] === 1);
      if (!r.done[i]) tr.nextObs.set(stack.out.subarray(i * S, (i + 1) * S), i * S);
    }
    (this.agent as OffPolicyAgent).observe(tr);
    this.recordEpisodes();
    this.globalStep += N;
  }

  /**
   * One vector step on the GPU env (envDevice 'gpu', off-policy): the agent's actions from the
   * observations on the GPU, the env step, the transitions into the agent's GPU replay; the
   * exploration draws come from the harness Rng as on the CPU path, so both paths make the
   * same run. Nothing is read back; episode sums are drained at log lines and checkpoints.
   */
  private async offPolicyStepGpu(c: OffPolicyConfig) {
    const { N } = this;
    const agent = this.agent as GpuOffPolicyAgent;
    const sp = this.spec.actionSpace;
    let actions: E.Tensor;
    if (this.globalStep < c.randomSteps && sp.kind === 'discrete') {
      const a = new Float32Array(N);
      for (let i = 0; i < N; i++) a[i] = this.rng.int(sp.n);
      actions = E.tensor(a, [N]);
    } else {
      actions = agent.actGpu(this.gobs!, N, { rng: this.rng, sample: N, mode: 'explore', step: this.globalStep });
    }
    const r = this.genv!.step(actions);
    agent.observeGpu(N, this.gobs!, actions, r);
    E.dispose([this.gobs!, actions, r.rewards, r.terminated, r.truncated, r.finalObs]);
    this.gobs = r.obs;
    this.globalStep += N;
    // long log intervals: read the episode log (into the carry) before it fills, one readback per ≤ 4,096 vector steps
    const g = this.genv!;
    if (g.loggedSteps >= Math.max(1, Math.min(4096, Math.floor(g.maxLogSteps / 2)))) await this.drainGpuEpisodes(true);
  }

  /**
   * Episodes read from the GPU env's log at a checkpoint, carried to the next log line (and in
   * the checkpoint), so a resumed run logs what the uninterrupted one does.
   */
  private gpuCarry: EpisodeStat[] = [];

  /**
   * Off-policy runs on a GPU env: the episodes logged on the GPU since the last drain (one
   * readback), each recorded exactly as the CPU path records it, into the statistics, or carried.
   * (On-policy rollouts read their episodes with the rollout.)
   */
  private async drainGpuEpisodes(carry = false) {
    if (!this.genv || this.algo.kind !== 'off-policy') return;
    const t = this.genv.takeEpisodeLog();
    if (t) {
      const log = await t.log.data();
      t.log.dispose();
      this.gpuCarry.push(...this.gpuLogEpisodes(log, t.steps, this.globalStep));
    }
    if (carry) return;
    const eps = this.gpuCarry;
    this.gpuCarry = [];
    if (eps.length) this.addEpisodes(eps);
  }

  // ---------------------------------------------------------------- logging and evaluation

  private async log() {
    await this.drainGpuEpisodes();
    const eps = this.pendingEpisodes;
    this.pendingEpisodes = [];
    const n = eps.reduce((a, e) => a + (e.n ?? 1), 0);
    const mean = (k: 'ret' | 'len') => (n ? eps.reduce((a, e) => a + e[k], 0) / n : null);
    const line: LogLine = {
      kind: 'train',
      step: this.globalStep,
      update: this.iteration,
      time_s: +this.elapsed().toFixed(3),
      sps: Math.round((this.globalStep - this.stepsAtStart) / Math.max(1e-9, (Date.now() - this.startTime) / 1000)),
      episodes: n,
      episodic_return: mean('ret'),
      episodic_length: mean('len'),
      recent_return: this.recentMean(),
      ...this.lastStats,
    };
    this.lastLog = line;
    if (this.o.dir) await this.o.storage!.append(this.o.storage!.join(this.o.dir, METRICS_FILE), JSON.stringify(line) + '\n');
    this.o.onLog?.(line);
  }

  /**
   * Runs `episodes` episodes of the greedy/deterministic policy on a separate env (seeded by
   * the run seed, the same envs at every evaluation: common random numbers make successive
   * evaluations comparable). Episodes are spread evenly over the envs, so short episodes are
   * not over-represented. Uses its own Rng: the training streams are untouched.
   */
  async evaluate(episodes = this.cfg.evalEpisodes, o: { seed?: number; greedy?: boolean; write?: boolean } = {}): Promise<EvalLine> {
    const seed = o.seed ?? this.cfg.seed + EVAL_SEED_OFFSET;
    const env = createEvalEnv(this.cfg.env, { episodes, seed, preset: this.cfg.preset });
    const n = env.numEnvs;
    const stack = new FrameStack(n, this.spec.obsSize, this.agent.frameStack ?? 1);
    stack.reset(env.reset(seed));
    const rng = new Rng(seed);
    const sp = this.spec.actionSpace;
    const envActs = new Float32Array(n * this.spec.actionDim);
    const { returns: rets, lengths: lens } = await collectEvalEpisodes(env, episodes, async () => {
      const { actions } = await this.agent.act(stack.out, n, { rng, sample: n, mode: o.greedy === false ? 'explore' : 'greedy', step: this.globalStep });
      const r = env.step(sp.kind === 'discrete' ? actions : scaleToBox(actions as Float32Array, sp, n, envActs));
      for (let i = 0; i < n; i++) stack.push(i, r.obs, i, r.done[i] === 1);
    });
    const m = rets.reduce((a, b) => a + b, 0) / rets.length;
    const line: EvalLine = {
      kind: 'eval',
      step: this.globalStep,
      episodes: rets.length,
      mean_return: m,
      std_return: Math.sqrt(rets.reduce((a, b) => a + (b - m) ** 2, 0) / rets.length),
      min_return: Math.min(...rets),
      max_return: Math.max(...rets),
      mean_length: lens.reduce((a, b) => a + b, 0) / lens.length,
      returns: rets,
    };
    if (o.write !== false) {
      this.evaluations++;
      this.lastEval = line;
      if (this.o.dir) await this.o.storage!.append(this.o.storage!.join(this.o.dir, METRICS_FILE), JSON.stringify(line) + '\n');
      this.o.onEval?.(line);
    }
    return line;
  }

  elapsed() {
    return this.elapsedBefore + (Date.now() - this.startTime) / 1000;
  }

  /** Mean return of the last n (20) training episodes. */
  recentMean(n = 20): number | null {
    const r = this.recentReturns.slice(-n);
    return r.length ? r.reduce((a, b) => a + b, 0) / r.length : null;
  }

  reachedTarget(): boolean {
    const t = this.cfg.stopAtReturn;
    return t !== null && this.recentReturns.length >= 20 && (this.recentMean() ?? -Infinity) >= t;
  }

  done(): boolean {
    return this.iteration >= this.iterations || this.reachedTarget();
  }

  /** Runs to the end (or maxIterations more iterations), then writes a checkpoint (with a run directory). */
  async train(maxIterations = Infinity) {
    const stopAt = this.iteration + maxIterations;
    while (!this.done() && this.iteration < stopAt) await this.step();
    if (this.o.dir) await this.saveCheckpoint();
    await E.sync();
    return this.lastLog;
  }

  // ---------------------------------------------------------------- checkpoints

  /** Everything a resume needs, as named arrays and metadata (read back from the GPU once). */
  async checkpointData(): Promise<{ tensors: NamedArrays; metadata: Record<string, string> }> {
    const entries: [string, E.Tensor][] = [];
    for (const [n, t] of Object.entries(E.namedParams(this.agent.params))) entries.push([`params.${n}`, t]);
    const views: E.Tensor[] = [];
    for (const [on, o] of Object.entries(this.agent.optimizers)) {
      for (const [n, t] of Object.entries(o.state())) {
        entries.push([`optim.${on}.${n}`, t]);
        views.push(t);
      }
    }
    const data = await E.readAll(entries.map((e) => e[1]));
    E.dispose(views);
    const tensors: NamedArrays = {};
    entries.forEach(([n, t], i) => {
      const d = data[i];
      for (let j = 0; j < d.length; j++) if (!Number.isFinite(d[j])) throw new DivergedError(this.globalStep, `${n}[${j}] (${d[j]})`);
      tensors[n] = { data: d, shape: t.shape.length ? t.shape : [1] };
    });
    await this.drainGpuEpisodes(true);
    if (this.gobs) this.stack.out.set(await this.gobs.data());
    tensors['harness.frames'] = { data: this.stack.out.slice(), shape: [this.N, this.stack.size] };
    const agentState = (await this.agent.saveState?.()) ?? {};
    for (const [n, a] of Object.entries(agentState.arrays ?? {})) tensors[`agent.${n}`] = a;
    const state = {
      globalStep: this.globalStep,
      iteration: this.iteration,
      trainCalls: this.trainCalls,
      evaluations: this.evaluations,
      rng: this.rng.getState(),
      engineRng: E.getRngState(),
      env: this.genv ? await this.genv.getState() : this.env.getState(),
      recentReturns: this.recentReturns,
      pendingEpisodes: this.pendingEpisodes,
      gpuEpisodeCarry: this.gpuCarry,
      lastStats: this.lastStats,
      nextLogStep: this.nextLogStep,
      nextCkptStep: Number.isFinite(this.nextCkptStep) ? this.nextCkptStep : null,
      nextEvalStep: Number.isFinite(this.nextEvalStep) ? this.nextEvalStep : null,
      elapsed: this.elapsed(),
    };
    return {
      tensors,
      metadata: {
        format: CHECKPOINT_FORMAT,
        algo: this.cfg.algo,
        env: this.cfg.env,
        config: JSON.stringify(this.cfg),
        state: JSON.stringify(state),
        agent: JSON.stringify(agentState.json ?? null),
      },
    };
  }

  /** Writes dir/checkpoint.safetensors atomically (parameters checked finite first). */
  async saveCheckpoint(file = this.o.storage!.join(this.o.dir!, CHECKPOINT_FILE)) {
    const { tensors, metadata } = await this.checkpointData();
    await this.o.storage!.writeAtomic(file, encodeSafetensors(tensors, metadata));
  }

  /** Restores a checkpoint (bytes, or a path in the storage); weightsOnly for evaluation. */
  async loadCheckpoint(src: Uint8Array | string, opts: { weightsOnly?: boolean } = {}) {
    const what = typeof src === 'string' ? `checkpoint ${src}` : 'checkpoint';
    const bytes = typeof src === 'string' ? await this.o.storage!.readBytes(src) : src;
    const { tensors, metadata } = decodeSafetensors(bytes, what);
    checkFormat(metadata, what);
    const mine = `${this.cfg.algo} on ${this.cfg.env}`;
    const theirs = `${metadata.algo} on ${metadata.env}`;
    const misfit = (why: string) => new Error(`${what} (${theirs}) does not fit this model (${mine}): ${why}`);
    if (metadata.algo !== this.cfg.algo || metadata.env !== this.cfg.env) throw misfit('different algorithm or env');
    const need = (n: string) => {
      const t = tensors[n];
      if (!t) throw misfit(`it has no tensor ${n}`);
      return t;
    };
    for (const [n, t] of Object.entries(E.namedParams(this.agent.params))) {
      const d = need(`params.${n}`);
      if (d.data.length !== t.size) throw misfit(`params.${n} has shape [${d.shape}], the model's is [${t.shape}]`);
      const src = E.tensor(d.data as Float32Array, t.shape);
      E.assign(t, src);
      src.dispose();
    }
    if (opts.weightsOnly) return;
    const state = JSON.parse(metadata.state);
    for (const [on, o] of Object.entries(this.agent.optimizers)) {
      const pre = `optim.${on}.`;
      const ts: Record<string, E.Tensor | number> = {};
      for (const [n, t] of Object.entries(tensors)) {
        if (!n.startsWith(pre)) continue;
        const key = n.slice(pre.length);
        ts[key] = key === 'step' ? Math.round(t.data[0]) : E.tensor(t.data as Float32Array, t.shape);
      }
      if (!('step' in ts)) throw misfit(`it has no state for optimizer '${on}'`);
      await o.loadState(ts);
      E.dispose(Object.values(ts).filter((t) => t instanceof E.Tensor));
    }
    if (this.agent.loadState) {
      const arrays: NamedArrays = {};
      for (const [n, t] of Object.entries(tensors)) if (n.startsWith('agent.')) arrays[n.slice(6)] = t;
      await this.agent.loadState({ arrays, json: JSON.parse(metadata.agent ?? 'null') });
    }
    this.globalStep = state.globalStep;
    this.iteration = state.iteration;
    this.trainCalls = state.trainCalls ?? 0;
    this.evaluations = state.evaluations ?? 0;
    this.rng.setState(state.rng as RngState);
    E.setRngState(state.engineRng);
    this.stack.out.set(need('harness.frames').data as Float32Array);
    if (this.genv) {
      // The env state has the CPU VecEnv's format whichever device wrote it.
      this.genv.setState(state.env as VecEnvState);
      this.gobs?.dispose();
      this.gobs = E.tensor(this.stack.out, [this.N, this.stack.size]);
    } else this.env.setState(state.env as VecEnvState);
    this.recentReturns = state.recentReturns;
    this.pendingEpisodes = state.pendingEpisodes;
    // checkpoints written before per-episode records carried one sum {episodes, returnSum, lengthSum}
    const carry = state.gpuEpisodeCarry ?? [];
    this.gpuCarry = Array.isArray(carry) ? carry : carry.episodes ? [{ ret: carry.returnSum, len: carry.lengthSum, n: carry.episodes }] : [];
    this.lastStats = state.lastStats ?? {};
    this.nextLogStep = state.nextLogStep;
    this.nextCkptStep = state.nextCkptStep ?? Infinity; // JSON writes Infinity as null
    this.nextEvalStep = state.nextEvalStep ?? Infinity;
    // A resume may change the schedules (checkpointEvery, evalEvery): the next due step follows the new period.
    if (this.cfg.checkpointEvery && !Number.isFinite(this.nextCkptStep)) this.nextCkptStep = (Math.floor(this.globalStep / this.cfg.checkpointEvery) + 1) * this.cfg.checkpointEvery;
    if (!this.cfg.checkpointEvery) this.nextCkptStep = Infinity;
    if (this.cfg.evalEvery && !Number.isFinite(this.nextEvalStep)) this.nextEvalStep = (Math.floor(this.globalStep / this.cfg.evalEvery) + 1) * this.cfg.evalEvery;
    if (!this.cfg.evalEvery) this.nextEvalStep = Infinity;
    this.elapsedBefore = state.elapsed;
    this.startTime = Date.now();
    this.stepsAtStart = this.globalStep;
  }

  dispose() {
    this.agent.dispose();
    this.gobs?.dispose();
    this.gobs = null;
    this.genv?.dispose();
  }
}

/** envDevice values: 'auto' is the GPU env where it is measured faster (autoEnvDevice), else the CPU env. */
export const ENV_DEVICES = ['auto', 'cpu', 'gpu'] as const;
export type EnvDevice = (typeof ENV_DEVICES)[number];

/**
 * envDevice 'auto': the GPU env (rl/envs/gpu) when the env has one, the agent acts on the GPU
 * and says the GPU rollout is the faster one for this env (OnPolicyAgent.prefersGpuEnv, from
 * bench/train_speed.ts, docs/rl.md § Speed); otherwise the CPU env, and always the CPU env when
 * the caller hands over a ready CPU env. Off-policy algorithms choose their env device themselves.
 */
export function autoEnvDevice(algo: Algorithm, cfg: RunConfig, agent: AgentBase, spec: EnvSpec, readyEnv: boolean): 'cpu' | 'gpu' {
  if (readyEnv || algo.kind !== 'on-policy' || !GPU_ENV_IDS.includes(cfg.env)) return 'cpu';
  const a = agent as OnPolicyAgent;
  return a.actGpu && a.prefersGpuEnv?.(spec) ? 'gpu' : 'cpu';
}

export function checkFormat(metadata: Record<string, string>, what: string) {
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${what}: format '${metadata.format ?? '(none)'}' is not ${CHECKPOINT_FORMAT} (is it a checkpoint written by this version's harness?)`);
  }
  for (const k of ['algo', 'env', 'config', 'state']) if (typeof metadata[k] !== 'string') throw new Error(`${what}: metadata lacks '${k}'`);
}

/** The config and identity stored in a checkpoint's bytes. */
export function checkpointInfo(bytes: Uint8Array, what = 'checkpoint'): { algo: string; env: string; config: RunConfig & Record<string, unknown>; step: number } {
  const { metadata } = decodeSafetensors(bytes, what);
  checkFormat(metadata, what);
  let config: RunConfig & Record<string, unknown>;
  try {
    config = JSON.parse(metadata.config);
  } catch (e) {
    throw new Error(`${what}: its config is not valid JSON (${(e as Error).message})`);
  }
  return { algo: metadata.algo, env: metadata.env, config, step: JSON.parse(metadata.state).globalStep };
}
