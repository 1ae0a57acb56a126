// Continuous actions for the actor-critic family (rl/ac.ts, rl/ddpg.ts, rl/sac.ts): Box spaces
// with bounds, and the three policy kinds of the papers:
//   - Gaussian with a state-independent log-std (Spinning Up's MLPGaussianActor; on-policy AC/STAC),
//   - tanh-squashed Gaussian (SAC; CleanRL's actor: log-std squashed into [−5, 2]),
//   - deterministic tanh policy with Gaussian exploration noise (DDPG).
// Policies work in the normalised action space [−1, 1]^d; the harness maps actions to the
// env's [low, high] (rl/harness/policy.ts scaleToBox) and `BoxScaling` below does the same
// affine map for code that needs env units (and its inverse). Networks are engine/nn modules
// (PyTorch default init, as the released code and CleanRL use), applied as pure functions of
// their parameter trees so the total derivative can differentiate through them.

import * as E from '../engine/index.ts';
import type { Rng } from '../engine/nn/rng.ts';
import type { BoxSpace, Space } from './envs/types.ts';
import type { EnvSpec } from './harness/types.ts';

type Tensor = E.Tensor;
type Params = E.Params;

// ------------------------------------------------------------------ spaces

/** The env's action space must be a Box with finite bounds; else a clear error naming algorithm, env and space. */
export function requireBox(env: Pick<EnvSpec, 'id' | 'actionSpace'>, algo: string): BoxSpace {
  const sp = env.actionSpace;
  if (sp.kind !== 'box') {
    throw new Error(`${algo} needs a continuous (Box) action space, but ${env.id} has ${describeSpace(sp)}; use a discrete algorithm (ppo, dqn, ac) or a continuous env (pendulum, mujoco/*)`);
  }
  sp.low.forEach((lo, j) => {
    const hi = sp.high[j];
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(hi > lo)) {
      throw new Error(`${algo}: ${env.id}'s action dimension ${j} has bounds [${lo}, ${hi}]; squashed policies need finite bounds with low < high`);
    }
  });
  return sp;
}

/** The env's action space must be discrete; else a clear error. */
export function requireDiscrete(env: Pick<EnvSpec, 'id' | 'actionSpace'>, algo: string): number {
  const sp = env.actionSpace;
  if (sp.kind !== 'discrete') throw new Error(`${algo} (this configuration) needs a discrete action space, but ${env.id} has ${describeSpace(sp)}`);
  return sp.n;
}

export function describeSpace(sp: Space): string {
  return sp.kind === 'discrete' ? `a discrete space of ${sp.n} actions` : `a Box of shape [${sp.shape}] in [${sp.low}] .. [${sp.high}]`;
}

/** The affine map between normalised actions [−1, 1]^d and a Box's [low, high] (CleanRL's action_scale / action_bias). */
export class BoxScaling {
  readonly dim: number;
  readonly scale: Float64Array;
  readonly bias: Float64Array;
  constructor(readonly space: BoxSpace) {
    this.dim = space.low.length;
    this.scale = Float64Array.from(space.low, (lo, j) => (space.high[j] - lo) / 2);
    this.bias = Float64Array.from(space.low, (lo, j) => (space.high[j] + lo) / 2);
  }
  /** Normalised → env units, clipped to the bounds. */
  toEnv(a: ArrayLike<number>, out = new Float32Array(a.length)): Float32Array {
    for (let i = 0; i < a.length; i++) {
      const j = i % this.dim;
      out[i] = this.bias[j] + this.scale[j] * Math.min(1, Math.max(-1, a[i]));
    }
    return out;
  }
  /** Env units → normalised. */
  fromEnv(a: ArrayLike<number>, out = new Float32Array(a.length)): Float32Array {
    for (let i = 0; i < a.length; i++) {
      const j = i % this.dim;
      out[i] = (a[i] - this.bias[j]) / this.scale[j];
    }
    return out;
  }
}

/**
 * Throws if any action is not finite, naming the env step, the env index and the algorithm
 * (a NaN from a diverged network otherwise surfaces as an env error without that context).
 */
