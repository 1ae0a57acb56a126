// PPO for a small MLP actor-critic in a handful of dispatches (kernels/ppo_mlp.ts): the
// forward for acting in one dispatch (with the Gumbel-max draw for GPU rollouts), and a
// minibatch's gradient in two (rows, then dW) written straight into the staging buffer of a
// flat Adam whose clipped update is one dispatch. The maths is the composed
// path's (MLP + heads + ppoLoss + valueAndGrad + E.adam): tests hold it to float64 and to that.
//
// `FlatAdam` is E.adam (a subclass: the same rules, state and checkpoint names) with its
// gradient buffer exposed, so kernels can write gradients in place instead of the engine copying
// a gradient tree into it, and a one-workgroup clipped step for small vectors.

import { Tensor, allocTensor, runtime, keep } from '../tensor.ts';
import { f32bits } from '../runtime.ts';
import * as O from '../ops.ts';
import { grid } from '../../kernels/common.ts';
import { threefryWgsl } from '../../kernels/random.ts';
import {
  ppoMlpActKernel, ppoMlpActSampleKernel, ppoMlpRowsKernel, ppoMlpDwKernel, ppoMlpDwThreads, ppoMlpMisfit, ppoMlpRolloutKernel, scratchLayout, type PpoMlpShape,
} from '../../kernels/ppo_mlp.ts';
import type { Params, PackLayout } from './params.ts';
import { Adam, type StepOptions } from './optim.ts';
import type { PpoLossOptions } from './ppo_loss.ts';

export type { PpoMlpShape } from '../../kernels/ppo_mlp.ts';

/** A GPU env batch as the fused rollout sees it (rl/envs/gpu/vec.ts's GpuVecEnv). */
export interface GpuEnvLike {
  /** The batch's buffers for `steps` vector steps run by a kernel (counted as taken), its episode log and where this run of steps starts in it. */
  fusedParts(steps: number): { def: { obsSize: number; actSize: number }; S: GPUBuffer; Cn: GPUBuffer; St: GPUBuffer; EP: GPUBuffer; logBase: number; words: number[] };
  readonly numEnvs: number;
  /** envAdvanceWgsl of this env over the named observation and final-observation arrays. */
  advanceWgsl(obsArr: string, finArr: string): string;
}

/** Rows per workgroup of the act and rows kernels (4 rows per thread × 16 threads). */
const ROWS_PER_WG = 64;

/** Largest layer width the per-row kernels hold in private arrays. */
export const PPO_MLP_MAX_WIDTH = 256;

/** Leaf names (dotted, as namedParams) of an MLP torso's layers and the two heads. */
export interface PpoMlpNames {
  /** Per torso layer, the prefix of its '.weight' and '.bias' ('perception.0'). */
  layers: string[];
  actor: string;
  critic: string;
}

/**
 * The kernel shape for a packed tree, or null (with the reason) when the fused path does not
 * apply: a missing leaf, a bias-less layer, widths over PPO_MLP_MAX_WIDTH.
 */
export function ppoMlpShape(layout: PackLayout, names: PpoMlpNames): { shape: PpoMlpShape } | { why: string } {
  const at = (n: string) => {
    const i = layout.names.indexOf(n);
    return i < 0 ? null : { off: layout.offsets[i], shape: layout.shapes[i] };
  };
  const sizes: number[] = [];
  const w: number[] = [], b: number[] = [];
  for (const l of names.layers) {
    const W = at(`${l}.weight`), B = at(`${l}.bias`);
    if (!W || !B || W.shape.length !== 2) return { why: `layer ${l} needs a [out, in] weight and a bias` };
    if (!sizes.length) sizes.push(W.shape[1]);
    else if (W.shape[1] !== sizes[sizes.length - 1]) return { why: `layer ${l} takes ${W.shape[1]} inputs, the layer below gives ${sizes[sizes.length - 1]}` };
    sizes.push(W.shape[0]);
    w.push(W.off);
    b.push(B.off);
  }
  const F = sizes[sizes.length - 1];
  const wa = at(`${names.actor}.weight`), ba = at(`${names.actor}.bias`), wc = at(`${names.critic}.weight`), bc = at(`${names.critic}.bias`);
  if (!wa || !ba || !wc || !bc) return { why: 'the actor and critic heads need weights and biases' };
  if (wa.shape[1] !== F || wc.shape[1] !== F || wc.shape[0] !== 1) return { why: `the heads must read the ${F} torso features (critic: one output)` };
  if (Math.max(...sizes, wa.shape[0]) > PPO_MLP_MAX_WIDTH) return { why: `widths over ${PPO_MLP_MAX_WIDTH} (${sizes}, ${wa.shape[0]} actions)` };
  const shape: PpoMlpShape = { sizes, A: wa.shape[0], off: { w, b, wa: wa.off, ba: ba.off, wc: wc.off, bc: bc.off }, n: layout.size };
  const misfit = ppoMlpMisfit(shape);
  return misfit ? { why: misfit } : { shape };
}

