/**
 * Environments: batched, seeded, CPU (pure TypeScript). See docs/envs.md.
 *
 *   const env = makeEnv('minatar/breakout', { numEnvs: 64, seed: 1, preset: 'gymnax' });
 *   const first = env.reset();                      // Float32Array, 64 × 400, reused
 *   const { obs, rewards, terminated, truncated, done, finalObs } = env.step(actions);
 */
import { CartPole, CARTPOLE, cartpoleActionSpace, cartpoleObservationSpace } from './cartpole.ts';
import { MDP_MAX_STEPS, mdpActionSpace, mdpObservationSpace, ThreeStateMdp } from './mdp.ts';
import { Asterix } from './minatar/asterix.ts';
import { Breakout } from './minatar/breakout.ts';
import { GRID, MinAtarEnv, type Game } from './minatar/common.ts';
import { Freeway } from './minatar/freeway.ts';
import { Seaquest } from './minatar/seaquest.ts';
import { SpaceInvaders } from './minatar/space_invaders.ts';
import { Pendulum, PENDULUM, pendulumActionSpace, pendulumObservationSpace } from './pendulum.ts';
import { isMujocoId, loadMujoco, makeMujocoEnv, MUJOCO_DESCRIPTIONS, MUJOCO_OPTIONS, MUJOCO_TASK_SPECS, MUJOCO_TASKS } from './mujoco/index.ts';
import type { EnvCore } from './types.ts';
import { VecEnv } from './vec.ts';

export * from './types.ts';
export { VecEnv, type RenderWhich } from './vec.ts';
export { Rng, philox4x32_10, STREAM_TAG, type RngState } from './rng.ts';
export { CartPole, CARTPOLE } from './cartpole.ts';
export { Pendulum, PENDULUM, angleNormalize } from './pendulum.ts';
export { ThreeStateMdp, MDP_P, MDP_R } from './mdp.ts';
export { MinAtarEnv, ACTION_NAMES, type Game } from './minatar/common.ts';
export { Breakout } from './minatar/breakout.ts';
export { Asterix } from './minatar/asterix.ts';
export { Freeway } from './minatar/freeway.ts';
export { Seaquest } from './minatar/seaquest.ts';
export { SpaceInvaders } from './minatar/space_invaders.ts';
export { svgToPng } from './render.ts';

/** Options every env takes. */
export interface CommonEnvOptions {
  /** Envs in the batch (default 1). */
  numEnvs?: number;
  /** Run seed, an integer in [0, 2^53) (default 0). */
  seed?: number;
  /** Step cap per episode, reported as `truncated`; 0 = none. Default: the env's own. */
  maxEpisodeSteps?: number;
}

export type MinAtarPreset = 'paper' | 'gymnax';

export interface MinAtarEnvOptions extends CommonEnvOptions {
  /** 'paper' (default): 6 actions, sticky 0.1, ramping, no cap. 'gymnax': minimal actions, no sticky, ramping, cap 1000 (Freeway 2500). */
  preset?: MinAtarPreset;
  /** Probability that the previously executed action repeats (overrides the preset). */
  stickyProb?: number;
  /** Use the game's minimal action set (overrides the preset). */
  minimalActions?: boolean;
  /** Difficulty ramping (overrides the preset). */
  ramping?: boolean;
}

export type EnvOptions = CommonEnvOptions & Partial<MinAtarEnvOptions> & {
  /** mujoco/*: an MJCF file to load instead of the built-in model. */
  modelFile?: string;
};

export const MINATAR_GAMES = ['breakout', 'asterix', 'freeway', 'seaquest', 'space_invaders'] as const;
export type MinAtarGameName = (typeof MINATAR_GAMES)[number];

const COMMON_OPTIONS = ['numEnvs', 'seed', 'maxEpisodeSteps'] as const;
const MINATAR_OPTIONS = [...COMMON_OPTIONS, 'preset', 'stickyProb', 'minimalActions', 'ramping'] as const;

