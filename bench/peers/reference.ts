// Float64 reference outputs for every case kind, in canonical layouts (NCHW / OIHW for conv,
// (b, heads, s, d) for attention, W as (in, out)), computed once per spec and cached, and the
// check that every engine's outputs must pass before its time is reported.

import {
  type CaseSpec, caseInputs, check, refMatmul, refMatmulRows, refConv2d, refConv2dGrads, refAttention, refMlp,
  refAdamStep, mlpShapes,
} from '../common.ts';

type Outs = Record<string, ArrayLike<number>>;
const cache = new Map<string, Outs>();

/** Rows of a big matmul that the check samples (a full float64 reference of 2048³ is too slow). */
export function sampledRows(m: number): number[] | null {
  if (m * 1 <= 512) return null;
  const rows = [0, 1, m >> 1, m - 1];
  for (let i = 0; i < 12; i++) rows.push(Math.floor(((i * 7919) % m + m) % m));
  return [...new Set(rows)].sort((a, b) => a - b);
}

export function reference(s: CaseSpec): Outs {
  const key = JSON.stringify(s);
  const hit = cache.get(key);
  if (hit) return hit;
  const inp = caseInputs(s);
  let out: Outs;
  switch (s.kind) {
    case 'matmul': {
      const rows = s.batch === 1 ? sampledRows(s.m) : null;
      out = { c: rows ? refMatmulRows(inp.a, inp.b, s.m, s.k, s.n, rows) : refMatmul(inp.a, inp.b, s.batch, s.m, s.k, s.n) };
      break;
    }
    case 'conv2d':
      out = s.backward ? refConv2dGrads(inp.x, inp.w, inp.g, s) : { y: refConv2d(inp.x, inp.w, s) };
      break;
    case 'attention': {
      const r = refAttention(inp.q, inp.k, inp.v, s.backward ? inp.g : null, s);
      out = s.backward ? { dq: r.dq, dk: r.dk, dv: r.dv } : { out: r.out };
      break;
    }
    case 'linear': {
      const y = refMatmul(inp.x, inp.w, 1, s.m, s.k, s.n);
      for (let i = 0; i < s.m; i++)
        for (let j = 0; j < s.n; j++) {
          const z = y[i * s.n + j] + inp.b[j];
          y[i * s.n + j] = s.act === 'relu' ? Math.max(z, 0) : s.act === 'tanh' ? Math.tanh(z) : z;
        }
      out = { y };
      break;
    }
    case 'mlp_grad': {
      const params = mlpShapes(s.sizes).map((_, i) => inp['p' + i]);
      const r = refMlp(inp.x, inp.t, params, s.batch, s.sizes);
      out = Object.fromEntries(r.grads.map((g, i) => ['p' + i, g]));
      break;
    }
    case 'adam':
      out = Object.fromEntries(s.sizes.map((_, i) => ['p' + i, refAdamStep(inp['p' + i], inp['g' + i])]));
      break;
    case 'elementwise': {
      const y = new Float64Array(s.n);
      for (let i = 0; i < s.n; i++) y[i] = s.op === 'add' ? inp.a[i] + inp.b[i] : Math.tanh(inp.a[i] * inp.b[i] + inp.a[i]);
      out = { y };
      break;
    }
    case 'reduce': {
      if (s.op === 'sum_all') {
        let acc = 0;
        for (const v of inp.x) acc += v;
        out = { y: [acc] };
      } else {
        const y = new Float64Array(s.rows);
        for (let i = 0; i < s.rows; i++) for (let j = 0; j < s.cols; j++) y[i] += inp.x[i * s.cols + j];
        out = { y };
      }
      break;
    }
    default:
      out = {};
  }
  cache.set(key, out);
  return out;
}

/** Compares an engine's outputs with the reference; throws CheckError (row FAILED) when wrong. Returns the max error. */
export function checkOutputs(s: CaseSpec, got: Record<string, ArrayLike<number>>, tol = 2e-3): number {
  const ref = reference(s);
  let e = 0;
  for (const [k, r] of Object.entries(ref)) {
    let g = got[k];
    if (!g) throw new Error(`output ${k} missing`);
    if (s.kind === 'matmul' && s.batch === 1) {
      const rows = sampledRows(s.m);
      if (rows) {
        const sub = new Float32Array(rows.length * s.n);
        rows.forEach((i, r2) => sub.set(Array.prototype.slice.call(g, i * s.n, (i + 1) * s.n), r2 * s.n));
        g = sub;
      }
    }
    e = Math.max(e, check(`${s.kind} ${k}`, g, r, tol));
  }
  return e;
}

/** Permutes a row-major array: out[perm-ordered index] (like numpy transpose(x, perm)). */
export function transposeArray(x: ArrayLike<number>, shape: number[], perm: number[]): Float32Array {
  const nd = shape.length;
  const outShape = perm.map((p) => shape[p]);
  const strides = new Array(nd).fill(1);
  for (let i = nd - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const out = new Float32Array(x.length);
  const idx = new Array(nd).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < nd; d++) src += idx[d] * strides[perm[d]];
    out[o] = x[src];
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
