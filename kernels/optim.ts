// Optimizer kernels: one dispatch updates every parameter of a model, because the parameters,
// the gradients and each optimizer moment live in flat buffers with the same layout (see
// engine/nn/optim.ts). Update rules follow PyTorch's single-tensor implementations exactly
// (bias correction, where eps is added, the first momentum step), so a float64 reference of
// torch.optim reproduces them step for step.
//
// H is a small hyper-parameter buffer the GPU writes and reads without a host round trip:
// H[0] the learning rate when it is given as a tensor (FLAGS bit 0), H[64] the global gradient
// norm written by `gradNormKernel` (clipping enabled by FLAGS bit 1).

import { flatIndex, WG } from './common.ts';

export type OptimKind = 'sgd' | 'adam' | 'rmsprop';

const common = /* wgsl */ `
${flatIndex}
struct Hp { n: u32, flags: u32, lr: f32, wd: f32, max_norm: f32, h0: f32, h1: f32, h2: f32, h3: f32, h4: f32, h5: f32 }
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> H: array<f32>;`;

const prologue = /* wgsl */ `
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let lr = select(p.lr, H[0], (p.flags & 1u) != 0u);
  var g = G[i];
  if ((p.flags & 2u) != 0u) { g *= min(1.0, p.max_norm / (H[64] + 1e-6)); }
  var w = P[i];`;

/** The update kernel of one optimizer family (flags select variants at run time: no pipeline churn). */
export function optimKernel(kind: OptimKind) {
  let bindings = '';
  let body = '';
  if (kind === 'sgd') {
    // h0 momentum, h1 dampening, h2 nesterov (0/1), h3 first step (0/1)
    bindings = `
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> B: array<f32>;
@group(0) @binding(4) var<uniform> p: Hp;`;
    body = `
  g += p.wd * w;
  if (p.h0 != 0.0) {
    let b = select(p.h0 * B[i] + (1.0 - p.h1) * g, g, p.h3 != 0.0);
    B[i] = b;
    g = select(b, g + p.h0 * b, p.h2 != 0.0);
  }
  P[i] = w - lr * g;`;
  } else if (kind === 'adam') {
    // h0 beta1, h1 beta2, h2 eps, h3 bias correction 1, h4 sqrt(bias correction 2), h5 decoupled (AdamW)
    bindings = `
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
@group(0) @binding(5) var<uniform> p: Hp;`;
    body = `
  if (p.h5 != 0.0) { w = w * (1.0 - lr * p.wd); } else { g += p.wd * w; }
  let m = p.h0 * M[i] + (1.0 - p.h0) * g;
  let v = p.h1 * V[i] + (1.0 - p.h1) * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / p.h4 + p.h2;
  P[i] = w - (lr / p.h3) * m / denom;`;
  } else {
    // h0 alpha, h1 eps, h2 momentum, h3 centered (0/1)
    bindings = `
@group(0) @binding(2) var<storage, read_write> P: array<f32>;
@group(0) @binding(3) var<storage, read_write> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> A: array<f32>;
@group(0) @binding(5) var<storage, read_write> B: array<f32>;
@group(0) @binding(6) var<uniform> p: Hp;`;
    body = `
  g += p.wd * w;
  let s = p.h0 * S[i] + (1.0 - p.h0) * g * g;
  S[i] = s;
  var avg: f32;
  if (p.h3 != 0.0) {
    let a = p.h0 * A[i] + (1.0 - p.h0) * g;
    A[i] = a;
    avg = sqrt(max(s - a * a, 0.0)) + p.h1;
  } else {
    avg = sqrt(s) + p.h1;
  }
  if (p.h2 > 0.0) {
    let b = p.h2 * B[i] + g / avg;
    B[i] = b;
    P[i] = w - lr * b;
  } else {
    P[i] = w - lr * g / avg;
  }`;
  }
  return {
    name: `optim_${kind}`,
    code: /* wgsl */ `
${common}
${bindings}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
${prologue}
${body}
}`,
  };
}

/** One workgroup: H[64] = ‖G‖₂ over n elements (no host readback; feeds the clipped update). */
export const gradNormKernel = {
  name: 'grad_norm',
  code: /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read_write> H: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) lid: vec3u) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i += ${WG}u) { let g = G[i]; acc = fma(g, g, acc); }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] += part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { H[64] = sqrt(part[0]); }
}`,
};

/** Threads per workgroup of gradSquarePartialsKernel. */
export const NORM_PARTIALS_WG = 64;

/**
 * The first half of clip_grad_norm_ over many workgroups (engine/nn/optim.ts, for vectors too
 * big for adamClipSmallKernel's one workgroup): NS[w] = Σ G[i]² over the vec4s
 * i = w·64 + lid, + all threads, ... (a grid-stride loop: any number of workgroups covers n);
 * floats past n in the last vec4 count as zero. adamPartialsKernel (below) (the
 * clipped Adam step) or normFinishKernel (the norm alone, for the other optimizers) then add
 * the workgroups' sums in index order. Bindings: G (read), NS. params: n.
 */
export const gradSquarePartialsKernel = {
  name: 'grad_square_partials',
  code: /* wgsl */ `
