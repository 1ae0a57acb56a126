// The run-safety rules of the harness and the CLI (issue 10, item 8), each tried as a user
// would: through the CLI in-process (makeProgram) on tiny CartPole runs, or through the harness
// API where a failure has to be provoked (divergence).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors } from '../../engine/safetensors.ts';
import { makeProgram } from '../../rl/cli.ts';
import { resolveLayers } from '../../rl/harness/config.ts';
import { LOCK_FILE, nodeStorage } from '../../rl/harness/node_storage.ts';
import { runSeed } from '../../rl/harness/run.ts';
import { DivergedError, Trainer } from '../../rl/harness/trainer.ts';
import type { OnPolicyAgent, OnPolicyAlgorithm, RunConfig } from '../../rl/harness/types.ts';
import ppo, { type PpoConfig } from '../../rl/ppo.ts';

beforeAll(async () => {
  await E.init();
});

const tmp = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `harness-${name}-`));
const TINY = ['--algo', 'ppo', '--env', 'cartpole', '--steps', '64', '--num-envs', '2', '--num-steps', '16', '--minibatch-size', '16', '--update-epochs', '1', '--log-every', '32', '--no-progress'];

/** Runs the CLI in-process; returns what it printed, or throws its error. */
async function cli(...args: string[]): Promise<string> {
  const out: string[] = [];
  await makeProgram((s) => out.push(s)).parseAsync(['node', 'rl', ...args]);
  return out.join('\n');
}

const snapshot = (dir: string) => Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]));
const ckptState = (dir: string) => JSON.parse(decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'checkpoint.safetensors')))).metadata.state);
const ckptConfig = (dir: string) => JSON.parse(decodeSafetensors(new Uint8Array(fs.readFileSync(path.join(dir, 'checkpoint.safetensors')))).metadata.config);

describe('run directories', () => {
  let out: string, seed0: string, before: Record<string, string>;
  beforeAll(async () => {
    out = tmp('dir');
    seed0 = path.join(out, 'seed0');
    await cli('train', ...TINY, '--out', out);
    before = snapshot(seed0);
  });

  it('a finished run has its files and no lock left', () => {
    expect(Object.keys(before).sort()).toEqual(['checkpoint.safetensors', 'config.json', 'metrics.jsonl']);
  });

  it('refuses a non-empty run directory without --resume or --overwrite, touching nothing', async () => {
    await expect(cli('train', ...TINY, '--out', out)).rejects.toThrow(/not empty \(checkpoint\.safetensors, config\.json, metrics\.jsonl\): pass --resume .* --overwrite/);
    expect(snapshot(seed0)).toEqual(before);
  });

  it('validates everything before touching files: a mistyped --env with --overwrite deletes nothing', async () => {
    await expect(cli('train', ...TINY, '--env', 'cartpol', '--overwrite', '--out', out)).rejects.toThrow(/cartpol/);
    await expect(cli('train', ...TINY, '--seeds', '0,1', '--steps', 'abc', '--overwrite', '--out', out)).rejects.toThrow(/--steps/);
    expect(snapshot(seed0)).toEqual(before);
    expect(fs.existsSync(path.join(out, 'seed1'))).toBe(false);
  });

  it('--resume continues the run\'s own config (totalSteps is not raised to the default) and says what a flag changed', async () => {
    // finished run: 64 of 64 steps: resuming without raising --steps is refused, naming the step
    await expect(cli('train', '--resume', '--out', out, '--no-progress')).rejects.toThrow(/already at step 64 of totalSteps 64; raise --steps/);
    const log = await cli('train', '--resume', '--out', out, '--steps', '128', '--no-progress');
    expect(log).toMatch(/resuming ppo on cartpole from step 64; changed: totalSteps: 64 → 128/);
    expect(log).toMatch(/ppo on cartpole: /); // the summary names the run's algo and env, not the flags'
    const cfg = ckptConfig(seed0);
    expect(cfg.totalSteps).toBe(128);
    expect(cfg.numSteps).toBe(16); // the run's own value, not the default 256
    expect(ckptState(seed0).globalStep).toBe(128);
    before = snapshot(seed0);
  });

  it('--algo or --env that disagree with the run are an error on resume; so is a key that defines the run', async () => {
    await expect(cli('train', '--resume', '--out', out, '--algo', 'sprig', '--steps', '256', '--no-progress')).rejects.toThrow(/is ppo/);
    await expect(cli('train', '--resume', '--out', out, '--env', 'minatar/breakout', '--steps', '256', '--no-progress')).rejects.toThrow(/is ppo on cartpole, but --env minatar\/breakout was given/);
    await expect(cli('train', '--resume', '--out', out, '--num-envs', '4', '--steps', '256', '--no-progress')).rejects.toThrow(/cannot change: numEnvs: 2 → 4/);
    expect(snapshot(seed0)).toEqual(before);
  });

  it('--resume on a directory without a checkpoint stops with an error (it does not start fresh)', async () => {
    const empty = tmp('nockpt');
    await expect(cli('train', ...TINY, '--resume', '--out', empty)).rejects.toThrow(/has no checkpoint\.safetensors; nothing to resume/);
    expect(fs.readdirSync(empty)).toEqual([]);
    await expect(cli('train', ...TINY, '--resume', '--overwrite', '--out', out)).rejects.toThrow(/contradict/);
  });

  it('a locked run directory (another live process) is refused; a stale lock is taken over', async () => {
    const dir = tmp('lock');
    const seedDir = path.join(dir, 'seed0');
    fs.mkdirSync(seedDir);
    fs.writeFileSync(path.join(seedDir, LOCK_FILE), `${process.pid} ${os.hostname()}\n`); // this (live) process
    await expect(cli('train', ...TINY, '--out', dir)).rejects.toThrow(/in use by process \d+/);
    fs.writeFileSync(path.join(seedDir, LOCK_FILE), `2147483646 ${os.hostname()}\n`); // no such process
    await cli('train', ...TINY, '--out', dir);
    expect(fs.existsSync(path.join(seedDir, LOCK_FILE))).toBe(false);
    expect(ckptState(seedDir).globalStep).toBe(64);
  });
});

