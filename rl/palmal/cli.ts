// PAL/MAL runner (Node):
//   npx tsx rl/palmal/cli.ts table  [--runs 5] [--methods implicit,inner-outer,contextual] [--formulations mal,mal-agent,mal-noise,pal] [--out docs/results]
//   npx tsx rl/palmal/cli.ts scale  [--env pendulum|mujoco/hopper] [--algos pal,mal,npg,equal] [--seeds 0,1,2,3,4] [--real-steps 2000] [--steps-per-iter 200] [--equal-steps 5] [--equal-data all|latest] [--out docs/results]
//   npx tsx rl/palmal/cli.ts random [--env pendulum] [--seeds 0,1,2,3,4]   (the random policy's score on the evaluation starts)
//   npx tsx rl/palmal/cli.ts report [--out docs/results]     (tables and figures from the saved JSON)
// `table` runs the four formulations on mdp/three-state with each best-response method and
// writes palmal-table.json; `scale` runs the scalable PAL/MAL/NPG comparison and appends each
// finished seed to palmal-scale.json (a rerun skips the seeds already there); `report` writes
// palmal-table.md, palmal-scale.md and the figures (PNG + SVG) from those files.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import * as E from '../../engine/index.ts';
import { FORMULATIONS, type Formulation } from './games.ts';
import { BEST_RESPONSES, DEFAULTS, trainTabular, type BestResponse, type TabularResult } from './train.ts';
import { randomPolicyReturn, SCALE_ALGOS, SCALE_DEFAULTS, terminationFn, trainScalable, type ScaleAlgo, type ScaleConfig, type ScaleResult } from './scalable.ts';
import { writeReport } from './report.ts';

function list<T extends string>(flag: string, text: string, valid: readonly T[]): T[] {
  const xs = String(text).split(',').map((s) => s.trim());
  for (const x of xs) if (!valid.includes(x as T)) throw new Error(`${flag}: '${x}' is not one of ${valid.join(', ')}`);
  return xs as T[];
}

function ints(flag: string, text: string): number[] {
  return String(text).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: '${s}' is not a non-negative integer`);
    return n;
  });
}

function posInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: '${text}' is not a positive integer`);
  return n;
}

const stamp = () => new Date().toISOString().slice(11, 19);

