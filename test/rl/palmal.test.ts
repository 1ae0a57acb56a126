// PAL/MAL on the 3-state MDP (rl/palmal): the engine's objectives against float64 references
// (ℓ and its analytic gradient, occupancies and returns), returns against dynamic programming
// and against rollouts in rl/envs/mdp.ts, the Stackelberg total derivative of the PAL game
// against central finite differences of f₁(φ, r(φ)) with r solved by Newton in float64, and
// short learning runs.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { totalDerivative } from '../../engine/solvers.ts';
import {
  episodeReturn, modelBestResponse, modelFromLogits, modelLoss as modelLossCpu, normalisedOccupancy, occupancy as occCpu,
  optimalValue, policyFromLogits, rolloutReturn, trueModel, bestStationary, H, type TabularModel, type TabularPolicy,
} from '../../rl/palmal/tabular.ts';
import { occupancy, modelLossParts, modelReturn, palGame, realTensors, type ModelParams } from '../../rl/palmal/games.ts';
import { trainTabular, DEFAULTS } from '../../rl/palmal/train.ts';

beforeAll(async () => {
  await E.init();
});

// A small deterministic generator for test inputs.
let state = 12345;
const rnd = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
const randn = (n: number, s: number) => Array.from({ length: n }, () => s * (rnd() + rnd() + rnd() - 1.5) * 2);

/** Finite-horizon policy evaluation by backward recursion (independent of the forward occupancy). */
function policyValueDp(m: TabularModel, pi: TabularPolicy): number {
  let V = [0, 0];
  for (let t = H - 1; t >= 0; t--) {
    V = [0, 1].map((s) => [0, 1].reduce((acc, a) => acc + pi[s]![a]! * (m.r[s]![a]! + m.P[s]![a]![0]! * V[0]! + m.P[s]![a]![1]! * V[1]!), 0));
  }
  return V[1]!;
}

const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

describe('exact returns and the optimal value', () => {
  it('the forward occupancy return equals backward DP policy evaluation; DP optimum ≥ every stationary policy', () => {
    const real = trueModel();
    for (let k = 0; k < 20; k++) {
      const pi = policyFromLogits(randn(4, 2));
      expect(episodeReturn(real, pi)).toBeCloseTo(policyValueDp(real, pi), 10);
    }
    const opt = optimalValue(real);
    const best = bestStationary(real);
    expect(best.policy).toEqual([1, 1]); // Y in A (stay for 0.75 a step), Y in B
    expect(opt.value).toBeGreaterThanOrEqual(best.value - 1e-12);
    expect(opt.value - best.value).toBeLessThan(0.05); // only the last step's choice in B differs
    expect(opt.value).toBeCloseTo(36.45, 2);
  });

  it('exact J agrees with Monte-Carlo rollouts in rl/envs/mdp.ts (within 4 standard errors)', () => {
    for (const logits of [[0, 0, 0, 0], [2, -1, -3, 1], [-2, 2, -2, 2]]) {
      const pi = policyFromLogits(logits);
      const mc = rolloutReturn(pi, 4000, 3);
      const exact = episodeReturn(trueModel(), pi);
      expect(Math.abs(mc.mean - exact)).toBeLessThan(4 * mc.std / Math.sqrt(4000) + 1e-9);
    }
  });

  it('the engine occupancy and model return (doubling sum) match float64, also in the real MDP', async () => {
    const R = 3;
    const phi = randn(R * 4, 1.5), theta = randn(R * 12, 1.5), rho = randn(R * 4, 1);
    const before = E.memory().liveBuffers;
    const real = realTensors();
    const [mu, J, Jr] = E.scope(() => {
      const pi = E.softmax(E.tensor(phi, [R, 2, 2]), -1);
      const P = E.softmax(E.tensor(theta, [R, 2, 2, 3]), -1);
      return [occupancy(pi, P), modelReturn(pi, P, E.tensor(rho, [R, 2, 2])), modelReturn(pi, real.P, real.rbar)];
    });
    const [muv, Jv, Jrv] = await E.readAll([mu, J, Jr]);
    for (let r = 0; r < R; r++) {
      const pi = policyFromLogits(phi.slice(r * 4, r * 4 + 4));
      const m = modelFromLogits(theta.slice(r * 12, r * 12 + 12), rho.slice(r * 4, r * 4 + 4));
      expect(relErr(muv!.subarray(r * 4, r * 4 + 4), occCpu(m, pi).flat())).toBeLessThan(1e-5);
      expect(Jv![r]!).toBeCloseTo(episodeReturn(m, pi), 3);
      expect(Jrv![r]!).toBeCloseTo(episodeReturn(trueModel(), pi), 3);
    }
    E.dispose([mu, J, Jr, real]);
    expect(E.memory().liveBuffers).toBe(before);
  });
});

