// Env construction for the trainers (rl/envs' makeEnv), with the observation shape the
// networks want: [H, W, C] for MinAtar grids (channels last, as the envs write them), flat otherwise.

import { makeEnv } from '../envs/index.ts';
import type { VecEnv } from '../envs/vec.ts';
import { Rng } from './rng.ts';

export interface EnvOptions {
  numEnvs: number;
  seed: number;
  preset?: string;
}

export function createEnv(id: string, o: EnvOptions): VecEnv {
  const opts: Record<string, unknown> = { numEnvs: o.numEnvs, seed: o.seed };
  if (o.preset && id.startsWith('minatar/')) opts.preset = o.preset;
  return makeEnv(id, opts) as VecEnv;
}

export function obsShapeOf(env: VecEnv): number[] {
  const sp = env.observationSpace;
  if (sp.kind !== 'box') throw new Error(`${env.id}: observations must be a box, got ${sp.kind}`);
  return sp.shape;
}

/**
 * Returns of the first `episodes` episodes of a uniformly random policy (16 envs in a batch):
 * the baseline the demo and the learning tests compare trained agents against.
 */
export function randomPolicyReturns(id: string, o: { preset?: string; episodes: number; envSeed: number; policySeed: number }): number[] {
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
