// Conv2d kernel family (NHWC activations, [outC, kH, kW, inC] weights, stride and zero padding).
//
//   conv2d_fwd      y[n,oh,ow,co] = act(Σ_{kh,kw,ci} x[n, oh·s+kh−p, ow·s+kw−p, ci] · w[co,kh,kw,ci] + b[co])
//   conv2d_bwd_in   dx[n,ih,iw,ci] = Σ_{kh,kw,co : (ih+p−kh)/s = oh integer in range} g[n,oh,ow,co] · w[co,kh,kw,ci]
//                   (the transposed convolution: gradient with respect to the input)
//   conv2d_bwd_w    dw[co,kh,kw,ci] = Σ_{n,oh,ow} g[n,oh,ow,co] · x[n, oh·s+kh−p, ow·s+kw−p, ci]
//                   (the correlation of input and output gradient: gradient with respect to the weight)
//
// The three are closed under differentiation (each is bilinear and the adjoint of another in
// each argument), which is what makes second derivatives through a convolution work: see
// engine/nn/conv.ts. Register blocking: each thread owns TP×TC outputs (pixels × channels, or
// input × output channels for the weight gradient), no workgroup memory; TP, TC and the
// workgroup size come from kernels/tune.ts per adapter. ACT/HAS_BIAS are override constants.

import type { ConvTile } from './tune.ts';
import { WG as GRID_WG, actWgsl, grid, memoKernel } from './common.ts';

const P = /* wgsl */ `
struct P { n: u32, h: u32, w: u32, ci: u32, oh: u32, ow: u32, co: u32, kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32, nthreads: u32, qa: u32, qb: u32 }`;

const flat = /* wgsl */ `
fn thread_index(gid: vec3u, nw: vec3u, wg: u32) -> u32 { return gid.x + gid.y * nw.x * wg; }`;

const act = actWgsl;

function range(n: number) {
  return Array.from({ length: n }, (_, i) => i);
}

/** Threads needed by conv2d_fwd: ceil(pixels/TP) · ceil(co/TC). */
export function convFwdThreads(t: ConvTile, pixels: number, co: number) {
  return Math.ceil(pixels / t.TP) * Math.ceil(co / t.TC);
}

/**
 * conv2d_fwd's launch: p.nthreads and the workgroup grid. The channel block is the workgroup's z
 * index, so every weight address is the same for all invocations of a workgroup: lavapipe (which
 * runs the invocations of a workgroup as SIMD lanes) then loads a weight once and broadcasts it
 * instead of gathering it lane by lane; only the input pixels are gathered.
 */
export function convFwdLaunch(t: ConvTile, pixels: number, co: number, uniformW = true): { threads: number; workgroups: [number, number, number] } {
  if (!uniformW) {
    const threads = convFwdThreads(t, pixels, co);
    return { threads, workgroups: [...grid(threads, t.WG), 1] };
  }
  const threads = Math.ceil(pixels / t.TP);
  return { threads, workgroups: [...grid(threads, t.WG), Math.ceil(co / t.TC)] };
}

/**
 * Per output pixel i of a thread's TP (flat index p0 + i, clamped to the last pixel): its batch
 * index, the input row/column of its window's top-left tap (ihb, iwb) and its image's first input
 * row (xb). Shared by the scalar and vec4 forward kernels.
 */
function pixelOriginsWgsl(TP: number): string[] {
  return range(TP).flatMap((i) => [
    `let q${i} = min(p0 + ${i}u, npix - 1u);`,
    `let ow${i} = q${i} % p.ow; let oh${i} = (q${i} / p.ow) % p.oh; let n${i} = q${i} / (p.ow * p.oh);`,
    `let ihb${i} = i32(oh${i} * p.sh) - i32(p.ph); let iwb${i} = i32(ow${i} * p.sw) - i32(p.pw); let xb${i} = n${i} * p.h;`,
  ]);
}

/**
 * At tap (kh, kw): where pixel i reads its input (xo, in units of `ci`, the row length in the
 * array's element type: f32 or vec4f) and a 0/1 mask m for taps that fall in the padding (their
 * offset is clamped to 0 so the load stays in bounds).
 */
