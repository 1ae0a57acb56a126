// The released SCORER MinAtar Q-network's forward pass (no gradient) in one dispatch, for the
// values a DQN update only reads: the target network at the next states (and Double DQN's
// online-head selector on the same target features) and the greedy action's Q-values.
//
//   x → L1Norm → Linear(IN, H) → ReLU → Linear(H, H) → ReLU → L1Norm → [per head]
//       Linear(H, H) → ReLU → Linear(H, A)                 L1Norm(v) = v / max(mean|v|, ε)
//
// Layer by layer that is 6 dispatches (4 linear, 2 L1Norm) per network on lavapipe, each with its
// fixed cost; here one workgroup owns RB batch rows and keeps their activations in workgroup
// memory, each thread one output column of a layer for all RB rows (so a weight row is read once
// per RB rows), weights read as vec4 along the input axis. Up to two heads share the encoder
// pass (Double DQN's selector Q_θ(f_φ⁻(s′)) beside the target Q_θ⁻(f_φ⁻(s′))).
// L1Norm's division is applied after the next layer's dot product ((W·x)/s, not W·(x/s)): the
// same function, rounded differently from the layer-by-layer path.
// The first layer (IN × H: 400 × 128 of the ~84k multiply-adds a row for Breakout) sums only
// each row's nonzero inputs: MinAtar frames are binary and sparse (a few dozen ones), and the
// input L1Norm scales a row uniformly, so its zeros stay zeros. The row's scan for its scale
// also lists them (mlpLayerWgsl, inputScanWgsl; shared with kernels/dqn_mlp.ts's rows kernel).
// A batch of fewer than RB rows (acting with one env) takes workgroups of one row, so no
// workgroup computes copies of a row.

export const Q_MLP_RB = 8;
export const Q_MLP_T = 128;
/** Widest hidden layer the workgroup memory holds. */
export const Q_MLP_HMAX = 128;
/** Workgroup memory a kernel may declare (WebGPU's default maxComputeWorkgroupStorageSize). */
export const WORKGROUP_BYTES = 16384;

const T = Q_MLP_T, HMAX = Q_MLP_HMAX;

const unroll = (rb: number, f: (r: number) => string) => Array.from({ length: rb }, (_, r) => f(r)).join('\n');

/**
 * Entries of the workgroup's nonzero-input list in a kernel that already declares `usedBytes`
 * of workgroup memory (the list and its count take the rest, up to `most`).
 */
export function sparseCap(usedBytes: number, most: number) {
  return Math.max(0, Math.min(most, Math.floor((WORKGROUP_BYTES - usedBytes - 4) / 4)));
}

/** The workgroup list inputScanWgsl fills (entries: column | row mask << 16) and its length. */
export const sparseDecls = (cap: number) => /* wgsl */ `var<workgroup> nz: array<u32, ${cap}>;
var<workgroup> nzn: u32;`;

/**
 * The input rows' L1Norm scales, sc[r] = max(mean|x_r|, ε) over n values (one thread a row;
 * rows past the batch repeat the last row), and with `cap` the list of input columns k where
 * any of the rb (≤ 16) rows is nonzero, in order, each with the mask of those rows (k | mask << 16).
 * The list is for binary rows (MinAtar frames): a value other than 0 or 1 in any row, a list
 * over cap entries or an input of 2^16 columns or more sets nzn past cap, and the layer takes
 * the dense loop. One list for the workgroup's rows, so each listed weight is read once for
 * all of them, as the dense loop reads each weight once.
 */
