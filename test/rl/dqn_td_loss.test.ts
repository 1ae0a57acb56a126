// The fused TD loss (engine/nn/td_loss.ts: one dispatch forward, one backward) against a float64
// CPU reference written here: targets (DQN max, Double DQN argmax-gather with ties), Q(s, a),
// MSE / Huber / BEV values and statistics, gradients against the closed form and against central
// finite differences of the float64 loss; the composed rule (grad of grad, jvp) against the
// composed op; live buffers; bad input.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { tdLoss, tdLossComposed, tdLossHead, TD_STAT_NAMES, type TdLossKind } from '../../engine/nn/td_loss.ts';

beforeAll(async () => {
  await E.init();
});

const B = 7, A = 4;
// A fixed batch; row 2 of the selector has a tie (first index wins), row 5 is terminal, row 6
// has a tie in the target's max.
const Q = [
  [0.1, -0.4, 0.9, 0.3], [1.2, 0.0, -0.5, 0.8], [-0.3, 0.6, 0.6, -1.1], [0.5, 0.5, 0.2, -0.2],
  [2.0, -1.5, 0.4, 0.1], [-0.7, 0.3, 0.05, 0.9], [0.25, -0.6, 1.4, -0.05],
];
const QT = [
  [0.3, 0.7, -0.2, 0.1], [-0.4, 0.2, 0.9, 0.5], [1.1, -0.3, 0.4, 0.0], [0.6, -0.9, 0.2, 0.35],
  [-0.2, 0.15, 0.8, 1.3], [0.4, 0.4, -0.6, 0.2], [0.5, 0.5, -0.1, 0.2],
];
const QS = [
  [0.2, -0.1, 0.5, 0.3], [0.9, 1.0, 0.1, -0.2], [0.4, 0.7, 0.7, 0.1], [-0.5, 0.3, 0.8, 0.2],
  [0.6, 0.1, -0.3, 0.6], [0.0, 0.2, 0.9, -0.4], [1.1, 0.3, 0.2, 0.0],
];
const ACT = [2, 0, 1, 3, 0, 2, 1];
const R = [0, 1, 0, 0.5, -1, 1, 0];
const D = [0, 0, 0, 1, 0, 1, 0];
const GAMMA = 0.97;

function ref(kind: TdLossKind, double: boolean, q = Q, delta = 1) {
  const y = QT.map((row, i) => {
    let next: number;
    if (double) {
      let bi = 0;
      QS[i].forEach((v, j) => { if (v > QS[i][bi]) bi = j; });
      next = row[bi];
    } else next = Math.max(...row);
    return R[i] + (1 - D[i]) * GAMMA * next;
  });
  const qa = q.map((row, i) => row[ACT[i]]);
  const d = qa.map((v, i) => y[i] - v);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const md = mean(d);
  const msbe = mean(d.map((x) => x * x));
  const bev = mean(d.map((x) => (x - md) ** 2));
  const huber = mean(qa.map((v, i) => {
    const e = Math.abs(v - y[i]);
    return e <= delta ? 0.5 * e * e : delta * (e - 0.5 * delta);
  }));
  const loss = kind === 'mse' ? msbe : kind === 'bev' ? bev : huber;
  const c = qa.map((v, i) => (kind === 'mse' ? -2 * d[i] / B : kind === 'bev' ? -2 * (d[i] - md) / B : Math.min(Math.max(v - y[i], -delta), delta) / B));
  const grad = q.map((row, i) => row.map((_, j) => (j === ACT[i] ? c[i] : 0)));
  return { loss, stats: [loss, mean(qa), msbe, bev, md], grad };
}

const args = (kind: TdLossKind, double: boolean, q: E.Tensor, delta = 1) => ({
  q, qNextTarget: E.tensor(QT), qNextSelect: double ? E.tensor(QS) : null,
  actions: E.tensor(ACT), rewards: E.tensor(R), dones: E.tensor(D), gamma: GAMMA, loss: kind, huberDelta: delta,
});

