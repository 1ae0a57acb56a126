// SPRIG's inference forward in fewer dispatches (acting, and the follower's features at the
// updated θ: nothing is differentiated there). The composed forward is 17 dispatches a call:
// conv1, a window permute, conv2 and conv3 as linears, the temporal position add, the newest
// frame's slice, q/k/v projections, attention and a gated residual per attention layer. Here,
// after conv1 (the engine's conv2d kernel), two kernels do the rest up to the fc layer:
//
//   sprigTemporalKernel: one workgroup per CPW cells: gathers each cell's 2×2 window of conv1's
//     output for each of the K frames, runs conv2 (2×2/2) and conv3 (1×1) with ReLU, adds the
//     temporal position, projects q (newest frame only), k and v, attends the newest frame's
//     token over the cell's K tokens, gates, and adds the residual and the spatial position.
//   sprigSpatialKernel: one workgroup per sample: q/k/v of its hw tokens, hw×hw scores, row
//     softmax, gates, A·v and the residual.
//
// Why this shape: session 9's thread-per-token and workgroup-per-sample kernels ran slower than
// the composed forward on lavapipe (each multiply-add paid for its own gathered loads). Here each
// lane computes a 4 × 4 block (4 tokens × 4 output channels) of a layer with vec4 loads along
// the reduction, as the engine's register-blocked linear kernel does, so every loaded float
// serves 4 multiply-adds; a block's inputs come from workgroup memory and its intermediates
// never leave it. Weights are read from the packed perception at their offsets (PP), so nothing
// is copied when θ changes. The sums run in another order than the composed kernels' (rounding
// differs, ~1e-7 relative).

import { memoKernel } from './common.ts';

/** The kernels' params, in order (offsets are in floats into the packed perception, multiples of 4). */
export const SPRIG_TEMPORAL_PARAMS = ['cells', 'hw', 'w2', 'h1w1', 'w2off', 'b2', 'w3', 'b3', 'posT', 'wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wg', 'bg', 'posS', 'scale', 'n_r4', 'n_c24', 'n_d4'] as const;
export const SPRIG_SPATIAL_PARAMS = ['samples', 'wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wg', 'bg', 'scale'] as const;

/** Where the temporal forward's SAVE puts each piece of a cell's saved values (vec4 offsets), and its size per cell. */
export function temporalSaveLayout(K: number, D: number, C2: number) {
  const D4 = D / 4;
  const h2 = 0, x = K * C2 / 4, k = x + K * D4, v = k + K * D4, q = v + K * D4, a = q + D4, pg = a + D4;
  return { h2, x, k, v, q, a, pg, size: pg + Math.ceil((K + 1) / 4) };
}

/**
 * Workgroup memory (bytes) each kernel declares for these sizes: callers compare it with the
 * device's maxComputeWorkgroupStorageSize (16 KiB by default in WebGPU; K = 4 frames needs more)
 * and keep the composed layers where it does not fit.
 */
export function sprigWorkgroupBytes(K: number, D: number, C1: number, C2: number, HW: number) {
  const CPW = SPRIG_TEMPORAL_CELLS, T = CPW * K, [R4, C24, D4] = [C1, C2 / 4, D / 4];
  const temporal = 16 * (Math.max(T * R4, 2 * T * D4) + Math.max(T * C24, CPW * D4) + T * D4) + 4 * CPW;
  const temporalBackward = 16 * (2 * CPW * D4 + 4 * T * D4 + T * C24) + 4 * (CPW + T);
  const spatial = 16 * (HW * D4 + 3 * HW * D4 + HW * (HW / 4)) + 4 * HW;
  const spatialBackward = 16 * (HW * (HW / 4) + 3 * HW * D4) + 8 * HW;
  return { temporal, temporalBackward, spatial, spatialBackward };
}

/** Lanes per workgroup, and cells per temporal workgroup. */
const WGS = 32;
export const SPRIG_TEMPORAL_CELLS = 8;

/**
 * WGSL for one layer of 4 × 4 blocks: for each block (tb, ob) of an [nt × n] output a lane
 * forms c{i}{j} = Σ_r4 dot(A(token tb·4+i, r4), W(row ob·4+j, r4)), then runs `store`.
 */
function blocks(o: { nt: number; n: number; r4: number; a: (t: string) => string; w: (row: string) => string; store: string; bound?: string }) {
  const nb = (o.nt / 4) * (o.n / 4);
  const acc = [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => `var c${i}${j} = 0.0;`)).join(' ');
  const body: string[] = [];
  for (let i = 0; i < 4; i++) body.push(`let a${i} = ${o.a(`(tb * 4u + ${i}u)`)};`);
  for (let j = 0; j < 4; j++) body.push(`let w${j} = ${o.w(`(ob * 4u + ${j}u)`)};`);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) body.push(`c${i}${j} += dot(a${i}, w${j});`);
  return /* wgsl */ `
    for (var bk = l; bk < ${nb}u; bk += ${WGS}u) {
      let tb = bk / ${o.n / 4}u;
      let ob = bk % ${o.n / 4}u;
      ${acc}
      for (var r4 = 0u; r4 < ${o.bound ?? `${o.r4}u`}; r4++) {
        ${body.join('\n        ')}
      }
      ${o.store}
    }`;
}

/** vec4 of the rows' biases at offset `b` (floats) for channels ob·4 .. ob·4+3. */
const bias4 = (b: string) => `vec4f(PP[${b} + ob * 4u], PP[${b} + ob * 4u + 1u], PP[${b} + ob * 4u + 2u], PP[${b} + ob * 4u + 3u])`;
const row = (i: number) => `vec4f(c${i}0, c${i}1, c${i}2, c${i}3)`;

/**
 * Y1: conv1's output [B·K, 2·h2, 2·w2, C1] (NHWC, a sample's frames adjacent); PP the packed
 * perception; OUT [B, hw, D] (the spatial layer's input tokens: temporal output + spatial
 * position); GATES [B, hw] (the temporal gates). CPW cells per workgroup (x, then y past 65535).
 * C1 = conv1's channels (16), C2 = conv2's (32); C1, C2 and D multiples of 4, CPW·K of 4.
 */
