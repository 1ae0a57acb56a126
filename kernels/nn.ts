// Fused network kernels: linear (matmul + bias + activation), row softmax / log-softmax,
// categorical log-prob and entropy, diagonal-Gaussian log-prob, and MSE / Huber losses.
//
// Layouts: Linear weights are [out, in] (PyTorch's layout, so checkpoints map 1:1): y = x·Wᵀ + b.
// With that layout both x's rows and W's rows are contiguous along the reduction axis, so the
// fused linear kernel reads both with vec4 loads and forms TM×TN dot products per thread
// (register blocking, no workgroup memory: what wins on lavapipe; tile sizes come from
// kernels/tune.ts per adapter). ACT and HAS_BIAS are pipeline-overridable constants.

import { flatIndex, WG, actWgsl } from './common.ts';

export interface LinearTile {
  TM: number;
  TN: number;
  WX: number;
  WY: number;
}
export const DEFAULT_LINEAR_TILE: LinearTile = { TM: 4, TN: 4, WX: 8, WY: 8 };

export { ACTIVATIONS, type Activation } from './common.ts';
const actFn = actWgsl;

/** y[M,N] = act(x[M,K]·W[N,K]ᵀ + b[N]); vec4 variant needs K % 4 == 0. */
export function linearKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const lines: string[] = [];
  for (let i = 0; i < t.TM; i++) lines.push(`let xr${i} = min(row + ${i}u, p.m - 1u) * kk;`);
  for (let j = 0; j < t.TN; j++) lines.push(`let wr${j} = min(col + ${j}u, p.n - 1u) * kk;`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) lines.push(`var c${i}_${j} = 0.0;`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(`let a${i} = X[xr${i} + k];`);
  for (let j = 0; j < t.TN; j++) body.push(`let w${j} = W[wr${j} + k];`);
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++) body.push(vec4 ? `c${i}_${j} += dot(a${i}, w${j});` : `c${i}_${j} = fma(a${i}, w${j}, c${i}_${j});`);
  const store: string[] = [];
  for (let j = 0; j < t.TN; j++) store.push(`let b${j} = select(0.0, Bias[min(col + ${j}u, p.n - 1u)], HAS_BIAS);`);
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++)
      store.push(`if (row + ${i}u < p.m && col + ${j}u < p.n) { Y[(row + ${i}u) * p.n + col + ${j}u] = act(c${i}_${j} + b${j}); }`);
  return {
    name: `linear_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${t.TN}`,
    code: /* wgsl */ `
${actFn}
struct P { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> X: array<${T}>;
@group(0) @binding(1) var<storage, read> W: array<${T}>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${t.TN}u;
  if (row >= p.m || col >= p.n) { return; }
  let kk = ${vec4 ? 'p.k / 4u' : 'p.k'};
  ${lines.join('\n  ')}
  for (var k = 0u; k < kk; k++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
}

// ---------------------------------------------------------------- row kernels (one thread per row)

const rowHead = /* wgsl */ `
${flatIndex}
struct P { rows: u32, c: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;`;

/** MODE 0: softmax, 1: log-softmax, over contiguous rows of length c. */
export const softmaxKernel = {
  name: 'softmax_rows',
  code: /* wgsl */ `
override MODE: u32 = 0u;
${rowHead}
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = flat_index(gid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  var m = X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) { s += exp(X[base + j] - m); }
  if (MODE == 0u) {
    let inv = 1.0 / s;
    for (var j = 0u; j < p.c; j++) { Y[base + j] = exp(X[base + j] - m) * inv; }
  } else {
    let l = m + log(s);
    for (var j = 0u; j < p.c; j++) { Y[base + j] = X[base + j] - l; }
  }
}`,
};

/** MODE 0: log p(a) = x[a] - logsumexp(x) (A holds the actions); MODE 1: entropy -Σ p log p. */
export const categoricalKernel = {
  name: 'categorical_rows',
  code: /* wgsl */ `
override MODE: u32 = 0u;
${rowHead}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = flat_index(gid, nw);
  if (r >= p.rows) { return; }
  let base = r * p.c;
  var m = X[base];
  for (var j = 1u; j < p.c; j++) { m = max(m, X[base + j]); }
  var s = 0.0;
  var sx = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let e = exp(X[base + j] - m);
    s += e;
    sx += e * (X[base + j] - m);
  }
  let lse = log(s);
  if (MODE == 0u) {
    let a = u32(clamp(A[r], 0.0, f32(p.c - 1u)));
    Y[r] = X[base + a] - m - lse;
  } else {
    // H = lse - Σ p (x - m), with p = e / s.
    Y[r] = lse - sx / s;
  }
}`,
};

/**
 * Σ over the last axis of log N(x | mean, exp(logStd)). Each operand is either the full
 * [rows, c] shape (stride flag 1) or one row of c values shared by every row (flag 0).
 */
export const gaussianLogProbKernel = {
  name: 'gaussian_logprob_rows',
  code: /* wgsl */ `
