// The inner–outer best response on mdp/three-state (rl/palmal/train.ts): per leader step the
// follower is trained until each run's ‖∇₂f₂‖₂ ≤ innerTol. Checked independently in float64 at the
// returned players: PAL's model against the analytic ℓ gradient (tabular.ts) and the Newton best
// response; MAL's policy against central finite differences of −Ĵ − τ·H computed by the CPU
// occupancy.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import {
  episodeReturn, modelBestResponse, modelFromLogits, modelLoss, normalisedOccupancy, occupancy, policyFromLogits, trueModel,
} from '../../rl/palmal/tabular.ts';
import { trainTabular, DEFAULTS } from '../../rl/palmal/train.ts';

beforeAll(async () => {
  await E.init();
});

const TOL = 1e-3;

describe('inner–outer: the follower is trained to the convergence tolerance before every leader step', () => {
  it('PAL: every inner loop ends at ‖∇₂f₂‖ ≤ tol, and the returned model is the float64 best response', { timeout: 300_000 }, async () => {
    const before = E.memory().liveBuffers;
    const res = await trainTabular({ ...DEFAULTS, formulation: 'pal', method: 'inner-outer', runs: 3, leaderSteps: 3, innerTol: TOL, recordEvery: 3, episodes: 10 });
    expect(E.memory().liveBuffers).toBe(before);
    const inner = res.inner!;
    expect(inner.steps.length).toBe(4); // one loop per leader step and one after the last
    for (let k = 0; k < inner.steps.length; k++) {
      expect(inner.gradNorm[k]).toBeLessThanOrEqual(TOL);
      expect(inner.steps[k]).toBeLessThan(DEFAULTS.innerMax);
    }
    const kappa = DEFAULTS.kappa;
    for (const run of res.runs) {
      const w = normalisedOccupancy(occupancy(trueModel(), policyFromLogits(run.phi)));
      const g = modelLoss(w, run.theta, run.rho);
      const full = [...Array.from(g.gTheta, (x, i) => x + kappa * run.theta[i]!), ...Array.from(g.gRho, (x, i) => x + kappa * run.rho[i]!)];
      // float32 training vs float64 gradient: allow rounding on top of the tolerance.
      expect(Math.hypot(...full)).toBeLessThan(1.2 * TOL);
      // The Newton best response: transitions agree where the data weigh them.
      const star = modelFromLogits(...Object.values(modelBestResponse(w, kappa)) as [Float64Array, Float64Array]);
      for (let s = 0; s < 2; s++) for (let a = 0; a < 2; a++) {
        if (w[s * 2 + a]! < 0.05) continue;
        for (let k = 0; k < 3; k++) expect(Math.abs(run.model.P[s]![a]![k]! - star.P[s]![a]![k]!)).toBeLessThan(0.05);
        expect(Math.abs(run.model.r[s]![a]! - star.r[s]![a]!)).toBeLessThan(0.05);
      }
    }
  });

  it('MAL: the policy is converged in the model the leader chose (float64 central differences of −Ĵ − τ·H)', { timeout: 300_000 }, async () => {
    const res = await trainTabular({ ...DEFAULTS, formulation: 'mal', method: 'inner-outer', runs: 3, leaderSteps: 3, innerTol: TOL, recordEvery: 3, episodes: 10 });
    const inner = res.inner!;
    for (const gn of inner.gradNorm) expect(gn).toBeLessThanOrEqual(TOL);
    const tau = DEFAULTS.tau;
    for (const run of res.runs) {
      const model = modelFromLogits(run.theta, run.rho);
      const f2 = (phi: number[]) => {
        const pi = policyFromLogits(phi);
        const ent = pi.reduce((acc, row) => acc - row.reduce((h, p) => h + (p > 0 ? p * Math.log(p) : 0), 0), 0);
        return -episodeReturn(model, pi) - tau * ent;
      };
      const grad = run.phi.map((_, i) => {
        const a = [...run.phi], b = [...run.phi];
        a[i] += 1e-5;
        b[i] -= 1e-5;
        return (f2(a) - f2(b)) / 2e-5;
      });
      expect(Math.hypot(...grad)).toBeLessThan(1.2 * TOL);
    }
  });
});
