// Optimizers that update every parameter in one dispatch.
//
// They require packed parameters (packParams): params, each optimizer moment and a gradient
// staging buffer share one flat layout, so one kernel walks all of them. Gradients arrive as a
// tree of separate tensors (what grad returns) and are gathered into the staging buffer with
// encoder copies (copyBufferToBuffer, not dispatches); gradients that already sit at the right
// place in the staging buffer are not copied.
//
// Learning rate: a number (uniform) or a 1-element tensor (copied on the GPU into the hyper
// buffer the kernel reads), so schedules computed on the GPU need no readback. Gradient-norm
// clipping (`maxGradNorm`) scales the gradients inside the update kernel by a norm the GPU
// computes, with no readback, as torch.nn.utils.clip_grad_norm_. Up to NORM_ONE_WORKGROUP
// floats the norm is one single-workgroup dispatch (and plain Adam's whole clipped step is one
// single-workgroup dispatch, kernels/ppo_mlp.ts adamClipSmallKernel); above it, one workgroup
// would walk the whole vector on one of lavapipe's threads, so the sums of squares are taken by
// up to NORM_GROUPS workgroups and added up by the step itself (plain Adam: kernels/optim.ts
// adamPartialsKernel, the DQN family's kernel) or by a one-thread finish (the others).

import { Tensor, runtime, scope, keep } from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid } from '../../kernels/common.ts';
import {
  optimKernel, gradNormKernel, adamPartialsKernel, ADAM_PARTIALS_WG, gradSquarePartialsKernel, normFinishKernel, NORM_PARTIALS_WG, type OptimKind,
} from '../../kernels/optim.ts';
import { adamClipSmallKernel } from '../../kernels/ppo_mlp.ts';
import { packedOf, gatherInto, namedParams, type Params, type PackLayout } from './params.ts';
import { abSwitch } from '../switch.ts';

export interface StepOptions {
  /** Overrides the learning rate for this step (a number, or a 1-element tensor read on the GPU). */
  lr?: number | Tensor;
  /** Clip the global gradient norm to this value first (no host readback). */
  maxGradNorm?: number;
}

export interface Optimizer {
  readonly kind: OptimKind;
  /** Steps taken so far. */
  readonly stepCount: number;
  /** Updates params (the packed tree given at construction) in place from grads (same structure). */
  step(params: Params, grads: Params | Tensor[], opts?: StepOptions): void;
  /** The global norm of the last clipped step's gradients (before clipping), as a new 1-element tensor. */
  lastGradNorm(): Tensor;
  /** Optimizer state for checkpoints: 'step' and PyTorch-named per-parameter moments ('exp_avg.fc.weight'). Views: dispose when done. */
  state(): Record<string, Tensor>;
  /** Restores state() output (tensors or, for 'step', a number). */
  loadState(state: Record<string, Tensor | number>): Promise<void>;
  /** The learning rate used when step() is not given one. */
  lr: number;
  dispose(): void;
}

interface Common {
  lr: number;
  weightDecay: number;
}

/** Up to this many floats the gradient norm (and plain Adam's clipped step) runs in one workgroup. */
export const NORM_ONE_WORKGROUP = 1 << 15;
/** Most workgroups of the multi-workgroup norm: each adds its sum of squares to a list this long. */
export const NORM_GROUPS = 32;

const session8Clip = abSwitch(false);
/**
 * Benchmarks' A/B switch: true takes session 8's clipped step (the one-workgroup norm over the
 * whole gradient, then the update kernel) in steps made from now on. Returns the previous setting.
 */
export const clipNormSession8 = session8Clip.set;

export abstract class FlatOptimizer implements Optimizer {
  abstract readonly kind: OptimKind;
  stepCount = 0;
  lr: number;
  protected flat: Tensor;
  protected layout: PackLayout;
  protected gflat: Tensor;
  protected hyper: Tensor;
  protected moments: Record<string, Tensor> = {};
  /** Per-workgroup sums of squares of the multi-workgroup norm (made at the first such step). */
  private normPartials: Tensor | null = null;
  private packedTree: Params;

