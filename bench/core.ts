// Our engine on the core cases: matmul (square, tall-skinny, batched-small shapes of the RL hot
// path), elementwise and reductions (GB/s), dispatch overhead and round-trip latency.
// Also `runOurs(spec)`: our engine on any spec kind it can express with its public ops, used by
// bench/run.ts for rows no other bench module provides.
//
// Kernel time: where the adapter has 'timestamp-query', each timed compute pass gets begin/end
// timestamps (the runtime keeps one pass open across back-to-back iterations) and we report
// their sum per iteration as `gpu`. Wall time stays the figure compared across engines.

import * as E from '../engine/index.ts';
import {
  type CaseSpec, type Row, type Stats, caseInputs, mlpShapes, timeIt, stats, polled, opts, selected, errMessage,
  specFlops, specBytes, specLabel, ADAM,
} from './common.ts';
import { checkOutputs, transposeArray } from './peers/reference.ts';
import type { MatmulTile } from '../kernels/matmul.ts';

export const MATMUL_CASES: Array<{ id: string; spec: CaseSpec }> = [
  ...[256, 512, 1024, 2048].map((n) => ({ id: `matmul ${n}²`, spec: { kind: 'matmul', batch: 1, m: n, k: n, n } as CaseSpec })),
  // tall-skinny: an MLP layer over a big batch, its weight gradient (reduction over the batch), a small head
  { id: 'matmul tall 8192×64·64×256', spec: { kind: 'matmul', batch: 1, m: 8192, k: 64, n: 256 } },
  { id: 'matmul wgrad 256×4096·4096×256', spec: { kind: 'matmul', batch: 1, m: 256, k: 4096, n: 256 } },
  { id: 'matmul head 4096×256·256×8', spec: { kind: 'matmul', batch: 1, m: 4096, k: 256, n: 8 } },
  // batched-small: attention scores (B32×H4, S64, D32) and many tiny per-env matrices
  { id: 'matmul batched 128×64×32·32×64', spec: { kind: 'matmul', batch: 128, m: 64, k: 32, n: 64 } },
  { id: 'matmul batched 1024×8×8·8×8', spec: { kind: 'matmul', batch: 1024, m: 8, k: 8, n: 8 } },
];

export const CORE_CASES: Array<{ id: string; group: string; spec: CaseSpec }> = [
  ...MATMUL_CASES.map((c) => ({ ...c, group: 'matmul' })),
  { id: 'elementwise add 4M', group: 'elementwise', spec: { kind: 'elementwise', n: 1 << 22, op: 'add' } },
  { id: 'elementwise tanh(a·b+a) 4M', group: 'elementwise', spec: { kind: 'elementwise', n: 1 << 22, op: 'mul_add_tanh' } },
  { id: 'reduce sum 4M', group: 'reduce', spec: { kind: 'reduce', rows: 1024, cols: 4096, op: 'sum_all' } },
  { id: 'reduce rows 4096×1024', group: 'reduce', spec: { kind: 'reduce', rows: 4096, cols: 1024, op: 'sum_rows' } },
  { id: 'dispatch overhead', group: 'overhead', spec: { kind: 'dispatch', count: 100, n: 64 } },
  { id: 'round trip', group: 'overhead', spec: { kind: 'roundtrip' } },
];

/** Our rows for the core cases (filtered). */
export async function benchCore(filter?: string): Promise<Row[]> {
  await E.init();
  const rows: Row[] = [];
  for (const c of CORE_CASES) {
    if (!selected(filter, c.id, c.group)) continue;
    rows.push(await runOurs(c.spec, c.id, c.group));
  }
  return rows;
}

interface Built {
  step: () => E.Tensor[];
  check?: boolean;
  syncEach?: boolean;
  timing?: { maxIters?: number };
  cleanup?: () => void;
}

