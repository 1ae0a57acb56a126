// Exact resume with the replay buffer, through the run harness: a run stopped at a checkpoint
// and resumed ends bit-identical to the uninterrupted run (parameters, target networks,
// optimizer moments, replay contents, RNG and env states, every metric and evaluation line
// except wall-clock fields), for DQN (Dueling Double), SCORER (Double) and SCORER with the exact
// Stackelberg update, whose CG warm start (the previous update's solution) rides in the
// checkpoint; a resume that drops that warm start does not reproduce the run, so the check can
// fail. Checkpoints of other algorithms are refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors, encodeSafetensors } from '../../engine/safetensors.ts';
import { dqnAlgorithms, resolveDqnConfig, type DqnConfig } from '../../rl/dqn.ts';
import { scorerAlgorithms } from '../../rl/scorer.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import type { RunConfig } from '../../rl/harness/types.ts';

beforeAll(async () => {
  await E.init();
});
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dqn-resume-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const load = (f: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(f)), f);
const strip = <T extends object>(ls: T[]) => ls.map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'time_s' && k !== 'sps')));

const base: Partial<DqnConfig> = {
  env: 'minatar/breakout', preset: 'gymnax', numEnvs: 2, totalSteps: 480, learningStarts: 160, trainFreq: 2,
  batchSize: 16, bufferSize: 300, targetUpdateEvery: 100, epsDecaySteps: 300, epsEnd: 0.05, epsDecayFrom: 'start',
  optimizer: 'adam', lr: 1e-3, lrDecay: true, maxGradNorm: 0.5, loss: 'mse', hidden: 32, encoder: 'mlp',
  evalEvery: 200, evalEpisodes: 2, logEvery: 100, seed: 5,
};

describe.each([
  ['dueling-double-dqn', dqnAlgorithms['dueling-double-dqn'], {}],
  ['scorer-double-dqn', scorerAlgorithms['scorer-double-dqn'], {}],
  ['scorer-dqn-total', scorerAlgorithms['scorer-dqn'], { leaderUpdate: 'total', cgIters: 2, cgLambda: 1, cgWarmStart: true, hidden: 16, trainFreq: 6 }],
] as const)('exact resume (%s)', (name, algo, extra) => {
  it('stopped at a checkpoint after 120 vector steps and resumed equals the uninterrupted run', async () => {
    const live = E.memory().liveBuffers;
    const cfg = resolveDqnConfig(algo, base, extra) as RunConfig;
    const a = path.join(root, `${name}-a`), b = path.join(root, `${name}-b`);
    const run = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
    await run(a);
    await run(b, { maxIterations: 120 });
    const mid = load(path.join(b, 'checkpoint.safetensors'));
    expect(JSON.parse(mid.metadata.state).globalStep).toBe(240);
    // The replay rides in the checkpoint with its compact dtypes: 240 transitions × 2 × 50 bytes of bit-packed frames.
    expect(mid.tensors['agent.replay.obs'].data).toBeInstanceOf(Uint8Array);
    expect(mid.tensors['agent.replay.obs'].shape).toEqual([240, 50]);
    const warmKeys = Object.keys(mid.tensors).filter((k) => k.startsWith('agent.learner.cg_warm_start.'));
    if (name.endsWith('total')) {
      // One warm-start array per encoder parameter, shaped like it, not all zero.
      const enc = Object.keys(mid.tensors).filter((k) => k.startsWith('params.online.encoder.'));
      expect(warmKeys.map((k) => k.slice('agent.learner.cg_warm_start.'.length)).sort()).toEqual(enc.map((k) => k.slice('params.online.encoder.'.length)).sort());
      for (const k of warmKeys) expect(mid.tensors[k].shape).toEqual(mid.tensors[k.replace('agent.learner.cg_warm_start.', 'params.online.encoder.')].shape);
      expect(warmKeys.some((k) => Array.from(mid.tensors[k].data).some((v) => v !== 0))).toBe(true);
      // The same checkpoint without its warm start: the resumed run must come out different.
      const c = path.join(root, `${name}-c`);
      fs.cpSync(b, c, { recursive: true });
      const noWarm = Object.fromEntries(Object.entries(mid.tensors).filter(([k]) => !warmKeys.includes(k)));
      const agentJson = JSON.parse(mid.metadata.agent);
      agentJson.learner = { cgWarmStart: false };
      fs.writeFileSync(path.join(c, 'checkpoint.safetensors'), encodeSafetensors(noWarm, { ...mid.metadata, agent: JSON.stringify(agentJson) }));
      await run(c, { resume: true });
      const fa = load(path.join(a, 'checkpoint.safetensors')), fc = load(path.join(c, 'checkpoint.safetensors'));
      const head = (f: typeof fa) => Object.keys(f.tensors).filter((k) => k.startsWith('params.online.head.')).sort().flatMap((k) => Array.from(f.tensors[k].data));
      expect(head(fa).length).toBeGreaterThan(0);
      expect(head(fc)).not.toEqual(head(fa));
    } else {
      expect(warmKeys).toEqual([]);
    }
    await run(b, { resume: true });
    const fa = load(path.join(a, 'checkpoint.safetensors')), fb = load(path.join(b, 'checkpoint.safetensors'));
    expect(Object.keys(fb.tensors).sort()).toEqual(Object.keys(fa.tensors).sort());
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('params.target.'))).toBe(true);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    const sa = JSON.parse(fa.metadata.state), sb = JSON.parse(fb.metadata.state);
    expect(sb.globalStep).toBe(480);
    expect(sb.rng).toEqual(sa.rng);
    expect(sb.env).toEqual(sa.env);
    expect(fb.metadata.agent).toEqual(fa.metadata.agent);
    const ma = await readMetrics(nodeStorage, a), mb = await readMetrics(nodeStorage, b);
    expect(strip(mb.train)).toEqual(strip(ma.train));
    expect(ma.eval.map((l) => l.step)).toEqual([200, 400]);
    expect(mb.eval).toEqual(ma.eval);
    expect(ma.train.at(-1)).toHaveProperty(name.startsWith('scorer') ? 'follower_loss' : 'loss');
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('checkpoints of other algorithms', () => {
  it('are refused with both algorithms named', async () => {
    const dqn = dqnAlgorithms.dqn, sc = scorerAlgorithms['scorer-dqn'];
    const dir = path.join(root, 'other');
    const small = { ...base, totalSteps: 20, evalEvery: 0 };
    (await runSeed({ storage: nodeStorage, dir, algo: dqn, cfg: resolveDqnConfig(dqn, small) as RunConfig, maxIterations: 3 })).trainer.dispose();
    const { Trainer } = await import('../../rl/harness/trainer.ts');
    const t = new Trainer(sc, resolveDqnConfig(sc, small) as RunConfig, { storage: nodeStorage });
    await expect(t.loadCheckpoint(path.join(dir, 'checkpoint.safetensors'))).rejects.toThrow(/\(dqn on minatar\/breakout\) does not fit this model \(scorer-dqn on minatar\/breakout\)/);
    t.dispose();
  });
});
