import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { klAndClipfrac, ppoLossTerms, type Minibatch } from '../../rl/ppo.ts';

beforeAll(async () => {
  await E.init();
});

// Two samples, two actions, computed by hand:
//  s1: logits [0, ln 3] → π = [¼, ¾], a = 1, old log π = ln ½ → ratio 1.5, Â = 2:
//      max(−2·1.5, −2·clip(1.5)) = max(−3, −2.4) = −2.4
//  s2: logits [0, 0] → π = [½, ½], a = 0, old log π = ln ¼ → ratio 2, Â = −1:
//      max(2, 1.2) = 2                                   → pg_loss = mean(−2.4, 2) = −0.2
//  entropy: s1 −(¼ ln ¼ + ¾ ln ¾) = 0.5623351446, s2 ln 2 = 0.6931471806 → mean 0.6277411626
//  value (v, R, v_old): s1 (1, 2, 1.5): unclipped 1, clipped v_old + clip(−0.5) = 1.3 → 0.49 → 1
//                        s2 (−0.5, 0, −1): unclipped 0.25, clipped −1 + clip(0.5) = −0.8 → 0.64
//      v_loss clipped = ½·mean(1, 0.64) = 0.41; unclipped = ½·mean(1, 0.25) = 0.3125
//  approx_kl = mean((r − 1) − log r) = ((0.5 − ln 1.5) + (1 − ln 2)) / 2; clipfrac = 1
describe('PPO loss terms', () => {
  const cfg = { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5, entCoef: 0.01 };
  function batch(): { mb: Minibatch; logits: E.Tensor; value: E.Tensor } {
    return {
      logits: E.tensor([[0, Math.log(3)], [0, 0]]),
      value: E.tensor([1, -0.5]),
      mb: {
        obs: E.zeros([2, 1]),
        actions: E.tensor([1, 0]),
        oldLogp: E.tensor([Math.log(0.5), Math.log(0.25)]),
        adv: E.tensor([2, -1]),
        returns: E.tensor([2, 0]),
        oldValues: E.tensor([1.5, -1]),
      },
    };
  }

  it('match hand-computed values (clipped value loss, CleanRL default)', async () => {
    const { mb, logits, value } = batch();
    const t = ppoLossTerms(logits, value, mb, cfg);
    const { approxKl, clipfrac } = klAndClipfrac(t.logratio, t.ratio, 0.2);
    const [pg, vl, ent, loss, kl, cf] = (await E.readAll([t.pgLoss, t.vLoss, t.entropy, t.loss, approxKl, clipfrac])).map((d) => d[0]);
    expect(pg).toBeCloseTo(-0.2, 5);
    expect(ent).toBeCloseTo(0.6277411626, 5);
    expect(vl).toBeCloseTo(0.41, 5);
    expect(loss).toBeCloseTo(-0.2 - 0.01 * 0.6277411626 + 0.5 * 0.41, 5);
    expect(kl).toBeCloseTo((0.5 - Math.log(1.5) + 1 - Math.log(2)) / 2, 5);
    expect(cf).toBeCloseTo(1, 6);
  });

  it('unclipped value loss, and the gradient of the surrogate w.r.t. the logits', async () => {
    const { mb, logits, value } = batch();
    const t = ppoLossTerms(logits, value, mb, { ...cfg, clipVloss: false });
    expect(await t.vLoss.item()).toBeCloseTo(0.3125, 5);
    // s1 takes the clipped branch (no policy gradient); s2 (Â < 0, ratio above 1 + ε) keeps the
    // unclipped one: d/dx of ½·(−Â)·ratio = ½·ratio·(onehot(a) − π) = [0.5, −0.5].
    // The entropy bonus adds d(−0.01·mean H)/dx = 0.01/2 · π ⊙ (log π + H) to every row.
    const g = E.grad((x: E.Tensor) => ppoLossTerms(x, value, mb, cfg).loss)(logits);
    const got = await g.data();
    const rows = [[0.25, 0.75], [0.5, 0.5]];
    rows.forEach((p, i) => {
      const H = -p.reduce((a, q) => a + q * Math.log(q), 0);
      const pg = i === 1 ? [0.5, -0.5] : [0, 0];
      p.forEach((q, a) => expect(got[i * 2 + a]).toBeCloseTo(pg[a] + (0.01 / 2) * q * (Math.log(q) + H), 6));
    });
  });
});
