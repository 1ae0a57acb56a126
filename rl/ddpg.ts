// DDPG and its Stackelberg versions STDDPG-AL (actor leader) and STDDPG-CL (critic leader), on
// the run harness (rl/harness). Also the off-policy machinery SAC shares (rl/sac.ts): a float
// replay buffer, Polyak averaging of all target parameters in one dispatch, and the two-player
// update that goes through games/' update rules.
//
// Players (minimise-both convention of games/): the actor's loss f_π = −mean Q_w(s, μ_θ(s)); the
// critic's loss f_Q = mean (Q_w(s, a) − y)², y = r + γ(1 − d) Q_w⁻(s′, a′).
//   criticTarget 'standard' (the default of every entry, STDDPG-AL/CL included; Spinning Up's
//     DDPG): a′ = μ_θ⁻(s′) from the target actor, y a constant. Then f_Q does not depend on θ, so
//     both cross terms of the total derivative vanish and STDDPG-AL/CL's leader gradient IS the
//     individual gradient (test/rl/ac_total_derivative.test.ts checks this): only the update
//     order differs from DDPG.
//   criticTarget 'released' (the released STDDPG code's quirk, a named option and the `released`
//     preset): a′ = μ_θ(s′) from the ONLINE actor, with no stop-gradient, so ∂f_Q/∂θ ≠ 0 and the
//     Stackelberg terms are non-zero.
// Roles: AL: leader actor (f₁ = f_π), follower critic (f₂ = f_Q); CL: the reverse.
// Update rules (leaderRule): 'total' — the leader follows the total derivative (CG, λ_t = λ·exp(−t/τ),
//   warm-started from the previous update's solution), the follower its own gradient at the same
//   point (as the released code), then followerSteps − 1 more follower steps; 'sequential' — the
//   leader's individual gradient first (follower held constant), then followerSteps follower
//   steps at the new leader (the comparison rule). DDPG itself: critic step, then actor step.
// Released defaults: 256×256 ReLU, Adam 1e-3 both, batch 100, replay 1e6, polyak 0.995, start
// steps 10k, update every 50 (50 updates), act noise 0.1, λ decay τ = 1e5.

import * as E from '../engine/index.ts';
import { stackelbergGradients, followerGradient } from '../games/game.ts';
import type { Rng } from '../engine/nn/rng.ts';
import type {
  OffPolicyAlgorithm, OffPolicyAgent, OffPolicyConfig, EnvSpec, Transitions, UpdateContext, Stats, ActOptions, ActResult, AgentState, Schema,
} from './harness/types.ts';
import { OFF_POLICY_SCHEMA, RUN_DEFAULTS } from './harness/config.ts';
import type { NamedArrays } from '../engine/safetensors.ts';
import { requireBox, checkFiniteActions, deterministicPolicy, qNetwork, addExplorationNoise } from './continuous.ts';

type Tensor = E.Tensor;
type Params = E.Params;

// ------------------------------------------------------------------ replay

