// totalDerivative on an actor/critic game built like rl/ddpg.ts's (fused linear layers, the fused
// MSE critic loss, f₁ = −mean Q(s, π(s))), where its default forward-over-reverse path runs the
// dual linear/MSE kernels and CG replays its products (tangent halves only after the first):
// against a dense float64 implicit-function-theorem solve (Hessian blocks by central
// differences of float64 losses), against the same path without the replay, without the dual
// kernels, and the recorded reverse path; live buffers.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../engine/index.ts';
import * as R from './ref/index.ts';
import { dispatchLabels } from './kernels/helpers.ts';

beforeAll(async () => {
  await E.init();
});

type Act = 'tanh' | 'relu';
const OBS = 3, ACT = 2, HID = [5, 4], B = 7;
const sizes = (inp: number, out: number) => [inp, ...HID, out];
/** Flat float64 parameter vector ↔ layers (W [out, in], b [out]). */
function layout(sz: number[]) {
  const shapes: Array<[number[], number[]]> = sz.slice(1).map((n, i) => [[n, sz[i]], [n]]);
  const count = shapes.reduce((s, [w, b]) => s + w[0] * w[1] + b[0], 0);
  const split = (z: Float64Array) => {
    let o = 0;
    return shapes.map(([w, b]) => {
      const W = R.nd(w, z.slice(o, (o += w[0] * w[1])));
      const bb = R.nd(b, z.slice(o, (o += b[0])));
      return { W, b: bb };
    });
  };
  return { shapes, count, split };
}
const A = layout(sizes(OBS, ACT)), C = layout(sizes(OBS + ACT, 1));

function mlp64(ls: Array<{ W: R.ND; b: R.ND }>, x: R.ND, act: Act): R.ND {
  ls.forEach((l, i) => {
    x = R.add(R.matmul(x, R.transpose(l.W)), l.b);
    if (i < ls.length - 1) x = act === 'tanh' ? R.tanh(x) : R.relu(x);
  });
  return x;
}

