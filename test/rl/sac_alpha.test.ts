// SAC's automatic temperature (autoAlpha, CleanRL's autotune): one update's temperature loss
// −log α·mean(log π(ã|s) − dim(A)) and its Adam step on log α, against float64 from the same
// policy outputs and the same noise (the update's ε replayed from the engine's RNG state): α falls
// when the policy's entropy estimate is above the target −dim(A) and rises when it is below.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import * as R from '../ref/index.ts';
import { Rng } from '../../engine/nn/rng.ts';
import { sac } from '../../rl/sac.ts';
import { tanhGaussianPolicy, tanhGaussianLogProbCpu } from '../../rl/continuous.ts';

beforeAll(async () => {
  await E.init();
});

const S = 3, D = 2, B = 8, LR = 0.05;
const spec = { id: 'box2', obsShape: [S], obsSize: S, actionSpace: { kind: 'box' as const, shape: [D], low: [-1, -1], high: [1, 1] }, actionDim: D, numEnvs: 1 };
const obsRow = [0.3, -0.7, 1.1];

/** One autoAlpha update; returns its stats and the float64 expectation from the updated actor and the replayed noise. */
async function oneUpdate(logStdBias?: number) {
  const live0 = E.memory().liveBuffers;
  const agent = sac.create({ ...sac.defaults, hidden: [8], batchSize: B, gradientSteps: 1, totalSteps: 64, autoAlpha: true, alpha: 0.2, alphaLr: LR, seed: 3 }, spec);
  const actor = agent.params.actor as E.Params;
  if (logStdBias !== undefined) {
    // a near-deterministic policy: log σ at its lower bound
    const named = E.namedParams(actor);
    E.scope(() => {
      E.assign(named['logStd.weight'], E.zeros(named['logStd.weight'].shape));
      E.assign(named['logStd.bias'], E.tensor(new Array(D).fill(logStdBias), [D]));
    });
  }
  // every stored transition has the same observation, so the batch is known whatever rows are drawn
  const N = 16;
  agent.observe({
    N,
    obs: Float32Array.from({ length: N * S }, (_, i) => obsRow[i % S]),
    actions: Float32Array.from({ length: N * D }, (_, i) => ((i * 7) % 11) / 11 - 0.5),
    rewards: Float32Array.from({ length: N }, (_, i) => i / N),
    nextObs: Float32Array.from({ length: N * S }, (_, i) => obsRow[i % S] * 0.9),
    terminated: new Uint8Array(N),
    truncated: new Uint8Array(N),
  });
  const rng0 = E.getRngState();
  const stats = await agent.train({ rng: new Rng(5), step: 100, iteration: 0, iterations: 1, wantStats: true });
  // the update's first engine draw is ε of the actor's sample at s (rl/sac.ts train)
  E.setRngState(rng0);
  const pi = tanhGaussianPolicy(S, D, [8]);
  const [m, ls, eps] = E.scope(() => {
    const d = pi.dist(actor, E.tensor(Float32Array.from({ length: B * S }, (_, i) => obsRow[i % S]), [B, S]));
    return E.keep([d.mean, d.logStd, E.randn([B, D])]);
  });
  const [mean, logStd, noise] = await E.readAll([m, ls, eps]);
  E.dispose([m, ls, eps]);
  agent.dispose();
  expect(E.memory().liveBuffers).toBe(live0);
  let meanLogp = 0;
  for (let i = 0; i < B; i++) {
    const mu = Array.from(mean.subarray(i * D, (i + 1) * D)), l = Array.from(logStd.subarray(i * D, (i + 1) * D));
    const u = mu.map((v, j) => v + Math.exp(l[j]) * noise[i * D + j]);
    meanLogp += tanhGaussianLogProbCpu(u, mu, l) / B;
  }
  const la0 = Math.log(0.2);
  const g = -(meanLogp - D); // ∂/∂log α of −log α·mean(log π − dim A)
  return { stats, meanLogp, lossRef: -la0 * (meanLogp - D), alphaRef: Math.exp(la0 - (LR * g) / (Math.abs(g) + 1e-8)) };
}

describe('SAC autoAlpha', () => {
  it('a wide policy (entropy above the target −dim A): the temperature loss matches float64 and α falls by one Adam step', async () => {
    const r = await oneUpdate();
    expect(r.meanLogp).toBeLessThan(D); // entropy estimate −mean log π > −dim(A)
    R.assertClose([r.stats.alpha_loss as number], [r.lossRef], { rtol: 1e-4, atol: 1e-5, label: 'alpha_loss' });
    R.assertClose([r.stats.alpha as number], [r.alphaRef], { rtol: 1e-5, atol: 1e-7, label: 'alpha after the step' });
    expect(r.stats.alpha as number).toBeLessThan(0.2);
  }, 60_000);

  it('a near-deterministic policy (entropy below the target): α rises by one Adam step', async () => {
    const r = await oneUpdate(-50);
    expect(r.meanLogp).toBeGreaterThan(D);
    R.assertClose([r.stats.alpha_loss as number], [r.lossRef], { rtol: 1e-4, atol: 1e-5, label: 'alpha_loss' });
    R.assertClose([r.stats.alpha as number], [r.alphaRef], { rtol: 1e-5, atol: 1e-7, label: 'alpha after the step' });
    expect(r.stats.alpha as number).toBeGreaterThan(0.2);
  }, 60_000);
});