function tapInputsWgsl(TP: number, ci: string): string[] {
  return range(TP).flatMap((i) => [
    `let ih${i} = ihb${i} + i32(kh); let iw${i} = iwb${i} + i32(kw);`,
    `let ok${i} = ih${i} >= 0 && ih${i} < i32(p.h) && iw${i} >= 0 && iw${i} < i32(p.w);`,
    `let xo${i} = select(0u, ((xb${i} + u32(ih${i})) * p.w + u32(iw${i})) * ${ci}, ok${i});`,
    `let m${i} = select(0.0, 1.0, ok${i});`,
  ]);
}

/**
 * The forward kernel; `flipW` reads the weight as the stride-1 input gradient needs it: with
 * x = gy, the geometry of the equivalent forward problem (channels in = co, out = ci, padding
 * k − 1 − p) and w' [ci, kh', kw', co] = w [co, kH−1−kh', kW−1−kw', ci], read in place (no
 * transposed copy), dx = conv2d(gy, w'). Each thread then owns TP input pixels × TC input
 * channels (register blocking the residue-class kernel cannot do: neighbouring pixels there
 * visit different taps only when the stride exceeds 1).
 */
function convFwdKernelMake(t: ConvTile, flipW = false, uniformW = true) {
  const { TP, TC } = t;
  const pre = pixelOriginsWgsl(TP);
  for (const j of range(TC)) pre.push(flipW ? `let wr${j} = min(c0 + ${j}u, p.co - 1u);` : `let wr${j} = min(c0 + ${j}u, p.co - 1u) * p.kh * p.kw * p.ci;`);
  for (const i of range(TP)) for (const j of range(TC)) pre.push(`var a${i}_${j} = 0.0;`);
  const kbody = tapInputsWgsl(TP, 'p.ci');
  kbody.push(flipW ? `let wo = (p.kh - 1u - kh) * p.kw + p.kw - 1u - kw;` : `let wo = (kh * p.kw + kw) * p.ci;`);
  const cbody: string[] = [];
  for (const i of range(TP)) cbody.push(`let x${i} = X[xo${i} + c] * m${i};`);
  if (flipW) cbody.push(`let wc = (c * p.kh * p.kw + wo) * p.co;`);
  for (const j of range(TC)) cbody.push(flipW ? `let w${j} = Wt[wc + wr${j}];` : `let w${j} = Wt[wr${j} + wo + c];`);
  for (const i of range(TP)) for (const j of range(TC)) cbody.push(`a${i}_${j} = fma(x${i}, w${j}, a${i}_${j});`);
  const store: string[] = [];
  for (const j of range(TC)) store.push(`let b${j} = select(0.0, Bias[min(c0 + ${j}u, p.co - 1u)], HAS_BIAS);`);
  for (const i of range(TP))
    for (const j of range(TC)) store.push(`if (p0 + ${i}u < npix && c0 + ${j}u < p.co) { Y[(p0 + ${i}u) * p.co + c0 + ${j}u] = act(a${i}_${j} + b${j}); }`);
  return {
    name: `conv2d_fwd${flipW ? '_flipw' : ''}${uniformW ? '' : '_mixed'}_${TP}x${TC}`,
    code: /* wgsl */ `
${P}
${flat}
${act}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<f32>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  ${uniformW ? `let c0 = wid.z * ${TC}u;
  let p0 = tid * ${TP}u;` : `let ncb = (p.co + ${TC - 1}u) / ${TC}u;
  let c0 = (tid % ncb) * ${TC}u;
  let p0 = (tid / ncb) * ${TP}u;`}
  let npix = p.n * p.oh * p.ow;
  ${pre.join('\n  ')}
  for (var kh = 0u; kh < p.kh; kh++) {
    for (var kw = 0u; kw < p.kw; kw++) {
      ${kbody.join('\n      ')}
      for (var c = 0u; c < p.ci; c++) {
        ${cbody.join('\n        ')}
      }
    }
  }
  ${store.join('\n  ')}
}`,
  };
}

/**
 * conv2d_fwd with vec4 channel loads (lavapipe gathers every lane's load separately, so a
 * 16-byte load per lane costs about what a 4-byte one does: four times the multiply-adds per
 * gathered load). Plain: needs ci % 4 == 0; a_ij += dot(x_i[c..c+3], w_j[c..c+3]). flipW (the
 * stride-1 input gradient, as convFwdKernel): needs ci % 4 == 0 (gy's channels) and co % 4 == 0
 * (dx's channels, contiguous in the weight) with TC a multiple of 4; each thread accumulates TP
 * pixels × TC/4 vec4 channel blocks, a_i += x_i[e] · w'[c+e, tap, block] for the 4 channels e of
 * one gathered x load. Launch with convFwdLaunch (channel block = workgroup z: uniform weights).
 */
