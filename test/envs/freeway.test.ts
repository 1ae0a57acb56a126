// Scripted Freeway scenarios, each traced to a rule of docs/spec/minatar.md § Freeway.
import { describe, expect, it } from 'vitest';
import { DOWN, NOOP, UP } from '../../rl/envs/minatar/common.ts';
import { Freeway, FREEWAY_CH as CH } from '../../rl/envs/minatar/freeway.ts';
import { makeEnv, minatarGame, Rng } from '../../rl/envs/index.ts';
import { cells, isBinary, obsOf, scriptedRng } from './helpers.ts';

const C = 7;
const none = () => scriptedRng([]);

/** Parked cars: timers so long they never move during a test. */
function parked(): Freeway {
  const g = new Freeway();
  g.reset(new Rng(1, 0));
  g.state.cars.forEach((c) => {
    c.x = 0;
    c.timer = 1_000_000;
  });
  return g;
}

describe('Freeway start', () => {
  it('chicken at row 9 column 4, cooldown 3; one car per row 1..8 at x=0 with timer = speed', () => {
    // Rules "Start: chicken at row 9, column 4 (fixed); move cooldown 3." and "Cars: one per row
    // 1..8, all starting at x=0, each with a speed s uniform in 1..5 and a direction ±1 uniform".
    const g = new Freeway();
    // per car: speed draw, direction draw
    const script: number[] = [];
    for (let k = 0; k < 8; k++) script.push(k / 8, k % 2 ? 0.7 : 0.2);
    const rng = scriptedRng(script);
    g.reset(rng);
    expect(rng.remaining()).toBe(0);
    expect(g.state.chickenY).toBe(9);
    expect(g.state.cooldown).toBe(3);
    expect(g.state.countdown).toBe(2500);
    expect(g.state.cars.map((c) => c.x)).toEqual(new Array(8).fill(0));
    expect(g.state.cars.map((c) => c.speed)).toEqual([1, 1, 2, 2, 3, 4, 4, 5]);
    expect(g.state.cars.map((c) => c.dir)).toEqual([1, -1, 1, -1, 1, -1, 1, -1]);
    expect(g.state.cars.map((c) => c.timer)).toEqual(g.state.cars.map((c) => c.speed));
    const o = obsOf(g);
    expect(isBinary(o)).toBe(true);
    expect(cells(o, C, CH.chicken)).toEqual(['9,4']);
    expect(cells(o, C, CH.car)).toEqual(['1,0', '2,0', '3,0', '4,0', '5,0', '6,0', '7,0', '8,0']);
  });

  it('speeds are uniform over 1..5 and directions ±1 (many resets)', () => {
    const g = new Freeway();
    const r = new Rng(5, 0);
    const speeds = [0, 0, 0, 0, 0];
    let right = 0;
    const N = 2000;
    for (let i = 0; i < N; i++) {
      g.reset(r);
      for (const c of g.state.cars) {
        speeds[c.speed - 1]!++;
        if (c.dir === 1) right++;
      }
    }
    for (const s of speeds) expect(Math.abs(s / (8 * N) - 0.2)).toBeLessThan(0.015);
    expect(Math.abs(right / (8 * N) - 0.5)).toBeLessThan(0.015);
  });
});