/** Uniform replay of continuous transitions (float32), sampled with the harness's CPU Rng. */
export class ContinuousReplay {
  readonly obs: Float32Array;
  readonly nextObs: Float32Array;
  readonly actions: Float32Array;
  readonly rewards: Float32Array;
  readonly dones: Float32Array;
  size = 0;
  ptr = 0;
  constructor(readonly capacity: number, readonly obsSize: number, readonly actDim: number) {
    const bytes = capacity * (2 * obsSize + actDim + 2) * 4;
    if (bytes > 2 ** 31) throw new Error(`replay: ${capacity} transitions of ${obsSize}-float observations need ${(bytes / 2 ** 30).toFixed(1)} GiB; lower bufferSize`);
    this.obs = new Float32Array(capacity * obsSize);
    this.nextObs = new Float32Array(capacity * obsSize);
    this.actions = new Float32Array(capacity * actDim);
    this.rewards = new Float32Array(capacity);
    this.dones = new Float32Array(capacity);
  }
  /** Adds a vector step; truncation is not terminal (the target bootstraps from the final observation). */
  add(t: Transitions) {
    const S = this.obsSize, D = this.actDim;
    for (let i = 0; i < t.N; i++) {
      const k = this.ptr;
      this.obs.set(t.obs.subarray(i * S, (i + 1) * S), k * S);
      this.nextObs.set(t.nextObs.subarray(i * S, (i + 1) * S), k * S);
      this.actions.set(t.actions.subarray(i * D, (i + 1) * D), k * D);
      this.rewards[k] = t.rewards[i];
      this.dones[k] = t.terminated[i];
      this.ptr = (k + 1) % this.capacity;
      this.size = Math.min(this.size + 1, this.capacity);
    }
  }
  /** A uniform batch (with replacement) uploaded to the GPU. */
  sample(B: number, rng: Rng): { obs: Tensor; nextObs: Tensor; actions: Tensor; rewards: Tensor; dones: Tensor } {
    if (!this.size) throw new Error('replay: sample() before any transition was added');
    const S = this.obsSize, D = this.actDim;
    const o = new Float32Array(B * S), o2 = new Float32Array(B * S), a = new Float32Array(B * D), r = new Float32Array(B), d = new Float32Array(B);
    for (let i = 0; i < B; i++) {
      const k = rng.int(this.size);
      o.set(this.obs.subarray(k * S, (k + 1) * S), i * S);
      o2.set(this.nextObs.subarray(k * S, (k + 1) * S), i * S);
      a.set(this.actions.subarray(k * D, (k + 1) * D), i * D);
      r[i] = this.rewards[k];
      d[i] = this.dones[k];
    }
    return { obs: E.tensor(o, [B, S]), nextObs: E.tensor(o2, [B, S]), actions: E.tensor(a, [B, D]), rewards: E.tensor(r, [B]), dones: E.tensor(d, [B]) };
  }
  state(): Record<string, Float32Array> {
    const n = this.size;
    return {
      obs: this.obs.slice(0, n * this.obsSize), nextObs: this.nextObs.slice(0, n * this.obsSize), actions: this.actions.slice(0, n * this.actDim),
      rewards: this.rewards.slice(0, n), dones: this.dones.slice(0, n), meta: Float32Array.of(this.size, this.ptr),
    };
  }
  /**
   * Restores state(). The capacity follows totalSteps, so a run resumed with a larger --steps
   * loads into a larger buffer: kept as saved, a buffer that had just filled (ptr wrapped to 0)
   * would be overwritten from its oldest slot while sampling reached never-written rows. Unless
   * the layout still fits as saved (same capacity, or not yet wrapped), the transitions are laid
   * out oldest first and the newest min(size, capacity) kept; with an unchanged capacity the
   * layout, and so every later sample, is the saved one.
   */
  load(s: Record<string, ArrayLike<number>>) {
    const [size, ptr] = Array.from(s.meta);
    const S = this.obsSize, D = this.actDim, C = this.capacity;
    if (size === C || (ptr === size && size < C)) {
      this.obs.set(s.obs);
      this.nextObs.set(s.nextObs);
      this.actions.set(s.actions);
      this.rewards.set(s.rewards);
      this.dones.set(s.dones);
      this.size = size;
      this.ptr = ptr % C;
      return;
    }
    // Oldest first: slots ptr … size − 1, then 0 … ptr − 1 (a wrapped ring); keep the newest `n`.
    const n = Math.min(size, C);
    const row = (a: ArrayLike<number>, k: number, w: number) => Float32Array.from({ length: w }, (_, i) => a[k * w + i]!);
    for (let j = 0; j < n; j++) {
      const k = (ptr + size - n + j) % size;
      this.obs.set(row(s.obs, k, S), j * S);
      this.nextObs.set(row(s.nextObs, k, S), j * S);
      this.actions.set(row(s.actions, k, D), j * D);
      this.rewards[j] = s.rewards[k]!;
      this.dones[j] = s.dones[k]!;
    }
    this.size = n;
    this.ptr = n % C;
  }
}

// ------------------------------------------------------------------ Polyak averaging

const polyakKernel = {
  name: 'polyak',
  code: /* wgsl */ `
struct P { n0: u32, n1: u32, rho: f32, pad: u32 }
@group(0) @binding(0) var<storage, read> A0: array<f32>;
@group(0) @binding(1) var<storage, read> A1: array<f32>;
@group(0) @binding(2) var<storage, read_write> T0: array<f32>;
@group(0) @binding(3) var<storage, read_write> T1: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(256) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i < p.n0) {
    T0[i] = p.rho * T0[i] + (1.0 - p.rho) * A0[i];
  } else if (i < p.n0 + p.n1) {
    let j = i - p.n0;
    T1[j] = p.rho * T1[j] + (1.0 - p.rho) * A1[j];
  }
}`,
};

