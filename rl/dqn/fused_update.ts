// The gradient of a DQN update for the released SCORER MinAtar network (encoder 'mlp', plain
// head) in two dispatches (kernels/dqn_mlp.ts): the online forward, the TD target from the
// next-state values, Q(s, a), the loss's gradient through the whole network, written straight
// into a flat gradient buffer laid out like the packed parameters (FlatAdam's `grad`), and the
// update's statistics. The composed path (engine ops + tdLossHead + vjp) computes the same
// values; it stays the path for everything this does not cover (conv torso, dueling heads,
// hidden widths over 128, gradients differentiated again), chosen by `fusedDqnGrad` returning
// null (with the reason from `fusedDqnMisfit`).

import * as E from '../../engine/index.ts';
import { allocTensor, keep, runtime, fmtShape } from '../../engine/tensor.ts';
import { FlatAdam } from '../../engine/nn/ppo_mlp.ts';
import { dqnMlpRowsKernel, dqnMlpDwKernel, dqnMlpDwGroups, dqnMlpMisfit, dqnMlpScratchWidth, DQN_MLP_RB, DQN_MLP_LOSS, type DqnMlpShape, type DqnMlpPart } from '../../kernels/dqn_mlp.ts';
import type { QNetwork, QNetParams } from './nets.ts';
import type { NextQ } from './losses.ts';
import type { BatchTensors } from '../replay.ts';
import { abSwitch } from '../../engine/switch.ts';

type Tensor = E.Tensor;

const SEGS = ['e0', 'e1', 'h0', 'h1'] as const;
const LEAVES: Record<(typeof SEGS)[number], [string, string]> = {
  e0: ['encoder.0.weight', 'encoder.0.bias'], e1: ['encoder.1.weight', 'encoder.1.bias'],
  h0: ['head.0.weight', 'head.0.bias'], h1: ['head.1.weight', 'head.1.bias'],
};

const enabled = abSwitch(true);
/**
 * Whether the DQN family takes the fused update where it applies (default true); false keeps
 * the composed path, for tests and benchmarks comparing the two in one process. Read when a
 * learner is made. Returns the previous setting.
 */
export const fusedDqnEnabled = enabled.set;

/** Why the fused update does not apply to this network and parameter tree, or null when it does. */
export function fusedDqnMisfit(net: QNetwork, params: QNetParams): string | null {
  if (net.encoder.kind !== 'ScorerEncoder') return `the encoder is ${net.encoder.kind} (the fused update covers the MLP encoder)`;
  if (net.head.kind !== 'QHead') return `the head is ${net.head.kind} (the fused update covers the plain head)`;
  const named = E.namedParams(params);
  for (const s of SEGS) for (const n of LEAVES[s]) if (!named[n]) return `no parameter ${n}`;
  if (Object.keys(named).length !== 8) return `expected the 8 leaves ${SEGS.flatMap((s) => LEAVES[s]).join(', ')}, got ${Object.keys(named).join(', ')}`;
  const [H, IN] = named['encoder.0.weight'].shape;
  const A = named['head.1.weight'].shape[0];
  const want: Record<string, number[]> = {
    'encoder.0.bias': [H], 'encoder.1.weight': [H, H], 'encoder.1.bias': [H],
    'head.0.weight': [H, H], 'head.0.bias': [H], 'head.1.weight': [A, H], 'head.1.bias': [A],
  };
  for (const [n, sh] of Object.entries(want)) if (named[n].shape.join() !== sh.join()) return `${n} is ${fmtShape(named[n].shape)}, expected ${fmtShape(sh)}`;
  return dqnMlpMisfit({ IN, H, A });
}

