// The envs that step on the GPU: their per-env rules in WGSL, written from the same spec as the
// CPU envs (docs/spec/classic.md) and drawing the same words in the same order, so test/envs/
// gpu_envs.test.ts can check them step for step against rl/envs/{cartpole,pendulum,mdp}.ts.
import { CARTPOLE } from '../cartpole.ts';
import { PENDULUM } from '../pendulum.ts';
import { MDP_MAX_STEPS, MDP_P, MDP_R, MDP_START } from '../mdp.ts';
import { Breakout } from '../minatar/breakout.ts';
import { Freeway, FREEWAY } from '../minatar/freeway.ts';
import { resolveMinAtarOptions, type MinAtarEnvOptions } from '../index.ts';
import { GpuVecEnv, type GpuEnvDef, type GpuVecEnvOptions } from './vec.ts';
import { drawIntWgsl, minatarActionWgsl } from './minatar_wgsl.ts';
import { asterixGpu, seaquestGpu, spaceInvadersGpu } from './minatar.ts';

const f = (x: number) => {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
};

const C = CARTPOLE;
export const cartpoleGpu: GpuEnvDef = {
  id: 'cartpole',
  obsSize: 4,
  actSize: 1,
  stateSize: 4,
  defaultMaxEpisodeSteps: C.maxEpisodeSteps,
  // reset: x, ẋ, θ, θ̇ each uniform in [−0.05, 0.05), drawn in that order (cartpole.ts).
  wgsl: /* wgsl */ `
fn env_reset(i: u32, b: u32) {
  for (var j = 0u; j < 4u; j++) { S[b + j] = -0.05 + 0.1 * draw(i); }
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
  let x = S[b];
  let xd = S[b + 1u];
  let th = S[b + 2u];
  let thd = S[b + 3u];
  // Action 1 pushes right (the index arrives as a float; NaN counts as 0).
  let force = select(-${f(C.forceMag)}, ${f(C.forceMag)}, A[a] >= 0.5);
  let total = ${f(C.massCart + C.massPole)};
  let mpl = ${f(C.massPole * C.halfLength)};
  let c = cos(th);
  let s = sin(th);
  let temp = (force + mpl * thd * thd * s) / total;
  let thacc = (${f(C.gravity)} * s - c * temp) / (${f(C.halfLength)} * (4.0 / 3.0 - ${f(C.massPole)} * c * c / total));
  let xacc = temp - mpl * thacc * c / total;
  // Euler with the old velocities for the positions, as the CPU env and Gymnasium.
  let nx = x + ${f(C.tau)} * xd;
  let nth = th + ${f(C.tau)} * thd;
  S[b] = nx;
  S[b + 1u] = xd + ${f(C.tau)} * xacc;
  S[b + 2u] = nth;
  S[b + 3u] = thd + ${f(C.tau)} * thacc;
  let term = nx < -${f(C.xThreshold)} || nx > ${f(C.xThreshold)} || nth < -${f(C.thetaThreshold)} || nth > ${f(C.thetaThreshold)};
  return vec2f(1.0, select(0.0, 1.0, term));
}
fn env_obs(i: u32, b: u32, o: u32) {
  for (var j = 0u; j < 4u; j++) { OUT[o + j] = S[b + j]; }
}
`,
  packState: (c) => {
    const s = c as { x: number; xDot: number; theta: number; thetaDot: number };
    return [s.x, s.xDot, s.theta, s.thetaDot];
  },
  unpackState: (s) => ({ x: s[0], xDot: s[1], theta: s[2], thetaDot: s[3], terminated: false }),
};

