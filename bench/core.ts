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
  type CaseSpec, type Row, type Stats, type Prepared, caseInputs, mlpShapes, timeIt, timeInterleaved, stats, polled, opts, selected,
  errMessage, specFlops, specBytes, specLabel, ADAM, CheckError,
} from './common.ts';
import type { Peer } from './peers/peer.ts';
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
  // forward-over-reverse HVP of the MLP-gradient case's loss (jax-js: jit(jvp(grad)))
  { id: 'MLP HVP 64→256→256→8 batch 256', group: 'implicit', spec: { kind: 'hvp_mlp', batch: 256, sizes: [64, 256, 256, 8] } },
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
  /** Maps read-back outputs (in step's order) to the reference's names and layouts; absent = no check. */
  check?: (d: Float32Array[]) => Record<string, ArrayLike<number>>;
  syncEach?: boolean;
  timing?: { maxIters?: number };
  cleanup?: () => void;
}

let tuned: Promise<unknown> | null = null;
let tuning: 'tune' | 'defaults' = 'tune';
/**
 * 'defaults': run on the engine's default tiles without tuning. The browser bench page offers it:
 * a browser has no tile cache, so tuning would run before every visit (minutes on a software
 * adapter). The rows then measure the defaults, and the page says so.
 */
export function setTuning(mode: 'tune' | 'defaults') {
  tuning = mode;
}
/**
 * The engine's tiles for this adapter and host: read from the tuning cache, or tuned once (every
 * family the cache lacks: a few minutes on a quiet lavapipe host) and cached; `npm run tune`
 * re-times every family.
 */
export function tunedOnce(): Promise<unknown> {
  if (tuning === 'defaults') return E.init();
  return (tuned ??= E.init().then(() => E.ensureTuned({ families: ['matmul', 'linear', 'linearDual', 'conv', 'convBackInput', 'convBackWeight', 'attention', 'attentionBackward'], log: (l) => console.error(`  tune: ${l}`) })));
}

/** Our engine on a spec, on the shared inputs, through the fused kernels where the engine has them. */
export async function prepareOurs(spec: CaseSpec): Promise<Prepared> {
  await E.init();
  await tunedOnce();
  const owned: E.Tensor[] = [];
  let last: E.Tensor[] = [];
  let b: Built | null = null;
  const dispose = () => {
    E.dispose(last);
    last = [];
    b?.cleanup?.();
    E.dispose(owned);
    owned.length = 0;
  };
  try {
    b = build(spec, owned);
    const bb = b;
    const check = bb.check
      ? async () => {
          const outs = bb.step();
          const data = await E.readAll(outs);
          E.dispose(outs);
          return checkOutputs(spec, bb.check!(data));
        }
      : undefined;
    const step = async () => {
      E.dispose(last);
      last = bb.step();
      if (bb.syncEach) await last[0].data();
    };
    return { check, step, wait: () => E.sync(), dispose, timing: bb.timing };
  } catch (e) {
    dispose();
    throw e;
  }
}

/** Dispatches and readbacks of one iteration. */
export async function countOurs(p: Prepared): Promise<{ dispatches: number; readbacks: number }> {
  await E.sync();
  const c0 = E.counters();
  await p.step();
  await p.wait();
  const c1 = E.counters();
  return { dispatches: c1.dispatches - c0.dispatches, readbacks: c1.readbacks - c0.readbacks };
}

/** Runs our engine alone on a spec (checked, then timed). bench/run.ts interleaves it with the peers instead. */
export async function runOurs(spec: CaseSpec, id = specLabel(spec), group: string = spec.kind): Promise<Row> {
  const row: Row = { id, group, engine: 'ours', status: 'ok', spec, flops: specFlops(spec), bytes: specBytes(spec) };
  let p: Prepared | null = null;
  try {
    p = await prepareOurs(spec);
    if (p.check) row.err = await p.check();
    row.metrics = await countOurs(p);
    const [st] = await timeInterleaved([p]);
    if (st instanceof Error) throw st;
    row.wall = st;
    if (spec.kind !== 'roundtrip') row.gpu = await gpuTime(p.step, st.iters);
    if (spec.kind === 'dispatch') row.metrics.usPerOp = (st.median * 1000) / spec.count;
  } catch (e) {
    row.status = 'failed';
    row.note = errMessage(e);
    delete row.wall;
  } finally {
    p?.dispose();
  }
  return row;
}

