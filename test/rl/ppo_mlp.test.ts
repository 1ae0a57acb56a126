// The fused small-MLP PPO path (kernels/ppo_mlp.ts, engine/nn/ppo_mlp.ts) against a float64 CPU
// reference of the same network and loss (itself checked by central differences), against the
// composed path (modules + ppoLoss + valueAndGrad + E.adam) through a whole PPO update, and for
// buffers and bad input.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { getAlgorithm } from '../../rl/registry.ts';
import { PpoAgent, ppoTorso, type PpoConfig } from '../../rl/ppo.ts';
import { sampleCategoricalGpu } from '../../rl/harness/sample_gpu.ts';
import { FlatAdam, PpoMlp, ppoMlpShape } from '../../engine/nn/ppo_mlp.ts';
import { Rng } from '../../engine/nn/rng.ts';
import type { EnvSpec, Rollout, RunConfig } from '../../rl/harness/types.ts';
import { Trainer } from '../../rl/harness/trainer.ts';

beforeAll(async () => {
  await E.init();
});

async function config(over: Record<string, unknown>): Promise<PpoConfig> {
  const a = await getAlgorithm('ppo');
  return resolveLayers(a.defaults, a.schema, [{ source: 'test', values: { env: 'cartpole', ...over } }]) as unknown as PpoConfig;
}
const specOf = (D: number, A: number): EnvSpec => ({ id: 'synthetic', obsShape: [D], obsSize: D, actionSpace: { kind: 'discrete', n: A }, actionDim: 1 }) as unknown as EnvSpec;

interface Net {
  sizes: number[];
  A: number;
  /** Per layer W [out·in] (row-major [out, in]) and b [out], then actor (A rows) and critic (1 row) as the last entry. */
  W: Float64Array[];
  b: Float64Array[];
}
const LOSS = { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5, entCoef: 0.01 };

/** Float64 loss, statistics and gradient (backprop by hand) of CleanRL's PPO loss for rows of (x, a, oldLogp, adv, ret, oldV). */
function reference(net: Net, rows: { x: number[]; a: number; oldLogp: number; adv: number; ret: number; oldV: number }[], o = LOSS) {
  const L = net.sizes.length - 1, M = rows.length;
  const gW = net.W.map((w) => new Float64Array(w.length)), gb = net.b.map((b) => new Float64Array(b.length));
  const st = [0, 0, 0, 0, 0];
  let loss = 0;
  for (const r of rows) {
    const acts: number[][] = [r.x];
    for (let l = 0; l < L; l++) {
      const inn = net.sizes[l], out = net.sizes[l + 1], prev = acts[l];
      acts.push(Array.from({ length: out }, (_, j) => Math.tanh(net.b[l][j] + prev.reduce((s, v, k) => s + net.W[l][j * inn + k] * v, 0))));
    }
    const F = net.sizes[L], h = acts[L], Wh = net.W[L], bh = net.b[L];
    const out = Array.from({ length: net.A + 1 }, (_, j) => bh[j] + h.reduce((s, v, k) => s + Wh[j * F + k] * v, 0));
    const z = out.slice(0, net.A), v = out[net.A];
    const m = Math.max(...z), se = z.reduce((s, zj) => s + Math.exp(zj - m), 0), lse = m + Math.log(se);
    const p = z.map((zj) => Math.exp(zj - lse));
    const H = -p.reduce((s, pj, j) => s + pj * (z[j] - lse), 0);
    const logratio = z[r.a] - lse - r.oldLogp, ratio = Math.exp(logratio);
    const pg1 = -r.adv * ratio, pg2 = -r.adv * Math.min(Math.max(ratio, 1 - o.clipCoef), 1 + o.clipCoef);
    const unc = (v - r.ret) ** 2, vc = r.oldV + Math.min(Math.max(v - r.oldV, -o.clipCoef), o.clipCoef), cl = (vc - r.ret) ** 2;
    const vl = 0.5 * Math.max(unc, cl);
    st[0] += Math.max(pg1, pg2) / M;
    st[1] += vl / M;
    st[2] += H / M;
    st[3] += (ratio - 1 - logratio) / M;
    st[4] += (Math.abs(ratio - 1) > o.clipCoef ? 1 : 0) / M;
    loss += (Math.max(pg1, pg2) - o.entCoef * H + o.vfCoef * vl) / M;
    const cr = (pg1 >= pg2 ? -r.adv : 0) * ratio;
    const dz = p.map((pj, j) => (cr * ((j === r.a ? 1 : 0) - pj) + o.entCoef * pj * (z[j] - lse + H)) / M);
    const dvr = unc >= cl ? v - r.ret : Math.abs(v - r.oldV) <= o.clipCoef ? vc - r.ret : 0;
    const dOut = [...dz, (o.vfCoef * dvr) / M];
    let delta = new Array(F).fill(0);
    for (let j = 0; j <= net.A; j++) {
      gb[L][j] += dOut[j];
      for (let k = 0; k < F; k++) {
        gW[L][j * F + k] += dOut[j] * h[k];
        delta[k] += Wh[j * F + k] * dOut[j];
      }
    }
    for (let l = L - 1; l >= 0; l--) {
      const inn = net.sizes[l], outW = net.sizes[l + 1];
      const d = delta.map((dk, k) => dk * (1 - acts[l + 1][k] ** 2));
      const next = new Array(inn).fill(0);
      for (let j = 0; j < outW; j++) {
        gb[l][j] += d[j];
        for (let k = 0; k < inn; k++) {
          gW[l][j * inn + k] += d[j] * acts[l][k];
          next[k] += net.W[l][j * inn + k] * d[j];
        }
      }
      delta = next;
    }
  }
  return { loss, stats: st, gW, gb };
}

