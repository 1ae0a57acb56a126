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

const WG = 64;

/** Reduction of four sums over the workgroup. */
const reduce = /* wgsl */ `
var<workgroup> acc: array<vec4f, ${WG}>;
fn wg_sum(t: u32, v: vec4f) -> vec4f {
  acc[t] = v;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (t < w) { acc[t] += acc[t + w]; }
    workgroupBarrier();
  }
  let r = acc[0];
  workgroupBarrier();
  return r;
}`;

/** Indices of the stats vector the forward writes (OUT[0..7]). */
export const TD_STATS = { loss: 0, q_mean: 1, msbe: 2, bev: 3, delta_mean: 4, huber: 5 } as const;

const forwardSource = (loss: number, double: boolean) => /* wgsl */ `
const LOSS: u32 = ${loss}u;
const DOUBLE: bool = ${double};
var<private> INF_BITS: u32 = 0x7f800000u;
struct P { rows: u32, acts: u32, gamma: f32, delta: f32 }
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> QT: array<f32>;
@group(0) @binding(2) var<storage, read> QS: array<f32>;
@group(0) @binding(3) var<storage, read> ACT: array<f32>;
@group(0) @binding(4) var<storage, read> R: array<f32>;
@group(0) @binding(5) var<storage, read> D: array<f32>;
@group(0) @binding(6) var<storage, read_write> YD: array<f32>;
@group(0) @binding(7) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(8) var<uniform> p: P;
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
    let qa = select(0.0, Q[base + min(a, A - 1u)], valid);
    let d = y - qa;
    YD[i] = y;
    YD[B + i] = d;
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
    let c = YD[B + i] - m;
    v += c * c;
  }
  let bev = wg_sum(t, vec4f(v, 0.0, 0.0, 0.0)).x / n;
  if (t == 0u) {
    let msbe = tot.y / n;
    let huber = tot.w / n;
    var loss = msbe;
    if (LOSS == 1u) { loss = huber; }
    if (LOSS == 2u) { loss = bev; }
    OUT[0] = loss;
    OUT[1] = tot.z / n;
    OUT[2] = msbe;
    OUT[3] = bev;
    OUT[4] = m;
    OUT[5] = huber;
    OUT[6] = 0.0;
    OUT[7] = 0.0;
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
export const tdLossKernel = (loss: 0 | 1 | 2, double: boolean) => spec(`td_loss_${loss}_${double ? 'double' : 'max'}`, () => forwardSource(loss, double));

/** Backward: YD, OUT, actions, the cotangent G [1] → dQ [B, A]; WG-sized groups over B·A. Params as the forward. */
export const tdLossBackwardKernel = (loss: 0 | 1 | 2) => spec(`td_loss_backward_${loss}`, () => backwardSource(loss));

export const TD_WG = WG;