export const MINATAR_PRESETS: Record<MinAtarPreset, (game: MinAtarGameName) => Required<Omit<MinAtarEnvOptions, 'numEnvs' | 'seed' | 'preset'>>> = {
  paper: () => ({ stickyProb: 0.1, minimalActions: false, ramping: true, maxEpisodeSteps: 0 }),
  gymnax: (game) => ({
    stickyProb: 0,
    minimalActions: true,
    ramping: true,
    maxEpisodeSteps: game === 'freeway' ? 2500 : 1000,
  }),
};

interface Registration {
  description: string;
  options: readonly string[];
  make: (opts: EnvOptions) => VecEnv<EnvCore>;
}

function common(opts: EnvOptions, defaultCap: number) {
  const numEnvs = opts.numEnvs ?? 1;
  const seed = opts.seed ?? 0;
  const maxEpisodeSteps = checkCap(opts.maxEpisodeSteps ?? defaultCap);
  return { numEnvs, seed, maxEpisodeSteps };
}

function checkCap(v: number): number {
  if (v === Infinity) return 0;
  if (!Number.isInteger(v) || v < 0) throw new Error(`maxEpisodeSteps must be a non-negative integer (0 = none), got ${v}`);
  return v;
}

function makeGame(game: MinAtarGameName, ramping: boolean): Game {
  switch (game) {
    case 'breakout':
      return new Breakout();
    case 'asterix':
      return new Asterix(ramping);
    case 'freeway':
      return new Freeway();
    case 'seaquest':
      return new Seaquest(ramping);
    case 'space_invaders':
      return new SpaceInvaders(ramping);
  }
}

/** Resolved MinAtar settings: the preset, then any individual switch on top. */
export function resolveMinAtarOptions(game: MinAtarGameName, opts: MinAtarEnvOptions) {
  const preset = opts.preset ?? 'paper';
  if (!(preset in MINATAR_PRESETS)) {
    throw new Error(`unknown MinAtar preset '${preset}'; valid presets: ${Object.keys(MINATAR_PRESETS).join(', ')}`);
  }
  const base = MINATAR_PRESETS[preset](game);
  const stickyProb = opts.stickyProb ?? base.stickyProb;
  if (!(typeof stickyProb === 'number' && stickyProb >= 0 && stickyProb <= 1)) {
    throw new Error(`stickyProb must be a number in [0, 1], got ${stickyProb}`);
  }
  const minimalActions = opts.minimalActions ?? base.minimalActions;
  const ramping = opts.ramping ?? base.ramping;
  for (const [k, v] of [['minimalActions', minimalActions], ['ramping', ramping]] as const) {
    if (typeof v !== 'boolean') throw new Error(`${k} must be a boolean, got ${v}`);
  }
  const maxEpisodeSteps = checkCap(opts.maxEpisodeSteps ?? base.maxEpisodeSteps);
  return { preset, stickyProb, minimalActions, ramping, maxEpisodeSteps };
}

function minatar(game: MinAtarGameName): Registration {
  return {
    description: `MinAtar ${game} (10×10 grid, presets 'paper' | 'gymnax')`,
    options: MINATAR_OPTIONS,
    make: (opts) => {
      const o = resolveMinAtarOptions(game, opts);
      const probe = makeGame(game, o.ramping);
      const nActions = o.minimalActions ? probe.minimalActions.length : 6;
      return new VecEnv<MinAtarEnv>({
        id: `minatar/${game}`,
        numEnvs: opts.numEnvs ?? 1,
        seed: opts.seed ?? 0,
        observationSpace: {
          kind: 'box',
          shape: [GRID, GRID, probe.channels],
          low: new Array<number>(GRID * GRID * probe.channels).fill(0),
          high: new Array<number>(GRID * GRID * probe.channels).fill(1),
        },
        actionSpace: { kind: 'discrete', n: nActions },
        maxEpisodeSteps: o.maxEpisodeSteps,
        makeCore: () => new MinAtarEnv(makeGame(game, o.ramping), o),
      });
    },
  };
}

