// CartPole learning across seeds on both env devices (the learning test's config: cartpole-fast,
// stop at a 20-episode mean of 475, at most 200k steps): the step each run reached 475 at, so
// a change of the default envDevice is judged on several seeds, not one.
//   npx tsx bench/cartpole_seeds.ts [--seeds 0,1,2,3,4] [--devices gpu,cpu]
import os from 'node:os';
import * as E from '../engine/index.ts';
import { resolveLayers } from '../rl/harness/config.ts';
import { Trainer } from '../rl/harness/trainer.ts';
import type { RunConfig } from '../rl/harness/types.ts';
import { getAlgorithm } from '../rl/registry.ts';

async function main() {
  const args = process.argv.slice(2);
  const opt = (k: string) => (args.includes(k) ? args[args.indexOf(k) + 1] : undefined);
  const seeds = (opt('--seeds') ?? '0,1,2,3,4').split(',').map(Number);
  const devices = (opt('--devices') ?? 'gpu,cpu').split(',');
  await E.init();
  const algo = await getAlgorithm('ppo');
  console.log(`cartpole-fast to 475 (mean of 20 episodes) within 200k steps; load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  for (const device of devices) {
    for (const seed of seeds) {
      const cfg = resolveLayers(algo.defaults, algo.schema, [{ source: 'cartpole-fast', values: algo.presets['cartpole-fast'] }, { source: 'seeds', values: { seed, totalSteps: 200_000, envDevice: device } }]) as RunConfig;
      const t = new Trainer(algo, cfg);
      const t0 = Date.now();
      while (!t.done()) await t.step();
      console.log(`envDevice ${device} seed ${seed}: ${t.reachedTarget() ? 'reached' : 'MISSED'} 475 at step ${t.globalStep} (recent ${t.recentMean()?.toFixed(1)}), ${((Date.now() - t0) / 1000).toFixed(0)} s, load ${os.loadavg()[0].toFixed(1)}`);
      t.dispose();
    }
  }
}
main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