/**
 * θ⁻ ← ρ·θ⁻ + (1 − ρ)·θ for every target parameter in ONE dispatch: each network's parameters
 * live in one packed buffer (packParams), and up to two (online, target) pairs go through the
 * same kernel launch (DDPG: actor and critic; SAC: both Q networks in one packed critic).
 */
export function polyakUpdate(pairs: Array<[online: Params, target: Params]>, rho: number) {
  if (pairs.length < 1 || pairs.length > 2) throw new Error(`polyakUpdate: 1 or 2 (online, target) pairs, got ${pairs.length}`);
  const flats = pairs.map(([on, tg], k) => {
    const a = E.packedOf(on), t = E.packedOf(tg);
    if (!a || !t) throw new Error(`polyakUpdate: pair ${k} is not two packed parameter trees (packParams)`);
    if (a.layout.size !== t.layout.size) throw new Error(`polyakUpdate: pair ${k}: online has ${a.layout.size} floats, target ${t.layout.size}`);
    return [a.flat, t.flat];
  });
  const [a0, t0] = flats[0];
  const [a1, t1] = flats[1] ?? flats[0];
  const n0 = a0.size, n1 = flats[1] ? a1.size : 0;
  // A second pair absent: bind the first twice (read-only A, and T only written for i < n0).
  const t1b = flats[1] ? t1 : E.zeros([1]);
  E.runtime().dispatch({
    kernel: polyakKernel,
    inputs: [a0.buffer, a1.buffer],
    outputs: [t0.buffer, t1b.buffer],
    params: [n0, n1, E.f32bits(rho), 0],
    workgroups: gridOf(n0 + n1),
    label: 'polyak',
  });
  if (!flats[1]) t1b.dispose();
}

