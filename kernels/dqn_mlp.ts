// The gradient of a DQN update of the released SCORER MinAtar network in two dispatches:
//
//   x → L1Norm → Linear(IN, H) → ReLU → Linear(H, H) → ReLU → L1Norm → f      (encoder φ)
//   f → Linear(H, H) → ReLU → Linear(H, A) → Q                                (plain head θ)
//
// Why: layer by layer an update was 16 dispatches on lavapipe (two L1Norms and three fused
// linears forward, their six backward kernels, the TD loss both ways, the optimizer), each with
// ~20–30 µs of fixed cost, for a batch of 32 rows of a 128-wide network. Here:
//  - rows: a workgroup owns RB batch rows (kernels/q_mlp.ts's layout: activations in workgroup
//          memory, one thread per output column for all RB rows, weights as vec4 along the
//          reduction axis). It runs the forward, Q(s, a) at the action taken, the TD target
//          from the next-state values (the target network's, and Double DQN's selector's:
//          kernels/td_loss.ts's rules, ties to the first index), and the backward of Q(s, a)
//          down to every layer's pre-activation gradient with a unit seed. Each row's
//          activations and unit-seed δs go to a scratch buffer.
//  - dw:   the loss's gradient in q is one coefficient per row (c_i: −2δ_i/B for MSE,
//          clamp(qa_i − y_i, ±delta)/B for Huber, −2(δ_i − mean δ)/B for the BEV), and the
//          backward is linear in it, so dW_l = Σ_i c_i·δ_l[i]ᵀ a_{l−1}[i]: one thread per (weight
//          row, 4 columns) sums over the batch straight into a flat gradient buffer (the
//          optimizer's); the first column's threads also sum the biases. Five more threads
//          write the statistics (loss, mean Q(s, a), MSBE, BEV, mean δ), as tdLoss's. Each
//          workgroup also sums the squares of the values it wrote: the gradient-norm clip then
//          needs no pass of its own (kernels/optim.ts adamPartialsKernel adds the partial sums).
// With the target forward (kernels/q_mlp.ts) and Adam an update is four dispatches.
//
// The L1Norm backward (v = u / s, s = max(mean|u|, ε)): du = dv/s − [mean|u| ≥ ε]·sign(u)·(Σ dv·u)/(n·s²),
// engine/nn/l1norm.ts's rule; u is post-ReLU, so sign(u) is the ReLU mask. As in q_mlp, the
// input norm's division comes after the first layer's dot product ((W·x)/s, not W·(x/s)).

import { inputScanWgsl, mlpLayerWgsl, sparseCap, sparseDecls } from './q_mlp.ts';
import { grid } from './common.ts';

/** Batch rows per workgroup of the rows kernel. */
export const DQN_MLP_RB = 8;
/** Threads per workgroup of the rows kernel. */
const T = 128;
/** Widest hidden layer the rows kernel's workgroup memory holds (3 arrays of RB·H floats: 12 KB). */
export const DQN_MLP_HMAX = 128;
const WG = 64;

export interface DqnMlpShape {
  /** Observation floats (multiple of 4). */
  IN: number;
  /** Hidden width of every layer (multiple of 4, ≤ DQN_MLP_HMAX). */
  H: number;
  /** Actions. */
  A: number;
}

/**
 * Scratch floats per batch row: h1 [H], u [H] (the features before the output L1Norm),
 * h3 [H] (the head's hidden layer), the unit-seed δs dz1, dz2, dz3 [H each], then 8 floats:
 * qa, y, δ, the action (−1 where it is not a valid index), the input scale, the feature scale,
 * the feature norm's mask [mean|u| ≥ ε], 0.
 */
export function dqnMlpScratchWidth(s: DqnMlpShape) {
  return 6 * s.H + 8;
}

/** What the kernels cannot take, or null. */
export function dqnMlpMisfit(s: DqnMlpShape): string | null {
  if (s.IN % 4 !== 0 || s.H % 4 !== 0) return `the fused DQN update needs the observation size and hidden width to be multiples of 4, got ${s.IN} and ${s.H}`;
  if (s.H > DQN_MLP_HMAX) return `the fused DQN update holds hidden widths up to ${DQN_MLP_HMAX}, got ${s.H}`;
  if (s.A < 1) return `no actions (${s.A})`;
  return null;
}

