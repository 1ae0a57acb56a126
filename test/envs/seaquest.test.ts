// Scripted Seaquest scenarios, each traced to a rule of docs/spec/minatar.md § Seaquest.
import { describe, expect, it } from 'vitest';
import { DOWN, FIRE, LEFT, NOOP, RIGHT, UP } from '../../rl/envs/minatar/common.ts';
import { Seaquest, SEAQUEST_CH as CH } from '../../rl/envs/minatar/seaquest.ts';
import { makeEnv, minatarGame } from '../../rl/envs/index.ts';
import { cells, isBinary, obsOf, scriptedRng } from './helpers.ts';

const C = 10;
const none = () => scriptedRng([]);

/** A game with spawning pushed far away, the sub underwater at (x=5, row 4). */
function diving(): Seaquest {
  const g = new Seaquest();
  g.reset();
  Object.assign(g.state, { spawnTimer: 1000, diverTimer: 1000, subY: 4, atSurface: false });
  return g;
}

describe('Seaquest start', () => {
  it('oxygen 200, no divers, sub at (5, surface) facing left, timers 20/30, at surface', () => {
    // Rule "Start: oxygen 200, divers carried 0, sub at (x=5, row 0 = surface) facing left …
    // enemy spawn timer 20, diver timer 30, enemy move period 5, ramp 0, shot timer 0, "at surface" true."
    const g = new Seaquest();
    g.reset();
    expect(g.state).toMatchObject({
      oxygen: 200, divers: 0, subX: 5, subY: 0, subLeft: true, spawnTimer: 20, spawnPeriod: 20,
      diverTimer: 30, movePeriod: 5, rampIndex: 0, shotTimer: 0, atSurface: true,
    });
    const o = obsOf(g);
    expect(isBinary(o)).toBe(true);
    expect(cells(o, C, CH.subFront)).toEqual(['0,5']);
    expect(cells(o, C, CH.subBack)).toEqual(['0,6']);
    expect(cells(o, C, CH.oxygen)).toHaveLength(10);
    expect(cells(o, C, CH.diverGauge)).toEqual([]);
  });

  it('staying at the surface from the start is safe (no "arrival" yet)', () => {
    const g = new Seaquest();
    g.reset();
    g.state.spawnTimer = 1000;
    g.state.diverTimer = 1000;
    for (let t = 0; t < 50; t++) g.step(NOOP, none());
    expect(g.terminal).toBe(false);
    expect(g.state.oxygen).toBe(200);
  });
});

describe('Seaquest player', () => {
  it('left/right clamp and set facing; up to ≥ 0; down to ≤ 8', () => {
    // Rule "left/right (clamped, sets facing), up (to ≥ 0), down (to ≤ 8)".
    const g = diving();
    g.step(RIGHT, none());
    expect([g.state.subX, g.state.subLeft]).toEqual([6, false]);
    expect(cells(obsOf(g), C, CH.subBack)).toEqual(['4,5']);
    g.state.subY = 8;
    g.step(DOWN, none());
    expect(g.state.subY).toBe(8);
    g.state.subX = 0;
    g.step(LEFT, none());
    expect([g.state.subX, g.state.subLeft]).toEqual([0, true]);
    g.state.subX = 9;
    g.state.subLeft = true;
    expect(cells(obsOf(g), C, CH.subBack)).toEqual([]); // behind is off-grid
    g.step(UP, none());
    expect(g.state.subY).toBe(7);
  });

  it('fire with cooldown 0: bullet from the sub moving the way it faces; cooldown 5; no move', () => {
    // Rule "fire with cooldown 0 → bullet at the sub's cell moving the way the sub faces, cooldown 5".
    const g = diving();
    g.step(FIRE, none());
    expect(g.state.friendlyBullets).toEqual([{ x: 4, y: 4, right: false }]);
    expect(g.state.shotTimer).toBe(4);
    expect(g.state.subX).toBe(5);
    g.step(FIRE, none()); // cooling down: nothing
    expect(g.state.friendlyBullets).toEqual([{ x: 3, y: 4, right: false }]);
  });
});

