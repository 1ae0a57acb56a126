// WebGPU globals for the peers (tfjs-webgpu, jax-js) in Node, on the same adapter as our engine.
//
// Order matters: the engine must be initialised first (with navigator.gpu absent it takes the
// Dawn path and enables its polling throttle). Then we expose a `navigator` with Dawn's GPU,
// which tfjs-backend-webgpu (at import time) and jax-js (at init) look for.

import * as E from '../../engine/index.ts';

let gpu: GPU | null = null;

export async function installNavigator(): Promise<GPU> {
  if (gpu) return gpu;
  await E.init();
  const mod = (await import('webgpu')) as unknown as { create: (f: string[]) => GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  gpu = mod.create([]);
  const nav = { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: (await import('node:os')).cpus().length, language: 'en-US' };
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  return gpu;
}
