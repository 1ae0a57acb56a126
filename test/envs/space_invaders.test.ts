// Scripted Space Invaders scenarios, each traced to a rule of docs/spec/minatar.md § Space Invaders.
import { describe, expect, it } from 'vitest';
import { FIRE, LEFT, NOOP, RIGHT } from '../../rl/envs/minatar/common.ts';
import { SI_CH as CH, SpaceInvaders } from '../../rl/envs/minatar/space_invaders.ts';
import { cells, isBinary, obsOf, scriptedRng } from './helpers.ts';

const C = 6;
const none = () => scriptedRng([]);

/** Fresh game with both alien timers far away unless a test sets them. */
function quiet(ramping = true): SpaceInvaders {
  const g = new SpaceInvaders(ramping);
  g.reset();
  g.state.alienMoveTimer = 1000;
  g.state.alienShotTimer = 1000;
  return g;
}
const grid = (...ys_xs: [number, number][]) => {
  const a = new Array<number>(100).fill(0);
  for (const [y, x] of ys_xs) a[y * 10 + x] = 1;
  return a;
};

describe('Space Invaders start', () => {
  it('cannon at x=5 row 9; 24 aliens in rows 0–3 × columns 2–7 moving left; timers 12/10/0', () => {
    // Rule "Start: cannon at x=5 on row 9; aliens fill rows 0–3 × columns 2–7 (24); aliens move
    // left; alien move timer 12, alien shot timer 10, shot timer 0, move interval 12, ramp index 0."
    const g = new SpaceInvaders();
    g.reset();
    expect(g.state).toMatchObject({
      cannonX: 5, alienDir: -1, alienMoveTimer: 12, alienShotTimer: 10, shotTimer: 0, moveInterval: 12, rampIndex: 0,
    });
    const o = obsOf(g);
    expect(isBinary(o)).toBe(true);
    expect(cells(o, C, CH.cannon)).toEqual(['9,5']);
    expect(cells(o, C, CH.alien)).toHaveLength(24);
    expect(cells(o, C, CH.alienLeft)).toEqual(cells(o, C, CH.alien));
    expect(cells(o, C, CH.alienRight)).toEqual([]);
    expect(cells(o, C, CH.alien).every((c) => {
      const [y, x] = c.split(',').map(Number) as [number, number];
      return y <= 3 && x >= 2 && x <= 7;
    })).toBe(true);
  });
});

describe('Space Invaders cannon', () => {
  it('fire with shot timer 0: bullet from (row 9, cannon x), moved up the same step; cooldown 5', () => {
    // Rules "fire with shot timer 0 → friendly bullet at (row 9, cannon x), shot timer 5" and
    // "Friendly bullets move up one row".
    const g = quiet();
    g.state.aliens = grid([0, 9]); // out of the bullets' column
    g.step(FIRE, none());
    expect(cells(obsOf(g), C, CH.friendlyBullet)).toEqual(['8,5']);
    expect(g.state.shotTimer).toBe(4);
    for (let t = 0; t < 4; t++) g.step(FIRE, none()); // timer 4,3,2,1 → no new bullet
    expect(cells(obsOf(g), C, CH.friendlyBullet)).toEqual(['4,5']);
    g.step(FIRE, none()); // timer 0 → fires again
    expect(cells(obsOf(g), C, CH.friendlyBullet)).toEqual(['3,5', '8,5']);
  });

  it('firing does not move; left/right move clamped otherwise; fire while cooling down does nothing', () => {
    // Rule "otherwise move the cannon left/right (clamped)".
    const g = quiet();
    g.state.cannonX = 0;
    g.step(LEFT, none());
    expect(g.state.cannonX).toBe(0);
    g.step(FIRE, none());
    expect(g.state.cannonX).toBe(0);
    g.step(FIRE, none());
    expect(g.state.cannonX).toBe(0);
    g.state.cannonX = 9;
    g.step(RIGHT, none());
    expect(g.state.cannonX).toBe(9);
  });

  it('friendly bullets leaving the top are removed', () => {
    const g = quiet();
    g.state.aliens = grid([5, 5]);
    g.state.friendlyBullets = grid([0, 1]);
    g.step(NOOP, none());
    expect(cells(obsOf(g), C, CH.friendlyBullet)).toEqual([]);
  });
});

