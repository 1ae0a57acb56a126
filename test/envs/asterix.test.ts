// Scripted Asterix scenarios, each traced to a rule of docs/spec/minatar.md § Asterix.
import { describe, expect, it } from 'vitest';
import { Asterix, ASTERIX_CH as CH, type AsterixEntity } from '../../rl/envs/minatar/asterix.ts';
import { DOWN, LEFT, NOOP, RIGHT, UP } from '../../rl/envs/minatar/common.ts';
import { cells, isBinary, obsOf, scriptedRng } from './helpers.ts';

const C = 4;
const none = () => scriptedRng([]);

/** A game whose timers are far from firing unless a test sets them. */
function quiet(): Asterix {
  const g = new Asterix();
  g.reset();
  g.state.spawnTimer = 1000;
  g.state.moveTimer = 1000;
  return g;
}
const ent = (x: number, right: boolean, gold: boolean): AsterixEntity => ({ x, right, gold });

describe('Asterix start and spawning', () => {
  it('start: player at (x=5, y=5), 8 empty slots, periods 10/5, ramp timer 100', () => {
    // Rule "Start: player at (x=5, y=5); 8 entity slots … all empty; spawn period 10 (timer 10),
    // move period 5 (timer 5), ramp timer 100, ramp index 0."
    const g = new Asterix();
    g.reset();
    expect(g.state).toMatchObject({
      playerX: 5, playerY: 5, spawnPeriod: 10, spawnTimer: 10, movePeriod: 5, moveTimer: 5, rampTimer: 100, rampIndex: 0,
    });
    expect(g.state.slots).toEqual(new Array(8).fill(null));
    const o = obsOf(g);
    expect(isBinary(o)).toBe(true);
    expect(cells(o, C, CH.player)).toEqual(['5,5']);
    expect(cells(o, C, CH.enemy)).toEqual([]);
  });

  it('first spawn on step 11 (timer 10, decremented every step), then every 10 frames', () => {
    // Rule "spawn timer == 0 → spawn, then timer = spawn period" + step 5 decrement.
    const g = new Asterix(false);
    g.reset();
    const spawnSteps: number[] = [];
    // Draw script per spawn: direction 0.9 (left), kind 0.9 (enemy), slot 0.0 (first free slot).
    for (let t = 1; t <= 31; t++) {
      const before = g.state.slots.filter((e) => e).length;
      const rng = g.state.spawnTimer === 0 ? scriptedRng([0.9, 0.9, 0]) : none();
      g.step(NOOP, rng);
      g.state.playerY = 8; // stay out of the way on a row slots 0..2 never reach
      if (g.state.slots.filter((e) => e).length > before) spawnSteps.push(t);
    }
    expect(spawnSteps).toEqual([11, 21, 31]);
  });

  it('spawn: right enters at x=0, left at x=9; gold with p ⅓; a uniformly chosen free slot', () => {
    // Rule "direction right with p ½ (enters at x=0; else left, entering at x=9), gold with p ⅓
    // (else enemy), a uniformly chosen free slot".
    const g = quiet();
    g.state.spawnTimer = 0;
    g.state.slots[0] = ent(5, true, false);
    g.step(NOOP, scriptedRng([0.2, 0.1, 0.0])); // right, gold, first free slot = slot 1
    expect(g.state.slots[1]).toEqual({ x: 0, right: true, gold: true });
    expect(g.state.spawnTimer).toBe(g.state.spawnPeriod - 1);
    g.state.spawnTimer = 0;
    g.step(NOOP, scriptedRng([0.7, 0.5, 0.99])); // left, enemy, last free slot = slot 7
    expect(g.state.slots[7]).toEqual({ x: 9, right: false, gold: false });
    const o = obsOf(g);
    expect(cells(o, C, CH.gold)).toEqual(['2,0']);
    expect(cells(o, C, CH.enemy).sort()).toEqual(['1,5', '8,9']);
  });

  it('an entity spawned onto the player collides in the same step (gold: +1)', () => {
    // Rules 1 then 3: the spawn comes before the collision test.
    const g = quiet();
    Object.assign(g.state, { playerX: 0, playerY: 1, spawnTimer: 0 });
    const r = g.step(NOOP, scriptedRng([0.1, 0.1, 0.0])); // right (x=0), gold, first free slot = row 1
    expect(r).toBe(1);
    expect(g.state.slots[0]).toBeNull();
  });

  it('no free slot → no spawn', () => {
    const g = quiet();
    for (let k = 0; k < 8; k++) g.state.slots[k] = ent(k === 4 ? 0 : 9, true, false);
    g.state.playerX = 2;
    g.state.spawnTimer = 0;
    const before = structuredClone(g.state.slots);
    g.step(NOOP, scriptedRng([0.1, 0.1]));
    expect(g.state.slots).toEqual(before);
  });
});

