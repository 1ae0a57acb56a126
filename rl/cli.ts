// The training CLI (Node):
//   tsx rl/cli.ts list
//   tsx rl/cli.ts train --algo <name> --env <id> [--preset gymnax] [--config <preset|file.json|file.yaml>]
//        [--steps N] [--seeds 0,1,2] [--out runs/<name>] [--resume | --overwrite]
//        [--checkpoint-every N] [--eval-every N] [--eval-episodes N] [--set key=value ...] [--<config-key> value ...]
//   tsx rl/cli.ts eval --checkpoint runs/<name>/seed0/checkpoint.safetensors [--episodes 20] [--greedy]
//   tsx rl/cli.ts compare runs/a runs/b --out plots/a_vs_b [--metric recent_return]
//
// Every config key is also a flag in kebab case (--leader-update total, --num-envs 16).
// Everything is checked before any file is touched (see rl/harness/run.ts for the run-directory
// rules); a bad value names its flag or file.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { parse as parseYaml } from 'yaml';
import * as E from '../engine/index.ts';
import { ALGORITHM_NAMES, algorithmList, getAlgorithm } from './registry.ts';
import { nearest, parseFlag, resolveRunConfig, specOf, unknownKeyError, type ConfigLayer } from './harness/config.ts';
import { createEnv, preloadEnv } from './harness/envs.ts';
import { nodeStorage } from './harness/node_storage.ts';
import { compareRuns } from './harness/report.ts';
import { evaluateCheckpoint, prepareRun, runSeed, type PreparedRun } from './harness/run.ts';
import { CHECKPOINT_FILE, checkpointInfo } from './harness/trainer.ts';
import type { Algorithm, RunConfig } from './harness/types.ts';
import { registerSweep } from './sweep/cli.ts';
import { registerReport } from './report/cli.ts';

const storage = nodeStorage;

function fmt(x: number | null | undefined, d = 2) {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d);
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** A strictly parsed integer flag (`--episodes abc`, `1.5`, `0` when min is 1 are errors naming the flag). */
export function intFlag(flag: string, text: string, min: number): number {
  return parseFlag(flag, String(text), { type: 'int', min }, flag) as number;
}

/** `--seeds 0,1,2`: integers ≥ 0, no empty or repeated entries. */
export function parseSeeds(text: string): number[] {
  const parts = String(text).split(',');
  const seeds = parts.map((p) => {
    if (p.trim() === '') throw new Error(`--seeds: empty entry in '${text}' (write e.g. 0,1,2)`);
    return intFlag('--seeds', p, 0);
  });
  const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (dup !== undefined) throw new Error(`--seeds: seed ${dup} is listed twice in '${text}'`);
  return seeds;
}

/** Reads a config file (JSON or YAML) as an object of config keys; errors name the file. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`config file ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new Error(`config file ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`config file ${file}: expected an object of config keys`);
  // JSON.parse turns 1e400 into Infinity: refuse it here, naming the file (resolveLayers would too).
  return v as Record<string, unknown>;
}

/** The options commander knows for `train` (anything else must be a config key). */
const TRAIN_FLAGS = ['algo', 'env', 'preset', 'config', 'steps', 'seeds', 'out', 'resume', 'overwrite', 'checkpoint-every', 'eval-every', 'eval-episodes', 'set', 'progress', 'no-progress'];

/** `--leader-update total` style flags left over by commander → typed config values. */
function configFlags(args: string[], algo: Algorithm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const keys = Object.keys(algo.defaults);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    let name = a.slice(2), value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) (value = name.slice(eq + 1)), (name = name.slice(0, eq));
    const key = camel(name);
    if (!keys.includes(key)) {
      const n = nearest(key, [...keys, ...TRAIN_FLAGS.map(camel)]);
      throw new Error(`unknown option --${name}${n ? ` (did you mean --${kebab(n)}?)` : ''}; config keys of ${algo.name}: ${keys.map(kebab).join(', ')}`);
    }
    const spec = specOf(key, algo.defaults, algo.schema);
    if (value === undefined) {
      if (spec.type === 'bool' && (i + 1 >= args.length || args[i + 1].startsWith('--'))) value = 'true';
      else if (i + 1 < args.length) value = args[++i];
      else throw new Error(`--${name} needs a value`);
    }
    out[key] = parseFlag(key, value, spec, `--${name}`);
  }
  return out;
}

function parseSets(sets: string[], algo: Algorithm): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i < 0) throw new Error(`--set expects key=value, got '${s}'`);
    const k = s.slice(0, i);
    if (!(k in algo.defaults)) throw unknownKeyError(k, Object.keys(algo.defaults), '--set');
    out[k] = parseFlag(k, s.slice(i + 1), specOf(k, algo.defaults, algo.schema), `--set ${k}`);
  }
  return out;
}

