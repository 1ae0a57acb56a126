// conv2d as three differentiable primitives over NHWC activations and [outC, kH, kW, inC]
// weights: the forward convolution, its input gradient (a transposed convolution) and its
// weight gradient (a correlation). Each one's backward is written with the other two, so the
// family is closed under differentiation and grad-of-grad / HVPs through convolutions run on
// the same kernels.

import { Tensor, allocTensor, record, runtime, shapeSize, fmtShape, noGrad, withoutTangents, type Shape } from '../tensor.ts';
import * as O from '../ops.ts';
import { grid } from '../../kernels/common.ts';
import { ACTIVATIONS, type Activation } from '../../kernels/nn.ts';
import { convFwdKernel, convFwdVec4Kernel, convFwdLaunch, convBwdInKernel, convBwdWKernel, convBwdWVec4Kernel, convBwdWVec4Threads, convBwdInThreads, convBwdWThreads, im2colKernel } from '../../kernels/conv.ts';
import { linear, linearBackWeight } from './functional.ts';
import { tileFor, DEFAULT_TABLES, getAdapterClass, shapeClass, type ConvTile } from '../../kernels/tune.ts';
import { abSwitch } from '../switch.ts';

export interface Conv2dArgs {
  stride?: number | [number, number];
  padding?: number | [number, number];
  activation?: Activation;
}

interface Geo {
  n: number; h: number; w: number; ci: number;
  oh: number; ow: number; co: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number;
}

const pair = (v: number | [number, number] | undefined, d: number): [number, number] =>
  v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v;

function geometry(xShape: Shape, wShape: Shape, stride: [number, number], pad: [number, number], op: string): Geo {
  if (xShape.length !== 4) throw new Error(`${op}: input must be NHWC [N, H, W, C], got ${fmtShape(xShape)}`);
  if (wShape.length !== 4) throw new Error(`${op}: weight must be [outC, kH, kW, inC], got ${fmtShape(wShape)}`);
  const [n, h, w, ci] = xShape;
  const [co, kh, kw, wci] = wShape;
  if (ci !== wci) throw new Error(`${op}: input has ${ci} channels but the weight ${fmtShape(wShape)} expects ${wci}`);
  const [sh, sw] = stride, [ph, pw] = pad;
  if (!(sh >= 1 && sw >= 1)) throw new Error(`${op}: stride must be >= 1`);
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (oh <= 0 || ow <= 0) throw new Error(`${op}: kernel ${kh}×${kw} does not fit input ${h}×${w} with padding ${ph},${pw}`);
  return { n, h, w, ci, oh, ow, co, kh, kw, sh, sw, ph, pw };
}

const alloc = allocTensor;

const pow2ceil = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
/** A tile's channel blocks never exceed the channels there are (no lanes computing clamped duplicates). */
function fit(t: ConvTile, pixelsOrIn: number | null, channels: number): ConvTile {
  return { ...t, TC: Math.min(t.TC, pow2ceil(channels)), TP: pixelsOrIn === null ? t.TP : Math.min(t.TP, pow2ceil(pixelsOrIn)) };
}

const words = (g: Geo, threads: number) => [g.n, g.h, g.w, g.ci, g.oh, g.ow, g.co, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, threads, Math.ceil((g.h + g.ph) / g.sh), Math.ceil((g.w + g.pw) / g.sw)];
const dims = (g: Geo) => ({ M: g.n * g.oh * g.ow, N: g.co, K: g.kh * g.kw * g.ci });

/** The patch matrix [N·OH·OW, kH·kW·inC] of x (one dispatch; kernels/conv.ts im2colKernel). */
function im2col(x: Tensor, g: Geo): Tensor {
  const d = dims(g);
  const cols = alloc([d.M, d.K]);
  runtime().dispatch({
    kernel: im2colKernel, inputs: [x.bufferFor('conv2d im2col')], outputs: [cols.buffer], params: words(g, d.M * d.K),
    workgroups: grid(d.M * d.K), label: 'conv2d im2col',
  });
  return cols;
}

/**
 * Runs fn on the patch matrix and frees it. No graph and no tangents inside: the conv ops record
 * their own (a tangent of the inner linear would miss x's and pre-empt conv2d's rule).
 */
