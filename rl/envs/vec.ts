import { checkSeed, Rng } from './rng.ts';
import { svgToPng } from './render.ts';
import {
  spaceSize,
  type Actions,
  type EnvCore,
  type EpisodeRecord,
  type Space,
  type StepResult,
  type VecEnvState,
} from './types.ts';

export type RenderWhich = 'current' | 'final';

export interface VecEnvConfig<C extends EnvCore> {
  id: string;
  numEnvs: number;
  seed: number;
  observationSpace: Space;
  actionSpace: Space;
  /** Step cap per episode (reported as `truncated`); 0 = none. */
  maxEpisodeSteps: number;
  makeCore: (envIndex: number) => C;
}

/**
 * A batch of independent environments stepped together, with autoreset, truncation and
 * episode statistics. Env i draws all its randomness from its own Philox stream
 * (seed, envIndex) — see rng.ts — so a run is reproducible and its trajectory does not depend
 * on the batch size.
 */
export class VecEnv<C extends EnvCore = EnvCore> {
  readonly id: string;
  readonly numEnvs: number;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  /** Floats per observation. */
  readonly obsSize: number;
  /** Scalars per action (1 for discrete spaces). */
  readonly actSize: number;
  readonly maxEpisodeSteps: number;
  /** The per-env instances; tests use them to place a game in a scripted state. */
  readonly envs: C[];
  /** Return of the episode in progress in each env. */
  readonly episodeReturns: Float64Array;
  /** Steps taken in the episode in progress in each env. */
  readonly episodeLengths: Int32Array;

  private seed: number;
  private readonly rngs: Rng[];
  private started = false;
  private completed: EpisodeRecord[] = [];
  private readonly result: StepResult;

  constructor(cfg: VecEnvConfig<C>) {
    if (!Number.isInteger(cfg.numEnvs) || cfg.numEnvs < 1) {
      throw new Error(`numEnvs must be a positive integer, got ${cfg.numEnvs}`);
    }
    checkSeed(cfg.seed);
    this.id = cfg.id;
    this.numEnvs = cfg.numEnvs;
    this.seed = cfg.seed;
    this.observationSpace = cfg.observationSpace;
    this.actionSpace = cfg.actionSpace;
    this.obsSize = spaceSize(cfg.observationSpace);
    this.actSize = spaceSize(cfg.actionSpace);
    this.maxEpisodeSteps = cfg.maxEpisodeSteps;
    this.envs = [];
    this.rngs = [];
    for (let i = 0; i < cfg.numEnvs; i++) {
      this.envs.push(cfg.makeCore(i));
      this.rngs.push(new Rng(cfg.seed, i));
    }
    const n = cfg.numEnvs;
    this.episodeReturns = new Float64Array(n);
    this.episodeLengths = new Int32Array(n);
    this.result = {
      obs: new Float32Array(n * this.obsSize),
      rewards: new Float32Array(n),
      terminated: new Uint8Array(n),
      truncated: new Uint8Array(n),
      done: new Uint8Array(n),
      finalObs: new Float32Array(n * this.obsSize),
    };
  }

  /**
   * Start a new episode in every env and return the observations (numEnvs × obsSize, reused
   * by later calls). Without a seed the streams continue where they are (the first call uses
   * the construction seed); with a seed every stream is re-keyed and restarts at counter 0.
   * Episodes in progress are dropped without a record.
   */
  reset(seed?: number): Float32Array {
    if (seed !== undefined) {
      checkSeed(seed);
      this.seed = seed;
      for (const r of this.rngs) r.reseed(seed);
    }
    const { obs } = this.result;
    for (let i = 0; i < this.numEnvs; i++) {
      this.envs[i]!.reset(this.rngs[i]!);
      this.envs[i]!.writeObs(obs, i * this.obsSize);
    }
    this.episodeReturns.fill(0);
    this.episodeLengths.fill(0);
    this.result.rewards.fill(0);
    this.result.terminated.fill(0);
    this.result.truncated.fill(0);
    this.result.done.fill(0);
    this.started = true;
    return obs;
  }

  /**
   * Step every env with its action (`numEnvs` integers for a discrete space, numEnvs × actSize
   * floats for a box, env-major). Returns arrays owned by the env: see StepResult.
   */
  step(actions: Actions): StepResult {
    if (!this.started) throw new Error(`${this.id}: call reset() before step()`);
    this.validate(actions);
    const { obs, rewards, terminated, truncated, done, finalObs } = this.result;
    const n = this.numEnvs;
    const os = this.obsSize;
    const as = this.actSize;
    const cap = this.maxEpisodeSteps;
    for (let i = 0; i < n; i++) {
      const core = this.envs[i]!;
      const rng = this.rngs[i]!;
      const r = core.step(actions[i * as]!, rng, actions, i * as);
      const len = this.episodeLengths[i]! + 1;
      const ret = this.episodeReturns[i]! + r;
      rewards[i] = r;
      const term = core.terminated;
      const trunc = !term && cap > 0 && len >= cap;
      terminated[i] = term ? 1 : 0;
      truncated[i] = trunc ? 1 : 0;
      if (term || trunc) {
        done[i] = 1;
        core.writeObs(finalObs, i * os);
        this.completed.push({ envIndex: i, return: ret, length: len, terminated: term });
        core.reset(rng);
        this.episodeLengths[i] = 0;
        this.episodeReturns[i] = 0;
      } else {
        done[i] = 0;
        this.episodeLengths[i] = len;
        this.episodeReturns[i] = ret;
      }
      core.writeObs(obs, i * os);
    }
    return this.result;
  }

