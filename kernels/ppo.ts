// The PPO loss (Schulman et al. 2017, CleanRL's form) and its gradient as two kernels.
//
// Composed from ops, a minibatch's loss is ~30 dispatches forward and as many backward
// (categorical log-prob and entropy, ratio, both clipped surrogates, the clipped value loss,
// four means); on lavapipe each dispatch costs 17–28 µs before any arithmetic. Here:
//  - forward: one workgroup reduces every row's terms to the loss and CleanRL's five statistics
//    (pg_loss, v_loss, entropy, approx_kl, clipfrac) in one dispatch;
//  - backward: one thread per row recomputes its terms and writes ∂loss/∂logits and ∂loss/∂value.
//
// Per row i (A actions, mean over M rows):
//   logp = z_a − lse(z), r = exp(logp − oldLogp), H = lse − Σ p_j z_j
//   pg = max(−adv·r, −adv·clip(r, 1−c, 1+c)); ∂pg/∂r = −adv where the unclipped term is the max
//     (inside the clip range both terms are equal and have that slope), else 0
//   v = ½ max((V−R)², (oldV + clip(V−oldV, −c, c) − R)²) (or ½ (V−R)² without value clipping);
//     ∂v/∂V = V−R where the unclipped term is the max, else vc−R inside the clip range, 0 outside
//   loss = mean(pg) − entCoef·mean(H) + vfCoef·mean(v)
//   ∂loss/∂z_j = (∂pg/∂r · r · (δ_ja − p_j) + entCoef · p_j (log p_j + H)) / M
//
// The per-row data come packed as one [5, M] buffer: actions (as floats), oldLogp, adv,
// returns, oldValues (one upload instead of five, and few storage bindings).

export const PPO_DATA_ROWS = ['actions', 'oldLogp', 'adv', 'returns', 'oldValues'] as const;

const common = /* wgsl */ `
struct P { m: u32, a: u32, clip_v: u32, _pad: u32, clip: f32, vf: f32, ent: f32, _pad2: f32 }
@group(0) @binding(0) var<storage, read> Z: array<f32>;
@group(0) @binding(1) var<storage, read> V: array<f32>;
@group(0) @binding(2) var<storage, read> D: array<f32>;

struct Row { pg: f32, v: f32, h: f32, kl: f32, cf: f32, dpg_dr: f32, dv: f32, r: f32, m: f32, lse: f32, act: u32 }

fn row_terms(i: u32) -> Row {
  var o: Row;
  let base = i * p.a;
  var m = Z[base];
  for (var j = 1u; j < p.a; j++) { m = max(m, Z[base + j]); }
  var s = 0.0;
  var sz = 0.0;
  for (var j = 0u; j < p.a; j++) {
    let e = exp(Z[base + j] - m);
    s += e;
    sz += e * (Z[base + j] - m);
  }
  let lse = log(s);
  let act = u32(clamp(D[i], 0.0, f32(p.a - 1u)));
  let logp = Z[base + act] - m - lse;
  let adv = D[2u * p.m + i];
  let ret = D[3u * p.m + i];
  let oldv = D[4u * p.m + i];
  let logratio = logp - D[p.m + i];
  let r = exp(logratio);
  let pg1 = -adv * r;
  let pg2 = -adv * clamp(r, 1.0 - p.clip, 1.0 + p.clip);
  o.pg = max(pg1, pg2);
  o.dpg_dr = select(0.0, -adv, pg1 >= pg2);
  o.h = lse - sz / s;
  o.kl = (r - 1.0) - logratio;
  o.cf = select(0.0, 1.0, abs(r - 1.0) > p.clip);
  let val = V[i];
  let unc = (val - ret) * (val - ret);
  if (p.clip_v != 0u) {
    let vc = oldv + clamp(val - oldv, -p.clip, p.clip);
    let cl = (vc - ret) * (vc - ret);
    o.v = 0.5 * max(unc, cl);
    // Where the clipped term is the max, its slope is vc − R inside the clip range (clamp passes
    // the gradient) and 0 outside. Inside the range vc equals V up to rounding, so either term
    // may win there: a zero slope for the clipped one silently dropped those rows' gradient.
    o.dv = select(select(0.0, vc - ret, abs(val - oldv) <= p.clip), val - ret, unc >= cl);
  } else {
    o.v = 0.5 * unc;
    o.dv = val - ret;
  }
  o.r = r;
  o.m = m;
  o.lse = lse;
  o.act = act;
  return o;
}`;

