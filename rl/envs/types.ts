import type { Rng } from './rng.ts';

/** A discrete space {0, …, n−1}. */
export interface DiscreteSpace {
  kind: 'discrete';
  n: number;
}

/** A box of float32 values with elementwise bounds (±Infinity where unbounded). */
export interface BoxSpace {
  kind: 'box';
  shape: number[];
  low: number[];
  high: number[];
}

export type Space = DiscreteSpace | BoxSpace;

/** Number of scalars one element of the space occupies in a flat array. */
export function spaceSize(s: Space): number {
  return s.kind === 'discrete' ? 1 : s.shape.reduce((a, b) => a * b, 1);
}

/**
 * One environment instance inside a batch. Implementations are plain, allocation-free on the
 * hot path, and know nothing about batching, autoreset, truncation or statistics.
 */
export interface EnvCore {
  /** Start a new episode, drawing any randomness from `rng`. */
  reset(rng: Rng): void;
  /**
   * Advance one step with a validated action; return the reward and set `terminated`.
   * `action` is the env's first action scalar; a box env with several components reads all
   * actSize of them from `actions[offset…]` (the batch's env-major array).
   */
  step(action: number, rng: Rng, actions?: ArrayLike<number>, offset?: number): number;
  /** Whether the last step ended the episode (cleared by reset). */
  readonly terminated: boolean;
  /** Write the current observation (obsSize floats) at `out[offset…]`. */
  writeObs(out: Float32Array, offset: number): void;
  /** JSON-serialisable snapshot of everything the core needs to continue exactly. */
  getState(): unknown;
  setState(state: unknown): void;
  /**
   * A text frame for terminals: of the current state, or of `obs` (one observation of this env,
   * obsSize floats) when given — that is how a terminal observation is drawn after autoreset.
   */
  renderText(obs?: Float32Array): string;
  /** An SVG frame (rasterised to PNG by render.ts), of the current state or of `obs`. */
  renderSvg(obs?: Float32Array): string;
}

/** One finished episode. */
export interface EpisodeRecord {
  envIndex: number;
  return: number;
  length: number;
  /** true: ended by the env's own terminal condition; false: truncated by the step cap. */
  readonly terminated: boolean;
}

/**
 * What `step` returns. All arrays belong to the env and are OVERWRITTEN by the next `step` or
 * `reset`: copy what you need to keep (`obs.slice()`).
 *
 * - `obs` (numEnvs × obsSize): the observation to act on next. For an env whose episode just
 *   ended this is already the first observation of its next episode (autoreset).
 * - `finalObs` (numEnvs × obsSize): row i is the last observation of the episode that just
 *   ended in env i — valid only where `done[i] = 1`; other rows hold stale data.
 * - `terminated[i]`: the env's own terminal condition fired (do not bootstrap).
 * - `truncated[i]`: the episode was cut by the step cap (bootstrap from `finalObs`). Never set
 *   together with `terminated`: a step that is both is reported as terminated.
 * - `done[i]` = terminated[i] | truncated[i].
 */
export interface StepResult {
  obs: Float32Array;
  rewards: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  done: Uint8Array;
  finalObs: Float32Array;
}

export type Actions = Int32Array | Float32Array | Float64Array | Uint8Array | ArrayLike<number>;

/** Checkpoint of a whole batch: plain JSON. */
export interface VecEnvState {
  id: string;
  numEnvs: number;
  seed: number;
  started: boolean;
  rng: { seed: number; stream: number; words: number }[];
  cores: unknown[];
  episodeReturns: number[];
  episodeLengths: number[];
  completed: EpisodeRecord[];
}
