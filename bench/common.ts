// The benchmark harness shared by every bench module: row format, case specs (so peers can run
// the very same case), timing, correctness checks and float64 references.
//
// Timing method (every engine, every case): warm up, then R repeats of "encode N iterations back
// to back, then one wait (readback or sync)", divided by N. We report the median, min and max of
// the R per-iteration times. N is picked so one repeat lasts about `targetMs`.
//
// A bench module (bench/core.ts, bench/kernels.ts, bench/implicit.ts, bench/envs.ts) exports an
// async function (filter?: string) => Promise<Row[]> returning rows for engine 'ours'. A row
// that carries a `spec` of a kind listed in CaseSpec gets the peers (tfjs-webgpu, jax-js,
// PyTorch) run on the same spec by bench/run.ts, and ratios computed against them.

export interface Stats {
  /** Milliseconds per iteration. */
  median: number;
  min: number;
  max: number;
  /** Repeats measured, and iterations per repeat. */
  repeats: number;
  iters: number;
  /**
   * Median process CPU ms per iteration over the same repeats (timeInterleaved only). lavapipe runs
   * every in-process engine's kernels on this process's threads, so cpu / median is how many cores
   * the row had: ≈ 2 on the 2-core hosts for a big kernel, ≈ 1 when something else took a core.
   */
  cpu?: number;
}

export type Status = 'ok' | 'failed' | 'skipped';

export interface Row {
  /** Unique case id, stable across runs, e.g. "matmul 1024x1024x1024". */
  id: string;
  /** Section of the table: matmul, conv2d, attention, linear, mlp, optimizer, implicit, overhead, elementwise, reduce, envs. */
  group: string;
  /** 'ours', 'tfjs-webgpu', 'jax-js', 'torch-cpu', 'torch-cuda', ... */
  engine: string;
  /** 'failed' = the correctness check failed or the case threw: no number is reported. */
  status: Status;
  /** Wall time per iteration (the figure comparable across engines). */
  wall?: Stats;
  /** Kernel time per iteration from GPU timestamp queries (our engine only, where the adapter has them). */
  gpu?: Stats;
  /** Floating-point operations per iteration (for GFLOP/s). */
  flops?: number;
  /** Bytes moved per iteration (for GB/s). */
  bytes?: number;
  /** Other figures: dispatches/readbacks per iteration, ratios, steps per second... */
  metrics?: Record<string, number>;
  /** The case, for peers to run. */
  spec?: CaseSpec;
  /** Max relative error seen by the correctness check. */
  err?: number;
  /** On our rows: speedup against each peer on the same case (peer time / our time; > 1 = we are faster). */
  ratios?: Record<string, number>;
  note?: string;
}

// ------------------------------------------------------------------ case specs

export type CaseSpec =
  | { kind: 'matmul'; batch: number; m: number; k: number; n: number }
  | { kind: 'conv2d'; n: number; c: number; h: number; w: number; o: number; kh: number; kw: number; stride: number; pad: number; backward: boolean }
  | { kind: 'attention'; b: number; heads: number; s: number; d: number; backward: boolean }
  | { kind: 'linear'; m: number; k: number; n: number; act: 'relu' | 'tanh' | 'none' }
  | { kind: 'mlp_grad'; batch: number; sizes: number[] }
  | { kind: 'adam'; sizes: number[][] }
  | { kind: 'elementwise'; n: number; op: 'add' | 'mul_add_tanh' }
  | { kind: 'reduce'; rows: number; cols: number; op: 'sum_all' | 'sum_rows' }
  | { kind: 'roundtrip' }
  | { kind: 'dispatch'; count: number; n: number }
  | { kind: 'hvp_mlp'; batch: number; sizes: number[] };

/** MLP parameter shapes, [W1, b1, W2, b2, ...] with W as (in, out). */
export function mlpShapes(sizes: number[]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + 1 < sizes.length; i++) out.push([sizes[i], sizes[i + 1]], [sizes[i + 1]]);
  return out;
}

