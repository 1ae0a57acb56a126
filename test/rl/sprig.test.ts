import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { stackelbergGradients, type LeaderRule } from '../../games/game.ts';
import { actorCriticHeads, type Minibatch } from '../../rl/ppo.ts';
import { SPRIG_DEFAULTS, SPRIG_SCHEMA, SprigAgent, sprigGame, type SprigConfig } from '../../rl/sprig.ts';

beforeAll(async () => {
  await E.init();
});

async function snapshot(p: E.Params): Promise<Record<string, Float32Array>> {
  const n = E.namedParams(p);
  const d = await E.readAll(Object.values(n));
  return Object.fromEntries(Object.keys(n).map((k, i) => [k, d[i]]));
}

function changed(a: Record<string, Float32Array>, b: Record<string, Float32Array>): string[] {
  return Object.keys(a).filter((k) => a[k].some((v, i) => v !== b[k][i]));
}

const env = { id: 'test', obsShape: [10, 10, 4], obsSize: 400, actionSpace: { kind: 'discrete' as const, n: 3 }, actionDim: 1, numEnvs: 1 };
const config = (v: Partial<SprigConfig> = {}) =>
  resolveLayers(SPRIG_DEFAULTS, SPRIG_SCHEMA, [{ source: 'test', values: { frameStack: 2, lr: 1e-3, numEnvs: 1, numSteps: 8, minibatchSize: 8, ...v } }]);

function minibatch(B: number, rng: Rng): Minibatch {
  const obs = new Float32Array(B * 2 * 400).map(() => (rng.uniform() < 0.1 ? 1 : 0));
  return E.keep({
    obs: E.tensor(obs, [B, 2, 10, 10, 4]),
    actions: E.tensor(Array.from({ length: B }, (_, i) => i % 3)),
    oldLogp: E.full([B], Math.log(1 / 3)),
    adv: E.tensor(Array.from({ length: B }, (_, i) => (i % 2 ? 1 : -1) * (1 + i / 4))),
    returns: E.tensor(Array.from({ length: B }, (_, i) => i / 8)),
    oldValues: E.zeros([B]),
  });
}

describe('SPRIG', () => {
  const cfg = config();
  let agent: SprigAgent;
  let mb: Minibatch;

  beforeAll(() => {
    agent = new SprigAgent(cfg, env);
    mb = minibatch(8, new Rng(5));
  });

  it('splits parameters: perception (leader) = convolutions + attention, heads (follower) = policy/value', () => {
    expect(Object.keys(E.namedParams(agent.params.perception)).some((k) => k.startsWith('conv3'))).toBe(true);
    expect(Object.keys(E.namedParams(agent.params.perception)).some((k) => k.startsWith('temporal.gate'))).toBe(true);
    expect(Object.keys(E.namedParams(agent.params.heads)).sort()).toEqual(['actor.bias', 'actor.weight', 'critic.bias', 'critic.weight']);
  });

  it('a leader step changes only perception parameters', async () => {
    const before = await snapshot(agent.params);
    E.scope(() => agent.leaderStep(mb, 1e-3));
    const after = await snapshot(agent.params);
    const ch = changed(before, after);
    expect(ch.length).toBeGreaterThan(0);
    expect(ch.every((k) => k.startsWith('perception.'))).toBe(true);
    // every perception tensor with a gradient moved (the attention gates included: the cost reaches them)
    expect(ch).toContain('perception.spatial.gate.weight');
    expect(ch).toContain('perception.conv1.weight');
  });

  it('a follower step changes only policy/value parameters', async () => {
    const before = await snapshot(agent.params);
    E.scope(() => agent.followerStep(mb, 1e-3));
    const after = await snapshot(agent.params);
    const ch = changed(before, after);
    expect(ch.sort()).toEqual(['heads.actor.bias', 'heads.actor.weight', 'heads.critic.bias', 'heads.critic.weight']);
  });

  it('the attention cost is meaningful: its gradient is non-zero and closing the gates lowers it', async () => {
    const cost = (theta: E.Params) => E.mul(agent.perception.apply(theta, mb.obs).cost!, SPRIG_DEFAULTS.lambdaC);
    const [c0, g] = E.valueAndGrad(cost)(agent.params.perception);
    const gb = await (g as { spatial: { gate: { bias: E.Tensor } } }).spatial.gate.bias.data();
    expect(gb[0]).toBeGreaterThan(0); // raising the gate bias raises ‖A‖₁
    const v0 = await c0.item();
    // ‖A‖₁ = Σ gates ∈ (0, number of queries): 16 spatial + 16 temporal per sample, times λ_c
    expect(v0).toBeGreaterThan(0);
    expect(v0).toBeLessThan(32 * SPRIG_DEFAULTS.lambdaC);
    E.dispose([c0, g as E.Tree]);
  });

  it('followerSteps = m: m follower Adam steps per leader step', () => {
    const am = new SprigAgent(config({ followerSteps: 3 }), env);
    E.scope(() => am['updateMinibatch'](mb, 1e-3, false));
    expect(am.optimizers.leader.stepCount).toBe(1);
    expect(am.optimizers.follower.stepCount).toBe(3);
    am.dispose();
  });

  it('Eq. 8 is available as the leader objective', () => {
    const a8 = new SprigAgent(config({ leaderObjective: 'eq8' }), env);
    expect(() => E.scope(() => a8.leaderStep(mb, 1e-3))).not.toThrow();
    a8.dispose();
  });
});

