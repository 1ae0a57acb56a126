// Method-style API on Tensor (x.add(y).relu().sum()), delegating to the functional ops.
import { Tensor } from './tensor.ts';
import * as ops from './ops.ts';
import type { TensorLike, SliceSpec } from './ops.ts';

type Axes = number | number[] | null | undefined;

declare module './tensor.ts' {
  interface Tensor {
    add(b: TensorLike): Tensor;
    sub(b: TensorLike): Tensor;
    mul(b: TensorLike): Tensor;
    div(b: TensorLike): Tensor;
    pow(b: TensorLike): Tensor;
    maximum(b: TensorLike): Tensor;
    minimum(b: TensorLike): Tensor;
    eq(b: TensorLike): Tensor;
    ne(b: TensorLike): Tensor;
    lt(b: TensorLike): Tensor;
    le(b: TensorLike): Tensor;
    gt(b: TensorLike): Tensor;
    ge(b: TensorLike): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    square(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    sign(): Tensor;
    matmul(b: Tensor): Tensor;
    sum(axes?: Axes, keepdims?: boolean): Tensor;
    mean(axes?: Axes, keepdims?: boolean): Tensor;
    max(axes?: Axes, keepdims?: boolean): Tensor;
    min(axes?: Axes, keepdims?: boolean): Tensor;
    argmax(axis?: number, keepdims?: boolean): Tensor;
    logsumexp(axes?: Axes, keepdims?: boolean): Tensor;
    reshape(shape: readonly number[]): Tensor;
    permute(perm: readonly number[]): Tensor;
    transpose(a?: number, b?: number): Tensor;
    broadcastTo(shape: readonly number[]): Tensor;
    slice(specs: readonly SliceSpec[]): Tensor;
    gather(idx: Tensor, axis: number): Tensor;
    flatten(): Tensor;
    squeeze(axes?: number | number[]): Tensor;
    expandDims(axis: number): Tensor;
  }
}

const P = Tensor.prototype as unknown as Record<string, unknown>;
for (const name of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'matmul', 'gather'] as const) {
  const f = ops[name] as (a: Tensor, ...r: unknown[]) => Tensor;
  P[name] = function (this: Tensor, ...r: unknown[]) {
    return f(this, ...r);
  };
}
for (const name of ['neg', 'abs', 'exp', 'log', 'sqrt', 'square', 'tanh', 'sigmoid', 'relu', 'sign', 'sum', 'mean', 'max', 'min', 'argmax', 'logsumexp', 'reshape', 'permute', 'transpose', 'broadcastTo', 'slice', 'flatten', 'squeeze', 'expandDims'] as const) {
  const f = ops[name] as (a: Tensor, ...r: unknown[]) => Tensor;
  P[name] = function (this: Tensor, ...r: unknown[]) {
    return f(this, ...r);
  };
}
