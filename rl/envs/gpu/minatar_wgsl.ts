// WGSL shared by the MinAtar games on the GPU (envs.ts, minatar.ts).

/**
 * MinAtarEnv's part of a step (rl/envs/minatar/common.ts): network index → game action code,
 * then sticky actions (one uniform per step when stickyProb > 0; the CPU's u < p is
 * word < ⌈p · 2³²⌉ in integers), the executed action kept at S[b + last].
 */
export function minatarActionWgsl(map: readonly number[], stickyProb: number, last: number): string {
  const thr = Math.min(Math.ceil(stickyProb * 2 ** 32), 2 ** 32 - 1);
  return /* wgsl */ `
  var amap = array<u32, ${map.length}>(${map.map((v) => `${v}u`).join(', ')});
  let raw = A[a];
  let ai = select(u32(clamp(floor(raw + 0.5), 0.0, ${map.length - 1}.0)), 0u, raw != raw);
  var act = amap[ai];
  ${stickyProb > 0 ? `if (draw_word(i) < ${thr}u) { act = u32(S[b + ${last}u]); }` : ''}
  S[b + ${last}u] = f32(act);`;
}

/** rng.int(n) (Lemire's multiply-shift with rejection, rl/envs/rng.ts) on the env's stream. */
export function drawIntWgsl(n: number): string {
  const thr = (2 ** 32 - n) % n;
  return /* wgsl */ `
fn draw_int${n}(i: u32) -> u32 {
  loop {
    let m = philox_mulhilo(draw_word(i), ${n}u);
    if (m.y >= ${thr}u) { return m.x; }
  }
}`;
}


/** rng.int(n) for an n known only on the GPU; like the CPU, n ≤ 1 returns 0 without a draw. */
export const drawIntNWgsl = /* wgsl */ `
fn draw_int_n(i: u32, n: u32) -> u32 {
  if (n <= 1u) { return 0u; }
  let thr = (0u - n) % n;
  loop {
    let m = philox_mulhilo(draw_word(i), n);
    if (m.y >= thr) { return m.x; }
  }
}`;

/** The CPU's `rng.uniform() < p` (word / 2³² < p, exact in double) as `draw_word(i) < this`. */
export function belowWord(p: number): string {
  const t = Math.ceil(p * 2 ** 32);
  if (t < 1 || t > 2 ** 32 - 1) throw new Error(`belowWord: p = ${p} must lie in (0, 1)`);
  return `${t}u`;
}
