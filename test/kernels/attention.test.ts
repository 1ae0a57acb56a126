// Fused attention against the float64 reference (forward), against the composed engine path and
// central differences of the reference (backward), masked/causal/unmasked, several lengths and
// head counts; second derivatives (which run the composed path) against reference differences.
import { describe, it, expect, beforeAll, beforeEach, afterAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

const configs = [
  { B: 1, H: 1, L: 1, S: 1, D: 8 },
  { B: 2, H: 1, L: 5, S: 7, D: 8 },
  { B: 1, H: 4, L: 16, S: 16, D: 16 },
  { B: 2, H: 2, L: 33, S: 70, D: 8 },
  { B: 1, H: 3, L: 64, S: 130, D: 16 },
];

type Mode = 'none' | 'mask' | 'causal';

function makeMask(rng: R.Rng, B: number, L: number, S: number): R.ND {
  // [B, 1, L, S] keep-mask with key 0 always kept (no fully masked rows).
  const m = R.zeros([B, 1, L, S]);
  for (let i = 0; i < m.size; i++) m.data[i] = i % S === 0 || rng.uniform() < 0.6 ? 1 : 0;
  return m;
}

function refMask(mode: Mode, mask: R.ND | undefined, L: number, S: number) {
  if (mode === 'mask') return mask;
  if (mode === 'causal') return R.causalMask(L, S);
  return undefined;
}

describe('fused attention', () => {
  // the fused kernels, whatever this host's tuning chose (the tuner may pick the composed path)
  beforeEach(() => {
    for (const cls of ['small', 'medium', 'large'] as const) {
      E.setTile('attention', cls, { BK: 32, WG: 64 });
      E.setTile('attentionBackward', cls, { BK: 32, WG: 64 });
    }
  });
  afterAll(() => E.clearTiles());
  for (const mode of ['none', 'mask', 'causal'] as Mode[]) {
    it(`forward matches the reference (${mode}) at several lengths and head counts`, async () => {
      const rng = R.rng(1);
      for (const c of configs) {
        if (mode === 'causal' && c.L > c.S) continue;
        const q = randn(rng, [c.B, c.H, c.L, c.D]), k = randn(rng, [c.B, c.H, c.S, c.D]), v = randn(rng, [c.B, c.H, c.S, c.D]);
        const mask = mode === 'mask' ? makeMask(rng, c.B, c.L, c.S) : undefined;
        const o = E.attention(up(q), up(k), up(v), { mask: mask && up(mask), causal: mode === 'causal' });
        const ref = R.attention(q, k, v, { mask: refMask(mode, mask, c.L, c.S) });
        R.assertClose(await o.data(), ref, { rtol: 1e-4, atol: 2e-5, label: `${mode} ${JSON.stringify(c)}` });
        o.dispose();
      }
    });

    it(`fused backward equals the composed path (${mode}) and central differences of the reference`, async () => {
      const rng = R.rng(2);
      for (const c of configs) {
        if (mode === 'causal' && c.L > c.S) continue;
        const q = randn(rng, [c.B, c.H, c.L, c.D]), k = randn(rng, [c.B, c.H, c.S, c.D]), v = randn(rng, [c.B, c.H, c.S, c.D]);
        const w = randn(rng, [c.B, c.H, c.L, c.D]);
        const mask = mode === 'mask' ? makeMask(rng, c.B, c.L, c.S) : undefined;
        const opts = { mask: mask && up(mask), causal: mode === 'causal' };
        const W = up(w);
        const fused = (a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.mul(E.tanh(E.attention(a, b, d, opts)), W));
        const composed = (a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.mul(E.tanh(E.attentionComposed(a, b, d, opts)), W));
        const gf = E.grad(fused, [0, 1, 2])(up(q), up(k), up(v)) as E.Tensor[];
        const gc = E.grad(composed, [0, 1, 2])(up(q), up(k), up(v)) as E.Tensor[];
        for (let i = 0; i < 3; i++) {
          const ref = R.nd(gc[i].shape, await gc[i].data());
          await expectRel(gf[i], ref, 1e-4, `fused vs composed grad ${i} ${mode} ${JSON.stringify(c)}`);
        }
        if (q.size + k.size + v.size <= 600) {
          const rm = refMask(mode, mask, c.L, c.S);
          const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(R.attention(ps[0], ps[1], ps[2], { mask: rm })), w));
          const ng = R.numGrad(fR, [q, k, v], 1e-6);
          for (let i = 0; i < 3; i++) await expectRel(gf[i], ng[i], 1e-4, `fused grad ${i} vs differences ${mode} ${JSON.stringify(c)}`);
        }
        E.dispose([gf, gc]);
      }
    });
  }

  it('second derivatives (composed path) match differences of reference gradients, masked and unmasked', async () => {
    const rng = R.rng(3);
    for (const mode of ['none', 'mask', 'causal'] as Mode[]) {
      const c = { B: 1, H: 2, L: 4, S: 5, D: 8 };
      const q = randn(rng, [c.B, c.H, c.L, c.D]), k = randn(rng, [c.B, c.H, c.S, c.D]), v = randn(rng, [c.B, c.H, c.S, c.D]);
      const mask = mode === 'mask' ? makeMask(rng, c.B, c.L, c.S) : undefined;
      const opts = { mask: mask && up(mask), causal: mode === 'causal' };
      const rm = refMask(mode, mask, c.L, c.S);
      const vs = [randn(rng, q.shape), randn(rng, k.shape), randn(rng, v.shape)];
      const fE = (a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.square(E.attention(a, b, d, opts)));
      const fR = (ps: R.ND[]) => R.sum(R.square(R.attention(ps[0], ps[1], ps[2], { mask: rm })));
      const hv = E.hvp(fE, [up(q), up(k), up(v)], vs.map(up)) as E.Tensor[];
      const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [q, k, v], vs, 1e-4);
      for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `attention hvp ${i} (${mode})`);
    }
  });

  it('never materialises an L×S matrix on the fused path and frees its intermediates', async () => {
    const [B, H, L, D] = [1, 2, 512, 16];
    const q = E.randn([B, H, L, D], 0, 1, { seed: 1 }), k = E.randn([B, H, L, D], 0, 1, { seed: 2 }), v = E.randn([B, H, L, D], 0, 1, { seed: 3 });
    const f = (a: E.Tensor) => E.sum(E.attention(a, k, v, { causal: true }));
    E.dispose(E.scope(() => E.grad(f)(q)));
    await E.sync();
    E.runtime().trimPool();
    const before = E.memory();
    for (let i = 0; i < 3; i++) E.dispose(E.scope(() => E.grad(f)(q)));
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before.liveBuffers);
    // What the pool grew by stays below one B·H·L·L score matrix (2 MiB here).
    expect(E.memory().pooledBytes).toBeLessThan(B * H * L * L * 4);
    E.dispose([q, k, v]);
  });
});

