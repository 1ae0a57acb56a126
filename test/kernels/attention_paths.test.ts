// Which attention path runs where the tile table says composed: several query rows take the
// composed path (batched matmuls), a single query row stays on the fused kernels whatever the
// tile; both give the float64 reference's output and its central-difference gradient.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel, dispatchLabels } from './helpers.ts';

beforeAll(async () => {
  await E.init();
  for (const cls of ['small', 'medium', 'large'] as const) {
    E.setTile('attention', cls, { BK: 32, WG: 64, COMPOSED: 1 });
    E.setTile('attentionBackward', cls, { BK: 32, WG: 64, COMPOSED: 1 });
  }
});
afterAll(() => E.clearTiles());

describe('attention paths under a composed tile', () => {
  for (const { L, S, fused } of [{ L: 1, S: 3, fused: true }, { L: 4, S: 3, fused: false }]) {
    it(`${L} query row(s) over ${S} keys: ${fused ? 'fused' : 'composed'} kernels, reference output and gradient`, async () => {
      const rng = R.rng(20 + L);
      const [B, H, D] = [2, 3, 8];
      const q = randn(rng, [B, H, L, D]), k = randn(rng, [B, H, S, D]), v = randn(rng, [B, H, S, D]), c = randn(rng, [B, H, L, D]);
      const C = up(c);
      const fE = (a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.mul(E.attention(a, b, d), C));
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.attention(ps[0], ps[1], ps[2]), c));
      let g: E.Tensor[] = [];
      const labels = dispatchLabels(() => {
        g = E.grad(fE, [0, 1, 2])(up(q), up(k), up(v)) as E.Tensor[];
      });
      expect(labels.includes('attention backward (dq)'), labels.join(', ')).toBe(fused);
      expect(labels.includes('attention'), labels.join(', ')).toBe(fused);
      const y = E.attention(up(q), up(k), up(v));
      R.assertClose(await y.data(), R.attention(q, k, v), { rtol: 1e-5, atol: 1e-5, label: 'forward' });
      const ng = R.numGrad(fR, [q, k, v], 1e-6);
      for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i}`);
    });
  }
});