describe('Space Invaders hits and bullets', () => {
  it('a cell with an alien and a friendly bullet: both removed, +1', () => {
    // Rule "A cell with both an alien and a friendly bullet: remove both, +1."
    const g = quiet();
    g.state.friendlyBullets = grid([4, 5]); // moves to (3, 5), an alien
    const r = g.step(NOOP, none());
    expect(r).toBe(1);
    expect(g.state.aliens[35]).toBe(0);
    expect(cells(obsOf(g), C, CH.friendlyBullet)).toEqual([]);
    expect(cells(obsOf(g), C, CH.alien)).toHaveLength(23);
  });

  it('an enemy bullet landing on the cannon is terminal; leaving the bottom removes it', () => {
    // Rule "Enemy bullets move down one row (leaving the bottom removes them); one on the cannon's cell → terminal."
    const g = quiet();
    g.state.enemyBullets = grid([8, 5], [9, 2]);
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
    expect(cells(obsOf(g), C, CH.enemyBullet)).toEqual(['9,5']);
    const h = quiet();
    h.state.enemyBullets = grid([8, 5]);
    h.step(LEFT, none()); // dodge
    expect(h.terminal).toBe(false);
  });

  it('an alien on the cannon cell is terminal', () => {
    // Rule "An alien on the cannon's cell → terminal."
    const g = quiet();
    g.state.aliens = grid([9, 4]);
    g.step(LEFT, none());
    expect(g.terminal).toBe(true);
  });
});

describe('Space Invaders formation', () => {
  it('moves one column its way when the move timer is 0; timer = min(#aliens, interval)', () => {
    // Rule "Alien move timer 0 → timer = min(#aliens, move interval) … else shift it one column its way".
    const g = quiet();
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    const o = obsOf(g);
    expect(cells(o, C, CH.alien)).toContain('0,1');
    expect(cells(o, C, CH.alien)).not.toContain('0,7');
    expect(g.state.alienMoveTimer).toBe(12 - 1);
    const h = quiet();
    h.state.aliens = grid([0, 5], [1, 5], [2, 5]);
    h.state.alienMoveTimer = 0;
    h.step(NOOP, none());
    expect(h.state.alienMoveTimer).toBe(3 - 1);
  });

  it('reversal: an alien in column 0 moving left → direction flips and the block moves down a row', () => {
    // Rule "if an alien is in column 0 moving left or in column 9 moving right: reverse direction,
    // … shift the formation down one row".
    const g = quiet();
    g.state.aliens = grid([0, 0], [0, 1], [2, 3]);
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    expect(g.state.alienDir).toBe(1);
    expect(g.terminal).toBe(false);
    const o = obsOf(g);
    expect(cells(o, C, CH.alien)).toEqual(['1,0', '1,1', '3,3']);
    expect(cells(o, C, CH.alienRight)).toEqual(['1,0', '1,1', '3,3']);
    expect(cells(o, C, CH.alienLeft)).toEqual([]);
  });

  it('reversal on the right edge while moving right', () => {
    const g = quiet();
    g.state.alienDir = 1;
    g.state.aliens = grid([4, 9]);
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    expect(g.state.alienDir).toBe(-1);
    expect(cells(obsOf(g), C, CH.alien)).toEqual(['5,9']);
  });

  it('no reversal when the edge alien is moving away from the edge', () => {
    const g = quiet();
    g.state.alienDir = 1;
    g.state.aliens = grid([4, 0]);
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    expect(cells(obsOf(g), C, CH.alien)).toEqual(['4,1']);
  });

  it('reversal with an alien already on row 9: terminal, row 9 wraps round to row 0', () => {
    // Rule "terminal if any alien is already on row 9, shift the formation down one row as a
    // rotation (row 9 wraps round to row 0, seen in that terminal observation)".
    const g = quiet();
    g.state.cannonX = 5;
    g.state.aliens = grid([9, 0], [8, 1]);
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
    expect(cells(obsOf(g), C, CH.alien)).toEqual(['0,0', '9,1']);
  });

  it('the formation moving onto the cannon is terminal', () => {
    // Rule "alien on the cannon's cell → terminal" (after the shift).
    const g = quiet();
    g.state.aliens = grid([9, 6]);
    g.state.alienMoveTimer = 0;
    g.step(NOOP, none());
    expect(g.terminal).toBe(true);
  });
});

