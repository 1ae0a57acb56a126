// Neural-network and RL building blocks: softmax, conv2d, attention, layer norm, losses and the
// log-probabilities / entropies of categorical and diagonal-Gaussian policies.
import { add, broadcastShapesN, div, exp, map, mul, sub, where, zip, zipN } from './elementwise.ts';
import { matmul } from './linalg.ts';
import { ND, type NDLike, asND, fmtShape, ravel, sameShape, zeros } from './nd.ts';
import { logsumexp, max, mean, sum } from './reduce.ts';
import { mT } from './shape.ts';

/**
 * exp(x - max) / sum(exp(x - max)) along `axis`. A slice that is entirely -Infinity gives NaN
 * (as in torch), since max - max is then NaN.
 */
export function softmax(x: NDLike, axis = -1): ND {
  const a = asND(x);
  const e = exp(sub(a, max(a, axis, true)));
  return div(e, sum(e, axis, true));
}

/** x - logsumexp(x) along `axis`. */
export function logSoftmax(x: NDLike, axis = -1): ND {
  const a = asND(x);
  return sub(a, logsumexp(a, axis, true));
}

// ---------------------------------------------------------------------------------------------
// conv2d

export interface Conv2dOptions {
  /** Integer stride, one number for both axes or [sh, sw] (default 1). */
  stride?: number | readonly number[];
  /** Zero padding on each side, one number or [ph, pw] (default 0). */
  padding?: number | readonly number[];
  /** Kernel dilation, one number or [dh, dw] (default 1). */
  dilation?: number | readonly number[];
  /** 'NCHW' (x [N,C,H,W], w [O,C,KH,KW], out [N,O,OH,OW]) or 'NHWC' (x [N,H,W,C], w [KH,KW,C,O], out [N,OH,OW,O]). */
  layout?: 'NCHW' | 'NHWC';
  /** Optional bias [O]. */
  bias?: ND;
}

function pair(v: number | readonly number[], what: string): [number, number] {
  if (typeof v !== 'number' && v.length !== 2) throw new Error(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((n) => Number.isInteger(n))) throw new Error(`${what} must be integers, got ${JSON.stringify(v)}`);
  return p;
}

/**
 * 2-D cross-correlation (what deep-learning libraries call convolution), zero padding:
 * out[n, o, i, j] = bias[o] + Σ_{c, ki, kj} x[n, c, i·sh - ph + ki·dh, j·sw - pw + kj·dw] · w[o, c, ki, kj]
 * (terms reading outside x are 0), with OH = floor((H + 2ph - dh·(KH-1) - 1) / sh) + 1 and
 * likewise OW. The same loop serves both layouts; only the index functions differ.
 */
