// PPO for a small MLP actor-critic in a handful of dispatches (CleanRL's CartPole agent:
// obs → tanh(Linear) → … → tanh(Linear) → actor Linear(F→A) and critic Linear(F→1)).
//
// Why: with CartPole's 64-64 network every op is microseconds of arithmetic and ~25 µs of
// dispatch overhead on lavapipe, so the composed update (matmuls, activations, their backward
// passes, the loss, gathers, optimizer) was ~20 dispatches a minibatch and the rollout forward
// ~5 per vector step. Here:
//  - act:  the whole forward, TM rows per thread (and, for GPU rollouts, the Gumbel-max draw of
//          rl/harness/sample_gpu.ts, consuming the engine RNG the same way);
//  - rows: TM minibatch rows per thread: gather each rollout row through the epoch's
//          permutation, the forward, the PPO loss terms (kernels/ppo.ts's formulas) and the
//          backward down to every layer's pre-activation gradient δ; activations and δs go to
//          a scratch buffer;
//  - dw:   one thread per 4 rows × 4·TK columns of a weight matrix sums its block over the
//          minibatch (dW_l = Σ_i δ_l[i]ᵀ a_{l−1}[i], db_l = Σ_i δ_l[i]) straight into the
//          optimizer's flat gradient buffer; five more threads average the statistics;
//  - then the existing global-norm and Adam kernels (kernels/optim.ts).
// Four dispatches per minibatch, no readback.
//
// Code shape: what llvmpipe runs fast is the register-blocked linear kernel's (kernels/nn.ts):
// vec4 loads along the reduction axis, several rows and outputs per thread in registers, no
// private arrays indexed in loops (those became per-lane memory and ran at ~0.4 GFLOP/s in a
// probe, against 2–4 for the blocked form under the same load). So every activation lives in
// the scratch buffer (row-major, widths multiples of 4), each thread reads back only the rows
// it wrote, and the sizes are compiled in (they are small and fixed per run).
//
// Parameters: the agent's packed flat buffer; `off` gives each leaf's float offset (multiples
// of 4; weights [out, in] row-major as torch.nn.Linear).

export interface PpoMlpShape {
  /** [obs, h1, ..., hL]: the torso's widths (every layer tanh); all multiples of 4. */
  sizes: number[];
  /** Actions (actor outputs). */
  A: number;
  /** Float offsets in the flat parameter buffer (multiples of 4). */
  off: { w: number[]; b: number[]; wa: number; ba: number; wc: number; bc: number };
  /** Floats in the flat parameter (and gradient) buffer, padding included. */
  n: number;
}

/** Rows per thread in the act and rows kernels, and their workgroup size. */
const TM = 4;
const WG_ROWS = 16;

const up4 = (x: number) => Math.ceil(x / 4) * 4;

/**
 * Scratch layout, in floats per row: regions a_0..a_L (activations), d_1..d_L (δ), hd (the
 * heads' δ: ∂loss/∂z_0..z_{A−1}, ∂loss/∂v, zero padding), st (five statistics terms). Region r
 * starts at start·M floats and holds row i at + i·width.
 */
export function scratchLayout(s: PpoMlpShape) {
  const L = s.sizes.length - 1;
  const act: number[] = [], del: number[] = [];
  let w = 0;
  for (let l = 0; l <= L; l++) (act.push(w), (w += s.sizes[l]));
  for (let l = 1; l <= L; l++) (del.push(w), (w += s.sizes[l]));
  const hdW = up4(s.A + 1);
  const hd = w;
  w += hdW;
  const st = w;
  w += 8;
  return { act, del, hd, hdW, st, width: w };
}

/** Validates what the kernels assume; returns a reason or null. */
export function ppoMlpMisfit(s: PpoMlpShape): string | null {
  if (s.sizes.some((x) => x % 4 !== 0)) return `the fused kernels need the observation size and widths to be multiples of 4, got ${s.sizes.join(', ')}`;
  const offs = [...s.off.w, ...s.off.b, s.off.wa, s.off.ba, s.off.wc, s.off.bc];
  if (offs.some((o) => o % 4 !== 0)) return 'parameter offsets must be multiples of 4 (packParams aligns them)';
  return null;
}