/** A small net and rows in float64 (values exactly representable in float32), reproducible from a seed. */
function problem(seed: number, sizes: number[], A: number, M: number) {
  const rng = new Rng(seed);
  const f32 = (x: number) => Math.fround(x);
  const L = sizes.length - 1;
  const W: Float64Array[] = [], b: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    W.push(Float64Array.from({ length: sizes[l] * sizes[l + 1] }, () => f32((rng.uniform() * 2 - 1) / Math.sqrt(sizes[l]) * 1.5)));
    b.push(Float64Array.from({ length: sizes[l + 1] }, () => f32(0.2 * (rng.uniform() - 0.5))));
  }
  W.push(Float64Array.from({ length: (A + 1) * sizes[L] }, () => f32((rng.uniform() * 2 - 1) * 0.4)));
  b.push(Float64Array.from({ length: A + 1 }, () => f32(0.1 * (rng.uniform() - 0.5))));
  const net: Net = { sizes, A, W, b };
  const rows = Array.from({ length: M }, () => {
    const x = Array.from({ length: sizes[0] }, () => f32(rng.uniform() * 2 - 1));
    const a = Math.floor(rng.uniform() * A);
    return { x, a, oldLogp: f32(Math.log(1 / A) + 0.6 * (rng.uniform() - 0.5)), adv: f32(rng.normal()), ret: f32(rng.normal()), oldV: f32(0.8 * rng.normal()) };
  });
  return { net, rows };
}

/** Writes a float64 net into a PpoAgent's packed parameters (torso layers '0', '2', ..., heads actor/critic). */
function loadNet(agent: PpoAgent, net: Net) {
  const L = net.sizes.length - 1, F = net.sizes[L], A = net.A;
  const set = (t: E.Tensor, d: ArrayLike<number>) => {
    const src = E.tensor(Float32Array.from(d), t.shape);
    E.assign(t, src);
    src.dispose();
  };
  const torso = agent.params.perception as Record<string, { weight: E.Tensor; bias: E.Tensor }>;
  for (let l = 0; l < L; l++) {
    set(torso[String(2 * l)].weight, net.W[l]);
    set(torso[String(2 * l)].bias, net.b[l]);
  }
  const heads = agent.params.heads as Record<string, { weight: E.Tensor; bias: E.Tensor }>;
  set(heads.actor.weight, net.W[L].subarray(0, A * F));
  set(heads.actor.bias, net.b[L].subarray(0, A));
  set(heads.critic.weight, net.W[L].subarray(A * F));
  set(heads.critic.bias, net.b[L].subarray(A));
}

const fusedOf = (a: PpoAgent) => (a as unknown as { fused: PpoMlp | null }).fused;

