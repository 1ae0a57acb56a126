// rl/ddpg.ts TwoPlayerUpdater, the update every DDPG/SAC entry runs, on a quadratic actor-critic
// pair whose updates have closed forms, against a float64 re-implementation: the baselines' order
// (critic, then actor at the new critic), the sequential rule (leader's individual step, then m
// follower steps at the new leader), and the total rule (both players at the same point, the
// leader's total derivative from a truncated CG, the CG warm-started from the previous update's
// solution, λ_t = λ·exp(−t/τ), m − 1 extra follower steps), for both leader roles; and the
// negative-curvature counter of the 'stop' rule on an indefinite follower Hessian.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { TwoPlayerUpdater, lambdaAt, disposePacked, type StackelbergOptions } from '../../rl/ddpg.ts';

beforeAll(async () => {
  await E.init();
});

type Mat = number[][];
type Vec = number[];
const mv = (M: Mat, v: Vec): Vec => M.map((r) => r.reduce((s, x, j) => s + x * v[j], 0));
const tr = (M: Mat): Mat => M[0].map((_, j) => M.map((r) => r[j]));
const add = (...vs: Vec[]): Vec => vs[0].map((_, i) => vs.reduce((s, v) => s + v[i], 0));
const axpy = (x: Vec, a: number, y: Vec): Vec => x.map((v, i) => v + a * y[i]);
const dot = (u: Vec, v: Vec) => u.reduce((s, x, i) => s + x * v[i], 0);

// Actor a ∈ R³, critic c ∈ R⁴ (both follower dimensions ≥ 3, so one CG iteration does not converge
// and the warm start changes the answer).
//   actor loss  f_π(a, c) = ½aᵀPa + aᵀGc + pᵀa
//   critic loss f_Q(a, c) = ½cᵀHc + cᵀKa + hᵀc + ½aᵀSa
const P: Mat = [[2, 0.3, -0.2], [0.3, 1.5, 0.1], [-0.2, 0.1, 1.2]];
const G: Mat = [[0.5, -0.4, 0.2, 0.1], [0.3, 0.6, -0.5, 0.2], [-0.2, 0.1, 0.4, -0.6]];
const p: Vec = [0.1, -0.3, 0.2];
const H: Mat = [[3, 0.5, 0.2, -0.3], [0.5, 2, -0.4, 0.1], [0.2, -0.4, 1.5, 0.3], [-0.3, 0.1, 0.3, 0.8]];
const K: Mat = [[0.4, -0.3, 0.2], [0.1, 0.5, -0.2], [-0.6, 0.2, 0.3], [0.2, 0.1, 0.7]];
const h: Vec = [0.2, 0.1, -0.4, 0.3];
const S: Mat = [[1, 0.2, 0], [0.2, 0.5, 0.1], [0, 0.1, 0.7]];
const a0: Vec = [0.5, -1, 0.8];
const c0: Vec = [1, -0.5, 0.3, 0.7];

const gradA_fpi = (a: Vec, c: Vec) => add(mv(P, a), mv(G, c), p);
const gradC_fpi = (a: Vec) => mv(tr(G), a);
const gradC_fq = (a: Vec, c: Vec, Hm: Mat = H) => add(mv(Hm, c), mv(K, a), h);
const gradA_fq = (a: Vec, c: Vec) => add(mv(tr(K), c), mv(S, a));

function losses(Hm: Mat = H) {
  let t: Record<string, E.Tensor> | null = null;
  const m = () => (t && !t.P.disposed ? t : (t = E.keep({ P: E.tensor(P), G: E.tensor(G), p: E.tensor(p), H: E.tensor(Hm), K: E.tensor(K), h: E.tensor(h), S: E.tensor(S) })));
  const quad = (M: E.Tensor, u: E.Tensor, v: E.Tensor) => E.sum(E.mul(u, E.matmul(M, v)));
  const w = (x: E.Params) => x.w as E.Tensor;
  return {
    actorLoss: (a: E.Params, c: E.Params) => {
      const k = m();
      return E.add(E.add(E.mul(quad(k.P, w(a), w(a)), 0.5), quad(k.G, w(a), w(c))), E.sum(E.mul(k.p, w(a))));
    },
    criticLoss: (a: E.Params, c: E.Params) => {
      const k = m();
      return E.add(E.add(E.add(E.mul(quad(k.H, w(c), w(c)), 0.5), quad(k.K, w(c), w(a))), E.sum(E.mul(k.h, w(c)))), E.mul(quad(k.S, w(a), w(a)), 0.5));
    },
    dispose: () => t && E.dispose(t),
  };
}

