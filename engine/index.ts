// The engine's public API: tensors, ops, memory, autodiff.
import './methods.ts';

export {
  Tensor, init, destroy, runtime, scope, keep, dispose, noGrad, readAll, shapeSize, captureCreated,
  type Shape, type InitOptions, type GradNode,
} from './tensor.ts';
export * from './ops.ts';
export { grad, valueAndGrad, vjp, jvp, hvp, hvpReverse, innerProduct, flattenTree, type Tree } from './autodiff.ts';
export { Runtime, f32bits, type Counters, type KernelSpec } from './runtime.ts';
export { setPollingMode, getPollingMode, NO_ADAPTER_HELP, type PollingMode } from './device.ts';

import { runtime } from './tensor.ts';
/** Dispatch/submit/readback counters of the current runtime (benchmarks and tests read them). */
export function counters() {
  return { ...runtime().counters };
}
/** Live GPU buffers and bytes held by tensors (the pool's free buffers are not counted). */
export function memory() {
  const rt = runtime();
  return { liveBuffers: rt.liveBuffers, liveBytes: rt.liveBytes, pooledBytes: rt.pooledBytes };
}
/** Submits all encoded work now. */
export function flush() {
  runtime().flush();
}
/** Waits until the GPU has finished all submitted work. */
export async function sync() {
  await runtime().sync();
}
export * from './nn/index.ts';
export * from './solvers.ts';
export * from './safetensors.ts';
