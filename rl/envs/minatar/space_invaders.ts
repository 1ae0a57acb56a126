import type { ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import { FIRE, GRID, idx, LEFT, RIGHT, type Game } from './common.ts';

// docs/spec/minatar.md § Space Invaders.
export const SI_CH = {
  cannon: 0, alien: 1, alienLeft: 2, alienRight: 3, friendlyBullet: 4, enemyBullet: 5,
} as const;
export const SPACE_INVADERS = {
  shotCooldown: 5, initMoveInterval: 12, alienShotPeriod: 10, minMoveInterval: 6,
} as const;

const N = GRID * GRID;

export interface SpaceInvadersState {
  cannonX: number;
  /** 100 cells row-major (y·10 + x); 1 = alien / bullet. */
  aliens: number[];
  friendlyBullets: number[];
  enemyBullets: number[];
  /** −1 left, +1 right. */
  alienDir: number;
  alienMoveTimer: number;
  alienShotTimer: number;
  shotTimer: number;
  moveInterval: number;
  rampIndex: number;
}

function alienBlock(): number[] {
  const a = new Array<number>(GRID * GRID).fill(0);
  for (let y = 0; y <= 3; y++) for (let x = 2; x <= 7; x++) a[y * GRID + x] = 1;
  return a;
}

export class SpaceInvaders implements Game<SpaceInvadersState> {
  readonly name = 'space_invaders';
  readonly channels = 6;
  readonly minimalActions = [0, 1, 3, 5] as const;
  readonly channelStyles: ChannelStyle[] = [
    { channel: SI_CH.cannon, name: 'cannon', char: 'A', color: '#4fc3f7' },
    { channel: SI_CH.friendlyBullet, name: 'shot', char: '|', color: '#ffffff' },
    { channel: SI_CH.enemyBullet, name: 'bomb', char: '!', color: '#ff8a65' },
    { channel: SI_CH.alienLeft, name: 'alien<', char: '<', color: '#81c784' },
    { channel: SI_CH.alienRight, name: 'alien>', char: '>', color: '#aed581' },
    { channel: SI_CH.alien, name: 'alien', char: 'M', color: '#81c784' },
  ];
  terminal = false;
  state: SpaceInvadersState = SpaceInvaders.initial();
  readonly ramping: boolean;

  constructor(ramping = true) {
    this.ramping = ramping;
  }

  static initial(): SpaceInvadersState {
    return {
      cannonX: 5,
      aliens: alienBlock(),
      friendlyBullets: new Array<number>(GRID * GRID).fill(0),
      enemyBullets: new Array<number>(GRID * GRID).fill(0),
      alienDir: -1,
      alienMoveTimer: SPACE_INVADERS.initMoveInterval,
      alienShotTimer: SPACE_INVADERS.alienShotPeriod,
      shotTimer: 0,
      moveInterval: SPACE_INVADERS.initMoveInterval,
      rampIndex: 0,
    };
  }

  reset(): void {
    this.state = SpaceInvaders.initial();
    this.terminal = false;
  }

  step(a: number, _rng?: Rng): number {
    const s = this.state;
    const A = s.aliens;
    let reward = 0;
    // Cannon: fire if ready, otherwise move.
    if (a === FIRE && s.shotTimer === 0) {
      s.friendlyBullets[(GRID - 1) * GRID + s.cannonX] = 1;
      s.shotTimer = SPACE_INVADERS.shotCooldown;
    } else if (a === LEFT) {
      s.cannonX = Math.max(0, s.cannonX - 1);
    } else if (a === RIGHT) {
      s.cannonX = Math.min(GRID - 1, s.cannonX + 1);
    }
    const cannon = (GRID - 1) * GRID + s.cannonX;
    // Bullets.
    // Whole-grid row shifts as index moves (row-major, 10 cells per row). Plain loops: V8's
    // Array.prototype.copyWithin on number[] is ~60× slower.
    const F = s.friendlyBullets;
    for (let k = 0; k < N - GRID; k++) F[k] = F[k + GRID]!;
    for (let k = N - GRID; k < N; k++) F[k] = 0;
    const E = s.enemyBullets;
    for (let k = N - 1; k >= GRID; k--) E[k] = E[k - GRID]!;
    for (let k = 0; k < GRID; k++) E[k] = 0;
    if (s.enemyBullets[cannon] === 1) this.terminal = true;
    if (A[cannon] === 1) this.terminal = true;
    // Alien formation.
    if (s.alienMoveTimer === 0) {
      let count = 0;
      let atLeftEdge = false;
      let atRightEdge = false;
      let onBottom = false;
      for (let y = 0; y < GRID; y++) {
        for (let x = 0; x < GRID; x++) {
          if (A[y * GRID + x] !== 1) continue;
          count++;
          if (x === 0) atLeftEdge = true;
          if (x === GRID - 1) atRightEdge = true;
          if (y === GRID - 1) onBottom = true;
        }
      }
      s.alienMoveTimer = Math.min(count, s.moveInterval);
      if ((atLeftEdge && s.alienDir < 0) || (atRightEdge && s.alienDir > 0)) {
        s.alienDir = -s.alienDir;
        if (onBottom) this.terminal = true;
        // down one row as a rotation: row 9 wraps round to row 0
        for (let x = 0; x < GRID; x++) {
          const bottom = A[N - GRID + x]!;
          for (let k = N - GRID + x; k >= GRID; k -= GRID) A[k] = A[k - GRID]!;
          A[x] = bottom;
        }
      } else if (s.alienDir < 0) {
        // one column left: a flat shift by one index is exact because column 0 is empty here
        // (an alien there would have reversed the formation), so nothing wraps between rows
        for (let k = 0; k < N - 1; k++) A[k] = A[k + 1]!;
        A[N - 1] = 0;
      } else {
        for (let k = N - 1; k > 0; k--) A[k] = A[k - 1]!; // column 9 empty, likewise
        A[0] = 0;
      }
      if (A[cannon] === 1) this.terminal = true;
    }
    // Alien fire: the column holding aliens nearest the cannon (ties → lower column), its lowest alien.
    if (s.alienShotTimer === 0) {
      s.alienShotTimer = SPACE_INVADERS.alienShotPeriod;
      let bestX = -1;
      let bestD = Infinity;
      for (let x = 0; x < GRID; x++) {
        let has = false;
        for (let y = 0; y < GRID; y++) if (A[y * GRID + x] === 1) has = true;
        if (!has) continue;
        const d = Math.abs(x - s.cannonX);
        if (d < bestD) {
          bestD = d;
          bestX = x;
        }
      }
      if (bestX >= 0) {
        let lowest = -1;
        for (let y = 0; y < GRID; y++) if (A[y * GRID + bestX] === 1) lowest = y;
        s.enemyBullets[lowest * GRID + bestX] = 1;
      }
    }
    // Hits.
    for (let k = 0; k < GRID * GRID; k++) {
      if (A[k] === 1 && s.friendlyBullets[k] === 1) {
        A[k] = 0;
        s.friendlyBullets[k] = 0;
        reward += 1;
      }
    }
    // Timers.
    if (s.shotTimer > 0) s.shotTimer--;
    s.alienMoveTimer--;
    s.alienShotTimer--;
    // Wave cleared: ramp and respawn.
    if (!A.includes(1)) {
      if (this.ramping && s.moveInterval > SPACE_INVADERS.minMoveInterval) {
        s.moveInterval--;
        s.rampIndex++;
      }
      const block = alienBlock();
      for (let k = 0; k < GRID * GRID; k++) A[k] = block[k]!;
    }
    return reward;
  }

  writeObs(out: Float32Array, o: number): void {
    const C = this.channels;
    out.fill(0, o, o + GRID * GRID * C);
    const s = this.state;
    out[o + idx(GRID - 1, s.cannonX, SI_CH.cannon, C)] = 1;
    const dirCh = s.alienDir < 0 ? SI_CH.alienLeft : SI_CH.alienRight;
    for (let k = 0; k < GRID * GRID; k++) {
      const b = o + k * C;
      if (s.aliens[k] === 1) {
        out[b + SI_CH.alien] = 1;
        out[b + dirCh] = 1;
      }
      if (s.friendlyBullets[k] === 1) out[b + SI_CH.friendlyBullet] = 1;
      if (s.enemyBullets[k] === 1) out[b + SI_CH.enemyBullet] = 1;
    }
  }
}
