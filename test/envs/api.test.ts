// The batched API: ids and options, spaces, validation, autoreset, statistics, seeding,
// checkpoints, presets and sticky actions, rendering, the watch command.
import { describe, expect, it } from 'vitest';
import {
  describeEnvs,
  ENV_IDS,
  makeEnv,
  minatarGame,
  MinAtarEnv,
  Rng,
  type Breakout,
  type EnvCore,
  type VecEnv,
} from '../../rl/envs/index.ts';
import { watch } from '../../rl/envs/watch.ts';
import { Digest, isBinary } from './helpers.ts';

const MINATAR_CHANNELS: Record<string, number> = {
  'minatar/breakout': 4,
  'minatar/asterix': 4,
  'minatar/freeway': 7,
  'minatar/seaquest': 10,
  'minatar/space_invaders': 6,
};

/** Random actions for env `env` from the stream `rng`. */
function randomActions(env: VecEnv<EnvCore>, rng: Rng): number[] {
  const sp = env.actionSpace;
  return Array.from({ length: env.numEnvs }, () => (sp.kind === 'discrete' ? rng.int(sp.n) : rng.uniformRange(-2, 2)));
}

/** Digest of the obs/reward/flag trace of `steps` steps under a seeded random policy. */
function trace(env: VecEnv<EnvCore>, steps: number, policySeed: number): string {
  const rng = new Rng(policySeed, 0);
  const d = new Digest().add(env.reset());
  for (let t = 0; t < steps; t++) {
    const r = env.step(randomActions(env, rng));
    d.add(r.obs).add(r.rewards).add(r.terminated).add(r.truncated).add(r.finalObs);
  }
  return d.value();
}

// The generic checks below step with one action scalar per env; the MuJoCo tasks (several
// action components, a module loaded asynchronously) have their own in mujoco.test.ts.
const SYNC_IDS = ENV_IDS.filter((id) => !id.startsWith('mujoco/'));

describe('makeEnv', () => {
  it('knows exactly the fourteen ids', () => {
    expect([...ENV_IDS].sort()).toEqual(
      ['cartpole', 'pendulum', 'mdp/three-state', 'minatar/breakout', 'minatar/asterix', 'minatar/freeway',
        'minatar/seaquest', 'minatar/space_invaders', 'mujoco/hopper', 'mujoco/walker2d', 'mujoco/halfcheetah',
        'mujoco/swimmer', 'mujoco/reacher', 'mujoco/ant'].sort(),
    );
    expect(describeEnvs()).toHaveLength(14);
  });

  it('an unknown id lists the valid ids', () => {
    expect(() => makeEnv('minatar/pong')).toThrow(/unknown env id 'minatar\/pong'; valid ids: cartpole, pendulum/);
  });

  it('an unknown option lists the valid options', () => {
    expect(() => makeEnv('cartpole', { preset: 'paper' })).toThrow(
      /unknown option 'preset' for 'cartpole'; valid options: numEnvs, seed, maxEpisodeSteps/,
    );
    expect(() => makeEnv('minatar/breakout', { sticky: 0.1 } as never)).toThrow(
      /valid options: numEnvs, seed, maxEpisodeSteps, preset, stickyProb, minimalActions, ramping/,
    );
  });

  it('bad option values are errors', () => {
    expect(() => makeEnv('minatar/asterix', { preset: 'atari' as never })).toThrow(/valid presets: paper, gymnax/);
    expect(() => makeEnv('minatar/asterix', { stickyProb: 1.5 })).toThrow(/stickyProb/);
    expect(() => makeEnv('cartpole', { numEnvs: 0 })).toThrow(/numEnvs/);
    expect(() => makeEnv('cartpole', { seed: -3 })).toThrow(/seed/);
    expect(() => makeEnv('cartpole', { maxEpisodeSteps: -1 })).toThrow(/maxEpisodeSteps/);
  });

  it.each(SYNC_IDS.map((id) => [id]))('%s: spaces and output shapes', (id) => {
    const env = makeEnv(id, { numEnvs: 3, seed: 1 });
    const obs = env.reset();
    expect(obs).toBeInstanceOf(Float32Array);
    expect(obs.length).toBe(3 * env.obsSize);
    const os = env.observationSpace;
    if (id.startsWith('minatar/')) {
      expect(os).toMatchObject({ kind: 'box', shape: [10, 10, MINATAR_CHANNELS[id]] });
      expect(isBinary(obs)).toBe(true);
      expect(env.actionSpace).toEqual({ kind: 'discrete', n: 6 }); // paper preset by default
    }
    if (os.kind === 'box') {
      expect(os.low.length).toBe(env.obsSize);
      expect(os.high.length).toBe(env.obsSize);
    }
    const r = env.step(randomActions(env, new Rng(0, 0)));
    expect(r.rewards.length).toBe(3);
    expect(r.terminated).toBeInstanceOf(Uint8Array);
    expect(r.finalObs.length).toBe(obs.length);
  });

  it('spaces of the classic envs', () => {
    expect(makeEnv('cartpole').actionSpace).toEqual({ kind: 'discrete', n: 2 });
    expect(makeEnv('pendulum').actionSpace).toEqual({ kind: 'box', shape: [1], low: [-2], high: [2] });
    expect(makeEnv('pendulum').observationSpace).toMatchObject({ shape: [3], low: [-1, -1, -8], high: [1, 1, 8] });
    expect(makeEnv('mdp/three-state').actionSpace).toEqual({ kind: 'discrete', n: 2 });
  });
});

