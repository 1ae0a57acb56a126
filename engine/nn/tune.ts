// autotune(): times the candidate tiles of each kernel family on this adapter (wall clock over
// flushed batches of back-to-back runs) and pins the fastest per shape class; the choice is
// cached in memory and in a JSON file (default ~/.cache/stackelberg-gpu/tiles.json) keyed by the
// adapter's description plus, for software adapters, the host CPU (kernels/tune.ts tuneKey).
// ensureTuned(): the cached choice if this adapter and host have one, else a tuning run.

import { runtime, scope, dispose, type Tensor } from '../tensor.ts';
import { vjp, jvp } from '../autodiff.ts';
import * as O from '../ops.ts';
import {
  autotuneWith, setTile, shapeClass, tuneKey, describeAdapter, type AutotuneOptions, type TuneResult, type KernelFamily, type AnyTile, type ShapeDims,
} from '../../kernels/tune.ts';
import { linear } from './functional.ts';
import { conv2d, conv2dBackInput, conv2dBackWeight } from './conv.ts';
import { attention } from './attention.ts';

async function timeRuns(run: () => unknown, minMs = 30): Promise<number> {
  const rt = runtime();
  dispose(scope(run));
  await rt.sync();
  let iters = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) dispose(scope(run));
    await rt.sync();
    const ms = performance.now() - t0;
    if (ms >= minMs || iters >= 256) return ms / iters;
    iters *= 4;
  }
}

export async function autotune(opts: AutotuneOptions = {}): Promise<TuneResult> {
  const rt = runtime();
  const adapter = tuneKey(describeAdapter(rt.info.adapterInfo), rt.info.adapterInfo);
  const time = async (family: KernelFamily, tile: AnyTile, d: ShapeDims): Promise<number> => {
    const cls = shapeClass(d);
    const held: unknown[] = [];
    const mk = (shape: number[], seed: number) => {
      const t = O.rand(shape, -1, 1, { seed });
      held.push(t);
      return t;
    };
    try {
      setTile(family, cls, tile);
      if (family === 'matmul') {
        const a = mk([d.M!, d.K!], 1), b = mk([d.K!, d.N!], 2);
        return await timeRuns(() => O.matmul(a, b));
      }
      if (family === 'linear') {
        const x = mk([d.M!, d.K!], 1), w = mk([d.N!, d.K!], 2), b = mk([d.N!], 3);
        return await timeRuns(() => linear(x, w, b, 'relu'));
      }
      if (family === 'linearDual') {
        const x = mk([d.M!, d.K!], 1), w = mk([d.N!, d.K!], 2), b = mk([d.N!], 3), tx = mk([d.M!, d.K!], 4), tw = mk([d.N!, d.K!], 5);
        return await timeRuns(() => jvp((u: Tensor, v: Tensor) => linear(u, v, b, 'relu'), [x, w], [tx, tw]));
      }
      if (family === 'attention' || family === 'attentionBackward') {
        const sh = [d.b!, d.heads!, d.M!, d.d!];
        const q = mk(sh, 1), k = mk(sh, 2), v = mk(sh, 3);
        if (family === 'attention') return await timeRuns(() => attention(q, k, v));
        const g = mk(sh, 4);
        return await timeRuns(() => {
          const [o, back] = vjp((a: Tensor, b: Tensor, c: Tensor) => attention(a, b, c), q, k, v);
          const gs = back(g);
          back.dispose();
          return [o, gs];
        });
      }
      const oh = Math.floor((d.h! - d.k!) / d.s!) + 1;
      const x = mk([d.n!, d.h!, d.h!, d.c!], 1), w = mk([d.o!, d.k!, d.k!, d.c!], 2), g = mk([d.n!, oh, oh, d.o!], 3);
      const st: [number, number] = [d.s!, d.s!];
      if (family === 'conv') return await timeRuns(() => conv2d(x, w, null, { stride: d.s }));
      if (family === 'convBackInput') return await timeRuns(() => conv2dBackInput(g, w, x.shape, st, [0, 0]));
      return await timeRuns(() => conv2dBackWeight(x, g, w.shape, st, [0, 0]));
    } finally {
      dispose(held);
    }
  };
  return autotuneWith(adapter, time, opts);
}

/**
 * The tiles for this adapter on this host: read from the cache when it has them (instant), else
 * tuned now (about a minute on lavapipe; once per adapter and host) and cached.
 */
export async function ensureTuned(opts: AutotuneOptions = {}): Promise<TuneResult> {
  return autotune({ ...opts, force: false });
}
