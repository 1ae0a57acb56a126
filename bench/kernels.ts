// Kernel benchmarks for the nn layer: conv2d fwd+bwd at the MinAtar and Nature-CNN shapes,
// fused attention fwd+bwd, fused linear, MLP forward + gradient, one optimizer step over all
// parameters. Rows follow bench/common.ts's Row (so bench/run.ts can put peers beside them on
// the same spec) and also carry the flat fields { name, shape, ms, min, max, gflops }.
//
//   npx tsx bench/kernels.ts [filter words] [--quick]
//
// conv2d fwd+bwd = forward + input gradient + weight gradient for a given output cotangent (3
// dispatches), the same work the peers' vjp does; our activations are NHWC, the peers' NCHW.

import * as E from '../engine/index.ts';
import {
  type CaseSpec, type Row, type Prepared, KERNEL_CASES, mlpShapes, timeIt, selected, specFlops, specLabel, errMessage,
  randomArray, refMatmulRows, check, opts, stats,
} from './common.ts';
import os from 'node:os';
import { tunedOnce } from './core.ts';

export interface KernelRow extends Row {
  name: string;
  shape: string;
  ms: number;
  min: number;
  max: number;
  gflops?: number;
}

interface Case {
  name: string;
  group: string;
  shape: string;
  spec?: CaseSpec;
  flops?: number;
  /** Builds inputs (kept) and returns one iteration (tensors it returns are disposed next iteration). */
  build: (keep: <T>(t: T) => T) => () => unknown;
}

const conv = (name: string, n: number, c: number, h: number, o: number, k: number, s: number, spec?: CaseSpec): Case => {
  const oh = Math.floor((h - k) / s) + 1;
  return {
    name,
    group: 'conv2d',
    shape: `N${n} ${h}×${h}×${c} → ${o}, ${k}×${k}/${s} (NHWC)`,
    spec: spec ?? { kind: 'conv2d', n, c, h, w: h, o, kh: k, kw: k, stride: s, pad: 0, backward: true },
    flops: 3 * 2 * n * oh * oh * o * c * k * k,
    build: (keep) => {
      const x = keep(E.rand([n, h, h, c], -1, 1, { seed: 1 }));
      const w = keep(E.rand([o, k, k, c], -0.2, 0.2, { seed: 2 }));
      const g = keep(E.rand([n, oh, oh, o], -1, 1, { seed: 3 }));
      return () => [
        E.conv2d(x, w, null, { stride: s }),
        E.conv2dBackInput(g, w, x.shape, [s, s], [0, 0]),
        E.conv2dBackWeight(x, g, w.shape, [s, s], [0, 0]),
      ];
    },
  };
};

