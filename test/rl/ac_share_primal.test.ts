// totalDerivative's `sharePrimal` (CG's first product copies the primal work it repeats from f₁'s
// gradient) inside an update loop shaped like rl/ac.ts's STAC update: a fresh batch uploaded each
// update and disposed after it, the leader stepped, the follower stepped m times, the CG solution
// kept as the next warm start. Buffers that f₁'s pass frees go back to the pool and a later update's
// first product can be handed them; in session 9 that made the shared path copy a buffer onto itself
// (a WebGPU validation error on CartPole, Reacher and Hopper from the second update on). Each update
// here computes the leader's total derivative with the sharing on and off, on the same state, and
// they must agree; the dense float64 check of the same losses is test/rl/ac_total_derivative.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { categoricalPolicy, gaussianPolicy, vNetwork } from '../../rl/continuous.ts';
import { acLeaderLoss, acFollowerLoss, type AcBatch } from '../../rl/ac.ts';

beforeAll(async () => {
  await E.init();
});

async function loop(kind: 'categorical' | 'gaussian', B: number, updates: number) {
  const OBS = 4, HID = [64, 32];
  const pi = kind === 'categorical' ? categoricalPolicy(OBS, 2, HID, 'tanh') : gaussianPolicy(OBS, 2, HID, 'tanh');
  const v = vNetwork(OBS, HID, 'tanh');
  const before = E.memory().liveBuffers;
  let actor = E.keep(pi.init(1)), critic = E.keep(v.init(2));
  let warm: E.Params | undefined;
  const rng = R.rng(5);
  const flat = async (t: unknown) => (await E.readAll(E.flattenTree(t).leaves)).flatMap((x) => Array.from(x));
  const errs: number[] = [];
  for (let u = 0; u < updates; u++) {
    const b: AcBatch = {
      obs: E.tensor(rng.ndUniform([B * OBS], -1, 1).data, [B, OBS]),
      actions: kind === 'categorical'
        ? E.tensor(Float32Array.from({ length: B }, (_, i) => (i * 7 + u) % 2), [B])
        : E.tensor(rng.ndUniform([B * 2], -1, 1).data, [B, 2]),
      adv: E.tensor(rng.ndUniform([B], -1, 1).data, [B]),
      returns: E.tensor(rng.ndUniform([B], -1, 1).data, [B]),
    };
    const leaderLoss = (a: E.Params, c: E.Params) => acLeaderLoss(pi, v, a, c, b);
    const followerLoss = (a: E.Params, c: E.Params) => acFollowerLoss(pi, v, a, c, b, 'score');
    // both paths on the same state; then the shared one's result steps the leader and warm-starts
    // the next update, as rl/ac.ts does
    const grads: number[][] = [];
    const results: Array<{ g: E.Params; q: E.Params }> = [];
    for (const sharePrimal of [true, false]) {
      const r = E.scope(() => {
        const td = E.totalDerivative({ leaderLoss, followerLoss, leader: actor, follower: critic, lambda: 50, cgIters: 10, ...(warm ? { x0: warm } : {}), sharePrimal });
        return E.keep({ g: td.leaderGrad as E.Params, q: td.implicit as E.Params });
      });
      grads.push(await flat(r.g));
      results.push(r);
    }
    const next = E.scope(() => E.keep(E.treeMap((p: E.Tensor, g: E.Tensor) => E.sub(p, E.mul(g, 0.05)), actor, results[0].g) as E.Params));
    E.dispose(actor);
    actor = next;
    if (warm) E.dispose(warm);
    warm = results[0].q;
    E.dispose([results[0].g, results[1]]);
    for (let k = 0; k < 5; k++) {
      const c = E.scope(() => {
        const [, g] = E.valueAndGrad((w: E.Params) => followerLoss(actor, w))(critic);
        return E.keep(E.treeMap((p: E.Tensor, gg: E.Tensor) => E.sub(p, E.mul(gg, 0.01)), critic, g) as E.Params);
      });
      E.dispose(critic);
      critic = c;
    }
    E.dispose(b);
    errs.push(R.relError(grads[0], grads[1]));
  }
  E.dispose([actor, critic, ...(warm ? [warm] : [])]);
  expect(E.memory().liveBuffers).toBe(before);
  return errs;
}

describe("totalDerivative's shared primal work across AC-shaped updates", () => {
  for (const [kind, B] of [['categorical', 200], ['gaussian', 200], ['gaussian', 1000]] as const) {
    it(`${kind} policy, batch ${B}: shared and not shared agree at every update`, async () => {
      const errs = await loop(kind, B, 4);
      console.log(`${kind} B=${B}: rel. error shared vs not per update ${errs.map((e) => e.toExponential(1)).join(', ')}`);
      for (const e of errs) expect(e).toBeLessThan(1e-4);
    }, 60_000);
  }
});
