// The networks, as pure functions of parameter trees: a perception module maps observations to
// a feature vector; the heads (shared by PPO and SPRIG) map features to logits and a value.
//   - CartPole: MLP torso (tanh, CleanRL's 64-64).
//   - MinAtar, PPO: the MinAtar reference torso, Conv(C→16, 3×3, valid) → ReLU → Linear(1024→128) → ReLU.
//   - MinAtar, SPRIG: see sprig.ts (three convolutions + spatio-temporal attention).
// Initialisation follows CleanRL: orthogonal weights (gain √2 in the torso, 0.01 for the policy
// head, 1 for the value head), zero biases. Initialisation happens on the CPU from a seeded RNG
// so it is reproducible and independent of the GPU RNG stream.

import * as E from '../../engine/index.ts';
import { Rng } from './rng.ts';

export type Tensor = E.Tensor;
export type Params = { [k: string]: Tensor | Params };

export interface Perception {
  /** Network input shape per sample (after `prepare`). */
  inputShape: number[];
  /** Floats per raw sample (the env observation, or K stacked ones). */
  rawSize: number;
  /** CPU preprocessing of one raw sample into the network input (e.g. im2col); absent = copy. */
  prepare?(src: Float32Array, srcOff: number, dst: Float32Array, dstOff: number): void;
  featureDim: number;
  init(rng: Rng): Params;
  /** Features [B, F] and, for attention perception, the attention maps' L1 costs. */
  apply(params: Params, obs: Tensor): { features: Tensor; attnL1?: Tensor };
}

// ------------------------------------------------------------------ initialisers

function gaussian(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.random());
}

/** torch.nn.init.orthogonal_ for a [rows, cols] matrix, in float64 (modified Gram–Schmidt). */
export function orthogonal(rows: number, cols: number, gain: number, rng: Rng): Float64Array {
  const tall = rows >= cols;
  const r = tall ? rows : cols, c = tall ? cols : rows;
  // Columns of a random r×c Gaussian matrix, orthonormalised (QR with R's diagonal made positive).
  const q: Float64Array[] = [];
  for (let j = 0; j < c; j++) {
    const v = new Float64Array(r);
    for (let i = 0; i < r; i++) v[i] = gaussian(rng);
    for (const u of q) {
      let d = 0;
      for (let i = 0; i < r; i++) d += u[i] * v[i];
      for (let i = 0; i < r; i++) v[i] -= d * u[i];
    }
    let nrm = 0;
    for (let i = 0; i < r; i++) nrm += v[i] * v[i];
    nrm = Math.sqrt(nrm);
    for (let i = 0; i < r; i++) v[i] /= nrm;
    q.push(v);
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = gain * (tall ? q[j][i] : q[i][j]);
  }
  return out;
}

/** A linear layer's parameters in PyTorch layout: weight [out, in], bias [out]. */
export function linearInit(inDim: number, outDim: number, gain: number, rng: Rng): Params {
  const w = orthogonal(outDim, inDim, gain, rng);
  return { weight: E.tensor(Float32Array.from(w), [outDim, inDim]), bias: E.zeros([outDim]) };
}

/** act(x·Wᵀ + b), one fused dispatch. */
export function linear(p: Params, x: Tensor, act: E.Activation = 'none'): Tensor {
  return E.linear(x, p.weight as Tensor, p.bias as Tensor, act);
}

// ------------------------------------------------------------------ convolution

/** Conv weights in engine/nn's NHWC layout [out, kH, kW, in] (orthogonal over in·kH·kW, as torch). */
export function convInit(cin: number, cout: number, k: number, gain: number, rng: Rng): Params {
  const wt = orthogonal(cout, cin * k * k, gain, rng); // torch [out, in, kH, kW] flattened
  const w = new Float32Array(cout * k * k * cin);
  for (let o = 0; o < cout; o++)
    for (let c = 0; c < cin; c++)
      for (let ky = 0; ky < k; ky++)
        for (let kx = 0; kx < k; kx++) w[((o * k + ky) * k + kx) * cin + c] = wt[o * cin * k * k + (c * k + ky) * k + kx];
  return { weight: E.tensor(w, [cout, k, k, cin]), bias: E.zeros([cout]) };
}