describe('totalDerivative through the dual linear/MSE kernels', () => {
  for (const act of ['tanh', 'relu'] as Act[]) {
    it(`${act} actor/critic game: forward over reverse (dual kernels) = dense float64 IFT = the other paths; frees every buffer`, async () => {
      const rng = R.rng(act === 'tanh' ? 61 : 62);
      const s = R.nd([B, OBS], Float32Array.from(rng.ndNormal([B, OBS], 0, 1).data));
      const y = R.nd([B], Float32Array.from(rng.ndNormal([B], 0, 1).data));
      const za = Float64Array.from(Float32Array.from(rng.ndNormal([A.count], 0, 0.6).data));
      const zc = Float64Array.from(Float32Array.from(rng.ndNormal([C.count], 0, 0.6).data));
      const q64 = (a: Float64Array, c: Float64Array) => R.reshape(mlp64(C.split(c), R.concat([s, R.tanh(mlp64(A.split(a), s, act))], 1), act), [B]);
      const f2 = (a: Float64Array, c: Float64Array) => R.sum(R.zip(q64(a, c), y, (u, v) => (u - v) ** 2)).data[0] / B;
      const f1 = (a: Float64Array, c: Float64Array) => -R.sum(q64(a, c)).data[0] / B;
      const NX = A.count, NY = C.count, N = NX + NY;
      const both = (z: Float64Array): [Float64Array, Float64Array] => [z.slice(0, NX), z.slice(NX)];
      const z0 = new Float64Array([...za, ...zc]);
      // float64 gradients by central differences, and the Hessian blocks by differences of those
      const grad = (f: (a: Float64Array, c: Float64Array) => number, z: Float64Array, h = 1e-6) =>
        Array.from({ length: N }, (_, i) => {
          const p = z.slice(), m = z.slice();
          p[i] += h;
          m[i] -= h;
          return (f(...both(p)) - f(...both(m))) / (2 * h);
        });
      const H: number[][] = []; // rows NX..N-1 of ∇²f₂: [H₂₁ | H₂₂]
      for (let j = NX; j < N; j++) {
        const p = z0.slice(), m = z0.slice(), h = 1e-4;
        p[j] += h;
        m[j] -= h;
        const gp = grad(f2, p), gm = grad(f2, m);
        H.push(gp.map((v, i) => (v - gm[i]) / (2 * h)));
      }
      const lambda = 1;
      const g1 = grad(f1, z0);
      const M = Array.from({ length: NY }, (_, i) => Array.from({ length: NY }, (_, j) => (H[i][NX + j] + H[j][NX + i]) / 2 + (i === j ? lambda : 0)));
      const qv = R.solve(R.nd([NY, NY], M.flat()), R.nd([NY], g1.slice(NX))).data;
      const want = Array.from({ length: NX }, (_, i) => g1[i] - qv.reduce((acc, qj, j) => acc + H[j][i] * qj, 0));

      const S = E.tensor(Float32Array.from(s.data), [B, OBS]), Y = E.tensor(Float32Array.from(y.data), [B]);
      const toLayers = (z: Float64Array, L: typeof A) => L.split(z).map((l) => ({ w: E.tensor(Float32Array.from(l.W.data), l.W.shape), b: E.tensor(Float32Array.from(l.b.data), l.b.shape) }));
      type Layer = { w: E.Tensor; b: E.Tensor };
      const mlp = (ls: Layer[], x: E.Tensor) => {
        ls.forEach((l, i) => {
          x = E.linear(x, l.w, l.b, i < ls.length - 1 ? act : 'none');
        });
        return x;
      };
      const q = (a: Layer[], c: Layer[]) => E.reshape(mlp(c, E.concat([S, E.tanh(mlp(a, S))], 1)), [B]);
      const actorLoss = (a: Layer[], c: Layer[]) => E.neg(E.mean(q(a, c)));
      const criticLoss = (a: Layer[], c: Layer[]) => E.mse(q(a, c), Y);
      const actor = toLayers(za, A), critic = toLayers(zc, C);
      const flat = async (t: Layer[]) => (await Promise.all(t.flatMap((l) => [l.w.data(), l.b.data()]))).flatMap((d) => Array.from(d));
      const results: Record<string, { grad: number[]; dispatches: number }> = {};
      const x0 = critic.map((l, i) => ({ w: E.randn(l.w.shape, 0, 0.1, { seed: 40 + i }), b: E.randn(l.b.shape, 0, 0.1, { seed: 50 + i }) }));
      const plainRuns: Record<string, { linear: number; tanh: number }> = {};
      const fusedRuns: Record<string, number> = {};
      for (const [name, secondOrder, dual] of [['forward', 'forward', true], ['forward, primal not shared', 'forward', true], ['forward, output layer not fused', 'forward', true], ['forward, mixed term not accumulated', 'forward', true], ['forward, mixed term by a fresh jvp', 'forward', true], ['forward, warm start', 'forward', true], ['forward, no replay', 'forward', true], ['forward, no dual kernels', 'forward', false], ['reverse', 'reverse', true]] as const) {
        const prev = E.nnDualKernels(dual);
        try {
          await E.sync();
          const live = E.memory().liveBuffers;
          const d0 = E.counters().dispatches;
          let r!: E.TotalDerivativeResult<Layer[], Layer[]>;
          const labels = dispatchLabels(() => {
            r = E.totalDerivative({
              leaderLoss: actorLoss, followerLoss: criticLoss, leader: actor, follower: critic, lambda, cgIters: 2 * NY, negativeCurvature: 'ignore',
              ...(name === 'forward' ? {} : { secondOrder }), ...(name === 'forward, no replay' ? { replay: false } : {}),
              ...(name === 'forward, mixed term by a fresh jvp' ? { mixedReplay: false } : {}),
              ...(name === 'forward, primal not shared' ? { sharePrimal: false } : {}),
              // (and the mixed term replayed at the solution: as recorded, the replay recomputes
              // exactly what a fresh pass computes)
              ...(name === 'forward, output layer not fused' ? { fuseOutputTangent: false, accumulateMixed: false } : {}),
              ...(name === 'forward, mixed term not accumulated' ? { accumulateMixed: false } : {}),
              // x₀ ≠ 0: CG's first matvec (the initial residual) is not the recorded one
              ...(name === 'forward, warm start' ? { x0: x0 } : {}),
            });
          });
          const mseDual = labels.filter((l) => l === 'mse (dual)').length;
          plainRuns[name] = { linear: labels.filter((l) => l === 'linear').length, tanh: labels.filter((l) => l === 'tanh').length };
          fusedRuns[name] = labels.filter((l) => l === 'output layer + mse tangents (fused)').length;
          // The loss value's tangent is dead work in a product (the gradient's tangent never reads
          // it): the replayed products drop it, so it runs in the recorded first product and the
          // mixed-term pass only (every product, without the replay). With the mixed term replayed
          // from the first product, which runs only what its product and kept gradient need, it
          // never runs.
          if (name === 'forward') expect(mseDual, 'mse (dual) dispatches with the mixed term replayed').toBe(0);
          if (name === 'forward, mixed term by a fresh jvp') expect(mseDual, 'mse (dual) dispatches with the replay').toBe(2);
          if (name === 'forward, no replay') expect(mseDual, 'mse (dual) dispatches without the replay').toBe(2 * NY + 1);
          const dispatches = E.counters().dispatches - d0;
          results[name] = { grad: await flat(r.leaderGrad as Layer[]), dispatches };
          const gf = await flat(r.followerGrad as Layer[]);
          expect(R.relError(gf, grad(f2, z0).slice(NX)), `${name}: follower gradient`).toBeLessThan(1e-4);
          E.dispose(r);
          await E.sync();
          expect(E.memory().liveBuffers, `${name}: live buffers`).toBe(live);
        } finally {
          E.nnDualKernels(prev);
        }
      }
      const rel = R.relError(results.forward.grad, want);
      console.log(`totalDerivative (${act} fused actor/critic, ${NX}+${NY} params) vs dense float64 IFT: ${rel.toExponential(2)}; dispatches forward ${results.forward.dispatches}, without replay ${results['forward, no replay'].dispatches}, without dual kernels ${results['forward, no dual kernels'].dispatches}, reverse ${results.reverse.dispatches}`);
      expect(rel).toBeLessThan(5e-3);
      expect(R.relError(results.forward.grad, results["forward, no dual kernels"].grad)).toBeLessThan(1e-3);
      expect(R.relError(results.forward.grad, results.reverse.grad)).toBeLessThan(1e-3);
      // CG's replay (the default here): the products it replays (tangent halves only) are the
      // products it would recompute, to float32 rounding; and they cost fewer dispatches
      expect(R.relError(results['forward, output layer not fused'].grad, results['forward, no replay'].grad)).toBeLessThan(1e-5);
      expect(results.forward.dispatches).toBeLessThan(results['forward, no replay'].dispatches);
      // the mixed term replayed from CG's first product = the fresh jvp after the solve, to float32
      // rounding, in fewer dispatches (no second forward of the actor and critic)
      expect(R.relError(results.forward.grad, results['forward, mixed term by a fresh jvp'].grad)).toBeLessThan(1e-5);
      expect(results.forward.dispatches).toBeLessThan(results['forward, mixed term by a fresh jvp'].dispatches);
      // CG's recorded first product copies the primal work it repeats from f₁'s gradient: the actor's
      // forward runs once (3 plain linear layers and the squashing tanh, not twice), the critic's
      // forward once (its first-product dual kernels run their tangent halves on the copied primal
      // outputs), and the result equals running them again to float32 rounding
      expect(plainRuns['forward, primal not shared']).toEqual({ linear: 9, tanh: 2 });
      expect(plainRuns.forward).toEqual({ linear: 6, tanh: 1 });
      expect(R.relError(results.forward.grad, results['forward, primal not shared'].grad)).toBeLessThan(1e-5);
      expect(results.forward.dispatches).toBeLessThan(results['forward, primal not shared'].dispatches);
      // every replayed product (all but CG's first) runs the critic's 1-wide output layer and the MSE
      // loss's four tangent dispatches as one kernel, 3 dispatches fewer each, the same result to
      // float32 rounding
      expect(fusedRuns.forward).toBe(2 * NY - 1);
      expect(fusedRuns['forward, output layer not fused']).toBe(0);
      expect(results['forward, output layer not fused'].dispatches - results['forward, mixed term not accumulated'].dispatches).toBe(3 * (2 * NY - 1));
      // (over 2·NY iterations with negative curvature ignored, CG amplifies the fused kernel's other
      // rounding: 1.2e-4 on the tanh game; one replayed product is compared at 1e-5 below)
      expect(R.relError(results.forward.grad, results['forward, output layer not fused'].grad)).toBeLessThan(1e-3);
      const short: number[][] = [];
      for (const o of [{}, { fuseOutputTangent: false }, { accumulateMixed: false }]) {
        const r = E.totalDerivative({ leaderLoss: actorLoss, followerLoss: criticLoss, leader: actor, follower: critic, lambda, cgIters: 3, negativeCurvature: 'ignore', ...o });
        short.push([...(await flat(r.leaderGrad as Layer[])), ...(await flat(r.implicit as Layer[]))]);
        E.dispose(r);
      }
      expect(R.relError(short[0], short[1]), 'two replayed products, fused vs not').toBeLessThan(1e-5);
      // The mixed term from the critic's tangents carried through CG (Σ_k α_k T(p_k), with x₀ = 0)
      // = replayed at the solution, to float32 rounding. On the ReLU critic the mixed term's own
      // work (the critic's first-layer dX, the actor's backward) meets the product's in one range
      // (the second layer's dX tangent), so its six replayed critic dispatches do not run; on the
      // tanh critic it also reads the first layer's output tangent (tanh″), two ranges: not carried.
      expect(R.relError(short[0], short[2]), '3 CG iterations, mixed term carried vs replayed').toBeLessThan(1e-5);
      expect(R.relError(results.forward.grad, results['forward, mixed term not accumulated'].grad)).toBeLessThan(1e-3);
      expect(results['forward, mixed term not accumulated'].dispatches - results.forward.dispatches).toBe(act === 'relu' ? 6 : 0);
      expect(R.relError(results['forward, warm start'].grad, want)).toBeLessThan(5e-3);
      expect(R.relError(results['forward, warm start'].grad, results.reverse.grad)).toBeLessThan(1e-3);
      // the dual kernels are what runs: fewer than half the dispatches of the composed tangent rules
      expect(results.forward.dispatches).toBeLessThan(results['forward, no dual kernels'].dispatches / 2);
      E.dispose([S, Y, actor, critic, x0]);
    });
  }

  it('hessianVectorProduct runs only the work its product needs: = E.hvp bit for bit, the dual weight gradients tangent-only, no leaked buffers', async () => {
    const rng = R.rng(64);
    const nd = (shape: number[], sd: number) => E.tensor(Float32Array.from(rng.ndNormal(shape, 0, sd).data), shape);
    const X = nd([B, OBS + ACT], 1), Y = nd([B], 1);
    const critic = C.shapes.map(([w, b]) => ({ w: nd(w, 0.6), b: nd(b, 0.6) }));
    const v = C.shapes.map(([w, b]) => ({ w: nd(w, 1), b: nd(b, 1) }));
    type Layer = { w: E.Tensor; b: E.Tensor };
    const f = (c: Layer[]) => {
      let x = X;
      c.forEach((l, i) => {
        x = E.linear(x, l.w, l.b, i < c.length - 1 ? 'relu' : 'none');
      });
      return E.mse(E.reshape(x, [B]), Y);
    };
    const flat = async (t: Layer[]) => (await Promise.all(t.flatMap((l) => [l.w.data(), l.b.data()]))).flatMap((d) => Array.from(d));
    const rt = E.runtime() as unknown as { dispatch(a: { label: string; kernel: { constants?: Record<string, number> } }): void };
    const run = (g: () => Layer[]) => {
      const seen: string[] = [];
      const d0 = rt.dispatch;
      rt.dispatch = function (a) {
        seen.push(`${a.label}${a.kernel.constants?.PRIMAL === 0 ? ' (tangent only)' : ''}`);
        return d0.call(this, a);
      };
      try {
        return { out: g(), seen };
      } finally {
        rt.dispatch = d0;
      }
    };
    await E.sync();
    const live = E.memory().liveBuffers;
    // the live-only walk alone (the output layer's fusion changes rounding: test/solvers_hvp_fused.test.ts)
    const a = run(() => E.hessianVectorProduct(f, critic, v, { fuseOutput: false }));
    const b = run(() => E.hvp(f, [critic], [v])[0] as Layer[]);
    expect(await flat(a.out)).toEqual(await flat(b.out));
    // the loss value's tangent (mse (dual)) is dead work; the weight gradients' values are not returned
    expect(b.seen.filter((l) => l === 'mse (dual)').length).toBe(1);
    expect(a.seen.filter((l) => l === 'mse (dual)').length).toBe(0);
    expect(a.seen.filter((l) => l === 'linear backward (dw, db, dual) (tangent only)').length).toBe(3);
    expect(a.seen.length).toBe(b.seen.length - 1);
    E.dispose([a.out, b.out]);
    await E.sync();
    expect(E.memory().liveBuffers).toBe(live);
    E.dispose([X, Y, critic, v]);
  });

  it("the first product does not copy primal work whose inputs changed after f₁'s pass (f₁ overwrites the states it read)", async () => {
    const rng = R.rng(63);
    const nd = (shape: number[], sd: number) => Float32Array.from(rng.ndNormal(shape, 0, sd).data);
    const sOld = nd([B, OBS], 1), sNew = nd([B, OBS], 1), y = nd([B], 1);
    const za = Float64Array.from(nd([A.count], 0.6)), zc = Float64Array.from(nd([C.count], 0.6));
    // float64 reference: the follower's gradient at the states f₁ leaves behind
    const s64 = R.nd([B, OBS], sNew), y64 = R.nd([B], y);
    const f2 = (c: Float64Array) => {
      const qv = R.reshape(mlp64(C.split(c), R.concat([s64, R.tanh(mlp64(A.split(za), s64, 'relu'))], 1), 'relu'), [B]);
      return R.sum(R.zip(qv, y64, (u, v) => (u - v) ** 2)).data[0] / B;
    };
    const want = Array.from({ length: C.count }, (_, i) => {
      const p = zc.slice(), m = zc.slice(), h = 1e-6;
      p[i] += h;
      m[i] -= h;
      return (f2(p) - f2(m)) / (2 * h);
    });
    type Layer = { w: E.Tensor; b: E.Tensor };
    const S = E.tensor(sOld, [B, OBS]), SNEW = E.tensor(sNew, [B, OBS]), SOLD = E.tensor(sOld, [B, OBS]), Y = E.tensor(y, [B]);
    const toLayers = (z: Float64Array, L: typeof A) => L.split(z).map((l) => ({ w: E.tensor(Float32Array.from(l.W.data), l.W.shape), b: E.tensor(Float32Array.from(l.b.data), l.b.shape) }));
    const mlp = (ls: Layer[], x: E.Tensor) => {
      ls.forEach((l, i) => {
        x = E.linear(x, l.w, l.b, i < ls.length - 1 ? 'relu' : 'none');
      });
      return x;
    };
    const q = (a: Layer[], c: Layer[]) => E.reshape(mlp(c, E.concat([S, E.tanh(mlp(a, S))], 1)), [B]);
    // f₁ reads the states, then overwrites them in place: the follower's products must see the new
    // ones, so the actor's forward f₁ ran on the old states may not be copied into them
    const leaderLoss = (a: Layer[], c: Layer[]) => {
      const v = E.neg(E.mean(q(a, c)));
      E.assign(S, SNEW);
      return v;
    };
    const followerLoss = (a: Layer[], c: Layer[]) => E.mse(q(a, c), Y);
    const actor = toLayers(za, A), critic = toLayers(zc, C);
    const flat = async (t: Layer[]) => (await Promise.all(t.flatMap((l) => [l.w.data(), l.b.data()]))).flatMap((d) => Array.from(d));
    const out: Record<string, { leader: number[]; follower: number[]; linear: number }> = {};
    for (const sharePrimal of [true, false]) {
      E.assign(S, SOLD);
      await E.sync();
      const live = E.memory().liveBuffers;
      let r!: E.TotalDerivativeResult<Layer[], Layer[]>;
      const labels = dispatchLabels(() => {
        r = E.totalDerivative({ leaderLoss, followerLoss, leader: actor, follower: critic, lambda: 1, cgIters: 6, negativeCurvature: 'ignore', sharePrimal });
      });
      out[String(sharePrimal)] = { leader: await flat(r.leaderGrad), follower: await flat(r.followerGrad), linear: labels.filter((l) => l === 'linear').length };
      E.dispose(r);
      await E.sync();
      expect(E.memory().liveBuffers, `sharePrimal ${sharePrimal}: live buffers`).toBe(live);
    }
    expect(R.relError(out.true.follower, want), 'follower gradient at the new states').toBeLessThan(1e-4);
    expect(R.relError(out.false.follower, want)).toBeLessThan(1e-4);
    expect(R.relError(out.true.leader, out.false.leader)).toBeLessThan(1e-6);
    // nothing of the actor's forward was copied: it ran again on the new states
    expect(out.true.linear).toBe(9);
    E.dispose([S, SNEW, SOLD, Y, actor, critic]);
  });
});