describe('Seaquest shooting', () => {
  it('a bullet reaching a fish removes both, +1; fish are checked before subs', () => {
    // Rule "hitting a fish (checked first) or a sub removes both, +1".
    const g = diving();
    g.state.friendlyBullets = [{ x: 2, y: 6, right: true }];
    g.state.fish = [{ x: 3, y: 6, right: true, moveTimer: 100 }];
    g.state.subs = [{ x: 3, y: 6, right: true, moveTimer: 100, shotTimer: 100 }];
    const r = g.step(NOOP, none());
    expect(r).toBe(1);
    expect(g.state.fish).toEqual([]);
    expect(g.state.subs).toHaveLength(1);
    expect(g.state.friendlyBullets).toEqual([]);
  });

  it('an enemy moving onto a bullet is destroyed with it, +1', () => {
    // Rule "else a friendly bullet on the new cell destroys both, +1".
    const g = diving();
    g.state.friendlyBullets = [{ x: 9, y: 6, right: true }]; // will leave the grid in step 4
    g.state.subs = [{ x: 2, y: 7, right: true, moveTimer: 0, shotTimer: 100 }];
    g.state.friendlyBullets.push({ x: 4, y: 7, right: false }); // moves to (3, 7) first
    const r = g.step(NOOP, none());
    expect(r).toBe(1);
    expect(g.state.subs).toEqual([]);
    expect(g.state.friendlyBullets).toEqual([]);
  });

  it('bullets leaving the grid are removed', () => {
    const g = diving();
    g.state.friendlyBullets = [{ x: 0, y: 3, right: false }];
    g.step(NOOP, none());
    expect(g.state.friendlyBullets).toEqual([]);
  });
});

describe('Seaquest enemies', () => {
  it('spawn: direction, kind (sub p ⅓), row 1..8; subs carry a move and a shot timer', () => {
    // Rule 1 "Spawn: direction right p ½ (from x=0, else from x=9), submarine p ⅓ else fish, row uniform in 1..8".
    const g = diving();
    g.state.spawnTimer = 0;
    g.step(NOOP, scriptedRng([0.1, 0.2, 0.5])); // right, sub, row 1 + floor(0.5·8) = 5
    expect(g.state.subs).toEqual([{ x: 0, y: 5, right: true, moveTimer: 4, shotTimer: 9 }]);
    expect(g.state.spawnTimer).toBe(19);
    g.state.spawnTimer = 0;
    g.step(NOOP, scriptedRng([0.9, 0.9, 0.0])); // left, fish, row 1
    expect(g.state.fish).toEqual([{ x: 9, y: 1, right: false, moveTimer: 4 }]);
  });

  it('spawn skipped when an enemy in that row moves the opposite way (timer still reset)', () => {
    // Rule "skip if an enemy already in that row moves the opposite way".
    const g = diving();
    g.state.fish = [{ x: 4, y: 5, right: false, moveTimer: 100 }];
    g.state.spawnTimer = 0;
    g.step(NOOP, scriptedRng([0.1, 0.9, 0.5])); // right fish on row 5 → skipped
    expect(g.state.fish).toHaveLength(1);
    expect(g.state.spawnTimer).toBe(19);
    g.state.spawnTimer = 0;
    g.step(NOOP, scriptedRng([0.9, 0.9, 0.5])); // left fish on row 5 → same way, allowed
    expect(g.state.fish).toHaveLength(2);
  });

  it('enemies move every period+1 frames and leave the grid', () => {
    // Rule "move timer > 0 → decrement (a move every period+1 frames)"; "off-grid → removed".
    const g = diving();
    g.state.fish = [{ x: 7, y: 2, right: true, moveTimer: 5 }];
    const xs: number[] = [];
    for (let t = 0; t < 13; t++) {
      g.step(NOOP, none());
      xs.push(g.state.fish[0]?.x ?? -1);
    }
    expect(xs).toEqual([7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9, 9]);
    for (let t = 0; t < 6; t++) g.step(NOOP, none());
    expect(g.state.fish).toEqual([]);
  });

  it('an enemy sub fires every 11 frames in its direction; enemy bullets move each frame', () => {
    // Rule "shot timer 0 → timer 10, enemy bullet at its cell moving its way; else decrement (every 11 frames)".
    const g = diving();
    g.state.subs = [{ x: 3, y: 7, right: false, moveTimer: 1000, shotTimer: 0 }];
    g.step(NOOP, none());
    expect(g.state.enemyBullets).toEqual([{ x: 2, y: 7, right: false }]); // fired, then moved in 7
    const fired: number[] = [];
    for (let t = 1; t <= 23; t++) {
      const before = g.state.subs[0]!.shotTimer;
      g.step(NOOP, none());
      if (before === 0) fired.push(t);
    }
    expect(fired).toEqual([11, 22]);
  });

  it('a sub leaving the grid this step still fires; its off-grid bullet vanishes in step 7', () => {
    // Rule "A sub removed this step still fires (off-grid, the bullet vanishes in 7)."
    const g = diving();
    g.state.subs = [{ x: 9, y: 7, right: true, moveTimer: 0, shotTimer: 0 }];
    g.step(NOOP, none());
    expect(g.state.subs).toEqual([]);
    expect(g.state.enemyBullets).toEqual([]);
  });

  it('enemy sub, fish or enemy bullet on the player is terminal', () => {
    // Rules 6–8: "on the player's cell → terminal", "landing on the player → terminal".
    const cases: ((g: Seaquest) => void)[] = [
      (g) => (g.state.subs = [{ x: 5, y: 4, right: true, moveTimer: 100, shotTimer: 100 }]),
      (g) => (g.state.subs = [{ x: 6, y: 4, right: false, moveTimer: 0, shotTimer: 100 }]),
      (g) => (g.state.fish = [{ x: 5, y: 4, right: true, moveTimer: 100 }]),
      (g) => (g.state.fish = [{ x: 4, y: 4, right: true, moveTimer: 0 }]),
      (g) => (g.state.enemyBullets = [{ x: 6, y: 4, right: false }]),
      (g) => (g.state.enemyBullets = [{ x: 5, y: 4, right: false }]),
    ];
    for (const place of cases) {
      const g = diving();
      place(g);
      g.step(NOOP, none());
      expect(g.terminal).toBe(true);
    }
  });
});

