// SPRIG's fused leader objective (engine/nn/ppo_loss.ts sprigLeaderLoss, kernels/ppo.ts): its
// value and gradients (logits, both layers' gates) against a float64 transcription of
// f = −u_L for Algorithm 1 and Eq. 8, the gradient also against central differences of that
// transcription; and the sequential leader step's gradient through the real perception against
// the composed objective's (the form the total rule keeps).
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { sprigLeaderLoss } from '../../engine/nn/ppo_loss.ts';
import { SprigAgent, SPRIG_DEFAULTS, sprigGame, type SprigConfig } from '../../rl/sprig.ts';
import { Rng } from '../../engine/nn/rng.ts';

beforeAll(async () => {
  await E.init();
});

function noise(n: number, seed: number, scale = 1): Float64Array {
  const r = new Rng(seed);
  return Float64Array.from({ length: n }, () => (2 * r.uniform() - 1) * scale);
}

/** float64 f = costCoef·(Σ gates)/B − policyCoef·mean(log π(a|s)·Â). */
function ref(z: Float64Array, act: number[], adv: Float64Array, gates: Float64Array[], A: number, B: number, costCoef: number, policyCoef: number) {
  const M = act.length;
  let pol = 0;
  for (let i = 0; i < M; i++) {
    const row = z.subarray(i * A, (i + 1) * A);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    pol += (row[act[i]] - lse) * adv[i];
  }
  const g = gates.reduce((s, t) => s + t.reduce((u, x) => u + x, 0), 0);
  return (costCoef * g) / B - (policyCoef * pol) / M;
}

