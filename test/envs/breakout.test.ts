// Scripted Breakout scenarios, each traced to a rule of docs/spec/minatar.md § Breakout.
import { describe, expect, it } from 'vitest';
import { Breakout, BREAKOUT_CH as CH } from '../../rl/envs/minatar/breakout.ts';
import { LEFT, NOOP, RIGHT, UP, FIRE } from '../../rl/envs/minatar/common.ts';
import { makeEnv, minatarGame, Rng } from '../../rl/envs/index.ts';
import { cells, isBinary, obsOf, scriptedRng } from './helpers.ts';

const C = 4;
const rng = () => scriptedRng([]); // Breakout's step draws nothing

function game(over: Partial<Breakout['state']> = {}, clearBricks = false): Breakout {
  const g = new Breakout();
  g.reset(scriptedRng([0])); // ball at column 0
  if (clearBricks) g.state.bricks.fill(0);
  Object.assign(g.state, over);
  return g;
}

describe('Breakout start', () => {
  it('bricks fill rows 1–3, paddle at x=4 on row 9, ball on row 3 with trail = ball', () => {
    // Rule "Start: bricks fill rows 1–3 … paddle at x=4 on row 9; ball at row 3 … last ball position = current."
    const g = game();
    const o = obsOf(g);
    expect(isBinary(o)).toBe(true);
    expect(cells(o, C, CH.brick)).toHaveLength(30);
    expect(cells(o, C, CH.brick).every((c) => ['1', '2', '3'].includes(c.split(',')[0]!))).toBe(true);
    expect(cells(o, C, CH.paddle)).toEqual(['9,4']);
    expect(cells(o, C, CH.ball)).toEqual(['3,0']);
    expect(cells(o, C, CH.trail)).toEqual(['3,0']);
    expect(g.state.strike).toBe(false);
  });

  it('ball starts at column 0 moving down-right or column 9 moving down-left, equal chance', () => {
    // Rule "either at column 0 moving down-right or at column 9 moving down-left (equal chance)".
    const g = new Breakout();
    g.reset(scriptedRng([0.9]));
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([9, 3, 3]);
    const r = new Rng(7, 0);
    let left = 0;
    let bad = 0;
    const N = 4000;
    for (let i = 0; i < N; i++) {
      g.reset(r);
      const st = g.state;
      if (st.ballX === 0 && st.ballDir === 2) left++;
      else if (!(st.ballX === 9 && st.ballDir === 3)) bad++;
    }
    expect(bad).toBe(0);
    expect(Math.abs(left / N - 0.5)).toBeLessThan(0.03);
  });
});

describe('Breakout paddle', () => {
  it('moves left/right by one, clamped to 0..9; other actions leave it', () => {
    // Rule "move the paddle left/right by one (clamped to 0..9)".
    const g = game({ paddleX: 0 });
    g.step(LEFT, rng());
    expect(g.state.paddleX).toBe(0);
    g.step(RIGHT, rng());
    expect(g.state.paddleX).toBe(1);
    g.step(UP, rng());
    g.step(FIRE, rng());
    expect(g.state.paddleX).toBe(1);
    g.state.paddleX = 9;
    g.step(RIGHT, rng());
    expect(g.state.paddleX).toBe(9);
  });
});

describe('Breakout ball', () => {
  it('free flight: trail is the previous cell', () => {
    // Rule "Remember the ball's cell as the last position; propose new cell = cell + direction".
    const g = game({ ballX: 5, ballY: 5, ballDir: 1 }, true);
    g.step(NOOP, rng());
    const o = obsOf(g);
    expect(cells(o, C, CH.ball)).toEqual(['4,6']);
    expect(cells(o, C, CH.trail)).toEqual(['5,5']);
  });

  it('side wall: x is clamped and the direction mirrored horizontally', () => {
    // Rule "Proposed x outside 0..9: clamp it and mirror horizontally (0↔1, 2↔3)".
    const g = game({ ballX: 9, ballY: 6, ballDir: 1 }, true);
    g.step(NOOP, rng());
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([9, 5, 0]);
    const h = game({ ballX: 0, ballY: 6, ballDir: 3 }, true);
    h.step(NOOP, rng());
    expect([h.state.ballX, h.state.ballY, h.state.ballDir]).toEqual([0, 7, 2]);
  });

  it('ceiling: y = 0 and the direction mirrored vertically', () => {
    // Rule "proposed y < 0: y = 0, mirror vertically (0↔3, 1↔2)".
    const g = game({ ballX: 5, ballY: 0, ballDir: 0 }, true);
    g.step(NOOP, rng());
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([4, 0, 3]);
  });

  it('corner: wall mirror then ceiling mirror in the same step', () => {
    const g = game({ ballX: 9, ballY: 0, ballDir: 1 }, true);
    g.step(NOOP, rng());
    // 1 → (H) 0 → (V) 3
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([9, 0, 3]);
  });
});

