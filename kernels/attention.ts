// Attention kernel family: scaled dot-product attention over [B, H, L, D] queries and
// [B, H, S, D] keys/values, with an optional keep-mask (any tensor broadcastable to
// [B, H, L, S], nonzero = attend) and an optional causal mask (key j ≤ query i).
//
//   attn_fwd     one thread per query row: an online softmax over key tiles of BK keys
//                (running max m, running sum l, rescaled accumulator), so no L×S score matrix
//                is ever stored; writes O and the row log-sum-exp (for the backward).
//   attn_bwd_q   one thread per query row: recomputes P = exp(s − lse), writes
//                Δᵢ = dOᵢ·Oᵢ and dQᵢ = scale Σⱼ Pᵢⱼ (dOᵢ·Vⱼ − Δᵢ) Kⱼ.
//   attn_bwd_kv  one thread per key row: recomputes P column-wise, writes
//                dVⱼ = Σᵢ Pᵢⱼ dOᵢ and dKⱼ = scale Σᵢ Pᵢⱼ (dOᵢ·Vⱼ − Δᵢ) Qᵢ.
// STATS holds [lse (B·H·L) | Δ (B·H·L)], so no kernel binds more than 8 storage buffers.
// No atomics and no workgroup memory (what lavapipe prefers); D is baked into the source so
// per-thread rows live in private arrays; BK and the workgroup size come from kernels/tune.ts.

import type { AttentionTile } from './tune.ts';

const P = /* wgsl */ `
struct P { bh: u32, l: u32, s: u32, h: u32, scale: f32, has_mask: u32, causal: u32, pad0: u32, ms: vec4u, nthreads: u32 }
const NEG: f32 = -1e30;
fn thread_index(gid: vec3u, nw: vec3u, wg: u32) -> u32 { return gid.x + gid.y * nw.x * wg; }
fn keep(bh: u32, i: u32, j: u32) -> bool {
  if (p.causal != 0u && j > i) { return false; }
  if (p.has_mask != 0u) {
    let b = bh / p.h;
    let hh = bh % p.h;
    return Mask[b * p.ms.x + hh * p.ms.y + i * p.ms.z + j * p.ms.w] != 0.0;
  }
  return true;
}`;

export function attentionFwdKernel(D: number, t: AttentionTile) {
  return {
    name: `attn_fwd_d${D}_bk${t.BK}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> Mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> STATS: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
${P}
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let bh = tid / p.l;
  let i = tid % p.l;
  let qb = tid * ${D}u;
  let kb = bh * p.s * ${D}u;
  var q: array<f32, ${D}>;
  var acc: array<f32, ${D}>;
  for (var d = 0u; d < ${D}u; d++) { q[d] = Q[qb + d] * p.scale; acc[d] = 0.0; }
  var m = NEG;
  var l = 0.0;
  var sc: array<f32, ${t.BK}>;
  for (var j0 = 0u; j0 < p.s; j0 += ${t.BK}u) {
    var tmax = NEG;
    for (var jj = 0u; jj < ${t.BK}u; jj++) {
      let j = j0 + jj;
      var s = NEG;
      if (j < p.s && keep(bh, i, j)) {
        s = 0.0;
        let kr = kb + j * ${D}u;
        for (var d = 0u; d < ${D}u; d++) { s = fma(q[d], K[kr + d], s); }
      }
      sc[jj] = s;
      tmax = max(tmax, s);
    }
    if (tmax <= NEG) { continue; }
    let mnew = max(m, tmax);
    let corr = exp(m - mnew);
    l *= corr;
    for (var d = 0u; d < ${D}u; d++) { acc[d] *= corr; }
    for (var jj = 0u; jj < ${t.BK}u; jj++) {
      if (sc[jj] <= NEG) { continue; }
      let pj = exp(sc[jj] - mnew);
      l += pj;
      let vr = kb + (j0 + jj) * ${D}u;
      for (var d = 0u; d < ${D}u; d++) { acc[d] = fma(pj, V[vr + d], acc[d]); }
    }
    m = mnew;
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var d = 0u; d < ${D}u; d++) { O[qb + d] = acc[d] * inv; }
  STATS[tid] = select(NEG, m + log(l), l > 0.0);
}`,
  };
}

