// MinAtar Asterix, Space Invaders and Seaquest on the GPU: the games of rl/envs/minatar inside
// MinAtarEnv (action set, sticky actions), as per-env WGSL rules for the generic batch kernel
// (vec.ts), drawing the CPU games' words in the same order so test/envs/gpu_minatar.test.ts can
// check them step for step. Each game's state is a flat run of floats (small integers, exact in
// float32); packState / unpackState convert to and from the CPU core's getState() format.
import { Asterix, ASTERIX } from '../minatar/asterix.ts';
import { Seaquest, SEAQUEST } from '../minatar/seaquest.ts';
import { SpaceInvaders, SPACE_INVADERS } from '../minatar/space_invaders.ts';
import type { AsterixEntity, AsterixState } from '../minatar/asterix.ts';
import type { SeaquestState, SqMover, SqSub, SqTimed } from '../minatar/seaquest.ts';
import type { SpaceInvadersState } from '../minatar/space_invaders.ts';
import type { GpuEnvDef } from './vec.ts';
import { belowWord, drawIntNWgsl, minatarActionWgsl } from './minatar_wgsl.ts';

export interface MinAtarGpuOptions {
  stickyProb: number;
  minimalActions: boolean;
  ramping: boolean;
  maxEpisodeSteps: number;
}

interface Core<G> {
  lastAction: number;
  game: G;
}

const HALF = '2147483648u'; // uniform() < 0.5

// ------------------------------------------------------------------ Asterix

/**
 * State: player x, y, spawn period, spawn timer, move period, move timer, ramp timer, ramp
 * index, last executed action, then the 8 slots (row k + 1) as (present, x, right, gold).
 */
