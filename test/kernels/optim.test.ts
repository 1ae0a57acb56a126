// The one-dispatch optimizers against a float64 transcription of torch.optim's single-tensor
// update rules, step for step over 100 steps (same gradient sequence on both sides), plus
// clipping without readback, tensor learning rates, state round trips and dispatch counts.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';

beforeAll(async () => {
  await E.init();
});

const SHAPES: Record<string, number[]> = { 'a.weight': [7, 5], 'a.bias': [7], 'b.weight': [3, 70], c: [1] };

type Vec = Float64Array;
interface RefOpt {
  step(p: Vec[], g: Vec[], lr: number): void;
}

function refAdam(n: number[], o: { betas: [number, number]; eps: number; wd: number; decoupled: boolean }): RefOpt {
  const m = n.map((k) => new Float64Array(k)), v = n.map((k) => new Float64Array(k));
  let t = 0;
  return {
    step(ps, gs, lr) {
      t++;
      const [b1, b2] = o.betas;
      const bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t;
      ps.forEach((p, k) => {
        for (let i = 0; i < p.length; i++) {
          let g = gs[k][i];
          if (o.decoupled) p[i] *= 1 - lr * o.wd;
          else g += o.wd * p[i];
          m[k][i] = b1 * m[k][i] + (1 - b1) * g;
          v[k][i] = b2 * v[k][i] + (1 - b2) * g * g;
          const denom = Math.sqrt(v[k][i]) / Math.sqrt(bc2) + o.eps;
          p[i] -= (lr / bc1) * (m[k][i] / denom);
        }
      });
    },
  };
}

function refSgd(n: number[], o: { momentum: number; dampening: number; nesterov: boolean; wd: number }): RefOpt {
  const buf: (Float64Array | null)[] = n.map(() => null);
  return {
    step(ps, gs, lr) {
      ps.forEach((p, k) => {
        const d = new Float64Array(p.length);
        for (let i = 0; i < p.length; i++) d[i] = gs[k][i] + o.wd * p[i];
        if (o.momentum !== 0) {
          const b = buf[k];
          if (!b) buf[k] = Float64Array.from(d);
          else for (let i = 0; i < p.length; i++) b[i] = o.momentum * b[i] + (1 - o.dampening) * d[i];
          const bb = buf[k]!;
          for (let i = 0; i < p.length; i++) d[i] = o.nesterov ? d[i] + o.momentum * bb[i] : bb[i];
        }
        for (let i = 0; i < p.length; i++) p[i] -= lr * d[i];
      });
    },
  };
}

function refRmsprop(n: number[], o: { alpha: number; eps: number; momentum: number; centered: boolean; wd: number }): RefOpt {
  const sq = n.map((k) => new Float64Array(k)), ga = n.map((k) => new Float64Array(k)), mb = n.map((k) => new Float64Array(k));
  return {
    step(ps, gs, lr) {
      ps.forEach((p, k) => {
        for (let i = 0; i < p.length; i++) {
          const g = gs[k][i] + o.wd * p[i];
          sq[k][i] = o.alpha * sq[k][i] + (1 - o.alpha) * g * g;
          let avg: number;
          if (o.centered) {
            ga[k][i] = o.alpha * ga[k][i] + (1 - o.alpha) * g;
            avg = Math.sqrt(sq[k][i] - ga[k][i] ** 2) + o.eps;
          } else avg = Math.sqrt(sq[k][i]) + o.eps;
          if (o.momentum > 0) {
            mb[k][i] = o.momentum * mb[k][i] + g / avg;
            p[i] -= lr * mb[k][i];
          } else p[i] -= (lr * g) / avg;
        }
      });
    },
  };
}

function clipRef(gs: Vec[], maxNorm: number): Vec[] {
  let s = 0;
  for (const g of gs) for (const v of g) s += v * v;
  const coef = Math.min(1, maxNorm / (Math.sqrt(s) + 1e-6));
  return gs.map((g) => g.map((v) => v * coef));
}

interface Case {
  name: string;
  make: (p: E.Params) => E.Optimizer;
  ref: (n: number[]) => RefOpt;
  lr: (t: number) => number;
  clip?: number;
  tensorLr?: boolean;
}