describe('Breakout bricks and the strike flag', () => {
  it('hit with the flag off: +1, flag set, brick removed, ball keeps its row, vertical mirror', () => {
    // Rule "a brick at the proposed cell: … +1, set the strike flag, remove the brick, keep the
    // ball on its previous row, mirror vertically."
    const g = game({ ballX: 5, ballY: 4, ballDir: 0 });
    const r = g.step(NOOP, rng());
    expect(r).toBe(1);
    expect(g.state.strike).toBe(true);
    expect(g.state.bricks[3 * 10 + 4]).toBe(0);
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([4, 4, 3]);
    const o = obsOf(g);
    expect(cells(o, C, CH.brick)).toHaveLength(29);
    expect(cells(o, C, CH.brick)).not.toContain('3,4');
    expect(cells(o, C, CH.ball)).toEqual(['4,4']);
    expect(cells(o, C, CH.trail)).toEqual(['4,5']);
  });

  it('hit with the flag on: the ball enters the brick cell without breaking it, flag stays on', () => {
    // Rule "(With the flag already on the ball enters the brick's cell without breaking it.)"
    const g = game({ ballX: 5, ballY: 4, ballDir: 0, strike: true });
    const r = g.step(NOOP, rng());
    expect(r).toBe(0);
    expect(g.state.bricks[3 * 10 + 4]).toBe(1);
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([4, 3, 0]);
    expect(g.state.strike).toBe(true);
    const o = obsOf(g);
    expect(cells(o, C, CH.ball)).toEqual(['3,4']);
    expect(cells(o, C, CH.brick)).toContain('3,4');
  });

  it('a step without a brick hit clears the strike flag', () => {
    // Rule "No brick hit this step → clear the strike flag."
    const g = game({ ballX: 5, ballY: 6, ballDir: 0, strike: true });
    g.step(NOOP, rng());
    expect(g.state.strike).toBe(false);
  });

  it('ceiling takes precedence: a brick never sits above row 0, so y<0 is handled first', () => {
    // Rule "Then exactly one of, in this order: proposed y < 0 …; a brick …"
    const g = game({ ballX: 5, ballY: 0, ballDir: 1 });
    g.state.bricks[0 * 10 + 6] = 1; // a brick on row 0 next to the ball
    const r = g.step(NOOP, rng());
    expect(r).toBe(0);
    expect([g.state.ballY, g.state.ballDir]).toEqual([0, 2]);
  });

  it('a brick behind a side wall: the clamped cell is tested', () => {
    const g = game({ ballX: 9, ballY: 4, ballDir: 1 });
    const r = g.step(NOOP, rng()); // proposes (10, 3) → clamp (9, 3) which holds a brick
    expect(r).toBe(1);
    expect(g.state.bricks[3 * 10 + 9]).toBe(0);
    // H-mirror 1→0, then V-mirror 0→3; the row stays 4.
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([9, 4, 3]);
  });
});

