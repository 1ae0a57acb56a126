// engine/solvers.ts: HVPs and mixed second derivatives against float64 dense Hessians of small
// networks (central finite differences), CG against dense solves, and the total derivative
// against the implicit-function-theorem closed form of quadratic games and of a small network game.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../engine/index.ts';
import * as R from './ref/index.ts';
import { quadraticGame, quadraticClosedForm, DEFAULT_QUADRATIC, solveDense } from '../games/toys.ts';

beforeAll(async () => {
  await E.init();
});

const up = (a: R.ND) => E.tensor(Float32Array.from(a.data), a.shape);
const flat = async (tree: unknown) => {
  const vals = await E.readAll(E.flattenTree(tree).leaves);
  return vals.flatMap((v) => Array.from(v));
};

// A small tanh network and its float64 twin over one flat parameter vector.
// Leader x = {W1 [3,4], b1 [4]}; follower y = {W2 [4,2], b2 [2]}; input S [5,3], target T [5,2].
const SH = { W1: [3, 4], b1: [4], W2: [4, 2], b2: [2] } as const;
const NX = 12 + 4, NY = 8 + 2;
const rng = R.rng(11);
const S = rng.ndUniform([5, 3], -1, 1);
const Tg = rng.ndUniform([5, 2], -1, 1);
const z0 = rng.ndUniform([NX + NY], -0.8, 0.8);

function split(z: R.ND) {
  let o = 0;
  const take = (shape: readonly number[]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = R.nd(shape, z.data.slice(o, o + n));
    o += n;
    return t;
  };
  return { W1: take(SH.W1), b1: take(SH.b1), W2: take(SH.W2), b2: take(SH.b2) };
}
/** f(x, y) = Σ (tanh(S W1 + b1) W2 + b2 − T)² + 0.1 Σ tanh(S W1 + b1)² (float64). */
function fRef(z: R.ND): number {
  const p = split(z);
  const h = R.tanh(R.add(R.matmul(S, p.W1), p.b1));
  const o = R.sub(R.add(R.matmul(h, p.W2), p.b2), Tg);
  return R.sum(R.mul(o, o)).data[0] + 0.1 * R.sum(R.mul(h, h)).data[0];
}
function fEngine(x: { W1: E.Tensor; b1: E.Tensor }, y: { W2: E.Tensor; b2: E.Tensor }) {
  const h = E.tanh(E.add(E.matmul(STensor!, x.W1), x.b1));
  const o = E.sub(E.add(E.matmul(h, y.W2), y.b2), TTensor!);
  return E.add(E.sum(E.square(o)), E.mul(E.sum(E.square(h)), 0.1));
}
let STensor: E.Tensor | null = null, TTensor: E.Tensor | null = null;
function params() {
  const p = split(z0);
  return { x: { W1: up(p.W1), b1: up(p.b1) }, y: { W2: up(p.W2), b2: up(p.b2) } };
}
let Hdense: R.ND; // [NX+NY, NX+NY], float64 finite differences
const Hrow = (i: number, j: number) => Hdense.data[i * (NX + NY) + j];

