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

export const Q_MLP_RB = 8;
export const Q_MLP_T = 128;
/** Widest hidden layer the workgroup memory holds. */
export const Q_MLP_HMAX = 128;

const RB = Q_MLP_RB, T = Q_MLP_T, HMAX = Q_MLP_HMAX;

const rows = (f: (r: number) => string) => Array.from({ length: RB }, (_, r) => f(r)).join('\n');

/**
 * One layer for the workgroup's RB rows, unrolled over the rows (accumulators stay in registers):
 * dst[r][j] = act((Σ_k W[j, k]·src[r][k]) / div[r] + b[j]); src 'X' reads the global input rows.
 */
function layer(o: { nin: string; nout: string; buf: string; w: string; b: string; src: string; dst: string; relu: boolean; scaled: boolean }) {
  const src = (r: number) => (o.src === 'X' ? `X[x${r} + k4]` : `${o.src}[${(r * HMAX) / 4}u + k4]`);
  const v = (r: number) => `a${r}${o.scaled ? ` / sc[${r}]` : ''} + b`;
  return /* wgsl */ `{
  let k4n = ${o.nin} / 4u;
  ${o.src === 'X' ? rows((r) => `let x${r} = min(row0 + ${r}u, p.rows - 1u) * k4n;`) : ''}
  for (var j = t; j < ${o.nout}; j += ${T}u) {
    ${rows((r) => `var a${r} = 0.0;`)}
    let wb = ${o.w} / 4u + j * k4n;
    for (var k4 = 0u; k4 < k4n; k4++) {
      let w = ${o.buf}[wb + k4];
      ${rows((r) => `a${r} += dot(w, ${src(r)});`)}
    }
    let b = ${o.buf}[(${o.b} + j) / 4u][(${o.b} + j) % 4u];
    ${rows((r) => `${o.dst}[${(r * HMAX) / 4}u + j / 4u][j % 4u] = ${o.relu ? `max(${v(r)}, 0.0)` : v(r)};`)}
  }
}`;
}

/** sc[r] = max(mean|row r|, ε) over n values of src ('X': the input rows). */
function l1scale(n: string, src: string) {
  const at = src === 'X' ? `X[min(row0 + t, p.rows - 1u) * k4n + k4]` : `${src}[t * ${HMAX / 4}u + k4]`;
  return /* wgsl */ `if (t < ${RB}u) {
  let k4n = ${n} / 4u;
  var a = 0.0;
  for (var k4 = 0u; k4 < k4n; k4++) {
    let av = abs(${at});
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
function head(buf: string, w0: string, b0: string, w1: string, b1: string, out0: string, greedy = false) {
  return /* wgsl */ `${layer({ nin: 'p.hid', nout: 'p.hid', buf, w: w0, b: b0, src: 'hb', dst: 'hc', relu: true, scaled: true })}
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
const argmaxWgsl = /* wgsl */ `if (t < ${RB}u && row0 + t < p.rows) {
  var best = -bitcast<f32>(INF_BITS);
  var bi = 0xffffffffu;
  for (var j = 0u; j < p.acts; j++) {
    let v = ha[t * ${HMAX / 4}u + j / 4u][j % 4u];
    if (v > best || (v == best && j < bi) || (v != v && best == best)) { best = v; bi = j; }
  }
  OUT[row0 + t] = f32(min(bi, p.acts - 1u));
}`;

const source = (heads: 1 | 2, greedy = false) => /* wgsl */ `
struct P { rows: u32, ind: u32, hid: u32, acts: u32, eps: f32, e0w: u32, e0b: u32, e1w: u32, e1b: u32,
  h0w: u32, h0b: u32, h1w: u32, h1b: u32, g0w: u32, g0b: u32, g1w: u32, g1b: u32, o2: u32 }
@group(0) @binding(0) var<storage, read> X: array<vec4f>;
@group(0) @binding(1) var<storage, read> PE: array<vec4f>;
@group(0) @binding(2) var<storage, read> PH: array<vec4f>;
@group(0) @binding(3) var<storage, read> PG: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
// a private variable, not a constant: a constant bitcast to inf is rejected when folded
var<private> INF_BITS: u32 = 0x7f800000u;
var<workgroup> ha: array<vec4f, ${(RB * HMAX) / 4}>;
var<workgroup> hb: array<vec4f, ${(RB * HMAX) / 4}>;
var<workgroup> hc: array<vec4f, ${(RB * HMAX) / 4}>;
var<workgroup> sc: array<f32, ${RB}>;

@compute @workgroup_size(${T}) fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3u) {
  let row0 = wid.x * ${RB}u;
  ${l1scale('p.ind', 'X')}
  ${layer({ nin: 'p.ind', nout: 'p.hid', buf: 'PE', w: 'p.e0w', b: 'p.e0b', src: 'X', dst: 'ha', relu: true, scaled: true })}
  workgroupBarrier();
  ${layer({ nin: 'p.hid', nout: 'p.hid', buf: 'PE', w: 'p.e1w', b: 'p.e1b', src: 'ha', dst: 'hb', relu: true, scaled: false })}
  workgroupBarrier();
  ${l1scale('p.hid', 'hb')}
  ${head('PH', 'p.h0w', 'p.h0b', 'p.h1w', 'p.h1b', '0u', greedy)}
  ${heads === 2 ? head('PG', 'p.g0w', 'p.g0b', 'p.g1w', 'p.g1b', 'p.o2') : ''}
  ${greedy ? argmaxWgsl : ''}
}`;

const specs = new Map<string, { name: string; code: string }>();
/**
 * X [B, IN], encoder / head / second-head parameter buffers (vec4-aligned offsets in the
 * params) → OUT (head 2 at float offset o2), or with `greedy` (one head) the argmax action of
 * each row [B] as floats; ceil(B / RB) workgroups.
 */
export function qMlpKernel(heads: 1 | 2, greedy = false) {
  const key = `${heads},${greedy}`;
  let s = specs.get(key);
  if (!s) specs.set(key, (s = { name: `q_mlp_forward_${heads}${greedy ? '_greedy' : ''}`, code: source(heads, greedy && heads === 1) }));
  return s;
}
