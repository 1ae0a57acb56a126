// WebGPU globals for the peers (tfjs-webgpu, jax-js) in Node, on the same adapter as our engine.
//
// Order matters: the engine must be initialised first (with navigator.gpu absent it takes the
// Dawn path and enables its polling throttle). Then we expose a `navigator` with Dawn's GPU,
// which tfjs-backend-webgpu (at import time) and jax-js (at init) look for.
//
// The peer adapters also run in the browser bench page (web/src/bench.ts), where a real
// navigator.gpu exists: `peerEnvironment()` then only starts the engine. This module is in that
// bundle, so it has no static Node import (node:os comes from process.getBuiltinModule, and
// `webgpu` is replaced in the browser build by a module that throws, never reached there).

import * as E from '../../engine/index.ts';
import { nodeBuiltin } from '../../kernels/common.ts';

let gpu: GPU | null = null;

/** True in Node (Dawn); false in a browser page (whose `process`, if any, is the bench page's shim without versions). */
export function inNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

export async function installNavigator(): Promise<GPU> {
  if (gpu) return gpu;
  await E.init();
  const mod = (await import('webgpu')) as unknown as { create: (f: string[]) => GPU; globals: Record<string, unknown> };
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  gpu = mod.create([]);
  const os = nodeBuiltin<typeof import('node:os')>('node:os');
  const nav = { gpu, userAgent: `Node.js/${process.versions.node}`, hardwareConcurrency: os?.cpus().length ?? 1, language: 'en-US' };
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  return gpu;
}

/** What a peer needs before it loads: in Node the engine on Dawn and a navigator shim; in a browser the engine on navigator.gpu. */
export async function peerEnvironment(): Promise<void> {
  if (inNode()) await installNavigator();
  else await E.init();
}

/** A package's version in Node (its package.json through createRequire); null in a browser. */
export function nodePackageVersion(pkg: string, from: string): string | null {
  const mod = nodeBuiltin<typeof import('node:module')>('node:module');
  if (!mod) return null;
  const require = mod.createRequire(from);
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    // a package whose "exports" hide package.json: walk up from its entry point
    const fs = nodeBuiltin<typeof import('node:fs')>('node:fs');
    const path = nodeBuiltin<typeof import('node:path')>('node:path');
    if (!fs || !path) return null;
    let dir = path.dirname(require.resolve(pkg));
    for (let i = 0; i < 4; i++, dir = path.dirname(dir)) {
      const p = path.join(dir, 'package.json');
      if (fs.existsSync(p)) {
        const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version: string };
        if (j.name === pkg) return j.version;
      }
    }
    return null;
  }
}
