// The fused PPO loss (kernels/ppo.ts, engine/nn/ppo_loss.ts): loss and CleanRL's statistics
// against a float64 reference, its gradient against central differences of that reference
// (rows with clipped and unclipped ratios and values), one dispatch forward and one backward,
// agreement with the composed ops through a network, forward-mode and HVPs (which take the
// composed path), bad input, and no leaked buffers.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { expectRel } from './helpers.ts';

beforeAll(async () => {
  await E.init();
});

interface Case { M: number; A: number; o: E.PpoLossOptions }
const f32 = (a: ArrayLike<number>) => Array.from(Float32Array.from(a));

/** Inputs exactly representable in float32: logits, values and the five data rows. */
function makeCase({ M, A }: Case, seed: number) {
  const rng = R.rng(seed);
  const z = f32(rng.ndNormal([M, A], 0, 1.5).data);
  const v = f32(rng.ndNormal([M], 0, 1).data);
  const act = Array.from({ length: M }, (_, i) => (i * 7 + seed) % A);
  const noise = rng.ndNormal([M], 0, 0.3).data, vnoise = rng.ndNormal([M], 0, 0.3).data;
  // old log-probabilities near the current ones, so ratios spread over both sides of the clip range
  const oldLogp = f32(act.map((a, i) => {
    const row = z.slice(i * A, (i + 1) * A), m = Math.max(...row);
    return row[a] - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) + noise[i];
  }));
  const adv = f32(rng.ndNormal([M], 0, 1).data);
  const ret = f32(rng.ndNormal([M], 0, 1).data);
  const oldV = f32(v.map((x, i) => x + vnoise[i]));
  return { z, v, data: { act, oldLogp, adv, ret, oldV } };
}
type Data = ReturnType<typeof makeCase>['data'];

