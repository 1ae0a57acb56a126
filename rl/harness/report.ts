// Comparison of runs: learning curves (mean and 95% CI across seeds) as SVG+PNG through
// util/plot.ts, and a markdown summary table. Reads runs through a Storage.

import { lineChart, savePlot, type Series } from '../../util/plot.ts';
import { CONFIG_FILE, readMetrics } from './run.ts';
import type { Storage } from './storage.ts';
import type { RunConfig } from './types.ts';

// Mean and 95% Student-t interval from the report's statistics (jstat quantiles, any df); one
// value gives a NaN half-width, read as "no interval".
import { meanCi } from '../report/stats.ts';
export { meanCi };

export interface RunSummary {
  label: string;
  dir: string;
  config: RunConfig;
  seeds: number[];
  /** Per seed: the last logged value of the metric. */
  finals: number[];
  steps: number;
}

async function runInfo(s: Storage, dir: string): Promise<{ label: string; config: RunConfig; seedDirs: string[] }> {
  if (!(await s.exists(dir))) throw new Error(`${dir} does not exist`);
  const seedDirs = (await s.list(dir)).filter((d) => /^seed\d+$/.test(d)).map((d) => s.join(dir, d)).sort();
  if (!seedDirs.length) throw new Error(`${dir}: no seed*/ directories (is it a run directory made by \`train\`?)`);
  const cfgFile = s.join(seedDirs[0], CONFIG_FILE);
  let config: RunConfig;
  try {
    config = JSON.parse(await s.readText(cfgFile)) as RunConfig;
  } catch (e) {
    throw new Error(`${cfgFile}: ${(e as Error).message}`);
  }
  return { label: `${config.algo.toUpperCase()} (${dir.split(/[\\/]/).filter(Boolean).pop()})`, config, seedDirs };
}

/**
 * Plots mean ± 95% CI across seeds of `metric` against env steps for each run; returns a
 * markdown table (and a warning line when the runs are on different envs). A metric no run
 * logged is an error naming the metrics there are.
 */
export async function compareRuns(s: Storage, dirs: string[], o: { out: string; metric?: string; title?: string; labels?: string[]; extraSeries?: Array<{ name: string; x: number[]; y: number[] }> }): Promise<string> {
  const metric = o.metric ?? 'recent_return';
  const series: Series[] = [];
  const rows: RunSummary[] = [];
  const seen = new Set<string>();
  for (const [ri, dir] of dirs.entries()) {
    const { label: auto, config, seedDirs } = await runInfo(s, dir);
    const label = o.labels?.[ri] ?? auto;
    const perSeed = await Promise.all(seedDirs.map(async (d) => (await readMetrics(s, d)).train));
    perSeed.flat().forEach((l) => Object.keys(l).forEach((k) => typeof l[k] === 'number' && seen.add(k)));
    const steps = [...new Set(perSeed.flatMap((m) => m.map((l) => l.step)))].sort((a, b) => a - b);
    const x: number[] = [], y: number[] = [], lo: number[] = [], hi: number[] = [];
    for (const st of steps) {
      const vals = perSeed.map((m) => m.find((l) => l.step === st)?.[metric]).filter((v): v is number => typeof v === 'number');
      if (!vals.length) continue;
      const { mean, ci95 } = meanCi(vals);
      x.push(st), y.push(mean), lo.push(mean - (Number.isFinite(ci95) ? ci95 : 0)), hi.push(mean + (Number.isFinite(ci95) ? ci95 : 0));
    }
    series.push({ name: label, x, y, lo, hi });
    const finals = perSeed.map((m) => {
      for (let i = m.length - 1; i >= 0; i--) if (typeof m[i][metric] === 'number') return m[i][metric] as number;
      return NaN;
    }).filter((v) => Number.isFinite(v));
    rows.push({ label, dir, config, seeds: seedDirs.map((d) => Number(d.split(/[\\/]/).pop()!.slice(4))), finals, steps: Math.max(0, ...perSeed.map((m) => m.at(-1)?.step ?? 0)) });
  }
  if (!rows.some((r) => r.finals.length)) {
    throw new Error(`no run logged the metric '${metric}'; metrics there: ${[...seen].sort().join(', ')}`);
  }
  for (const e of o.extraSeries ?? []) series.push({ name: e.name, x: e.x, y: e.y, dash: [4, 3] });
  const envs = [...new Set(rows.map((r) => `${r.config.env}${r.config.preset ? ` (${r.config.preset})` : ''}`))];
  const env = envs.join(' vs ');
  const spec = lineChart({
    series,
    title: o.title ?? `${env}: ${metric.replace(/_/g, ' ')} (mean and 95% CI across seeds)`,
    xLabel: 'env steps',
    yLabel: metric === 'recent_return' ? 'return (mean of last 20 episodes)' : metric,
    legend: 'bottom',
  });
  await savePlot(spec, o.out);
  const lines = [
    ...(envs.length > 1 ? [`Warning: these runs are on different envs (${envs.join(', ')}); their returns are not comparable.\n`] : []),
    `| run | env | seeds | steps | final ${metric} (mean ± 95% CI) | per seed |`,
    '|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const { mean, ci95, n } = meanCi(r.finals);
      // One seed has no interval: say so rather than print a misleading ± 0.00.
      const cell = n === 0 ? `– (not logged)` : n < 2 ? `${mean.toFixed(2)} (one seed: no interval)` : `${mean.toFixed(2)} ± ${ci95.toFixed(2)}`;
      return `| ${r.label} | ${r.config.env}${r.config.preset ? ` (${r.config.preset})` : ''} | ${r.seeds.join(', ')} | ${r.steps} | ${cell} | ${r.finals.map((v) => v.toFixed(2)).join(', ')} |`;
    }),
  ];
  return lines.join('\n');
}