export class PpoMlp {
  private k: { act: ReturnType<typeof ppoMlpActKernel>; sample: ReturnType<typeof ppoMlpActSampleKernel>; rows: ReturnType<typeof ppoMlpRowsKernel>; dw: ReturnType<typeof ppoMlpDwKernel> };
  private scratch: Tensor | null = null;
  private readonly width: number;

  /** flat: the packed parameters (read by every kernel; the optimizer updates it in place). */
  constructor(readonly shape: PpoMlpShape, private flat: Tensor) {
    this.width = scratchLayout(shape).width;
    this.k = { act: ppoMlpActKernel(shape), sample: ppoMlpActSampleKernel(shape, threefryWgsl), rows: ppoMlpRowsKernel(shape), dw: ppoMlpDwKernel(shape) };
  }

  get obsSize() {
    return this.shape.sizes[0];
  }

  private checkObs(x: Tensor, what: string) {
    const D = this.obsSize;
    if (x.size % D !== 0 || x.size === 0) throw new Error(`${what}: observations of ${x.size} floats are not rows of ${D}`);
    return x.size / D;
  }

  /** The scratch buffer (activations, δs) for `rows` rows, grown when needed. */
  private scratchFor(rows: number): Tensor {
    if (!this.scratch || this.scratch.size < rows * this.width) {
      this.scratch?.dispose();
      this.scratch = keep(allocTensor([rows * this.width]));
    }
    return this.scratch;
  }

  /** [rows, A + 1]: each row's logits, then its value, for x's rows [from, from + rows) (default: all). One dispatch. */
  act(x: Tensor, from = 0, rows = this.checkObs(x, 'PpoMlp.act') - from): Tensor {
    const total = this.checkObs(x, 'PpoMlp.act');
    if (!(Number.isInteger(from) && Number.isInteger(rows) && from >= 0 && rows >= 1 && from + rows <= total)) {
      throw new Error(`PpoMlp.act: rows [${from}, ${from + rows}) are not inside the ${total} rows given`);
    }
    const out = allocTensor([rows, this.shape.A + 1]);
    runtime().dispatch({
      kernel: this.k.act, inputs: [this.flat.bufferFor('PpoMlp.act'), x.bufferFor('PpoMlp.act')], outputs: [this.scratchFor(rows).buffer, out.buffer],
      params: [rows, from], workgroups: [Math.ceil(rows / ROWS_PER_WG)], label: 'ppo_mlp_act',
    });
    return out;
  }

  private rolloutKernels = new Map<object, ReturnType<typeof ppoMlpRolloutKernel>>();