const TANH = (x: string) => `tanh(clamp(${x}, vec4f(-15.0), vec4f(15.0)))`;

/**
 * WGSL: the forward of TM rows (scratch rows r0..r{TM−1}, region a_0 already filled), leaving
 * head outputs in zt_j (j < A) and vt. Reads PR (vec4 params) and SC (vec4 scratch).
 * `R` is the rows' count variable (region strides are start·R).
 */
function forwardWgsl(s: PpoMlpShape, sl: ReturnType<typeof scratchLayout>, R: string) {
  const L = s.sizes.length - 1;
  let c = '';
  for (let l = 1; l <= L; l++) {
    const inn = s.sizes[l - 1], out = s.sizes[l], TN = out % 8 === 0 ? 8 : 4;
    const acc: string[] = [], body: string[] = [], store: string[] = [];
    for (let t = 0; t < TM; t++) for (let j = 0; j < TN; j++) acc.push(`var c${t}_${j} = 0.0;`);
    for (let t = 0; t < TM; t++) body.push(`let x${t} = SC[${sl.act[l - 1] / 4}u * ${R} + r${t} * ${inn / 4}u + k];`);
    for (let j = 0; j < TN; j++) body.push(`let w${j} = PR[${s.off.w[l - 1] / 4}u + (jb + ${j}u) * ${inn / 4}u + k];`);
    for (let t = 0; t < TM; t++) for (let j = 0; j < TN; j++) body.push(`c${t}_${j} += dot(x${t}, w${j});`);
    for (let q = 0; q < TN / 4; q++) {
      store.push(`let b${q} = PR[${s.off.b[l - 1] / 4}u + jb / 4u + ${q}u];`);
      for (let t = 0; t < TM; t++) {
        const v = [0, 1, 2, 3].map((e) => `c${t}_${4 * q + e}`).join(', ');
        store.push(`SC[${sl.act[l] / 4}u * ${R} + r${t} * ${out / 4}u + jb / 4u + ${q}u] = ${TANH(`vec4f(${v}) + b${q}`)};`);
      }
    }
    c += `
  for (var jb = 0u; jb < ${out}u; jb += ${TN}u) {
    ${acc.join(' ')}
    for (var k = 0u; k < ${inn / 4}u; k++) {
      ${body.join('\n      ')}
    }
    ${store.join('\n    ')}
  }`;
  }
  // heads: z_j = wa_j·a_L + ba_j, v = wc·a_L + bc
  const F = s.sizes[L], A = s.A;
  const acc: string[] = [], body: string[] = [];
  for (let t = 0; t < TM; t++) for (let j = 0; j <= A; j++) acc.push(`var h${t}_${j} = 0.0;`);
  for (let t = 0; t < TM; t++) body.push(`let x${t} = SC[${sl.act[L] / 4}u * ${R} + r${t} * ${F / 4}u + k];`);
  for (let j = 0; j <= A; j++) body.push(`let w${j} = PR[${(j < A ? s.off.wa + j * F : s.off.wc) / 4}u + k];`);
  for (let t = 0; t < TM; t++) for (let j = 0; j <= A; j++) body.push(`h${t}_${j} += dot(x${t}, w${j});`);
  c += `
  ${acc.join(' ')}
  for (var k = 0u; k < ${F / 4}u; k++) {
    ${body.join('\n    ')}
  }`;
  for (let t = 0; t < TM; t++) {
    c += `\n  var z${t}: array<f32, ${A}>;`;
    for (let j = 0; j < A; j++) c += ` z${t}[${j}] = h${t}_${j} + ${scalarAt('PR', s.off.ba + j)};`;
    c += `\n  let v${t} = h${t}_${A} + ${scalarAt('PR', s.off.bc)};`;
  }
  return c;
}

/** A scalar of a vec4 array at a constant float index. */
const scalarAt = (arr: string, i: number) => `${arr}[${Math.floor(i / 4)}u].${'xyzw'[i % 4]}`;