describe('step', () => {
  it('validates actions: length, range, integrality, finiteness; needs reset first', () => {
    const env = makeEnv('minatar/breakout', { numEnvs: 2, preset: 'gymnax' });
    expect(() => env.step([0, 0])).toThrow(/reset\(\) before step/);
    env.reset();
    expect(() => env.step([0])).toThrow(/expected 2 actions/);
    expect(() => env.step([0, 3])).toThrow(/action 3 for env 1 is not an integer in \[0, 3\)/);
    expect(() => env.step([0, -1])).toThrow(/not an integer/);
    expect(() => env.step([0.5, 0])).toThrow(/not an integer/);
    expect(() => env.step(Int32Array.of(2, 1))).not.toThrow();
    const p = makeEnv('pendulum', { numEnvs: 2 });
    p.reset();
    expect(() => p.step([0, NaN])).toThrow(/not a finite number/);
    expect(() => p.step(Float32Array.of(5, -5))).not.toThrow(); // out-of-range torque is clipped by the env
  });

  it('returned arrays are reused between steps', () => {
    const env = makeEnv('cartpole', { numEnvs: 2 });
    const o = env.reset();
    const r1 = env.step([0, 1]);
    const r2 = env.step([0, 1]);
    expect(r1.obs).toBe(o);
    expect(r2.rewards).toBe(r1.rewards);
  });

  it('tracks running returns and lengths and drains completed episodes', () => {
    const env = makeEnv('cartpole', { numEnvs: 4, seed: 3 });
    env.reset();
    const rng = new Rng(1, 0);
    let doneCount = 0;
    let rewardSum = 0;
    for (let t = 0; t < 300; t++) {
      const r = env.step(randomActions(env, rng));
      for (let i = 0; i < 4; i++) doneCount += r.done[i]!;
    }
    const eps = env.completedEpisodes();
    expect(eps.length).toBe(doneCount);
    for (const e of eps) {
      expect(e.return).toBe(e.length); // reward 1 per step
      expect(e.terminated).toBe(true);
      rewardSum += e.length;
    }
    const running = Array.from(env.episodeLengths).reduce((a, b) => a + b, 0);
    expect(rewardSum + running).toBe(4 * 300);
    expect(env.completedEpisodes()).toEqual([]);
  });

  it('maxEpisodeSteps override truncates (and terminated wins over truncated on the same step)', () => {
    const env = makeEnv('mdp/three-state', { maxEpisodeSteps: 1 });
    env.reset();
    const rng = new Rng(4, 0);
    let sawTerm = false;
    let sawTrunc = false;
    for (let t = 0; t < 200; t++) {
      const r = env.step([rng.int(2)]);
      expect(r.done[0]).toBe(1);
      expect(r.terminated[0] & r.truncated[0]).toBe(0);
      if (r.terminated[0]) sawTerm = true;
      if (r.truncated[0]) sawTrunc = true;
    }
    expect(sawTerm && sawTrunc).toBe(true);
  });
});

