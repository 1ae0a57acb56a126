// The Stackelberg actor-critic paper's Figure 1, reproduced: vector fields of the actor-critic
// motivating example with trajectories for individual, Stackelberg and regularised Stackelberg
// play, and the distance to the equilibrium over iterations; then the same for the
// entropy-regularised (SAC-style) variant.
//
//   npx tsx games/figures.ts [--out out/figures] [--iters 50000] [--engine gpu|cpu]
//
// The default folder is out/figures (not tracked); the committed figures in docs/figures are
// replaced only when asked: `--out docs/figures`. Before the runs start it times a short
// calibration run and prints an estimate of the whole job (about a quarter of an hour for the
// default 5 × 50,000 GPU steps on a 2-core lavapipe machine), and each run's progress line
// carries the time left.
// Trajectories are run by the engine on the GPU (the real totalDerivative, CG with one iteration,
// which is exact for the one-dimensional critic); `--engine cpu` uses the float64 closed-form twin
// instead (a quick preview; the tests assert the two agree). The arrows are the float64 field.

import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import * as E from '../engine/index.ts';
import { actorCritic, actorCriticStepCpu } from './toys.ts';
import { play, signChanges, distanceTo, type UpdateRule, type Trajectory } from './game.ts';
import { vectorField, lineChart, grid, savePlot, type Series } from '../util/plot.ts';

const LR = 0.01;

interface Run {
  name: string;
  lambda: number; // Infinity = individual gradient
  color: string;
}

const RUNS: Run[] = [
  { name: 'individual', lambda: Infinity, color: '#d62728' },
  { name: 'Stackelberg', lambda: 0, color: '#1f77b4' },
  { name: 'Stackelberg λ=0.04', lambda: 0.04, color: '#2ca02c' },
];

/** Steps of every run of this invocation, for the time-left estimate. */
const progress = { total: 0, done: 0, t0: 0, msPerStep: 0 };

function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 90 ? `${Math.round(s / 60)} min` : `${s} s`;
}

function timeLeft(): string {
  const elapsed = performance.now() - progress.t0;
  const rate = progress.done > 0 ? elapsed / progress.done : progress.msPerStep;
  return fmtDuration(rate * (progress.total - progress.done));
}

function ruleOf(r: Run): UpdateRule {
  return Number.isFinite(r.lambda)
    ? { kind: 'stackelberg', leaderLr: LR, lambda: r.lambda, cgIters: 1 }
    : { kind: 'simultaneous', leaderLr: LR };
}

/** Records every `every` steps of the float64 twin. */
function cpuTrajectory(iters: number, lambda: number, entropy: number, every: number): Trajectory {
  let th = -1, w = 1;
  const t: Trajectory = { iters: [0], leader: [[th]], follower: [[w]], final: null as never };
  for (let k = 1; k <= iters; k++) {
    [th, w] = actorCriticStepCpu(th, w, LR, lambda, entropy);
    if (k % every === 0 || k === iters) {
      t.iters.push(k);
      t.leader.push([th]);
      t.follower.push([w]);
    }
  }
  return t;
}

async function trajectory(engine: string, iters: number, run: Run, entropy: number, every: number): Promise<Trajectory> {
  if (engine === 'cpu') return cpuTrajectory(iters, run.lambda, entropy, every);
  const game = actorCritic({ entropy });
  const start = game.init();
  const t0 = performance.now();
  const before = progress.done;
  const t = await play(game, start, ruleOf(run), iters, {
    recordEvery: every,
    readEvery: 200,
    onProgress: (k) => {
      progress.done = before + k;
      process.stderr.write(`\r  ${run.name}${entropy ? ' (entropy)' : ''}: ${k}/${iters}, about ${timeLeft()} left in all   `);
    },
  });
  progress.done = before + iters;
  process.stderr.write(`\r  ${run.name}${entropy ? ' (entropy)' : ''}: ${iters} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s${' '.repeat(24)}\n`);
  E.dispose([start, t.final]);
  return t;
}