const WG = 256;

/** Loss [1] and the statistics [pg_loss, v_loss, entropy, approx_kl, clipfrac] in one workgroup. */
export const ppoLossKernel = {
  name: 'ppo_loss',
  code: /* wgsl */ `
${common}
@group(0) @binding(3) var<storage, read_write> L: array<f32>;
@group(0) @binding(4) var<storage, read_write> S: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
var<workgroup> acc: array<array<f32, ${WG}>, 5>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) t: u32) {
  var sums = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var i = t; i < p.m; i += ${WG}u) {
    let o = row_terms(i);
    sums[0] += o.pg; sums[1] += o.v; sums[2] += o.h; sums[3] += o.kl; sums[4] += o.cf;
  }
  for (var q = 0u; q < 5u; q++) { acc[q][t] = sums[q]; }
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (t < w) { for (var q = 0u; q < 5u; q++) { acc[q][t] += acc[q][t + w]; } }
    workgroupBarrier();
  }
  if (t == 0u) {
    let inv = 1.0 / f32(p.m);
    for (var q = 0u; q < 5u; q++) { S[q] = acc[q][0] * inv; }
    L[0] = S[0] - p.ent * S[2] + p.vf * S[1];
  }
}`,
};

/** ∂loss/∂logits [M, A] and ∂loss/∂value [M], scaled by the loss's cotangent G[0]; one thread per row. */
export const ppoLossBackwardKernel = {
  name: 'ppo_loss_backward',
  code: /* wgsl */ `
${common}
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DZ: array<f32>;
@group(0) @binding(5) var<storage, read_write> DV: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 64u;
  if (i >= p.m) { return; }
  let o = row_terms(i);
  let g = G[0] / f32(p.m);
  let base = i * p.a;
  let cr = o.dpg_dr * o.r;
  for (var j = 0u; j < p.a; j++) {
    let logpj = Z[base + j] - o.m - o.lse;
    let pj = exp(logpj);
    let onehot = select(0.0, 1.0, j == o.act);
    DZ[base + j] = g * (cr * (onehot - pj) + p.ent * pj * (logpj + o.h));
  }
  DV[i] = g * p.vf * o.dv;
}`,
};

// ------------------------------------------------------------------ SPRIG's leader objective

const leaderCommon = /* wgsl */ `
struct LP { m: u32, a: u32, nt: u32, ns: u32, c_cost: f32, c_pol: f32, inv_b: f32, _pad: f32 }
@group(0) @binding(0) var<storage, read> Z: array<f32>;
@group(0) @binding(1) var<storage, read> ACT: array<f32>;
@group(0) @binding(2) var<storage, read> ADV: array<f32>;

/** log π(a_i | s_i) from row i's logits, with the row's max and log-sum-exp. */
fn leader_row(i: u32) -> vec3f {
  let base = i * p.a;
  var m = Z[base];
  for (var j = 1u; j < p.a; j++) { m = max(m, Z[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.a; j++) { s += exp(Z[base + j] - m); }
  let lse = log(s);
  let act = u32(clamp(ACT[i], 0.0, f32(p.a - 1u)));
  return vec3f(Z[base + act] - m - lse, m, lse);
}`;

/**
 * SPRIG's leader objective f = −u_L as ONE reduction (rl/sprig.ts, engine/nn/ppo_loss.ts
 * sprigLeaderLoss): f = c_cost·(Σ gates_T + Σ gates_S)/B − c_pol·mean_i(log π(a_i|s_i)·Â_i),
 * where C_θ = (Σ gates)/B is the attention cost (‖A‖₁ per sample) and (c_cost, c_pol) =
 * (α·λ_c, 1 − α) for Algorithm 1, ((1 − α)·λ_c, α) for Eq. 8. The composed objective was ~14
 * dispatches forward and ~20 backward. Output L[0] = f.
 */