describe('Asterix player', () => {
  it('left/right clamped to 0..9, up/down clamped to rows 1..8', () => {
    // Rule "Player moves: left/right clamped to 0..9, up/down clamped to rows 1..8."
    const g = quiet();
    Object.assign(g.state, { playerX: 0, playerY: 1 });
    g.step(LEFT, none());
    g.step(UP, none());
    expect([g.state.playerX, g.state.playerY]).toEqual([0, 1]);
    Object.assign(g.state, { playerX: 9, playerY: 8 });
    g.step(RIGHT, none());
    g.step(DOWN, none());
    expect([g.state.playerX, g.state.playerY]).toEqual([9, 8]);
  });
});

describe('Asterix collisions', () => {
  it('walking onto gold: +1 and the gold is removed', () => {
    // Rule "Entity on the player's cell: gold → removed, +1".
    const g = quiet();
    g.state.slots[4] = ent(6, false, true); // row 5
    const r = g.step(RIGHT, none());
    expect(r).toBe(1);
    expect(g.state.slots[4]).toBeNull();
    expect(g.terminal).toBe(false);
  });

  it('gold moving onto the player: +1 (collision rule re-applied after moving)', () => {
    // Rule 4 "… then the collision rule of 3 again."
    const g = quiet();
    g.state.moveTimer = 0;
    g.state.slots[4] = ent(4, true, true);
    expect(g.step(NOOP, none())).toBe(1);
    expect(g.state.slots[4]).toBeNull();
    expect(g.state.moveTimer).toBe(g.state.movePeriod - 1);
  });

  it('an enemy on the player cell is terminal; the step still runs to the end', () => {
    // Rules "enemy → terminal" and "A terminal condition met mid-step does not cut the step short".
    const g = quiet();
    g.state.moveTimer = 0;
    g.state.slots[4] = ent(6, false, false);
    g.state.slots[0] = ent(3, true, false);
    g.step(RIGHT, none()); // player → (6, 5) onto the enemy
    expect(g.terminal).toBe(true);
    expect(g.state.slots[0]!.x).toBe(4); // the entities still moved
    expect(g.state.slots[4]!.x).toBe(5);
    expect(g.state.spawnTimer).toBe(999); // and the timers still ran
  });

  it('an enemy moving onto the player is terminal', () => {
    const g = quiet();
    g.state.moveTimer = 0;
    g.state.slots[4] = ent(6, false, false);
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
    expect(cells(obsOf(g), C, CH.enemy)).toEqual(['5,5']);
  });

  it('entities leaving the grid are removed', () => {
    // Rule "leaving the grid removes it".
    const g = quiet();
    g.state.moveTimer = 0;
    g.state.slots[0] = ent(9, true, false);
    g.state.slots[1] = ent(0, false, true);
    g.state.slots[2] = ent(8, true, true);
    g.step(NOOP, none());
    expect(g.state.slots.slice(0, 3)).toEqual([null, null, { x: 9, right: true, gold: true }]);
  });

  it('entities move every move period frames', () => {
    // Rule "move timer == 0 → timer = move period" with the decrement in step 5: every 5 frames.
    const g = new Asterix(false);
    g.reset();
    g.state.spawnTimer = 10_000;
    g.state.slots[0] = ent(0, true, false);
    const xs: number[] = [];
    for (let t = 1; t <= 16; t++) {
      g.step(NOOP, none());
      xs.push(g.state.slots[0]!.x);
    }
    // timer 5 at start → first move on step 6, then 11, 16
    expect(xs).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3]);
  });
});

