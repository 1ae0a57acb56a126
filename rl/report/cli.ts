// `npm run rl -- report <runs or sweep roots...>`: the aggregate report (docs/report.md).
// Registered in rl/cli.ts; also runs on its own (`npx tsx rl/report/cli.ts report …`).

import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';

export function registerReport(program: Command): Command {
  return program
    .command('report')
    .description('aggregate report over runs (a sweep root, run directories, any nesting): IQM/mean with stratified bootstrap CIs, probability of improvement, performance profiles, learning curves; see docs/report.md')
    .argument('<paths...>', 'sweep roots or run directories')
    .option('--out <dir>', 'output folder (default: <path>/report for one path, else ./report)')
    .option('--reps <n>', 'bootstrap replicates', '2000')
    .option('--seed <n>', 'bootstrap seed', '0')
    .option('--baselines <file.json>', 'random/reference scores per task, overriding the built-in table')
    .option('--source <s>', 'run score: auto (last evaluation when every run has one, else training return) | eval | train', 'auto')
    .option('--pairs <list>', 'probability of improvement for these ordered pairs only: "X:Y,X2:Y2" (P(X > Y)); default every pair')
    .option('--include-partial', 'aggregate unfinished runs too (with their last score)', false)
    .option('--no-png', 'SVG only')
    .action(async (paths: string[], o) => {
      const reps = Number(o.reps), seed = Number(o.seed);
      if (!Number.isInteger(reps) || reps < 100) throw new Error(`--reps: expected an integer ≥ 100, got '${o.reps}'`);
      if (!Number.isInteger(seed)) throw new Error(`--seed: expected an integer, got '${o.seed}'`);
      if (!['auto', 'eval', 'train'].includes(o.source)) throw new Error(`--source: '${o.source}' is not one of auto, eval, train`);
      const pairs = o.pairs === undefined ? undefined : String(o.pairs).split(',').map((p: string) => {
        const xy = p.split(':').map((s) => s.trim());
        if (xy.length !== 2 || !xy[0] || !xy[1]) throw new Error(`--pairs: '${p}' is not X:Y (e.g. scorer-dqn:dqn)`);
        return xy as [string, string];
      });
      const out = o.out ?? (paths.length === 1 ? path.join(paths[0], 'report') : 'report');
      // Loaded here, not at the top: `train` shares this CLI and should not pay for Vega.
      const { buildReport } = await import('./report.ts');
      const { markdown, json } = await buildReport(paths, {
        out, reps, seed, baselines: o.baselines, source: o.source, pairs, includePartial: o.includePartial, png: o.png, log: (m) => console.error(m),
      });
      console.log(markdown);
      console.log(`wrote ${path.join(out, 'report.md')}, report.json and ${json.files.filter((f) => f.endsWith('.svg')).length} figure(s) in ${out}`);
    });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const program = new Command().name('report');
  registerReport(program);
  program.parseAsync(process.argv).catch((e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  });
}