const PD = PENDULUM;
export const pendulumGpu: GpuEnvDef = {
  id: 'pendulum',
  obsSize: 3,
  actSize: 1,
  stateSize: 3, // θ, θ̇, last torque
  defaultMaxEpisodeSteps: PD.maxEpisodeSteps,
  // reset: θ uniform in [−π, π), then θ̇ uniform in [−1, 1) (pendulum.ts).
  wgsl: /* wgsl */ `
const PI = 3.141592653589793;
fn angle_normalize(x: f32) -> f32 {
  let y = (x + PI) % (2.0 * PI);
  return select(y, y + 2.0 * PI, y < 0.0) - PI;
}
fn env_reset(i: u32, b: u32) {
  S[b] = -PI + 2.0 * PI * draw(i);
  S[b + 1u] = -1.0 + 2.0 * draw(i);
  S[b + 2u] = 0.0;
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
  let raw = A[a];
  let u = select(clamp(raw, -${f(PD.maxTorque)}, ${f(PD.maxTorque)}), 0.0, raw != raw);
  let th = S[b];
  let thd = S[b + 1u];
  let n = angle_normalize(th);
  let cost = n * n + 0.1 * thd * thd + 0.001 * u * u;
  let ndot = clamp(thd + (${f((3 * PD.g) / (2 * PD.l))} * sin(th) + ${f(3 / (PD.m * PD.l * PD.l))} * u) * ${f(PD.dt)}, -${f(PD.maxSpeed)}, ${f(PD.maxSpeed)});
  S[b] = th + ndot * ${f(PD.dt)};
  S[b + 1u] = ndot;
  S[b + 2u] = u;
  return vec2f(-cost, 0.0);
}
fn env_obs(i: u32, b: u32, o: u32) {
  OUT[o] = cos(S[b]);
  OUT[o + 1u] = sin(S[b]);
  OUT[o + 2u] = S[b + 1u];
}
`,
  packState: (c) => {
    const s = c as { theta: number; thetaDot: number; lastU: number };
    return [s.theta, s.thetaDot, s.lastU];
  },
  unpackState: (s) => ({ theta: s[0], thetaDot: s[1], lastU: s[2] }),
};

/**
 * The 3-state MDP's transition as WGSL: the CPU env compares one uniform u = word / 2^32 (exact
 * in double) against the cumulative row, so with the thresholds ⌈acc · 2^32⌉ the GPU makes the
 * same choice from the raw word in integers; the CPU's zero-probability guard is folded in.
 */
function mdpTransitionWgsl(): string {
  const lines: string[] = [];
  for (const s of [0, 1]) {
    for (const a of [0, 1]) {
      const p = MDP_P[s][a];
      const guard = (k: number) => {
        while (p[k] === 0) k--;
        return k;
      };
      const body: string[] = [];
      let acc = 0;
      let done = false;
      for (let k = 0; k < 3 && !done; k++) {
        acc += p[k];
        const thr = Math.ceil(acc * 2 ** 32);
        if (thr === 0) continue; // u < 0 never holds
        const r = MDP_R[s][a][guard(k)];
        if (thr >= 2 ** 32) {
          body.push(`return vec2f(${guard(k)}.0, ${f(r)});`);
          done = true;
        } else body.push(`if (w < ${thr}u) { return vec2f(${guard(k)}.0, ${f(r)}); }`);
      }
      if (!done) body.push(`return vec2f(${guard(2)}.0, ${f(MDP_R[s][a][guard(2)])});`);
      lines.push(`  if (s == ${s}u && a == ${a}u) { ${body.join(' ')} }`);
    }
  }
  return `fn mdp_next(s: u32, a: u32, w: u32) -> vec2f {\n${lines.join('\n')}\n  return vec2f(f32(s), 0.0);\n}`;
}

export const mdpGpu: GpuEnvDef = {
  id: 'mdp/three-state',
  obsSize: 3,
  actSize: 1,
  stateSize: 1,
  defaultMaxEpisodeSteps: MDP_MAX_STEPS,
  wgsl: /* wgsl */ `
${mdpTransitionWgsl()}
fn env_reset(i: u32, b: u32) { S[b] = ${MDP_START}.0; }
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
  let s = u32(S[b]);
  let act = select(0u, 1u, A[a] >= 0.5);
  // one word per step, as the CPU env's one uniform
  let nr = mdp_next(s, act, draw_word(i));
  S[b] = nr.x;
  return vec2f(nr.y, select(0.0, 1.0, nr.x == 2.0));
}
fn env_obs(i: u32, b: u32, o: u32) {
  let s = u32(S[b]);
  for (var k = 0u; k < 3u; k++) { OUT[o + k] = select(0.0, 1.0, k == s); }
}
`,
  packState: (c) => [(c as { s: number }).s],
  unpackState: (s) => ({ s: s[0] }),
};