export function asterixGpu(o: MinAtarGpuOptions): GpuEnvDef {
  const map = o.minimalActions ? [...new Asterix().minimalActions] : [0, 1, 2, 3, 4, 5];
  const X = ASTERIX;
  return {
    id: 'minatar/asterix',
    obsSize: 400,
    actSize: 1,
    stateSize: 9 + 4 * X.slots,
    defaultMaxEpisodeSteps: o.maxEpisodeSteps,
    wgsl: /* wgsl */ `
${drawIntNWgsl}
var<private> ax_dead: bool;
fn env_reset(i: u32, b: u32) {
  S[b] = 5.0;
  S[b + 1u] = 5.0;
  S[b + 2u] = ${X.initSpawnPeriod}.0;
  S[b + 3u] = ${X.initSpawnPeriod}.0;
  S[b + 4u] = ${X.initMovePeriod}.0;
  S[b + 5u] = ${X.initMovePeriod}.0;
  S[b + 6u] = ${X.rampInterval}.0;
  S[b + 7u] = 0.0;
  for (var k = 0u; k < ${4 * X.slots}u; k++) { S[b + 9u + k] = 0.0; }
}
// Direction, kind, then the slot among the free ones (no slot draw when none is free).
fn ax_spawn(i: u32, b: u32) {
  let right = draw_word(i) < ${HALF};
  let gold = draw_word(i) < ${belowWord(1 / 3)};
  var nfree = 0u;
  for (var k = 0u; k < ${X.slots}u; k++) { if (S[b + 9u + 4u * k] < 0.5) { nfree++; } }
  if (nfree == 0u) { return; }
  var r = draw_int_n(i, nfree);
  for (var k = 0u; k < ${X.slots}u; k++) {
    let e = b + 9u + 4u * k;
    if (S[e] > 0.5) { continue; }
    if (r == 0u) {
      S[e] = 1.0;
      S[e + 1u] = select(9.0, 0.0, right);
      S[e + 2u] = select(0.0, 1.0, right);
      S[e + 3u] = select(0.0, 1.0, gold);
      return;
    }
    r--;
  }
}
fn ax_collide(b: u32) -> f32 {
  let e = b + 9u + 4u * (u32(S[b + 1u]) - 1u);
  if (S[e] < 0.5 || S[e + 1u] != S[b]) { return 0.0; }
  if (S[e + 3u] > 0.5) {
    S[e] = 0.0;
    return 1.0;
  }
  ax_dead = true;
  return 0.0;
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
${minatarActionWgsl(map, o.stickyProb, 8)}
  ax_dead = false;
  var reward = 0.0;
  if (S[b + 3u] == 0.0) {
    ax_spawn(i, b);
    S[b + 3u] = S[b + 2u];
  }
  if (act == 1u) { S[b] = max(0.0, S[b] - 1.0); }
  else if (act == 3u) { S[b] = min(9.0, S[b] + 1.0); }
  else if (act == 2u) { S[b + 1u] = max(1.0, S[b + 1u] - 1.0); }
  else if (act == 4u) { S[b + 1u] = min(8.0, S[b + 1u] + 1.0); }
  reward = reward + ax_collide(b);
  if (S[b + 5u] == 0.0) {
    S[b + 5u] = S[b + 4u];
    for (var k = 0u; k < ${X.slots}u; k++) {
      let e = b + 9u + 4u * k;
      if (S[e] < 0.5) { continue; }
      let x = S[e + 1u] + select(-1.0, 1.0, S[e + 2u] > 0.5);
      S[e + 1u] = x;
      if (x < 0.0 || x > 9.0) { S[e] = 0.0; }
    }
    reward = reward + ax_collide(b);
  }
  S[b + 3u] = S[b + 3u] - 1.0;
  S[b + 5u] = S[b + 5u] - 1.0;
  ${o.ramping ? `if (S[b + 2u] > 1.0 || S[b + 4u] > 1.0) {
    if (S[b + 6u] >= 0.0) {
      S[b + 6u] = S[b + 6u] - 1.0;
    } else {
      if (S[b + 4u] > 1.0 && u32(S[b + 7u]) % 2u == 1u) { S[b + 4u] = S[b + 4u] - 1.0; }
      if (S[b + 2u] > 1.0) { S[b + 2u] = S[b + 2u] - 1.0; }
      S[b + 7u] = S[b + 7u] + 1.0;
      S[b + 6u] = ${X.rampInterval}.0;
    }
  }` : ''}
  return vec2f(reward, select(0.0, 1.0, ax_dead));
}
fn env_obs(i: u32, b: u32, o: u32) {
  // channels: player 0, enemy 1, trail 2, gold 3; (row, column, channel) order
  for (var k = 0u; k < 400u; k++) { OUT[o + k] = 0.0; }
  OUT[o + 4u * (u32(S[b + 1u]) * 10u + u32(S[b]))] = 1.0;
  for (var k = 0u; k < ${X.slots}u; k++) {
    let e = b + 9u + 4u * k;
    if (S[e] < 0.5) { continue; }
    let y = k + 1u;
    let x = i32(S[e + 1u]);
    OUT[o + 4u * (y * 10u + u32(x)) + select(1u, 3u, S[e + 3u] > 0.5)] = 1.0;
    let tx = x + select(1, -1, S[e + 2u] > 0.5);
    if (tx >= 0 && tx < 10) { OUT[o + 4u * (y * 10u + u32(tx)) + 2u] = 1.0; }
  }
}
`,
    packState: (c) => {
      const { lastAction, game: g } = c as Core<AsterixState>;
      if (g.slots.length !== X.slots) throw new Error(`minatar/asterix (GPU): a state has ${X.slots} slots, got ${g.slots.length}`);
      const slots = g.slots.flatMap((e) => (e ? [1, e.x, e.right ? 1 : 0, e.gold ? 1 : 0] : [0, 0, 0, 0]));
      return [g.playerX, g.playerY, g.spawnPeriod, g.spawnTimer, g.movePeriod, g.moveTimer, g.rampTimer, g.rampIndex, lastAction, ...slots];
    },
    unpackState: (s) => ({
      lastAction: s[8],
      terminal: false,
      game: {
        playerX: s[0], playerY: s[1], spawnPeriod: s[2], spawnTimer: s[3], movePeriod: s[4], moveTimer: s[5], rampTimer: s[6], rampIndex: s[7],
        slots: Array.from({ length: X.slots }, (_, k): AsterixEntity | null => {
          const e = 9 + 4 * k;
          return s[e] > 0.5 ? { x: s[e + 1], right: s[e + 2] > 0.5, gold: s[e + 3] > 0.5 } : null;
        }),
      } satisfies AsterixState,
    }),
  };
}

// ------------------------------------------------------------------ Space Invaders

/**
 * State: cannon x, alien direction, alien move timer, alien shot timer, shot timer, move
 * interval, ramp index, last executed action, then the aliens, friendly bullets and enemy
 * bullets as 100 cells each (row-major). The game draws nothing: only sticky actions do.
 */