export function inputScanWgsl(o: { rb: number; n: string; sc: string; cap?: number }) {
  const cap = o.cap ?? 0;
  const rows = (f: (r: number) => string) => unroll(o.rb, f);
  if (o.rb > 16) throw new Error(`inputScanWgsl: the row mask holds 16 rows, got ${o.rb}`);
  return /* wgsl */ `if (t < ${o.rb}u) {
  let k4n = ${o.n} / 4u;
  let xr = min(row0 + t, p.rows - 1u) * k4n;
  var a = 0.0;
  for (var k4 = 0u; k4 < k4n; k4++) {
    let av = abs(X[xr + k4]);
    a += av.x + av.y + av.z + av.w;
  }
  ${o.sc}[t] = max(a / f32(${o.n}), p.eps);
}${cap ? `
if (t == ${o.rb === 1 ? 0 : 1}u) {
  let k4n = ${o.n} / 4u;
  ${rows((r) => `let x${r} = min(row0 + ${r}u, p.rows - 1u) * k4n;`)}
  var c = select(0u, ${cap + 1}u, k4n >= 16384u);
  for (var k4 = 0u; k4 < k4n && c <= ${cap}u; k4++) {
    var m = vec4u(0u);
    var bin = true;
    ${rows((r) => `{ let v = X[x${r} + k4]; m |= select(vec4u(0u), vec4u(${1 << (16 + r)}u), v != vec4f(0.0)); bin = bin && all((v == vec4f(0.0)) | (v == vec4f(1.0))); }`)}
    if (!bin) { c = ${cap + 1}u; }
    ${[0, 1, 2, 3].map((e) => `if (m.${'xyzw'[e]} != 0u) { if (c < ${cap}u) { nz[c] = 4u * k4 + ${e}u + m.${'xyzw'[e]}; } c++; }`).join('\n    ')}
  }
  nzn = c;
}` : ''}
workgroupBarrier();`;
}

export interface MlpLayer {
  /** Batch rows of the workgroup (unrolled: accumulators stay in registers). */
  rb: number;
  /** vec4s per row in the workgroup activation arrays. */
  stride: number;
  /** Input and output widths (WGSL u32 expressions; the input a multiple of 4). */
  nin: string;
  nout: string;
  /** The parameter buffer (array<vec4f>) and the float offsets of W [nout, nin] and b in it. */
  buf: string;
  w: string;
  b: string;
  /** A workgroup array, or 'X': the global input rows (row0 + r, clamped to the batch). */
  src: string;
  dst: string;
  relu: boolean;
  /** Per-row divisors applied after the dot product (an L1Norm before the layer). */
  div?: string;
  /** src 'X' only: inputScanWgsl's nonzero list of this cap; the rows then sum only over its columns. */
  cap?: number;
  /** With cap: the parameter buffer bound again as array<f32> (a listed weight is one scalar load). */
  sbuf?: string;
}

/**
 * One layer for the workgroup's rows, each thread one output column j for all rows:
 * dst[r][j] = act((Σ_k W[j, k]·src[r][k]) / div[r] + b[j]), weights read as vec4 along k.
 * With the nonzero list (sparse binary MinAtar frames: a few dozen ones among hundreds of
 * inputs) each row sums W[j, k] over the listed k where it is 1: the same sum without its zero
 * terms (x = 1 makes W·x exactly W), rounded in another order; a workgroup whose rows are not
 * all binary, or whose list overflowed, takes the dense loop.
 */