describe('fused small-MLP PPO', () => {
  it('the float64 reference gradient matches central differences of the float64 loss', () => {
    const { net, rows } = problem(11, [4, 8, 8], 3, 12);
    const ref = reference(net, rows);
    let worst = 0, scale = 0;
    const h = 1e-6;
    for (const [arr, g] of [...net.W.map((w, l) => [w, ref.gW[l]] as const), ...net.b.map((b, l) => [b, ref.gb[l]] as const)]) {
      for (let k = 0; k < arr.length; k += 3) {
        const x = arr[k];
        arr[k] = x + h;
        const up = reference(net, rows).loss;
        arr[k] = x - h;
        const dn = reference(net, rows).loss;
        arr[k] = x;
        worst = Math.max(worst, Math.abs((up - dn) / (2 * h) - g[k]));
        scale = Math.max(scale, Math.abs(g[k]));
      }
    }
    expect(scale).toBeGreaterThan(1e-3);
    expect(worst / scale).toBeLessThan(1e-6);
  });

  it('one minibatch: gradient and statistics equal the float64 reference (CartPole 64-64 net, rows through a permutation)', async () => {
    const before = E.memory().liveBuffers;
    const sizes = [4, 64, 64], A = 2, B = 40, M = 37; // M not a multiple of the 4 rows per thread
    const { net, rows } = problem(5, sizes, A, B);
    const cfg = await config({ numEnvs: 4, numSteps: 10, minibatchSize: 10 });
    const agent = new PpoAgent(cfg, specOf(4, A), ppoTorso(cfg, [4]));
    const fused = fusedOf(agent)!;
    expect(fused).not.toBeNull();
    loadNet(agent, net);
    const perm = new Rng(9).permutation(B);
    const base = 3; // the minibatch starts inside the index buffer
    const idx = new Uint32Array(base + M), adv = new Float32Array(base + M);
    for (let i = 0; i < M; i++) ((idx[base + i] = perm[i]), (adv[base + i] = rows[perm[i]].adv));
    const X = E.tensor(Float32Array.from(rows.flatMap((r) => r.x)), [B, 4]);
    const DATA = E.tensor(Float32Array.from(rows.flatMap((r) => [r.a, r.oldLogp, r.ret, r.oldV])), [B, 4]);
    const IDX = E.Tensor.fromBuffer(E.runtime().upload(idx), [base + M]);
    const ADV = E.tensor(adv, [base + M]);
    const G = E.zeros([fused.shape.n]), S = E.zeros([5]);
    fused.minibatchGrad({ X, DATA, IDX, ADV, base, M, G, S, wantStats: true }, LOSS);
    const [g, s] = await E.readAll([G, S]);
    const ref = reference(net, Array.from({ length: M }, (_, i) => rows[perm[i]]));
    const o = fused.shape.off;
    let worst = 0, scale = 0;
    const cmp = (off: number, want: Float64Array) => {
      for (let k = 0; k < want.length; k++) {
        worst = Math.max(worst, Math.abs(g[off + k] - want[k]));
        scale = Math.max(scale, Math.abs(want[k]));
      }
    };
    cmp(o.w[0], ref.gW[0]);
    cmp(o.b[0], ref.gb[0]);
    cmp(o.w[1], ref.gW[1]);
    cmp(o.b[1], ref.gb[1]);
    cmp(o.wa, ref.gW[2].subarray(0, A * 64));
    cmp(o.ba, ref.gb[2].subarray(0, A));
    cmp(o.wc, ref.gW[2].subarray(A * 64));
    cmp(o.bc, ref.gb[2].subarray(A));
    expect(scale).toBeGreaterThan(1e-3);
    expect(worst / scale).toBeLessThan(2e-5);
    for (let q = 0; q < 5; q++) expect(Math.abs(s[q] - ref.stats[q])).toBeLessThan(1e-5 * (1 + Math.abs(ref.stats[q])));
    E.dispose([X, DATA, IDX, ADV, G, S]);
    agent.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('act and actSample: logits and values equal the composed forward; the draw equals sampleCategoricalGpu from the same RNG state', async () => {
    const cfg = await config({ numEnvs: 4, numSteps: 8, minibatchSize: 8, mlpHidden: [32, 16], seed: 4 });
    const A = 3, D = 8, rows = 21;
    const before = E.memory().liveBuffers;
    const fusedAgent = new PpoAgent(cfg, specOf(D, A), ppoTorso(cfg, [D]));
    const composed = new PpoAgent({ ...cfg, fusedMlp: false }, specOf(D, A), ppoTorso(cfg, [D]));
    expect(fusedOf(fusedAgent)).not.toBeNull();
    expect(fusedOf(composed)).toBeNull();
    const rng = new Rng(2);
    const obs = Float32Array.from({ length: rows * D }, () => rng.uniform() * 4 - 2);
    const x = E.tensor(obs, [rows, D]);
    const outT = fusedOf(fusedAgent)!.act(x);
    const out = await outT.data();
    const want = E.noGrad(() => E.scope(() => {
      const { features } = composed.perception.apply(composed.params.perception, x);
      return composed.heads.apply(composed.params.heads, features);
    }));
    const [wl, wv] = await E.readAll([want.logits, want.value]);
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      for (let a = 0; a < A; a++) worst = Math.max(worst, Math.abs(out[r * (A + 1) + a] - wl[r * A + a]));
      worst = Math.max(worst, Math.abs(out[r * (A + 1) + A] - wv[r]));
    }
    expect(worst).toBeLessThan(1e-5);
    // the GPU draw: same RNG state → same actions as the composed sampler on the composed logits
    const state = E.getRngState();
    const got = fusedOf(fusedAgent)!.actSample(x, 17);
    const after = E.getRngState();
    E.setRngState(state);
    const first = E.slice(want.logits, [[0, 17]]);
    const ref = sampleCategoricalGpu(first); // what actGpu samples from: the first `sample` rows
    first.dispose();
    expect(E.getRngState().counter).toBe(after.counter);
    const [ga, gl, gv, ra, rl] = await E.readAll([got.actions, got.logp, got.values, ref.actions, ref.logp]);
    expect(Array.from(ga)).toEqual(Array.from(ra).slice(0, 17));
    for (let r = 0; r < 17; r++) expect(Math.abs(gl[r] - rl[r])).toBeLessThan(1e-5);
    for (let r = 0; r < rows; r++) expect(Math.abs(gv[r] - wv[r])).toBeLessThan(1e-5);
    E.dispose([x, outT, want.logits, want.value, got.actions, got.logp, got.values, ref.actions, ref.logp]);
    fusedAgent.dispose();
    composed.dispose();
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('a whole PPO update (4 epochs, per-minibatch advantage normalisation, clipping, Adam) matches the composed path', async () => {
    const before = E.memory().liveBuffers;
    const T = 16, N = 4, D = 4, A = 2, B = T * N;
    const cfg = await config({ numEnvs: N, numSteps: T, minibatchSize: 16, updateEpochs: 4, lr: 3e-3, seed: 7 });
    const agents = [true, false].map((f) => new PpoAgent({ ...cfg, fusedMlp: f }, specOf(D, A), ppoTorso(cfg, [D])));
    expect(agents[0].optimizers.agent).toBeInstanceOf(FlatAdam);
    const rng = new Rng(3);
    const ro: Rollout = {
      T, N,
      obs: Float32Array.from({ length: B * D }, () => rng.uniform() * 2 - 1),
      actions: Float32Array.from({ length: B }, () => Math.floor(rng.uniform() * A)),
      logp: Float32Array.from({ length: B }, () => Math.log(0.5) + 0.3 * (rng.uniform() - 0.5)),
      values: Float32Array.from({ length: B }, () => rng.normal()),
      rewards: new Float32Array(B), dones: new Float32Array(B),
      advantages: Float32Array.from({ length: B }, () => rng.normal() * 2),
      returns: Float32Array.from({ length: B }, () => rng.normal()),
    };
    const stats = [];
    const rngs = [new Rng(21), new Rng(21)];
    for (let k = 0; k < 2; k++) {
      stats.push(await agents[k].update(ro, { rng: rngs[k], step: 0, iteration: 0, iterations: 4, wantStats: true }));
    }
    // both consumed the same draws
    expect(rngs[0].uniform()).toBe(rngs[1].uniform());
    for (const n of agents[0].statNames) expect(Math.abs((stats[0][n] as number) - (stats[1][n] as number))).toBeLessThan(1e-4);
    expect(stats[0].lr).toBe(stats[1].lr);
    const p = await Promise.all(agents.map((a) => E.readAll(Object.values(E.namedParams(a.params)))));
    const fresh = new PpoAgent(cfg, specOf(D, A), ppoTorso(cfg, [D]));
    const init = await E.readAll(Object.values(E.namedParams(fresh.params)));
    fresh.dispose();
    let worst = 0, moved = 0;
    p[0].forEach((t, i) => t.forEach((v, k) => {
      worst = Math.max(worst, Math.abs(v - p[1][i][k]));
      moved = Math.max(moved, Math.abs(v - init[i][k]));
    }));
    // 16 Adam steps of lr 3e-3 move parameters by up to ~0.05; the two paths agree to float32 rounding
    expect(moved).toBeGreaterThan(0.01);
    expect(worst).toBeLessThan(1e-4);
    agents.forEach((a) => a.dispose());
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('the one-dispatch GPU rollout equals the step-by-step GPU rollout (same draws, observations, rewards, values), one readback', async () => {
    const algo = await getAlgorithm('ppo');
    const base = { env: 'cartpole', seed: 5, numEnvs: 6, numSteps: 40, minibatchSize: 48, envDevice: 'gpu', gamma: 0.9 };
    const before = E.memory().liveBuffers;
    const ros: Rollout[] = [];
    const counters: number[] = [];
    for (const fusedMlp of [true, false]) {
      const cfg = resolveLayers(algo.defaults, algo.schema, [{ source: 'test', values: { ...base, fusedMlp } }]) as RunConfig;
      const tr = new Trainer(algo, cfg);
      const dispatches = E.counters().dispatches, readbacks = E.counters().readbacks;
      const ro = await (tr as unknown as { collectOnGpu(c: RunConfig): Promise<Rollout> }).collectOnGpu(cfg);
      if (fusedMlp) {
        expect(E.counters().readbacks - readbacks).toBe(1);
        // the rollout, the bootstrap forward and the episode statistics
        expect(E.counters().dispatches - dispatches).toBeLessThanOrEqual(3);
      }
      ros.push({ ...ro, obs: ro.obs.slice(), actions: ro.actions.slice(), logp: ro.logp.slice(), values: ro.values.slice(), rewards: ro.rewards.slice(), dones: ro.dones.slice(), advantages: ro.advantages.slice(), returns: ro.returns.slice() });
      counters.push(E.getRngState().counter);
      // episodes long enough to finish: the next rollout starts where this one ended
      expect(tr.globalStep).toBe(240);
      tr.dispose();
    }
    expect(counters[0]).toBe(counters[1]);
    const [f, c] = ros;
    expect(Array.from(f.actions)).toEqual(Array.from(c.actions));
    expect(Array.from(f.dones)).toEqual(Array.from(c.dones));
    expect(f.dones.reduce((a, b) => a + b, 0)).toBeGreaterThan(3);
    const worst = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
    expect(worst(f.obs, c.obs)).toBeLessThan(1e-5);
    expect(worst(f.logp, c.logp)).toBeLessThan(1e-5);
    expect(worst(f.values, c.values)).toBeLessThan(1e-5);
    expect(worst(f.rewards, c.rewards)).toBeLessThan(1e-5);
    expect(worst(f.advantages, c.advantages)).toBeLessThan(1e-4);
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('FlatAdam (one-workgroup and two-dispatch paths) equals a float64 torch.optim.Adam with clip_grad_norm_; checkpoint state names as E.adam', async () => {
    for (const [rows, cols] of [[8, 6], [200, 180]]) {
      const before = E.memory().liveBuffers;
      const rng = new Rng(rows);
      const w0 = Float64Array.from({ length: rows * cols }, () => Math.fround(rng.normal()));
      const b0 = Float64Array.from({ length: rows }, () => Math.fround(rng.normal()));
      const { params, flat, layout } = E.packParams({ w: E.tensor(Float32Array.from(w0), [rows, cols]), b: E.tensor(Float32Array.from(b0), [rows]) });
      const opt = new FlatAdam(params, { lr: 1e-2, eps: 1e-5 });
      expect(layout.size > 32768).toBe(rows === 200);
      // float64 reference
      const p = [w0.slice(), b0.slice()], m = p.map((x) => new Float64Array(x.length)), v = p.map((x) => new Float64Array(x.length));
      const lrs = [1e-2, 5e-3, 2e-3], clip = [0.5, undefined, 100];
      for (let t = 1; t <= 3; t++) {
        const g = p.map((x) => Float64Array.from(x, () => Math.fround(rng.normal() * 0.3)));
        const gw = E.tensor(Float32Array.from(g[0]), [rows, cols]), gb = E.tensor(Float32Array.from(g[1]), [rows]);
        opt.step(params, { w: gw, b: gb }, { lr: lrs[t - 1], maxGradNorm: clip[t - 1] });
        E.dispose([gw, gb]);
        const norm = Math.sqrt(g.reduce((s, x) => s + x.reduce((a, y) => a + y * y, 0), 0));
        const sc = clip[t - 1] === undefined ? 1 : Math.min(1, clip[t - 1]! / (norm + 1e-6));
        for (let q = 0; q < 2; q++) {
          for (let k = 0; k < p[q].length; k++) {
            const gk = g[q][k] * sc;
            m[q][k] = 0.9 * m[q][k] + 0.1 * gk;
            v[q][k] = 0.999 * v[q][k] + 0.001 * gk * gk;
            p[q][k] -= (lrs[t - 1] / (1 - 0.9 ** t)) * m[q][k] / (Math.sqrt(v[q][k]) / Math.sqrt(1 - 0.999 ** t) + 1e-5);
          }
        }
        if (t === 1) {
          const n1 = opt.lastGradNorm();
          expect(Math.abs((await n1.item()) - norm)).toBeLessThan(1e-4 * norm);
          n1.dispose();
        }
      }
      const [pw, pb] = await E.readAll([params.w as E.Tensor, params.b as E.Tensor]);
      let worst = 0;
      pw.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - p[0][k]))));
      pb.forEach((x, k) => (worst = Math.max(worst, Math.abs(x - p[1][k]))));
      expect(worst).toBeLessThan(2e-6);
      const st = opt.state();
      expect(Object.keys(st).sort()).toEqual(['exp_avg.b', 'exp_avg.w', 'exp_avg_sq.b', 'exp_avg_sq.w', 'step']);
      const ma = await st['exp_avg.b'].data();
      ma.forEach((x, k) => expect(Math.abs(x - m[1][k])).toBeLessThan(1e-6));
      E.dispose(Object.values(st));
      opt.dispose();
      E.dispose([params, flat]);
      expect(E.memory().liveBuffers).toBe(before);
    }
  });

  it('falls back to the composed path where the kernels do not fit, and says why', async () => {
    const cfg = await config({ numEnvs: 2, numSteps: 4, minibatchSize: 4, mlpHidden: [6] });
    const agent = new PpoAgent(cfg, specOf(4, 2), ppoTorso(cfg, [4]));
    expect(fusedOf(agent)).toBeNull();
    const { params, layout } = E.packParams({ perception: { '0': { weight: E.zeros([6, 4]), bias: E.zeros([6]) } }, heads: { actor: { weight: E.zeros([2, 6]), bias: E.zeros([2]) }, critic: { weight: E.zeros([1, 6]), bias: E.zeros([1]) } } });
    const r = ppoMlpShape(layout, { layers: ['perception.0'], actor: 'heads.actor', critic: 'heads.critic' });
    expect('why' in r && r.why).toMatch(/multiples of 4.*4, 6/);
    const r2 = ppoMlpShape(layout, { layers: ['perception.1'], actor: 'heads.actor', critic: 'heads.critic' });
    expect('why' in r2 && r2.why).toMatch(/perception\.1/);
    E.dispose(params);
    agent.dispose();
  });

  it('bad minibatch arguments are errors that name the shapes', async () => {
    const cfg = await config({ numEnvs: 2, numSteps: 4, minibatchSize: 4 });
    const agent = new PpoAgent(cfg, specOf(4, 2), ppoTorso(cfg, [4]));
    const f = fusedOf(agent)!;
    const X = E.zeros([8, 4]), DATA = E.zeros([8, 3]), IDX = E.zeros([8]), ADV = E.zeros([8]), G = E.zeros([f.shape.n]), S = E.zeros([5]);
    expect(() => f.minibatchGrad({ X, DATA, IDX, ADV, base: 0, M: 4, G, S, wantStats: false }, LOSS)).toThrow(/DATA has 24 floats, expected \[8, 4\]/);
    const D4 = E.zeros([8, 4]);
    expect(() => f.minibatchGrad({ X, DATA: D4, IDX, ADV, base: 6, M: 4, G, S, wantStats: false }, LOSS)).toThrow(/rows \[6, 10\) do not fit IDX \(8\)/);
    expect(() => f.act(E.zeros([3, 5]))).toThrow(/not rows of 4/);
    E.dispose([X, DATA, IDX, ADV, G, S, D4]);
    agent.dispose();
  });
});