/** CleanRL's loss in float64, written out per row. */
function refLoss(z: ArrayLike<number>, v: ArrayLike<number>, d: Data, M: number, A: number, o: E.PpoLossOptions) {
  let pg = 0, vl = 0, ent = 0, kl = 0, cf = 0;
  const c = o.clipCoef;
  for (let i = 0; i < M; i++) {
    const row = Array.from({ length: A }, (_, j) => z[i * A + j]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    const logp = row[d.act[i]] - lse;
    ent -= row.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
    const logratio = logp - d.oldLogp[i];
    const r = Math.exp(logratio);
    pg += Math.max(-d.adv[i] * r, -d.adv[i] * Math.min(Math.max(r, 1 - c), 1 + c));
    kl += r - 1 - logratio;
    cf += Math.abs(r - 1) > c ? 1 : 0;
    const unc = (v[i] - d.ret[i]) ** 2;
    const vc = d.oldV[i] + Math.min(Math.max(v[i] - d.oldV[i], -c), c);
    vl += 0.5 * (o.clipVloss ? Math.max(unc, (vc - d.ret[i]) ** 2) : unc);
  }
  const stats = [pg / M, vl / M, ent / M, kl / M, cf / M];
  return { loss: stats[0] - o.entCoef * stats[2] + o.vfCoef * stats[1], stats };
}

const packed = (d: Data, M: number) => E.tensor(Float32Array.from([...d.act, ...d.oldLogp, ...d.adv, ...d.ret, ...d.oldV]), [5, M]);
const separate = (d: Data, M: number): E.PpoBatch => ({
  actions: E.tensor(Float32Array.from(d.act), [M]), oldLogp: E.tensor(Float32Array.from(d.oldLogp), [M]),
  adv: E.tensor(Float32Array.from(d.adv), [M]), returns: E.tensor(Float32Array.from(d.ret), [M]), oldValues: E.tensor(Float32Array.from(d.oldV), [M]),
});

const CASES: Case[] = [
  // more rows than the forward's 256-thread workgroup: each thread reduces several
  { M: 300, A: 5, o: { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5, entCoef: 0.01 } },
  { M: 37, A: 3, o: { clipCoef: 0.1, clipVloss: false, vfCoef: 1, entCoef: 0.05 } },
  { M: 6, A: 1, o: { clipCoef: 0.3, clipVloss: true, vfCoef: 0.25, entCoef: 0.1 } },
];

describe('fused PPO loss', () => {
  for (const [ci, cs] of CASES.entries()) {
    it(`loss, statistics and gradient match float64 (M ${cs.M}, A ${cs.A}, clipVloss ${cs.o.clipVloss}); one dispatch each way`, async () => {
      const live0 = E.memory().liveBuffers;
      const { M, A, o } = cs;
      const { z, v, data } = makeCase(cs, 10 + ci);
      const ref = refLoss(z, v, data, M, A, o);
      // the data must exercise both sides of both clips (else the masks go untested)
      if (M > 30) {
        const rs = data.act.map((a, i) => {
          const row = z.slice(i * A, (i + 1) * A), m = Math.max(...row);
          return Math.exp(row[a] - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0)) - data.oldLogp[i]);
        });
        expect(rs.filter((r) => Math.abs(r - 1) > o.clipCoef).length).toBeGreaterThan(M / 10);
        expect(rs.filter((r) => Math.abs(r - 1) < o.clipCoef).length).toBeGreaterThan(M / 10);
      }
      const Z = E.tensor(Float32Array.from(z), [M, A]), V = E.tensor(Float32Array.from(v), [M]), D = packed(data, M);
      const d0 = E.counters().dispatches;
      const { loss, stats } = E.ppoLoss(Z, V, D, o);
      expect(E.counters().dispatches - d0, 'forward dispatches').toBe(1);
      await expectRel(loss, [ref.loss], 1e-5, 'loss');
      const st = await stats.data();
      for (let k = 0; k < 5; k++) expect(st[k], E.PPO_STAT_NAMES[k]).toBeCloseTo(ref.stats[k], 5);
      E.dispose([loss, stats]);

      const [lossOut, back] = E.vjp((zz: E.Tensor, vv: E.Tensor) => E.ppoLoss(zz, vv, D, o).loss, Z, V);
      const two = E.full([], 2);
      const d1 = E.counters().dispatches;
      const [gz, gv] = back(two) as E.Tensor[];
      // the backward kernel (plus the cotangent's upload, which is not a dispatch)
      expect(E.counters().dispatches - d1, 'backward dispatches').toBe(1);
      // central differences of the float64 reference, times the cotangent 2
      const [nz, nv] = R.numGrad((xs) => refLoss(xs[0].data, xs[1].data, data, M, A, o).loss, [R.nd([M, A], z), R.nd([M], v)], 1e-6);
      await expectRel(gz, R.mul(nz, 2), 2e-4, 'd loss / d logits');
      await expectRel(gv, R.mul(nv, 2), 2e-4, 'd loss / d value');
      back.dispose();
      E.dispose([Z, V, D, gz, gv, two, lossOut]);
      expect(E.memory().liveBuffers).toBe(live0);
    });
  }

  it('agrees with the composed ops through a network (values, statistics, parameter gradients), batch packed or not', async () => {
    const live0 = E.memory().liveBuffers;
    const cs = CASES[0];
    const { M, A, o } = cs;
    const { data } = makeCase(cs, 3);
    const net = { torso: E.Linear(8, 16, { activation: 'tanh' }), actor: E.Linear(16, A), critic: E.Linear(16, 1) };
    const params = E.keep({ torso: net.torso.init(1), actor: net.actor.init(2), critic: net.critic.init(3) });
    const x = E.keep(E.rand([M, 8], -2, 2, { seed: 4 }));
    const D = E.keep(packed(data, M)), Ds = E.keep(separate(data, M));
    const run = (lossFn: typeof E.ppoLoss, batch: E.PpoBatch | E.Tensor) => E.scope(() => {
      let stats: E.Tensor | null = null;
      const [loss, grads] = E.valueAndGrad((p: E.Params) => {
        const f = net.torso.apply(p.torso as E.LinearParams, x);
        const logits = net.actor.apply(p.actor as E.LinearParams, f), value = E.reshape(net.critic.apply(p.critic as E.LinearParams, f), [M]);
        const r = lossFn(logits, value, batch, o);
        stats = E.keep(r.stats);
        return r.loss;
      })(params);
      return { loss, grads, stats: stats! };
    });
    const fused = run(E.ppoLoss, D), fusedSep = run(E.ppoLoss, Ds), comp = run(E.ppoLossComposed, D);
    const refLossV = await comp.loss.data();
    await expectRel(fused.loss, refLossV, 1e-5, 'loss');
    await expectRel(fusedSep.loss, refLossV, 1e-5, 'loss (separate batch tensors)');
    await expectRel(fused.stats, await comp.stats.data(), 1e-5, 'statistics');
    const fn = E.namedParams(fused.grads), cn = E.namedParams(comp.grads), sn = E.namedParams(fusedSep.grads);
    for (const k of Object.keys(cn)) {
      await expectRel(fn[k], await cn[k].data(), 1e-4, `grad ${k}`);
      await expectRel(sn[k], await cn[k].data(), 1e-4, `grad ${k} (separate)`);
    }
    for (const r of [fused, fusedSep, comp]) E.dispose([r.loss, r.grads, r.stats]);
    E.dispose([params, x, D, Ds]);
    expect(E.memory().liveBuffers).toBe(live0);
  });

  it('forward mode and HVPs through the fused loss equal the composed ones', async () => {
    const live0 = E.memory().liveBuffers;
    const cs = CASES[1];
    const { M, A, o } = cs;
    const { z, v, data } = makeCase(cs, 5);
    const Z = E.tensor(Float32Array.from(z), [M, A]), V = E.tensor(Float32Array.from(v), [M]), D = packed(data, M);
    const tz = E.rand([M, A], -1, 1, { seed: 6 }), tv = E.rand([M], -1, 1, { seed: 7 });
    const fF = (zz: E.Tensor, vv: E.Tensor) => E.ppoLoss(zz, vv, D, o).loss;
    const fC = (zz: E.Tensor, vv: E.Tensor) => E.ppoLossComposed(zz, vv, D, o).loss;
    const [yF, jF] = E.jvp(fF, [Z, V], [tz, tv]);
    const [yC, jC] = E.jvp(fC, [Z, V], [tz, tv]);
    await expectRel(yF, await yC.data(), 1e-5, 'jvp primal');
    await expectRel(jF, await jC.data(), 1e-4, 'jvp');
    // float64: the directional derivative by central differences
    const num = R.numJvp((xs) => R.nd([], [refLoss(xs[0].data, xs[1].data, data, M, A, o).loss]), [R.nd([M, A], z), R.nd([M], v)],
      [R.nd([M, A], await tz.data()), R.nd([M], await tv.data())], 1e-6);
    await expectRel(jF, num, 2e-4, 'jvp vs float64 differences');
    const hF = E.hvp(fF, [Z, V], [tz, tv]) as E.Tensor[];
    const hC = E.hvp(fC, [Z, V], [tz, tv]) as E.Tensor[];
    await expectRel(hF[0], await hC[0].data(), 1e-4, 'hvp logits');
    await expectRel(hF[1], await hC[1].data(), 1e-4, 'hvp value');
    E.dispose([Z, V, D, tz, tv, yF, yC, jF, jC, hF, hC]);
    expect(E.memory().liveBuffers).toBe(live0);
  });

  it('a value inside the clip range keeps its gradient when rounding makes the clipped term the max (regression)', async () => {
    // Row 150 of a real Breakout PPO minibatch: |V − oldV| = 0.128 < 0.2, so vc = V mathematically,
    // but in float32 (vc − R)² exceeded (V − R)² and the fused backward returned 0 for ∂/∂V.
    const v = -0.0423564538359642, oldV = 0.08522841334342957, R = 0.0068482146598398685;
    const o = { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5, entCoef: 0.01 };
    const logits = E.tensor([0.1, -0.2], [1, 2]), value = E.tensor([v], [1]);
    const batch = E.tensor([0, -0.7, 0.3, R, oldV], [5, 1]);
    for (const f of [E.ppoLoss, E.ppoLossComposed]) {
      const [, g] = E.valueAndGrad((x: { value: E.Tensor }) => f(logits, x.value, batch, o).loss)({ value });
      const dv = (await g.value.data())[0];
      // float64: ∂(vf · ½ (V − R)²)/∂V = vf · (V − R), whichever term is the max
      expect(dv / (o.vfCoef * (v - R))).toBeCloseTo(1, 4);
      E.dispose(g);
    }
    E.dispose([logits, value, batch]);
  });

  it('bad input names the problem', () => {
    const live0 = E.memory().liveBuffers;
    const o = CASES[0].o;
    E.scope(() => {
    const Z = E.zeros([4, 3]), V = E.zeros([4]), D = E.zeros([5, 4]);
    expect(() => E.ppoLoss(E.zeros([4]), V, D, o)).toThrow(/logits must be \[M, A\], got \[4\]/);
    expect(() => E.ppoLoss(Z, E.zeros([5]), D, o)).toThrow(/value \[5\] does not match logits \[4, 3\]/);
    expect(() => E.ppoLoss(Z, V, E.zeros([4, 4]), o)).toThrow(/packed batch \[4, 4\] should be \[5, 4\]/);
    expect(() => E.ppoLoss(Z, V, { ...separate({ act: [0, 1, 2, 0], oldLogp: [0, 0, 0, 0], adv: [1, 1, 1, 1], ret: [0, 0, 0, 0], oldV: [0, 0, 0, 0] }, 4), adv: E.zeros([3]) }, o))
      .toThrow(/batch\.adv has shape \[3\], expected \[4\]/);
    expect(() => E.ppoLoss(Z, V, D, { ...o, clipCoef: NaN })).toThrow(/clipCoef must be a finite number/);
    });
    expect(E.memory().liveBuffers).toBe(live0);
  });
});
