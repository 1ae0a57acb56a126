// The Stackelberg actor-critic paper's motivating example (games/toys.ts actorCritic), run on the
// GPU through the engine's real totalDerivative, against a float64 closed-form CPU twin.
//
// The spec's run is 50,000 steps of size 0.01 from (−1, 1). On lavapipe one Stackelberg step is a
// few ms, so the GPU runs here are shorter (300 steps for exactness, 1,500–4,000 for the
// qualitative properties, which already show there); the full 50,000-step horizon is checked on
// the float64 twin, whose agreement with the GPU is asserted on the first 300 steps.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from '../../engine/index.ts';
import { actorCritic, actorCriticStepCpu } from '../../games/toys.ts';
import { play, signChanges, distanceTo, type UpdateRule } from '../../games/game.ts';

beforeAll(async () => {
  await E.init();
});

const LR = 0.01;
const rules: Record<string, { rule: UpdateRule; lambda: number }> = {
  individual: { rule: { kind: 'simultaneous', leaderLr: LR }, lambda: Infinity },
  stackelberg: { rule: { kind: 'stackelberg', leaderLr: LR, lambda: 0, cgIters: 1 }, lambda: 0 },
  'regularised stackelberg': { rule: { kind: 'stackelberg', leaderLr: LR, lambda: 0.04, cgIters: 1 }, lambda: 0.04 },
};

function cpuRun(n: number, lambda: number, entropy = 0) {
  let th = -1, w = 1;
  const thetas = [th], ws = [w];
  for (let k = 0; k < n; k++) {
    [th, w] = actorCriticStepCpu(th, w, LR, lambda, entropy);
    thetas.push(th);
    ws.push(w);
  }
  return { thetas, ws };
}

async function gpuRun(rule: UpdateRule, n: number, entropy = 0, recordEvery = 1) {
  const game = actorCritic({ entropy });
  const start = game.init();
  const before = E.memory().liveBuffers;
  const t = await play(game, start, rule, n, { recordEvery });
  E.dispose([start, t.final]);
  expect(E.memory().liveBuffers).toBe(before - 2);
  return t;
}

describe('actor-critic motivating example', () => {
  for (const [name, { rule, lambda }] of Object.entries(rules)) {
    it(`${name}: the GPU dynamics equal the float64 closed form for 300 steps`, async () => {
      const t = await gpuRun(rule, 300);
      const ref = cpuRun(300, lambda);
      let worst = 0;
      t.iters.forEach((k, i) => {
        worst = Math.max(worst, Math.abs(t.leader[i][0] - ref.thetas[k]), Math.abs(t.follower[i][0] - ref.ws[k]));
      });
      expect(worst).toBeLessThan(2e-4);
    });
  }

  it('individual gradient play cycles: θ changes sign again and again (GPU 4,000 steps; float64 50,000)', async () => {
    const t = await gpuRun(rules.individual.rule, 4000, 0, 5);
    const gpuFlips = signChanges(t.leader.map((v) => v[0]));
    const cpu = cpuRun(50_000, Infinity);
    const cpuFlips = signChanges(cpu.thetas);
    console.log(`individual play: θ sign changes ${gpuFlips} in 4,000 GPU steps, ${cpuFlips} in 50,000 float64 steps`);
    expect(gpuFlips).toBeGreaterThanOrEqual(2);
    expect(cpuFlips).toBeGreaterThanOrEqual(10);
    // The GPU run sits on the float64 trajectory (a cycle, not drift from rounding).
    expect(Math.abs(t.leader.at(-1)![0] - cpu.thetas[4000])).toBeLessThan(5e-3);
  });

  it('the Stackelberg gradient goes to (0, 0) without cycling (GPU 1,500 steps; float64 50,000)', async () => {
    const t = await gpuRun(rules.stackelberg.rule, 1500, 0, 5);
    const th = t.leader.map((v) => v[0]);
    expect(signChanges(th)).toBe(0);
    const d = distanceTo(t, { leader: [0], follower: [0] });
    for (let i = 1; i < d.length; i++) expect(d[i]).toBeLessThanOrEqual(d[i - 1] + 1e-6);
    const ind = cpuRun(1500, Infinity);
    const dInd = Math.hypot(ind.thetas[1500], ind.ws[1500]);
    console.log(`distance to (0,0) after 1,500 steps: Stackelberg ${d.at(-1)!.toFixed(4)} vs individual ${dInd.toFixed(4)}`);
    expect(d.at(-1)!).toBeLessThan(dInd);
    const cpu = cpuRun(50_000, 0);
    expect(signChanges(cpu.thetas)).toBe(0);
    expect(Math.hypot(cpu.thetas.at(-1)!, cpu.ws.at(-1)!)).toBeLessThan(0.05);
    // Regularised (λ = 0.04): also no cycling on the full horizon.
    const reg = cpuRun(50_000, 0.04);
    expect(signChanges(reg.thetas)).toBeLessThanOrEqual(1);
    expect(Math.hypot(reg.thetas.at(-1)!, reg.ws.at(-1)!)).toBeLessThan(0.05);
  });

  it('entropy-regularised (SAC-style) variant: individual play stops cycling too', async () => {
    const t = await gpuRun(rules.individual.rule, 1000, 0.5, 5);
    const ref = cpuRun(1000, Infinity, 0.5);
    expect(Math.abs(t.leader.at(-1)![0] - ref.thetas[1000])).toBeLessThan(1e-3);
    const ind = cpuRun(50_000, Infinity, 0.5), st = cpuRun(50_000, 0, 0.5);
    expect(signChanges(ind.thetas)).toBeLessThanOrEqual(1);
    expect(Math.hypot(ind.thetas.at(-1)!, ind.ws.at(-1)!)).toBeLessThan(0.05);
    expect(Math.hypot(st.thetas.at(-1)!, st.ws.at(-1)!)).toBeLessThan(0.05);
  });
});
