// The DQN/SCORER networks' initialisation as specified for the released code (orthogonal,
// gain √2, the last layer of each stream 0.01, zero biases), checked in float64 on the CPU:
// each weight reshaped to [out, rest] has orthonormal rows (or columns, whichever is fewer)
// times its gain. And the training loop's traffic: no GPU→CPU readback per vector step beyond
// the greedy actions, none at all when every env explores.
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { qNetwork } from '../../rl/dqn/nets.ts';
import { dqnAlgorithms, resolveDqnConfig, type QAgent } from '../../rl/dqn.ts';
import { scorerAlgorithms } from '../../rl/scorer.ts';
import { Trainer } from '../../rl/harness/trainer.ts';
import type { RunConfig } from '../../rl/harness/types.ts';

beforeAll(async () => {
  await E.init();
});

/** max |G − gain²·I| of the Gram matrix over the smaller side of w as [out, rest]. */
function orthoError(w: Float32Array, shape: number[], gain: number): number {
  const r = shape[0], c = w.length / r;
  const n = Math.min(r, c);
  const at = r <= c ? (i: number, k: number) => w[i * c + k] : (i: number, k: number) => w[k * c + i];
  const len = Math.max(r, c);
  let err = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < len; k++) s += at(i, k) * at(j, k);
      err = Math.max(err, Math.abs(s - (i === j ? gain * gain : 0)));
    }
  }
  return err;
}

describe('initialisation (orthogonal, gains √2 and 0.01, zero biases)', () => {
  it.each([
    ['mlp', false, { 'encoder.0': Math.SQRT2, 'encoder.1': Math.SQRT2, 'head.0': Math.SQRT2, 'head.1': 0.01 }],
    ['mlp', true, { 'encoder.0': Math.SQRT2, 'encoder.1': Math.SQRT2, 'head.value.0': Math.SQRT2, 'head.value.1': 0.01, 'head.advantage.0': Math.SQRT2, 'head.advantage.1': 0.01 }],
    ['conv', false, { 'encoder.conv': Math.SQRT2, 'encoder.fc': Math.SQRT2, 'head.0': Math.SQRT2, 'head.1': 0.01 }],
  ] as const)('%s encoder, dueling %s', async (encoder, dueling, gains) => {
    const live = E.memory().liveBuffers;
    const net = qNetwork([10, 10, 4], 6, { encoder, dueling });
    const p = net.init(3);
    const named = E.namedParams(p);
    const vals = await E.readAll(Object.values(named));
    const data = Object.fromEntries(Object.keys(named).map((n, i) => [n, { v: vals[i], shape: named[n].shape }]));
    // Exactly the layers of the spec, each a weight and a bias.
    expect(Object.keys(data).sort()).toEqual(Object.keys(gains).flatMap((l) => [`${l}.bias`, `${l}.weight`]).sort());
    for (const [layer, gain] of Object.entries(gains)) {
      const w = data[`${layer}.weight`], b = data[`${layer}.bias`];
      expect(orthoError(w.v, w.shape, gain), layer).toBeLessThan(1e-4 * Math.max(1, gain * gain));
      expect(Array.from(b.v).every((x) => x === 0), `${layer}.bias`).toBe(true);
    }
    // A different seed gives different weights (the seed reaches every layer).
    const q = net.init(4);
    const w3 = data['encoder.' + (encoder === 'conv' ? 'fc' : '1') + '.weight'].v;
    const w4 = await E.namedParams(q)['encoder.' + (encoder === 'conv' ? 'fc' : '1') + '.weight'].data();
    expect(Array.from(w4)).not.toEqual(Array.from(w3));
    E.dispose([p, q] as E.Tree[]);
    expect(E.memory().liveBuffers).toBe(live);
  });
});

describe('GPU→CPU traffic of the training loop', () => {
  it.each([
    ['dqn', dqnAlgorithms.dqn],
    ['scorer-dqn', scorerAlgorithms['scorer-dqn']],
  ] as const)('%s: one readback per vector step when acting greedily (the actions), none when all explore', async (_n, algo) => {
    const live = E.memory().liveBuffers;
    const base = {
      env: 'minatar/breakout', preset: 'gymnax', numEnvs: 4, learningStarts: 64, batchSize: 16, bufferSize: 500, hidden: 16, encoder: 'mlp',
      trainFreq: 1, totalSteps: 10_000, evalEvery: 0, logEvery: 1_000_000, checkpointEvery: 0, epsDecayFrom: 'start',
    };
    for (const [eps, perStep] of [[0, 1], [1, 0]] as const) {
      const cfg = resolveDqnConfig(algo, base, { epsStart: eps, epsEnd: eps });
      const t = new Trainer(algo, cfg as RunConfig);
      while (t.globalStep < 80) await t.step();
      const agent = t.agent as unknown as QAgent;
      const r0 = E.counters().readbacks, u0 = agent.updates;
      const K = 12;
      for (let k = 0; k < K; k++) await t.step();
      // Every one of these vector steps trained (an update per vector step past the warm-up)...
      expect(agent.updates - u0).toBe(K);
      // ... and read back only the greedy actions.
      expect(E.counters().readbacks - r0, `ε = ${eps}`).toBe(perStep * K);
      t.dispose();
    }
    expect(E.memory().liveBuffers).toBe(live);
  }, 120_000);
});
