// Update rules on games with closed-form answers: each rule converges to its own fixed point on
// the quadratic game (Stackelberg rule → the Stackelberg equilibrium, simultaneous → the Nash
// point, two-timescale → ∇₁f₁(x, y*(x)) = 0); the bilinear game spirals out under simultaneous play
// and is pulled in by the regularised Stackelberg gradient.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { quadraticGame, quadraticClosedForm, DEFAULT_QUADRATIC as Q, bilinearGame, solveDense } from '../../games/toys.ts';
import { play, step, distanceTo, type UpdateRule } from '../../games/game.ts';

beforeAll(async () => {
  await E.init();
});

const cf = quadraticClosedForm(Q);
const n = 2;
// Nash point: ∇₁f₁ = Ax + By + a = 0 and ∇₂f₂ = Dy + Ex + b = 0.
const nash = (() => {
  const M = [[...Q.A[0], ...Q.B[0]], [...Q.A[1], ...Q.B[1]], [...Q.E[0], ...Q.D[0]], [...Q.E[1], ...Q.D[1]]];
  const z = solveDense(M, [...Q.a, ...Q.b].map((v) => -v));
  return { leader: z.slice(0, n), follower: z.slice(n) };
})();
// Two-timescale limit: the leader's individual gradient vanishes at the follower's best response.
const twoTimescale = (() => {
  const K = [0, 1].map((j) => solveDense(Q.D, Q.E.map((r) => r[j])).map((v) => -v)); // columns of K
  const Kmat = [0, 1].map((i) => [K[0][i], K[1][i]]);
  const k = solveDense(Q.D, Q.b).map((v) => -v);
  const BK = Q.B.map((r) => [0, 1].map((j) => r[0] * Kmat[0][j] + r[1] * Kmat[1][j]));
  const M = Q.A.map((r, i) => r.map((v, j) => v + BK[i][j]));
  const rhs = Q.a.map((v, i) => -(v + Q.B[i][0] * k[0] + Q.B[i][1] * k[1]));
  const x = solveDense(M, rhs);
  const y = [0, 1].map((i) => Kmat[i][0] * x[0] + Kmat[i][1] * x[1] + k[i]);
  return { leader: x, follower: y };
})();

async function finalDistance(rule: UpdateRule, iters: number, target: { leader: number[]; follower: number[] }) {
  const g = quadraticGame();
  const s = g.init();
  const t = await play(g, s, rule, iters, { recordEvery: iters });
  E.dispose([s, t.final]);
  return distanceTo(t, target);
}

describe('quadratic game', () => {
  it('the closed-form equilibria are distinct points (so the tests below tell the rules apart)', () => {
    const d = (a: { leader: number[]; follower: number[] }, b: typeof a) =>
      Math.hypot(...a.leader.map((v, i) => v - b.leader[i]), ...a.follower.map((v, i) => v - b.follower[i]));
    expect(d(cf.equilibrium, nash)).toBeGreaterThan(0.1);
    expect(d(cf.equilibrium, twoTimescale)).toBeGreaterThan(0.1);
  });

  it('Stackelberg gradient play converges to the closed-form Stackelberg equilibrium', async () => {
    const d = await finalDistance({ kind: 'stackelberg', leaderLr: 0.1, followerLr: 0.3, lambda: 0, cgIters: 2 }, 400, cf.equilibrium);
    console.log(`quadratic: Stackelberg play distance to equilibrium ${d[0].toFixed(3)} → ${d.at(-1)!.toExponential(2)} in 400 steps`);
    expect(d.at(-1)!).toBeLessThan(1e-3);
  });

  it('simultaneous play converges to the Nash point instead, and two-timescale play to ∇₁f₁(x, y*(x)) = 0', async () => {
    const dn = await finalDistance({ kind: 'simultaneous', leaderLr: 0.1, followerLr: 0.3 }, 400, nash);
    expect(dn.at(-1)!).toBeLessThan(1e-3);
    const dt = await finalDistance({ kind: 'twoTimescale', leaderLr: 0.1, followerLr: 0.4, followerSteps: 5 }, 300, twoTimescale);
    expect(dt.at(-1)!).toBeLessThan(1e-3);
  });

  it('m follower unroll steps per leader step are taken at the new leader parameters', async () => {
    const g = quadraticGame();
    const s = g.init();
    const lr = 0.1;
    const one = step(g, s, { kind: 'stackelberg', leaderLr: lr, followerLr: lr, cgIters: 2, followerSteps: 3 });
    const [x0, y0] = [await s.leader.data(), await s.follower.data()].map((a) => Array.from(a));
    const td = cf.totalDerivative(x0, y0, 0);
    const x1 = x0.map((v, i) => v - lr * td[i]);
    let y = y0.map((v, i) => v - lr * cf.followerGrad(x0, y0)[i]);
    for (let k = 0; k < 2; k++) {
      const gy = cf.followerGrad(x1, y);
      y = y.map((v, i) => v - lr * gy[i]);
    }
    const [gx, gy] = [await one.leader.data(), await one.follower.data()];
    x1.forEach((v, i) => expect(gx[i]).toBeCloseTo(v, 5));
    y.forEach((v, i) => expect(gy[i]).toBeCloseTo(v, 5));
    E.dispose([s, one]);
  });

  it('a step encodes GPU work only (no readback) and frees its intermediates', async () => {
    const g = quadraticGame();
    const s0 = g.init();
    // One warm-up step uploads the game's matrices (cached, kept for the game's lifetime).
    let s = step(g, s0, { kind: 'simultaneous', leaderLr: 0.1 });
    E.dispose(s0);
    await s.leader.data();
    const before = E.memory().liveBuffers;
    const c0 = E.counters();
    for (let k = 0; k < 5; k++) {
      for (const rule of [
        { kind: 'simultaneous', leaderLr: 0.1 },
        { kind: 'stackelberg', leaderLr: 0.1, lambda: 0.1, cgIters: 2, followerSteps: 2 },
        { kind: 'twoTimescale', leaderLr: 0.1, followerLr: 0.2, followerSteps: 2 },
      ] as UpdateRule[]) {
        const next = step(g, s, rule);
        E.dispose(s);
        s = next;
      }
    }
    expect(E.counters().readbacks - c0.readbacks).toBe(0);
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose(s);
  });
});

describe('bilinear game', () => {
  it('simultaneous play spirals out; the regularised Stackelberg gradient pulls it to (0, 0)', async () => {
    const eq = { leader: [0], follower: [0] };
    const g = bilinearGame();
    const s = g.init();
    const sim = await play(g, s, { kind: 'simultaneous', leaderLr: 0.05 }, 200, { recordEvery: 200 });
    const st = await play(g, s, { kind: 'stackelberg', leaderLr: 0.05, lambda: 1, cgIters: 1 }, 200, { recordEvery: 200 });
    const [d0, dSim] = distanceTo(sim, eq), dSt = distanceTo(st, eq).at(-1)!;
    console.log(`bilinear: distance to (0,0) after 200 steps: simultaneous ${d0.toFixed(3)} → ${dSim.toFixed(3)}, Stackelberg (λ=1) → ${dSt.toFixed(3)}`);
    expect(dSim).toBeGreaterThan(d0);
    expect(dSt).toBeLessThan(0.5 * d0);
    E.dispose([s, sim.final, st.final]);
  });
});