function withCols<T>(x: Tensor, g: Geo, fn: (cols: Tensor) => T): T {
  return withoutTangents(() => noGrad(() => {
    const cols = im2col(x, g);
    try {
      return fn(cols);
    } finally {
      cols.dispose();
    }
  }));
}

function fwdRaw(x: Tensor, w: Tensor, b: Tensor | null, g: Geo, act: Activation): Tensor {
  const t = fit(tileFor<ConvTile>('conv', dims(g)), null, g.co);
  if (t.IM2COL) {
    // act(cols · W[co, K]ᵀ + b) on the fused linear kernel
    return withCols(x, g, (cols) => {
      const w2 = O.reshape(w, [g.co, g.kh * g.kw * g.ci]);
      const y = linear(cols, w2, b, act);
      const out = O.reshape(y, [g.n, g.oh, g.ow, g.co]);
      if (w2 !== w) w2.dispose();
      if (out !== y) y.dispose();
      return out;
    });
  }
  const out = alloc([g.n, g.oh, g.ow, g.co]);
  const v4 = VEC4.on && g.ci % 4 === 0;
  const { threads, workgroups } = convFwdLaunch(t, g.n * g.oh * g.ow, g.co);
  runtime().dispatch({
    kernel: { ...(v4 ? convFwdVec4Kernel(t) : convFwdKernel(t)), constants: { ACT: ACTIVATIONS[act], HAS_BIAS: b ? 1 : 0 } },
    inputs: [x.bufferFor('conv2d'), w.bufferFor('conv2d'), (b ?? w).bufferFor('conv2d')],
    outputs: [out.buffer],
    params: words(g, threads),
    workgroups,
    label: 'conv2d',
  });
  return out;
}

/**
 * 2-D convolution: x [N, H, W, inC] (NHWC), w [outC, kH, kW, inC], b [outC] or null →
 * act(conv + b) [N, OH, OW, outC], OH = ⌊(H + 2·pad − kH)/stride⌋ + 1. One dispatch forward;
 * backward = one transposed-conv dispatch (dx) + one correlation dispatch (dw) + a bias sum.
 */
export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, args: Conv2dArgs = {}): Tensor {
  const stride = pair(args.stride, 1), pad = pair(args.padding, 0);
  const act = args.activation ?? 'none';
  const g = geometry(x.shape, w.shape, stride, pad, 'conv2d');
  if (b && b.size !== g.co) throw new Error(`conv2d: bias ${fmtShape(b.shape)} does not match ${g.co} output channels`);
  if (linearPaths.on && isPatchify(g)) return patchifyConv(x, w, b, g, act);
  const y = fwdRaw(x, w, b, g, act);
  const inputs = b ? [x, w, b] : [x, w];
  return record(y, 'conv2d', inputs, (gy, needs) => {
    const gp = act === 'none' ? gy : actGrad(act, gy, y);
    return [
      needs[0] ? conv2dBackInput(gp, w, x.shape, stride, pad) : null,
      needs[1] ? conv2dBackWeight(x, gp, w.shape, stride, pad) : null,
      b && needs[2] ? O.reshape(O.sum(gp, [0, 1, 2]), b.shape) : null,
    ];
  });
}

/**
 * A convolution whose windows tile the input exactly (kernel = stride, no padding, the input a
 * whole number of windows: 1×1 convolutions, and patch embeddings such as SPRIG's 2×2/stride 2)
 * reads every input pixel once, so it IS a linear layer on the rows of non-overlapping patches:
 * the patch matrix is a permutation of x (no im2col gather for 1×1). conv2d takes this path
 * because the linear family's forward (activation fused) and backward (activation gradient
 * fused; dx in one dispatch; dW and db in one) beat the direct kernels on these shapes, and its
 * rules stay closed under differentiation (HVPs, JVPs). Same sums, another summation order.
 */
function isPatchify(g: Geo): boolean {
  return g.kh === g.sh && g.kw === g.sw && g.ph === 0 && g.pw === 0 && g.oh * g.kh === g.h && g.ow * g.kw === g.w;
}

