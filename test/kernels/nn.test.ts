// Fused network ops against the float64 reference: values, first derivatives against central
// differences of the reference, second derivatives (HVPs) against differences of reference
// gradients; modules, initialisers and parameter naming.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { up, randn, unif, expectRel } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

const actRef: Record<E.Activation, (x: R.ND) => R.ND> = {
  none: (x) => x,
  relu: R.relu,
  tanh: R.tanh,
  sigmoid: R.sigmoid,
};

function linearRef(x: R.ND, w: R.ND, b: R.ND | null, act: E.Activation) {
  const y = R.matmul(x, R.transpose(w));
  return actRef[act](b ? R.add(y, b) : y);
}

describe('fused linear', () => {
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [5, 3, 7], [17, 8, 12], [64, 64, 32], [33, 20, 9], [96, 64, 40]];
  for (const act of ['none', 'relu', 'tanh', 'sigmoid'] as E.Activation[]) {
    it(`forward matches the reference (${act}) on several shapes`, async () => {
      const rng = R.rng(10);
      for (const [M, K, N] of shapes) {
        const x = randn(rng, [M, K]), w = randn(rng, [N, K], 0.5), b = randn(rng, [N]);
        const y = E.scope(() => E.linear(up(x), up(w), up(b), act));
        R.assertClose(await y.data(), linearRef(x, w, b, act), { rtol: 1e-4, atol: 1e-4, label: `linear ${act} ${M}x${K}x${N}` });
        const y2 = E.scope(() => E.linear(up(x), up(w), null, act));
        R.assertClose(await y2.data(), linearRef(x, w, null, act), { rtol: 1e-4, atol: 1e-4, label: `linear (no bias) ${act}` });
        E.dispose([y, y2]);
      }
    });
  }

  it('accepts leading batch dims', async () => {
    const rng = R.rng(11);
    const x = randn(rng, [2, 3, 8]), w = randn(rng, [5, 8]), b = randn(rng, [5]);
    const y = E.linear(up(x), up(w), up(b), 'tanh');
    expect(y.shape).toEqual([2, 3, 5]);
    R.assertClose(await y.data(), linearRef(R.reshape(x, [6, 8]), w, b, 'tanh'), { rtol: 1e-4, atol: 1e-5 });
  });

  for (const act of ['tanh', 'sigmoid', 'relu'] as E.Activation[]) {
    it(`first and second derivatives match differences of the float64 reference (${act})`, async () => {
      const rng = R.rng(12);
      const x = randn(rng, [4, 5]), w = randn(rng, [3, 5], 0.7), b = randn(rng, [3], 0.5), c = randn(rng, [4, 3]);
      const vs = [randn(rng, [4, 5]), randn(rng, [3, 5]), randn(rng, [3])];
      const C = up(c);
      const fE = (X: E.Tensor, W: E.Tensor, B: E.Tensor) => E.sum(E.mul(E.square(E.linear(X, W, B, act)), C));
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.square(linearRef(ps[0], ps[1], ps[2], act)), c));
      const g = E.grad(fE, [0, 1, 2])(up(x), up(w), up(b)) as E.Tensor[];
      const ng = R.numGrad(fR, [x, w, b], 1e-6);
      for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i}`);
      const hv = E.hvp(fE, [up(x), up(w), up(b)], vs.map(up)) as E.Tensor[];
      const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, w, b], vs, 1e-4);
      // relu's second derivative is zero almost everywhere: only the product terms remain.
      for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `hvp ${i}`);
    });
  }

  it('frees every intermediate inside a scope', async () => {
    const x = E.randn([8, 16], 0, 1, { seed: 1 }), w = E.randn([4, 16], 0, 1, { seed: 2 }), b = E.zeros([4]);
    const f = (W: E.Tensor) => E.sum(E.linear(x, W, b, 'tanh'));
    E.dispose(E.scope(() => E.grad(f)(w)));
    await E.sync();
    const before = E.memory().liveBuffers;
    for (let i = 0; i < 5; i++) E.dispose(E.scope(() => E.hvp(f, [w], [w])));
    await E.sync();
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([x, w, b]);
  });
});

describe('softmax family and distributions', () => {
  it('softmax / logSoftmax forward along any axis and their first and second derivatives', async () => {
    const rng = R.rng(20);
    for (const shape of [[3, 5], [2, 4, 7], [1, 300]]) {
      const x = randn(rng, shape, 2);
      for (const axis of [-1, 0]) {
        R.assertClose(await E.softmax(up(x), axis).data(), R.softmax(x, axis), { rtol: 1e-5, atol: 1e-6, label: `softmax ${shape} axis ${axis}` });
        R.assertClose(await E.logSoftmax(up(x), axis).data(), R.logSoftmax(x, axis), { rtol: 1e-5, atol: 1e-5, label: `logSoftmax ${shape} axis ${axis}` });
      }
    }
    const x = randn(rng, [3, 4]), c = randn(rng, [3, 4]), v = randn(rng, [3, 4]);
    for (const [name, fe, fr] of [
      ['softmax', E.softmax, R.softmax],
      ['logSoftmax', E.logSoftmax, R.logSoftmax],
    ] as const) {
      const C = up(c);
      const fE = (t: E.Tensor) => E.sum(E.mul(E.square(fe(t, -1)), C));
      const fR = (ps: R.ND[]) => R.sum(R.mul(R.square(fr(ps[0], -1)), c));
      await expectRel(E.grad(fE)(up(x)), R.numGrad(fR, [x], 1e-6)[0], 1e-4, `${name} grad`);
      const [hv] = E.hvp(fE, [up(x)], [up(v)]) as E.Tensor[];
      await expectRel(hv, R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x], [v], 1e-4)[0], 2e-3, `${name} hvp`);
    }
  });

  it('categorical log-prob and entropy: values, gradients, second derivatives', async () => {
    const rng = R.rng(21);
    const logits = randn(rng, [6, 5], 1.5);
    const actions = R.nd([6], [0, 4, 2, 1, 3, 4]);
    R.assertClose(await E.categoricalLogProb(up(logits), up(actions)).data(), R.categoricalLogProb(logits, actions), { rtol: 1e-5, atol: 1e-5 });
    R.assertClose(await E.categoricalEntropy(up(logits)).data(), R.categoricalEntropy(logits), { rtol: 1e-5, atol: 1e-5 });
    const A = up(actions), c = randn(rng, [6]), C = up(c), v = randn(rng, [6, 5]);
    const cases = [
      ['logProb', (t: E.Tensor) => E.sum(E.mul(E.square(E.categoricalLogProb(t, A)), C)), (ps: R.ND[]) => R.sum(R.mul(R.square(R.categoricalLogProb(ps[0], actions)), c))],
      ['entropy', (t: E.Tensor) => E.sum(E.mul(E.square(E.categoricalEntropy(t)), C)), (ps: R.ND[]) => R.sum(R.mul(R.square(R.categoricalEntropy(ps[0])), c))],
    ] as const;
    for (const [name, fE, fR] of cases) {
      await expectRel(E.grad(fE)(up(logits)), R.numGrad(fR, [logits], 1e-6)[0], 1e-4, `${name} grad`);
      const [hv] = E.hvp(fE, [up(logits)], [up(v)]) as E.Tensor[];
      await expectRel(hv, R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [logits], [v], 1e-4)[0], 2e-3, `${name} hvp`);
    }
  });

  it('Gaussian log-prob with broadcast logStd: values, gradients, second derivatives', async () => {
    const rng = R.rng(22);
    const x = randn(rng, [5, 3]), mean = randn(rng, [5, 3]), logStd = unif(rng, [3], -1, 0.5);
    R.assertClose(await E.gaussianLogProb(up(x), up(mean), up(logStd)).data(), R.gaussianLogProb(x, mean, logStd), { rtol: 1e-5, atol: 1e-5 });
    const fE = (a: E.Tensor, m: E.Tensor, s: E.Tensor) => E.sum(E.square(E.gaussianLogProb(a, m, s)));
    const fR = (ps: R.ND[]) => R.sum(R.square(R.gaussianLogProb(ps[0], ps[1], ps[2])));
    const g = E.grad(fE, [0, 1, 2])(up(x), up(mean), up(logStd)) as E.Tensor[];
    const ng = R.numGrad(fR, [x, mean, logStd], 1e-6);
    for (let i = 0; i < 3; i++) await expectRel(g[i], ng[i], 1e-4, `grad ${i}`);
    const vs = [randn(rng, [5, 3]), randn(rng, [5, 3]), randn(rng, [3])];
    const hv = E.hvp(fE, [up(x), up(mean), up(logStd)], vs.map(up)) as E.Tensor[];
    const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [x, mean, logStd], vs, 1e-4);
    for (let i = 0; i < 3; i++) await expectRel(hv[i], nh[i], 2e-3, `hvp ${i}`);
  });

  it('tanh-squashed Gaussian: sample and log-prob with the tanh correction', async () => {
    const rng = R.rng(23);
    const mean = randn(rng, [4, 2]), logStd = unif(rng, [4, 2], -1, 0), noise = randn(rng, [4, 2]);
    const { action, logProb } = E.tanhGaussian(up(mean), up(logStd), { noise: up(noise), scale: 2, bias: 0.5 });
    const u = R.add(mean, R.mul(R.exp(logStd), noise));
    R.assertClose(await action.data(), R.add(R.mul(R.tanh(u), 2), 0.5), { rtol: 1e-5, atol: 1e-5 });
    const corr = R.sum(R.map(u, (z) => Math.log(2 * (1 - Math.tanh(z) ** 2))), -1);
    R.assertClose(await logProb.data(), R.sub(R.gaussianLogProb(u, mean, logStd), corr), { rtol: 1e-4, atol: 1e-4 });
    // Differentiable through the reparameterisation.
    const fE = (m: E.Tensor, s: E.Tensor) => E.sum(E.tanhGaussian(m, s, { noise: up(noise) }).logProb);
    const fR = (ps: R.ND[]) => {
      const uu = R.add(ps[0], R.mul(R.exp(ps[1]), noise));
      return R.sum(R.sub(R.gaussianLogProb(uu, ps[0], ps[1]), R.sum(R.map(uu, (z) => Math.log(1 - Math.tanh(z) ** 2)), -1)));
    };
    const g = E.grad(fE, [0, 1])(up(mean), up(logStd)) as E.Tensor[];
    const ng = R.numGrad(fR, [mean, logStd], 1e-6);
    for (let i = 0; i < 2; i++) await expectRel(g[i], ng[i], 1e-3, `tanhGaussian grad ${i}`);
  });

  it('MSE and Huber: values, gradients and second derivatives', async () => {
    const rng = R.rng(24);
    for (const n of [1, 7, 1000]) {
      const p = randn(rng, [n], 2), t = randn(rng, [n], 2);
      R.assertClose(await E.mse(up(p), up(t)).data(), R.mse(p, t), { rtol: 1e-5, atol: 1e-6 });
      for (const delta of [1, 0.5]) R.assertClose(await E.huber(up(p), up(t), delta).data(), R.huber(p, t, delta), { rtol: 1e-5, atol: 1e-6 });
    }
    const p = randn(rng, [9], 2), t = randn(rng, [9], 2), v = randn(rng, [9]);
    for (const [name, fe, fr] of [
      ['mse', (a: E.Tensor, b: E.Tensor) => E.mse(a, b), (a: R.ND, b: R.ND) => R.mse(a, b)],
      ['huber', (a: E.Tensor, b: E.Tensor) => E.huber(a, b, 1), (a: R.ND, b: R.ND) => R.huber(a, b, 1)],
    ] as const) {
      const fE = (a: E.Tensor, b: E.Tensor) => E.square(fe(E.tanh(a), b));
      const fR = (ps: R.ND[]) => R.square(fr(R.tanh(ps[0]), ps[1]));
      const g = E.grad(fE, [0, 1])(up(p), up(t)) as E.Tensor[];
      const ng = R.numGrad(fR, [p, t], 1e-6);
      for (let i = 0; i < 2; i++) await expectRel(g[i], ng[i], 1e-4, `${name} grad ${i}`);
      const hv = E.hvp(fE, [up(p), up(t)], [up(v), up(v)]) as E.Tensor[];
      const nh = R.numHvp((ps) => R.numGrad(fR, ps, 1e-6), [p, t], [v, v], 1e-4);
      for (let i = 0; i < 2; i++) await expectRel(hv[i], nh[i], 5e-3, `${name} hvp ${i}`);
    }
  });
});

describe('modules and initialisers', () => {
  it('orthogonal init is orthogonal with the requested gain, seeded and deterministic', async () => {
    for (const [r, c] of [[8, 8], [16, 4], [4, 16]]) {
      const q = R.nd([r, c], E.orthogonalData([r, c], 2, 5));
      const gram = r >= c ? R.matmul(R.transpose(q), q) : R.matmul(q, R.transpose(q));
      const n = Math.min(r, c);
      const eye = R.zeros([n, n]);
      for (let i = 0; i < n; i++) eye.data[i * n + i] = 4;
      R.assertClose(gram, eye, { atol: 1e-10, label: `orthogonal ${r}x${c}` });
    }
    expect(Array.from(E.orthogonalData([5, 3], 1, 7))).toEqual(Array.from(E.orthogonalData([5, 3], 1, 7)));
    expect(Array.from(E.orthogonalData([5, 3], 1, 7))).not.toEqual(Array.from(E.orthogonalData([5, 3], 1, 8)));
  });

  it('Xavier/Kaiming bounds and seeding', async () => {
    const a = await E.xavierUniform([64, 32], 1, 3).data();
    const bound = Math.sqrt(6 / 96);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    const k = await E.kaimingUniform([16, 3, 3, 8], Math.SQRT2, 3).data();
    expect(Math.max(...k.map(Math.abs))).toBeLessThanOrEqual(Math.SQRT2 * Math.sqrt(3 / 72));
    expect(Array.from(await E.xavierUniform([4, 4], 1, 9).data())).toEqual(Array.from(await E.xavierUniform([4, 4], 1, 9).data()));
  });

  it('MLP: PyTorch-style names, CleanRL init options, forward equals the reference, names round-trip', async () => {
    const net = E.MLP([6, 16, 16, 3], { activation: 'tanh', gain: Math.SQRT2, outGain: 0.01 });
    const p = net.init(42);
    const named = E.namedParams(p);
    expect(Object.keys(named)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '4.weight', '4.bias']);
    expect(Array.from(await named['0.bias'].data()).every((v) => v === 0)).toBe(true);
    const w4 = R.nd([3, 16], await named['4.weight'].data());
    R.assertClose(R.matmul(w4, R.transpose(w4)), R.mul(R.nd([3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]), 1e-4), { atol: 1e-9 });
    const rng = R.rng(30);
    const x = randn(rng, [5, 6]);
    const ws = await Promise.all(Object.values(named).map(async (t) => R.nd(t.shape, await t.data())));
    let h = x;
    for (let i = 0; i < 3; i++) h = linearRef(h, ws[2 * i], ws[2 * i + 1], i < 2 ? 'tanh' : 'none');
    R.assertClose(await net.apply(p, up(x)).data(), h, { rtol: 1e-4, atol: 1e-6 });
    const back = E.fromNamed(named);
    expect(E.namedParams(back)).toEqual(named);
    // Same seed, same parameters.
    expect(Array.from(await ((net.init(42)['2'] as E.Params).weight as E.Tensor).data())).toEqual(Array.from(await ((p['2'] as E.Params).weight as E.Tensor).data()));
  });

  it('Sequential with Conv2d/Flatten/Linear keys layers by position and fuses activations', async () => {
    const net = E.Sequential([E.Conv2d(4, 8, 3, { stride: 1 }), E.ReLU(), E.Flatten(), E.Linear(8 * 8 * 8, 32), E.ReLU(), E.Linear(32, 6)]);
    const p = net.init(1);
    expect(Object.keys(E.namedParams(p))).toEqual(['0.weight', '0.bias', '3.weight', '3.bias', '5.weight', '5.bias']);
    const x = E.rand([2, 10, 10, 4], 0, 1, { seed: 3 });
    const before = E.counters().dispatches;
    const y = net.apply(p, x);
    expect(E.counters().dispatches - before).toBe(3); // conv+relu, linear+relu, linear
    const named = E.namedParams(p);
    const ref = async (t: E.Tensor) => R.nd(t.shape, await t.data());
    const xr = await ref(x);
    let h = R.relu(R.conv2d(xr, R.transpose(await ref(named['0.weight']), [1, 2, 3, 0]), { layout: 'NHWC', bias: await ref(named['0.bias']) }));
    h = R.reshape(h, [2, -1]);
    h = linearRef(h, await ref(named['3.weight']), await ref(named['3.bias']), 'relu');
    h = linearRef(h, await ref(named['5.weight']), await ref(named['5.bias']), 'none');
    R.assertClose(await y.data(), h, { rtol: 1e-4, atol: 1e-5 });
  });

  it('LayerNorm and MultiHeadAttention modules match the reference', async () => {
    const rng = R.rng(31);
    const ln = E.LayerNorm(8);
    const x = randn(rng, [3, 5, 8]);
    R.assertClose(await ln.apply(ln.init(0), up(x)).data(), R.layerNorm(x), { rtol: 1e-4, atol: 1e-5 });
    const mha = E.MultiHeadAttention(8, 2);
    const p = mha.init(3);
    expect(Object.keys(E.namedParams(p))).toEqual(['q.weight', 'q.bias', 'k.weight', 'k.bias', 'v.weight', 'v.bias', 'o.weight', 'o.bias']);
    const named = E.namedParams(p);
    const W: Record<string, R.ND> = {};
    for (const [k, t] of Object.entries(named)) W[k] = R.nd(t.shape, await t.data());
    const proj = (n: string, t: R.ND) => linearRef(t, W[`${n}.weight`], W[`${n}.bias`], 'none');
    const heads = (t: R.ND) => R.transpose(R.reshape(t, [3, 5, 2, 4]), [0, 2, 1, 3]);
    const a = R.attention(heads(proj('q', x)), heads(proj('k', x)), heads(proj('v', x)));
    const expected = proj('o', R.reshape(R.transpose(a, [0, 2, 1, 3]), [3, 5, 8]));
    R.assertClose(await mha.apply(p, up(x)).data(), expected, { rtol: 1e-4, atol: 1e-5 });
  });
});
