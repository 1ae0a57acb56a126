// The zero-action policy on the evaluation episodes of a run: the reference the MuJoCo results
// in docs/actor-critic.md pair each run with. On Reacher a policy that does nothing pays no
// control cost, and on Hopper it topples slowly and collects the healthy reward, so both beat the
// uniform random policy by far; a run has learned something only once it beats this policy on
// the same episodes. The episodes are Trainer.evaluate's: the same env batch and episode
// collection (createEvalEnv, collectEvalEpisodes in rl/harness/envs.ts) with zero actions;
// test/envs/mujoco_zero_action.test.ts checks the two agree.
//
//   npx tsx rl/envs/mujoco/zero_action.ts mujoco/hopper 5 1,2,3,4,5

import { collectEvalEpisodes, createEvalEnv, EVAL_SEED_OFFSET, preloadEnv } from '../../harness/envs.ts';

/** Returns of the zero-action policy on the `episodes` greedy-evaluation episodes of run seed `runSeed`. */
export async function zeroActionEvalReturns(env: string, episodes: number, runSeed: number): Promise<number[]> {
  if (!Number.isInteger(episodes) || episodes < 1) throw new Error(`zeroActionEvalReturns: episodes must be an integer ≥ 1, got ${episodes}`);
  await preloadEnv(env);
  const seed = runSeed + EVAL_SEED_OFFSET;
  const e = createEvalEnv(env, { episodes, seed });
  if (e.actionSpace.kind !== 'box') throw new Error(`zeroActionEvalReturns: ${env} has a ${e.actionSpace.kind} action space; the zero action needs a Box`);
  e.reset(seed);
  const zero = new Float32Array(e.numEnvs * e.actionSpace.shape.reduce((a, b) => a * b, 1));
  return (await collectEvalEpisodes(e, episodes, () => e.step(zero))).returns;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [env, episodes, seeds] = process.argv.slice(2);
  if (!env || !episodes || !seeds) {
    console.error('usage: npx tsx rl/envs/mujoco/zero_action.ts <env id> <episodes> <run seeds, e.g. 1,2,3,4,5>');
    process.exit(2);
  }
  const means: number[] = [];
  for (const s of seeds.split(',').map(Number)) {
    const r = await zeroActionEvalReturns(env, +episodes, s);
    const m = r.reduce((a, b) => a + b, 0) / r.length;
    means.push(m);
    console.log(`${env} run seed ${s}: zero-action mean ${m.toFixed(4)} over ${r.length} episodes (${r.map((x) => x.toFixed(2)).join(', ')})`);
  }
  console.log(`mean over the seeds: ${(means.reduce((a, b) => a + b, 0) / means.length).toFixed(4)}`);
}