/**
 * One case on our engine and every peer that supports it, as bench/run.ts's runCase does it: each
 * engine is built on the shared inputs and checked once against the float64 reference (wrong =
 * failed, no time), then all are timed with their repeats interleaved; our row gets dispatch
 * counts and GPU time. The browser bench page runs its cases through this (bench/run.ts keeps its
 * own copy, which also merges another bench module's row).
 */
export async function runCase(spec: CaseSpec, id: string, group: string, peers: Peer[], moduleRow?: Row): Promise<Row[]> {
  const contenders: Array<{ engine: string; prepare: () => Promise<Prepared> }> = [
    { engine: 'ours', prepare: () => prepareOurs(spec) },
    ...peers.filter((p) => p.supports(spec)).map((p) => ({ engine: p.name, prepare: () => p.prepare(spec) })),
  ];
  const rows: Row[] = [];
  const live: Array<{ row: Row; p: Prepared }> = [];
  for (const c of contenders) {
    const row: Row = { id, group, engine: c.engine, status: 'ok', spec, flops: moduleRow?.flops ?? specFlops(spec), bytes: moduleRow?.bytes ?? specBytes(spec) };
    rows.push(row);
    let p: Prepared | null = null;
    try {
      p = await c.prepare();
      if (p.note) row.note = p.note;
      if (p.check) row.err = await p.check();
      else if (!['roundtrip', 'dispatch'].includes(spec.kind)) row.note = [row.note, 'no float64 check for this kind'].filter(Boolean).join('; ');
      if (c.engine === 'ours') row.metrics = await countOurs(p);
      live.push({ row, p });
    } catch (e) {
      row.status = 'failed';
      row.note = (e instanceof CheckError ? 'wrong result: ' : '') + errMessage(e);
      p?.dispose();
    }
  }
  try {
    const st = await timeInterleaved(live.map((l) => l.p));
    for (let i = 0; i < live.length; i++) {
      const { row, p } = live[i];
      const s = st[i];
      if (s instanceof Error) {
        row.status = 'failed';
        row.note = errMessage(s);
        continue;
      }
      row.wall = s;
      // Cores in use while timed (process CPU / wall): the witness for a row slowed by a core
      // taken elsewhere (docs/benchmarks.md, "Session 9: the matmul rows at half speed").
      if (s.cpu !== undefined && s.median > 0 && spec.kind !== 'roundtrip' && spec.kind !== 'dispatch') row.metrics = { ...row.metrics, cores: +(s.cpu / s.median).toFixed(2) };
      if (spec.kind === 'dispatch') row.metrics = { ...row.metrics, usPerOp: (s.median * 1000) / spec.count };
      if (row.engine === 'ours' && spec.kind !== 'roundtrip') {
        try {
          row.gpu = await gpuTime(p.step, s.iters);
        } catch {
          /* timestamps are optional */
        }
      }
    }
  } finally {
    for (const { p } of live) p.dispose();
  }
  // A row another bench module measured for this case (npm run bench's module rows).
  const ours = rows[0];
  if (moduleRow) {
    if (moduleRow.wall) ours.metrics = { ...ours.metrics, moduleMs: +moduleRow.wall.median.toPrecision(4) };
    if (moduleRow.metrics?.dispatches !== undefined) ours.metrics = { ...ours.metrics, dispatches: moduleRow.metrics.dispatches };
    if (moduleRow.status === 'failed') ours.note = [ours.note, `bench module: ${moduleRow.note}`].filter(Boolean).join('; ');
  }
  return rows;
}