export const sprigTemporalKernel = memoKernel((K: number, D: number, C1: number, C2: number, save = false, reluIn = false) => {
  const CPW = SPRIG_TEMPORAL_CELLS, T = CPW * K, R = 4 * C1;
  const [R4, C24, D4] = [R / 4, C2 / 4, D / 4];
  // workgroup memory, reused: A holds the windows, then k and v; B holds conv2's output, then q
  const aSize = Math.max(T * R4, 2 * T * D4), bSize = Math.max(T * C24, CPW * D4);
  const newest = (cl: string) => `(${cl} * ${K}u + ${K - 1}u)`;
  // SAVE (training), per cell (vec4s): h2 [K, C2], x [K, D], k [K, D], v [K, D], q [D], a = P·V [D], (p_0..p_{K−1}, g)
  const L = temporalSaveLayout(K, D, C2);
  const sv = (cell: string, part: keyof typeof L, idx: string) => `SAVE[${cell} * ${L.size}u + ${L[part]}u + ${idx}]`;
  const tokCell = (tk: string) => `(first + ${tk} / ${K}u)`;
  const ifLive = (tk: string, code: string) => (save ? `if (${tokCell(tk)} < p.cells) { ${code} }` : '');
  return {
    name: `sprig_temporal_k${K}_d${D}${save ? '_save' : ''}${reluIn ? '_relu_in' : ''}`,
    code: /* wgsl */ `
struct Q { cells: u32, hw: u32, w2: u32, h1w1: u32, w2off: u32, b2: u32, w3: u32, b3: u32, posT: u32,
  wq: u32, bq: u32, wk: u32, bk: u32, wv: u32, bv: u32, wg: u32, bg: u32, posS: u32, scale: f32, n_r4: u32, n_c24: u32, n_d4: u32 }
@group(0) @binding(0) var<storage, read> Y1: array<vec4f>;
@group(0) @binding(1) var<storage, read> PP: array<f32>;
@group(0) @binding(2) var<storage, read> PV: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> OUT: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> GATES: array<f32>;
${save ? '@group(0) @binding(5) var<storage, read_write> SAVE: array<vec4f>;\n@group(0) @binding(6) var<uniform> p: Q;' : '@group(0) @binding(5) var<uniform> p: Q;'}
var<workgroup> A: array<vec4f, ${aSize}>;
var<workgroup> Bm: array<vec4f, ${bSize}>;
var<workgroup> X: array<vec4f, ${T * D4}>;
var<workgroup> zg: array<f32, ${CPW}>;
@compute @workgroup_size(${WGS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let first = (wid.x + wid.y * nw.x) * ${CPW}u;
  let w1 = 2u * p.w2;
  // the 2×2 windows of the K frames of each cell: token cl·K + f, row (di, dj, channel)
  for (var e = l; e < ${T * R4}u; e += ${WGS}u) {
    let tk = e / ${R4}u;
    let r = e % ${R4}u;
    let cell = first + tk / ${K}u;
    let f = tk % ${K}u;
    var v = vec4f(0.0);
    if (cell < p.cells) {
      let b = cell / p.hw;
      let c = cell % p.hw;
      let di = r / ${2 * C1 / 4}u;
      let dj = (r / ${C1 / 4}u) % 2u;
      let pix = (2u * (c / p.w2) + di) * w1 + 2u * (c % p.w2) + dj;
      v = Y1[((b * ${K}u + f) * p.h1w1 + pix) * ${C1 / 4}u + r % ${C1 / 4}u];
      ${reluIn ? 'v = max(v, vec4f(0.0));' : ''}
    }
    A[e] = v;
  }
  workgroupBarrier();
  // conv2 (2×2, stride 2) as a linear layer on the window rows, ReLU
  ${blocks({ nt: T, n: C2, r4: R4, a: (t) => `A[${t} * ${R4}u + r4]`, w: (o) => `PV[p.w2off / 4u + ${o} * ${R4}u + r4]`, bound: 'p.n_r4', store: [0, 1, 2, 3].map((i) => `{ let h = max(${row(i)} + ${bias4('p.b2')}, vec4f(0.0)); Bm[(tb * 4u + ${i}u) * ${C24}u + ob] = h; ${ifLive(`(tb * 4u + ${i}u)`, sv(tokCell(`(tb * 4u + ${i}u)`), 'h2', `((tb * 4u + ${i}u) % ${K}u) * ${C24}u + ob`) + ' = h;')} }`).join('\n      ') })}
  workgroupBarrier();
  // conv3 (1×1), ReLU, + the temporal position of the token's frame
  ${blocks({ nt: T, n: D, r4: C24, a: (t) => `Bm[${t} * ${C24}u + r4]`, w: (o) => `PV[p.w3 / 4u + ${o} * ${C24}u + r4]`, bound: 'p.n_c24', store: [0, 1, 2, 3].map((i) => `{ let xv = max(${row(i)} + ${bias4('p.b3')}, vec4f(0.0)) + PV[p.posT / 4u + ((tb * 4u + ${i}u) % ${K}u) * ${D4}u + ob]; X[(tb * 4u + ${i}u) * ${D4}u + ob] = xv; ${ifLive(`(tb * 4u + ${i}u)`, sv(tokCell(`(tb * 4u + ${i}u)`), 'x', `((tb * 4u + ${i}u) % ${K}u) * ${D4}u + ob`) + ' = xv;')} }`).join('\n      ') })}
  workgroupBarrier();
  // k and v of every token (A), q of each cell's newest token (Bm), the gates' pre-activations
  ${blocks({ nt: T, n: D, r4: D4, a: (t) => `X[${t} * ${D4}u + r4]`, w: (o) => `PV[p.wk / 4u + ${o} * ${D4}u + r4]`, bound: 'p.n_d4', store: [0, 1, 2, 3].map((i) => `{ let kv = ${row(i)} + ${bias4('p.bk')}; A[(tb * 4u + ${i}u) * ${D4}u + ob] = kv; ${ifLive(`(tb * 4u + ${i}u)`, sv(tokCell(`(tb * 4u + ${i}u)`), 'k', `((tb * 4u + ${i}u) % ${K}u) * ${D4}u + ob`) + ' = kv;')} }`).join('\n      ') })}
  ${blocks({ nt: T, n: D, r4: D4, a: (t) => `X[${t} * ${D4}u + r4]`, w: (o) => `PV[p.wv / 4u + ${o} * ${D4}u + r4]`, bound: 'p.n_d4', store: [0, 1, 2, 3].map((i) => `{ let vv = ${row(i)} + ${bias4('p.bv')}; A[${T * D4}u + (tb * 4u + ${i}u) * ${D4}u + ob] = vv; ${ifLive(`(tb * 4u + ${i}u)`, sv(tokCell(`(tb * 4u + ${i}u)`), 'v', `((tb * 4u + ${i}u) % ${K}u) * ${D4}u + ob`) + ' = vv;')} }`).join('\n      ') })}
  ${blocks({ nt: CPW, n: D, r4: D4, a: (t) => `X[${newest(t)} * ${D4}u + r4]`, w: (o) => `PV[p.wq / 4u + ${o} * ${D4}u + r4]`, bound: 'p.n_d4', store: [0, 1, 2, 3].map((i) => `{ let qv = ${row(i)} + ${bias4('p.bq')}; Bm[(tb * 4u + ${i}u) * ${D4}u + ob] = qv; ${save ? `if (first + tb * 4u + ${i}u < p.cells) { ${sv(`(first + tb * 4u + ${i}u)`, 'q', 'ob')} = qv; }` : ''} }`).join('\n      ') })}
  for (var cl = l; cl < ${CPW}u; cl += ${WGS}u) {
    var z = 0.0;
    for (var r4 = 0u; r4 < p.n_d4; r4++) { z += dot(PV[p.wg / 4u + r4], X[${newest('cl')} * ${D4}u + r4]); }
    zg[cl] = z + PP[p.bg];
  }
  workgroupBarrier();
  // attention of each cell's newest token over its K tokens, gate, residual, spatial position
  for (var e = l; e < ${CPW * D4}u; e += ${WGS}u) {
    let cl = e / ${D4}u;
    let o4 = e % ${D4}u;
    let cell = first + cl;
    if (cell >= p.cells) { continue; }
    var sc: array<f32, ${K}>;
    var m = -3.4e38;
    for (var f = 0u; f < ${K}u; f++) {
      var s = 0.0;
      for (var r4 = 0u; r4 < p.n_d4; r4++) { s += dot(Bm[cl * ${D4}u + r4], A[(cl * ${K}u + f) * ${D4}u + r4]); }
      sc[f] = s * p.scale;
      m = max(m, sc[f]);
    }
    var den = 0.0;
    var a = vec4f(0.0);
    for (var f = 0u; f < ${K}u; f++) {
      let pf = exp(sc[f] - m);
      den += pf;
      a += pf * A[${T * D4}u + (cl * ${K}u + f) * ${D4}u + o4];
    }
    let g = 1.0 / (1.0 + exp(-zg[cl]));
    if (o4 == 0u) { GATES[cell] = g; }
    ${save ? `${sv('cell', 'a', 'o4')} = a / den;
    if (o4 == 0u) { for (var f = 0u; f < ${K + 1}u; f += 4u) { var w = vec4f(0.0); for (var j = 0u; j < 4u; j++) { let ff = f + j; if (ff < ${K}u) { w[j] = exp(sc[ff] - m) / den; } else if (ff == ${K}u) { w[j] = g; } } ${sv('cell', 'pg', 'f / 4u')} = w; } }` : ''}
    OUT[cell * ${D4}u + o4] = X[${newest('cl')} * ${D4}u + o4] + g * (a / den) + PV[p.posS / 4u + (cell % p.hw) * ${D4}u + o4];
  }
}`,
  };
});