function cases(): Case[] {
  const cal: Case = {
    name: 'calibration: engine matmul 512²',
    group: 'matmul',
    shape: 'the same-process ceiling to read the other rows against on a shared machine',
    flops: 2 * 512 ** 3,
    build: (keep) => {
      const a = keep(E.rand([512, 512], -1, 1, { seed: 1 }));
      return () => [E.matmul(a, a)];
    },
  };
  const att = KERNEL_CASES['attention sprig'] as Extract<CaseSpec, { kind: 'attention' }>;
  const lin = KERNEL_CASES['linear relu'] as Extract<CaseSpec, { kind: 'linear' }>;
  const mlp = KERNEL_CASES['mlp grad'] as Extract<CaseSpec, { kind: 'mlp_grad' }>;
  return [
    cal,
    conv('conv2d fwd+bwd minatar b32', 32, 4, 10, 16, 3, 1),
    conv('conv2d fwd+bwd minatar b128', 128, 4, 10, 16, 3, 1, KERNEL_CASES['conv2d minatar']),
    conv('conv2d fwd+bwd nature1', 32, 4, 84, 32, 8, 4, KERNEL_CASES['conv2d nature1']),
    conv('conv2d fwd+bwd nature2', 32, 32, 20, 64, 4, 2, KERNEL_CASES['conv2d nature2']),
    conv('conv2d fwd+bwd nature3', 32, 64, 9, 64, 3, 1, KERNEL_CASES['conv2d nature3']),
    {
      name: 'conv2d fwd nature1',
      group: 'conv2d',
      shape: 'N32 84×84×4 → 32, 8×8/4 (NHWC)',
      spec: { ...(KERNEL_CASES['conv2d nature1'] as Extract<CaseSpec, { kind: 'conv2d' }>), backward: false },
      flops: 2 * 32 * 20 * 20 * 32 * 4 * 64,
      build: (keep) => {
        const x = keep(E.rand([32, 84, 84, 4], -1, 1, { seed: 1 }));
        const w = keep(E.rand([32, 8, 8, 4], -0.2, 0.2, { seed: 2 }));
        return () => [E.conv2d(x, w, null, { stride: 4 })];
      },
    },
    ...[false, true].map((bwd): Case => ({
      name: `attention ${bwd ? 'fwd+bwd' : 'fwd'} B${att.b} H${att.heads} S${att.s} D${att.d}`,
      group: 'attention',
      shape: `[${att.b}, ${att.heads}, ${att.s}, ${att.d}]`,
      spec: { ...att, backward: bwd },
      flops: specFlops({ ...att, backward: bwd }),
      build: (keep) => {
        const sh = [att.b, att.heads, att.s, att.d];
        const q = keep(E.rand(sh, -1, 1, { seed: 1 })), k = keep(E.rand(sh, -1, 1, { seed: 2 })), v = keep(E.rand(sh, -1, 1, { seed: 3 }));
        const g = keep(E.rand(sh, -1, 1, { seed: 4 }));
        if (!bwd) return () => [E.attention(q, k, v)];
        return () => {
          const [o, f] = E.vjp((a: E.Tensor, b: E.Tensor, c: E.Tensor) => E.attention(a, b, c), q, k, v);
          const gs = f(g);
          f.dispose();
          return [o, ...gs];
        };
      },
    })),
    {
      name: `linear+bias+relu ${lin.m}×${lin.k}→${lin.n}`,
      group: 'linear',
      shape: `x [${lin.m}, ${lin.k}], W [${lin.n}, ${lin.k}]`,
      spec: lin,
      flops: specFlops(lin),
      build: (keep) => {
        const x = keep(E.rand([lin.m, lin.k], -1, 1, { seed: 1 }));
        const w = keep(E.rand([lin.n, lin.k], -0.1, 0.1, { seed: 2 }));
        const b = keep(E.rand([lin.n], -0.1, 0.1, { seed: 3 }));
        return () => [E.linear(x, w, b, 'relu')];
      },
    },
    {
      name: `MLP forward+grad ${mlp.sizes.join('→')} batch ${mlp.batch}`,
      group: 'mlp',
      shape: `relu MLP, MSE loss, batch ${mlp.batch}`,
      spec: mlp,
      flops: specFlops(mlp),
      build: (keep) => {
        const net = E.MLP(mlp.sizes, { activation: 'relu' });
        const p = keep(net.init(0));
        const x = keep(E.rand([mlp.batch, mlp.sizes[0]], -1, 1, { seed: 1 }));
        const t = keep(E.rand([mlp.batch, mlp.sizes[mlp.sizes.length - 1]], -1, 1, { seed: 2 }));
        const f = E.valueAndGrad((pp: E.Params) => E.mse(net.apply(pp, x), t));
        return () => f(p);
      },
    },
    {
      name: `Adam step, one dispatch, MLP ${mlp.sizes.join('→')}`,
      group: 'optimizer',
      shape: `${mlpShapes(mlp.sizes).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)} params in ${mlp.sizes.length * 2 - 2} tensors`,
      spec: KERNEL_CASES['adam mlp'],
      build: (keep) => {
        const net = E.MLP(mlp.sizes, { activation: 'relu' });
        const packed = E.packParams(net.init(0));
        keep(packed.flat);
        keep(packed.params);
        const grads = keep(E.fromNamed(Object.fromEntries(Object.entries(E.namedParams(packed.params)).map(([k, v], i) => [k, E.rand(v.shape, -1, 1, { seed: i })]))));
        const opt = E.adam(packed.params, { lr: 1e-3 });
        return () => opt.step(packed.params, grads);
      },
    },
    {
      name: `Adam step + clipping (2 dispatches), MLP ${mlp.sizes.join('→')}`,
      group: 'optimizer',
      shape: 'same, with maxGradNorm (no readback)',
      build: (keep) => {
        const net = E.MLP(mlp.sizes, { activation: 'relu' });
        const packed = E.packParams(net.init(0));
        keep(packed.flat);
        keep(packed.params);
        const grads = keep(E.fromNamed(Object.fromEntries(Object.entries(E.namedParams(packed.params)).map(([k, v], i) => [k, E.rand(v.shape, -1, 1, { seed: i })]))));
        const opt = E.adam(packed.params, { lr: 1e-3 });
        return () => opt.step(packed.params, grads, { maxGradNorm: 1 });
      },
    },
  ];
}

