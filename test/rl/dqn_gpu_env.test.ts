// The DQN family on a GPU env (cfg.envDevice 'gpu': env step, ε-greedy mix and replay writes on
// the GPU, rl/dqn/gpu_replay.ts): the same seed on the CPU env must make the same run, so the
// CPU path is the reference: identical replay contents (every transition: frames, actions,
// rewards, terminals), identical parameters after training and the same log lines. Also: no
// readback per vector step, exact resume from a checkpoint, config errors before any run
// directory exists.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { dqnAlgorithms, resolveDqnConfig, type DqnConfig, type QAgent } from '../../rl/dqn.ts';
import { scorerAlgorithms } from '../../rl/scorer.ts';
import { resolveRunConfig } from '../../rl/harness/config.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import type { RunConfig } from '../../rl/harness/types.ts';
import { GpuReplay } from '../../rl/dqn/gpu_replay.ts';

beforeAll(async () => {
  await E.init();
});
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dqn-gpu-env-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const strip = <T extends object>(ls: T[]) => ls.map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'time_s' && k !== 'sps')));

// 4 Breakout envs, 600 env steps: the replay (capacity 256) wraps round twice, ε falls from 1
// to 0.1 so most late actions are greedy, and random-policy episodes end every ~10 steps.
const base: Partial<DqnConfig> = {
  env: 'minatar/breakout', preset: 'gymnax', numEnvs: 4, totalSteps: 600, learningStarts: 64, trainFreq: 1,
  batchSize: 16, bufferSize: 256, targetUpdateEvery: 100, epsDecaySteps: 400, epsEnd: 0.1, epsDecayFrom: 'start',
  optimizer: 'adam', lr: 1e-3, loss: 'mse', hidden: 32, encoder: 'mlp', evalEvery: 0, logEvery: 200, seed: 3,
};