struct Q { n: u32 }
@group(0) @binding(0) var<storage, read> G: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> NS: array<f32>;
@group(0) @binding(2) var<uniform> p: Q;
var<workgroup> part: array<f32, ${NORM_PARTIALS_WG}>;
@compute @workgroup_size(${NORM_PARTIALS_WG}) fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let n4 = (p.n + 3u) / 4u;
  var acc = 0.0;
  for (var i = wid.x * ${NORM_PARTIALS_WG}u + lid.x; i < n4; i += nw.x * ${NORM_PARTIALS_WG}u) {
    let keep = (vec4u(4u * i) + vec4u(0u, 1u, 2u, 3u)) < vec4u(p.n);
    let g = select(vec4f(0.0), G[i], keep);
    acc += dot(g, g);
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${NORM_PARTIALS_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] += part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { NS[wid.x] = part[0]; }
}`,
};

/** H[64] = sqrt(Σ NS[0..k)) in index order (adamPartialsKernel's sum): the norm the optim kernels' clip reads. params: k. */
export const normFinishKernel = {
  name: 'norm_finish',
  code: /* wgsl */ `
struct Q { k: u32 }
@group(0) @binding(0) var<storage, read> NS: array<f32>;
@group(0) @binding(1) var<storage, read_write> H: array<f32>;
@group(0) @binding(2) var<uniform> p: Q;
@compute @workgroup_size(1) fn main() {
  var ss = 0.0;
  for (var j = 0u; j < p.k; j++) { ss += NS[j]; }
  H[64] = sqrt(ss);
}`,
};

/** Threads per workgroup of adamPartialsKernel. */
export const ADAM_PARTIALS_WG = 64;

/**
 * torch.optim.Adam (no weight decay) with clip_grad_norm_ in ONE dispatch, for a gradient whose
 * producer already summed its squares in pieces: ‖G‖ = sqrt(Σ NS[0..k)) (k = 0: no clip).
 * Each thread adds the k partial sums in the same order, so every thread scales by the same
 * norm; global thread 0 writes it to H[64] (as gradNormKernel). The update is the `optim_adam`
 * rule above (same operations, same order), four floats a thread per vec4, over
 * vec4 i = thread, thread + all threads, ...: any number of workgroups covers n. Floats past n in
 * the last vec4 are left as they are. Bindings: G (read), NS (read), P, M, V, H.
 * params: n, k, then f32 lr, max_norm, b1, b2, eps, bias correction 1, sqrt(bias correction 2).
 */
export const adamPartialsKernel = {
  name: 'adam_partials',
  code: /* wgsl */ `
struct Q { n: u32, k: u32, lr: f32, max_norm: f32, b1: f32, b2: f32, eps: f32, bc1: f32, sbc2: f32 }
@group(0) @binding(0) var<storage, read> G: array<vec4f>;
@group(0) @binding(1) var<storage, read> NS: array<f32>;
@group(0) @binding(2) var<storage, read_write> P: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> M: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> V: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> H: array<f32>;
@group(0) @binding(6) var<uniform> p: Q;
@compute @workgroup_size(${ADAM_PARTIALS_WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  var scale = 1.0;
  if (p.k > 0u) {
    var ss = 0.0;
    for (var j = 0u; j < p.k; j++) { ss += NS[j]; }
    let norm = sqrt(ss);
    scale = min(1.0, p.max_norm / (norm + 1e-6));
    if (gid.x == 0u) { H[64] = norm; }
  }
  let n4 = (p.n + 3u) / 4u;
  let step = nw.x * ${ADAM_PARTIALS_WG}u;
  for (var i = gid.x; i < n4; i += step) {
    var g = G[i];
    if (p.k > 0u) { g *= scale; }
    let w = P[i];
    let m0 = M[i];
    let v0 = V[i];
    let m = p.b1 * m0 + (1.0 - p.b1) * g;
    let v = p.b2 * v0 + (1.0 - p.b2) * g * g;
    let denom = sqrt(v) / p.sbc2 + p.eps;
    let nw4 = w - (p.lr / p.bc1) * m / denom;
    let keep = (vec4u(4u * i) + vec4u(0u, 1u, 2u, 3u)) < vec4u(p.n);
    M[i] = select(m0, m, keep);
    V[i] = select(v0, v, keep);
    P[i] = select(w, nw4, keep);
  }
}`,
};