function convFwdVec4KernelMake(t: ConvTile, flipW = false) {
  const { TP } = t;
  const TC = flipW ? Math.max(4, t.TC) : t.TC;
  const TB = TC / 4;
  const pre: string[] = [`let ci4 = p.ci / 4u;`];
  pre.push(...pixelOriginsWgsl(TP));
  if (flipW) {
    pre.push(`let co4 = p.co / 4u;`);
    for (const b of range(TB)) pre.push(`let wr${b} = min(c0 / 4u + ${b}u, co4 - 1u);`);
    for (const i of range(TP)) for (const b of range(TB)) pre.push(`var a${i}_${b} = vec4f(0.0);`);
  } else {
    for (const j of range(TC)) pre.push(`let wr${j} = min(c0 + ${j}u, p.co - 1u) * p.kh * p.kw * ci4;`);
    for (const i of range(TP)) for (const j of range(TC)) pre.push(`var a${i}_${j} = 0.0;`);
  }
  const kbody = tapInputsWgsl(TP, 'ci4');
  kbody.push(flipW ? `let wo = (p.kh - 1u - kh) * p.kw + p.kw - 1u - kw;` : `let wo = (kh * p.kw + kw) * ci4;`);
  const cbody: string[] = [];
  for (const i of range(TP)) cbody.push(`let x${i} = X[xo${i} + c] * m${i};`);
  if (flipW) {
    for (let e = 0; e < 4; e++) {
      cbody.push(`let wc${e} = ((4u * c + ${e}u) * p.kh * p.kw + wo) * co4;`);
      for (const b of range(TB)) cbody.push(`let w${e}_${b} = Wt[wc${e} + wr${b}];`);
    }
    for (const i of range(TP))
      for (const b of range(TB)) for (let e = 0; e < 4; e++) cbody.push(`a${i}_${b} = fma(vec4f(x${i}.${'xyzw'[e]}), w${e}_${b}, a${i}_${b});`);
  } else {
    for (const j of range(TC)) cbody.push(`let w${j} = Wt[wr${j} + wo + c];`);
    for (const i of range(TP)) for (const j of range(TC)) cbody.push(`a${i}_${j} += dot(x${i}, w${j});`);
  }
  const store: string[] = [];
  if (flipW) {
    for (const i of range(TP))
      for (const b of range(TB))
        for (let e = 0; e < 4; e++)
          store.push(`if (p0 + ${i}u < npix && c0 + ${4 * b + e}u < p.co) { Y[(p0 + ${i}u) * p.co + c0 + ${4 * b + e}u] = a${i}_${b}.${'xyzw'[e]}; }`);
  } else {
    for (const j of range(TC)) store.push(`let b${j} = select(0.0, Bias[min(c0 + ${j}u, p.co - 1u)], HAS_BIAS);`);
    for (const i of range(TP))
      for (const j of range(TC)) store.push(`if (p0 + ${i}u < npix && c0 + ${j}u < p.co) { Y[(p0 + ${i}u) * p.co + c0 + ${j}u] = act(a${i}_${j} + b${j}); }`);
  }
  return {
    name: `conv2d_fwd${flipW ? '_flipw' : ''}_vec4_${TP}x${TC}`,
    code: /* wgsl */ `
${P}
${flat}
${act}
@group(0) @binding(0) var<storage, read> X: array<vec4f>;
@group(0) @binding(1) var<storage, read> Wt: array<vec4f>;
@group(0) @binding(2) var<storage, read> Bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let c0 = wid.z * ${TC}u;
  let p0 = tid * ${TP}u;
  let npix = p.n * p.oh * p.ow;
  ${pre.join('\n  ')}
  for (var kh = 0u; kh < p.kh; kh++) {
    for (var kw = 0u; kw < p.kw; kw++) {
      ${kbody.join('\n      ')}
      for (var c = 0u; c < ci4; c++) {
        ${cbody.join('\n        ')}
      }
    }
  }
  ${store.join('\n  ')}
}`,
  };
}

