// Float64 numpy-like reference library: the ground truth the GPU tests compare against.
// Straightforward loops only; every function is meant to be checkable by reading it.
//
//   nd.ts          ND array, constructors, shape/index utilities
//   rng.ts         seeded test data (mulberry32)
//   elementwise.ts broadcasting, map/zip/where, unary and binary functions
//   reduce.ts      reductions over any axes (sum, mean, max, logsumexp, argmax, ...)
//   shape.ts       reshape, transpose, slice, concat, stack, gather, take, pad, ...
//   linalg.ts      matmul, dot, outer, solve, inv, det
//   nn.ts          softmax, conv2d, attention, layerNorm, losses, distributions
//   fd.ts          central finite differences (gradient, Jacobian, Hessian-vector, Hessian)
//   assert.ts      assertClose / relError / maxRelError for tests
export * from './nd.ts';
export * from './rng.ts';
export * from './elementwise.ts';
export * from './reduce.ts';
export * from './shape.ts';
export * from './linalg.ts';
export * from './nn.ts';
export * from './fd.ts';
export * from './assert.ts';
