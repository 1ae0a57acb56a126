// Exact resume with the replay buffer: a run stopped at a checkpoint and resumed in a new
// trainer ends bit-identical to the uninterrupted run (parameters, target, optimizer moments,
// replay contents, RNG and env states, every metric and evaluation line except wall-clock
// fields), for DQN (Double Dueling) and SCORER; and checkpoints of other algorithms are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { DqnTrainer, resolveDqnConfig, type DqnConfig, type DqnLogLine, type EvalLine } from '../../rl/dqn.ts';
import '../../rl/scorer.ts';
import { saveSafetensors } from '../../rl/common/safetensors.ts';

beforeAll(async () => {
  await E.init();
});
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dqn-resume-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base: Partial<DqnConfig> = {
  env: 'minatar/breakout', preset: 'gymnax', numEnvs: 2, totalSteps: 480, learningStarts: 160, trainFreq: 4,
  batchSize: 16, bufferSize: 300, targetUpdateEvery: 100, epsDecaySteps: 300, epsEnd: 0.05, epsDecayFrom: 'start',
  optimizer: 'adam', lr: 1e-3, lrDecay: true, maxGradNorm: 0.5, loss: 'mse', hidden: 32,
  evalEvery: 200, evalEpisodes: 2, evalMaxSteps: 50, logEvery: 100,
};

async function snapshot(t: DqnTrainer) {
  const L = t.learner;
  const named = { ...E.namedParams({ p: L.params, t: L.target }) };
  const views: E.Tensor[] = [];
  for (const [on, o] of Object.entries(L.opts)) {
    for (const [n, v] of Object.entries(o.state())) {
      named[`${on}.${n}`] = v;
      views.push(v);
    }
  }
  const vals = await E.readAll(Object.values(named));
  E.dispose(views);
  return Object.fromEntries(Object.keys(named).map((n, i) => [n, Array.from(vals[i])]));
}

const strip = <T extends object>(l: T) => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'time_s' && k !== 'sps'));

describe.each([
  ['dqn', 'dueling-double'],
  ['scorer', 'double'],
] as const)('exact resume (%s / %s)', (algo, variant) => {
  it('stopped at 240 steps and resumed equals the uninterrupted run', async () => {
    const live = E.memory().liveBuffers;
    const cfg = resolveDqnConfig(base, { algo, variant });
    const logsA: DqnLogLine[] = [], evalsA: EvalLine[] = [];
    const a = new DqnTrainer(cfg, { onLog: (l) => logsA.push(l), onEval: (l) => evalsA.push(l) });
    await a.train();

    const dir = path.join(tmp, `${algo}-${variant}`);
    const logsB: DqnLogLine[] = [], evalsB: EvalLine[] = [];
    const b = new DqnTrainer(cfg, { onLog: (l) => logsB.push(l), onEval: (l) => evalsB.push(l) });
    while (b.globalStep < 240) await b.step();
    await b.saveCheckpoint(dir);
    b.dispose();
    const replayBytes = fs.statSync(path.join(dir, 'replay.bin')).size;
    // 240 transitions × (2 × 50 + 9) bytes + a small JSON header.
    expect(replayBytes).toBeGreaterThan(240 * 109);
    expect(replayBytes).toBeLessThan(240 * 109 + 300);
    const c = new DqnTrainer(cfg, { onLog: (l) => logsB.push(l), onEval: (l) => evalsB.push(l) });
    await c.loadCheckpoint(dir);
    await c.train();

    expect(c.globalStep).toBe(a.globalStep);
    expect(c.updates).toBe(a.updates);
    expect(logsB.map(strip)).toEqual(logsA.map(strip));
    expect(evalsB.map(strip)).toEqual(evalsA.map(strip));
    expect(evalsA.length).toBe(3); // at 200, 400 and the end
    expect(await snapshot(c)).toEqual(await snapshot(a));
    expect(Array.from(c.replay.toBytes())).toEqual(Array.from(a.replay.toBytes()));
    expect(c.rng.getState()).toEqual(a.rng.getState());
    expect(c.env.getState()).toEqual(a.env.getState());
    a.dispose();
    c.dispose();
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('checkpoints of other algorithms', () => {
  it('are refused with the algorithm named', async () => {
    const dir = path.join(tmp, 'dqn-small');
    const d = new DqnTrainer(resolveDqnConfig(base, { totalSteps: 20, evalEvery: 0 }));
    await d.train();
    await d.saveCheckpoint(dir);
    d.dispose();
    const s = new DqnTrainer(resolveDqnConfig(base, { algo: 'scorer', totalSteps: 20, evalEvery: 0 }));
    await expect(s.loadCheckpoint(dir)).rejects.toThrow(/is from dqn\/dqn, this run is scorer\/dqn/);
    const ppoDir = path.join(tmp, 'ppo');
    fs.mkdirSync(ppoDir);
    saveSafetensors(path.join(ppoDir, 'checkpoint.safetensors'), { 'params.x': { data: new Float32Array(1), shape: [1] } }, { format: 'stackelberg-gpu/rl-checkpoint/v1', algo: 'ppo' });
    await expect(s.loadCheckpoint(ppoDir)).rejects.toThrow(/not a DQN\/SCORER checkpoint .*algo 'ppo'/);
    s.dispose();
  });
});