  constructor(params: Params, c: Common, momentNames: string[], who: string) {
    const p = packedOf(params);
    if (!p) {
      throw new Error(`${who}: parameters must be packed into one buffer first: \`const { params } = packParams(net.init(seed))\` (that is what lets one dispatch update them all)`);
    }
    this.packedTree = params;
    this.flat = p.flat;
    this.layout = p.layout;
    this.lr = c.lr;
    this.gflat = keep(O.zeros([p.layout.size]));
    this.hyper = keep(O.zeros([128]));
    for (const m of momentNames) this.moments[m] = keep(O.zeros([p.layout.size]));
  }

  protected abstract words(): number[]; // h0..h5
  protected abstract weightDecay(): number;

  step(params: Params, grads: Params | Tensor[], opts: StepOptions = {}) {
    if (params !== this.packedTree && packedOf(params)?.flat !== this.flat) {
      throw new Error(`${this.kind}.step: params are not the packed tree this optimizer was made for`);
    }
    gatherInto(grads, this.layout, this.gflat, `${this.kind}.step (gradients)`);
    this.stepGathered(opts);
  }

  /** The step from the gradients already in the flat gradient buffer (layout order). */
  protected stepGathered(opts: StepOptions) {
    const rt = runtime();
    const lr = opts.lr ?? this.lr;
    let flags = 0;
    const hb = this.hyper.buffer;
    if (lr instanceof Tensor) {
      if (lr.size !== 1) throw new Error(`${this.kind}.step: a tensor learning rate must have one element, got ${lr.size}`);
      const b = lr.bufferFor('optimizer lr');
      rt.copy(b.buffer, b.offset, hb.buffer, hb.offset, 4);
      flags |= 1;
    }
    const n = this.layout.size;
    const g = this.gflat.buffer;
    if (opts.maxGradNorm !== undefined) {
      flags |= 2;
      if (n <= NORM_ONE_WORKGROUP || session8Clip.on) {
        rt.dispatch({ kernel: gradNormKernel, inputs: [g], outputs: [hb], params: [n], workgroups: [1], label: 'clipGradNorm' });
      } else {
        const ns = this.squarePartials();
        rt.dispatch({ kernel: normFinishKernel, inputs: [ns.buffer], outputs: [hb], params: [ns.size], workgroups: [1], label: 'clipGradNorm (finish)' });
      }
    }
    this.stepCount++;
    const h = this.words();
    while (h.length < 6) h.push(0);
    rt.dispatch({
      kernel: optimKernel(this.kind),
      inputs: [g, hb],
      outputs: [this.flat.buffer, ...Object.values(this.moments).map((m) => m.buffer)],
      params: [n, flags, f32bits(typeof lr === 'number' ? lr : 0), f32bits(this.weightDecay()), f32bits(opts.maxGradNorm ?? 0), ...h.map(f32bits)],
      workgroups: grid(n),
      label: `${this.kind}.step`,
    });
  }

  /** Dispatches the per-workgroup sums of squares of the gradient buffer; returns their tensor (one float a workgroup). */
  protected squarePartials(): Tensor {
    const n = this.layout.size;
    const groups = Math.max(1, Math.min(NORM_GROUPS, Math.ceil(n / (4 * NORM_PARTIALS_WG * 4))));
    if (!this.normPartials || this.normPartials.size !== groups) {
      this.normPartials?.dispose();
      this.normPartials = keep(O.zeros([groups]));
    }
    runtime().dispatch({
      kernel: gradSquarePartialsKernel, inputs: [this.gflat.buffer], outputs: [this.normPartials.buffer],
      params: [n], workgroups: [groups], label: 'clipGradNorm (partials)',
    });
    return this.normPartials;
  }

  lastGradNorm(): Tensor {
    // The view is only the clone's source: free it here, or every call outside a scope leaks it.
    const v = this.hyper.subView(64, []);
    const out = O.clone(v);
    v.dispose();
    return out;
  }

  state(): Record<string, Tensor> {
    const out: Record<string, Tensor> = { step: O.tensor([this.stepCount]) };
    for (const [m, flat] of Object.entries(this.moments)) {
      this.layout.names.forEach((name, i) => {
        out[`${m}.${name}`] = flat.subView(this.layout.offsets[i], this.layout.shapes[i]);
      });
    }
    return out;
  }