const rowsOf = (f: (r: number) => string, n = DQN_MLP_RB) => Array.from({ length: n }, (_, r) => f(r)).join('\n');

/** Entries of the rows kernel's nonzero-input list (the workgroup memory its activations leave, up to IN). */
export function dqnMlpCap(s: DqnMlpShape) {
  const RB = DQN_MLP_RB, Hq = s.H / 4;
  return sparseCap(3 * RB * Hq * 16 + 4 * RB * 4 + RB * 4, s.IN);
}

function rowsSource(s: DqnMlpShape, double: boolean) {
  const { IN, H, A } = s, RB = DQN_MLP_RB;
  const INq = IN / 4, Hq = H / 4, Wq = dqnMlpScratchWidth(s) / 4;
  /** dst[r][j] = ReLU((Σ_k W[j, k]·src[r][k]) / div[r] + b[j]) for the workgroup's rows (kernels/q_mlp.ts's generator). */
  const layer = (o: { nin: number; buf: string; w: string; b: string; src: 'X' | string; dst: string; div?: string; cap?: number }) =>
    mlpLayerWgsl({ rb: RB, stride: Hq, nin: `${o.nin}u`, nout: `${H}u`, buf: o.buf, w: o.w, b: o.b, src: o.src, dst: o.dst, relu: true, div: o.div, cap: o.cap, sbuf: 'PS' });
  const cap = dqnMlpCap(s);
  /** dst[r][k] = Σ_j W[j, k]·src[r][j] (Wᵀ·src), 4 columns × 2 rows per thread. */
  const layerT = (o: { buf: string; w: string; src: string; body: (r: string, q: string, acc: string) => string }) => /* wgsl */ `for (var i = t; i < ${(RB / 2) * Hq}u; i += ${T}u) {
    let q = i % ${Hq}u;
    let r0 = (i / ${Hq}u) * 2u;
    let r1 = r0 + 1u;
    var g0 = vec4f(0.0);
    var g1 = vec4f(0.0);
    for (var j4 = 0u; j4 < ${Hq}u; j4++) {
      let d0 = ${o.src}[r0 * ${Hq}u + j4];
      let d1 = ${o.src}[r1 * ${Hq}u + j4];
      ${[0, 1, 2, 3].map((e) => `{ let w = ${o.buf}[${o.w} / 4u + (4u * j4 + ${e}u) * ${Hq}u + q]; g0 = fma(w, vec4f(d0.${'xyzw'[e]}), g0); g1 = fma(w, vec4f(d1.${'xyzw'[e]}), g1); }`).join('\n      ')}
    }
    ${o.body('r0', 'q', 'g0')}
    ${o.body('r1', 'q', 'g1')}
  }`;
  return /* wgsl */ `
struct P { rows: u32, gamma: f32, eps: f32, tr_a: u32, tr_r: u32, tr_d: u32, qt: u32, qs: u32,
  e0w: u32, e0b: u32, e1w: u32, e1b: u32, h0w: u32, h0b: u32, h1w: u32, h1b: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec4f>;
@group(0) @binding(1) var<storage, read> PE: array<vec4f>;
@group(0) @binding(2) var<storage, read> PH: array<vec4f>;
@group(0) @binding(3) var<storage, read> QT: array<f32>;
@group(0) @binding(4) var<storage, read> QS: array<f32>;
@group(0) @binding(5) var<storage, read> TR: array<f32>;
@group(0) @binding(6) var<storage, read> PS: array<f32>;
@group(0) @binding(7) var<storage, read_write> SC: array<vec4f>;
@group(0) @binding(8) var<uniform> p: P;
var<workgroup> ha: array<vec4f, ${RB * Hq}>;
var<workgroup> hb: array<vec4f, ${RB * Hq}>;
var<workgroup> hc: array<vec4f, ${RB * Hq}>;
var<workgroup> sc0: array<f32, ${RB}>;
var<workgroup> s2: array<f32, ${RB}>;
var<workgroup> m2: array<f32, ${RB}>;
var<workgroup> gs: array<f32, ${RB}>;
var<workgroup> act: array<i32, ${RB}>;
var<private> INF_BITS: u32 = 0x7f800000u;
${sparseDecls(cap)}

@compute @workgroup_size(${T}) fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u) {
  let row0 = wid.x * ${RB}u;
  let last = p.rows - 1u;
  // the input's L1Norm scale and the columns where any row is nonzero
  ${inputScanWgsl({ rb: RB, n: `${IN}u`, sc: 'sc0', cap })}
  ${layer({ nin: IN, buf: 'PE', w: 'p.e0w', b: 'p.e0b', src: 'X', dst: 'ha', div: 'sc0', cap })}
  workgroupBarrier();
  ${layer({ nin: H, buf: 'PE', w: 'p.e1w', b: 'p.e1b', src: 'ha', dst: 'hb' })}
  workgroupBarrier();
  if (t < ${RB}u) {
    var a = 0.0;
    for (var k4 = 0u; k4 < ${Hq}u; k4++) {
      let v = hb[t * ${Hq}u + k4];
      a += v.x + v.y + v.z + v.w;
    }
    let m = a / ${H}.0;
    s2[t] = max(m, p.eps);
    m2[t] = select(0.0, 1.0, m >= p.eps);
  }
  workgroupBarrier();
  ${layer({ nin: H, buf: 'PH', w: 'p.h0w', b: 'p.h0b', src: 'hb', dst: 'hc', div: 's2' })}
  workgroupBarrier();
  for (var i = t; i < ${RB * Hq}u; i += ${T}u) {
    let r = i / ${Hq}u;
    if (row0 + r < p.rows) {
      let o = (row0 + r) * ${Wq}u + i % ${Hq}u;
      SC[o] = ha[i];
      SC[o + ${Hq}u] = hb[i];
      SC[o + ${2 * Hq}u] = hc[i];
    }
  }
  // Q(s, a) at the action taken, the target, δ (rows past the batch: action −1, no gradient)
  if (t < ${RB}u) {
    let i = min(row0 + t, last);
    let av = TR[p.tr_a + i];
    let a = u32(max(av, 0.0));
    let valid = av >= 0.0 && a < ${A}u && f32(a) == av && row0 + t < p.rows;
    var qa = 0.0;
    if (valid) {
      var acc = 0.0;
      for (var k4 = 0u; k4 < ${Hq}u; k4++) { acc += dot(PH[p.h1w / 4u + a * ${Hq}u + k4], hc[t * ${Hq}u + k4]); }
      qa = acc + PH[(p.h1b + a) / 4u][(p.h1b + a) % 4u];
    }
    let base = i * ${A}u;
    var next = -bitcast<f32>(INF_BITS);
    ${double ? `var best = -bitcast<f32>(INF_BITS);
    var bi = 0xffffffffu;
    for (var j = 0u; j < ${A}u; j++) {
      let v = QS[p.qs + base + j];
      if (v > best || (v == best && j < bi) || (v != v && best == best)) { best = v; bi = j; }
    }
    next = select(0.0, QT[p.qt + base + min(bi, ${A - 1}u)], bi < ${A}u);` : `for (var j = 0u; j < ${A}u; j++) {
      let v = QT[p.qt + base + j];
      next = select(max(next, v), v, v != v);
    }`}
    let y = TR[p.tr_r + i] + ((1.0 - TR[p.tr_d + i]) * p.gamma) * next;
    act[t] = select(-1, i32(a), valid);
    if (row0 + t < p.rows) {
      SC[i * ${Wq}u + ${6 * Hq}u] = vec4f(qa, y, y - qa, select(-1.0, f32(a), valid));
      SC[i * ${Wq}u + ${6 * Hq + 1}u] = vec4f(sc0[t], s2[t], m2[t], 0.0);
    }
  }
  workgroupBarrier();
  // dz3 = [h3 > 0]·W_out[a] (the unit seed at Q(s, a))
  for (var i = t; i < ${RB * Hq}u; i += ${T}u) {
    let r = i / ${Hq}u;
    let a = act[r];
    var v = vec4f(0.0);
    if (a >= 0) { v = select(vec4f(0.0), PH[p.h1w / 4u + u32(a) * ${Hq}u + i % ${Hq}u], hc[i] > vec4f(0.0)); }
    hc[i] = v;
    if (row0 + r < p.rows) { SC[(row0 + r) * ${Wq}u + ${5 * Hq}u + i % ${Hq}u] = v; }
  }
  workgroupBarrier();
  // ∂/∂features = W_h0ᵀ dz3, into ha
  ${layerT({ buf: 'PH', w: 'p.h0w', src: 'hc', body: (r, q, g) => `ha[${r} * ${Hq}u + ${q}] = ${g};` })}
  workgroupBarrier();
  if (t < ${RB}u) {
    var a = 0.0;
    for (var k4 = 0u; k4 < ${Hq}u; k4++) { a += dot(ha[t * ${Hq}u + k4], hb[t * ${Hq}u + k4]); }
    gs[t] = a;
  }
  workgroupBarrier();
  // through the L1Norm and the ReLU: dz2 = [u > 0]·(dv/s − [m ≥ ε]·Σ dv·u/(H·s²))
  for (var i = t; i < ${RB * Hq}u; i += ${T}u) {
    let r = i / ${Hq}u;
    let s = s2[r];
    let v = select(vec4f(0.0), ha[i] / s - vec4f(m2[r] * gs[r] / (${H}.0 * s * s)), hb[i] > vec4f(0.0));
    hc[i] = v;
    if (row0 + r < p.rows) { SC[(row0 + r) * ${Wq}u + ${4 * Hq}u + i % ${Hq}u] = v; }
  }
  workgroupBarrier();
  // dz1 = [h1 > 0]·W1ᵀ dz2 (h1 from the scratch: ha now holds ∂/∂features)
  ${layerT({ buf: 'PE', w: 'p.e1w', src: 'hc', body: (r, q, g) => `if (row0 + ${r} < p.rows) { let o = (row0 + ${r}) * ${Wq}u + ${q}; SC[o + ${3 * Hq}u] = select(vec4f(0.0), ${g}, SC[o] > vec4f(0.0)); }` })}
}`;
}

