import { gridSvg, gridText, type ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import type { EnvCore } from '../types.ts';

// docs/spec/minatar.md § Common rules.
export const GRID = 10;
export const NOOP = 0;
export const LEFT = 1;
export const UP = 2;
export const RIGHT = 3;
export const DOWN = 4;
export const FIRE = 5;
export const ACTION_NAMES = ['noop', 'left', 'up', 'right', 'down', 'fire'] as const;

/**
 * One MinAtar game, acting on the game's action codes (0 no-op … 5 fire). `state` is a plain
 * JSON-able object that tests may edit to place the game in a scripted situation.
 */
export interface Game<S = unknown> {
  readonly name: string;
  readonly channels: number;
  readonly channelStyles: ChannelStyle[];
  /** Action codes of the minimal action set, in network-index order. */
  readonly minimalActions: readonly number[];
  state: S;
  /** Set by step when a terminal condition was met (the step still runs to the end). */
  terminal: boolean;
  reset(rng: Rng): void;
  /** One frame with action code `a`; returns the reward. */
  step(a: number, rng: Rng): number;
  /** Write the 10×10×C observation, (row, col, channel) order, at out[o…]. Zeroes it first. */
  writeObs(out: Float32Array, o: number): void;
}

/** Flat index of (row y, column x, channel c) in a 10×10×C observation. */
export function idx(y: number, x: number, c: number, C: number): number {
  return (y * GRID + x) * C + c;
}

export interface MinAtarOptions {
  stickyProb: number;
  minimalActions: boolean;
  ramping: boolean;
}

export interface MinAtarCoreState {
  lastAction: number;
  terminal: boolean;
  game: unknown;
}

/**
 * Wraps a game with the network-facing action set and sticky actions. The previously executed
 * action starts at 0 and survives resets (spec: "not reset by reset()").
 */
export class MinAtarEnv<G extends Game = Game> implements EnvCore {
  readonly game: G;
  /** Network action index → game action code. */
  readonly actionMap: Int32Array;
  readonly stickyProb: number;
  /** Previously executed action code. */
  lastAction = 0;

  constructor(game: G, opts: MinAtarOptions) {
    this.game = game;
    this.stickyProb = opts.stickyProb;
    this.actionMap = Int32Array.from(opts.minimalActions ? game.minimalActions : [0, 1, 2, 3, 4, 5]);
  }

  get terminated(): boolean {
    return this.game.terminal;
  }

  reset(rng: Rng): void {
    this.game.terminal = false;
    this.game.reset(rng);
  }

  /** Draw order per step: the sticky-action uniform (only when stickyProb > 0), then the game's. */
  step(action: number, rng: Rng): number {
    let a = this.actionMap[action]!;
    if (this.stickyProb > 0 && rng.uniform() < this.stickyProb) a = this.lastAction;
    this.lastAction = a;
    this.game.terminal = false;
    return this.game.step(a, rng);
  }

  writeObs(out: Float32Array, o: number): void {
    this.game.writeObs(out, o);
  }

  getState(): MinAtarCoreState {
    return { lastAction: this.lastAction, terminal: this.game.terminal, game: structuredClone(this.game.state) };
  }

  setState(s: unknown): void {
    const st = s as MinAtarCoreState;
    this.lastAction = st.lastAction;
    this.game.terminal = st.terminal;
    this.game.state = structuredClone(st.game) as G['state'];
  }

  private scratch: Float32Array | null = null;

  /** The current observation in a scratch array (for rendering and tests). */
  observe(): Float32Array {
    const n = GRID * GRID * this.game.channels;
    if (!this.scratch) this.scratch = new Float32Array(n);
    this.game.writeObs(this.scratch, 0);
    return this.scratch;
  }

  renderText(obs?: Float32Array): string {
    const terminal = !obs && this.game.terminal;
    return `${this.game.name}${terminal ? ' [terminal]' : ''}\n` +
      gridText(obs ?? this.observe(), this.game.channels, this.game.channelStyles);
  }

  renderSvg(obs?: Float32Array): string {
    return gridSvg(obs ?? this.observe(), this.game.channels, this.game.channelStyles, `minatar/${this.game.name}`);
  }
}
