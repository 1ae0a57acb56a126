// The TD loss of the DQN family and SCORER as one kernel each way.
//
// Composed from ops, a DQN update's loss is the target (max or argmax + one-hot gather, 1 − d,
// ·γ, ·next, + r: 5–8 dispatches), Q(s, a) (eq against arange, mul, sum: 3), the loss (1 for
// MSE/Huber, ~8 for SCORER's Bellman-error variance) and their gradients (5–10 more): a dozen
// to thirty dispatches of a few hundred floats each, on lavapipe ~20–45 µs apiece before any
// arithmetic. Here the forward is one single-workgroup dispatch (the batch is small: 32–128
// rows) and the gradient one element-wise dispatch.
//
// Per row i (A actions; q the online Q-values, qT the target network's next-state values, qS
// the online selector's for Double DQN):
//   next_i = max_j qT[i, j]            (DQN)       or qT[i, argmax_j qS[i, j]] (Double, first index on ties)
//   y_i    = r_i + ((1 − d_i)·γ)·next_i             (no gradient: a constant of the loss)
//   qa_i   = q[i, a_i]                               (0 for an action outside [0, A), as the one-hot gather)
//   δ_i    = y_i − qa_i
// LOSS 0 (MSE = MSBE): mean δ²;  1 (Huber, torch's smooth-L1 at `delta`): mean h(qa − y);
// 2 (BEV): mean (δ − mean δ)², the population variance over the batch.
// dL/dq[i, j] = [j = a_i] · g · c_i with c_i = −2δ_i/B, clamp(qa_i − y_i, ±delta)/B, −2(δ_i − mean δ)/B.

import { wgSumWgsl } from './common.ts';

const WG = 64;
/** Head mode: the statistics at YO[0..8), then y and δ from this (view-aligned) offset. */
export const OUT_PAD = 64;

/** Reduction of four sums over the workgroup. */
const reduce = wgSumWgsl('vec4f', WG);

/** Indices of the stats vector the forward writes (OUT[0..7]). */
export const TD_STATS = { loss: 0, q_mean: 1, msbe: 2, bev: 3, delta_mean: 4, huber: 5 } as const;