describe('Breakout paddle bounce', () => {
  it("branch 1: ball's current x equals the paddle's → vertical mirror, previous row", () => {
    // Rule "if the ball's *current* x equals the paddle's x: mirror vertically and keep the previous row".
    const g = game({ ballX: 4, ballY: 8, ballDir: 2, paddleX: 4 });
    const r = g.step(NOOP, rng());
    expect(r).toBe(0);
    expect(g.terminal).toBe(false);
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([5, 8, 1]);
  });

  it("branch 2: proposed x equals the paddle's → both components reversed, previous row", () => {
    // Rule "else if the *proposed* x equals the paddle's x: reverse both components (0↔2, 1↔3)".
    const g = game({ ballX: 3, ballY: 8, ballDir: 2, paddleX: 4 });
    g.step(NOOP, rng());
    expect(g.terminal).toBe(false);
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([4, 8, 0]);
    const h = game({ ballX: 6, ballY: 8, ballDir: 3, paddleX: 5 });
    h.step(NOOP, rng());
    expect([h.state.ballX, h.state.ballY, h.state.ballDir]).toEqual([5, 8, 1]);
  });

  it('the paddle moves before the ball is tested (move under it in time)', () => {
    const g = game({ ballX: 3, ballY: 8, ballDir: 2, paddleX: 3 });
    g.step(RIGHT, rng()); // paddle → 4 = proposed x: branch 2
    expect(g.terminal).toBe(false);
    expect(g.state.ballDir).toBe(0);
  });

  it('branch 1 wins when both the current and the proposed x match (wall clamp)', () => {
    const g = game({ ballX: 9, ballY: 8, ballDir: 2, paddleX: 9 });
    g.step(NOOP, rng()); // proposed x clamps to 9, dir 2 → 3; current x = paddle → V mirror 3 → 0
    expect([g.state.ballX, g.state.ballY, g.state.ballDir]).toEqual([9, 8, 0]);
  });

  it('a miss ends the episode, ball shown on row 9 in the terminal observation', () => {
    // Rule "else the episode ends."
    const g = game({ ballX: 0, ballY: 8, ballDir: 2, paddleX: 5 });
    const r = g.step(NOOP, rng());
    expect(r).toBe(0);
    expect(g.terminal).toBe(true);
    expect(cells(obsOf(g), C, CH.ball)).toEqual(['9,1']);
    expect(cells(obsOf(g), C, CH.trail)).toEqual(['8,0']);
  });
});

describe('Breakout brick refill', () => {
  it('no bricks remaining when the ball reaches row 9 → rows 1–3 refilled', () => {
    // Rule "proposed y == 9: if no bricks remain, refill rows 1–3."
    const g = game({ ballX: 4, ballY: 8, ballDir: 2, paddleX: 4 }, true);
    g.step(NOOP, rng());
    expect(cells(obsOf(g), C, CH.brick)).toHaveLength(30);
    expect(g.terminal).toBe(false);
  });

  it('refill happens even on the step the ball is missed', () => {
    const g = game({ ballX: 0, ballY: 8, ballDir: 2, paddleX: 9 }, true);
    g.step(NOOP, rng());
    expect(g.terminal).toBe(true);
    expect(cells(obsOf(g), C, CH.brick)).toHaveLength(30);
  });

  it('no refill while one brick remains, nor when the last brick breaks mid-field', () => {
    const g = game({ ballX: 4, ballY: 8, ballDir: 2, paddleX: 4 }, true);
    g.state.bricks[15] = 1;
    g.step(NOOP, rng());
    expect(cells(obsOf(g), C, CH.brick)).toEqual(['1,5']);
    const h = game({ ballX: 5, ballY: 4, ballDir: 0 }, true);
    h.state.bricks[34] = 1;
    expect(h.step(NOOP, rng())).toBe(1);
    expect(cells(obsOf(h), C, CH.brick)).toEqual([]);
  });
});

describe('Breakout through makeEnv', () => {
  it('gymnax minimal actions {0,1,3}: network action 2 moves the paddle right', () => {
    const env = makeEnv('minatar/breakout', { preset: 'gymnax' });
    expect(env.actionSpace).toEqual({ kind: 'discrete', n: 3 });
    expect(env.observationSpace.kind === 'box' && env.observationSpace.shape).toEqual([10, 10, 4]);
    env.reset();
    env.step([2]);
    expect(minatarGame<Breakout>(env).state.paddleX).toBe(5);
    env.step([1]);
    expect(minatarGame<Breakout>(env).state.paddleX).toBe(4);
  });

  it('a miss is terminated with finalObs showing the ball on row 9, and the env autoresets', () => {
    const env = makeEnv('minatar/breakout', { preset: 'gymnax', seed: 3 });
    env.reset();
    Object.assign(minatarGame<Breakout>(env).state, { ballX: 0, ballY: 8, ballDir: 2, paddleX: 5 });
    const r = env.step([0]);
    expect(r.terminated[0]).toBe(1);
    expect(r.truncated[0]).toBe(0);
    expect(cells(r.finalObs, C, CH.ball)).toEqual(['9,1']);
    expect(cells(r.obs, C, CH.ball)[0]!.startsWith('3,')).toBe(true);
    expect(cells(r.obs, C, CH.brick)).toHaveLength(30);
  });
});