describe('Asterix observation', () => {
  it('trail behind each entity (x−1 moving right, x+1 moving left), only on the grid', () => {
    // Rule "trail on the cell behind each entity … only if on the grid."
    const g = quiet();
    g.state.slots[0] = ent(3, true, false);
    g.state.slots[1] = ent(3, false, true);
    g.state.slots[2] = ent(0, true, false);
    g.state.slots[3] = ent(9, false, false);
    const o = obsOf(g);
    expect(cells(o, C, CH.trail)).toEqual(['1,2', '2,4']);
    expect(cells(o, C, CH.enemy)).toEqual(['1,3', '3,0', '4,9']);
    expect(cells(o, C, CH.gold)).toEqual(['2,3']);
  });
});

describe('Asterix ramping', () => {
  function runQuiet(g: Asterix, steps: number, onStep?: (t: number) => void): void {
    for (let t = 1; t <= steps; t++) {
      g.state.spawnTimer = 5; // never spawn; the periods still ramp
      g.step(NOOP, none());
      onStep?.(t);
    }
  }

  it('a ramp every 102 steps: spawn period −1 each time, move period −1 on odd ramp index', () => {
    // Rule 6 "if ramp timer ≥ 0, decrement it; else: if move period > 1 and ramp index is odd,
    // move period −1; if spawn period > 1, spawn period −1; ramp index +1; ramp timer = 100".
    const g = new Asterix(true);
    g.reset();
    const rampSteps: number[] = [];
    let last = g.state.spawnPeriod;
    runQuiet(g, 410, (t) => {
      if (g.state.spawnPeriod !== last) {
        rampSteps.push(t);
        last = g.state.spawnPeriod;
      }
    });
    expect(rampSteps).toEqual([102, 204, 306, 408]);
    expect(g.state.spawnPeriod).toBe(6);
    expect(g.state.rampIndex).toBe(4);
    expect(g.state.movePeriod).toBe(3); // decreased on ramps with index 1 and 3
  });

  it('first ramp leaves the move period (index 0 is even), second lowers it', () => {
    const g = quiet();
    g.state.rampTimer = -1;
    g.step(NOOP, none());
    expect([g.state.spawnPeriod, g.state.movePeriod, g.state.rampIndex, g.state.rampTimer]).toEqual([9, 5, 1, 100]);
    g.state.rampTimer = -1;
    g.step(NOOP, none());
    expect([g.state.spawnPeriod, g.state.movePeriod, g.state.rampIndex]).toEqual([8, 4, 2]);
  });

  it('periods never go below 1 and ramping stops once both are 1', () => {
    const g = quiet();
    Object.assign(g.state, { spawnPeriod: 1, movePeriod: 1, rampTimer: -1, rampIndex: 7 });
    g.step(NOOP, none());
    expect([g.state.spawnPeriod, g.state.movePeriod, g.state.rampIndex, g.state.rampTimer]).toEqual([1, 1, 7, -1]);
  });

  it('ramping off: nothing changes', () => {
    const g = new Asterix(false);
    g.reset();
    runQuiet(g, 300);
    expect([g.state.spawnPeriod, g.state.movePeriod, g.state.rampIndex, g.state.rampTimer]).toEqual([10, 5, 0, 100]);
  });
});