export function conv2d(x: ND, w: ND, opts: Conv2dOptions = {}): ND {
  const layout = opts.layout ?? 'NCHW';
  const [sh, sw] = pair(opts.stride ?? 1, 'stride');
  const [ph, pw] = pair(opts.padding ?? 0, 'padding');
  const [dh, dw] = pair(opts.dilation ?? 1, 'dilation');
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || ph < 0 || pw < 0) throw new Error('conv2d: stride and dilation must be >= 1, padding >= 0');
  if (x.rank !== 4 || w.rank !== 4) throw new Error(`conv2d: x ${fmtShape(x.shape)} and w ${fmtShape(w.shape)} must both be 4-D`);
  let NB: number, C: number, H: number, W: number, O: number, Cw: number, KH: number, KW: number;
  if (layout === 'NCHW') {
    [NB, C, H, W] = x.shape;
    [O, Cw, KH, KW] = w.shape;
  } else {
    [NB, H, W, C] = x.shape;
    [KH, KW, Cw, O] = w.shape;
  }
  if (C !== Cw) throw new Error(`conv2d (${layout}): x ${fmtShape(x.shape)} has ${C} channels but w ${fmtShape(w.shape)} expects ${Cw}`);
  if (opts.bias && !sameShape(opts.bias.shape, [O])) throw new Error(`conv2d: bias ${fmtShape(opts.bias.shape)} must be [${O}]`);
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  if (OH < 1 || OW < 1) throw new Error(`conv2d: empty output for x ${fmtShape(x.shape)}, w ${fmtShape(w.shape)}`);

  const nchw = layout === 'NCHW';
  const xAt = (n: number, c: number, h: number, ww: number) => x.data[nchw ? ravel([n, c, h, ww], x.shape) : ravel([n, h, ww, c], x.shape)];
  const wAt = (o: number, c: number, ki: number, kj: number) => w.data[nchw ? ravel([o, c, ki, kj], w.shape) : ravel([ki, kj, c, o], w.shape)];
  const outShape = nchw ? [NB, O, OH, OW] : [NB, OH, OW, O];
  const out = zeros(outShape);
  const outAt = (n: number, o: number, i: number, j: number) => (nchw ? ravel([n, o, i, j], outShape) : ravel([n, i, j, o], outShape));

  for (let n = 0; n < NB; n++) {
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = opts.bias ? opts.bias.data[o] : 0;
          for (let c = 0; c < C; c++) {
            for (let ki = 0; ki < KH; ki++) {
              for (let kj = 0; kj < KW; kj++) {
                const h = i * sh - ph + ki * dh;
                const ww = j * sw - pw + kj * dw;
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += xAt(n, c, h, ww) * wAt(o, c, ki, kj);
              }
            }
          }
          out.data[outAt(n, o, i, j)] = s;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Attention

export interface AttentionOptions {
  /** Broadcastable to [..., Lq, Lk]; nonzero (1) = keep, 0 = masked (logit → -Infinity). */
  mask?: NDLike;
  /** Logit scale; default 1 / sqrt(D). */
  scale?: number;
}

/**
 * The attention weights softmax(scale · q kᵀ + mask) over the last axis, shape [..., Lq, Lk]
 * (batch dimensions broadcast as in matmul). A fully masked row gives NaN weights (as in torch).
 */
export function attentionWeights(q: ND, k: ND, opts: AttentionOptions = {}): ND {
  if (q.rank < 2 || k.rank < 2) throw new Error(`attention: q ${fmtShape(q.shape)} and k ${fmtShape(k.shape)} must be at least 2-D`);
  const D = q.shape[q.rank - 1];
  if (k.shape[k.rank - 1] !== D) throw new Error(`attention: q ${fmtShape(q.shape)} and k ${fmtShape(k.shape)} differ in D`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  let logits = mul(matmul(q, mT(k)), scale);
  if (opts.mask !== undefined) logits = where(opts.mask, logits, -Infinity);
  return softmax(logits, -1);
}

/** Scaled dot-product attention: attentionWeights(q, k) @ v, shape [..., Lq, Dv]. */
export function attention(q: ND, k: ND, v: ND, opts: AttentionOptions = {}): ND {
  if (v.rank < 2 || v.shape[v.rank - 2] !== k.shape[k.rank - 2]) throw new Error(`attention: k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)} differ in Lk`);
  return matmul(attentionWeights(q, k, opts), v);
}

/**
 * Lower-triangular [Lq, Lk] keep-mask: query i may attend to key j when j <= i (top-left
 * aligned, as torch's is_causal).
 */
export function causalMask(Lq: number, Lk = Lq): ND {
  const m = zeros([Lq, Lk]);
  for (let i = 0; i < Lq; i++) for (let j = 0; j <= Math.min(i, Lk - 1); j++) m.data[i * Lk + j] = 1;
  return m;
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/**
 * Layer norm over the last axis: (x - mean) / sqrt(var + eps) · gamma + beta, with the biased
 * variance; gamma and beta broadcast against x (usually [D]) and default to 1 and 0.
 */
export function layerNorm(x: ND, gamma?: NDLike, beta?: NDLike, eps = 1e-5): ND {
  const mu = mean(x, -1, true);
  const centered = sub(x, mu);
  const v = mean(map(centered, (c) => c * c), -1, true);
  const normed = div(centered, map(v, (s) => Math.sqrt(s + eps)));
  return add(mul(normed, gamma ?? 1), beta ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Losses

/** mean((a - b)²) over the broadcast of a and b, as a 0-d array. */
export function mse(a: NDLike, b: NDLike): ND {
  return mean(zip(a, b, (x, y) => (x - y) * (x - y)));
}

/**
 * torch.nn.HuberLoss (mean): with d = a - b, 0.5·d² where |d| < delta, else
 * delta·(|d| - 0.5·delta). For delta = 1 this equals smooth_l1.
 */
export function huber(a: NDLike, b: NDLike, delta = 1): ND {
  return mean(zip(a, b, (x, y) => {
    const d = Math.abs(x - y);
    return d < delta ? 0.5 * d * d : delta * (d - 0.5 * delta);
  }));
}

/** torch.nn.SmoothL1Loss (mean): 0.5·d²/beta where |d| < beta, else |d| - 0.5·beta. */
export function smoothL1(a: NDLike, b: NDLike, beta = 1): ND {
  return mean(zip(a, b, (x, y) => {
    const d = Math.abs(x - y);
    return d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta;
  }));
}

// ---------------------------------------------------------------------------------------------
// Distributions

/**
 * log softmax(logits)[..., a] for integer actions: logits [..., A], actions [...] (shape
 * logits.shape[:-1]) → [...].
 */
export function categoricalLogProb(logits: ND, actions: ND): ND {
  const A = logits.shape[logits.rank - 1];
  const batch = logits.shape.slice(0, -1);
  if (!sameShape(actions.shape, batch)) throw new Error(`categoricalLogProb: actions ${fmtShape(actions.shape)} must be ${fmtShape(batch)} for logits ${fmtShape(logits.shape)}`);
  const lp = logSoftmax(logits, -1);
  const out = zeros(batch);
  for (let b = 0; b < out.size; b++) {
    const a = actions.data[b];
    if (!Number.isInteger(a) || a < 0 || a >= A) throw new Error(`categoricalLogProb: action ${a} out of range [0, ${A})`);
    out.data[b] = lp.data[b * A + a];
  }
  return out;
}

/** -Σ p log p over the last axis, with p = softmax(logits) and 0·log 0 = 0. */
export function categoricalEntropy(logits: ND): ND {
  const lp = logSoftmax(logits, -1);
  return sum(map(lp, (l) => (l === -Infinity ? 0 : -Math.exp(l) * l)), -1);
}

/** KL(p ‖ q) = Σ p (log p - log q) over the last axis, p = softmax(logitsP), q = softmax(logitsQ). */
export function categoricalKL(logitsP: ND, logitsQ: ND): ND {
  const lp = logSoftmax(logitsP, -1), lq = logSoftmax(logitsQ, -1);
  return sum(zip(lp, lq, (a, b) => (a === -Infinity ? 0 : Math.exp(a) * (a - b))), -1);
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * Diagonal-Gaussian log density summed over the last axis:
 * Σ [-0.5·((x - mean)/σ)² - log σ - 0.5·log 2π] with σ = exp(logStd); x, mean, logStd broadcast.
 */
export function gaussianLogProb(x: NDLike, meanV: NDLike, logStd: NDLike): ND {
  const shape = broadcastShapesN(asND(x).shape, asND(meanV).shape, asND(logStd).shape);
  if (shape.length === 0) throw new Error('gaussianLogProb: needs at least one axis to sum over');
  const terms = zipN([x, meanV, logStd], (xv, m, ls) => {
    const z = (xv - m) / Math.exp(ls);
    return -0.5 * z * z - ls - HALF_LOG_2PI;
  });
  return sum(terms, -1);
}

/** Diagonal-Gaussian entropy summed over the last axis: Σ (logStd + 0.5·log(2πe)). */
export function gaussianEntropy(logStd: ND): ND {
  return sum(map(logStd, (ls) => ls + HALF_LOG_2PI + 0.5), -1);
}

// ---------------------------------------------------------------------------------------------
// Pooling

/** Max or average pooling over [N, C, H, W] with a kh×kw window and stride (default = window), no padding. */
export function pool2d(x: ND, kernel: number | readonly number[], opts: { stride?: number | readonly number[]; mode?: 'max' | 'avg' } = {}): ND {
  if (x.rank !== 4) throw new Error(`pool2d: x ${fmtShape(x.shape)} must be [N, C, H, W]`);
  const [kh, kw] = pair(kernel, 'kernel');
  const [sh, sw] = pair(opts.stride ?? kernel, 'stride');
  const [NB, C, H, W] = x.shape;
  const OH = Math.floor((H - kh) / sh) + 1, OW = Math.floor((W - kw) / sw) + 1;
  const out = zeros([NB, C, OH, OW]);
  for (let n = 0; n < NB; n++) for (let c = 0; c < C; c++) for (let i = 0; i < OH; i++) for (let j = 0; j < OW; j++) {
    const vals: number[] = [];
    for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) vals.push(x.data[ravel([n, c, i * sh + a, j * sw + b], x.shape)]);
    out.data[ravel([n, c, i, j], out.shape)] = opts.mode === 'avg' ? vals.reduce((s, v) => s + v, 0) / vals.length : Math.max(...vals);
  }
  return out;
}

/** Linear layer x @ w + b (w [in, out], b [out]). */
export function linear(x: ND, w: ND, b?: ND): ND {
  const y = matmul(x, w);
  return b ? add(y, b) : y;
}
