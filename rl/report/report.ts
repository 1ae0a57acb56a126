// The aggregate report over many runs (rliable-style): groups runs by algorithm × task,
// normalises scores against a random policy and a reference agent, and writes IQM / mean /
// median / optimality gap with stratified bootstrap CIs, probabilities of improvement,
// performance profiles and learning curves as SVG/PNG plus report.md and report.json.
// Definitions: docs/report.md. Half-finished sweeps: what is complete is aggregated, the rest
// is listed (with --include-partial, partial runs count with their last score).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { grid, lineChart, savePlot, type Series, type VlSpec } from '../../util/plot.ts';
import { baselineForAsync, readBaselinesFile, taskKey, type Baseline } from './baselines.ts';
import { findRunDirs, finalScore, loadRun, valueAt, type RunData } from './runs.ts';
import {
  AGGREGATES, iqm, linspace, meanCi, normalise, performanceProfileCi, probabilityOfImprovementCi,
  stratifiedBootstrapCi, stratifiedBootstrapCis, type AggregateName, type Interval, type ScoreMatrix,
} from './stats.ts';
import { readManifest, readStatus, cellState, type CellState, type SweepManifest } from '../sweep/manifest.ts';

export interface ReportOptions {
  /** Output folder (report.md, report.json, figures). */
  out: string;
  /** Bootstrap replicates (default 2000). */
  reps?: number;
  /** Bootstrap RNG seed (default 0). */
  seed?: number;
  /** JSON file of per-task random/reference scores overriding the built-in table. */
  baselines?: string;
  /** Aggregate incomplete runs too, with their last score (default: complete runs only). */
  includePartial?: boolean;
  /** Which score a run has: its last evaluation, its last training mean, or eval when every run has one (default 'auto'). */
  source?: 'auto' | 'eval' | 'train';
  /** Write PNGs beside the SVGs (default true). */
  png?: boolean;
  /** Ordered pairs [X, Y] for P(X > Y) (default: every pair of labels, in label order). */
  pairs?: Array<[string, string]>;
  /** Points per learning curve (default 40). */
  curvePoints?: number;
  /** Invoked with progress messages. */
  log?: (msg: string) => void;
}

interface Group {
  label: string;
  algo: string;
  task: string;
  env: string;
  preset: string | null;
  runs: RunData[];
  source: 'eval' | 'train';
}

export interface MissingCell {
  id: string;
  algo: string;
  env: string;
  seed: number;
  state: CellState;
  lastStep: number;
  totalSteps: number;
  note: string;
}

export interface ReportJson {
  generated: string;
  paths: string[];
  options: { reps: number; seed: number; level: number; includePartial: boolean };
  normalised: boolean;
  notNormalisedReason?: string;
  baselines: Record<string, Baseline | null>;
  tasks: string[];
  labels: string[];
  perTask: Array<{ task: string; label: string; source: string; runs: number; scores: number[]; normalised: number[] | null; mean: number; ci95: number; iqm: number; dirs: string[] }>;
  aggregates: Array<{ label: string; tasks: string[]; runs: number; stats: Record<AggregateName, Interval> }>;
  probabilityOfImprovement: Array<{ x: string; y: string; tasks: string[]; poi: Interval }>;
  profiles: Array<{ label: string; tau: number[]; point: number[]; lo: number[]; hi: number[] }>;
  missing: MissingCell[];
  /**
   * The code each group's runs started from, from the sweeps' status files: a short commit,
   * with `+N` when N source files differed from it; a resumed run lists each attempt's. Runs
   * outside a sweep, or from sweeps older than this record, count as unknown.
   */
  codeVersions: Array<{ task: string; label: string; versions: Array<{ code: string; runs: number }>; unknown: number }>;
  files: string[];
}

/** Config keys that do not make a different algorithm variant. */
const NON_VARIANT = new Set(['seed', 'env', 'preset', 'totalSteps', 'logEvery', 'checkpointEvery', 'evalEvery', 'evalEpisodes', 'stopAtReturn', 'algo']);

function variantKey(c: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(c).filter((k) => !NON_VARIANT.has(k)).sort().map((k) => [k, c[k]]));
}

function fmtVal(v: unknown): string {
  return Array.isArray(v) ? v.join('x') : String(v);
}

