import { describe, expect, it } from 'vitest';
import { gae } from '../../rl/harness/gae.ts';
import { Rng } from '../../engine/nn/rng.ts';

// Float64 reference from the definition: Â_t = Σ_l (γλ)^l δ_{t+l}, summed until the episode ends
// or the rollout does, with δ_t = r_t + γ(1 − d_t)V_{t+1} − V_t.
function reference(r: number[], v: number[], d: number[], last: number[], T: number, N: number, g: number, lam: number) {
  const adv = new Float64Array(T * N);
  for (let i = 0; i < N; i++) {
    const delta = (t: number) => {
      const k = t * N + i;
      const next = t === T - 1 ? last[i] : v[k + N];
      return r[k] + g * (1 - d[k]) * next - v[k];
    };
    for (let t = 0; t < T; t++) {
      let s = 0, w = 1;
      for (let u = t; u < T; u++) {
        s += w * delta(u);
        if (d[u * N + i]) break;
        w *= g * lam;
      }
      adv[t * N + i] = s;
    }
  }
  return adv;
}

describe('GAE', () => {
  it('matches a float64 reference with episode ends inside the rollout', () => {
    const rng = new Rng(3);
    const T = 37, N = 5, g = 0.99, lam = 0.95;
    const r = Array.from({ length: T * N }, () => rng.uniform() * 2 - 1);
    const v = Array.from({ length: T * N }, () => rng.uniform() * 4 - 2);
    const d = Array.from({ length: T * N }, () => (rng.uniform() < 0.1 ? 1 : 0));
    const last = Array.from({ length: N }, () => rng.uniform());
    const { advantages, returns } = gae(r, v, d, last, T, N, g, lam);
    const ref = reference(r, v, d, last, T, N, g, lam);
    for (let k = 0; k < T * N; k++) {
      expect(advantages[k]).toBeCloseTo(ref[k], 5);
      expect(returns[k]).toBeCloseTo(ref[k] + v[k], 5);
    }
  });

  it('λ = 1 gives discounted returns minus values; λ = 0 gives one-step TD errors', () => {
    const T = 4, N = 1, g = 0.5;
    const r = [1, 2, 3, 4], v = [0.5, 0.25, 0, 1], d = [0, 0, 0, 0], last = [8];
    const mc = gae(r, v, d, last, T, N, g, 1);
    // G_0 = 1 + .5·2 + .25·3 + .125·4 + .0625·8
    expect(mc.returns[0]).toBeCloseTo(1 + 1 + 0.75 + 0.5 + 0.5, 6);
    const td = gae(r, v, d, last, T, N, g, 0);
    expect(td.advantages[1]).toBeCloseTo(2 + 0.5 * 0 - 0.25, 6);
    expect(td.advantages[3]).toBeCloseTo(4 + 0.5 * 8 - 1, 6);
  });

  it('does not bootstrap across an episode end (the truncation value is folded into the reward)', () => {
    // Env truncated at t = 1 with V(final obs) = 10: the trainer adds γ·10 to r_1 and sets d_1.
    const g = 0.9;
    const r = [0, 1 + g * 10, 0], v = [0, 0, 100], d = [0, 1, 0], last = [0];
    const { returns } = gae(r, v, d, last, 3, 1, g, 1);
    expect(returns[1]).toBeCloseTo(10, 5); // 1 + 0.9·10, never the next episode's V = 100
    expect(returns[0]).toBeCloseTo(g * 10, 5);
  });
});
