// The differentiable primitives. Each op checks its inputs (errors name the op and the shapes),
// launches a kernel, and records a GradNode whose backward is written with these same ops, so
// any derivative can be differentiated again.

import { Tensor, allocTensor, record, runtime, shapeSize, fmtShape, noGrad, tangentOf, setTangent, dualTangents, type Shape } from './tensor.ts';
import { f32bits } from './runtime.ts';
import { grid, pack8, contiguousStrides, MAX_RANK } from '../kernels/common.ts';
import {
  UNARY, BINARY, unaryKernel, binaryKernel, scalarKernel, whereKernel, fillKernel, copyKernel, UNARY_DERIV, BINARY_DERIV, unaryDualKernel,
  binaryDualKernel, scalarDualKernel,
} from '../kernels/elementwise.ts';
import { reduceKernel, type ReduceOp, GROUP } from '../kernels/reduce.ts';
import { matmulVec4Kernel, matmulStridedKernel, matmulDualKernel, type MatmulTile } from '../kernels/matmul.ts';
import { gatherKernel, scatterAddKernel } from '../kernels/gather.ts';
import { randomKernel } from '../kernels/random.ts';
import { tileFor, fitTile } from '../kernels/tune.ts';

export type TensorLike = Tensor | number;

// ------------------------------------------------------------------ helpers

const alloc = allocTensor;

function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) {
    throw new Error(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

function normAxes(axes: number | readonly number[] | undefined | null, rank: number, op: string): number[] {
  if (axes === undefined || axes === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(a, rank, op)))].sort((a, b) => a - b);
  return out;
}

export function broadcastShapes(a: Shape, b: Shape, op = 'broadcast'): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of `shape` viewed as broadcast to `target` (0 on broadcast dims). */
function broadcastStrides(shape: Shape, target: Shape): number[] {
  const st = contiguousStrides(shape);
  const off = target.length - shape.length;
  return target.map((_, i) => (i < off || shape[i - off] === 1 ? 0 : st[i - off]));
}

function sameShape(a: Shape, b: Shape) {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Drops size-1 dims, merges dims that are contiguous in every operand: keeps kernels under MAX_RANK. */
function coalesce(shape: number[], stridesList: number[][]): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const strides: number[][] = stridesList.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && stridesList.every((s, k) => strides[k][last] === s[i] * shape[i])) {
      dims[last] *= shape[i];
      stridesList.forEach((s, k) => (strides[k][last] = s[i]));
    } else {
      dims.push(shape[i]);
      stridesList.forEach((s, k) => strides[k].push(s[i]));
    }
  }
  if (dims.length > MAX_RANK) throw new Error(`tensor rank ${dims.length} (after merging) exceeds the maximum ${MAX_RANK}`);
  return { shape: dims, strides };
}

function asTensor(x: TensorLike, op: string): Tensor {
  if (x instanceof Tensor) return x;
  throw new Error(`${op}: expected a Tensor, got ${typeof x}`);
}

// ------------------------------------------------------------------ creation

export function tensor(data: unknown, shape?: Shape): Tensor {
  let flat: Float32Array;
  let inferred: number[];
  if (typeof data === 'number') {
    flat = new Float32Array([data]);
    inferred = [];
  } else if (ArrayBuffer.isView(data)) {
    flat = data instanceof Float32Array ? data : Float32Array.from(data as unknown as ArrayLike<number>);
    inferred = [flat.length];
  } else if (Array.isArray(data)) {
    inferred = [];
    let cur: unknown = data;
    while (Array.isArray(cur)) {
      inferred.push(cur.length);
      cur = cur[0];
    }
    flat = new Float32Array(shapeSize(inferred));
    let k = 0;
    const walk = (x: unknown, depth: number) => {
      if (depth === inferred.length) {
        if (typeof x !== 'number' && typeof x !== 'boolean') throw new Error(`tensor(): expected a number at depth ${depth}, got ${typeof x}`);
        flat[k++] = Number(x);
        return;
      }
      if (!Array.isArray(x) || x.length !== inferred[depth]) {
        throw new Error(`tensor(): ragged nested array: expected length ${inferred[depth]} at depth ${depth}, got ${Array.isArray(x) ? x.length : typeof x}`);
      }
      for (const v of x) walk(v, depth + 1);
    };
    walk(data, 0);
  } else {
    throw new Error(`tensor(): cannot make a tensor from ${data === null ? 'null' : typeof data}`);
  }
  const s = shape ? [...shape] : inferred;
  if (shapeSize(s) !== flat.length) {
    throw new Error(`tensor(): ${flat.length} values do not fill shape ${fmtShape(s)} (${shapeSize(s)} elements)`);
  }
  validateShape(s, 'tensor()');
  return Tensor.fromBuffer(runtime().upload(flat), s);
}

