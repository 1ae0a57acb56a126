// Matmul kernel family: C[b] = op(A[b]) · op(B[b]) with per-operand batch offsets (so broadcast
// batch dimensions cost nothing) and transposes expressed as strides (so backward passes never
// materialise Aᵀ or Bᵀ for small matrices).
//
// Two kernels:
//  - `matmul_vec4`: A and B row-major and untransposed, K % 4 == 0, N % 4 == 0. Register-blocked,
//    TM×TN outputs per thread (default 4×8), vec4 loads, no workgroup memory: on lavapipe
//    (LLVM on CPU) workgroup-memory tiling costs more than it saves, while register blocking
//    lets LLVM keep the accumulators in SIMD registers (~18 GFLOP/s at 1024² vs ~3 naive).
//  - `matmul_strided`: anything else; scalar loads through (row, col) strides, TM×TN blocking.
// Batch offsets: batch index z decomposes over up to 4 output batch dims with per-operand
// strides (0 where the operand broadcasts).

export interface MatmulTile {
  TM: number;
  TN: number;
  WX: number;
  WY: number;
}

export const DEFAULT_TILE: MatmulTile = { TM: 4, TN: 8, WX: 64, WY: 1 };

const batchFns = /* wgsl */ `
fn batch_off(z: u32, bshape: vec4u, bs: vec4u) -> u32 {
  var rem = z;
  var off = 0u;
  for (var d = 3; d >= 0; d--) {
    let n = bshape[d];
    off += (rem % n) * bs[d];
    rem = rem / n;
  }
  return off;
}`;

import { memoKernel } from './common.ts';

// Params: M, N, K, nbatch; bshape (4); sA batch (4); sB batch (4); A strides (row, col); B strides (row, col)
const paramStruct = /* wgsl */ `
struct P { m: u32, n: u32, k: u32, nb: u32, bshape: vec4u, bsa: vec4u, bsb: vec4u, sa: vec2u, sb: vec2u }`;

/**
 * `exact`: M % TM == 0 and N % TN == 0, so no thread's block crosses the edge and the loads and
 * stores need no clamps or guards (per-load min() costs ALU work in the innermost loop).
 */
