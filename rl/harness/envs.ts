// Env construction for the harness (rl/envs' makeEnv), the EnvSpec an algorithm sees, frame
// stacking, and the random-policy baseline the demo and the learning tests compare against.

import { Rng } from '../../engine/nn/rng.ts';
import { makeEnv, preloadEnv } from '../envs/index.ts';

export { preloadEnv };
import type { VecEnv } from '../envs/vec.ts';
import type { EnvSpec } from './types.ts';

export interface EnvOptions {
  numEnvs: number;
  seed: number;
  preset?: string | null;
  maxEpisodeSteps?: number;
}

/** A batch of envs (MuJoCo ids need `await preloadEnv(id)` first; runSeed and the CLI do that). */
export function createEnv(id: string, o: EnvOptions): VecEnv {
  const opts: Record<string, unknown> = { numEnvs: o.numEnvs, seed: o.seed };
  if (o.preset && id.startsWith('minatar/')) opts.preset = o.preset;
  if (o.maxEpisodeSteps !== undefined) opts.maxEpisodeSteps = o.maxEpisodeSteps;
  return makeEnv(id, opts) as VecEnv;
}

export function envSpecOf(env: VecEnv): EnvSpec {
  const sp = env.observationSpace;
  if (sp.kind !== 'box') throw new Error(`${env.id}: observations must be a box, got ${sp.kind}`);
  const a = env.actionSpace;
  return {
    id: env.id,
    obsShape: sp.shape.slice(),
    obsSize: env.obsSize,
    actionSpace: a,
    actionDim: a.kind === 'discrete' ? 1 : a.shape.reduce((x, y) => x * y, 1),
    numEnvs: env.numEnvs,
  };
}

/**
 * Keeps the last K frames of every env; K = 1 is the identity. Stacked layout per env:
 * [K, ...frame], oldest first. A new episode starts from zeros with its first frame last.
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

/**
 * Returns of the first `episodes` episodes of a uniformly random policy (16 envs in a batch):
 * the baseline the demo and the learning tests compare trained agents against.
 */
export function randomPolicyReturns(id: string, o: { preset?: string | null; episodes: number; envSeed: number; policySeed: number }): number[] {
  const e = createEnv(id, { numEnvs: 16, seed: o.envSeed, preset: o.preset });
  if (e.actionSpace.kind !== 'discrete') throw new Error(`${id}: a random discrete policy needs a discrete action space`);
  const n = e.actionSpace.n;
  const rng = new Rng(o.policySeed);
  const a = new Int32Array(16);
  e.reset();
  const rets: number[] = [];
  while (rets.length < o.episodes) {
    for (let i = 0; i < 16; i++) a[i] = rng.int(n);
    e.step(a);
    for (const ep of e.completedEpisodes()) rets.push(ep.return);
  }
  return rets.slice(0, o.episodes);
}

/** Trainer.evaluate's env seed: the run seed plus this (evaluation envs never share the training envs' stream). */
export const EVAL_SEED_OFFSET = 100_003;

/**
 * The env batch of a greedy evaluation (Trainer.evaluate): min(episodes, 16) envs seeded with
 * `seed`, and a step cap where the env has none (MinAtar's paper preset), so a stuck greedy policy
 * ends. Not reset: the caller resets it with `seed`.
 */
export function createEvalEnv(id: string, o: { episodes: number; seed: number; preset?: string | null }): VecEnv {
  const n = Math.min(o.episodes, 16);
  const env = createEnv(id, { numEnvs: n, seed: o.seed, preset: o.preset });
  return env.maxEpisodeSteps ? env : createEnv(id, { numEnvs: n, seed: o.seed, preset: o.preset, maxEpisodeSteps: 27_000 });
}

/**
 * Steps `env` (each call of `step` advances the whole batch once) until `episodes` episodes have
 * finished, spread evenly over the envs (each env contributes its first episodes up to its share),
 * so short episodes are not over-represented. Returns and lengths in finishing order.
 */
export async function collectEvalEpisodes(env: VecEnv, episodes: number, step: () => unknown): Promise<{ returns: number[]; lengths: number[] }> {
  const n = env.numEnvs;
  const quota = Array.from({ length: n }, (_, i) => Math.floor(episodes / n) + (i < episodes % n ? 1 : 0));
  const done = new Array(n).fill(0);
  const returns: number[] = [], lengths: number[] = [];
  while (returns.length < episodes) {
    await step();
    for (const ep of env.completedEpisodes()) {
      if (done[ep.envIndex] < quota[ep.envIndex]) {
        done[ep.envIndex]++;
        returns.push(ep.return);
        lengths.push(ep.length);
      }
    }
  }
  return { returns, lengths };
}