function validateShape(shape: Shape, op: string) {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${fmtShape(shape)}`);
  }
}

export function full(shape: Shape, value: number): Tensor {
  validateShape(shape, 'full');
  const out = alloc(shape);
  const n = shapeSize(shape);
  runtime().dispatch({ kernel: fillKernel, inputs: [], outputs: [out.buffer], params: [n, f32bits(value)], workgroups: grid(n), label: 'full' });
  return out;
}
export const zeros = (shape: Shape) => full(shape, 0);
export const ones = (shape: Shape) => full(shape, 1);
export const zerosLike = (x: Tensor) => full(x.shape, 0);
export const onesLike = (x: Tensor) => full(x.shape, 1);
export const fullLike = (x: Tensor, v: number) => full(x.shape, v);

export function arange(start: number, stop?: number, step = 1): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = start + i * step;
  return tensor(d, [n]);
}

export function linspace(start: number, stop: number, n: number): Tensor {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = n === 1 ? start : start + ((stop - start) * i) / (n - 1);
  return tensor(d, [n]);
}

export function eye(n: number, m = n): Tensor {
  const d = new Float32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) d[i * m + i] = 1;
  return tensor(d, [n, m]);
}

// Counter-based RNG state: a 64-bit key and a running counter. Every draw consumes
// ceil(n/2) counters, so a seeded program is reproducible regardless of batching.
const rngState = { k0: 0x243f6a88, k1: 0x85a308d3, counter: 0 };
export function seed(s: number) {
  rngState.k0 = s >>> 0;
  rngState.k1 = Math.floor(s / 2 ** 32) >>> 0 ^ 0x85a308d3;
  rngState.counter = 0;
}
export function getRngState() {
  return { ...rngState };
}
export function setRngState(s: { k0: number; k1: number; counter: number }) {
  Object.assign(rngState, s);
}

export interface RandomOptions {
  /** Explicit key: the draw is then a pure function of (seed, shape), not of the global counter. */
  seed?: number;
}
function drawRandom(shape: Shape, dist: 0 | 1, a: number, b: number, opts: RandomOptions): Tensor {
  validateShape(shape, dist ? 'randn' : 'rand');
  const n = shapeSize(shape);
  const pairs = Math.ceil(n / 2);
  let k0: number, k1: number, base: number;
  if (opts.seed !== undefined) {
    k0 = opts.seed >>> 0;
    k1 = Math.floor(opts.seed / 2 ** 32) >>> 0;
    base = 0;
  } else {
    ({ k0, k1 } = rngState);
    base = rngState.counter;
    rngState.counter = (rngState.counter + pairs) >>> 0;
  }
  const out = alloc(shape);
  runtime().dispatch({
    kernel: randomKernel,
    inputs: [],
    outputs: [out.buffer],
    params: [n, k0, k1, base, f32bits(a), f32bits(b), dist],
    workgroups: grid(pairs),
    label: dist ? 'randn' : 'rand',
  });
  return out;
}
/** Uniform [lo, hi). */
export const rand = (shape: Shape, lo = 0, hi = 1, opts: RandomOptions = {}) => drawRandom(shape, 0, lo, hi, opts);
/** Normal(mean, std). */
export const randn = (shape: Shape, mean = 0, std = 1, opts: RandomOptions = {}) => drawRandom(shape, 1, mean, std, opts);

// ------------------------------------------------------------------ elementwise

function unaryRaw(op: string, x: Tensor): Tensor {
  const out = alloc(x.shape);
  runtime().dispatch({ kernel: unaryKernel(op), inputs: [x.bufferFor(op)], outputs: [out.buffer], params: [x.size], workgroups: grid(x.size), label: op });
  return out;
}

type UnaryBackward = (g: Tensor, x: Tensor, out: Tensor) => Tensor;
const UNARY_BWD: Record<string, UnaryBackward | null> = {
  neg: (g) => neg(g),
  abs: (g, x) => mul(g, sign(x)),
  exp: (g, _x, o) => mul(g, o),
  log: (g, x) => div(g, x),
  sqrt: (g, _x, o) => div(mul(g, 0.5), o),
  rsqrt: (g, _x, o) => mul(mul(g, -0.5), mul(o, square(o))),
  square: (g, x) => mul(g, mul(x, 2)),
  tanh: (g, _x, o) => mul(g, sub(1, square(o))),
  sigmoid: (g, _x, o) => mul(g, mul(o, sub(1, o))),
  relu: (g, x) => mul(g, step(x)),
  sin: (g, x) => mul(g, cos(x)),
  cos: (g, x) => neg(mul(g, sin(x))),
  reciprocal: (g, _x, o) => neg(mul(g, square(o))),
  log1p: (g, x) => div(g, add(x, 1)),
  expm1: (g, _x, o) => mul(g, add(o, 1)),
  softplus: (g, x) => mul(g, sigmoid(x)),
  // Piecewise-constant: zero derivative almost everywhere.
  sign: null,
  step: null,
  floor: null,
  ceil: null,
  round: null,
  isfinite: null,
};

function unary(op: string) {
  return (x: Tensor): Tensor => {
    x = asTensor(x, op);
    const bwd = UNARY_BWD[op];
    const tx = bwd && UNARY_DERIV[op] && dualTangents() ? tangentOf(x) : null;
    let out: Tensor;
    if (tx) {
      // inside a jvp: value and tangent in one dispatch
      out = alloc(x.shape);
      const tan = alloc(x.shape);
      runtime().dispatch({
        kernel: unaryDualKernel(op), inputs: [x.bufferFor(op), tx.bufferFor(op)], outputs: [out.buffer, tan.buffer],
        params: [x.size], workgroups: grid(x.size), label: op,
      });
      setTangent(out, tan);
    } else out = unaryRaw(op, x);
    // elementwise: the Jacobian is diagonal, so the tangent rule is the backward rule applied to the tangent
    if (bwd) record(out, op, [x], (g) => [bwd(g, x, out)], [], ([t]) => bwd(t!, x, out));
    return out;
  };
}

export const neg = unary('neg');
export const abs = unary('abs');
export const exp = unary('exp');
export const log = unary('log');
export const sqrt = unary('sqrt');
export const rsqrt = unary('rsqrt');
export const square = unary('square');
export const tanh = unary('tanh');
export const sigmoid = unary('sigmoid');
export const relu = unary('relu');
export const sign = unary('sign');
export const sin = unary('sin');
export const cos = unary('cos');
export const reciprocal = unary('reciprocal');
export const step = unary('step');
export const floor = unary('floor');
export const ceil = unary('ceil');
export const round = unary('round');
export const log1p = unary('log1p');
export const expm1 = unary('expm1');
export const softplus = unary('softplus');
export const isfinite = unary('isfinite');
export const unaryOps = Object.keys(UNARY);

function binaryRaw(op: string, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = alloc(shape);
  const n = out.size;
  const rt = runtime();
  const ba = a.bufferFor(op);
  const bb = b.bufferFor(op);
  if (sameShape(a.shape, shape) && sameShape(b.shape, shape)) {
    rt.dispatch({ kernel: binaryKernel(op, 0, 0), inputs: [ba, bb], outputs: [out.buffer], params: [n, 0, 0, 0], workgroups: grid(n), label: op });
  } else {
    const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
    rt.dispatch({
      kernel: binaryKernel(op, 1, c.shape.length),
      inputs: [ba, bb],
      outputs: [out.buffer],
      params: [n, c.shape.length, 0, 0, ...pack8(c.shape), ...pack8(c.strides[0]), ...pack8(c.strides[1])],
      workgroups: grid(n),
      label: op,
    });
  }
  return out;
}

/** a op b and its tangent in one dispatch (inside a jvp); the tangent is set on the result. */
function binaryDual(op: string, a: Tensor, b: Tensor, ta: Tensor | null, tb: Tensor | null): Tensor {
  const shape = broadcastShapes(a.shape, b.shape, op);
  const out = alloc(shape), tan = alloc(shape);
  const n = out.size;
  const bufs = [a.bufferFor(op), b.bufferFor(op), (ta ?? a).bufferFor(op), (tb ?? b).bufferFor(op)];
  const same = sameShape(a.shape, shape) && sameShape(b.shape, shape);
  let params: number[] = [n, 0, 0, 0];
  let rank = 0;
  if (!same) {
    const c = coalesce(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
    rank = c.shape.length;
    params = [n, rank, 0, 0, ...pack8(c.shape), ...pack8(c.strides[0]), ...pack8(c.strides[1])];
  }
  runtime().dispatch({
    kernel: binaryDualKernel(op, same ? 0 : 1, !!ta, !!tb, rank), inputs: bufs, outputs: [out.buffer, tan.buffer],
    params, workgroups: grid(n), label: op,
  });
  setTangent(out, tan);
  return out;
}

function scalarRaw(op: string, a: Tensor, s: number, swap: boolean): Tensor {
  const out = alloc(a.shape);
  runtime().dispatch({
    kernel: scalarKernel(op),
    inputs: [a.bufferFor(op)],
    outputs: [out.buffer],
    params: [a.size, f32bits(s), swap ? 1 : 0],
    workgroups: grid(a.size),
    label: op,
  });
  return out;
}

/** t broadcast to `shape` when it is not already that shape (tangent rules of broadcasting ops). */
function toShape(t: Tensor, shape: Shape): Tensor {
  return sameShape(t.shape, shape) ? t : broadcastTo(t, shape);
}

/** Sums g over the broadcast dimensions so it has `shape` again (the adjoint of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

type BinaryBackward = (g: Tensor, a: TensorLike, b: TensorLike, out: Tensor, needs: boolean[]) => [Tensor | null, Tensor | null];
const BINARY_BWD: Record<string, BinaryBackward | null> = {
  add: (g) => [g, g],
  sub: (g, _a, _b, _o, n) => [g, n[1] ? neg(g) : null],
  mul: (g, a, b, _o, n) => [n[0] ? mul(g, b) : null, n[1] ? mul(g, a) : null],
  div: (g, a, b, o, n) => [n[0] ? div(g, b) : null, n[1] ? neg(div(mul(g, o), b)) : null],
  pow: (g, a, b, o, n) => [
    n[0] ? mul(g, mul(b, pow(a, sub(b, 1)))) : null,
    n[1] ? mul(g, mul(o, typeof a === 'number' ? Math.log(a) : log(a))) : null,
  ],
  // Ties send the gradient to the first operand (as numpy/torch's maximum on equal inputs is ambiguous).
  maximum: (g, a, b, _o, n) => {
    const m = ge(a, b);
    return [n[0] ? mul(g, m) : null, n[1] ? mul(g, sub(1, m)) : null];
  },
  minimum: (g, a, b, _o, n) => {
    const m = le(a, b);
    return [n[0] ? mul(g, m) : null, n[1] ? mul(g, sub(1, m)) : null];
  },
  atan2: (g, a, b, _o, n) => {
    const sq = (x: TensorLike) => (typeof x === 'number' ? x * x : square(x));
    const d = add(sq(a), sq(b));
    return [n[0] ? mul(g, div(b, d)) : null, n[1] ? neg(mul(g, div(a, d))) : null];
  },
  eq: null, ne: null, lt: null, le: null, gt: null, ge: null,
};

function binary(op: string) {
  return (a: TensorLike, b: TensorLike): Tensor => {
    const bwd = BINARY_BWD[op];
    if (typeof a === 'number' && typeof b === 'number') return tensor(binaryScalarCpu(op, a, b));
    if (typeof b === 'number' || typeof a === 'number') {
      const swap = typeof a === 'number';
      const t = (swap ? b : a) as Tensor;
      const s = (swap ? a : b) as number;
      const tt = bwd && BINARY_DERIV[op] && dualTangents() ? tangentOf(t) : null;
      let out: Tensor;
      if (tt) {
        out = alloc(t.shape);
        const tan = alloc(t.shape);
        runtime().dispatch({
          kernel: scalarDualKernel(op), inputs: [t.bufferFor(op), tt.bufferFor(op)], outputs: [out.buffer, tan.buffer],
          params: [t.size, f32bits(s), swap ? 1 : 0], workgroups: grid(t.size), label: op,
        });
        setTangent(out, tan);
      } else out = scalarRaw(op, t, s, swap);
      if (bwd) {
        record(out, op, [t], (g) => {
          const needs = swap ? [false, true] : [true, false];
          const gs = bwd(g, a, b, out, needs);
          return [swap ? gs[1] : gs[0]];
        }, [], ([tt]) => {
          const gs = bwd(tt!, a, b, out, swap ? [false, true] : [true, false]);
          return toShape(swap ? gs[1]! : gs[0]!, out.shape);
        });
      }
      return out;
    }
    const dual = !!bwd && !!BINARY_DERIV[op] && dualTangents();
    const ta = dual ? tangentOf(a) : null, tb = dual ? tangentOf(b) : null;
    const out = ta || tb ? binaryDual(op, a, b, ta, tb) : binaryRaw(op, a, b);
    if (bwd) {
      record(out, op, [a, b], (g, needs) => {
        const [ga, gb] = bwd(g, a, b, out, needs);
        return [ga && needs[0] ? sumToShape(ga, a.shape) : null, gb && needs[1] ? sumToShape(gb, b.shape) : null];
      }, [], ([ta, tb]) => {
        const pa = ta ? toShape(bwd(ta, a, b, out, [true, false])[0]!, out.shape) : null;
        const pb = tb ? toShape(bwd(tb, a, b, out, [false, true])[1]!, out.shape) : null;
        return pa && pb ? add(pa, pb) : (pa ?? pb)!;
      });
    }
    return out;
  };
}

function binaryScalarCpu(op: string, a: number, b: number): number {
  const f: Record<string, (a: number, b: number) => number> = {
    add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b,
    pow: (a, b) => a ** b, maximum: Math.max, minimum: Math.min, atan2: Math.atan2,
    eq: (a, b) => +(a === b), ne: (a, b) => +(a !== b), lt: (a, b) => +(a < b),
    le: (a, b) => +(a <= b), gt: (a, b) => +(a > b), ge: (a, b) => +(a >= b),
  };
  return f[op](a, b);
}

export const add = binary('add');
export const sub = binary('sub');
export const mul = binary('mul');
export const div = binary('div');
export const pow = binary('pow');
export const maximum = binary('maximum');
export const minimum = binary('minimum');
export const atan2 = binary('atan2');
export const eq = binary('eq');
export const ne = binary('ne');
export const lt = binary('lt');
export const le = binary('le');
export const gt = binary('gt');
export const ge = binary('ge');
export const binaryOps = Object.keys(BINARY);

/** cond != 0 ? a : b, with numpy broadcasting over all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const A = typeof a === 'number' ? full([], a) : a;
  const B = typeof b === 'number' ? full([], b) : b;
  const shape = broadcastShapes(broadcastShapes(cond.shape, A.shape, 'where'), B.shape, 'where');
  const out = alloc(shape);
  const n = out.size;
  const rt = runtime();
  const bufs = [cond.bufferFor('where'), A.bufferFor('where'), B.bufferFor('where')];
  if ([cond, A, B].every((t) => sameShape(t.shape, shape))) {
    rt.dispatch({ kernel: whereKernel(0, 0), inputs: bufs, outputs: [out.buffer], params: [n, 0, 0, 0], workgroups: grid(n), label: 'where' });
  } else {
    const c = coalesce(shape, [cond, A, B].map((t) => broadcastStrides(t.shape, shape)));
    rt.dispatch({
      kernel: whereKernel(1, c.shape.length),
      inputs: bufs,
      outputs: [out.buffer],
      params: [n, c.shape.length, 0, 0, ...pack8(c.shape), ...pack8(c.strides[0]), ...pack8(c.strides[1]), ...pack8(c.strides[2])],
      workgroups: grid(n),
      label: 'where',
    });
  }
  record(out, 'where', [A, B], (g, needs) => [
    needs[0] ? sumToShape(where(cond, g, 0), A.shape) : null,
    needs[1] ? sumToShape(where(cond, 0, g), B.shape) : null,
  ], [cond], ([ta, tb]) => toShape(where(cond, ta ?? 0, tb ?? 0), shape));
  return out;
}

// ------------------------------------------------------------------ movement

export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const neg1 = s.indexOf(-1);
  if (neg1 >= 0) {
    const rest = shapeSize(s.filter((_, i) => i !== neg1));
    if (rest === 0 || x.size % rest !== 0) throw new Error(`reshape: cannot reshape ${fmtShape(x.shape)} into ${fmtShape(shape)}`);
    s[neg1] = x.size / rest;
  }
  validateShape(s, 'reshape');
  if (shapeSize(s) !== x.size) {
    throw new Error(`reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(s)} (${shapeSize(s)} elements)`);
  }
  const out = x.view(s);
  return record(out, 'reshape', [x], (g) => [reshape(g, x.shape)], [], ([t]) => reshape(t!, s));
}

export const flatten = (x: Tensor) => reshape(x, [x.size]);
export function expandDims(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  if (a < 0 || a > x.rank) throw new Error(`expandDims: axis ${axis} out of range for rank ${x.rank}`);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}
export function squeeze(x: Tensor, axes?: number | number[]): Tensor {
  const ax = axes === undefined ? x.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0) : normAxes(axes, x.rank, 'squeeze');
  for (const a of ax) if (x.shape[a] !== 1) throw new Error(`squeeze: axis ${a} of shape ${fmtShape(x.shape)} has size ${x.shape[a]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => !ax.includes(i)));
}