export function specFlops(s: CaseSpec): number | undefined {
  switch (s.kind) {
    case 'matmul':
      return 2 * s.batch * s.m * s.k * s.n;
    case 'conv2d': {
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      const f = 2 * s.n * s.o * oh * ow * s.c * s.kh * s.kw;
      return s.backward ? 3 * f : f;
    }
    case 'attention': {
      const f = 4 * s.b * s.heads * s.s * s.s * s.d;
      return s.backward ? 3.5 * f : f;
    }
    case 'linear':
      return 2 * s.m * s.k * s.n;
    case 'mlp_grad': {
      let f = 0;
      for (let i = 0; i + 1 < s.sizes.length; i++) f += 2 * s.batch * s.sizes[i] * s.sizes[i + 1];
      return 3 * f;
    }
    default:
      return undefined;
  }
}

export function specBytes(s: CaseSpec): number | undefined {
  switch (s.kind) {
    case 'elementwise':
      return s.op === 'add' ? 12 * s.n : 16 * s.n;
    case 'reduce':
      return 4 * s.rows * s.cols;
    case 'adam': {
      const p = s.sizes.reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0);
      return 4 * p * 7; // read p, g, m, v; write p, m, v
    }
    default:
      return undefined;
  }
}

export function specLabel(s: CaseSpec): string {
  switch (s.kind) {
    case 'matmul':
      return `matmul ${s.batch > 1 ? s.batch + '×' : ''}${s.m}×${s.k}·${s.k}×${s.n}`;
    case 'conv2d':
      return `conv2d ${s.backward ? 'fwd+bwd' : 'fwd'} N${s.n} ${s.c}×${s.h}×${s.w}→${s.o} ${s.kh}×${s.kw}/${s.stride}`;
    case 'attention':
      return `attention ${s.backward ? 'fwd+bwd' : 'fwd'} B${s.b} H${s.heads} S${s.s} D${s.d}`;
    case 'linear':
      return `linear+bias+${s.act} ${s.m}×${s.k}→${s.n}`;
    case 'mlp_grad':
      return `MLP grad ${s.sizes.join('→')} batch ${s.batch}`;
    case 'adam':
      return `Adam step, ${s.sizes.reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0)} params in ${s.sizes.length} tensors`;
    case 'elementwise':
      return `elementwise ${s.op} ${s.n}`;
    case 'reduce':
      return `reduce ${s.op} ${s.rows}×${s.cols}`;
    case 'roundtrip':
      return 'round trip (tiny op + 4-byte readback)';
    case 'dispatch':
      return `dispatch overhead (${s.count} tiny ops, one wait)`;
    case 'hvp_mlp':
      return `MLP HVP ${s.sizes.join('→')} batch ${s.batch}`;
  }
}

/** The canonical kernel cases of the issue; bench/kernels.ts may use these specs (or its own). */
export const KERNEL_CASES: Record<string, CaseSpec> = {
  'conv2d minatar': { kind: 'conv2d', n: 128, c: 4, h: 10, w: 10, o: 16, kh: 3, kw: 3, stride: 1, pad: 0, backward: true },
  'conv2d nature1': { kind: 'conv2d', n: 32, c: 4, h: 84, w: 84, o: 32, kh: 8, kw: 8, stride: 4, pad: 0, backward: true },
  'conv2d nature2': { kind: 'conv2d', n: 32, c: 32, h: 20, w: 20, o: 64, kh: 4, kw: 4, stride: 2, pad: 0, backward: true },
  'conv2d nature3': { kind: 'conv2d', n: 32, c: 64, h: 9, w: 9, o: 64, kh: 3, kw: 3, stride: 1, pad: 0, backward: true },
  'attention sprig': { kind: 'attention', b: 32, heads: 4, s: 64, d: 32, backward: true },
  'linear relu': { kind: 'linear', m: 1024, k: 256, n: 256, act: 'relu' },
  'mlp grad': { kind: 'mlp_grad', batch: 256, sizes: [64, 256, 256, 8] },
  'adam mlp': { kind: 'adam', sizes: mlpShapes([64, 256, 256, 8]) },
};

// ------------------------------------------------------------------ options

export interface BenchOptions {
  quick: boolean;
  /** Target duration of one timed repeat, ms. */
  targetMs: number;
  repeats: number;
  warmup: number;
}

export function benchOptions(): BenchOptions {
  const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  return quick ? { quick, targetMs: 60, repeats: 5, warmup: 2 } : { quick, targetMs: 200, repeats: 7, warmup: 2 };
}

let OPTS: BenchOptions | null = null;
export function opts(): BenchOptions {
  return (OPTS ??= benchOptions());
}
export function setOptions(o: Partial<BenchOptions>) {
  OPTS = { ...opts(), ...o };
}