describe('seeding and determinism', () => {
  it.each(SYNC_IDS.map((id) => [id]))('%s: same seed → identical trajectories; another seed differs', (id) => {
    const a = trace(makeEnv(id, { numEnvs: 4, seed: 42 }), 300, 9);
    const b = trace(makeEnv(id, { numEnvs: 4, seed: 42 }), 300, 9);
    expect(b).toEqual(a);
    // (Space Invaders itself draws nothing; under the default paper preset its sticky actions do.)
    const c = trace(makeEnv(id, { numEnvs: 4, seed: 43 }), 300, 9);
    expect(c).not.toEqual(a);
  });

  it.each(SYNC_IDS.map((id) => [id]))('%s: env 0 follows the same trajectory at batch size 1 and 16', (id) => {
    // A stream depends on (seed, env index) only (rng.ts), and the policy below gives env 0
    // the same actions in both batches.
    const run = (n: number) => {
      const env = makeEnv(id, { numEnvs: n, seed: 7 });
      const pol = new Rng(3, 0);
      const out = new Digest().add(env.reset().subarray(0, env.obsSize));
      const others = new Rng(0, 0);
      for (let t = 0; t < 200; t++) {
        const acts = randomActions(env, others); // values for the other envs
        acts[0] = randomActions(makeEnvStub(env), pol)[0]!;
        const r = env.step(acts);
        out.add(r.obs.subarray(0, env.obsSize)).add([r.rewards[0]!, r.done[0]!]);
      }
      return out.value();
    };
    expect(run(16)).toEqual(run(1));
  });

  it.each(SYNC_IDS.map((id) => [id]))('%s: envs in a batch are independent', (id) => {
    // Changing env 0's actions leaves env 1's trajectory untouched; and envs 0 and 1, given
    // the same actions, do not follow the same trajectory (their streams differ).
    const run = (actions0: number) => {
      const env = makeEnv(id, { numEnvs: 2, seed: 11 });
      const pol = new Rng(5, 0);
      const rows = [new Digest(), new Digest()];
      env.reset();
      for (let t = 0; t < 300; t++) {
        const a = randomActions(env, pol);
        a[1] = a[0]!;
        if (actions0 === 1) a[0] = env.actionSpace.kind === 'discrete' ? 0 : 0.5;
        const r = env.step(a);
        for (const i of [0, 1]) rows[i]!.add(r.obs.subarray(i * env.obsSize, (i + 1) * env.obsSize)).add([r.rewards[i]!]);
      }
      return rows.map((d) => d.value());
    };
    const base = run(0);
    const changed = run(1);
    expect(changed[1]).toEqual(base[1]);
    expect(base[0]).not.toEqual(base[1]);
  });

  it('reset(seed) re-keys the streams: same as a fresh env with that seed', () => {
    const a = makeEnv('minatar/asterix', { numEnvs: 2, seed: 1 });
    trace(a, 50, 2);
    a.reset(99);
    const b = makeEnv('minatar/asterix', { numEnvs: 2, seed: 99 });
    const ta = new Digest();
    const tb = new Digest();
    const pa = new Rng(8, 0);
    const pb = new Rng(8, 0);
    b.reset();
    for (let t = 0; t < 200; t++) {
      ta.add(a.step(randomActions(a, pa)).obs);
      tb.add(b.step(randomActions(b, pb)).obs);
    }
    expect(ta.value()).toEqual(tb.value());
  });
});

/** An object with the same action space as `env`, for drawing one env's action. */
function makeEnvStub(env: VecEnv<EnvCore>): VecEnv<EnvCore> {
  return { actionSpace: env.actionSpace, numEnvs: 1 } as VecEnv<EnvCore>;
}