${flatIndex}
struct P { rows: u32, c: u32, fx: u32, fm: u32, fs: u32 }
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> M: array<f32>;
@group(0) @binding(2) var<storage, read> S: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let r = flat_index(gid, nw);
  if (r >= p.rows) { return; }
  var acc = 0.0;
  for (var j = 0u; j < p.c; j++) {
    let x = X[r * p.c * p.fx + j];
    let mu = M[r * p.c * p.fm + j];
    let ls = S[r * p.c * p.fs + j];
    let z = (x - mu) * exp(-ls);
    acc += -0.5 * z * z - ls - 0.91893853320467274;
  }
  Y[r] = acc;
}`,
};

/** One workgroup reduces the whole tensor: MODE 0: mean (p - t)²; MODE 1: mean Huber(p - t; delta). */
export const lossKernel = {
  name: 'loss_mean',
  code: /* wgsl */ `
override MODE: u32 = 0u;
struct P { n: u32, delta: f32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
var<workgroup> part: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) lid: vec3u) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i += ${WG}u) {
    let d = A[i] - B[i];
    if (MODE == 0u) {
      acc += d * d;
    } else {
      let a = abs(d);
      acc += select(p.delta * (a - 0.5 * p.delta), 0.5 * d * d, a <= p.delta);
    }
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] += part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { Y[0] = part[0] / f32(p.n); }
}`,
};

// ---------------------------------------------------------------- fused linear backward

/** WGSL: act′ written from the activation's output y (the forward kernel keeps only y). */
const dactFn = /* wgsl */ `
fn dact(y: f32) -> f32 {
  switch ACT {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}`;
const dactWgsl = /* wgsl */ `
override ACT: u32 = 0u;
override HAS_BIAS: bool = true;${dactFn}`;

/**
 * dX[M,K] = (G ⊙ act′(Y))[M,N] · W[N,K]: the input gradient of y = act(x·Wᵀ + b) in one
 * dispatch (the activation's derivative is applied while G is read, never stored). Each thread
 * a TM×TN register block over (rows of dX, K); vec4 over K when K % 4 == 0.
 */
export function linearBackInputKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const V = vec4 ? 4 : 1;
  const TN = Math.max(1, Math.round(t.TN / V));
  const L: string[] = [];
  for (let i = 0; i < t.TM; i++) L.push(`let r${i} = min(row + ${i}u, p.m - 1u) * p.n;`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) L.push(`var c${i}_${j} = ${T}(0.0);`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(`let g${i} = G[r${i} + n] * dact(Y[r${i} + n]);`);
  for (let j = 0; j < TN; j++) body.push(`let w${j} = W[n * kk + min(col + ${j}u, kk - 1u)];`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) body.push(`c${i}_${j} = fma(${T}(g${i}), w${j}, c${i}_${j});`);
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < TN; j++) store.push(`if (row + ${i}u < p.m && col + ${j}u < kk) { DX[(row + ${i}u) * kk + col + ${j}u] = c${i}_${j}; }`);
  return {
    name: `linear_bwd_x_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${TN * V}`,
    code: /* wgsl */ `
${dactWgsl}
struct P { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<${T}>;
@group(0) @binding(3) var<storage, read_write> DX: array<${T}>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let kk = p.k / ${V}u;
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${TN}u;
  if (row >= p.m || col >= kk) { return; }
  ${L.join('\n  ')}
  for (var n = 0u; n < p.n; n++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
}

/**
 * dW[N,K] = (G ⊙ act′(Y))ᵀ · X[M,K] and db[N] = Σ_m G ⊙ act′(Y), in one dispatch: each thread
 * a TM×TN register block of dW (TM output features × TN input features, vec4 over K when
 * K % 4 == 0), reducing over the batch; the threads of the first K block also sum db.
 */
export function linearBackWeightKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const V = vec4 ? 4 : 1;
  const TN = Math.max(1, Math.round(t.TN / V));
  const L: string[] = [];
  for (let i = 0; i < t.TM; i++) L.push(`let o${i} = min(row + ${i}u, p.n - 1u);`);
  for (let j = 0; j < TN; j++) L.push(`let x${j} = min(col + ${j}u, kk - 1u);`);
  for (let i = 0; i < t.TM; i++) {
    L.push(`var s${i} = 0.0;`);
    for (let j = 0; j < TN; j++) L.push(`var c${i}_${j} = ${T}(0.0);`);
  }
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(`let g${i} = G[m * p.n + o${i}] * dact(Y[m * p.n + o${i}]);`, `s${i} += g${i};`);
  for (let j = 0; j < TN; j++) body.push(`let a${j} = X[m * kk + x${j}];`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) body.push(`c${i}_${j} = fma(${T}(g${i}), a${j}, c${i}_${j});`);
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++) {
    for (let j = 0; j < TN; j++) store.push(`if (row + ${i}u < p.n && col + ${j}u < kk) { DW[(row + ${i}u) * kk + col + ${j}u] = c${i}_${j}; }`);
    store.push(`if (HAS_BIAS && col == 0u && row + ${i}u < p.n) { DB[row + ${i}u] = s${i}; }`);
  }
  return {
    name: `linear_bwd_w_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${TN * V}`,
    code: /* wgsl */ `
${dactWgsl}
struct P { m: u32, n: u32, k: u32 }
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<${T}>;
@group(0) @binding(3) var<storage, read_write> DW: array<${T}>;
@group(0) @binding(4) var<storage, read_write> DB: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let kk = p.k / ${V}u;
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${TN}u;
  if (row >= p.n || col >= kk) { return; }
  ${L.join('\n  ')}
  for (var m = 0u; m < p.m; m++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
}

// ---------------------------------------------------------------- dual (value + tangent) linear kernels
//
// Forward mode through a linear layer and through its backward, each in one dispatch, so that a
// Hessian-vector product (the jvp of a gradient) costs about the dispatches of a gradient. The
// tangent of every operand is optional (an override flag; an absent one is bound to the primal
// and never read). Value and tangent are written into ONE output buffer, the tangent at a
// 256-byte-aligned float offset (params.toff), so no kernel here binds more than 8 storage
// buffers (WebGPU's default limit).
//
// For y = act(z), act′ and its derivative are written from y:
//   d(act′(y))/dt = act″·ẏ with act″(y) = −2y (tanh), 1 − 2y (sigmoid), 0 (relu, none).

const dualHead = /* wgsl */ `
${actWgsl}
override HAS_T0: bool = true;
override HAS_T1: bool = true;
override HAS_T2: bool = true;
// false: a replay (engine/solvers.ts) whose primal outputs are already in OUT: tangents only
override PRIMAL: bool = true;${dactFn}
fn ddact(y: f32) -> f32 {
  switch ACT {
    case 2u: { return -2.0 * y; }
    case 3u: { return 1.0 - 2.0 * y; }
    default: { return 0.0; }
  }
}
struct P { m: u32, n: u32, k: u32, toff: u32 }`;

/**
 * y = act(x·Wᵀ + b) and ẏ = act′(y) ⊙ (ẋ·Wᵀ + x·Ẇᵀ + ḃ) in one dispatch. Bindings X, W, Bias,
 * TX (HAS_T0), TW (HAS_T1), TB (HAS_T2); OUT holds y at 0 and ẏ at toff. vec4 needs K % 4 == 0.
 */
export function linearDualKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const mul = (a: string, b: string) => (vec4 ? `dot(${a}, ${b})` : `${a} * ${b}`);
  const L: string[] = [];
  for (let i = 0; i < t.TM; i++) L.push(`let xr${i} = min(row + ${i}u, p.m - 1u) * kk;`);
  for (let j = 0; j < t.TN; j++) L.push(`let wr${j} = min(col + ${j}u, p.n - 1u) * kk;`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) L.push(`var c${i}_${j} = 0.0;`, `var d${i}_${j} = 0.0;`);
  // One pass over K per product (X·W, TX·W, X·TW), each with the plain kernel's register
  // profile (one operand block of each side and one accumulator block). One pass reading X, W,
  // TX and TW together held four operand blocks and two accumulator blocks at once and spilled
  // on lavapipe (each vec4 lane of an invocation is a SIMD register there): the tangent-only
  // replay of a 256×256 layer ran ~3× the plain forward for 2× its multiply-adds.
  const pass = (a: string, b: string, acc: string) => {
    const out: string[] = [];
    for (let i = 0; i < t.TM; i++) out.push(`let a${i} = ${a}[xr${i} + k];`);
    for (let j = 0; j < t.TN; j++) out.push(`let w${j} = ${b}[wr${j} + k];`);
    for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) out.push(`${acc}${i}_${j} += ${mul(`a${i}`, `w${j}`)};`);
    return `for (var k = 0u; k < kk; k++) {\n      ${out.join('\n      ')}\n    }`;
  };
  const store: string[] = [];
  for (let j = 0; j < t.TN; j++) {
    store.push(`let b${j} = select(0.0, Bias[min(col + ${j}u, p.n - 1u)], HAS_BIAS);`);
    store.push(`let tb${j} = select(0.0, TB[min(col + ${j}u, p.n - 1u)], HAS_T2);`);
  }
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++)
      store.push(
        `if (row + ${i}u < p.m && col + ${j}u < p.n) { let o = (row + ${i}u) * p.n + col + ${j}u; var y = OUT[o]; if (PRIMAL) { y = act(c${i}_${j} + b${j}); OUT[o] = y; } OUT[p.toff + o] = dact(y) * (d${i}_${j} + tb${j}); }`,
      );
  return {
    name: `linear_dual_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${t.TN}`,
    code: /* wgsl */ `
${dualHead}
@group(0) @binding(0) var<storage, read> X: array<${T}>;
@group(0) @binding(1) var<storage, read> W: array<${T}>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read> TX: array<${T}>;
@group(0) @binding(4) var<storage, read> TW: array<${T}>;
@group(0) @binding(5) var<storage, read> TB: array<f32>;
@group(0) @binding(6) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(7) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${t.TN}u;
  if (row >= p.m || col >= p.n) { return; }
  let kk = ${vec4 ? 'p.k / 4u' : 'p.k'};
  ${L.join('\n  ')}
  if (PRIMAL) {
    ${pass('X', 'W', 'c')}
  }
  if (HAS_T0) {
    ${pass('TX', 'W', 'd')}
  }
  if (HAS_T1) {
    ${pass('X', 'TW', 'd')}
  }
  ${store.join('\n  ')}
}`,
  };
}

/** WGSL lines: e = g ⊙ act′(y) and its tangent ė = ġ ⊙ act′(y) + g ⊙ act″(y) ⊙ ẏ, for row i at flat index `at`. */
function dualCotangent(i: number, at: string): string[] {
  return [
    `let g${i} = G[${at}];`,
    `let y${i} = Y[${at}];`,
    `let s${i} = dact(y${i});`,
    `let e${i} = g${i} * s${i};`,
    `var te${i} = 0.0;`,
    `if (HAS_T0) { te${i} = TG[${at}] * s${i}; }`,
    `if (HAS_T1) { te${i} = fma(g${i} * ddact(y${i}), TY[${at}], te${i}); }`,
  ];
}

/**
 * dX = (G ⊙ act′(Y))·W and its tangent d(dX) = Ė·W + E·Ẇ (Ė as in dualCotangent), one dispatch.
 * Bindings G, Y, W, TG (HAS_T0), TY (HAS_T1; only tanh/sigmoid need it), TW (HAS_T2); OUT holds dX
 * at 0 and its tangent at toff. vec4 over K when K % 4 == 0.
 */
export function linearBackInputDualKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const V = vec4 ? 4 : 1;
  const TN = Math.max(1, Math.round(t.TN / V));
  const L: string[] = [];
  for (let i = 0; i < t.TM; i++) L.push(`let r${i} = min(row + ${i}u, p.m - 1u) * p.n;`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) L.push(`var c${i}_${j} = ${T}(0.0);`, `var d${i}_${j} = ${T}(0.0);`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(...dualCotangent(i, `r${i} + n`));
  for (let j = 0; j < TN; j++) body.push(`let w${j} = W[n * kk + min(col + ${j}u, kk - 1u)];`);
  const cp: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < TN; j++) {
      cp.push(`c${i}_${j} = fma(${T}(e${i}), w${j}, c${i}_${j});`);
      body.push(`d${i}_${j} = fma(${T}(te${i}), w${j}, d${i}_${j});`);
    }
  body.push(`if (PRIMAL) {\n      ${cp.join('\n      ')}\n    }`);
  const tw: string[] = [];
  for (let j = 0; j < TN; j++) tw.push(`let tw${j} = TW[n * kk + min(col + ${j}u, kk - 1u)];`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) tw.push(`d${i}_${j} = fma(${T}(e${i}), tw${j}, d${i}_${j});`);
  body.push(`if (HAS_T2) {\n      ${tw.join('\n      ')}\n    }`);
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < TN; j++)
      store.push(`if (row + ${i}u < p.m && col + ${j}u < kk) { let o = (row + ${i}u) * kk + col + ${j}u; if (PRIMAL) { OUT[o] = c${i}_${j}; } OUT[toffv + o] = d${i}_${j}; }`);
  return {
    name: `linear_bwd_x_dual_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${TN * V}`,
    code: /* wgsl */ `
${dualHead}
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<${T}>;
@group(0) @binding(3) var<storage, read> TG: array<f32>;
@group(0) @binding(4) var<storage, read> TY: array<f32>;
@group(0) @binding(5) var<storage, read> TW: array<${T}>;
@group(0) @binding(6) var<storage, read_write> OUT: array<${T}>;
@group(0) @binding(7) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let kk = p.k / ${V}u;
  let toffv = p.toff / ${V}u;
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${TN}u;
  if (row >= p.m || col >= kk) { return; }
  ${L.join('\n  ')}
  for (var n = 0u; n < p.n; n++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
}

/**
 * dW = Eᵀ·X, db = Σ_m E (E = G ⊙ act′(Y)) and their tangents Ėᵀ·X + Eᵀ·Ẋ and Σ_m Ė, one dispatch.
 * Bindings G, Y, X, TG (HAS_T0), TY (HAS_T1), TX (HAS_T2); OUT (f32) holds dW at 0, its tangent
 * at toff, db at boff and its tangent at boff + tboff (db only with HAS_BIAS).
 */
export function linearBackWeightDualKernel(t: LinearTile, vec4: boolean) {
  const T = vec4 ? 'vec4f' : 'f32';
  const V = vec4 ? 4 : 1;
  const TN = Math.max(1, Math.round(t.TN / V));
  const L: string[] = [];
  for (let i = 0; i < t.TM; i++) L.push(`let o${i} = min(row + ${i}u, p.n - 1u);`);
  for (let j = 0; j < TN; j++) L.push(`let x${j} = min(col + ${j}u, kk - 1u);`);
  for (let i = 0; i < t.TM; i++) {
    L.push(`var s${i}_b = 0.0;`, `var t${i}_b = 0.0;`);
    for (let j = 0; j < TN; j++) L.push(`var c${i}_${j} = ${T}(0.0);`, `var d${i}_${j} = ${T}(0.0);`);
  }
  const body: string[] = [];
  const cp: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(...dualCotangent(i, `m * p.n + o${i}`), `t${i}_b += te${i};`);
  for (let i = 0; i < t.TM; i++) cp.push(`s${i}_b += e${i};`);
  for (let j = 0; j < TN; j++) body.push(`let a${j} = X[m * kk + x${j}];`);
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < TN; j++) {
      cp.push(`c${i}_${j} = fma(${T}(e${i}), a${j}, c${i}_${j});`);
      body.push(`d${i}_${j} = fma(${T}(te${i}), a${j}, d${i}_${j});`);
    }
  body.push(`if (PRIMAL) {\n      ${cp.join('\n      ')}\n    }`);
  const tx: string[] = [];
  for (let j = 0; j < TN; j++) tx.push(`let ta${j} = TX[m * kk + x${j}];`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN; j++) tx.push(`d${i}_${j} = fma(${T}(e${i}), ta${j}, d${i}_${j});`);
  body.push(`if (HAS_T2) {\n      ${tx.join('\n      ')}\n    }`);
  const put = (at: string, v: string) =>
    vec4 ? `{ let q = (${at}) * 4u; OUT[q] = ${v}.x; OUT[q + 1u] = ${v}.y; OUT[q + 2u] = ${v}.z; OUT[q + 3u] = ${v}.w; }` : `OUT[${at}] = ${v};`;
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++) {
    for (let j = 0; j < TN; j++)
      store.push(`if (row + ${i}u < p.n && col + ${j}u < kk) { let o = (row + ${i}u) * kk + col + ${j}u; if (PRIMAL) { ${put('o', `c${i}_${j}`)} } ${put('toffv + o', `d${i}_${j}`)} }`);
    store.push(`if (HAS_BIAS && col == 0u && row + ${i}u < p.n) { if (PRIMAL) { OUT[p.boff + row + ${i}u] = s${i}_b; } OUT[p.boff + p.tboff + row + ${i}u] = t${i}_b; }`);
  }
  return {
    name: `linear_bwd_w_dual_${vec4 ? 'vec4' : 'scalar'}_${t.TM}x${TN * V}`,
    code: /* wgsl */ `
${dualHead.replace('struct P { m: u32, n: u32, k: u32, toff: u32 }', 'struct P { m: u32, n: u32, k: u32, toff: u32, boff: u32, tboff: u32 }')}
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> X: array<${T}>;
@group(0) @binding(3) var<storage, read> TG: array<f32>;
@group(0) @binding(4) var<storage, read> TY: array<f32>;
@group(0) @binding(5) var<storage, read> TX: array<${T}>;
@group(0) @binding(6) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(7) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let kk = p.k / ${V}u;
  let toffv = p.toff / ${V}u;
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${TN}u;
  if (row >= p.n || col >= kk) { return; }
  ${L.join('\n  ')}
  for (var m = 0u; m < p.m; m++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
}

/**
 * mean((A − B)²) and its tangent (2/n)·Σ (A − B)(Ȧ − Ḃ) in one workgroup: OUT[0] the value,
 * OUT[64] the tangent. TA (HAS_T0) / TB (HAS_T1) optional.
 */
export const mseDualKernel = {
  name: 'mse_dual',
  code: /* wgsl */ `
override HAS_T0: bool = true;
override HAS_T1: bool = true;
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> TA: array<f32>;
@group(0) @binding(3) var<storage, read> TB: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
var<workgroup> part: array<vec2f, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) lid: vec3u) {
  var acc = vec2f(0.0);
  for (var i = lid.x; i < p.n; i += ${WG}u) {
    let d = A[i] - B[i];
    var td = 0.0;
    if (HAS_T0) { td = TA[i]; }
    if (HAS_T1) { td -= TB[i]; }
    acc += vec2f(d * d, d * td);
  }
  part[lid.x] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid.x < s) { part[lid.x] += part[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    OUT[0] = part[0].x / f32(p.n);
    OUT[64] = 2.0 * part[0].y / f32(p.n);
  }
}`,
};

/**
 * The MSE backward inside a top-level jvp: d = c·g·(A − B) with c = 2/n (g the one-element
 * cotangent) and ḋ = c·(ġ·(A − B) + g·(Ȧ − Ḃ)); OUT holds d at 0 and ḋ at toff.
 * TA (HAS_T0), TB (HAS_T1), TG (HAS_T2) optional; PRIMAL = false writes ḋ only (a replay).
 */
export const mseBackwardDualKernel = {
  name: 'mse_bwd_dual',
  code: /* wgsl */ `