export function attentionBwdQKernel(D: number, t: AttentionTile) {
  return {
    name: `attn_bwd_q_d${D}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> Mask: array<f32>;
@group(0) @binding(4) var<storage, read> O: array<f32>;
@group(0) @binding(5) var<storage, read> DO: array<f32>;
@group(0) @binding(6) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(7) var<storage, read_write> STATS: array<f32>;
@group(0) @binding(8) var<uniform> p: P;
${P}
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let bh = tid / p.l;
  let i = tid % p.l;
  let qb = tid * ${D}u;
  let kb = bh * p.s * ${D}u;
  var q: array<f32, ${D}>;
  var g: array<f32, ${D}>;
  var acc: array<f32, ${D}>;
  var delta = 0.0;
  for (var d = 0u; d < ${D}u; d++) {
    q[d] = Q[qb + d] * p.scale;
    g[d] = DO[qb + d];
    acc[d] = 0.0;
    delta = fma(g[d], O[qb + d], delta);
  }
  STATS[p.nthreads + tid] = delta;
  let lse = STATS[tid];
  for (var j = 0u; j < p.s; j++) {
    if (!keep(bh, i, j)) { continue; }
    let kr = kb + j * ${D}u;
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < ${D}u; d++) {
      s = fma(q[d], K[kr + d], s);
      dp = fma(g[d], V[kr + d], dp);
    }
    let ds = exp(s - lse) * (dp - delta);
    for (var d = 0u; d < ${D}u; d++) { acc[d] = fma(ds, K[kr + d], acc[d]); }
  }
  for (var d = 0u; d < ${D}u; d++) { DQ[qb + d] = acc[d] * p.scale; }
}`,
  };
}

export function attentionBwdKVKernel(D: number, t: AttentionTile) {
  return {
    name: `attn_bwd_kv_d${D}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> Q: array<f32>;
@group(0) @binding(1) var<storage, read> K: array<f32>;
@group(0) @binding(2) var<storage, read> V: array<f32>;
@group(0) @binding(3) var<storage, read> Mask: array<f32>;
@group(0) @binding(4) var<storage, read> STATS: array<f32>;
@group(0) @binding(5) var<storage, read> DO: array<f32>;
@group(0) @binding(6) var<storage, read_write> DK: array<f32>;
@group(0) @binding(7) var<storage, read_write> DV: array<f32>;
@group(0) @binding(8) var<uniform> p: P;
${P}
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let bh = tid / p.s;
  let j = tid % p.s;
  let kr = tid * ${D}u;
  let qbase = bh * p.l;
  var k: array<f32, ${D}>;
  var v: array<f32, ${D}>;
  var dk: array<f32, ${D}>;
  var dv: array<f32, ${D}>;
  for (var d = 0u; d < ${D}u; d++) { k[d] = K[kr + d] * p.scale; v[d] = V[kr + d]; dk[d] = 0.0; dv[d] = 0.0; }
  for (var i = 0u; i < p.l; i++) {
    if (!keep(bh, i, j)) { continue; }
    let qr = (qbase + i) * ${D}u;
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < ${D}u; d++) {
      s = fma(Q[qr + d], k[d], s);
      dp = fma(DO[qr + d], v[d], dp);
    }
    let pij = exp(s - STATS[qbase + i]);
    let ds = pij * (dp - STATS[p.bh * p.l + qbase + i]);
    for (var d = 0u; d < ${D}u; d++) {
      dv[d] = fma(pij, DO[qr + d], dv[d]);
      dk[d] = fma(ds, Q[qr + d], dk[d]);
    }
  }
  for (var d = 0u; d < ${D}u; d++) { DK[kr + d] = dk[d] * p.scale; DV[kr + d] = dv[d]; }
}`,
  };
}

// ---------------------------------------------------------------- composed path's row kernels
//
// The composed attention path (batched matmuls; what the tuner picks on lavapipe at SPRIG's
// shape) saves the probabilities P of its forward and needs two row passes besides matmuls:
//   attn_probs_rows      P = softmax(scale·S) per row (unmasked: the scale folded in)
//   attn_softmax_bwd     dS = scale·P ⊙ (dP − Σⱼ dP ⊙ P) per row (the softmax backward with the
//                        score scale folded in, so dQ = dS·K and dK = dSᵀ·Q need no extra pass;
//                        masked entries have P = 0, so masks need nothing here)
// One thread per row of c = S entries.

const rowMain = /* wgsl */ `
struct P { rows: u32, c: u32, scale: f32 }
fn row_index(gid: vec3u, nw: vec3u) -> u32 { return gid.x + gid.y * nw.x * 64u; }`;

export const attnProbsKernel = {
  name: 'attn_probs_rows',
  code: /* wgsl */ `
${rowMain}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = row_index(gid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  var m = p.scale * X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, p.scale * X[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let e = exp(p.scale * X[base + j] - m);
    Y[base + j] = e;
    s += e;
  }
  let inv = 1.0 / s;
  for (var j = 0u; j < p.c; j++) { Y[base + j] = Y[base + j] * inv; }
}`,
};

export const attnSoftmaxBwdKernel = {
  name: 'attn_softmax_bwd',
  code: /* wgsl */ `
${rowMain}
@group(0) @binding(0) var<storage, read> PR: array<f32>;
@group(0) @binding(1) var<storage, read> DP: array<f32>;
@group(0) @binding(2) var<storage, read_write> DS: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = row_index(gid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  var d = 0.0;
  for (var j = 0u; j < p.c; j++) { d = fma(DP[base + j], PR[base + j], d); }
  for (var j = 0u; j < p.c; j++) { DS[base + j] = p.scale * PR[base + j] * (DP[base + j] - d); }
}`,
};