describe('MinAtar invariants under random play', () => {
  it.each([
    ['minatar/breakout', 0],
    ['minatar/asterix', 0],
    ['minatar/freeway', 0],
    ['minatar/seaquest', 0],
    ['minatar/space_invaders', 0],
  ] as const)('%s: 0/1 observations with exactly one player cell (channel %i), also in final frames', (id, ch) => {
    const env = makeEnv(id, { numEnvs: 8, seed: 17 });
    const C = MINATAR_CHANNELS[id]!;
    const count = (o: Float32Array, base: number) => {
      let n = 0;
      for (let k = 0; k < 100; k++) n += o[base + k * C + ch]!;
      return n;
    };
    env.reset();
    const pol = new Rng(4, 0);
    let bad = 0;
    let finals = 0;
    for (let t = 0; t < 1500; t++) {
      const r = env.step(randomActions(env, pol));
      if (!isBinary(r.obs)) bad++;
      for (let i = 0; i < 8; i++) {
        if (count(r.obs, i * env.obsSize) !== 1) bad++;
        if (r.done[i]) {
          finals++;
          if (count(r.finalObs, i * env.obsSize) !== 1) bad++;
        }
      }
    }
    expect(bad).toBe(0);
    if (id !== 'minatar/freeway') expect(finals).toBeGreaterThan(0);
  });
});

describe('checkpoints', () => {
  it.each(SYNC_IDS.map((id) => [id]))('%s: getState → JSON → setState resumes exactly', (id) => {
    const env = makeEnv(id, { numEnvs: 3, seed: 21 });
    trace(env, 137, 1);
    const saved = JSON.stringify(env.getState());
    const pol = new Rng(2, 0);
    const cont = new Digest();
    for (let t = 0; t < 300; t++) {
      const r = env.step(randomActions(env, pol));
      cont.add(r.obs).add(r.rewards).add(r.done);
    }
    const eps = env.completedEpisodes();
    const fresh = makeEnv(id, { numEnvs: 3, seed: 0 });
    fresh.setState(JSON.parse(saved));
    const pol2 = new Rng(2, 0);
    const cont2 = new Digest();
    for (let t = 0; t < 300; t++) {
      const r = fresh.step(randomActions(fresh, pol2));
      cont2.add(r.obs).add(r.rewards).add(r.done);
    }
    expect(cont2.value()).toEqual(cont.value());
    expect(fresh.completedEpisodes()).toEqual(eps);
  });

  it('a state for another env or batch size is refused', () => {
    const a = makeEnv('cartpole', { numEnvs: 2 });
    a.reset();
    expect(() => makeEnv('pendulum', { numEnvs: 2 }).setState(a.getState())).toThrow(/cartpole/);
    expect(() => makeEnv('cartpole', { numEnvs: 3 }).setState(a.getState())).toThrow(/2 envs/);
  });
});