/**
 * X: tokens [B, HW, D] (the temporal layer's output + spatial position); PP the packed
 * perception; OUT [B, HW, D] = X + g ⊙ softmax(Q Kᵀ·scale) V; GATES [B, HW]. One workgroup
 * per sample; HW and D multiples of 4.
 */
export const sprigSpatialKernel = memoKernel((HW: number, D: number, save = false) => {
  const D4 = D / 4, H4 = HW / 4;
  // SAVE (training): per sample Q, K, V [HW, D], P [HW, HW], A = P·V [HW, D] for the backward
  const SS4 = (4 * HW * D + HW * HW) / 4;
  return {
    name: `sprig_spatial_hw${HW}_d${D}${save ? '_save' : ''}`,
    code: /* wgsl */ `
struct Q { samples: u32, wq: u32, bq: u32, wk: u32, bk: u32, wv: u32, bv: u32, wg: u32, bg: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> XG: array<vec4f>;
@group(0) @binding(1) var<storage, read> PP: array<f32>;
@group(0) @binding(2) var<storage, read> PV: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> OUT: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> GATES: array<f32>;
${save ? '@group(0) @binding(5) var<storage, read_write> SAVE: array<vec4f>;\n@group(0) @binding(6) var<uniform> p: Q;' : '@group(0) @binding(5) var<uniform> p: Q;'}
var<workgroup> X: array<vec4f, ${HW * D4}>;
var<workgroup> QKV: array<vec4f, ${3 * HW * D4}>;
var<workgroup> S: array<vec4f, ${HW * H4}>;
var<workgroup> G: array<f32, ${HW}>;
@compute @workgroup_size(${WGS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let b = wid.x + wid.y * nw.x;
  if (b >= p.samples) { return; } // the whole workgroup: barriers stay uniform
  let base = b * ${HW * D4}u;
  for (var e = l; e < ${HW * D4}u; e += ${WGS}u) { X[e] = XG[base + e]; }
  workgroupBarrier();
  ${blocks({ nt: HW, n: D, r4: D4, a: (t) => `X[${t} * ${D4}u + r4]`, w: (o) => `PV[p.wq / 4u + ${o} * ${D4}u + r4]`, store: [0, 1, 2, 3].map((i) => `QKV[(tb * 4u + ${i}u) * ${D4}u + ob] = ${row(i)} + ${bias4('p.bq')};`).join('\n      ') })}
  ${blocks({ nt: HW, n: D, r4: D4, a: (t) => `X[${t} * ${D4}u + r4]`, w: (o) => `PV[p.wk / 4u + ${o} * ${D4}u + r4]`, store: [0, 1, 2, 3].map((i) => `QKV[${HW * D4}u + (tb * 4u + ${i}u) * ${D4}u + ob] = ${row(i)} + ${bias4('p.bk')};`).join('\n      ') })}
  ${blocks({ nt: HW, n: D, r4: D4, a: (t) => `X[${t} * ${D4}u + r4]`, w: (o) => `PV[p.wv / 4u + ${o} * ${D4}u + r4]`, store: [0, 1, 2, 3].map((i) => `QKV[${2 * HW * D4}u + (tb * 4u + ${i}u) * ${D4}u + ob] = ${row(i)} + ${bias4('p.bv')};`).join('\n      ') })}
  for (var t = l; t < ${HW}u; t += ${WGS}u) {
    var z = 0.0;
    for (var r4 = 0u; r4 < ${D4}u; r4++) { z += dot(PV[p.wg / 4u + r4], X[t * ${D4}u + r4]); }
    G[t] = 1.0 / (1.0 + exp(-(z + PP[p.bg])));
    GATES[b * ${HW}u + t] = G[t];
  }
  workgroupBarrier();
  // scores q_t · k_u (4 × 4 blocks: tokens t × keys u)
  ${blocks({ nt: HW, n: HW, r4: D4, a: (t) => `QKV[${t} * ${D4}u + r4]`, w: (u) => `QKV[${HW * D4}u + ${u} * ${D4}u + r4]`, store: [0, 1, 2, 3].map((i) => `S[(tb * 4u + ${i}u) * ${H4}u + ob] = ${row(i)} * p.scale;`).join('\n      ') })}
  workgroupBarrier();
  for (var t = l; t < ${HW}u; t += ${WGS}u) {
    var m = vec4f(-3.4e38);
    for (var u4 = 0u; u4 < ${H4}u; u4++) { m = max(m, S[t * ${H4}u + u4]); }
    let mx = max(max(m.x, m.y), max(m.z, m.w));
    var den = vec4f(0.0);
    for (var u4 = 0u; u4 < ${H4}u; u4++) { let e = exp(S[t * ${H4}u + u4] - mx); S[t * ${H4}u + u4] = e; den += e; }
    let inv = 1.0 / (den.x + den.y + den.z + den.w);
    for (var u4 = 0u; u4 < ${H4}u; u4++) { S[t * ${H4}u + u4] = S[t * ${H4}u + u4] * inv; }
  }
  workgroupBarrier();
  ${save ? `for (var e = l; e < ${3 * HW * D4}u; e += ${WGS}u) { SAVE[b * ${SS4}u + e] = QKV[e]; }
  for (var e = l; e < ${HW * H4}u; e += ${WGS}u) { SAVE[b * ${SS4}u + ${3 * HW * D4}u + e] = S[e]; }` : ''}
  // out = x + g ⊙ P·V: a lane forms 4 tokens × 4 channels
  for (var bk = l; bk < ${H4 * D4}u; bk += ${WGS}u) {
    let tb = bk / ${D4}u;
    let ob = bk % ${D4}u;
    var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    for (var u4 = 0u; u4 < ${H4}u; u4++) {
      let p0 = S[(tb * 4u) * ${H4}u + u4]; let p1 = S[(tb * 4u + 1u) * ${H4}u + u4];
      let p2 = S[(tb * 4u + 2u) * ${H4}u + u4]; let p3 = S[(tb * 4u + 3u) * ${H4}u + u4];
      for (var k = 0u; k < 4u; k++) {
        let v = QKV[${2 * HW * D4}u + (u4 * 4u + k) * ${D4}u + ob];
        c0 += p0[k] * v; c1 += p1[k] * v; c2 += p2[k] * v; c3 += p3[k] * v;
      }
    }
    let t0 = tb * 4u;
    ${save ? [0, 1, 2, 3].map((i) => `SAVE[b * ${SS4}u + ${3 * HW * D4 + HW * H4}u + (t0 + ${i}u) * ${D4}u + ob] = c${i};`).join(' ') : ''}
    OUT[base + t0 * ${D4}u + ob] = X[t0 * ${D4}u + ob] + G[t0] * c0;
    OUT[base + (t0 + 1u) * ${D4}u + ob] = X[(t0 + 1u) * ${D4}u + ob] + G[t0 + 1u] * c1;
    OUT[base + (t0 + 2u) * ${D4}u + ob] = X[(t0 + 2u) * ${D4}u + ob] + G[t0 + 2u] * c2;
    OUT[base + (t0 + 3u) * ${D4}u + ob] = X[(t0 + 3u) * ${D4}u + ob] + G[t0 + 3u] * c3;
  }
}`,
  };
});