const rowsSpecs = new Map<string, { name: string; code: string }>();
/**
 * X [B, IN], PE / PH the encoder's and head's parameter buffers (leaf offsets in floats,
 * multiples of 4), QT / QS the next-state values [B, A] at float offsets qt / qs, TR the
 * actions, rewards and dones at float offsets tr_a, tr_r, tr_d, PS the encoder's buffer again
 * (read as floats by the sparse first layer) → SC [B, dqnMlpScratchWidth].
 * ceil(B / DQN_MLP_RB) workgroups.
 */
export function dqnMlpRowsKernel(s: DqnMlpShape, double: boolean) {
  const key = `${s.IN},${s.H},${s.A},${double}`;
  let k = rowsSpecs.get(key);
  if (!k) rowsSpecs.set(key, (k = { name: `dqn_mlp_rows_${double ? 'double' : 'max'}`, code: rowsSource(s, double) }));
  return k;
}

export const DQN_MLP_LOSS = { mse: 0, huber: 1, bev: 2 } as const;
export type DqnMlpPart = 'all' | 'encoder' | 'head';

/** The dw kernel's segments for `part`: weight rows, input vec4s, rows per thread (4, or 1 for the output layer), threads. */
function segments(s: DqnMlpShape, part: DqnMlpPart) {
  const { IN, H, A } = s;
  const enc = [
    { id: 'e0', rows: H, nq: IN / 4, rpt: 4 },
    { id: 'e1', rows: H, nq: H / 4, rpt: 4 },
  ];
  const head = [
    { id: 'h0', rows: H, nq: H / 4, rpt: 4 },
    { id: 'h1', rows: A, nq: H / 4, rpt: 1 },
  ];
  const segs = part === 'all' ? [...enc, ...head] : part === 'encoder' ? enc : head;
  // vec4 columns per thread in the 4-row blocks: more FMAs per load (lavapipe loads per lane)
  const tk = (nq: number) => (nq % 4 === 0 ? 4 : nq % 2 === 0 ? 2 : 1);
  return segs.map((g) => {
    const TK = g.rpt === 4 ? tk(g.nq) : 1;
    return { ...g, TK, threads: (g.rows / g.rpt) * (g.nq / TK) };
  });
}