export function mlpLayerWgsl(o: MlpLayer) {
  const rows = (f: (r: number) => string) => unroll(o.rb, f);
  const src = (r: number) => (o.src === 'X' ? `X[x${r} + k4]` : `${o.src}[${r * o.stride}u + k4]`);
  const v = (r: number) => `a${r}${o.div ? ` / ${o.div}[${r}]` : ''} + b`;
  const store = rows((r) => `${o.dst}[${r * o.stride}u + j / 4u][j % 4u] = ${o.relu ? `max(${v(r)}, 0.0)` : v(r)};`);
  const bias = `let b = ${o.buf}[(${o.b} + j) / 4u][(${o.b} + j) % 4u];`;
  const dense = /* wgsl */ `for (var j = t; j < ${o.nout}; j += ${T}u) {
    ${rows((r) => `var a${r} = 0.0;`)}
    let wb = ${o.w} / 4u + j * k4n;
    for (var k4 = 0u; k4 < k4n; k4++) {
      let w = ${o.buf}[wb + k4];
      ${rows((r) => `a${r} += dot(w, ${src(r)});`)}
    }
    ${bias}
    ${store}
  }`;
  if (!o.cap || o.src !== 'X') {
    return /* wgsl */ `{
  let k4n = ${o.nin} / 4u;
  ${o.src === 'X' ? rows((r) => `let x${r} = min(row0 + ${r}u, p.rows - 1u) * k4n;`) : ''}
  ${dense}
}`;
  }
  const cap = o.cap;
  if (!o.sbuf) throw new Error('mlpLayerWgsl: the sparse loop needs the scalar view of the parameters (sbuf)');
  return /* wgsl */ `{
  let k4n = ${o.nin} / 4u;
  ${rows((r) => `let x${r} = min(row0 + ${r}u, p.rows - 1u) * k4n;`)}
  let nzc = nzn;
  if (nzc > ${cap}u) {
  ${dense}
  } else {
  for (var j = t; j < ${o.nout}; j += ${T}u) {
    ${rows((r) => `var a${r} = 0.0;`)}
    let wf = ${o.w} + j * k4n * 4u;
    for (var n = 0u; n < nzc; n++) {
      let e = nz[n];
      let w = ${o.sbuf}[wf + (e & 0xffffu)];
      ${rows((r) => `a${r} += select(0.0, w, (e & ${1 << (16 + r)}u) != 0u);`)}
    }
    ${bias}
    ${store}
  }
  }
}`;
}

/** sc[r] = max(mean|row r|, ε) over n values of a workgroup array. */
function l1scale(rb: number, n: string, src: string) {
  return /* wgsl */ `if (t < ${rb}u) {
  let k4n = ${n} / 4u;
  var a = 0.0;
  for (var k4 = 0u; k4 < k4n; k4++) {
    let av = abs(${src}[t * ${HMAX / 4}u + k4]);
    a += av.x + av.y + av.z + av.w;
  }
  sc[t] = max(a / f32(${n}), p.eps);
}
workgroupBarrier();`;
}

/**
 * A head on the normalised features in hb: Linear(H, H) → ReLU into hc, Linear(H, A) to OUT at
 * out0, or (greedy) into the workgroup array ha (free by then) for the argmax.
 */
function head(rb: number, buf: string, w0: string, b0: string, w1: string, b1: string, out0: string, greedy = false) {
  const rows = (f: (r: number) => string) => unroll(rb, f);
  return /* wgsl */ `${mlpLayerWgsl({ rb, stride: HMAX / 4, nin: 'p.hid', nout: 'p.hid', buf, w: w0, b: b0, src: 'hb', dst: 'hc', relu: true, div: 'sc' })}
workgroupBarrier();
{
  let k4n = p.hid / 4u;
  for (var j = t; j < p.acts; j += ${T}u) {
    ${rows((r) => `var a${r} = 0.0;`)}
    let wb = ${w1} / 4u + j * k4n;
    for (var k4 = 0u; k4 < k4n; k4++) {
      let w = ${buf}[wb + k4];
      ${rows((r) => `a${r} += dot(w, hc[${(r * HMAX) / 4}u + k4]);`)}
    }
    let b = ${buf}[(${b1} + j) / 4u][(${b1} + j) % 4u];
    ${rows((r) => (greedy ? `ha[${(r * HMAX) / 4}u + j / 4u][j % 4u] = a${r} + b;` : `if (row0 + ${r}u < p.rows) { OUT[${out0} + (row0 + ${r}u) * p.acts + j] = a${r} + b; }`))}
  }
}
workgroupBarrier();`;
}

// greedy: each row's argmax (the engine's rule: first index on ties, NaN wins) as a float at OUT[row]
const argmaxWgsl = (rb: number) => /* wgsl */ `if (t < ${rb}u && row0 + t < p.rows) {
  var best = -bitcast<f32>(INF_BITS);
  var bi = 0xffffffffu;
  for (var j = 0u; j < p.acts; j++) {
    let v = ha[t * ${HMAX / 4}u + j / 4u][j % 4u];
    if (v > best || (v == best && j < bi) || (v != v && best == best)) { best = v; bi = j; }
  }
  OUT[row0 + t] = f32(min(bi, p.acts - 1u));
}`;