${flatIndex}
override HAS_T0: bool = true;
override HAS_T1: bool = true;
override HAS_T2: bool = true;
override PRIMAL: bool = true;
struct P { n: u32, toff: u32, c: f32 }
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> TA: array<f32>;
@group(0) @binding(4) var<storage, read> TB: array<f32>;
@group(0) @binding(5) var<storage, read> TG: array<f32>;
@group(0) @binding(6) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(7) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let d = A[i] - B[i];
  let g = G[0];
  var td = 0.0;
  if (HAS_T0) { td = TA[i]; }
  if (HAS_T1) { td -= TB[i]; }
  var t = g * td;
  if (HAS_T2) { t = fma(TG[0], d, t); }
  if (PRIMAL) { OUT[i] = p.c * g * d; }
  OUT[p.toff + i] = p.c * t;
}`,
};

/**
 * The tangent halves of a 1-wide output layer and the MSE loss on it, as CG's replayed products
 * run them (engine/solvers.ts, fuseOutputTangent): the four dispatches linear (dual), mse backward
 * (dual), linear backward dx and dw (dual), each a few thousand multiply-adds on lavapipe, in one
 * workgroup. With x, ẋ the layer's input and its tangent, W, Ẇ, ḃ its weight [1, K], bias and their
 * tangents (ACT none), g the loss's incoming gradient (a scalar) and c = 2/M:
 *   q̇ = ẋ·Wᵀ + x·Ẇᵀ + ḃ,  ġ = c·g·q̇,  (dX)˙ = ġ·W + e·Ẇ,  (dW)˙ = ġᵀ·x + eᵀ·ẋ,  (db)˙ = Σ ġ,
 * where e = c·g·(q − y) is the loss gradient the mse kernel wrote (primal half of its output). Each
 * tangent goes where its own kernel wrote it (every output's primal half is left as it is).
 * `roles` maps each operand to one of at most 8 storage bindings (buffers bound once, whole):
 * X, TX, W, TW, TB, G, AO (q, q̇), BO (e, ġ), CO (dX, dẊ), DO (dW, dẆ, db, ḋb).
 */
export function outputTangentKernel(roles: Record<string, number>, bindings: number) {
  const b = (r: string) => `b${roles[r]}`;
  return {
    name: `output_tangent_${Object.values(roles).join('')}`,
    code: /* wgsl */ `
