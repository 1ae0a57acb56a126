// Evaluation of checkpoints, and comparison of runs: learning curves (mean and 95% CI across
// seeds) as SVG+PNG through util/plot.ts, and a markdown summary table.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { lineChart, savePlot } from '../../util/plot.ts';
import { resolveConfig, type TrainConfig } from './config.ts';
import { checkpointConfig, makeTrainer, readMetrics } from './run.ts';
import { Rng } from './rng.ts';

/** Two-sided 95% Student-t critical values by degrees of freedom (1..30); 1.96 beyond. */
const T95 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Mean and half-width of the 95% t confidence interval (0 for a single value). */
export function meanCi(xs: number[]): { mean: number; ci95: number; n: number } {
  const n = xs.length;
  if (!n) return { mean: NaN, ci95: NaN, n };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: 0, n };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const t = n - 1 < T95.length ? T95[n - 1] : 1.96;
  return { mean, ci95: (t * sd) / Math.sqrt(n), n };
}

export interface EvalResult {
  returns: number[];
  mean: number;
  ci95: number;
  min: number;
  max: number;
}

/** Runs a checkpoint's policy for `episodes` episodes on fresh envs (sampled or greedy actions). */
export async function evaluate(file: string, o: { episodes: number; numEnvs?: number; seed?: number; greedy?: boolean }): Promise<EvalResult> {
  const saved = checkpointConfig(file);
  const numEnvs = o.numEnvs ?? 8;
  const cfg = resolveConfig(saved, { numEnvs, seed: o.seed ?? 12345, numSteps: 1, minibatchSize: 1, checkpointEvery: 0 });
  const t = makeTrainer(cfg);
  await t.loadCheckpoint(file, { weightsOnly: true });
  const rng = new Rng(cfg.seed);
  const returns: number[] = [];
  const actions = new Int32Array(numEnvs);
  const A = t.numActions;
  while (returns.length < o.episodes) {
    const [logits] = await t.forward(t.stack.out, numEnvs);
    for (let i = 0; i < numEnvs; i++) {
      let best = 0, m = -Infinity;
      for (let a = 0; a < A; a++) if (logits[i * A + a] > m) (m = logits[i * A + a]), (best = a);
      if (o.greedy) actions[i] = best;
      else {
        let z = 0;
        const p = Array.from({ length: A }, (_, a) => (z += Math.exp(logits[i * A + a] - m), Math.exp(logits[i * A + a] - m)));
        let u = rng.random() * z;
        actions[i] = A - 1;
        for (let a = 0; a < A; a++) if ((u -= p[a]) < 0) { actions[i] = a; break; }
      }
    }
    const r = t.env.step(actions);
    for (let i = 0; i < numEnvs; i++) t.stack.push(i, r.obs, i, r.done[i] === 1);
    for (const ep of t.env.completedEpisodes()) if (returns.length < o.episodes) returns.push(ep.return);
  }
  t.dispose();
  const { mean, ci95 } = meanCi(returns);
  return { returns, mean, ci95, min: Math.min(...returns), max: Math.max(...returns) };
}

export interface RunSummary {
  label: string;
  dir: string;
  config: TrainConfig;
  seeds: number[];
  /** Per seed: the last logged mean return of the last 20 episodes. */
  finals: number[];
  steps: number;
}

function runLabel(dir: string): { label: string; config: TrainConfig; seedDirs: string[] } {
  const seedDirs = fs.readdirSync(dir).filter((d) => /^seed\d+$/.test(d)).map((d) => path.join(dir, d)).sort();
  if (!seedDirs.length) throw new Error(`${dir}: no seed*/ directories (is it a run directory made by \`train\`?)`);
  const config = JSON.parse(fs.readFileSync(path.join(seedDirs[0], 'config.json'), 'utf8')) as TrainConfig;
  return { label: `${config.algo.toUpperCase()} (${path.basename(dir)})`, config, seedDirs };
}

/** Plots mean ± 95% CI across seeds of `metric` against env steps for each run; returns a markdown table. */
export async function compareRuns(dirs: string[], o: { out: string; metric?: string; title?: string; labels?: string[] }): Promise<string> {
  const metric = o.metric ?? 'recent_return';
  const series = [];
  const rows: RunSummary[] = [];
  for (const [ri, dir] of dirs.entries()) {
    const { label: auto, config, seedDirs } = runLabel(dir);
    const label = o.labels?.[ri] ?? auto;
    const perSeed = seedDirs.map((d) => readMetrics(d));
    const steps = [...new Set(perSeed.flatMap((m) => m.map((l) => l.step)))].sort((a, b) => a - b);
    const x: number[] = [], y: number[] = [], lo: number[] = [], hi: number[] = [];
    for (const s of steps) {
      const vals = perSeed.map((m) => m.find((l) => l.step === s)?.[metric]).filter((v): v is number => typeof v === 'number');
      if (!vals.length) continue;
      const { mean, ci95 } = meanCi(vals);
      x.push(s), y.push(mean), lo.push(mean - ci95), hi.push(mean + ci95);
    }
    series.push({ name: label, x, y, lo, hi });
    const finals = perSeed.map((m) => {
      for (let i = m.length - 1; i >= 0; i--) if (typeof m[i][metric] === 'number') return m[i][metric] as number;
      return NaN;
    }).filter((v) => Number.isFinite(v));
    rows.push({ label, dir, config, seeds: seedDirs.map((d) => Number(path.basename(d).slice(4))), finals, steps: Math.max(0, ...perSeed.map((m) => m.at(-1)?.step ?? 0)) });
  }
  const env = rows[0]?.config.env ?? '';
  const spec = lineChart({
    series,
    title: o.title ?? `${env}: ${metric.replace(/_/g, ' ')} (mean and 95% CI across seeds)`,
    xLabel: 'env steps',
    yLabel: metric === 'recent_return' ? 'return (mean of last 20 episodes)' : metric,
    legend: 'bottom',
  });
  await savePlot(spec, o.out);
  const lines = [
    `| run | env | seeds | steps | final ${metric} (mean ± 95% CI) | per seed |`,
    '|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const { mean, ci95, n } = meanCi(r.finals);
      // One seed has no interval: say so rather than print a misleading ± 0.00.
      const cell = n < 2 ? `${mean.toFixed(2)} (one seed: no interval)` : `${mean.toFixed(2)} ± ${ci95.toFixed(2)}`;
      return `| ${r.label} | ${r.config.env}${r.config.preset ? ` (${r.config.preset})` : ''} | ${r.seeds.join(', ')} | ${r.steps} | ${cell} | ${r.finals.map((v) => v.toFixed(2)).join(', ')} |`;
    }),
  ];
  return lines.join('\n');
}