function copyRaw(src: Tensor, viewShape: number[], srcStrides: number[], srcOff: number, dst: Tensor, dstStrides: number[], dstOff: number, label: string) {
  const n = shapeSize(viewShape);
  if (n === 0) return;
  const c = coalesce(viewShape, [srcStrides, dstStrides]);
  // A contiguous innermost run of a multiple of 4 floats in both operands (a permute that keeps
  // the feature axis, a concat of rows), everything 4-aligned: copy it as vec4s, one offset
  // computation per 4 floats.
  const last = c.shape.length - 1;
  const v4 = last >= 0 && c.shape[last] % 4 === 0 && srcOff % 4 === 0 && dstOff % 4 === 0 &&
    c.strides.every((st) => st[last] === 1 && st.every((s, i) => i === last || s % 4 === 0));
  const q = v4 ? 4 : 1;
  const shape = v4 ? c.shape.map((d, i) => (i === last ? d / 4 : d)) : c.shape;
  const [ss, ds] = c.strides.map((st) => (v4 ? st.map((s, i) => (i === last ? 1 : s / 4)) : st));
  runtime().dispatch({
    kernel: copyKernel(c.shape.length, v4),
    inputs: [src.bufferFor(label)],
    outputs: [dst.buffer],
    params: [n / q, c.shape.length, srcOff / q, dstOff / q, ...pack8(shape), ...pack8(ss), ...pack8(ds)],
    workgroups: grid(n / q),
    label,
  });
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new Error(`permute: ${fmtShape(perm)} is not a permutation of the axes of a rank-${x.rank} tensor`);
  }
  if (perm.every((p, i) => p === i)) return reshape(x, x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const st = contiguousStrides(x.shape);
  const out = alloc(shape);
  copyRaw(x, shape, perm.map((p) => st[p]), 0, out, contiguousStrides(shape), 0, 'permute');
  const inv = new Array(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return record(out, 'permute', [x], (g) => [permute(g, inv)], [], ([t]) => permute(t!, perm));
}

/** Swaps two axes (default: the last two). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  if (x.rank < 2) return reshape(x, x.shape);
  const p = x.shape.map((_, i) => i);
  const i = normAxis(a, x.rank, 'transpose');
  const j = normAxis(b, x.rank, 'transpose');
  [p[i], p[j]] = [p[j], p[i]];
  return permute(x, p);
}

export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes(x.shape, shape, 'broadcastTo');
  if (!sameShape(target, shape)) throw new Error(`broadcastTo: cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  const out = alloc(shape);
  copyRaw(x, [...shape], broadcastStrides(x.shape, shape), 0, out, contiguousStrides(shape), 0, 'broadcastTo');
  return record(out, 'broadcastTo', [x], (g) => [sumToShape(g, x.shape)], [], ([t]) => broadcastTo(t!, shape));
}

export type SliceSpec = number | null | [number?, number?, number?];

function resolveSlice(shape: Shape, specs: readonly SliceSpec[], op: string) {
  if (specs.length > shape.length) throw new Error(`${op}: ${specs.length} slice specs for a tensor of shape ${fmtShape(shape)}`);
  const starts: number[] = [], steps: number[] = [], sizes: number[] = [], dropped: number[] = [];
  shape.forEach((d, i) => {
    const s = specs[i];
    if (s === null || s === undefined) {
      starts.push(0); steps.push(1); sizes.push(d);
    } else if (typeof s === 'number') {
      const k = s < 0 ? s + d : s;
      if (!Number.isInteger(k) || k < 0 || k >= d) throw new Error(`${op}: index ${s} out of range for axis ${i} of size ${d} (shape ${fmtShape(shape)})`);
      starts.push(k); steps.push(1); sizes.push(1); dropped.push(i);
    } else {
      const st = s[2] ?? 1;
      if (!Number.isInteger(st) || st <= 0) throw new Error(`${op}: step ${st} on axis ${i} must be a positive integer`);
      const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
      const a = clampIdx(s[0] ?? 0);
      const b = clampIdx(s[1] ?? d);
      starts.push(a); steps.push(st); sizes.push(Math.max(0, Math.ceil((b - a) / st)));
    }
  });
  return { starts, steps, sizes, dropped };
}

/** numpy-style basic slicing: per axis a number (selects, drops the axis), null (all) or [start, end, step]. */
export function slice(x: Tensor, specs: readonly SliceSpec[]): Tensor {
  const { starts, steps, sizes, dropped } = resolveSlice(x.shape, specs, 'slice');
  const kept = sliceRaw(x, starts, steps, sizes);
  return dropped.length ? reshape(kept, sizes.filter((_, i) => !dropped.includes(i))) : kept;
}

function sliceRaw(x: Tensor, starts: number[], steps: number[], sizes: number[]): Tensor {
  const st = contiguousStrides(x.shape);
  const out = alloc(sizes);
  const off = starts.reduce((acc, s, i) => acc + s * st[i], 0);
  copyRaw(x, sizes, st.map((s, i) => s * steps[i]), off, out, contiguousStrides(sizes), 0, 'slice');
  return record(out, 'slice', [x], (g) => [sliceScatter(g, x.shape, starts, steps)], [], ([t]) => sliceRaw(t!, starts, steps, sizes));
}

/** Zeros of `shape` with g written at the strided region (starts, steps): the adjoint of slicing. */
function sliceScatter(g: Tensor, shape: number[], starts: number[], steps: number[]): Tensor {
  const out = zeros(shape);
  const st = contiguousStrides(shape);
  const off = starts.reduce((acc, s, i) => acc + s * st[i], 0);
  copyRaw(g, g.shape, contiguousStrides(g.shape), 0, out, st.map((s, i) => s * steps[i]), off, 'sliceScatter');
  return record(out, 'sliceScatter', [g], (gg) => [sliceRaw(gg, starts, steps, g.shape)], [], ([t]) => sliceScatter(t!, shape, starts, steps));
}

export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (!xs.length) throw new Error('concat: needs at least one tensor');
  const r = xs[0].rank;
  const ax = normAxis(axis, r, 'concat');
  for (const t of xs) {
    if (t.rank !== r || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`concat: shapes ${xs.map((t) => fmtShape(t.shape)).join(', ')} differ outside axis ${ax}`);
    }
  }
  const shape = [...xs[0].shape];
  shape[ax] = xs.reduce((a, t) => a + t.shape[ax], 0);
  const out = alloc(shape);
  const ost = contiguousStrides(shape);
  let off = 0;
  const offsets: number[] = [];
  for (const t of xs) {
    offsets.push(off);
    copyRaw(t, t.shape, contiguousStrides(t.shape), 0, out, ost, off * ost[ax], 'concat');
    off += t.shape[ax];
  }
  return record(out, 'concat', [...xs], (g, needs) =>
    xs.map((t, i) => {
      if (!needs[i]) return null;
      const spec: SliceSpec[] = shape.map(() => null);
      spec[ax] = [offsets[i], offsets[i] + t.shape[ax]];
      return slice(g, spec);
    }),
    [], (ts) => concat(ts.map((t, i) => t ?? zeros(xs[i].shape)), ax));
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (!xs.length) throw new Error('stack: needs at least one tensor');
  for (const t of xs) if (!sameShape(t.shape, xs[0].shape)) throw new Error(`stack: shapes ${xs.map((t) => fmtShape(t.shape)).join(', ')} differ`);
  const a = axis < 0 ? axis + xs[0].rank + 1 : axis;
  return concat(xs.map((t) => expandDims(t, a)), a);
}