/** Nonzero inputs a row's list holds in the kernel of `rb` rows (three activation arrays and sc besides). */
export const qMlpCap = (rb: number) => sparseCap(3 * rb * HMAX * 4 + 4 * rb, 1024);

const source = (heads: 1 | 2, greedy: boolean, rb: number) => {
  const cap = qMlpCap(rb);
  return /* wgsl */ `
struct P { rows: u32, ind: u32, hid: u32, acts: u32, eps: f32, e0w: u32, e0b: u32, e1w: u32, e1b: u32,
  h0w: u32, h0b: u32, h1w: u32, h1b: u32, g0w: u32, g0b: u32, g1w: u32, g1b: u32, o2: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec4f>;
@group(0) @binding(1) var<storage, read> PE: array<vec4f>;
@group(0) @binding(2) var<storage, read> PH: array<vec4f>;
@group(0) @binding(3) var<storage, read> PG: array<vec4f>;
@group(0) @binding(4) var<storage, read> PS: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
// a private variable, not a constant: a constant bitcast to inf is rejected when folded
var<private> INF_BITS: u32 = 0x7f800000u;
var<workgroup> ha: array<vec4f, ${(rb * HMAX) / 4}>;
var<workgroup> hb: array<vec4f, ${(rb * HMAX) / 4}>;
var<workgroup> hc: array<vec4f, ${(rb * HMAX) / 4}>;
var<workgroup> sc: array<f32, ${rb}>;
${sparseDecls(cap)}

@compute @workgroup_size(${T}) fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u) {
  let row0 = wid.x * ${rb}u;
  ${inputScanWgsl({ rb, n: 'p.ind', sc: 'sc', cap })}
  ${mlpLayerWgsl({ rb, stride: HMAX / 4, nin: 'p.ind', nout: 'p.hid', buf: 'PE', w: 'p.e0w', b: 'p.e0b', src: 'X', dst: 'ha', relu: true, div: 'sc', cap, sbuf: 'PS' })}
  workgroupBarrier();
  ${mlpLayerWgsl({ rb, stride: HMAX / 4, nin: 'p.hid', nout: 'p.hid', buf: 'PE', w: 'p.e1w', b: 'p.e1b', src: 'ha', dst: 'hb', relu: true })}
  workgroupBarrier();
  ${l1scale(rb, 'p.hid', 'hb')}
  ${head(rb, 'PH', 'p.h0w', 'p.h0b', 'p.h1w', 'p.h1b', '0u', greedy)}
  ${heads === 2 ? head(rb, 'PG', 'p.g0w', 'p.g0b', 'p.g1w', 'p.g1b', 'p.o2') : ''}
  ${greedy ? argmaxWgsl(rb) : ''}
}`;
};

/** Batch rows a workgroup of the forward takes for a batch of B: one for a handful (acting with few envs), else Q_MLP_RB. */
export const qMlpRows = (B: number) => (B < Q_MLP_RB ? 1 : Q_MLP_RB);

const specs = new Map<string, { name: string; code: string }>();
/**
 * X [B, IN], encoder / head / second-head parameter buffers (vec4-aligned offsets in the
 * params), the encoder's buffer again (read as floats) → OUT (head 2 at float offset o2), or with `greedy` (one head) the argmax action of
 * each row [B] as floats; ceil(B / rb) workgroups of rb rows (rb = qMlpRows(B): 1 or Q_MLP_RB).
 */
export function qMlpKernel(heads: 1 | 2, greedy = false, rb = Q_MLP_RB) {
  const key = `${heads},${greedy},${rb}`;
  let s = specs.get(key);
  if (!s) specs.set(key, (s = { name: `q_mlp_forward_${heads}${greedy ? '_greedy' : ''}${rb === Q_MLP_RB ? '' : `_rb${rb}`}`, code: source(heads, greedy && heads === 1, rb) }));
  return s;
}
