/**
 * Watch a random, no-op or scripted agent play any env, as text frames in the terminal;
 * optionally write a PNG frame.
 *
 *   npx tsx rl/envs/watch.ts minatar/breakout --policy scripted --steps 200 --png out.png
 *   npx tsx rl/envs/watch.ts cartpole --policy random --delay 50
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { angleNormalize } from './pendulum.ts';
import { ENV_IDS, makeEnv, MinAtarEnv, preloadEnv, Rng, VecEnv, type CartPole, type EnvCore, type EnvOptions, type Pendulum } from './index.ts';
import type { Breakout } from './minatar/breakout.ts';
import type { Asterix } from './minatar/asterix.ts';
import type { SpaceInvaders } from './minatar/space_invaders.ts';
import type { Seaquest } from './minatar/seaquest.ts';
import { DOWN, FIRE, LEFT, NOOP, RIGHT, UP } from './minatar/common.ts';

export type PolicyName = 'random' | 'noop' | 'scripted';

/** Network action index that executes game action `code` (falls back to no-op). */
function indexOf(core: MinAtarEnv, code: number): number {
  const k = core.actionMap.indexOf(code);
  return k >= 0 ? k : 0;
}

/** A simple hand-written policy per env: enough to see the game being played on purpose. */
export function scriptedAction(env: VecEnv<EnvCore>, i: number, rng: Rng): number {
  const core = env.envs[i]!;
  switch (env.id) {
    case 'cartpole': {
      const s = (core as CartPole).state;
      return s.theta + 0.5 * s.thetaDot > 0 ? 1 : 0;
    }
    case 'pendulum': {
      const s = (core as Pendulum).state;
      // θ̈ = 15 sin θ + 3u: energy E = ½θ̇² + 15 cos θ, 15 upright, dE/dt = 3uθ̇.
      const th = angleNormalize(s.theta);
      if (Math.cos(th) > 0.95) return Math.max(-2, Math.min(2, -(10 * th + 2 * s.thetaDot)));
      const e = 0.5 * s.thetaDot * s.thetaDot + 15 * Math.cos(th);
      const push = s.thetaDot * (15 - e);
      return push > 0 ? 2 : push < 0 ? -2 : 2; // pump (or brake) towards the upright energy
    }
    case 'mdp/three-state':
      return 0;
  }
  const m = core as MinAtarEnv;
  switch (env.id) {
    case 'minatar/breakout': {
      // Follow the ball's predicted column on row 8 (walls mirror, as in the rules).
      const s = (m.game as Breakout).state;
      let x = s.ballX;
      let dx = s.ballDir === 0 || s.ballDir === 3 ? -1 : 1;
      if (s.ballDir >= 2) {
        for (let y = s.ballY; y < 8; y++) {
          x += dx;
          if (x < 0 || x > 9) {
            x = x < 0 ? 0 : 9;
            dx = -dx;
          }
        }
      }
      return indexOf(m, x < s.paddleX ? LEFT : x > s.paddleX ? RIGHT : NOOP);
    }
    case 'minatar/freeway':
      return indexOf(m, UP);
    case 'minatar/asterix': {
      const s = (m.game as Asterix).state;
      const row = s.playerY - 1;
      const danger = s.slots.some((e, k) => e && !e.gold && Math.abs(k - row) <= 0 && Math.abs(e.x - s.playerX) <= 2);
      if (danger) return indexOf(m, row < 4 ? DOWN : UP);
      const gold = s.slots.findIndex((e) => e?.gold);
      if (gold >= 0 && gold !== row) return indexOf(m, gold < row ? UP : DOWN);
      return indexOf(m, NOOP);
    }
    case 'minatar/space_invaders': {
      const s = (m.game as SpaceInvaders).state;
      for (let y = 6; y <= 8; y++) {
        if (s.enemyBullets[y * 10 + s.cannonX] === 1) return indexOf(m, s.cannonX > 0 ? LEFT : RIGHT);
      }
      let target = s.cannonX;
      let best = Infinity;
      for (let k = 0; k < 100; k++) {
        if (s.aliens[k] === 1 && Math.abs((k % 10) - s.cannonX) < best) {
          best = Math.abs((k % 10) - s.cannonX);
          target = k % 10;
        }
      }
      if (target === s.cannonX) return indexOf(m, FIRE);
      return indexOf(m, target < s.cannonX ? LEFT : RIGHT);
    }
    case 'minatar/seaquest': {
      const s = (m.game as Seaquest).state;
      if (s.subY > 0 && (s.oxygen < 30 || s.divers >= 6)) return indexOf(m, UP);
      if (s.subY === 0) return indexOf(m, DOWN);
      return rng.int(m.actionMap.length);
    }
  }
  return 0;
}