/** torch.gather: out[i][j][k] = x[i][idx[i][j][k]][k] for axis 1; idx has x's rank, out has idx's shape. */
export function gather(x: Tensor, idx: Tensor, axis: number): Tensor {
  const ax = normAxis(axis, x.rank, 'gather');
  if (idx.rank !== x.rank) throw new Error(`gather: index shape ${fmtShape(idx.shape)} must have the same rank as input shape ${fmtShape(x.shape)}`);
  for (let d = 0; d < x.rank; d++) {
    if (d !== ax && idx.shape[d] > x.shape[d]) {
      throw new Error(`gather: index shape ${fmtShape(idx.shape)} exceeds input shape ${fmtShape(x.shape)} on axis ${d}`);
    }
  }
  const out = alloc(idx.shape);
  const n = out.size;
  runtime().dispatch({
    kernel: gatherKernel,
    inputs: [x.bufferFor('gather'), idx.bufferFor('gather')],
    outputs: [out.buffer],
    params: [n, x.rank, ax, 0, ...pack8(idx.shape), ...pack8(contiguousStrides(x.shape)), ...pack8(x.shape)],
    workgroups: grid(n),
    label: 'gather',
  });
  return record(out, 'gather', [x], (g) => [scatterAdd(g, idx, ax, x.shape)], [idx], ([t]) => gather(t!, idx, ax));
}