describe.each([
  ['mse', false], ['mse', true], ['huber', false], ['huber', true], ['bev', false], ['bev', true],
] as Array<[TdLossKind, boolean]>)('tdLoss %s (double %s)', (kind, double) => {
  it('value, statistics and gradient match float64; gradient matches central differences; one dispatch each way; no leaks', async () => {
    const live = E.memory().liveBuffers;
    const r = ref(kind, double);
    const d0 = E.counters().dispatches;
    const [v, st, g] = E.scope(() => {
      const q = E.tensor(Q);
      const a = args(kind, double, q);
      let st: E.Tensor | null = null;
      const [v, g] = E.valueAndGrad((x: E.Tensor) => {
        const out = tdLoss({ ...a, q: x });
        st = E.keep(out.stats);
        return out.loss;
      })(q);
      return [v, st!, g] as const;
    });
    // the forward, the cotangent seed, the backward (the 7 uploads are writes, not dispatches)
    const dispatches = E.counters().dispatches - d0;
    const [vv, stats, grad] = await E.readAll([v, st, g]);
    const value = vv[0];
    E.dispose([v, st, g]);
    expect(value).toBeCloseTo(r.loss, 5);
    expect(Array.from(stats)).toHaveLength(TD_STAT_NAMES.length);
    Array.from(stats).forEach((s, i) => expect(s).toBeCloseTo(r.stats[i], 5));
    Array.from(grad).forEach((g, k) => expect(g).toBeCloseTo(r.grad[Math.floor(k / A)][k % A], 5));
    expect(dispatches).toBeLessThanOrEqual(3);
    // central finite differences of the float64 loss (h = 1e-4) at every Q entry
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < A; j++) {
        const bump = (s: number) => Q.map((row, ii) => row.map((v, jj) => (ii === i && jj === j ? v + s : v)));
        const fd = (ref(kind, double, bump(1e-4)).loss - ref(kind, double, bump(-1e-4)).loss) / 2e-4;
        expect(grad[i * A + j]).toBeCloseTo(fd, 4);
      }
    }
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('equals the composed op, also where the gradient is differentiated again (HVP) and under jvp', async () => {
    const live = E.memory().liveBuffers;
    const outs = E.scope(() => {
      const q = E.tensor(Q);
      const v = E.tensor(Q.map((row, i) => row.map((_, j) => Math.sin(i * A + j))));
      const a = args(kind, double, q);
      const fused = (x: E.Tensor) => tdLoss({ ...a, q: E.mul(x, x) }).loss;
      const composed = (x: E.Tensor) => tdLossComposed({ ...a, q: E.mul(x, x) }).loss;
      const [, t1] = E.jvp(fused, [q], [v]);
      const [, t2] = E.jvp(composed, [q], [v]);
      // forward over reverse (the tangent rule through the backward) and reverse over reverse (the composed backward)
      return [E.hvp(fused, [q], [v])[0], E.hvpReverse(fused, [q], [v])[0], E.hvp(composed, [q], [v])[0], t1, t2, tdLoss(a).stats, tdLossComposed(a).stats];
    });
    const [h1, h1r, h2, t1, t2, s1, s2] = await E.readAll(outs);
    E.dispose(outs);
    expect(h2.some((x) => Math.abs(x) > 1e-3)).toBe(true);
    h1.forEach((x, k) => expect(x).toBeCloseTo(h2[k], 4));
    h1r.forEach((x, k) => expect(x).toBeCloseTo(h2[k], 4));
    expect(t1[0]).toBeCloseTo(t2[0], 4);
    s1.forEach((x, k) => expect(x).toBeCloseTo(s2[k], 5));
    expect(E.memory().liveBuffers).toBe(live);
  });
});

it('tdLoss: Huber at another delta, a batch larger than the workgroup, and invalid actions give Q(s, a) = 0 like the one-hot gather', async () => {
  const live = E.memory().liveBuffers;
  const r = ref('huber', false, Q, 0.3);
  const outs = E.scope(() => {
    const out = tdLoss(args('huber', false, E.tensor(Q), 0.3));
    // 300 rows (> 64 threads): against the composed op
    const n = 300;
    const rows = (f: (i: number, j: number) => number) => E.tensor(Array.from({ length: n }, (_, i) => Array.from({ length: 3 }, (_, j) => f(i, j))));
    const big = {
      q: rows((i, j) => Math.sin(i + 3 * j)), qNextTarget: rows((i, j) => Math.cos(2 * i - j)), qNextSelect: rows((i, j) => Math.sin(i * j)),
      actions: E.tensor(Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 3 : i % 3))), rewards: E.tensor(Array.from({ length: n }, (_, i) => (i % 5) / 4)),
      dones: E.tensor(Array.from({ length: n }, (_, i) => +(i % 11 === 0))), gamma: 0.9, loss: 'bev' as const,
    };
    return [out.loss, tdLoss(big).stats, tdLossComposed(big).stats];
  });
  const [l, s1, s2] = await E.readAll(outs);
  E.dispose(outs);
  expect(l[0]).toBeCloseTo(r.loss, 5);
  s1.forEach((x, k) => expect(x).toBeCloseTo(s2[k], 4));
  expect(E.memory().liveBuffers).toBe(live);
});

it('tdLoss: bad input names the problem', () => {
  E.scope(() => {
    const a = args('mse', false, E.tensor(Q));
    expect(() => tdLoss({ ...a, loss: 'l1' as TdLossKind })).toThrow(/unknown loss 'l1'; valid: mse, huber, bev/);
    expect(() => tdLoss({ ...a, q: E.tensor(Q.flat()) })).toThrow(/q must be \[batch, actions\]/);
    expect(() => tdLoss({ ...a, qNextTarget: E.zeros([B, A + 1]) })).toThrow(/qNextTarget \[7, 5\] must match q \[7, 4\]/);
    expect(() => tdLoss({ ...a, rewards: E.zeros([B + 1]) })).toThrow(/rewards has 8 elements/);
    expect(() => tdLoss({ ...a, huberDelta: 0 })).toThrow(/huberDelta/);
  });
});

