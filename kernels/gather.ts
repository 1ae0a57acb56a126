// Gather along an axis (torch.gather semantics: the output has the index tensor's shape) and
// its adjoint, scatter-add. WGSL has no float atomics, so scatter-add is written as a gather
// over the adjoint: each output element loops over the index positions along the axis and
// sums the matching upstream values. That is O(|dx| · K) for K indices per row: cheap for the
// RL uses (picking log-probs / Q-values of taken actions), and deterministic.
// Indices are f32 values holding integers; out-of-range indices are clamped to the axis.

import { flatIndex, packedAt, WG } from './common.ts';

// params: n, rank, axis, _; ishape[8] (index/output shape); xstrides[8]; xshape[8]
export const gatherKernel = {
  name: 'gather',
  code: /* wgsl */ `
${flatIndex}
${packedAt}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, axis: u32, _p: u32, ishape: array<vec4u, 2>, xs: array<vec4u, 2>, xshape: array<vec4u, 2> }
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  var rem = i;
  var off = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let n = at8(p.ishape, u32(d));
    var c = rem % n;
    rem = rem / n;
    if (u32(d) == p.axis) {
      c = u32(clamp(I[i], 0.0, f32(at8(p.xshape, u32(d)) - 1u)));
    }
    off += c * at8(p.xs, u32(d));
  }
  O[i] = X[off];
}`,
};

// dx[pos] = sum_k g[pos with axis=k] * (idx[pos with axis=k] == pos[axis]), over positions inside the
// index shape. params: n (= |dx|), rank, axis, kAxis (index extent along axis); xshape[8]; istrides[8]; ishape[8]
export const scatterAddKernel = {
  name: 'scatter_add',
  code: /* wgsl */ `
${flatIndex}
${packedAt}
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> I: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, axis: u32, kaxis: u32, xshape: array<vec4u, 2>, is: array<vec4u, 2>, ishape: array<vec4u, 2> }
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  var rem = i;
  var off = 0u;
  var tgt = 0u;
  var inside = true;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let n = at8(p.xshape, u32(d));
    let c = rem % n;
    rem = rem / n;
    if (u32(d) == p.axis) { tgt = c; }
    else {
      if (c >= at8(p.ishape, u32(d))) { inside = false; }
      off += c * at8(p.is, u32(d));
    }
  }
  var acc = 0.0;
  if (inside) {
    let stride = at8(p.is, p.axis);
    let hi = f32(at8(p.xshape, p.axis) - 1u);
    for (var k = 0u; k < p.kaxis; k++) {
      let j = off + k * stride;
      if (u32(clamp(I[j], 0.0, hi)) == tgt) { acc += G[j]; }
    }
  }
  O[i] = acc;
}`,
};
