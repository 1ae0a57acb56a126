// The value networks of the DQN family and SCORER, as engine/nn modules (init(seed) → parameter
// tree, apply(params, x) pure), so their parameters have dotted names (namedParams) for
// checkpoints and the encoder/head split that SCORER's two players need.
//
// - `scorerEncoder`: the released SCORER MinAtar network's perception φ (no convolution):
//   flatten → L1Norm → Dense128 → ReLU → Dense128 → ReLU → L1Norm, with
//   L1Norm(x) = x / max(mean|x|, 1e-8) over the features.
// - `convEncoder`: the MinAtar reference torso, Conv(C→16, 3×3, valid) → ReLU → flatten →
//   Dense128 → ReLU (NHWC; the option for the conv experiments).
// - `qHead`: the control θ: Dense128 → ReLU → Dense|A|; dueling: V and A streams
//   Dense64 → ReLU → Dense1 / Dense|A| taken straight from the features, Q = V + A − mean_a A.
// Orthogonal init (gain √2, last layer of each stream 0.01), zero biases, as specified for
// the released code. All inits run on the CPU from the seed (engine/nn's Householder QR).

import * as E from '../../engine/index.ts';

type Tensor = E.Tensor;
type Params = E.Params;

export interface QModule<P extends Params = Params> extends E.Module<P> {
  readonly inShape: number[];
  readonly outDim: number;
  /**
   * The plain head's split before its output layer (Q = hidden·Wᵀ + b), so the TD loss can fold
   * that layer in (engine/nn/td_loss.ts tdLossHead); absent for dueling heads and encoders.
   */
  readonly outputLayer?: { hidden(p: P, f: Tensor): Tensor; params(p: P): { weight: Tensor; bias: Tensor } };
}

const SQRT2 = Math.SQRT2;

/**
 * x / max(mean|x|, 1e-8) over the last axis: the engine's fused L1Norm (one dispatch each way;
 * its composed form was ~40 of a DQN update's 64 dispatches).
 */
export function l1Norm(x: Tensor): Tensor {
  return E.l1Norm(x, 1e-8);
}

export type EncoderKind = 'mlp' | 'conv';

/** The released SCORER MinAtar encoder; input [B, ...obsShape], features [B, hidden]. */
export function scorerEncoder(obsShape: number[], hidden = 128): QModule {
  const inDim = obsShape.reduce((a, b) => a * b, 1);
  const l0 = E.Linear(inDim, hidden, { gain: SQRT2, activation: 'relu' });
  const l1 = E.Linear(hidden, hidden, { gain: SQRT2, activation: 'relu' });
  return {
    kind: 'ScorerEncoder',
    inShape: obsShape,
    outDim: hidden,
    init(seed) {
      return { '0': l0.init(E.childSeed(seed, 0)), '1': l1.init(E.childSeed(seed, 1)) };
    },
    apply(p, x) {
      const h = l1Norm(E.reshape(x, [x.shape[0], inDim]));
      return l1Norm(l1.apply(p['1'] as E.LinearParams, l0.apply(p['0'] as E.LinearParams, h)));
    },
  };
}

/** The MinAtar reference torso (NHWC input [B, H, W, C]). */
export function convEncoder(obsShape: number[], hidden = 128): QModule {
  if (obsShape.length !== 3) throw new Error(`the conv encoder needs [H, W, C] observations, got [${obsShape}]`);
  const [h, w, c] = obsShape;
  const flat = (h - 2) * (w - 2) * 16;
  const conv = E.Conv2d(c, 16, 3, { gain: SQRT2, activation: 'relu' });
  const fc = E.Linear(flat, hidden, { gain: SQRT2, activation: 'relu' });
  return {
    kind: 'ConvEncoder',
    inShape: obsShape,
    outDim: hidden,
    init(seed) {
      return { conv: conv.init(E.childSeed(seed, 'conv')), fc: fc.init(E.childSeed(seed, 'fc')) };
    },
    apply(p, x) {
      const y = conv.apply(p.conv as E.LinearParams, x);
      return fc.apply(p.fc as E.LinearParams, E.reshape(y, [x.shape[0], flat]));
    },
  };
}