/** Threads needed by conv2d_bwd_in: n·sh·sw·qa·qb pixel slots (qa = ⌈(H+ph)/sh⌉, qb = ⌈(W+pw)/sw⌉) · ⌈ci/TC⌉ (TC ≥ 4 for vec4). */
export function convBwdInThreads(t: ConvTile, n: number, sh: number, sw: number, qa: number, qb: number, ci: number, vec4 = false) {
  return n * sh * sw * qa * qb * Math.ceil(ci / (vec4 ? Math.max(4, t.TC) : t.TC));
}

/**
 * Input gradient: each thread owns one input pixel × TC input channels and visits only the
 * (kh, kw) taps that land on an output pixel (kh ≡ ih + p mod s), so a stride-s convolution
 * costs 1/s² of a dense transposed convolution. (TP is unused: pixels of a block would need
 * different taps.)
 */
function convBwdInKernelMake(t: ConvTile, vec4 = false) {
  // vec4 (ci % 4 == 0): TC input channels as vec4 blocks of the weight's contiguous last axis
  const TC = vec4 ? Math.max(4, t.TC) : t.TC;
  const TB = TC / 4;
  const pre: string[] = [];
  const cbody: string[] = [];
  const store: string[] = [];
  cbody.push(`let g = G[gb + c];`);
  if (vec4) {
    for (const b of range(TB)) pre.push(`let cb${b} = min(c0 / 4u + ${b}u, p.ci / 4u - 1u);`, `var a${b} = vec4f(0.0);`);
    cbody.push(`let wr = (c * wstride + wo) / 4u;`);
    for (const b of range(TB)) cbody.push(`a${b} = fma(vec4f(g), Wt[wr + cb${b}], a${b});`);
    for (const b of range(TB)) for (let e = 0; e < 4; e++) store.push(`if (c0 + ${4 * b + e}u < p.ci) { DX[q * p.ci + c0 + ${4 * b + e}u] = a${b}.${'xyzw'[e]}; }`);
  } else {
    for (const j of range(TC)) pre.push(`let cc${j} = min(c0 + ${j}u, p.ci - 1u);`);
    for (const j of range(TC)) pre.push(`var a${j} = 0.0;`);
    cbody.push(`let wr = c * wstride + wo;`);
    for (const j of range(TC)) cbody.push(`a${j} = fma(g, Wt[wr + cc${j}], a${j});`);
    for (const j of range(TC)) store.push(`if (c0 + ${j}u < p.ci) { DX[q * p.ci + c0 + ${j}u] = a${j}; }`);
  }
  return {
    name: `conv2d_bwd_in${vec4 ? '_vec4' : ''}_1x${TC}`,
    code: /* wgsl */ `
${P}
${flat}
@group(0) @binding(0) var<storage, read> G: array<f32>;
@group(0) @binding(1) var<storage, read> Wt: array<${vec4 ? 'vec4f' : 'f32'}>;
@group(0) @binding(2) var<storage, read_write> DX: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let ncb = (p.ci + ${TC - 1}u) / ${TC}u;
  let c0 = (tid % ncb) * ${TC}u;
  // Pixels are enumerated by residue class (rh, rw) of (ih + ph, iw + pw) modulo the stride
  // first, so neighbouring lanes visit the same taps (no divergence in the tap loops).
  var r = tid / ncb;
  let bq = r % p.qb; r = r / p.qb;
  let aq = r % p.qa; r = r / p.qa;
  let rw = r % p.sw; r = r / p.sw;
  let rh = r % p.sh;
  let n = r / p.sh;
  let yh = aq * p.sh + rh;
  let xw = bq * p.sw + rw;
  if (yh < p.ph || yh >= p.h + p.ph || xw < p.pw || xw >= p.w + p.pw) { return; }
  let q = (n * p.h + yh - p.ph) * p.w + xw - p.pw;
  let wstride = p.kh * p.kw * p.ci;
  ${pre.join('\n  ')}
  for (var kh = rh; kh < p.kh && kh <= yh; kh += p.sh) {
    let oh = (yh - kh) / p.sh;
    if (oh >= p.oh) { continue; }
    for (var kw = rw; kw < p.kw && kw <= xw; kw += p.sw) {
      let ow = (xw - kw) / p.sw;
      if (ow >= p.ow) { continue; }
      let gb = ((n * p.oh + oh) * p.ow + ow) * p.co;
      let wo = (kh * p.kw + kw) * p.ci;
      for (var c = 0u; c < p.co; c++) {
        ${cbody.join('\n        ')}
      }
    }
  }
  ${store.join('\n  ')}
}`,
  };
}

