// Off-policy Stackelberg runs stopped and resumed: the checkpoint carries the CG warm start (with
// the replay, the optimisers, the negative-curvature counter and the RNGs), so a resumed run
// equals the uninterrupted one bit for bit. One CG iteration at λ = 1 does not converge, so the
// warm start changes every later update: a resume that lost it would differ.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';
import { readMetrics, runSeed } from '../../rl/harness/run.ts';
import type { RunConfig } from '../../rl/harness/types.ts';
import { getAlgorithm } from '../../rl/registry.ts';

beforeAll(async () => {
  await E.init();
});

const load = (f: string) => decodeSafetensors(new Uint8Array(fs.readFileSync(f)), f);
const stripTimes = (lines: object[]) => lines.map((l) => {
  const { time_s: _t, sps: _s, ...rest } = l as Record<string, unknown>;
  return rest;
});

describe('STDDPG / STSAC resume', () => {
  for (const name of ['stddpg-al', 'stsac-cl']) {
    it(`${name} (total rule, 1 CG iteration): the warm start is checkpointed and the resumed run equals the uninterrupted one`, async () => {
      const algo = await getAlgorithm(name);
      const cfg = resolveLayers(algo.defaults, algo.schema, [{
        source: 'test',
        values: {
          env: 'pendulum', seed: 4, totalSteps: 40, randomSteps: 10, learningStarts: 10, trainFreq: 1, gradientSteps: 1,
          batchSize: 8, hidden: [8], criticTarget: 'released', cgIters: 1, lambda: 1, lambdaDecay: 0, logEvery: 5,
        },
      }]) as RunConfig;
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ac-resume-'));
      const a = path.join(root, 'a'), b = path.join(root, 'b');
      const live0 = E.memory().liveBuffers;
      const run = (dir: string, o: object = {}) => runSeed({ storage: nodeStorage, dir, algo, cfg, ...o }).then((r) => r.trainer.dispose());
      await run(a);
      await run(b, { maxIterations: 25 }); // 15 updates, then a checkpoint
      const mid = load(path.join(b, 'checkpoint.safetensors'));
      expect(JSON.parse(mid.metadata.state).iteration).toBe(25);
      const warm = Object.keys(mid.tensors).filter((k) => k.includes('warm.'));
      expect(warm.length).toBeGreaterThan(0);
      expect(warm.some((k) => mid.tensors[k].data.some((v: number) => v !== 0))).toBe(true);
      await run(b, { resume: true });
      expect(E.memory().liveBuffers).toBe(live0);
      const fa = load(path.join(a, 'checkpoint.safetensors')), fb = load(path.join(b, 'checkpoint.safetensors'));
      expect(Object.keys(fb.tensors).sort()).toEqual(Object.keys(fa.tensors).sort());
      for (const k of Object.keys(fa.tensors)) expect(Array.from(fb.tensors[k].data), k).toEqual(Array.from(fa.tensors[k].data));
      const ma = await readMetrics(nodeStorage, a), mb = await readMetrics(nodeStorage, b);
      expect(ma.train.length).toBeGreaterThan(5);
      expect(stripTimes(mb.train)).toEqual(stripTimes(ma.train));
      fs.rmSync(root, { recursive: true, force: true });
    }, 300_000);
  }
});