function patchifyConv(x: Tensor, w: Tensor, b: Tensor | null, g: Geo, act: Activation): Tensor {
  const K = g.kh * g.kw * g.ci, M = g.n * g.oh * g.ow;
  const rows = g.kh === 1 && g.kw === 1
    ? O.reshape(x, [M, K])
    // [n, oh, kh, ow, kw, ci] → [n, oh, ow, kh, kw, ci]: each row one window in the weight's (kh, kw, ci) order
    : O.reshape(O.permute(O.reshape(x, [g.n, g.oh, g.kh, g.ow, g.kw, g.ci]), [0, 1, 3, 2, 4, 5]), [M, K]);
  return O.reshape(linear(rows, O.reshape(w, [g.co, K]), b, act), [g.n, g.oh, g.ow, g.co]);
}

const linearPaths = abSwitch(true);
/**
 * Whether conv2d runs exactly tiling convolutions (kernel = stride, no padding: 1×1, patch
 * embeddings) as a linear layer on the patch rows (default true; false: the direct kernels, for
 * benchmarks and tests that compare both). Returns the previous value.
 */
export const convLinearPaths = linearPaths.set;

function actGrad(act: Activation, g: Tensor, y: Tensor): Tensor {
  switch (act) {
    case 'relu': return O.mul(g, O.step(y));
    case 'tanh': return O.mul(g, O.sub(1, O.square(y)));
    case 'sigmoid': return O.mul(g, O.mul(y, O.sub(1, y)));
    default: return g;
  }
}

/** The gradient of conv2d with respect to its input (a transposed convolution of gy with w). */
export function conv2dBackInput(gy: Tensor, w: Tensor, xShape: Shape, stride: [number, number], pad: [number, number]): Tensor {
  const g = geometry(xShape, w.shape, stride, pad, 'conv2dBackInput');
  if (gy.shape.join() !== [g.n, g.oh, g.ow, g.co].join()) throw new Error(`conv2dBackInput: gradient ${fmtShape(gy.shape)} does not match output [${g.n}, ${g.oh}, ${g.ow}, ${g.co}]`);
  const dx = alloc(xShape);
  if (flipInput.on && g.sh === 1 && g.sw === 1 && g.ph < g.kh && g.pw < g.kw) backInputFlipped(gy, w, dx, g);
  else backInputResidue(gy, w, dx, g);
  return record(dx, 'conv2dBackInput', [gy, w], (gg, needs) => [
    needs[0] ? conv2d(gg, w, null, { stride, padding: pad }) : null,
    needs[1] ? conv2dBackWeight(gg, gy, w.shape, stride, pad) : null,
  ]);
}

const flipInput = abSwitch(true);
const VEC4 = abSwitch(true);
/**
 * Whether the forward, flipped input-gradient and weight-gradient kernels load channels as vec4
 * where the channel counts are multiples of 4 (default true; false: the scalar kernels, for
 * benchmarks and tests that compare both). Returns the previous value.
 */
export const convVec4 = VEC4.set;
/**
 * Whether a stride-1 input gradient runs as a forward convolution of gy with the flipped weight
 * (default true; false: the residue-class kernel every stride uses). Returns the previous value
 * (benchmarks compare both in one process).
 */
export const convFlippedBackInput = flipInput.set;

/**
 * dx = conv2d(gy, w') with w' [ci, kH, kW, co] = w [co, kH−1−kh, kW−1−kw, ci] and padding
 * k − 1 − p (stride 1): the forward kernel, register-blocked over TP input pixels × TC input
 * channels, at the forward family's tile for that problem; the weight is read flipped in place.
 */