export async function main(argv = process.argv) {
  const program = new Command('palmal').description('PAL/MAL: the 3-state MDP table and the scalable comparison');
  program
    .command('table')
    .option('--runs <n>', 'independent runs per cell', '5')
    .option('--methods <list>', `best-response methods (${BEST_RESPONSES.join(', ')})`, BEST_RESPONSES.join(','))
    .option('--formulations <list>', `formulations (${FORMULATIONS.join(', ')})`, FORMULATIONS.join(','))
    .option('--steps <n>', 'leader steps', String(DEFAULTS.leaderSteps))
    .option('--seed <n>', 'base seed', '0')
    .option('--alpha <a>', 'α of the MAL fixes', String(DEFAULTS.alpha))
    .option('--out <dir>', 'output folder', 'docs/results')
    .option('--file <name>', 'results file name (report merges every palmal-table*.json)', 'palmal-table.json')
    .action(async (o) => {
      const methods = list('--methods', o.methods, BEST_RESPONSES);
      const forms = list('--formulations', o.formulations, FORMULATIONS);
      const runs = posInt('--runs', o.runs), steps = posInt('--steps', o.steps);
      const alpha = Number(o.alpha);
      if (!(alpha >= 0 && alpha <= 1)) throw new Error(`--alpha: '${o.alpha}' is not a number in [0, 1]`);
      await E.init();
      const file = path.join(o.out, o.file);
      const results: TabularResult[] = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];
      for (const method of methods) for (const formulation of forms) {
        const i = results.findIndex((r) => r.config.method === method && r.config.formulation === formulation && r.config.alpha === alpha);
        const res = await trainTabular({
          ...DEFAULTS, formulation: formulation as Formulation, method: method as BestResponse, runs, leaderSteps: steps, seed: Number(o.seed), alpha,
          onProgress: (m) => console.log(`[${stamp()}] ${m}`),
        });
        if (i >= 0) results[i] = res;
        else results.push(res);
        fs.mkdirSync(o.out, { recursive: true });
        fs.writeFileSync(file, JSON.stringify(results, null, 1));
        console.log(`[${stamp()}] ${formulation} ${method}: ${res.runs.map((r) => r.realReturn.toFixed(2)).join(' ')} (${res.seconds.toFixed(0)} s; CG negative-curvature directions ${res.negativeCurvature})`);
      }
      await writeReport(o.out);
    });
  program
    .command('scale')
    .option('--env <id>', 'environment id (pendulum, mujoco/hopper, …)', SCALE_DEFAULTS.env)
    .option('--algos <list>', `algorithms (${SCALE_ALGOS.join(', ')}; equal: the equal-steps schedule ablation)`, 'pal,mal,npg')
    .option('--seeds <list>', 'seeds', '0,1,2,3,4')
    .option('--real-steps <n>', 'real environment steps per run', String(SCALE_DEFAULTS.realSteps))
    .option('--steps-per-iter <n>', 'real steps collected per model-based iteration', String(SCALE_DEFAULTS.stepsPerIter))
    .option('--pal-buffer <n>', 'PAL (and equal with --equal-data latest): fit on the latest n real steps', String(SCALE_DEFAULTS.palBuffer))
    .option('--equal-steps <n>', 'equal: model updates = policy updates per iteration', String(SCALE_DEFAULTS.equalSteps))
    .option('--equal-data <which>', 'equal: fit on all data or the latest --pal-buffer steps (all, latest)', SCALE_DEFAULTS.equalData)
    .option('--eval-episodes <n>', 'evaluation episodes (fixed start states)', String(SCALE_DEFAULTS.evalEpisodes))
    .option('--out <dir>', 'output folder', 'docs/results')
    .option('--file <name>', 'results file name', 'palmal-scale.json')
    .action(async (o) => {
      const algos = list('--algos', o.algos, SCALE_ALGOS);
      const seeds = ints('--seeds', o.seeds);
      const equalData = list('--equal-data', o.equalData, ['all', 'latest'] as const);
      if (equalData.length !== 1) throw new Error(`--equal-data: give one of all, latest (got '${o.equalData}')`);
      const over = {
        env: String(o.env), realSteps: posInt('--real-steps', o.realSteps), stepsPerIter: posInt('--steps-per-iter', o.stepsPerIter),
        palBuffer: posInt('--pal-buffer', o.palBuffer), equalSteps: posInt('--equal-steps', o.equalSteps), equalData: equalData[0]!,
        evalEpisodes: posInt('--eval-episodes', o.evalEpisodes),
      };
      terminationFn(over.env); // fails now, not after the first seed, for an env without a known rule
      await E.init();
      const file = path.join(o.out, o.file);
      // A run is done when a saved one has the same algorithm, seed and these settings (older files lack the newer keys: defaults).
      const same = (c: Partial<ScaleConfig>, algo: string, seed: number) =>
        c.algo === algo && c.seed === seed && (Object.keys(over) as (keyof typeof over)[]).every((k) => (c[k] ?? SCALE_DEFAULTS[k]) === over[k]);
      for (const seed of seeds) for (const algo of algos) {
        const done: ScaleResult[] = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];
        if (done.some((r) => same(r.config, algo, seed))) continue;
        const res = await trainScalable({ ...SCALE_DEFAULTS, ...over, algo: algo as ScaleAlgo, seed, onProgress: (m) => console.log(`[${stamp()}] ${m}`) });
        // Re-read: another process may have appended meanwhile.
        const now: ScaleResult[] = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];
        now.push(res);
        fs.mkdirSync(o.out, { recursive: true });
        fs.writeFileSync(file, JSON.stringify(now, null, 1));
        console.log(`[${stamp()}] ${algo} seed ${seed}: final ${res.finalReturn.toFixed(1)}, random policy ${res.randomReturn?.toFixed(1)} (${res.seconds.toFixed(0)} s; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')})`);
      }
    });
  program
    .command('random')
    .description("the uniformly random policy's mean return on each seed's evaluation start states (what `scale` records per run)")
    .option('--env <id>', 'environment id', SCALE_DEFAULTS.env)
    .option('--seeds <list>', 'seeds', '0,1,2,3,4')
    .option('--eval-episodes <n>', 'episodes per seed', String(SCALE_DEFAULTS.evalEpisodes))
    .action(async (o) => {
      const seeds = ints('--seeds', o.seeds), n = posInt('--eval-episodes', o.evalEpisodes);
      const xs: number[] = [];
      for (const seed of seeds) xs.push(await randomPolicyReturn(String(o.env), seed, n));
      console.log(`${o.env}: random policy, ${n} episodes per seed: ${xs.map((x) => x.toFixed(1)).join(', ')} (mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)})`);
    });
  program
    .command('report')
    .option('--out <dir>', 'folder with the JSON results', 'docs/results')
    .action(async (o) => {
      await writeReport(o.out);
    });
  await program.parseAsync(argv);
}

const isMain = process.argv[1] && /palmal[\\/]cli\.ts$/.test(process.argv[1]);
if (isMain) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(`palmal: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
