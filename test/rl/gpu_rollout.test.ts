// On-policy rollouts on a GPU env (cfg.envDevice 'gpu'): the rollout is what the CPU env and a
// float64 reading of the policy say it must be (replayed step for step: observations, rewards
// with the γ·V(final) bootstrap on truncation, dones, log-probabilities and values), the
// Gumbel-max actions follow the softmax, a rollout reads back once, a stopped and resumed run
// equals the uninterrupted one, and PPO learns CartPole with it; SPRIG's stacked frames on the GPU
// equal the CPU FrameStack's, and its GPU runs resume exactly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { resolveLayers, resolveRunConfig } from '../../rl/harness/config.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import { FrameStack, randomPolicyReturns } from '../../rl/harness/envs.ts';
import type { Algorithm, RunConfig, Rollout } from '../../rl/harness/types.ts';
import { getAlgorithm } from '../../rl/registry.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { makeGpuEnv } from '../../rl/envs/gpu/index.ts';
import type { PpoAgent } from '../../rl/ppo.ts';
import { sampleCategoricalGpu } from '../../rl/harness/sample_gpu.ts';

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

describe('GPU rollouts', () => {
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