describe('Seaquest divers', () => {
  it('spawn every 30 frames from a random side on a random row, move every 6 frames', () => {
    // Rule 2 "Diver timer 0 → spawn a diver (random direction, entering from that side, row 1..8,
    // move timer 5), timer 30" and rule 5 "(a move every 6 frames)".
    const g = diving();
    g.state.diverTimer = 0;
    g.step(NOOP, scriptedRng([0.9, 0.99])); // left, row 8
    expect(g.state.diverList).toEqual([{ x: 9, y: 8, right: false, moveTimer: 4 }]);
    expect(g.state.diverTimer).toBe(29);
    const xs: number[] = [];
    for (let t = 0; t < 12; t++) {
      g.step(NOOP, none());
      xs.push(g.state.diverList[0]!.x);
    }
    expect(xs).toEqual([9, 9, 9, 9, 8, 8, 8, 8, 8, 8, 7, 7]);
    const o = obsOf(g);
    expect(cells(o, C, CH.diver)).toEqual(['8,7']);
    expect(cells(o, C, CH.trail)).toEqual(['8,8']);
  });

  it('a diver on the player is picked up while carrying < 6', () => {
    // Rule 5 "Divers: on the player's cell → picked up if carrying < 6".
    const g = diving();
    g.state.diverList = [{ x: 5, y: 4, right: true, moveTimer: 100 }, { x: 4, y: 4, right: true, moveTimer: 0 }];
    g.step(NOOP, none());
    expect(g.state.divers).toBe(2);
    expect(g.state.diverList).toEqual([]);
    expect(cells(obsOf(g), C, CH.diverGauge)).toEqual(['9,7', '9,8']);
  });

  it('with 6 aboard a diver on the player is not picked up and keeps moving', () => {
    const g = diving();
    g.state.divers = 6;
    g.state.diverList = [{ x: 5, y: 4, right: true, moveTimer: 0 }];
    g.step(NOOP, none());
    expect(g.state.divers).toBe(6);
    expect(g.state.diverList).toEqual([{ x: 6, y: 4, right: true, moveTimer: 5 }]);
    expect(cells(obsOf(g), C, CH.diverGauge)).toEqual(['9,3', '9,4', '9,5', '9,6', '9,7', '9,8']);
  });
});

