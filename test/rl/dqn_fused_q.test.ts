// The one-dispatch Q forward of the released MinAtar network (rl/dqn/fused_q.ts,
// kernels/q_mlp.ts) against the network written again on the CPU in float64; its second head;
// the networks it declines; the TD target's next-state values it feeds (batchNextQ) against
// the layer-by-layer path; live buffers.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { qNetwork } from '../../rl/dqn/nets.ts';
import { fusedGreedy, fusedQ, fusedQEnabled } from '../../rl/dqn/fused_q.ts';
import { batchNextQ, dqnAlgorithms, resolveDqnConfig } from '../../rl/dqn.ts';
import { type F64, toF64, lin, l1n } from './dqn_ref.ts';
import { qMlpCap, qMlpRows } from '../../kernels/q_mlp.ts';

beforeAll(async () => {
  await E.init();
});

function q64(enc: F64, head: F64, obs: number[][]): number[][] {
  let h = lin(l1n(obs), enc['0.weight'], enc['0.bias'], true);
  h = l1n(lin(h, enc['1.weight'], enc['1.bias'], true));
  return lin(lin(h, head['0.weight'], head['0.bias'], true), head['1.weight'], head['1.bias'], false);
}
const rowsOf = (d: Float32Array, A: number) => Array.from({ length: d.length / A }, (_, i) => Array.from(d.subarray(i * A, (i + 1) * A)));
function close(got: number[][], want: number[][]) {
  const scale = Math.max(...want.flat().map(Math.abs));
  expect(scale).toBeGreaterThan(1e-3);
  got.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i][j])).toBeLessThan(1e-5 * Math.max(1, scale))));
}

