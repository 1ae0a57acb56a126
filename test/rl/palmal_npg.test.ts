// The scalable PAL/MAL's natural-policy-gradient step (rl/palmal/scalable.ts): its Fisher-vector
// product (HVP of the mean KL at the old policy) against a dense float64 Fisher built from central
// finite differences of a float64 twin of a tiny Gaussian MLP policy, and the step's KL radius.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { fisherLinearisation, npgStep, type Policy } from '../../rl/palmal/scalable.ts';
import { solveDense } from '../../rl/palmal/tabular.ts';

beforeAll(async () => {
  await E.init();
});

// Tiny policy: obs 2 → 3 tanh → 1 mean, log-std 1. Flat float64 parameters in the order
// w0 [2,3], b0 [3], w1 [3,1], b1 [1], logStd [1] (14 numbers).
const SIZES = { w0: 6, b0: 3, w1: 3, b1: 1, logStd: 1 } as const;
const NP = 14;
let s = 7;
const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
// 16 observations: enough for a full-rank Fisher over the 13 mean parameters.
const OBS = Array.from({ length: 16 }, () => [1.5 * rnd(), 1.5 * rnd()]);
const ACT = OBS.map(() => rnd());
const ADV = OBS.map(() => rnd());
const DAMP = 1e-2;

function meanF64(p: number[], o: number[]): number {
  const h = [0, 1, 2].map((j) => Math.tanh(o[0]! * p[j]! + o[1]! * p[3 + j]! + p[6 + j]!));
  return h[0]! * p[9]! + h[1]! * p[10]! + h[2]! * p[11]! + p[12]!;
}

/** Dense Fisher of the mean KL: E_s[∇μ ∇μᵀ]/σ² for the mean parameters, 2 for the log-std (1-D action). */
function denseFisher(p: number[]): number[][] {
  const F = Array.from({ length: NP }, () => new Array<number>(NP).fill(0));
  const sigma2 = Math.exp(2 * p[13]!);
  for (const o of OBS) {
    const J = new Array<number>(13).fill(0).map((_, i) => {
      const a = [...p], b = [...p];
      a[i] += 1e-6;
      b[i] -= 1e-6;
      return (meanF64(a, o) - meanF64(b, o)) / 2e-6;
    });
    for (let i = 0; i < 13; i++) for (let j = 0; j < 13; j++) F[i]![j] += (J[i]! * J[j]!) / sigma2 / OBS.length;
  }
  F[13]![13] = 2;
  return F;
}

function toPolicy(p: number[]): Policy {
  return {
    net: {
      w0: E.tensor(p.slice(0, 6), [2, 3]), b0: E.tensor(p.slice(6, 9), [3]),
      w1: E.tensor(p.slice(9, 12), [3, 1]), b1: E.tensor(p.slice(12, 13), [1]),
    },
    logStd: E.tensor(p.slice(13, 14), [1]),
  };
}

async function fromPolicy(pol: Policy): Promise<number[]> {
  const n = pol.net;
  const parts = await E.readAll([n.w0!, n.b0!, n.w1!, n.b1!, pol.logStd]);
  return parts.flatMap((x) => Array.from(x!));
}

describe('NPG step', () => {
  it('the Fisher-vector product matches a dense float64 Fisher', async () => {
    const p = Array.from({ length: NP }, () => 0.8 * rnd());
    p[13] = -0.3;
    const F = denseFisher(p);
    const before = E.memory().liveBuffers;
    const pol = toPolicy(p);
    const obs = E.tensor(OBS.flat(), [OBS.length, 2]);
    for (let k = 0; k < 3; k++) {
      const v = Array.from({ length: NP }, () => rnd());
      const vt = toPolicy(v);
      const Fv = E.scope(() => {
        const lin = fisherLinearisation(pol, obs);
        const out = lin.hvp(vt) as Policy;
        lin.dispose();
        return out;
      });
      const got = await fromPolicy(Fv);
      E.dispose([vt, Fv]);
      const want = F.map((row) => row.reduce((acc, x, j) => acc + x * v[j]!, 0));
      const err = Math.hypot(...got.map((g, i) => g - want[i]!)) / Math.hypot(...want);
      expect(err).toBeLessThan(1e-4);
    }
    E.dispose([pol, obs]);
    expect(E.memory().liveBuffers).toBe(before);
  });

  it('the step solves F x = g by CG and lands on the KL radius, uphill on the surrogate', async () => {
    const p = Array.from({ length: NP }, () => 0.8 * rnd());
    p[13] = -0.3;
    const F = denseFisher(p);
    const pol = toPolicy(p);
    const obs = E.tensor(OBS.flat(), [OBS.length, 2]);
    const act = E.tensor(ACT, [OBS.length, 1]);
    const adv = E.tensor(ADV, [OBS.length]);
    const eps = 1e-3;
    const next = npgStep(pol, obs, act, adv, { klStep: eps, cgIters: 40, damping: DAMP });
    const q = await fromPolicy(next);
    const d = q.map((x, i) => x - p[i]!);
    // ½ dᵀFd = ε (the step is scaled to the KL radius under the quadratic model).
    const quad = 0.5 * d.reduce((acc, di, i) => acc + di * F[i]!.reduce((a, x, j) => a + x * d[j]!, 0), 0);
    expect(quad).toBeCloseTo(eps, 5);
    // d ∝ (F + δI)⁻¹g (float64 dense solve of the same system; g by finite differences of the surrogate).
    const logp = (pp: number[], k: number) => {
      const m = meanF64(pp, OBS[k]!), ls = pp[13]!, a = ACT[k]!;
      return -0.5 * ((a - m) / Math.exp(ls)) ** 2 - ls;
    };
    const sur = (pp: number[]) => ADV.reduce((acc, ak, k) => acc + Math.exp(logp(pp, k) - logp(p, k)) * ak, 0) / OBS.length;
    const g = p.map((_, i) => {
      const a = [...p], b = [...p];
      a[i] += 1e-6;
      b[i] -= 1e-6;
      return (sur(a) - sur(b)) / 2e-6;
    });
    const x = solveDense(F.map((row, i) => row.map((v, j) => v + (i === j ? DAMP : 0))), g);
    const scale = Math.sqrt((2 * eps) / x.reduce((acc, xi, i) => acc + xi * F[i]!.reduce((a2, v, j) => a2 + v * x[j]!, 0), 0));
    const want = x.map((xi) => xi * scale);
    expect(Math.hypot(...d.map((di, i) => di - want[i]!)) / Math.hypot(...want)).toBeLessThan(2e-2);
    expect(d.reduce((acc, di, i) => acc + di * g[i]!, 0)).toBeGreaterThan(0);
    E.dispose([pol, next, obs, act, adv]);
  });
});