  async loadState(state: Record<string, Tensor | number>) {
    const s = state.step;
    if (s === undefined) throw new Error(`${this.kind}.loadState: no 'step' entry`);
    this.stepCount = typeof s === 'number' ? s : Math.round(await s.item());
    for (const [m, flat] of Object.entries(this.moments)) {
      this.layout.names.forEach((name, i) => {
        const t = state[`${m}.${name}`];
        if (!(t instanceof Tensor)) throw new Error(`${this.kind}.loadState: missing '${m}.${name}'`);
        const v = flat.subView(this.layout.offsets[i], this.layout.shapes[i]);
        O.assign(v, t);
        v.dispose();
      });
    }
  }

  dispose() {
    this.gflat.dispose();
    this.hyper.dispose();
    this.normPartials?.dispose();
    this.normPartials = null;
    for (const m of Object.values(this.moments)) m.dispose();
    this.moments = {};
  }
}

// ---------------------------------------------------------------- Adam / AdamW

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** AdamW: decay the weights directly (p ← p·(1 − lr·wd)) instead of adding wd·p to the gradient. */
  decoupled?: boolean;
}

export class Adam extends FlatOptimizer {
  readonly kind = 'adam' as const;
  constructor(params: Params, protected o: Required<AdamOptions>, who: string) {
    super(params, { lr: o.lr, weightDecay: o.weightDecay }, ['exp_avg', 'exp_avg_sq'], who);
  }
  protected weightDecay() {
    return this.o.weightDecay;
  }
  protected words() {
    const [b1, b2] = this.o.betas;
    const t = this.stepCount;
    return [b1, b2, this.o.eps, 1 - b1 ** t, Math.sqrt(1 - b2 ** t), this.o.decoupled ? 1 : 0];
  }

  /**
   * Clipped steps of plain Adam (no weight decay, a number as learning rate: PPO's and SPRIG's
   * optimizers) in fewer dispatches: up to NORM_ONE_WORKGROUP floats, the norm and the update in
   * one single-workgroup dispatch; above, the multi-workgroup sums of squares, then one
   * vec4 step that adds them (kernels/optim.ts adamPartialsKernel). Same rule and arithmetic
   * as optim_adam; only the norm's summation order differs. Anything else: the generic path.
   */
  protected override stepGathered(opts: StepOptions) {
    const lr = opts.lr ?? this.lr;
    if (opts.maxGradNorm === undefined || typeof lr !== 'number' || this.o.weightDecay !== 0 || session8Clip.on) return super.stepGathered(opts);
    const label = `${this.kind}.step (clipped, ${this.layout.size <= NORM_ONE_WORKGROUP ? 'one workgroup' : 'norm partials'})`;
    this.fusedAdamStep({ lr, maxGradNorm: opts.maxGradNorm, partials: this.layout.size <= NORM_ONE_WORKGROUP ? null : this.squarePartials(), label });
  }

  /**
   * One plain-Adam step (no weight decay, the learning rate a number) in one dispatch from the
   * gradient in the flat buffer, clipped as clip_grad_norm_ when maxGradNorm is given. Without
   * `partials`: the norm and the update in one workgroup (kernels/ppo_mlp.ts adamClipSmallKernel).
   * With them (the gradient's sums of squares in pieces, from squarePartials or from the kernel
   * that wrote the gradient, as the DQN family's does): the update over many workgroups, adding
   * the pieces for the norm (kernels/optim.ts adamPartialsKernel). The step of E.adam's clipped
   * path, FlatAdam's small networks and the DQN family's FusedAdam.
   */
  protected fusedAdamStep(o: { lr: number; maxGradNorm?: number; partials: Tensor | null; label: string }) {
    const n = this.layout.size;
    const [b1, b2] = this.o.betas;
    const t = ++this.stepCount;
    const clip = o.maxGradNorm !== undefined;
    const words = [o.lr, o.maxGradNorm ?? 0, b1, b2, this.o.eps, 1 - b1 ** t, Math.sqrt(1 - b2 ** t)].map(f32bits);
    const outputs = [this.flat.buffer, this.moments.exp_avg.buffer, this.moments.exp_avg_sq.buffer, this.hyper.buffer];
    if (!o.partials) {
      runtime().dispatch({ kernel: adamClipSmallKernel, inputs: [this.gflat.buffer], outputs, params: [n, clip ? 1 : 0, ...words], workgroups: [1], label: o.label });
    } else {
      runtime().dispatch({
        kernel: adamPartialsKernel, inputs: [this.gflat.buffer, o.partials.bufferFor(o.label)], outputs, params: [n, clip ? o.partials.size : 0, ...words],
        workgroups: [Math.min(NORM_GROUPS, Math.ceil(n / 4 / ADAM_PARTIALS_WG))], label: o.label,
      });
    }
  }
}