/**
 * The first layer's weight gradient takes whole workgroups, one per column block (its threads
 * the weight-row blocks j4), so the column block is uniform in each workgroup: see dwSource.
 */
function e0Workgroups(s: DqnMlpShape, part: DqnMlpPart) {
  const g = segments(s, part).find((x) => x.id === 'e0');
  return g ? g.nq / g.TK : 0;
}

/** Threads of the dw kernel for `part` (the first layer's workgroups, the other weight segments, then 5 for the statistics). */
export function dqnMlpDwThreads(s: DqnMlpShape, part: DqnMlpPart) {
  return e0Workgroups(s, part) * WG + segments(s, part).filter((g) => g.id !== 'e0').reduce((a, g) => a + g.threads, 0) + 5;
}

function dwSource(s: DqnMlpShape, loss: number, part: DqnMlpPart) {
  const { IN, H } = s;
  const INq = IN / 4, Hq = H / 4, Wq = dqnMlpScratchWidth(s) / 4, M = 6 * Hq;
  let start = 0;
  const parts: string[] = [];
  const nb0 = e0Workgroups(s, part);
  let e0 = '';
  for (const g of segments(s, part)) {
    if (g.id === 'e0') {
      // The input is a binary MinAtar frame (a few dozen ones among hundreds of cells): a
      // workgroup owns one block of TK vec4 columns, its threads the weight-row blocks j4, so
      // the column block, the batch row and so each input value are uniform in the workgroup,
      // and a column whose input is 0 is skipped by a real branch (lavapipe branches only on
      // uniform conditions; a divergent one runs both ways masked). The terms skipped are
      // fma(0, δ, acc) = acc: the sums are the dense loop's, bit for bit. One vec4 accumulator
      // a column over the block's 4 weight rows.
      const TK = g.TK;
      const acc: string[] = [], body: string[] = [], st: string[] = [];
      for (let c = 0; c < TK; c++) {
        for (let m = 0; m < 4; m++) {
          acc.push(`var a${c}_${m} = vec4f(0.0);`);
          st.push(`{ let w = p.e0w + 4u * j4 * ${IN}u + 4u * (k4 + ${c}u) + ${m}u; G[w] = a${c}_${m}.x; G[w + ${IN}u] = a${c}_${m}.y; G[w + ${2 * IN}u] = a${c}_${m}.z; G[w + ${3 * IN}u] = a${c}_${m}.w; ss += dot(a${c}_${m}, a${c}_${m}); }`);
        }
        body.push(`{
        let xv = X[i * ${INq}u + k4 + ${c}u];
        if (any(xv != vec4f(0.0))) {
          let x = xv * sx;
          ${[0, 1, 2, 3].map((m) => `if (xv.${'xyzw'[m]} != 0.0) { a${c}_${m} = fma(vec4f(x.${'xyzw'[m]}), d, a${c}_${m}); }`).join('\n          ')}
        }
      }`);
      }
      e0 = `if (wg < ${nb0}u) {
    let j4 = lid;
    if (j4 < ${Hq}u) {
    let k4 = wg * ${TK}u;
    ${acc.join(' ')}
    var bs = vec4f(0.0);
    for (var i = 0u; i < B; i++) {
      let o = i * ${Wq}u;
      let d = SC[o + ${3 * Hq}u + j4] * coef(i);
      let sx = 1.0 / SC[o + ${M + 1}u].x;
      ${body.join('\n      ')}
      bs += d;
    }
    ${st.join('\n    ')}
    if (wg == 0u) { let b = p.e0b + 4u * j4; G[b] = bs.x; G[b + 1u] = bs.y; G[b + 2u] = bs.z; G[b + 3u] = bs.w; ss += dot(bs, bs); }
    }
  }`;
      continue;
    }
    if (g.rpt === 4) {
      // a block of 4 weight rows (j4) × 4 columns (k4): the rows' δs are one vec4 of the scratch
      const d = { e0: 3 * Hq, e1: 4 * Hq, h0: 5 * Hq }[g.id as 'e0' | 'e1' | 'h0'];
      // the layer's input (vec4 at column block k4) and its row's scale (the L1Norm divisors)
      const x = { e0: `X[i * ${INq}u + k4]`, e1: `SC[o + k4]`, h0: `SC[o + ${Hq}u + k4]` }[g.id as 'e0' | 'e1' | 'h0'];
      const scale = { e0: `1.0 / SC[o + ${M + 1}u].x`, e1: `1.0`, h0: `1.0 / SC[o + ${M + 1}u].y` }[g.id as 'e0' | 'e1' | 'h0'];
      const TK = g.TK, kbN = g.nq / TK;
      const acc: string[] = [], xs: string[] = [], fm: string[] = [], st: string[] = [];
      for (let c = 0; c < TK; c++) {
        for (let e = 0; e < 4; e++) acc.push(`var c${e}_${c} = vec4f(0.0);`);
        xs.push(`let x${c} = ${x.replace('k4', `k4 + ${c}u`)} * sx;`);
        for (let e = 0; e < 4; e++) fm.push(`c${e}_${c} = fma(x${c}, vec4f(d.${'xyzw'[e]}), c${e}_${c});`);
        for (let e = 0; e < 4; e++) st.push(`{ let w = p.${g.id}w + (4u * j4 + ${e}u) * ${g.nq * 4}u + 4u * (k4 + ${c}u); G[w] = c${e}_${c}.x; G[w + 1u] = c${e}_${c}.y; G[w + 2u] = c${e}_${c}.z; G[w + 3u] = c${e}_${c}.w; ss += dot(c${e}_${c}, c${e}_${c}); }`);
      }
      parts.push(`if (e < ${start + g.threads}u) {
    let q = e - ${start}u;
    let j4 = q / ${kbN}u;
    let k4 = (q % ${kbN}u) * ${TK}u;
    ${acc.join(' ')}
    var bs = vec4f(0.0);
    for (var i = 0u; i < B; i++) {
      let o = i * ${Wq}u;
      let d = SC[o + ${d}u + j4] * coef(i);
      let sx = ${scale};
      ${xs.join('\n      ')}
      ${fm.join('\n      ')}
      bs += d;
    }
    ${st.join('\n    ')}
    if (k4 == 0u) { let b = p.${g.id}b + 4u * j4; G[b] = bs.x; G[b + 1u] = bs.y; G[b + 2u] = bs.z; G[b + 3u] = bs.w; ss += dot(bs, bs); }
  }`);
    } else {
      // the output layer: row j's δ is the unit seed where the action taken is j
      parts.push(`if (e < ${start + g.threads}u) {
    let q = e - ${start}u;
    let j = q / ${g.nq}u;
    let k4 = q % ${g.nq}u;
    var acc = vec4f(0.0);
    var bs = 0.0;
    for (var i = 0u; i < B; i++) {
      let o = i * ${Wq}u;
      if (SC[o + ${M}u].w == f32(j)) {
        let cd = coef(i);
        acc = fma(SC[o + ${2 * Hq}u + k4], vec4f(cd), acc);
        bs += cd;
      }
    }
    let w = p.${g.id}w + j * ${g.nq * 4}u + 4u * k4;
    G[w] = acc.x; G[w + 1u] = acc.y; G[w + 2u] = acc.z; G[w + 3u] = acc.w;
    ss += dot(acc, acc);
    if (k4 == 0u) { G[p.${g.id}b + j] = bs; ss += bs * bs; }
  }`);
    }
    start += g.threads;
  }
  return /* wgsl */ `
const LOSS: u32 = ${loss}u;
struct P { rows: u32, delta: f32, stats: u32, norms: u32, e0w: u32, e0b: u32, e1w: u32, e1b: u32, h0w: u32, h0b: u32, h1w: u32, h1b: u32 }
@group(0) @binding(0) var<storage, read> SC: array<vec4f>;
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> NS: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
var<workgroup> red: array<f32, ${WG}>;
var<private> B: u32;
var<private> dm: f32;
// ∂loss/∂Q(s_i, a_i)
fn coef(i: u32) -> f32 {
  let m = SC[i * ${Wq}u + ${M}u];
  if (LOSS == 1u) { return clamp(m.x - m.y, -p.delta, p.delta) / f32(B); }
  if (LOSS == 2u) { return -2.0 * (m.z - dm) / f32(B); }
  return -2.0 * m.z / f32(B);
}
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nw: vec3u) {
  let wg = wid.x + wid.y * nw.x;
  // the flat thread index of the segments after the first layer's workgroups
  let e = (wg - min(wg, ${nb0}u)) * ${WG}u + lid;
  B = p.rows;
  if (LOSS == 2u || (wg >= ${nb0}u && e >= ${start}u)) {
    var sd = 0.0;
    for (var i = 0u; i < B; i++) { sd += SC[i * ${Wq}u + ${M}u].z; }
    dm = sd / f32(B);
  }
  // the sum of squares of the gradient values this thread wrote (the clip's norm, summed per workgroup)
  var ss = 0.0;
  ${[e0, ...parts].filter((x) => x).join(' else ')}${e0 || parts.length ? ' else ' : ''}if (e - ${start}u < 5u && p.stats != 0u) {
  let q = e - ${start}u;
    // loss, mean Q(s, a), MSBE, BEV (two passes, as tdLoss), mean δ
    var acc = 0.0;
    for (var i = 0u; i < B; i++) {
      let m = SC[i * ${Wq}u + ${M}u];
      var v = m.z;
      if (q == 1u) { v = m.x; }
      if (q == 2u || (q == 0u && LOSS == 0u)) { v = m.z * m.z; }
      if (q == 3u || (q == 0u && LOSS == 2u)) { v = (m.z - dm) * (m.z - dm); }
      if (q == 0u && LOSS == 1u) {
        let ae = abs(m.x - m.y);
        v = select(p.delta * (ae - 0.5 * p.delta), 0.5 * ae * ae, ae <= p.delta);
      }
      acc += v;
    }
    S[q] = acc / f32(B);
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { red[lid] += red[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u && p.norms != 0u) { NS[wg] = red[0]; }
}`;
}

