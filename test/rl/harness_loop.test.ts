// The harness's off-policy loop, Box actions and sampling helpers, with a toy algorithm written
// here (the real ones live in rl/dqn.ts, rl/ddpg.ts, rl/sac.ts): schedules (randomSteps,
// learningStarts, trainFreq), the transitions an agent observes (final observations at episode
// ends), action scaling, agent state of any dtype in checkpoints, and exact resume.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { OFF_POLICY_SCHEMA, RUN_DEFAULTS, resolveLayers, resolveRunConfig, type OffPolicyConfig } from '../../rl/harness/config.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { sampleCategorical, sampleDiagGaussian, scaleToBox } from '../../rl/harness/policy.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import type { OffPolicyAgent, OffPolicyAlgorithm, Transitions } from '../../rl/harness/types.ts';

beforeAll(async () => {
  await E.init();
});

interface ToyConfig extends OffPolicyConfig {
  lr: number;
  batch: number;
  capacity: number;
}

/** What the toy agent saw, for the assertions. */
const seen = { acts: 0, observed: [] as Array<{ obs: number[]; nextObs: number[]; actions: number[]; terminated: number[]; truncated: number[] }>, trains: [] as number[] };

/**
 * A deterministic tanh-linear policy on Pendulum, regressed towards a = 0.5·sin θ on replayed
 * observations (a stand-in for an actor update); the replay stores observations as float32 and
 * the truncation flags as uint8 (checkpointed: it opts in).
 */
const toy: OffPolicyAlgorithm<ToyConfig> = {
  name: 'toy',
  kind: 'off-policy',
  actionSpaces: ['box'],
  defaults: { ...RUN_DEFAULTS, algo: 'toy', env: 'pendulum', numEnvs: 2, totalSteps: 60, gamma: 0.99, learningStarts: 20, trainFreq: 3, gradientSteps: 2, randomSteps: 10, logEvery: 20, lr: 0.1, batch: 8, capacity: 64 },
  schema: { ...OFF_POLICY_SCHEMA, batch: { type: 'int', min: 1 }, capacity: { type: 'int', min: 1 } },
  presets: {},
  create(cfg, env) {
    const net = E.Linear(env.obsSize, 1, { gain: 1, activation: 'tanh' });
    const packed = E.packParams({ actor: net.init(cfg.seed) });
    const params = E.keep(packed.params);
    E.keep(packed.flat);
    const opt = E.sgd(params, { lr: cfg.lr });
    const S = env.obsSize;
    const obsBuf = new Float32Array(cfg.capacity * S), flags = new Uint8Array(cfg.capacity);
    let size = 0, ptr = 0;
    const agent: OffPolicyAgent = {
      params,
      optimizers: { actor: opt },
      async act(obs, rows, o) {
        seen.acts++;
        const y = E.noGrad(() => E.scope(() => net.apply(params.actor as E.LinearParams, E.tensor(obs.subarray(0, rows * S), [rows, S]))));
        const a = await y.data();
        y.dispose();
        const out = new Float32Array(o.sample);
        for (let i = 0; i < o.sample; i++) out[i] = o.mode === 'greedy' ? a[i] : a[i] + 0.1 * o.rng.normal();
        return { actions: out };
      },
      observe(t: Transitions) {
        seen.observed.push({ obs: Array.from(t.obs), nextObs: Array.from(t.nextObs), actions: Array.from(t.actions), terminated: Array.from(t.terminated), truncated: Array.from(t.truncated) });
        for (let i = 0; i < t.N; i++) {
          obsBuf.set(t.obs.subarray(i * S, (i + 1) * S), ptr * S);
          flags[ptr] = t.truncated[i];
          ptr = (ptr + 1) % cfg.capacity;
          size = Math.min(size + 1, cfg.capacity);
        }
      },
      async train(ctx) {
        seen.trains.push(ctx.step);
        let last: E.Tensor | null = null;
        for (let g = 0; g < cfg.gradientSteps; g++) {
          const x = new Float32Array(cfg.batch * S), y = new Float32Array(cfg.batch);
          for (let j = 0; j < cfg.batch; j++) {
            const k = ctx.rng.int(size);
            x.set(obsBuf.subarray(k * S, (k + 1) * S), j * S);
            y[j] = 0.5 * obsBuf[k * S + 1];
          }
          E.scope(() => {
            const xt = E.tensor(x, [cfg.batch, S]), yt = E.tensor(y, [cfg.batch, 1]);
            const [loss, g2] = E.valueAndGrad((p: E.Params) => E.mean(E.square(E.sub(net.apply(p.actor as E.LinearParams, xt), yt))))(params);
            opt.step(params, g2);
            last?.dispose();
            last = E.keep(loss);
          });
        }
        const l = await last!.item();
        last!.dispose();
        return { loss: l, replay_size: size };
      },
      async saveState() {
        return { arrays: { 'replay.obs': { data: obsBuf.slice(), shape: [cfg.capacity, S] }, 'replay.truncated': { data: flags.slice(), shape: [cfg.capacity] } }, json: { size, ptr } };
      },
      async loadState(s) {
        obsBuf.set(s.arrays!['replay.obs'].data as Float32Array);
        expect(s.arrays!['replay.truncated'].data).toBeInstanceOf(Uint8Array);
        flags.set(s.arrays!['replay.truncated'].data as Uint8Array);
        ({ size, ptr } = s.json as { size: number; ptr: number });
      },
      dispose() {
        E.dispose([params, packed.flat]);
        opt.dispose();
      },
    };
    return agent;
  },
};