describe.each([
  { obs: [10, 10, 4], A: 3, hidden: 128, B: 1 },
  { obs: [10, 10, 4], A: 3, hidden: 128, B: 32 },
  { obs: [10, 10, 7], A: 6, hidden: 64, B: 13 },
])('fusedQ: obs $obs, $A actions, hidden $hidden, batch $B', ({ obs, A, hidden, B }) => {
  it('equals the float64 network for one head and for two heads sharing the encoder; one dispatch; no leaks', async () => {
    const live = E.memory().liveBuffers;
    const net = qNetwork(obs, A, { encoder: 'mlp', hidden });
    const n = obs.reduce((a, b) => a * b, 1);
    // binary frames (MinAtar) and, in the last rows, real values
    const X = Array.from({ length: B }, (_, i) => Array.from({ length: n }, (_, k) => (i >= B - 2 ? Math.sin(0.37 * k + i) : +(Math.sin(k * 7.3 + i) > 0.6))));
    const P1 = E.packParams(net.init(3)), P2 = E.packParams(net.init(4));
    const d0 = E.counters().dispatches;
    const outs = E.scope(() => {
      const x = E.tensor(X.flat(), [B, ...obs]);
      const one = fusedQ(net, P1.params.encoder, [P1.params.head], x)!;
      const two = fusedQ(net, P1.params.encoder, [P1.params.head, P2.params.head], x)!;
      return [one[0], ...two];
    });
    expect(E.counters().dispatches - d0).toBe(2);
    const [q1, qa, qb] = await E.readAll(outs);
    const [e1, h1, h2] = [await toF64(P1.params.encoder), await toF64(P1.params.head), await toF64(P2.params.head)];
    close(rowsOf(q1, A), q64(e1, h1, X));
    close(rowsOf(qa, A), q64(e1, h1, X));
    close(rowsOf(qb, A), q64(e1, h2, X));
    E.dispose([outs, P1.params, P1.flat, P2.params, P2.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

// The first layer sums only the columns where a block's rows are nonzero when every row is
// binary (kernels/q_mlp.ts): MinAtar-like sparse frames with an all-zero row, a single row
// (acting), and blocks whose nonzero columns overflow the list (the dense fallback).
describe.each([
  { obs: [10, 10, 4], B: 32, on: 0.04, what: 'sparse binary frames, one all-zero row' },
  { obs: [10, 10, 4], B: 1, on: 0.04, what: 'one sparse row (a workgroup of one row)' },
  { obs: [16, 16, 4], B: 9, on: 0.6, what: 'dense binary rows whose nonzero columns overflow the list' },
])('fusedQ, $what: obs $obs, batch $B', ({ obs, B, on }) => {
  it('equals the float64 network', async () => {
    const live = E.memory().liveBuffers;
    const A = 4;
    const net = qNetwork(obs, A, { encoder: 'mlp' });
    const n = obs.reduce((a, b) => a * b, 1);
    const r = (i: number) => Math.abs((Math.sin(i * 78.233 + 1.7) * 43758.5453) % 1);
    const X = Array.from({ length: B }, (_, i) => Array.from({ length: n }, (_, k) => (B > 1 && i === 2 ? 0 : +(r(i * n + k) < on))));
    if (on > 0.5) expect(n - Math.max(0, qMlpCap(qMlpRows(B)))).toBeGreaterThan(0);
    const P = E.packParams(net.init(6));
    const [q, g] = E.scope(() => {
      const x = E.tensor(X.flat(), [B, ...obs]);
      return [fusedQ(net, P.params.encoder, [P.params.head], x)![0], fusedGreedy(net, P.params.encoder, P.params.head, x)!];
    });
    const [qv, gv] = await E.readAll([q, g]);
    const want = q64(await toF64(P.params.encoder), await toF64(P.params.head), X);
    close(rowsOf(qv, A), want);
    // the greedy kernel's Q-values are the same sums: its argmax is the argmax of the values above
    rowsOf(qv, A).forEach((row, i) => expect(gv[i]).toBe(row.indexOf(Math.max(...row))));
    E.dispose([q, g, P.params, P.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

it('fusedQ declines networks it does not compute (the callers then go layer by layer)', () => {
  const live = E.memory().liveBuffers;
  E.scope(() => {
    const cases: Array<[number[], Parameters<typeof qNetwork>[2]]> = [
      [[10, 10, 4], { encoder: 'mlp', dueling: true }],
      [[10, 10, 4], { encoder: 'conv' }],
      [[10, 10, 4], { encoder: 'mlp', hidden: 256 }],
      [[5, 5, 3], { encoder: 'mlp' }],
    ];
    for (const [obs, o] of cases) {
      const net = qNetwork(obs, 3, o);
      const p = net.init(1);
      expect(fusedQ(net, p.encoder, [p.head], E.zeros([2, ...obs]))).toBeNull();
    }
    const net = qNetwork([10, 10, 4], 3, { encoder: 'mlp' });
    const p = net.init(1);
    // unpacked parameters (separate buffers): declined too
    expect(fusedQ(net, p.encoder, [p.head], E.zeros([2, 10, 10, 4]))).toBeNull();
  });
  expect(E.memory().liveBuffers).toBe(live);
});

describe.each(['dqn', 'double-dqn'] as const)('batchNextQ (%s)', (name) => {
  it.each(['online', 'online-head'])('doubleSelect %s: the fused path gives the layer-by-layer values', async (sel) => {
    const live = E.memory().liveBuffers;
    const algo = dqnAlgorithms[name];
    const cfg = resolveDqnConfig(algo, { env: 'minatar/breakout', encoder: 'mlp', doubleSelect: sel, seed: 5 });
    const net = qNetwork([10, 10, 4], 3, { encoder: 'mlp' });
    const on = E.packParams(net.init(1)), tg = E.packParams(net.init(2));
    const B = 9;
    const X = Array.from({ length: B * 400 }, (_, k) => +(Math.sin(k * 3.1) > 0.5));
    const got = E.scope(() => {
      const b = { obs: E.zeros([B, 10, 10, 4]), nextObs: E.tensor(X, [B, 10, 10, 4]), actions: E.zeros([B]), rewards: E.zeros([B]), dones: E.zeros([B]) };
      const f = batchNextQ(cfg, net, on.params, tg.params, b);
      fusedQEnabled(false);
      try {
        const l = batchNextQ(cfg, net, on.params, tg.params, b);
        return [f.qNextTarget, f.qNextSelect ?? f.qNextTarget, l.qNextTarget, l.qNextSelect ?? l.qNextTarget];
      } finally {
        fusedQEnabled(true);
      }
    });
    const [ft, fs, lt, ls] = await E.readAll(got);
    ft.forEach((v, i) => expect(v).toBeCloseTo(lt[i], 6));
    fs.forEach((v, i) => expect(v).toBeCloseTo(ls[i], 6));
    if (name === 'double-dqn') expect(Array.from(fs)).not.toEqual(Array.from(ft));
    E.dispose([got, on.params, on.flat, tg.params, tg.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe.each([
  { obs: [10, 10, 4], A: 3, hidden: 128, B: 1 },
  { obs: [10, 10, 7], A: 6, hidden: 64, B: 21 },
])('fusedGreedy (acting): obs $obs, $A actions, batch $B', ({ obs, A, hidden, B }) => {
  it('returns the argmax of the float64 Q-values in one dispatch, the first index on ties', async () => {
    const live = E.memory().liveBuffers;
    const net = qNetwork(obs, A, { encoder: 'mlp', hidden });
    const n = obs.reduce((a, b) => a * b, 1);
    const X = Array.from({ length: B }, (_, i) => Array.from({ length: n }, (_, k) => +(Math.sin(k * 5.1 + 3 * i) > 0.6)));
    // larger output weights than the init's 0.01 gain, so rows differ in their argmax
    const [P, T] = E.scope(() => {
      const init = net.init(8);
      const h = init.head as Record<string, { weight: E.Tensor; bias: E.Tensor }>;
      const p = E.packParams({ encoder: init.encoder, head: { '0': h['0'], '1': { weight: E.mul(h['1'].weight, 100), bias: h['1'].bias } } });
      // a head whose Q-values tie in every row: zero output weights, equal biases
      const again = net.init(8);
      const t = E.packParams({ encoder: again.encoder, head: { '0': (again.head as Record<string, E.Params>)['0'], '1': { weight: E.zeros([A, hidden]), bias: E.full([A], 0.5) } } });
      return [{ params: p.params, flat: p.flat }, { params: t.params, flat: t.flat }];
    }) as unknown as Array<{ params: { encoder: E.Params; head: E.Params }; flat: E.Tensor }>;
    const d0 = E.counters().dispatches;
    const got = E.scope(() => {
      const x = E.tensor(X.flat(), [B, ...obs]);
      return [fusedGreedy(net, P.params.encoder, P.params.head, x)!, fusedGreedy(net, T.params.encoder, T.params.head, x)!];
    });
    expect(E.counters().dispatches - d0).toBe(2);
    const [g, tie] = await E.readAll(got);
    const q = q64(await toF64(P.params.encoder), await toF64(P.params.head), X);
    let clear = 0;
    q.forEach((row, i) => {
      const s = [...row].sort((a, b) => b - a);
      if (s[0] - s[1] < 1e-4) return; // too close to call in float32
      clear++;
      expect(g[i]).toBe(row.indexOf(s[0]));
    });
    expect(clear).toBeGreaterThan(B / 2);
    if (B > 3) expect(new Set(Array.from(g)).size).toBeGreaterThan(1);
    expect(Array.from(tie)).toEqual(new Array(B).fill(0));
    E.dispose([got, P.params, P.flat, T.params, T.flat]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});