/** Runs our engine on a spec: checks once against the float64 reference, then times it. */
export async function runOurs(spec: CaseSpec, id = specLabel(spec), group: string = spec.kind): Promise<Row> {
  await E.init();
  const row: Row = { id, group, engine: 'ours', status: 'ok', spec, flops: specFlops(spec), bytes: specBytes(spec) };
  const owned: E.Tensor[] = [];
  let c: Built | null = null;
  try {
    c = build(spec, owned);
    const b = c;
    if (b.check) {
      const outs = b.step();
      const data = await E.readAll(outs);
      const names = outputNames(spec, outs.length);
      row.err = checkOutputs(spec, Object.fromEntries(names.map((n, i) => [n, data[i]])));
      E.dispose(outs);
    }
    let last: E.Tensor[] = [];
    const step = async () => {
      E.dispose(last);
      last = b.step();
      if (b.syncEach) await last[0].data();
    };
    const wait = () => E.sync();
    const c0 = E.counters();
    await step();
    await wait();
    const c1 = E.counters();
    row.metrics = { dispatches: c1.dispatches - c0.dispatches, readbacks: c1.readbacks - c0.readbacks };
    row.wall = await timeIt(step, wait, b.timing);
    if (!b.syncEach) row.gpu = await gpuTime(step, row.wall.iters);
    E.dispose(last);
    if (spec.kind === 'dispatch') row.metrics.usPerOp = (row.wall.median * 1000) / spec.count;
  } catch (e) {
    row.status = 'failed';
    row.note = errMessage(e);
  } finally {
    c?.cleanup?.();
    E.dispose(owned);
  }
  return row;
}

function outputNames(s: CaseSpec, n: number): string[] {
  switch (s.kind) {
    case 'matmul':
      return ['c'];
    case 'conv2d':
      return s.backward ? ['dx', 'dw'] : ['y'];
    case 'attention':
      return s.backward ? ['dq', 'dk', 'dv'] : ['out'];
    case 'mlp_grad':
    case 'adam':
      return Array.from({ length: n }, (_, i) => 'p' + i);
    default:
      return ['y'];
  }
}

function build(s: CaseSpec, owned: E.Tensor[]): Built {
  const inp = caseInputs(s);
  const up = (name: string, shape: number[]) => {
    const t = E.keep(E.tensor(inp[name], shape));
    owned.push(t);
    return t;
  };
  switch (s.kind) {
    case 'matmul': {
      const sh = (r: number, c: number) => (s.batch > 1 ? [s.batch, r, c] : [r, c]);
      const a = up('a', sh(s.m, s.k));
      const b = up('b', sh(s.k, s.n));
      return { step: () => [E.matmul(a, b)], check: true };
    }
    case 'elementwise': {
      const a = up('a', [s.n]);
      const b = up('b', [s.n]);
      return {
        step: () => [E.scope(() => (s.op === 'add' ? E.add(a, b) : E.tanh(E.add(E.mul(a, b), a))))],
        check: true,
      };
    }
    case 'reduce': {
      const x = up('x', [s.rows, s.cols]);
      return { step: () => [s.op === 'sum_all' ? E.sum(x) : E.sum(x, 1)], check: true };
    }
    case 'roundtrip': {
      const x = E.keep(E.tensor([1]));
      owned.push(x);
      return { step: () => [E.add(x, 1)], syncEach: true, timing: { maxIters: 2000 } };
    }
    case 'dispatch': {
      const x = E.keep(E.ones([s.n]));
      owned.push(x);
      return {
        step: () => [
          E.scope(() => {
            let y = E.add(x, 1);
            for (let i = 1; i < s.count; i++) y = E.add(y, 1);
            return y;
          }),
        ],
      };
    }
    // Composed from public ops (no fused kernels): used only where bench/kernels.ts gives no row.
    case 'linear': {
      const x = up('x', [s.m, s.k]);
      const w = up('w', [s.k, s.n]);
      const b = up('b', [s.n]);
      return {
        step: () => [E.scope(() => {
          const z = E.add(E.matmul(x, w), b);
          return s.act === 'relu' ? E.relu(z) : s.act === 'tanh' ? E.tanh(z) : z;
        })],
        check: true,
      };
    }
    case 'mlp_grad': {
      const params = mlpShapes(s.sizes).map((sh, i) => up('p' + i, sh));
      const x = up('x', [s.batch, s.sizes[0]]);
      const t = up('t', [s.batch, s.sizes[s.sizes.length - 1]]);
      const L = s.sizes.length - 1;
      const loss = (p: E.Tensor[]) => {
        let h: E.Tensor = x;
        for (let l = 0; l < L; l++) {
          h = E.add(E.matmul(h, p[2 * l]), p[2 * l + 1]);
          if (l < L - 1) h = E.relu(h);
        }
        return E.div(E.sum(E.square(E.sub(h, t))), 2 * s.batch);
      };
      const g = E.grad(loss);
      return { step: () => E.scope(() => g(params) as E.Tensor[]), check: true };
    }
    case 'attention': {
      const sh = [s.b, s.heads, s.s, s.d];
      const [q, k, v, gg] = ['q', 'k', 'v', 'g'].map((n) => up(n, sh));
      const scale = 1 / Math.sqrt(s.d);
      const attn = (qq: E.Tensor, kk: E.Tensor, vv: E.Tensor) => {
        const sc = E.mul(E.mm(qq, kk, false, true), scale);
        const p = E.exp(E.sub(sc, E.logsumexp(sc, -1, true)));
        return E.matmul(p, vv);
      };
      if (!s.backward) return { step: () => [E.scope(() => attn(q, k, v))], check: true };
      const g = E.grad((a: E.Tensor, b: E.Tensor, c: E.Tensor) => E.sum(E.mul(attn(a, b, c), gg)), [0, 1, 2]);
      return { step: () => E.scope(() => g(q, k, v) as E.Tensor[]), check: true };
    }
    case 'adam': {
      // Unfused reference Adam from public ops (one dispatch chain per tensor).
      const p = s.sizes.map((sh, i) => up('p' + i, sh));
      const gs = s.sizes.map((sh, i) => up('g' + i, sh));
      const m = s.sizes.map((sh) => E.keep(E.zeros(sh)));
      const v = s.sizes.map((sh) => E.keep(E.zeros(sh)));
      owned.push(...m, ...v);
      let t = 0;
      return {
        step: () => {
          t++;
          const c1 = ADAM.lr / (1 - ADAM.b1 ** t);
          const c2 = 1 / (1 - ADAM.b2 ** t);
          E.scope(() => {
            for (let i = 0; i < p.length; i++) {
              E.assign(m[i], E.add(E.mul(m[i], ADAM.b1), E.mul(gs[i], 1 - ADAM.b1)));
              E.assign(v[i], E.add(E.mul(v[i], ADAM.b2), E.mul(E.square(gs[i]), 1 - ADAM.b2)));
              E.assign(p[i], E.sub(p[i], E.div(E.mul(m[i], c1), E.add(E.sqrt(E.mul(v[i], c2)), ADAM.eps))));
            }
          });
          return t === 1 ? p.map((x) => E.clone(x)) : [E.clone(p[0])];
        },
        check: true,
      };
    }
    default:
      throw new Error(`no composed-op implementation of ${s.kind} in bench/core.ts`);
  }
}

