import type { ChannelStyle } from '../render.ts';
import type { Rng } from '../rng.ts';
import { DOWN, GRID, idx, UP, type Game } from './common.ts';

// docs/spec/minatar.md § Freeway.
export const FREEWAY_CH = { chicken: 0, car: 1, trail1: 2 } as const; // trail of speed s: channel s + 1
export const FREEWAY = { timeLimit: 2500, playerSpeed: 3, chickenX: 4 } as const;

/** Car k lives on row k + 1. */
export interface FreewayCar {
  x: number;
  /** 1..5: moves one cell every speed + 1 frames. */
  speed: number;
  /** +1 right, −1 left. */
  dir: number;
  timer: number;
}

export interface FreewayState {
  chickenY: number;
  cooldown: number;
  /** Counts down from 2500; the episode ends when it goes below 0 (after 2501 steps). */
  countdown: number;
  cars: FreewayCar[];
}

export class Freeway implements Game<FreewayState> {
  readonly name = 'freeway';
  readonly channels = 7;
  readonly minimalActions = [0, 2, 4] as const;
  readonly channelStyles: ChannelStyle[] = [
    { channel: FREEWAY_CH.chicken, name: 'chicken', char: 'C', color: '#ffd54f' },
    { channel: FREEWAY_CH.car, name: 'car', char: '#', color: '#e57373' },
    { channel: 2, name: 'trail(speed 1)', char: '1', color: '#1b5e20' },
    { channel: 3, name: '2', char: '2', color: '#2e7d32' },
    { channel: 4, name: '3', char: '3', color: '#43a047' },
    { channel: 5, name: '4', char: '4', color: '#66bb6a' },
    { channel: 6, name: '5', char: '5', color: '#a5d6a7' },
  ];
  terminal = false;
  state: FreewayState = { chickenY: 9, cooldown: FREEWAY.playerSpeed, countdown: FREEWAY.timeLimit, cars: [] };

  /** Draws per car (rows 1..8 in order): speed (uniform 1..5), then direction (±1, p ½). */
  private drawCars(rng: Rng, keepX: boolean): void {
    const cars = this.state.cars;
    for (let k = 0; k < 8; k++) {
      const speed = 1 + rng.int(5);
      const dir = rng.uniform() < 0.5 ? 1 : -1;
      const x = keepX && cars[k] ? cars[k]!.x : 0;
      cars[k] = { x, speed, dir, timer: speed };
    }
  }

  reset(rng: Rng): void {
    this.state = { chickenY: 9, cooldown: FREEWAY.playerSpeed, countdown: FREEWAY.timeLimit, cars: [] };
    this.drawCars(rng, false);
    this.terminal = false;
  }

  step(a: number, rng: Rng): number {
    const s = this.state;
    let reward = 0;
    if ((a === UP || a === DOWN) && s.cooldown === 0) {
      s.cooldown = FREEWAY.playerSpeed;
      s.chickenY = Math.min(9, Math.max(0, s.chickenY + (a === UP ? -1 : 1)));
    }
    if (s.chickenY === 0) {
      reward += 1;
      this.drawCars(rng, true);
      s.chickenY = 9;
    }
    const cx = FREEWAY.chickenX;
    for (let k = 0; k < 8; k++) {
      const car = s.cars[k]!;
      const row = k + 1;
      if (car.x === cx && row === s.chickenY) s.chickenY = 9;
      if (car.timer === 0) {
        car.timer = car.speed;
        car.x = (car.x + car.dir + GRID) % GRID;
        if (car.x === cx && row === s.chickenY) s.chickenY = 9;
      } else {
        car.timer--;
      }
    }
    if (s.cooldown > 0) s.cooldown--;
    s.countdown--;
    if (s.countdown < 0) this.terminal = true;
    return reward;
  }

  writeObs(out: Float32Array, o: number): void {
    const C = this.channels;
    out.fill(0, o, o + GRID * GRID * C);
    const s = this.state;
    out[o + idx(s.chickenY, FREEWAY.chickenX, FREEWAY_CH.chicken, C)] = 1;
    for (let k = 0; k < 8; k++) {
      const car = s.cars[k]!;
      const y = k + 1;
      out[o + idx(y, car.x, FREEWAY_CH.car, C)] = 1;
      const tx = (car.x - car.dir + GRID) % GRID;
      out[o + idx(y, tx, car.speed + 1, C)] = 1;
    }
  }
}