export function spaceInvadersGpu(o: MinAtarGpuOptions): GpuEnvDef {
  const map = o.minimalActions ? [...new SpaceInvaders().minimalActions] : [0, 1, 2, 3, 4, 5];
  const SI = SPACE_INVADERS;
  return {
    id: 'minatar/space_invaders',
    obsSize: 600,
    actSize: 1,
    stateSize: 308,
    defaultMaxEpisodeSteps: o.maxEpisodeSteps,
    wgsl: /* wgsl */ `
fn si_block(b: u32) {
  for (var k = 0u; k < 100u; k++) {
    let x = k % 10u;
    S[b + 8u + k] = select(0.0, 1.0, k < 40u && x >= 2u && x <= 7u);
  }
}
fn env_reset(i: u32, b: u32) {
  S[b] = 5.0;
  S[b + 1u] = -1.0;
  S[b + 2u] = ${SI.initMoveInterval}.0;
  S[b + 3u] = ${SI.alienShotPeriod}.0;
  S[b + 4u] = 0.0;
  S[b + 5u] = ${SI.initMoveInterval}.0;
  S[b + 6u] = 0.0;
  si_block(b);
  for (var k = 108u; k < 308u; k++) { S[b + k] = 0.0; }
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
${minatarActionWgsl(map, o.stickyProb, 7)}
  let A0 = b + 8u;
  let F0 = b + 108u;
  let E0 = b + 208u;
  var reward = 0.0;
  var dead = false;
  var cx = i32(S[b]);
  // fire if ready, otherwise move
  if (act == 5u && S[b + 4u] == 0.0) {
    S[F0 + 90u + u32(cx)] = 1.0;
    S[b + 4u] = ${SI.shotCooldown}.0;
  } else if (act == 1u) {
    cx = max(0, cx - 1);
  } else if (act == 3u) {
    cx = min(9, cx + 1);
  }
  S[b] = f32(cx);
  let cannon = 90u + u32(cx);
  // friendly bullets one row up, enemy bullets one row down
  for (var k = 0u; k < 90u; k++) { S[F0 + k] = S[F0 + k + 10u]; }
  for (var k = 90u; k < 100u; k++) { S[F0 + k] = 0.0; }
  for (var k = 99u; k >= 10u; k--) { S[E0 + k] = S[E0 + k - 10u]; }
  for (var k = 0u; k < 10u; k++) { S[E0 + k] = 0.0; }
  if (S[E0 + cannon] == 1.0 || S[A0 + cannon] == 1.0) { dead = true; }
  if (S[b + 2u] == 0.0) {
    var count = 0.0;
    var atLeft = false;
    var atRight = false;
    var onBottom = false;
    for (var k = 0u; k < 100u; k++) {
      if (S[A0 + k] != 1.0) { continue; }
      count = count + 1.0;
      if (k % 10u == 0u) { atLeft = true; }
      if (k % 10u == 9u) { atRight = true; }
      if (k >= 90u) { onBottom = true; }
    }
    S[b + 2u] = min(count, S[b + 5u]);
    let dir = S[b + 1u];
    if ((atLeft && dir < 0.0) || (atRight && dir > 0.0)) {
      S[b + 1u] = -dir;
      if (onBottom) { dead = true; }
      // down one row as a rotation: row 9 wraps round to row 0 (as the CPU game)
      for (var x = 0u; x < 10u; x++) {
        let bottom = S[A0 + 90u + x];
        for (var k = 90u + x; k >= 10u; k -= 10u) { S[A0 + k] = S[A0 + k - 10u]; }
        S[A0 + x] = bottom;
      }
    } else if (dir < 0.0) {
      for (var k = 0u; k < 99u; k++) { S[A0 + k] = S[A0 + k + 1u]; }
      S[A0 + 99u] = 0.0;
    } else {
      for (var k = 99u; k > 0u; k--) { S[A0 + k] = S[A0 + k - 1u]; }
      S[A0] = 0.0;
    }
    if (S[A0 + cannon] == 1.0) { dead = true; }
  }
  // alien fire: the alien column nearest the cannon (ties: the lower column), its lowest alien
  if (S[b + 3u] == 0.0) {
    S[b + 3u] = ${SI.alienShotPeriod}.0;
    var bestX = -1;
    var bestD = 1000;
    for (var x = 0; x < 10; x++) {
      var has = false;
      for (var y = 0; y < 10; y++) { if (S[A0 + u32(y * 10 + x)] == 1.0) { has = true; } }
      if (!has) { continue; }
      let d = abs(x - cx);
      if (d < bestD) {
        bestD = d;
        bestX = x;
      }
    }
    if (bestX >= 0) {
      var lowest = -1;
      for (var y = 0; y < 10; y++) { if (S[A0 + u32(y * 10 + bestX)] == 1.0) { lowest = y; } }
      S[E0 + u32(lowest * 10 + bestX)] = 1.0;
    }
  }
  var any = false;
  for (var k = 0u; k < 100u; k++) {
    if (S[A0 + k] == 1.0 && S[F0 + k] == 1.0) {
      S[A0 + k] = 0.0;
      S[F0 + k] = 0.0;
      reward = reward + 1.0;
    }
    if (S[A0 + k] == 1.0) { any = true; }
  }
  if (S[b + 4u] > 0.0) { S[b + 4u] = S[b + 4u] - 1.0; }
  S[b + 2u] = S[b + 2u] - 1.0;
  S[b + 3u] = S[b + 3u] - 1.0;
  // wave cleared: ramp and respawn
  if (!any) {
    ${o.ramping ? `if (S[b + 5u] > ${SI.minMoveInterval}.0) {
      S[b + 5u] = S[b + 5u] - 1.0;
      S[b + 6u] = S[b + 6u] + 1.0;
    }` : ''}
    si_block(b);
  }
  return vec2f(reward, select(0.0, 1.0, dead));
}
fn env_obs(i: u32, b: u32, o: u32) {
  // channels: cannon 0, alien 1, alien moving left 2 / right 3, friendly bullet 4, enemy bullet 5
  for (var k = 0u; k < 600u; k++) { OUT[o + k] = 0.0; }
  OUT[o + 6u * (90u + u32(S[b]))] = 1.0;
  let dirCh = select(3u, 2u, S[b + 1u] < 0.0);
  for (var k = 0u; k < 100u; k++) {
    if (S[b + 8u + k] == 1.0) {
      OUT[o + 6u * k + 1u] = 1.0;
      OUT[o + 6u * k + dirCh] = 1.0;
    }
    if (S[b + 108u + k] == 1.0) { OUT[o + 6u * k + 4u] = 1.0; }
    if (S[b + 208u + k] == 1.0) { OUT[o + 6u * k + 5u] = 1.0; }
  }
}
`,
    packState: (c) => {
      const { lastAction, game: g } = c as Core<SpaceInvadersState>;
      for (const [k, v] of [['aliens', g.aliens], ['friendlyBullets', g.friendlyBullets], ['enemyBullets', g.enemyBullets]] as const) {
        if (v.length !== 100) throw new Error(`minatar/space_invaders (GPU): ${k} must have 100 cells, got ${v.length}`);
      }
      return [g.cannonX, g.alienDir, g.alienMoveTimer, g.alienShotTimer, g.shotTimer, g.moveInterval, g.rampIndex, lastAction, ...g.aliens, ...g.friendlyBullets, ...g.enemyBullets];
    },
    unpackState: (s) => ({
      lastAction: s[7],
      terminal: false,
      game: {
        cannonX: s[0], alienDir: s[1], alienMoveTimer: s[2], alienShotTimer: s[3], shotTimer: s[4], moveInterval: s[5], rampIndex: s[6],
        aliens: Array.from(s.subarray(8, 108)),
        friendlyBullets: Array.from(s.subarray(108, 208)),
        enemyBullets: Array.from(s.subarray(208, 308)),
      } satisfies SpaceInvadersState,
    }),
  };
}

