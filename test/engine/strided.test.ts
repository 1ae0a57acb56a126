// The strided element-wise kernels (permute/slice/concat copies, broadcast binary ops, where)
// after their index arithmetic was specialised by rank and moved to an f32-reciprocal quotient:
// every rank 1..8 against a plain CPU loop, and the f32 quotient at the largest view it serves
// (2^24 − 1 elements, where its one-step correction matters most) on a full transpose checked
// element by element.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';

beforeAll(async () => {
  await E.init();
});

let seed = 1;
const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
const strides = (s: number[]) => s.map((_, i) => s.slice(i + 1).reduce((a, b) => a * b, 1));
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
/** Multi-index of flat i over shape s (row-major). */
const unravel = (i: number, s: number[]) => {
  const idx = new Array(s.length);
  for (let d = s.length - 1; d >= 0; d--) {
    idx[d] = i % s[d];
    i = Math.floor(i / s[d]);
  }
  return idx as number[];
};

describe('strided element-wise kernels', () => {
  it('permute at every rank 1..8 equals a CPU loop', async () => {
    const dims = [3, 2, 5, 1, 4, 3, 2, 3];
    for (let rank = 1; rank <= 8; rank++) {
      const shape = dims.slice(0, rank);
      // a rotation (every axis moves) and its reverse
      for (const perm of [shape.map((_, i) => (i + 1) % rank), shape.map((_, i) => rank - 1 - i)]) {
        const data = rand(size(shape));
        const y = E.permute(E.tensor(data, shape), perm);
        const out = await y.data();
        const os = perm.map((p) => shape[p]), st = strides(shape);
        const want = Float32Array.from({ length: out.length }, (_, i) => data[unravel(i, os).reduce((o, v, d) => o + v * st[perm[d]], 0)]);
        expect(Array.from(out), `rank ${rank} perm [${perm}]`).toEqual(Array.from(want));
      }
    }
  });

  it('broadcast binary ops and where at ranks 1..6 equal a CPU loop', async () => {
    for (let rank = 1; rank <= 6; rank++) {
      const shape = [5, 3, 4, 2, 3, 2].slice(0, rank);
      // b broadcasts on every other axis, so the view cannot coalesce into fewer dims
      const bshape = shape.map((d, i) => (i % 2 ? d : 1));
      const a = rand(size(shape)), b = rand(size(bshape)), c = rand(size(bshape)).map((v) => (v > 0 ? 1 : 0));
      const A = E.tensor(a, shape), B = E.tensor(b, bshape), C = E.tensor(c, bshape);
      const bst = strides(bshape).map((s, i) => (bshape[i] === 1 ? 0 : s));
      const bi = (i: number) => unravel(i, shape).reduce((o, v, d) => o + v * bst[d], 0);
      const sum = await E.add(A, B).data(), prod = await E.mul(B, A).data(), sel = await E.where(C, A, B).data();
      expect(Array.from(sum), `add rank ${rank}`).toEqual(Array.from(a, (v, i) => Math.fround(v + b[bi(i)])));
      expect(Array.from(prod), `mul rank ${rank}`).toEqual(Array.from(a, (v, i) => Math.fround(b[bi(i)] * v)));
      expect(Array.from(sel), `where rank ${rank}`).toEqual(Array.from(a, (v, i) => (c[bi(i)] ? v : b[bi(i)])));
    }
  });

  it('copies with a contiguous innermost run (the vec4 path) and without equal a CPU loop', async () => {
    // last axis kept (8 and 12 floats: vec4), kept but 6 floats (scalar), moved (scalar)
    const cases: Array<[number[], number[]]> = [[[3, 5, 8], [1, 0, 2]], [[2, 3, 4, 12], [2, 0, 1, 3]], [[4, 3, 6], [1, 0, 2]], [[4, 3, 8], [2, 1, 0]]];
    for (const [shape, perm] of cases) {
      const data = rand(size(shape));
      const out = await E.permute(E.tensor(data, shape), perm).data();
      const os = perm.map((q) => shape[q]), st = strides(shape);
      const want = Float32Array.from({ length: out.length }, (_, i) => data[unravel(i, os).reduce((o, v, d) => o + v * st[perm[d]], 0)]);
      expect(Array.from(out), `shape [${shape}] perm [${perm}]`).toEqual(Array.from(want));
    }
    // slices at 4-aligned and unaligned offsets, concat of 8-float rows
    const X = E.tensor(rand(5 * 16), [5, 16]);
    const xd = await X.data();
    for (const [lo, hi] of [[4, 12], [1, 9], [0, 16]]) {
      const got = await E.slice(X, [[1, 4], [lo, hi]]).data();
      const want: number[] = [];
      for (let i = 1; i < 4; i++) for (let j = lo; j < hi; j++) want.push(xd[i * 16 + j]);
      expect(Array.from(got), `slice [${lo}, ${hi})`).toEqual(want);
    }
    const Y = E.tensor(rand(2 * 8), [2, 8]);
    const cat = await E.concat([E.reshape(X, [10, 8]), Y], 0).data();
    expect(Array.from(cat)).toEqual([...Array.from(xd), ...Array.from(await Y.data())]);
  });

  it('slice and concat (strided copies with offsets) equal a CPU loop', async () => {
    const shape = [4, 5, 6];
    const data = rand(size(shape));
    const X = E.tensor(data, shape);
    const s = await E.slice(X, [[1, 3], null, [2, 5]]).data();
    const want: number[] = [];
    for (let i = 1; i < 3; i++) for (let j = 0; j < 5; j++) for (let k = 2; k < 5; k++) want.push(data[(i * 5 + j) * 6 + k]);
    expect(Array.from(s)).toEqual(want);
    const cat = await E.concat([X, E.mul(X, 2)], 1).data();
    expect(cat[(2 * 10 + 7) * 6 + 3]).toBe(Math.fround(2 * data[(2 * 5 + 2) * 6 + 3]));
    expect(cat[(3 * 10 + 4) * 6 + 5]).toBe(data[(3 * 5 + 4) * 6 + 5]);
  });

  it('a transpose of 2^24 − 1 elements is exact (the f32 quotient at its largest indices)', async () => {
    // 4095 × 4097 = 2^24 − 1: the largest view the f32-reciprocal path serves (beyond it the
    // kernels divide in u32, the former arithmetic)
    for (const [r, c] of [[4095, 4097]]) {
      const n = r * c;
      expect(n).toBe(2 ** 24 - 1);
      // x[i] = i as float is exact only below 2^24; use i mod 65521 (prime) so every value is exact
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = i % 65521;
      const X = E.tensor(data, [r, c]);
      const Y = E.transpose(X);
      const out = await Y.data();
      let bad = -1;
      for (let i = 0; i < c && bad < 0; i++) for (let j = 0; j < r; j++) if (out[i * r + j] !== data[j * c + i]) { bad = i * r + j; break; }
      expect(bad, `first wrong element of the ${r}×${c} transpose`).toBe(-1);
      E.dispose([X, Y]);
    }
  });

  it('leaves no live buffers', async () => {
    await E.sync();
    const before = E.memory().liveBuffers;
    E.scope(() => {
      const X = E.tensor(rand(60), [3, 4, 5]);
      E.permute(X, [2, 0, 1]);
      E.add(X, E.tensor(rand(5), [5]));
      E.slice(X, [null, [1, 3], null]);
    });
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
  });
});