/** One figure: a field panel per run, then the distance-to-equilibrium panel. */
async function figure(engine: string, iters: number, entropy: number, runs: Run[], title: string) {
  const every = Math.max(1, Math.floor(iters / 2000));
  const trajs: Trajectory[] = [];
  for (const r of runs) trajs.push(await trajectory(engine, iters, r, entropy, every));
  const dom: [number, number] = [-1.5, 1.5];
  const fields = runs.map((r, i) =>
    vectorField({
      title: `${r.name}${entropy ? ` (entropy α=${entropy})` : ''}`,
      xLabel: 'actor θ', yLabel: 'critic w', xDomain: dom, yDomain: dom, gridSize: 16, width: 260, height: 260,
      field: (th, w) => {
        const [t2, w2] = actorCriticStepCpu(th, w, 1, r.lambda, entropy);
        return [t2 - th, w2 - w];
      },
      trajectories: [{ name: r.name, x: trajs[i].leader.map((v) => v[0]), y: trajs[i].follower.map((v) => v[0]) }],
      colors: { [r.name]: r.color },
      points: [{ x: -1, y: 1, label: 'start', shape: 'square' }, { x: 0, y: 0, label: 'equilibrium', shape: 'diamond', color: '#000' }],
      legend: 'none',
    }),
  );
  const series: Series[] = runs.map((r, i) => ({ name: r.name, x: trajs[i].iters, y: distanceTo(trajs[i], { leader: [0], follower: [0] }) }));
  const dist = lineChart({
    title: 'distance to (0, 0)', xLabel: 'iteration', yLabel: '‖(θ, w)‖', logY: true, width: 300, height: 260, series,
    colors: Object.fromEntries(runs.map((r) => [r.name, r.color])), legend: 'bottom',
  });
  const summary = runs.map((r, i) => ({
    run: r.name,
    signChangesTheta: signChanges(trajs[i].leader.map((v) => v[0])),
    finalDistance: series[i].y[series[i].y.length - 1],
  }));
  return { spec: grid([...fields, dist], { title }), summary };
}

/** ms per GPU step of the figure's update rules, from a short run of the costliest one (Stackelberg). */
async function calibrate(steps: number): Promise<number> {
  const game = actorCritic({ entropy: 0 });
  const start = game.init();
  const run = RUNS[1];
  await play(game, start, ruleOf(run), 20, { readEvery: 200 }).then((t) => E.dispose(t.final));
  const t0 = performance.now();
  const t = await play(game, start, ruleOf(run), steps, { recordEvery: Math.max(1, Math.floor(steps / 10)), readEvery: 200 });
  const ms = (performance.now() - t0) / steps;
  E.dispose([start, t.final]);
  return ms;
}

async function main() {
  const cmd = new Command()
    .option('--out <dir>', 'output folder (docs/figures replaces the committed figures)', 'out/figures')
    .option('--iters <n>', 'iterations per run (the paper: 50000)', '50000')
    .option('--engine <gpu|cpu>', 'run trajectories on the GPU engine or the float64 twin', 'gpu')
    .parse();
  const o = cmd.opts<{ out: string; iters: string; engine: string }>();
  const iters = Number(o.iters);
  if (!Number.isInteger(iters) || iters < 1) throw new Error(`--iters must be a positive integer, got ${JSON.stringify(o.iters)}`);
  if (o.engine !== 'gpu' && o.engine !== 'cpu') throw new Error(`--engine must be gpu or cpu, got ${JSON.stringify(o.engine)}`);
  mkdirSync(o.out, { recursive: true });
  progress.total = iters * (RUNS.length + 2);
  if (o.engine === 'gpu') {
    const rt = await E.init();
    const calib = Math.min(300, iters);
    progress.msPerStep = await calibrate(calib);
    const adapter = rt.info.adapterInfo.description || rt.info.adapterInfo.device || 'this adapter';
    console.error(
      `figures: ${RUNS.length + 2} runs × ${iters} steps on the GPU engine (${adapter}); at ${progress.msPerStep.toFixed(2)} ms per step ` +
        `(a ${calib}-step calibration) that is about ${fmtDuration(progress.msPerStep * progress.total)}. ` +
        `--engine cpu (float64 twin) takes seconds; --iters N shortens the runs. Writing to ${o.out}/`,
    );
  }
  progress.t0 = performance.now();
  const engineNote = o.engine === 'gpu' ? 'GPU engine' : 'float64 twin';
  const a = await figure(o.engine, iters, 0, RUNS, `Actor-critic example: J = wθ (actor), L = (wθ + θ²/5)² (critic); step ${LR}, ${iters} iterations (${engineNote})`);
  console.log(await savePlot(a.spec, `${o.out}/actor-critic`), a.summary);
  const b = await figure(o.engine, iters, 0.5, RUNS.slice(0, 2), `Entropy-regularised actor: J = wθ − 0.25θ²; ${iters} iterations (${engineNote})`);
  console.log(await savePlot(b.spec, `${o.out}/actor-critic-entropy`), b.summary);
}

await main();