/**
 * Both heads of an inference forward in one dispatch: OUT [rows, A + 1] = (logits, value) per
 * row, from features F [rows, FD] and the packed heads PH (actor [A, FD] and critic [1, FD]
 * weights and biases at the offsets given). One thread per output; the sum runs as the engine's
 * linear kernel runs it (vec4 dot products in order, then the bias). FD a multiple of 4.
 * params: rows, A, FD/4, actor weight, actor bias, critic weight, critic bias offsets (floats).
 */
export const sprigHeadsKernel = {
  name: 'sprig_heads',
  code: /* wgsl */ `
struct Q { rows: u32, a: u32, fd4: u32, wa: u32, ba: u32, wc: u32, bc: u32 }
@group(0) @binding(0) var<storage, read> F: array<vec4f>;
@group(0) @binding(1) var<storage, read> PH: array<f32>;
@group(0) @binding(2) var<storage, read> PV: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(4) var<uniform> p: Q;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let e = gid.x + gid.y * nw.x * 64u;
  let n = p.a + 1u;
  if (e >= p.rows * n) { return; }
  let r = e / n;
  let j = e % n;
  let w = select(p.wa / 4u + j * p.fd4, p.wc / 4u, j == p.a);
  var c = 0.0;
  for (var k = 0u; k < p.fd4; k++) { c += dot(F[r * p.fd4 + k], PV[w + k]); }
  OUT[e] = c + select(PH[p.ba + j], PH[p.bc], j == p.a);
}`,
};

/** The spatial backward's params, in order: absolute offsets (floats) of the layer's weights in PP, then their offsets in a sample's row of PART. */
export const SPRIG_SPATIAL_BACKWARD_PARAMS = ['samples', 'wq', 'wk', 'wv', 'wg', 'bg', 'rq', 'rbq', 'rk', 'rbk', 'rv', 'rbv', 'rg', 'rbg', 'ps', 'scale', 'hasDG', 'n_hw', 'n_h4', 'n_d4'] as const;

/**
 * The spatial block's backward, one workgroup per sample, from what sprigSpatialKernel(…, true)
 * saved: with out = x + g ⊙ A, A = P·V, P = softmax(Q Kᵀ·scale), g = σ(x·w_g + b_g):
 *   dg = ⟨dOut, A⟩ + dGates, dz = dg·g(1 − g); dA = g ⊙ dOut; dP = dA·Vᵀ; dV = Pᵀ·dA;
 *   dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale; dQ = dS·K; dK = dSᵀ·Q;
 *   dX = dOut + dz·w_g + dQ·W_q + dK·W_k + dV·W_v;
 * and this sample's share of the parameter gradients (dW_m = dMᵀ·X, db_m = Σ dM, dw_g = dzᵀ·X,
 * db_g = Σ dz) into its row of PART (at the offsets r*, in floats; PART's row stride ps).
 * Inputs: XG [B, HW, D], PP/PV the packed perception, SAVE, DOUT [B, HW, D], DG [B, HW] (read
 * when hasDG). Outputs: DX [B, HW, D], PART [B, ps].
 */