describe('DQN on a GPU env', () => {
  it.each([
    ['double-dqn', dqnAlgorithms['double-dqn'], {}],
    // SCORER (its two players, two batches per update) shares the agent: a shorter run
    ['scorer-dqn', scorerAlgorithms['scorer-dqn'], { totalSteps: 400 }],
  ] as const)('%s: the same seed on the CPU env makes the same run: identical transitions, parameters and log lines (recent_return included); no readback per step', async (_name, algo, extra) => {
    const live = E.memory().liveBuffers;
    const every = 200;
    const run = async (envDevice: 'cpu' | 'gpu') => {
      const cfg = resolveDqnConfig(algo, base, extra, { envDevice, logEvery: every }) as RunConfig;
      const logs: object[] = [];
      const tr = new Trainer(algo, cfg, { onLog: (l) => logs.push(l) });
      let readbacks = 0;
      while (!tr.done()) {
        // the vector steps between log lines read nothing back on the GPU path
        // (the step before a log line reads the training statistics, the log step the episode sums)
        const before = E.counters().readbacks;
        const nearLog = tr.globalStep + 2 * tr.N >= every * (Math.floor(tr.globalStep / every) + 1);
        await tr.step();
        if (!nearLog) readbacks += E.counters().readbacks - before;
      }
      const agent = tr.agent as QAgent;
      const replay = await (agent.greplay ?? agent.replay).toArrays();
      const params = Object.fromEntries(await Promise.all(Object.entries(E.namedParams(agent.params)).map(async ([n, t]) => [n, Array.from(await t.data())])));
      tr.dispose();
      return { logs, replay, params, readbacks, greplay: agent.greplay, steps: tr.globalStep };
    };
    const cpu = await run('cpu');
    const gpu = await run('gpu');
    expect(gpu.greplay).toBeInstanceOf(GpuReplay);
    expect(cpu.readbacks).toBeGreaterThan(50); // the CPU path reads every greedy step's actions
    expect(gpu.readbacks).toBe(0);
    for (const k of Object.keys(cpu.replay)) expect(Array.from(gpu.replay[k].data), `replay ${k}`).toEqual(Array.from(cpu.replay[k].data));
    expect(cpu.replay.dones.data.some((d) => d === 1)).toBe(true);
    expect(cpu.replay.rewards.data.some((r) => r > 0)).toBe(true);
    expect(Object.keys(gpu.params)).toEqual(Object.keys(cpu.params));
    for (const k of Object.keys(cpu.params)) expect(gpu.params[k], `params ${k}`).toEqual(cpu.params[k]);
    // the log lines agree entirely, recent_return included: the GPU env logs every finished
    // episode (return, length) and the trainer records them as the CPU path does
    expect(strip(gpu.logs)).toEqual(strip(cpu.logs));
    expect(cpu.logs.some((l) => Number.isFinite((l as { recent_return?: number }).recent_return))).toBe(true);
    expect(gpu.logs.length).toBe(Math.ceil(gpu.steps / every));
    expect(E.memory().liveBuffers).toBe(live);
  }, 300_000);

  it('a GPU-env run stopped at a checkpoint and resumed equals the uninterrupted run (replay, env, episode sums carried)', async () => {
    const algo = dqnAlgorithms['dqn'];
    const cfg = resolveDqnConfig(algo, base, { envDevice: 'gpu', totalSteps: 400, logEvery: 160 }) as RunConfig;
    const a = path.join(root, 'a'), b = path.join(root, 'b');
    const go = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
    await go(a);
    await go(b, { maxIterations: 50 }); // 200 env steps: mid-way between two log lines
    await go(b, { resume: true });
    const ma = await readMetrics(nodeStorage, a), mb = await readMetrics(nodeStorage, b);
    expect(ma.train.length).toBe(3);
    expect(strip(mb.train)).toEqual(strip(ma.train));
    expect(ma.train.reduce((s, l) => s + l.episodes, 0)).toBeGreaterThan(10);
    const ca = fs.readFileSync(path.join(a, 'checkpoint.safetensors')), cb = fs.readFileSync(path.join(b, 'checkpoint.safetensors'));
    const { decodeSafetensors } = await import('../../engine/safetensors.ts');
    const ta = decodeSafetensors(new Uint8Array(ca)).tensors, tb = decodeSafetensors(new Uint8Array(cb)).tensors;
    for (const k of Object.keys(ta)) if (k.startsWith('params.') || k.startsWith('agent.replay.')) expect(Array.from(tb[k].data), k).toEqual(Array.from(ta[k].data));
  }, 300_000);

  it('a CPU-env checkpoint resumed with envDevice gpu continues the CPU run: same parameters and replay at the end', async () => {
    const algo = dqnAlgorithms['dqn'];
    const cfg = resolveDqnConfig(algo, base, { totalSteps: 400, logEvery: 160 }) as RunConfig;
    const a = path.join(root, 'cpu-a'), b = path.join(root, 'cpu-b');
    await runSeed({ storage: nodeStorage, dir: a, algo, cfg }).then((r) => r.trainer.dispose());
    await runSeed({ storage: nodeStorage, dir: b, algo, cfg, maxIterations: 50 }).then((r) => r.trainer.dispose());
    const r = await runSeed({ storage: nodeStorage, dir: b, algo, cfg, resume: true, explicit: { envDevice: 'gpu' } });
    expect((r.trainer.agent as QAgent).greplay).toBeInstanceOf(GpuReplay);
    r.trainer.dispose();
    const { decodeSafetensors } = await import('../../engine/safetensors.ts');
    const ta = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(a, 'checkpoint.safetensors')))).tensors;
    const tb = decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(b, 'checkpoint.safetensors')))).tensors;
    const keys = Object.keys(ta).filter((k) => k.startsWith('params.') || k.startsWith('agent.replay.'));
    expect(keys.length).toBeGreaterThan(5);
    for (const k of keys) expect(Array.from(tb[k].data), k).toEqual(Array.from(ta[k].data));
  }, 300_000);

  it('envDevice gpu: an env without a GPU version fails with the config (resolveRunConfig, the CLI\'s path, runs before any run directory is made)', () => {
    const algo = dqnAlgorithms['dqn'];
    expect(() => resolveRunConfig(algo, [{ source: 'test', values: { env: 'mujoco/hopper', envDevice: 'gpu' } }])).toThrow(/envDevice 'gpu': mujoco\/hopper has no GPU version \(GPU envs: .*minatar\/seaquest.*\); use envDevice 'cpu'/);
    expect(() => resolveDqnConfig(algo, base, { env: 'mujoco/hopper', envDevice: 'gpu' })).toThrow(/mujoco\/hopper has no GPU version/);
    expect(() => resolveDqnConfig(algo, base, { envDevice: 'tpu' as never })).toThrow(/envDevice/);
  });
});