  private validate(actions: Actions): void {
    const want = this.numEnvs * this.actSize;
    if (actions == null || typeof actions.length !== 'number') {
      throw new Error(`${this.id}: actions must be an array of ${want} numbers`);
    }
    if (actions.length !== want) {
      throw new Error(
        `${this.id}: expected ${want} actions (numEnvs ${this.numEnvs} × ${this.actSize}), got ${actions.length}`,
      );
    }
    const sp = this.actionSpace;
    if (sp.kind === 'discrete') {
      for (let i = 0; i < want; i++) {
        const a = actions[i]!;
        if (!(a >= 0 && a < sp.n && Math.floor(a) === a)) {
          throw new Error(`${this.id}: action ${a} for env ${i} is not an integer in [0, ${sp.n})`);
        }
      }
    } else {
      const as = this.actSize;
      for (let i = 0; i < want; i++) {
        if (!Number.isFinite(actions[i]!)) {
          const env = Math.floor(i / as);
          const part = as > 1 ? ` (component ${i % as} of ${as})` : '';
          throw new Error(
            `${this.id}: action ${actions[i]} for env ${env}${part} at step ${this.episodeLengths[env]! + 1} of its episode (array index ${i}) is not a finite number`,
          );
        }
      }
    }
  }

  /** Finished episodes since the last call (drained). */
  completedEpisodes(): EpisodeRecord[] {
    const out = this.completed;
    this.completed = [];
    return out;
  }

  /** JSON-serialisable checkpoint: env states, RNG counters, running statistics. */
  getState(): VecEnvState {
    return {
      id: this.id,
      numEnvs: this.numEnvs,
      seed: this.seed,
      started: this.started,
      rng: this.rngs.map((r) => r.getState()),
      cores: this.envs.map((c) => c.getState()),
      episodeReturns: Array.from(this.episodeReturns),
      episodeLengths: Array.from(this.episodeLengths),
      completed: this.completed.map((e) => ({ ...e })),
    };
  }

  /**
   * Restore a checkpoint made by getState() of an env with the same id and numEnvs. The output
   * arrays are refreshed with the restored observations (`obs` is returned).
   */
  setState(s: VecEnvState): Float32Array {
    if (s.id !== this.id) throw new Error(`state is for env '${s.id}', this is '${this.id}'`);
    if (s.numEnvs !== this.numEnvs) {
      throw new Error(`state has ${s.numEnvs} envs, this batch has ${this.numEnvs}`);
    }
    this.seed = s.seed;
    this.started = s.started;
    for (let i = 0; i < this.numEnvs; i++) {
      this.rngs[i]!.setState(s.rng[i]!);
      this.envs[i]!.setState(s.cores[i]);
      this.episodeReturns[i] = s.episodeReturns[i]!;
      this.episodeLengths[i] = s.episodeLengths[i]!;
      this.envs[i]!.writeObs(this.result.obs, i * this.obsSize);
    }
    this.completed = s.completed.map((e) => ({ ...e }));
    return this.result.obs;
  }

  /**
   * Text frame of env i: its current state, or with `which = 'final'` the last observation of
   * the episode that ended on the latest step (valid where `done[i]`; autoreset has already
   * replaced the current state).
   */
  renderText(i = 0, which: RenderWhich = 'current'): string {
    return this.core(i).renderText(this.frameObs(i, which));
  }

  /** SVG frame of env i (see renderText for `which`). */
  renderSvg(i = 0, which: RenderWhich = 'current'): string {
    return this.core(i).renderSvg(this.frameObs(i, which));
  }

  /** PNG frame of env i (bytes), optionally fitted to `width` pixels. */
  renderPng(i = 0, width?: number, which: RenderWhich = 'current'): Uint8Array {
    return svgToPng(this.renderSvg(i, which), width);
  }

  private frameObs(i: number, which: RenderWhich): Float32Array | undefined {
    this.core(i);
    if (which === 'current') return undefined;
    if (which !== 'final') throw new Error(`render: which must be 'current' or 'final', got '${which}'`);
    return this.result.finalObs.subarray(i * this.obsSize, (i + 1) * this.obsSize);
  }

  private core(i: number): C {
    const c = this.envs[i];
    if (!c) throw new Error(`env index ${i} out of range [0, ${this.numEnvs})`);
    return c;
  }
}