override HAS_TX: bool = true;
override HAS_TW: bool = true;
override HAS_TB: bool = true;
override HAS_BIAS: bool = true;
struct P { m: u32, k: u32, c: f32, x: u32, tx: u32, w: u32, tw: u32, tb: u32, g: u32, aot: u32, bo: u32, bot: u32, cot: u32, dot: u32, dbt: u32 }
${Array.from({ length: bindings }, (_, i) => `@group(0) @binding(${i}) var<storage, read_write> b${i}: array<f32>;`).join('\n')}
@group(0) @binding(${bindings}) var<uniform> p: P;
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32) {
  let cg = p.c * ${b('G')}[p.g];
  for (var m = lid; m < p.m; m += 256u) {
    var s = 0.0;
    if (HAS_TB) { s = ${b('TB')}[p.tb]; }
    for (var k = 0u; k < p.k; k++) {
      if (HAS_TX) { s = fma(${b('TX')}[p.tx + m * p.k + k], ${b('W')}[p.w + k], s); }
      if (HAS_TW) { s = fma(${b('X')}[p.x + m * p.k + k], ${b('TW')}[p.tw + k], s); }
    }
    ${b('AO')}[p.aot + m] = s;
    ${b('BO')}[p.bot + m] = cg * s;
  }
  storageBarrier();
  // a thread per column k: the row loop reads e and ġ at the same address in every lane
  for (var k = lid; k < p.k; k += 256u) {
    let w = ${b('W')}[p.w + k];
    var tw = 0.0;
    if (HAS_TW) { tw = ${b('TW')}[p.tw + k]; }
    var s = 0.0;
    for (var m = 0u; m < p.m; m++) {
      let e = ${b('BO')}[p.bo + m];
      let ge = ${b('BO')}[p.bot + m];
      ${b('CO')}[p.cot + m * p.k + k] = fma(e, tw, ge * w);
      s = fma(ge, ${b('X')}[p.x + m * p.k + k], s);
      if (HAS_TX) { s = fma(e, ${b('TX')}[p.tx + m * p.k + k], s); }
    }
    ${b('DO')}[p.dot + k] = s;
  }
  if (HAS_BIAS && lid == 0u) {
    var s = 0.0;
    for (var m = 0u; m < p.m; m++) { s += ${b('BO')}[p.bot + m]; }
    ${b('DO')}[p.dbt] = s;
  }
}`,
  };
}

/** The most batch rows outputDualKernel keeps in workgroup memory (e and ė: 16 KiB, WebGPU's guaranteed minimum). */
export const OUTPUT_DUAL_MAX_ROWS = 2048;

/**
 * A fresh forward-over-reverse HVP's 1-wide output layer and MSE loss, value and tangent
 * (engine/solvers.ts, hessianVectorProduct): the four dispatches linear (dual), mse backward
 * (dual), linear backward dx (dual, both halves: the layer below reads dX) and dw (dual, tangent
 * only: the weight gradient's value is dead in the product), each a few thousand multiply-adds,
 * in one workgroup. With x, ẋ the layer's input [M, K] and its tangent, W, Ẇ [1, K], b, ḃ its
 * weight, bias and their tangents (ACT none), t the target, g the loss's incoming gradient (a
 * scalar) and c = 2/M, per row q = x·Wᵀ + b, q̇ = ẋ·Wᵀ + x·Ẇᵀ + ḃ, e = c·g·(q − t), ė = c·g·q̇;
 * then dX = e·W, (dX)˙ = ė·W + e·Ẇ, (dW)˙ = ėᵀ·x + eᵀ·ẋ, (db)˙ = Σ ė, each where its own kernel
 * wrote it (CO: dX at co, its tangent at cot; DO: the tangents at dot and dbt). With SEED_CONST,
 * g is the parameter gv (the backward's seed, a fill of one element nothing else reads). e and ė pass
 * between the two phases in workgroup memory (M ≤ OUTPUT_DUAL_MAX_ROWS). `roles` maps each
 * operand to a storage binding (each distinct buffer bound once, read_write):
 * X, TX, W, TW, TB, B (bias), G, T (target), CO, DO.
 */
export function outputDualKernel(roles: Record<string, number>, bindings: number) {
  const b = (r: string) => `b${roles[r]}`;
  return {
    name: `output_dual_${Object.values(roles).join('')}`,
    code: /* wgsl */ `