/** Our rows get `ratios`: peer time / our time on the same case (> 1 = we are faster), as in bench/results. */
export function addRatios(all: Row[]) {
  const ms = (r?: Row) => (r && r.status === 'ok' && r.wall ? r.wall.median : undefined);
  for (const r of all) {
    if (r.engine !== 'ours') continue;
    const om = ms(r);
    const ratios: Record<string, number> = {};
    for (const p of all) if (p.id === r.id && p.engine !== 'ours' && om && ms(p)) ratios[p.engine] = +(ms(p)! / om).toPrecision(4);
    if (Object.keys(ratios).length) r.ratios = ratios;
    else delete r.ratios;
  }
}

/** Checks our fused kernels on a spec against the float64 reference; null where this kind has no check. */
export async function verifyOurs(spec: CaseSpec): Promise<number | null> {
  const p = await prepareOurs(spec);
  try {
    return p.check ? await p.check() : null;
  } finally {
    p.dispose();
  }
}

const outs1 = (name: string) => (d: Float32Array[]) => ({ [name]: d[0] });

function build(s: CaseSpec, owned: E.Tensor[]): Built {
  const inp = caseInputs(s);
  const hold = (t: E.Tensor) => {
    E.keep(t);
    owned.push(t);
    return t;
  };
  const up = (name: string, shape: number[]) => hold(E.tensor(inp[name], shape));
  switch (s.kind) {
    case 'matmul': {
      const sh = (r: number, c: number) => (s.batch > 1 ? [s.batch, r, c] : [r, c]);
      const a = up('a', sh(s.m, s.k));
      const b = up('b', sh(s.k, s.n));
      return { step: () => [E.matmul(a, b)], check: outs1('c') };
    }
    case 'elementwise': {
      const a = up('a', [s.n]);
      const b = up('b', [s.n]);
      return { step: () => [E.scope(() => (s.op === 'add' ? E.add(a, b) : E.tanh(E.add(E.mul(a, b), a))))], check: outs1('y') };
    }
    case 'reduce': {
      const x = up('x', [s.rows, s.cols]);
      return { step: () => [s.op === 'sum_all' ? E.sum(x) : E.sum(x, 1)], check: outs1('y') };
    }
    case 'roundtrip': {
      const x = hold(E.tensor([1]));
      return { step: () => [E.add(x, 1)], syncEach: true, timing: { maxIters: 2000 } };
    }
    case 'dispatch': {
      const x = hold(E.ones([s.n]));
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
    case 'conv2d': {
      // the engine's conv is NHWC with [out, kh, kw, in] weights: converted once, outside the timed loop
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      const x = hold(E.tensor(transposeArray(inp.x, [s.n, s.c, s.h, s.w], [0, 2, 3, 1]), [s.n, s.h, s.w, s.c]));
      const w = hold(E.tensor(transposeArray(inp.w, [s.o, s.c, s.kh, s.kw], [0, 2, 3, 1]), [s.o, s.kh, s.kw, s.c]));
      const toNCHW = (d: Float32Array) => transposeArray(d, [s.n, oh, ow, s.o], [0, 3, 1, 2]);
      if (!s.backward) return { step: () => [E.conv2d(x, w, null, { stride: s.stride, padding: s.pad })], check: (d) => ({ y: toNCHW(d[0]) }) };
      const g = hold(E.tensor(transposeArray(inp.g, [s.n, s.o, oh, ow], [0, 2, 3, 1]), [s.n, oh, ow, s.o]));
      // forward + input gradient + weight gradient (what the peers' grads compute)
      return {
        step: () => [
          E.conv2dBackInput(g, w, x.shape, [s.stride, s.stride], [s.pad, s.pad]),
          E.conv2dBackWeight(x, g, w.shape, [s.stride, s.stride], [s.pad, s.pad]),
          E.conv2d(x, w, null, { stride: s.stride, padding: s.pad }),
        ],
        check: (d) => ({
          dx: transposeArray(d[0], [s.n, s.h, s.w, s.c], [0, 3, 1, 2]),
          dw: transposeArray(d[1], [s.o, s.kh, s.kw, s.c], [0, 3, 1, 2]),
        }),
      };
    }
    case 'attention': {
      const sh = [s.b, s.heads, s.s, s.d];
      const [q, k, v, g] = ['q', 'k', 'v', 'g'].map((n) => up(n, sh));
      if (!s.backward) return { step: () => [E.attention(q, k, v)], check: outs1('out') };
      return {
        step: () =>
          E.scope(() => {
            const [, f] = E.vjp((a: E.Tensor, b: E.Tensor, c: E.Tensor) => E.attention(a, b, c), q, k, v);
            const gs = f(g) as E.Tensor[];
            f.dispose();
            return gs;
          }),
        check: (d) => ({ dq: d[0], dk: d[1], dv: d[2] }),
      };
    }
    case 'linear': {
      const x = up('x', [s.m, s.k]);
      const w = hold(E.tensor(transposeArray(inp.w, [s.k, s.n], [1, 0]), [s.n, s.k]));
      const b = up('b', [s.n]);
      return { step: () => [E.linear(x, w, b, s.act)], check: outs1('y') };
    }
    case 'mlp_grad': {
      // what E.MLP + E.mse run: fused linear(+relu) layers, one-dispatch MSE, valueAndGrad
      const shapes = mlpShapes(s.sizes);
      const L = s.sizes.length - 1;
      const nOut = s.sizes[L];
      const params = shapes.map((sh, i) => (sh.length === 2 ? hold(E.tensor(transposeArray(inp['p' + i], sh, [1, 0]), [sh[1], sh[0]])) : up('p' + i, sh)));
      const x = up('x', [s.batch, s.sizes[0]]);
      const t = up('t', [s.batch, nOut]);
      const loss = (p: E.Tensor[]) => {
        let h: E.Tensor = x;
        for (let l = 0; l < L; l++) h = E.linear(h, p[2 * l], p[2 * l + 1], l < L - 1 ? 'relu' : 'none');
        return E.mse(h, t);
      };
      const vg = E.valueAndGrad(loss);
      return {
        step: () =>
          E.scope(() => {
            const [val, gs] = vg(params) as [E.Tensor, E.Tensor[]];
            return [...gs, val];
          }),
        // mse = mean over batch·out; the reference loss is ½·sum/batch: gradients differ by out/2
        check: (d) =>
          Object.fromEntries(
            shapes.map((sh, i) => {
              const g = sh.length === 2 ? transposeArray(d[i], [sh[1], sh[0]], [1, 0]) : d[i];
              return ['p' + i, g.map((v) => (v * nOut) / 2)];
            }),
          ),
      };
    }
    case 'hvp_mlp': {
      // E.hvp (forward over reverse, dual kernels) of the fused-linear MLP's MSE loss along v = the parameters
      const shapes = mlpShapes(s.sizes);
      const L = s.sizes.length - 1;
      const asOurs = (i: number, sh: number[]) => (sh.length === 2 ? hold(E.tensor(transposeArray(inp['p' + i], sh, [1, 0]), [sh[1], sh[0]])) : up('p' + i, sh));
      const params = shapes.map((sh, i) => asOurs(i, sh));
      const vs = shapes.map((sh, i) => asOurs(i, sh));
      const x = up('x', [s.batch, s.sizes[0]]);
      const t = up('t', [s.batch, s.sizes[L]]);
      const loss = (p: E.Tensor[]) => {
        let h: E.Tensor = x;
        for (let l = 0; l < L; l++) h = E.linear(h, p[2 * l], p[2 * l + 1], l < L - 1 ? 'relu' : 'none');
        return E.mse(h, t);
      };
      return { step: () => E.scope(() => E.hvp(loss, [params], [vs])[0] as E.Tensor[]) };
    }
    case 'adam': {
      // the engine's optimizer: all parameters packed in one buffer, one dispatch per step
      const params: Record<string, E.Tensor> = {};
      const grads: Record<string, E.Tensor> = {};
      s.sizes.forEach((sh, i) => {
        params['p' + i] = E.tensor(inp['p' + i], sh);
        grads['p' + i] = up('g' + i, sh);
      });
      const packed = E.packParams(params);
      E.dispose(Object.values(params));
      hold(packed.flat);
      const pp = packed.params as Record<string, E.Tensor>;
      Object.values(pp).forEach((t) => E.keep(t));
      const opt = E.adam(packed.params, { lr: ADAM.lr, betas: [ADAM.b1, ADAM.b2], eps: ADAM.eps });
      const names = s.sizes.map((_, i) => 'p' + i);
      let first = true;
      return {
        step: () => {
          opt.step(packed.params, grads);
          if (first) {
            first = false;
            return names.map((n) => E.clone(pp[n]));
          }
          return [];
        },
        check: (d) => Object.fromEntries(names.map((n, i) => [n, d[i]])),
        cleanup: () => (opt as unknown as { dispose?: () => void }).dispose?.(),
      };
    }
    default:
      throw new Error(`bench/core.ts has no implementation of ${(s as CaseSpec).kind}`);
  }
}

// ------------------------------------------------------------------ GPU timestamp queries

/** Kernel time per iteration from timestamp queries around each compute pass; undefined where unsupported. */
export async function gpuTime(step: () => unknown, iters: number): Promise<Stats | undefined> {
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
  for (const [TM, TN, WX, WY] of [
    [4, 8, 64, 1], [4, 8, 8, 8], [4, 8, 16, 4], [4, 8, 32, 2], [4, 4, 64, 1], [4, 4, 8, 8],
    [8, 4, 64, 1], [8, 4, 8, 8], [2, 8, 64, 1], [4, 16, 64, 1], [4, 16, 16, 4], [8, 8, 64, 1],
  ])
    tiles.push({ TM, TN, WX, WY });
  const out: Array<{ tile: MatmulTile; gflops: number; ms: number }> = [];
  try {
    // check every tile, then time them all with interleaved repeats (fair under background load)
    const ok: MatmulTile[] = [];
    for (const t of tiles) {
      E.setMatmulTile(t);
      try {
        const c = E.matmul(a, b);
        const [d] = await E.readAll([c]);
        c.dispose();
        checkOutputs(spec, { c: d });
        ok.push(t);
        console.error(`  TM${t.TM} TN${t.TN} WG ${t.WX}×${t.WY}: checked`);
      } catch (e) {
        console.error(`  TM${t.TM} TN${t.TN} WG ${t.WX}×${t.WY}: FAILED ${errMessage(e)}`);
      }
    }
    const preps: Prepared[] = ok.map((t) => ({
      step: () => {
        E.setMatmulTile(t);
        E.matmul(a, b).dispose();
      },
      wait: () => E.sync(),
      dispose: () => {},
    }));
    const st = await timeInterleaved(preps, { repeats: opts().quick ? 3 : 5, warmup: 1, targetMs: 300 });
    ok.forEach((t, i) => {
      const x = st[i];
      if (x instanceof Error) return;
      out.push({ tile: t, ms: x.median, gflops: (2 * n ** 3) / x.median / 1e6 });
      console.error(`  TM${t.TM} TN${t.TN} WG ${t.WX}×${t.WY}: ${x.median.toFixed(2)} ms [${x.min.toFixed(2)}–${x.max.toFixed(2)}] ${((2 * n ** 3) / x.median / 1e6).toFixed(2)} GFLOP/s`);
    });
  } finally {
    E.setMatmulTile(orig);
    E.dispose([a, b]);
  }
  return out.sort((x, y) => y.gflops - x.gflops);
}