const forwardSource = (loss: number, double: boolean, head: boolean) => /* wgsl */ `
const LOSS: u32 = ${loss}u;
const DOUBLE: bool = ${double};
var<private> INF_BITS: u32 = 0x7f800000u;
${head ? `struct P { rows: u32, acts: u32, gamma: f32, delta: f32, hid: u32, wo: u32, bo: u32 }
@group(0) @binding(0) var<storage, read> HID: array<f32>;
@group(0) @binding(1) var<storage, read> PW: array<f32>;
@group(0) @binding(2) var<storage, read> QT: array<f32>;
@group(0) @binding(3) var<storage, read> QS: array<f32>;
@group(0) @binding(4) var<storage, read> ACT: array<f32>;
@group(0) @binding(5) var<storage, read> R: array<f32>;
@group(0) @binding(6) var<storage, read> D: array<f32>;
@group(0) @binding(7) var<storage, read_write> YO: array<f32>;
@group(0) @binding(8) var<uniform> p: P;
// Q(s, a) = h·W[a] + b[a] of the output layer, only at the action taken
fn q_at(i: u32, a: u32) -> f32 {
  var acc = 0.0;
  for (var m = 0u; m < p.hid; m++) { acc += HID[i * p.hid + m] * PW[p.wo + a * p.hid + m]; }
  return acc + PW[p.bo + a];
}
fn put_yd(k: u32, v: f32) { YO[${OUT_PAD}u + k] = v; }
fn get_yd(k: u32) -> f32 { return YO[${OUT_PAD}u + k]; }
fn put_out(k: u32, v: f32) { YO[k] = v; }` : `struct P { rows: u32, acts: u32, gamma: f32, delta: f32 }
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> QT: array<f32>;
@group(0) @binding(2) var<storage, read> QS: array<f32>;
@group(0) @binding(3) var<storage, read> ACT: array<f32>;
@group(0) @binding(4) var<storage, read> R: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;
@group(0) @binding(6) var<storage, read_write> YD: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<uniform> p: P;
fn q_at(i: u32, a: u32) -> f32 { return Q[i * p.acts + a]; }
fn put_yd(k: u32, v: f32) { YD[k] = v; }
fn get_yd(k: u32) -> f32 { return YD[k]; }
fn put_out(k: u32, v: f32) { OUT[k] = v; }`}
${reduce}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) t: u32) {
  let B = p.rows;
  let A = p.acts;
  var s = vec4f(0.0);
  for (var i = t; i < B; i += ${WG}u) {
    let base = i * A;
    var next = -bitcast<f32>(INF_BITS);
    if (DOUBLE) {
      // argmax of the selector, the engine's tie and NaN rule (first index wins), then gather
      var best = -bitcast<f32>(INF_BITS);
      var bi = 0xffffffffu;
      for (var j = 0u; j < A; j++) {
        let v = QS[base + j];
        if (v > best || (v == best && j < bi) || (v != v && best == best)) { best = v; bi = j; }
      }
      next = select(0.0, QT[base + min(bi, A - 1u)], bi < A);
    } else {
      for (var j = 0u; j < A; j++) {
        let v = QT[base + j];
        next = select(max(next, v), v, v != v);
      }
    }
    let y = R[i] + ((1.0 - D[i]) * p.gamma) * next;
    let a = u32(max(ACT[i], 0.0));
    let valid = ACT[i] >= 0.0 && a < A && f32(a) == ACT[i];
    var qa = 0.0;
    if (valid) { qa = q_at(i, a); }
    let d = y - qa;
    put_yd(i, y);
    put_yd(B + i, d);
    let e = qa - y;
    let ae = abs(e);
    let h = select(p.delta * (ae - 0.5 * p.delta), 0.5 * e * e, ae <= p.delta);
    s += vec4f(d, d * d, qa, h);
  }
  let tot = wg_sum(t, s);
  let n = f32(B);
  let m = tot.x / n;
  // BEV in two passes (mean first), as the composed mean((δ − mean δ)²): no cancellation.
  var v = 0.0;
  for (var i = t; i < B; i += ${WG}u) {
    let c = get_yd(B + i) - m;
    v += c * c;
  }
  let bev = wg_sum(t, vec4f(v, 0.0, 0.0, 0.0)).x / n;
  if (t == 0u) {
    let msbe = tot.y / n;
    let huber = tot.w / n;
    var loss = msbe;
    if (LOSS == 1u) { loss = huber; }
    if (LOSS == 2u) { loss = bev; }
    put_out(0u, loss);
    put_out(1u, tot.z / n);
    put_out(2u, msbe);
    put_out(3u, bev);
    put_out(4u, m);
    put_out(5u, huber);
    put_out(6u, 0.0);
    put_out(7u, 0.0);
  }
}`;

const backwardSource = (loss: number) => /* wgsl */ `
const LOSS: u32 = ${loss}u;
struct P { rows: u32, acts: u32, gamma: f32, delta: f32 }
@group(0) @binding(0) var<storage, read> YD: array<f32>;
@group(0) @binding(1) var<storage, read> OUT: array<f32>;
@group(0) @binding(2) var<storage, read> ACT: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let k = gid.x + gid.y * nw.x * ${WG}u;
  let B = p.rows;
  let A = p.acts;
  if (k >= B * A) { return; }
  let i = k / A;
  let j = k % A;
  let d = YD[B + i];
  let gn = G[0] / f32(B);
  var c = -2.0 * d;
  if (LOSS == 1u) { c = clamp(-d, -p.delta, p.delta); }
  if (LOSS == 2u) { c = -2.0 * (d - OUT[4]); }
  let hit = ACT[i] >= 0.0 && f32(j) == ACT[i];
  DQ[k] = select(0.0, c * gn, hit);
}`;

