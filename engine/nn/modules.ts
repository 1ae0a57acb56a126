// Functional modules (flax/haiku style): a module holds only hyper-parameters; `init(seed)`
// makes a parameter tree and `apply(params, x)` uses only the params it is given, so
// `grad((p) => loss(net.apply(p, x)))(params)` differentiates with respect to them.
// Parameter names follow PyTorch (weight/bias, Sequential children by position), and
// `namedParams` turns a tree into the dotted checkpoint keys ('0.weight', 'torso.conv1.bias').

import { Tensor, fmtShape } from '../tensor.ts';
import * as O from '../ops.ts';
import { childSeed, initTensor, type InitSpec } from './init.ts';
import { linear, activate, layerNorm, type Activation } from './functional.ts';
import { conv2d } from './conv.ts';
import { attention } from './attention.ts';
import type { Params } from './params.ts';

export interface Module<P extends Params = Params> {
  readonly kind: string;
  init(seed: number): P;
  apply(params: P, x: Tensor, ...rest: any[]): Tensor;
}

export interface LinearParams extends Params {
  weight: Tensor;
  bias: Tensor;
}

export interface LinearOptions {
  bias?: boolean;
  /** Weight init (default 'torch': U(±1/√in), PyTorch's default). */
  init?: InitSpec;
  /** Shorthand for init: { orthogonal: gain } with a zero bias (CleanRL's layer_init). */
  gain?: number;
  /** Bias init (default: 'torch' with init 'torch', otherwise zeros). */
  biasInit?: InitSpec;
  /** Activation fused into the same kernel. */
  activation?: Activation;
}

/** y = act(x·Wᵀ + b), W: [out, in]. */
export function Linear(inFeatures: number, outFeatures: number, opts: LinearOptions = {}): Module<LinearParams> & { activation: Activation; inFeatures: number; outFeatures: number } {
  const wInit: InitSpec = opts.init ?? (opts.gain !== undefined ? { orthogonal: opts.gain } : 'torch');
  const bInit: InitSpec = opts.biasInit ?? (wInit === 'torch' ? 'torch' : 'zeros');
  const hasBias = opts.bias ?? true;
  const activation = opts.activation ?? 'none';
  return {
    kind: 'Linear',
    inFeatures,
    outFeatures,
    activation,
    init(seed) {
      const w = [outFeatures, inFeatures];
      const p: Params = { weight: initTensor(wInit, w, childSeed(seed, 'weight')) };
      if (hasBias) p.bias = initTensor(bInit, [outFeatures], childSeed(seed, 'bias'), w);
      return p as LinearParams;
    },
    apply(p, x) {
      return linear(x, p.weight, hasBias ? p.bias : null, activation);
    },
    ...(activation === 'none'
      ? { applyWith: (p: Params, x: Tensor, act: Activation) => linear(x, p.weight as Tensor, hasBias ? (p.bias as Tensor) : null, act) }
      : {}),
  };
}

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  bias?: boolean;
  init?: InitSpec;
  gain?: number;
  biasInit?: InitSpec;
  activation?: Activation;
}

/** 2-D convolution over NHWC inputs; weight [outC, kH, kW, inC], bias [outC]. */
export function Conv2d(inChannels: number, outChannels: number, kernel: number | [number, number], opts: Conv2dOptions = {}): Module<LinearParams> {
  const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
  const wInit: InitSpec = opts.init ?? (opts.gain !== undefined ? { orthogonal: opts.gain } : 'torch');
  const bInit: InitSpec = opts.biasInit ?? (wInit === 'torch' ? 'torch' : 'zeros');
  const hasBias = opts.bias ?? true;
  return {
    kind: 'Conv2d',
    init(seed) {
      const w = [outChannels, kh, kw, inChannels];
      const p: Params = { weight: initTensor(wInit, w, childSeed(seed, 'weight')) };
      if (hasBias) p.bias = initTensor(bInit, [outChannels], childSeed(seed, 'bias'), w);
      return p as LinearParams;
    },
    apply(p, x) {
      return conv2d(x, p.weight, hasBias ? p.bias : null, { stride: opts.stride, padding: opts.padding, activation: opts.activation });
    },
    ...(!opts.activation || opts.activation === 'none'
      ? {
          applyWith: (p: Params, x: Tensor, act: Activation) =>
            conv2d(x, p.weight as Tensor, hasBias ? (p.bias as Tensor) : null, { stride: opts.stride, padding: opts.padding, activation: act }),
        }
      : {}),
  };
}

/** Layer normalisation over the last axis with affine weight (ones) and bias (zeros). */
export function LayerNorm(dim: number, opts: { eps?: number } = {}): Module<LinearParams> {
  const eps = opts.eps ?? 1e-5;
  return {
    kind: 'LayerNorm',
    init() {
      return { weight: O.ones([dim]), bias: O.zeros([dim]) };
    },
    apply(p, x) {
      return layerNorm(x, p.weight, p.bias, eps);
    },
  };
}

export interface MhaParams extends Params {
  q: LinearParams;
  k: LinearParams;
  v: LinearParams;
  o: LinearParams;
}

/**
 * Multi-head self/cross attention over [B, L, dim]: q, k, v, o projections (Linear, [dim, dim])
 * and the fused attention kernel. apply(p, x, { kv?, mask?, scale? }).
 */