/** The adjoint of gather: zeros of `shape` with g added at the gathered positions. */
export function scatterAdd(g: Tensor, idx: Tensor, axis: number, shape: Shape): Tensor {
  const out = alloc(shape);
  const n = out.size;
  runtime().dispatch({
    kernel: scatterAddKernel,
    inputs: [g.bufferFor('scatterAdd'), idx.bufferFor('scatterAdd')],
    outputs: [out.buffer],
    params: [n, shape.length, axis, idx.shape[axis], ...pack8([...shape]), ...pack8(contiguousStrides(idx.shape)), ...pack8(idx.shape)],
    workgroups: grid(n),
    label: 'scatterAdd',
  });
  return record(out, 'scatterAdd', [g], (gg) => [gather(gg, idx, axis)], [idx], ([t]) => scatterAdd(t!, idx, axis, shape));
}

/** Selects whole slices along an axis by a 1-D index tensor (numpy take). */
export function take(x: Tensor, idx: Tensor, axis = 0): Tensor {
  const ax = normAxis(axis, x.rank, 'take');
  if (idx.rank !== 1) throw new Error(`take: index must be 1-D, got shape ${fmtShape(idx.shape)}`);
  const shapeIdx = x.shape.map((d, i) => (i === ax ? idx.size : 1));
  const target = x.shape.map((d, i) => (i === ax ? idx.size : d));
  const idxAll = noGrad(() => broadcastTo(reshape(idx, shapeIdx), target));
  return gather(x, idxAll, ax);
}

