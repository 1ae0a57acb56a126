// `npm start`: SPRIG and PPO on MinAtar Breakout (the envs are part of this repository), a few
// minutes on a 2-core machine without a GPU, ending with a learning-curve plot and a table.
//   DEMO_STEPS=16384 npm start       (steps per algorithm; default 16384, about 3–5 minutes)
//   DEMO_OUT=runs/demo                (where the runs and the plot go)

import * as path from 'node:path';
import cliProgress from 'cli-progress';
import * as E from '../engine/index.ts';
import { PRESETS, resolveConfig } from './common/config.ts';
import { randomPolicyReturns } from './common/envs.ts';
import { compareRuns, meanCi } from './common/report.ts';
import { runSeed, seedDir } from './common/run.ts';

const steps = Number(process.env.DEMO_STEPS ?? 16384);
const out = process.env.DEMO_OUT ?? path.join('runs', 'demo');
const env = 'minatar/breakout';
const preset = 'gymnax';


async function main() {
  await E.init();
  console.log(`Demo: PPO and SPRIG on ${env} (${preset} preset), ${steps} env steps each, seed 0, on ${E.runtime().info.adapterInfo?.description || 'the WebGPU adapter'}.`);
  const tty = !!process.stderr.isTTY;
  const bars = new cliProgress.MultiBar(
    { format: '{algo} |{bar}| {value}/{total} steps | {sps} steps/s | return {ret} | ETA {eta_formatted}', hideCursor: true, etaBuffer: 10 },
    cliProgress.Presets.shades_classic,
  );
  const dirs: string[] = [];
  for (const algo of ['ppo', 'sprig'] as const) {
    const cfg = resolveConfig(PRESETS['minatar-fast'], { algo, env, preset, seed: 0, totalSteps: steps });
    const dir = path.join(out, algo);
    const bar = tty ? bars.create(steps, 0, { algo: algo.toUpperCase().padEnd(5), sps: '–', ret: '–' }) : null;
    const t = await runSeed(cfg, seedDir(dir, 0), {
      onUpdate: (tr) => bar?.update(Math.min(tr.globalStep, steps), { sps: tr.lastLog?.sps ?? '–', ret: tr.recentMean()?.toFixed(2) ?? '–' }),
      onLog: (l) => {
        if (!tty) console.log(`${algo} step ${l.step}/${steps}: ${l.sps} steps/s, return ${l.recent_return?.toFixed(2) ?? '–'}`);
      },
    });
    bar?.update(steps);
    t.dispose();
    dirs.push(dir);
  }
  bars.stop();
  const plot = path.join(out, 'learning_curves');
  const table = await compareRuns(dirs, { out: plot, labels: ['PPO', 'SPRIG'], title: `${env} (${preset}): mean return of the last 20 episodes` });
  const rnd = meanCi(randomPolicyReturns(env, { preset, episodes: 200, envSeed: 4242, policySeed: 7 }));
  console.log(`\n${table}\n| random policy | ${env} (${preset}) | – | – | ${rnd.mean.toFixed(2)} ± ${rnd.ci95.toFixed(2)} | 200 episodes |`);
  console.log(`\nPlot: ${plot}.svg and ${plot}.png. Runs (metrics.jsonl, checkpoints, config.json): ${out}/`);
  console.log('Longer runs: npx tsx rl/cli.ts train --algo sprig --env minatar/breakout --preset gymnax --config minatar-fast --steps 100000 --seeds 0,1,2 --out runs/sprig_breakout');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