const cfgOf = (v: Partial<ToyConfig> = {}) => resolveLayers(toy.defaults, toy.schema, [{ source: 'test', values: v }]);

describe('off-policy loop', () => {
  it('runs the schedules: randomSteps without act(), then act(); train every trainFreq vector steps once step ≥ learningStarts', async () => {
    seen.acts = 0;
    seen.observed = [];
    seen.trains = [];
    const t = new Trainer(toy, cfgOf());
    await t.train();
    // 30 vector steps of 2 envs; random for the first 10 env steps (5 vector steps)
    expect(t.globalStep).toBe(60);
    expect(seen.observed.length).toBe(30);
    expect(seen.acts).toBe(25);
    // iteration k (0-based) ends at step 2(k+1); trains when that is ≥ 20 and (k+1) % 3 == 0
    const want = [];
    for (let k = 0; k < 30; k++) if (2 * (k + 1) >= 20 && (k + 1) % 3 === 0) want.push(2 * (k + 1));
    expect(seen.trains).toEqual(want); // ctx.step: env steps so far, this vector step included
    // random actions are uniform in [−1, 1] (normalised), the agent's are tanh outputs: also in [−1, 1]
    for (const o of seen.observed) for (const a of o.actions) expect(Math.abs(a)).toBeLessThanOrEqual(1.5);
    t.dispose();
  });

  it('hands the agent the final observation (not the reset one) where an episode was truncated', async () => {
    seen.observed = [];
    const t = new Trainer(toy, cfgOf({ totalSteps: 2 * 205, learningStarts: 1000 }));
    await t.train();
    // Pendulum truncates at 200 steps: vector step 199 (0-based) ends both episodes
    const end = seen.observed[199];
    expect(end.truncated).toEqual([1, 1]);
    const next = seen.observed[200];
    for (let i = 0; i < 2; i++) {
      const fin = end.nextObs.slice(i * 3, i * 3 + 3), prev = end.obs.slice(i * 3, i * 3 + 3), reset = next.obs.slice(i * 3, i * 3 + 3);
      expect(fin[0] ** 2 + fin[1] ** 2).toBeCloseTo(1, 5); // (cos θ, sin θ, θ̇)
      // one step of the dynamics from prev (θ moves by θ̇·dt ≤ 8·0.05), unlike the reset state
      expect(Math.hypot(fin[0] - prev[0], fin[1] - prev[1])).toBeLessThan(0.45);
      expect(fin).not.toEqual(reset);
    }
    // elsewhere nextObs is the next step's obs
    expect(seen.observed[10].nextObs).toEqual(seen.observed[11].obs);
    t.dispose();
  });

  it('resumes exactly: parameters, optimizer, the agent\'s uint8 and float32 replay arrays, metrics and evaluations', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'offpolicy-'));
    const cfg = cfgOf({ evalEvery: 30, evalEpisodes: 2, checkpointEvery: 0 });
    const a = path.join(root, 'a'), b = path.join(root, 'b');
    (await runSeed({ storage: nodeStorage, dir: a, algo: toy, cfg })).trainer.dispose();
    (await runSeed({ storage: nodeStorage, dir: b, algo: toy, cfg, maxIterations: 13 })).trainer.dispose();
    (await runSeed({ storage: nodeStorage, dir: b, algo: toy, cfg, resume: true })).trainer.dispose();
    const load = (d: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(d, 'checkpoint.safetensors'))));
    const fa = load(a), fb = load(b);
    expect(fa.tensors['agent.replay.truncated'].data).toBeInstanceOf(Uint8Array);
    expect(Object.keys(fb.tensors).sort()).toEqual(Object.keys(fa.tensors).sort());
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    expect(fb.metadata.agent).toBe(fa.metadata.agent);
    const ma = await readMetrics(nodeStorage, a), mb = await readMetrics(nodeStorage, b);
    const strip = (ls: object[]) => ls.map((l) => ({ ...l, time_s: 0, sps: 0 }));
    expect(strip(mb.train)).toEqual(strip(ma.train));
    expect(ma.train.at(-1)!.loss).toBeGreaterThanOrEqual(0);
    expect(ma.eval.map((l) => l.step)).toEqual([30, 60]);
    expect(mb.eval).toEqual(ma.eval);
  }, 300_000);
});