const cases: Case[] = [
  { name: 'adam', make: (p) => E.adam(p, { lr: 1e-2 }), ref: (n) => refAdam(n, { betas: [0.9, 0.999], eps: 1e-8, wd: 0, decoupled: false }), lr: () => 1e-2 },
  { name: 'adam + L2 + clipping', make: (p) => E.adam(p, { lr: 3e-3, betas: [0.8, 0.99], weightDecay: 0.1 }), ref: (n) => refAdam(n, { betas: [0.8, 0.99], eps: 1e-8, wd: 0.1, decoupled: false }), lr: () => 3e-3, clip: 2 },
  { name: 'adamw + linear decay as a tensor lr', make: (p) => E.adamw(p, { lr: 1e-2, weightDecay: 0.05 }), ref: (n) => refAdam(n, { betas: [0.9, 0.999], eps: 1e-8, wd: 0.05, decoupled: true }), lr: (t) => E.linearDecay(t, 100, 1e-2), tensorLr: true },
  { name: 'sgd', make: (p) => E.sgd(p, { lr: 0.05 }), ref: (n) => refSgd(n, { momentum: 0, dampening: 0, nesterov: false, wd: 0 }), lr: () => 0.05 },
  { name: 'sgd momentum + dampening + wd', make: (p) => E.sgd(p, { lr: 0.02, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }), ref: (n) => refSgd(n, { momentum: 0.9, dampening: 0.1, nesterov: false, wd: 1e-3 }), lr: () => 0.02 },
  { name: 'sgd nesterov + clipping', make: (p) => E.sgd(p, { lr: 0.02, momentum: 0.9, nesterov: true }), ref: (n) => refSgd(n, { momentum: 0.9, dampening: 0, nesterov: true, wd: 0 }), lr: () => 0.02, clip: 1 },
  {
    name: 'rmsprop centered (MinAtar DQN settings)',
    make: (p) => E.rmsprop(p, { lr: 2.5e-4, alpha: 0.95, eps: 0.01, centered: true }),
    ref: (n) => refRmsprop(n, { alpha: 0.95, eps: 0.01, momentum: 0, centered: true, wd: 0 }),
    lr: () => 2.5e-4,
  },
  {
    name: 'rmsprop momentum + wd',
    make: (p) => E.rmsprop(p, { lr: 1e-3, alpha: 0.99, eps: 1e-8, momentum: 0.5, weightDecay: 0.01 }),
    ref: (n) => refRmsprop(n, { alpha: 0.99, eps: 1e-8, momentum: 0.5, centered: false, wd: 0.01 }),
    lr: () => 1e-3,
  },
];

