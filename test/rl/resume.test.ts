import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import type { Algorithm, RunConfig } from '../../rl/harness/types.ts';
import { getAlgorithm } from '../../rl/registry.ts';

beforeAll(async () => {
  await E.init();
});

const load = (f: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(f)), f);

function stripTimes<T extends object>(lines: T[]) {
  return lines.map((l) => {
    const { time_s: _t, sps: _s, ...rest } = l as Record<string, unknown>;
    return rest;
  });
}

async function setup(name: string, values: Record<string, unknown>): Promise<[Algorithm, RunConfig]> {
  const algo = await getAlgorithm(name);
  return [algo, resolveLayers(algo.defaults, algo.schema, [{ source: 'test', values }]) as RunConfig];
}

async function stopAndResume(algo: Algorithm, cfg: RunConfig) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-'));
  const a = path.join(root, 'a'), b = path.join(root, 'b');
  const run = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
  await run(a);
  // The same run stopped after 2 of its iterations (a checkpoint is written there), then resumed.
  await run(b, { maxIterations: 2 });
  const mid = load(path.join(b, 'checkpoint.safetensors'));
  expect(JSON.parse(mid.metadata.state).iteration).toBe(2);
  await run(b, { resume: true });
  const fa = load(path.join(a, 'checkpoint.safetensors'));
  const fb = load(path.join(b, 'checkpoint.safetensors'));
  return { fa, fb, ma: await readMetrics(nodeStorage, a), mb: await readMetrics(nodeStorage, b) };
}

describe('resume', () => {
  // envDevice 'auto' puts PPO on CartPole on the GPU env; the CPU env's resume is checked too.
  it.each(['auto', 'cpu'])('PPO on CartPole (envDevice %s): stop at a checkpoint, resume → the same final parameters, optimizer state, metrics and evaluations', async (envDevice) => {
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', envDevice, seed: 7, numEnvs: 4, numSteps: 32, minibatchSize: 32, updateEpochs: 2, totalSteps: 4 * 128, logEvery: 128, evalEvery: 256, evalEpisodes: 3, lr: 1e-3 });
    const { fa, fb, ma, mb } = await stopAndResume(algo, cfg);
    expect(Object.keys(fb.tensors).sort()).toEqual(Object.keys(fa.tensors).sort());
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.agent.exp_avg_sq.'))).toBe(true);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    const sa = JSON.parse(fa.metadata.state), sb = JSON.parse(fb.metadata.state);
    expect(sb.globalStep).toBe(512);
    expect(sb.rng).toEqual(sa.rng);
    expect(sb.env).toEqual(sa.env);
    expect(ma.train.length).toBe(4);
    expect(stripTimes(mb.train)).toEqual(stripTimes(ma.train));
    // evaluations at steps 256 and 512, greedy, with their own lines
    expect(ma.eval.map((l) => l.step)).toEqual([256, 512]);
    expect(ma.eval[0].returns.length).toBe(3);
    expect(mb.eval).toEqual(ma.eval);
  });

  it('SPRIG on MinAtar Breakout (leader and follower optimizers) resumes exactly too', async () => {
    const [algo, cfg] = await setup('sprig', { env: 'minatar/breakout', preset: 'gymnax', seed: 3, numEnvs: 2, numSteps: 8, minibatchSize: 8, updateEpochs: 1, frameStack: 2, totalSteps: 3 * 16, logEvery: 16, lr: 1e-3 });
    const { fa, fb, ma, mb } = await stopAndResume(algo, cfg);
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.leader.'))).toBe(true);
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.follower.'))).toBe(true);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    expect(stripTimes(mb.train)).toEqual(stripTimes(ma.train));
  });

  it('SPRIG with the exact leader update: the CG warm start is checkpointed, so resume is exact', async () => {
    // 2 CG iterations do not converge, so the warm start changes the result: a resume that lost it would differ.
    const [algo, cfg] = await setup('sprig', { env: 'minatar/breakout', preset: 'gymnax', seed: 5, numEnvs: 2, numSteps: 4, minibatchSize: 8, updateEpochs: 1, frameStack: 2, attnDim: 8, totalSteps: 3 * 8, logEvery: 8, lr: 1e-3, leaderUpdate: 'total', cgIters: 2, cgLambda: 1 });
    const { fa, fb, ma, mb } = await stopAndResume(algo, cfg);
    expect(Object.keys(fa.tensors).filter((k) => k.startsWith('agent.cg_warm_start.')).sort()).toEqual(['agent.cg_warm_start.actor.bias', 'agent.cg_warm_start.actor.weight', 'agent.cg_warm_start.critic.bias', 'agent.cg_warm_start.critic.weight']);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    expect(stripTimes(mb.train)).toEqual(stripTimes(ma.train));
    expect(ma.train.at(-1)!.cg_solves).toBe(3);
    expect(typeof ma.train.at(-1)!.cg_negative_curvature).toBe('number');
  }, 300_000);

  it('a truncated checkpoint gives a clear error on resume', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-bad-'));
    const [algo, cfg] = await setup('ppo', { env: 'cartpole', numEnvs: 2, numSteps: 16, minibatchSize: 16, updateEpochs: 1, totalSteps: 64 });
    (await runSeed({ storage: nodeStorage, dir: root, algo, cfg, maxIterations: 1 })).trainer.dispose();
    const f = path.join(root, 'checkpoint.safetensors');
    const buf = fs.readFileSync(f);
    fs.writeFileSync(f, buf.subarray(0, buf.length >> 1));
    await expect(runSeed({ storage: nodeStorage, dir: root, algo, cfg, resume: true })).rejects.toThrow(/corrupt or truncated/);
  });
});