export function MultiHeadAttention(dim: number, heads: number, opts: { bias?: boolean; init?: InitSpec } = {}): Module<MhaParams> {
  if (dim % heads !== 0) throw new Error(`MultiHeadAttention: dim ${dim} is not divisible by heads ${heads}`);
  const proj = Linear(dim, dim, { bias: opts.bias ?? true, init: opts.init ?? 'xavier', biasInit: 'zeros' });
  const dh = dim / heads;
  const split = (t: Tensor) => {
    const [B, L] = t.shape;
    return O.permute(O.reshape(t, [B, L, heads, dh]), [0, 2, 1, 3]);
  };
  return {
    kind: 'MultiHeadAttention',
    init(seed) {
      return { q: proj.init(childSeed(seed, 'q')), k: proj.init(childSeed(seed, 'k')), v: proj.init(childSeed(seed, 'v')), o: proj.init(childSeed(seed, 'o')) };
    },
    apply(p, x, o: { kv?: Tensor; mask?: Tensor; scale?: number } = {}) {
      if (x.rank !== 3 || x.shape[2] !== dim) throw new Error(`MultiHeadAttention: expected [B, L, ${dim}], got ${fmtShape(x.shape)}`);
      const kv = o.kv ?? x;
      const q = split(proj.apply(p.q, x));
      const k = split(proj.apply(p.k, kv));
      const v = split(proj.apply(p.v, kv));
      const a = attention(q, k, v, { mask: o.mask, scale: o.scale });
      const [B, , L] = a.shape;
      return proj.apply(p.o, O.reshape(O.permute(a, [0, 2, 1, 3]), [B, L, dim]));
    },
  };
}

function paramless(kind: string, f: (x: Tensor) => Tensor): Module<Params> {
  return { kind, init: () => ({}), apply: (_p, x) => f(x) };
}
export const ReLU = () => paramless('ReLU', O.relu);
export const Tanh = () => paramless('Tanh', O.tanh);
export const Sigmoid = () => paramless('Sigmoid', O.sigmoid);
/** [N, ...] → [N, prod(...)]. NHWC conv features flatten in (h, w, c) order (PyTorch's NCHW flattens (c, h, w)). */
export const Flatten = () => paramless('Flatten', (x) => O.reshape(x, [x.shape[0], -1]));

const ACT_OF: Record<string, Activation> = { ReLU: 'relu', Tanh: 'tanh', Sigmoid: 'sigmoid' };

/** Layers that can run a following activation layer inside their own kernel. */
interface Fusable {
  applyWith(params: Params, x: Tensor, activation: Activation): Tensor;
}

/**
 * Layers in order; parameters keyed by position like torch.nn.Sequential ('0', '3', ...;
 * parameterless layers take a position but no key). A Linear/Conv2d without its own
 * activation followed by ReLU/Tanh/Sigmoid runs as one fused kernel.
 */
export function Sequential(layers: Module<any>[]): Module<Params> & { layers: Module<any>[] } {
  return {
    kind: 'Sequential',
    layers,
    init(seed) {
      const p: Params = {};
      layers.forEach((l, i) => {
        const lp = l.init(childSeed(seed, i));
        if (Object.keys(lp).length) p[String(i)] = lp;
      });
      return p;
    },
    apply(p, x) {
      let h = x;
      for (let i = 0; i < layers.length; i++) {
        const l = layers[i] as Module<any> & Partial<Fusable>;
        const lp = (p[String(i)] ?? {}) as Params;
        const nextAct = i + 1 < layers.length ? ACT_OF[layers[i + 1].kind] : undefined;
        if (nextAct && l.applyWith) {
          h = l.applyWith(lp, h, nextAct);
          i++;
        } else {
          h = l.apply(lp, h);
        }
      }
      return h;
    },
  };
}

export interface MlpOptions {
  /** Hidden activation (default 'tanh'). */
  activation?: Activation;
  /** Output activation (default none). */
  outActivation?: Activation;
  /** Hidden weight init (default 'torch'); `gain` is shorthand for orthogonal(gain) with zero biases. */
  init?: InitSpec;
  gain?: number;
  /** Output layer: orthogonal gain (CleanRL: 0.01 policy head, 1 value head) or an init spec. */
  outGain?: number;
  outInit?: InitSpec;
}

/**
 * Multi-layer perceptron [in, h1, ..., out]; parameters keyed '0', '2', '4', ... as the
 * equivalent torch.nn.Sequential(Linear, act, Linear, act, Linear). Activations are fused.
 */
export function MLP(sizes: number[], opts: MlpOptions = {}): Module<Params> {
  if (sizes.length < 2) throw new Error(`MLP: needs at least [in, out], got ${fmtShape(sizes)}`);
  const act = opts.activation ?? 'tanh';
  const layers = sizes.slice(1).map((out, i) => {
    const last = i === sizes.length - 2;
    const init = last ? opts.outInit ?? (opts.outGain !== undefined ? { orthogonal: opts.outGain } : undefined) : undefined;
    return Linear(sizes[i], out, {
      init: init ?? opts.init,
      gain: init ? undefined : opts.gain,
      activation: last ? opts.outActivation ?? 'none' : act,
    });
  });
  return {
    kind: 'MLP',
    init(seed) {
      const p: Params = {};
      layers.forEach((l, i) => (p[String(2 * i)] = l.init(childSeed(seed, 2 * i))));
      return p;
    },
    apply(p, x) {
      let h = x;
      layers.forEach((l, i) => (h = l.apply(p[String(2 * i)] as LinearParams, h)));
      return h;
    },
  };
}