describe('Freeway chicken', () => {
  it('moves at most once every 3 frames', () => {
    // Rule "The chicken moves at most once every 3 frames" / "up with cooldown 0 → cooldown 3".
    const g = parked();
    const ys: number[] = [];
    for (let t = 0; t < 10; t++) {
      g.step(UP, none());
      ys.push(g.state.chickenY);
    }
    expect(ys).toEqual([9, 9, 9, 8, 8, 8, 7, 7, 7, 6]);
  });

  it('down is clamped at row 9 but still costs the cooldown', () => {
    const g = parked();
    g.state.cooldown = 0;
    g.step(DOWN, none());
    expect([g.state.chickenY, g.state.cooldown]).toEqual([9, 2]);
    g.state.cooldown = 0;
    g.step(NOOP, none());
    expect(g.state.cooldown).toBe(0);
  });

  it('reaching row 0: +1, cars re-drawn (positions kept, timers = new speed), chicken back to row 9', () => {
    // Rule "Chicken at row 0 → +1, re-draw every car's speed and direction (positions kept,
    // timers = new s), chicken back to row 9."
    const g = parked();
    g.state.cars.forEach((c, k) => (c.x = k));
    Object.assign(g.state, { chickenY: 1, cooldown: 0 });
    const script: number[] = [];
    for (let k = 0; k < 8; k++) script.push(0.99, 0.1); // speed 5, right
    const rng = scriptedRng(script);
    const r = g.step(UP, rng);
    expect(rng.remaining()).toBe(0);
    expect(r).toBe(1);
    expect(g.state.chickenY).toBe(9);
    expect(g.state.cars.map((c) => c.speed)).toEqual(new Array(8).fill(5));
    expect(g.state.cars.map((c) => c.dir)).toEqual(new Array(8).fill(1));
    expect(g.state.cars.map((c) => c.x)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // timers = 5, then each car ran its own "else decrement" in the same step
    expect(g.state.cars.map((c) => c.timer)).toEqual(new Array(8).fill(4));
  });
});

describe('Freeway cars', () => {
  it('a car moves one cell every s+1 frames, wrapping', () => {
    // Rule "a car moves one cell every s+1 frames (timer starts at s), wrapping."
    const g = parked();
    const car = g.state.cars[0]!;
    Object.assign(car, { x: 8, speed: 2, dir: 1, timer: 2 });
    const xs: number[] = [];
    for (let t = 0; t < 9; t++) {
      g.step(NOOP, none());
      xs.push(car.x);
    }
    expect(xs).toEqual([8, 8, 9, 9, 9, 0, 0, 0, 1]);
    Object.assign(car, { x: 0, speed: 1, dir: -1, timer: 0 });
    g.step(NOOP, none());
    expect(car.x).toBe(9);
  });

  it('a car on the chicken cell sends it back to row 9', () => {
    // Rule "Each car: on the chicken's cell → chicken back to row 9".
    const g = parked();
    g.state.chickenY = 5;
    g.state.cars[4]!.x = 4; // row 5
    g.step(NOOP, none());
    expect(g.state.chickenY).toBe(9);
  });

  it('a car moving onto the chicken sends it back to row 9', () => {
    // Rule "timer 0 → timer = s, move one cell (wrapping), check the collision again".
    const g = parked();
    g.state.chickenY = 3;
    Object.assign(g.state.cars[2]!, { x: 5, dir: -1, speed: 1, timer: 0 });
    g.step(NOOP, none());
    expect(g.state.chickenY).toBe(9);
  });

  it('stepping into a car row with the car passing elsewhere is safe', () => {
    const g = parked();
    Object.assign(g.state, { chickenY: 4, cooldown: 0 });
    g.state.cars[2]!.x = 6;
    g.step(UP, none());
    expect(g.state.chickenY).toBe(3);
  });

  it('trail behind each car (wrapping) in the channel of its speed (speed s → channel s+1)', () => {
    // Rule "a trail on the cell behind each car (wrapping) in the channel of its speed."
    const g = parked();
    Object.assign(g.state.cars[0]!, { x: 0, dir: 1, speed: 1 });
    Object.assign(g.state.cars[1]!, { x: 9, dir: -1, speed: 5 });
    Object.assign(g.state.cars[2]!, { x: 4, dir: -1, speed: 3 });
    const o = obsOf(g);
    expect(cells(o, C, 2)).toContain('1,9');
    expect(cells(o, C, 6)).toContain('2,0');
    expect(cells(o, C, 4)).toContain('3,5');
    let trails = 0;
    for (let c = 2; c <= 6; c++) trails += cells(o, C, c).length;
    expect(trails).toBe(8);
  });
});

describe('Freeway episode end', () => {
  it('2501 steps: the countdown from 2500 ends the episode when it goes below 0 (terminal)', () => {
    // Rule "the episode ends after 2500 frames (a countdown from 2500 that ends the episode when it
    // goes below 0: 2501 steps)".
    const env = makeEnv('minatar/freeway', { preset: 'paper', stickyProb: 0 });
    env.reset();
    for (let t = 1; t <= 2500; t++) {
      const r = env.step([0]);
      expect(r.done[0]).toBe(0);
    }
    const r = env.step([0]);
    expect(r.terminated[0]).toBe(1);
    expect(r.truncated[0]).toBe(0);
    expect(env.completedEpisodes()).toEqual([{ envIndex: 0, return: 0, length: 2501, terminated: true }]);
  });

  it('gymnax preset cuts Freeway at 2500 steps as truncated, before its own terminal step', () => {
    const env = makeEnv('minatar/freeway', { preset: 'gymnax' });
    expect(env.maxEpisodeSteps).toBe(2500);
    env.reset();
    let r = env.step([0]);
    for (let t = 2; t <= 2500; t++) r = env.step([0]);
    expect(r.truncated[0]).toBe(1);
    expect(r.terminated[0]).toBe(0);
    expect(minatarGame<Freeway>(env).state.countdown).toBe(2500); // autoreset
  });

  it('a chicken walking straight up past parked cars scores on frames 28, 55, 82, 109', () => {
    const g = parked();
    const rng = new Rng(2, 0);
    const scored: number[] = [];
    for (let t = 1; t <= 120; t++) {
      if (g.step(UP, rng) > 0) scored.push(t);
      g.state.cars.forEach((c) => {
        c.x = 0;
        c.timer = 1_000_000;
      });
    }
    expect(scored).toEqual([28, 55, 82, 109]);
  });
});