function backInputFlipped(gy: Tensor, w: Tensor, dx: Tensor, g: Geo) {
  const gf: Geo = { n: g.n, h: g.oh, w: g.ow, ci: g.co, oh: g.h, ow: g.w, co: g.ci, kh: g.kh, kw: g.kw, sh: 1, sw: 1, ph: g.kh - 1 - g.ph, pw: g.kw - 1 - g.pw };
  const d = dims(gf);
  let t0 = tileFor<ConvTile>('conv', d);
  // (an im2col choice is about the forward's patch matrix; here the direct kernel runs)
  if (t0.IM2COL) t0 = DEFAULT_TABLES[getAdapterClass()].conv[shapeClass(d)] as ConvTile;
  const v4 = VEC4.on && gf.ci % 4 === 0 && gf.co % 4 === 0;
  const t1 = fit(t0, null, gf.co);
  const t = v4 ? { ...t1, TC: Math.max(4, t1.TC) } : t1;
  const { threads, workgroups } = convFwdLaunch(t, gf.n * gf.oh * gf.ow, gf.co);
  runtime().dispatch({
    kernel: { ...(v4 ? convFwdVec4Kernel(t, true) : convFwdKernel(t, true)), constants: { ACT: 0, HAS_BIAS: 0 } },
    inputs: [gy.bufferFor('conv2dBackInput'), w.bufferFor('conv2dBackInput'), w.bufferFor('conv2dBackInput')],
    outputs: [dx.buffer],
    params: words(gf, threads),
    workgroups,
    label: 'conv2dBackInput',
  });
}

function backInputResidue(gy: Tensor, w: Tensor, dx: Tensor, g: Geo) {
  const t = fit(tileFor<ConvTile>('convBackInput', dims(g)), null, g.ci);
  const v4 = VEC4.on && g.ci % 4 === 0;
  const threads = convBwdInThreads(t, g.n, g.sh, g.sw, Math.ceil((g.h + g.ph) / g.sh), Math.ceil((g.w + g.pw) / g.sw), g.ci, v4);
  runtime().dispatch({
    kernel: convBwdInKernel(t, v4),
    inputs: [gy.bufferFor('conv2dBackInput'), w.bufferFor('conv2dBackInput')],
    outputs: [dx.buffer],
    params: words(g, threads),
    workgroups: grid(threads, t.WG),
    label: 'conv2dBackInput',
  });
}

/** The gradient of conv2d with respect to its weight (the correlation of x with gy). */
export function conv2dBackWeight(x: Tensor, gy: Tensor, wShape: Shape, stride: [number, number], pad: [number, number]): Tensor {
  const g = geometry(x.shape, wShape, stride, pad, 'conv2dBackWeight');
  if (gy.shape.join() !== [g.n, g.oh, g.ow, g.co].join()) throw new Error(`conv2dBackWeight: gradient ${fmtShape(gy.shape)} does not match output [${g.n}, ${g.oh}, ${g.ow}, ${g.co}]`);
  const t = fit(tileFor<ConvTile>('convBackWeight', dims(g)), g.ci, g.co);
  const dw = t.IM2COL
    // dW[co, K] = gyᵀ · cols on the linear weight-gradient kernel (no activation: y is not read)
    ? withCols(x, g, (cols) => {
      const gy2 = O.reshape(gy, [g.n * g.oh * g.ow, g.co]);
      const [d2] = linearBackWeight(gy2, gy2, cols, 'none', false);
      const out = O.reshape(d2, wShape);
      if (gy2 !== gy) gy2.dispose();
      if (out !== d2) d2.dispose();
      return out;
    })
    : backWeightDirect(x, gy, wShape, g, t);
  return record(dw, 'conv2dBackWeight', [x, gy], (gw, needs) => [
    needs[0] ? conv2dBackInput(gy, gw, x.shape, stride, pad) : null,
    needs[1] ? conv2d(x, gw, null, { stride, padding: pad }) : null,
  ]);
}

function backWeightDirect(x: Tensor, gy: Tensor, wShape: Shape, g: Geo, t: ConvTile): Tensor {
  const dw = alloc(wShape);
  const v4 = VEC4.on && g.ci % 4 === 0 && g.co % 4 === 0;
  const threads = v4 ? convBwdWVec4Threads(t, g.co, g.kh * g.kw, g.ci) : convBwdWThreads(t, g.co, g.kh * g.kw, g.ci);
  runtime().dispatch({
    kernel: v4 ? convBwdWVec4Kernel(t) : convBwdWKernel(t),
    inputs: [x.bufferFor('conv2dBackWeight'), gy.bufferFor('conv2dBackWeight')],
    outputs: [dw.buffer],
    params: words(g, threads),
    workgroups: grid(threads, t.WG),
    label: 'conv2dBackWeight',
  });
  return dw;
}

/** Output spatial size of a convolution (for building models). */
export function convOutputSize(size: number, kernel: number, stride = 1, padding = 0) {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}