function gridOf(n: number): [number, number] {
  const groups = Math.ceil(n / 256);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/** Disposes a packed parameter tree and the flat buffer behind it (views alone keep it alive). */
export function disposePacked(p: Params | undefined) {
  if (!p) return;
  const flat = E.packedOf(p)?.flat;
  E.dispose(p);
  flat?.dispose();
}

/** A packed copy of a packed tree (the target network's starting point). */
export function packedCopy<P extends Params>(p: P): P {
  const copy = E.scope(() => E.fromNamed(Object.fromEntries(Object.entries(E.namedParams(p)).map(([k, t]) => [k, E.clone(t)]))));
  return E.packParams(copy as P).params;
}

// ------------------------------------------------------------------ the two-player update

export type StRole = 'none' | 'actor-leader' | 'critic-leader';
export type LeaderRuleKind = 'total' | 'sequential';
export type CriticTarget = 'standard' | 'released';

export interface StackelbergOptions {
  stackelberg: StRole;
  leaderRule: LeaderRuleKind;
  /** λ of the damped follower Hessian; the schedule is λ_t = λ·exp(−t/lambdaDecay) (t env steps; 0 = constant). */
  lambda: number;
  lambdaDecay: number;
  cgIters: number;
  /** m: follower steps per leader step. */
  followerSteps: number;
  /** CG on a direction with pᵀ(∇²₂₂f₂ + λI)p ≤ 0 (engine/solvers.ts NegativeCurvatureMode). */
  negativeCurvature: 'stop' | 'damp' | 'ignore';
}

/** The Stackelberg options' released defaults, shared by DDPG and SAC (and their ST* entries). */
export const ST_DEFAULTS = {
  stackelberg: 'none',
  leaderRule: 'total',
  lambda: 500,
  lambdaDecay: 100_000,
  cgIters: 10,
  followerSteps: 1,
  negativeCurvature: 'stop',
  criticTarget: 'standard',
} as const;

/** A budget that fits this 2-core machine (docs/actor-critic.md): small nets, short warm-up. */
export const PENDULUM_FAST: Partial<DdpgConfig> = {
  env: 'pendulum', totalSteps: 15_000, randomSteps: 1000, learningStarts: 1000, trainFreq: 1, gradientSteps: 1, hidden: [64, 64], batchSize: 64, logEvery: 1000,
};

/**
 * Presets of the off-policy families that reproduce the released STDDPG/STSAC code's critic
 * target (the online actor inside the target, no stop-gradient: the only setting in which the
 * Stackelberg cross terms are non-zero); `pendulum-fast-released` is that on the small budget.
 */
export const RELEASED_PRESETS: Record<string, Partial<DdpgConfig>> = {
  released: { criticTarget: 'released' },
  'pendulum-fast-released': { ...PENDULUM_FAST, criticTarget: 'released' },
};

export const ST_SCHEMA = {
  stackelberg: { type: 'string', choices: ['none', 'actor-leader', 'critic-leader'] },
  leaderRule: { type: 'string', choices: ['total', 'sequential'] },
  lambda: { type: 'number', min: 0 },
  lambdaDecay: { type: 'number', min: 0 },
  cgIters: { type: 'int', min: 1 },
  followerSteps: { type: 'int', min: 1 },
  negativeCurvature: { type: 'string', choices: ['stop', 'damp', 'ignore'] },
  criticTarget: { type: 'string', choices: ['standard', 'released'] },
} as const;

/** λ_t = λ·exp(−t/τ) (τ = 0: constant). */
export function lambdaAt(o: Pick<StackelbergOptions, 'lambda' | 'lambdaDecay'>, step: number): number {
  return o.lambdaDecay > 0 ? o.lambda * Math.exp(-step / o.lambdaDecay) : o.lambda;
}

/**
 * Runs one update of both players of an actor-critic pair and keeps the Stackelberg state (CG
 * warm start, negative-curvature counter) on the GPU between calls.
 */
export class TwoPlayerUpdater<A extends Params, C extends Params> {
  private warm: Params | null = null;
  /** Running count of CG directions with negative curvature (GPU; read at log time). */
  negCurvature: Tensor = E.keep(E.zeros([]));
  /** Running sum of ‖leader gradient − individual gradient‖ is not tracked (it would cost a readback); see stats. */
  constructor(readonly o: StackelbergOptions, readonly actorOpt: E.Optimizer, readonly criticOpt: E.Optimizer) {}

  /**
   * One update. actorLoss(actor, critic) and criticLoss(actor, critic) are the two players'
   * losses on this batch. Returns the losses (GPU scalars, kept: the caller disposes).
   */
  update(actor: A, critic: C, actorLoss: (a: A, c: C) => Tensor, criticLoss: (a: A, c: C) => Tensor, step: number): { actorLoss: Tensor; criticLoss: Tensor } {
    const o = this.o;
    return E.scope(() => {
      if (o.stackelberg === 'none') {
        // DDPG / SAC: critic first, then the actor against the updated critic.
        const [lq, gq] = E.valueAndGrad((c: C) => criticLoss(actor, c))(critic);
        this.criticOpt.step(critic, gq as Params);
        const [lp, gp] = E.valueAndGrad((a: A) => actorLoss(a, critic))(actor);
        this.actorOpt.step(actor, gp as Params);
        return E.keep({ actorLoss: lp, criticLoss: lq });
      }
      const al = o.stackelberg === 'actor-leader';
      const leader = (al ? actor : critic) as Params, follower = (al ? critic : actor) as Params;
      const f1 = al ? (l: Params, f: Params) => actorLoss(l as A, f as C) : (l: Params, f: Params) => criticLoss(f as A, l as C);
      const f2 = al ? (l: Params, f: Params) => criticLoss(l as A, f as C) : (l: Params, f: Params) => actorLoss(f as A, l as C);
      const lOpt = al ? this.actorOpt : this.criticOpt, fOpt = al ? this.criticOpt : this.actorOpt;
      const game = { leaderLoss: f1, followerLoss: f2 };
      const rule = o.leaderRule === 'total'
        ? { kind: 'total' as const, lambda: lambdaAt(o, step), cgIters: o.cgIters, negativeCurvature: o.negativeCurvature, ...(this.warm ? { warmStart: this.warm } : {}) }
        : { kind: 'sequential' as const };
      let v2: Tensor;
      if (rule.kind === 'total') {
        // Both players' gradients at the same point (the released update), then m − 1 follower steps.
        const sg = stackelbergGradients(game, leader, follower, rule);
        // totalDerivative computes ∇₂f₂ on the way; the value f₂ is one cheap forward.
        const fg = sg.followerGrad ?? followerGradient(game, leader, follower).grad;
        lOpt.step(leader, sg.leaderGrad as Params);
        fOpt.step(follower, fg as Params);
        v2 = E.noGrad(() => f2(leader, follower));
        if (sg.implicit) {
          const old = this.warm;
          this.warm = E.keep(sg.implicit as Params);
          if (old) E.dispose(old);
        }
        if (sg.negativeCurvature) {
          const acc = E.keep(E.add(this.negCurvature, sg.negativeCurvature));
          this.negCurvature.dispose();
          this.negCurvature = acc;
        }
        for (let k = 1; k < o.followerSteps; k++) {
          const g = followerGradient(game, leader, follower);
          fOpt.step(follower, g.grad as Params);
        }
        const v1 = sg.leaderValue;
        return E.keep(al ? { actorLoss: v1, criticLoss: v2 } : { actorLoss: v2, criticLoss: v1 });
      }
      // Sequential: leader first (follower held constant), then m follower steps at the new leader.
      const sg = stackelbergGradients(game, leader, follower, rule);
      lOpt.step(leader, sg.leaderGrad as Params);
      const v1 = sg.leaderValue;
      v2 = E.zeros([]);
      for (let k = 0; k < o.followerSteps; k++) {
        const g = followerGradient(game, leader, follower);
        fOpt.step(follower, g.grad as Params);
        v2 = g.value;
      }
      return E.keep(al ? { actorLoss: v1, criticLoss: v2 } : { actorLoss: v2, criticLoss: v1 });
    });
  }

  /** The CG warm start (kept between updates; saved in checkpoints). */
  get warmStart(): Params | null {
    return this.warm;
  }
  setWarmStart(w: Params | null) {
    if (this.warm) E.dispose(this.warm);
    this.warm = w ? E.keep(w) : null;
  }

  dispose() {
    if (this.warm) E.dispose(this.warm);
    this.warm = null;
    this.negCurvature.dispose();
  }
}

// ------------------------------------------------------------------ DDPG losses (pure functions)

export interface OffPolicyBatch {
  obs: Tensor;
  actions: Tensor;
  rewards: Tensor;
  nextObs: Tensor;
  dones: Tensor;
}

type Policy = ReturnType<typeof deterministicPolicy>;
type QNet = ReturnType<typeof qNetwork>;

/** f_π(θ, w) = −mean Q_w(s, μ_θ(s)). */
export function ddpgActorLoss(pi: Policy, q: QNet, actor: Params, critic: Params, b: OffPolicyBatch): Tensor {
  return E.neg(E.mean(q.apply(critic, b.obs, pi.apply(actor, b.obs))));
}

/**
 * f_Q(θ, w) = mean (Q_w(s, a) − y)², y = r + γ(1 − d)·Q_w⁻(s′, a′): a′ = μ_θ⁻(s′) ('standard', y
 * constant) or μ_θ(s′) with gradient into θ ('released').
 */
export function ddpgCriticLoss(
  pi: Policy, q: QNet, actor: Params, critic: Params, targets: { actor: Params; critic: Params }, b: OffPolicyBatch, gamma: number, mode: CriticTarget,
): Tensor {
  const nextA = mode === 'released' ? pi.apply(actor, b.nextObs) : E.noGrad(() => pi.apply(targets.actor, b.nextObs));
  let qNext = q.apply(targets.critic, b.nextObs, nextA);
  if (mode === 'standard') qNext = E.stopGradient(qNext);
  const y = E.add(b.rewards, E.mul(E.mul(E.sub(1, b.dones), qNext), gamma));
  return E.mse(q.apply(critic, b.obs, b.actions), y);
}

// ------------------------------------------------------------------ DDPG agent

export interface DdpgConfig extends OffPolicyConfig, StackelbergOptions {
  batchSize: number;
  bufferSize: number;
  polyak: number;
  actorLr: number;
  criticLr: number;
  hidden: number[];
  activation: 'relu' | 'tanh';
  /** σ of the Gaussian exploration noise, in normalised action units (× act limit in Spinning Up). */
  actNoise: number;
  criticTarget: CriticTarget;
}

const DDPG_DEFAULTS: DdpgConfig = {
  ...RUN_DEFAULTS,
  algo: 'ddpg',
  env: 'pendulum',
  numEnvs: 1,
  totalSteps: 100_000,
  logEvery: 1000,
  gamma: 0.99,
  learningStarts: 1000,
  trainFreq: 50,
  gradientSteps: 50,
  randomSteps: 10_000,
  batchSize: 100,
  bufferSize: 1_000_000,
  polyak: 0.995,
  actorLr: 1e-3,
  criticLr: 1e-3,
  hidden: [256, 256],
  activation: 'relu',
  actNoise: 0.1,
  ...ST_DEFAULTS,
};

const DDPG_SCHEMA: Schema<DdpgConfig> = {
  ...OFF_POLICY_SCHEMA,
  ...(ST_SCHEMA as Schema<DdpgConfig>),
  batchSize: { type: 'int', min: 1 },
  bufferSize: { type: 'int', min: 1 },
  polyak: { type: 'number', min: 0, max: 1 },
  actorLr: { type: 'number', positive: true },
  criticLr: { type: 'number', positive: true },
  hidden: { type: 'numbers', int: true, min: 1, minLength: 1 },
  activation: { type: 'string', choices: ['relu', 'tanh'] },
  actNoise: { type: 'number', min: 0 },
};

/** Reads a GPU scalar stat map back in one readback. */
export async function readStats(named: Record<string, Tensor>): Promise<Stats> {
  const keys = Object.keys(named);
  const vals = await E.readAll(keys.map((k) => named[k]));
  return Object.fromEntries(keys.map((k, i) => [k, vals[i][0]]));
}

class DdpgAgent implements OffPolicyAgent {
  readonly params: { actor: Params; critic: Params; targetActor: Params; targetCritic: Params };
  readonly optimizers: Record<string, E.Optimizer>;
  private pi: Policy;
  private q: QNet;
  private replay: ContinuousReplay;
  private st: TwoPlayerUpdater<Params, Params>;
  private obsDim: number;
  private actDim: number;

  constructor(private cfg: DdpgConfig, private env: EnvSpec) {
    requireBox(env, cfg.algo);
    this.obsDim = env.obsSize;
    this.actDim = env.actionDim;
    this.pi = deterministicPolicy(this.obsDim, this.actDim, cfg.hidden, cfg.activation);
    this.q = qNetwork(this.obsDim, this.actDim, cfg.hidden, cfg.activation);
    const actor = E.packParams(this.pi.init(E.childSeed(cfg.seed, 'actor'))).params;
    const critic = E.packParams(this.q.init(E.childSeed(cfg.seed, 'critic'))).params;
    this.params = { actor, critic, targetActor: packedCopy(actor), targetCritic: packedCopy(critic) };
    this.optimizers = { actor: E.adam(actor, { lr: cfg.actorLr }), critic: E.adam(critic, { lr: cfg.criticLr }) };
    this.st = new TwoPlayerUpdater(cfg, this.optimizers.actor, this.optimizers.critic);
    this.replay = new ContinuousReplay(Math.min(cfg.bufferSize, Math.max(cfg.totalSteps, 1)), this.obsDim, this.actDim);
  }

  async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const a = E.scope(() => this.pi.apply(this.params.actor, E.tensor(obs.subarray(0, rows * this.obsDim), [rows, this.obsDim])));
    const out = await a.data();
    a.dispose();
    const actions = out.subarray(0, o.sample * this.actDim);
    checkFiniteActions(actions, this.actDim, o.step, this.env.id, this.cfg.algo);
    if (o.mode === 'explore') addExplorationNoise(actions, this.cfg.actNoise, o.rng);
    return { actions };
  }

  observe(t: Transitions) {
    this.replay.add(t);
  }

  async train(ctx: UpdateContext): Promise<Stats> {
    const { cfg } = this;
    const p = this.params;
    let last: { actorLoss: Tensor; criticLoss: Tensor } | null = null;
    for (let k = 0; k < cfg.gradientSteps; k++) {
      const b = this.replay.sample(cfg.batchSize, ctx.rng);
      const r = this.st.update(
        p.actor, p.critic,
        (a, c) => ddpgActorLoss(this.pi, this.q, a, c, b),
        (a, c) => ddpgCriticLoss(this.pi, this.q, a, c, { actor: p.targetActor, critic: p.targetCritic }, b, cfg.gamma, cfg.criticTarget),
        ctx.step,
      );
      polyakUpdate([[p.actor, p.targetActor], [p.critic, p.targetCritic]], cfg.polyak);
      E.dispose(b);
      if (last) E.dispose(last);
      last = r;
      if (k % 10 === 9) await E.sync();
    }
    if (!ctx.wantStats || !last) {
      if (last) E.dispose(last);
      return {};
    }
    const stats = await readStats({ actor_loss: last.actorLoss, critic_loss: last.criticLoss, neg_curvature: this.st.negCurvature });
    E.dispose(last);
    return { ...stats, lambda: lambdaAt(cfg, ctx.step) };
  }

  saveState(): Promise<AgentState> {
    return saveOffPolicyState(this.replay, this.st);
  }

  async loadState(s: AgentState) {
    loadOffPolicyState(this.replay, this.st, this.st.o.stackelberg === 'critic-leader' ? this.params.actor : this.params.critic, s);
  }

  dispose() {
    this.st.dispose();
    for (const o of Object.values(this.optimizers)) o.dispose();
    for (const g of Object.values(this.params)) disposePacked(g);
  }
}