describe('second derivatives of a small tanh network', () => {
  beforeAll(() => {
    STensor = E.keep(up(S));
    TTensor = E.keep(up(Tg));
    Hdense = R.numHessian(fRef, z0, 1e-4);
  });

  it('hessianVectorProduct over a parameter tree matches the dense Hessian (finite differences)', async () => {
    const { x, y } = params();
    const vx = rng.ndUniform([NX], -1, 1);
    const v = { W1: up(R.nd([3, 4], vx.data.slice(0, 12))), b1: up(R.nd([4], vx.data.slice(12))) };
    const hv = E.hessianVectorProduct((xx: typeof x) => fEngine(xx, y), x, v);
    const got = await flat(hv);
    const want = Array.from({ length: NX }, (_, i) => vx.data.reduce((s, vj, j) => s + Hrow(i, j) * vj, 0));
    const rel = R.relError(got, want);
    console.log(`HVP (leader block, ${NX} params) vs dense FD Hessian: relative error ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(2e-3);
    // The engine's own hvp over both collections at once (tree of trees) agrees with the full Hessian.
    const vy = rng.ndUniform([NY], -1, 1);
    const vyT = { W2: up(R.nd([4, 2], vy.data.slice(0, 8))), b2: up(R.nd([2], vy.data.slice(8))) };
    const both = E.hvp(fEngine, [x, y], [v, vyT]);
    const gotAll = await flat(both);
    const vAll = [...vx.data, ...vy.data];
    const wantAll = Array.from({ length: NX + NY }, (_, i) => vAll.reduce((s, vj, j) => s + Hrow(i, j) * vj, 0));
    const relAll = R.relError(gotAll, wantAll);
    console.log(`HVP (all ${NX + NY} params) vs dense FD Hessian: relative error ${relAll.toExponential(2)}`);
    expect(relAll).toBeLessThan(2e-3);
    // hessianVectorProduct is forward over reverse; the reverse-over-reverse path agrees with it
    // and with the dense Hessian too.
    const hvR = E.hessianVectorProductReverse((xx: typeof x) => fEngine(xx, y), x, v);
    const gotR = await flat(hvR);
    expect(R.relError(gotR, want)).toBeLessThan(2e-3);
    R.assertClose(got, gotR, { rtol: 1e-4, atol: 1e-5, label: 'forward-over-reverse vs reverse-over-reverse HVP' });
    E.dispose([x, y, v, vyT, hv, both, hvR]);
  });

  it('mixedVjp = ∇ₓ⟨∇_y f, v⟩ matches the mixed block of the dense Hessian, and linearizeGrad matches hvp', async () => {
    const { x, y } = params();
    const vy = rng.ndUniform([NY], -1, 1);
    const v = { W2: up(R.nd([4, 2], vy.data.slice(0, 8))), b2: up(R.nd([2], vy.data.slice(8))) };
    const m = E.mixedVjp(fEngine, x, y, v);
    const got = await flat(m);
    const want = Array.from({ length: NX }, (_, i) => vy.data.reduce((s, vj, j) => s + Hrow(i, NX + j) * vj, 0));
    const rel = R.relError(got, want);
    console.log(`mixedVjp (∂²f/∂x∂y·v, ${NX}×${NY}) vs dense FD Hessian block: relative error ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(2e-3);
    // The other block order: ∇_y⟨∇ₓf, u⟩ = H_yx u.
    const ux = rng.ndUniform([NX], -1, 1);
    const u = { W1: up(R.nd([3, 4], ux.data.slice(0, 12))), b1: up(R.nd([4], ux.data.slice(12))) };
    const m2 = E.mixedVjp((yy: typeof y, xx: typeof x) => fEngine(xx, yy), y, x, u);
    const want2 = Array.from({ length: NY }, (_, j) => ux.data.reduce((s, ui, i) => s + Hrow(NX + j, i) * ui, 0));
    expect(R.relError(await flat(m2), want2)).toBeLessThan(2e-3);
    // mixedVjp is forward over reverse (∂_y[∇ₓf]·v); the reverse-over-reverse form agrees.
    const mR = E.mixedVjpReverse(fEngine, x, y, v);
    R.assertClose(await flat(mR), got, { rtol: 1e-4, atol: 1e-5, label: 'forward vs reverse mixedVjp' });
    E.dispose(mR);
    // The whole mixed Jacobian ∂(∇_y f)/∂x, column by column (one mixedVjp per basis vector of y).
    const cols: number[][] = [];
    for (let j = 0; j < NY; j++) {
      const e = new Float64Array(NY);
      e[j] = 1;
      const ej = { W2: up(R.nd([4, 2], e.slice(0, 8))), b2: up(R.nd([2], e.slice(8))) };
      const c = E.mixedVjp(fEngine, x, y, ej);
      cols.push(await flat(c));
      E.dispose([ej, c]);
    }
    const dense = Array.from({ length: NX * NY }, (_, k) => cols[k % NY][Math.floor(k / NY)]);
    const denseRef = Array.from({ length: NX * NY }, (_, k) => Hrow(Math.floor(k / NY), NX + (k % NY)));
    const relJ = R.relError(dense, denseRef);
    console.log(`dense mixed Jacobian (${NX}×${NY}) from mixedVjp vs FD: relative error ${relJ.toExponential(2)}`);
    expect(relJ).toBeLessThan(2e-3);
    // Linearised HVPs (one graph, several products) equal fresh ones.
    const before = E.memory().liveBuffers;
    const out = E.scope(() => {
      const lin = E.linearizeGrad((yy: typeof y) => fEngine(x, yy), y);
      const a = lin.hvp(v), b = lin.hvp(v);
      const fresh = E.hessianVectorProduct((yy: typeof y) => fEngine(x, yy), y, v);
      const g = E.grad((yy: typeof y) => fEngine(x, yy))(y);
      const r = [a, b, fresh, g, lin.grad];
      lin.dispose();
      return r;
    });
    const [a, b, fresh, g, lg] = await Promise.all(out.map(flat));
    R.assertClose(a, fresh, { rtol: 1e-5, atol: 1e-6, label: 'linearised vs fresh HVP' });
    R.assertClose(b, a, { rtol: 0, atol: 0, label: 'repeated linearised HVP' });
    R.assertClose(lg, g, { rtol: 1e-6, atol: 1e-7, label: 'linearizeGrad gradient' });
    E.dispose(out);
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([x, y, v, u, m, m2]);
  });
});

describe('conjugate gradient', () => {
  const n = 8;
  const M = R.rng(3).ndUniform([n, n], -1, 1);
  const A = R.add(R.matmul(R.transpose(M), M), R.mul(R.eye(n), 0.1)); // SPD
  const b = R.rng(4).ndUniform([n], -1, 1);

  it('solves a damped SPD system to tolerance and matches a dense solve, with no readback', async () => {
    const At = up(A), bt = up(b);
    const lambda = 0.5;
    const want = R.solve(R.add(A, R.mul(R.eye(n), lambda)), b);
    const c0 = E.counters();
    const sol = E.cg((v: E.Tensor) => E.matmul(At, v), bt, { iters: 3 * n, lambda, residuals: true });
    const c1 = E.counters();
    expect(c1.readbacks - c0.readbacks).toBe(0);
    expect(sol.iters).toBe(3 * n);
    R.assertClose(await sol.x.data(), want, { rtol: 1e-4, atol: 1e-5, label: 'cg vs dense solve' });
    const res = await sol.residuals!.data();
    expect(res.length).toBe(3 * n + 1);
    expect(res[n]).toBeLessThan(1e-3 * res[0]);
    console.log(`CG (n=${n}, λ=${lambda}): ‖r‖ ${res[0].toExponential(2)} → ${res[n].toExponential(2)} after ${n} iterations; per-iteration dispatches ${((c1.dispatches - c0.dispatches) / (3 * n)).toFixed(1)}`);
    E.dispose([At, bt, sol]);
  });

  it('works on trees, freezes on the GPU once converged (tol), warm-starts from x0, and frees everything', async () => {
    const At = up(A);
    const b2 = R.rng(5).ndUniform([2, 3], -1, 1);
    const tree = { u: up(b), w: [up(b2)] };
    const mv = (v: { u: E.Tensor; w: E.Tensor[] }) => ({ u: E.matmul(At, v.u), w: [E.mul(v.w[0], 3)] });
    const before = E.memory().liveBuffers;
    for (let rep = 0; rep < 3; rep++) {
      const sol = E.cg(mv, tree, { iters: 40, tol: 1e-4, residuals: true });
      R.assertClose(await sol.x.u.data(), R.solve(A, b), { rtol: 1e-3, atol: 1e-4, label: 'tree cg u' });
      R.assertClose(await sol.x.w[0].data(), R.mul(b2, 1 / 3), { rtol: 1e-4, atol: 1e-5, label: 'tree cg w' });
      const res = await sol.residuals!.data();
      // Once ‖r‖ ≤ tol‖b‖, the iterate stops moving: the tail of the history is constant.
      expect(res[40]).toBe(res[39]);
      // A warm start at the solution needs no iterations to be right.
      const warm = E.cg(mv, tree, { iters: 1, x0: sol.x });
      R.assertClose(await warm.x.u.data(), R.solve(A, b), { rtol: 1e-3, atol: 1e-4, label: 'warm cg' });
      E.dispose([sol, warm]);
    }
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([At, tree]);
  });

  it('cgAsync stops early, reading back at most once per checkEvery iterations', async () => {
    const At = up(A), bt = up(b);
    const c0 = E.counters();
    const sol = await E.cgAsync((v: E.Tensor) => E.matmul(At, v), bt, { iters: 200, tol: 1e-5, checkEvery: 4, lambda: 0.1 });
    const c1 = E.counters();
    expect(sol.iters).toBeLessThan(200);
    expect(sol.iters % 4).toBe(0);
    expect(c1.readbacks - c0.readbacks).toBeLessThanOrEqual(sol.iters / 4 + 2);
    R.assertClose(await sol.x.data(), R.solve(R.add(A, R.mul(R.eye(n), 0.1)), b), { rtol: 1e-3, atol: 1e-4, label: 'cgAsync' });
    E.dispose([At, bt, sol]);
  });
});

describe('totalDerivative', () => {
  const cf = quadraticClosedForm(DEFAULT_QUADRATIC);
  const x = [0.3, -0.7], y = [1.1, 0.4];

  it('equals the implicit-function-theorem answer on a quadratic game (λ = 0 and λ > 0)', async () => {
    const g = quadraticGame();
    const X = E.tensor(x), Y = E.tensor(y);
    for (const lambda of [0, 0.3]) {
      const c0 = E.counters();
      const r = E.totalDerivative({ leaderLoss: g.leaderLoss, followerLoss: g.followerLoss, leader: X, follower: Y, lambda, cgIters: 2 });
      expect(E.counters().readbacks - c0.readbacks).toBe(0);
      R.assertClose(await r.leaderGrad.data(), cf.totalDerivative(x, y, lambda), { rtol: 1e-5, atol: 1e-5, label: `total derivative λ=${lambda}` });
      R.assertClose(await r.followerGrad.data(), cf.followerGrad(x, y), { rtol: 1e-6, atol: 1e-6, label: 'follower gradient' });
      R.assertClose(await r.leaderIndividualGrad.data(), cf.totalDerivative(x, y, Infinity), { rtol: 1e-6, atol: 1e-6, label: 'individual gradient' });
      E.dispose(r);
    }
    E.dispose([X, Y]);
  });

  it('tends to the individual gradient as λ grows (Proposition 2) and to the exact total derivative as λ → 0', async () => {
    const g = quadraticGame();
    const X = E.tensor(x), Y = E.tensor(y);
    const ind = cf.totalDerivative(x, y, Infinity), exact = cf.totalDerivative(x, y, 0);
    const dist = (a: ArrayLike<number>, b: number[]) => Math.hypot(...b.map((v, i) => a[i] - v));
    const toInd: number[] = [], toExact: number[] = [];
    for (const lambda of [1e-3, 1e-2, 1e-1, 1, 10, 100, 1e4, 1e6]) {
      const r = E.totalDerivative({ leaderLoss: g.leaderLoss, followerLoss: g.followerLoss, leader: X, follower: Y, lambda, cgIters: 2 });
      const v = await r.leaderGrad.data();
      toInd.push(dist(v, ind));
      toExact.push(dist(v, exact));
      E.dispose(r);
    }
    for (let i = 1; i < toInd.length; i++) {
      expect(toInd[i]).toBeLessThan(toInd[i - 1]);
      expect(toExact[i]).toBeGreaterThan(toExact[i - 1]);
    }
    expect(toInd.at(-1)!).toBeLessThan(1e-5 * Math.hypot(...ind));
    expect(toExact[0]).toBeLessThan(1e-2 * Math.hypot(...exact));
    E.dispose([X, Y]);
  });

  it('matches a dense float64 IFT computation on a small network game, and frees every buffer', async () => {
    // Leader x = {W1, b1}, follower y = {W2, b2}; f₂ = the network loss, f₁ = a different loss of both.
    const f1Ref = (z: R.ND) => {
      const p = split(z);
      const h = R.tanh(R.add(R.matmul(S, p.W1), p.b1));
      const o = R.add(R.matmul(h, p.W2), p.b2);
      return -R.sum(o).data[0] + 0.5 * R.sum(R.mul(p.W1, p.W1)).data[0];
    };
    const f1E = (xx: { W1: E.Tensor; b1: E.Tensor }, yy: { W2: E.Tensor; b2: E.Tensor }) => {
      const h = E.tanh(E.add(E.matmul(STensor!, xx.W1), xx.b1));
      return E.add(E.neg(E.sum(E.add(E.matmul(h, yy.W2), yy.b2))), E.mul(E.sum(E.square(xx.W1)), 0.5));
    };
    const lambda = 0.5;
    const g1 = R.numGrad((zs) => f1Ref(zs[0]), [z0])[0].data;
    // Dense: ∇₁f₁ − H₂₁ (H₂₂ + λI)⁻¹ ∇₂f₁ with H from finite differences of f₂.
    const H22 = Array.from({ length: NY }, (_, i) => Array.from({ length: NY }, (_, j) => Hrow(NX + i, NX + j) + (i === j ? lambda : 0)));
    const q = solveDense(H22, Array.from(g1.slice(NX)));
    const want = Array.from({ length: NX }, (_, i) => g1[i] - q.reduce((s, qj, j) => s + Hrow(i, NX + j) * qj, 0));
    const { x, y } = params();
    // ∇₂f₂ from the same float64 finite differences: the follower gradient the call also returns.
    const g2 = R.numGrad((zs) => fRef(zs[0]), [z0])[0].data.slice(NX);
    for (const secondOrder of ['forward', 'reverse'] as const) {
      const before = E.memory().liveBuffers;
      let got: number[] = [], gotF: number[] = [];
      for (let rep = 0; rep < 3; rep++) {
        const r = E.totalDerivative({ leaderLoss: f1E, followerLoss: fEngine, leader: x, follower: y, lambda, cgIters: 3 * NY, residuals: true, secondOrder });
        got = await flat(r.leaderGrad);
        gotF = await flat(r.followerGrad);
        E.dispose(r);
      }
      expect(E.memory().liveBuffers).toBe(before);
      const rel = R.relError(got, want);
      console.log(`totalDerivative (${secondOrder}; network game, ${NX}+${NY} params, λ=${lambda}) vs dense float64 IFT: relative error ${rel.toExponential(2)}`);
      expect(rel).toBeLessThan(5e-3);
      expect(R.relError(gotF, Array.from(g2))).toBeLessThan(2e-3);
    }
    expect(() => E.totalDerivative({ leaderLoss: f1E, followerLoss: fEngine, leader: x, follower: y, secondOrder: 'sideways' as 'forward' })).toThrow(/secondOrder must be 'forward' or 'reverse'/);
    E.dispose([x, y]);
  });
});

// ------------------------------------------------------------------ negative curvature, warm start

type Mode = 'stop' | 'damp' | 'ignore';
/** Float64 CG with the same negative-curvature rules as engine/solvers.ts (the reference). */
function cgRef(A: number[][], b: number[], o: { iters: number; lambda?: number; mode: Mode; mu?: number; x0?: number[] }) {
  const n = b.length, lam = o.lambda ?? 0, mu = o.mu ?? 1;
  const mv = (v: number[]) => A.map((row, i) => row.reduce((s, a, j) => s + a * v[j], 0) + lam * v[i]);
  const dot = (u: number[], v: number[]) => u.reduce((s, x, i) => s + x * v[i], 0);
  const x = o.x0 ? o.x0.slice() : new Array(n).fill(0);
  const ax = mv(x);
  const r = b.map((v, i) => v - ax[i]);
  let p = r.slice();
  let rs = dot(r, r);
  let negs = 0, stoppedAt = -1;
  const res = [Math.sqrt(rs)];
  for (let k = 0; k < o.iters; k++) {
    if (stoppedAt < 0 && rs > 0) {
      const Ap = mv(p);
      let den = dot(p, Ap);
      const pp = dot(p, p);
      let move = true;
      if (den <= 0 && pp > 0) {
        negs++;
        if (o.mode === 'stop') { stoppedAt = k; move = false; }
        else if (o.mode === 'damp') den = Math.abs(den) + mu * pp;
      }
      if (move) {
        const alpha = rs / den;
        for (let i = 0; i < n; i++) { x[i] += alpha * p[i]; r[i] -= alpha * Ap[i]; }
        const rsNew = dot(r, r);
        p = r.map((v, i) => v + (rsNew / rs) * p[i]);
        rs = rsNew;
      }
    }
    res.push(Math.sqrt(rs));
  }
  return { x, negs, stoppedAt, res };
}

/** Q diag(eigs) Qᵀ with Q a random orthogonal matrix (Gram–Schmidt, float64). */
function symmetricWithEigs(eigs: number[], seed: number): { M: number[][]; Q: number[][] } {
  const n = eigs.length;
  const g = R.rng(seed).ndUniform([n, n], -1, 1).data;
  const q: number[][] = [];
  for (let j = 0; j < n; j++) {
    const v = Array.from({ length: n }, (_, i) => g[i * n + j]);
    for (const u of q) {
      const d = u.reduce((s, x, i) => s + x * v[i], 0);
      for (let i = 0; i < n; i++) v[i] -= d * u[i];
    }
    const nv = Math.hypot(...v);
    q.push(v.map((x) => x / nv));
  }
  return { M: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => q.reduce((s, u, k) => s + u[i] * eigs[k] * u[j], 0))), Q: q };
}