export const sprigSpatialBackwardKernel = memoKernel((HW: number, D: number) => {
  const D4 = D / 4, H4 = HW / 4, SS4 = (4 * HW * D + HW * HW) / 4;
  // loop bounds come from the params (n_hw = HW, n_h4 = HW/4, n_d4 = D/4): with constant bounds
  // lavapipe's LLVM unrolls the nests and compiling the kernel took ~35 s
  const [oQ, oK, oV, oP, oA] = [0, HW * D4, 2 * HW * D4, 3 * HW * D4, 3 * HW * D4 + HW * H4];
  return {
    name: `sprig_spatial_backward_hw${HW}_d${D}`,
    code: /* wgsl */ `
struct Q { samples: u32, wq: u32, wk: u32, wv: u32, wg: u32, bg: u32, rq: u32, rbq: u32, rk: u32, rbk: u32, rv: u32, rbv: u32, rg: u32, rbg: u32, ps: u32, scale: f32, hasDG: u32, n_hw: u32, n_h4: u32, n_d4: u32 }
@group(0) @binding(0) var<storage, read> XG: array<vec4f>;
@group(0) @binding(1) var<storage, read> PP: array<f32>;
@group(0) @binding(2) var<storage, read> PV: array<vec4f>;
@group(0) @binding(3) var<storage, read> SV: array<vec4f>;
@group(0) @binding(4) var<storage, read> DOUT: array<vec4f>;
@group(0) @binding(5) var<storage, read> DG: array<f32>;
@group(0) @binding(6) var<storage, read_write> DX: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> PART: array<vec4f>;
@group(0) @binding(8) var<uniform> p: Q;
var<workgroup> dS: array<vec4f, ${HW * H4}>;
var<workgroup> dM: array<vec4f, ${3 * HW * D4}>;
var<workgroup> gz: array<vec2f, ${HW}>;
@compute @workgroup_size(${WGS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let b = wid.x + wid.y * nw.x;
  if (b >= p.samples) { return; }
  let xb = b * ${HW * D4}u;
  let sb = b * ${SS4}u;
  // the gates (recomputed) and dz
  for (var t = l; t < ${HW}u; t += ${WGS}u) {
    var z = 0.0;
    var dg = 0.0;
    for (var r4 = 0u; r4 < p.n_d4; r4++) {
      z += dot(PV[p.wg / 4u + r4], XG[xb + t * ${D4}u + r4]);
      dg += dot(DOUT[xb + t * ${D4}u + r4], SV[sb + ${oA}u + t * ${D4}u + r4]);
    }
    let g = 1.0 / (1.0 + exp(-(z + PP[p.bg])));
    if (p.hasDG != 0u) { dg += DG[b * ${HW}u + t]; }
    gz[t] = vec2f(g, dg * g * (1.0 - g));
  }
  workgroupBarrier();
  // dP[t][u] = g_t·⟨dOut_t, V_u⟩ (into dS), dV[u] = Σ_t P[t][u]·g_t·dOut_t
  ${blocks({ nt: HW, n: HW, r4: D4, a: (t) => `DOUT[xb + ${t} * ${D4}u + r4]`, w: (u) => `SV[sb + ${oV}u + ${u} * ${D4}u + r4]`, bound: 'p.n_d4', store: [0, 1, 2, 3].map((i) => `dS[(tb * 4u + ${i}u) * ${H4}u + ob] = ${row(i)} * gz[tb * 4u + ${i}u].x;`).join('\n      ') })}
  for (var bk = l; bk < ${H4 * D4}u; bk += ${WGS}u) {
    let ub = bk / ${D4}u;
    let ob = bk % ${D4}u;
    var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    for (var t = 0u; t < p.n_hw; t++) {
      let pv = SV[sb + ${oP}u + t * ${H4}u + ub];
      let d = gz[t].x * DOUT[xb + t * ${D4}u + ob];
      c0 += pv.x * d; c1 += pv.y * d; c2 += pv.z * d; c3 += pv.w * d;
    }
    let u0 = ub * 4u;
    dM[${oV}u + u0 * ${D4}u + ob] = c0; dM[${oV}u + (u0 + 1u) * ${D4}u + ob] = c1;
    dM[${oV}u + (u0 + 2u) * ${D4}u + ob] = c2; dM[${oV}u + (u0 + 3u) * ${D4}u + ob] = c3;
  }
  workgroupBarrier();
  // dS = P ⊙ (dP − rowsum(P ⊙ dP))·scale
  for (var t = l; t < ${HW}u; t += ${WGS}u) {
    var sv = vec4f(0.0);
    for (var u4 = 0u; u4 < p.n_h4; u4++) { sv += SV[sb + ${oP}u + t * ${H4}u + u4] * dS[t * ${H4}u + u4]; }
    let s = sv.x + sv.y + sv.z + sv.w;
    for (var u4 = 0u; u4 < p.n_h4; u4++) { dS[t * ${H4}u + u4] = SV[sb + ${oP}u + t * ${H4}u + u4] * (dS[t * ${H4}u + u4] - s) * p.scale; }
  }
  workgroupBarrier();
  // dQ = dS·K, dK = dSᵀ·Q
  for (var bk = l; bk < ${2 * H4 * D4}u; bk += ${WGS}u) {
    let m = bk / ${H4 * D4}u;
    let tb = (bk / ${D4}u) % ${H4}u;
    let ob = bk % ${D4}u;
    var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    if (m == 0u) {
      for (var u4 = 0u; u4 < p.n_h4; u4++) {
        let s0 = dS[(tb * 4u) * ${H4}u + u4]; let s1 = dS[(tb * 4u + 1u) * ${H4}u + u4];
        let s2 = dS[(tb * 4u + 2u) * ${H4}u + u4]; let s3 = dS[(tb * 4u + 3u) * ${H4}u + u4];
        for (var k = 0u; k < 4u; k++) {
          let kv = SV[sb + ${oK}u + (u4 * 4u + k) * ${D4}u + ob];
          c0 += s0[k] * kv; c1 += s1[k] * kv; c2 += s2[k] * kv; c3 += s3[k] * kv;
        }
      }
    } else {
      for (var t = 0u; t < p.n_hw; t++) {
        let sv = dS[t * ${H4}u + tb];
        let qv = SV[sb + ${oQ}u + t * ${D4}u + ob];
        c0 += sv.x * qv; c1 += sv.y * qv; c2 += sv.z * qv; c3 += sv.w * qv;
      }
    }
    let base = m * ${HW * D4}u + (tb * 4u) * ${D4}u + ob;
    dM[base] = c0; dM[base + ${D4}u] = c1; dM[base + ${2 * D4}u] = c2; dM[base + ${3 * D4}u] = c3;
  }
  workgroupBarrier();
  // dX = dOut + dz·w_g + Σ_m dM·W_m
  for (var bk = l; bk < ${H4 * D4}u; bk += ${WGS}u) {
    let tb = bk / ${D4}u;
    let ib = bk % ${D4}u;
    var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    for (var m = 0u; m < 3u; m++) {
      let w = select(select(p.wv, p.wk, m == 1u), p.wq, m == 0u) / 4u;
      for (var o4 = 0u; o4 < p.n_d4; o4++) {
        let d0 = dM[m * ${HW * D4}u + (tb * 4u) * ${D4}u + o4]; let d1 = dM[m * ${HW * D4}u + (tb * 4u + 1u) * ${D4}u + o4];
        let d2 = dM[m * ${HW * D4}u + (tb * 4u + 2u) * ${D4}u + o4]; let d3 = dM[m * ${HW * D4}u + (tb * 4u + 3u) * ${D4}u + o4];
        for (var k = 0u; k < 4u; k++) {
          let wv = PV[w + (o4 * 4u + k) * ${D4}u + ib];
          c0 += d0[k] * wv; c1 += d1[k] * wv; c2 += d2[k] * wv; c3 += d3[k] * wv;
        }
      }
    }
    let wg = PV[p.wg / 4u + ib];
    let t0 = tb * 4u;
    DX[xb + t0 * ${D4}u + ib] = DOUT[xb + t0 * ${D4}u + ib] + gz[t0].y * wg + c0;
    DX[xb + (t0 + 1u) * ${D4}u + ib] = DOUT[xb + (t0 + 1u) * ${D4}u + ib] + gz[t0 + 1u].y * wg + c1;
    DX[xb + (t0 + 2u) * ${D4}u + ib] = DOUT[xb + (t0 + 2u) * ${D4}u + ib] + gz[t0 + 2u].y * wg + c2;
    DX[xb + (t0 + 3u) * ${D4}u + ib] = DOUT[xb + (t0 + 3u) * ${D4}u + ib] + gz[t0 + 3u].y * wg + c3;
  }
  // this sample's parameter gradients: dW_m[o][i] = Σ_t dM[t][o]·X[t][i], db_m, dw_g, db_g
  let pb = b * (p.ps / 4u);
  for (var bk = l; bk < ${3 * D4 * D4}u; bk += ${WGS}u) {
    let m = bk / ${D4 * D4}u;
    let ob = (bk / ${D4}u) % ${D4}u;
    let ib = bk % ${D4}u;
    var c0 = vec4f(0.0); var c1 = vec4f(0.0); var c2 = vec4f(0.0); var c3 = vec4f(0.0);
    for (var t = 0u; t < p.n_hw; t++) {
      let d = dM[m * ${HW * D4}u + t * ${D4}u + ob];
      let xv = XG[xb + t * ${D4}u + ib];
      c0 += d.x * xv; c1 += d.y * xv; c2 += d.z * xv; c3 += d.w * xv;
    }
    let r = pb + select(select(p.rv, p.rk, m == 1u), p.rq, m == 0u) / 4u + (ob * 4u) * ${D4}u + ib;
    PART[r] = c0; PART[r + ${D4}u] = c1; PART[r + ${2 * D4}u] = c2; PART[r + ${3 * D4}u] = c3;
  }
  for (var e = l; e < ${3 * D4 + D4 + 1}u; e += ${WGS}u) {
    var c = vec4f(0.0);
    if (e < ${3 * D4}u) {
      let m = e / ${D4}u;
      let ob = e % ${D4}u;
      for (var t = 0u; t < p.n_hw; t++) { c += dM[m * ${HW * D4}u + t * ${D4}u + ob]; }
      PART[pb + select(select(p.rbv, p.rbk, m == 1u), p.rbq, m == 0u) / 4u + ob] = c;
    } else if (e < ${4 * D4}u) {
      let ib = e - ${3 * D4}u;
      for (var t = 0u; t < p.n_hw; t++) { c += gz[t].y * XG[xb + t * ${D4}u + ib]; }
      PART[pb + p.rg / 4u + ib] = c;
    } else {
      var s = 0.0;
      for (var t = 0u; t < p.n_hw; t++) { s += gz[t].y; }
      PART[pb + p.rbg / 4u] = vec4f(s, 0.0, 0.0, 0.0);
    }
  }
}`,
  };
});