/** Replay contents, CG warm start and the negative-curvature counter, for exact resume. */
export async function saveOffPolicyState(replay: ContinuousReplay, st: TwoPlayerUpdater<any, any>): Promise<AgentState> {
  const arrays: NamedArrays = {};
  const put = (k: string, a: Float32Array) => (arrays[k] = { data: a, shape: [a.length] });
  for (const [k, v] of Object.entries(replay.state())) put(`replay.${k}`, v);
  const w = st.warmStart;
  if (w) {
    const named = E.namedParams(w);
    const vals = await E.readAll(Object.values(named));
    Object.keys(named).forEach((k, i) => put(`warm.${k}`, vals[i]));
  }
  put('negCurvature', await st.negCurvature.data());
  return { arrays };
}

export function loadOffPolicyState(replay: ContinuousReplay, st: TwoPlayerUpdater<any, any>, followerShape: Params, s: AgentState) {
  const a = s.arrays ?? {};
  const get = (k: string) => a[k]?.data as Float32Array | undefined;
  const rep: Record<string, Float32Array> = {};
  for (const k of Object.keys(a)) if (k.startsWith('replay.')) rep[k.slice(7)] = get(k)!;
  if (rep.meta) replay.load(rep);
  const shapes = E.namedParams(followerShape);
  const names = Object.keys(shapes);
  if (names.every((n) => get(`warm.${n}`))) st.setWarmStart(E.fromNamed(Object.fromEntries(names.map((n) => [n, E.tensor(get(`warm.${n}`)!, shapes[n].shape)]))));
  const nc = get('negCurvature');
  if (nc) {
    st.negCurvature.dispose();
    st.negCurvature = E.keep(E.tensor(nc, []));
  }
}

