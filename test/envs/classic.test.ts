// CartPole and Pendulum against independent float64 evaluations of docs/spec/classic.md; the 3-state
// MDP's empirical transitions against its matrix.
import { describe, expect, it } from 'vitest';
import { makeEnv, type CartPole, type Pendulum, type ThreeStateMdp, Rng, MDP_P, MDP_R } from '../../rl/envs/index.ts';

/** |a − b| ≤ rel·max(1, |b|) elementwise. */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): void {
  expect(a.length).toBe(b.length);
  for (let k = 0; k < b.length; k++) {
    const tol = rel * Math.max(1, Math.abs(b[k]!));
    if (!(Math.abs(a[k]! - b[k]!) <= tol)) throw new Error(`element ${k}: ${a[k]} vs ${b[k]} (tol ${tol})`);
  }
}

/** The spec's CartPole update, written out independently. */
function cartpoleRef(s: number[], action: number) {
  const [x, xd, th, thd] = s as [number, number, number, number];
  const g = 9.8, mc = 1.0, mp = 0.1, l = 0.5, tau = 0.02;
  const F = action === 0 ? -10 : 10;
  const temp = (F + mp * l * thd ** 2 * Math.sin(th)) / (mc + mp);
  const thacc = (g * Math.sin(th) - Math.cos(th) * temp) / (l * (4 / 3 - (mp * Math.cos(th) ** 2) / (mc + mp)));
  const xacc = temp - (mp * l * thacc * Math.cos(th)) / (mc + mp);
  const next = [x + tau * xd, xd + tau * xacc, th + tau * thd, thd + tau * thacc];
  const terminated = Math.abs(next[0]!) > 2.4 || Math.abs(next[2]!) > (12 * Math.PI) / 180;
  return { next, reward: 1, terminated };
}