describe('flag and config validation', () => {
  const dir = tmp('flags');
  const bad: Array<[string[], RegExp]> = [
    [['--steps', 'abc'], /--steps: expected an integer ≥ 1, got 'abc'/],
    [['--steps', '0'], /--steps: .*integer ≥ 1.*got number 0/],
    [['--steps', '-5'], /--steps/],
    [['--checkpoint-every', '-3'], /--checkpoint-every: .*≥ 0/],
    [['--eval-episodes', '0'], /--eval-episodes/],
    [['--seeds', '0,,1'], /--seeds: empty entry/],
    [['--seeds', 'a,b'], /--seeds: expected an integer ≥ 0, got 'a'/],
    [['--seeds', '1,1'], /--seeds: seed 1 is listed twice/],
    [['--lr', '1e400'], /--lr: expected a finite number > 0/],
    [['--set', 'numEnv=4'], /--set: unknown config key 'numEnv' \(did you mean 'numEnvs'\?\)/],
    [['--num-env', '4'], /unknown option --num-env \(did you mean --num-envs\?\)/],
    [['--algo', 'nosuch'], /unknown algorithm 'nosuch'; registered algorithms:\n\s+ppo .*\n\s+sprig/],
    [['--torso', 'cnn'], /--torso: 'torso' must be one of 'auto', 'mlp', 'minatar'/],
  ];
  for (const [args, re] of bad) {
    it(`train ${args.join(' ')} → ${re.source.slice(0, 40)}`, async () => {
      await expect(cli('train', ...TINY, ...args, '--out', dir)).rejects.toThrow(re);
      expect(fs.readdirSync(dir)).toEqual([]);
    });
  }

  it('config files: a JSON syntax error names the file; a string number names file, key and type; an unknown key names the nearest', async () => {
    const f = path.join(dir, '..', `cfg-${process.pid}.json`);
    fs.writeFileSync(f, '{"lr": 0.01,}');
    await expect(cli('train', ...TINY, '--config', f, '--out', dir)).rejects.toThrow(new RegExp(`config file ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid JSON`));
    fs.writeFileSync(f, '{"numEnvs": "16"}');
    await expect(cli('train', '--algo', 'ppo', '--config', f, '--out', dir)).rejects.toThrow(/config file .*: 'numEnvs' must be an integer ≥ 1, got the string "16"/);
    fs.writeFileSync(f, '{"gamm": 0.9}');
    await expect(cli('train', '--algo', 'ppo', '--config', f, '--out', dir)).rejects.toThrow(/unknown config key 'gamm' \(did you mean 'gamma'\?\)/);
    fs.writeFileSync(f, '{"lr": 1e400}'); // JSON.parse makes Infinity (config.json would save null)
    await expect(cli('train', '--algo', 'ppo', '--config', f, '--out', dir)).rejects.toThrow(/'lr' must be a finite number > 0, got number Infinity/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('eval and compare validate their numbers and inputs', async () => {
    await expect(cli('eval', '--checkpoint', 'x.safetensors', '--episodes', '0')).rejects.toThrow(/--episodes: .*≥ 1/);
    await expect(cli('eval', '--checkpoint', 'x.safetensors', '--episodes', 'abc')).rejects.toThrow(/--episodes: expected an integer ≥ 1, got 'abc'/);
    await expect(cli('eval', '--checkpoint', path.join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors does not exist/);
    await expect(cli('compare', path.join(dir, 'nope'), '--out', path.join(dir, 'plot'))).rejects.toThrow(/nope does not exist/);
  });
});

describe('compare and eval messages', () => {
  it('compare: an unknown metric lists the logged ones; runs on different envs get a warning', async () => {
    const a = tmp('cmpA'), b = tmp('cmpB');
    await cli('train', ...TINY, '--out', a);
    await cli('train', ...TINY, '--env', 'minatar/breakout', '--preset', 'gymnax', '--out', b);
    const plot = path.join(a, 'plot');
    await expect(cli('compare', a, '--out', plot, '--metric', 'nosuch')).rejects.toThrow(/no run logged the metric 'nosuch'; metrics there: .*recent_return/);
    const table = await cli('compare', a, b, '--out', plot);
    expect(table).toMatch(/Warning: these runs are on different envs \(cartpole, minatar\/breakout \(gymnax\)\)/);
    // eval of a checkpoint into a model for another env names both
    const algo = ppo;
    const cfg = resolveLayers(algo.defaults, algo.schema, [{ source: 't', values: { env: 'minatar/breakout', preset: 'gymnax', numEnvs: 2 } }]);
    const t = new Trainer(algo, cfg as RunConfig, { storage: nodeStorage });
    await expect(t.loadCheckpoint(path.join(a, 'seed0', 'checkpoint.safetensors'))).rejects.toThrow(/\(ppo on cartpole\) does not fit this model \(ppo on minatar\/breakout\)/);
    t.dispose();
  }, 120_000);
});

describe('divergence', () => {
  /** PPO whose update reports a NaN loss from the `badUpdate`-th update on. */
  function poisoned(badUpdate: number): OnPolicyAlgorithm<PpoConfig> {
    return {
      ...ppo,
      create(cfg, env) {
        const agent = ppo.create(cfg, env) as OnPolicyAgent;
        const update = agent.update.bind(agent);
        agent.update = async (ro, ctx) => {
          const st = await update(ro, ctx);
          return ctx.iteration + 1 >= badUpdate ? { ...st, v_loss: NaN } : st;
        };
        return agent;
      },
    };
  }
  const cfg = () => resolveLayers(ppo.defaults, ppo.schema, [{ source: 't', values: { env: 'cartpole', numEnvs: 2, numSteps: 16, minibatchSize: 16, updateEpochs: 1, totalSteps: 320, checkpointEvery: 64, logEvery: 32 } }]) as RunConfig;

  it('a non-finite loss stops the run naming the step; the last good checkpoint and its metrics stay', async () => {
    const dir = tmp('nan');
    const err = await runSeed({ storage: nodeStorage, dir, algo: poisoned(5), cfg: cfg() }).catch((e) => e);
    expect(err).toBeInstanceOf(DivergedError);
    expect(err.message).toMatch(/training diverged at step 160: the statistic 'v_loss' \(NaN\) is not finite/);
    expect(ckptState(dir).globalStep).toBe(128); // the checkpoint of step 128 (every 64), not a poisoned one
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    // and it resumes from there
    const lines = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(Math.max(...lines.map((l) => l.step))).toBe(128);
  });

  it('non-finite parameters are never written into a checkpoint', async () => {
    const t = new Trainer(ppo, cfg(), { storage: nodeStorage, dir: tmp('nanp') });
    await t.step();
    const w = E.namedParams(t.agent.params)['perception.0.weight'];
    E.assign(w, E.full(w.shape, NaN));
    await expect(t.saveCheckpoint()).rejects.toThrow(/diverged at step 32: params\.perception\.0\.weight\[0\] \(NaN\) is not finite/);
    expect(fs.existsSync(path.join(t.o.dir!, 'checkpoint.safetensors'))).toBe(false);
    t.dispose();
  });
});
