// Categorical sampling on the GPU in one dispatch: for each row of logits, the Gumbel-max draw
// (argmax of logits + Gumbel noise is an exact sample of the softmax) and its log-probability.
// Composed from engine ops it took eight dispatches per vector step (rand, two logs, two negs,
// add, argmax, log-prob); a GPU rollout pays that every step. The noise is the engine RNG's
// (Threefry-2x32, E.getRngState / setRngState, saved in checkpoints), consumed exactly as
// E.rand([rows, A]) would consume it, so the draw equals the composed path's.
import * as E from '../../engine/index.ts';
import { runtime, Tensor } from '../../engine/tensor.ts';
import { threefryWgsl } from '../../kernels/random.ts';

const WG = 64;

const sampleKernel = {
  name: 'gumbel_max_categorical',
  code: /* wgsl */ `
${threefryWgsl}
@group(0) @binding(0) var<storage, read> L: array<f32>;
@group(0) @binding(1) var<storage, read_write> ACT: array<f32>;
@group(0) @binding(2) var<storage, read_write> LP: array<f32>;
struct P { rows: u32, A: u32, k0: u32, k1: u32, base: u32 }
@group(0) @binding(3) var<uniform> p: P;
// E.rand's element j: pair (base + j / 2), word j % 2, 24 high bits → [0, 1).
fn uniform_at(j: u32) -> f32 {
  let w = threefry2x32(p.k0, p.k1, p.base + j / 2u, 0u);
  return u01(select(w.y, w.x, j % 2u == 0u));
}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  if (r >= p.rows) { return; }
  let o = r * p.A;
  var best = 0u;
  var bestScore = -3.4e38;
  var m = -3.4e38;
  for (var a = 0u; a < p.A; a++) {
    let l = L[o + a];
    m = max(m, l);
    // u = 0 gives −∞ noise: that action is not drawn (never NaN)
    let score = l - log(-log(uniform_at(o + a)));
    if (score > bestScore) { bestScore = score; best = a; }
  }
  var z = 0.0;
  for (var a = 0u; a < p.A; a++) { z = z + exp(L[o + a] - m); }
  ACT[r] = f32(best);
  LP[r] = L[o + best] - m - log(z);
}`,
};

/** Actions [rows] (indices as floats) and their log-probabilities [rows] for logits [rows, A]. */
export function sampleCategoricalGpu(logits: Tensor): { actions: Tensor; logp: Tensor } {
  if (logits.rank !== 2) throw new Error(`sampleCategoricalGpu: logits must be [rows, actions], got [${logits.shape.join(', ')}]`);
  const [rows, A] = logits.shape;
  const rng = E.getRngState();
  const rt = runtime();
  const actions = Tensor.fromBuffer(rt.alloc(4 * rows), [rows]);
  const logp = Tensor.fromBuffer(rt.alloc(4 * rows), [rows]);
  rt.dispatch({
    kernel: sampleKernel,
    inputs: [logits.bufferFor('sampleCategoricalGpu')],
    outputs: [actions.buffer, logp.buffer],
    params: [rows, A, rng.k0, rng.k1, rng.counter],
    workgroups: [Math.ceil(rows / WG)],
    label: 'gumbel_max_categorical',
  });
  // what E.rand([rows, A]) consumes: one counter per pair of elements
  E.setRngState({ ...rng, counter: (rng.counter + Math.ceil((rows * A) / 2)) >>> 0 });
  return { actions, logp };
}
