// The algorithm contract of the run harness. An algorithm is ONE module that exports an
// `Algorithm` value (and is listed by one line in rl/registry.ts); the harness (rl/harness/
// trainer.ts) owns everything else: envs, frame stacking, rollouts/GAE or the off-policy step
// loop, action scaling for Box spaces, the progress callbacks, JSONL metrics, evaluation
// episodes, checkpoints (atomic, full state) and exact resume, divergence checks.
//
//   export const ppo: OnPolicyAlgorithm<PpoConfig> = {
//     name: 'ppo', kind: 'on-policy', actionSpaces: ['discrete'],
//     defaults: { ...RUN_DEFAULTS, ...ON_POLICY_DEFAULTS, algo: 'ppo', lr: 2.5e-4, ... },
//     schema: { ...ON_POLICY_SCHEMA, minibatchSize: { type: 'int', min: 1 } },
//     presets: { 'cartpole-fast': { env: 'cartpole', ... } },
//     validate(cfg) { ... throw naming the key ... },
//     create(cfg, env) { return new PpoAgent(cfg, env); },   // an OnPolicyAgent
//   };
//
// The agent an algorithm creates:
//   params       a parameter tree (engine/nn `Params`); its top-level keys are groups
//                ('agent', or 'perception'/'heads', 'q'/'target', ...), saved as
//                params.<dotted name> (namedParams). Optimised groups are packed (packParams).
//   optimizers   engine/nn optimizers by name; their state() is saved as optim.<name>.<key>.
//   act(...)     one batched forward for `rows` observations: actions for the first `sample`
//                rows (mode 'explore': sampled/ε-greedy/noisy; 'greedy': argmax or the
//                deterministic mean, for evaluation), log-probabilities and values when the
//                algorithm has them (on-policy loops need both).
//   update(...)  on-policy: one update from a finished rollout (GAE done by the harness).
//   observe/train off-policy: observe() gets every vector step's transitions (the agent owns
//                its replay buffer, in whatever compact dtype it likes); train() runs
//                cfg.gradientSteps updates and is called every cfg.trainFreq vector steps
//                once globalStep ≥ cfg.learningStarts.
//   saveState/loadState  anything else a resume needs: CG warm starts, target networks
//                not in `params`, replay contents (if the algorithm opts in), schedules'
//                counters; arrays of any typed-array dtype (uint8 stays uint8) plus JSON.
//   dispose()    releases every GPU buffer the agent made.
//
// Randomness: the harness passes its one CPU Rng (engine/nn/rng.ts, state saved in every
// checkpoint) in `ctx.rng`; an agent that draws random numbers uses it (or owns its own Rng
// and saves its state in saveState), never Math.random, so resume is exact. GPU randomness
// (E.rand) is saved by the harness too (E.getRngState).
//
// Actions: discrete → Int32Array of indices. Box → Float32Array (rows × dim) in the agent's
// normalised space [−1, 1]^dim; the harness maps them to [low, high] for the env (affine,
// clipped; dimensions with infinite bounds pass through unchanged) and stores the normalised
// values in rollouts/transitions, so networks never see env units.
//
// Statistics: update()/train() return named numbers for the log line (losses, KL, CG
// residuals, negative-curvature counts...). Every one must be finite: a non-finite statistic
// stops the run with an error naming the step and the statistic, and the last good
// checkpoint is kept (parameters are checked for finiteness before every checkpoint too).

import type * as E from '../../engine/index.ts';
import type { Rng } from '../../engine/nn/rng.ts';
import type { NamedArrays } from '../../engine/safetensors.ts';
import type { Space } from '../envs/types.ts';
import type { GpuVecEnv } from '../envs/gpu/vec.ts';
import type { KeySpec, OffPolicyConfig, OnPolicyConfig, RunConfig, Schema } from './config.ts';

export type { RunConfig, OnPolicyConfig, OffPolicyConfig, KeySpec, Schema };

/** What an algorithm learns about the env it is trained on. */
export interface EnvSpec {
  id: string;
  /** One observation's shape ([H, W, C] for MinAtar grids, [d] for vectors). */
  obsShape: number[];
  /** Floats per observation (the product of obsShape). */
  obsSize: number;
  actionSpace: Space;
  /** Scalars per action: 1 for discrete, the product of the Box shape otherwise. */
  actionDim: number;
  numEnvs: number;
}

export type Stats = Record<string, number>;

export interface ActOptions {
  rng: Rng;
  /** Rows to draw actions for (the remaining rows only need values: truncated episodes' final observations). */
  sample: number;
  mode: 'explore' | 'greedy';
  /** Env steps so far (for exploration schedules). */
  step: number;
}

export interface ActResult {
  /** [sample] indices (discrete) or [sample × actionDim] normalised actions (Box). */
  actions: Int32Array | Float32Array;
  /** log π(a|s) of the drawn actions [sample] (on-policy). */
  logp?: Float32Array;
  /** V(s) of every row [rows] (on-policy). */
  values?: Float32Array;
}

export interface UpdateContext {
  rng: Rng;
  /** Env steps so far. */
  step: number;
  /** Iterations done (on-policy: updates; off-policy: training calls) and planned in all. */
  iteration: number;
  iterations: number;
  /** Whether the statistics will be logged (compute expensive ones only then). */
  wantStats: boolean;
}

/** Extra checkpoint content of an agent. */
export interface AgentState {
  /** Saved as agent.<name> (any typed-array dtype). */
  arrays?: NamedArrays;
  /** Saved in the checkpoint's metadata. */
  json?: unknown;
}

