// The dual (value + tangent) linear kernels that run inside a top-level jvp: the forward
// (y, ẏ in one dispatch) and the backward (dX and its tangent; dW, db and theirs: two
// dispatches), i.e. what a forward-over-reverse HVP through a fused-linear network runs.
// Against: float64 directional derivatives by central differences (first order), a float64
// gradient written by hand and differenced along v (H·v), the second difference of the float64
// loss (⟨v, H·v⟩), and the composed (reverse-over-reverse) path; every subset of tangents; the
// dispatches each layer costs; live buffers.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, expectRel, dispatchCounts } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

type Act = E.Activation;
const ACTS: Act[] = ['none', 'relu', 'tanh', 'sigmoid'];
const f64: Record<Act, { f: (v: number) => number; d: (y: number) => number }> = {
  none: { f: (v) => v, d: () => 1 },
  relu: { f: (v) => Math.max(v, 0), d: (y) => (y > 0 ? 1 : 0) },
  tanh: { f: Math.tanh, d: (y) => 1 - y * y },
  sigmoid: { f: (v) => 1 / (1 + Math.exp(-v)), d: (y) => y * (1 - y) },
};
const lin = (x: R.ND, w: R.ND, b: R.ND, act: Act) => R.map(R.add(R.matmul(x, R.transpose(w)), b), f64[act].f);
const axpy = (a: R.ND, s: number, b: R.ND) => R.zip(a, b, (u, v) => u + s * v);

/** Two fused layers and a non-linear loss: f = Σ c ⊙ act2(act1(x·W1ᵀ + b1)·W2ᵀ + b2)². p = [x, W1, b1, W2, b2]. */
function loss64(p: R.ND[], c: R.ND, a1: Act, a2: Act): number {
  const o = lin(lin(p[0], p[1], p[2], a1), p[3], p[4], a2);
  return R.sum(R.zip(o, c, (u, v) => v * u * u)).data[0];
}
/** Its float64 gradient by hand (the chain rule written out, independent of the engine). */
function grad64(p: R.ND[], c: R.ND, a1: Act, a2: Act): R.ND[] {
  const [x, w1, b1, w2, b2] = p;
  const h = lin(x, w1, b1, a1), o = lin(h, w2, b2, a2);
  const gz2 = R.zipN([o, c], (u, v) => 2 * v * u * f64[a2].d(u));
  const gz1 = R.zip(R.matmul(gz2, w2), h, (g, y) => g * f64[a1].d(y));
  return [R.matmul(gz1, w1), R.matmul(R.transpose(gz1), x), R.sum(gz1, 0), R.matmul(R.transpose(gz2), h), R.sum(gz2, 0)];
}