export function checkFiniteActions(actions: ArrayLike<number>, dim: number, step: number, envId: string, algo: string) {
  for (let i = 0; i < actions.length; i++) {
    if (!Number.isFinite(actions[i])) {
      throw new Error(`${algo}: the policy produced action ${actions[i]} at env step ${step} for env ${Math.floor(i / dim)} of ${envId} (dimension ${i % dim}); the network has diverged (check the learning rate / losses)`);
    }
  }
}

// ------------------------------------------------------------------ networks

/** An MLP [in, ...hidden, out] with PyTorch's default init, hidden activation `act`, fused linear kernels. */
export function mlp(sizes: number[], act: E.Activation, outActivation: E.Activation = 'none') {
  return E.MLP(sizes, { activation: act, outActivation });
}

/** Q(s, a) = MLP([s, a]) → [B]. */
export function qNetwork(obsDim: number, actDim: number, hidden: number[], act: E.Activation) {
  const net = mlp([obsDim + actDim, ...hidden, 1], act);
  return {
    init: (seed: number) => net.init(seed),
    apply: (p: Params, obs: Tensor, a: Tensor) => E.reshape(net.apply(p, E.concat([obs, a], 1)), [obs.shape[0]]),
  };
}

/** V(s) = MLP(s) → [B]. */
export function vNetwork(obsDim: number, hidden: number[], act: E.Activation) {
  const net = mlp([obsDim, ...hidden, 1], act);
  return {
    init: (seed: number) => net.init(seed),
    apply: (p: Params, obs: Tensor) => E.reshape(net.apply(p, obs), [obs.shape[0]]),
  };
}

// ------------------------------------------------------------------ Gaussian policy (on-policy)

/**
 * Diagonal Gaussian with a state-independent log-std parameter (initialised to −0.5, as
 * Spinning Up's MLPGaussianActor): mean = MLP(s); params { mu, logStd [d] }.
 */
export function gaussianPolicy(obsDim: number, actDim: number, hidden: number[], act: E.Activation = 'tanh', initLogStd = -0.5) {
  const net = mlp([obsDim, ...hidden, actDim], act);
  return {
    kind: 'gaussian' as const,
    actDim,
    init: (seed: number): Params => ({ mu: net.init(seed), logStd: E.full([actDim], initLogStd) }),
    mean: (p: Params, obs: Tensor) => net.apply(p.mu as Params, obs),
    /** Σ_j log N(a_j | μ_j(s), σ_j²) → [B]. */
    logProb(p: Params, obs: Tensor, actions: Tensor) {
      return E.gaussianLogProb(actions, net.apply(p.mu as Params, obs), p.logStd as Tensor);
    },
    /** Entropy Σ_j (½ log 2πe + log σ_j) (state independent). */
    entropy: (p: Params) => E.add(E.sum(p.logStd as Tensor), 0.5 * actDim * Math.log(2 * Math.PI * Math.E)),
  };
}

/** Categorical policy over logits = MLP(s) (the on-policy AC on discrete envs, e.g. CartPole). */
export function categoricalPolicy(obsDim: number, numActions: number, hidden: number[], act: E.Activation = 'tanh') {
  const net = mlp([obsDim, ...hidden, numActions], act);
  return {
    kind: 'categorical' as const,
    numActions,
    init: (seed: number): Params => ({ logits: net.init(seed) }),
    logits: (p: Params, obs: Tensor) => net.apply(p.logits as Params, obs),
    logProb: (p: Params, obs: Tensor, actions: Tensor) => E.categoricalLogProb(net.apply(p.logits as Params, obs), actions),
    entropy: (p: Params, obs: Tensor) => E.mean(E.categoricalEntropy(net.apply(p.logits as Params, obs))),
  };
}

// ------------------------------------------------------------------ tanh-squashed Gaussian (SAC)

export const LOG_STD_MIN = -5;
export const LOG_STD_MAX = 2;