/** Threads needed by conv2d_bwd_w: co/TC · kh·kw · ci/TP. */
export function convBwdWThreads(t: ConvTile, co: number, kk: number, ci: number) {
  return Math.ceil(co / t.TC) * kk * Math.ceil(ci / t.TP);
}

/**
 * The weight gradient's loop at one tap (kh, kw): over the batch and the output pixels, skipping
 * pixels whose input falls in the padding; `gb` and `xb` index G and X at the pixel, with row
 * lengths `co` and `ci` in the arrays' own element type (f32 or vec4f). Shared by the scalar and
 * vec4 weight-gradient kernels.
 */
function weightGradTapLoop(co: string, ci: string, body: string[]): string {
  return `for (var n = 0u; n < p.n; n++) {
    for (var oh = 0u; oh < p.oh; oh++) {
      let ih = i32(oh * p.sh + kh) - i32(p.ph);
      if (ih < 0 || ih >= i32(p.h)) { continue; }
      for (var ow = 0u; ow < p.ow; ow++) {
        let iw = i32(ow * p.sw + kw) - i32(p.pw);
        if (iw < 0 || iw >= i32(p.w)) { continue; }
        let gb = ((n * p.oh + oh) * p.ow + ow) * ${co};
        let xb = ((n * p.h + u32(ih)) * p.w + u32(iw)) * ${ci};
        ${body.join('\n        ')}
      }
    }
  }`;
}

/** Weight gradient: each thread owns TC output channels × TP input channels at one (kh, kw). */
function convBwdWKernelMake(t: ConvTile) {
  const { TP, TC } = t;
  const pre: string[] = [];
  for (const j of range(TC)) pre.push(`let co${j} = min(c0 + ${j}u, p.co - 1u);`);
  for (const i of range(TP)) pre.push(`let ci${i} = min(q0 + ${i}u, p.ci - 1u);`);
  for (const j of range(TC)) for (const i of range(TP)) pre.push(`var a${j}_${i} = 0.0;`);
  const body: string[] = [];
  for (const j of range(TC)) body.push(`let g${j} = G[gb + co${j}];`);
  for (const i of range(TP)) body.push(`let x${i} = X[xb + ci${i}];`);
  for (const j of range(TC)) for (const i of range(TP)) body.push(`a${j}_${i} = fma(g${j}, x${i}, a${j}_${i});`);
  const store: string[] = [];
  for (const j of range(TC))
    for (const i of range(TP))
      store.push(`if (c0 + ${j}u < p.co && q0 + ${i}u < p.ci) { DW[((c0 + ${j}u) * p.kh * p.kw + kk) * p.ci + q0 + ${i}u] = a${j}_${i}; }`);
  return {
    name: `conv2d_bwd_w_${TC}x${TP}`,
    code: /* wgsl */ `
${P}
${flat}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> DW: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let nqb = (p.ci + ${TP - 1}u) / ${TP}u;
  let q0 = (tid % nqb) * ${TP}u;
  let rest = tid / nqb;
  let kk = rest % (p.kh * p.kw);
  let c0 = (rest / (p.kh * p.kw)) * ${TC}u;
  let kh = kk / p.kw;
  let kw = kk % p.kw;
  ${pre.join('\n  ')}
  ${weightGradTapLoop('p.co', 'p.ci', body)}
  ${store.join('\n  ')}
}`,
  };
}

/** Threads needed by conv2d_bwd_w_vec4: co/TC · kh·kw · ci/(4·⌈TP/4⌉). */
export function convBwdWVec4Threads(t: ConvTile, co: number, kk: number, ci: number) {
  return Math.ceil(co / Math.max(4, t.TC)) * kk * Math.ceil(ci / (4 * Math.max(1, Math.round(t.TP / 4))));
}

/**
 * The weight gradient with vec4 loads of gy (over output channels) and x (over input channels):
 * each thread owns TC output channels (a multiple of 4) × TP input channels (rounded to vec4
 * blocks) at one tap; a_j += gy[co_j] · x[ci..ci+3]. Needs ci % 4 == 0 and co % 4 == 0.
 */