export function policyAction(policy: PolicyName, env: VecEnv<EnvCore>, i: number, rng: Rng): number {
  const sp = env.actionSpace;
  if (policy === 'scripted') return scriptedAction(env, i, rng);
  if (sp.kind === 'discrete') return policy === 'noop' ? 0 : rng.int(sp.n);
  return policy === 'noop' ? 0 : sp.low[0]! + (sp.high[0]! - sp.low[0]!) * rng.uniform();
}

export interface WatchOptions {
  policy: PolicyName;
  steps: number;
  seed: number;
  preset?: 'paper' | 'gymnax';
  png?: string;
  delay: number;
  every: number;
  out?: (s: string) => void;
}

/** Play one env for `steps` steps, printing every `every`-th frame; returns the episode records. */
export async function watch(id: string, o: WatchOptions) {
  const print = o.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const opts: EnvOptions = { numEnvs: 1, seed: o.seed };
  if (o.preset) {
    if (!id.startsWith('minatar/')) throw new Error(`--preset applies to minatar/* envs only`);
    opts.preset = o.preset;
  }
  await preloadEnv(id); // mujoco/*: MuJoCo's WebAssembly module
  const env = makeEnv(id, opts);
  const rng = new Rng(o.seed, 0xffff); // the policy's own stream, apart from the env's
  env.reset();
  const clear = o.delay > 0 && process.stdout.isTTY;
  const show = (a: number[]) => {
    const s = a.map((x) => (Number.isInteger(x) ? String(x) : x.toFixed(3)));
    return s.length === 1 ? s[0]! : `[${s.join(', ')}]`;
  };
  const frame = (t: number, a: number[] | null, r: number, final = false) => {
    const head = `${id}  step ${t}  ` + (a === null ? 'reset' : `action ${show(a)}  reward ${r.toFixed(3)}`) +
      (final ? '  (last frame of the episode)' : `  return ${env.episodeReturns[0]!.toFixed(3)}`);
    print((clear ? '\x1b[H\x1b[2J' : '') + head + '\n' + env.renderText(0, final ? 'final' : 'current') + '\n');
  };
  frame(0, null, 0);
  for (let t = 1; t <= o.steps; t++) {
    // Box envs with several components (MuJoCo) get one draw per component.
    const a = Array.from({ length: env.actSize }, () => policyAction(o.policy, env, 0, rng));
    const res = env.step(a);
    if (t % o.every === 0 || res.done[0]) frame(t, a, res.rewards[0]!, res.done[0] === 1);
    if (res.done[0]) {
      const ep = env.completedEpisodes()[0]!;
      print(`-- episode over (${ep.terminated ? 'terminated' : 'truncated'}): return ${ep.return.toFixed(3)}, length ${ep.length}\n`);
    }
    if (o.delay > 0) await new Promise((r) => setTimeout(r, o.delay));
  }
  if (o.png) {
    writeFileSync(o.png, env.renderPng(0));
    print(`wrote ${o.png}`);
  }
}

export function buildCli(): Command {
  return new Command('watch')
    .description('Watch an agent play an environment as text frames (and write a PNG frame).')
    .argument('<env>', `env id: ${ENV_IDS.join(', ')}`)
    .addOption(new Option('--policy <name>', 'policy').choices(['random', 'noop', 'scripted']).default('random'))
    .option('--steps <n>', 'steps to play', (v) => parseInt(v, 10), 200)
    .option('--seed <n>', 'seed', (v) => parseInt(v, 10), 0)
    .addOption(new Option('--preset <name>', 'MinAtar preset').choices(['paper', 'gymnax']))
    .option('--png <file>', 'write the last frame as a PNG')
    .option('--delay <ms>', 'pause between frames (clears the screen on a TTY)', (v) => parseInt(v, 10), 0)
    .option('--every <k>', 'print every k-th frame', (v) => parseInt(v, 10), 1)
    .action(async (id: string, opts: Omit<WatchOptions, 'out'>) => {
      await watch(id, opts);
    });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  buildCli()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
