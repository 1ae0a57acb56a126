// The fused linear backward (two dispatches: dX, and dW with db) against float64 gradients and
// central differences of the reference, for every activation, with and without bias, vec4 and
// scalar reduction widths, ragged tiles and leading batch dims; and the composed path it hands
// over to when the backward is itself differentiated.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

const actRef: Record<E.Activation, (x: R.ND) => R.ND> = { none: (x) => x, relu: R.relu, tanh: R.tanh, sigmoid: R.sigmoid };
const linearRef = (x: R.ND, w: R.ND, b: R.ND | null, act: E.Activation) => {
  const y = R.matmul(x, R.transpose(w));
  return actRef[act](b ? R.add(y, b) : y);
};

/** Float64 gradients of L = Σ c ⊙ linear(x, w, b) by hand: gp = c ⊙ act′, dX = gp·W, dW = gpᵀ·x, db = Σ gp. */
function refGrads(x: R.ND, w: R.ND, b: R.ND | null, c: R.ND, act: E.Activation) {
  const y = linearRef(x, w, b, act);
  const d = y.data.map((v, i) => {
    const s = act === 'relu' ? (v > 0 ? 1 : 0) : act === 'tanh' ? 1 - v * v : act === 'sigmoid' ? v * (1 - v) : 1;
    return s * c.data[i];
  });
  const gp = R.nd(y.shape, d);
  return { dx: R.matmul(gp, w), dw: R.matmul(R.transpose(gp), x), db: R.sum(gp, 0) };
}

describe('fused linear backward', () => {
  // [M, K, N]: K % 4 == 0 (vec4) and not (scalar); sizes that leave ragged register tiles
  // (each activation × bias × vec4/scalar is its own pipeline: every activation on one vec4 and
  // one scalar shape with bias; tanh on all shapes, with and without bias)
  const shapes: Array<[number, number, number]> = [[33, 20, 9], [7, 13, 65]];
  const more: Array<[number, number, number]> = [[1, 1, 1], [5, 3, 7], [17, 8, 12], [64, 36, 40]];
  for (const act of ['none', 'relu', 'tanh', 'sigmoid'] as E.Activation[]) {
    it(`dX, dW, db match the float64 gradients (${act}), in two dispatches`, async () => {
      const rng = R.rng(30);
      for (const [M, K, N] of act === 'tanh' ? [...shapes, ...more] : shapes) {
        for (const bias of act === 'tanh' ? [true, false] : [true]) {
          const x = randn(rng, [M, K]), w = randn(rng, [N, K], 0.5), b = bias ? randn(rng, [N], 0.5) : null, c = randn(rng, [M, N]);
          const X = up(x), W = up(w), B = b ? up(b) : null, C = up(c);
          const f = (xx: E.Tensor, ww: E.Tensor, bb?: E.Tensor) => E.sum(E.mul(E.linear(xx, ww, bb ?? null, act), C));
          const [, vjpFn] = E.vjp((xx: E.Tensor, ww: E.Tensor, ...rest: E.Tensor[]) => E.linear(xx, ww, rest[0] ?? null, act), X, W, ...(B ? [B] : []));
          const d0 = E.counters().dispatches;
          const gs = vjpFn(C) as E.Tensor[];
          // the linear's own backward: one dispatch for dX, one for dW (+ db)
          expect(E.counters().dispatches - d0, `dispatches for ${M}x${K}x${N}`).toBe(2);
          const ref = refGrads(x, w, b, c, act);
          const lab = `${act} ${M}x${K}x${N}${bias ? '' : ' no bias'}`;
          await expectRel(gs[0], ref.dx, 1e-5, `dX ${lab}`);
          await expectRel(gs[1], ref.dw, 1e-5, `dW ${lab}`);
          if (b) await expectRel(gs[2], ref.db, 1e-5, `db ${lab}`);
          vjpFn.dispose();
          // grad() takes the same path
          const g2 = E.grad(f, b ? [0, 1, 2] : [0, 1])(X, W, ...(B ? [B] : [])) as E.Tensor[];
          await expectRel(g2[1], ref.dw, 1e-5, `grad dW ${lab}`);
          E.dispose([X, W, B, C, gs, g2]);
        }
      }
    });
  }

  it('matches central differences of the reference, with leading batch dims', async () => {
    const rng = R.rng(31);
    for (const act of ['tanh', 'sigmoid', 'none'] as E.Activation[]) {
      const x = randn(rng, [2, 3, 8]), w = randn(rng, [5, 8], 0.6), b = randn(rng, [5], 0.5), c = randn(rng, [2, 3, 5]);
      const C = up(c);
      const g = E.grad((xx: E.Tensor, ww: E.Tensor, bb: E.Tensor) => E.sum(E.mul(E.square(E.linear(xx, ww, bb, act)), C)), [0, 1, 2])(up(x), up(w), up(b)) as E.Tensor[];
      expect(g[0].shape).toEqual([2, 3, 8]);
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.square(linearRef(R.reshape(ps[0], [6, 8]), ps[1], ps[2], act)), R.reshape(c, [6, 5])));
      const ng = R.numGrad(fR, [x, w, b], 1e-6);
      for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `${act} grad ${i}`);
    }
  });

  it('an MLP gradient uses two dispatches per hidden layer backward and frees everything', async () => {
    const net = E.MLP([16, 32, 32, 4], { activation: 'relu' });
    const p = net.init(0);
    const x = E.rand([24, 16], -1, 1, { seed: 1 }), t = E.rand([24, 4], -1, 1, { seed: 2 });
    const f = E.valueAndGrad((pp: E.Params) => E.mse(net.apply(pp, x), t));
    E.dispose(f(p));
    await E.sync();
    const live = E.memory().liveBuffers;
    const d0 = E.counters().dispatches;
    const [v, g] = f(p);
    const used = E.counters().dispatches - d0;
    E.dispose([v, g]);
    await E.sync();
    expect(E.memory().liveBuffers).toBe(live);
    // forward: 3 fused linears + 1 loss; backward: seed, loss, and 2 + 2 + 2 for the layers
    // (the first layer's dX is not needed, but its dW/db is one dispatch)
    expect(used).toBeLessThanOrEqual(14);
    E.dispose([p, x, t]);
  });
});