export interface AgentBase {
  /** Parameter tree; top-level keys are groups (checkpoint names params.<dotted name>). */
  readonly params: E.Params;
  readonly optimizers: Record<string, E.Optimizer>;
  /** Observations per network input (SPRIG's temporal attention stacks K frames); default 1. */
  readonly frameStack?: number;
  /**
   * One batched forward over rows × (frameStack · obsSize) floats (stacked oldest first).
   * Called in the rollout (mode 'explore') and in evaluation (mode 'greedy').
   */
  act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult>;
  saveState?(): Promise<AgentState>;
  loadState?(s: AgentState): Promise<void>;
  dispose(): void;
}

/** A finished rollout, time-major [T, N] (index t·N + i), on the CPU. */
export interface Rollout {
  T: number;
  N: number;
  /** [T·N × frameStack·obsSize] observations the actions were taken on. */
  obs: Float32Array;
  /** [T·N × actionDim] actions (discrete: the index as a float; Box: normalised). */
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
  /** Rewards, with γ·V(final observation) folded in where an episode was truncated. */
  rewards: Float32Array;
  /** 1 where the episode ended at this step (terminated or truncated). */
  dones: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

export interface OnPolicyAgent extends AgentBase {
  update(rollout: Rollout, ctx: UpdateContext): Promise<Stats>;
  /**
   * For rollouts on a GPU env (cfg.envDevice 'gpu'): the act() of tensors, with no readback.
   * `obs` [rows, ...obsShape]; values for every row; for the first `sample` rows (0 = none) an
   * action drawn on the GPU (engine RNG) and its log-probability. Returned tensors are the
   * caller's. An agent without it runs on CPU envs only.
   */
  actGpu?(obs: E.Tensor, sample: number): { values: E.Tensor; actions?: E.Tensor; logp?: E.Tensor };
  /**
   * Optional: a whole rollout of T vector steps on the GPU env in one go (PPO's fused small-MLP
   * rollout). OB [(2T+1)·N, S] holds the observations to act on in rows [0, N); the agent fills
   * rows [N, (T+1)N) with the next observations, rows (T+1)N + tN + i with step t's final
   * observations, ROW [T·N, 8] with action, logp, value, reward, terminated, truncated, and
   * returns [(T+1)·N, W] whose last column is V of OB's rows [TN, (2T+1)N) (the last
   * observations, then every final one). Null: not possible for this agent and env (the harness
   * then steps one vector step at a time with actGpu).
   */
  rolloutGpu?(genv: GpuVecEnv, T: number, OB: E.Tensor, ROW: E.Tensor): E.Tensor | null;
  /**
   * Optional: whether rollouts on this env are faster on its GPU version than on the CPU env
   * for this agent (measured, bench/train_speed.ts); envDevice 'auto' picks the GPU env then.
   */
  prefersGpuEnv?(env: EnvSpec): boolean;
}

/** One vector step of transitions, on the CPU; the arrays are reused by the next step (copy what you keep). */
export interface Transitions {
  N: number;
  /** [N × frameStack·obsSize] observations acted on. */
  obs: Float32Array;
  /** [N × actionDim] (discrete: the index as a float; Box: normalised). */
  actions: Float32Array;
  rewards: Float32Array;
  /** [N × frameStack·obsSize] the next observations; where done, the episode's final one (not the reset). */
  nextObs: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
}

export interface OffPolicyAgent extends AgentBase {
  observe(t: Transitions): void;
  /** cfg.gradientSteps updates; called every cfg.trainFreq vector steps once step ≥ cfg.learningStarts. */
  train(ctx: UpdateContext): Promise<Stats>;
}

interface AlgorithmCommon<C extends RunConfig> {
  /** Registry name ('ppo', 'sprig', 'dqn', ...). */
  name: string;
  /** Action spaces the algorithm handles (checked before anything runs). */
  actionSpaces: ReadonlyArray<'discrete' | 'box'>;
  /** Every config key with its default (the papers' values). */
  defaults: C;
  /** Key specs the defaults cannot tell (integers, bounds, choices, nullable); spread ON_/OFF_POLICY_SCHEMA. */
  schema: Schema<C>;
  /** Named presets (`--config <name>`); a preset may set `env`. */
  presets: Record<string, Partial<C>>;
  /**
   * Per-env defaults, applied between `defaults` and every other layer when a run starts on that
   * env (e.g. the paper's Box-task settings for mujoco/*): return {} for envs without any.
   */
  envDefaults?(env: string): Partial<C>;
  /** Cross-key checks of a resolved config; throw an Error naming the keys. */
  validate?(cfg: C): void;
  /** Keys a resume may not change (besides algo, env, preset, numEnvs, seed: those never change). */
  fixedOnResume?: ReadonlyArray<keyof C & string>;
}

export interface OnPolicyAlgorithm<C extends OnPolicyConfig = OnPolicyConfig> extends AlgorithmCommon<C> {
  kind: 'on-policy';
  create(cfg: C, env: EnvSpec): OnPolicyAgent;
}

export interface OffPolicyAlgorithm<C extends OffPolicyConfig = OffPolicyConfig> extends AlgorithmCommon<C> {
  kind: 'off-policy';
  create(cfg: C, env: EnvSpec): OffPolicyAgent;
}

/** Any algorithm module's export (type your own as OnPolicyAlgorithm<YourConfig> or OffPolicyAlgorithm<YourConfig>). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Algorithm = OnPolicyAlgorithm<any> | OffPolicyAlgorithm<any>;