// ------------------------------------------------------------------ the exact leader update

/**
 * SPRIG's game on a tiny network (perception θ: Linear(3→2) tanh with cost Σf²/B standing in for
 * ‖A‖₁; heads φ: actor 2→2, critic 2→1), against float64 references: the objectives written
 * again in plain JS, their derivatives by central finite differences, and a dense solve.
 */
describe('SPRIG --leader-update total', () => {
  const B = 4;
  const x = [[0.5, -1, 0.3], [1.2, 0.1, -0.7], [-0.4, 0.8, 0.9], [0.2, -0.3, -1.1]];
  const acts = [0, 1, 1, 0];
  const adv = [1.3, -0.7, 0.4, -1.1];
  const ret = [0.5, -0.2, 0.9, 0.1];
  const theta0 = [0.4, -0.3, 0.8, -0.6, 0.2, 0.5, 0.1, -0.2]; // weight [2,3], bias [2]
  const phi0 = [0.7, -0.4, 0.3, 0.9, 0.05, -0.1, 0.6, -0.8, 0.2]; // actor.weight [2,2], actor.bias [2], critic.weight [1,2], critic.bias [1]
  const c = config({ lambdaC: 0.1, alphaCoop: 0.7, entCoef: 0.01, vfCoef: 0.5, clipCoef: 0.2 });

  /** Float64 forward: features, logits, values, log-probs, entropies, cost. */
  function forward(th: number[], ph: number[]) {
    const F = x.map((xb) => [0, 1].map((k) => Math.tanh(th[k * 3] * xb[0] + th[k * 3 + 1] * xb[1] + th[k * 3 + 2] * xb[2] + th[6 + k])));
    const L = F.map((f) => [0, 1].map((a) => ph[a * 2] * f[0] + ph[a * 2 + 1] * f[1] + ph[4 + a]));
    const V = F.map((f) => ph[6] * f[0] + ph[7] * f[1] + ph[8]);
    const lse = L.map((l) => Math.log(Math.exp(l[0]) + Math.exp(l[1])));
    const logp = L.map((l, b) => l[acts[b]] - lse[b]);
    const H = L.map((l, b) => -l.reduce((s, v) => s + Math.exp(v - lse[b]) * (v - lse[b]), 0));
    const cost = F.reduce((s, f) => s + f[0] ** 2 + f[1] ** 2, 0) / B;
    return { F, V, logp, H, cost };
  }
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  // old log-probs and values near the start point (ratios inside the clip range, not at 1)
  const start = forward(theta0, phi0);
  const oldLogp = start.logp.map((l, b) => l + [0.05, -0.08, 0.03, -0.04][b]);
  const oldV = start.V.map((v, b) => v + [0.1, -0.05, 0.07, -0.12][b]);

  const f1 = (th: number[], ph: number[]) => {
    const { logp, cost } = forward(th, ph);
    const uPolicy = mean(logp.map((l, b) => l * adv[b]));
    return -(c.alphaCoop * -(c.lambdaC * cost) + (1 - c.alphaCoop) * uPolicy);
  };
  const f2 = (th: number[], ph: number[]) => {
    const { V, logp, H, cost } = forward(th, ph);
    const r = logp.map((l, b) => Math.exp(l - oldLogp[b]));
    const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
    const pg = mean(r.map((rb, b) => Math.max(-adv[b] * rb, -adv[b] * clip(rb, 1 - c.clipCoef, 1 + c.clipCoef))));
    const vl = 0.5 * mean(V.map((v, b) => Math.max((v - ret[b]) ** 2, (oldV[b] + clip(v - oldV[b], -c.clipCoef, c.clipCoef) - ret[b]) ** 2)));
    return pg - c.entCoef * mean(H) + c.vfCoef * vl + c.lambdaC * cost;
  };

  const h = 1e-4;
  const bump = (v: number[], i: number, d: number) => v.map((e, j) => (j === i ? e + d : e));
  const gradTheta = (f: typeof f1) => theta0.map((_, i) => (f(bump(theta0, i, h), phi0) - f(bump(theta0, i, -h), phi0)) / (2 * h));
  const gradPhi = (f: typeof f1) => phi0.map((_, i) => (f(theta0, bump(phi0, i, h)) - f(theta0, bump(phi0, i, -h))) / (2 * h));
  /** ∂²f/∂a_i∂b_j by central differences (a, b ∈ {θ, φ}). */
  function mixed(f: typeof f2, aTheta: boolean, bTheta: boolean): number[][] {
    const na = aTheta ? 8 : 9, nb = bTheta ? 8 : 9;
    const at = (i: number, di: number, j: number, dj: number) => {
      let th = theta0, ph = phi0;
      if (aTheta) th = bump(th, i, di); else ph = bump(ph, i, di);
      if (bTheta) th = bump(th, j, dj); else ph = bump(ph, j, dj);
      return f(th, ph);
    };
    return Array.from({ length: na }, (_, i) => Array.from({ length: nb }, (_, j) => (at(i, h, j, h) - at(i, h, j, -h) - at(i, -h, j, h) + at(i, -h, j, -h)) / (4 * h * h)));
  }
  /** Dense float64 solve (Gaussian elimination with partial pivoting); also reports whether A is positive definite (Cholesky). */
  function solve(A: number[][], b: number[]): { x: number[]; pd: boolean } {
    const n = b.length;
    const L = A.map((r) => r.map(() => 0));
    let pd = true;
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      let s = A[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) { if (s <= 0) pd = false; L[i][i] = Math.sqrt(Math.max(s, 1e-300)); } else L[i][j] = s / L[j][j];
    }
    const M = A.map((r, i) => [...r, b[i]]);
    for (let k = 0; k < n; k++) {
      const p = M.slice(k).reduce((best, r, i) => (Math.abs(r[k]) > Math.abs(M[best][k]) ? k + i : best), k);
      [M[k], M[p]] = [M[p], M[k]];
      for (let i = k + 1; i < n; i++) {
        const f = M[i][k] / M[k][k];
        for (let j = k; j <= n; j++) M[i][j] -= f * M[k][j];
      }
    }
    const xs = new Array(n).fill(0);
    for (let i = n - 1; i >= 0; i--) xs[i] = (M[i][n] - M.slice(i + 1, n).reduce((s, _, j) => s + M[i][i + 1 + j] * xs[i + 1 + j], 0)) / M[i][i];
    return { x: xs, pd };
  }

  // The same game on the engine.
  const tiny: import('../../rl/ppo.ts').Perception = {
    inputShape: [3], featureDim: 2,
    init: () => ({}),
    apply: (p, obs) => {
      const f = E.linear(obs, p.weight as E.Tensor, p.bias as E.Tensor, 'tanh');
      return { features: f, cost: E.div(E.sum(E.square(f)), B) };
    },
  };
  const heads = actorCriticHeads(2, 2);
  async function engineGrad(rule: LeaderRule<E.Params>): Promise<number[]> {
    return E.scope(() => {
      const theta = { weight: E.tensor(theta0.slice(0, 6), [2, 3]), bias: E.tensor(theta0.slice(6), [2]) };
      const phi = {
        actor: { weight: E.tensor(phi0.slice(0, 4), [2, 2]), bias: E.tensor(phi0.slice(4, 6), [2]) },
        critic: { weight: E.tensor(phi0.slice(6, 8), [1, 2]), bias: E.tensor(phi0.slice(8), [1]) },
      };
      const mb: Minibatch = {
        obs: E.tensor(x.flat(), [B, 3]), actions: E.tensor(acts), oldLogp: E.tensor(oldLogp), adv: E.tensor(adv),
        returns: E.tensor(ret), oldValues: E.tensor(oldV),
      };
      const r = stackelbergGradients(sprigGame({ perception: tiny, heads }, mb, c), theta as E.Params, phi as E.Params, rule);
      const g = r.leaderGrad as { weight: E.Tensor; bias: E.Tensor };
      return E.keep(E.concat([E.reshape(g.weight, [6]), g.bias]));
    }).data().then((d) => Array.from(d));
  }
  const close = (got: number[], want: number[], rel: number) => {
    const scale = Math.max(...want.map(Math.abs));
    got.forEach((v, i) => expect(Math.abs(v - want[i]), `component ${i}: ${v} vs ${want[i]}`).toBeLessThan(rel * scale));
  };

  it('matches a dense float64 solve of ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁', async () => {
    const lambda = 0.5;
    const g1 = gradTheta(f1), g2 = gradPhi(f1);
    const Hpp = mixed(f2, false, false).map((r, i) => r.map((v, j) => v + (i === j ? lambda : 0)));
    const { x: q, pd } = solve(Hpp, g2);
    expect(pd, 'the damped follower Hessian is positive definite at this point').toBe(true);
    const Mtp = mixed(f2, true, false); // ∂²f₂/∂θ∂φ [8 × 9]
    const want = g1.map((v, i) => v - Mtp[i].reduce((s, m, j) => s + m * q[j], 0));
    const got = await engineGrad({ kind: 'total', lambda, cgIters: 30 });
    close(got, want, 2e-3);
    // and the correction is not negligible (else this test could not tell the rules apart)
    const diff = Math.max(...want.map((v, i) => Math.abs(v - g1[i])));
    expect(diff).toBeGreaterThan(0.05 * Math.max(...g1.map(Math.abs)));
  });

  it('λ → ∞ gives the sequential (Algorithm 1) leader gradient, which matches finite differences', async () => {
    const seq = await engineGrad({ kind: 'sequential' });
    close(seq, gradTheta(f1), 1e-3);
    const big = await engineGrad({ kind: 'total', lambda: 1e7, cgIters: 5 });
    close(big, seq, 1e-4);
  });
});