describe('model loss ℓ', () => {
  it('ℓ_P, ℓ_r and their gradients match the float64 analytic values', async () => {
    const R = 2;
    const w = Array.from({ length: R }, () => normalisedOccupancy(occCpu(trueModel(), policyFromLogits(randn(4, 1))))).flat();
    const theta = randn(R * 12, 1.5), rho = randn(R * 4, 1);
    const real = realTensors();
    const wT = E.tensor(w, [R, 2, 2]);
    const m: ModelParams = { theta: E.tensor(theta, [R, 2, 2, 3]), rho: E.tensor(rho, [R, 2, 2]) };
    const f = (mm: ModelParams) => {
      const { lP, lr } = modelLossParts(mm, wT, real);
      return E.add(E.sum(lP), E.sum(lr));
    };
    const parts = E.scope(() => modelLossParts(m, wT, real));
    const g = E.scope(() => E.grad(f)(m));
    const [lP, lr, gth, grh] = await E.readAll([parts.lP, parts.lr, g.theta, g.rho]);
    for (let r = 0; r < R; r++) {
      const ref = modelLossCpu(w.slice(r * 4, r * 4 + 4), theta.slice(r * 12, r * 12 + 12), rho.slice(r * 4, r * 4 + 4));
      expect(lP![r]!).toBeCloseTo(ref.lP, 5);
      expect(lr![r]!).toBeCloseTo(ref.lr, 5);
      expect(relErr(gth!.subarray(r * 12, r * 12 + 12), ref.gTheta)).toBeLessThan(1e-5);
      expect(relErr(grh!.subarray(r * 4, r * 4 + 4), ref.gRho)).toBeLessThan(1e-5);
    }
    // The loss vanishes at the true model (only where P > 0 matters: large negative logits elsewhere).
    const Pt = trueModel().P.flat(2).map((p) => (p > 0 ? Math.log(p) : -30));
    const exact = modelLossCpu([0.25, 0.25, 0.25, 0.25], Pt, trueModel().r.flat());
    expect(exact.lP).toBeLessThan(1e-10);
    E.dispose([parts, g, m, wT, real]);
  });
});

describe('the PAL game: exact best-response derivative', () => {
  it('totalDerivative at the model best response equals central finite differences of f₁(φ, r(φ)) (float64)', async () => {
    const kappa = 0.05;
    const phi0 = [0.3, -0.4, -0.2, 0.5];
    // r(φ): the model's best response to the policy's real visitation, by Newton in float64.
    const br = (phi: number[]) => modelBestResponse(normalisedOccupancy(occCpu(trueModel(), policyFromLogits(phi))), kappa);
    const F = (phi: number[]) => {
      const { theta, rho } = br(phi);
      return -episodeReturn(modelFromLogits(theta, rho), policyFromLogits(phi));
    };
    const h = 1e-5;
    const fd = phi0.map((_, i) => {
      const p = [...phi0], q = [...phi0];
      p[i] += h;
      q[i] -= h;
      return (F(p) - F(q)) / (2 * h);
    });
    const { theta, rho } = br(phi0);
    const real = realTensors();
    const game = palGame(real, { alpha: 1, kappa, tau: 0 });
    const phiT = E.tensor(phi0, [1, 2, 2]);
    const m: ModelParams = { theta: E.tensor(Array.from(theta), [1, 2, 2, 3]), rho: E.tensor(Array.from(rho), [1, 2, 2]) };
    const td = totalDerivative({ leaderLoss: game.leaderLoss, followerLoss: game.followerLoss, leader: phiT, follower: m, cgIters: 40 });
    const [tot, ind, fg] = await E.readAll([td.leaderGrad, td.leaderIndividualGrad, E.scope(() => E.concat([E.reshape(td.followerGrad.theta, [12]), E.reshape(td.followerGrad.rho, [4])]))]);
    // The follower is at its best response (its gradient vanishes up to float32 rounding).
    expect(Math.max(...Array.from(fg!, Math.abs))).toBeLessThan(1e-5);
    console.log(`PAL total derivative ${Array.from(tot!, (x) => x.toFixed(5)).join(' ')} vs FD ${fd.map((x) => x.toFixed(5)).join(' ')} (individual ${Array.from(ind!, (x) => x.toFixed(5)).join(' ')})`);
    expect(relErr(tot!, fd)).toBeLessThan(2e-3);
    // And the implicit term matters here: the individual gradient is off.
    expect(relErr(ind!, fd)).toBeGreaterThan(0.05);
    E.dispose([td, phiT, m, real]);
  });
});

describe('learning on mdp/three-state', () => {
  const opt = optimalValue().value;
  it('PAL (implicit best response) reaches within 0.5 of the DP optimum in every run', async () => {
    const res = await trainTabular({ ...DEFAULTS, formulation: 'pal', method: 'implicit', runs: 3, leaderSteps: 60, warmup: 100, recordEvery: 60, episodes: 200 });
    for (const r of res.runs) expect(r.realReturn).toBeGreaterThan(opt - 0.5);
  }, 240_000);
});

describe('MAL on mdp/three-state', () => {
  it('MAL (implicit best response) fails in most runs, as the poster says: the policy never feeds the model the action the optimum needs', async () => {
    const res = await trainTabular({ ...DEFAULTS, formulation: 'mal', method: 'implicit', runs: 3, leaderSteps: 20, recordEvery: 20, episodes: 200 });
    const opt = [[0, 1], [0, 1]];
    let failed = 0;
    for (const r of res.runs) {
      console.log(`MAL run: real J ${r.realReturn.toFixed(2)}, model's Ĵ(π) ${r.modelReturn.toFixed(2)}, model's Ĵ(Y,Y) ${episodeReturn(r.model, opt).toFixed(2)}, ℓ_P on own data ${r.ellP.toFixed(3)}, μ̄ ${r.visitation.map((v) => v.toFixed(2)).join(' ')}`);
      // A failed run ends far from the optimum (36.45): X in B (≈ 0.99) or X in A after Y in B (≈ 2.58).
      if (r.realReturn < 3) {
        failed++;
        // Why: the model leads and steers the policy's data; the data never contain (A, Y), the
        // 0.75-per-step self-loop the optimum lives on, so nothing corrects the model there.
        expect(r.visitation[1]!).toBeLessThan(0.05);
      } else {
        expect(r.realReturn).toBeGreaterThan(36); // the other outcome: the optimum itself
      }
    }
    // Seeds 0..2 of this configuration: two of three runs fail (the 5-run table: five of five).
    expect(failed).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