// ------------------------------------------------------------------ reductions

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdims: boolean): Tensor {
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outShape = keepdims ? keptShape : x.shape.filter((_, i) => !axes.includes(i));
  // Ignore size-1 dims; then the reduced dims must form one contiguous block [a, b).
  const dims = x.shape.map((d, i) => ({ d, red: axes.includes(i) })).filter((e) => e.d !== 1);
  const redIdx = dims.map((e, i) => (e.red ? i : -1)).filter((i) => i >= 0);
  let src = x;
  let outer: number, R: number, inner: number;
  const contiguous = redIdx.length === 0 || redIdx[redIdx.length - 1] - redIdx[0] + 1 === redIdx.length;
  if (contiguous) {
    const a = redIdx.length ? redIdx[0] : dims.length;
    const b = redIdx.length ? redIdx[redIdx.length - 1] + 1 : dims.length;
    outer = shapeSize(dims.slice(0, a).map((e) => e.d));
    R = shapeSize(dims.slice(a, b).map((e) => e.d));
    inner = shapeSize(dims.slice(b).map((e) => e.d));
  } else {
    const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    src = noGrad(() => permute(x, [...keptAxes, ...axes]));
    outer = shapeSize(keptAxes.map((i) => x.shape[i]));
    R = shapeSize(axes.map((i) => x.shape[i]));
    inner = 1;
  }
  const out = alloc(outShape);
  const nOut = outer * inner;
  if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor of shape ${fmtShape(x.shape)}`);
  const group = R >= 256 && nOut <= 2048;
  runtime().dispatch({
    kernel: reduceKernel(op, group ? 'group' : 'thread'),
    inputs: [src.bufferFor(op)],
    outputs: [out.buffer],
    params: [outer, R, inner, nOut],
    workgroups: group ? grid(nOut, 1) : grid(nOut),
    label: op,
  });
  if (src !== x) src.dispose();
  return out;
}

type Axes = number | readonly number[] | null | undefined;

export function sum(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'sum');
  if (ax.length === 0) return reshape(x, x.shape);
  const out = reduceRaw('sum', x, ax, keepdims);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  return record(out, 'sum', [x], (g) => [broadcastTo(reshape(g, keptShape), x.shape)], [], ([t]) => sum(t!, ax, keepdims));
}

export function mean(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'mean');
  const n = ax.reduce((a, i) => a * x.shape[i], 1);
  return div(sum(x, ax, keepdims), n);
}

function extremum(op: 'max' | 'min') {
  return (x: Tensor, axes?: Axes, keepdims = false): Tensor => {
    const ax = normAxes(axes, x.rank, op);
    if (ax.length === 0) return reshape(x, x.shape);
    const out = reduceRaw(op, x, ax, keepdims);
    const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
    // The gradient is shared evenly among tied extrema (as jax's max does).
    return record(out, op, [x], (g) => {
      const o = reshape(out, keptShape);
      const mask = eq(x, o);
      const count = sum(mask, ax, true);
      return [mul(div(mask, count), reshape(g, keptShape))];
    }, [], ([t]) => {
      const mask = eq(x, reshape(out, keptShape));
      return sum(mul(t!, div(mask, sum(mask, ax, true))), ax, keepdims);
    });
  };
}
export const max = extremum('max');
export const min = extremum('min');

export function argmax(x: Tensor, axis = -1, keepdims = false): Tensor {
  const a = normAxis(axis, x.rank, 'argmax');
  return reduceRaw('argmax', x, [a], keepdims);
}
export function argmin(x: Tensor, axis = -1, keepdims = false): Tensor {
  const a = normAxis(axis, x.rank, 'argmin');
  return reduceRaw('argmin', x, [a], keepdims);
}

/** log Σ exp(x), stable: the max is subtracted first (as a constant, which leaves the gradient exact). */
export function logsumexp(x: Tensor, axes?: Axes, keepdims = false): Tensor {
  const ax = normAxes(axes, x.rank, 'logsumexp');
  const m = noGrad(() => {
    const mm = max(x, ax, true);
    // An all -inf row would give (-inf) - (-inf) = NaN: shift by 0 there instead.
    return where(isfinite(mm), mm, 0);
  });
  const s = log(sum(exp(sub(x, m)), ax, true));
  const r = add(s, m);
  return keepdims ? r : reshape(r, x.shape.filter((_, i) => !ax.includes(i)));
}

// ------------------------------------------------------------------ matmul

let matmulTile: MatmulTile | null = null;
/**
 * Forces the register-blocking tile of the vec4 matmul kernel for every shape (autotuning,
 * benchmarks); null returns to the per-shape tiles of kernels/tune.ts (autotuned or default).
 */
export function setMatmulTile(t: MatmulTile | null) {
  matmulTile = t;
}
/** The tile a matmul of these dims runs with (default: a large one). */
export function getMatmulTile(dims: { M: number; N: number; K: number } = { M: 1024, N: 1024, K: 1024 }): MatmulTile {
  return matmulTile ? (fitTile('matmul', matmulTile) as MatmulTile) : tileFor<MatmulTile>('matmul', dims);
}

/**
 * Batched C = op(A)·op(B) on tensors of rank >= 2 with broadcast batch dims.
 * transA/transB read A or B transposed in place, without a copy.
 */
export function mm(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error(`mm: operands need rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const M = transA ? ac : ar, K = transA ? ar : ac;
  const Kb = transB ? bc : br, N = transB ? br : bc;
  if (K !== Kb) {
    throw new Error(`matmul: inner dimensions differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} (${K} vs ${Kb})`);
  }
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2), 'matmul (batch dims)');
  const out = alloc([...batch, M, N]);
  const ta = dualTangents() ? tangentOf(a) : null, tb = dualTangents() ? tangentOf(b) : null;
  // inside a jvp: C and its tangent in one dispatch where the matrices are small (dispatch-bound);
  // big ones keep the vec4 kernel and take the tangent rule (two more matmuls and an add)
  if ((ta || tb) && shapeSize(batch) * M * N * K < 1 << 24 && shapeSize(batch) <= 65535 && batch.length <= 4 && K > 0) {
    setTangent(out, matmulDualInto(a, b, ta, tb, transA, transB, batch, M, N, K, out));
  } else matmulInto(a, b, transA, transB, batch, M, N, K, out);
  return record(out, 'matmul', [a, b], (g, needs) => {
    let ga: Tensor | null = null, gb: Tensor | null = null;
    if (needs[0]) ga = transA ? mm(b, g, transB, true) : mm(g, b, false, !transB);
    if (needs[1]) gb = transB ? mm(g, a, true, transA) : mm(a, g, !transA, false);
    return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
  }, [], ([ta, tb]) => {
    const pa = ta ? mm(ta, b, transA, transB) : null;
    const pb = tb ? mm(a, tb, transA, transB) : null;
    return pa && pb ? add(pa, pb) : (pa ?? pb)!;
  });
}