// ------------------------------------------------------------------ Seaquest

/**
 * Capacities of Seaquest's lists on the GPU. The CPU lists are unbounded; these bound every
 * state reachable from a reset: one friendly shot per 5 steps lives ≤ 10 steps; a diver spawns
 * every 30 steps and lives ≤ 60; an enemy lives ≤ 10·(move period + 1) steps and at most one
 * spawns per step, so at the fastest ramp (spawn period 1, move period 2) ≤ 30 are alive, and a
 * sub fires once per 11 steps a bullet that lives ≤ 10, so enemy bullets ≤ the subs alive in
 * the last 10 steps. packState rejects a state beyond them rather than drop anything.
 */
export const SEAQUEST_GPU_CAPS = { friendlyBullets: 4, enemyBullets: 40, fish: 32, subs: 32, divers: 4 } as const;

const SQ = (() => {
  const c = SEAQUEST_GPU_CAPS;
  const head = 18; // scalars (0..12) and the five list lengths (13..17)
  const fb = head, eb = fb + 3 * c.friendlyBullets, fish = eb + 3 * c.enemyBullets, subs = fish + 4 * c.fish, div = subs + 5 * c.subs;
  return { fb, eb, fish, subs, div, size: div + 4 * c.divers };
})();

/**
 * State: oxygen, divers carried, sub x, y, facing left, spawn timer, spawn period, diver timer,
 * move period, ramp index, shot timer, at surface, last executed action, the lengths of the
 * five lists, then the lists in the CPU's order: friendly and enemy bullets (x, y, right), fish
 * (x, y, right, move timer), enemy subs (… , shot timer), divers (x, y, right, move timer).
 */
