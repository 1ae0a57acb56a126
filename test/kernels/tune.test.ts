// Tuning tables: adapter classification, shape classes, autotune's choice/caching logic (with a
// fake timer), and that every default and candidate tile compiles and computes the same result.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
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

  it('autotuneWith times only the families the cache lacks (unless forced) and keeps the others', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tune-')), 'tiles.json');
    const timed = new Set<string>();
    const timer = async (f: E.KernelFamily, tile: any) => {
      timed.add(f);
      return tile.BK + tile.WG / 1000;
    };
    await E.autotuneWith('fake adapter', timer, { families: ['attention'], file, repeats: 1 });
    timed.clear();
    const r = await E.autotuneWith('fake adapter', timer, { families: ['attention', 'attentionBackward'], file, repeats: 1 });
    expect([...timed]).toEqual(['attentionBackward']);
    const saved = JSON.parse(readFileSync(file, 'utf8'))['fake adapter'];
    // one entry per (family, tuned shape class): both families tune a medium and a large shape
    expect(Object.keys(saved).map((k) => k.split('/').slice(1).join('/')).sort()).toEqual(['attention/large', 'attention/medium', 'attentionBackward/large', 'attentionBackward/medium']);
    expect(r.fromCache).toBe(false);
    timed.clear();
    await E.autotuneWith('fake adapter', timer, { families: ['attention', 'attentionBackward'], file, repeats: 1, force: true });
    expect([...timed].sort()).toEqual(['attention', 'attentionBackward']);
    E.clearTiles();
  });

  it('autotuneWith keeps the default tile unless a candidate beats it clearly, judging each by its fastest repeat', async () => {
    const def = E.DEFAULT_TABLES[E.getAdapterClass()].attention.large as E.AttentionTile;
    const same = (a: E.AttentionTile, b: E.AttentionTile) => JSON.stringify(a) === JSON.stringify(b);
    const k = `${E.getAdapterClass()}/attention/large`;
    // every other candidate 10 ms; `rival` `gain` faster than the default, whose repeats also
    // include load spikes (a median would rank it behind the rival; its fastest repeat does not)
    const tune = async (gain: number) => {
      const rival = E.CANDIDATES.attention.find((t) => !same(t as E.AttentionTile, def)) as E.AttentionTile;
      let n = 0;
      const timer = async (_f: E.KernelFamily, tile: any) => {
        if (same(tile, def)) return n++ % 3 === 0 ? 5 : 50;
        return same(tile, rival) ? 5 * (1 - gain) : 10;
      };
      const r = await E.autotuneWith('fake adapter', timer, { families: ['attention'], file: false, repeats: 3 });
      return { chosen: r.chosen[k], rival };
    };
    expect((await tune(0.03)).chosen).toEqual(def);
    const clear = await tune(0.2);
    expect(clear.chosen).toEqual(clear.rival);
    // one lucky repeat: the rival's fastest run is 5× the default's, but it loses the other rounds
    let m = 0;
    const lucky = await E.autotuneWith('fake adapter', async (_f, tile: any) => {
      if (same(tile, def)) return 5;
      return same(tile, clear.rival) ? (m++ === 0 ? 1 : 20) : 10;
    }, { families: ['attention'], file: false, repeats: 3 });
    expect(lucky.chosen[k]).toEqual(def);
    // the lucky tile fails the sign test, but a second tile 30 % faster than the default in every
    // round passes it: that one is chosen, not the default
    const steady = E.CANDIDATES.attention.find((t) => !same(t as E.AttentionTile, def) && !same(t as E.AttentionTile, clear.rival)) as E.AttentionTile;
    m = 0;
    const second = await E.autotuneWith('fake adapter', async (_f, tile: any) => {
      if (same(tile, def)) return 10;
      if (same(tile, clear.rival)) return m++ === 0 ? 1 : 20;
      return same(tile, steady) ? 7 : 12;
    }, { families: ['attention'], file: false, repeats: 3 });
    expect(second.chosen[k]).toEqual(steady);
    // and with the steady tile only 3 % faster, the default stays
    m = 0;
    const near = await E.autotuneWith('fake adapter', async (_f, tile: any) => {
      if (same(tile, def)) return 10;
      if (same(tile, clear.rival)) return m++ === 0 ? 1 : 20;
      return same(tile, steady) ? 9.7 : 12;
    }, { families: ['attention'], file: false, repeats: 3 });
    expect(near.chosen[k]).toEqual(def);
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

  it('every matmul candidate tile computes the float64 product (ragged and exact shapes, batched)', async () => {
    const rng = R.rng(2);
    const a = R.nd([3, 37, 20], Float32Array.from(rng.ndNormal([3, 37, 20]).data)), b = R.nd([3, 20, 44], Float32Array.from(rng.ndNormal([3, 20, 44]).data));
    const A = E.tensor(Float32Array.from(a.data), a.shape), B = E.tensor(Float32Array.from(b.data), b.shape);
    const ref = R.matmul(a, b);
    // 64 rows × 64 columns: every tile divides them, so the unclamped ("exact") kernel runs
    const a2 = R.nd([2, 64, 32], Float32Array.from(rng.ndNormal([2, 64, 32]).data)), b2 = R.nd([32, 64], Float32Array.from(rng.ndNormal([32, 64]).data));
    const A2 = E.tensor(Float32Array.from(a2.data), a2.shape), B2 = E.tensor(Float32Array.from(b2.data), b2.shape);
    const ref2 = R.matmul(a2, b2);
    for (const t of E.CANDIDATES.matmul) {
      E.setMatmulTile(t as E.MatmulTile);
      R.assertClose(await E.matmul(A, B).data(), ref, { rtol: 1e-4, atol: 1e-4, label: JSON.stringify(t) });
      // (a third of the tiles: each is one more pipeline to compile)
      if (E.CANDIDATES.matmul.indexOf(t) % 3 === 0) R.assertClose(await E.matmul(A2, B2).data(), ref2, { rtol: 1e-4, atol: 1e-4, label: `exact ${JSON.stringify(t)}` });
    }
    E.setMatmulTile(null);
    E.dispose([A, B, A2, B2]);
  }, 300_000);

  it('keys the cache by adapter and, for software adapters, by the host CPU', () => {
    const sw = { vendor: 'mesa', device: 'llvmpipe', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' };
    const key = E.tuneKey('llvmpipe (LLVM 15.0.6, 256 bits)', sw);
    expect(key).toContain(cpus()[0].model.trim());
    expect(key).toContain(`×${cpus().length}`);
    // a GPU's best tile does not follow the host CPU: its key is its own description
    expect(E.tuneKey('NVIDIA H200', { vendor: 'nvidia', description: 'NVIDIA H200' })).toBe('NVIDIA H200');
  });

  it('a corrupt tuning cache is rebuilt with a one-line note, not fatal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tune-'));
    const timer = async (_f: E.KernelFamily, tile: any) => tile.BK + tile.WG / 1000;
    for (const [i, junk] of ['{ not json', '[1, 2]', '{"a": {"lavapipe/attention/large": {"BK": -3, "WG": 64}}}'].entries()) {
      const file = join(dir, `tiles${i}.json`);
      writeFileSync(file, junk);
      const notes: string[] = [];
      const r = await E.autotuneWith('fake adapter', timer, { families: ['attention'], file, repeats: 1, log: (l) => notes.push(l) });
      expect(r.fromCache).toBe(false);
      const corrupt = notes.filter((l) => l.includes('corrupt'));
      expect(corrupt, notes.join('\n')).toHaveLength(1);
      expect(corrupt[0]).toContain(file);
      expect(corrupt[0]).not.toContain('\n');
      // rebuilt: valid JSON holding the new choice, read back from the cache next time
      const k = `${E.getAdapterClass()}/attention/large`;
      expect(JSON.parse(readFileSync(file, 'utf8'))['fake adapter'][k]).toEqual({ BK: 8, WG: 64 });
      expect((await E.autotuneWith('fake adapter', timer, { families: ['attention'], file })).fromCache).toBe(true);
    }
    E.clearTiles();
  });

  it('a tile that exceeds the adapter limits falls back to one that fits, with a one-line note', async () => {
    const lim = E.runtime().device.limits;
    const notes: string[] = [];
    E.setTuneNote((l) => notes.push(l));
    try {
      const huge = { TM: 4, TN: 8, WX: lim.maxComputeWorkgroupSizeX * 2, WY: 64 };
      expect(E.tileMisfit(huge)).toMatch(/maxCompute/);
      const fitted = E.fitTile('matmul', huge) as E.MatmulTile;
      expect(E.tileMisfit(fitted)).toBeNull();
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/does not fit this adapter/);
      // the engine uses the fallback: a matmul with the oversized tile pinned still runs and is right
      const rng = R.rng(3);
      const a = R.nd([40, 36], Float32Array.from(rng.ndNormal([40, 36]).data)), b = R.nd([36, 44], Float32Array.from(rng.ndNormal([36, 44]).data));
      E.setMatmulTile(huge);
      const c = E.matmul(E.tensor(Float32Array.from(a.data), a.shape), E.tensor(Float32Array.from(b.data), b.shape));
      R.assertClose(await c.data(), R.matmul(a, b), { rtol: 1e-4, atol: 1e-4 });
      expect(notes).toHaveLength(1);
      // autotune skips candidates that cannot run here instead of failing on them
      const skipped: string[] = [];
      const cands = E.CANDIDATES.attention;
      cands.push({ BK: 16, WG: lim.maxComputeInvocationsPerWorkgroup * 2 });
      try {
        const r = await E.autotuneWith('fake adapter', async (_f, t: any) => t.WG, { families: ['attention'], file: false, repeats: 1, log: (l) => skipped.push(l) });
        expect(skipped.some((l) => l.includes('skipped'))).toBe(true);
        expect(E.tileMisfit(r.chosen[`${E.getAdapterClass()}/attention/large`])).toBeNull();
      } finally {
        cands.pop();
      }
    } finally {
      E.setMatmulTile(null);
      E.setTuneNote(null);
      E.clearTiles();
    }
  });

  it('loads the cached choice for this adapter and host, and the engine matmul runs with it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tune-')), 'tiles.json');
    const key = E.tuneKey(E.describeAdapter(E.runtime().info.adapterInfo));
    const cls = E.getAdapterClass();
    const tile = { TM: 2, TN: 4, WX: 16, WY: 8 };
    writeFileSync(file, JSON.stringify({ 'some other host': { [`${cls}/matmul/large`]: { TM: 8, TN: 8, WX: 64, WY: 1 } }, [key]: { [`${cls}/matmul/large`]: tile } }));
    expect(E.loadCachedTiles(file)).toBe(file);
    expect(E.getMatmulTile({ M: 512, N: 512, K: 512 })).toEqual(tile);
    const rng = R.rng(4);
    const a = R.nd([256, 128], Float32Array.from(rng.ndNormal([256, 128]).data)), b = R.nd([128, 512], Float32Array.from(rng.ndNormal([128, 512]).data));
    const c = E.matmul(E.tensor(Float32Array.from(a.data), a.shape), E.tensor(Float32Array.from(b.data), b.shape));
    R.assertClose(await c.data(), R.matmul(a, b), { rtol: 1e-4, atol: 1e-4 });
    E.clearTiles();
  });
});