/** The spec's Pendulum update, written out independently. */
function pendulumRef(th: number, thd: number, uIn: number) {
  const u = Math.max(-2, Math.min(2, uIn));
  const norm = (a: number) => ((((a + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
  const cost = norm(th) ** 2 + 0.1 * thd ** 2 + 0.001 * u ** 2;
  const thd2 = Math.max(-8, Math.min(8, thd + ((3 * 10) / 2 * Math.sin(th) + 3 * u) * 0.05));
  return { th: th + thd2 * 0.05, thd: thd2, reward: -cost };
}

describe('CartPole-v1', () => {
  it('reset draws all four state variables from U(−0.05, 0.05)', () => {
    const env = makeEnv('cartpole', { numEnvs: 256, seed: 4 });
    const obs = env.reset();
    for (const v of obs) expect(Math.abs(v)).toBeLessThan(0.05);
    expect(new Set(obs).size).toBe(obs.length);
  });

  it('every step equals the closed-form Euler update; reward 1 including the terminal step', () => {
    const env = makeEnv('cartpole', { numEnvs: 8, seed: 11 });
    env.reset();
    const pick = new Rng(123, 0);
    let terminals = 0;
    for (let t = 0; t < 400; t++) {
      const before = env.envs.map((c) => {
        const s = (c as CartPole).state;
        return [s.x, s.xDot, s.theta, s.thetaDot];
      });
      const actions = Int32Array.from({ length: 8 }, () => pick.int(2));
      const r = env.step(actions);
      for (let i = 0; i < 8; i++) {
        const ref = cartpoleRef(before[i]!, actions[i]!);
        expect(r.rewards[i]).toBe(1);
        expect(r.terminated[i]).toBe(ref.terminated ? 1 : 0);
        const shown = ref.terminated ? r.finalObs.subarray(4 * i, 4 * i + 4) : r.obs.subarray(4 * i, 4 * i + 4);
        // float32 observation of the float64 state (the two evaluations may differ in the last ulp)
        expectClose(shown, ref.next.map(Math.fround), 2 ** -22);
        if (!ref.terminated) {
          const s = (env.envs[i] as CartPole).state;
          expectClose([s.x, s.xDot, s.theta, s.thetaDot], ref.next, 1e-13);
        }
        if (ref.terminated) terminals++;
      }
    }
    expect(terminals).toBeGreaterThan(20);
  });

  it('terminates when |x| > 2.4 or |θ| > 12°', () => {
    const env = makeEnv('cartpole');
    env.reset();
    const s = (env.envs[0] as CartPole).state;
    Object.assign(s, { x: 2.39, xDot: 1, theta: 0, thetaDot: 0 });
    expect(env.step([1]).terminated[0]).toBe(1);
    Object.assign(s, { x: 0, xDot: 0, theta: -0.2094, thetaDot: -0.01 });
    expect(env.step([0]).terminated[0]).toBe(1);
    Object.assign(s, { x: 0, xDot: 0, theta: 0.2, thetaDot: 0 });
    expect(env.step([0]).terminated[0]).toBe(0);
  });

  it('truncated at 500 steps (not terminated)', () => {
    const env = makeEnv('cartpole');
    env.reset();
    expect(env.maxEpisodeSteps).toBe(500);
    const st = env.getState();
    st.episodeLengths[0] = 499;
    env.setState(st);
    const r = env.step([0]);
    expect([r.terminated[0], r.truncated[0], r.done[0]]).toEqual([0, 1, 1]);
    expect(env.completedEpisodes()[0]).toMatchObject({ length: 500, terminated: false });
  });
});

describe('Pendulum-v1', () => {
  it('reset draws θ ~ U(−π, π), θ̇ ~ U(−1, 1); observation [cos θ, sin θ, θ̇]', () => {
    const env = makeEnv('pendulum', { numEnvs: 500, seed: 2 });
    const obs = env.reset();
    let minT = Infinity, maxT = -Infinity;
    for (let i = 0; i < 500; i++) {
      const s = (env.envs[i] as Pendulum).state;
      expect(Math.abs(s.theta)).toBeLessThanOrEqual(Math.PI);
      expect(Math.abs(s.thetaDot)).toBeLessThanOrEqual(1);
      minT = Math.min(minT, s.theta);
      maxT = Math.max(maxT, s.theta);
      expect([obs[3 * i], obs[3 * i + 1], obs[3 * i + 2]]).toEqual(
        [Math.cos(s.theta), Math.sin(s.theta), s.thetaDot].map(Math.fround),
      );
    }
    expect(minT).toBeLessThan(-3);
    expect(maxT).toBeGreaterThan(3);
  });

  it('every step equals the closed-form update, torque clipped, reward −cost of the pre-step state', () => {
    const env = makeEnv('pendulum', { numEnvs: 4, seed: 9 });
    env.reset();
    const pick = new Rng(77, 0);
    for (let t = 0; t < 300; t++) {
      const before = env.envs.map((c) => ({ ...(c as Pendulum).state }));
      const actions = Float32Array.from({ length: 4 }, () => pick.uniformRange(-3, 3)); // some beyond ±2
      const r = env.step(actions);
      for (let i = 0; i < 4; i++) {
        const ref = pendulumRef(before[i]!.theta, before[i]!.thetaDot, actions[i]!);
        expectClose([r.rewards[i]!], [Math.fround(ref.reward)], 2 ** -22);
        expect(r.terminated[i]).toBe(0);
        const row = r.done[i] ? r.finalObs : r.obs;
        expectClose(row.subarray(3 * i, 3 * i + 3), [Math.cos(ref.th), Math.sin(ref.th), ref.thd], 2 ** -22);
        if (!r.done[i]) {
          const s = (env.envs[i] as Pendulum).state;
          expectClose([s.theta, s.thetaDot], [ref.th, ref.thd], 1e-13);
        }
      }
    }
  });

  it('speed clipped at ±8; never terminates; truncated at 200', () => {
    const env = makeEnv('pendulum');
    env.reset();
    const s = (env.envs[0] as Pendulum).state;
    Object.assign(s, { theta: Math.PI / 2, thetaDot: 7.9 });
    env.step([2]);
    expect(s.thetaDot).toBe(8);
    env.reset();
    let r = env.step([0]);
    let n = 1;
    while (!r.done[0]) {
      r = env.step([0]);
      n++;
    }
    expect(n).toBe(200);
    expect([r.terminated[0], r.truncated[0]]).toEqual([0, 1]);
  });
});

describe('3-state MDP', () => {
  it('starts in B (one-hot observation)', () => {
    const env = makeEnv('mdp/three-state', { numEnvs: 3 });
    expect(Array.from(env.reset())).toEqual([0, 1, 0, 0, 1, 0, 0, 1, 0]);
  });

  it('empirical transition frequencies match P and rewards match R (chi-square)', () => {
    const env = makeEnv('mdp/three-state', { seed: 5 });
    env.reset();
    const core = env.envs[0] as ThreeStateMdp;
    const rng = new Rng(31, 0);
    const N = 40_000;
    for (const s of [0, 1]) {
      for (const a of [0, 1]) {
        const counts = [0, 0, 0];
        let badRewards = 0;
        for (let k = 0; k < N; k++) {
          core.state.s = s;
          const r = core.step(a, rng);
          const next = core.state.s;
          counts[next]!++;
          if (r !== MDP_R[s]![a]![next]) badRewards++;
        }
        expect(badRewards).toBe(0);
        const p = MDP_P[s]![a]!;
        let chi2 = 0;
        let df = -1;
        for (let k = 0; k < 3; k++) {
          if (p[k] === 0) {
            expect(counts[k]).toBe(0);
            continue;
          }
          df++;
          chi2 += (counts[k]! - N * p[k]!) ** 2 / (N * p[k]!);
        }
        // df ≤ 2: 16.3 is the p = 0.0003 quantile for df 2
        expect(chi2).toBeLessThan(16.3);
        expect(df).toBeLessThanOrEqual(2);
      }
    }
  });

  it('C is terminal (episode ends, env back in B); at most 50 steps', () => {
    const env = makeEnv('mdp/three-state', { seed: 2 });
    env.reset();
    let r = env.step([0]);
    while (!r.done[0]) r = env.step([0]); // B,X reaches C with p 0.8 per step
    expect(r.terminated[0]).toBe(1);
    expect(Array.from(r.finalObs)).toEqual([0, 0, 1]);
    expect(Array.from(r.obs)).toEqual([0, 1, 0]);
    // Y from A keeps A forever: truncated at 50.
    env.reset();
    (env.envs[0] as ThreeStateMdp).state.s = 0;
    let n = 0;
    do {
      r = env.step([1]);
      n++;
      expect(r.rewards[0]).toBe(n < 50 || r.done[0] ? 0.75 : NaN);
    } while (!r.done[0]);
    expect(n).toBe(50);
    expect([r.terminated[0], r.truncated[0]]).toEqual([0, 1]);
    expect(env.completedEpisodes().at(-1)).toMatchObject({ length: 50, return: 0.75 * 50, terminated: false });
  });
});
