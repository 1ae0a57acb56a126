// CartPole-v1 on the GPU: the generic GPU batch (vec.ts) with CartPole's rules (envs.ts).
import { cartpoleGpu } from './envs.ts';
import { GpuVecEnv, type GpuVecEnvOptions } from './vec.ts';

export type { GpuStepResult, GpuEpisodeStats, GpuVecEnvState as GpuCartPoleState } from './vec.ts';

/** A batch of CartPole-v1 envs whose whole state stays on the GPU. */
export class GpuCartPole extends GpuVecEnv {
  constructor(o: GpuVecEnvOptions) {
    super(cartpoleGpu, o);
  }
}