// ---------------------------------------------------------------- the register-blocked probe

/**
 * The yardstick of issue 14: a 40-line register-blocked matmul (4×8 outputs per thread, vec4
 * loads of A and B, no workgroup memory, 8×8 workgroups) for square n×n, n % 64 == 0. No batch,
 * no transposes, no bounds clamps: the rate a plain kernel reaches on this adapter and host.
 */
export const PROBE_WGSL = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> A: array<vec4f>;
@group(0) @binding(1) var<storage, read> B: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4f>;
@group(0) @binding(3) var<uniform> p: P;
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n4 = p.n / 4u;
  let row = gid.y * 4u;
  let col4 = gid.x * 2u;
  if (row >= p.n || col4 >= n4) { return; }
  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  for (var k = 0u; k < p.n; k += 4u) {
    let a0 = A[(row + 0u) * n4 + k / 4u]; let a1 = A[(row + 1u) * n4 + k / 4u];
    let a2 = A[(row + 2u) * n4 + k / 4u]; let a3 = A[(row + 3u) * n4 + k / 4u];
    for (var kk = 0u; kk < 4u; kk++) {
      let b0 = B[(k + kk) * n4 + col4]; let b1 = B[(k + kk) * n4 + col4 + 1u];
      c00 = fma(vec4f(a0[kk]), b0, c00); c01 = fma(vec4f(a0[kk]), b1, c01);
      c10 = fma(vec4f(a1[kk]), b0, c10); c11 = fma(vec4f(a1[kk]), b1, c11);
      c20 = fma(vec4f(a2[kk]), b0, c20); c21 = fma(vec4f(a2[kk]), b1, c21);
      c30 = fma(vec4f(a3[kk]), b0, c30); c31 = fma(vec4f(a3[kk]), b1, c31);
    }
  }
  C[(row + 0u) * n4 + col4] = c00; C[(row + 0u) * n4 + col4 + 1u] = c01;
  C[(row + 1u) * n4 + col4] = c10; C[(row + 1u) * n4 + col4 + 1u] = c11;
  C[(row + 2u) * n4 + col4] = c20; C[(row + 2u) * n4 + col4 + 1u] = c21;
  C[(row + 3u) * n4 + col4] = c30; C[(row + 3u) * n4 + col4 + 1u] = c31;
}`;

/**
 * matmul n² on the engine (its tuned/default tiles), the probe, and every matmul candidate tile
 * forced, their repeats interleaved in one run (so load hits all alike; waits use the engine's
 * throttled polling). Rows: the probe, and the engine with its ratios to the probe and to the
 * best forced tile of this same run.
 */
export async function benchProbe(n = 1024): Promise<KernelRow[]> {
  await E.init();
  await tunedOnce();
  const load0 = os.loadavg()[0];
  const A = randomArray(n * n, 1), B = randomArray(n * n, 2);
  const a = E.keep(E.tensor(A, [n, n])), b = E.keep(E.tensor(B, [n, n]));
  const kernel = { name: 'matmul_probe', code: PROBE_WGSL };
  const probe = () => {
    const out = E.zeros([n, n]);
    E.runtime().dispatch({ kernel, inputs: [a.buffer, b.buffer], outputs: [out.buffer], params: [n], workgroups: [n / 64, n / 32, 1], label: 'matmul probe' });
    return out;
  };
  const tiles = E.CANDIDATES.matmul.filter((t) => !E.tileMisfit(t)) as E.MatmulTile[];
  const contenders: Array<{ name: string; run: () => E.Tensor }> = [
    { name: 'engine', run: () => E.matmul(a, b) },
    { name: 'probe', run: probe },
    ...tiles.map((t) => ({ name: JSON.stringify(t), run: () => { E.setMatmulTile(t); try { return E.matmul(a, b); } finally { E.setMatmulTile(null); } } })),
  ];
  const sampleRows = [0, 1, n >> 1, n - 1];
  const ref = refMatmulRows(A, B, n, n, n, sampleRows);
  const errs: Record<string, number> = {};
  const preps: Prepared[] = [];
  try {
    for (const c of contenders) {
      const d = await c.run().data();
      const got = new Float32Array(sampleRows.length * n);
      sampleRows.forEach((r, i) => got.set(d.subarray(r * n, (r + 1) * n), i * n));
      errs[c.name] = check(`matmul ${n}² ${c.name}`, got, ref);
      preps.push({ step: () => c.run().dispose(), wait: () => E.sync(), dispose: () => {} });
    }
    // Rounds of one run per contender, in the same order each round: per-round ratios pair
    // contenders that ran seconds apart, so slow drifts of the machine's load cancel in them.
    const rounds = Math.max(5, opts().repeats + (opts().quick ? 0 : 4));
    const samples: number[][] = contenders.map(() => []);
    for (const p of preps) { p.step(); await p.wait(); }
    for (let r = 0; r < rounds; r++) {
      for (const [i, p] of preps.entries()) {
        const t0 = performance.now();
        p.step();
        await p.wait();
        samples[i].push(performance.now() - t0);
      }
    }
    const st = samples.map((x) => stats(x, 1));
    const flops = 2 * n ** 3;
    const g = st.map((x) => flops / (x.median * 1e6));
    const best = g.slice(2).reduce((bi, v, i, arr) => (v > arr[bi] ? i : bi), 0);
    const paired = (i: number, j: number) => stats(samples[i].map((t, r) => samples[j][r] / t), 1).median;
    const stat = (i: number) => st[i];
    const load = `load ${load0.toFixed(1)}→${os.loadavg()[0].toFixed(1)}`;
    const mk = (id: string, i: number, metrics: Record<string, number>, note: string): KernelRow => ({
      id, group: 'matmul', engine: 'ours', status: 'ok', flops, wall: stat(i), metrics, note,
      name: id, shape: `${n}×${n}·${n}×${n}`, ms: stat(i).median, min: stat(i).min, max: stat(i).max, gflops: g[i],
    });
    const tuned = E.getMatmulTile({ M: n, N: n, K: n });
    return [
      mk(`matmul ${n}² register-blocked probe`, 1, { dispatches: 1 },
        `40-line WGSL, 4×8 outputs/thread, vec4 loads, no workgroup memory, 8×8 workgroups; interleaved with the engine row below; ${load}`),
      mk(`matmul ${n}² engine vs probe and best tile`, 0, {
        dispatches: 1, ratioToProbe: +(g[0] / g[1]).toFixed(3), ratioToBestTile: +(g[0] / g[2 + best]).toFixed(3),
        pairedRatioToProbe: +paired(0, 1).toFixed(3), pairedRatioToBestTile: +paired(0, 2 + best).toFixed(3),
        minRatioToProbe: +(st[1].min / st[0].min).toFixed(3),
        probeGflops: +g[1].toFixed(2), bestTileGflops: +g[2 + best].toFixed(2), rounds,
      }, `engine tile ${JSON.stringify(tuned)}${E.tilesLoadedFrom() ? ' (autotuned, cached)' : ' (default table)'}; best of ${tiles.length} forced tiles in this run ${contenders[2 + best].name}; ratios of medians, medians of per-round (paired) ratios, and of the fastest runs; ${load}`),
    ];
  } finally {
    E.dispose([a, b]);
  }
}

/** Runs the kernel cases whose name/group matches `filter` (all when empty). */
export async function benchKernels(filter?: string): Promise<KernelRow[]> {
  await E.init();
  await tunedOnce();
  const rows: KernelRow[] = [];
  if (selected(filter, 'matmul probe', 'matmul')) {
    try {
      rows.push(...(await benchProbe(1024)));
    } catch (e) {
      rows.push({ id: 'matmul 1024² register-blocked probe', group: 'matmul', engine: 'ours', status: 'failed', note: errMessage(e), name: 'matmul 1024² register-blocked probe', shape: '1024²', ms: NaN, min: NaN, max: NaN });
    }
  }
  for (const c of cases()) {
    if (!selected(filter, c.name, c.group) && !c.name.startsWith('calibration')) continue;
    const kept: unknown[] = [];
    const keep = <T>(t: T): T => {
      E.keep(t);
      kept.push(t);
      return t;
    };
    const row: KernelRow = {
      id: c.spec ? specLabel(c.spec) : c.name, group: c.group, engine: 'ours', status: 'ok', spec: c.spec, flops: c.flops,
      name: c.name, shape: c.shape, ms: NaN, min: NaN, max: NaN,
    };
    try {
      const step = c.build(keep);
      let last: unknown = null;
      const it = () => {
        E.dispose(last);
        last = E.scope(() => step());
      };
      const d0 = E.counters().dispatches;
      it();
      await E.sync();
      row.metrics = { dispatches: E.counters().dispatches - d0 };
      const st = await timeIt(it, () => E.sync());
      E.dispose(last);
      row.wall = st;
      row.ms = st.median;
      row.min = st.min;
      row.max = st.max;
      if (c.flops) row.gflops = c.flops / (st.median * 1e6);
    } catch (e) {
      row.status = 'failed';
      row.note = errMessage(e);
    }
    E.dispose(kept);
    rows.push(row);
  }
  // The calibration row again at the end: the spread between the two says how steady the machine was.
  const cal = rows.findIndex((r) => r.name.startsWith('calibration'));
  if (cal >= 0 && rows.length > cal + 1) {
    const again = (await benchKernels('calibration')).filter((r) => r.name.startsWith('calibration'));
    rows.push({ ...again[0], name: 'calibration (end): engine matmul 512²', id: 'calibration end' });
  }
  return rows;
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  const filter = process.argv.slice(2).filter((a) => !a.startsWith('--')).join(' ');
  const rows = await benchKernels(filter || undefined);
  const rt = E.runtime();
  console.log(`adapter: ${JSON.stringify(rt.info.adapterInfo)} (tuning class: ${E.getAdapterClass()})`);
  console.log(['case', 'shape', 'median ms', 'min', 'max', 'GFLOP/s', 'dispatches'].join(' | '));
  for (const r of rows) {
    console.log([r.name, r.shape, r.ms.toFixed(3), r.min.toFixed(3), r.max.toFixed(3), r.gflops?.toFixed(2) ?? '', r.metrics?.dispatches ?? '', r.status === 'ok' ? '' : `FAILED ${r.note}`].join(' | '));
  }
  // the probe comparison's ratios and notes
  for (const r of rows) if (r.metrics && Object.keys(r.metrics).length > 1) console.log(`${r.name}: ${JSON.stringify(r.metrics)}${r.note ? ` (${r.note})` : ''}`);
}