function convBwdWVec4KernelMake(t: ConvTile) {
  const TC = Math.max(4, t.TC);
  const TB = TC / 4;
  const TQ = Math.max(1, Math.round(t.TP / 4));
  const pre: string[] = [];
  for (const b of range(TB)) pre.push(`let cb${b} = min(c0 / 4u + ${b}u, co4 - 1u);`);
  for (const i of range(TQ)) pre.push(`let qi${i} = min(q0 + ${i}u, ci4 - 1u);`);
  for (const j of range(TC)) for (const i of range(TQ)) pre.push(`var a${j}_${i} = vec4f(0.0);`);
  const body: string[] = [];
  for (const b of range(TB)) body.push(`let g${b} = G[gb + cb${b}];`);
  for (const i of range(TQ)) body.push(`let x${i} = X[xb + qi${i}];`);
  for (const j of range(TC)) for (const i of range(TQ)) body.push(`a${j}_${i} = fma(vec4f(g${j >> 2}.${'xyzw'[j & 3]}), x${i}, a${j}_${i});`);
  const store: string[] = [];
  for (const j of range(TC))
    for (const i of range(TQ))
      store.push(`if (c0 + ${j}u < p.co && q0 + ${i}u < ci4) { DW[((c0 + ${j}u) * p.kh * p.kw + kk) * ci4 + q0 + ${i}u] = a${j}_${i}; }`);
  return {
    name: `conv2d_bwd_w_vec4_${TC}x${4 * TQ}`,
    code: /* wgsl */ `
${P}
${flat}
@group(0) @binding(0) var<storage, read> X: array<vec4f>;
@group(0) @binding(1) var<storage, read> G: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> DW: array<vec4f>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(${t.WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let tid = thread_index(gid, nw, ${t.WG}u);
  if (tid >= p.nthreads) { return; }
  let ci4 = p.ci / 4u;
  let co4 = p.co / 4u;
  let nqb = (ci4 + ${TQ - 1}u) / ${TQ}u;
  let q0 = (tid % nqb) * ${TQ}u;
  let rest = tid / nqb;
  let kk = rest % (p.kh * p.kw);
  let c0 = (rest / (p.kh * p.kw)) * ${TC}u;
  let kh = kk / p.kw;
  let kw = kk % p.kw;
  ${pre.join('\n  ')}
  ${weightGradTapLoop('co4', 'ci4', body)}
  ${store.join('\n  ')}
}`,
  };
}

// Built once per tile and flags (memoKernel): a conv dispatch otherwise rebuilt a multi-KB WGSL
// string, and the runtime re-hashed it, on every call (≈ 0.1 ms of host time per op, measured
// against a tiny op's 0.04, on the MinAtar torso where an op's kernel is ≈ 0.5 ms).
export const convFwdKernel = memoKernel(convFwdKernelMake);
export const convFwdVec4Kernel = memoKernel(convFwdVec4KernelMake);
export const convBwdInKernel = memoKernel(convBwdInKernelMake);
export const convBwdWKernel = memoKernel(convBwdWKernelMake);
export const convBwdWVec4Kernel = memoKernel(convBwdWVec4KernelMake);

export const CONV_GRID_WG = GRID_WG;

/**
 * im2col: the patch matrix cols[m, k] of a convolution, m = (n, oh, ow) and k = (kh, kw, ci) in
 * the weight's own order, so conv2d = cols · W[co, k]ᵀ and its weight gradient = gyᵀ · cols run
 * on the register-blocked linear/matmul kernels (the tuner picks this path per shape when it
 * wins: ConvTile.IM2COL). Zero where a patch reaches into the padding. One thread per element;
 * p.nthreads = M·K.
 */
export const im2colKernel = {
  name: 'conv2d_im2col',
  code: /* wgsl */ `
${P}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${GRID_WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * ${GRID_WG}u;
  if (i >= p.nthreads) { return; }
  let kdim = p.kh * p.kw * p.ci;
  let m = i / kdim;
  let k = i % kdim;
  let c = k % p.ci;
  let kw = (k / p.ci) % p.kw;
  let kh = k / (p.ci * p.kw);
  let ow = m % p.ow;
  let oh = (m / p.ow) % p.oh;
  let n = m / (p.ow * p.oh);
  let ih = i32(oh * p.sh + kh) - i32(p.ph);
  let iw = i32(ow * p.sw + kw) - i32(p.pw);
  var v = 0.0;
  if (ih >= 0 && iw >= 0 && u32(ih) < p.h && u32(iw) < p.w) { v = X[((n * p.h + u32(ih)) * p.w + u32(iw)) * p.ci + c]; }
  C[i] = v;
}`,
};
