// Elementwise kernel family: unary maps, binary maps with numpy broadcasting (strided indexing),
// binary maps against an inline scalar (no upload), ternary select, fill and strided copy.
// One pipeline per (expression, mode); MODE is an override constant: 0 = operands share the
// output's contiguous layout (the common case, no index math), 1 = general broadcast strides.

import { flatIndex, WG, memoKernel } from './common.ts';

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

// The flat offsets of output element i in each strided operand: its multi-index over the
// coalesced view shape p.shape (rank p.rank) dotted with each strides field of the kernel's
// uniform block. Written for the CPU-emulated GPU: the dimensions are unrolled with constant
// component indices and read straight from the uniform (the former loop passed the packed arrays
// by value and indexed them dynamically: per-lane private-memory copies), each coordinate is
// found once for all operands, and the quotient by a dimension comes from an f32 reciprocal with
// one correction step (exact for indices < 2^24; u32 division, which x86 cannot vectorise,
// only beyond that). A broadcast add and a permute had run 5-7x slower than a contiguous add.
function offsetsFn(fields: string[]): string {
  const k = fields.length;
  const vt = k === 1 ? 'u32' : `vec${k}u`;
  const strides = (c: string) => (k === 1 ? `p.${fields[0]}${c}` : `vec${k}u(${fields.map((g) => `p.${g}${c}`).join(', ')})`);
  let body = '';
  for (let d = 7; d >= 0; d--) {
    const c = `[${d >> 2}].${'xyzw'[d & 3]}`;
    body += `  if (${d}u < rank) { let n = p.shape${c}; let q = qdiv(rem, n, fast); off += (rem - q * n) * ${strides(c)}; rem = q; }\n`;
  }
  return `fn src_offsets(i: u32) -> ${vt} {
  let fast = p.n < 16777216u;
  // RANK (pipeline constant) when the caller fixed it: the unused dimensions compile away
  let rank = select(p.rank, RANK, RANK != 0u);
  var rem = i;
  var off = ${vt}(0u);
${body}  return off;
}`;
}

const qdivFn = /* wgsl */ `
fn qdiv(a: u32, n: u32, fast: bool) -> u32 {
  if (!fast) { return a / n; }
  var q = u32(f32(a) * (1.0 / f32(n)));
  let r = i32(a) - i32(q * n);
  if (r < 0) { q -= 1u; } else if (r >= i32(n)) { q += 1u; }
  return q;
}`;

const head = (...fields: string[]) => /* wgsl */ `
var<private> NAN_BITS: u32 = 0x7fc00000u;
override MODE: u32 = 0u;
override RANK: u32 = 0u;
${flatIndex}
${qdivFn}
${offsetsFn(fields)}`;

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

