// SAC training speed: env steps per second of rl/sac.ts through the run harness (act with one
// readback per step, replay, one gradient update per env step: critic, actor, one-dispatch Polyak)
// against bench/sac_torch.py, a CleanRL-style PyTorch SAC with the same networks, batch and
// update ratio, on this machine, side by side in one run (alternating: ours, torch, ours, torch).
// The random warm-up steps and the first updates (pipeline compilation) are not timed.
//
//   npx tsx bench/sac_speed.ts [--hidden 256] [--batch 100] [--steps 200] [--rounds 2] [--no-torch] [--st]
// --st also times STSAC-AL (the 10-iteration Stackelberg leader update per gradient step).

import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as E from '../engine/index.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import { sac, stsacAl } from '../rl/sac.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : d;
};
const hidden = arg('hidden', 256), batch = arg('batch', 100), steps = arg('steps', 200), rounds = arg('rounds', 2);
const warmup = 100;

async function ours(algo: typeof sac): Promise<number> {
  const cfg = {
    ...algo.defaults, env: 'pendulum', numEnvs: 1, seed: 1, totalSteps: warmup + 20 + steps, randomSteps: warmup, learningStarts: warmup,
    trainFreq: 1, gradientSteps: 1, hidden: [hidden, hidden], batchSize: batch, logEvery: 1_000_000,
  };
  const t = new Trainer(algo, cfg);
  while (t.globalStep < warmup + 20) await t.step();
  await E.sync();
  const t0 = performance.now();
  const s0 = t.globalStep;
  while (!t.done?.() && t.globalStep < cfg.totalSteps) await t.step();
  await E.sync();
  const sps = (t.globalStep - s0) / ((performance.now() - t0) / 1000);
  t.agent.dispose();
  return sps;
}

/** A python3 that imports torch: $PYTHON, python3 on PATH, or the system one (Debian's python3-torch). */
function pythonWithTorch(): string | null {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x)) {
    try {
      execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
      return py;
    } catch {
      // next candidate
    }
  }
  return null;
}

function torch(): number | string {
  const py = pythonWithTorch();
  if (!py) return 'unavailable (no python3 with torch: set PYTHON, or apt-get install python3-torch)';
  try {
    const out = execFileSync(py, ['bench/sac_torch.py', '--hidden', String(hidden), '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup)], { encoding: 'utf8' });
    return JSON.parse(out.trim().split('\n').pop()!).sps as number;
  } catch (e) {
    return `unavailable (${String((e as Error).message).split('\n').find((l) => /Error|No module/.test(l)) ?? 'python3 failed'})`;
  }
}

await E.init();
const rows: Array<[string, number | string]> = [];
for (let r = 0; r < rounds; r++) {
  rows.push(['ours sac', await ours(sac)]);
  if (!process.argv.includes('--no-torch')) rows.push(['torch sac (CleanRL-style)', torch()]);
  if (process.argv.includes('--st')) rows.push(['ours stsac-al (10 CG)', await ours(stsacAl)]);
}
const info = E.runtime().info.adapterInfo;
console.log(`SAC on Pendulum, hidden ${hidden}×${hidden} ReLU, batch ${batch}, 1 update per env step, ${steps} timed steps per round; adapter: ${info.vendor} ${info.architecture} ${info.description}; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} CPUs`);
console.log('| round | implementation | env steps/s |\n|---|---|---:|');
rows.forEach(([name, v], i) => console.log(`| ${Math.floor(i / (rows.length / rounds)) + 1} | ${name} | ${typeof v === 'number' ? v.toFixed(1) : v} |`));
