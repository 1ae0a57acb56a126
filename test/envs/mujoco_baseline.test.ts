// The report's random-policy score for a MuJoCo task (rl/report/baselines.ts). MuJoCo's
// WebAssembly module loads asynchronously, so the synchronous measurement used to fail on
// mujoco/* inside `rl report` (the runs were then reported unnormalised unless a random score was
// passed in a baselines file). Checked against a closed form: Reacher-v5's reward is
// −‖fingertip − target‖ − Σa², its episodes are 50 steps, the fingertip is at most 0.21 from the
// origin (arm 0.1 + 0.11) and the target at most 0.2, so a uniform policy on [−1, 1]² has
// E[Σ_t Σa²] = 50·2·⅓ and a mean return in [−50·0.41 − 33.3, −33.3] up to the sampling noise of
// the control cost (100 episodes: σ ≈ 0.3).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { baselineForAsync, measureRandomScore, measureRandomScoreAsync, RANDOM_EPISODES } from '../../rl/report/baselines.ts';
import { buildReport } from '../../rl/report/report.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mujoco-baseline-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CTRL = 50 * 2 * (1 / 3); // expected control cost of one episode
const SIGMA = Math.sqrt(50 * 2 * (1 / 5 - 1 / 9) / RANDOM_EPISODES); // its standard error over the episodes

describe('random-policy score of a MuJoCo task', () => {
  it('the synchronous measurement says what to load first; the async one loads MuJoCo and matches the closed-form bounds', async () => {
    // Fresh worker: the module is not loaded yet.
    expect(() => measureRandomScore('mujoco/reacher')).toThrow(/preloadEnv\('mujoco\/reacher'\)/);
    const r = await measureRandomScoreAsync('mujoco/reacher');
    expect(r).toBeLessThan(-CTRL + 5 * SIGMA);
    expect(r).toBeGreaterThan(-CTRL - 50 * 0.41 - 5 * SIGMA);
    // Deterministic (fixed env and policy seeds), and the sync call works once the module is loaded.
    expect(measureRandomScore('mujoco/reacher')).toBe(r);
  }, 120_000);

  it('baselineForAsync measures only what is missing; rl report normalises a MuJoCo task from a reference alone', async () => {
    const user = { 'mujoco/reacher': { reference: -4 } };
    const b = (await baselineForAsync('mujoco/reacher', null, user))!;
    expect(b.reference).toBe(-4);
    expect(b.randomSource).toMatch(/measured/);
    expect(b.random).toBe(await measureRandomScoreAsync('mujoco/reacher'));
    expect(await baselineForAsync('mujoco/reacher', null, {})).toBeNull(); // no reference known: nothing to measure
    expect(await baselineForAsync('mujoco/reacher', null, { 'mujoco/reacher': { random: -40, reference: -4 } })).toMatchObject({ random: -40, randomSource: 'baselines file' });

    // Two runs with known final evaluations; the report's normalised scores follow from b.random.
    const root = path.join(tmp, 'runs');
    const finals = [-20, -10];
    finals.forEach((f, i) => {
      const dir = path.join(root, 'sac', `seed${i + 1}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ algo: 'sac', env: 'mujoco/reacher', preset: null, seed: i + 1, totalSteps: 100 }));
      fs.writeFileSync(path.join(dir, 'metrics.jsonl'), [
        { kind: 'train', step: 100, recent_return: f },
        { kind: 'eval', step: 100, episodes: 1, mean_return: f, returns: [f] },
      ].map((l) => JSON.stringify(l) + '\n').join(''));
    });
    const bfile = path.join(tmp, 'baselines.json');
    fs.writeFileSync(bfile, JSON.stringify(user));
    const { json } = await buildReport([root], { out: path.join(tmp, 'report'), reps: 200, baselines: bfile, png: false });
    expect(json.baselines['mujoco/reacher']).toMatchObject({ random: b.random, reference: -4 });
    const row = json.perTask.find((p) => p.task === 'mujoco/reacher')!;
    expect(row.normalised).not.toBeNull();
    row.normalised!.forEach((v, i) => expect(v).toBeCloseTo((finals[i] - b.random) / (-4 - b.random), 12));
  }, 120_000);
});