/** OUT[j] = Σ_r PART[r, j] over rows of n4 vec4s (a backward's per-workgroup parameter gradients, summed). params: rows, n4. */
export const sprigSumRowsKernel = {
  name: 'sprig_sum_rows',
  code: /* wgsl */ `
struct Q { rows: u32, n4: u32 }
@group(0) @binding(0) var<storage, read> PART: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> OUT: array<vec4f>;
@group(0) @binding(2) var<uniform> p: Q;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x;
  if (j >= p.n4) { return; }
  var s = vec4f(0.0);
  for (var r = 0u; r < p.rows; r++) { s += PART[r * p.n4 + j]; }
  OUT[j] = s;
}`,
};

/** The temporal backward's params, in order: sizes, absolute offsets (floats) in PP, then the parameters' offsets in a workgroup's row of PART. */
export const SPRIG_TEMPORAL_BACKWARD_PARAMS = [
  'cells', 'hw', 'w2', 'h1w1', 'w2off', 'w3', 'posT', 'wq', 'wk', 'wv', 'wg',
  'r2w', 'r2b', 'r3w', 'r3b', 'rpT', 'rpS', 'rqw', 'rqb', 'rkw', 'rkb', 'rvw', 'rvb', 'rgw', 'rgb', 'ps', 'scale', 'hasDG', 'n_d4', 'n_c24', 'n_t', 'n_cpw',
] as const;

/**
 * The temporal block's backward, one workgroup per CPW cells, from what
 * sprigTemporalKernel(…, true) saved. With out = x_n + g ⊙ a + pos_S (n the newest frame),
 * a = Σ_f p_f v_f, p = softmax(q·k_f·scale), x_f = relu(conv3(h2_f)) + pos_T[f],
 * h2_f = relu(conv2(window_f)):
 *   dg = ⟨dOut, a⟩ + dGates, dz = dg·g(1 − g); dp_f = g⟨dOut, v_f⟩; ds_f = p_f(dp_f − Σ p·dp)·scale;
 *   dq = Σ ds_f k_f; dk_f = ds_f q; dv_f = p_f g dOut;
 *   dx_f = W_kᵀdk_f + W_vᵀdv_f (+ dOut + dz·w_g + W_qᵀdq for f = n); dz3 = dx ⊙ [x − pos_T > 0];
 *   dz2 = W_3ᵀdz3 ⊙ [h2 > 0]; dwindow = W_2ᵀdz2, written into DY1 (the windows tile conv1's
 *   output: each value is written once);
 * and this workgroup's share of the 14 parameter gradients into its row of PART.
 * Inputs: Y1, PP/PV, SAVE, DOUT [cells, D], DG [cells] (read when hasDG). Outputs: DY1, PART.
 * reluIn: Y1 is conv1's pre-activation; the windows are relu(Y1) and DY1 carries the ReLU's mask
 * (conv1's backward then needs no step and product of its own).
 * Loop bounds over D/4 and C2/4 come from the params (constant bounds make LLVM unroll the
 * nests: a compile of tens of seconds on lavapipe).
 */