describe('MinAtar presets and switches', () => {
  it.each([
    ['minatar/breakout', 3, 1000],
    ['minatar/asterix', 5, 1000],
    ['minatar/freeway', 3, 2500],
    ['minatar/seaquest', 6, 1000],
    ['minatar/space_invaders', 4, 1000],
  ] as const)('%s gymnax: %i minimal actions, no sticky, cap %i', (id, n, cap) => {
    const env = makeEnv(id, { preset: 'gymnax' });
    expect(env.actionSpace).toEqual({ kind: 'discrete', n });
    expect(env.maxEpisodeSteps).toBe(cap);
    const core = env.envs[0] as MinAtarEnv;
    expect(core.stickyProb).toBe(0);
    const paper = makeEnv(id, { preset: 'paper' });
    expect(paper.actionSpace).toEqual({ kind: 'discrete', n: 6 });
    expect(paper.maxEpisodeSteps).toBe(0);
    expect((paper.envs[0] as MinAtarEnv).stickyProb).toBe(0.1);
    expect(Array.from((paper.envs[0] as MinAtarEnv).actionMap)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('individual switches override the preset', () => {
    const env = makeEnv('minatar/asterix', { preset: 'paper', stickyProb: 0, minimalActions: true, ramping: false, maxEpisodeSteps: 77 });
    const core = env.envs[0] as MinAtarEnv;
    expect(core.stickyProb).toBe(0);
    expect(env.actionSpace).toEqual({ kind: 'discrete', n: 5 });
    expect((core.game as unknown as { ramping: boolean }).ramping).toBe(false);
    expect(env.maxEpisodeSteps).toBe(77);
    const g = makeEnv('minatar/breakout', { preset: 'gymnax', stickyProb: 0.25, minimalActions: false, maxEpisodeSteps: 0 });
    expect((g.envs[0] as MinAtarEnv).stickyProb).toBe(0.25);
    expect(g.actionSpace).toEqual({ kind: 'discrete', n: 6 });
    expect(g.maxEpisodeSteps).toBe(0);
  });

  it('gymnax cap: step 1000 of an episode is truncated', () => {
    const env = makeEnv('minatar/space_invaders', { preset: 'gymnax' });
    env.reset();
    const st = env.getState();
    st.episodeLengths[0] = 999;
    env.setState(st);
    const r = env.step([0]);
    expect([r.terminated[0], r.truncated[0]]).toEqual([0, 1]);
  });

  it('sticky actions: with probability p the previously executed action repeats', () => {
    // Common rule "with probability 0.1 the previously *executed* action is used instead".
    // Alternating left/right: P(executed ≠ chosen) = q with q = 0.1·(1 − q) → q = 1/11.
    const env = makeEnv('minatar/breakout', { preset: 'paper', seed: 5 });
    env.reset();
    const core = env.envs[0] as MinAtarEnv;
    let differ = 0;
    const N = 20_000;
    for (let t = 0; t < N; t++) {
      const a = t % 2 === 0 ? 1 : 3;
      env.step([a]);
      if (core.lastAction !== a) differ++;
    }
    expect(Math.abs(differ / N - 1 / 11)).toBeLessThan(0.008);
  });

  it('stickyProb 1 repeats the start action 0 forever; the previous action survives reset()', () => {
    const env = makeEnv('minatar/breakout', { stickyProb: 1 });
    env.reset();
    for (let t = 0; t < 5; t++) env.step([3]);
    expect(minatarGame<Breakout>(env).state.paddleX).toBe(4);
    const s = makeEnv('minatar/breakout', { stickyProb: 0 });
    s.reset();
    s.step([3]);
    expect((s.envs[0] as MinAtarEnv).lastAction).toBe(3);
    s.reset();
    expect((s.envs[0] as MinAtarEnv).lastAction).toBe(3);
  });
});

describe('rendering and watch', () => {
  it.each(SYNC_IDS.map((id) => [id]))('%s: text frame and PNG frame', (id) => {
    const env = makeEnv(id, { numEnvs: 2, seed: 1 });
    env.reset();
    env.step(randomActions(env, new Rng(1, 0)));
    const text = env.renderText(1);
    expect(text.length).toBeGreaterThan(10);
    if (id.startsWith('minatar/')) expect(text.split('\n').length).toBeGreaterThanOrEqual(13);
    const png = env.renderPng(0);
    expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    expect(() => env.renderText(2)).toThrow(/out of range/);
  });

  it("renderText(i, 'final') draws the terminal observation after autoreset", () => {
    const env = makeEnv('minatar/breakout', { preset: 'gymnax' });
    env.reset();
    Object.assign(minatarGame<Breakout>(env).state, { ballX: 0, ballY: 8, ballDir: 2, paddleX: 5 });
    env.step([0]);
    const rows = (txt: string) => txt.split('\n').slice(2, 12);
    expect(rows(env.renderText(0, 'final'))[9]).toContain('oo');
    expect(rows(env.renderText(0))[9]).not.toContain('oo');
    expect(() => env.renderText(0, 'last' as never)).toThrow(/current' or 'final/);
    const cp = makeEnv('cartpole');
    cp.reset();
    expect(cp.renderText(0, 'final')).toContain('cart x');
  });

  it('watch plays a scripted agent and prints frames', async () => {
    const lines: string[] = [];
    await watch('minatar/breakout', { policy: 'scripted', steps: 30, seed: 0, delay: 0, every: 10, out: (s) => lines.push(s) });
    const all = lines.join('\n');
    expect(all).toContain('minatar/breakout  step 0  reset');
    expect(all).toContain('step 30');
    expect(all).toContain('o=ball');
  });
});
