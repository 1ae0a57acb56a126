// Tuning tables: adapter classification, shape classes, autotune's choice/caching logic (with a
// fake timer), and that every default and candidate tile compiles and computes the same result.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';

beforeAll(async () => {
  await E.init();
});

describe('tuning tables', () => {
  it('classifies adapters', () => {
    expect(E.classifyAdapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25' })).toBe('lavapipe');
    expect(E.classifyAdapter({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H100' })).toBe('nvidia');
    expect(E.classifyAdapter({ vendor: 'apple', architecture: 'metal-3', device: '', description: '' })).toBe('other');
  });

  it('autotuneWith picks the fastest candidate, pins it and caches it per adapter', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tune-')), 'tiles.json');
    const cost = (t: E.AttentionTile) => Math.abs(t.BK - 8) + t.WG / 1000;
    let calls = 0;
    const timer = async (_f: E.KernelFamily, tile: any) => {
      calls++;
      return cost(tile);
    };
    const r = await E.autotuneWith('fake adapter', timer, { families: ['attention'], file, repeats: 1 });
    expect(r.fromCache).toBe(false);
    const k = `${E.getAdapterClass()}/attention/large`;
    expect(r.chosen[k]).toEqual({ BK: 8, WG: 64 });
    expect(E.tileFor('attention', E.TUNE_SHAPES.attention.large!)).toEqual({ BK: 8, WG: 64 });
    expect(JSON.parse(readFileSync(file, 'utf8'))['fake adapter'][k]).toEqual({ BK: 8, WG: 64 });
    const before = calls;
    const again = await E.autotuneWith('fake adapter', timer, { families: ['attention'], file });
    expect(again.fromCache).toBe(true);
    expect(calls).toBe(before);
    E.clearTiles();
  });

  it('every candidate tile of linear and conv computes the same result', async () => {
    const rng = R.rng(1);
    const x = R.nd([9, 12], Float32Array.from(rng.ndNormal([9, 12]).data)), w = R.nd([7, 12], Float32Array.from(rng.ndNormal([7, 12]).data));
    const X = E.tensor(Float32Array.from(x.data), x.shape), W = E.tensor(Float32Array.from(w.data), w.shape);
    const ref = R.matmul(x, R.transpose(w));
    const dims = { M: 9, N: 7, K: 12 };
    for (const t of E.CANDIDATES.linear) {
      E.setTile('linear', E.shapeClass(dims), t);
      R.assertClose(await E.linear(X, W).data(), ref, { rtol: 1e-4, atol: 1e-4, label: JSON.stringify(t) });
    }
    const xc = E.rand([2, 7, 7, 3], -1, 1, { seed: 1 }), wc = E.rand([5, 3, 3, 3], -1, 1, { seed: 2 }), g = E.rand([2, 3, 3, 5], -1, 1, { seed: 3 });
    const cdims = { M: 18, N: 5, K: 27 };
    const base = await E.readAll([E.conv2d(xc, wc, null, { stride: 2 }), E.conv2dBackInput(g, wc, xc.shape, [2, 2], [0, 0]), E.conv2dBackWeight(xc, g, wc.shape, [2, 2], [0, 0])]);
    for (const fam of ['conv', 'convBackInput', 'convBackWeight'] as const) {
      for (const t of E.CANDIDATES[fam]) {
        E.setTile(fam, E.shapeClass(cdims), t);
        const out = fam === 'conv' ? E.conv2d(xc, wc, null, { stride: 2 }) : fam === 'convBackInput' ? E.conv2dBackInput(g, wc, xc.shape, [2, 2], [0, 0]) : E.conv2dBackWeight(xc, g, wc.shape, [2, 2], [0, 0]);
        R.assertClose(await out.data(), base[fam === 'conv' ? 0 : fam === 'convBackInput' ? 1 : 2], { rtol: 1e-5, atol: 1e-5, label: `${fam} ${JSON.stringify(t)}` });
      }
    }
    E.clearTiles();
  });
});
