// Reduction kernel family. The engine reshapes any reduction into [outer, R, inner] (the reduced
// axes made one contiguous block, permuting first if they are not), so one kernel covers
// trailing rows (inner = 1), leading axes (outer = 1, the bias-gradient case) and middle blocks.
// Two variants: one thread per output (many outputs, short rows) and one 64-wide workgroup per
// output with a tree reduction in workgroup memory (few outputs, long rows).

import { flatIndex, WG, memoKernel } from './common.ts';

export type ReduceOp = 'sum' | 'max' | 'min' | 'prod' | 'argmax' | 'argmin';

const INIT: Record<ReduceOp, string> = {
  sum: '0.0',
  prod: '1.0',
  max: '-bitcast<f32>(INF_BITS)',
  min: 'bitcast<f32>(INF_BITS)',
  argmax: '-bitcast<f32>(INF_BITS)',
  argmin: 'bitcast<f32>(INF_BITS)',
};
// Combine (acc, accIdx) with (v, idx); arg variants keep the first index on ties.
const COMBINE: Record<ReduceOp, string> = {
  sum: 'acc = acc + v;',
  prod: 'acc = acc * v;',
  // NaN propagates like numpy's max (a NaN anywhere gives NaN).
  max: 'acc = select(max(acc, v), v, v != v);',
  min: 'acc = select(min(acc, v), v, v != v);',
  argmax: 'if (v > acc || (v == acc && idx < ai) || (v != v && acc == acc)) { acc = v; ai = idx; }',
  argmin: 'if (v < acc || (v == acc && idx < ai) || (v != v && acc == acc)) { acc = v; ai = idx; }',
};

// Infinity is not a WGSL constant expression; a private variable keeps it a runtime value.
const INF = 'var<private> INF_BITS: u32 = 0x7f800000u;';

const isArg = (op: ReduceOp) => op === 'argmax' || op === 'argmin';

export const GROUP = 64;

export const reduceKernel = memoKernel((op: ReduceOp, variant: 'thread' | 'group') => {
  const out = isArg(op) ? 'f32(ai)' : 'acc';
  const P = `struct P { outer: u32, r: u32, inner: u32, n_out: u32 }`;
  if (variant === 'thread') {
    return {
      name: `reduce_${op}`,
      code: /* wgsl */ `
${INF}
${flatIndex}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
${P}
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let o = flat_index(gid, nw);
  if (o >= p.n_out) { return; }
  let base = (o / p.inner) * p.r * p.inner + (o % p.inner);
  var acc: f32 = ${INIT[op]};
  var ai: u32 = 0xffffffffu;
  for (var r = 0u; r < p.r; r++) {
    let v = A[base + r * p.inner];
    let idx = r;
    ${COMBINE[op]}
  }
  O[o] = ${out};
}`,
    };
  }
  return {
    name: `reduce_${op}_group`,
    code: /* wgsl */ `
${INF}
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
${P}
@group(0) @binding(2) var<uniform> p: P;
var<workgroup> sv: array<f32, ${GROUP}>;
var<workgroup> si: array<u32, ${GROUP}>;
@compute @workgroup_size(${GROUP}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nw: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nw.x;
  let live = o < p.n_out;
  let oo = min(o, p.n_out - 1u);
  let base = (oo / p.inner) * p.r * p.inner + (oo % p.inner);
  var acc: f32 = ${INIT[op]};
  var ai: u32 = 0xffffffffu;
  for (var r = lid; r < p.r; r += ${GROUP}u) {
    let v = A[base + r * p.inner];
    let idx = r;
    ${COMBINE[op]}
  }
  sv[lid] = acc;
  si[lid] = ai;
  workgroupBarrier();
  for (var s = ${GROUP / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      acc = sv[lid];
      ai = si[lid];
      let v = sv[lid + s];
      let idx = si[lid + s];
      ${COMBINE[op]}
      sv[lid] = acc;
      si[lid] = ai;
    }
    workgroupBarrier();
  }
  if (lid == 0u && live) {
    acc = sv[0];
    ai = si[0];
    O[o] = ${out};
  }
}`,
  };
});