describe('attention backward tiles (tuned on forward + backward)', () => {
  it('every attentionBackward candidate, and the composed forward, give the reference output and its central-difference gradient (masked)', async () => {
    const rng = R.rng(9);
    const c = { B: 1, H: 2, L: 9, S: 11, D: 8 };
    const q = randn(rng, [c.B, c.H, c.L, c.D]), k = randn(rng, [c.B, c.H, c.S, c.D]), v = randn(rng, [c.B, c.H, c.S, c.D]), w = randn(rng, [c.B, c.H, c.L, c.D]);
    const mask = makeMask(rng, c.B, c.L, c.S);
    const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(R.attention(ps[0], ps[1], ps[2], { mask })), w));
    const ng = R.numGrad(fR, [q, k, v], 1e-6);
    const Q = up(q), K = up(k), V = up(v), W = up(w), Mk = up(mask);
    const live0 = E.memory().liveBuffers;
    try {
      const tiles = [
        ...E.CANDIDATES.attentionBackward.map((t) => ({ fam: 'attentionBackward' as const, t })),
        // the composed forward (and with it the composed backward)
        { fam: 'attention' as const, t: { BK: 32, WG: 64, COMPOSED: 1 } },
      ];
      for (const { fam, t } of tiles) {
        for (const cls of ['small', 'medium', 'large'] as const) E.setTile(fam, cls, t);
        if (fam === 'attention') {
          const o = E.attention(Q, K, V, { mask: Mk });
          R.assertClose(await o.data(), R.attention(q, k, v, { mask }), { rtol: 1e-4, atol: 2e-5, label: 'composed forward' });
          o.dispose();
        }
        const g = E.scope(() => E.grad((a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.mul(E.tanh(E.attention(a, b, d, { mask: Mk })), W)), [0, 1, 2])(Q, K, V)) as E.Tensor[];
        for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i} with backward tile ${JSON.stringify(t)}`);
        E.dispose(g);
      }
      expect(E.memory().liveBuffers).toBe(live0);
    } finally {
      E.clearTiles();
      E.dispose([Q, K, V, W, Mk]);
    }
  });
});

describe('the composed path with saved probabilities (attnProbs / attnSoftmaxBwd row kernels)', () => {
  it('unmasked, default and custom scale: output, gradient (float64 reference, central differences), HVP vs reverse over reverse, dispatches, live buffers', async () => {
    const rng = R.rng(10);
    try {
      // the composed backward (what the tuner picks on lavapipe) makes a tracked forward save P
      for (const cls of ['small', 'medium', 'large'] as const) {
        E.setTile('attention', cls, { BK: 32, WG: 64 });
        E.setTile('attentionBackward', cls, { BK: 32, WG: 64, COMPOSED: 1 });
      }
      for (const [c, scale] of [[{ B: 2, H: 2, L: 9, S: 13, D: 8 }, undefined], [{ B: 1, H: 3, L: 16, S: 5, D: 4 }, -0.7]] as const) {
        const q = randn(rng, [c.B, c.H, c.L, c.D]), k = randn(rng, [c.B, c.H, c.S, c.D]), v = randn(rng, [c.B, c.H, c.S, c.D]), w = randn(rng, [c.B, c.H, c.L, c.D]);
        const o = scale === undefined ? {} : { scale };
        const fR = (ps: R.ND[]) => R.sum(R.mul(R.tanh(R.attention(ps[0], ps[1], ps[2], o)), w));
        const ng = R.numGrad(fR, [q, k, v], 1e-6);
        const Q = up(q), K = up(k), V = up(v), W = up(w);
        await E.sync();
        const live = E.memory().liveBuffers;
        const y = E.attention(Q, K, V, o); // untracked: the fused forward's tile, P not kept
        R.assertClose(await y.data(), R.attention(q, k, v, o), { rtol: 1e-4, atol: 2e-5, label: `forward, scale ${scale}` });
        y.dispose();
        const f = (a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.sum(E.mul(E.tanh(E.attention(a, b, d, o)), W));
        const [out, back] = E.vjp((a: E.Tensor, b: E.Tensor, d: E.Tensor) => E.attention(a, b, d, o), Q, K, V);
        const seed = E.onesLike(Q);
        const d0 = E.counters().dispatches;
        const gs0 = back(seed) as E.Tensor[];
        // dV, dP, the row pass, dQ, dK: the saved P is not recomputed
        expect(E.counters().dispatches - d0).toBe(5);
        back.dispose();
        E.dispose([gs0, out, seed]);
        const g = E.grad(f, [0, 1, 2])(Q, K, V) as E.Tensor[];
        for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i}, scale ${scale}`);
        E.dispose(g);
        // second order (the differentiable composed backward runs there)
        const t = [q, k, v].map((x) => up(randn(rng, x.shape)));
        const hv = E.hvp(f, [Q, K, V], t) as E.Tensor[], hr = E.hvpReverse(f, [Q, K, V], t) as E.Tensor[];
        for (let i = 0; i < 3; i++) await expectRel(hv[i], await hr[i].data(), 1e-4, `hvp ${i}, scale ${scale}`);
        E.dispose([hv, hr, t]);
        await E.sync();
        expect(E.memory().liveBuffers).toBe(live);
        E.dispose([Q, K, V, W]);
      }
    } finally {
      E.clearTiles();
    }
  });
});
