// Conjugate gradient in one dispatch per iteration (engine/solvers.ts drives it).
//
// An iteration of CG needs two global reductions (pᵀAp before the step, ‖r‖² after it) with
// vector updates in between; as separate ops that is ~19 dispatches. Here one workgroup does
// the whole iteration: the reductions finish inside the workgroup (barriers, no second
// dispatch), and every thread updates the same elements it reduced, so no grid-wide sync is
// needed. One workgroup is the right shape for the sizes CG runs on in this project (critics
// of 10³–10⁵ parameters), where per-dispatch overhead, not bandwidth, is the cost.
//
// Scalars live in a small GPU state buffer S (never read back by the solver):
//   S[0] ‖r‖²   S[1] tol²‖b‖² (−1 when tol is off)   S[2] stopped (negative curvature, 'stop' mode)
//   S[3] number of directions seen with pᵀ(A+λI)p ≤ 0      S[64 + k] ‖r_k‖ (the residual history)
//
// Modes (MODE override): 0 = start (R holds r₀ = b − (A+λI)x₀, AP holds b: writes S, P = R),
// 1 = iterate (AP holds A·p without λ).
// The _acc variants also accumulate Z[acc_z + i] = Σ_k α_k T[acc_t + i] (i < acc_n; Z is set, not
// added to, on the first iteration k = 1): a tangent the product computes from p, carried along with
// x = Σ_k α_k p_k (x₀ = 0) so that it need not be recomputed at x.

import { WG } from './common.ts';

/** Offset of the residual history in the state buffer (a VIEW_ALIGN_FLOATS multiple, so it can be a subView). */
export const CG_HIST = 64;
/** What happens on a direction with pᵀ(A+λI)p ≤ 0. */
export const CG_NEG_MODES = { stop: 0, damp: 1, ignore: 2 } as const;

const reduce2 = /* wgsl */ `
var<workgroup> ra: array<f32, ${WG}>;
var<workgroup> rb: array<f32, ${WG}>;
fn reduce2(lid: u32, a: f32, b: f32) -> vec2f {
  ra[lid] = a;
  rb[lid] = b;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ra[lid] += ra[lid + s]; rb[lid] += rb[lid + s]; }
    workgroupBarrier();
  }
  let out = vec2f(ra[0], rb[0]);
  workgroupBarrier();
  return out;
}`;

/**
 * The kernel; `vec4` (n % 4 == 0) reads and writes the vectors as vec4: a quarter of the loop
 * iterations and 16-byte accesses. One workgroup runs on one core of a CPU adapter, where the
 * scalar loops over ~10⁵ elements cost more than the dispatch itself (lavapipe, 72k-parameter
 * critic: docs/kernels.md).
 */
export function cgKernelFor(vec4: boolean, acc = false) {
  const T = vec4 ? 'vec4f' : 'f32';
  const sq = (a: string) => (vec4 ? `dot(${a}, ${a})` : `${a} * ${a}`);
  const dotp = (a: string, b: string) => (vec4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  const V = (x: string) => (vec4 ? `vec4f(${x})` : x);
  return {
    name: `${vec4 ? 'cg_iteration_vec4' : 'cg_iteration'}${acc ? '_acc' : ''}`,
    code: /* wgsl */ `
override MODE: u32 = 1u;
struct Params { n: u32, k: u32, neg_mode: u32, hist: u32, lambda: f32, mu: f32, tol2: f32, pad: f32, acc_n: u32, acc_t: u32, acc_z: u32 }
@group(0) @binding(0) var<storage, read> AP: array<${T}>;
@group(0) @binding(1) var<storage, read_write> X: array<${T}>;
@group(0) @binding(2) var<storage, read_write> R: array<${T}>;
@group(0) @binding(3) var<storage, read_write> P: array<${T}>;
@group(0) @binding(4) var<storage, read_write> S: array<f32>;
${acc ? `@group(0) @binding(5) var<storage, read> T: array<f32>;
@group(0) @binding(6) var<storage, read_write> Z: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;` : '@group(0) @binding(5) var<uniform> p: Params;'}
${reduce2}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  let n = ${vec4 ? 'p.n / 4u' : 'p.n'};
  if (MODE == 0u) {
    var rr = 0.0;
    var bb = 0.0;
    for (var i = lid; i < n; i += ${WG}u) {
      let r = R[i];
      P[i] = r;
      rr += ${sq('r')};
      bb += ${sq('AP[i]')};
    }
    let t = reduce2(lid, rr, bb);
    if (lid == 0u) {
      S[0] = t.x;
      S[1] = select(-1.0, p.tol2 * t.y, p.tol2 > 0.0);
      S[2] = 0.0;
      S[3] = 0.0;
      if (p.hist != 0u) { S[${CG_HIST}u] = sqrt(t.x); }
    }
    return;
  }
  // Every thread reads the scalars before any reduction barrier; thread 0 writes them at the end.
  let rs = S[0];
  let thresh = S[1];
  let stopped = S[2] != 0.0;
  var pap = 0.0;
  var pp = 0.0;
  for (var i = lid; i < n; i += ${WG}u) {
    let pi = P[i];
    pap += ${dotp('pi', 'AP[i]')};
    pp += ${sq('pi')};
  }
  let t = reduce2(lid, pap, pp);
  let curv = t.x + p.lambda * t.y;
  // A zero residual (exact convergence) is not a negative-curvature event: there is no direction.
  let converged = rs <= thresh || rs == 0.0;
  let live0 = !stopped && !converged;
  let neg = curv <= 0.0 && t.y > 0.0;
  var live = live0;
  var den = curv;
  if (neg) {
    if (p.neg_mode == 0u) { live = false; }
    else if (p.neg_mode == 1u) { den = abs(curv) + p.mu * t.y; }
  }
  let alpha = select(0.0, rs / den, live && den != 0.0);
  var rr = 0.0;
  for (var i = lid; i < n; i += ${WG}u) {
    let pi = P[i];
    X[i] = fma(${V('alpha')}, pi, X[i]);
    let r = R[i] - alpha * (AP[i] + p.lambda * pi);
    R[i] = r;
    rr += ${sq('r')};
  }
${acc ? `  // the same step along the tangent the product computed from p (linear in p): Z = Σ_k α_k T(p_k)
  for (var i = lid; i < p.acc_n; i += ${WG}u) {
    let z = select(Z[p.acc_z + i], 0.0, p.k == 1u);
    Z[p.acc_z + i] = fma(alpha, T[p.acc_t + i], z);
  }
` : ''}  let rsNew = reduce2(lid, rr, 0.0).x;
  if (live) {
    let beta = rsNew / rs;
    for (var i = lid; i < n; i += ${WG}u) { P[i] = R[i] + beta * P[i]; }
  }
  storageBarrier();
  if (lid == 0u) {
    let newRs = select(rs, rsNew, live);
    S[0] = newRs;
    if (neg && live0) {
      S[3] = S[3] + 1.0;
      if (p.neg_mode == 0u) { S[2] = 1.0; }
    }
    if (p.hist != 0u) { S[${CG_HIST}u + p.k] = sqrt(newRs); }
  }
}`,
  };
}

export const cgKernel = cgKernelFor(false);
export const cgKernelVec4 = cgKernelFor(true);
/** The same, also accumulating Z += α·T over a range (kernels/cg.ts, Params.acc_*): engine/solvers.ts's side-output accumulation. */
export const cgKernelAcc = cgKernelFor(false, true);
export const cgKernelVec4Acc = cgKernelFor(true, true);
