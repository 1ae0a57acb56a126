import { beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import * as E from '../../engine/index.ts';
import { ReplayBuffer, replayGpuUnpack, transitionBytes } from '../../rl/replay.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { makeEnv } from '../../rl/envs/index.ts';

// jstat ships no type declarations.
const jStat: { chisquare: { cdf(x: number, df: number): number } } = createRequire(import.meta.url)('jstat');

beforeAll(async () => {
  await E.init();
});


/** Transition k of a synthetic stream: a binary obs that encodes k, action k % 3, reward k/10. */
function synth(k: number, n: number): Float32Array {
  const o = new Float32Array(n);
  for (let j = 0; j < n; j++) o[j] = ((k * 2654435761) >>> (j % 31)) & 1;
  return o;
}

function fill(buf: ReplayBuffer, from: number, count: number) {
  const n = buf.obsSize;
  for (let k = from; k < from + count; k++) {
    buf.addBatch(1, synth(k, n), [k % 3], [k / 10], synth(k + 1, n), [k % 7 === 0 ? 1 : 0]);
  }
}

describe('replay buffer', () => {
  it('bit-packs binary observations exactly (MinAtar frames round-trip)', () => {
    const env = makeEnv('minatar/seaquest', { numEnvs: 4, seed: 3 });
    const buf = new ReplayBuffer({ capacity: 64, obsSize: env.obsSize });
    let obs = env.reset().slice();
    const rng = new Rng(1);
    const kept: Float32Array[] = [];
    for (let t = 0; t < 10; t++) {
      const a = Int32Array.from({ length: 4 }, () => rng.int(6));
      const r = env.step(a);
      const next = obs.slice();
      for (let i = 0; i < 4; i++) {
        const src = r.done[i] ? r.finalObs : r.obs;
        next.set(src.subarray(i * env.obsSize, (i + 1) * env.obsSize), i * env.obsSize);
      }
      buf.addBatch(4, obs, a, r.rewards, next, r.terminated);
      for (let i = 0; i < 4; i++) kept.push(obs.slice(i * env.obsSize, (i + 1) * env.obsSize));
      obs = r.obs.slice();
    }
    expect(buf.storage).toBe('bits');
    // 1000 cells → 125 bytes per observation; float32 would be 4000.
    expect(transitionBytes(1000, 'bits')).toBe(2 * 125 + 9);
    kept.forEach((o, s) => expect(Array.from(buf.observation(s))).toEqual(Array.from(o)));
  });

  it('stores non-binary observations as float32 under auto, and refuses lossy storage', () => {
    const b = new ReplayBuffer({ capacity: 4, obsSize: 3 });
    b.addBatch(1, new Float32Array([0.5, -1, 2]), [0], [0], new Float32Array([1, 2, 3]), [0]);
    expect(b.storage).toBe('float32');
    expect(Array.from(b.observation(0))).toEqual([0.5, -1, 2]);
    const bits = new ReplayBuffer({ capacity: 4, obsSize: 3, storage: 'bits' });
    expect(() => bits.addBatch(1, new Float32Array([0, 2, 1]), [0], [0], new Float32Array(3), [0])).toThrow(/only 0\/1 .* got 2 at index 1/);
    const u8 = new ReplayBuffer({ capacity: 4, obsSize: 2, storage: 'uint8' });
    expect(() => u8.addBatch(1, new Float32Array([3, 0.5]), [0], [0], new Float32Array(2), [0])).toThrow(/integers 0\.\.255, got 0.5/);
  });

  it('wraps around: the oldest transitions are overwritten in order', () => {
    const n = 40;
    const buf = new ReplayBuffer({ capacity: 10, obsSize: n });
    fill(buf, 0, 25);
    expect(buf.size).toBe(10);
    expect(buf.pos).toBe(5);
    // Slot s holds transition k with k ≡ s (mod 10), the newest such k < 25.
    for (let s = 0; s < 10; s++) {
      const k = s < 5 ? 20 + s : 10 + s;
      expect(Array.from(buf.observation(s))).toEqual(Array.from(synth(k, n)));
      expect(Array.from(buf.observation(s, 'next'))).toEqual(Array.from(synth(k + 1, n)));
      expect(buf.actions[s]).toBe(k % 3);
      expect(buf.rewards[s]).toBeCloseTo(k / 10, 6);
      expect(buf.dones[s]).toBe(k % 7 === 0 ? 1 : 0);
    }
  });

  it('samples uniformly (χ² test over 50 slots, 100k draws) and only from filled slots', () => {
    const buf = new ReplayBuffer({ capacity: 80, obsSize: 8 });
    fill(buf, 0, 50);
    const rng = new Rng(12345);
    const counts = new Array(80).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws / 100; i++) for (const k of buf.sampleIndices(100, rng)) counts[k]++;
    expect(counts.slice(50).every((c) => c === 0)).toBe(true);
    const e = draws / 50;
    const chi2 = counts.slice(0, 50).reduce((a, c) => a + (c - e) ** 2 / e, 0);
    const p = 1 - jStat.chisquare.cdf(chi2, 49);
    expect(p).toBeGreaterThan(0.001);
    // The test can fail: a biased sampler (half the slots twice as likely) is rejected.
    const biased = counts.slice(0, 50).map((_, k) => (k < 25 ? (4 * e) / 3 : (2 * e) / 3));
    const chi2b = biased.reduce((a, c) => a + (c - e) ** 2 / e, 0);
    expect(1 - jStat.chisquare.cdf(chi2b, 49)).toBeLessThan(1e-6);
  });

  // obsSize 12: one word a row; 400 (Breakout): 13 words, the last one partly filled; 33: a
  // bit past a word boundary. 'float32' storage takes the CPU decode whatever the switch says.
  it.each([
    { n: 12, batch: 5, gpu: true, storage: 'auto' as const },
    { n: 12, batch: 5, gpu: false, storage: 'auto' as const },
    { n: 400, batch: 37, gpu: true, storage: 'auto' as const },
    { n: 33, batch: 9, gpu: true, storage: 'auto' as const },
    { n: 12, batch: 5, gpu: true, storage: 'float32' as const },
  ])('batches decode the sampled slots and upload them with the network shape (obs $n, batch $batch, GPU unpack $gpu, storage $storage)', async ({ n, batch, gpu, storage }) => {
    const buf = new ReplayBuffer({ capacity: 50, obsSize: n, storage });
    fill(buf, 0, 64); // wrapped around
    const live = E.memory().liveBuffers, d0 = E.counters().dispatches;
    const idx = buf.sampleIndices(batch, new Rng(7));
    const prev = replayGpuUnpack(gpu);
    const t = buf.sampleTensors(batch, new Rng(7), n === 12 ? [3, 4] : [n]);
    replayGpuUnpack(prev);
    // the GPU unpack is one dispatch; the CPU decode none
    expect(E.counters().dispatches - d0).toBe(gpu && storage === 'auto' ? 1 : 0);
    expect(t.obs.shape).toEqual(n === 12 ? [batch, 3, 4] : [batch, n]);
    const [o, no, a, r, d] = await E.readAll([t.obs, t.nextObs, t.actions, t.rewards, t.dones]);
    idx.forEach((s, j) => {
      expect(Array.from(o.subarray(j * n, (j + 1) * n))).toEqual(Array.from(buf.observation(s)));
      expect(Array.from(no.subarray(j * n, (j + 1) * n))).toEqual(Array.from(buf.observation(s, 'next')));
      expect(a[j]).toBe(buf.actions[s]);
      expect(r[j]).toBe(buf.rewards[s]);
      expect(d[j]).toBe(buf.dones[s]);
    });
    // the same draws from the RNG as sample(): the next draw agrees
    const r1 = new Rng(7), r2 = new Rng(7);
    buf.sample(batch, r1);
    E.dispose(Object.values(buf.sampleTensors(batch, r2)));
    expect(r1.int(1 << 30)).toBe(r2.int(1 << 30));
    E.dispose(Object.values(t));
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('save/load round trip is exact, including position and the RNG-driven samples', () => {
    const buf = new ReplayBuffer({ capacity: 30, obsSize: 100 });
    fill(buf, 0, 45);
    const arrays = buf.toArrays('r.');
    // 30 transitions × (2 × 13 + 9) bytes, in their own dtypes.
    const bytes = Object.values(arrays).reduce((a, x) => a + x.data.byteLength, 0);
    expect(bytes).toBe(30 * transitionBytes(100, 'bits'));
    expect(arrays['r.obs'].data).toBeInstanceOf(Uint8Array);
    const back = new ReplayBuffer({ capacity: 30, obsSize: 100 });
    back.fromArrays(arrays, 'r.', buf.meta());
    expect([back.pos, back.size, back.storage]).toEqual([buf.pos, buf.size, buf.storage]);
    const a = buf.sample(64, new Rng(5)), b = back.sample(64, new Rng(5));
    expect(Array.from(b.obs)).toEqual(Array.from(a.obs));
    expect(Array.from(b.nextObs)).toEqual(Array.from(a.nextObs));
    expect(Array.from(b.rewards)).toEqual(Array.from(a.rewards));
    expect(Array.from(b.dones)).toEqual(Array.from(a.dones));
    // Both continue identically after the restore.
    fill(buf, 45, 7);
    fill(back, 45, 7);
    expect(Array.from(back.observation(buf.pos - 1))).toEqual(Array.from(buf.observation(buf.pos - 1)));
    const wrong = new ReplayBuffer({ capacity: 31, obsSize: 100 });
    expect(() => wrong.fromArrays(arrays, 'r.', buf.meta())).toThrow(/capacity 30 × obsSize 100, this buffer is 31 × 100/);
    const cut = { ...arrays, 'r.actions': { data: new Int32Array(3), shape: [3] } };
    expect(() => back.fromArrays(cut, 'r.', buf.meta())).toThrow(/replay array r\.actions is Int32Array\[3\], expected Int32Array\[30\]/);
  });

  it('refuses a buffer larger than memory allows, saying how much it would need', () => {
    expect(() => new ReplayBuffer({ capacity: 1_000_000, obsSize: 1000, storage: 'float32', maxBytes: 2 ** 30 })).toThrow(/need 7638\.0 MiB .*8009 bytes each.*1024\.0 MiB allowed/);
    expect(() => new ReplayBuffer({ capacity: 0, obsSize: 4 })).toThrow(/capacity must be a positive integer/);
  });
});