function rowsPrologue(R: string) {
  let c = `  let i0 = gid.x * ${TM}u;\n  if (i0 >= ${R}) { return; }\n`;
  // rows past the end compute on a copy of the last row and store nothing
  for (let t = 0; t < TM; t++) c += `  let r${t} = min(i0 + ${t}u, ${R} - 1u);\n  let ok${t} = i0 + ${t}u < ${R};\n`;
  return c;
}

/** Logits and value per row: OUT[r·(A+1) ..] = [z_0..z_{A−1}, v]; SC: scratch of R rows. */
export function ppoMlpActKernel(s: PpoMlpShape) {
  const sl = scratchLayout(s), A = s.A, D = s.sizes[0];
  let out = '';
  for (let t = 0; t < TM; t++) {
    out += `  if (ok${t}) {`;
    for (let j = 0; j < A; j++) out += ` OUT[r${t} * ${A + 1}u + ${j}u] = z${t}[${j}];`;
    out += ` OUT[r${t} * ${A + 1}u + ${A}u] = v${t}; }\n`;
  }
  return {
    name: 'ppo_mlp_act',
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> PR: array<vec4f>;
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> SC: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
struct P { rows: u32, x0: u32 }
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG_ROWS}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let R = p.rows;
${rowsPrologue('R')}
${[...Array(TM).keys()].map((t) => `  for (var k = 0u; k < ${D / 4}u; k++) { SC[r${t} * ${D / 4}u + k] = X[(p.x0 + r${t}) * ${D / 4}u + k]; }`).join('\n')}
${forwardWgsl(s, sl, 'R')}
${out}
}`,
  };
}

/**
 * Values for every row and, for the first `sample` rows, a Gumbel-max action and its
 * log-probability, from the engine RNG's Threefry stream exactly as sampleCategoricalGpu
 * (rl/harness/sample_gpu.ts) consumes it: element j = r·A + a of E.rand([sample, A]).
 */
/**
 * WGSL `gumbel_draw(z, k0, k1, base, j0)`: rl/harness/sample_gpu.ts's Gumbel-max draw over the
 * A logits z — (action, its log-probability) — with E.rand's elements j0 + a of the stream
 * (k0, k1) from pair `base` as the uniforms (u = 0 gives −∞ noise: never drawn, never NaN).
 * The acting and rollout kernels both use it, so they draw exactly what the sampler would.
 */
function gumbelDrawWgsl(A: number): string {
  return /* wgsl */ `
fn engine_uniform(k0: u32, k1: u32, base: u32, j: u32) -> f32 {
  let w = threefry2x32(k0, k1, base + j / 2u, 0u);
  return u01(select(w.y, w.x, j % 2u == 0u));
}
fn gumbel_draw(z: array<f32, ${A}>, k0: u32, k1: u32, base: u32, j0: u32) -> vec2f {
  var best = 0u;
  var bestScore = -3.4e38;
  var m = -3.4e38;
  for (var a = 0u; a < ${A}u; a++) {
    m = max(m, z[a]);
    let score = z[a] - log(-log(engine_uniform(k0, k1, base, j0 + a)));
    if (score > bestScore) { bestScore = score; best = a; }
  }
  var zs = 0.0;
  for (var a = 0u; a < ${A}u; a++) { zs = zs + exp(z[a] - m); }
  return vec2f(f32(best), z[best] - m - log(zs));
}`;
}

export function ppoMlpActSampleKernel(s: PpoMlpShape, threefry: string) {
  const sl = scratchLayout(s), A = s.A, D = s.sizes[0];
  let out = '';
  for (let t = 0; t < TM; t++) out += `  if (ok${t}) { VAL[r${t}] = v${t}; if (r${t} < p.sample) { draw(r${t}, z${t}); } }\n`;
  return {
    name: 'ppo_mlp_act_sample',
    code: /* wgsl */ `