/** out = f(a, b); params: n, rank, shape[8], strideA[8], strideB[8]; rank > 0 fixes the view's rank at pipeline creation. */
export const binaryKernel = memoKernel((op: string, mode: 0 | 1, rank: number) => {
  const expr = BINARY[op];
  return {
    name: `binary_${op}`,
    constants: { MODE: mode, RANK: rank },
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, _p0: u32, _p1: u32, shape: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(3) var<uniform> p: P;
${head('sa', 'sb')}
fn f(a: f32, b: f32) -> f32 { return ${expr}; }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  if (MODE == 0u) { O[i] = f(A[i], B[i]); return; }
  let o = src_offsets(i);
  O[i] = f(A[o.x], B[o.y]);
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
export const whereKernel = memoKernel((mode: 0 | 1, rank: number) => {
  return {
    name: 'where',
    constants: { MODE: mode, RANK: rank },
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> C: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
struct P { n: u32, rank: u32, _p0: u32, _p1: u32, shape: array<vec4u, 2>, sc: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(4) var<uniform> p: P;
${head('sc', 'sa', 'sb')}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  if (MODE == 0u) { O[i] = select(B[i], A[i], C[i] != 0.0); return; }
  let o = src_offsets(i);
  O[i] = select(B[o.z], A[o.y], C[o.x] != 0.0);
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

/**
 * O[dstOff + sum idx*ds] = A[srcOff + sum idx*ss] over a view shape of the given rank: permute,
 * broadcast, slice, concat, pad. vec4: elements are vec4s (the caller found a contiguous
 * innermost run of a multiple of 4 floats in both operands, 4-aligned; shape, strides and offsets
 * in vec4 units), so one offset computation moves 4 floats.
 */
export const copyKernel = memoKernel((rank: number, vec4: boolean) => ({
  name: vec4 ? 'strided_copy_vec4' : 'strided_copy',
  constants: { RANK: rank },
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> A: array<${vec4 ? 'vec4f' : 'f32'}>;
@group(0) @binding(1) var<storage, read_write> O: array<${vec4 ? 'vec4f' : 'f32'}>;
struct P { n: u32, rank: u32, src_off: u32, dst_off: u32, shape: array<vec4u, 2>, ss: array<vec4u, 2>, ds: array<vec4u, 2> }
@group(0) @binding(2) var<uniform> p: P;
${head('ss', 'ds')}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let o = src_offsets(i);
  O[p.dst_off + o.y] = A[p.src_off + o.x];
}`,
}));

// ---------------------------------------------------------------- forward mode (dual kernels)
//
// Inside a jvp every op also computes its output's tangent. A dual kernel writes the value and
// the tangent in the same dispatch, so forward-over-reverse HVPs cost about the dispatches of a
// gradient instead of three per op (f, f′ and the product).

/** f′ of each differentiable unary op, from x and y = f(x) (matching ops.ts's backward rules). */
export const UNARY_DERIV: Record<string, string> = {
  neg: '-1.0',
  abs: 'sign(x)',
  exp: 'y',
  log: '1.0 / x',
  sqrt: '0.5 / y',
  rsqrt: '-0.5 * y * y * y',
  square: '2.0 * x',
  tanh: '1.0 - y * y',
  sigmoid: 'y * (1.0 - y)',
  relu: 'select(0.0, 1.0, x > 0.0)',
  sin: 'cos(x)',
  cos: '-sin(x)',
  reciprocal: '-y * y',
  log1p: '1.0 / (1.0 + x)',
  expm1: 'y + 1.0',
  softplus: '1.0 / (1.0 + exp(-x))',
};

/** The tangent of a op b given the operands' tangents ta, tb (0 where absent) and y = a op b. */
export const BINARY_DERIV: Record<string, string> = {
  add: 'ta + tb',
  sub: 'ta - tb',
  mul: 'ta * b + a * tb',
  div: '(ta - y * tb) / b',
  // the exponent's term only where it has a tangent: log(a) is NaN for a < 0
  pow: `b * powc(a, b - 1.0) * ta + select(0.0, y * log(a) * tb, tb != 0.0)`,
  maximum: 'select(tb, ta, a >= b)',
  minimum: 'select(tb, ta, a <= b)',
  atan2: '(b * ta - a * tb) / (a * a + b * b)',
};

export const unaryDualKernel = memoKernel((op: string) => ({
  name: `unary_dual_${op}`,
  code: /* wgsl */ `
${flatIndex}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> TA: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<storage, read_write> OT: array<f32>;
struct P { n: u32 }
@group(0) @binding(4) var<uniform> p: P;
fn f(x: f32) -> f32 { return ${UNARY[op]}; }
fn df(x: f32, y: f32) -> f32 { return ${UNARY_DERIV[op]}; }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let x = A[i];
  let y = f(x);
  O[i] = y;
  OT[i] = df(x, y) * TA[i];
}`,
}));

const binaryDualFns = (op: string) => /* wgsl */ `
fn powc(a: f32, b: f32) -> f32 { return ${POW}; }
fn f(a: f32, b: f32) -> f32 { return ${BINARY[op]}; }
fn df(a: f32, b: f32, y: f32, ta: f32, tb: f32) -> f32 { return ${BINARY_DERIV[op]}; }`;

/**
 * out = f(a, b) and its tangent; an operand without a tangent has HAS_TA/HAS_TB false and its
 * tangent binding is a placeholder (the operand itself, never read). Params as binaryKernel.
 */
export const binaryDualKernel = memoKernel((op: string, mode: 0 | 1, hasTa: boolean, hasTb: boolean, rank: number) => ({
  name: `binary_dual_${op}`,
  constants: { MODE: mode, HAS_TA: hasTa ? 1 : 0, HAS_TB: hasTb ? 1 : 0, RANK: rank },
  code: /* wgsl */ `
override HAS_TA: bool = true;
override HAS_TB: bool = true;
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> TA: array<f32>;
@group(0) @binding(3) var<storage, read> TB: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> OT: array<f32>;
struct P { n: u32, rank: u32, _p0: u32, _p1: u32, shape: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(6) var<uniform> p: P;
${head('sa', 'sb')}
${binaryDualFns(op)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  var ia = i;
  var ib = i;
  if (MODE != 0u) {
    let o = src_offsets(i);
    ia = o.x;
    ib = o.y;
  }
  let a = A[ia];
  let b = B[ib];
  var ta = 0.0;
  var tb = 0.0;
  if (HAS_TA) { ta = TA[ia]; }
  if (HAS_TB) { tb = TB[ib]; }
  let y = f(a, b);
  O[i] = y;
  OT[i] = df(a, b, y, ta, tb);
}`,
}));

/** out = f(a, s) or f(s, a) with s an inline float, and its tangent (s has none). Params as scalarKernel. */
export const scalarDualKernel = memoKernel((op: string) => ({
  name: `scalar_dual_${op}`,
  code: /* wgsl */ `
var<private> NAN_BITS: u32 = 0x7fc00000u;
${flatIndex}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> TA: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@group(0) @binding(3) var<storage, read_write> OT: array<f32>;
struct P { n: u32, s: f32, swap: u32 }
@group(0) @binding(4) var<uniform> p: P;
${binaryDualFns(op)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (i >= p.n) { return; }
  let x = A[i];
  let t = TA[i];
  if (p.swap != 0u) {
    let y = f(p.s, x);
    O[i] = y;
    OT[i] = df(p.s, x, y, 0.0, t);
  } else {
    let y = f(x, p.s);
    O[i] = y;
    OT[i] = df(x, p.s, y, t, 0.0);
  }
}`,
}));