/** A fresh CLI (commander keeps option values between parses, so tests make one per call). */
export function makeProgram(log: (s: string) => void = console.log): Command {
  const program = new Command();
  program.name('rl').description('Stackelberg RL on the WebGPU engine: train, evaluate, compare');
  program.exitOverride();

  program
    .command('list')
    .description('the registered algorithms')
    .action(() => {
      log(algorithmList());
    });

  program
    .command('train')
    .description('train one algorithm on one env for several seeds (one after another)')
    .option('--algo <name>', `algorithm (${ALGORITHM_NAMES().join(', ')}); default ppo, or the run's own on --resume`)
    .option('--env <id>', "env id (cartpole, minatar/breakout, ...); default: the algorithm's")
    .option('--preset <name>', 'env preset (MinAtar: paper | gymnax)')
    .option('--config <name|file>', 'hyperparameter preset of the algorithm, or a JSON/YAML file of config keys')
    .option('--steps <n>', 'total env steps per seed (on-policy algorithms round up to whole rollouts of numEnvs × numSteps; off-policy ones to whole vector steps of numEnvs)')
    .option('--seeds <list>', 'comma-separated seeds', '0')
    .option('--out <dir>', 'run directory (default runs/<algo>_<env>)')
    .option('--resume', 'continue each seed from its checkpoint (its own config; flags given now override and are reported)', false)
    .option('--overwrite', 'replace an existing run in --out', false)
    .option('--checkpoint-every <n>', 'env steps between checkpoints (0 = only at the end)')
    .option('--eval-every <n>', 'env steps between evaluations of the greedy policy (0 = never)')
    .option('--eval-episodes <n>', 'episodes per evaluation')
    .option('--set <key=value...>', 'override any config key (repeatable)', [])
    .option('--no-progress', 'no progress bar (log lines instead)')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (o, cmd: Command) => {
      // ---- everything is parsed and checked before any file is touched
      const seeds = parseSeeds(o.seeds);
      let algoName: string = o.algo;
      const outGiven: string | undefined = o.out;
      if (!algoName && o.resume && outGiven) {
        const ck = path.join(outGiven, `seed${seeds[0]}`, CHECKPOINT_FILE);
        if (fs.existsSync(ck)) algoName = checkpointInfo(new Uint8Array(fs.readFileSync(ck)), `checkpoint ${ck}`).algo;
      }
      algoName ??= 'ppo';
      const algo = await getAlgorithm(algoName);
      const layers: ConfigLayer[] = [];
      if (o.config) {
        if (o.config in algo.presets) layers.push({ source: `preset '${o.config}'`, values: algo.presets[o.config] as Record<string, unknown> });
        else if (fs.existsSync(o.config)) layers.push({ source: `config file ${o.config}`, values: readConfigFile(o.config) });
        else throw new Error(`--config: '${o.config}' is neither a preset of ${algo.name} (${Object.keys(algo.presets).join(', ')}) nor a file`);
      }
      const spec = (k: string) => specOf(k, algo.defaults, algo.schema);
      const flags: Record<string, unknown> = {};
      if (o.algo) flags.algo = o.algo;
      if (o.env) flags.env = o.env;
      if (o.preset) flags.preset = o.preset;
      if (o.steps !== undefined) flags.totalSteps = parseFlag('totalSteps', o.steps, spec('totalSteps'), '--steps');
      if (o.checkpointEvery !== undefined) flags.checkpointEvery = parseFlag('checkpointEvery', o.checkpointEvery, spec('checkpointEvery'), '--checkpoint-every');
      if (o.evalEvery !== undefined) flags.evalEvery = parseFlag('evalEvery', o.evalEvery, spec('evalEvery'), '--eval-every');
      if (o.evalEpisodes !== undefined) flags.evalEpisodes = parseFlag('evalEpisodes', o.evalEpisodes, spec('evalEpisodes'), '--eval-episodes');
      layers.push({ source: 'flags', values: flags });
      layers.push({ source: 'flags', values: configFlags(cmd.args, algo) });
      layers.push({ source: '--set', values: parseSets(o.set, algo) });
      const explicit = Object.assign({}, ...layers.map((l) => l.values)) as Record<string, unknown>;
      const envName = (explicit.env as string | undefined) ?? algo.defaults.env;
      const out = outGiven || path.join('runs', `${algo.name}_${String(envName).replace(/\//g, '_')}`);
      const plans: Array<{ seed: number; dir: string; prepared: PreparedRun }> = [];
      for (const seed of seeds) {
        const cfg = resolveRunConfig(algo, [...layers, { source: '--seeds', values: { seed } }]) as RunConfig;
        if (cfg.algo !== algo.name) throw new Error(`config key algo is '${cfg.algo}' but --algo is ${algo.name}`);
        await preloadEnv(cfg.env);
      const probe = createEnv(cfg.env, { numEnvs: 1, seed: 0, preset: cfg.preset });
        if (!algo.actionSpaces.includes(probe.actionSpace.kind)) throw new Error(`${algo.name} handles ${algo.actionSpaces.join('/')} action spaces; ${cfg.env}'s is ${probe.actionSpace.kind}`);
        const dir = path.join(out, `seed${seed}`);
        const prepared = await prepareRun({ storage, dir, algo, cfg, resume: o.resume, overwrite: o.overwrite, explicit: { ...explicit, seed } });
        plans.push({ seed, dir, prepared });
      }
      // ---- train
      await E.init();
      const summary: Array<{ seed: number; step: number; recent: number | null; time: number; evalMean: number | null; envDevice: string }> = [];
      let runAlgo = algo.name, runEnv = '';
      for (const { seed, dir, prepared } of plans) {
        const cfg = prepared.cfg;
        runAlgo = cfg.algo;
        runEnv = `${cfg.env}${cfg.preset ? ` (${cfg.preset})` : ''}`;
        if (prepared.resumeStep !== null) {
          log(`seed ${seed}: resuming ${cfg.algo} on ${cfg.env} from step ${prepared.resumeStep}${prepared.changes.length ? `; changed: ${prepared.changes.join('; ')}` : ' with its own config'}`);
        }
        const bar = o.progress && process.stderr.isTTY
          ? new cliProgress.SingleBar(
              { format: `seed ${seed} |{bar}| {value}/{total} steps | {sps} steps/s | return {ret} | eval {ev} | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 20 },
              cliProgress.Presets.shades_classic,
            )
          : null;
        bar?.start(cfg.totalSteps, prepared.resumeStep ?? 0, { sps: '–', ret: '–', ev: '–' });
        const { trainer: t } = await runSeed({
          storage, dir, algo, cfg, resume: prepared.resumeStep !== null, overwrite: o.overwrite,
          onIteration: (tr) => bar?.update(Math.min(tr.globalStep, cfg.totalSteps), { sps: tr.lastLog?.sps ?? '–', ret: fmt(tr.recentMean()), ev: fmt(tr.lastEval?.mean_return) }),
          onLog: (l) => {
            if (!bar) log(`seed ${seed} step ${l.step} sps ${l.sps} return ${fmt(l.recent_return)} (${l.episodes} episodes)`);
          },
          onEval: (l) => {
            if (!bar) log(`seed ${seed} step ${l.step} eval: mean return ${fmt(l.mean_return)} over ${l.episodes} episodes`);
          },
        }, prepared);
        bar?.stop();
        summary.push({ seed, step: t.globalStep, recent: t.recentMean(), time: t.elapsed(), evalMean: t.lastEval?.mean_return ?? null, envDevice: t.envDevice });
        t.dispose();
      }
      log(`\n${runAlgo} on ${runEnv}: ${out}`);
      for (const s of summary) {
        log(`  seed ${s.seed}: ${s.step} steps in ${s.time.toFixed(0)} s on the ${s.envDevice === 'gpu' ? 'GPU' : 'CPU'} env, mean return of the last 20 episodes ${fmt(s.recent)}${s.evalMean !== null ? `, last evaluation ${fmt(s.evalMean)}` : ''}`);
      }
    });

  program
    .command('eval')
    .description("run a checkpoint's policy (sampled, or greedy with --greedy) for a number of episodes")
    .requiredOption('--checkpoint <file>', 'checkpoint.safetensors')
    .option('--episodes <n>', 'episodes', '20')
    .option('--envs <n>', 'parallel envs (at most 16 are used)', '8')
    .option('--seed <n>', 'env seed', '12345')
    .option('--greedy', 'argmax / deterministic actions', false)
    .action(async (o) => {
      const episodes = intFlag('--episodes', o.episodes, 1);
      const numEnvs = intFlag('--envs', o.envs, 1);
      const seed = intFlag('--seed', o.seed, 0);
      const info = checkpointInfo(await storage.readBytes(o.checkpoint), `checkpoint ${o.checkpoint}`);
      const algo = await getAlgorithm(info.algo);
      await E.init();
      const r = await evaluateCheckpoint(storage, o.checkpoint, algo, { episodes, numEnvs, seed, greedy: o.greedy });
      log(`${r.algo} on ${r.env}: ${r.episodes} episodes (${o.greedy ? 'greedy' : 'sampled'}), mean return ${fmt(r.mean_return)} ± ${fmt(r.std_return)} (std), min ${fmt(r.min_return)}, max ${fmt(r.max_return)}`);
    });

  program
    .command('compare')
    .description('learning curves (mean and 95% CI across seeds) of several runs, as SVG and PNG, and a summary table')
    .argument('<runs...>', 'run directories (each with seed*/metrics.jsonl)')
    .requiredOption('--out <path>', 'plot path without extension')
    .option('--metric <name>', 'metric to plot', 'recent_return')
    .option('--title <t>', 'plot title')
    .action(async (runs: string[], o) => {
      const table = await compareRuns(storage, runs, { out: o.out, metric: o.metric, title: o.title });
      log(table);
    });

  registerSweep(program);
  registerReport(program);
  program.command('palmal').description('PAL/MAL (rl/palmal/cli.ts): table | scale | report; `rl palmal <sub> --help`').helpOption(false).allowUnknownOption().allowExcessArguments().argument('[args...]').action(async (args: string[]) => (await import('./palmal/cli.ts')).main(['node', 'palmal', ...args]));
  return program;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  makeProgram().parseAsync(process.argv).then(
    () => process.exit(0),
    (e) => {
      const err = e as Error & { code?: string; exitCode?: number };
      // commander already printed its own usage errors and help.
      if (err.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
      console.error(`error: ${err.message}`);
      process.exit(1);
    },
  );
}
