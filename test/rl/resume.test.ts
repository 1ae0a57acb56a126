import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { resolveConfig, type TrainConfig } from '../../rl/common/config.ts';
import { readMetrics, runSeed } from '../../rl/common/run.ts';
import { loadSafetensors } from '../../rl/common/safetensors.ts';

beforeAll(async () => {
  await E.init();
});

function stripTimes(lines: ReturnType<typeof readMetrics>) {
  return lines.map(({ time_s: _t, sps: _s, ...rest }) => rest);
}

async function stopAndResume(cfg: TrainConfig) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-'));
  const a = path.join(root, 'a'), b = path.join(root, 'b');
  (await runSeed(cfg, a)).dispose();
  // The same run stopped after 2 of its updates (a checkpoint is written there), then resumed.
  (await runSeed(cfg, b, { maxUpdates: 2 })).dispose();
  const mid = loadSafetensors(path.join(b, 'checkpoint.safetensors'));
  expect(JSON.parse(mid.metadata.state).update).toBe(2);
  (await runSeed(cfg, b, { resume: true })).dispose();
  const fa = loadSafetensors(path.join(a, 'checkpoint.safetensors'));
  const fb = loadSafetensors(path.join(b, 'checkpoint.safetensors'));
  return { fa, fb, ma: readMetrics(a), mb: readMetrics(b) };
}

describe('resume', () => {
  it('PPO on CartPole: stop at a checkpoint, resume → the same final parameters, optimizer state and metrics', async () => {
    const cfg = resolveConfig({ algo: 'ppo', env: 'cartpole', seed: 7, numEnvs: 4, numSteps: 32, minibatchSize: 32, updateEpochs: 2, totalSteps: 4 * 128, logEvery: 128, lr: 1e-3 });
    const { fa, fb, ma, mb } = await stopAndResume(cfg);
    expect(Object.keys(fb.tensors).sort()).toEqual(Object.keys(fa.tensors).sort());
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.agent.exp_avg_sq.'))).toBe(true);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    const sa = JSON.parse(fa.metadata.state), sb = JSON.parse(fb.metadata.state);
    expect(sb.globalStep).toBe(512);
    expect(sb.rng).toEqual(sa.rng);
    expect(sb.env).toEqual(sa.env);
    expect(ma.length).toBe(4);
    expect(stripTimes(mb)).toEqual(stripTimes(ma));
  });

  it('SPRIG on MinAtar Breakout (leader and follower optimizers) resumes exactly too', async () => {
    const cfg = resolveConfig({ algo: 'sprig', env: 'minatar/breakout', preset: 'gymnax', seed: 3, numEnvs: 2, numSteps: 8, minibatchSize: 8, updateEpochs: 1, frameStack: 2, totalSteps: 3 * 16, logEvery: 16, lr: 1e-3 });
    const { fa, fb, ma, mb } = await stopAndResume(cfg);
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.leader.'))).toBe(true);
    expect(Object.keys(fa.tensors).some((k) => k.startsWith('optim.follower.'))).toBe(true);
    for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
    expect(stripTimes(mb)).toEqual(stripTimes(ma));
  });

  it('a truncated checkpoint gives a clear error on resume', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'resume-bad-'));
    const cfg = resolveConfig({ algo: 'ppo', env: 'cartpole', numEnvs: 2, numSteps: 16, minibatchSize: 16, updateEpochs: 1, totalSteps: 64 });
    (await runSeed(cfg, root, { maxUpdates: 1 })).dispose();
    const f = path.join(root, 'checkpoint.safetensors');
    const buf = fs.readFileSync(f);
    fs.writeFileSync(f, buf.subarray(0, buf.length >> 1));
    await expect(runSeed(cfg, root, { resume: true })).rejects.toThrow(/corrupt or truncated/);
  });
});