// ------------------------------------------------------------------ MinAtar

// ------------------------------------------------------------------ MinAtar Breakout

/**
 * MinAtar Breakout (rl/envs/minatar/breakout.ts inside MinAtarEnv) with the preset's action set
 * and sticky actions. State: ball x, y, direction, trail x, y, paddle x, strike flag, the last
 * executed action (it survives resets, as on the CPU), then the 100 brick cells.
 */
export function breakoutGpu(o: { stickyProb: number; minimalActions: boolean; maxEpisodeSteps: number }): GpuEnvDef {
  const map = o.minimalActions ? [...new Breakout().minimalActions] : [0, 1, 2, 3, 4, 5];
  return {
    id: 'minatar/breakout',
    obsSize: 400,
    actSize: 1,
    stateSize: 108,
    defaultMaxEpisodeSteps: o.maxEpisodeSteps,
    wgsl: /* wgsl */ `
fn env_reset(i: u32, b: u32) {
  // rng.int(2): Lemire's multiply-shift never rejects for n = 2, so it is the word's top bit.
  let left = (draw_word(i) >> 31u) == 0u;
  S[b] = select(9.0, 0.0, left);
  S[b + 1u] = 3.0;
  S[b + 2u] = select(3.0, 2.0, left);
  S[b + 3u] = S[b];
  S[b + 4u] = 3.0;
  S[b + 5u] = 4.0;
  S[b + 6u] = 0.0;
  for (var k = 0u; k < 100u; k++) { S[b + 8u + k] = select(0.0, 1.0, k >= 10u && k < 40u); }
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
${minatarActionWgsl(map, o.stickyProb, 7)}
  var px = i32(S[b + 5u]);
  if (act == 1u) { px = max(0, px - 1); } else if (act == 3u) { px = min(9, px + 1); }
  var dxs = array<i32, 4>(-1, 1, 1, -1);
  var dys = array<i32, 4>(-1, -1, 1, 1);
  var mirrorH = array<u32, 4>(1u, 0u, 3u, 2u);
  var mirrorV = array<u32, 4>(3u, 2u, 1u, 0u);
  var reverse = array<u32, 4>(2u, 3u, 0u, 1u);
  let bx = i32(S[b]);
  let by = i32(S[b + 1u]);
  var dir = u32(S[b + 2u]);
  var nx = bx + dxs[dir];
  var ny = by + dys[dir];
  var reward = 0.0;
  var term = false;
  var strike = S[b + 6u] > 0.5;
  if (nx < 0 || nx > 9) {
    nx = select(9, 0, nx < 0);
    dir = mirrorH[dir];
  }
  var hit = false;
  if (ny < 0) {
    ny = 0;
    dir = mirrorV[dir];
  } else if (S[b + 8u + u32(ny * 10 + nx)] > 0.5) {
    hit = true;
    if (!strike) {
      reward = reward + 1.0;
      strike = true;
      S[b + 8u + u32(ny * 10 + nx)] = 0.0;
      ny = by;
      dir = mirrorV[dir];
    }
  } else if (ny == 9) {
    var any = false;
    for (var k = 0u; k < 100u; k++) { if (S[b + 8u + k] > 0.5) { any = true; } }
    if (!any) { for (var k = 10u; k < 40u; k++) { S[b + 8u + k] = 1.0; } }
    if (bx == px) {
      dir = mirrorV[dir];
      ny = by;
    } else if (nx == px) {
      dir = reverse[dir];
      ny = by;
    } else {
      term = true;
    }
  }
  if (!hit) { strike = false; }
  S[b] = f32(nx);
  S[b + 1u] = f32(ny);
  S[b + 2u] = f32(dir);
  S[b + 3u] = f32(bx);
  S[b + 4u] = f32(by);
  S[b + 5u] = f32(px);
  S[b + 6u] = select(0.0, 1.0, strike);
  return vec2f(reward, select(0.0, 1.0, term));
}
fn env_obs(i: u32, b: u32, o: u32) {
  // channels: paddle 0, ball 1, trail 2, brick 3; (row, column, channel) order
  for (var k = 0u; k < 100u; k++) {
    OUT[o + 4u * k] = 0.0;
    OUT[o + 4u * k + 1u] = 0.0;
    OUT[o + 4u * k + 2u] = 0.0;
    OUT[o + 4u * k + 3u] = S[b + 8u + k];
  }
  OUT[o + 4u * (u32(S[b + 1u]) * 10u + u32(S[b])) + 1u] = 1.0;
  OUT[o + 4u * (90u + u32(S[b + 5u]))] = 1.0;
  OUT[o + 4u * (u32(S[b + 4u]) * 10u + u32(S[b + 3u])) + 2u] = 1.0;
}
`,
    packState: (c) => {
      const core = c as { lastAction: number; game: { ballX: number; ballY: number; ballDir: number; lastX: number; lastY: number; paddleX: number; strike: boolean; bricks: number[] } };
      const g = core.game;
      return [g.ballX, g.ballY, g.ballDir, g.lastX, g.lastY, g.paddleX, g.strike ? 1 : 0, core.lastAction, ...g.bricks];
    },
    unpackState: (s) => ({
      lastAction: s[7],
      terminal: false,
      game: { ballX: s[0], ballY: s[1], ballDir: s[2], lastX: s[3], lastY: s[4], paddleX: s[5], strike: s[6] > 0.5, bricks: Array.from(s.subarray(8, 108)) },
    }),
  };
}