export interface FusedDqnGradArgs {
  batch: Pick<BatchTensors, 'obs' | 'actions' | 'rewards' | 'dones'>;
  next: NextQ;
  gamma: number;
  loss: 'mse' | 'huber' | 'bev';
  /** Huber's δ (default 1). */
  huberDelta?: number;
  /** The flat gradient buffer, laid out as `layout` (every leaf of `part` is overwritten). */
  G: Tensor;
  /** Where the statistics go (5 floats: loss, q_mean, msbe, bev, delta_mean), or null. */
  S?: Tensor | null;
  /** Which leaves get their gradient (default all): SCORER's players take one side each. */
  part?: DqnMlpPart;
  /**
   * Where the dw kernel's workgroups write the partial sums of squares of the gradient
   * (`normParts(part)` floats; FusedAdam.stepPartials adds them for the clip), or null.
   */
  N?: Tensor | null;
}

/**
 * The fused gradient for one online parameter tree { encoder, head }: packed whole (one
 * gradient layout, the DQN baselines) or each player packed apart (SCORER: one layout each,
 * and each update takes one part).
 */
export class FusedDqnGrad {
  private scratch: Tensor | null = null;
  readonly shape: DqnMlpShape;

  private constructor(
    private readonly params: QNetParams,
    /** Float offsets of each leaf ('encoder.0.weight', ...) in its gradient layout. */
    private readonly gOff: Record<string, number>,
    /** Floats of the gradient layout of each part ('all' only when packed whole). */
    readonly layoutSize: Partial<Record<DqnMlpPart, number>>,
  ) {
    const named = E.namedParams(params);
    const [H, IN] = named['encoder.0.weight'].shape;
    this.shape = { IN, H, A: named['head.1.weight'].shape[0] };
  }

  /** The fused gradient for `params` (packed whole, or encoder and head each packed), or null where it does not apply. */
  static create(net: QNetwork, params: QNetParams): FusedDqnGrad | null {
    if (!enabled.on || fusedDqnMisfit(net, params)) return null;
    const gOff: Record<string, number> = {};
    const whole = E.packedOf(params);
    if (whole) {
      whole.layout.names.forEach((n, i) => (gOff[n] = whole.layout.offsets[i]));
      return new FusedDqnGrad(params, gOff, { all: whole.layout.size });
    }
    const enc = E.packedOf(params.encoder), head = E.packedOf(params.head);
    if (!enc || !head) return null;
    enc.layout.names.forEach((n, i) => (gOff[`encoder.${n}`] = enc.layout.offsets[i]));
    head.layout.names.forEach((n, i) => (gOff[`head.${n}`] = head.layout.offsets[i]));
    return new FusedDqnGrad(params, gOff, { encoder: enc.layout.size, head: head.layout.size });
  }

  private scratchFor(rows: number): Tensor {
    const n = rows * dqnMlpScratchWidth(this.shape);
    if (!this.scratch || this.scratch.size < n) {
      this.scratch?.dispose();
      this.scratch = keep(allocTensor([n]));
    }
    return this.scratch;
  }

