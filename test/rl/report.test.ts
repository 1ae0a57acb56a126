// The aggregate report end to end on run directories written by the test (known scores), so
// every number can be recomputed here independently: normalised scores, IQM/mean over pooled
// runs, per-task means, probability of improvement by counting pairs, the missing-cell list of
// a half-finished sweep, variant labels, and the figures on disk.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildReport } from '../../rl/report/report.ts';
import { baselineFor, REFERENCE_SCORES } from '../../rl/report/baselines.ts';
import { findRunDirs, loadRun } from '../../rl/report/runs.ts';
import { randomPolicyReturns } from '../../rl/harness/envs.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'report-test-'));
afterAll(() => { if (!process.env.KEEP_REPORT_TMP) fs.rmSync(tmp, { recursive: true, force: true }); else console.log(tmp); });

interface FakeRun {
  algo: string;
  env: string;
  preset?: string;
  seed: number;
  totalSteps?: number;
  /** Final evaluation mean (eval lines at 500 and 1000 steps); undefined = no eval lines. */
  evalFinal?: number;
  /** Final recent_return of the train lines. */
  trainFinal: number;
  lastStep?: number;
  extra?: Record<string, unknown>;
}

function writeRun(dir: string, r: FakeRun) {
  fs.mkdirSync(dir, { recursive: true });
  const total = r.totalSteps ?? 1000, last = r.lastStep ?? total;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ algo: r.algo, env: r.env, preset: r.preset ?? null, seed: r.seed, totalSteps: total, lr: 0.001, ...r.extra }));
  const lines: unknown[] = [];
  for (let s = 250; s <= last; s += 250) {
    lines.push({ kind: 'train', step: s, recent_return: (r.trainFinal * s) / total, episodic_return: 0 });
    if (r.evalFinal !== undefined && s % 500 === 0) {
      const m = (r.evalFinal * s) / total;
      lines.push({ kind: 'eval', step: s, episodes: 2, mean_return: m, returns: [m - 1, m + 1] });
    }
  }
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
}

const iqmHand = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length / 4);
  const mid = s.slice(k, s.length - k);
  return mid.reduce((a, b) => a + b, 0) / mid.length;
};