const REGISTRY: Record<string, Registration> = {
  cartpole: {
    description: 'CartPole-v1 (4 floats, 2 actions, cap 500)',
    options: COMMON_OPTIONS,
    make: (opts) =>
      new VecEnv({
        id: 'cartpole',
        ...common(opts, CARTPOLE.maxEpisodeSteps),
        observationSpace: cartpoleObservationSpace,
        actionSpace: cartpoleActionSpace,
        makeCore: () => new CartPole(),
      }),
  },
  pendulum: {
    description: 'Pendulum-v1 (3 floats, torque in [−2, 2], cap 200)',
    options: COMMON_OPTIONS,
    make: (opts) =>
      new VecEnv({
        id: 'pendulum',
        ...common(opts, PENDULUM.maxEpisodeSteps),
        observationSpace: pendulumObservationSpace,
        actionSpace: pendulumActionSpace,
        makeCore: () => new Pendulum(),
      }),
  },
  'mdp/three-state': {
    description: 'the 3-state MDP of PAL/MAL (one-hot state, 2 actions, cap 50)',
    options: COMMON_OPTIONS,
    make: (opts) =>
      new VecEnv({
        id: 'mdp/three-state',
        ...common(opts, MDP_MAX_STEPS),
        observationSpace: mdpObservationSpace,
        actionSpace: mdpActionSpace,
        makeCore: () => new ThreeStateMdp(),
      }),
  },
};
for (const g of MINATAR_GAMES) REGISTRY[`minatar/${g}`] = minatar(g);
// MuJoCo's WebAssembly module loads asynchronously: preloadEnv / makeEnvAsync first (rl/envs/mujoco).
for (const t of MUJOCO_TASKS) {
  REGISTRY[`mujoco/${t}`] = {
    description: MUJOCO_DESCRIPTIONS[t],
    options: MUJOCO_OPTIONS,
    make: (opts) => makeMujocoEnv(t, opts, common(opts, MUJOCO_TASK_SPECS[t].maxEpisodeSteps).maxEpisodeSteps),
  };
}

/** Ids makeEnv accepts. */
export const ENV_IDS: readonly string[] = Object.keys(REGISTRY);

export function describeEnvs(): { id: string; description: string; options: readonly string[] }[] {
  return ENV_IDS.map((id) => ({ id, description: REGISTRY[id]!.description, options: REGISTRY[id]!.options }));
}

/**
 * Make a batch of environments. Unknown ids and options throw an error listing the valid ones.
 */
export function makeEnv(id: string, options: EnvOptions = {}): VecEnv<EnvCore> {
  const reg = REGISTRY[id];
  if (!reg) throw new Error(`unknown env id '${id}'; valid ids: ${ENV_IDS.join(', ')}`);
  const bad = Object.keys(options).filter((k) => !reg.options.includes(k));
  if (bad.length > 0) {
    throw new Error(`unknown option${bad.length > 1 ? 's' : ''} ${bad.map((k) => `'${k}'`).join(', ')} for '${id}'; valid options: ${reg.options.join(', ')}`);
  }
  return reg.make(options);
}

/** Load what an env needs before makeEnv can build it (MuJoCo's WebAssembly module for mujoco/*; nothing otherwise). */
export async function preloadEnv(id: string): Promise<void> {
  if (isMujocoId(id)) await loadMujoco();
}

/** makeEnv for any id, loading what the env needs first. */
export async function makeEnvAsync(id: string, options: EnvOptions = {}): Promise<VecEnv<EnvCore>> {
  await preloadEnv(id);
  return makeEnv(id, options);
}

/** Typed accessor for MinAtar batches: the game of env i (tests place scripted states through it). */
export function minatarGame<G extends Game = Game>(env: VecEnv<EnvCore>, i = 0): G {
  const core = env.envs[i];
  if (!(core instanceof MinAtarEnv)) throw new Error(`${env.id} is not a MinAtar env`);
  return core.game as G;
}
