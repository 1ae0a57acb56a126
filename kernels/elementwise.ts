// Elementwise kernel family: unary maps, binary maps with numpy broadcasting (strided indexing),
// binary maps against an inline scalar (no upload), ternary select, fill and strided copy.
// One pipeline per (expression, mode); MODE is an override constant: 0 = operands share the
// output's contiguous layout (the common case, no index math), 1 = general broadcast strides.

import { flatIndex, packedAt, WG, memoKernel } from './common.ts';

export const UNARY: Record<string, string> = {
  neg: '-x',
  abs: 'abs(x)',
  exp: 'exp(x)',
  log: 'log(x)',
  sqrt: 'sqrt(x)',
  rsqrt: 'inverseSqrt(x)',
  square: 'x * x',
  // Clamped: a naive (e^2x-1)/(e^2x+1) overflows to NaN for |x| > ~44 on some drivers.
  tanh: 'tanh(clamp(x, -15.0, 15.0))',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  relu: 'max(x, 0.0)',
  sign: 'sign(x)',
  sin: 'sin(x)',
  cos: 'cos(x)',
  reciprocal: '1.0 / x',
  step: 'select(0.0, 1.0, x > 0.0)',
  floor: 'floor(x)',
  ceil: 'ceil(x)',
  round: 'round(x)',
  log1p: 'select(log(1.0 + x), x - 0.5 * x * x + x * x * x / 3.0, abs(x) < 1e-4)',
  expm1: 'select(exp(x) - 1.0, x + 0.5 * x * x + x * x * x / 6.0, abs(x) < 1e-4)',
  softplus: 'max(x, 0.0) + log(1.0 + exp(-abs(x)))',
  isfinite: 'select(0.0, 1.0, abs(x) <= 3.4028234e38)',
};

// pow: WGSL's pow is undefined for a < 0; follow C/numpy for integer exponents and define 0^0 = 1.
const POW = `select(select(pow(abs(a), b) * select(1.0, -1.0, a < 0.0 && fract(b * 0.5) != 0.0), bitcast<f32>(NAN_BITS), a < 0.0 && fract(b) != 0.0), 1.0, b == 0.0)`;

export const BINARY: Record<string, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  pow: POW,
  maximum: 'max(a, b)',
  minimum: 'min(a, b)',
  eq: 'select(0.0, 1.0, a == b)',
  ne: 'select(0.0, 1.0, a != b)',
  lt: 'select(0.0, 1.0, a < b)',
  le: 'select(0.0, 1.0, a <= b)',
  gt: 'select(0.0, 1.0, a > b)',
  ge: 'select(0.0, 1.0, a >= b)',
  atan2: 'atan2(a, b)',
};

const head = /* wgsl */ `
var<private> NAN_BITS: u32 = 0x7fc00000u;
override MODE: u32 = 0u;
${flatIndex}
${packedAt}
fn src_index(i: u32, rank: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let n = at8(shape, u32(d));
    off += (rem % n) * at8(strides, u32(d));
    rem = rem / n;
  }
  return off;
}`;

export const unaryKernel = memoKernel((op: string) => {
  const expr = UNARY[op];
  return {
    name: `unary_${op}`,
    code: /* wgsl */ `
${flatIndex}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
struct P { n: u32 }
@group(0) @binding(2) var<uniform> p: P;
fn f(x: f32) -> f32 { return ${expr}; }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  O[i] = f(A[i]);
}`,
  };
});

/** out = f(a, b); params: n, rank, shape[8], strideA[8], strideB[8]. */
export const binaryKernel = memoKernel((op: string, mode: 0 | 1) => {
  const expr = BINARY[op];
  return {
    name: `binary_${op}`,
    constants: { MODE: mode },
    code: /* wgsl */ `
${head}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, _p0: u32, _p1: u32, shape: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(3) var<uniform> p: P;
fn f(a: f32, b: f32) -> f32 { return ${expr}; }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  if (MODE == 0u) { O[i] = f(A[i], B[i]); return; }
  O[i] = f(A[src_index(i, p.rank, p.shape, p.sa)], B[src_index(i, p.rank, p.shape, p.sb)]);
}`,
  };
});

/** out = f(a, s) or f(s, a) with s an inline float; params: n, s, swap. */
export const scalarKernel = memoKernel((op: string) => {
  const expr = BINARY[op];
  return {
    name: `scalar_${op}`,
    code: /* wgsl */ `
var<private> NAN_BITS: u32 = 0x7fc00000u;
${flatIndex}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
struct P { n: u32, s: f32, swap: u32 }
@group(0) @binding(2) var<uniform> p: P;
fn f(a: f32, b: f32) -> f32 { return ${expr}; }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let x = A[i];
  O[i] = select(f(x, p.s), f(p.s, x), p.swap != 0u);
}`,
  };
});

/** out = c != 0 ? a : b with broadcasting; params: n, rank, shape[8], sc[8], sa[8], sb[8]. */
export const whereKernel = memoKernel((mode: 0 | 1) => {
  return {
    name: 'where',
    constants: { MODE: mode },
    code: /* wgsl */ `
${head}
@group(0) @binding(0) var<storage, read> C: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, _p0: u32, _p1: u32, shape: array<vec4u, 2>, sc: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  if (MODE == 0u) { O[i] = select(B[i], A[i], C[i] != 0.0); return; }
  let c = C[src_index(i, p.rank, p.shape, p.sc)];
  O[i] = select(B[src_index(i, p.rank, p.shape, p.sb)], A[src_index(i, p.rank, p.shape, p.sa)], c != 0.0);
}`,
  };
});

export const fillKernel = {
  name: 'fill',
  code: /* wgsl */ `
${flatIndex}
@group(0) @binding(0) var<storage, read_write> O: array<f32>;
struct P { n: u32, v: f32 }
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  O[i] = p.v;
}`,
};

/** O[dstOff + sum idx*ds] = A[srcOff + sum idx*ss] over a view shape: permute, broadcast, slice, concat, pad. */
export const copyKernel = {
  name: 'strided_copy',
  code: /* wgsl */ `
${head}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, src_off: u32, dst_off: u32, shape: array<vec4u, 2>, ss: array<vec4u, 2>, ds: array<vec4u, 2> }
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  O[p.dst_off + src_index(i, p.rank, p.shape, p.ds)] = A[p.src_off + src_index(i, p.rank, p.shape, p.ss)];
}`,
};
