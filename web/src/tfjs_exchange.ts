// Example 3 of embed.html (docs/browser.md): one GPUDevice shared by this engine and
// TensorFlow.js's WebGPU backend, tensors passed through their GPUBuffers (GPU-side copies, no
// trip through the CPU). Loaded on demand: tfjs is a large bundle the other pages do not need.

import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import * as E from '../../index.ts';

export async function exchangeWithTfjs(device: GPUDevice) {
  await E.init({ device });
  // tfjs on the same device: replace the backend tfjs registered for itself (which would create
  // a second device) by one on ours; its kernels are registered under the name 'webgpu'
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(device, { vendor: '', architecture: '' } as GPUAdapterInfo), 10);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: could not set the shared WebGPU backend');
  await tf.ready();
  const shared = (tf.backend() as unknown as { device: GPUDevice }).device === device;

  // engine → tfjs: tfjs copies the engine tensor's buffer on the GPU (zeroCopy false: the engine
  // keeps ownership of its buffer; the copy starts at the buffer's first byte, so the tensor must
  // start there too)
  const a = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
  E.flush(); // the upload is queued before tfjs's copy
  const { buffer, offset } = a.buffer;
  if (offset !== 0) throw new Error(`the engine tensor lives at byte ${offset} of its buffer; tfjs reads from byte 0`);
  const ta = tf.tensor({ buffer, zeroCopy: false }, [2, 3], 'float32');
  const tb = tf.matMul(ta, ta, false, true); // a·aᵀ in tfjs: [[14, 32], [32, 77]]

  // tfjs → engine: tfjs hands out its result's buffer; the engine copies it into a tensor of its own
  const gpu = tb.dataToGPU();
  const b = E.zeros([2, 2]);
  E.flush();
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(gpu.buffer!, 0, b.buffer.buffer, b.buffer.offset, 4 * 4);
  device.queue.submit([enc.finish()]);
  gpu.tensorRef.dispose();
  const c = E.add(b, 1); // engine work on tfjs's result
  const result = Array.from(await c.data());
  E.dispose([a, b, c]);
  tf.dispose([ta, tb]);
  const live = E.memory().liveBuffers;
  tf.removeBackend('webgpu'); // disposes tfjs's buffers; the device stays ours
  E.destroy();
  return { result, live, shared };
}