/** True when `filter` (space/comma separated words) selects this id/group; empty selects all. */
export function selected(filter: string | undefined, ...names: string[]): boolean {
  if (!filter) return true;
  const words = filter.toLowerCase().split(/[\s,]+/).filter(Boolean);
  const hay = names.join(' ').toLowerCase();
  return words.some((w) => hay.includes(w));
}

// ------------------------------------------------------------------ timing

export function stats(samples: number[], iters: number): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], repeats: s.length, iters };
}

/**
 * Times `step` (encodes one iteration; may return a promise) followed by one `wait` per repeat.
 * `step(i)` gets the iteration index. Returns per-iteration wall-time stats in ms.
 */
export async function timeIt(
  step: (i: number) => unknown,
  wait: () => Promise<unknown>,
  o: Partial<BenchOptions> & { maxIters?: number; minIters?: number } = {},
): Promise<Stats> {
  const { targetMs, repeats, warmup } = { ...opts(), ...o };
  // warm-up, and a first estimate of one iteration's cost
  let iters = 1;
  let est = Infinity;
  for (let w = 0; w < warmup; w++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await step(i);
    await wait();
    est = (performance.now() - t0) / iters;
    if (est * iters < targetMs / 4) iters = Math.min(o.maxIters ?? 4096, iters * 4);
  }
  iters = Math.max(o.minIters ?? 1, Math.min(o.maxIters ?? 4096, Math.round(targetMs / Math.max(est, 1e-3))));
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await step(i);
    await wait();
    samples.push((performance.now() - t0) / iters);
  }
  return stats(samples, iters);
}

// ------------------------------------------------------------------ Dawn polling for peers

// The engine throttles Dawn's busy polling while it waits (engine/device.ts). Peers wait on
// their own promises, so we apply the same swap around their awaits: `polled(p)`.
import { throttledWait } from '../engine/device.ts';
import { getPollingMode } from '../engine/index.ts';
export function polled<T>(p: Promise<T>): Promise<T> {
  return throttledWait(p, isNode());
}
export function pollingMode(): string {
  const m = getPollingMode();
  if (m === 'throttled') return 'throttled (Dawn polls via setImmediate for the first ~300 µs of a wait, then on a 1 ms timer, with sub-millisecond sleeps near the expected end of a wait the size of the last ones; applied to every engine)';
  if (m === 'timer') return 'timer (Dawn polls via setImmediate for the first ~300 µs of a wait, then every ~1 ms; applied to every engine)';
  return 'busy (Dawn re-arms setImmediate continuously while waiting)';
}
function isNode() {
  return typeof process !== 'undefined' && !!process.versions?.node;
}
/** This process's CPU time in ms (user + system), or null outside Node (the browser bench page). */
function cpuMs(): number | null {
  if (!isNode() || typeof process.cpuUsage !== 'function') return null;
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ------------------------------------------------------------------ deterministic data

/** Deterministic uniform floats in [lo, hi) (mulberry32). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (hi - lo));
  }
  return out;
}

// ------------------------------------------------------------------ correctness

/** Max error relative to the reference's scale (max |ref|, at least 1e-6). */
export function relError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) return Infinity;
  let scale = 1e-6;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]));
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= e)) e = Number.isNaN(d) ? Infinity : d;
  }
  return e / scale;
}

export class CheckError extends Error {}

/** Throws (so the row is marked FAILED) when `got` differs from `ref` by more than `tol` (relative to scale). */
export function check(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol = 2e-3): number {
  const e = relError(got, ref);
  if (!(e <= tol)) throw new CheckError(`${what}: max relative error ${e.toExponential(2)} > ${tol}`);
  return e;
}

// float64 references (small and straightforward; they run once per case per run)

/** C[b] = A[b] (m×k) · B[b] (k×n), row-major, batch-major. */
export function refMatmul(A: ArrayLike<number>, B: ArrayLike<number>, batch: number, m: number, k: number, n: number): Float64Array {
  const C = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++)
    for (let i = 0; i < m; i++) {
      const crow = z * m * n + i * n;
      for (let p = 0; p < k; p++) {
        const a = A[z * m * k + i * k + p];
        const brow = z * k * n + p * n;
        for (let j = 0; j < n; j++) C[crow + j] += a * B[brow + j];
      }
    }
  return C;
}