/**
 * A run's config with the keys its algorithm has since gained filled in from the algorithm's
 * defaults (and its per-env defaults), so a run written before a key existed compares equal to a
 * new run at that key's default instead of being labelled a separate variant. Unknown algorithms
 * (or ones whose module does not load) keep their config as written.
 */
async function filledConfigs(runs: RunData[]): Promise<Map<RunData, Record<string, unknown>>> {
  const out = new Map<RunData, Record<string, unknown>>();
  const { ALGORITHMS } = await import('../registry.ts');
  const algos = new Map<string, { defaults: object; envDefaults?(env: string): object } | null>();
  for (const r of runs) {
    if (!algos.has(r.algo)) {
      const entry = ALGORITHMS.find((a) => a.name === r.algo);
      algos.set(r.algo, entry ? await entry.factory().catch(() => null) as { defaults: object; envDefaults?(env: string): object } | null : null);
    }
    const a = algos.get(r.algo);
    out.set(r, a ? { ...a.defaults, ...(a.envDefaults?.(r.env) ?? {}), ...r.config } : r.config);
  }
  return out;
}

/** The config keys (outside NON_VARIANT) whose values differ among `configs`. */
function differingKeys(configs: Array<Record<string, unknown>>): string[] {
  const keys = new Set(configs.flatMap((c) => Object.keys(c)));
  return [...keys].filter((k) => !NON_VARIANT.has(k) && new Set(configs.map((c) => JSON.stringify(c[k]))).size > 1).sort();
}

/**
 * Labels: the algorithm name (or the sweep's label for a sweep cell), and when one task holds
 * several configurations under one label (a hyperparameter grid in loose runs, or the same
 * algorithm at different settings in two sweeps: STAC at λ = 100 in one and 1000 in another), the
 * keys that differ among them ("ppo (lr=0.001)"), so different settings are never pooled.
 */
function labelRuns(runs: RunData[], manifestLabels: Map<string, string>, configOf: Map<RunData, Record<string, unknown>>): Map<RunData, string> {
  const out = new Map<RunData, string>();
  const cfg = (r: RunData) => configOf.get(r) ?? r.config;
  const byAlgoTask = new Map<string, RunData[]>();
  for (const r of runs) {
    const k = `${r.algo}\u0000${taskKey(r.env, r.preset)}`;
    byAlgoTask.set(k, [...(byAlgoTask.get(k) ?? []), r]);
  }
  for (const group of byAlgoTask.values()) {
    const variants = new Map<string, RunData[]>();
    for (const r of group) variants.set(variantKey(cfg(r)), [...(variants.get(variantKey(cfg(r))) ?? []), r]);
    const differing = variants.size > 1 ? differingKeys([...variants.values()].map((v) => cfg(v[0]))) : [];
    for (const r of group) {
      const m = manifestLabels.get(r.dir);
      if (m) out.set(r, m);
      else out.set(r, differing.length ? `${r.algo} (${differing.map((k) => `${k}=${fmtVal(cfg(r)[k])}`).join(', ')})` : r.algo);
    }
  }
  // Sweep labels are unique within a sweep, not across sweeps: where one label still covers
  // several settings on a task, name the keys that differ (the union over tasks, so a setting
  // gets the same label on every task).
  const byLabel = new Map<string, RunData[]>();
  for (const [r, l] of out) byLabel.set(l, [...(byLabel.get(l) ?? []), r]);
  for (const [label, rs] of byLabel) {
    const perTask = new Map<string, Map<string, Record<string, unknown>>>();
    for (const r of rs) {
      const t = taskKey(r.env, r.preset);
      if (!perTask.has(t)) perTask.set(t, new Map());
      perTask.get(t)!.set(variantKey(cfg(r)), cfg(r));
    }
    const keys = new Set<string>();
    for (const vs of perTask.values()) if (vs.size > 1) for (const k of differingKeys([...vs.values()])) keys.add(k);
    if (!keys.size) continue;
    const ks = [...keys].sort();
    for (const r of rs) out.set(r, `${label} (${ks.map((k) => `${k}=${fmtVal(cfg(r)[k])}`).join(', ')})`);
  }
  return out;
}

