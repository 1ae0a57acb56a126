// Learning tests that fit CI: DQN and SCORER (over DQN) beat a uniformly random policy on
// MinAtar Breakout (gymnax preset) by a clear margin at the smallest budget found to do it:
// the minatar-small preset's 10k env steps (eight envs, one update per vector step: 1,125
// updates). Both evaluations at 5k steps are 0 (the greedy policy does not move the paddle
// yet), so 10k is the smallest round budget. They replay seed 0 of the docs/dqn.md runs
// (deterministic), asserting the greedy evaluation at 10k (16 episodes) is at least twice
// the random policy's mean.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { dqnAlgorithms, resolveDqnConfig } from '../../rl/dqn.ts';
import { scorerAlgorithms } from '../../rl/scorer.ts';
import { randomPolicyReturns } from '../../rl/harness/envs.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import type { RunConfig } from '../../rl/harness/types.ts';

beforeAll(async () => {
  await E.init();
});

const random = randomPolicyReturns('minatar/breakout', { preset: 'gymnax', episodes: 200, envSeed: 1, policySeed: 2 });
const randomMean = random.reduce((a, b) => a + b, 0) / random.length;

describe('learning on MinAtar Breakout (minatar-small, 10k env steps, seed 0)', () => {
  it.each([
    ['dqn', dqnAlgorithms.dqn],
    ['scorer-dqn', scorerAlgorithms['scorer-dqn']],
  ])('%s beats the random policy by 2x', async (_name, algo) => {
    expect(randomMean).toBeGreaterThan(0.3);
    expect(randomMean).toBeLessThan(0.7);
    const cfg = resolveDqnConfig(algo, 'minatar-small', { env: 'minatar/breakout', seed: 0 });
    const t = new Trainer(algo, cfg as RunConfig);
    await t.train();
    const ev = t.lastEval!;
    expect(ev.step).toBe(10_000);
    expect(ev.episodes).toBe(16);
    expect(ev.mean_return).toBeGreaterThanOrEqual(2 * randomMean);
    t.dispose();
  }, 1_800_000);
});
