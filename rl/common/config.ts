// Hyperparameters: one typed object with the SPRIG paper's PPO table as defaults, per-env
// presets for what this machine can afford, and overrides from a JSON file and CLI flags.
// The resolved config is saved with every run (config.json) and inside every checkpoint.

export interface TrainConfig {
  algo: 'ppo' | 'sprig';
  env: string;
  /** Env preset (MinAtar: 'paper' | 'gymnax'); passed through to makeEnv. */
  preset?: string;
  seed: number;
  totalSteps: number;
  numEnvs: number;
  /** Steps per env per rollout; rollout size = numEnvs × numSteps (paper: 2048). */
  numSteps: number;
  minibatchSize: number;
  updateEpochs: number;
  lr: number;
  annealLr: boolean;
  gamma: number;
  gaeLambda: number;
  normAdv: boolean;
  clipCoef: number;
  /** CleanRL's clipped value loss. */
  clipVloss: boolean;
  vfCoef: number;
  entCoef: number;
  maxGradNorm: number;
  adamEps: number;
  /** Stop early on approx KL above this (CleanRL target_kl; null = never). */
  targetKl: number | null;
  /** Torso: 'auto' (MLP for vector obs, MinAtar reference conv for grids), or 'mlp'. */
  torso: 'auto' | 'mlp' | 'minatar';
  mlpHidden: number[];
  // ---- SPRIG
  /** α_coop: weight of the leader's cost term vs the policy term. */
  alphaCoop: number;
  /** λ_c: attention cost weight. */
  lambdaC: number;
  /** 'alg1': u_L = α(−C) + (1−α)·u_policy (Algorithm 1, default); 'eq8': u_L = α·u_policy − (1−α)·C. */
  leaderObjective: 'alg1' | 'eq8';
  /** Leader (perception) learning rate; null = lr. */
  leaderLr: number | null;
  frameStack: number;
  attnDim: number;
  // ---- run management
  /** Env steps between log lines (rounded up to whole updates). */
  logEvery: number;
  /** Env steps between checkpoints (rounded up to whole updates); 0 = only at the end. */
  checkpointEvery: number;
  /** Stop when the mean of the last 20 episode returns reaches this (null = run all steps). */
  stopAtReturn: number | null;
}

export const DEFAULTS: TrainConfig = {
  algo: 'ppo',
  env: 'minatar/breakout',
  seed: 0,
  totalSteps: 10_000_000,
  numEnvs: 8,
  numSteps: 256,
  minibatchSize: 64,
  updateEpochs: 4,
  lr: 1e-4,
  annealLr: true,
  gamma: 0.99,
  gaeLambda: 0.95,
  normAdv: true,
  clipCoef: 0.2,
  clipVloss: true,
  vfCoef: 0.5,
  entCoef: 0.01,
  maxGradNorm: 0.5,
  adamEps: 1e-5,
  targetKl: null,
  torso: 'auto',
  mlpHidden: [64, 64],
  alphaCoop: 0.7,
  lambdaC: 1e-4,
  leaderObjective: 'alg1',
  leaderLr: null,
  frameStack: 4,
  attnDim: 32,
  logEvery: 2048,
  checkpointEvery: 0,
  stopAtReturn: null,
};

/**
 * Named presets: `paper` is the SPRIG table; the others are tuned for this 2-core machine
 * (CI learning tests, the demo, docs/results.md) and say so in their names.
 */
export const PRESETS: Record<string, Partial<TrainConfig>> = {
  paper: {},
  // CartPole to 475 in CI: many envs, big lr, few large minibatches.
  'cartpole-fast': {
    env: 'cartpole', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 6, lr: 3e-3,
    annealLr: false, entCoef: 0, gamma: 0.99, totalSteps: 200_000, stopAtReturn: 475, logEvery: 1024,
  },
  // MinAtar within minutes on this machine (docs/results.md): the paper's γ, λ, clip, value and
  // entropy coefficients and grad clipping, with bigger minibatches, fewer epochs, a bigger lr,
  // and SPRIG's frame stack cut to 2 (its perception dominates the cost).
  'minatar-fast': { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3, frameStack: 2, logEvery: 1024 },
};

export function resolveConfig(...layers: Array<Partial<TrainConfig> | undefined>): TrainConfig {
  const cfg: TrainConfig = { ...DEFAULTS };
  for (const l of layers) {
    if (!l) continue;
    for (const [k, v] of Object.entries(l)) {
      if (v === undefined) continue;
      if (!(k in DEFAULTS) && k !== 'preset') throw new Error(`unknown config key '${k}' (known: ${Object.keys(DEFAULTS).join(', ')})`);
      (cfg as unknown as Record<string, unknown>)[k] = v;
    }
  }
  validate(cfg);
  return cfg;
}

export function validate(c: TrainConfig) {
  const batch = c.numEnvs * c.numSteps;
  if (batch % c.minibatchSize !== 0) throw new Error(`rollout size ${batch} (numEnvs ${c.numEnvs} × numSteps ${c.numSteps}) is not a multiple of minibatchSize ${c.minibatchSize}`);
  if (!['ppo', 'sprig'].includes(c.algo)) throw new Error(`algo must be ppo or sprig, got ${c.algo}`);
  if (!['alg1', 'eq8'].includes(c.leaderObjective)) throw new Error(`leaderObjective must be alg1 or eq8, got ${c.leaderObjective}`);
}

/** Parses a CLI string into the type of the default value of `key`. */
export function parseValue(key: keyof TrainConfig, s: string): unknown {
  const d = DEFAULTS[key];
  if (typeof d === 'number' || (d === null && key !== 'preset')) {
    if (s === 'null') return null;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new Error(`--${key} expects a number, got '${s}'`);
    return n;
  }
  if (typeof d === 'boolean') return s === 'true' || s === '1';
  if (Array.isArray(d)) return s.split(',').map(Number);
  return s;
}