/** Batch shape padded to 4 dims, and an operand's batch strides in it (0 where it broadcasts). */
function batchParams(batch: number[]) {
  const bshape = batch.length ? [...batch] : [1];
  while (bshape.length < 4) bshape.unshift(1);
  const bstr = (t: Tensor) => {
    const tb = t.shape.slice(0, -2);
    const mat = t.shape[t.rank - 1] * t.shape[t.rank - 2];
    const st = contiguousStrides(tb).map((s) => s * mat);
    return [...new Array(4 - tb.length).fill(0), ...tb.map((d, i) => (d === 1 ? 0 : st[i]))];
  };
  return { bshape, bstr };
}

/** out = op(a)·op(b) into a new tensor, and returns its tangent (one dual dispatch). */
function matmulDualInto(a: Tensor, b: Tensor, ta: Tensor | null, tb: Tensor | null, tA: boolean, tB: boolean, batch: number[], M: number, N: number, K: number, out: Tensor): Tensor {
  const nb = shapeSize(batch);
  const tan = alloc([...batch, M, N]);
  const { bshape, bstr } = batchParams(batch);
  const params = [M, N, K, nb, ...bshape, ...bstr(a), ...bstr(b), tA ? 1 : K, tA ? M : 1, tB ? 1 : N, tB ? K : 1];
  runtime().dispatch({
    kernel: matmulDualKernel(!!ta, !!tb),
    inputs: [a.bufferFor('matmul'), b.bufferFor('matmul'), (ta ?? a).bufferFor('matmul'), (tb ?? b).bufferFor('matmul')],
    outputs: [out.buffer, tan.buffer],
    params,
    workgroups: [Math.ceil(N / 4 / 8), Math.ceil(M / 4 / 8), nb],
    label: 'matmul',
  });
  return tan;
}

