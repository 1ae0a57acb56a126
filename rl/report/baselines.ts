// Score normalisation for aggregate reports: normalised = (score − random) / (reference − random),
// so 0 is a uniformly random policy and 1 the reference agent. The random-policy score is
// measured here (mean return of 100 episodes, fixed seeds) for the env and preset the runs used;
// the reference score is a published number per game, listed below with its source, or one the
// user supplies (`--baselines file.json`). Every report states the table it used.

import * as fs from 'node:fs';
import { makeEnv, preloadEnv } from '../envs/index.ts';
import { randomPolicyReturns } from '../harness/envs.ts';
import { SeededRandom } from './stats.ts';

export interface Baseline {
  /** Mean return of a uniformly random policy. */
  random: number;
  /** Mean return of the reference agent. */
  reference: number;
  /** Where each number comes from. */
  randomSource: string;
  referenceSource: string;
}

/**
 * Published reference scores by env id. MinAtar: the MinAtar paper's DQN after 5M frames
 * (Young & Tian 2019, values read off the published learning curves, docs/spec/minatar.md § Reference numbers);
 * used for both env presets. CartPole-v1: the maximum return (500 steps).
 */
export const REFERENCE_SCORES: Record<string, { score: number; source: string }> = {
  'minatar/breakout': { score: 10, source: 'MinAtar paper DQN, 5M frames (read off the plot)' },
  'minatar/asterix': { score: 17, source: 'MinAtar paper DQN, 5M frames (read off the plot)' },
  'minatar/freeway': { score: 50, source: 'MinAtar paper DQN, 5M frames (read off the plot)' },
  'minatar/seaquest': { score: 20, source: 'MinAtar paper DQN, 5M frames (read off the plot)' },
  'minatar/space_invaders': { score: 43, source: 'MinAtar paper DQN, 5M frames (read off the plot)' },
  cartpole: { score: 500, source: 'CartPole-v1 maximum return (500 steps)' },
};

export const RANDOM_EPISODES = 100;
const ENV_SEED = 1, POLICY_SEED = 2;

/** A task key: env id, and the env preset when there is one ("minatar/breakout@gymnax"). */
export function taskKey(env: string, preset?: string | null): string {
  return preset ? `${env}@${preset}` : env;
}

/**
 * Mean return of a uniformly random policy (discrete: uniform action; box: uniform in the bounds,
 * ±1 where unbounded). Synchronous: an env whose code loads asynchronously (mujoco/*: MuJoCo's
 * WebAssembly module) needs `await preloadEnv(env)` first, or use `measureRandomScoreAsync` /
 * `baselineForAsync`, which do it.
 */
export function measureRandomScore(env: string, preset?: string | null, episodes = RANDOM_EPISODES): number {
  let probe;
  try {
    probe = makeEnv(env, { numEnvs: 1, seed: ENV_SEED });
  } catch (e) {
    throw new Error(`random-policy score for '${env}': ${(e as Error).message}`);
  }
  if (probe.actionSpace.kind === 'discrete') {
    const r = randomPolicyReturns(env, { preset: preset ?? undefined, episodes, envSeed: ENV_SEED, policySeed: POLICY_SEED });
    return r.reduce((a, b) => a + b, 0) / r.length;
  }
  const sp = probe.actionSpace;
  const n = 8, size = sp.shape.reduce((a, b) => a * b, 1);
  const opts: Record<string, unknown> = { numEnvs: n, seed: ENV_SEED };
  if (preset) opts.preset = preset;
  const e = makeEnv(env, opts);
  const rng = new SeededRandom(POLICY_SEED);
  const a = new Float32Array(n * size);
  const lo = sp.low.map((v) => (Number.isFinite(v) ? v : -1)), hi = sp.high.map((v) => (Number.isFinite(v) ? v : 1));
  e.reset();
  const rets: number[] = [];
  while (rets.length < episodes) {
    for (let i = 0; i < n; i++) for (let j = 0; j < size; j++) a[i * size + j] = lo[j] + (hi[j] - lo[j]) * rng.next();
    e.step(a);
    for (const ep of e.completedEpisodes()) rets.push(ep.return);
  }
  return rets.slice(0, episodes).reduce((s, v) => s + v, 0) / episodes;
}

/** measureRandomScore after loading what the env needs (MuJoCo's WebAssembly module for mujoco/*). */
export async function measureRandomScoreAsync(env: string, preset?: string | null, episodes = RANDOM_EPISODES): Promise<number> {
  await preloadEnv(env);
  return measureRandomScore(env, preset, episodes);
}

/** A user's baselines file: { "<env>" or "<env>@<preset>": { "random"?: number, "reference"?: number } }. */
export function readBaselinesFile(file: string): Record<string, { random?: number; reference?: number }> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--baselines ${file}: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`--baselines ${file}: expected an object keyed by env id ("minatar/breakout" or "minatar/breakout@gymnax")`);
  const out: Record<string, { random?: number; reference?: number }> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!v || typeof v !== 'object') throw new Error(`--baselines ${file}: '${k}' must be an object like { "random": 0.4, "reference": 10 }`);
    for (const [f, x] of Object.entries(v as Record<string, unknown>)) {
      if (f !== 'random' && f !== 'reference') throw new Error(`--baselines ${file}: '${k}.${f}' is not a field (valid: random, reference)`);
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`--baselines ${file}: '${k}.${f}' must be a finite number, got ${JSON.stringify(x)}`);
    }
    out[k] = v as { random?: number; reference?: number };
  }
  return out;
}

/**
 * baselineFor for any env: loads what the env needs first (mujoco/*: MuJoCo's WebAssembly
 * module), and only when a random score has to be measured (a reference is known and the user
 * gave no random score). The report uses this one.
 */
export async function baselineForAsync(env: string, preset: string | null | undefined, user: Record<string, { random?: number; reference?: number }> = {}, cache = new Map<string, number>()): Promise<Baseline | null> {
  const u = user[taskKey(env, preset)] ?? user[env] ?? {};
  const refKnown = u.reference ?? REFERENCE_SCORES[env]?.score;
  if (refKnown !== undefined && u.random === undefined && !cache.has(taskKey(env, preset))) await preloadEnv(env);
  return baselineFor(env, preset, user, cache);
}

/**
 * The baseline of a task (synchronous: see measureRandomScore for envs that load asynchronously): user values win (by "env@preset", then "env"), then the published
 * reference and a measured random score. Returns null when no reference score is known.
 */
export function baselineFor(env: string, preset: string | null | undefined, user: Record<string, { random?: number; reference?: number }> = {}, cache = new Map<string, number>()): Baseline | null {
  const u = user[taskKey(env, preset)] ?? user[env] ?? {};
  const refKnown = u.reference ?? REFERENCE_SCORES[env]?.score;
  if (refKnown === undefined) return null;
  let random = u.random, randomSource = 'baselines file';
  if (random === undefined) {
    const k = taskKey(env, preset);
    if (!cache.has(k)) cache.set(k, measureRandomScore(env, preset));
    random = cache.get(k)!;
    randomSource = `measured: uniform random policy, mean of ${RANDOM_EPISODES} episodes (env seed ${ENV_SEED}, policy seed ${POLICY_SEED})`;
  }
  return {
    random,
    reference: refKnown,
    randomSource,
    referenceSource: u.reference !== undefined ? 'baselines file' : REFERENCE_SCORES[env].source,
  };
}