${threefry}
@group(0) @binding(0) var<storage, read> PR: array<vec4f>;
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> SC: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> VAL: array<f32>;
@group(0) @binding(4) var<storage, read_write> ACT: array<f32>;
@group(0) @binding(5) var<storage, read_write> LP: array<f32>;
struct P { rows: u32, sample: u32, k0: u32, k1: u32, base: u32 }
@group(0) @binding(6) var<uniform> p: P;
${gumbelDrawWgsl(A)}
fn draw(r: u32, z: array<f32, ${A}>) {
  let d = gumbel_draw(z, p.k0, p.k1, p.base, r * ${A}u);
  ACT[r] = d.x;
  LP[r] = d.y;
}
@compute @workgroup_size(${WG_ROWS}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let R = p.rows;
${rowsPrologue('R')}
${[...Array(TM).keys()].map((t) => `  for (var k = 0u; k < ${D / 4}u; k++) { SC[r${t} * ${D / 4}u + k] = X[r${t} * ${D / 4}u + k]; }`).join('\n')}
${forwardWgsl(s, sl, 'R')}
${out}
}`,
  };
}

/**
 * One minibatch: row i takes rollout row k = IDX[base + i] (X [B, D]; DATA [B, 4]: action,
 * oldLogp, return, oldValue) with the normalised advantage ADV[base + i]; writes activations,
 * δs, the heads' δ and the five statistics terms to SC (scratchLayout, M rows).
 */
export function ppoMlpRowsKernel(s: PpoMlpShape) {
  const L = s.sizes.length - 1, D = s.sizes[0], A = s.A, F = s.sizes[L];
  const sl = scratchLayout(s);
  let c = '';
  // gather
  for (let t = 0; t < TM; t++) {
    c += `  let k${t} = IDX[p.base + r${t}];\n`;
    c += `  for (var k = 0u; k < ${D / 4}u; k++) { SC[r${t} * ${D / 4}u + k] = X[k${t} * ${D / 4}u + k]; }\n`;
  }
  c += forwardWgsl(s, sl, 'M');
  // loss terms and the heads' δ per row (registers), statistics to the scratch
  for (let t = 0; t < TM; t++) {
    c += `
  let o${t} = row_terms(z${t}, v${t}, DATA[k${t}], ADV[p.base + r${t}], M);
  if (ok${t}) {
    SC[${sl.st / 4}u * M + r${t} * 2u] = vec4f(o${t}.pg, o${t}.vl, o${t}.h, o${t}.kl);
    SC[${sl.st / 4}u * M + r${t} * 2u + 1u] = vec4f(o${t}.cf, 0.0, 0.0, 0.0);
${[...Array(sl.hdW / 4).keys()].map((q) => `    SC[${sl.hd / 4}u * M + r${t} * ${sl.hdW / 4}u + ${q}u] = vec4f(${[0, 1, 2, 3].map((e) => { const j = 4 * q + e; return j < A ? `o${t}.dz[${j}]` : j === A ? `o${t}.dv` : '0.0'; }).join(', ')});`).join('\n')}
  }`;
  }
  // δ_L = (Waᵀ dz + wc dv) ⊙ (1 − a_L²)
  {
    const body: string[] = [];
    for (let j = 0; j <= A; j++) body.push(`let w${j} = PR[${(j < A ? s.off.wa + j * F : s.off.wc) / 4}u + k];`);
    for (let t = 0; t < TM; t++) {
      const sum = [...Array(A + 1).keys()].map((j) => `w${j} * ${j < A ? `o${t}.dz[${j}]` : `o${t}.dv`}`).join(' + ');
      body.push(`let a${t} = SC[${sl.act[L] / 4}u * M + r${t} * ${F / 4}u + k];`);
      body.push(`if (ok${t}) { SC[${sl.del[L - 1] / 4}u * M + r${t} * ${F / 4}u + k] = (${sum}) * (vec4f(1.0) - a${t} * a${t}); }`);
    }
    c += `
  for (var k = 0u; k < ${F / 4}u; k++) {
    ${body.join('\n    ')}
  }`;
  }
  // δ_{l−1} = (W_lᵀ δ_l) ⊙ (1 − a_{l−1}²), TK vec4 columns of W_l per pass
  for (let l = L; l >= 2; l--) {
    const inn = s.sizes[l - 1], out = s.sizes[l], TK = (inn / 4) % 2 === 0 ? 2 : 1;
    const acc: string[] = [], body: string[] = [], store: string[] = [];
    for (let t = 0; t < TM; t++) for (let q = 0; q < TK; q++) acc.push(`var g${t}_${q} = vec4f(0.0);`);
    for (let t = 0; t < TM; t++) body.push(`let d${t} = SC[${sl.del[l - 1] / 4}u * M + r${t} * ${out / 4}u + j4];`);
    for (let e = 0; e < 4; e++) {
      for (let q = 0; q < TK; q++) body.push(`let w${e}_${q} = PR[${s.off.w[l - 1] / 4}u + (4u * j4 + ${e}u) * ${inn / 4}u + kb + ${q}u];`);
      for (let t = 0; t < TM; t++) for (let q = 0; q < TK; q++) body.push(`g${t}_${q} = fma(w${e}_${q}, vec4f(d${t}.${'xyzw'[e]}), g${t}_${q});`);
    }
    for (let t = 0; t < TM; t++) {
      for (let q = 0; q < TK; q++) {
        store.push(`let a${t}_${q} = SC[${sl.act[l - 1] / 4}u * M + r${t} * ${inn / 4}u + kb + ${q}u];`);
        store.push(`if (ok${t}) { SC[${sl.del[l - 2] / 4}u * M + r${t} * ${inn / 4}u + kb + ${q}u] = g${t}_${q} * (vec4f(1.0) - a${t}_${q} * a${t}_${q}); }`);
      }
    }
    c += `
  for (var kb = 0u; kb < ${inn / 4}u; kb += ${TK}u) {
    ${acc.join(' ')}
    for (var j4 = 0u; j4 < ${out / 4}u; j4++) {
      ${body.join('\n      ')}
    }
    ${store.join('\n    ')}
  }`;
  }
  return {
    name: 'ppo_mlp_rows',
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> PR: array<vec4f>;
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
@group(0) @binding(2) var<storage, read> DATA: array<vec4f>;
@group(0) @binding(3) var<storage, read> IDX: array<u32>;
@group(0) @binding(4) var<storage, read> ADV: array<f32>;
@group(0) @binding(5) var<storage, read_write> SC: array<vec4f>;
struct P { m: u32, base: u32, clip_v: u32, _pad: u32, clip: f32, vf: f32, ent: f32, _pad2: f32 }
@group(0) @binding(6) var<uniform> p: P;
struct Row { pg: f32, vl: f32, h: f32, kl: f32, cf: f32, dz: array<f32, ${A}>, dv: f32 }
// The PPO loss terms of one row (kernels/ppo.ts's row_terms) and ∂loss/∂z, ∂loss/∂v of the
// minibatch mean. d: (action, oldLogp, return, oldValue).
fn row_terms(z: array<f32, ${A}>, v: f32, d: vec4f, adv: f32, M: u32) -> Row {
  var o: Row;
  var m = z[0];
  for (var j = 1u; j < ${A}u; j++) { m = max(m, z[j]); }
  var se = 0.0;
  var sz = 0.0;
  for (var j = 0u; j < ${A}u; j++) {
    let e = exp(z[j] - m);
    se += e;
    sz += e * (z[j] - m);
  }
  let lse = log(se);
  let act = u32(clamp(d.x, 0.0, f32(${A - 1}u)));
  let logratio = z[act] - m - lse - d.y;
  let r = exp(logratio);
  let pg1 = -adv * r;
  let pg2 = -adv * clamp(r, 1.0 - p.clip, 1.0 + p.clip);
  o.pg = max(pg1, pg2);
  let dpg_dr = select(0.0, -adv, pg1 >= pg2);
  o.h = lse - sz / se;
  o.kl = (r - 1.0) - logratio;
  o.cf = select(0.0, 1.0, abs(r - 1.0) > p.clip);
  let ret = d.z;
  let oldv = d.w;
  let unc = (v - ret) * (v - ret);
  var dvr: f32;
  if (p.clip_v != 0u) {
    let vc = oldv + clamp(v - oldv, -p.clip, p.clip);
    let cl = (vc - ret) * (vc - ret);
    o.vl = 0.5 * max(unc, cl);
    // inside the clip range vc equals v up to rounding: either term may win there, and the
    // clipped one then has slope vc − R (kernels/ppo.ts)
    dvr = select(select(0.0, vc - ret, abs(v - oldv) <= p.clip), v - ret, unc >= cl);
  } else {
    o.vl = 0.5 * unc;
    dvr = v - ret;
  }
  let g = 1.0 / f32(M);
  let cr = dpg_dr * r;
  for (var j = 0u; j < ${A}u; j++) {
    let logpj = z[j] - m - lse;
    let pj = exp(logpj);
    let onehot = select(0.0, 1.0, j == act);
    o.dz[j] = g * (cr * (onehot - pj) + p.ent * pj * (logpj + o.h));
  }
  o.dv = g * p.vf * dvr;
  return o;
}
@compute @workgroup_size(${WG_ROWS}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let M = p.m;
${rowsPrologue('M')}
${c}
}`,
  };
}

