// `npm start`: SPRIG and PPO on MinAtar Breakout (the envs are part of this repository), a few
// minutes on a 2-core machine without a GPU, ending with a learning-curve plot and a table.
//   DEMO_STEPS=16384 npm start       (steps per algorithm; default 16384, about 3–5 minutes)
//   DEMO_OUT=runs/demo                (where the runs and the plot go; replaced on every start)

import * as path from 'node:path';
import cliProgress from 'cli-progress';
import * as E from '../engine/index.ts';
import { getAlgorithm } from './registry.ts';
import { resolveLayers } from './harness/config.ts';
import { randomPolicyReturns } from './harness/envs.ts';
import { nodeStorage } from './harness/node_storage.ts';
import { compareRuns, meanCi } from './harness/report.ts';
import { runSeed } from './harness/run.ts';
import type { RunConfig } from './harness/types.ts';

const steps = Number(process.env.DEMO_STEPS ?? 16384);
const out = process.env.DEMO_OUT ?? path.join('runs', 'demo');
const env = 'minatar/breakout';
const preset = 'gymnax';

async function main() {
  if (!Number.isSafeInteger(steps) || steps < 1) throw new Error(`DEMO_STEPS must be a positive integer, got '${process.env.DEMO_STEPS}'`);
  await E.init();
  console.log(`Demo: PPO and SPRIG on ${env} (${preset} preset), ${steps} env steps each, seed 0, on ${E.runtime().info.adapterInfo?.description || 'the WebGPU adapter'}.`);
  const tty = !!process.stderr.isTTY;
  const bars = new cliProgress.MultiBar(
    { format: '{algo} |{bar}| {value}/{total} steps | {sps} steps/s | return {ret} | ETA {eta_formatted}', hideCursor: true, etaBuffer: 10 },
    cliProgress.Presets.shades_classic,
  );
  const dirs: string[] = [];
  for (const name of ['ppo', 'sprig'] as const) {
    const algo = await getAlgorithm(name);
    const cfg = resolveLayers(algo.defaults, algo.schema, [
      { source: "preset 'minatar-fast'", values: algo.presets['minatar-fast'] },
      { source: 'demo', values: { env, preset, seed: 0, totalSteps: steps } },
    ]) as RunConfig;
    algo.validate?.(cfg);
    const dir = path.join(out, name);
    const bar = tty ? bars.create(steps, 0, { algo: name.toUpperCase().padEnd(5), sps: '–', ret: '–' }) : null;
    // The demo's own directory: each start replaces the previous demo run.
    const { trainer: t } = await runSeed({
      storage: nodeStorage, dir: path.join(dir, 'seed0'), algo, cfg, overwrite: true,
      onIteration: (tr) => bar?.update(Math.min(tr.globalStep, steps), { sps: tr.lastLog?.sps ?? '–', ret: tr.recentMean()?.toFixed(2) ?? '–' }),
      onLog: (l) => {
        if (!tty) console.log(`${name} step ${l.step}/${steps}: ${l.sps} steps/s, return ${l.recent_return?.toFixed(2) ?? '–'}`);
      },
    });
    bar?.update(steps);
    t.dispose();
    dirs.push(dir);
  }
  bars.stop();
  const rnd = meanCi(randomPolicyReturns(env, { preset, episodes: 200, envSeed: 4242, policySeed: 7 }));
  const plot = path.join(out, 'learning_curves');
  const table = await compareRuns(nodeStorage, dirs, {
    out: plot, labels: ['PPO', 'SPRIG'], title: `${env} (${preset}): mean return of the last 20 episodes`,
    extraSeries: [{ name: 'random policy', x: [0, steps], y: [rnd.mean, rnd.mean] }],
  });
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
