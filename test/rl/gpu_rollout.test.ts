// On-policy rollouts on a GPU env (cfg.envDevice 'gpu'): the rollout is what the CPU env and a
// float64 reading of the policy say it must be (replayed step for step: observations, rewards
// with the γ·V(final) bootstrap on truncation, dones, log-probabilities and values), the
// Gumbel-max actions follow the softmax, a rollout reads back once, a stopped and resumed run
// equals the uninterrupted one, and PPO learns CartPole with it; SPRIG's stacked frames on the GPU
// equal the CPU FrameStack's, and its GPU runs resume exactly. Per-episode bookkeeping: every
// episode that ends in a GPU rollout comes back exactly as the CPU env records it (return,
// length, end step, env, order), so a scripted action stream gives the same log lines,
// stopAtReturn stop and resume on either device; envDevice 'auto' picks the GPU env where it is
// the faster one, and old CPU runs resume on the CPU.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { ON_POLICY_DEFAULTS, ON_POLICY_SCHEMA, RUN_DEFAULTS, resolveLayers, resolveRunConfig, type OnPolicyConfig } from '../../rl/harness/config.ts';
import { decodeSafetensors as decode, encodeSafetensors } from '../../engine/safetensors.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import { Trainer, type LogLine, type TrainingEpisode } from '../../rl/harness/trainer.ts';
import { FrameStack, randomPolicyReturns } from '../../rl/harness/envs.ts';
import type { ActOptions, Algorithm, EnvSpec, OnPolicyAgent, OnPolicyAlgorithm, RunConfig, Rollout } from '../../rl/harness/types.ts';
import { getAlgorithm } from '../../rl/registry.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { makeGpuEnv } from '../../rl/envs/gpu/index.ts';
import type { PpoAgent } from '../../rl/ppo.ts';
import { sampleCategoricalGpu } from '../../rl/harness/sample_gpu.ts';
import { dqnAlgorithms, resolveDqnConfig } from '../../rl/dqn.ts';

beforeAll(async () => {
  await E.init();
});

async function setup(name: string, values: Record<string, unknown>): Promise<[Algorithm, RunConfig]> {
  const algo = await getAlgorithm(name);
  return [algo, resolveLayers(algo.defaults, algo.schema, [{ source: 'test', values }]) as RunConfig];
}

/** Logits and values of the PPO agent for `obs` rows, read back (float32 network, float64 after). */
async function policyOf(agent: PpoAgent, obs: Float32Array, rows: number) {
  const out = E.noGrad(() =>
    E.scope(() => {
      const { features } = agent.perception.apply(agent.params.perception, E.tensor(obs.subarray(0, rows * 4), [rows, 4]));
      const { logits, value } = agent.heads.apply(agent.params.heads, features);
      return [logits, value];
    }),
  );
  const [logits, values] = await E.readAll(out);
  E.dispose(out);
  return { logits, values };
}

/**
 * A scripted on-policy "algorithm": actions from a fixed stream of (vector step, env) on both
 * env devices, values and log-probabilities 0, no learning. Same actions => the CPU and GPU
 * envs must finish the same episodes at the same steps.
 */
class ScriptedAgent implements OnPolicyAgent {
  params = {};
  optimizers = {};
  /** Vector steps acted so far (saved in checkpoints). */
  t = 0;
  constructor(readonly spec: EnvSpec) {}
  private next(n: number): Int32Array {
    const A = this.spec.actionSpace.kind === 'discrete' ? this.spec.actionSpace.n : 1;
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let h = Math.imul(this.t * n + i + 1, 0x9e3779b1);
      h = Math.imul(h ^ (h >>> 15), 0x85ebca77);
      a[i] = ((h ^ (h >>> 13)) >>> 0) % A;
    }
    this.t++;
    return a;
  }
  async act(_obs: Float32Array, rows: number, o: ActOptions) {
    return { actions: o.sample ? this.next(o.sample) : new Int32Array(0), logp: new Float32Array(o.sample), values: new Float32Array(rows) };
  }
  actGpu(obs: E.Tensor, sample: number) {
    const values = E.zeros([obs.shape[0]]);
    if (!sample) return { values };
    return { values, actions: E.tensor(Float32Array.from(this.next(sample)), [sample]), logp: E.zeros([sample]) };
  }
  async update() {
    return {};
  }
  async saveState() {
    return { json: { t: this.t } };
  }
  async loadState(s: { json: unknown }) {
    this.t = (s.json as { t: number }).t;
  }
  dispose() {}
}

