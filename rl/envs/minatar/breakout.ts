import type { ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import { GRID, idx, LEFT, RIGHT, type Game } from './common.ts';

// docs/spec/minatar.md § Breakout.
export const BREAKOUT_CH = { paddle: 0, ball: 1, trail: 2, brick: 3 } as const;

/** Ball directions: 0 up-left, 1 up-right, 2 down-right, 3 down-left. */
export const BALL_DX = [-1, 1, 1, -1] as const;
export const BALL_DY = [-1, -1, 1, 1] as const;
const MIRROR_H = [1, 0, 3, 2]; // 0↔1, 2↔3
const MIRROR_V = [3, 2, 1, 0]; // 0↔3, 1↔2
const REVERSE = [2, 3, 0, 1]; // 0↔2, 1↔3

export interface BreakoutState {
  ballX: number;
  ballY: number;
  ballDir: number;
  lastX: number;
  lastY: number;
  paddleX: number;
  strike: boolean;
  /** 100 cells, row-major (y·10 + x), 1 = brick. */
  bricks: number[];
}

function fullBricks(): number[] {
  const b = new Array<number>(GRID * GRID).fill(0);
  for (let y = 1; y <= 3; y++) for (let x = 0; x < GRID; x++) b[y * GRID + x] = 1;
  return b;
}

export class Breakout implements Game<BreakoutState> {
  readonly name = 'breakout';
  readonly channels = 4;
  readonly minimalActions = [0, 1, 3] as const;
  readonly channelStyles: ChannelStyle[] = [
    { channel: BREAKOUT_CH.ball, name: 'ball', char: 'o', color: '#ffffff' },
    { channel: BREAKOUT_CH.paddle, name: 'paddle', char: '=', color: '#4fc3f7' },
    { channel: BREAKOUT_CH.trail, name: 'trail', char: ':', color: '#777777' },
    { channel: BREAKOUT_CH.brick, name: 'brick', char: '#', color: '#e57373' },
  ];
  terminal = false;
  state: BreakoutState = {
    ballX: 0, ballY: 3, ballDir: 2, lastX: 0, lastY: 3, paddleX: 4, strike: false, bricks: fullBricks(),
  };

  /** One draw: ball at column 0 moving down-right, or column 9 moving down-left. */
  reset(rng: Rng): void {
    const left = rng.int(2) === 0;
    const s = this.state;
    s.ballY = 3;
    s.ballX = left ? 0 : 9;
    s.ballDir = left ? 2 : 3;
    s.lastX = s.ballX;
    s.lastY = s.ballY;
    s.paddleX = 4;
    s.strike = false;
    s.bricks = fullBricks();
    this.terminal = false;
  }

  step(a: number, _rng?: Rng): number {
    const s = this.state;
    let reward = 0;
    if (a === LEFT) s.paddleX = Math.max(0, s.paddleX - 1);
    else if (a === RIGHT) s.paddleX = Math.min(GRID - 1, s.paddleX + 1);

    s.lastX = s.ballX;
    s.lastY = s.ballY;
    let dir = s.ballDir;
    let nx = s.ballX + BALL_DX[dir]!;
    let ny = s.ballY + BALL_DY[dir]!;
    if (nx < 0 || nx > GRID - 1) {
      nx = nx < 0 ? 0 : GRID - 1;
      dir = MIRROR_H[dir]!;
    }
    let hit = false;
    if (ny < 0) {
      ny = 0;
      dir = MIRROR_V[dir]!;
    } else if (s.bricks[ny * GRID + nx] === 1) {
      hit = true;
      if (!s.strike) {
        reward += 1;
        s.strike = true;
        s.bricks[ny * GRID + nx] = 0;
        ny = s.lastY;
        dir = MIRROR_V[dir]!;
      }
    } else if (ny === GRID - 1) {
      if (!s.bricks.includes(1)) {
        for (let y = 1; y <= 3; y++) for (let x = 0; x < GRID; x++) s.bricks[y * GRID + x] = 1;
      }
      if (s.ballX === s.paddleX) {
        dir = MIRROR_V[dir]!;
        ny = s.lastY;
      } else if (nx === s.paddleX) {
        dir = REVERSE[dir]!;
        ny = s.lastY;
      } else {
        this.terminal = true;
      }
    }
    if (!hit) s.strike = false;
    s.ballX = nx;
    s.ballY = ny;
    s.ballDir = dir;
    return reward;
  }

  writeObs(out: Float32Array, o: number): void {
    const C = this.channels;
    out.fill(0, o, o + GRID * GRID * C);
    const s = this.state;
    out[o + idx(s.ballY, s.ballX, BREAKOUT_CH.ball, C)] = 1;
    out[o + idx(GRID - 1, s.paddleX, BREAKOUT_CH.paddle, C)] = 1;
    out[o + idx(s.lastY, s.lastX, BREAKOUT_CH.trail, C)] = 1;
    const b = s.bricks;
    for (let k = 0; k < GRID * GRID; k++) if (b[k] === 1) out[o + k * C + BREAKOUT_CH.brick] = 1;
  }
}
