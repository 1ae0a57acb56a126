import type { ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import { DOWN, GRID, idx, LEFT, RIGHT, UP, type Game } from './common.ts';

// docs/spec/minatar.md § Asterix.
export const ASTERIX_CH = { player: 0, enemy: 1, trail: 2, gold: 3 } as const;
export const ASTERIX = { rampInterval: 100, initSpawnPeriod: 10, initMovePeriod: 5, slots: 8 } as const;

/** Entity slot k lives on row k + 1. */
export interface AsterixEntity {
  x: number;
  /** true: moving right (+1); false: moving left. */
  right: boolean;
  gold: boolean;
}

export interface AsterixState {
  playerX: number;
  playerY: number;
  slots: (AsterixEntity | null)[];
  spawnPeriod: number;
  spawnTimer: number;
  movePeriod: number;
  moveTimer: number;
  rampTimer: number;
  rampIndex: number;
}

export class Asterix implements Game<AsterixState> {
  readonly name = 'asterix';
  readonly channels = 4;
  readonly minimalActions = [0, 1, 2, 3, 4] as const;
  readonly channelStyles: ChannelStyle[] = [
    { channel: ASTERIX_CH.player, name: 'player', char: '@', color: '#4fc3f7' },
    { channel: ASTERIX_CH.gold, name: 'gold', char: '$', color: '#ffd54f' },
    { channel: ASTERIX_CH.enemy, name: 'enemy', char: 'X', color: '#e57373' },
    { channel: ASTERIX_CH.trail, name: 'trail', char: ':', color: '#777777' },
  ];
  terminal = false;
  state: AsterixState = Asterix.initial();
  readonly ramping: boolean;

  constructor(ramping = true) {
    this.ramping = ramping;
  }

  static initial(): AsterixState {
    return {
      playerX: 5,
      playerY: 5,
      slots: new Array<AsterixEntity | null>(ASTERIX.slots).fill(null),
      spawnPeriod: ASTERIX.initSpawnPeriod,
      spawnTimer: ASTERIX.initSpawnPeriod,
      movePeriod: ASTERIX.initMovePeriod,
      moveTimer: ASTERIX.initMovePeriod,
      rampTimer: ASTERIX.rampInterval,
      rampIndex: 0,
    };
  }

  reset(): void {
    this.state = Asterix.initial();
    this.terminal = false;
  }

  /**
   * Spawn draws, in order: direction (right with p ½), kind (gold with p ⅓), then the slot
   * (uniform over free slots; no draw when none is free).
   */
  private spawn(rng: Rng): void {
    const s = this.state;
    const right = rng.uniform() < 0.5;
    const gold = rng.uniform() < 1 / 3;
    let free = 0;
    for (const e of s.slots) if (e === null) free++;
    if (free === 0) return;
    let k = rng.int(free);
    for (let slot = 0; slot < ASTERIX.slots; slot++) {
      if (s.slots[slot] !== null) continue;
      if (k-- === 0) {
        s.slots[slot] = { x: right ? 0 : GRID - 1, right, gold };
        return;
      }
    }
  }

  /** Rule 3: an entity on the player's cell — gold is collected (+1), an enemy ends the game. */
  private collide(): number {
    const s = this.state;
    const slot = s.playerY - 1;
    const e = s.slots[slot];
    if (!e || e.x !== s.playerX) return 0;
    if (e.gold) {
      s.slots[slot] = null;
      return 1;
    }
    this.terminal = true;
    return 0;
  }

  step(a: number, rng: Rng): number {
    const s = this.state;
    let reward = 0;
    // 1. spawn
    if (s.spawnTimer === 0) {
      this.spawn(rng);
      s.spawnTimer = s.spawnPeriod;
    }
    // 2. player
    if (a === LEFT) s.playerX = Math.max(0, s.playerX - 1);
    else if (a === RIGHT) s.playerX = Math.min(GRID - 1, s.playerX + 1);
    else if (a === UP) s.playerY = Math.max(1, s.playerY - 1);
    else if (a === DOWN) s.playerY = Math.min(8, s.playerY + 1);
    // 3. collisions
    reward += this.collide();
    // 4. entities move
    if (s.moveTimer === 0) {
      s.moveTimer = s.movePeriod;
      for (let k = 0; k < ASTERIX.slots; k++) {
        const e = s.slots[k];
        if (!e) continue;
        e.x += e.right ? 1 : -1;
        if (e.x < 0 || e.x > GRID - 1) s.slots[k] = null;
      }
      reward += this.collide();
    }
    // 5. timers
    s.spawnTimer--;
    s.moveTimer--;
    // 6. ramping
    if (this.ramping && (s.spawnPeriod > 1 || s.movePeriod > 1)) {
      if (s.rampTimer >= 0) {
        s.rampTimer--;
      } else {
        if (s.movePeriod > 1 && s.rampIndex % 2 === 1) s.movePeriod--;
        if (s.spawnPeriod > 1) s.spawnPeriod--;
        s.rampIndex++;
        s.rampTimer = ASTERIX.rampInterval;
      }
    }
    return reward;
  }

  writeObs(out: Float32Array, o: number): void {
    const C = this.channels;
    out.fill(0, o, o + GRID * GRID * C);
    const s = this.state;
    out[o + idx(s.playerY, s.playerX, ASTERIX_CH.player, C)] = 1;
    for (let k = 0; k < ASTERIX.slots; k++) {
      const e = s.slots[k];
      if (!e) continue;
      const y = k + 1;
      out[o + idx(y, e.x, e.gold ? ASTERIX_CH.gold : ASTERIX_CH.enemy, C)] = 1;
      const tx = e.right ? e.x - 1 : e.x + 1;
      if (tx >= 0 && tx < GRID) out[o + idx(y, tx, ASTERIX_CH.trail, C)] = 1;
    }
  }
}