const scripted: OnPolicyAlgorithm<OnPolicyConfig> = {
  name: 'scripted', kind: 'on-policy', actionSpaces: ['discrete'],
  defaults: { ...RUN_DEFAULTS, ...ON_POLICY_DEFAULTS, algo: 'scripted', envDevice: 'cpu' },
  schema: ON_POLICY_SCHEMA, presets: {},
  create: (_cfg, env) => new ScriptedAgent(env),
};

/** The CPU env's episodes for a rollout's actions replayed on it (end step: the env steps after the vector step). */
function replayEpisodes(cpu: ReturnType<typeof makeEnv>, actions: Float32Array, T: number, N: number, step0: number): TrainingEpisode[] {
  const out: TrainingEpisode[] = [];
  for (let t = 0; t < T; t++) {
    cpu.step(Int32Array.from(actions.subarray(t * N, (t + 1) * N)));
    for (const e of cpu.completedEpisodes()) out.push({ return: e.return, length: e.length, step: step0 + (t + 1) * N, envIndex: e.envIndex });
  }
  return out;
}

const strip = (ls: object[]) => ls.map((l) => ({ ...l, time_s: 0, sps: 0 }));

describe('GPU rollouts', () => {
  it.each([
    ['the one-dispatch fused rollout', true],
    ['the step-by-step rollout', false],
  ])('per-episode records: %s\'s episodes equal the CPU env\'s with the same actions (return, length, end step, env, order), read with the rollout', async (_name, fusedMlp) => {
    const N = 6, T = 30, cap = 11;
    const live = E.memory().liveBuffers;
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', seed: 11, numEnvs: N, numSteps: T, minibatchSize: 60, envDevice: 'gpu', fusedMlp });
    const got: TrainingEpisode[] = [];
    const tr = new Trainer(algo, cfg, { onEpisodes: (e) => got.push(...e) });
    // a short step cap: truncations and terminations both end episodes inside the rollouts
    tr.genv!.dispose();
    const capped = makeGpuEnv('cartpole', { numEnvs: N, seed: 11, maxEpisodeSteps: cap });
    const cpu = makeEnv('cartpole', { numEnvs: N, seed: 11, maxEpisodeSteps: cap });
    cpu.reset();
    capped.setState(cpu.getState() as never);
    (tr as unknown as { genv: unknown }).genv = capped;
    const collect = (tr as unknown as { collectOnGpu(c: RunConfig): Promise<Rollout> }).collectOnGpu.bind(tr);
    const want: TrainingEpisode[] = [];
    for (let r = 0; r < 3; r++) {
      const before = E.counters().readbacks;
      const ro = await collect(cfg);
      expect(E.counters().readbacks - before, 'one readback per rollout, episodes included').toBe(1);
      want.push(...replayEpisodes(cpu, ro.actions, T, N, r * T * N));
      expect(capped.loggedSteps).toBe(0);
    }
    expect(want.some((e) => e.length === cap) && want.some((e) => e.length < cap), 'truncated and terminated episodes').toBe(true);
    expect(want.length).toBeGreaterThan(3 * N);
    expect(got).toEqual(want);
    // the log-line statistics and the recent-return window are those episodes'
    const recent = want.slice(-20).map((e) => e.return);
    expect(tr.recentMean()).toBeCloseTo(recent.reduce((a, b) => a + b, 0) / recent.length, 10);
    tr.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  }, 300_000);

  it('a scripted action stream on Breakout: the CPU and GPU envs give the same episodes, log lines and stopAtReturn stop; a CPU checkpoint resumes on the GPU env as the CPU run continues', async () => {
    const live = E.memory().liveBuffers;
    const base = { env: 'minatar/breakout', preset: 'gymnax', seed: 4, numEnvs: 4, numSteps: 32, totalSteps: 4 * 32 * 12, logEvery: 256, checkpointEvery: 128 };
    const cfgOf = (v: Record<string, unknown>) => resolveRunConfig(scripted, [{ source: 'test', values: { ...base, ...v } }]) as RunConfig;
    // the recent-20 mean along a CPU run without a stop, to pick a target it reaches early
    const probe = new Trainer(scripted, cfgOf({ envDevice: 'cpu' }));
    const means: number[] = [];
    while (!probe.done()) {
      await probe.step();
      means.push(probe.recentReturns.length >= 20 ? probe.recentMean()! : -Infinity);
    }
    probe.dispose();
    const target = Math.max(...means.slice(0, 8));
    const stopAt = means.findIndex((m) => m >= target) + 1;
    expect(target).toBeGreaterThan(0);
    expect(stopAt).toBeLessThan(12);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-episodes-'));
    const run = async (dir: string, v: Record<string, unknown>, o: object = {}) => {
      const eps: TrainingEpisode[] = [];
      const r = await runSeed({ storage: nodeStorage, dir: path.join(root, dir), algo: scripted, cfg: cfgOf({ stopAtReturn: target, ...v }), onEpisodes: (e: TrainingEpisode[]) => eps.push(...e), ...o } as never);
      const out = { eps, device: r.trainer.envDevice, iteration: r.trainer.iteration, metrics: await readMetrics(nodeStorage, path.join(root, dir)) };
      r.trainer.dispose();
      return out;
    };
    const c = await run('cpu', { envDevice: 'cpu' });
    const g = await run('gpu', { envDevice: 'gpu' });
    expect([c.device, g.device]).toEqual(['cpu', 'gpu']);
    expect(c.iteration, 'stopped by stopAtReturn').toBe(stopAt);
    expect(g.iteration).toBe(stopAt);
    expect(c.eps.length).toBeGreaterThan(20);
    expect(new Set(c.eps.map((e) => e.return)).size, 'episodes of different returns').toBeGreaterThan(1);
    expect(g.eps).toEqual(c.eps);
    expect(strip(g.metrics.train)).toEqual(strip(c.metrics.train));
    expect((c.metrics.train.at(-1) as LogLine).recent_return).toBeGreaterThanOrEqual(target);
    // stopped after 2 iterations on the CPU env, resumed on the GPU env
    await run('moved', { envDevice: 'cpu' }, { maxIterations: 2 });
    const m = await run('moved', { envDevice: 'cpu' }, { resume: true, explicit: { envDevice: 'gpu' } });
    expect(m.device).toBe('gpu');
    expect(strip(m.metrics.train)).toEqual(strip(c.metrics.train));
    expect(E.memory().liveBuffers).toBe(live);
  }, 300_000);

  it('off-policy (DQN) on a GPU env: the per-episode records read from the GPU log (at 4,096 vector steps into the carry, then at the log line) equal the CPU path\'s, and so do the log lines, recent_return included', async () => {
    const live = E.memory().liveBuffers;
    const algo = dqnAlgorithms['dqn'];
    // 4,200 vector steps between log lines: past the trainer's 4,096-step drain of the log; acting only
    const base = { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 4, totalSteps: 4 * 4200, logEvery: 4 * 4200, learningStarts: 10 ** 9, bufferSize: 256, epsDecaySteps: 2000, epsEnd: 0.1, evalEvery: 0, hidden: 16, seed: 6 };
    const run = async (envDevice: 'cpu' | 'gpu') => {
      const logs: object[] = [], eps: TrainingEpisode[] = [];
      const tr = new Trainer(algo, resolveDqnConfig(algo, base as never, { envDevice }) as RunConfig, { onLog: (l) => logs.push(l), onEpisodes: (e) => eps.push(...e) });
      while (!tr.done()) await tr.step();
      tr.dispose();
      return { logs, eps };
    };
    const c = await run('cpu'), g = await run('gpu');
    expect(c.logs.length).toBe(1);
    expect(c.eps.length).toBeGreaterThan(100);
    expect(g.eps).toEqual(c.eps);
    expect(strip(g.logs)).toEqual(strip(c.logs));
    expect(E.memory().liveBuffers).toBe(live);
  }, 300_000);

  it('envDevice auto: the GPU env for PPO\'s fused MLP on CartPole, the CPU env elsewhere; bad values list the valid ones; old CPU runs resume on the CPU env', async () => {
    const live = E.memory().liveBuffers;
    const ppo = await getAlgorithm('ppo'), sprig = await getAlgorithm('sprig');
    expect(ppo.defaults.envDevice).toBe('auto');
    const device = (algo: Algorithm, v: Record<string, unknown>, o: object = {}) => {
      const tr = new Trainer(algo, resolveRunConfig(algo, [{ source: 'test', values: v }]) as RunConfig, o);
      const d = [tr.envDevice, tr.genv ? 'genv' : 'no genv'].join(' ');
      tr.dispose();
      return d;
    };
    const small = { numEnvs: 4, numSteps: 16, minibatchSize: 64 };
    expect(device(ppo, { env: 'cartpole', ...small })).toBe('gpu genv');
    expect(device(ppo, { env: 'cartpole', ...small, fusedMlp: false })).toBe('cpu no genv');
    expect(device(ppo, { env: 'cartpole', ...small }, { env: makeEnv('cartpole', { numEnvs: 4 }) })).toBe('cpu no genv');
    expect(device(ppo, { env: 'minatar/breakout', ...small })).toBe('cpu no genv');
    expect(device(sprig, { env: 'minatar/breakout', ...small, attnDim: 8 })).toBe('cpu no genv');
    expect(device(ppo, { env: 'cartpole', ...small, envDevice: 'cpu' })).toBe('cpu no genv');
    expect(() => resolveRunConfig(ppo, [{ source: 'test', values: { envDevice: 'tpu' } }])).toThrow(/envDevice.*'auto', 'cpu', 'gpu'/);
    // old runs: envDevice 'cpu' recorded, or no envDevice at all (before the key existed), resume on the CPU env
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-auto-'));
    const cfg = resolveRunConfig(ppo, [{ source: 'test', values: { env: 'cartpole', ...small, updateEpochs: 1, totalSteps: 256, envDevice: 'cpu' } }]) as RunConfig;
    for (const old of ['cpu recorded', 'no key']) {
      const dir = path.join(root, old.replace(' ', '-'));
      (await runSeed({ storage: nodeStorage, dir, algo: ppo, cfg, maxIterations: 1 })).trainer.dispose();
      if (old === 'no key') {
        const f = path.join(dir, 'checkpoint.safetensors');
        const { tensors, metadata } = decode(new Uint8Array(fs.readFileSync(f)));
        const c = JSON.parse(metadata.config);
        delete c.envDevice;
        fs.writeFileSync(f, encodeSafetensors(tensors, { ...metadata, config: JSON.stringify(c) }));
      }
      const r = await runSeed({ storage: nodeStorage, dir, algo: ppo, cfg: { ...cfg, envDevice: 'auto' } as RunConfig, resume: true });
      expect(r.trainer.envDevice, old).toBe('cpu');
      expect(r.trainer.globalStep).toBe(256);
      r.trainer.dispose();
    }
    expect(E.memory().liveBuffers).toBe(live);
  }, 300_000);

  it('a PPO rollout on the GPU CartPole replays exactly on the CPU env (with truncations), one readback', async () => {
    const N = 8, T = 40, cap = 12, gamma = 0.9;
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', seed: 3, numEnvs: N, numSteps: T, minibatchSize: 64, gamma, envDevice: 'gpu' });
    const tr = new Trainer(algo, cfg);
    // A short step cap, so truncation bootstrapping is exercised (the run's env has CartPole's 500).
    tr.genv!.dispose();
    const capped = makeGpuEnv('cartpole', { numEnvs: N, seed: 3, maxEpisodeSteps: cap });
    const cpu = makeEnv('cartpole', { numEnvs: N, seed: 3, maxEpisodeSteps: cap });
    const obs0 = cpu.reset().slice();
    capped.setState(cpu.getState() as never);
    (tr as unknown as { genv: unknown }).genv = capped;
    const before = E.counters().readbacks;
    const ro: Rollout = await (tr as unknown as { collectOnGpu(c: RunConfig): Promise<Rollout> }).collectOnGpu(cfg);
    expect(E.counters().readbacks - before).toBe(1);
    const agent = tr.agent as PpoAgent;
    let truncations = 0, worstObs = 0, worstLogp = 0, worstV = 0, worstR = 0;
    for (let t = 0; t < T; t++) {
      const rows = ro.obs.subarray(t * N * 4, (t + 1) * N * 4);
      // the observations acted on are the CPU env's: its reset ones, then each step's
      if (t === 0) for (let k = 0; k < N * 4; k++) worstObs = Math.max(worstObs, Math.abs(rows[k] - obs0[k]));
      const { logits, values } = await policyOf(agent, rows, N);
      for (let i = 0; i < N; i++) {
        const a = ro.actions[t * N + i];
        expect([0, 1]).toContain(a);
        const l0 = logits[2 * i], l1 = logits[2 * i + 1], m = Math.max(l0, l1);
        const lse = m + Math.log(Math.exp(l0 - m) + Math.exp(l1 - m));
        worstLogp = Math.max(worstLogp, Math.abs(ro.logp[t * N + i] - ((a === 1 ? l1 : l0) - lse)));
        worstV = Math.max(worstV, Math.abs(ro.values[t * N + i] - values[i]));
      }
      const step = cpu.step(Int32Array.from(ro.actions.subarray(t * N, (t + 1) * N)));
      const finalV = (await policyOf(agent, step.finalObs, N)).values;
      for (let i = 0; i < N; i++) {
        const k = t * N + i;
        expect(ro.dones[k], `done t=${t} i=${i}`).toBe(step.done[i]);
        const want = step.rewards[i] + (step.truncated[i] ? gamma * finalV[i] : 0);
        worstR = Math.max(worstR, Math.abs(ro.rewards[k] - want));
        truncations += step.truncated[i];
      }
      if (t + 1 < T) {
        const next = ro.obs.subarray((t + 1) * N * 4, (t + 2) * N * 4);
        for (let k = 0; k < N * 4; k++) worstObs = Math.max(worstObs, Math.abs(next[k] - step.obs[k]));
      }
    }
    expect(truncations).toBeGreaterThan(3);
    expect(worstObs).toBeLessThan(1e-4);
    expect(worstLogp).toBeLessThan(1e-5);
    expect(worstV).toBeLessThan(1e-5);
    expect(worstR).toBeLessThan(1e-4);
    tr.dispose();
  });

  it('Gumbel-max actions follow the softmax of the logits', async () => {
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', seed: 1, numEnvs: 4, envDevice: 'gpu', mlpHidden: [8] });
    const tr = new Trainer(algo, cfg);
    const agent = tr.agent as PpoAgent;
    // One observation repeated: every row has the same distribution.
    const rows = 20_000;
    const obs = new Float32Array(rows * 4);
    for (let i = 0; i < rows; i++) obs.set([0.3, -1.2, 0.15, 2.0], 4 * i);
    // Make the policy clearly non-uniform: scale the actor's weights up.
    const w = agent.params.heads.actor as E.LinearParams;
    const big = E.mul(w.weight, 200);
    E.assign(w.weight, big);
    big.dispose();
    const { logits } = await policyOf(agent, obs, 1);
    const p1 = 1 / (1 + Math.exp(logits[0] - logits[1]));
    expect(p1).toBeGreaterThan(0.05);
    expect(p1).toBeLessThan(0.95);
    const x = E.tensor(obs, [rows, 4]);
    const out = agent.actGpu(x, rows);
    const a = await out.actions!.data();
    E.dispose([x, out.values, out.actions!, out.logp!]);
    const freq = a.reduce((s, v) => s + v, 0) / rows;
    const sd = Math.sqrt((p1 * (1 - p1)) / rows);
    expect(Math.abs(freq - p1)).toBeLessThan(5 * sd);
    tr.dispose();
  });

  it('the one-dispatch sampler draws what the composed Gumbel-max draws from the same RNG state; log-probabilities to float64', async () => {
    const rows = 500, A = 6;
    const data = Float32Array.from({ length: rows * A }, (_, i) => Math.sin(i * 12.9898) * 3);
    const logits = E.tensor(data, [rows, A]);
    const st = E.getRngState();
    const fused = sampleCategoricalGpu(logits);
    const after = E.getRngState();
    E.setRngState(st);
    const composed = E.scope(() => E.argmax(E.sub(logits, E.log(E.neg(E.log(E.rand([rows, A]))))), 1));
    expect(E.getRngState()).toEqual(after);
    const [fa, fl, ca] = await E.readAll([fused.actions, fused.logp, composed]);
    expect(Array.from(fa)).toEqual(Array.from(ca));
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      const row = Array.from(data.subarray(r * A, (r + 1) * A));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((z, l) => z + Math.exp(l - m), 0));
      worst = Math.max(worst, Math.abs(fl[r] - (row[fa[r]] - lse)));
    }
    expect(worst).toBeLessThan(1e-5);
    // every action is drawn somewhere (the noise is not degenerate)
    expect(new Set(fa).size).toBe(A);
    E.dispose([logits, fused.actions, fused.logp, composed]);
  });

  it('stopped at a checkpoint and resumed equals the uninterrupted run', async () => {
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', seed: 7, numEnvs: 4, numSteps: 32, minibatchSize: 32, updateEpochs: 2, totalSteps: 4 * 128, logEvery: 128, lr: 1e-3, envDevice: 'gpu' });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-resume-'));
    const a = path.join(root, 'a'), b = path.join(root, 'b');
    const run = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
    const live = E.memory().liveBuffers;
    await run(a);
    await run(b, { maxIterations: 2 });
    await run(b, { resume: true });
    expect(E.memory().liveBuffers).toBe(live);
    const load = (d: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(d, 'checkpoint.safetensors'))), d);
    const fa = load(a), fb = load(b);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    expect(JSON.parse(fb.metadata.state).env).toEqual(JSON.parse(fa.metadata.state).env);
    const strip = (ls: object[]) => ls.map((l) => ({ ...l, time_s: 0, sps: 0 }));
    const ma = await readMetrics(nodeStorage, a), mb = await readMetrics(nodeStorage, b);
    expect(ma.train.length).toBe(4);
    expect(strip(mb.train)).toEqual(strip(ma.train));
    expect(ma.train.reduce((s, l) => s + l.episodes, 0)).toBeGreaterThan(10);
  });

  it('envDevice gpu: an env without a GPU version and an algorithm without actGpu are errors that say so', async () => {
    // Every env with a discrete or Pendulum action space has a GPU version now; MuJoCo's do not.
    const [algo] = await setup('ppo', { envDevice: 'gpu' });
    // The errors come with the config, before any run directory is touched.
    expect(() => resolveRunConfig(algo, [{ source: 'test', values: { env: 'mujoco/hopper', envDevice: 'gpu' } }])).toThrow(/envDevice 'gpu': mujoco\/hopper has no GPU version \(GPU envs: cartpole, pendulum, mdp\/three-state, minatar\/asterix, minatar\/breakout, minatar\/freeway, minatar\/seaquest, minatar\/space_invaders\); use envDevice 'cpu'/);
    const [, cfg] = await setup('ppo', { env: 'cartpole', envDevice: 'gpu' });
    expect(() => new Trainer(algo, cfg, { env: makeEnv('cartpole', { numEnvs: cfg.numEnvs }) })).toThrow(/envDevice 'gpu' steps its own GPU env; a ready CPU env \(TrainerOptions.env\) cannot be used with it/);
    const sprig = await getAlgorithm('sprig');
    // A typo'd env id is reported as unknown, with the valid ids, not as lacking a GPU version.
    expect(() => resolveRunConfig(algo, [{ source: 'test', values: { env: 'minatar/breakot', envDevice: 'gpu' } }])).not.toThrow();
    expect(() => new Trainer(algo, resolveLayers(algo.defaults, algo.schema, [{ source: 'test', values: { env: 'minatar/breakot', envDevice: 'gpu' } }]) as RunConfig)).toThrow(/unknown env id 'minatar\/breakot'; valid ids: cartpole/);
    // SPRIG's frame stack lives on the GPU too (GpuFrameStack): its config is accepted.
    expect(resolveRunConfig(sprig, [{ source: 'test', values: { env: 'minatar/breakout', envDevice: 'gpu' } }]).envDevice).toBe('gpu');
    const ac = await getAlgorithm('ac');
    expect(() => resolveLayers(ac.defaults, ac.schema, [{ source: 'test', values: { envDevice: 'gpu' } }])).toThrow(/unknown config key 'envDevice'/);
  });

  it('a SPRIG rollout on the GPU Breakout stacks frames as the CPU FrameStack does (restarts clear the history), one readback', async () => {
    const N = 4, T = 48, K = 2;
    const [algo, cfg] = await setup('sprig', { env: 'minatar/breakout', preset: 'gymnax', seed: 5, numEnvs: N, numSteps: T, minibatchSize: 64, frameStack: K, attnDim: 8, envDevice: 'gpu' });
    const tr = new Trainer(algo, cfg);
    const cpu = makeEnv('minatar/breakout', { numEnvs: N, seed: 5, preset: 'gymnax' });
    const S = cpu.obsSize;
    const stack = new FrameStack(N, S, K);
    stack.reset(cpu.reset());
    const before = E.counters().readbacks;
    const ro: Rollout = await (tr as unknown as { collectOnGpu(c: RunConfig): Promise<Rollout> }).collectOnGpu(cfg);
    expect(E.counters().readbacks - before).toBe(1);
    let restarts = 0;
    for (let t = 0; t < T; t++) {
      expect(Array.from(ro.obs.subarray(t * N * K * S, (t + 1) * N * K * S)), `stacked observations at t=${t}`).toEqual(Array.from(stack.out));
      const step = cpu.step(Int32Array.from(ro.actions.subarray(t * N, (t + 1) * N)));
      for (let i = 0; i < N; i++) {
        expect(ro.dones[t * N + i], `done t=${t} i=${i}`).toBe(step.done[i]);
        expect(ro.rewards[t * N + i], `reward t=${t} i=${i}`).toBe(step.rewards[i]);
        stack.push(i, step.obs, i, step.done[i] === 1);
        restarts += step.done[i];
      }
    }
    expect(restarts, 'episodes ended inside the rollout').toBeGreaterThan(0);
    tr.dispose();
  });

  it('SPRIG on the GPU env: stopped at a checkpoint and resumed equals the uninterrupted run', async () => {
    const [algo, cfg] = await setup('sprig', { env: 'minatar/breakout', preset: 'gymnax', seed: 9, numEnvs: 2, numSteps: 8, minibatchSize: 8, updateEpochs: 1, frameStack: 2, attnDim: 8, totalSteps: 3 * 16, logEvery: 16, lr: 1e-3, envDevice: 'gpu' });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-sprig-resume-'));
    const a = path.join(root, 'a'), b = path.join(root, 'b');
    const run = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
    const live = E.memory().liveBuffers;
    await run(a);
    await run(b, { maxIterations: 1 });
    await run(b, { resume: true });
    expect(E.memory().liveBuffers).toBe(live);
    const load = (d: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(d, 'checkpoint.safetensors'))), d);
    const fa = load(a), fb = load(b);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
  });

  it('PPO learns CartPole on the GPU env: after 24,576 steps of cartpole-fast the recent return is > 5× a random policy\'s', async () => {
    const rets = randomPolicyReturns('cartpole', { episodes: 200, envSeed: 1, policySeed: 2 });
    const random = rets.reduce((a, b) => a + b, 0) / rets.length;
    const [algo, cfg] = await setup('ppo', { ...(await getAlgorithm('ppo')).presets['cartpole-fast'], seed: 0, totalSteps: 24_576, envDevice: 'gpu' });
    const tr = new Trainer(algo, cfg);
    while (tr.iteration < tr.iterations) await tr.step();
    const recent = tr.recentMean()!;
    console.log(`CartPole PPO on the GPU env: recent return ${recent.toFixed(1)} after ${tr.globalStep} steps; random ${random.toFixed(1)}`);
    expect(recent).toBeGreaterThan(5 * random);
    tr.dispose();
  }, 900_000);
});