export function seaquestGpu(o: MinAtarGpuOptions): GpuEnvDef {
  const map = o.minimalActions ? [...new Seaquest().minimalActions] : [0, 1, 2, 3, 4, 5];
  const Q = SEAQUEST, C = SEAQUEST_GPU_CAPS;
  // list n: its length at S[b + 13 + n], items of `stride` floats from S[b + base]
  const L = {
    fb: { n: 13, base: SQ.fb, stride: 3, cap: C.friendlyBullets },
    eb: { n: 14, base: SQ.eb, stride: 3, cap: C.enemyBullets },
    fish: { n: 15, base: SQ.fish, stride: 4, cap: C.fish },
    subs: { n: 16, base: SQ.subs, stride: 5, cap: C.subs },
    div: { n: 17, base: SQ.div, stride: 4, cap: C.divers },
  };
  type Lst = (typeof L)[keyof typeof L];
  const mark = (y: string, x: string, c: string) => `OUT[o + 10u * (u32(${y}) * 10u + u32(${x})) + ${c}] = 1.0;`;
  // Append one item (its floats as WGSL expressions over the caller's names, so the locals here
  // are named apart); a full list takes nothing (unreachable, see the caps).
  const push = (l: Lst, vals: string[]) => /* wgsl */ `{
    let pn = u32(S[b + ${l.n}u]);
    if (pn < ${l.cap}u) {
      let pe = b + ${l.base}u + ${l.stride}u * pn;
      ${vals.map((v, k) => `S[pe + ${k}u] = ${v};`).join('\n      ')}
      S[b + ${l.n}u] = f32(pn + 1u);
    }
  }`;
  // The whole item at e copied to the compacted position w (w ≤ its own index).
  const keep = (l: Lst) => /* wgsl */ `{
      let d = b + ${l.base}u + ${l.stride}u * w;
      for (var q = 0u; q < ${l.stride}u; q++) { S[d + q] = S[e + q]; }
      w++;
    }`;
  return {
    id: 'minatar/seaquest',
    obsSize: 1000,
    actSize: 1,
    stateSize: SQ.size,
    defaultMaxEpisodeSteps: o.maxEpisodeSteps,
    wgsl: /* wgsl */ `
${drawIntNWgsl}
var<private> sq_dead: bool;
fn env_reset(i: u32, b: u32) {
  S[b] = ${Q.maxOxygen}.0;
  S[b + 1u] = 0.0;
  S[b + 2u] = 5.0;
  S[b + 3u] = 0.0;
  S[b + 4u] = 1.0;
  S[b + 5u] = ${Q.initSpawnPeriod}.0;
  S[b + 6u] = ${Q.initSpawnPeriod}.0;
  S[b + 7u] = ${Q.diverSpawnPeriod}.0;
  S[b + 8u] = ${Q.initMovePeriod}.0;
  S[b + 9u] = 0.0;
  S[b + 10u] = 0.0;
  S[b + 11u] = 1.0;
  for (var k = 13u; k < 18u; k++) { S[b + k] = 0.0; }
}
fn sq_at_player(b: u32, x: f32, y: f32) -> bool { return x == S[b + 2u] && y == S[b + 3u]; }
fn sq_on_grid(x: f32) -> bool { return x >= 0.0 && x <= 9.0; }
fn sq_step_x(right: f32) -> f32 { return select(-1.0, 1.0, right > 0.5); }
// The first item of a list at (x, y), removed with the later ones shifted down; false if none.
fn sq_take(b: u32, ln: u32, base: u32, stride: u32, x: f32, y: f32) -> bool {
  let n = u32(S[b + ln]);
  for (var k = 0u; k < n; k++) {
    let e = b + base + stride * k;
    if (S[e] == x && S[e + 1u] == y) {
      for (var q = e; q + stride < b + base + stride * n; q++) { S[q] = S[q + stride]; }
      S[b + ln] = f32(n - 1u);
      return true;
    }
  }
  return false;
}
// Shared move of fish and subs: 0 stays, -1 left the grid, 1 shot by a friendly bullet (+1).
fn sq_move_enemy(b: u32, e: u32) -> i32 {
  if (sq_at_player(b, S[e], S[e + 1u])) { sq_dead = true; }
  if (S[e + 3u] == 0.0) {
    S[e + 3u] = S[b + 8u];
    S[e] = S[e] + sq_step_x(S[e + 2u]);
    if (!sq_on_grid(S[e])) { return -1; }
    if (sq_at_player(b, S[e], S[e + 1u])) { sq_dead = true; }
    else if (sq_take(b, ${L.fb.n}u, ${L.fb.base}u, ${L.fb.stride}u, S[e], S[e + 1u])) { return 1; }
  } else {
    S[e + 3u] = S[e + 3u] - 1.0;
  }
  return 0;
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
${minatarActionWgsl(map, o.stickyProb, 12)}
  sq_dead = false;
  var reward = 0.0;
  // 1. enemy spawn: direction, kind, row; none where the row holds enemies going the other way
  if (S[b + 5u] == 0.0) {
    let right = select(0.0, 1.0, draw_word(i) < ${HALF});
    let isSub = draw_word(i) < ${belowWord(1 / 3)};
    let y = f32(1u + draw_int_n(i, 8u));
    var blocked = false;
    for (var k = 0u; k < u32(S[b + ${L.fish.n}u]); k++) {
      let e = b + ${L.fish.base}u + ${L.fish.stride}u * k;
      if (S[e + 1u] == y && S[e + 2u] != right) { blocked = true; }
    }
    for (var k = 0u; k < u32(S[b + ${L.subs.n}u]); k++) {
      let e = b + ${L.subs.base}u + ${L.subs.stride}u * k;
      if (S[e + 1u] == y && S[e + 2u] != right) { blocked = true; }
    }
    if (!blocked) {
      let x = select(9.0, 0.0, right > 0.5);
      if (isSub) ${push(L.subs, ['x', 'y', 'right', 'S[b + 8u]', `${Q.enemyShotPeriod}.0`])}
      else ${push(L.fish, ['x', 'y', 'right', 'S[b + 8u]'])}
    }
    S[b + 5u] = S[b + 6u];
  }
  // 2. diver spawn: direction, row
  if (S[b + 7u] == 0.0) {
    let right = select(0.0, 1.0, draw_word(i) < ${HALF});
    let y = f32(1u + draw_int_n(i, 8u));
    ${push(L.div, ['select(9.0, 0.0, right > 0.5)', 'y', 'right', `${Q.diverMovePeriod}.0`])}
    S[b + 7u] = ${Q.diverSpawnPeriod}.0;
  }
  // 3. player
  if (act == 5u && S[b + 10u] == 0.0) {
    ${push(L.fb, ['S[b + 2u]', 'S[b + 3u]', 'select(1.0, 0.0, S[b + 4u] > 0.5)'])}
    S[b + 10u] = ${Q.shotCooldown}.0;
  } else if (act == 1u) {
    S[b + 2u] = max(0.0, S[b + 2u] - 1.0);
    S[b + 4u] = 1.0;
  } else if (act == 3u) {
    S[b + 2u] = min(9.0, S[b + 2u] + 1.0);
    S[b + 4u] = 0.0;
  } else if (act == 2u) {
    S[b + 3u] = max(0.0, S[b + 3u] - 1.0);
  } else if (act == 4u) {
    S[b + 3u] = min(8.0, S[b + 3u] + 1.0);
  }
  // 4. friendly bullets (compacted in place, in order)
  {
    var w = 0u;
    let n = u32(S[b + ${L.fb.n}u]);
    for (var r = 0u; r < n; r++) {
      let e = b + ${L.fb.base}u + ${L.fb.stride}u * r;
      S[e] = S[e] + sq_step_x(S[e + 2u]);
      if (!sq_on_grid(S[e])) { continue; }
      if (sq_take(b, ${L.fish.n}u, ${L.fish.base}u, ${L.fish.stride}u, S[e], S[e + 1u])) { reward = reward + 1.0; continue; }
      if (sq_take(b, ${L.subs.n}u, ${L.subs.base}u, ${L.subs.stride}u, S[e], S[e + 1u])) { reward = reward + 1.0; continue; }
      ${keep(L.fb)}
    }
    S[b + ${L.fb.n}u] = f32(w);
  }
  // 5. divers: picked up on the player's cell while fewer than 6 are aboard
  {
    var w = 0u;
    let n = u32(S[b + ${L.div.n}u]);
    for (var r = 0u; r < n; r++) {
      let e = b + ${L.div.base}u + ${L.div.stride}u * r;
      if (sq_at_player(b, S[e], S[e + 1u]) && S[b + 1u] < ${Q.maxDivers}.0) {
        S[b + 1u] = S[b + 1u] + 1.0;
        continue;
      }
      if (S[e + 3u] == 0.0) {
        S[e + 3u] = ${Q.diverMovePeriod}.0;
        S[e] = S[e] + sq_step_x(S[e + 2u]);
        if (!sq_on_grid(S[e])) { continue; }
        if (sq_at_player(b, S[e], S[e + 1u]) && S[b + 1u] < ${Q.maxDivers}.0) {
          S[b + 1u] = S[b + 1u] + 1.0;
          continue;
        }
      } else {
        S[e + 3u] = S[e + 3u] - 1.0;
      }
      ${keep(L.div)}
    }
    S[b + ${L.div.n}u] = f32(w);
  }
  // 6. enemy subs (one removed this step still runs its shot timer and may fire)
  {
    var w = 0u;
    let n = u32(S[b + ${L.subs.n}u]);
    for (var r = 0u; r < n; r++) {
      let e = b + ${L.subs.base}u + ${L.subs.stride}u * r;
      let m = sq_move_enemy(b, e);
      if (m > 0) { reward = reward + 1.0; }
      if (S[e + 4u] == 0.0) {
        S[e + 4u] = ${Q.enemyShotPeriod}.0;
        ${push(L.eb, ['S[e]', 'S[e + 1u]', 'S[e + 2u]'])}
      } else {
        S[e + 4u] = S[e + 4u] - 1.0;
      }
      if (m == 0) ${keep(L.subs)}
    }
    S[b + ${L.subs.n}u] = f32(w);
  }
  // 7. enemy bullets
  {
    var w = 0u;
    let n = u32(S[b + ${L.eb.n}u]);
    for (var r = 0u; r < n; r++) {
      let e = b + ${L.eb.base}u + ${L.eb.stride}u * r;
      if (sq_at_player(b, S[e], S[e + 1u])) { sq_dead = true; }
      S[e] = S[e] + sq_step_x(S[e + 2u]);
      if (!sq_on_grid(S[e])) { continue; }
      if (sq_at_player(b, S[e], S[e + 1u])) { sq_dead = true; }
      ${keep(L.eb)}
    }
    S[b + ${L.eb.n}u] = f32(w);
  }
  // 8. fish
  {
    var w = 0u;
    let n = u32(S[b + ${L.fish.n}u]);
    for (var r = 0u; r < n; r++) {
      let e = b + ${L.fish.base}u + ${L.fish.stride}u * r;
      let m = sq_move_enemy(b, e);
      if (m > 0) { reward = reward + 1.0; }
      if (m == 0) ${keep(L.fish)}
    }
    S[b + ${L.fish.n}u] = f32(w);
  }
  // 9. timers, oxygen, surfacing
  if (S[b + 5u] > 0.0) { S[b + 5u] = S[b + 5u] - 1.0; }
  if (S[b + 7u] > 0.0) { S[b + 7u] = S[b + 7u] - 1.0; }
  if (S[b + 10u] > 0.0) { S[b + 10u] = S[b + 10u] - 1.0; }
  if (S[b] <= 0.0) { sq_dead = true; }
  if (S[b + 3u] > 0.0) {
    S[b] = S[b] - 1.0;
    S[b + 11u] = 0.0;
  } else if (S[b + 11u] < 0.5) {
    if (S[b + 1u] == 0.0) {
      sq_dead = true;
    } else {
      S[b + 11u] = 1.0;
      if (S[b + 1u] == ${Q.maxDivers}.0) {
        S[b + 1u] = 0.0;
        reward = reward + floor(S[b] * 10.0 / ${Q.maxOxygen}.0);
      }
      S[b] = ${Q.maxOxygen}.0;
      S[b + 1u] = S[b + 1u] - 1.0;
      ${o.ramping ? `if (S[b + 6u] > 1.0 || S[b + 8u] > 2.0) {
        if (S[b + 8u] > 2.0 && u32(S[b + 9u]) % 2u == 1u) { S[b + 8u] = S[b + 8u] - 1.0; }
        if (S[b + 6u] > 1.0) { S[b + 6u] = S[b + 6u] - 1.0; }
        S[b + 9u] = S[b + 9u] + 1.0;
      }` : ''}
    }
  }
  return vec2f(reward, select(0.0, 1.0, sq_dead));
}
fn env_obs(i: u32, b: u32, o: u32) {
  // channels: sub front 0, back 1, friendly bullet 2, trail 3, enemy bullet 4, fish 5,
  // enemy sub 6, oxygen 7, divers carried 8, diver 9; (row, column, channel) order. Written
  // inline: the step kernel instantiates this function twice with different outputs.
  for (var k = 0u; k < 1000u; k++) { OUT[o + k] = 0.0; }
  ${mark('S[b + 3u]', 'S[b + 2u]', '0u')}
  let bx = S[b + 2u] + select(-1.0, 1.0, S[b + 4u] > 0.5);
  if (sq_on_grid(bx)) { ${mark('S[b + 3u]', 'bx', '1u')} }
  let ox = i32(floor(S[b] * 10.0 / ${Q.maxOxygen}.0));
  for (var x = 0; x < ox && x < 10; x++) { ${mark('9.0', 'f32(x)', '7u')} }
  for (var x = max(0, 9 - i32(S[b + 1u])); x <= 8; x++) { ${mark('9.0', 'f32(x)', '8u')} }
  for (var k = 0u; k < u32(S[b + ${L.fb.n}u]); k++) {
    let e = b + ${L.fb.base}u + ${L.fb.stride}u * k;
    ${mark('S[e + 1u]', 'S[e]', '2u')}
  }
  for (var k = 0u; k < u32(S[b + ${L.eb.n}u]); k++) {
    let e = b + ${L.eb.base}u + ${L.eb.stride}u * k;
    ${mark('S[e + 1u]', 'S[e]', '4u')}
  }
  // fish, subs and divers, each with the trail behind it
  for (var k = 0u; k < u32(S[b + ${L.fish.n}u]) + u32(S[b + ${L.subs.n}u]) + u32(S[b + ${L.div.n}u]); k++) {
    var e = 0u;
    var ch = 0u;
    let nf = u32(S[b + ${L.fish.n}u]);
    let ns = u32(S[b + ${L.subs.n}u]);
    if (k < nf) { e = b + ${L.fish.base}u + ${L.fish.stride}u * k; ch = 5u; }
    else if (k < nf + ns) { e = b + ${L.subs.base}u + ${L.subs.stride}u * (k - nf); ch = 6u; }
    else { e = b + ${L.div.base}u + ${L.div.stride}u * (k - nf - ns); ch = 9u; }
    ${mark('S[e + 1u]', 'S[e]', 'ch')}
    let tx = S[e] - sq_step_x(S[e + 2u]);
    if (sq_on_grid(tx)) { ${mark('S[e + 1u]', 'tx', '3u')} }
  }
}
`,
    packState: (c) => {
      const { lastAction, game: g } = c as Core<SeaquestState>;
      const out = new Array<number>(SQ.size).fill(0);
      out.splice(0, 13, g.oxygen, g.divers, g.subX, g.subY, g.subLeft ? 1 : 0, g.spawnTimer, g.spawnPeriod, g.diverTimer, g.movePeriod, g.rampIndex, g.shotTimer, g.atSurface ? 1 : 0, lastAction);
      const put = (l: Lst, name: string, items: SqMover[], fields: (e: SqMover) => number[]) => {
        if (items.length > l.cap) throw new Error(`minatar/seaquest (GPU): the state holds ${items.length} ${name}; the GPU version holds at most ${l.cap} (SEAQUEST_GPU_CAPS)`);
        out[l.n] = items.length;
        items.forEach((e, k) => out.splice(l.base + l.stride * k, l.stride, ...fields(e)));
      };
      const mv = (e: SqMover) => [e.x, e.y, e.right ? 1 : 0];
      put(L.fb, 'friendly bullets', g.friendlyBullets, mv);
      put(L.eb, 'enemy bullets', g.enemyBullets, mv);
      put(L.fish, 'fish', g.fish, (e) => [...mv(e), (e as SqTimed).moveTimer]);
      put(L.subs, 'enemy subs', g.subs, (e) => [...mv(e), (e as SqSub).moveTimer, (e as SqSub).shotTimer]);
      put(L.div, 'divers', g.diverList, (e) => [...mv(e), (e as SqTimed).moveTimer]);
      return out;
    },
    unpackState: (s) => {
      const list = <T>(l: Lst, make: (e: number) => T): T[] => Array.from({ length: s[l.n] }, (_, k) => make(l.base + l.stride * k));
      const mv = (e: number): SqMover => ({ x: s[e], y: s[e + 1], right: s[e + 2] > 0.5 });
      return {
        lastAction: s[12],
        terminal: false,
        game: {
          oxygen: s[0], divers: s[1], subX: s[2], subY: s[3], subLeft: s[4] > 0.5,
          friendlyBullets: list(L.fb, mv),
          enemyBullets: list(L.eb, mv),
          fish: list(L.fish, (e): SqTimed => ({ ...mv(e), moveTimer: s[e + 3] })),
          subs: list(L.subs, (e): SqSub => ({ ...mv(e), moveTimer: s[e + 3], shotTimer: s[e + 4] })),
          diverList: list(L.div, (e): SqTimed => ({ ...mv(e), moveTimer: s[e + 3] })),
          spawnTimer: s[5], spawnPeriod: s[6], diverTimer: s[7], movePeriod: s[8], rampIndex: s[9], shotTimer: s[10], atSurface: s[11] > 0.5,
        } satisfies SeaquestState,
      };
    },
  };
}