  /**
   * T vector steps of a GPU env batch in one dispatch (kernels/ppo_mlp.ts, ppoMlpRolloutKernel):
   * OB [(2T+1)·N, D] with block 0 holding the observations to act on; fills the other blocks
   * and ROW [T·N, 8] (action, logp, value, reward, terminated, truncated), and the env's episode
   * log for those T steps (GpuVecEnv.fusedParts counts them). Advances the engine
   * RNG as T draws of N rows would.
   */
  rollout(env: GpuEnvLike, T: number, OB: Tensor, ROW: Tensor) {
    const N = env.numEnvs, D = this.obsSize, A = this.shape.A;
    if (!(Number.isInteger(T) && T >= 1)) throw new Error(`PpoMlp.rollout: T must be a positive integer, got ${T}`);
    if (OB.size !== (2 * T + 1) * N * D) throw new Error(`PpoMlp.rollout: OB has ${OB.size} floats, expected [${(2 * T + 1) * N}, ${D}] ((2T+1)·N rows)`);
    if (ROW.size !== T * N * 8) throw new Error(`PpoMlp.rollout: ROW has ${ROW.size} floats, expected [${T * N}, 8]`);
    // checked first: fusedParts counts the T steps in the env's episode log
    const parts = env.fusedParts(T);
    let k = this.rolloutKernels.get(parts.def);
    if (!k) this.rolloutKernels.set(parts.def, (k = ppoMlpRolloutKernel(this.shape, threefryWgsl, env.advanceWgsl('OB', 'OB'), { obsSize: parts.def.obsSize, actSize: parts.def.actSize })));
    const rng = O.getRngState();
    runtime().dispatch({
      kernel: k, inputs: [this.flat.bufferFor('PpoMlp.rollout')], outputs: [this.scratchFor(N).buffer, OB.bufferFor('PpoMlp.rollout'), ROW.bufferFor('PpoMlp.rollout'), parts.S, parts.Cn, parts.St, parts.EP],
      params: [...parts.words, T, rng.k0, rng.k1, rng.counter, parts.logBase], workgroups: [Math.ceil(N / ROWS_PER_WG)], label: 'ppo_mlp_rollout',
    });
    O.setRngState({ ...rng, counter: (rng.counter + T * Math.ceil((N * A) / 2)) >>> 0 });
  }

  /**
   * Values [rows] and, for the first `sample` rows, Gumbel-max actions and their
   * log-probabilities from the engine RNG (consumed as E.rand([sample, A]) would). One dispatch.
   */
  actSample(x: Tensor, sample: number): { values: Tensor; actions: Tensor; logp: Tensor } {
    const rows = this.checkObs(x, 'PpoMlp.actSample');
    if (!(Number.isInteger(sample) && sample >= 0 && sample <= rows)) throw new Error(`PpoMlp.actSample: sample must be an integer in [0, ${rows}], got ${sample}`);
    const A = this.shape.A;
    const rng = O.getRngState();
    const values = allocTensor([rows]), actions = allocTensor([sample]), logp = allocTensor([sample]);
    runtime().dispatch({
      kernel: this.k.sample, inputs: [this.flat.bufferFor('PpoMlp.actSample'), x.bufferFor('PpoMlp.actSample')],
      outputs: [this.scratchFor(rows).buffer, values.buffer, actions.buffer, logp.buffer], params: [rows, sample, rng.k0, rng.k1, rng.counter],
      workgroups: [Math.ceil(rows / ROWS_PER_WG)], label: 'ppo_mlp_act_sample',
    });
    O.setRngState({ ...rng, counter: (rng.counter + Math.ceil((sample * A) / 2)) >>> 0 });
    return { values, actions, logp };
  }