// ------------------------------------------------------------------ MinAtar Freeway

/**
 * MinAtar Freeway (rl/envs/minatar/freeway.ts): state chicken y, cooldown, countdown, then per
 * car (rows 1..8) x, speed, direction, timer; the last executed action at the end.
 */
export function freewayGpu(o: { stickyProb: number; minimalActions: boolean; maxEpisodeSteps: number }): GpuEnvDef {
  const map = o.minimalActions ? [...new Freeway().minimalActions] : [0, 1, 2, 3, 4, 5];
  const F = FREEWAY;
  return {
    id: 'minatar/freeway',
    obsSize: 700,
    actSize: 1,
    stateSize: 36,
    defaultMaxEpisodeSteps: o.maxEpisodeSteps,
    wgsl: /* wgsl */ `
${drawIntWgsl(5)}
// Per car in row order: speed 1 + int(5), then direction (u < 0.5: right); x kept or 0.
fn draw_cars(i: u32, b: u32, keep_x: bool) {
  for (var k = 0u; k < 8u; k++) {
    let c = b + 3u + 4u * k;
    let speed = 1u + draw_int5(i);
    let right = draw_word(i) < 2147483648u;
    if (!keep_x) { S[c] = 0.0; }
    S[c + 1u] = f32(speed);
    S[c + 2u] = select(-1.0, 1.0, right);
    S[c + 3u] = f32(speed);
  }
}
fn env_reset(i: u32, b: u32) {
  S[b] = 9.0;
  S[b + 1u] = ${F.playerSpeed}.0;
  S[b + 2u] = ${F.timeLimit}.0;
  draw_cars(i, b, false);
}
fn env_step(i: u32, b: u32, a: u32) -> vec2f {
${minatarActionWgsl(map, o.stickyProb, 35)}
  var reward = 0.0;
  var cy = i32(S[b]);
  var cool = i32(S[b + 1u]);
  if ((act == 2u || act == 4u) && cool == 0) {
    cool = ${F.playerSpeed};
    cy = min(9, max(0, cy + select(1, -1, act == 2u)));
  }
  if (cy == 0) {
    reward = reward + 1.0;
    draw_cars(i, b, true);
    cy = 9;
  }
  for (var k = 0; k < 8; k++) {
    let c = b + 3u + 4u * u32(k);
    var x = i32(S[c]);
    let row = k + 1;
    if (x == ${F.chickenX} && row == cy) { cy = 9; }
    let timer = i32(S[c + 3u]);
    if (timer == 0) {
      S[c + 3u] = S[c + 1u];
      x = (x + i32(S[c + 2u]) + 10) % 10;
      S[c] = f32(x);
      if (x == ${F.chickenX} && row == cy) { cy = 9; }
    } else {
      S[c + 3u] = f32(timer - 1);
    }
  }
  if (cool > 0) { cool = cool - 1; }
  let countdown = S[b + 2u] - 1.0;
  S[b] = f32(cy);
  S[b + 1u] = f32(cool);
  S[b + 2u] = countdown;
  return vec2f(reward, select(0.0, 1.0, countdown < 0.0));
}
fn env_obs(i: u32, b: u32, o: u32) {
  // channels: chicken 0, car 1, trail of speed s at s + 1; (row, column, channel) order
  for (var k = 0u; k < 700u; k++) { OUT[o + k] = 0.0; }
  OUT[o + 7u * (u32(S[b]) * 10u + ${F.chickenX}u)] = 1.0;
  for (var k = 0u; k < 8u; k++) {
    let c = b + 3u + 4u * k;
    let x = i32(S[c]);
    let y = k + 1u;
    OUT[o + 7u * (y * 10u + u32(x)) + 1u] = 1.0;
    let tx = (x - i32(S[c + 2u]) + 10) % 10;
    OUT[o + 7u * (y * 10u + u32(tx)) + u32(S[c + 1u]) + 1u] = 1.0;
  }
}
`,
    packState: (c) => {
      const core = c as { lastAction: number; game: { chickenY: number; cooldown: number; countdown: number; cars: { x: number; speed: number; dir: number; timer: number }[] } };
      const g = core.game;
      return [g.chickenY, g.cooldown, g.countdown, ...g.cars.flatMap((k) => [k.x, k.speed, k.dir, k.timer]), core.lastAction];
    },
    unpackState: (s) => ({
      lastAction: s[35],
      terminal: false,
      game: {
        chickenY: s[0], cooldown: s[1], countdown: s[2],
        cars: Array.from({ length: 8 }, (_, k) => ({ x: s[3 + 4 * k], speed: s[4 + 4 * k], dir: s[5 + 4 * k], timer: s[6 + 4 * k] })),
      },
    }),
  };
}