/** Threads of the dw kernel (blocks of every weight matrix, then 5 for the statistics). */
function dwSegments(s: PpoMlpShape) {
  const L = s.sizes.length - 1, F = s.sizes[L];
  const sl = scratchLayout(s);
  const segs: { rows: number; cols: number; TK: number; dReg: number; dW: number; aReg: number; aW: number; layer: number; threads: number }[] = [];
  for (let l = 1; l <= L; l++) {
    const inn = s.sizes[l - 1], out = s.sizes[l], TK = (inn / 4) % 2 === 0 ? 2 : 1;
    segs.push({ rows: out, cols: inn, TK, dReg: sl.del[l - 1], dW: out, aReg: sl.act[l - 1], aW: inn, layer: l, threads: (out / 4) * (inn / 4 / TK) });
  }
  const TK = (F / 4) % 2 === 0 ? 2 : 1;
  segs.push({ rows: sl.hdW, cols: F, TK, dReg: sl.hd, dW: sl.hdW, aReg: sl.act[L], aW: F, layer: 0, threads: (sl.hdW / 4) * (F / 4 / TK) });
  return segs;
}

export function ppoMlpDwThreads(s: PpoMlpShape) {
  return dwSegments(s).reduce((a, g) => a + g.threads, 0) + 5;
}