  /** ∂loss/∂params into a.G (and the statistics into a.S): two dispatches, no readback. */
  grad(a: FusedDqnGradArgs) {
    const { IN, A } = this.shape;
    const b = a.batch, B = b.obs.shape[0];
    if (!(a.loss in DQN_MLP_LOSS)) throw new Error(`FusedDqnGrad: unknown loss '${a.loss}'; valid: ${Object.keys(DQN_MLP_LOSS).join(', ')}`);
    if (B < 1 || b.obs.size !== B * IN) throw new Error(`FusedDqnGrad: observations ${fmtShape(b.obs.shape)} are not [batch, ...] rows of ${IN} floats`);
    if (Math.ceil(B / DQN_MLP_RB) > 65535) throw new Error(`FusedDqnGrad: batch ${B} is over ${65535 * DQN_MLP_RB} rows`);
    for (const [n, t] of [['actions', b.actions], ['rewards', b.rewards], ['dones', b.dones]] as const) {
      if (t.size !== B) throw new Error(`FusedDqnGrad: ${n} has ${t.size} elements ${fmtShape(t.shape)}, the batch ${B} rows`);
    }
    for (const [n, t] of [['qNextTarget', a.next.qNextTarget], ['qNextSelect', a.next.qNextSelect]] as const) {
      if (t && t.size !== B * A) throw new Error(`FusedDqnGrad: ${n} ${fmtShape(t.shape)} must be [${B}, ${A}]`);
    }
    const part = a.part ?? 'all';
    const need = this.layoutSize[part];
    if (need === undefined) throw new Error(`FusedDqnGrad: part '${part}' needs its own gradient layout; this tree has ${Object.keys(this.layoutSize).join(', ')} (pack the encoder and head together for 'all', apart for one player)`);
    if (a.G.size < need) throw new Error(`FusedDqnGrad: the gradient buffer has ${a.G.size} floats, the ${part === 'all' ? 'parameter' : part} layout ${need}`);
    if (a.S && a.S.size < 5) throw new Error(`FusedDqnGrad: the statistics buffer has ${a.S.size} floats, 5 are written`);
    if (a.N && a.N.size < this.normParts(part)) throw new Error(`FusedDqnGrad: the norm partials buffer has ${a.N.size} floats, the ${part} gradient writes ${this.normParts(part)}`);
    if (!Number.isFinite(a.gamma)) throw new Error(`FusedDqnGrad: gamma must be a finite number, got ${a.gamma}`);
    const delta = a.huberDelta ?? 1;
    if (!(delta > 0)) throw new Error(`FusedDqnGrad: huberDelta must be > 0, got ${delta}`);
    const rt = runtime();
    const named = E.namedParams(this.params);
    const at = (n: string) => named[n].bufferFor('fused DQN update');
    const enc = at('encoder.0.weight'), head = at('head.0.weight');
    const pOff = (n: string) => (at(n).offset - (n.startsWith('encoder') ? enc : head).offset) / 4;
    // one binding for actions, rewards and dones when they share a buffer (the replay's upload)
    let tr = [b.actions, b.rewards, b.dones].map((t) => t.bufferFor('fused DQN update'));
    let trTensor: Tensor | null = null;
    if (!tr.every((x) => x.buffer === tr[0].buffer)) {
      trTensor = E.concat([E.reshape(b.actions, [B]), E.reshape(b.rewards, [B]), E.reshape(b.dones, [B])]);
      const x = trTensor.bufferFor('fused DQN update');
      tr = [x, { ...x, offset: x.offset + 4 * B }, { ...x, offset: x.offset + 8 * B }];
    }
    const trBase = Math.min(...tr.map((x) => x.offset));
    const whole = (buffer: GPUBuffer, offset = 0) => ({ buffer, offset, size: buffer.size - offset });
    // rows: the encoder/head bindings start at their first leaf (view-aligned), offsets relative to it
    const qt = a.next.qNextTarget.bufferFor('fused DQN update');
    const qs = (a.next.qNextSelect ?? a.next.qNextTarget).bufferFor('fused DQN update');
    const qBase = qt.buffer === qs.buffer ? Math.min(qt.offset, qs.offset) : -1;
    const qtB = qBase >= 0 ? whole(qt.buffer, qBase) : qt, qsB = qBase >= 0 ? whole(qs.buffer, qBase) : qs;
    const sc = this.scratchFor(B);
    rt.dispatch({
      kernel: dqnMlpRowsKernel(this.shape, !!a.next.qNextSelect),
      inputs: [b.obs.bufferFor('fused DQN update'), whole(enc.buffer, enc.offset), whole(head.buffer, head.offset), qtB, qsB, whole(tr[0].buffer, trBase), whole(enc.buffer, enc.offset)],
      outputs: [sc.buffer],
      params: [
        B, E.f32bits(a.gamma), E.f32bits(1e-8), ...tr.map((x) => (x.offset - trBase) / 4),
        qBase >= 0 ? (qt.offset - qBase) / 4 : 0, qBase >= 0 ? (qs.offset - qBase) / 4 : 0,
        ...SEGS.flatMap((s) => LEAVES[s].map(pOff)),
      ],
      workgroups: [Math.ceil(B / DQN_MLP_RB)],
      label: 'dqn_mlp_rows',
    });
    const G = a.G.bufferFor('fused DQN update');
    const S = a.S ? a.S.bufferFor('fused DQN update') : null;
    // unwritten outputs still need a binding each (writable bindings must not alias)
    const sOut = S ?? (this.dummyS ??= keep(allocTensor([8]))).bufferFor('fused DQN update');
    const nOut = (a.N ?? (this.dummyN ??= keep(allocTensor([8])))).bufferFor('fused DQN update');
    rt.dispatch({
      kernel: dqnMlpDwKernel(this.shape, DQN_MLP_LOSS[a.loss], part),
      inputs: [sc.buffer, b.obs.bufferFor('fused DQN update')],
      outputs: [whole(G.buffer, G.offset), sOut, nOut],
      params: [B, E.f32bits(delta), S ? 1 : 0, a.N ? 1 : 0, ...SEGS.flatMap((s) => LEAVES[s].map((n) => this.gOff[n]))],
      workgroups: dqnMlpDwGroups(this.shape, part),
      label: 'dqn_mlp_dw',
    });
    trTensor?.dispose();
  }