describe('report over a sweep root', () => {
  const root = path.join(tmp, 'sweep');
  // Scores: cartpole (random 20, reference 500), breakout@gymnax (random 0.5, reference 10).
  const base = { cartpole: { random: 20, reference: 500 }, 'minatar/breakout@gymnax': { random: 0.5, reference: 10 } };
  const cp = { ppo: [500, 260, 380, 140], sprig: [100, 20, 60] };
  const br = { ppo: [5.25, 0.5, 10], sprig: [2.4, 1.45, 3.35] };
  const runs: Array<[string, FakeRun]> = [];
  cp.ppo.forEach((v, s) => runs.push([`ppo/cartpole/seed${s}`, { algo: 'ppo', env: 'cartpole', seed: s, evalFinal: v, trainFinal: v - 5 }]));
  cp.sprig.forEach((v, s) => runs.push([`sprig/cartpole/seed${s}`, { algo: 'sprig', env: 'cartpole', seed: s, evalFinal: v, trainFinal: v - 5 }]));
  br.ppo.forEach((v, s) => runs.push([`ppo/minatar_breakout@gymnax/seed${s}`, { algo: 'ppo', env: 'minatar/breakout', preset: 'gymnax', seed: s, evalFinal: v, trainFinal: 0 }]));
  br.sprig.forEach((v, s) => runs.push([`sprig/minatar_breakout@gymnax/seed${s}`, { algo: 'sprig', env: 'minatar/breakout', preset: 'gymnax', seed: s, evalFinal: v, trainFinal: 0 }]));
  // A fourth sprig breakout seed stopped half-way, and a fifth never started.
  runs.push(['sprig/minatar_breakout@gymnax/seed3', { algo: 'sprig', env: 'minatar/breakout', preset: 'gymnax', seed: 3, evalFinal: 100, trainFinal: 0, lastStep: 500 }]);
  for (const [d, r] of runs) writeRun(path.join(root, d), r);
  const cells = [...runs.map(([d, r]) => ({ d, r })), { d: 'sprig/minatar_breakout@gymnax/seed4', r: { algo: 'sprig', env: 'minatar/breakout', preset: 'gymnax', seed: 4 } as FakeRun }].map(({ d, r }, i) => ({
    index: i, id: d.replace(/\//g, '__'), label: r.algo, algo: r.algo, env: r.env, preset: r.preset ?? null, config: null, seed: r.seed, steps: 1000, set: {},
    outDir: path.dirname(d), runDir: d,
  }));
  fs.writeFileSync(path.join(root, 'sweep.json'), JSON.stringify({ version: 1, name: 't', created: '', source: 't.yaml', retries: 1, cells }));
  // Status files with the code each cartpole ppo attempt ran: seeds 0-1 at commit A, seed 2 at
  // A with two edited source files, seed 3 started at A and resumed at B; sprig has none.
  const A = 'a'.repeat(40), B = 'b'.repeat(40);
  const attempt = (code: { commit: string; dirty: string[] }) => ({ attempt: 1, fromStep: 0, started: '', host: 'h', code });
  const codes = [[attempt({ commit: A, dirty: [] })], [attempt({ commit: A, dirty: [] })], [attempt({ commit: A, dirty: ['rl/x.ts', 'engine/y.ts'] })], [attempt({ commit: A, dirty: [] }), attempt({ commit: B, dirty: [] })]];
  fs.mkdirSync(path.join(root, 'status'), { recursive: true });
  codes.forEach((history, s) => fs.writeFileSync(path.join(root, 'status', `ppo__cartpole__seed${s}.json`), JSON.stringify({ state: 'done', attempts: history.length, exitCode: 0, signal: null, resumedFromStep: 0, history, host: 'h', pid: 1, updated: '' })));
  const bfile = path.join(tmp, 'baselines.json');
  fs.writeFileSync(bfile, JSON.stringify(base));
  const out = path.join(tmp, 'out');
  let result: Awaited<ReturnType<typeof buildReport>>;

  it('builds (figures included)', async () => {
    result = await buildReport([root], { out, reps: 1000, baselines: bfile });
    for (const f of ['aggregate', 'poi', 'profiles', 'curves', 'curves_tasks']) {
      expect(fs.readFileSync(path.join(out, `${f}.svg`), 'utf8')).toMatch(/^<svg/);
      expect(fs.statSync(path.join(out, `${f}.png`)).size).toBeGreaterThan(1000);
    }
    expect(fs.existsSync(path.join(out, 'report.md'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).labels).toEqual(['ppo', 'sprig']);
  }, 60_000);

  it('lists the code each group ran, from the status files', () => {
    const cv = result.json.codeVersions;
    expect(cv.find((c) => c.task === 'cartpole' && c.label === 'ppo')).toEqual({
      task: 'cartpole', label: 'ppo', unknown: 0,
      versions: [{ code: 'aaaaaaa', runs: 2 }, { code: 'aaaaaaa → bbbbbbb', runs: 1 }, { code: 'aaaaaaa+2', runs: 1 }],
    });
    expect(cv.find((c) => c.task === 'cartpole' && c.label === 'sprig')).toEqual({ task: 'cartpole', label: 'sprig', versions: [], unknown: 3 });
    expect(result.markdown).toMatch(/## Code versions[\s\S]*\| cartpole \| ppo \| aaaaaaa \(2\), aaaaaaa → bbbbbbb \(1\), aaaaaaa\+2 \(1\) \|/);
  });

  it('normalised aggregates equal a hand computation over the pooled runs', () => {
    const j = result.json;
    expect(j.normalised).toBe(true);
    const n = (v: number, t: keyof typeof base) => (v - base[t].random) / (base[t].reference - base[t].random);
    for (const algo of ['ppo', 'sprig'] as const) {
      const pooled = [...cp[algo].map((v) => n(v, 'cartpole')), ...br[algo].map((v) => n(v, 'minatar/breakout@gymnax'))];
      const a = j.aggregates.find((x) => x.label === algo)!;
      expect(a.runs).toBe(pooled.length);
      expect(a.stats.IQM.point).toBeCloseTo(iqmHand(pooled), 12);
      expect(a.stats.Mean.point).toBeCloseTo(pooled.reduce((s, v) => s + v, 0) / pooled.length, 12);
      expect(a.stats.IQM.lo).toBeLessThanOrEqual(a.stats.IQM.point);
      expect(a.stats.IQM.hi).toBeGreaterThanOrEqual(a.stats.IQM.point);
    }
    // ppo cartpole normalised: 1, 0.5, 0.75, 0.25 → IQM of those four alone would be 0.625.
    const t = j.perTask.find((p) => p.task === 'cartpole' && p.label === 'ppo')!;
    expect(t.normalised).toEqual([1, 0.5, 0.75, 0.25]);
    expect(t.source).toBe('eval');
    expect(t.mean).toBeCloseTo(320, 12);
  });

  it('probability of improvement counts run pairs per task', () => {
    const p = result.json.probabilityOfImprovement.find((x) => x.x === 'ppo' && x.y === 'sprig')!;
    // cartpole: every ppo run (≥ 140) beats every sprig run (≤ 100) → 1.
    // breakout: ppo 5.25, 0.5, 10 vs sprig 2.4, 1.45, 3.35 → (3 + 0 + 3) / 9 = 2/3.
    expect(p.poi.point).toBeCloseTo((1 + 2 / 3) / 2, 12);
    expect(p.tasks).toEqual(['cartpole', 'minatar/breakout@gymnax']);
  });

  it('--pairs: the reversed pair gives 1 − P; unknown labels are named', async () => {
    const r = await buildReport([root], { out: path.join(tmp, 'out-pairs'), reps: 1000, baselines: bfile, png: false, pairs: [['sprig', 'ppo']] });
    const fwd = result.json.probabilityOfImprovement[0].poi, rev = r.json.probabilityOfImprovement[0];
    expect(rev.x).toBe('sprig');
    expect(rev.poi.point).toBeCloseTo(1 - fwd.point, 12);
    expect(r.json.probabilityOfImprovement.length).toBe(1);
    await expect(buildReport([root], { out: path.join(tmp, 'out-pairs2'), reps: 200, baselines: bfile, png: false, pairs: [['ppo', 'dqn']] })).rejects.toThrow(/--pairs: 'dqn' is not an algorithm of these runs \(labels: ppo, sprig\)/);
  }, 60_000);

  it('lists the partial and the missing cell and leaves them out of the aggregates', () => {
    const ids = result.json.missing.map((m) => `${m.id}:${m.state}`);
    expect(ids).toEqual(['sprig__minatar_breakout@gymnax__seed3:partial', 'sprig__minatar_breakout@gymnax__seed4:missing']);
    expect(result.json.perTask.find((p) => p.task === 'minatar/breakout@gymnax' && p.label === 'sprig')!.runs).toBe(3);
    expect(result.markdown).toMatch(/\| sprig__minatar_breakout@gymnax__seed4 \| sprig \| minatar\/breakout@gymnax \| 4 \| missing \| 0 \/ 1000 \| not started \|/);
  });

  it('--include-partial counts the unfinished run with its last score', async () => {
    const r = await buildReport([root], { out: path.join(tmp, 'out2'), reps: 200, baselines: bfile, includePartial: true, png: false });
    const p = r.json.perTask.find((x) => x.task === 'minatar/breakout@gymnax' && x.label === 'sprig')!;
    expect(p.scores).toEqual([2.4, 1.45, 3.35, 50]); // seed 3's last eval, at step 500: 100·500/1000
  }, 60_000);
});

describe('report on loose run directories', () => {
  it('labels hyperparameter variants, uses training returns without eval lines, and does not normalise without a reference', async () => {
    const d = path.join(tmp, 'loose');
    for (const [lr, vals] of [[0.001, [-300, -200]], [0.01, [-900, -800, -700]]] as const) {
      vals.forEach((v, s) => writeRun(path.join(d, `lr${lr}`, `seed${s}`), { algo: 'ppo', env: 'pendulum', seed: s, trainFinal: v, extra: { lr } }));
    }
    const r = await buildReport([path.join(d, 'lr0.001'), path.join(d, 'lr0.01')], { out: path.join(tmp, 'out3'), reps: 200, png: false });
    expect(r.json.labels).toEqual(['ppo (lr=0.001)', 'ppo (lr=0.01)']);
    expect(r.json.normalised).toBe(false);
    expect(r.json.notNormalisedReason).toMatch(/no reference score for pendulum/);
    const p = r.json.perTask.find((x) => x.label === 'ppo (lr=0.01)')!;
    expect(p.source).toBe('train');
    expect(p.mean).toBeCloseTo(-800, 12);
    // One task: raw-score aggregates are still meaningful, and P(lr=0.001 better) = 1.
    expect(r.json.probabilityOfImprovement[0].poi.point).toBe(1);
  }, 60_000);

  it('two sweeps that give one label to different settings are not pooled; a key a run predates counts as its default', async () => {
    // Sweep A ran STAC at lambda 100, sweep B at lambda 1000, both labelled 'stac' by their own
    // manifests: the report must name lambda instead of pooling the two settings.
    const d = path.join(tmp, 'two-sweeps');
    for (const [name, lambda, vals] of [['a', 100, [10, 20]], ['b', 1000, [300, 400, 500]]] as const) {
      const root = path.join(d, name);
      const cells = vals.map((v, s) => {
        const runDir = `stac/cartpole/seed${s}`;
        writeRun(path.join(root, runDir), { algo: 'stac', env: 'cartpole', seed: s, trainFinal: v, extra: { lambda } });
        return { index: s, id: `stac__cartpole__seed${s}`, label: 'stac', algo: 'stac', env: 'cartpole', preset: null, config: null, seed: s, steps: 1000, set: { lambda }, outDir: 'stac/cartpole', runDir };
      });
      fs.writeFileSync(path.join(root, 'sweep.json'), JSON.stringify({ version: 1, name, created: '', source: `${name}.yaml`, retries: 1, cells }));
    }
    const r = await buildReport([path.join(d, 'a'), path.join(d, 'b')], { out: path.join(tmp, 'out-two'), reps: 200, png: false });
    expect(r.json.labels).toEqual(['stac (lambda=100)', 'stac (lambda=1000)']);
    expect(r.json.perTask.find((p) => p.label === 'stac (lambda=1000)')!.mean).toBeCloseTo(400, 12);
    expect(r.json.perTask.find((p) => p.label === 'stac (lambda=100)')!.runs).toBe(2);

    // Loose PPO runs: one written before clipCoef existed (no key), one at its default 0.2, one
    // at 0.3. The first two are one setting; the third is named.
    const e = path.join(tmp, 'old-keys');
    writeRun(path.join(e, 'old', 'seed0'), { algo: 'ppo', env: 'pendulum', seed: 0, trainFinal: -100 });
    writeRun(path.join(e, 'new', 'seed1'), { algo: 'ppo', env: 'pendulum', seed: 1, trainFinal: -200, extra: { clipCoef: 0.2 } });
    writeRun(path.join(e, 'other', 'seed0'), { algo: 'ppo', env: 'pendulum', seed: 0, trainFinal: -900, extra: { clipCoef: 0.3 } });
    const q = await buildReport([e], { out: path.join(tmp, 'out-old'), reps: 200, png: false });
    expect(q.json.labels).toEqual(['ppo (clipCoef=0.2)', 'ppo (clipCoef=0.3)']);
    expect(q.json.perTask.find((p) => p.label === 'ppo (clipCoef=0.2)')!.scores.sort()).toEqual([-100, -200].sort());
  }, 60_000);

  it('finds runs at any depth and skips report/log folders', () => {
    const dirs = findRunDirs([tmp]);
    expect(dirs.some((x) => x.endsWith(path.join('sweep', 'ppo', 'cartpole', 'seed0')))).toBe(true);
    expect(dirs.some((x) => x.includes(`${path.sep}out${path.sep}`))).toBe(false);
    const run = loadRun(dirs.find((x) => x.endsWith(path.join('sweep', 'ppo', 'cartpole', 'seed1')))!);
    expect(run.evals.map((e) => e.step)).toEqual([500, 1000]);
    expect(run.evals.at(-1)!.value).toBe(260);
    expect(run.complete).toBe(true);
  });

  it('errors name the problem', async () => {
    await expect(buildReport([path.join(tmp, 'nope')], { out: path.join(tmp, 'o4') })).rejects.toThrow(/nope does not exist/);
    fs.mkdirSync(path.join(tmp, 'empty'));
    await expect(buildReport([path.join(tmp, 'empty')], { out: path.join(tmp, 'o6') })).rejects.toThrow(/no runs under .*empty: a run is a directory with config\.json and metrics\.jsonl/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ cartpole: { reference: 'high' } }));
    await expect(buildReport([path.join(tmp, 'sweep')], { out: path.join(tmp, 'o5'), baselines: bad })).rejects.toThrow(/'cartpole.reference' must be a finite number/);
  });
});

describe('baselines', () => {
  it('random score is the measured random-policy mean; the reference is the published one', () => {
    const b = baselineFor('minatar/breakout', 'gymnax')!;
    const r = randomPolicyReturns('minatar/breakout', { preset: 'gymnax', episodes: 100, envSeed: 1, policySeed: 2 });
    expect(b.random).toBeCloseTo(r.reduce((a, v) => a + v, 0) / 100, 12);
    expect(b.reference).toBe(REFERENCE_SCORES['minatar/breakout'].score);
    expect(baselineFor('pendulum', null)).toBeNull();
    expect(baselineFor('pendulum', null, { pendulum: { random: -1200, reference: -150 } })).toMatchObject({ random: -1200, reference: -150 });
  });
});