const backwardHeadSource = (loss: number) => /* wgsl */ `
const LOSS: u32 = ${loss}u;
struct P { rows: u32, acts: u32, gamma: f32, delta: f32, hid: u32, wo: u32, bo: u32, ow: u32, ob: u32 }
@group(0) @binding(0) var<storage, read> YO: array<f32>;
@group(0) @binding(1) var<storage, read> ACT: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> HID: array<f32>;
@group(0) @binding(4) var<storage, read> PW: array<f32>;
@group(0) @binding(5) var<storage, read_write> GO: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
// dL/dQ(s_i, a_i) (zero for an action outside [0, A))
fn c_of(i: u32) -> f32 {
  let B = p.rows;
  let d = YO[${OUT_PAD}u + B + i];
  var c = -2.0 * d;
  if (LOSS == 1u) { c = clamp(-d, -p.delta, p.delta); }
  if (LOSS == 2u) { c = -2.0 * (d - YO[4]); }
  return c * (G[0] / f32(B));
}
fn act_of(i: u32) -> u32 {
  let x = ACT[i];
  let a = u32(max(x, 0.0));
  return select(0xffffffffu, a, x >= 0.0 && a < p.acts && f32(a) == x);
}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let k = gid.x + gid.y * nw.x * ${WG}u;
  let B = p.rows;
  let A = p.acts;
  let H = p.hid;
  if (k < B * H) {
    // dh[i, m] = c_i · W[a_i, m]
    let i = k / H;
    let a = act_of(i);
    GO[k] = select(0.0, c_of(i) * PW[p.wo + min(a, A - 1u) * H + k % H], a < A);
    return;
  }
  let k2 = k - B * H;
  if (k2 < A * H) {
    // dW[a, m] = Σ_i [a_i = a] c_i · h[i, m]
    let a = k2 / H;
    let m = k2 % H;
    var acc = 0.0;
    for (var i = 0u; i < B; i++) { if (act_of(i) == a) { acc += c_of(i) * HID[i * H + m]; } }
    GO[p.ow + k2] = acc;
    return;
  }
  let a = k2 - A * H;
  if (a < A) {
    var acc = 0.0;
    for (var i = 0u; i < B; i++) { if (act_of(i) == a) { acc += c_of(i); } }
    GO[p.ob + a] = acc;
  }
}`;

const specs = new Map<string, { name: string; code: string }>();
function spec(key: string, make: () => string) {
  let s = specs.get(key);
  if (!s) specs.set(key, (s = { name: key, code: make() }));
  return s;
}

/**
 * Forward: Q [B, A], QT [B, A], QS [B, A] (read only when double), actions, rewards, dones [B]
 * → YD [2B] (y, then δ), OUT [8] (TD_STATS). One workgroup. Params: rows, acts, γ, Huber delta.
 */
export const tdLossKernel = (loss: 0 | 1 | 2, double: boolean) => spec(`td_loss_${loss}_${double ? 'double' : 'max'}`, () => forwardSource(loss, double, false));

/**
 * Head mode: Q(s, a) from the output layer, h [B, H]·W[a] + b[a], W and b read from one
 * parameter buffer at float offsets wo, bo. Inputs h, params, QT, QS, actions, rewards, dones →
 * YO: OUT [8] then (at OUT_PAD) y, δ. Params: rows, acts, γ, Huber delta, H, wo, bo.
 */
export const tdLossHeadKernel = (loss: 0 | 1 | 2, double: boolean) => spec(`td_loss_head_${loss}_${double ? 'double' : 'max'}`, () => forwardSource(loss, double, true));

/**
 * Head mode backward: YO, actions, the cotangent G, h, params → GO: dh [B, H] at 0, dW [A, H]
 * at ow, db [A] at ob, over B·H + A·H + A threads. Params as the forward plus ow, ob.
 */
export const tdLossHeadBackwardKernel = (loss: 0 | 1 | 2) => spec(`td_loss_head_backward_${loss}`, () => backwardHeadSource(loss));

/** Backward: YD, OUT, actions, the cotangent G [1] → dQ [B, A]; WG-sized groups over B·A. Params as the forward. */
export const tdLossBackwardKernel = (loss: 0 | 1 | 2) => spec(`td_loss_backward_${loss}`, () => backwardSource(loss));

export const TD_WG = WG;