export const sprigTemporalBackwardKernel = memoKernel((K: number, D: number, C1: number, C2: number, reluIn = false) => {
  const CPW = SPRIG_TEMPORAL_CELLS, T = CPW * K, R = 4 * C1;
  const [R4, C24, D4, C14] = [R / 4, C2 / 4, D / 4, C1 / 4];
  const L = temporalSaveLayout(K, D, C2);
  const S = (cell: string, part: keyof typeof L, idx: string) => `SAVE[${cell} * ${L.size}u + ${L[part]}u + ${idx}]`;
  return {
    name: `sprig_temporal_backward_k${K}_d${D}${reluIn ? '_relu_in' : ''}`,
    code: /* wgsl */ `
struct Q { cells: u32, hw: u32, w2: u32, h1w1: u32, w2off: u32, w3: u32, posT: u32, wq: u32, wk: u32, wv: u32, wg: u32,
  r2w: u32, r2b: u32, r3w: u32, r3b: u32, rpT: u32, rpS: u32, rqw: u32, rqb: u32, rkw: u32, rkb: u32, rvw: u32, rvb: u32, rgw: u32, rgb: u32,
  ps: u32, scale: f32, hasDG: u32, n_d4: u32, n_c24: u32, n_t: u32, n_cpw: u32 }
@group(0) @binding(0) var<storage, read> Y1: array<vec4f>;
@group(0) @binding(1) var<storage, read> PP: array<f32>;
@group(0) @binding(2) var<storage, read> PV: array<vec4f>;
@group(0) @binding(3) var<storage, read> SAVE: array<vec4f>;
@group(0) @binding(4) var<storage, read> DOUT: array<vec4f>;
@group(0) @binding(5) var<storage, read> DG: array<f32>;
@group(0) @binding(6) var<storage, read_write> DY1: array<vec4f>;
@group(0) @binding(7) var<storage, read_write> PART: array<vec4f>;
@group(0) @binding(8) var<uniform> p: Q;
var<workgroup> dO: array<vec4f, ${CPW * D4}>;
var<workgroup> dQ: array<vec4f, ${CPW * D4}>;
var<workgroup> dK: array<vec4f, ${T * D4}>;
var<workgroup> dV: array<vec4f, ${T * D4}>;
var<workgroup> dX: array<vec4f, ${T * D4}>;
var<workgroup> dZ3: array<vec4f, ${T * D4}>;
var<workgroup> dZ2: array<vec4f, ${T * C24}>;
var<workgroup> dz: array<f32, ${CPW}>;
var<workgroup> ds: array<f32, ${T}>;

// the window row r4 (vec4 of 4 channels) of token tk's frame at its cell, as an index into Y1/DY1
fn win_index(first: u32, tk: u32, r: u32) -> u32 {
  let cell = first + tk / ${K}u;
  let f = tk % ${K}u;
  let b = cell / p.hw;
  let c = cell % p.hw;
  let di = r / ${2 * C14}u;
  let dj = (r / ${C14}u) % 2u;
  let pix = (2u * (c / p.w2) + di) * (2u * p.w2) + 2u * (c % p.w2) + dj;
  return ((b * ${K}u + f) * p.h1w1 + pix) * ${C14}u + r % ${C14}u;
}

@compute @workgroup_size(${WGS}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) l: u32) {
  let wgi = wid.x + wid.y * nw.x;
  let first = wgi * ${CPW}u;
  let row = wgi * (p.ps / 4u);
  for (var e = l; e < ${CPW * D4}u; e += ${WGS}u) {
    let cell = first + e / ${D4}u;
    dO[e] = select(vec4f(0.0), DOUT[min(cell, p.cells - 1u) * ${D4}u + e % ${D4}u], cell < p.cells);
  }
  workgroupBarrier();
  // per cell: dz (the gate's pre-activation) and ds_f (the scores)
  for (var cl = l; cl < ${CPW}u; cl += ${WGS}u) {
    let cell = first + cl;
    if (cell >= p.cells) {
      dz[cl] = 0.0;
      for (var f = 0u; f < ${K}u; f++) { ds[cl * ${K}u + f] = 0.0; }
      continue;
    }
    let g = ${S('cell', 'pg', `${Math.floor(K / 4)}u`)}[${K % 4}];
    var dg = 0.0;
    for (var o4 = 0u; o4 < p.n_d4; o4++) { dg += dot(dO[cl * ${D4}u + o4], ${S('cell', 'a', 'o4')}); }
    if (p.hasDG != 0u) { dg += DG[cell]; }
    dz[cl] = dg * g * (1.0 - g);
    var dp: array<f32, ${K}>;
    var sp = 0.0;
    for (var f = 0u; f < ${K}u; f++) {
      var t = 0.0;
      for (var o4 = 0u; o4 < p.n_d4; o4++) { t += dot(dO[cl * ${D4}u + o4], ${S('cell', 'v', `f * ${D4}u + o4`)}); }
      dp[f] = g * t;
      sp += ${S('cell', 'pg', 'f / 4u')}[f % 4u] * dp[f];
    }
    for (var f = 0u; f < ${K}u; f++) { ds[cl * ${K}u + f] = ${S('cell', 'pg', 'f / 4u')}[f % 4u] * (dp[f] - sp) * p.scale; }
  }
  workgroupBarrier();
  // dq, dk_f, dv_f
  for (var e = l; e < ${CPW * D4}u; e += ${WGS}u) {
    let cl = e / ${D4}u;
    let o4 = e % ${D4}u;
    let cell = first + cl;
    let live = cell < p.cells;
    let cs = min(cell, p.cells - 1u);
    let g = ${S('cs', 'pg', `${Math.floor(K / 4)}u`)}[${K % 4}];
    let q = ${S('cs', 'q', 'o4')};
    var dq = vec4f(0.0);
    for (var f = 0u; f < ${K}u; f++) {
      let d = ds[cl * ${K}u + f];
      dq += d * ${S('cs', 'k', `f * ${D4}u + o4`)};
      dK[(cl * ${K}u + f) * ${D4}u + o4] = d * q;
      dV[(cl * ${K}u + f) * ${D4}u + o4] = select(vec4f(0.0), ${S('cs', 'pg', 'f / 4u')}[f % 4u] * g * dO[e], live);
    }
    dQ[e] = dq;
  }
  workgroupBarrier();
  // dx of every token, and dz3 = dx ⊙ [relu(conv3) > 0]
  for (var bk = l; bk < ${(T / 4) * D4}u; bk += ${WGS}u) {
    let tb = bk / ${D4}u;
    let ib = bk % ${D4}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var o4 = 0u; o4 < p.n_d4; o4++) {
      for (var k = 0u; k < 4u; k++) {
        let o = o4 * 4u + k;
        let wk = PV[p.wk / 4u + o * ${D4}u + ib];
        let wv = PV[p.wv / 4u + o * ${D4}u + ib];
        let wq = PV[p.wq / 4u + o * ${D4}u + ib];
        for (var i = 0u; i < 4u; i++) {
          let t = tb * 4u + i;
          let nq = select(0.0, dQ[(t / ${K}u) * ${D4}u + o4][k], t % ${K}u == ${K - 1}u);
          c[i] += dK[t * ${D4}u + o4][k] * wk + dV[t * ${D4}u + o4][k] * wv + nq * wq;
        }
      }
    }
    let wg = PV[p.wg / 4u + ib];
    for (var i = 0u; i < 4u; i++) {
      let t = tb * 4u + i;
      let cl = t / ${K}u;
      let f = t % ${K}u;
      let cs = min(first + cl, p.cells - 1u);
      var dx = c[i];
      if (f == ${K - 1}u) { dx += dO[cl * ${D4}u + ib] + dz[cl] * wg; }
      dX[t * ${D4}u + ib] = dx;
      let pre = ${S('cs', 'x', `f * ${D4}u + ib`)} - PV[p.posT / 4u + f * ${D4}u + ib];
      dZ3[t * ${D4}u + ib] = select(vec4f(0.0), dx, pre > vec4f(0.0));
    }
  }
  workgroupBarrier();
  // dz2 = W3ᵀdz3 ⊙ [h2 > 0]
  for (var bk = l; bk < ${(T / 4) * C24}u; bk += ${WGS}u) {
    let tb = bk / ${C24}u;
    let cb = bk % ${C24}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var o4 = 0u; o4 < p.n_d4; o4++) {
      for (var k = 0u; k < 4u; k++) {
        let w = PV[p.w3 / 4u + (o4 * 4u + k) * ${C24}u + cb];
        for (var i = 0u; i < 4u; i++) { c[i] += dZ3[(tb * 4u + i) * ${D4}u + o4][k] * w; }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      let t = tb * 4u + i;
      let cs = min(first + t / ${K}u, p.cells - 1u);
      let h = ${S('cs', 'h2', `(t % ${K}u) * ${C24}u + cb`)};
      dZ2[t * ${C24}u + cb] = select(vec4f(0.0), c[i], h > vec4f(0.0));
    }
  }
  workgroupBarrier();
  // the windows' gradient, into DY1
  for (var bk = l; bk < ${(T / 4) * R4}u; bk += ${WGS}u) {
    let tb = bk / ${R4}u;
    let rb = bk % ${R4}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var c4 = 0u; c4 < p.n_c24; c4++) {
      for (var k = 0u; k < 4u; k++) {
        let w = PV[p.w2off / 4u + (c4 * 4u + k) * ${R4}u + rb];
        for (var i = 0u; i < 4u; i++) { c[i] += dZ2[(tb * 4u + i) * ${C24}u + c4][k] * w; }
      }
    }
    for (var i = 0u; i < 4u; i++) {
      let t = tb * 4u + i;
      if (first + t / ${K}u < p.cells) {
        let wi = win_index(first, t, rb);
        DY1[wi] = ${reluIn ? 'select(vec4f(0.0), c[i], Y1[wi] > vec4f(0.0))' : 'c[i]'};
      }
    }
  }
  // this workgroup's parameter gradients
  // conv2: dW2[c][r] = Σ_t dz2[t][c]·window[t][r], db2
  for (var bk = l; bk < ${C24 * R4}u; bk += ${WGS}u) {
    let cq = bk / ${R4}u;
    let rb = bk % ${R4}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var t = 0u; t < p.n_t; t++) {
      let live = first + t / ${K}u < p.cells;
      let wv = select(vec4f(0.0), ${reluIn ? 'max(Y1[select(0u, win_index(first, t, rb), live)], vec4f(0.0))' : 'Y1[select(0u, win_index(first, t, rb), live)]'}, live);
      let d = dZ2[t * ${C24}u + cq];
      for (var k = 0u; k < 4u; k++) { c[k] += d[k] * wv; }
    }
    for (var k = 0u; k < 4u; k++) { PART[row + p.r2w / 4u + (cq * 4u + k) * ${R4}u + rb] = c[k]; }
  }
  // conv3: dW3[o][c] = Σ_t dz3[t][o]·h2[t][c]
  for (var bk = l; bk < ${D4 * C24}u; bk += ${WGS}u) {
    let oq = bk / ${C24}u;
    let cb = bk % ${C24}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var t = 0u; t < p.n_t; t++) {
      let live = first + t / ${K}u < p.cells;
      let cs = min(first + t / ${K}u, p.cells - 1u);
      let h = select(vec4f(0.0), ${S('cs', 'h2', `(t % ${K}u) * ${C24}u + cb`)}, live);
      let d = dZ3[t * ${D4}u + oq];
      for (var k = 0u; k < 4u; k++) { c[k] += d[k] * h; }
    }
    for (var k = 0u; k < 4u; k++) { PART[row + p.r3w / 4u + (oq * 4u + k) * ${C24}u + cb] = c[k]; }
  }
  // q, k, v: dW[o][i] = Σ dM[o]·x[i] (q over the newest tokens only)
  for (var bk = l; bk < ${3 * D4 * D4}u; bk += ${WGS}u) {
    let m = bk / ${D4 * D4}u;
    let oq = (bk / ${D4}u) % ${D4}u;
    let ib = bk % ${D4}u;
    var c = array<vec4f, 4>(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
    for (var t = 0u; t < p.n_t; t++) {
      let cl = t / ${K}u;
      let f = t % ${K}u;
      let live = first + cl < p.cells;
      let cs = min(first + cl, p.cells - 1u);
      let xv = select(vec4f(0.0), ${S('cs', 'x', `f * ${D4}u + ib`)}, live);
      var d = vec4f(0.0);
      if (m == 0u) { d = select(vec4f(0.0), dQ[cl * ${D4}u + oq], f == ${K - 1}u); }
      else if (m == 1u) { d = dK[t * ${D4}u + oq]; }
      else { d = dV[t * ${D4}u + oq]; }
      for (var k = 0u; k < 4u; k++) { c[k] += d[k] * xv; }
    }
    let r = row + select(select(p.rvw, p.rkw, m == 1u), p.rqw, m == 0u) / 4u;
    for (var k = 0u; k < 4u; k++) { PART[r + (oq * 4u + k) * ${D4}u + ib] = c[k]; }
  }
  // the biases, the positions and the gate
  for (var e = l; e < ${C24 + D4 + 3 * D4 + K * D4 + D4 + 1}u; e += ${WGS}u) {
    var c = vec4f(0.0);
    if (e < ${C24}u) {
      for (var t = 0u; t < p.n_t; t++) { c += dZ2[t * ${C24}u + e]; }
      PART[row + p.r2b / 4u + e] = c;
    } else if (e < ${C24 + D4}u) {
      let o4 = e - ${C24}u;
      for (var t = 0u; t < p.n_t; t++) { c += dZ3[t * ${D4}u + o4]; }
      PART[row + p.r3b / 4u + o4] = c;
    } else if (e < ${C24 + 4 * D4}u) {
      let m = (e - ${C24 + D4}u) / ${D4}u;
      let o4 = (e - ${C24 + D4}u) % ${D4}u;
      for (var t = 0u; t < p.n_t; t++) {
        if (m == 0u) { if (t % ${K}u == ${K - 1}u) { c += dQ[(t / ${K}u) * ${D4}u + o4]; } }
        else if (m == 1u) { c += dK[t * ${D4}u + o4]; }
        else { c += dV[t * ${D4}u + o4]; }
      }
      PART[row + select(select(p.rvb, p.rkb, m == 1u), p.rqb, m == 0u) / 4u + o4] = c;
    } else if (e < ${C24 + 4 * D4 + K * D4}u) {
      let j = e - ${C24 + 4 * D4}u;
      let f = j / ${D4}u;
      let o4 = j % ${D4}u;
      for (var cl = 0u; cl < p.n_cpw; cl++) { c += dX[(cl * ${K}u + f) * ${D4}u + o4]; }
      PART[row + p.rpT / 4u + j] = c;
    } else if (e < ${C24 + 5 * D4 + K * D4}u) {
      let i4 = e - ${C24 + 4 * D4 + K * D4}u;
      for (var cl = 0u; cl < p.n_cpw; cl++) {
        let cs = min(first + cl, p.cells - 1u);
        c += dz[cl] * select(vec4f(0.0), ${S('cs', 'x', `${(K - 1) * D4}u + i4`)}, first + cl < p.cells);
      }
      PART[row + p.rgw / 4u + i4] = c;
    } else {
      var s = 0.0;
      for (var cl = 0u; cl < p.n_cpw; cl++) { s += dz[cl]; }
      PART[row + p.rgb / 4u] = vec4f(s, 0.0, 0.0, 0.0);
    }
  }
  // the spatial position: Σ dOut over this workgroup's cells at each position (zeros elsewhere)
  for (var e = l; e < p.hw * ${D4}u; e += ${WGS}u) {
    let c = e / ${D4}u;
    let o4 = e % ${D4}u;
    var acc = vec4f(0.0);
    for (var cl = 0u; cl < p.n_cpw; cl++) {
      if ((first + cl) % p.hw == c) { acc += dO[cl * ${D4}u + o4]; }
    }
    PART[row + p.rpS / 4u + e] = acc;
  }
}`,
  };
});
