// Package entry: the engine (tensors, ops, autodiff, nn, solvers).
export * from './engine/index.ts';