/** CG on (A + λI)x = b from x0, `iters` iterations, stopping at the first direction with pᵀ(A + λI)p ≤ 0 (the 'stop' rule). */
function cg64(A: Mat, b: Vec, x0: Vec, iters: number, lambda: number) {
  const Al = (v: Vec) => axpy(mv(A, v), lambda, v);
  let x = x0.slice();
  let r = b.map((v, i) => v - Al(x)[i]);
  let d = r.slice();
  let rr = dot(r, r);
  let negative = 0;
  for (let k = 0; k < iters; k++) {
    const Ad = Al(d);
    const dAd = dot(d, Ad);
    if (dAd <= 0) {
      negative++;
      break;
    }
    const alpha = rr / dAd;
    x = axpy(x, alpha, d);
    r = axpy(r, -alpha, Ad);
    const rrNew = dot(r, r);
    d = axpy(r, rrNew / rr, d);
    rr = rrNew;
  }
  return { x, negative };
}

const LR_A = 0.1, LR_C = 0.05;

function opts(o: Partial<StackelbergOptions>): StackelbergOptions {
  return { stackelberg: 'none', leaderRule: 'total', lambda: 0.5, lambdaDecay: 0, cgIters: 1, followerSteps: 1, negativeCurvature: 'stop', ...o };
}

async function run(o: StackelbergOptions, steps: number[], Hm: Mat = H) {
  const live0 = E.memory().liveBuffers;
  const actor = E.packParams({ w: E.tensor(a0) }).params, critic = E.packParams({ w: E.tensor(c0) }).params;
  const actorOpt = E.sgd(actor, { lr: LR_A }), criticOpt = E.sgd(critic, { lr: LR_C });
  const st = new TwoPlayerUpdater(o, actorOpt, criticOpt);
  const L = losses(Hm);
  for (const t of steps) E.dispose(st.update(actor, critic, L.actorLoss, L.criticLoss, t));
  const out = {
    a: Array.from(await (actor.w as E.Tensor).data()),
    c: Array.from(await (critic.w as E.Tensor).data()),
    warm: st.warmStart ? Array.from(await (st.warmStart.w as E.Tensor).data()) : null,
    neg: (await st.negCurvature.data())[0],
  };
  st.dispose();
  actorOpt.dispose();
  criticOpt.dispose();
  L.dispose();
  disposePacked(actor);
  disposePacked(critic);
  expect(E.memory().liveBuffers).toBe(live0);
  return out;
}

const close = (x: Vec, y: Vec, label: string) => R.assertClose(x, y, { rtol: 2e-5, atol: 2e-6, label });
const maxDiff = (x: Vec, y: Vec) => Math.max(...x.map((v, i) => Math.abs(v - y[i])));

