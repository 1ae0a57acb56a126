// The DQN/SCORER losses and targets against float64 references: the network written again on
// the CPU in float64, values compared directly and gradients against central finite
// differences of that float64 forward; targets and dueling by hand; the ε and target-copy
// schedules.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { qNetwork, duelingAggregate, l1Norm, type QNetParams } from '../../rl/dqn/nets.ts';
import { bev, epsilonAt, msbe, qAt, tdLoss, tdTarget, targetCopyDue } from '../../rl/dqn/losses.ts';
import { dqnAlgorithms, dqnLearner, qAlgorithm, resolveDqnConfig, type QLearner } from '../../rl/dqn.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import type { RunConfig } from '../../rl/harness/types.ts';
import { type F64, toF64, lin, l1n } from './dqn_ref.ts';

const dqn = dqnAlgorithms.dqn;

beforeAll(async () => {
  await E.init();
});

function q64(p: F64, obs: number[][], dueling: boolean): number[][] {
  const g = (n: string) => p[n];
  let h = l1n(obs);
  h = lin(h, g('encoder.0.weight'), g('encoder.0.bias'), true);
  h = l1n(lin(h, g('encoder.1.weight'), g('encoder.1.bias'), true));
  if (!dueling) return lin(lin(h, g('head.0.weight'), g('head.0.bias'), true), g('head.1.weight'), g('head.1.bias'), false);
  const v = lin(lin(h, g('head.value.0.weight'), g('head.value.0.bias'), true), g('head.value.1.weight'), g('head.value.1.bias'), false);
  const a = lin(lin(h, g('head.advantage.0.weight'), g('head.advantage.0.bias'), true), g('head.advantage.1.weight'), g('head.advantage.1.bias'), false);
  return a.map((row, i) => {
    const m = row.reduce((s, x) => s + x, 0) / row.length;
    return row.map((x) => v[i][0] + x - m);
  });
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
function msbe64(q: number[], y: number[]) {
  return mean(q.map((v, i) => (y[i] - v) ** 2));
}
function bev64(q: number[], y: number[]) {
  const d = q.map((v, i) => y[i] - v);
  const m = mean(d);
  return mean(d.map((x) => (x - m) ** 2));
}

// A fixed batch: 5 samples of 8 binary cells, 3 actions.
const OBS = [
  [1, 0, 0, 1, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0, 0, 1], [0, 0, 0, 1, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0, 1, 1],
];
const ACTS = [0, 2, 1, 2, 0];
const Y = [0.3, -0.2, 1.1, 0.05, 0.7];

describe.each([false, true])('MSBE and BEV vs float64 (dueling %s)', (dueling) => {
  it('values and gradients (follower BEV w.r.t. the encoder, leader MSBE w.r.t. the head)', async () => {
    const live = E.memory().liveBuffers;
    const net = qNetwork([8], 3, { hidden: 6, streamHidden: 4, dueling });
    const params = net.init(11) as QNetParams;
    const p64 = await toF64(params);
    const obs = E.tensor(OBS.flat(), [5, 8]), a = E.tensor(ACTS), y = E.tensor(Y);
    const qaOf = (p: F64) => q64(p, OBS, dueling).map((r, i) => r[ACTS[i]]);
    const qa0 = qaOf(p64);

    // Values.
    const [m, b] = E.scope(() => {
      const qa = qAt(net.q(params, obs), a);
      return [E.keep(msbe(qa, y)), E.keep(bev(qa, y))];
    });
    const [mv, bv] = (await E.readAll([m, b])).map((d) => d[0]);
    expect(mv).toBeCloseTo(msbe64(qa0, Y), 5);
    expect(bv).toBeCloseTo(bev64(qa0, Y), 5);
    expect(bv).toBeLessThan(mv); // BEV = MSBE − (mean δ)²
    E.dispose([m, b]);

    // Gradients: the follower's BEV in φ (θ constant), the leader's MSBE in θ (features stop-gradient).
    const gEnc = E.grad((e: E.Params) => bev(qAt(net.head.apply(params.head, net.encoder.apply(e, obs)), a), y))(params.encoder);
    const f = E.scope(() => E.noGrad(() => net.encoder.apply(params.encoder, obs)));
    const gHead = E.grad((h: E.Params) => msbe(qAt(net.head.apply(h, f), a), y))(params.head);
    const gpu = { ...(await toF64({ encoder: gEnc })), ...(await toF64({ head: gHead })) };
    const eps = 1e-6;
    let checked = 0;
    for (const [name, g] of Object.entries(gpu)) {
      const loss = name.startsWith('encoder') ? bev64 : msbe64;
      const w = p64[name].data;
      for (let i = 0; i < w.length; i++) {
        const keep = w[i];
        w[i] = keep + eps;
        const up = loss(qaOf(p64), Y);
        w[i] = keep - eps;
        const dn = loss(qaOf(p64), Y);
        w[i] = keep;
        const fd = (up - dn) / (2 * eps);
        expect(Math.abs(g.data[i] - fd), `${name}[${i}]: GPU ${g.data[i]} vs float64 FD ${fd}`).toBeLessThan(2e-5 + 2e-3 * Math.abs(fd));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
    // The Q-head's last layer is initialised small (orthogonal gain 0.01): its gradient is not.
    E.dispose([gEnc, gHead, f, obs, a, y, params]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('targets and aggregation by hand', () => {
  it('DQN target: r + γ(1 − d)·max Q_target; Double: Q_target at argmax of the online Q', async () => {
    const qT = E.tensor([[1, 5, 2], [0.5, -1, 3], [4, 4.5, 0]]);
    const qOn = E.tensor([[3, 1, 2], [0, 2, 1], [9, 0, 0]]);
    const r = E.tensor([1, 0, -1]), d = E.tensor([0, 1, 0]);
    const dqn = tdTarget({ rewards: r, dones: d, gamma: 0.9, qNextTarget: qT });
    const dbl = tdTarget({ rewards: r, dones: d, gamma: 0.9, qNextTarget: qT, qNextSelect: qOn });
    const [a, b] = await E.readAll([dqn, dbl]);
    // DQN: 1 + 0.9·5, 0 (terminal), −1 + 0.9·4.5
    [1 + 0.9 * 5, 0, -1 + 0.9 * 4.5].forEach((v, i) => expect(a[i]).toBeCloseTo(v, 6));
    // Double: argmax online = 0, 1, 0 → Q_target 1, −1 (terminal: ignored), 4
    [1 + 0.9 * 1, 0, -1 + 0.9 * 4].forEach((v, i) => expect(b[i]).toBeCloseTo(v, 6));
    E.dispose([qT, qOn, r, d, dqn, dbl]);
  });

  it('dueling: Q = V + A − mean A; L1Norm divides by the mean absolute value', async () => {
    const v = E.tensor([[2], [-1]]), adv = E.tensor([[1, 2, 3], [0, 0, 6]]);
    const q = duelingAggregate(v, adv);
    expect(Array.from(await q.data())).toEqual([1, 2, 3, -3, -3, 3]);
    const x = E.tensor([[1, -3, 2], [0, 0, 0]]);
    const n = l1Norm(x);
    // mean |x| = 2 → [0.5, −1.5, 1]; an all-zero row stays zero (divided by 1e-8).
    expect(Array.from(await n.data())).toEqual([0.5, -1.5, 1, 0, 0, 0]);
    E.dispose([v, adv, q, x, n]);
  });

  it('Huber is quadratic inside |δ| ≤ 1 and linear outside; MSE is the mean square', async () => {
    const qa = E.tensor([0, 0, 0]), y = E.tensor([0.5, -2, 3]);
    const [h, m] = await E.readAll([tdLoss('huber', qa, y), tdLoss('mse', qa, y)]);
    expect(h[0]).toBeCloseTo((0.5 * 0.25 + (2 - 0.5) + (3 - 0.5)) / 3, 6);
    expect(m[0]).toBeCloseTo((0.25 + 4 + 9) / 3, 5);
    expect(() => tdLoss('l1' as 'mse', qa, y)).toThrow(/unknown TD loss 'l1'; valid: huber, mse/);
    E.dispose([qa, y]);
  });
});

describe('schedules', () => {
  it('ε: linear from start to end over decaySteps, after an optional delay, then flat', () => {
    const ref = { start: 1, end: 0.1, decaySteps: 100_000, startAt: 5000 };
    expect(epsilonAt(0, ref)).toBe(1);
    expect(epsilonAt(5000, ref)).toBe(1);
    expect(epsilonAt(55_000, ref)).toBeCloseTo(0.55, 12);
    expect(epsilonAt(105_000, ref)).toBeCloseTo(0.1, 12);
    expect(epsilonAt(1e7, ref)).toBeCloseTo(0.1, 12);
    const clean = { start: 1, end: 0.01, decaySteps: 250_000 };
    expect(epsilonAt(125_000, clean)).toBeCloseTo(0.505, 12);
    expect(targetCopyDue(1000, 1000)).toBe(true);
    expect(targetCopyDue(999, 1000)).toBe(false);
  });

  it('the harness loop trains every trainFreq vector steps after the warm-up; the agent copies the target at each targetUpdateEvery crossing', async () => {
    const copies: number[] = [];
    const updates: number[] = [];
    let t: Trainer | null = null;
    const fake = (): QLearner => ({
      name: 'fake', statNames: [], opts: {}, params: {}, target: {},
      update: (sample: () => unknown) => {
        updates.push(t!.globalStep);
        E.dispose(sample() as E.Tree);
        return null;
      },
      copyTarget: () => copies.push(t!.globalStep),
      dispose() {},
    }) as unknown as QLearner;
    const algo = qAlgorithm('dqn', fake);
    const cfg = resolveDqnConfig(algo, {
      env: 'cartpole', preset: null, numEnvs: 3, learningStarts: 100, targetUpdateEvery: 50, trainFreq: 2, gradientSteps: 2, batchSize: 8,
      epsStart: 1, epsEnd: 1, totalSteps: 400, evalEvery: 0, logEvery: 1000, bufferSize: 500,
    });
    t = new Trainer(algo, cfg as RunConfig);
    await t.train();
    // Independently: vector steps of 3 env steps; a training call after every 2nd vector step
    // once 100 env steps are done (steps 102, 108, …, 402), 2 updates each; a copy at a call
    // when a multiple of 50 was crossed since the last copy.
    const calls: number[] = [];
    for (let it = 1; 3 * it <= 402; it++) if (it % 2 === 0 && 3 * it >= 100) calls.push(3 * it);
    expect(updates).toEqual(calls.flatMap((c) => [c, c]));
    let next = 50;
    const want: number[] = [];
    for (const c of calls) {
      if (c >= next) {
        want.push(c);
        while (next <= c) next += 50;
      }
    }
    expect(want).toEqual([102, 150, 204, 252, 300, 354, 402]);
    expect(copies).toEqual(want);
    t.dispose();
  });

  it('a real copy makes the target equal the online network; an update leaves the target alone', async () => {
    const cfg = resolveDqnConfig(dqn, { optimizer: 'adam', lr: 1e-2, batchSize: 4, learningStarts: 4, encoder: 'mlp' });
    const L = dqnLearner(cfg, [8], 3);
    const obs = E.tensor(OBS.flat().slice(0, 32), [4, 8]);
    const sample = () => ({ obs: E.clone(obs), nextObs: E.clone(obs), actions: E.tensor([0, 1, 2, 0]), rewards: E.tensor([1, 0, 1, 0]), dones: E.tensor([0, 0, 1, 0]) });
    const before = await toF64(L.target);
    L.update(sample, 1, 1, false);
    const [on, tg] = [await toF64(L.params), await toF64(L.target)];
    expect(tg['head.1.weight'].data).toEqual(before['head.1.weight'].data);
    expect(on['head.1.weight'].data).not.toEqual(before['head.1.weight'].data);
    L.copyTarget();
    const tg2 = await toF64(L.target);
    for (const n of Object.keys(on)) expect(tg2[n].data).toEqual(on[n].data);
    obs.dispose();
    L.dispose();
  });

  it('refuses a continuous-action env', () => {
    const cfg = resolveDqnConfig(dqn, { env: 'pendulum', preset: null });
    expect(() => new Trainer(dqn, cfg as RunConfig)).toThrow(/dqn handles discrete action spaces; pendulum has a box one/);
    // The agent refuses it too when built without the harness's check.
    const spec = { id: 'pendulum', obsShape: [3], obsSize: 3, actionSpace: { kind: 'box' as const, shape: [1], low: [-2], high: [2] }, actionDim: 1, numEnvs: 1 };
    expect(() => dqn.create(cfg, spec)).toThrow(/dqn needs a discrete action space; pendulum has a continuous one/);
  });
});
