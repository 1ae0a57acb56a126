// Environments that step on the GPU (docs/envs.md § On the GPU).
export { GpuVecEnv, sumEpisodeStats, episodesOfLog, type GpuEnvDef, type GpuVecEnvOptions, type GpuStepResult, type GpuEpisodeStats, type GpuVecEnvState } from './vec.ts';
export { GPU_ENVS, GPU_ENV_IDS, makeGpuEnv, cartpoleGpu, pendulumGpu, mdpGpu } from './envs.ts';
export { GpuCartPole } from './cartpole.ts';
export { asterixGpu, seaquestGpu, spaceInvadersGpu, SEAQUEST_GPU_CAPS, type MinAtarGpuOptions } from './minatar.ts';
