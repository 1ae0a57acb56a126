// SCORER's L1Norm layer, y = x / max(mean|x|, ε) over each row, and its gradient as one kernel
// each way.
//
// Composed from ops the layer is abs, sum, div, maximum, div forward (5 dispatches) and about 8
// backward; the released MinAtar encoder has two of them, and a DQN update runs the encoder
// three times (online, and the target twice for Double DQN's targets): about 40 of a DQN
// update's 64 dispatches were L1Norm on lavapipe, where each dispatch costs ~20–30 µs before any
// arithmetic. Here one workgroup owns a row; it reduces with workgroup memory.
//
// Per row of n values (m = mean|x|, s = max(m, ε); ties at m = ε send the gradient into m, as
// the composed `maximum` does):
//   y_j  = x_j / s
//   dx_k = g_k / s − [m ≥ ε] · sign(x_k) / n · Σ_j g_j x_j / s²

import { wgSumWgsl } from './common.ts';

const WG = 64;

const reduce = wgSumWgsl('vec2f', WG) + /* wgsl */ `
fn row_of(wid: vec3u, nw: vec3u) -> u32 { return wid.x + wid.y * nw.x; }`;

/** y [R, n] from x [R, n]; one workgroup per row (grid over rows). Params: rows, n, ε. */
export const l1NormKernel = {
  name: 'l1norm',
  code: /* wgsl */ `
struct P { rows: u32, n: u32, eps: f32, _pad: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${reduce}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = row_of(wid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var a = 0.0;
  for (var j = t; j < p.n; j += ${WG}u) { a += abs(X[base + j]); }
  let s = max(wg_sum(t, vec2f(a, 0.0)).x / f32(p.n), p.eps);
  for (var j = t; j < p.n; j += ${WG}u) { Y[base + j] = X[base + j] / s; }
}`,
};

/** dx [R, n] from x and the cotangent g (both [R, n]). Params as the forward. */
export const l1NormBackwardKernel = {
  name: 'l1norm_backward',
  code: /* wgsl */ `
struct P { rows: u32, n: u32, eps: f32, _pad: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${reduce}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = row_of(wid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.n;
  var v = vec2f(0.0);
  for (var j = t; j < p.n; j += ${WG}u) {
    let x = X[base + j];
    v += vec2f(abs(x), G[base + j] * x);
  }
  let tot = wg_sum(t, v);
  let m = tot.x / f32(p.n);
  let s = max(m, p.eps);
  let c = select(0.0, tot.y / (s * s * f32(p.n)), m >= p.eps);
  for (var j = t; j < p.n; j += ${WG}u) { DX[base + j] = G[base + j] / s - sign(X[base + j]) * c; }
}`,
};