function f(x: number, d = 3): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? x.toExponential(2) : x.toFixed(d);
}

function ci(i: Interval, d = 3): string {
  return `${f(i.point, d)} [${f(i.lo, d)}, ${f(i.hi, d)}]`;
}

/** One panel of an interval plot: a point and its CI per label. */
function intervalPanel(rows: Array<{ label: string; point: number; lo: number; hi: number }>, title: string, xTitle: string, labels: string[], ref?: number, domain?: [number, number]): VlSpec {
  const y = { field: 'label', type: 'nominal', title: null, sort: labels };
  const x = { type: 'quantitative', title: xTitle, scale: domain ? { domain } : { zero: false } };
  const layers: VlSpec[] = [
    { mark: { type: 'rule', strokeWidth: 6, opacity: 0.45 }, encoding: { y, x: { field: 'lo', ...x }, x2: { field: 'hi' }, color: { field: 'label', type: 'nominal', legend: null, sort: labels } } },
    { mark: { type: 'tick', thickness: 2, size: 18, color: 'black' }, encoding: { y, x: { field: 'point', ...x } } },
  ];
  if (ref !== undefined) layers.push({ data: { values: [{ r: ref }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#888' }, encoding: { x: { field: 'r', type: 'quantitative' } } });
  return { title, width: 200, height: Math.max(40, 26 * rows.length), data: { values: rows.filter((r) => Number.isFinite(r.point)) }, layer: layers };
}

/** Evenly spaced grid over [lo, hi] of at most n steps (integers). */
function stepGrid(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [hi];
  return [...new Set(linspace(lo, hi, n).map((v) => Math.round(v)))];
}

export async function buildReport(paths: string[], o: ReportOptions): Promise<{ markdown: string; json: ReportJson }> {
  const log = o.log ?? (() => {});
  const reps = o.reps ?? 2000, seed = o.seed ?? 0, level = 0.95;
  const bo = { reps, seed, level };
  if (!paths.length) throw new Error('report: give at least one run directory or sweep root');
  // Sweep manifests: their cells are what is expected; labels come from the sweep.
  const manifests: Array<{ root: string; m: SweepManifest }> = [];
  for (const p of paths) {
    const m = readManifest(p);
    if (m) manifests.push({ root: path.resolve(p), m });
  }
  const manifestLabels = new Map<string, string>();
  for (const { root, m } of manifests) for (const c of m.cells) manifestLabels.set(path.resolve(root, c.runDir), c.label);

  const dirs = findRunDirs(paths);
  if (!dirs.length && !manifests.length) throw new Error(`no runs under ${paths.join(', ')}: a run is a directory with config.json and metrics.jsonl, as train writes`);
  const all = dirs.map(loadRun);
  log(`report: ${all.length} run director${all.length === 1 ? 'y' : 'ies'} found`);
  const missing: MissingCell[] = [];
  const seen = new Set<string>();
  const codeOf = new Map<string, string[]>();
  for (const { root, m } of manifests) {
    for (const c of m.cells) {
      const dir = path.resolve(root, c.runDir);
      seen.add(dir);
      const codes = (readStatus(root, c)?.history ?? []).map((h) => h.code).filter((v) => !!v).map((v) => `${v!.commit.slice(0, 7)}${v!.dirty.length ? `+${v!.dirty.length}` : ''}`);
      if (codes.length) codeOf.set(dir, [...new Set(codes)]);
      const run = all.find((r) => r.dir === dir);
      const st = cellState(root, c, run);
      // A cell whose train exited 0 is finished even if it stopped short of its budget.
      if (st.state === 'done' && run) run.complete = true;
      if (st.state !== 'done') {
        missing.push({ id: c.id, algo: c.algo, env: taskKey(c.env, c.preset), seed: c.seed, state: st.state, lastStep: run?.lastStep ?? 0, totalSteps: c.steps ?? run?.totalSteps ?? NaN, note: st.note });
      }
    }
  }
  for (const r of all) {
    if (!seen.has(r.dir) && !r.complete) {
      missing.push({ id: path.relative(process.cwd(), r.dir), algo: r.algo, env: taskKey(r.env, r.preset), seed: r.seed, state: 'partial', lastStep: r.lastStep, totalSteps: r.totalSteps, note: 'fewer steps logged than the budget' });
    }
  }
  const used = all.filter((r) => (o.includePartial ? r.train.length + r.evals.length > 0 : r.complete));
  const labelOf = labelRuns(used, manifestLabels, await filledConfigs(used));

  // Groups: label × task.
  const groups = new Map<string, Group>();
  for (const r of used) {
    const label = labelOf.get(r)!, task = taskKey(r.env, r.preset);
    const k = `${label}\u0000${task}`;
    if (!groups.has(k)) groups.set(k, { label, algo: r.algo, task, env: r.env, preset: r.preset, runs: [], source: 'train' });
    groups.get(k)!.runs.push(r);
  }
  for (const g of groups.values()) {
    g.runs.sort((a, b) => a.seed - b.seed);
    const wantEval = o.source === 'eval' || ((o.source ?? 'auto') === 'auto' && g.runs.every((r) => r.evals.length > 0));
    g.source = wantEval ? 'eval' : 'train';
    if (o.source === 'eval') {
      const bad = g.runs.filter((r) => !r.evals.length);
      if (bad.length) throw new Error(`--source eval: ${bad.length} run(s) of ${g.label} on ${g.task} have no evaluation lines (e.g. ${bad[0].dir}); train with --set evalEvery=N or use --source train`);
    }
  }
  const labels = [...new Set([...groups.values()].map((g) => g.label))].sort();
  const tasks = [...new Set([...groups.values()].map((g) => g.task))].sort();

  // Baselines per task.
  const user = o.baselines ? readBaselinesFile(o.baselines) : {};
  const baselines: Record<string, Baseline | null> = {};
  const baselineErrors: string[] = [];
  for (const t of tasks) {
    const g = [...groups.values()].find((x) => x.task === t)!;
    try {
      baselines[t] = await baselineForAsync(g.env, g.preset, user);
    } catch (e) {
      // An env this machine cannot build (a missing optional package) still gets its raw scores reported.
      baselines[t] = null;
      baselineErrors.push(`${t}: ${(e as Error).message}`);
    }
  }
  const lacking = tasks.filter((t) => !baselines[t]);
  const normalised = lacking.length === 0;
  const notNormalisedReason = normalised ? undefined
    : `no reference score for ${lacking.join(', ')}: give one with --baselines file.json ({"${lacking[0]}": {"reference": R}})${baselineErrors.length ? `; ${baselineErrors.join('; ')}` : ''}`;
  const aggregateOk = normalised || tasks.length === 1;
  const norm = (task: string, v: number) => (normalised ? normalise(v, baselines[task]!.random, baselines[task]!.reference) : v);

  // Scores.
  const perTask: ReportJson['perTask'] = [];
  const scoreOf = new Map<string, { raw: number[]; norm: number[] }>();
  for (const g of [...groups.values()].sort((a, b) => a.task.localeCompare(b.task) || a.label.localeCompare(b.label))) {
    const raw = g.runs.map((r) => finalScore(r, g.source)).filter((v): v is number => v !== undefined);
    const n = raw.map((v) => norm(g.task, v));
    scoreOf.set(`${g.label}\u0000${g.task}`, { raw, norm: n });
    const mc = meanCi(raw);
    perTask.push({ task: g.task, label: g.label, source: g.source, runs: raw.length, scores: raw, normalised: normalised ? n : null, mean: mc.mean, ci95: mc.ci95, iqm: iqm(raw), dirs: g.runs.map((r) => r.dir) });
  }
  const matrixOf = (label: string, ts: string[]): ScoreMatrix => ts.map((t) => scoreOf.get(`${label}\u0000${t}`)?.norm ?? []).filter((r) => r.length > 0);
  const tasksOf = (label: string) => tasks.filter((t) => (scoreOf.get(`${label}\u0000${t}`)?.norm.length ?? 0) > 0);

  const aggregates: ReportJson['aggregates'] = [];
  const pois: ReportJson['probabilityOfImprovement'] = [];
  const profiles: ReportJson['profiles'] = [];
  if (aggregateOk && labels.length) {
    log('report: bootstrapping aggregates');
    for (const l of labels) {
      const ts = tasksOf(l);
      const m = matrixOf(l, ts);
      if (!m.length) continue;
      aggregates.push({ label: l, tasks: ts, runs: m.reduce((a, r) => a + r.length, 0), stats: stratifiedBootstrapCis(m, AGGREGATES, bo) });
    }
    const pairs: Array<[string, string]> = o.pairs ?? labels.flatMap((x, i) => labels.slice(i + 1).map((y) => [x, y] as [string, string]));
    for (const [x, y] of pairs) {
      for (const l of [x, y]) if (!labels.includes(l)) throw new Error(`--pairs: '${l}' is not an algorithm of these runs (labels: ${labels.join(', ')})`);
      const common = tasksOf(x).filter((t) => tasksOf(y).includes(t));
      if (!common.length) continue;
      pois.push({ x, y, tasks: common, poi: probabilityOfImprovementCi(matrixOf(x, common), matrixOf(y, common), bo) });
    }
    const allScores = aggregates.flatMap((a) => matrixOf(a.label, a.tasks).flat());
    const lo = Math.min(0, ...allScores), hi = Math.max(normalised ? 1 : 0, ...allScores);
    const taus = linspace(lo, hi + (hi - lo) * 0.02, 41);
    for (const a of aggregates) profiles.push({ label: a.label, ...performanceProfileCi(matrixOf(a.label, a.tasks), taus, { ...bo, reps: Math.min(reps, 1000) }) });
  }

  // Figures.
  fs.mkdirSync(o.out, { recursive: true });
  const files: string[] = [];
  const save = async (spec: VlSpec, name: string) => {
    files.push(...(await savePlot(spec, path.join(o.out, name), { png: o.png ?? true })).map((p) => path.relative(o.out, p)));
  };
  const scoreWord = normalised ? 'normalised score' : 'return';
  if (aggregates.length) {
    const panels = (Object.keys(AGGREGATES) as AggregateName[]).map((name) =>
      intervalPanel(aggregates.map((a) => ({ label: a.label, ...a.stats[name] })), name, scoreWord, labels));
    await save(grid(panels, { columns: 2, title: `Aggregate ${scoreWord}s (95% stratified bootstrap CIs)` }), 'aggregate');
  }
  if (pois.length) {
    const rows = pois.map((p) => ({ label: `P(${p.x} > ${p.y})`, ...p.poi }));
    await save({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...intervalPanel(rows, 'Probability of improvement (95% CIs)', 'P(X > Y)', rows.map((r) => r.label), 0.5, [0, 1]) }, 'poi');
  }
  if (profiles.length) {
    const series: Series[] = profiles.map((p) => ({ name: p.label, x: p.tau, y: p.point, lo: p.lo, hi: p.hi }));
    const spec = lineChart({ series, title: `Performance profiles (runs with score > τ; 95% bands)`, xLabel: `${scoreWord} τ`, yLabel: 'fraction of runs > τ', yDomain: [0, 1], legend: 'bottom' });
    // A profile is a step function of τ: draw it as one (lines and bands).
    for (const l of spec.layer as Array<{ mark: Record<string, unknown> }>) l.mark.interpolate = 'step-after';
    await save(spec, 'profiles');
  }
  // Learning curves: per task (raw return, mean ± 95% t-CI across runs), and aggregate IQM of normalised scores.
  const nPts = o.curvePoints ?? 40;
  const curveOf = (r: RunData, src: 'eval' | 'train') => (src === 'eval' ? r.evals : r.train);
  const taskPanels: VlSpec[] = [];
  for (const t of tasks) {
    const series: Series[] = [];
    for (const l of labels) {
      const g = groups.get(`${l}\u0000${t}`);
      if (!g) continue;
      const steps = g.runs.flatMap((r) => curveOf(r, g.source).map((p) => p.step));
      if (!steps.length) continue;
      const x: number[] = [], y: number[] = [], lo: number[] = [], hi: number[] = [];
      for (const s of stepGrid(Math.min(...steps), Math.max(...steps), nPts)) {
        const vals = g.runs.map((r) => valueAt(curveOf(r, g.source), s)).filter((v): v is number => v !== undefined);
        if (!vals.length) continue;
        const mc = meanCi(vals);
        x.push(s), y.push(mc.mean);
        lo.push(Number.isFinite(mc.ci95) ? mc.mean - mc.ci95 : mc.mean), hi.push(Number.isFinite(mc.ci95) ? mc.mean + mc.ci95 : mc.mean);
      }
      series.push({ name: l, x, y, lo, hi });
    }
    if (series.length) {
      const src = [...new Set([...groups.values()].filter((g) => g.task === t).map((g) => g.source))].join('/');
      taskPanels.push(lineChart({ series, title: t, xLabel: 'env steps', yLabel: src === 'eval' ? 'evaluation return' : 'return (last 20 episodes)', width: 320, height: 200, legend: 'bottom' }));
    }
  }
  if (taskPanels.length) await save(grid(taskPanels, { columns: Math.min(3, taskPanels.length), title: 'Learning curves per task (mean and 95% t-interval across runs)' }), 'curves_tasks');
  if (aggregateOk && aggregates.length) {
    const series: Series[] = [];
    for (const a of aggregates) {
      const gs = a.tasks.map((t) => groups.get(`${a.label}\u0000${t}`)!);
      const steps = gs.flatMap((g) => g.runs.flatMap((r) => curveOf(r, g.source).map((p) => p.step)));
      const x: number[] = [], y: number[] = [], lo: number[] = [], hi: number[] = [];
      for (const s of stepGrid(Math.min(...steps), Math.max(...steps), nPts)) {
        const m = gs.map((g) => g.runs.map((r) => valueAt(curveOf(r, g.source), s)).filter((v): v is number => v !== undefined).map((v) => norm(g.task, v))).filter((row) => row.length);
        if (!m.length) continue;
        const i = stratifiedBootstrapCi(m, AGGREGATES.IQM, { ...bo, reps: Math.min(reps, 500) });
        x.push(s), y.push(i.point), lo.push(i.lo), hi.push(i.hi);
      }
      series.push({ name: a.label, x, y, lo, hi });
    }
    await save(lineChart({ series, title: `IQM ${scoreWord} over training (95% stratified bootstrap bands)`, xLabel: 'env steps', yLabel: `IQM ${scoreWord}`, legend: 'bottom' }), 'curves');
  }

  const codeVersions: ReportJson['codeVersions'] = [];
  for (const t of tasks) {
    for (const l of labels) {
      const g = groups.get(`${l}\u0000${t}`);
      if (!g) continue;
      const count = new Map<string, number>();
      let unknown = 0;
      for (const r of g.runs) {
        const codes = codeOf.get(r.dir);
        if (!codes) unknown++;
        else { const k = codes.join(' → '); count.set(k, (count.get(k) ?? 0) + 1); }
      }
      codeVersions.push({ task: t, label: l, versions: [...count].map(([code, runs]) => ({ code, runs })).sort((a, b) => b.runs - a.runs || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0)), unknown });
    }
  }

  const json: ReportJson = {
    generated: new Date().toISOString(), paths, options: { reps, seed, level, includePartial: !!o.includePartial },
    normalised, notNormalisedReason, baselines, tasks, labels, perTask, aggregates, probabilityOfImprovement: pois, profiles, missing, codeVersions, files: [...files, 'report.md', 'report.json'],
  };
  const markdown = renderMarkdown(json, used.length, all.length);
  fs.writeFileSync(path.join(o.out, 'report.json'), JSON.stringify(json, null, 1) + '\n');
  fs.writeFileSync(path.join(o.out, 'report.md'), markdown);
  return { markdown, json };
}

function renderMarkdown(j: ReportJson, used: number, found: number): string {
  const L: string[] = [];
  L.push('# Aggregate report', '');
  L.push(`${found} run director${found === 1 ? 'y' : 'ies'} under ${j.paths.map((p) => `\`${p}\``).join(', ')}; ${used} aggregated (${j.options.includePartial ? 'complete and partial runs' : 'complete runs only'}). ` +
    `Generated ${j.generated} by \`npm run rl -- report\`. Intervals: 95%, percentile bootstrap with ${j.options.reps} stratified replicates (seed ${j.options.seed}); definitions in docs/report.md.`, '');
  L.push('## Normalisation', '');
  if (j.normalised) {
    L.push('normalised score = (score − random) / (reference − random): 0 is a uniformly random policy, 1 the reference agent.', '');
    L.push('| task | random | reference | random source | reference source |', '|---|---|---|---|---|');
    for (const t of j.tasks) { const b = j.baselines[t]!; L.push(`| ${t} | ${f(b.random)} | ${f(b.reference)} | ${b.randomSource} | ${b.referenceSource} |`); }
  } else {
    L.push(`Scores are raw returns (not normalised): ${j.notNormalisedReason}.`);
    if (j.tasks.length > 1) L.push('Aggregates across tasks need normalised scores, so only per-task results are shown.');
  }
  L.push('');
  if (j.aggregates.length) {
    const w = j.normalised ? 'normalised scores' : 'returns';
    L.push(`## Aggregate ${w}`, '', 'Point estimate [95% CI]. Runs of all tasks pooled; the bootstrap resamples runs within each task.', '');
    L.push('| algorithm | tasks | runs | IQM | Mean | Median | Optimality gap |', '|---|---|---|---|---|---|---|');
    for (const a of j.aggregates) L.push(`| ${a.label} | ${a.tasks.length} | ${a.runs} | ${ci(a.stats.IQM)} | ${ci(a.stats.Mean)} | ${ci(a.stats.Median)} | ${ci(a.stats['Optimality gap'])} |`);
    L.push('');
  }
  if (j.probabilityOfImprovement.length) {
    L.push('## Probability of improvement', '', 'P(X > Y): the chance that a run of X on a random task of those both ran scores above a run of Y (ties count ½), averaged over tasks.', '');
    L.push('| X | Y | tasks | P(X > Y) [95% CI] |', '|---|---|---|---|');
    for (const p of j.probabilityOfImprovement) L.push(`| ${p.x} | ${p.y} | ${p.tasks.length} | ${ci(p.poi)} |`);
    L.push('');
  }
  L.push('## Per task', '', 'Raw returns. Score of a run: the mean return of its last evaluation (source eval) or the mean of its last 20 training episodes at its last log line (source train). ± is the 95% Student-t half-width across runs.', '');
  L.push('| task | algorithm | source | runs | mean ± 95% CI | IQM | per run |', '|---|---|---|---|---|---|---|');
  for (const p of j.perTask) {
    const m = p.runs < 2 ? `${f(p.mean, 2)} (one run: no interval)` : `${f(p.mean, 2)} ± ${f(p.ci95, 2)}`;
    L.push(`| ${p.task} | ${p.label} | ${p.source} | ${p.runs} | ${m} | ${f(p.iqm, 2)} | ${p.scores.map((v) => f(v, 2)).join(', ')} |`);
  }
  L.push('');
  const figs = j.files.filter((x) => x.endsWith('.svg'));
  if (figs.length) {
    L.push('## Figures', '');
    for (const x of figs) L.push(`![${x.replace(/\.svg$/, '')}](${x})`, '');
  }
  if (j.codeVersions.some((c) => c.versions.length)) {
    L.push('## Code versions', '', 'The commit each run started from (sweep status files; `+N`: N source files under engine/, kernels/, rl/, games/ differed from it; `a → b`: a resume ran other code). A run reads the working tree when it starts, so runs of one group on different code may differ in rounding or more.', '');
    L.push('| task | algorithm | code (runs) | unknown |', '|---|---|---|---|');
    for (const c of j.codeVersions) L.push(`| ${c.task} | ${c.label} | ${c.versions.map((v) => `${v.code} (${v.runs})`).join(', ') || '—'} | ${c.unknown || ''} |`);
    L.push('');
  }
  L.push('## Missing and incomplete', '');
  if (!j.missing.length) L.push('None: every expected run is complete.');
  else {
    L.push(`${j.missing.length} run(s) not ${j.options.includePartial ? 'complete' : 'in the aggregates'}:`, '');
    L.push('| cell | algorithm | task | seed | state | steps | note |', '|---|---|---|---|---|---|---|');
    for (const c of j.missing) L.push(`| ${c.id} | ${c.algo} | ${c.env} | ${c.seed} | ${c.state} | ${c.lastStep} / ${Number.isFinite(c.totalSteps) ? c.totalSteps : '?'} | ${c.note} |`);
  }
  L.push('');
  return L.join('\n');
}
