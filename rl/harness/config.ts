// Typed run configurations: an algorithm declares its config as one object of defaults (the
// papers' values), named presets, and a schema for the keys whose type the defaults cannot
// tell (integers, bounds, choices, nullable numbers). Layers (preset, config file, flags,
// --set) resolve onto the defaults; every key and value is checked with the layer named:
// an unknown key is an error naming the nearest valid key, a string where a number belongs is
// an error naming the key and the type.

import { GPU_ENV_IDS } from '../envs/gpu/envs.ts';
import { ENV_IDS } from '../envs/index.ts';
export type KeySpec =
  | { type: 'int'; min?: number; max?: number; nullable?: boolean; doc?: string }
  | { type: 'number'; min?: number; max?: number; positive?: boolean; nullable?: boolean; doc?: string }
  | { type: 'bool'; doc?: string }
  | { type: 'string'; choices?: readonly string[]; nullable?: boolean; doc?: string }
  | { type: 'numbers'; int?: boolean; min?: number; minLength?: number; doc?: string };

export type Schema<C> = { [K in keyof C]?: KeySpec };

/** Keys every run has, whatever the algorithm (the harness reads them). */
export interface RunConfig {
  /** Registry name of the algorithm. */
  algo: string;
  /** Env id (cartpole, pendulum, mdp, minatar/breakout, ...). */
  env: string;
  /** Env preset passed to makeEnv (MinAtar: 'paper' | 'gymnax'); null = the env's default. */
  preset: string | null;
  seed: number;
  /** Env steps to train (all envs together). */
  totalSteps: number;
  numEnvs: number;
  /** Env steps between train log lines (rounded up to whole iterations). */
  logEvery: number;
  /** Env steps between checkpoints; 0 = only at the end. */
  checkpointEvery: number;
  /** Env steps between evaluations (greedy/deterministic policy, own log lines); 0 = never. */
  evalEvery: number;
  /** Episodes per evaluation. */
  evalEpisodes: number;
  /** Stop once the mean of the last 20 training episode returns reaches this (null = never). */
  stopAtReturn: number | null;
}

/** On-policy loops (vector rollouts + GAE). */
export interface OnPolicyConfig extends RunConfig {
  /** Vector steps per rollout; rollout size = numEnvs × numSteps. */
  numSteps: number;
  gamma: number;
  gaeLambda: number;
  /**
   * Where rollouts step the env: 'cpu' (rl/envs, one readback per vector step), 'gpu'
   * (rl/envs/gpu: actions sampled on the GPU, no readback until the rollout ends) or 'auto'
   * (the GPU env where it is measured faster for the agent and env: Trainer's autoEnvDevice).
   * Algorithms that offer it list it in their defaults.
   */
  envDevice?: 'auto' | 'cpu' | 'gpu';
}

/** Off-policy loops (replay, train frequency, warm-up). */
export interface OffPolicyConfig extends RunConfig {
  gamma: number;
  /** Env steps before the first training call (the replay fills first). */
  learningStarts: number;
  /** Vector steps between training calls. */
  trainFreq: number;
  /** Gradient updates per training call (passed to the agent). */
  gradientSteps: number;
  /** Env steps of uniformly random actions at the start (DDPG/SAC start steps; 0 = none). */
  randomSteps: number;
}

export const RUN_SCHEMA: Schema<RunConfig> = {
  algo: { type: 'string' },
  env: { type: 'string' },
  preset: { type: 'string', nullable: true },
  seed: { type: 'int', min: 0, max: 2 ** 53 - 1 },
  totalSteps: { type: 'int', min: 1 },
  numEnvs: { type: 'int', min: 1 },
  logEvery: { type: 'int', min: 1 },
  checkpointEvery: { type: 'int', min: 0 },
  evalEvery: { type: 'int', min: 0 },
  evalEpisodes: { type: 'int', min: 1 },
  stopAtReturn: { type: 'number', nullable: true },
};

export const ON_POLICY_SCHEMA: Schema<OnPolicyConfig> = {
  ...RUN_SCHEMA,
  numSteps: { type: 'int', min: 1 },
  gamma: { type: 'number', min: 0, max: 1 },
  gaeLambda: { type: 'number', min: 0, max: 1 },
  envDevice: { type: 'string', choices: ['auto', 'cpu', 'gpu'] },
};

export const OFF_POLICY_SCHEMA: Schema<OffPolicyConfig> = {
  ...RUN_SCHEMA,
  gamma: { type: 'number', min: 0, max: 1 },
  learningStarts: { type: 'int', min: 0 },
  trainFreq: { type: 'int', min: 1 },
  gradientSteps: { type: 'int', min: 1 },
  randomSteps: { type: 'int', min: 0 },
};