/** Checks only `rows` sampled rows of a big matmul (a full float64 2048³ takes too long). */
export function refMatmulRows(A: ArrayLike<number>, B: ArrayLike<number>, m: number, k: number, n: number, rows: number[]): Float64Array {
  const C = new Float64Array(rows.length * n);
  rows.forEach((i, r) => {
    for (let p = 0; p < k; p++) {
      const a = A[i * k + p];
      for (let j = 0; j < n; j++) C[r * n + j] += a * B[p * n + j];
    }
  });
  return C;
}

/** conv2d, NCHW input, OIHW weight, no bias; returns NCHW. */
export function refConv2d(x: ArrayLike<number>, w: ArrayLike<number>, s: Extract<CaseSpec, { kind: 'conv2d' }>): Float64Array {
  const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
  const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
  const y = new Float64Array(s.n * s.o * oh * ow);
  for (let b = 0; b < s.n; b++)
    for (let o = 0; o < s.o; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let acc = 0;
          for (let c = 0; c < s.c; c++)
            for (let u = 0; u < s.kh; u++) {
              const hi = i * s.stride - s.pad + u;
              if (hi < 0 || hi >= s.h) continue;
              for (let v = 0; v < s.kw; v++) {
                const wi = j * s.stride - s.pad + v;
                if (wi < 0 || wi >= s.w) continue;
                acc += x[((b * s.c + c) * s.h + hi) * s.w + wi] * w[((o * s.c + c) * s.kh + u) * s.kw + v];
              }
            }
          y[((b * s.o + o) * oh + i) * ow + j] = acc;
        }
  return y;
}

/** Gradients of L = Σ conv2d(x, w) ⊙ g with respect to x and w. */
export function refConv2dGrads(x: ArrayLike<number>, w: ArrayLike<number>, g: ArrayLike<number>, s: Extract<CaseSpec, { kind: 'conv2d' }>) {
  const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
  const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
  const dx = new Float64Array(s.n * s.c * s.h * s.w);
  const dw = new Float64Array(s.o * s.c * s.kh * s.kw);
  for (let b = 0; b < s.n; b++)
    for (let o = 0; o < s.o; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const gv = g[((b * s.o + o) * oh + i) * ow + j];
          for (let c = 0; c < s.c; c++)
            for (let u = 0; u < s.kh; u++) {
              const hi = i * s.stride - s.pad + u;
              if (hi < 0 || hi >= s.h) continue;
              for (let v = 0; v < s.kw; v++) {
                const wi = j * s.stride - s.pad + v;
                if (wi < 0 || wi >= s.w) continue;
                const xi = ((b * s.c + c) * s.h + hi) * s.w + wi;
                const wj = ((o * s.c + c) * s.kh + u) * s.kw + v;
                dx[xi] += gv * w[wj];
                dw[wj] += gv * x[xi];
              }
            }
        }
  return { dx, dw };
}

/** Softmax attention per (batch, head): q, k, v are (b, heads, s, d); returns out and, given g, dq dk dv. */
export function refAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, g: ArrayLike<number> | null, sp: Extract<CaseSpec, { kind: 'attention' }>) {
  const { s, d } = sp;
  const scale = 1 / Math.sqrt(d);
  const nbh = sp.b * sp.heads;
  const out = new Float64Array(nbh * s * d);
  const dq = new Float64Array(nbh * s * d);
  const dk = new Float64Array(nbh * s * d);
  const dv = new Float64Array(nbh * s * d);
  const P = new Float64Array(s * s);
  for (let z = 0; z < nbh; z++) {
    const o = z * s * d;
    for (let i = 0; i < s; i++) {
      let mx = -Infinity;
      for (let j = 0; j < s; j++) {
        let a = 0;
        for (let t = 0; t < d; t++) a += q[o + i * d + t] * k[o + j * d + t];
        P[i * s + j] = a * scale;
        mx = Math.max(mx, a * scale);
      }
      let den = 0;
      for (let j = 0; j < s; j++) den += P[i * s + j] = Math.exp(P[i * s + j] - mx);
      for (let j = 0; j < s; j++) P[i * s + j] /= den;
      for (let j = 0; j < s; j++) for (let t = 0; t < d; t++) out[o + i * d + t] += P[i * s + j] * v[o + j * d + t];
    }
    if (!g) continue;
    for (let i = 0; i < s; i++) {
      // dP = g · vᵀ ; dS = P ⊙ (dP − rowsum(dP ⊙ P))
      const dP = new Float64Array(s);
      let dot = 0;
      for (let j = 0; j < s; j++) {
        let a = 0;
        for (let t = 0; t < d; t++) a += g[o + i * d + t] * v[o + j * d + t];
        dP[j] = a;
        dot += a * P[i * s + j];
        for (let t = 0; t < d; t++) dv[o + j * d + t] += P[i * s + j] * g[o + i * d + t];
      }
      for (let j = 0; j < s; j++) {
        const dS = P[i * s + j] * (dP[j] - dot) * scale;
        for (let t = 0; t < d; t++) {
          dq[o + i * d + t] += dS * k[o + j * d + t];
          dk[o + j * d + t] += dS * q[o + i * d + t];
        }
      }
    }
  }
  return { out, dq, dk, dv };
}

