// Command line for the DQN family and SCORER (until the run harness's CLI takes them):
//   npx tsx rl/dqn/run.ts --algo scorer --variant double --env minatar/breakout \
//       --config minatar-small --steps 50000 --seeds 0,1,2 --out runs/scorer_double_breakout
// One directory per seed (seed<k>/): config.json, metrics.jsonl (training episodes, losses),
// eval.jsonl (greedy evaluation episodes), checkpoint.safetensors + replay.bin. --resume
// continues a run from its checkpoint.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import * as E from '../../engine/index.ts';
import { DqnTrainer, resolveDqnConfig, type DqnConfig } from '../dqn.ts';
import '../scorer.ts';

function parseValue(v: string): unknown {
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'null') return null;
  if (v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return v;
}

export async function runDqnSeed(cfg: DqnConfig, dir: string, o: { resume?: boolean; quiet?: boolean } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const ckpt = path.join(dir, 'checkpoint.safetensors');
  const t = new DqnTrainer(cfg, {
    dir,
    onLog: o.quiet ? undefined : (l) => console.log(`[${cfg.algo}/${cfg.variant} ${cfg.env} s${cfg.seed}] step ${l.step} return ${l.recent_return?.toFixed(2) ?? '-'} eps ${l.epsilon.toFixed(3)} sps ${l.sps}`),
    onEval: o.quiet ? undefined : (l) => console.log(`[${cfg.algo}/${cfg.variant} ${cfg.env} s${cfg.seed}] eval @${l.step}: ${l.eval_return.toFixed(2)}`),
  });
  if (o.resume && fs.existsSync(ckpt)) {
    await t.loadCheckpoint(dir);
    for (const f of ['metrics.jsonl', 'eval.jsonl']) {
      const p = path.join(dir, f);
      if (!fs.existsSync(p)) continue;
      const keep = fs.readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() && JSON.parse(l).step <= t.globalStep);
      fs.writeFileSync(p, keep.map((l) => l + '\n').join(''));
    }
  } else {
    for (const f of ['metrics.jsonl', 'eval.jsonl', 'checkpoint.safetensors', 'replay.bin']) fs.rmSync(path.join(dir, f), { force: true });
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  await t.train();
  await E.sync();
  t.dispose();
}

async function main() {
  const prog = new Command()
    .name('rl/dqn/run.ts')
    .option('--algo <algo>', 'dqn | scorer', 'dqn')
    .option('--variant <v>', 'dqn | double | dueling | dueling-double', 'dqn')
    .option('--env <id>', 'env id', 'minatar/breakout')
    .option('--config <preset>', 'preset: minatar-ref, minatar-ref-mlp, scorer-paper, scorer-released, cleanrl, minatar-small')
    .option('--steps <n>', 'env steps')
    .option('--seeds <list>', 'comma-separated seeds', '0')
    .option('--out <dir>', 'output directory', 'runs/dqn')
    .option('--set <kv...>', 'config key=value (repeatable)')
    .option('--resume', 'continue from the checkpoints in --out')
    .option('--quiet', 'no per-log output')
    .parse();
  const a = prog.opts();
  await E.init();
  const sets: Record<string, unknown> = {};
  for (const kv of (a.set as string[] | undefined) ?? []) {
    const i = kv.indexOf('=');
    if (i < 0) throw new Error(`--set wants key=value, got '${kv}'`);
    sets[kv.slice(0, i)] = parseValue(kv.slice(i + 1));
  }
  for (const s of String(a.seeds).split(',').map(Number)) {
    const cfg = resolveDqnConfig(a.config, {
      algo: a.algo, variant: a.variant, env: a.env, seed: s, ...(a.steps ? { totalSteps: Number(a.steps) } : {}), ...sets,
    } as Partial<DqnConfig>);
    await runDqnSeed(cfg, path.join(a.out, `seed${s}`), { resume: !!a.resume, quiet: !!a.quiet });
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('rl/dqn/run.ts')) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