describe('GPU memory', () => {
  it('a Trainer releases every GPU buffer it made (toy off-policy, PPO, SPRIG with the exact leader update)', async () => {
    const { getAlgorithm } = await import('../../rl/registry.ts');
    const ppo = await getAlgorithm('ppo'), sprig = await getAlgorithm('sprig');
    const runs: Array<[typeof toy | typeof ppo, Record<string, unknown>]> = [
      [toy, { learningStarts: 0, trainFreq: 1, randomSteps: 0, totalSteps: 8 }],
      [ppo, { env: 'cartpole', numEnvs: 2, numSteps: 8, minibatchSize: 8, updateEpochs: 1 }],
      [sprig, { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 2, numSteps: 4, minibatchSize: 8, updateEpochs: 1, frameStack: 2, attnDim: 8, leaderUpdate: 'total', cgIters: 2 }],
    ];
    for (const [algo, values] of runs) {
      const before = E.memory().liveBuffers;
      const t = new Trainer(algo, resolveLayers(algo.defaults, algo.schema, [{ source: 'test', values }]));
      await t.step();
      await t.step();
      await t.evaluate(1, { write: false });
      t.dispose();
      expect(E.memory().liveBuffers, algo.name).toBe(before);
    }
  }, 300_000);
});

describe('configs', () => {
  it('per-env defaults apply between the defaults and the other layers, for the env the layers pick', () => {
    const algo = { ...toy, envDefaults: (env: string): Partial<ToyConfig> => (env === 'pendulum' ? { lr: 0.5, batch: 4 } : {}) };
    expect(resolveRunConfig(algo, []).lr).toBe(0.5); // the default env is pendulum
    const c = resolveRunConfig(algo, [{ source: 'flags', values: { batch: 16 } }]);
    expect([c.lr, c.batch]).toEqual([0.5, 16]); // flags still win
    expect(resolveRunConfig(algo, [{ source: 'flags', values: { env: 'cartpole' } }]).lr).toBe(0.1);
    expect(() => resolveRunConfig(algo, [{ source: 'config file x.yaml', values: { lr: '0.1' } }])).toThrow(/config file x\.yaml: 'lr' must be a finite number, got the string "0\.1"/);
  });
});

describe('actions', () => {
  it('scaleToBox maps [−1, 1] affinely onto [low, high], clips, and passes unbounded dimensions through', () => {
    const space = { kind: 'box' as const, shape: [3], low: [-2, 0, -Infinity], high: [2, 10, Infinity] };
    const out = scaleToBox(Float32Array.from([1, -1, 5, 0, 0.5, -7, 3, -3, 0.25]), space, 3, new Float32Array(9));
    expect(Array.from(out)).toEqual([2, 0, 5, 0, 7.5, -7, 2, 0, 0.25]);
  });

  it('sampleCategorical: log-probabilities in float64, greedy = argmax, sampled frequencies ≈ softmax', () => {
    const logits = Float32Array.from([0, Math.log(3), 2, 1, 0, -1]);
    const acts = new Int32Array(2), logp = new Float32Array(2);
    sampleCategorical(logits, 2, 3, new Rng(1), true, acts, logp);
    expect(Array.from(acts)).toEqual([2, 0]);
    const z0 = 1 + 3 + Math.exp(2), z1 = Math.exp(1) + 1 + Math.exp(-1);
    expect(logp[0]).toBeCloseTo(2 - Math.log(z0), 6);
    expect(logp[1]).toBeCloseTo(1 - Math.log(z1), 6);
    const rng = new Rng(2), counts = [0, 0, 0], a1 = new Int32Array(1);
    for (let k = 0; k < 20000; k++) {
      sampleCategorical(logits.subarray(3), 1, 3, rng, false, a1);
      counts[a1[0]]++;
    }
    [Math.exp(1) / z1, 1 / z1, Math.exp(-1) / z1].forEach((p, a) => expect(counts[a] / 20000).toBeCloseTo(p, 1));
  });

  it('sampleDiagGaussian: log N(a) summed over dimensions; greedy = the mean; the spread follows exp(logStd)', () => {
    const mean = Float32Array.from([0.5, -1]), logStd = Float32Array.from([Math.log(0.2), 0]);
    const a = new Float32Array(2), lp = new Float32Array(1);
    sampleDiagGaussian(mean, logStd, 1, 2, new Rng(3), true, a, lp);
    expect(Array.from(a)).toEqual([0.5, -1]);
    expect(lp[0]).toBeCloseTo(-Math.log(0.2) - Math.log(2 * Math.PI), 5);
    const rng = new Rng(4);
    let s = 0, s2 = 0;
    for (let k = 0; k < 20000; k++) {
      sampleDiagGaussian(mean, logStd, 1, 2, rng, false, a, lp);
      const e0 = (a[0] - 0.5) / 0.2, e1 = a[1] + 1;
      expect(lp[0]).toBeCloseTo(-0.5 * (e0 * e0 + e1 * e1) - Math.log(0.2) - Math.log(2 * Math.PI), 4);
      s += a[0];
      s2 += (a[0] - 0.5) ** 2;
    }
    expect(s / 20000).toBeCloseTo(0.5, 2);
    expect(Math.sqrt(s2 / 20000)).toBeCloseTo(0.2, 2);
  });
});