  private dummyS: Tensor | null = null;
  private dummyN: Tensor | null = null;

  /** Floats of the norm partials (`N`) the gradient of `part` writes: one per dw workgroup. */
  normParts(part: DqnMlpPart = 'all'): number {
    const [x, y] = dqnMlpDwGroups(this.shape, part);
    return x * y;
  }

  dispose() {
    this.scratch?.dispose();
    this.dummyS?.dispose();
    this.dummyN?.dispose();
    this.scratch = this.dummyS = this.dummyN = null;
  }
}

const adamPartials = abSwitch(true);
/**
 * Whether the DQN family's fused update steps Adam with FusedAdam (the norm from the dw kernel's
 * partial sums, one dispatch; default true) or with FlatAdam's norm pass and update (the
 * session-7 path). Read when a learner is made; for benchmarks comparing the two. Returns the
 * previous setting.
 */
export const fusedAdamEnabled = adamPartials.set;

/**
 * FlatAdam (E.adam's rule, state and checkpoint names) whose clipped step is ONE dispatch
 * (kernels/optim.ts adamPartialsKernel) when the gradient's producer has summed its squares in
 * pieces (FusedDqnGrad's `N`): the separate norm pass (one workgroup over every gradient, serial
 * on one lavapipe thread) is gone, and the update reads and writes vec4s over many workgroups.
 * The norm is the same ‖G‖₂ summed in another order (the clip's scale may differ by rounding).
 */
export class FusedAdam extends FlatAdam {
  /** false: stepPartials takes FlatAdam's path (fusedAdamEnabled(false) when made; the partials are then ignored). */
  readonly partials = adamPartials.on;

  /** One Adam step from `grad`, clipped to maxGradNorm by the norm sqrt(Σ partials) (every float of `partials`). */
  stepPartials(o: { lr?: number; maxGradNorm?: number; partials: Tensor | null }) {
    if (!this.partials || !o.partials) return this.stepStaged({ lr: o.lr, maxGradNorm: o.maxGradNorm });
    const n = this.layout.size;
    if (o.maxGradNorm !== undefined && o.partials.size < 1) {
      throw new Error(`FusedAdam.stepPartials: the clip needs at least one partial sum; the partials buffer has ${o.partials.size} floats`);
    }
    this.fusedAdamStep({ lr: o.lr ?? this.lr, maxGradNorm: o.maxGradNorm, partials: o.partials, label: 'adam.step (norm partials)' });
  }
}