describe('Space Invaders alien fire', () => {
  it('the column nearest the cannon fires, from its lowest alien, every 10 frames', () => {
    // Rule "Alien shot timer 0 → timer 10; among columns that hold aliens take the nearest to the
    // cannon …; its lowest alien fires a bullet from its own cell."
    const g = quiet();
    g.state.cannonX = 1;
    g.state.alienShotTimer = 0;
    g.step(NOOP, none());
    expect(cells(obsOf(g), C, CH.enemyBullet)).toEqual(['3,2']);
    expect(g.state.alienShotTimer).toBe(9);
    const shots: number[] = [];
    for (let t = 1; t <= 25; t++) {
      const before = g.state.alienShotTimer;
      g.step(NOOP, none());
      if (before === 0) shots.push(t);
    }
    expect(shots).toEqual([10, 20]);
  });

  it('ties go to the lower column', () => {
    // Rule "(ties: lower column)".
    const g = quiet();
    g.state.cannonX = 5;
    g.state.aliens = grid([0, 3], [2, 3], [1, 7], [3, 7]);
    g.state.alienShotTimer = 0;
    g.step(NOOP, none());
    expect(cells(obsOf(g), C, CH.enemyBullet)).toEqual(['2,3']);
  });

  it('a column right above the cannon beats a nearer-looking lower column', () => {
    const g = quiet();
    g.state.cannonX = 6;
    g.state.aliens = grid([0, 6], [5, 4]);
    g.state.alienShotTimer = 0;
    g.step(NOOP, none());
    expect(cells(obsOf(g), C, CH.enemyBullet)).toEqual(['0,6']);
  });
});

describe('Space Invaders respawn and ramping', () => {
  it('last alien shot: +1, interval −1 and ramp index +1, a new 24-alien block; direction and timers kept', () => {
    // Rule "No aliens left: if ramping and move interval > 6 → interval −1, ramp index +1;
    // respawn the 24-alien block (direction and timers are kept)."
    const g = quiet();
    g.state.aliens = grid([4, 5]);
    g.state.friendlyBullets = grid([5, 5]);
    g.state.alienDir = 1;
    Object.assign(g.state, { alienMoveTimer: 7, alienShotTimer: 3 });
    const r = g.step(NOOP, none());
    expect(r).toBe(1);
    expect(g.state.moveInterval).toBe(11);
    expect(g.state.rampIndex).toBe(1);
    expect(g.state.alienDir).toBe(1);
    expect([g.state.alienMoveTimer, g.state.alienShotTimer]).toEqual([6, 2]);
    const o = obsOf(g);
    expect(cells(o, C, CH.alien)).toHaveLength(24);
    expect(cells(o, C, CH.alienRight)).toHaveLength(24);
  });

  it('the interval stops at 6; ramping off keeps it', () => {
    const g = quiet();
    Object.assign(g.state, { moveInterval: 6, aliens: grid([4, 5]), friendlyBullets: grid([5, 5]) });
    g.step(NOOP, none());
    expect([g.state.moveInterval, g.state.rampIndex]).toEqual([6, 0]);
    const h = quiet(false);
    Object.assign(h.state, { aliens: grid([4, 5]), friendlyBullets: grid([5, 5]) });
    h.step(NOOP, none());
    expect([h.state.moveInterval, h.state.rampIndex]).toEqual([12, 0]);
    expect(cells(obsOf(h), C, CH.alien)).toHaveLength(24);
  });
});
