import { describe, expect, it } from 'vitest';
import { philox4x32_10, Rng, STREAM_TAG } from '../../rl/envs/rng.ts';

const hex = (a: ArrayLike<number>) => Array.from(a, (v) => (v >>> 0).toString(16).padStart(8, '0'));

describe('Philox4x32-10', () => {
  // Known-answer vectors published with Random123 (Salmon et al. 2011), tests/kat_vectors.
  it.each([
    [[0, 0, 0, 0], [0, 0], ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']],
    [
      [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd'],
    ],
    [
      [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
      [0xa4093822, 0x299f31d0],
      ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
    ],
  ])('matches the Random123 known answer for ctr %j key %j', (ctr, key, out) => {
    expect(hex(philox4x32_10(ctr, key))).toEqual(out);
  });
});

describe('Rng streams', () => {
  it('word w of stream i is word w%4 of Philox(key=(seed lo, seed hi), ctr=(w/4, 0, i, tag))', () => {
    const seed = 2 ** 40 + 12345;
    const r = new Rng(seed, 7);
    const words = Array.from({ length: 10 }, () => r.nextU32());
    const key = [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
    const expected: number[] = [];
    for (let b = 0; b < 3; b++) expected.push(...Array.from(philox4x32_10([b, 0, 7, STREAM_TAG], key)));
    expect(words).toEqual(expected.slice(0, 10));
  });

  it('state round-trips through JSON at any word position', () => {
    const a = new Rng(99, 3);
    for (let k = 0; k < 7; k++) {
      const st = JSON.parse(JSON.stringify(a.getState()));
      const b = new Rng(0, 3);
      b.setState(st);
      expect(b.words).toBe(a.words);
      const xa = Array.from({ length: 9 }, () => a.nextU32());
      const xb = Array.from({ length: 9 }, () => b.nextU32());
      expect(xb).toEqual(xa);
      a.nextU32();
    }
  });

  it('reseed restarts the counter; different seeds and streams give different words', () => {
    const a = new Rng(5, 0);
    const first = a.nextU32();
    a.nextU32();
    a.reseed(5);
    expect(a.nextU32()).toBe(first);
    expect(new Rng(6, 0).nextU32()).not.toBe(first);
    expect(new Rng(5, 1).nextU32()).not.toBe(first);
  });

  it('uniform in [0, 1) with mean ½; int(n) unbiased; streams uncorrelated', () => {
    const a = new Rng(1, 0);
    const b = new Rng(1, 1);
    const N = 100_000;
    let sa = 0;
    let sb = 0;
    let sab = 0;
    const counts = new Array(7).fill(0);
    let outside = 0;
    for (let i = 0; i < N; i++) {
      const u = a.uniform();
      const v = b.uniform();
      if (!(u >= 0 && u < 1)) outside++;
      sa += u;
      sb += v;
      sab += u * v;
      counts[a.int(7)]++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sa / N - 0.5)).toBeLessThan(0.005);
    const cov = sab / N - (sa / N) * (sb / N);
    expect(Math.abs(cov / (1 / 12))).toBeLessThan(0.015);
    let chi2 = 0;
    for (const c of counts) chi2 += (c - N / 7) ** 2 / (N / 7);
    expect(chi2).toBeLessThan(22.5); // df 6, p ≈ 0.001
  });

  it('rejects bad seeds and stream indices', () => {
    expect(() => new Rng(-1, 0)).toThrow(/seed/);
    expect(() => new Rng(1.5, 0)).toThrow(/seed/);
    expect(() => new Rng(0, -1)).toThrow(/stream/);
  });
});
