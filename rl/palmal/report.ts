// Tables (Markdown) and figures (util/plot.ts: PNG + SVG) from the saved PAL/MAL results:
//   palmal-table.json  → palmal-table.md, palmal-transitions.{png,svg}, palmal-curves.{png,svg}
//   palmal-scale*.json → palmal-scale.md, palmal-scale.{png,svg}

import * as fs from 'node:fs';
import * as path from 'node:path';
import { grid, lineChart, savePlot, type VlSpec } from '../../util/plot.ts';
import { bestStationary, optimalValue, summary, trueModel } from './tabular.ts';
import type { TabularResult } from './train.ts';
import type { ScaleResult } from './scalable.ts';
import { median, probabilityOfImprovementCi, stratifiedBootstrapCi } from '../report/stats.ts';

/** The poster's numbers (mean ± std of 5 runs, average episode reward). */
export const POSTER: Record<string, [number, number]> = {
  mal: [0.97, 0.05], 'mal-agent': [36.93, 0.57], 'mal-noise': [36.74, 0.67], pal: [36.77, 0.64],
};
export const NAMES: Record<string, string> = {
  mal: 'MAL', 'mal-agent': 'MAL + agent reward', 'mal-noise': 'MAL + random noise', pal: 'PAL',
};
const SA = ['A,X', 'A,Y', 'B,X', 'B,Y'];
const NEXT = ['A', 'B', 'C'];

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const cell = (xs: number[]) => {
  const s = summary(xs);
  return `${f2(s.mean)} ± ${f2(s.std)} [${f2(s.mean - s.ci95)}, ${f2(s.mean + s.ci95)}]`;
};