export function makeEncoder(kind: EncoderKind, obsShape: number[], hidden = 128): QModule {
  if (kind === 'mlp') return scorerEncoder(obsShape, hidden);
  if (kind === 'conv') return convEncoder(obsShape, hidden);
  throw new Error(`unknown encoder '${kind}'; valid: mlp, conv`);
}

/** Q-values [B, A] from features [B, F]; dueling aggregates V + A − mean A. */
export function qHead(featureDim: number, numActions: number, o: { dueling?: boolean; hidden?: number; streamHidden?: number } = {}): QModule {
  const hidden = o.hidden ?? 128, sh = o.streamHidden ?? 64;
  if (!o.dueling) {
    const l0 = E.Linear(featureDim, hidden, { gain: SQRT2, activation: 'relu' });
    const l1 = E.Linear(hidden, numActions, { gain: 0.01 });
    return {
      kind: 'QHead',
      inShape: [featureDim],
      outDim: numActions,
      init(seed) {
        return { '0': l0.init(E.childSeed(seed, 0)), '1': l1.init(E.childSeed(seed, 1)) };
      },
      apply(p, f) {
        return l1.apply(p['1'] as E.LinearParams, l0.apply(p['0'] as E.LinearParams, f));
      },
      outputLayer: {
        hidden: (p, f) => l0.apply(p['0'] as E.LinearParams, f),
        params: (p) => p['1'] as { weight: Tensor; bias: Tensor },
      },
    };
  }
  const v0 = E.Linear(featureDim, sh, { gain: SQRT2, activation: 'relu' });
  const v1 = E.Linear(sh, 1, { gain: 0.01 });
  const a0 = E.Linear(featureDim, sh, { gain: SQRT2, activation: 'relu' });
  const a1 = E.Linear(sh, numActions, { gain: 0.01 });
  return {
    kind: 'DuelingQHead',
    inShape: [featureDim],
    outDim: numActions,
    init(seed) {
      return {
        value: { '0': v0.init(E.childSeed(seed, 'v0')), '1': v1.init(E.childSeed(seed, 'v1')) },
        advantage: { '0': a0.init(E.childSeed(seed, 'a0')), '1': a1.init(E.childSeed(seed, 'a1')) },
      };
    },
    apply(p, f) {
      const pv = p.value as Params, pa = p.advantage as Params;
      const v = v1.apply(pv['1'] as E.LinearParams, v0.apply(pv['0'] as E.LinearParams, f));
      const a = a1.apply(pa['1'] as E.LinearParams, a0.apply(pa['0'] as E.LinearParams, f));
      return duelingAggregate(v, a);
    },
  };
}

/** Q = V + A − mean_a A (V: [B, 1], A: [B, |A|]). */
export function duelingAggregate(v: Tensor, a: Tensor): Tensor {
  return E.add(v, E.sub(a, E.mean(a, -1, true)));
}

/** The whole Q-network: encoder φ then head θ (parameters { encoder, head }). */
export interface QNetParams extends Params {
  encoder: Params;
  head: Params;
}

export interface QNetwork {
  encoder: QModule;
  head: QModule;
  numActions: number;
  init(seed: number): QNetParams;
  features(p: Params, obs: Tensor): Tensor;
  q(p: QNetParams, obs: Tensor): Tensor;
}

export interface QNetworkOptions {
  encoder?: EncoderKind;
  dueling?: boolean;
  hidden?: number;
  /** Width of the dueling streams (default 64). */
  streamHidden?: number;
}

export function qNetwork(obsShape: number[], numActions: number, o: QNetworkOptions = {}): QNetwork {
  const encoder = makeEncoder(o.encoder ?? 'mlp', obsShape, o.hidden ?? 128);
  const head = qHead(encoder.outDim, numActions, { dueling: o.dueling, hidden: o.hidden ?? 128, streamHidden: o.streamHidden });
  return {
    encoder,
    head,
    numActions,
    init(seed) {
      return { encoder: encoder.init(E.childSeed(seed, 'encoder')), head: head.init(E.childSeed(seed, 'head')) };
    },
    features: (p, obs) => encoder.apply(p, obs),
    q: (p, obs) => head.apply(p.head, encoder.apply(p.encoder, obs)),
  };
}