/** Workgroups of the dw kernel for `part` (grid(dqnMlpDwThreads, 64)); with p.norms each writes one partial sum of squares. */
export function dqnMlpDwGroups(s: DqnMlpShape, part: DqnMlpPart): [number, number, number] {
  return [...grid(dqnMlpDwThreads(s, part), WG), 1] as [number, number, number];
}

const dwSpecs = new Map<string, { name: string; code: string }>();
/**
 * SC (the rows kernel's scratch) and X → G (flat gradient: weight rows at p.<seg>w, biases at
 * p.<seg>b, floats) and, with p.stats, S[0..5) = loss, mean Q(s, a), MSBE, BEV, mean δ; with
 * p.norms, NS[w] = the sum of squares of the gradient values workgroup w wrote (w over all the
 * dqnMlpDwGroups workgroups; they write every float of the part's leaves once, so Σ NS is ‖G‖²
 * of the part, summed in another order than a one-pass norm: the clip's scale may differ by
 * rounding). dqnMlpDwGroups workgroups.
 */
export function dqnMlpDwKernel(s: DqnMlpShape, loss: number, part: DqnMlpPart) {
  const key = `${s.IN},${s.H},${s.A},${loss},${part}`;
  let k = dwSpecs.get(key);
  if (!k) dwSpecs.set(key, (k = { name: `dqn_mlp_dw_${part}`, code: dwSource(s, loss, part) }));
  return k;
}
