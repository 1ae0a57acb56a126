// Package entry `stackelberg-gpu/rl`: the environments (CartPole, Pendulum, the five MinAtar
// games, the 3-state MDP, the MuJoCo tasks), the algorithm registry (each algorithm module loads
// on first use) and the run harness as the `harness` namespace (its loop, configs, checkpoints
// through a Storage interface; NodeStorage, the one file-system implementation, stays out).
// The training CLI (rl/cli.ts) and the demo are commands, not exports.
export * from './envs/index.ts';
export { ALGORITHMS, ALGORITHM_NAMES, algorithmList, getAlgorithm, type AlgorithmEntry } from './registry.ts';
export * as harness from './harness/index.ts';