/**
 * G (the flat gradient layout) summed over the M rows of the scratch: thread blocks of 4 rows
 * × 4·TK columns of each weight matrix (the block with the first columns also sums the
 * biases); the last five threads write the statistics' means to S when p.stats is 1.
 */
export function ppoMlpDwKernel(s: PpoMlpShape) {
  const A = s.A;
  const sl = scratchLayout(s);
  const segs = dwSegments(s);
  let start = 0;
  const parts: string[] = [];
  for (const g of segs) {
    const kbN = g.cols / 4 / g.TK;
    const acc: string[] = [], body: string[] = [], store: string[] = [];
    for (let e = 0; e < 4; e++) for (let q = 0; q < g.TK; q++) acc.push(`var c${e}_${q} = vec4f(0.0);`);
    body.push(`let d = SC[${g.dReg / 4}u * M + i * ${g.dW / 4}u + jb / 4u];`, `bs += d;`);
    for (let q = 0; q < g.TK; q++) body.push(`let a${q} = SC[${g.aReg / 4}u * M + i * ${g.aW / 4}u + kb + ${q}u];`);
    for (let e = 0; e < 4; e++) for (let q = 0; q < g.TK; q++) body.push(`c${e}_${q} = fma(a${q}, vec4f(d.${'xyzw'[e]}), c${e}_${q});`);
    // row jb + e of the gradient: its weight row's offset and its bias's
    const wRow = (e: string) => (g.layer ? `${s.off.w[g.layer - 1]}u + (jb + ${e}) * ${g.cols}u` : `select(${s.off.wc}u, ${s.off.wa}u + (jb + ${e}) * ${g.cols}u, jb + ${e} < ${A}u)`);
    const bIdx = (e: string) => (g.layer ? `${s.off.b[g.layer - 1]}u + jb + ${e}` : `select(${s.off.bc}u, ${s.off.ba}u + jb + ${e}, jb + ${e} < ${A}u)`);
    for (let e = 0; e < 4; e++) {
      const guard = g.layer ? '' : `if (jb + ${e}u <= ${A}u) `;
      const lines: string[] = [];
      for (let q = 0; q < g.TK; q++) {
        for (let c = 0; c < 4; c++) lines.push(`G[${wRow(`${e}u`)} + 4u * (kb + ${q}u) + ${c}u] = c${e}_${q}.${'xyzw'[c]};`);
      }
      lines.push(`if (kb == 0u) { G[${bIdx(`${e}u`)}] = bs.${'xyzw'[e]}; }`);
      store.push(`${guard}{ ${lines.join(' ')} }`);
    }
    parts.push(`if (e < ${start + g.threads}u) {
    let q = e - ${start}u;
    let jb = (q / ${kbN}u) * 4u;
    let kb = (q % ${kbN}u) * ${g.TK}u;
    ${acc.join(' ')}
    var bs = vec4f(0.0);
    for (var i = 0u; i < M; i++) {
      ${body.join('\n      ')}
    }
    ${store.join('\n    ')}
    return;
  }`);
    start += g.threads;
  }
  return {
    name: 'ppo_mlp_dw',
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> SC: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
struct P { m: u32, stats: u32 }
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.x + gid.y * nw.x * 64u;
  let M = p.m;
  ${parts.join('\n  ')}
  let q = e - ${start}u;
  if (q < 5u && p.stats != 0u) {
    var t = 0.0;
    for (var i = 0u; i < M; i++) { t += SC[${sl.st / 4}u * M + i * 2u + q / 4u][q % 4u]; }
    S[q] = t / f32(M);
  }
}`,
  };
}

/**
 * A whole rollout of T vector steps on a GPU env in one dispatch. Each thread owns TM envs for
 * the whole rollout (envs never interact, so no barrier is needed): per step it runs the
 * forward on their observations, draws the actions (Gumbel-max from the engine's Threefry
 * stream, exactly as T successive sampleCategoricalGpu calls of N rows would), steps the envs
 * (envAdvance: rl/envs/gpu/vec.ts's envAdvanceWgsl over the array OB) and records the step.
 * OB [(2T+1)·N, D]: rows [0, (T+1)N) the observations acted on (block 0 filled beforehand;
 * block T is what the next rollout starts from), rows (T+1)N + tN + i the final observation of
 * env i's episode that ended at step t. ROW [T·N, 8]: action, logp, value, reward, terminated,
 * truncated. S, Cn, St: the env batch's state; EP its episode log, whose slots
 * (p.lbase + t)·N + i this rollout writes (each ended episode's return and length: the episode
 * bookkeeping stays on the GPU and comes back with the rollout's one readback).
 */
export function ppoMlpRolloutKernel(s: PpoMlpShape, threefry: string, envAdvance: string, env: { obsSize: number; actSize: number }) {
  const sl = scratchLayout(s), A = s.A, D = s.sizes[0];
  if (env.obsSize !== D) throw new Error(`ppoMlpRolloutKernel: the env's observations have ${env.obsSize} floats, the network takes ${D}`);
  if (env.actSize !== 1) throw new Error('ppoMlpRolloutKernel: the env must take one discrete action per step');
  let step = '';
  for (let t = 0; t < TM; t++) {
    step += `
    if (ok${t}) {
      let q = t * N + r${t};
      let d = draw_action(q - t * N, z${t}, base);
      A[0] = d.x;
      let e = env_advance(r${t}, 0u, (q + N) * ${D}u, (q + (p.T + 1u) * N) * ${D}u, p.lbase + t);
      let w = q * 8u;
      ROW[w] = d.x; ROW[w + 1u] = d.y; ROW[w + 2u] = v${t};
      ROW[w + 3u] = e.x; ROW[w + 4u] = e.y; ROW[w + 5u] = e.z;
    }`;
  }
  return {
    name: 'ppo_mlp_rollout',
    code: /* wgsl */ `
${threefry}
@group(0) @binding(0) var<storage, read> PR: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> SC: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> OB: array<f32>;
@group(0) @binding(3) var<storage, read_write> ROW: array<f32>;
@group(0) @binding(4) var<storage, read_write> S: array<f32>;
@group(0) @binding(5) var<storage, read_write> Cn: array<u32>;
@group(0) @binding(6) var<storage, read_write> St: array<f32>;
@group(0) @binding(7) var<storage, read_write> EP: array<f32>;
struct P { n: u32, k0: u32, k1: u32, cap: u32, T: u32, rk0: u32, rk1: u32, rbase: u32, lbase: u32 }
@group(0) @binding(8) var<uniform> p: P;
var<private> A: array<f32, 1>;
${envAdvance}
${gumbelDrawWgsl(A)}
// (action, log-probability) of row r
fn draw_action(r: u32, z: array<f32, ${A}>, base: u32) -> vec2f {
  return gumbel_draw(z, p.rk0, p.rk1, base, r * ${A}u);
}
@compute @workgroup_size(${WG_ROWS}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let N = p.n;
  let R = N;
${rowsPrologue('N')}
  for (var t = 0u; t < p.T; t++) {
    // the engine RNG counter of this step's draw: T calls of ceil(N·A/2) counters each
    let base = p.rbase + t * ((N * ${A}u + 1u) / 2u);
${[...Array(TM).keys()].map((t) => `    for (var k = 0u; k < ${D / 4}u; k++) { let x = ((t * N + r${t}) * ${D / 4}u + k) * 4u; SC[r${t} * ${D / 4}u + k] = vec4f(OB[x], OB[x + 1u], OB[x + 2u], OB[x + 3u]); }`).join('\n')}
${forwardWgsl(s, sl, 'R').replace(/\n/g, '\n  ')}
${step}
  }
}`,
  };
}