export function tableMarkdown(results: TabularResult[]): string {
  const opt = optimalValue().value, stat = bestStationary();
  const lines = [
    `Optimal expected episode return by finite-horizon DP: **${opt.toFixed(4)}** (best stationary policy Y in A, Y in B: ${stat.value.toFixed(4)}).`,
    '',
    '| formulation | α | poster (5 runs) | best response | runs | exact J in the real MDP: mean ± std [95% CI] | rollouts in mdp.ts: mean ± std [95% CI] | per-run exact J | ℓ_P on own data | model\'s promise Ĵ | π(Y\\|A), π(Y\\|B) per run | time s |',
    '|---|---:|---|---|---:|---|---|---|---:|---:|---|---:|',
  ];
  for (const r of results) {
    const f = r.config.formulation;
    const [pm, ps] = POSTER[f]!;
    const J = r.runs.map((x) => x.realReturn), mc = r.runs.map((x) => x.mcReturn);
    lines.push([
      NAMES[f], f === 'mal-agent' || f === 'mal-noise' ? r.config.alpha : '–', `${pm} ± ${ps}`,
      r.config.method !== 'inner-outer' ? r.config.method : r.inner ? `inner-outer (to ‖∇₂f₂‖ ≤ ${r.config.innerTol})` : `inner-outer (${r.config.innerSteps} fixed steps)`, r.runs.length, cell(J), cell(mc), J.map(f2).join(', '),
      summary(r.runs.map((x) => x.ellP)).mean.toExponential(1), f2(summary(r.runs.map((x) => x.modelReturn)).mean),
      r.runs.map((x) => `${x.policy[0]![1]!.toFixed(2)}/${x.policy[1]![1]!.toFixed(2)}`).join(' '),
      r.seconds.toFixed(0),
    ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'));
  }
  const io = results.filter((r) => r.inner);
  if (io.length) {
    lines.push('', 'Inner–outer convergence (the follower trained until every run\'s ‖∇₂f₂‖₂ ≤ tol before each leader step and once after the last): follower steps per inner loop (first loop from the random start, then mean and max of the rest), and the largest ‖∇₂f₂‖₂ at the end of any loop.', '');
    lines.push('| formulation | α | tol | first loop steps | later loops: mean / max steps | loops at the cap | largest final ‖∇₂f₂‖₂ |', '|---|---:|---:|---:|---|---:|---:|');
    for (const r of io) {
      const st = r.inner!.steps, rest = st.slice(1);
      const atCap = st.filter((x) => x >= r.config.innerMax).length;
      lines.push(`| ${NAMES[r.config.formulation]} | ${r.config.formulation === 'mal-agent' || r.config.formulation === 'mal-noise' ? r.config.alpha : '–'} | ${r.config.innerTol} | ${st[0]} | ${(rest.reduce((a, b) => a + b, 0) / Math.max(1, rest.length)).toFixed(1)} / ${Math.max(...rest)} | ${atCap} of ${st.length} | ${Math.max(...r.inner!.gradNorm).toExponential(2)} |`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Grouped bars: true vs learned P(s′|s, a) for every (s, a), and the policy's real visitation. */
function transitionsPanel(title: string, run: TabularResult['runs'][number]): VlSpec[] {
  const real = trueModel();
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < 4; i++) {
    const [s, a] = [Math.floor(i / 2), i % 2];
    for (let k = 0; k < 3; k++) {
      rows.push({ sa: SA[i], next: NEXT[k], which: 'true', p: real.P[s]![a]![k] });
      rows.push({ sa: SA[i], next: NEXT[k], which: 'learned', p: run.model.P[s]![a]![k] });
    }
  }
  const trans: VlSpec = {
    title: `${title}: P(s′|s,a), true vs learned`,
    data: { values: rows },
    width: 60,
    height: 120,
    mark: 'bar',
    encoding: {
      column: { field: 'sa', type: 'nominal', title: '(s, a)', sort: SA },
      x: { field: 'next', type: 'nominal', title: 's′', sort: NEXT },
      xOffset: { field: 'which', sort: ['true', 'learned'] },
      y: { field: 'p', type: 'quantitative', title: 'probability', scale: { domain: [0, 1] } },
      color: { field: 'which', type: 'nominal', scale: { domain: ['true', 'learned'], range: ['#7f7f7f', '#d62728'] }, title: null },
    },
  };
  const vis: VlSpec = {
    title: `${title}: visitation μ̄ of the learned policy (real MDP)`,
    data: { values: SA.map((sa, i) => ({ sa, mu: run.visitation[i], r: `r̂ ${run.model.r[Math.floor(i / 2)]![i % 2]!.toFixed(2)} / r̄ ${real.r[Math.floor(i / 2)]![i % 2]!.toFixed(2)}` })) },
    width: 240,
    height: 120,
    layer: [
      { mark: 'bar', encoding: { x: { field: 'sa', type: 'nominal', sort: SA, title: '(s, a)' }, y: { field: 'mu', type: 'quantitative', title: 'μ̄(s, a)', scale: { domain: [0, 1] } } } },
      { mark: { type: 'text', dy: -6, fontSize: 9 }, encoding: { x: { field: 'sa', type: 'nominal', sort: SA }, y: { field: 'mu', type: 'quantitative' }, text: { field: 'r' } } },
    ],
  };
  return [trans, vis];
}

export async function writeReport(dir: string): Promise<string[]> {
  const written: string[] = [];
  const tfiles = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^palmal-table.*\.json$/.test(f)) : [];
  if (tfiles.length) {
    const results: TabularResult[] = tfiles.flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as TabularResult[]);
    const order = ['implicit', 'inner-outer', 'contextual'];
    const forms = ['mal', 'mal-agent', 'mal-noise', 'pal'];
    results.sort((a, b) => order.indexOf(a.config.method) - order.indexOf(b.config.method) || forms.indexOf(a.config.formulation) - forms.indexOf(b.config.formulation) || a.config.alpha - b.config.alpha);
    fs.writeFileSync(path.join(dir, 'palmal-table.md'), tableMarkdown(results));
    written.push(path.join(dir, 'palmal-table.md'));
    // Transitions figure: for each best-response method, the first run of MAL and of PAL.
    const panels: VlSpec[] = [];
    for (const m of order) for (const f of ['mal', 'pal']) {
      const r = results.find((x) => x.config.method === m && x.config.formulation === f);
      if (r) panels.push(...transitionsPanel(`${NAMES[f]} (${m}, run 0, J = ${r.runs[0]!.realReturn.toFixed(2)})`, r.runs[0]!));
    }
    if (panels.length) written.push(...(await savePlot(grid(panels, { columns: 2, title: 'What the model learns: MAL vs PAL on the 3-state MDP' }), path.join(dir, 'palmal-transitions'))));
    // Learning curves: exact real return of the policy vs leader step (mean over runs, min-max band).
    const curvePanels = order.filter((m) => results.some((r) => r.config.method === m)).map((m) => lineChart({
      title: `best response: ${m}`, xLabel: 'leader step', yLabel: 'exact return in the real MDP', width: 260, height: 180, yDomain: [0, 38],
      series: results.filter((r) => r.config.method === m).map((r) => ({
        name: NAMES[r.config.formulation]!,
        x: r.curve.map((c) => c.step),
        y: r.curve.map((c) => summary(c.realReturn).mean),
        lo: r.curve.map((c) => Math.min(...c.realReturn)),
        hi: r.curve.map((c) => Math.max(...c.realReturn)),
      })),
      legend: 'bottom',
    }));
    if (curvePanels.length) written.push(...(await savePlot(grid(curvePanels, { title: 'PAL/MAL on mdp/three-state (mean over runs, band = min..max)' }), path.join(dir, 'palmal-curves'))));
  }
  // Scalable comparison: one table, one figure per env (palmal-scale.png for Pendulum, palmal-scale-<task>.png otherwise).
  const sfiles = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^palmal-scale.*\.json$/.test(f)) : [];
  const scale: ScaleResult[] = sfiles.flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ScaleResult[]);
  if (scale.length) {
    const label = (c: ScaleResult['config']) =>
      c.algo === 'equal' ? `EQUAL ${c.equalSteps}+${c.equalSteps} (${c.equalData === 'latest' ? `latest ${c.palBuffer}` : 'all data'})` : c.algo.toUpperCase();
    const groups = new Map<string, ScaleResult[]>();
    for (const r of scale) {
      const k = `${r.config.env}|${label(r.config)}|${r.config.realSteps}`;
      groups.set(k, [...(groups.get(k) ?? []), r]);
    }
    const lines = [
      '| env | algorithm | real steps | seeds | random policy (mean) | initial eval (mean) | final eval return: mean ± std [95% t-CI] | bootstrap 95% CI of the mean | final − initial: mean [bootstrap 95% CI] | per seed final | mean of the last 3 evals per seed | model one-step MSE / no-change (median) | model rollouts ended by the termination rule (last iteration, mean) | time per seed s |',
      '|---|---|---:|---:|---:|---:|---|---|---|---|---|---:|---:|---:|',
    ];
    const series = new Map<string, { name: string; x: number[]; y: number[]; lo: number[]; hi: number[] }[]>();
    const finals = new Map<string, number[]>();
    const bs = (xs: number[]) => stratifiedBootstrapCi([xs], (m) => m[0]!.reduce((a, b) => a + b, 0) / m[0]!.length, { reps: 2000, seed: 0 });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const [k, rs] of groups) {
      const [env, algo, steps] = k.split('|');
      rs.sort((a, b) => a.config.seed - b.config.seed);
      const fin = rs.map((r) => r.finalReturn), init = rs.map((r) => r.curve[0]!.evalReturn), gain = fin.map((x, i) => x - init[i]!);
      finals.set(k, fin);
      const ci = bs(fin), gi = bs(gain);
      const ratios = rs.flatMap((r) => (r.modelError ?? []).map((e) => e.state / e.noChange));
      const rnd = rs.map((r) => r.randomReturn).filter((x): x is number => Number.isFinite(x));
      const ended = rs.map((r) => r.modelRollout?.[r.modelRollout.length - 1]?.endedFraction).filter((x): x is number => Number.isFinite(x));
      lines.push(`| ${env} | ${algo} | ${steps} | ${rs.length} | ${rnd.length ? f2(mean(rnd)) : '–'} | ${f2(mean(init))} | ${cell(fin)} | [${f2(ci.lo)}, ${f2(ci.hi)}] | ${f2(gi.point)} [${f2(gi.lo)}, ${f2(gi.hi)}] | ${fin.map((x) => x.toFixed(0)).join(', ')} | ${rs.map((r) => (r.curve.slice(-3).reduce((a, c) => a + c.evalReturn, 0) / Math.min(3, r.curve.length)).toFixed(0)).join(', ')} | ${ratios.length ? median(ratios).toFixed(3) : '–'} | ${ended.length && env !== 'pendulum' ? `${(100 * mean(ended)).toFixed(0)} %` : '–'} | ${summary(rs.map((r) => r.seconds)).mean.toFixed(0)} |`);
      // Mean curve over seeds at the common step counts.
      const xs = rs[0]!.curve.map((c) => c.steps);
      const at = (i: number) => rs.map((r) => r.curve[i]?.evalReturn ?? NaN).filter(Number.isFinite);
      series.set(env!, [...(series.get(env!) ?? []), {
        name: `${algo!.replace(/ \d+\+\d+/, '').replace(' (all data)', ' all').replace(/ \(latest \d+\)/, ' latest')}, ${Number(steps) / 1000}k steps`, x: xs, y: xs.map((_, i) => summary(at(i)).mean),
        lo: xs.map((_, i) => { const s = summary(at(i)); return s.mean - (Number.isFinite(s.ci95) ? s.ci95 : 0); }),
        hi: xs.map((_, i) => { const s = summary(at(i)); return s.mean + (Number.isFinite(s.ci95) ? s.ci95 : 0); }),
      }]);
    }
    // Pairwise: probability that a run of X ends above a run of Y (rliable's P(X > Y)), bootstrap CI.
    const pairs: string[] = [];
    for (const [kx, x] of finals) for (const [ky, y] of finals) {
      const [ex, ax, sx] = kx.split('|'), [ey, ay, sy] = ky.split('|');
      if (ex !== ey || sx !== sy || ax! >= ay!) continue;
      const p = probabilityOfImprovementCi([x], [y], { reps: 2000, seed: 0 });
      pairs.push(`| ${ex} | ${sx} | ${ax} > ${ay} | ${p.point.toFixed(2)} [${p.lo.toFixed(2)}, ${p.hi.toFixed(2)}] |`);
    }
    if (pairs.length) lines.push('', '| env | real steps | P(final return of X > of Y) | estimate [bootstrap 95% CI] |', '|---|---:|---|---|', ...pairs);
    fs.writeFileSync(path.join(dir, 'palmal-scale.md'), lines.join('\n') + '\n');
    written.push(path.join(dir, 'palmal-scale.md'));
    const seedCounts = (env: string) => [...new Set([...groups].filter(([k]) => k.startsWith(`${env}|`)).map(([, rs]) => rs.length))].join('/');
    for (const [env, ser] of series) {
      const name = env === 'pendulum' ? 'palmal-scale' : `palmal-scale-${env.replace(/^mujoco\//, '')}`;
      written.push(...(await savePlot(lineChart({ title: `${env}: mean evaluation return over ${seedCounts(env)} seeds (band = 95% t-interval)`, xLabel: 'real environment steps', yLabel: 'evaluation return', series: ser, legend: 'right' }), path.join(dir, name))));
    }
  }
  return written;
}