function matmulInto(a: Tensor, b: Tensor, tA: boolean, tB: boolean, batch: number[], M: number, N: number, K: number, out: Tensor) {
  const nb = shapeSize(batch);
  if (nb * M * N === 0) return;
  if (K === 0) {
    runtime().dispatch({ kernel: fillKernel, inputs: [], outputs: [out.buffer], params: [out.size, 0], workgroups: grid(out.size), label: 'matmul' });
    return;
  }
  const bshape = batch.length ? [...batch] : [1];
  if (bshape.length > 4) throw new Error(`matmul: at most 4 batch dimensions are supported, got ${fmtShape(batch)}`);
  if (nb > 65535) throw new Error(`matmul: batch of ${nb} matrices exceeds 65535`);
  while (bshape.length < 4) bshape.unshift(1);
  const bstr = (t: Tensor) => {
    const tb = t.shape.slice(0, -2);
    const mat = t.shape[t.rank - 1] * t.shape[t.rank - 2];
    const st = contiguousStrides(tb).map((s) => s * mat);
    const padded = [...new Array(4 - tb.length).fill(0), ...tb.map((d, i) => (d === 1 ? 0 : st[i]))];
    return padded;
  };
  let A = a, B = b, tA2 = tA, tB2 = tB;
  const big = M * N * K >= 1 << 20;
  // For large transposed operands a copy into row-major order (one cheap dispatch) lets the
  // vec4 kernel run; for small ones the strided kernel avoids the extra dispatch.
  if (big && K % 4 === 0 && N % 4 === 0) {
    if (tA) { A = noGrad(() => transpose(a)); tA2 = false; }
    if (tB) { B = noGrad(() => transpose(b)); tB2 = false; }
  }
  const vec4 = !tA2 && !tB2 && K % 4 === 0 && N % 4 === 0;
  const rt = runtime();
  const params = [M, N, K, nb, ...bshape, ...bstr(A), ...bstr(B),
    tA2 ? 1 : K, tA2 ? M : 1, tB2 ? 1 : N, tB2 ? K : 1];
  if (vec4) {
    const t = getMatmulTile({ M, N, K });
    rt.dispatch({
      kernel: matmulVec4Kernel(t, M % t.TM === 0 && N % t.TN === 0),
      inputs: [A.bufferFor('matmul'), B.bufferFor('matmul')],
      outputs: [out.buffer],
      params,
      workgroups: [Math.ceil(N / t.TN / t.WX), Math.ceil(M / t.TM / t.WY), nb],
      label: 'matmul',
    });
  } else {
    rt.dispatch({
      kernel: matmulStridedKernel(),
      inputs: [A.bufferFor('matmul'), B.bufferFor('matmul')],
      outputs: [out.buffer],
      params,
      workgroups: [Math.ceil(N / 4 / 8), Math.ceil(M / 4 / 8), nb],
      label: 'matmul',
    });
  }
  if (A !== a) A.dispose();
  if (B !== b) B.dispose();
}

/** numpy matmul semantics: 1-D operands are promoted (and the added axis removed), batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: scalar operands are not allowed (shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}); use mul`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  if (a2.shape[a2.rank - 1] !== b2.shape[b2.rank - 2]) {
    throw new Error(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} are not aligned (${a2.shape[a2.rank - 1]} vs ${b2.shape[b2.rank - 2]})`);
  }
  let out = mm(a2, b2);
  if (a.rank === 1 || b.rank === 1) {
    const s = out.shape.slice();
    if (b.rank === 1) s.splice(s.length - 1, 1);
    if (a.rank === 1) s.splice(s.length - (b.rank === 1 ? 1 : 2), 1);
    out = reshape(out, s);
  }
  return out;
}

/** Sum of elementwise products over all elements: ⟨a, b⟩. */
export function dot(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new Error(`dot: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`);
  return sum(mul(a, b));
}

// ------------------------------------------------------------------ misc

/** The identity whose derivative is zero: the value flows, the gradient stops. */
export function stopGradient(x: Tensor): Tensor {
  return x.view(x.shape);
}

/** A copy with its own buffer. */
export function clone(x: Tensor): Tensor {
  const out = alloc(x.shape);
  if (x.size) {
    const src = x.bufferFor('clone'), dst = out.buffer;
    runtime().copy(src.buffer, src.offset, dst.buffer, dst.offset, x.size * 4);
  }
  return record(out, 'clone', [x], (g) => [g], [], ([t]) => t!);
}

/** Overwrites dst's buffer with src's values (no autodiff): in-place parameter updates. */
export function assign(dst: Tensor, src: Tensor) {
  if (!sameShape(dst.shape, src.shape)) throw new Error(`assign: shapes ${fmtShape(dst.shape)} and ${fmtShape(src.shape)} differ`);
  if (dst.size) {
    const s = src.bufferFor('assign'), d = dst.bufferFor('assign');
    runtime().copy(s.buffer, s.offset, d.buffer, d.offset, dst.size * 4);
  }
}