describe('TwoPlayerUpdater on a quadratic actor-critic pair vs float64', () => {
  it("the baselines' order: critic step, then the actor's step at the updated critic", async () => {
    const c1 = axpy(c0, -LR_C, gradC_fq(a0, c0));
    const a1 = axpy(a0, -LR_A, gradA_fpi(a0, c1));
    // the other order gives a measurably different actor, so the comparison can fail
    expect(maxDiff(a1, axpy(a0, -LR_A, gradA_fpi(a0, c0)))).toBeGreaterThan(1e-3);
    const r = await run(opts({}), [0]);
    close(r.a, a1, 'actor');
    close(r.c, c1, 'critic');
    expect(r.warm).toBeNull();
  });

  it('sequential rule: the leader steps with the follower held, then m follower steps at the new leader (both roles)', async () => {
    // actor leader, m = 2
    const aL = axpy(a0, -LR_A, gradA_fpi(a0, c0));
    let cF = axpy(c0, -LR_C, gradC_fq(aL, c0));
    cF = axpy(cF, -LR_C, gradC_fq(aL, cF));
    const r1 = await run(opts({ stackelberg: 'actor-leader', leaderRule: 'sequential', followerSteps: 2 }), [0]);
    close(r1.a, aL, 'actor leader: actor');
    close(r1.c, cF, 'actor leader: critic after 2 follower steps');
    // critic leader, m = 1: the baselines' own order (docs/actor-critic.md: STDDPG-CL's sequential control)
    const cL = axpy(c0, -LR_C, gradC_fq(a0, c0));
    const aF = axpy(a0, -LR_A, gradA_fpi(a0, cL));
    const r2 = await run(opts({ stackelberg: 'critic-leader', leaderRule: 'sequential' }), [0]);
    close(r2.c, cL, 'critic leader: critic');
    close(r2.a, aF, 'critic leader: actor');
    expect(r2.warm).toBeNull();
  });

  it('total rule: two updates with the CG warm-started from the previous solution, λ on its schedule, m − 1 extra follower steps (both roles)', async () => {
    const lambda = 0.5, tau = 1000, steps = [200, 700];
    for (const role of ['actor-leader', 'critic-leader'] as const) {
      for (const m of [1, 2]) {
        let a = a0.slice(), c = c0.slice();
        let warm: Vec | null = null, cold: Vec = [];
        for (const t of steps) {
          const lam = lambdaAt({ lambda, lambdaDecay: tau }, t);
          expect(lam).toBeCloseTo(lambda * Math.exp(-t / tau), 12);
          if (role === 'actor-leader') {
            // leader a, follower c: (H + λI)q = ∇_c f_π, leader gradient ∇_a f_π − Kᵀq
            const b = gradC_fpi(a);
            const q: Vec = cg64(H, b, warm ?? [0, 0, 0, 0], 1, lam).x;
            cold = cg64(H, b, [0, 0, 0, 0], 1, lam).x;
            const gl = axpy(gradA_fpi(a, c), -1, mv(tr(K), q));
            const gf = gradC_fq(a, c);
            a = axpy(a, -LR_A, gl);
            c = axpy(c, -LR_C, gf);
            for (let k = 1; k < m; k++) c = axpy(c, -LR_C, gradC_fq(a, c));
            warm = q;
          } else {
            // leader c, follower a: (P + λI)q = ∇_a f_Q, leader gradient ∇_c f_Q − Gᵀq
            const b = gradA_fq(a, c);
            const q: Vec = cg64(P, b, warm ?? [0, 0, 0], 1, lam).x;
            cold = cg64(P, b, [0, 0, 0], 1, lam).x;
            const gl = axpy(gradC_fq(a, c), -1, mv(tr(G), q));
            const gf = gradA_fpi(a, c);
            c = axpy(c, -LR_C, gl);
            a = axpy(a, -LR_A, gf);
            for (let k = 1; k < m; k++) a = axpy(a, -LR_A, gradA_fpi(a, c));
            warm = q;
          }
        }
        // the second solve from the warm start differs from a cold one, so a lost warm start would fail
        expect(maxDiff(warm!, cold)).toBeGreaterThan(1e-3);
        const r = await run(opts({ stackelberg: role, lambda, lambdaDecay: tau, followerSteps: m }), steps);
        close(r.a, a, `${role}, m = ${m}: actor`);
        close(r.c, c, `${role}, m = ${m}: critic`);
        close(r.warm!, warm!, `${role}, m = ${m}: the kept CG solution`);
        expect(r.neg).toBe(0);
      }
    }
  });

  it("negative curvature under 'stop': the counter counts each event and the leader takes its individual gradient", async () => {
    // An indefinite critic Hessian and a small λ: CG's first direction ∇_c f_π = Gᵀa has
    // dᵀ(H + λI)d < 0, so the solve stays at x0 = 0 and the leader's step is ∇_a f_π.
    const Hn: Mat = [[-3, 0, 0, 0], [0, -2, 0, 0], [0, 0, -1.5, 0], [0, 0, 0, -1]];
    const lam = 0.1;
    let a = a0.slice(), c = c0.slice();
    let events = 0;
    for (let t = 0; t < 2; t++) {
      const s = cg64(Hn, gradC_fpi(a), [0, 0, 0, 0], 1, lam);
      events += s.negative;
      expect(s.x).toEqual([0, 0, 0, 0]);
      const gl = gradA_fpi(a, c), gf = gradC_fq(a, c, Hn);
      a = axpy(a, -LR_A, gl);
      c = axpy(c, -LR_C, gf);
    }
    expect(events).toBe(2);
    const r = await run(opts({ stackelberg: 'actor-leader', lambda: lam }), [0, 1], Hn);
    expect(r.neg).toBe(2);
    close(r.a, a, 'actor');
    close(r.c, c, 'critic');
    close(r.warm!, [0, 0, 0, 0], 'the kept solution');
  });
});
