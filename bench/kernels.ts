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
import { type CaseSpec, type Row, KERNEL_CASES, mlpShapes, timeIt, selected, specFlops, specLabel, errMessage } from './common.ts';

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

/** Runs the kernel cases whose name/group matches `filter` (all when empty). */
export async function benchKernels(filter?: string): Promise<KernelRow[]> {
  await E.init();
  const rows: KernelRow[] = [];
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
  if (rows.length && rows[0].name.startsWith('calibration') && rows.length > 1) {
    const again = await benchKernels('calibration');
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
}