export function conv(p: Params, x: Tensor, stride = 1, act: E.Activation = 'none', padding = 0): Tensor {
  return E.conv2d(x, p.weight as Tensor, p.bias as Tensor, { stride, padding, activation: act });
}

// ------------------------------------------------------------------ perception modules

/** CleanRL's CartPole torso: Linear(obs→64) → tanh → Linear(64→64) → tanh. */
export function mlpTorso(obsDim: number, hidden = [64, 64], act: 'tanh' | 'relu' = 'tanh'): Perception {
  return {
    inputShape: [obsDim],
    rawSize: obsDim,
    featureDim: hidden[hidden.length - 1],
    init(rng) {
      const layers: Params = {};
      let d = obsDim;
      hidden.forEach((h, i) => {
        layers[`l${i}`] = linearInit(d, h, Math.SQRT2, rng);
        d = h;
      });
      return layers;
    },
    apply(params, obs) {
      let x = obs;
      hidden.forEach((_, i) => (x = linear(params[`l${i}`] as Params, x, act)));
      return { features: x };
    },
  };
}

/** The MinAtar reference torso: Conv(C→16, 3×3) → ReLU → flatten → Linear(1024→128) → ReLU. */
export function minatarTorso(h: number, w: number, c: number, hidden = 128): Perception {
  const convOut = (h - 2) * (w - 2) * 16;
  return {
    inputShape: [h, w, c],
    rawSize: h * w * c,
    featureDim: hidden,
    init(rng) {
      return { conv: convInit(c, 16, 3, Math.SQRT2, rng), fc: linearInit(convOut, hidden, Math.SQRT2, rng) };
    },
    apply(params, x) {
      const y = conv(params.conv as Params, x, 1, 'relu'); // [B, 8, 8, 16]
      // NHWC flattens as (y, x, c) where torch flattens (c, y, x): a fixed permutation of fc's inputs.
      return { features: linear(params.fc as Params, E.reshape(y, [x.shape[0], convOut]), 'relu') };
    },
  };
}

// ------------------------------------------------------------------ heads

export interface Heads {
  init(rng: Rng): Params;
  /** logits [B, A] and value [B]. */
  apply(params: Params, features: Tensor): { logits: Tensor; value: Tensor };
}

/** Policy and value heads on the features: Linear(F→A) (gain 0.01) and Linear(F→1) (gain 1). */
export function actorCriticHeads(featureDim: number, numActions: number): Heads {
  return {
    init(rng) {
      return { actor: linearInit(featureDim, numActions, 0.01, rng), critic: linearInit(featureDim, 1, 1, rng) };
    },
    apply(params, f) {
      const logits = linear(params.actor as Params, f);
      const value = E.reshape(linear(params.critic as Params, f), [f.shape[0]]);
      return { logits, value };
    },
  };
}

// ------------------------------------------------------------------ categorical helpers

/** log π(a|s) for integer-valued actions [B] and the entropy, from logits [B, A] (fused kernels). */
export function categorical(logits: Tensor, actions: Tensor): { logp: Tensor; entropy: Tensor } {
  return { logp: E.categoricalLogProb(logits, actions), entropy: E.categoricalEntropy(logits) };
}

/** Parameters flattened to dotted names (for checkpoints and for telling leader from follower). */
export function named(params: Params, prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(params)) {
    const n = prefix ? `${prefix}.${k}` : k;
    if (v instanceof E.Tensor) out[n] = v;
    else Object.assign(out, named(v, n));
  }
  return out;
}

export function paramCount(params: Params): number {
  return Object.values(named(params)).reduce((a, t) => a + t.size, 0);
}