/** torch.optim.Adam (L2 weight decay added to the gradient; decoupled: true gives AdamW). */
export function adam(params: Params, opts: AdamOptions = {}): Optimizer {
  return new Adam(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupled: false, ...opts }, 'adam');
}
/** torch.optim.AdamW (decoupled weight decay, default 0.01). */
export function adamw(params: Params, opts: Omit<AdamOptions, 'decoupled'> = {}): Optimizer {
  return new Adam(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...opts, decoupled: true }, 'adamw');
}

// ---------------------------------------------------------------- SGD

export interface SgdOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

class Sgd extends FlatOptimizer {
  readonly kind = 'sgd' as const;
  constructor(params: Params, private o: Required<SgdOptions>) {
    super(params, { lr: o.lr, weightDecay: o.weightDecay }, ['momentum_buffer'], 'sgd');
  }
  protected weightDecay() {
    return this.o.weightDecay;
  }
  protected words() {
    return [this.o.momentum, this.o.dampening, this.o.nesterov ? 1 : 0, this.stepCount === 1 ? 1 : 0];
  }
}

/** torch.optim.SGD (momentum buffer starts as the first gradient, as PyTorch). */
export function sgd(params: Params, opts: SgdOptions): Optimizer {
  return new Sgd(params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...opts });
}

// ---------------------------------------------------------------- RMSprop

export interface RmspropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
}

class Rmsprop extends FlatOptimizer {
  readonly kind = 'rmsprop' as const;
  constructor(params: Params, private o: Required<RmspropOptions>) {
    super(params, { lr: o.lr, weightDecay: o.weightDecay }, ['square_avg', 'grad_avg', 'momentum_buffer'], 'rmsprop');
  }
  protected weightDecay() {
    return this.o.weightDecay;
  }
  protected words() {
    return [this.o.alpha, this.o.eps, this.o.momentum, this.o.centered ? 1 : 0];
  }
}

/** torch.optim.RMSprop; the MinAtar reference DQN uses { lr: 2.5e-4, alpha: 0.95, eps: 0.01, centered: true }. */
export function rmsprop(params: Params, opts: RmspropOptions = {}): Optimizer {
  return new Rmsprop(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...opts });
}

// ---------------------------------------------------------------- clipping and schedules

/**
 * Scales a gradient tree so its global L2 norm is at most maxNorm (torch's clip_grad_norm_:
 * coefficient min(1, maxNorm / (norm + 1e-6))), on the GPU. Returns the scaled tree and the
 * norm before clipping. For the optimizer path use step(..., { maxGradNorm }) (fused, cheaper).
 */
export function clipGradNorm<T extends Params | Tensor[]>(grads: T, maxNorm: number): { grads: T; norm: Tensor } {
  return scope(() => {
    const leaves = Array.isArray(grads) ? grads : Object.values(namedParams(grads));
    let sq: Tensor | null = null;
    for (const g of leaves) {
      const s = O.sum(O.square(g));
      sq = sq ? O.add(sq, s) : s;
    }
    const norm = O.sqrt(sq ?? O.zeros([]));
    const coef = O.minimum(O.div(O.reciprocal(O.add(norm, 1e-6)), 1 / maxNorm), 1);
    const scaled = leaves.map((g) => O.mul(g, coef));
    let out: unknown;
    if (Array.isArray(grads)) out = scaled;
    else {
      const names = Object.keys(namedParams(grads));
      const rebuild = (x: unknown, prefix: string): unknown =>
        x instanceof Tensor ? scaled[names.indexOf(prefix)] : Object.fromEntries(Object.entries(x as object).map(([k, v]) => [k, rebuild(v, prefix ? `${prefix}.${k}` : k)]));
      out = rebuild(grads, '');
    }
    return { grads: out as T, norm };
  });
}

/** CleanRL's linear annealing: lr0 · (1 − step/total) (step counted from 0), floored at lrEnd. */
export function linearDecay(step: number, total: number, lr0: number, lrEnd = 0): number {
  const frac = Math.max(0, 1 - step / total);
  return lrEnd + (lr0 - lrEnd) * frac;
}