describe('conjugate gradient: negative curvature and warm start', () => {
  const eigs = [3, 2.5, 2, 1.5, 1, -0.4, -0.8, -1.2];
  const n = eigs.length;
  const { M: A, Q } = symmetricWithEigs(eigs, 21);
  // b weighted towards the positive eigenvectors: CG's first direction has positive curvature, and
  // since the tridiagonal Lanczos matrix of n steps has A's eigenvalues (3 of them negative), some
  // later direction must have negative curvature.
  const c = eigs.map((e, k) => (e > 0 ? 1 : 0.3) * (k % 2 ? -1 : 1));
  const b = Array.from({ length: n }, (_, i) => Q.reduce((s, u, k) => s + u[i] * c[k], 0));

  it('on an indefinite matrix: stop / damp / ignore match a float64 CG with the same rule, counted on the GPU with no readback', async () => {
    const At = E.tensor(A), bt = E.tensor(b);
    const before = E.memory().liveBuffers;
    for (const mode of ['stop', 'damp', 'ignore'] as Mode[]) {
      const want = cgRef(A, b, { iters: n, mode });
      if (mode === 'stop') expect(want.stoppedAt).toBeGreaterThan(0); // the setup must reach a negative direction after moving
      expect(want.negs).toBeGreaterThan(0);
      for (const fused of [true, false]) {
        const c0 = E.counters();
        const sol = E.cg((v: E.Tensor) => E.matmul(At, v), bt, { iters: n, negativeCurvature: mode, fused, residuals: true });
        expect(E.counters().readbacks - c0.readbacks).toBe(0);
        const [x, negs, res] = await E.readAll([sol.x, sol.negativeCurvature, sol.residuals!]);
        // 'ignore' on an indefinite system: plain CG amplifies float32 rounding, so a looser bound.
        R.assertClose(x, want.x, { rtol: mode === 'ignore' ? 2e-2 : 1e-4, atol: mode === 'ignore' ? 2e-3 : 1e-5, label: `cg ${mode} (fused ${fused})` });
        R.assertClose(res, want.res, { rtol: mode === 'ignore' ? 5e-2 : 1e-3, atol: 1e-4, label: `cg ${mode} residuals (fused ${fused})` });
        expect(negs[0]).toBe(want.negs);
        if (mode === 'stop') expect(negs[0]).toBe(1);
        E.dispose(sol);
      }
      if (mode === 'stop') console.log(`indefinite CG (eigs ${eigs.join(', ')}): negative curvature met at iteration ${want.stoppedAt}; stop keeps x_${want.stoppedAt}`);
    }
    // Damping past the most negative eigenvalue makes the system positive definite: no event, the dense solve.
    const lambda = 1.5;
    const sol = E.cg((v: E.Tensor) => E.matmul(At, v), bt, { iters: 3 * n, lambda });
    const Ad = R.add(R.nd([n, n], A.flat()), R.mul(R.eye(n), lambda));
    R.assertClose(await sol.x.data(), R.solve(Ad, R.nd([n], b)), { rtol: 1e-3, atol: 1e-4, label: 'cg λ > −λ_min' });
    expect(await sol.negativeCurvature.item()).toBe(0);
    E.dispose(sol);
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([At, bt]);
  });

  it('cgAsync stops at a negative-curvature stop instead of running out its iterations', async () => {
    const At = E.tensor(A), bt = E.tensor(b);
    const want = cgRef(A, b, { iters: n, mode: 'stop' });
    const sol = await E.cgAsync((v: E.Tensor) => E.matmul(At, v), bt, { iters: 100, tol: 1e-6, checkEvery: 2 });
    expect(sol.iters).toBe(2 * Math.ceil((want.stoppedAt + 1) / 2));
    R.assertClose(await sol.x.data(), want.x, { rtol: 1e-4, atol: 1e-5, label: 'cgAsync stop' });
    expect(await sol.negativeCurvature.item()).toBe(1);
    E.dispose([At, bt, sol]);
  });

  it('a warm start from the previous solution converges in fewer iterations on a nearby system', async () => {
    const m = 40;
    const logEigs = Array.from({ length: m }, (_, i) => 10 ** (-1 + (2 * i) / (m - 1))); // condition number 100
    const S = symmetricWithEigs(logEigs, 31).M;
    const b1 = Array.from(R.rng(32).ndUniform([m], -1, 1).data);
    const b2 = b1.map((v, i) => v + 0.003 * Math.sin(i)); // the next update's right-hand side
    const St = E.tensor(S), b1t = E.tensor(b1), b2t = E.tensor(b2);
    const mv = (v: E.Tensor) => E.matmul(St, v);
    const tol = 1e-3, iters = 60;
    const first = E.cg(mv, b1t, { iters, tol });
    const cold = E.cg(mv, b2t, { iters, tol, residuals: true });
    const warm = E.cg(mv, b2t, { iters, tol, residuals: true, x0: first.x });
    const bn = Math.hypot(...b2);
    const itersTo = (res: Float32Array) => res.findIndex((r) => r <= tol * bn);
    const [rc, rw] = await E.readAll([cold.residuals!, warm.residuals!]);
    const kc = itersTo(rc), kw = itersTo(rw);
    // The float64 reference gives the exact-arithmetic counts.
    const refFirst = cgRef(S, b1, { iters: 200, mode: 'stop' });
    const kcRef = cgRef(S, b2, { iters, mode: 'stop' }).res.findIndex((r) => r <= tol * bn);
    const kwRef = cgRef(S, b2, { iters, mode: 'stop', x0: refFirst.x }).res.findIndex((r) => r <= tol * bn);
    console.log(`warm start (n=${m}, cond 100, tol ${tol}): ${kc} iterations cold, ${kw} warm (float64 reference: ${kcRef}, ${kwRef})`);
    expect(kw).toBeGreaterThan(-1);
    expect(kc).toBeGreaterThan(-1);
    expect(kw).toBeLessThan(kc / 2);
    expect(kwRef).toBeLessThan(kcRef / 2);
    // float32 loses some conjugacy: within 30 % (+2) of exact arithmetic's counts.
    for (const [got, ref] of [[kc, kcRef], [kw, kwRef]]) expect(Math.abs(got - ref)).toBeLessThanOrEqual(0.3 * ref + 2);
    const exact = R.solve(R.nd([m, m], S.flat()), R.nd([m], b2));
    R.assertClose(await warm.x.data(), exact, { rtol: 2e-2, atol: 2e-2, label: 'warm solution' });
    E.dispose([St, b1t, b2t, first, cold, warm]);
  });

  it('totalDerivative with an indefinite follower Hessian: counts the event, stops, and warm-starts from `implicit`', async () => {
    // The quadratic game with D indefinite (eigenvalues 2 and −0.5): CG's first direction has
    // positive curvature, a later one negative.
    const spec = { ...DEFAULT_QUADRATIC, D: [[1.5, 1], [1, 0]] };
    const g = quadraticGame(spec);
    const xs = [0.3, -0.7], ys = [1.1, 0.4];
    const X = E.tensor(xs), Y = E.tensor(ys);
    E.dispose(E.totalDerivative({ leaderLoss: g.leaderLoss, followerLoss: g.followerLoss, leader: X, follower: Y })); // uploads the game's matrices (kept)
    const mvq = (M: number[][], v: number[]) => M.map((r) => r[0] * v[0] + r[1] * v[1]);
    const Tq = (M: number[][]) => [[M[0][0], M[1][0]], [M[0][1], M[1][1]]];
    const g1 = mvq(spec.A, xs).map((v, i) => v + mvq(spec.B, ys)[i] + spec.a[i]);
    const g2 = mvq(Tq(spec.B), xs).map((v, i) => v + mvq(spec.C, ys)[i]);
    const before = E.memory().liveBuffers;
    for (const mode of ['stop', 'ignore'] as Mode[]) {
      const ref = cgRef(spec.D, g2, { iters: 2, mode });
      const want = g1.map((v, i) => v - mvq(Tq(spec.E), ref.x)[i]);
      const r = E.totalDerivative({ leaderLoss: g.leaderLoss, followerLoss: g.followerLoss, leader: X, follower: Y, cgIters: 2, negativeCurvature: mode });
      R.assertClose(await r.leaderGrad.data(), want, { rtol: 1e-4, atol: 1e-5, label: `total derivative, indefinite D (${mode})` });
      expect(await r.negativeCurvature.item()).toBe(ref.negs);
      if (mode === 'stop') expect(ref.negs).toBe(1);
      // 'ignore' solves the 2×2 system exactly in 2 iterations: the IFT answer (D invertible).
      if (mode === 'ignore') R.assertClose(await r.leaderGrad.data(), quadraticClosedForm(spec).totalDerivative(xs, ys, 0), { rtol: 1e-4, atol: 1e-4, label: 'IFT, indefinite D' });
      // Warm start: from the exact solution, zero iterations give the IFT answer.
      if (mode === 'ignore') {
        const w = E.totalDerivative({ leaderLoss: g.leaderLoss, followerLoss: g.followerLoss, leader: X, follower: Y, cgIters: 0, x0: r.implicit });
        R.assertClose(await w.leaderGrad.data(), await r.leaderGrad.data(), { rtol: 1e-5, atol: 1e-6, label: 'warm-started total derivative' });
        E.dispose(w);
      }
      E.dispose(r);
    }
    expect(E.memory().liveBuffers).toBe(before);
    E.dispose([X, Y]);
  });
});