/** Harness defaults for the RunConfig keys (an algorithm's defaults spread them). */
export const RUN_DEFAULTS: Omit<RunConfig, 'algo'> = {
  env: 'cartpole',
  preset: null,
  seed: 0,
  totalSteps: 100_000,
  numEnvs: 8,
  logEvery: 2048,
  checkpointEvery: 0,
  evalEvery: 0,
  evalEpisodes: 10,
  stopAtReturn: null,
};

/** Common defaults of the on-policy keys (CleanRL's γ and λ; an algorithm overrides what its paper says). */
export const ON_POLICY_DEFAULTS: Pick<OnPolicyConfig, 'numSteps' | 'gamma' | 'gaeLambda'> = { numSteps: 128, gamma: 0.99, gaeLambda: 0.95 };

/** Common defaults of the off-policy keys (train every vector step from the start; an algorithm overrides). */
export const OFF_POLICY_DEFAULTS: Pick<OffPolicyConfig, 'gamma' | 'learningStarts' | 'trainFreq' | 'gradientSteps' | 'randomSteps'> = {
  gamma: 0.99, learningStarts: 0, trainFreq: 1, gradientSteps: 1, randomSteps: 0,
};

// ------------------------------------------------------------------ nearest key

/** Levenshtein distance (case-insensitive). */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** The nearest of `valid` to `name` (ignoring case, '-' and '_'), or null when nothing is close. */
export function nearest(name: string, valid: readonly string[]): string | null {
  const norm = (s: string) => s.replace(/[-_]/g, '').toLowerCase();
  let best: string | null = null, bd = Infinity;
  for (const v of valid) {
    const d = editDistance(norm(name), norm(v));
    if (d < bd) (bd = d), (best = v);
  }
  return best !== null && bd <= Math.max(2, Math.floor(name.length / 3)) ? best : null;
}

export function unknownKeyError(key: string, valid: readonly string[], where: string): Error {
  const n = nearest(key, valid);
  return new Error(`${where}: unknown config key '${key}'${n ? ` (did you mean '${n}'?)` : ''}; valid keys: ${[...valid].sort().join(', ')}`);
}