describe.each([
  ['mse', false], ['huber', true], ['bev', false], ['bev', true],
] as Array<[TdLossKind, boolean]>)('tdLossHead %s (double %s): the loss through the output layer', (kind, double) => {
  const Hd = 5;
  const Hm = Array.from({ length: B }, (_, i) => Array.from({ length: Hd }, (_, m) => Math.max(0, Math.sin(1.3 * i + 0.7 * m + 0.2))));
  const Wm = Array.from({ length: A }, (_, j) => Array.from({ length: Hd }, (_, m) => 0.4 * Math.cos(0.9 * j - 1.1 * m)));
  const bv = [0.05, -0.1, 0.2, 0.0];
  const qOf = () => Hm.map((row) => Wm.map((wr, j) => wr.reduce((s, w, m) => s + w * row[m], bv[j])));

  it('value, statistics and dh, dW, db match float64 (packed w, b: two dispatches and the seed); no leaks', async () => {
    const live = E.memory().liveBuffers;
    const r = ref(kind, double, qOf());
    const dq = r.grad;
    const dh = Hm.map((_, i) => Array.from({ length: Hd }, (_, m) => dq[i].reduce((s, c, j) => s + c * Wm[j][m], 0)));
    const dW = Wm.map((_, j) => Array.from({ length: Hd }, (_, m) => dq.reduce((s, row, i) => s + row[j] * Hm[i][m], 0)));
    const db = bv.map((_, j) => dq.reduce((s, row) => s + row[j], 0));
    const packed = E.packParams({ w: E.tensor(Wm), b: E.tensor(bv) });
    let n = 0;
    const outs = E.scope(() => {
      const a = args(kind, double, E.zeros([B, A]));
      const d0 = E.counters().dispatches;
      let st: E.Tensor | null = null;
      const [v, g] = E.valueAndGrad((h: E.Tensor, w: E.Tensor, b: E.Tensor) => {
        const out = tdLossHead({ ...a, h, w, b });
        st = E.keep(out.stats);
        return out.loss;
      }, [0, 1, 2])(E.tensor(Hm), packed.params.w, packed.params.b);
      n = E.counters().dispatches - d0;
      return [v, st!, ...g] as E.Tensor[];
    });
    expect(n).toBeLessThanOrEqual(3);
    const [v, st, gh, gw, gb] = await E.readAll(outs);
    expect(v[0]).toBeCloseTo(r.loss, 5);
    Array.from(st).forEach((x, i) => expect(x).toBeCloseTo(r.stats[i], 5));
    Array.from(gh).forEach((x, k) => expect(x).toBeCloseTo(dh[Math.floor(k / Hd)][k % Hd], 5));
    Array.from(gw).forEach((x, k) => expect(x).toBeCloseTo(dW[Math.floor(k / Hd)][k % Hd], 5));
    Array.from(gb).forEach((x, k) => expect(x).toBeCloseTo(db[k], 5));
    E.dispose([outs, packed.params, packed.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('equals tdLoss(linear(h, w, b)) under HVPs (both modes) and with unpacked w, b', async () => {
    const live = E.memory().liveBuffers;
    const packed = E.packParams({ w: E.tensor(Wm), b: E.tensor(bv) });
    const outs = E.scope(() => {
      const a = args(kind, double, E.zeros([B, A]));
      const h0 = E.tensor(Hm);
      const v = E.tensor(Hm.map((row, i) => row.map((_, m) => Math.cos(i + 2 * m))));
      const fused = (h: E.Tensor) => tdLossHead({ ...a, h: E.mul(h, h), w: packed.params.w, b: packed.params.b }).loss;
      const composed = (h: E.Tensor) => tdLoss({ ...a, q: E.linear(E.mul(h, h), packed.params.w, packed.params.b) }).loss;
      const unpacked = tdLossHead({ ...a, h: h0, w: E.tensor(Wm), b: E.tensor(bv) }).stats;
      return [E.hvp(fused, [h0], [v])[0], E.hvpReverse(fused, [h0], [v])[0], E.hvp(composed, [h0], [v])[0], unpacked, tdLoss({ ...a, q: E.tensor(qOf()) }).stats];
    });
    const [h1, h1r, h2, su, sq] = await E.readAll(outs);
    expect(h2.some((x) => Math.abs(x) > 1e-4)).toBe(true);
    h1.forEach((x, k) => expect(x).toBeCloseTo(h2[k], 4));
    h1r.forEach((x, k) => expect(x).toBeCloseTo(h2[k], 4));
    su.forEach((x, k) => expect(x).toBeCloseTo(sq[k], 5));
    E.dispose([outs, packed.params, packed.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});
