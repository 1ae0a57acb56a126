// Env construction for the trainers (rl/envs' makeEnv), with the observation shape the
// networks want: [H, W, C] for MinAtar grids (channels last, as the envs write them), flat otherwise.

import { makeEnv } from '../envs/index.ts';
import type { VecEnv } from '../envs/vec.ts';

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