export const matmulVec4Kernel = memoKernel((t: MatmulTile = DEFAULT_TILE, exact = false) => {
  const TN4 = t.TN / 4;
  const accDecl: string[] = [];
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < TN4; j++) accDecl.push(`var c${i}_${j} = vec4f(0.0);`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(`let a${i} = A[arow${i} + kq];`);
  for (let kk = 0; kk < 4; kk++) {
    for (let j = 0; j < TN4; j++) body.push(`let b${kk}_${j} = B[bbase + (k + ${kk}u) * n4 + ${exact ? `col4 + ${j}u` : `min(col4 + ${j}u, n4 - 1u)`}];`);
    for (let i = 0; i < t.TM; i++)
      for (let j = 0; j < TN4; j++) body.push(`c${i}_${j} = fma(vec4f(a${i}[${kk}]), b${kk}_${j}, c${i}_${j});`);
  }
  const rows: string[] = [];
  for (let i = 0; i < t.TM; i++) rows.push(`let arow${i} = abase + ${exact ? `(row + ${i}u)` : `min(row + ${i}u, p.m - 1u)`} * k4;`);
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < TN4; j++) {
      const st = `C[cbase + (row + ${i}u) * n4 + col4 + ${j}u] = c${i}_${j};`;
      store.push(exact ? st : `if (row + ${i}u < p.m && col4 + ${j}u < n4) { ${st} }`);
    }
  return {
    name: exact ? 'matmul_vec4_exact' : 'matmul_vec4',
    code: /* wgsl */ `
${batchFns}
${paramStruct}
@group(0) @binding(0) var<storage, read> A: array<vec4f>;
@group(0) @binding(1) var<storage, read> B: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4f>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y * ${t.TM}u;
  let col4 = gid.x * ${TN4}u;
  let n4 = p.n / 4u;
  let k4 = p.k / 4u;
  if (row >= p.m || col4 >= n4) { return; }
  let z = gid.z;
  let abase = batch_off(z, p.bshape, p.bsa) / 4u;
  let bbase = batch_off(z, p.bshape, p.bsb) / 4u;
  let cbase = z * p.m * n4;
  ${rows.join('\n  ')}
  ${accDecl.join('\n  ')}
  for (var k = 0u; k < p.k; k += 4u) {
    let kq = k / 4u;
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
});

export const matmulStridedKernel = memoKernel((t: MatmulTile = { TM: 4, TN: 4, WX: 8, WY: 8 }) => {
  const acc: string[] = [];
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) acc.push(`var c${i}_${j} = 0.0;`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) body.push(`let a${i} = A[abase + min(row + ${i}u, p.m - 1u) * p.sa.x + k * p.sa.y];`);
  for (let j = 0; j < t.TN; j++) body.push(`let b${j} = B[bbase + k * p.sb.x + min(col + ${j}u, p.n - 1u) * p.sb.y];`);
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) body.push(`c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++)
      store.push(`if (row + ${i}u < p.m && col + ${j}u < p.n) { C[cbase + (row + ${i}u) * p.n + col + ${j}u] = c${i}_${j}; }`);
  return {
    name: 'matmul_strided',
    code: /* wgsl */ `
${batchFns}
${paramStruct}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${t.TN}u;
  if (row >= p.m || col >= p.n) { return; }
  let z = gid.z;
  let abase = batch_off(z, p.bshape, p.bsa);
  let bbase = batch_off(z, p.bshape, p.bsb);
  let cbase = z * p.m * p.n;
  ${acc.join('\n  ')}
  for (var k = 0u; k < p.k; k++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
});

/**
 * Forward mode: C = op(A)·op(B) and its tangent Ċ = op(Ȧ)·op(B) + op(A)·op(Ḃ) in one dispatch
 * (the tangents share their primals' shapes, hence strides and batch offsets). An operand
 * without a tangent has HAS_TA/HAS_TB false and a placeholder binding. Same params as the
 * strided kernel.
 */
export const matmulDualKernel = memoKernel((hasTa: boolean, hasTb: boolean, t: MatmulTile = { TM: 4, TN: 4, WX: 8, WY: 8 }) => {
  const acc: string[] = [];
  for (let i = 0; i < t.TM; i++) for (let j = 0; j < t.TN; j++) acc.push(`var c${i}_${j} = 0.0;`, `var d${i}_${j} = 0.0;`);
  const body: string[] = [];
  for (let i = 0; i < t.TM; i++) {
    body.push(`let ia${i} = abase + min(row + ${i}u, p.m - 1u) * p.sa.x + k * p.sa.y;`, `let a${i} = A[ia${i}];`);
    if (hasTa) body.push(`let ta${i} = TA[ia${i}];`);
  }
  for (let j = 0; j < t.TN; j++) {
    body.push(`let ib${j} = bbase + k * p.sb.x + min(col + ${j}u, p.n - 1u) * p.sb.y;`, `let b${j} = B[ib${j}];`);
    if (hasTb) body.push(`let tb${j} = TB[ib${j}];`);
  }
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++) {
      body.push(`c${i}_${j} = fma(a${i}, b${j}, c${i}_${j});`);
      if (hasTa) body.push(`d${i}_${j} = fma(ta${i}, b${j}, d${i}_${j});`);
      if (hasTb) body.push(`d${i}_${j} = fma(a${i}, tb${j}, d${i}_${j});`);
    }
  const store: string[] = [];
  for (let i = 0; i < t.TM; i++)
    for (let j = 0; j < t.TN; j++)
      store.push(`if (row + ${i}u < p.m && col + ${j}u < p.n) { let o = cbase + (row + ${i}u) * p.n + col + ${j}u; C[o] = c${i}_${j}; CT[o] = d${i}_${j}; }`);
  return {
    name: `matmul_dual_${hasTa ? 'a' : ''}${hasTb ? 'b' : ''}`,
    code: /* wgsl */ `
${batchFns}
${paramStruct}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> TA: array<f32>;
@group(0) @binding(3) var<storage, read> TB: array<f32>;
@group(0) @binding(4) var<storage, read_write> C: array<f32>;
@group(0) @binding(5) var<storage, read_write> CT: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
@compute @workgroup_size(${t.WX}, ${t.WY}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.y * ${t.TM}u;
  let col = gid.x * ${t.TN}u;
  if (row >= p.m || col >= p.n) { return; }
  let z = gid.z;
  let abase = batch_off(z, p.bshape, p.bsa);
  let bbase = batch_off(z, p.bshape, p.bsb);
  let cbase = z * p.m * p.n;
  ${acc.join('\n  ')}
  for (var k = 0u; k < p.k; k++) {
    ${body.join('\n    ')}
  }
  ${store.join('\n  ')}
}`,
  };
});