/** MLP with relu hidden layers (last layer linear), params [W (in,out), b]...; loss = mean over batch of ½‖y − t‖². */
export function refMlp(x: ArrayLike<number>, t: ArrayLike<number>, params: ArrayLike<number>[], batch: number, sizes: number[]) {
  const L = sizes.length - 1;
  const acts: Float64Array[] = [Float64Array.from(x)];
  for (let l = 0; l < L; l++) {
    const [fi, fo] = [sizes[l], sizes[l + 1]];
    const W = params[2 * l];
    const b = params[2 * l + 1];
    const h = refMatmul(acts[l], W, 1, batch, fi, fo);
    for (let i = 0; i < batch; i++)
      for (let j = 0; j < fo; j++) {
        const z = h[i * fo + j] + b[j];
        h[i * fo + j] = l < L - 1 ? Math.max(z, 0) : z;
      }
    acts.push(h);
  }
  const y = acts[L];
  const nO = sizes[L];
  let loss = 0;
  let gy = new Float64Array(batch * nO);
  for (let i = 0; i < batch * nO; i++) {
    const r = y[i] - t[i];
    loss += 0.5 * r * r;
    gy[i] = r / batch;
  }
  loss /= batch;
  const grads: Float64Array[] = new Array(2 * L);
  for (let l = L - 1; l >= 0; l--) {
    const [fi, fo] = [sizes[l], sizes[l + 1]];
    const a = acts[l];
    const dW = new Float64Array(fi * fo);
    const db = new Float64Array(fo);
    for (let i = 0; i < batch; i++)
      for (let j = 0; j < fo; j++) {
        const gv = gy[i * fo + j];
        db[j] += gv;
        if (gv !== 0) for (let p = 0; p < fi; p++) dW[p * fo + j] += a[i * fi + p] * gv;
      }
    grads[2 * l] = dW;
    grads[2 * l + 1] = db;
    if (l > 0) {
      const W = params[2 * l];
      const ga = new Float64Array(batch * fi);
      for (let i = 0; i < batch; i++)
        for (let p = 0; p < fi; p++) {
          if (a[i * fi + p] <= 0) continue;
          let acc = 0;
          for (let j = 0; j < fo; j++) acc += gy[i * fo + j] * W[p * fo + j];
          ga[i * fi + p] = acc;
        }
      gy = ga;
    }
  }
  return { loss, grads };
}

export const ADAM = { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8 };
/** One Adam step (t = 1, from zero moments) on one flat parameter array. */
export function refAdamStep(p: ArrayLike<number>, g: ArrayLike<number>): Float64Array {
  const out = new Float64Array(p.length);
  const { lr, b1, b2, eps } = ADAM;
  for (let i = 0; i < p.length; i++) {
    const m = (1 - b1) * g[i];
    const v = (1 - b2) * g[i] * g[i];
    const mh = m / (1 - b1);
    const vh = v / (1 - b2);
    out[i] = p[i] - (lr * mh) / (Math.sqrt(vh) + eps);
  }
  return out;
}