export const GPU_ENVS: Record<string, GpuEnvDef> = {
  cartpole: cartpoleGpu,
  pendulum: pendulumGpu,
  'mdp/three-state': mdpGpu,
};

/** Ids that makeGpuEnv accepts. */
const MINATAR_GPU = { asterix: asterixGpu, breakout: breakoutGpu, freeway: freewayGpu, seaquest: seaquestGpu, space_invaders: spaceInvadersGpu } as const;
export const GPU_ENV_IDS = [...Object.keys(GPU_ENVS), ...Object.keys(MINATAR_GPU).map((g) => `minatar/${g}`)];

const minatarDefs = new Map<string, GpuEnvDef>();

/** A batch of `id` stepped on the GPU (rl/envs/gpu/vec.ts); MinAtar ids take the CPU env's preset options. */
export function makeGpuEnv(id: string, opts: GpuVecEnvOptions & Omit<MinAtarEnvOptions, 'numEnvs' | 'seed' | 'maxEpisodeSteps'>): GpuVecEnv {
  const game = id.startsWith('minatar/') ? (id.slice(8) as keyof typeof MINATAR_GPU) : null;
  if (game && game in MINATAR_GPU) {
    const { preset, stickyProb, minimalActions, ramping } = opts;
    const r = resolveMinAtarOptions(game, { preset, stickyProb, minimalActions, ramping, maxEpisodeSteps: opts.maxEpisodeSteps });
    const key = JSON.stringify([game, r.stickyProb, r.minimalActions, r.ramping, r.maxEpisodeSteps]);
    let def = minatarDefs.get(key);
    if (!def) minatarDefs.set(key, (def = MINATAR_GPU[game](r)));
    return new GpuVecEnv(def, { numEnvs: opts.numEnvs, seed: opts.seed, maxEpisodeSteps: r.maxEpisodeSteps });
  }
  const def = GPU_ENVS[id];
  if (!def) throw new Error(`no GPU version of env ${JSON.stringify(id)}; GPU envs: ${GPU_ENV_IDS.join(', ')}`);
  return new GpuVecEnv(def, opts);
}