/**
 * torch.optim.Adam with clip_grad_norm_ for a small flat parameter vector in ONE workgroup:
 * the global gradient norm (a workgroup reduction), a barrier, then the update of every
 * element, where kernels/optim.ts needs two dispatches (the norm kernel, then the update).
 * G gradients, P parameters, M and V the moments (the flat layout); same arithmetic as
 * optimKernel('adam') (no weight decay): g·min(1, maxNorm/(‖g‖ + 1e-6)), m, v, bias corrections.
 * H[64] receives the norm (as gradNormKernel writes it). params: n, clip (0/1), lr, maxNorm,
 * beta1, beta2, eps, bias correction 1, sqrt(bias correction 2).
 */
export const adamClipSmallKernel = {
  name: 'adam_clip_small',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> M: array<f32>;
@group(0) @binding(3) var<storage, read_write> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> H: array<f32>;
struct Q { n: u32, clip: u32, lr: f32, max_norm: f32, b1: f32, b2: f32, eps: f32, bc1: f32, sbc2: f32 }
@group(0) @binding(5) var<uniform> p: Q;
var<workgroup> part: array<f32, 256>;
@compute @workgroup_size(256) fn main(@builtin(local_invocation_id) lid: vec3u) {
  var scale = 1.0;
  if (p.clip != 0u) {
    var acc = 0.0;
    for (var i = lid.x; i < p.n; i += 256u) { let g = G[i]; acc = fma(g, g, acc); }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
      if (lid.x < s) { part[lid.x] += part[lid.x + s]; }
      workgroupBarrier();
    }
    let norm = sqrt(part[0]);
    scale = min(1.0, p.max_norm / (norm + 1e-6));
    if (lid.x == 0u) { H[64] = norm; }
  }
  for (var i = lid.x; i < p.n; i += 256u) {
    var g = G[i];
    if (p.clip != 0u) { g *= scale; }
    let m = p.b1 * M[i] + (1.0 - p.b1) * g;
    let v = p.b2 * V[i] + (1.0 - p.b2) * g * g;
    M[i] = m;
    V[i] = v;
    let denom = sqrt(v) / p.sbc2 + p.eps;
    P[i] = P[i] - (p.lr / p.bc1) * m / denom;
  }
}`,
};