/** Standard inputs for a spec (same seeds for every engine). */
export function caseInputs(s: CaseSpec): Record<string, Float32Array> {
  switch (s.kind) {
    case 'matmul':
      return { a: randomArray(s.batch * s.m * s.k, 1), b: randomArray(s.batch * s.k * s.n, 2) };
    case 'conv2d': {
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      return {
        x: randomArray(s.n * s.c * s.h * s.w, 3),
        w: randomArray(s.o * s.c * s.kh * s.kw, 4, -0.2, 0.2),
        g: randomArray(s.n * s.o * oh * ow, 5),
      };
    }
    case 'attention': {
      const n = s.b * s.heads * s.s * s.d;
      return { q: randomArray(n, 6), k: randomArray(n, 7), v: randomArray(n, 8), g: randomArray(n, 9) };
    }
    case 'linear':
      return { x: randomArray(s.m * s.k, 10), w: randomArray(s.k * s.n, 11, -0.1, 0.1), b: randomArray(s.n, 12, -0.1, 0.1) };
    case 'mlp_grad':
    case 'hvp_mlp': {
      const r: Record<string, Float32Array> = {
        x: randomArray(s.batch * s.sizes[0], 13),
        t: randomArray(s.batch * s.sizes[s.sizes.length - 1], 14),
      };
      mlpShapes(s.sizes).forEach((sh, i) => {
        const fan = sh.length === 2 ? sh[0] : 16;
        r['p' + i] = randomArray(sh.reduce((a, b) => a * b, 1), 20 + i, -1 / Math.sqrt(fan), 1 / Math.sqrt(fan));
      });
      return r;
    }
    case 'adam': {
      const r: Record<string, Float32Array> = {};
      s.sizes.forEach((sh, i) => {
        const n = sh.reduce((a, b) => a * b, 1);
        r['p' + i] = randomArray(n, 40 + i);
        r['g' + i] = randomArray(n, 80 + i);
      });
      return r;
    }
    case 'elementwise':
      return { a: randomArray(s.n, 15), b: randomArray(s.n, 16) };
    case 'reduce':
      return { x: randomArray(s.rows * s.cols, 17) };
    default:
      return {};
  }
}

export function errMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 200);
}

export const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms >= 0.1 ? ms.toFixed(3) : ms.toFixed(4));

// ------------------------------------------------------------------ interleaved timing

/** One engine's case, ready to time: built by ours (bench/core.ts) and each peer (bench/peers/). */
export interface Prepared {
  /** Computes once and compares with the float64 reference; returns the max error, throws CheckError when wrong. */
  check?: () => Promise<number>;
  /** Encodes one iteration (waits itself only when syncEach). */
  step: () => unknown;
  /** Waits for everything encoded so far. */
  wait: () => Promise<unknown>;
  dispose: () => void;
  timing?: { maxIters?: number };
  /** Caveat shown with the row. */
  note?: string;
}

/**
 * Times several engines on one case with their repeats interleaved (engine A's repeat r, then
 * B's, then C's, then r + 1...), so load from other processes hits every engine alike.
 * Each engine gets its own N (iterations per repeat). A throwing engine gets an Error entry.
 */
export async function timeInterleaved(preps: Prepared[], o: Partial<BenchOptions> = {}): Promise<Array<Stats | Error>> {
  const { targetMs, repeats, warmup } = { ...opts(), ...o };
  const iters: number[] = [];
  const out: Array<Stats | Error | null> = preps.map(() => null);
  const samples: number[][] = preps.map(() => []);
  const cpuSamples: number[][] = preps.map(() => []);
  for (let e = 0; e < preps.length; e++) {
    const p = preps[e];
    const max = p.timing?.maxIters ?? 4096;
    try {
      let n = 1;
      let est = Infinity;
      for (let w = 0; w < warmup; w++) {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await p.step();
        await p.wait();
        est = (performance.now() - t0) / n;
        if (est * n < targetMs / 4) n = Math.min(max, n * 4);
      }
      iters[e] = Math.max(1, Math.min(max, Math.round(targetMs / Math.max(est, 1e-3))));
    } catch (err) {
      out[e] = err instanceof Error ? err : new Error(String(err));
    }
  }
  for (let r = 0; r < repeats; r++) {
    for (let e = 0; e < preps.length; e++) {
      if (out[e]) continue;
      const p = preps[e];
      try {
        const c0 = cpuMs();
        const t0 = performance.now();
        for (let i = 0; i < iters[e]; i++) await p.step();
        await p.wait();
        samples[e].push((performance.now() - t0) / iters[e]);
        if (c0 !== null) cpuSamples[e].push((cpuMs()! - c0) / iters[e]);
      } catch (err) {
        out[e] = err instanceof Error ? err : new Error(String(err));
      }
    }
  }
  return out.map((x, e) => x ?? { ...stats(samples[e], iters[e]), ...(cpuSamples[e].length ? { cpu: stats(cpuSamples[e], iters[e]).median } : {}) });
}
