// The training CLI:
//   tsx rl/cli.ts train --algo ppo|sprig --env <id> [--preset gymnax] [--config fast] --steps N --seeds 0,1,2 --out runs/<name> [--resume] [--set key=value ...]
//   tsx rl/cli.ts eval --checkpoint runs/<name>/seed0/checkpoint.safetensors [--episodes 20]
//   tsx rl/cli.ts compare runs/a runs/b --out plots/a_vs_b [--metric recent_return]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import * as E from '../engine/index.ts';
import { DEFAULTS, PRESETS, parseValue, resolveConfig, type TrainConfig } from './common/config.ts';
import { checkpointConfig, makeTrainer, runSeed, seedDir } from './common/run.ts';
import { compareRuns, evaluate } from './common/report.ts';

function parseSets(sets: string[]): Partial<TrainConfig> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i < 0) throw new Error(`--set expects key=value, got '${s}'`);
    const k = s.slice(0, i) as keyof TrainConfig;
    if (!(k in DEFAULTS)) throw new Error(`--set: unknown config key '${k}' (known: ${Object.keys(DEFAULTS).join(', ')})`);
    out[k] = parseValue(k, s.slice(i + 1));
  }
  return out as Partial<TrainConfig>;
}

function fmt(x: number | null | undefined, d = 2) {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

const program = new Command();
program.name('rl').description('PPO and SPRIG on the WebGPU engine: train, evaluate, compare');

program
  .command('train')
  .description('train one algorithm on one env for several seeds (one after another)')
  .option('--algo <algo>', 'ppo | sprig', 'ppo')
  .option('--env <id>', 'env id (cartpole, minatar/breakout, ...)', 'minatar/breakout')
  .option('--preset <name>', 'env preset (MinAtar: paper | gymnax)')
  .option('--config <name|file.json>', `hyperparameter preset (${Object.keys(PRESETS).join(', ')}) or a JSON file`)
  .option('--steps <n>', 'total env steps per seed')
  .option('--seeds <list>', 'comma-separated seeds', '0')
  .option('--out <dir>', 'run directory', '')
  .option('--resume', 'continue each seed from its checkpoint', false)
  .option('--checkpoint-every <n>', 'env steps between checkpoints')
  .option('--set <key=value...>', 'override any config key (repeatable)', [])
  .option('--no-progress', 'no progress bar (log lines instead)')
  .action(async (o) => {
    await E.init();
    let layer: Partial<TrainConfig> | undefined;
    if (o.config) {
      if (o.config in PRESETS) layer = PRESETS[o.config];
      else if (fs.existsSync(o.config)) layer = JSON.parse(fs.readFileSync(o.config, 'utf8'));
      else throw new Error(`--config: '${o.config}' is neither a preset (${Object.keys(PRESETS).join(', ')}) nor a file`);
    }
    const flags: Partial<TrainConfig> = { algo: o.algo, env: o.env };
    if (o.preset) flags.preset = o.preset;
    if (o.steps) flags.totalSteps = Number(o.steps);
    if (o.checkpointEvery) flags.checkpointEvery = Number(o.checkpointEvery);
    const seeds = String(o.seeds).split(',').map((s: string) => Number(s.trim()));
    const out = o.out || path.join('runs', `${o.algo}_${String(o.env).replace(/\//g, '_')}`);
    fs.mkdirSync(out, { recursive: true });
    const summary: Array<{ seed: number; step: number; recent: number | null; time: number }> = [];
    for (const seed of seeds) {
      const cfg = resolveConfig(layer, flags, parseSets(o.set), { seed });
      const dir = seedDir(out, seed);
      const bar = o.progress && process.stderr.isTTY !== undefined
        ? new cliProgress.SingleBar(
            {
              format: `seed ${seed} |{bar}| {value}/{total} steps | {sps} steps/s | return {ret} | ETA {eta_formatted}`,
              hideCursor: true,
              etaBuffer: 20,
            },
            cliProgress.Presets.shades_classic,
          )
        : null;
      bar?.start(cfg.totalSteps, 0, { sps: '–', ret: '–' });
      const t = await runSeed(cfg, dir, {
        resume: o.resume,
        onUpdate: (tr) => bar?.update(Math.min(tr.globalStep, cfg.totalSteps), { sps: tr.lastLog?.sps ?? '–', ret: fmt(tr.recentMean()) }),
        onLog: (l) => {
          if (!bar) console.log(`seed ${seed} step ${l.step} sps ${l.sps} return ${fmt(l.recent_return)} (${l.episodes} episodes)`);
        },
      });
      bar?.stop();
      summary.push({ seed, step: t.globalStep, recent: t.recentMean(), time: t.elapsed() });
      t.dispose();
    }
    console.log(`\n${o.algo} on ${o.env}: ${out}`);
    for (const s of summary) console.log(`  seed ${s.seed}: ${s.step} steps in ${s.time.toFixed(0)} s, mean return of the last 20 episodes ${fmt(s.recent)}`);
  });

program
  .command('eval')
  .description('run a checkpoint\'s policy (sampling, or greedy with --greedy) for a number of episodes')
  .requiredOption('--checkpoint <file>', 'checkpoint.safetensors')
  .option('--episodes <n>', 'episodes', '20')
  .option('--envs <n>', 'parallel envs', '8')
  .option('--seed <n>', 'env seed', '12345')
  .option('--greedy', 'argmax actions', false)
  .action(async (o) => {
    await E.init();
    const cfg = checkpointConfig(o.checkpoint);
    const r = await evaluate(o.checkpoint, { episodes: Number(o.episodes), numEnvs: Number(o.envs), seed: Number(o.seed), greedy: o.greedy });
    console.log(`${cfg.algo} on ${cfg.env}: ${r.returns.length} episodes, mean return ${fmt(r.mean)} ± ${fmt(r.ci95)} (95% CI), min ${fmt(r.min)}, max ${fmt(r.max)}`);
  });

program
  .command('compare')
  .description('learning curves (mean and 95% CI across seeds) of several runs, as SVG and PNG, and a summary table')
  .argument('<runs...>', 'run directories (each with seed*/metrics.jsonl)')
  .requiredOption('--out <path>', 'plot path without extension')
  .option('--metric <name>', 'metric to plot', 'recent_return')
  .option('--title <t>', 'plot title')
  .action(async (runs: string[], o) => {
    const table = await compareRuns(runs, { out: o.out, metric: o.metric, title: o.title });
    console.log(table);
  });

export { program };

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  program.parseAsync(process.argv).then(
    () => process.exit(0),
    (e) => {
      console.error(`error: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}

void makeTrainer;
