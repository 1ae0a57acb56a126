// SAC learns Pendulum within a small budget (clears a uniformly random policy by a clear margin),
// through the run harness; STSAC-AL trains through the same loop (a short run: finite statistics,
// the Stackelberg counters logged, no GPU buffer left behind).
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import { createEnv } from '../../rl/harness/envs.ts';
import { scaleToBox, uniformBox } from '../../rl/harness/policy.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { sac, stsacAl } from '../../rl/sac.ts';
import { stddpgCl } from '../../rl/ddpg.ts';

beforeAll(async () => {
  await E.init();
});

/** Returns of a uniformly random policy on a Box env (16 envs). */
function randomBoxReturns(id: string, episodes: number, seed: number): number[] {
  const env = createEnv(id, { numEnvs: 16, seed });
  const sp = env.actionSpace;
  if (sp.kind !== 'box') throw new Error('box env expected');
  const rng = new Rng(seed), a = new Float32Array(16 * sp.shape[0]), out = new Float32Array(a.length);
  env.reset();
  const rets: number[] = [];
  while (rets.length < episodes) {
    env.step(scaleToBox(uniformBox(16, sp.shape[0], rng, a), sp, 16, out));
    for (const ep of env.completedEpisodes()) rets.push(ep.return);
  }
  return rets.slice(0, episodes);
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('SAC', () => {
  it('learns Pendulum: the deterministic policy after 4,000 env steps beats a random policy by > 600', async () => {
    const cfg = {
      ...sac.defaults, env: 'pendulum', seed: 3, numEnvs: 1, totalSteps: 4000, randomSteps: 500, learningStarts: 500,
      trainFreq: 1, gradientSteps: 1, hidden: [64, 64], batchSize: 64, logEvery: 500,
    };
    const t = new Trainer(sac, cfg);
    const t0 = Date.now();
    await t.train();
    const ev = await t.evaluate(16, { seed: 999 });
    const rand = mean(randomBoxReturns('pendulum', 64, 999));
    console.log(`SAC Pendulum, ${cfg.totalSteps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s: greedy return ${ev.mean_return?.toFixed(0)} vs random ${rand.toFixed(0)}`);
    // Calibration (this config, seed 3, greedy return over 16 episodes every 500 steps; random
    // ≈ −1333): −1469, −1591, −1675, −1349, −1083, −951, −304, −199 at 500 … 4000 steps. The policy
    // takes off between 3,000 and 3,500 steps; at 4,000 the margin (~1,100) is about twice the bar.
    expect(ev.mean_return!).toBeGreaterThan(rand + 600);
    t.agent.dispose();
  }, 1_800_000);

  it('STSAC-AL (released critic target) and STDDPG-CL (default) run through the harness: finite losses, the λ schedule and the negative-curvature counter logged, nothing leaked', async () => {
    const before = E.memory().liveBuffers;
    // STSAC-AL with the released critic target (the quirk's path through the loop), STDDPG-CL with its default.
    for (const [algo, preset] of [[stsacAl, 'released'], [stddpgCl, null]] as const) {
      const lines: Record<string, unknown>[] = [];
      const cfg = {
        ...algo.defaults, ...(preset ? algo.presets[preset] : {}), env: 'pendulum', seed: 1, numEnvs: 1, totalSteps: 60, randomSteps: 30, learningStarts: 30,
        trainFreq: 10, gradientSteps: 2, hidden: [16, 16], batchSize: 16, logEvery: 30, lambda: 10, lambdaDecay: 100,
      };
      const t = new Trainer(algo, cfg, { onLog: (l) => lines.push(l) });
      await t.train();
      const last = lines.at(-1)!;
      for (const k of ['actor_loss', 'critic_loss', 'neg_curvature', 'lambda']) expect(Number.isFinite(last[k] as number)).toBe(true);
      // λ_t = λ·exp(−t/τ) at the last training call (t = the logged env step).
      expect(last.lambda as number).toBeCloseTo(10 * Math.exp(-(last.step as number) / 100), 5);
      t.agent.dispose();
    }
    expect(E.memory().liveBuffers).toBe(before);
  }, 300_000);
});