export function validateSt(cfg: StackelbergOptions & { algo: string }) {
  if (cfg.stackelberg === 'none' && cfg.followerSteps !== 1) throw new Error(`${cfg.algo}: followerSteps (m) applies to the Stackelberg versions only; set stackelberg to 'actor-leader' or 'critic-leader'`);
}

function ddpgFamily(name: string, over: Partial<DdpgConfig>): OffPolicyAlgorithm<DdpgConfig> {
  return {
    name,
    kind: 'off-policy',
    actionSpaces: ['box'],
    defaults: { ...DDPG_DEFAULTS, ...over, algo: name },
    schema: DDPG_SCHEMA,
    presets: {
      'pendulum-fast': PENDULUM_FAST,
      ...RELEASED_PRESETS,
    },
    validate: validateSt,
    fixedOnResume: ['hidden', 'activation', 'stackelberg'],
    create: (cfg, env) => new DdpgAgent(cfg, env),
  };
}

/** DDPG (Spinning Up's, as the released STDDPG code builds on). */
export const ddpg = ddpgFamily('ddpg', {});
/** STDDPG-AL: actor leader (total derivative), critic follower; `--config released` for the released critic target. */
export const stddpgAl = ddpgFamily('stddpg-al', { stackelberg: 'actor-leader' });
/** STDDPG-CL: critic leader, actor follower; `--config released` for the released critic target. */
export const stddpgCl = ddpgFamily('stddpg-cl', { stackelberg: 'critic-leader' });
export default ddpg;