// ------------------------------------------------------------------ GPU timestamp queries

/** Kernel time per iteration from timestamp queries around each compute pass; undefined where unsupported. */
export async function gpuTime(step: () => Promise<void> | void, iters: number): Promise<Stats | undefined> {
  const rt = E.runtime();
  if (!rt.info.features.has('timestamp-query')) return undefined;
  const dev = rt.device;
  const cap = 512;
  const G = globalThis as unknown as { GPUBufferUsage: Record<string, number>; GPUMapMode: { READ: number } };
  const qs = dev.createQuerySet({ type: 'timestamp', count: cap * 2 });
  const resolveBuf = dev.createBuffer({ size: cap * 16, usage: G.GPUBufferUsage.QUERY_RESOLVE | G.GPUBufferUsage.COPY_SRC });
  const readBuf = dev.createBuffer({ size: cap * 16, usage: G.GPUBufferUsage.MAP_READ | G.GPUBufferUsage.COPY_DST });
  const proto = Object.getPrototypeOf(dev) as GPUDevice;
  const origCreate = proto.createCommandEncoder;
  let used = 0;
  // The runtime calls device.createCommandEncoder() then encoder.beginComputePass(): we add
  // timestampWrites to every pass it begins while measuring.
  (dev as unknown as { createCommandEncoder: unknown }).createCommandEncoder = function (desc?: GPUCommandEncoderDescriptor) {
    const enc = origCreate.call(dev, desc);
    const begin = enc.beginComputePass;
    (enc as unknown as { beginComputePass: unknown }).beginComputePass = function (d?: GPUComputePassDescriptor) {
      if (used >= cap) return begin.call(enc, d);
      const i = used++;
      return begin.call(enc, { ...d, timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    };
    return enc;
  };
  const samples: number[] = [];
  try {
    const reps = Math.max(3, Math.min(opts().repeats, 5));
    for (let r = 0; r < reps; r++) {
      await E.sync();
      used = 0;
      for (let i = 0; i < iters; i++) await step();
      await E.sync();
      const n = used;
      if (n === 0 || n >= cap) return undefined;
      const enc = origCreate.call(dev);
      enc.resolveQuerySet(qs, 0, 2 * n, resolveBuf, 0);
      enc.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, 16 * n);
      dev.queue.submit([enc.finish()]);
      await polled(readBuf.mapAsync(G.GPUMapMode.READ));
      const ts = new BigUint64Array(readBuf.getMappedRange().slice(0));
      readBuf.unmap();
      let ns = 0n;
      for (let i = 0; i < n; i++) if (ts[2 * i + 1] > ts[2 * i]) ns += ts[2 * i + 1] - ts[2 * i];
      samples.push(Number(ns) / 1e6 / iters);
    }
  } finally {
    delete (dev as unknown as { createCommandEncoder?: unknown }).createCommandEncoder;
    qs.destroy();
    resolveBuf.destroy();
    readBuf.destroy();
  }
  if (!samples.length || samples.every((x) => x === 0)) return undefined;
  return stats(samples, iters);
}

// ------------------------------------------------------------------ checking other modules' rows

/**
 * Checks our engine's fused kernels on a spec against the float64 reference (same inputs as
 * every peer), for rows timed by other bench modules (bench/kernels.ts times its own inputs).
 * Returns the max relative error; throws CheckError when wrong; null when this kind has no check here.
 */
export async function verifyOurs(spec: CaseSpec): Promise<number | null> {
  await E.init();
  const inp = caseInputs(spec);
  const T = (name: string, shape: number[]) => E.tensor(inp[name], shape);
  const made: E.Tensor[] = [];
  const keepT = (t: E.Tensor) => (made.push(t), t);
  try {
    switch (spec.kind) {
      case 'conv2d': {
        const s = spec;
        const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
        const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
        const x = keepT(E.tensor(transposeArray(inp.x, [s.n, s.c, s.h, s.w], [0, 2, 3, 1]), [s.n, s.h, s.w, s.c]));
        const w = keepT(E.tensor(transposeArray(inp.w, [s.o, s.c, s.kh, s.kw], [0, 2, 3, 1]), [s.o, s.kh, s.kw, s.c]));
        if (!s.backward) {
          const y = keepT(E.conv2d(x, w, null, { stride: s.stride, padding: s.pad }));
          const [yd] = await E.readAll([y]);
          return checkOutputs(s, { y: transposeArray(yd, [s.n, oh, ow, s.o], [0, 3, 1, 2]) });
        }
        const g = keepT(E.tensor(transposeArray(inp.g, [s.n, s.o, oh, ow], [0, 2, 3, 1]), [s.n, oh, ow, s.o]));
        const dx = keepT(E.conv2dBackInput(g, w, x.shape, [s.stride, s.stride], [s.pad, s.pad]));
        const dw = keepT(E.conv2dBackWeight(x, g, w.shape, [s.stride, s.stride], [s.pad, s.pad]));
        const y = keepT(E.conv2d(x, w, null, { stride: s.stride, padding: s.pad }));
        const [dxd, dwd, yd] = await E.readAll([dx, dw, y]);
        const e1 = checkOutputs({ ...s, backward: false }, { y: transposeArray(yd, [s.n, oh, ow, s.o], [0, 3, 1, 2]) });
        const e2 = checkOutputs(s, {
          dx: transposeArray(dxd, [s.n, s.h, s.w, s.c], [0, 3, 1, 2]),
          dw: transposeArray(dwd, [s.o, s.kh, s.kw, s.c], [0, 3, 1, 2]),
        });
        return Math.max(e1, e2);
      }
      case 'attention': {
        const sh = [spec.b, spec.heads, spec.s, spec.d];
        const [q, k, v, g] = ['q', 'k', 'v', 'g'].map((n) => keepT(T(n, sh)));
        if (!spec.backward) {
          const [o] = await E.readAll([keepT(E.attention(q, k, v))]);
          return checkOutputs(spec, { out: o });
        }
        const grads = E.scope(() => {
          const [, f] = E.vjp((a: E.Tensor, b: E.Tensor, c: E.Tensor) => E.attention(a, b, c), q, k, v);
          const gs = f(g) as E.Tensor[];
          f.dispose();
          return gs;
        });
        grads.forEach(keepT);
        const [dq, dk, dv] = await E.readAll(grads);
        return checkOutputs(spec, { dq, dk, dv });
      }
      case 'linear': {
        const x = keepT(T('x', [spec.m, spec.k]));
        const w = keepT(E.tensor(transposeArray(inp.w, [spec.k, spec.n], [1, 0]), [spec.n, spec.k]));
        const b = keepT(T('b', [spec.n]));
        const [y] = await E.readAll([keepT(E.linear(x, w, b, spec.act))]);
        return checkOutputs(spec, { y });
      }
      case 'mlp_grad': {
        // the fused-linear path (what E.MLP applies), differentiated by the engine
        const shapes = mlpShapes(spec.sizes);
        const L = spec.sizes.length - 1;
        const params = shapes.map((sh, i) =>
          keepT(sh.length === 2 ? E.tensor(transposeArray(inp['p' + i], sh, [1, 0]), [sh[1], sh[0]]) : T('p' + i, sh)),
        );
        const x = keepT(T('x', [spec.batch, spec.sizes[0]]));
        const t = keepT(T('t', [spec.batch, spec.sizes[L]]));
        const loss = (p: E.Tensor[]) => {
          let h: E.Tensor = x;
          for (let l = 0; l < L; l++) h = E.linear(h, p[2 * l], p[2 * l + 1], l < L - 1 ? 'relu' : 'none');
          return E.div(E.sum(E.square(E.sub(h, t))), 2 * spec.batch);
        };
        const gs = E.scope(() => E.grad(loss)(params) as E.Tensor[]);
        gs.forEach(keepT);
        const data = await E.readAll(gs);
        return checkOutputs(
          spec,
          Object.fromEntries(data.map((d, i) => ['p' + i, shapes[i].length === 2 ? transposeArray(d, [shapes[i][1], shapes[i][0]], [1, 0]) : d])),
        );
      }
      case 'adam': {
        const params: Record<string, E.Tensor> = {};
        const grads: Record<string, E.Tensor> = {};
        spec.sizes.forEach((sh, i) => {
          params['p' + i] = keepT(T('p' + i, sh));
          grads['p' + i] = keepT(T('g' + i, sh));
        });
        const packed = E.packParams(params);
        made.push(packed.flat);
        const opt = E.adam(packed.params, { lr: ADAM.lr, betas: [ADAM.b1, ADAM.b2], eps: ADAM.eps });
        opt.step(packed.params, grads);
        const names = spec.sizes.map((_, i) => 'p' + i);
        const data = await E.readAll(names.map((n) => (packed.params as Record<string, E.Tensor>)[n]));
        (opt as unknown as { dispose?: () => void }).dispose?.();
        return checkOutputs(spec, Object.fromEntries(names.map((n, i) => [n, data[i]])));
      }
      case 'matmul':
      case 'elementwise':
      case 'reduce': {
        const b = build(spec, made);
        const outs = b.step();
        outs.forEach(keepT);
        const data = await E.readAll(outs);
        return checkOutputs(spec, Object.fromEntries(outputNames(spec, outs.length).map((n, i) => [n, data[i]])));
      }
      default:
        return null;
    }
  } finally {
    E.dispose(made);
  }
}

// ------------------------------------------------------------------ matmul tile search

/** `npm run bench -- --tune-matmul [n]`: GFLOP/s of the vec4 matmul per register tile / workgroup shape at n² (checked). */
export async function tuneMatmul(n = 1024): Promise<Array<{ tile: MatmulTile; gflops: number; ms: number }>> {
  await E.init();
  const spec: CaseSpec = { kind: 'matmul', batch: 1, m: n, k: n, n };
  const inp = caseInputs(spec);
  const a = E.keep(E.tensor(inp.a, [n, n]));
  const b = E.keep(E.tensor(inp.b, [n, n]));
  const orig = E.getMatmulTile();
  const tiles: MatmulTile[] = [];
  for (const [TM, TN] of [[4, 8], [4, 4], [8, 4], [8, 8], [4, 16], [2, 8], [2, 16]])
    for (const [WX, WY] of [[64, 1], [8, 8], [16, 4], [32, 2], [4, 16], [16, 16]]) tiles.push({ TM, TN, WX, WY });
  const out: Array<{ tile: MatmulTile; gflops: number; ms: number }> = [];
  try {
    for (const t of tiles) {
      E.setMatmulTile(t);
      try {
        const c = E.matmul(a, b);
        const [d] = await E.readAll([c]);
        c.dispose();
        checkOutputs(spec, { c: d });
        const st = await timeIt(() => E.matmul(a, b).dispose(), () => E.sync(), { repeats: 5, warmup: 2, targetMs: 300 });
        out.push({ tile: t, ms: st.median, gflops: (2 * n ** 3) / st.median / 1e6 });
        console.error(`  TM${t.TM} TN${t.TN} WG ${t.WX}×${t.WY}: ${st.median.toFixed(2)} ms [${st.min.toFixed(2)}–${st.max.toFixed(2)}] ${(2 * n ** 3 / st.median / 1e6).toFixed(2)} GFLOP/s`);
      } catch (e) {
        console.error(`  TM${t.TM} TN${t.TN} WG ${t.WX}×${t.WY}: FAILED ${errMessage(e)}`);
      }
    }
  } finally {
    E.setMatmulTile(orig);
    E.dispose([a, b]);
  }
  return out.sort((x, y) => y.gflops - x.gflops);
}