  /**
   * ∂loss/∂params of one minibatch into G (the flat gradient layout), and with wantStats its
   * mean statistics [pg_loss, v_loss, entropy, approx_kl, clipfrac] into S (5 floats). Rows
   * IDX[base .. base + M) of the rollout: X [B, D] observations, DATA [B, 4] (action, oldLogp,
   * return, oldValue), ADV the advantages in IDX's order (normalised per minibatch if wanted).
   * Two dispatches.
   */
  minibatchGrad(a: { X: Tensor; DATA: Tensor; IDX: Tensor; ADV: Tensor; base: number; M: number; G: Tensor; S: Tensor; wantStats: boolean }, o: PpoLossOptions) {
    const { M } = a;
    const B = this.checkObs(a.X, 'PpoMlp.minibatchGrad');
    if (a.DATA.size !== 4 * B) throw new Error(`PpoMlp.minibatchGrad: DATA has ${a.DATA.size} floats, expected [${B}, 4]`);
    if (!(Number.isInteger(M) && M >= 1) || a.base + M > a.IDX.size || a.IDX.size !== a.ADV.size) {
      throw new Error(`PpoMlp.minibatchGrad: rows [${a.base}, ${a.base + M}) do not fit IDX (${a.IDX.size}) and ADV (${a.ADV.size})`);
    }
    if (a.G.size < this.shape.n) throw new Error(`PpoMlp.minibatchGrad: G has ${a.G.size} floats, the layout ${this.shape.n}`);
    const scratch = this.scratchFor(M);
    const rt = runtime();
    rt.dispatch({
      kernel: this.k.rows,
      inputs: [this.flat.bufferFor('ppo_mlp_rows'), a.X.bufferFor('ppo_mlp_rows'), a.DATA.bufferFor('ppo_mlp_rows'), a.IDX.bufferFor('ppo_mlp_rows'), a.ADV.bufferFor('ppo_mlp_rows')],
      outputs: [scratch.buffer],
      params: [M, a.base, o.clipVloss ? 1 : 0, 0, f32bits(o.clipCoef), f32bits(o.vfCoef), f32bits(o.entCoef), 0],
      workgroups: [Math.ceil(M / ROWS_PER_WG)], label: 'ppo_mlp_rows',
    });
    if (a.S.size < 5) throw new Error(`PpoMlp.minibatchGrad: S has ${a.S.size} floats, the statistics need 5`);
    rt.dispatch({
      kernel: this.k.dw, inputs: [scratch.buffer], outputs: [a.G.bufferFor('ppo_mlp_dw'), a.S.bufferFor('ppo_mlp_dw')],
      params: [M, a.wantStats ? 1 : 0], workgroups: [...grid(ppoMlpDwThreads(this.shape), 64), 1] as [number, number, number], label: 'ppo_mlp_dw',
    });
  }

  dispose() {
    this.scratch?.dispose();
    this.scratch = null;
  }
}

/**
 * Up to this many floats FlatAdam runs its step, clipped or not, in one single-workgroup
 * dispatch (kernels/ppo_mlp.ts, adamClipSmallKernel); above, E.adam's path (engine/nn/optim.ts:
 * clipped, the multi-workgroup sums of squares and one vec4 step), whose many workgroups pay off
 * on big vectors.
 */
export const FLAT_ADAM_ONE_WORKGROUP = 1 << 15;

export interface FlatAdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
}

/**
 * torch.optim.Adam (no weight decay) over a packed tree: E.adam (same kernels above
 * FLAT_ADAM_ONE_WORKGROUP floats, same state names and checkpoints) plus a staged step: write
 * gradients into `grad` (layout order) and call stepStaged(), and, for small vectors, the clipped
 * step in one single-workgroup dispatch instead of two.
 */
export class FlatAdam extends Adam {
  constructor(tree: Params, o: FlatAdamOptions = {}) {
    super(tree, { lr: o.lr ?? 1e-3, betas: o.betas ?? [0.9, 0.999], eps: o.eps ?? 1e-8, weightDecay: 0, decoupled: false }, 'FlatAdam');
  }

  /** The flat gradient buffer stepStaged() reads. */
  get grad(): Tensor {
    return this.gflat;
  }

  override step(params: Params, grads: Params | Tensor[], opts: StepOptions = {}) {
    if (opts.lr instanceof Tensor) throw new Error('FlatAdam.step: the learning rate must be a number (tensor schedules: use E.adam)');
    super.step(params, grads, opts);
  }

  /** One Adam step from the gradients already in `grad`; lr a number here (no tensor schedules). */
  stepStaged(opts: { lr?: number; maxGradNorm?: number } = {}) {
    this.stepGathered(opts);
  }

  protected override stepGathered(opts: StepOptions) {
    const n = this.layout.size;
    if (n > FLAT_ADAM_ONE_WORKGROUP || opts.lr instanceof Tensor) return super.stepGathered(opts);
    // small nets: the norm and the update in one single-workgroup dispatch
    this.fusedAdamStep({ lr: opts.lr ?? this.lr, maxGradNorm: opts.maxGradNorm, partials: null, label: 'adam.step (one workgroup)' });
  }
}