// ------------------------------------------------------------------ values

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `the list ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

/** The spec of a key: the schema's, else inferred from the default value. */
export function specOf<C>(key: string, defaults: C, schema: Schema<C>): KeySpec {
  const s = (schema as Record<string, KeySpec | undefined>)[key];
  if (s) return s;
  const d = (defaults as Record<string, unknown>)[key];
  if (typeof d === 'number') return { type: 'number' };
  if (typeof d === 'boolean') return { type: 'bool' };
  if (typeof d === 'string') return { type: 'string' };
  if (Array.isArray(d)) return { type: 'numbers' };
  return { type: 'number', nullable: true };
}

function rangeText(s: { min?: number; max?: number; positive?: boolean }) {
  const parts = [];
  if (s.positive) parts.push('> 0');
  if (s.min !== undefined) parts.push(`≥ ${s.min}`);
  if (s.max !== undefined) parts.push(`≤ ${s.max}`);
  return parts.length ? ' ' + parts.join(' and ') : '';
}

/** Checks a value against its spec; returns it (a number for number keys, ...) or throws naming key and layer. */
export function checkValue(key: string, v: unknown, s: KeySpec, where: string): unknown {
  const fail = (want: string) => new Error(`${where}: '${key}' must be ${want}, got ${describe(v)}`);
  if (v === null) {
    if ('nullable' in s && s.nullable) return null;
    throw fail(expected(s));
  }
  switch (s.type) {
    case 'int':
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw fail(expected(s));
      if (s.type === 'int' && !Number.isSafeInteger(v)) throw fail(expected(s));
      if ((s.min !== undefined && v < s.min) || (s.max !== undefined && v > s.max) || ('positive' in s && s.positive && !(v > 0))) throw fail(expected(s));
      return v;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw fail('true or false');
      return v;
    case 'string':
      if (typeof v !== 'string') throw fail(expected(s));
      if (s.choices && !s.choices.includes(v)) throw fail(expected(s));
      return v;
    case 'numbers': {
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || (s.int && !Number.isSafeInteger(x)) || (s.min !== undefined && x < s.min))) throw fail(expected(s));
      if (s.minLength !== undefined && v.length < s.minLength) throw fail(expected(s));
      return v.slice();
    }
  }
}

function expected(s: KeySpec): string {
  const nul = 'nullable' in s && s.nullable ? ' (or null)' : '';
  switch (s.type) {
    case 'int': return `an integer${rangeText(s)}${nul}`;
    case 'number': return `a finite number${rangeText(s)}${nul}`;
    case 'bool': return 'true or false';
    case 'string': return s.choices ? `one of ${s.choices.map((c) => `'${c}'`).join(', ')}${nul}` : `a string${nul}`;
    case 'numbers': return `a list of ${s.int ? 'integers' : 'finite numbers'}${s.min !== undefined ? ` ≥ ${s.min}` : ''}${s.minLength ? `, at least ${s.minLength}` : ''}`;
  }
}

/**
 * Parses a command-line string strictly into the type of `key` ('abc' for a number, '' in a
 * list, '1.5' for an integer are errors naming the flag).
 */
export function parseFlag(key: string, text: string, s: KeySpec, flag = `--${key}`): unknown {
  const t = text.trim();
  const num = (x: string, what: string) => {
    // Number('') is 0 and Number(' ') too: refuse empty strings explicitly.
    const n = x.trim() === '' ? NaN : Number(x);
    if (!Number.isFinite(n)) throw new Error(`${flag}: expected ${what}, got '${text}'`);
    return n;
  };
  if (t === 'null' && 'nullable' in s && s.nullable) return null;
  switch (s.type) {
    case 'int':
    case 'number':
      return checkValue(key, num(t, expected(s)), s, flag);
    case 'bool':
      if (['true', '1', 'yes'].includes(t)) return true;
      if (['false', '0', 'no'].includes(t)) return false;
      throw new Error(`${flag}: expected true or false, got '${text}'`);
    case 'string':
      return checkValue(key, t, s, flag);
    case 'numbers':
      return checkValue(key, t.split(',').map((x) => num(x, expected(s))), s, flag);
  }
}

/** One source of config values, named for error messages ("config file runs.json", "--set"). */
export interface ConfigLayer {
  source: string;
  values: Record<string, unknown>;
}

/**
 * Resolves layers onto `defaults` (later layers win); checks every key and value. `undefined`
 * values are skipped (an option not given).
 */
export function resolveLayers<C extends object>(defaults: C, schema: Schema<C>, layers: ConfigLayer[]): C {
  const out = { ...defaults } as Record<string, unknown>;
  const valid = Object.keys(defaults);
  for (const { source, values } of layers) {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) throw new Error(`${source}: expected an object of config keys, got ${describe(values)}`);
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) continue;
      if (!(k in defaults)) throw unknownKeyError(k, valid, source);
      out[k] = checkValue(k, v, specOf(k, defaults, schema), source);
    }
  }
  return out as C;
}

/** The keys whose values differ between two configs, as "key: old → new". */
export function configDiff(a: object, b: object): string[] {
  const ra = a as Record<string, unknown>, rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])];
  return keys.filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k])).map((k) => `${k}: ${JSON.stringify(ra[k])} → ${JSON.stringify(rb[k])}`);
}

/**
 * A run's config: the algorithm's defaults, then its per-env defaults for the env the layers
 * choose (or the default env), then the layers. Every key and value is checked.
 */
export function resolveRunConfig<C extends RunConfig>(
  algo: { defaults: C; schema: Schema<C>; envDefaults?(env: string): Partial<C>; validate?(cfg: C): void },
  layers: ConfigLayer[],
): C {
  const env = ([...layers].reverse().find((l) => l.values && typeof l.values.env === 'string')?.values.env as string | undefined) ?? algo.defaults.env;
  const perEnv = algo.envDefaults?.(env) ?? {};
  const cfg = resolveLayers(algo.defaults, algo.schema, [{ source: `env defaults for ${env}`, values: perEnv as Record<string, unknown> }, ...layers]);
  algo.validate?.(cfg);
  checkEnvDevice(cfg);
  return cfg;
}

/**
 * envDevice 'gpu' needs a GPU version of the env; checked with the config,
 * before a run directory is touched (the Trainer checks again for direct callers).
 */
function checkEnvDevice(cfg: RunConfig & { envDevice?: string }) {
  if (cfg.envDevice !== 'gpu') return;
  // An id that names no env at all is the env's error (it lists the valid ids), not this one.
  if (!ENV_IDS.includes(cfg.env)) return;
  if (!GPU_ENV_IDS.includes(cfg.env)) throw new Error(`envDevice 'gpu': ${cfg.env} has no GPU version (GPU envs: ${GPU_ENV_IDS.join(', ')}); use envDevice 'cpu'`);
}