describe('Seaquest oxygen and surfacing', () => {
  it('surfacing with six divers: reward oxygen·10//200, oxygen refilled, carried ends at −1, ramp', () => {
    // Rule 9 "carrying 6 → carried = 0 and reward oxygen·10 // 200; oxygen = 200; carried −1
    // (after a full rescue this leaves −1 …); ramp …".
    const g = diving();
    Object.assign(g.state, { subY: 1, divers: 6, oxygen: 150 });
    const r = g.step(UP, none());
    expect(r).toBe(7); // 150·10 // 200
    expect(g.terminal).toBe(false);
    expect(g.state).toMatchObject({ divers: -1, oxygen: 200, atSurface: true, spawnPeriod: 19, movePeriod: 5, rampIndex: 1 });
    const o = obsOf(g);
    expect(cells(o, C, CH.diverGauge)).toEqual([]);
    expect(cells(o, C, CH.oxygen)).toHaveLength(10);
  });

  it('surfacing with some divers: no reward, carried −1, oxygen refilled, ramp (move period on odd index)', () => {
    const g = diving();
    Object.assign(g.state, { subY: 1, divers: 3, oxygen: 20, rampIndex: 1 });
    const r = g.step(UP, none());
    expect(r).toBe(0);
    expect(g.state).toMatchObject({ divers: 2, oxygen: 200, spawnPeriod: 19, movePeriod: 4, rampIndex: 2 });
  });

  it('surfacing with no divers is terminal', () => {
    // Rule 9 "just arrived at the surface: carrying 0 → terminal".
    const g = diving();
    g.state.subY = 1;
    g.step(UP, none());
    expect(g.terminal).toBe(true);
  });

  it('ramping off: surfacing leaves the periods alone', () => {
    const g = new Seaquest(false);
    g.reset();
    Object.assign(g.state, { spawnTimer: 1000, diverTimer: 1000, subY: 1, atSurface: false, divers: 2 });
    g.step(UP, none());
    expect(g.state).toMatchObject({ spawnPeriod: 20, movePeriod: 5, rampIndex: 0, divers: 1 });
  });

  it('oxygen drops by one per underwater frame and its gauge shows oxygen·10//200 cells', () => {
    // Rules 9 "Sub below the surface (row > 0): oxygen −1" and the oxygen gauge.
    const g = diving();
    g.step(NOOP, none());
    expect(g.state.oxygen).toBe(199);
    expect(cells(obsOf(g), C, CH.oxygen)).toHaveLength(9);
    g.state.oxygen = 40;
    expect(cells(obsOf(g), C, CH.oxygen)).toEqual(['9,0', '9,1']);
  });

  it('oxygen death: the frame that finds oxygen ≤ 0 is terminal', () => {
    // Rule 9 "Oxygen ≤ 0 → terminal."
    const g = diving();
    g.state.oxygen = 2;
    g.step(NOOP, none());
    expect([g.terminal, g.state.oxygen]).toEqual([false, 1]);
    g.step(NOOP, none());
    expect([g.terminal, g.state.oxygen]).toEqual([false, 0]);
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
  });

  it('diving from the start until the air runs out ends after 201 underwater frames', () => {
    const env = makeEnv('minatar/seaquest', { preset: 'gymnax', seed: 1 });
    env.reset();
    // Enemies enter at columns 0/9 and the sub stays at column 5: clearing them each frame keeps it safe.
    let steps = 0;
    let r = env.step([4]);
    steps++;
    while (!r.done[0]) {
      const s = minatarGame<Seaquest>(env).state;
      s.fish = [];
      s.subs = [];
      s.enemyBullets = [];
      r = env.step([0]);
      steps++;
    }
    expect(r.terminated[0]).toBe(1);
    expect(steps).toBe(201); // oxygen 200 − k after frame k; frame 201 finds 0
  });

  it('after a full rescue (carried −1) the next surfacing is not terminal and leaves −2 (the quirk, literally)', () => {
    // Rule 9 "carrying 0 → terminal" tests for exactly 0; −1 is not 0.
    const g = diving();
    Object.assign(g.state, { subY: 1, divers: -1 });
    g.step(UP, none());
    expect(g.terminal).toBe(false);
    expect(g.state.divers).toBe(-2);
  });

  it('a terminal frame still runs the rest of the step (oxygen, timers)', () => {
    // Common rule "A terminal condition met mid-step does not cut the step short".
    const g = diving();
    g.state.enemyBullets = [{ x: 6, y: 4, right: false }];
    g.state.shotTimer = 3;
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
    expect(g.state.oxygen).toBe(199);
    expect(g.state.shotTimer).toBe(2);
    expect(g.state.enemyBullets).toEqual([{ x: 5, y: 4, right: false }]);
  });
});