describe('sprigLeaderLoss', () => {
  it.each([
    { objective: 'alg1' as const, M: 37, A: 3, B: 37 },
    { objective: 'eq8' as const, M: 300, A: 6, B: 300 }, // more rows than the reduction's 256 threads
  ])('$objective, M = $M, A = $A: value and gradients equal float64 and central differences', async ({ objective, M, A, B }) => {
    const live = E.memory().liveBuffers;
    const alpha = 0.7, lambdaC = 0.3; // a large λ_c so the cost term is not negligible
    const [costCoef, policyCoef] = objective === 'alg1' ? [alpha * lambdaC, 1 - alpha] : [(1 - alpha) * lambdaC, alpha];
    const z = noise(M * A, 1, 3), adv = noise(M, 2, 2);
    const act = Array.from({ length: M }, (_, i) => (i * 7) % A);
    const gt = noise(B * 16, 3).map((x) => 0.5 + 0.4 * x), gs = noise(B * 16, 4).map((x) => 0.5 + 0.4 * x);
    const Z = E.tensor(Float32Array.from(z), [M, A]), ACT = E.tensor(Float32Array.from(act), [M]), ADV = E.tensor(Float32Array.from(adv), [M]);
    const GT = E.tensor(Float32Array.from(gt), [B, 16, 1, 1]), GS = E.tensor(Float32Array.from(gs), [B, 1, 16, 1]);
    const f = (zs: E.Tensor, a: E.Tensor, b: E.Tensor) => sprigLeaderLoss(zs, ACT, ADV, [a, b], { costCoef, policyCoef, samples: B });
    const [value, grads] = E.valueAndGrad((p: E.Tensor[]) => f(p[0], p[1], p[2]))([Z, GT, GS]);
    const want = ref(z, act, adv, [gt, gs], A, B, costCoef, policyCoef);
    expect(Math.abs((await value.item()) - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
    const [dz, dgt, dgs] = await E.readAll(grads as E.Tensor[]);
    // closed form
    for (let i = 0; i < M; i++) {
      const row = z.subarray(i * A, (i + 1) * A);
      const m = Math.max(...row);
      const s = row.reduce((u, x) => u + Math.exp(x - m), 0);
      for (let j = 0; j < A; j++) {
        const d = (-policyCoef * adv[i] * ((j === act[i] ? 1 : 0) - Math.exp(row[j] - m) / s)) / M;
        expect(Math.abs(dz[i * A + j] - d)).toBeLessThan(1e-6);
      }
    }
    for (const g of [dgt, dgs]) for (const x of g) expect(Math.abs(x - costCoef / B)).toBeLessThan(1e-7);
    // central differences of the float64 f along a random direction of every input
    const vz = noise(M * A, 5), vt = noise(B * 16, 6), vs = noise(B * 16, 7);
    const eps = 1e-4;
    const at = (s: number) => ref(z.map((x, i) => x + s * eps * vz[i]), act, adv, [gt.map((x, i) => x + s * eps * vt[i]), gs.map((x, i) => x + s * eps * vs[i])], A, B, costCoef, policyCoef);
    const numeric = (at(1) - at(-1)) / (2 * eps);
    let analytic = 0;
    dz.forEach((x, i) => (analytic += x * vz[i]));
    dgt.forEach((x, i) => (analytic += x * vt[i]));
    dgs.forEach((x, i) => (analytic += x * vs[i]));
    expect(Math.abs(analytic - numeric)).toBeLessThan(1e-5 * Math.max(1, Math.abs(numeric)));
    E.dispose([Z, ACT, ADV, GT, GS, value, ...(grads as E.Tensor[])]);
    expect(E.memory().liveBuffers).toBe(live);
  });

  it('bad input names the problem', () => {
    const Z = E.zeros([4, 3]);
    expect(() => sprigLeaderLoss(Z, E.zeros([5]), E.zeros([4]), [E.zeros([2]), E.zeros([2])], { costCoef: 1, policyCoef: 1, samples: 4 })).toThrow(/actions \[5\].*4 rows/);
    expect(() => sprigLeaderLoss(Z, E.zeros([4]), E.zeros([4]), [E.zeros([2])], { costCoef: 1, policyCoef: 1, samples: 4 })).toThrow(/two attention layers/);
  });

  it.each(['alg1', 'eq8'] as const)('the sequential leader gradient through the perception equals the composed objective’s (%s)', async (leaderObjective) => {
    const live = E.memory().liveBuffers;
    const env = { id: 'minatar/breakout', obsShape: [10, 10, 4], obsSize: 400, actionSpace: { kind: 'discrete' as const, n: 3 }, actionDim: 1, numEnvs: 8 };
    const cfg: SprigConfig = { ...SPRIG_DEFAULTS, frameStack: 2, seed: 2, lambdaC: 0.05, leaderObjective };
    const agent = new SprigAgent(cfg, env as never);
    const M = 24;
    const r = new Rng(9);
    const mb = {
      obs: E.tensor(Float32Array.from({ length: M * 800 }, () => (r.uniform() < 0.2 ? 1 : 0)), [M, 2, 10, 10, 4]),
      actions: E.tensor(Float32Array.from({ length: M }, (_, i) => i % 3), [M]),
      oldLogp: E.zeros([M]), adv: E.tensor(Float32Array.from(noise(M, 3)), [M]), returns: E.zeros([M]), oldValues: E.zeros([M]),
    };
    const grad = (c: SprigConfig) => E.grad((theta: E.Params) => sprigGame(agent, mb, c).leaderLoss(theta, agent.params.heads))(agent.params.perception);
    const fused = grad(cfg);
    const composed = grad({ ...cfg, leaderUpdate: 'total' }); // the form the total rule differentiates
    const nf = E.namedParams(fused), nc = E.namedParams(composed);
    const names = Object.keys(nf);
    const [a, b] = [await E.readAll(names.map((n) => nf[n])), await E.readAll(names.map((n) => nc[n]))];
    let worst = 0, scale = 0, gateOnly = 0;
    names.forEach((n, i) => a[i].forEach((x, j) => {
      worst = Math.max(worst, Math.abs(x - b[i][j]));
      scale = Math.max(scale, Math.abs(b[i][j]));
      if (n.includes('gate')) gateOnly = Math.max(gateOnly, Math.abs(b[i][j]));
    }));
    expect(gateOnly).toBeGreaterThan(0); // the cost's gradient reaches the gates
    expect(worst).toBeLessThan(1e-4 * scale);
    E.dispose([fused, composed, ...Object.values(mb)]);
    agent.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});