override HAS_TX: bool = true;
override HAS_TW: bool = true;
override HAS_TB: bool = true;
override HAS_BIAS: bool = true;
// true: g is the constant p.gv (the backward's seed, whose fill dispatch is then not run)
override SEED_CONST: bool = false;
struct P { m: u32, k: u32, c: f32, x: u32, tx: u32, w: u32, tw: u32, tb: u32, g: u32, b: u32, t: u32, co: u32, cot: u32, dot: u32, dbt: u32, gv: f32 }
${Array.from({ length: bindings }, (_, i) => `@group(0) @binding(${i}) var<storage, read_write> b${i}: array<f32>;`).join('\n')}
@group(0) @binding(${bindings}) var<uniform> p: P;
var<workgroup> ee: array<vec2f, ${OUTPUT_DUAL_MAX_ROWS}>;
@compute @workgroup_size(256) fn main(@builtin(local_invocation_index) lid: u32) {
  var g = p.gv;
  if (!SEED_CONST) { g = ${b('G')}[p.g]; }
  let cg = p.c * g;
  for (var m = lid; m < p.m; m += 256u) {
    var q = 0.0;
    if (HAS_BIAS) { q = ${b('B')}[p.b]; }
    var s = 0.0;
    if (HAS_TB) { s = ${b('TB')}[p.tb]; }
    for (var k = 0u; k < p.k; k++) {
      let x = ${b('X')}[p.x + m * p.k + k];
      let w = ${b('W')}[p.w + k];
      q = fma(x, w, q);
      if (HAS_TX) { s = fma(${b('TX')}[p.tx + m * p.k + k], w, s); }
      if (HAS_TW) { s = fma(x, ${b('TW')}[p.tw + k], s); }
    }
    ee[m] = vec2f(cg * (q - ${b('T')}[p.t + m]), cg * s);
  }
  workgroupBarrier();
  // a thread per column k: the row loop reads e and ė at the same address in every lane
  for (var k = lid; k < p.k; k += 256u) {
    let w = ${b('W')}[p.w + k];
    var tw = 0.0;
    if (HAS_TW) { tw = ${b('TW')}[p.tw + k]; }
    var s = 0.0;
    for (var m = 0u; m < p.m; m++) {
      let e = ee[m];
      ${b('CO')}[p.co + m * p.k + k] = e.x * w;
      ${b('CO')}[p.cot + m * p.k + k] = fma(e.x, tw, e.y * w);
      s = fma(e.y, ${b('X')}[p.x + m * p.k + k], s);
      if (HAS_TX) { s = fma(e.x, ${b('TX')}[p.tx + m * p.k + k], s); }
    }
    ${b('DO')}[p.dot + k] = s;
  }
  if (HAS_BIAS && lid == 0u) {
    var s = 0.0;
    for (var m = 0u; m < p.m; m++) { s += ee[m].y; }
    ${b('DO')}[p.dbt] = s;
  }
}`,
  };
}