describe('optimizers: one dispatch, step for step against float64 torch.optim transcriptions', () => {
  for (const c of cases) {
    it(`${c.name}: 100 steps`, async () => {
      const rng = R.rng(7);
      const names = Object.keys(SHAPES);
      const sizes = names.map((k) => SHAPES[k].reduce((a, b) => a * b, 1));
      const init = sizes.map((n) => Float64Array.from(Float32Array.from(rng.ndNormal([n]).data)));
      const tree = E.fromNamed(Object.fromEntries(names.map((k, i) => [k, E.tensor(Float32Array.from(init[i]), SHAPES[k])])));
      const { params, flat } = E.packParams(tree);
      const opt = c.make(params);
      const ref = c.ref(sizes);
      const ps = init.map((a) => Float64Array.from(a));
      const leaves = Object.values(E.namedParams(params));
      let worst = 0;
      for (let t = 0; t < 100; t++) {
        // Gradients: a fixed seeded sequence (float32 values) plus a pull towards zero, so the
        // trajectory depends on the parameters (and errors would compound).
        const cur = await E.readAll(leaves);
        const gs = sizes.map((n, i) => {
          const noise = Float32Array.from(rng.ndNormal([n], 0, t % 10 === 0 ? 5 : 1).data);
          return Float64Array.from(noise.map((v, j) => Math.fround(v + 0.5 * cur[i][j])));
        });
        const grads = E.fromNamed(Object.fromEntries(names.map((k, i) => [k, E.tensor(Float32Array.from(gs[i]), SHAPES[k])])));
        const lr = c.lr(t);
        const lrArg = c.tensorLr ? E.tensor([lr]) : lr;
        const d0 = E.counters().dispatches;
        opt.step(params, grads, { lr: lrArg, maxGradNorm: c.clip });
        expect(E.counters().dispatches - d0).toBe(c.clip ? 2 : 1);
        E.dispose([grads, lrArg]);
        // The reference consumes the same gradients, in float64 arithmetic.
        ref.step(ps, c.clip ? clipRef(gs, c.clip) : gs, lr);
        const now = await E.readAll(leaves);
        for (let i = 0; i < ps.length; i++) {
          const err = R.maxAbsError(now[i], ps[i]);
          const scale = Math.max(1, ...Array.from(ps[i], Math.abs));
          worst = Math.max(worst, err / scale);
          // Re-sync the reference to float32 so each step is compared from identical states.
          for (let j = 0; j < ps[i].length; j++) ps[i][j] = now[i][j];
        }
      }
      expect(worst, `${c.name}: worst per-step relative deviation ${worst}`).toBeLessThan(2e-6);
      expect(opt.stepCount).toBe(100);
      opt.dispose();
      E.dispose([params, flat]);
    });
  }

  it('matches the reference over 100 steps without re-syncing (drift stays at float32 rounding level)', async () => {
    const rng = R.rng(8);
    const n = 300;
    const init = Float64Array.from(Float32Array.from(rng.ndNormal([n]).data));
    const { params, flat } = E.packParams({ w: E.tensor(Float32Array.from(init), [n]) });
    const opt = E.adam(params, { lr: 1e-2 });
    const ref = refAdam([n], { betas: [0.9, 0.999], eps: 1e-8, wd: 0, decoupled: false });
    const p = [Float64Array.from(init)];
    for (let t = 0; t < 100; t++) {
      const g = Float64Array.from(Float32Array.from(rng.ndNormal([n]).data));
      const G = E.tensor(Float32Array.from(g), [n]);
      opt.step(params, { w: G });
      G.dispose();
      ref.step(p, [g], 1e-2);
    }
    const err = R.maxAbsError(await (params.w as E.Tensor).data(), p[0]);
    expect(err).toBeLessThan(1e-4);
    opt.dispose();
    E.dispose([params, flat]);
  });

  it('clipGradNorm scales a tree on the GPU like torch.nn.utils.clip_grad_norm_', async () => {
    const a = E.tensor([3, 4]), b = E.tensor([[12]]);
    const { grads, norm } = E.clipGradNorm({ a, b }, 6.5);
    expect(await norm.item()).toBeCloseTo(13, 5);
    R.assertClose(await (grads.a as E.Tensor).data(), [1.5, 2], { rtol: 1e-5 });
    R.assertClose(await (grads.b as E.Tensor).data(), [6], { rtol: 1e-5 });
    const small = E.clipGradNorm([a], 100);
    R.assertClose(await small.grads[0].data(), [3, 4], { rtol: 1e-6 });
  });

  it('state() / loadState() round-trip reproduces the trajectory; requires packed params', async () => {
    const mk = () => E.packParams({ fc: { weight: E.tensor([[0.5, -0.25], [1, 2]]), bias: E.tensor([0.1, -0.1]) } });
    const A = mk(), B = mk();
    const grads = { fc: { weight: E.tensor([[0.1, 0.2], [-0.3, 0.4]]), bias: E.tensor([1, -1]) } };
    const oa = E.rmsprop(A.params, { lr: 0.01, centered: true, momentum: 0.9 });
    for (let i = 0; i < 3; i++) oa.step(A.params, grads);
    const st = oa.state();
    expect(Object.keys(st)).toContain('square_avg.fc.weight');
    expect(await st.step.item()).toBe(3);
    const ob = E.rmsprop(B.params, { lr: 0.01, centered: true, momentum: 0.9 });
    E.runtime().copy(A.flat.buffer.buffer, 0, B.flat.buffer.buffer, 0, A.flat.size * 4);
    await ob.loadState(st);
    expect(ob.stepCount).toBe(3);
    oa.step(A.params, grads);
    ob.step(B.params, grads);
    expect(Array.from(await B.flat.data())).toEqual(Array.from(await A.flat.data()));
    expect(() => E.adam({ w: E.zeros([3]) })).toThrow(/packParams/);
    E.dispose([st]);
    oa.dispose();
    ob.dispose();
  });

  it('a training loop inside scope() leaks no buffers', async () => {
    const net = E.MLP([4, 32, 2], { activation: 'relu' });
    const { params } = E.packParams(net.init(0));
    const opt = E.adamw(params, { lr: 1e-3 });
    const x = E.randn([16, 4], 0, 1, { seed: 1 }), y = E.randn([16, 2], 0, 1, { seed: 2 });
    const stepOnce = () =>
      E.scope(() => {
        const g = E.grad((p: E.Params) => E.mse(net.apply(p, x), y))(params);
        opt.step(params, g, { maxGradNorm: 0.5 });
      });
    stepOnce();
    await E.sync();
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 10; i++) stepOnce();
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('lastGradNorm outside a scope: the pre-clip norm; the optimizer frees its buffers after being asked', async () => {
    await E.sync();
    const before = E.memory().liveBuffers;
    const { params, flat } = E.packParams({ w: E.tensor([1, 2, 3]) });
    const opt = E.adam(params, { lr: 1e-3 });
    const g = { w: E.tensor([3, 4, 12]) };
    opt.step(params, g, { maxGradNorm: 0.5 });
    for (let i = 0; i < 5; i++) {
      const n = opt.lastGradNorm();
      expect(await n.item()).toBeCloseTo(13, 4); // ‖(3, 4, 12)‖ = 13, before clipping to 0.5
      n.dispose();
    }
    // A view left undisposed keeps the optimizer's hyper-parameter buffer alive after dispose().
    opt.dispose();
    E.dispose([params, flat, g.w]);
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
  });
});