describe('dual linear kernels (forward mode through the fused linear and its backward)', () => {
  it('jvp of linear: value and tangent in one dispatch, equal to float64 central differences, every tangent subset', async () => {
    const rng = R.rng(50);
    // [lead, K, N]: vec4 (K % 4 == 0) and scalar K, ragged tiles, leading batch dims
    const shapes: Array<[number[], number, number]> = [[[33], 20, 9], [[7], 13, 65], [[2, 3], 8, 5]];
    for (const act of ACTS) {
      for (const [lead, K, N] of shapes) {
        const M = lead.reduce((a, b) => a * b, 1);
        const x = randn(rng, [M, K]), w = randn(rng, [N, K], 0.5), b = randn(rng, [N], 0.5);
        const t = [randn(rng, [M, K]), randn(rng, [N, K]), randn(rng, [N])];
        for (const mask of [[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]]) {
          const X = E.reshape(up(x), [...lead, K]), W = up(w), B = up(b);
          const T = [E.reshape(up(t[0]), [...lead, K]), up(t[1]), up(t[2])].map((u, i) => (mask[i] ? u : E.zerosLike(u)));
          // zero tangents are passed as tensors; the kernel also runs with absent ones below
          const d0 = E.counters().dispatches;
          const [y, ty] = E.jvp((xx: E.Tensor, ww: E.Tensor, bb: E.Tensor) => E.linear(xx, ww, bb, act), [X, W, B], T);
          expect(E.counters().dispatches - d0, 'one dual dispatch').toBe(1);
          const eps = 1e-6;
          const dir = (s: number) => lin(axpy(x, s * eps * mask[0], t[0]), axpy(w, s * eps * mask[1], t[1]), axpy(b, s * eps * mask[2], t[2]), act);
          const fd = R.zip(dir(1), dir(-1), (u, v) => (u - v) / (2 * eps));
          const lab = `${act} [${lead}]x${K}x${N} mask ${mask}`;
          expect(ty.shape).toEqual([...lead, N]);
          await expectRel(y, lin(x, w, b, act), 1e-5, `y ${lab}`);
          await expectRel(ty, fd, 1e-4, `ẏ ${lab}`);
          E.dispose([X, W, B, T, y, ty]);
        }
      }
    }
  });

  it('every linearDual candidate tile (the dual forward has its own tile family) gives y and ẏ of the float64 closed form', async () => {
    const rng = R.rng(51);
    const shapes: Array<[number, number, number]> = [[33, 20, 9], [7, 13, 65]]; // vec4 and scalar K, ragged tiles
    const dims = (M: number, N: number, K: number) => ({ M, N, K });
    for (const [M, K, N] of shapes) {
      const x = randn(rng, [M, K]), w = randn(rng, [N, K], 0.5), b = randn(rng, [N], 0.5);
      const t = [randn(rng, [M, K]), randn(rng, [N, K]), randn(rng, [N])];
      const X = up(x), W = up(w), B = up(b), T = t.map(up);
      // tanh (act′ and act″ from y); one activation keeps it to 16 pipelines to compile
      for (const act of ['tanh'] as Act[]) {
        const y64 = lin(x, w, b, act);
        // ẏ = act′(y) ⊙ (ẋ·Wᵀ + x·Ẇᵀ + ḃ), in float64
        const z = R.add(R.add(R.matmul(t[0], R.transpose(w)), R.matmul(x, R.transpose(t[1]))), t[2]);
        const ty64 = R.zip(z, y64, (u, y) => u * f64[act].d(y));
        for (const tile of E.CANDIDATES.linearDual) {
          E.setTile('linearDual', E.shapeClass(dims(M, N, K)), tile);
          const [y, ty] = E.jvp((xx: E.Tensor, ww: E.Tensor, bb: E.Tensor) => E.linear(xx, ww, bb, act), [X, W, B], T);
          const lab = `${act} ${M}x${K}x${N} tile ${JSON.stringify(tile)}`;
          await expectRel(y, y64, 1e-5, `y ${lab}`);
          await expectRel(ty, ty64, 1e-5, `ẏ ${lab}`);
          E.dispose([y, ty]);
        }
      }
      E.dispose([X, W, B, T]);
    }
    E.clearTiles();
  }, 240_000);

  it('a tangent on only some operands (the others absent, not zero) matches the composed rules', async () => {
    const rng = R.rng(51);
    const x = up(randn(rng, [9, 12])), w = up(randn(rng, [6, 12], 0.4)), b = up(randn(rng, [6], 0.4)), tw = up(randn(rng, [6, 12]));
    for (const act of ACTS) {
      // x and b are closed over (no tangent at all): only HAS_T1 is set
      const [, dual] = E.jvp((ww: E.Tensor) => E.linear(x, ww, b, act), [w], [tw]);
      const [, composed] = E.jvp((ww: E.Tensor) => E.linear(x, ww, b, act), [w], [tw], { dual: false });
      await expectRel(dual, await composed.data(), 1e-5, `only Ẇ, ${act}`);
      E.dispose([dual, composed]);
    }
    E.dispose([x, w, b, tw]);
  });

  for (const [a1, a2] of [['tanh', 'tanh'], ['relu', 'none'], ['sigmoid', 'relu'], ['none', 'sigmoid']] as Array<[Act, Act]>) {
    it(`HVP through two fused layers (${a1}, ${a2}) = float64 differences of the float64 gradient, on the dual kernels`, async () => {
      const rng = R.rng(52);
      // [M, K, N, N2]: vec4 and scalar reduction widths in both layers' dX and dW kernels
      for (const [M, K, N, N2] of [[33, 20, 12, 3], [7, 13, 9, 5]]) {
        const p = [randn(rng, [M, K]), randn(rng, [N, K], 0.4), randn(rng, [N], 0.3), randn(rng, [N2, N], 0.4), randn(rng, [N2], 0.3)];
        const v = [randn(rng, [M, K]), randn(rng, [N, K]), randn(rng, [N]), randn(rng, [N2, N]), randn(rng, [N2])];
        const c = randn(rng, [M, N2]);
        const C = up(c);
        const f = (x: E.Tensor, w1: E.Tensor, b1: E.Tensor, w2: E.Tensor, b2: E.Tensor) =>
          E.sum(E.mul(C, E.square(E.linear(E.linear(x, w1, b1, a1), w2, b2, a2))));
        const eps = 1e-6;
        // all five operands, then the weights only (x constant: the first layer's dX is not needed), then x only
        for (const which of [[0, 1, 2, 3, 4], [1, 2, 3, 4], [0]]) {
          // the Hessian block of the operands in `which`, along their part of v
          const at = (s: number) => grad64(p.map((u, i) => (which.includes(i) ? axpy(u, s * eps, v[i]) : u)), c, a1, a2);
          const gp = at(1), gm = at(-1);
          const hvRef = gp.map((g, i) => R.zip(g, gm[i], (u, w) => (u - w) / (2 * eps)));
          const P = p.map(up), V = v.map(up);
          const g = (...ws: E.Tensor[]) => f(...(P.map((t, i) => (which.includes(i) ? ws[which.indexOf(i)] : t)) as [E.Tensor, E.Tensor, E.Tensor, E.Tensor, E.Tensor]));
          await E.sync();
          const live = E.memory().liveBuffers;
          let hv: E.Tensor[] = [];
          const labels = dispatchCounts(() => {
            hv = E.hvp(g, which.map((i) => P[i]), which.map((i) => V[i])) as E.Tensor[];
          });
          const lab = `${a1}/${a2} ${M}x${K}x${N}x${N2} wrt [${which}]`;
          for (let j = 0; j < which.length; j++) await expectRel(hv[j], hvRef[which[j]], 2e-4, `H·v[${which[j]}] ${lab}`);
          // each layer: one dual forward, at most two dual backward dispatches, no composed matmuls
          expect(labels.get('linear (dual)'), lab).toBe(2);
          expect((labels.get('linear backward (dx, dual)') ?? 0) + (labels.get('linear backward (dx)') ?? 0), lab).toBe(which.includes(0) ? 2 : 1);
          expect((labels.get('linear backward (dw, db, dual)') ?? 0) + (labels.get('linear backward (dw, db)') ?? 0), lab).toBe(which.length === 1 ? 0 : 2);
          expect(labels.get('matmul') ?? 0, lab).toBe(0);
          E.dispose(hv);
          await E.sync();
          expect(E.memory().liveBuffers, `live buffers ${lab}`).toBe(live);
          // against the engine's reverse-over-reverse path (composed backward ops)
          const rr = E.hvpReverse(g, which.map((i) => P[i]), which.map((i) => V[i])) as E.Tensor[];
          const hv2 = E.hvp(g, which.map((i) => P[i]), which.map((i) => V[i])) as E.Tensor[];
          for (let j = 0; j < which.length; j++) await expectRel(hv2[j], await rr[j].data(), 1e-4, `vs reverse over reverse [${which[j]}] ${lab}`);
          E.dispose([P, V, rr, hv2]);
        }
        // second order from the loss alone: ⟨v, H·v⟩ against the float64 second difference
        if (a1 !== 'relu' && a2 !== 'relu') {
          const P = p.map(up), V = v.map(up);
          const hv = E.hvp(f, P, V) as E.Tensor[];
          let vhv = 0;
          for (let j = 0; j < 5; j++) {
            const d = await hv[j].data();
            for (let i = 0; i < d.length; i++) vhv += d[i] * v[j].data[i];
          }
          const h = 1e-3;
          const second = (loss64(p.map((u, i) => axpy(u, h, v[i])), c, a1, a2) - 2 * loss64(p, c, a1, a2) + loss64(p.map((u, i) => axpy(u, -h, v[i])), c, a1, a2)) / (h * h);
          expect(Math.abs(vhv - second) / Math.abs(second), `⟨v, Hv⟩ ${vhv} vs ${second}`).toBeLessThan(1e-3);
          E.dispose([P, V, hv]);
        }
        C.dispose();
      }
    });
  }

  it('MSE inside a jvp: value + tangent in one dispatch, its backward + tangent in one; HVP of mse(linear) = float64 differences', async () => {
    const rng = R.rng(54);
    const M = 37, K = 12, N = 1;
    const x = randn(rng, [M, K]), w = randn(rng, [N, K], 0.5), b = randn(rng, [N], 0.5), y = randn(rng, [M]);
    const vw = randn(rng, [N, K]), vb = randn(rng, [N]), vy = randn(rng, [M]);
    const mse64 = (ww: R.ND, bb: R.ND, yy: R.ND) => {
      const q = lin(x, ww, bb, 'tanh');
      return R.sum(R.zip(R.reshape(q, [M]), yy, (u, v) => (u - v) ** 2)).data[0] / M;
    };
    const X = up(x), W = up(w), B = up(b), Y = up(y), VW = up(vw), VB = up(vb), VY = up(vy);
    const f = (ww: E.Tensor, bb: E.Tensor, yy: E.Tensor) => E.mse(E.reshape(E.linear(X, ww, bb, 'tanh'), [M]), yy);
    // first order: the value's tangent against a float64 central difference
    const [val, tan] = E.jvp(f, [W, B, Y], [VW, VB, VY]);
    const e1 = 1e-6;
    const fd1 = (mse64(axpy(w, e1, vw), axpy(b, e1, vb), axpy(y, e1, vy)) - mse64(axpy(w, -e1, vw), axpy(b, -e1, vb), axpy(y, -e1, vy))) / (2 * e1);
    expect(Math.abs((await val.data())[0] - mse64(w, b, y)) / mse64(w, b, y)).toBeLessThan(1e-5);
    expect(Math.abs((await tan.data())[0] - fd1) / Math.abs(fd1), `mse tangent vs ${fd1}`).toBeLessThan(1e-4);
    E.dispose([val, tan]);
    // second order: H·v over (W, b, y) against differences of the float64 gradient (by central differences of the loss)
    await E.sync();
    const live = E.memory().liveBuffers;
    let hv: E.Tensor[] = [];
    const labels = dispatchCounts(() => {
      hv = E.hvp(f, [W, B, Y], [VW, VB, VY]) as E.Tensor[];
    });
    expect(labels.get('mse (dual)')).toBe(1);
    expect(labels.get('mse backward (dual)')).toBe(1);
    const grad64m = (p: R.ND[]) => R.numGrad((q) => mse64(q[0], q[1], q[2]), p, 1e-5);
    const e2 = 1e-4;
    const gp = grad64m([axpy(w, e2, vw), axpy(b, e2, vb), axpy(y, e2, vy)]), gm = grad64m([axpy(w, -e2, vw), axpy(b, -e2, vb), axpy(y, -e2, vy)]);
    for (let j = 0; j < 3; j++) await expectRel(hv[j], R.zip(gp[j], gm[j], (u, v) => (u - v) / (2 * e2)), 1e-3, `mse H·v[${j}]`);
    const rr = E.hvpReverse(f, [W, B, Y], [VW, VB, VY]) as E.Tensor[];
    for (let j = 0; j < 3; j++) await expectRel(hv[j], await rr[j].data(), 1e-5, `mse H·v[${j}] vs reverse over reverse`);
    E.dispose([hv, rr]);
    await E.sync();
    expect(E.memory().liveBuffers).toBe(live);
    E.dispose([X, W, B, Y, VW, VB, VY]);
  });

  it('the tangent of g alone (a gradient differentiated along the cotangent) and of y alone', async () => {
    // jvp of u ↦ vjp(linear)(u): only the cotangent carries a tangent (HAS_T0 alone); linear in u,
    // so the tangent equals the vjp applied to the tangent, which the first-order kernels compute.
    const rng = R.rng(53);
    const x = up(randn(rng, [10, 8])), w = up(randn(rng, [6, 8], 0.5)), b = up(randn(rng, [6], 0.5));
    const u = up(randn(rng, [10, 6])), tu = up(randn(rng, [10, 6]));
    for (const act of ACTS) {
      const back = (uu: E.Tensor) => {
        const [, fn] = E.vjp((xx: E.Tensor, ww: E.Tensor, bb: E.Tensor) => E.linear(xx, ww, bb, act), x, w, b);
        const gs = fn(uu);
        return gs;
      };
      const [, tg] = E.jvp(back, [u], [tu]);
      const expected = back(tu);
      for (let i = 0; i < 3; i++) await expectRel(tg[i], await expected[i].data(), 1e-5, `cotangent-only tangent ${act} [${i}]`);
      E.dispose([tg, expected]);
    }
    E.dispose([x, w, b, u, tu]);
  });
});
