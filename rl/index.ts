// Package entry `stackelberg-gpu/rl`: the environments (CartPole, Pendulum, the five MinAtar
// games, the 3-state MDP). The training CLI (rl/cli.ts) and the demo are commands, not exports.
export * from './envs/index.ts';