/**
 * SAC's actor (CleanRL's layout): trunk MLP(s) → h, heads mean(h) and a raw log-std squashed
 * into [LOG_STD_MIN, LOG_STD_MAX] by tanh. Actions a = tanh(u), u = μ + σ·ε, with the exact
 * change-of-variables log-probability log π(a) = log N(u) − Σ log(1 − tanh²u) (computed as
 * 2(log 2 − u − softplus(−2u)), stable for large |u|), in the normalised action space.
 */
export function tanhGaussianPolicy(obsDim: number, actDim: number, hidden: number[], act: E.Activation = 'relu') {
  const trunk = mlp([obsDim, ...hidden], act, act);
  const h = hidden[hidden.length - 1];
  const head = E.Linear(h, actDim);
  const dist = (p: Params, obs: Tensor) => {
    const f = trunk.apply(p.trunk as Params, obs);
    const mean = head.apply(p.mean as E.LinearParams, f);
    const raw = E.tanh(head.apply(p.logStd as E.LinearParams, f));
    const logStd = E.add(E.mul(E.add(raw, 1), 0.5 * (LOG_STD_MAX - LOG_STD_MIN)), LOG_STD_MIN);
    return { mean, logStd };
  };
  return {
    kind: 'tanh-gaussian' as const,
    actDim,
    init: (seed: number): Params => ({ trunk: trunk.init(E.childSeed(seed, 'trunk')), mean: head.init(E.childSeed(seed, 'mean')), logStd: head.init(E.childSeed(seed, 'logStd')) }),
    dist,
    /** Reparameterised sample with standard-normal `noise` [B, d]: { action, logProb [B], mean action }. */
    sample(p: Params, obs: Tensor, noise: Tensor) {
      const { mean, logStd } = dist(p, obs);
      return E.tanhGaussian(mean, logStd, { noise });
    },
  };
}

/** float64 log π(a) of a tanh-Gaussian at pre-squash u (the reference the tests compare against; also used on the CPU). */
export function tanhGaussianLogProbCpu(u: ArrayLike<number>, mean: ArrayLike<number>, logStd: ArrayLike<number>): number {
  let lp = 0;
  for (let j = 0; j < u.length; j++) {
    const s = Math.exp(logStd[j]);
    const z = (u[j] - mean[j]) / s;
    lp += -0.5 * z * z - logStd[j] - 0.5 * Math.log(2 * Math.PI);
    // log(1 − tanh²u) = 2(log 2 − u − softplus(−2u))
    const sp = Math.max(-2 * u[j], 0) + Math.log1p(Math.exp(-Math.abs(2 * u[j])));
    lp -= 2 * (Math.LN2 - u[j] - sp);
  }
  return lp;
}

/**
 * CPU draw from a tanh-Gaussian given the network's mean/log-std readback ([rows × d]):
 * a = tanh(μ + σε) (explore) or tanh(μ) (greedy).
 */
export function sampleTanhGaussian(mean: Float32Array, logStd: Float32Array, rows: number, d: number, rng: Rng, greedy: boolean, out: Float32Array) {
  for (let i = 0; i < rows * d; i++) out[i] = Math.tanh(greedy ? mean[i] : mean[i] + Math.exp(logStd[i]) * rng.normal());
  return out;
}

// ------------------------------------------------------------------ deterministic policy (DDPG)

/** μ(s) = tanh(MLP(s)) ∈ [−1, 1]^d (Spinning Up's MLPActor in normalised units). */
export function deterministicPolicy(obsDim: number, actDim: number, hidden: number[], act: E.Activation = 'relu') {
  const net = mlp([obsDim, ...hidden, actDim], act, 'tanh');
  return {
    kind: 'deterministic' as const,
    actDim,
    init: (seed: number) => net.init(seed),
    apply: (p: Params, obs: Tensor) => net.apply(p, obs),
  };
}

/** a + σ·N(0, 1) clipped to [−1, 1] (DDPG's exploration noise in normalised units), in place. */
export function addExplorationNoise(actions: Float32Array, sigma: number, rng: Rng): Float32Array {
  for (let i = 0; i < actions.length; i++) actions[i] = Math.min(1, Math.max(-1, actions[i] + sigma * rng.normal()));
  return actions;
}
