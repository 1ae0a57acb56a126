import type { ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import { DOWN, FIRE, GRID, idx, LEFT, RIGHT, UP, type Game } from './common.ts';

// docs/spec/minatar.md § Seaquest.
export const SEAQUEST_CH = {
  subFront: 0, subBack: 1, friendlyBullet: 2, trail: 3, enemyBullet: 4,
  fish: 5, enemySub: 6, oxygen: 7, diverGauge: 8, diver: 9,
} as const;
export const SEAQUEST = {
  maxOxygen: 200,
  initSpawnPeriod: 20,
  diverSpawnPeriod: 30,
  initMovePeriod: 5,
  diverMovePeriod: 5,
  shotCooldown: 5,
  enemyShotPeriod: 10,
  maxDivers: 6,
} as const;

/** A moving thing on one row: bullets, fish, enemy subs, divers. `right`: moving +x. */
export interface SqMover {
  x: number;
  y: number;
  right: boolean;
}
export interface SqTimed extends SqMover {
  moveTimer: number;
}
export interface SqSub extends SqTimed {
  shotTimer: number;
}

export interface SeaquestState {
  oxygen: number;
  /** Divers carried; may go negative (the reference's quirk after a full rescue). */
  divers: number;
  subX: number;
  subY: number;
  /** Facing left (the start) or right. */
  subLeft: boolean;
  friendlyBullets: SqMover[];
  enemyBullets: SqMover[];
  fish: SqTimed[];
  subs: SqSub[];
  diverList: SqTimed[];
  spawnTimer: number;
  spawnPeriod: number;
  diverTimer: number;
  movePeriod: number;
  rampIndex: number;
  shotTimer: number;
  atSurface: boolean;
}

const onGrid = (x: number) => x >= 0 && x < GRID;

function findAt(list: SqMover[], x: number, y: number): number {
  for (let i = 0; i < list.length; i++) if (list[i]!.x === x && list[i]!.y === y) return i;
  return -1;
}

/** Trail (channel 3) on the on-grid cell behind a mover. */
function trail(out: Float32Array, o: number, e: SqMover): void {
  const tx = e.right ? e.x - 1 : e.x + 1;
  if (onGrid(tx)) out[o + idx(e.y, tx, SEAQUEST_CH.trail, 10)] = 1;
}

export class Seaquest implements Game<SeaquestState> {
  readonly name = 'seaquest';
  readonly channels = 10;
  readonly minimalActions = [0, 1, 2, 3, 4, 5] as const;
  readonly channelStyles: ChannelStyle[] = [
    { channel: SEAQUEST_CH.subFront, name: 'sub', char: 'S', color: '#ffd54f' },
    { channel: SEAQUEST_CH.subBack, name: 'sub-back', char: 's', color: '#ffb300' },
    { channel: SEAQUEST_CH.friendlyBullet, name: 'shot', char: '-', color: '#ffffff' },
    { channel: SEAQUEST_CH.enemyBullet, name: 'bomb', char: '~', color: '#ff8a65' },
    { channel: SEAQUEST_CH.fish, name: 'fish', char: 'F', color: '#e57373' },
    { channel: SEAQUEST_CH.enemySub, name: 'enemy-sub', char: 'E', color: '#ba68c8' },
    { channel: SEAQUEST_CH.diver, name: 'diver', char: 'd', color: '#4fc3f7' },
    { channel: SEAQUEST_CH.oxygen, name: 'oxygen', char: 'O', color: '#66bb6a' },
    { channel: SEAQUEST_CH.diverGauge, name: 'carried', char: 'D', color: '#29b6f6' },
    { channel: SEAQUEST_CH.trail, name: 'trail', char: ':', color: '#777777' },
  ];
  terminal = false;
  state: SeaquestState = Seaquest.initial();
  readonly ramping: boolean;

  constructor(ramping = true) {
    this.ramping = ramping;
  }

  static initial(): SeaquestState {
    return {
      oxygen: SEAQUEST.maxOxygen,
      divers: 0,
      subX: 5,
      subY: 0,
      subLeft: true,
      friendlyBullets: [],
      enemyBullets: [],
      fish: [],
      subs: [],
      diverList: [],
      spawnTimer: SEAQUEST.initSpawnPeriod,
      spawnPeriod: SEAQUEST.initSpawnPeriod,
      diverTimer: SEAQUEST.diverSpawnPeriod,
      movePeriod: SEAQUEST.initMovePeriod,
      rampIndex: 0,
      shotTimer: 0,
      atSurface: true,
    };
  }

  reset(): void {
    this.state = Seaquest.initial();
    this.terminal = false;
  }

  /** Draws: direction (right p ½), kind (sub p ⅓), row (uniform 1..8). */
  private spawnEnemy(rng: Rng): void {
    const s = this.state;
    const right = rng.uniform() < 0.5;
    const isSub = rng.uniform() < 1 / 3;
    const y = 1 + rng.int(8);
    for (const e of s.fish) if (e.y === y && e.right !== right) return;
    for (const e of s.subs) if (e.y === y && e.right !== right) return;
    const x = right ? 0 : GRID - 1;
    if (isSub) s.subs.push({ x, y, right, moveTimer: s.movePeriod, shotTimer: SEAQUEST.enemyShotPeriod });
    else s.fish.push({ x, y, right, moveTimer: s.movePeriod });
  }

  /** Draws: direction (right p ½), row (uniform 1..8). */
  private spawnDiver(rng: Rng): void {
    const right = rng.uniform() < 0.5;
    const y = 1 + rng.int(8);
    this.state.diverList.push({ x: right ? 0 : GRID - 1, y, right, moveTimer: SEAQUEST.diverMovePeriod });
  }

  private atPlayer(e: SqMover): boolean {
    return e.x === this.state.subX && e.y === this.state.subY;
  }

  /** Remove the friendly bullet on (x, y), if any; true when one was there. */
  private takeBullet(x: number, y: number): boolean {
    const b = this.state.friendlyBullets;
    for (let i = 0; i < b.length; i++) {
      if (b[i]!.x === x && b[i]!.y === y) {
        b.splice(i, 1);
        return true;
      }
    }
    return false;
  }

  /**
   * Move rule shared by enemy subs and fish (steps 6 and 8). Returns 0 when the enemy stays,
   * −1 when it left the grid, +1 when a friendly bullet destroyed it (reward +1).
   */
  private moveEnemy(e: SqTimed): number {
    const s = this.state;
    if (this.atPlayer(e)) this.terminal = true;
    if (e.moveTimer === 0) {
      e.moveTimer = s.movePeriod;
      e.x += e.right ? 1 : -1;
      if (!onGrid(e.x)) return -1; // removed
      if (this.atPlayer(e)) this.terminal = true;
      else if (this.takeBullet(e.x, e.y)) return 1; // both destroyed, +1
    } else {
      e.moveTimer--;
    }
    return 0;
  }

  step(a: number, rng: Rng): number {
    const s = this.state;
    let reward = 0;
    // 1. enemy spawn
    if (s.spawnTimer === 0) {
      this.spawnEnemy(rng);
      s.spawnTimer = s.spawnPeriod;
    }
    // 2. diver spawn
    if (s.diverTimer === 0) {
      this.spawnDiver(rng);
      s.diverTimer = SEAQUEST.diverSpawnPeriod;
    }
    // 3. player
    if (a === FIRE && s.shotTimer === 0) {
      s.friendlyBullets.push({ x: s.subX, y: s.subY, right: !s.subLeft });
      s.shotTimer = SEAQUEST.shotCooldown;
    } else if (a === LEFT) {
      s.subX = Math.max(0, s.subX - 1);
      s.subLeft = true;
    } else if (a === RIGHT) {
      s.subX = Math.min(GRID - 1, s.subX + 1);
      s.subLeft = false;
    } else if (a === UP) {
      s.subY = Math.max(0, s.subY - 1);
    } else if (a === DOWN) {
      s.subY = Math.min(8, s.subY + 1);
    }
    // 4. friendly bullets (lists are compacted in place: no allocation per step)
    {
      const list = s.friendlyBullets;
      let w = 0;
      for (let r = 0; r < list.length; r++) {
        const b = list[r]!;
        b.x += b.right ? 1 : -1;
        if (!onGrid(b.x)) continue;
        const fi = findAt(s.fish, b.x, b.y);
        if (fi >= 0) {
          s.fish.splice(fi, 1);
          reward += 1;
          continue;
        }
        const si = findAt(s.subs, b.x, b.y);
        if (si >= 0) {
          s.subs.splice(si, 1);
          reward += 1;
          continue;
        }
        list[w++] = b;
      }
      list.length = w;
    }
    // 5. divers
    {
      const list = s.diverList;
      let w = 0;
      for (let r = 0; r < list.length; r++) {
        const d = list[r]!;
        if (this.atPlayer(d) && s.divers < SEAQUEST.maxDivers) {
          s.divers++;
          continue;
        }
        if (d.moveTimer === 0) {
          d.moveTimer = SEAQUEST.diverMovePeriod;
          d.x += d.right ? 1 : -1;
          if (!onGrid(d.x)) continue;
          if (this.atPlayer(d) && s.divers < SEAQUEST.maxDivers) {
            s.divers++;
            continue;
          }
        } else {
          d.moveTimer--;
        }
        list[w++] = d;
      }
      list.length = w;
    }
    // 6. enemy subs (a sub removed this step still runs its shot timer and may fire)
    {
      const list = s.subs;
      let w = 0;
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        const r = this.moveEnemy(e);
        if (r > 0) reward += r;
        if (r === 0) list[w++] = e;
        if (e.shotTimer === 0) {
          e.shotTimer = SEAQUEST.enemyShotPeriod;
          s.enemyBullets.push({ x: e.x, y: e.y, right: e.right });
        } else {
          e.shotTimer--;
        }
      }
      list.length = w;
    }
    // 7. enemy bullets
    {
      const list = s.enemyBullets;
      let w = 0;
      for (let r = 0; r < list.length; r++) {
        const b = list[r]!;
        if (this.atPlayer(b)) this.terminal = true;
        b.x += b.right ? 1 : -1;
        if (!onGrid(b.x)) continue;
        if (this.atPlayer(b)) this.terminal = true;
        list[w++] = b;
      }
      list.length = w;
    }
    // 8. fish
    {
      const list = s.fish;
      let w = 0;
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        const r = this.moveEnemy(e);
        if (r > 0) reward += r;
        if (r === 0) list[w++] = e;
      }
      list.length = w;
    }
    // 9. timers, oxygen, surfacing
    if (s.spawnTimer > 0) s.spawnTimer--;
    if (s.diverTimer > 0) s.diverTimer--;
    if (s.shotTimer > 0) s.shotTimer--;
    if (s.oxygen <= 0) this.terminal = true;
    if (s.subY > 0) {
      s.oxygen--;
      s.atSurface = false;
    } else if (!s.atSurface) {
      if (s.divers === 0) {
        this.terminal = true;
      } else {
        s.atSurface = true;
        if (s.divers === SEAQUEST.maxDivers) {
          s.divers = 0;
          reward += Math.floor((s.oxygen * 10) / SEAQUEST.maxOxygen);
        }
        s.oxygen = SEAQUEST.maxOxygen;
        s.divers--;
        if (this.ramping && (s.spawnPeriod > 1 || s.movePeriod > 2)) {
          if (s.movePeriod > 2 && s.rampIndex % 2 === 1) s.movePeriod--;
          if (s.spawnPeriod > 1) s.spawnPeriod--;
          s.rampIndex++;
        }
      }
    }
    return reward;
  }

  writeObs(out: Float32Array, o: number): void {
    const C = this.channels;
    out.fill(0, o, o + GRID * GRID * C);
    const s = this.state;
    const CH = SEAQUEST_CH;
    out[o + idx(s.subY, s.subX, CH.subFront, C)] = 1;
    const bx = s.subLeft ? s.subX + 1 : s.subX - 1;
    if (onGrid(bx)) out[o + idx(s.subY, bx, CH.subBack, C)] = 1;
    const ox = Math.floor((s.oxygen * 10) / SEAQUEST.maxOxygen);
    for (let x = 0; x < ox && x < GRID; x++) out[o + idx(9, x, CH.oxygen, C)] = 1;
    for (let x = Math.max(0, 9 - s.divers); x <= 8; x++) out[o + idx(9, x, CH.diverGauge, C)] = 1;
    for (const b of s.friendlyBullets) out[o + idx(b.y, b.x, CH.friendlyBullet, C)] = 1;
    for (const b of s.enemyBullets) out[o + idx(b.y, b.x, CH.enemyBullet, C)] = 1;
    for (const e of s.fish) {
      out[o + idx(e.y, e.x, CH.fish, C)] = 1;
      trail(out, o, e);
    }
    for (const e of s.subs) {
      out[o + idx(e.y, e.x, CH.enemySub, C)] = 1;
      trail(out, o, e);
    }
    for (const d of s.diverList) {
      out[o + idx(d.y, d.x, CH.diver, C)] = 1;
      trail(out, o, d);
    }
  }
}