export const sprigLeaderLossKernel = {
  name: 'sprig_leader_loss',
  code: /* wgsl */ `
${leaderCommon}
@group(0) @binding(3) var<storage, read> GT: array<f32>;
@group(0) @binding(4) var<storage, read> GS: array<f32>;
@group(0) @binding(5) var<storage, read_write> L: array<f32>;
@group(0) @binding(6) var<uniform> p: LP;
var<workgroup> acc: array<array<f32, ${WG}>, 2>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) t: u32) {
  var pol = 0.0;
  var gate = 0.0;
  for (var i = t; i < p.m; i += ${WG}u) { pol += leader_row(i).x * ADV[i]; }
  for (var i = t; i < p.nt; i += ${WG}u) { gate += GT[i]; }
  for (var i = t; i < p.ns; i += ${WG}u) { gate += GS[i]; }
  acc[0][t] = pol;
  acc[1][t] = gate;
  workgroupBarrier();
  for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
    if (t < w) { acc[0][t] += acc[0][t + w]; acc[1][t] += acc[1][t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { L[0] = p.c_cost * (acc[1][0] * p.inv_b) - p.c_pol * (acc[0][0] / f32(p.m)); }
}`,
};

/** ∂f/∂logits [M, A] = −c_pol·Â_i·(onehot(a_i) − π_i)/M and ∂f/∂gates = c_cost/B (both layers), times the cotangent G[0]. */
export const sprigLeaderLossBackwardKernel = {
  name: 'sprig_leader_loss_backward',
  code: /* wgsl */ `
${leaderCommon}
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> DZ: array<f32>;
@group(0) @binding(5) var<storage, read_write> DGT: array<f32>;
@group(0) @binding(6) var<storage, read_write> DGS: array<f32>;
@group(0) @binding(7) var<uniform> p: LP;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 64u;
  let g = G[0];
  if (i < p.nt) { DGT[i] = g * p.c_cost * p.inv_b; }
  if (i < p.ns) { DGS[i] = g * p.c_cost * p.inv_b; }
  if (i >= p.m) { return; }
  let r = leader_row(i);
  let act = u32(clamp(ACT[i], 0.0, f32(p.a - 1u)));
  let c = -g * p.c_pol * ADV[i] / f32(p.m);
  let base = i * p.a;
  for (var j = 0u; j < p.a; j++) {
    let pj = exp(Z[base + j] - r.y - r.z);
    DZ[base + j] = c * (select(0.0, 1.0, j == act) - pj);
  }
}`,
};

// ------------------------------------------------------------------ SPRIG's gated residual (inference)

/**
 * The tail of SPRIG's gated attention when nothing is differentiated (acting, the follower's
 * features): per query token t, g = sigmoid(w_g·x_t + b_g), out_t = x_t + g·att_t (+ pos[t mod
 * hw] when ADD_POS: the spatial position the temporal layer's output receives next). One thread
 * per token; the gate, the product and the one or two adds were three or four dispatches.
 * X, ATT [n, d]; PP the packed perception (w_g, b_g, pos at the offsets given); OUT [n, d];
 * GATES [n]. params: n, d, hw, add_pos (0/1), w_g, b_g and pos offsets (floats).
 */
export const sprigGatedResidualKernel = {
  name: 'sprig_gated_residual',
  code: /* wgsl */ `
struct Q { n: u32, d: u32, hw: u32, add_pos: u32, wg: u32, bg: u32, pos: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> ATT: array<f32>;
@group(0) @binding(2) var<storage, read> PP: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(4) var<storage, read_write> GATES: array<f32>;
@group(0) @binding(5) var<uniform> p: Q;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let t = gid.x + gid.y * nw.x * 64u;
  if (t >= p.n) { return; }
  let b = t * p.d;
  var z = PP[p.bg];
  for (var e = 0u; e < p.d; e++) { z = fma(PP[p.wg + e], X[b + e], z); }
  let g = 1.0 / (1.0 + exp(-z));
  GATES[t] = g;
  let pb = p.pos + (t % p.hw) * p.d;
  for (var e = 0u; e < p.d; e++) {
    var o = X[b + e] + g * ATT[b + e];
    if (p.add_pos != 0u) { o += PP[pb + e]; }
    OUT[b + e] = o;
  }
}`,
};