describe('conjugate gradient kernel widths', () => {
  // n % 4 == 0 runs the vec4 kernel (kernels/cg.ts), other lengths the scalar one; lengths past
  // 4 · 256 make every thread's loop wrap. A diagonal-plus-rank-one system (cheap float64 matvec),
  // indefinite for the 'damp' case, against the float64 CG with the same rule and iterations.
  it('vec4 and scalar kernels match a float64 CG at lengths 7, 8, 1031, 1032 (SPD, and indefinite with damp)', async () => {
    const before = E.memory().liveBuffers;
    for (const n of [7, 8, 1031, 1032]) {
      const rng = R.rng(40 + n);
      const d = Array.from(rng.ndUniform([n], 0.5, 3).data);
      const u = Array.from(rng.ndUniform([n], -0.05, 0.05).data).map((x) => Math.fround(x));
      const b = Array.from(rng.ndUniform([n], -1, 1).data).map((x) => Math.fround(x));
      for (const [mode, shift] of [['stop', 0], ['damp', -1.5]] as Array<[Mode, number]>) {
        const dd = d.map((x, i) => Math.fround(x + (i % 3 === 0 ? shift : 0)));
        const A = dd.map((di, i) => u.map((uj, j) => (i === j ? di : 0) + u[i] * uj));
        const want = cgRef(A, b, { iters: 12, mode, lambda: 0.25 });
        const D = E.tensor(Float32Array.from(dd)), U = E.tensor(Float32Array.from(u)), B = E.tensor(Float32Array.from(b));
        const sol = E.cg((v: E.Tensor) => E.add(E.mul(D, v), E.mul(U, E.sum(E.mul(U, v)))), B, { iters: 12, lambda: 0.25, negativeCurvature: mode, residuals: true });
        const [x, res, negs] = await E.readAll([sol.x, sol.residuals!, sol.negativeCurvature]);
        R.assertClose(x, want.x, { rtol: 1e-3, atol: 1e-4, label: `cg n=${n} ${mode}` });
        R.assertClose(res, want.res, { rtol: 1e-3, atol: 1e-4, label: `cg residuals n=${n} ${mode}` });
        expect(negs[0], `negative-curvature count n=${n} ${mode}`).toBe(want.negs);
        E.dispose([D, U, B, sol]);
      }
    }
    expect(E.memory().liveBuffers).toBe(before);
  });
});
