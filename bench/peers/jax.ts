// jax-js on its WebGPU device (its own GPUDevice on the same Dawn adapter, same process).
// Every differentiable case runs under `jit` (jax-js fuses and records an execution graph
// there), as a JAX user would write it. jax-js arrays are reference-counted and ops consume
// their inputs, hence the `.ref`s. jax-js is lazy: each iteration's result is dispatched with
// `blockUntilReady()` (not awaited) so iterations are encoded back to back like ours; waits go
// through `polled`, the same Dawn polling mode as our engine.
//
// The same adapter runs in Node (bench/run.ts: Dawn through env.ts's navigator shim) and in the
// browser bench page (web/src/bench.ts passes the jax-js module and its version, as its bundle
// holds them; jax-js then asks navigator.gpu for its own device, as in Node).

import { type CaseSpec, caseInputs, mlpShapes, polled, ADAM } from '../common.ts';
import { checkOutputs } from './reference.ts';
import { nodePackageVersion, peerEnvironment } from './env.ts';
import type { Peer } from './peer.ts';

type JAX = typeof import('@jax-js/jax');
type A = import('@jax-js/jax').Array;

/** jax-js as a bench peer; without `modules` (Node) it imports @jax-js/jax itself. */
export async function createJaxPeer(modules?: { jax: JAX; version: string }): Promise<Peer> {
  await peerEnvironment();
  const jax: JAX = modules?.jax ?? (await import('@jax-js/jax'));
  const devs = await jax.init();
  if (!devs.includes('webgpu')) throw new Error(`jax-js: no webgpu device (has ${devs.join(', ')})`);
  jax.defaultDevice('webgpu');
  const version = modules?.version ?? nodePackageVersion('@jax-js/jax', import.meta.url) ?? '?';
  const kinds = new Set(['matmul', 'conv2d', 'attention', 'linear', 'mlp_grad', 'adam', 'elementwise', 'reduce', 'roundtrip', 'dispatch', 'hvp_mlp']);

  return {
    name: 'jax-js',
    version,
    details: `@jax-js/jax ${version}, webgpu device, jit on every fused/differentiated case`,
    supports: (s) => kinds.has(s.kind),
    async prepare(spec) {
      const owned: A[] = [];
      const disposers: Array<() => void> = [];
      let pending: Promise<unknown>[] = [];
      const dispose = () => {
        for (const a of owned) {
          try {
            if (a.refCount > 0) a.dispose();
          } catch {
            /* already gone */
          }
        }
        owned.length = 0;
        for (const d of disposers) d();
        disposers.length = 0;
      };
      try {
        const c = build(jax, spec, owned, disposers);
        const check = c.check
          ? async () => {
              const outs = c.step();
              const data: Record<string, Float32Array> = {};
              for (const [k, t] of Object.entries(outs)) data[k] = (await polled(t.data())) as Float32Array;
              return checkOutputs(spec, data);
            }
          : undefined;
        const step = async () => {
          const outs = Object.values(c.step());
          if (c.syncEach) {
            await polled(outs[0].data());
            for (const o of outs.slice(1)) o.dispose();
          } else for (const o of outs) pending.push(o.blockUntilReady().then((r) => r.dispose()));
        };
        const wait = async () => {
          const p = pending;
          pending = [];
          await polled(Promise.all(p));
        };
        return { check, step, wait, dispose, timing: c.timing, note: c.note };
      } catch (e) {
        dispose();
        throw e;
      }
    },
  };
}

interface Built {
  note?: string;
  step: () => Record<string, A>;
  check?: boolean;
  syncEach?: boolean;
  timing?: { maxIters?: number };
}

function build(jax: JAX, s: CaseSpec, owned: A[], disposers: Array<() => void>): Built {
  const np = jax.numpy;
  const inp = caseInputs(s);
  const up = (name: string, shape: number[]) => {
    const a = np.array(inp[name]).reshape(shape);
    owned.push(a);
    return a;
  };
  const jit = <F extends (...args: any[]) => any>(f: F) => {
    const j = jax.jit(f);
    disposers.push(() => (j as unknown as { dispose?: () => void }).dispose?.());
    return j as unknown as F;
  };
  switch (s.kind) {
    case 'matmul': {
      const sh = (r: number, c: number) => (s.batch > 1 ? [s.batch, r, c] : [r, c]);
      const a = up('a', sh(s.m, s.k));
      const b = up('b', sh(s.k, s.n));
      return { step: () => ({ c: np.matmul(a.ref, b.ref) }), check: true };
    }
    case 'conv2d': {
      const x = up('x', [s.n, s.c, s.h, s.w]);
      const w = up('w', [s.o, s.c, s.kh, s.kw]);
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      const g = up('g', [s.n, s.o, oh, ow]);
      const pad = s.pad === 0 ? 'VALID' : ([[s.pad, s.pad], [s.pad, s.pad]] as [number, number][]);
      const conv = (xx: A, ww: A) => jax.lax.convGeneralDilated(xx, ww, [s.stride, s.stride], pad as 'VALID');
      if (!s.backward) {
        const f = jit(conv);
        return { step: () => ({ y: f(x.ref, w.ref) }), check: true };
      }
      const f = jit((xx: A, ww: A, gg: A) => jax.grad((x2: A, w2: A) => conv(x2, w2).mul(gg).sum(), { argnums: [0, 1] })(xx, ww));
      return {
        step: () => {
          const [dx, dw] = f(x.ref, w.ref, g.ref) as unknown as [A, A];
          return { dx, dw };
        },
        check: true,
      };
    }
    case 'attention': {
      const sh = [s.b, s.heads, s.s, s.d];
      const q = up('q', sh);
      const k = up('k', sh);
      const v = up('v', sh);
      const g = up('g', sh);
      const scale = 1 / Math.sqrt(s.d);
      const attn = (qq: A, kk: A, vv: A) => np.matmul(jax.nn.softmax(np.matmul(qq, np.swapaxes(kk, -1, -2)).mul(scale), -1), vv);
      if (!s.backward) {
        const f = jit(attn);
        return { step: () => ({ out: f(q.ref, k.ref, v.ref) }), check: true };
      }
      const f = jit((qq: A, kk: A, vv: A, gg: A) => jax.grad((a: A, b: A, c: A) => attn(a, b, c).mul(gg).sum(), { argnums: [0, 1, 2] })(qq, kk, vv));
      return {
        step: () => {
          const [dq, dk, dv] = f(q.ref, k.ref, v.ref, g.ref) as unknown as [A, A, A];
          return { dq, dk, dv };
        },
        check: true,
      };
    }
    case 'linear': {
      const x = up('x', [s.m, s.k]);
      const w = up('w', [s.k, s.n]);
      const b = up('b', [s.n]);
      const f = jit((xx: A, ww: A, bb: A) => {
        const z = np.matmul(xx, ww).add(bb);
        return s.act === 'relu' ? jax.nn.relu(z) : s.act === 'tanh' ? np.tanh(z) : z;
      });
      return { step: () => ({ y: f(x.ref, w.ref, b.ref) }), check: true };
    }
    case 'mlp_grad':
    case 'hvp_mlp': {
      const shapes = mlpShapes(s.sizes);
      const params = shapes.map((sh, i) => up('p' + i, sh));
      const x = up('x', [s.batch, s.sizes[0]]);
      const t = up('t', [s.batch, s.sizes[s.sizes.length - 1]]);
      const L = s.sizes.length - 1;
      const loss = (p: A[], xx: A, tt: A) => {
        let h: A = xx;
        for (let l = 0; l < L; l++) {
          h = np.matmul(h, p[2 * l]).add(p[2 * l + 1]);
          if (l < L - 1) h = jax.nn.relu(h);
        }
        return np.square(h.sub(tt)).sum().div(2 * s.batch);
      };
      if (s.kind === 'mlp_grad') {
        const f = jit((p: A[], xx: A, tt: A) => jax.grad(loss)(p, xx, tt));
        return {
          step: () => Object.fromEntries((f(params.map((p) => p.ref), x.ref, t.ref) as unknown as A[]).map((g, i) => ['p' + i, g])),
          check: true,
        };
      }
      // HVP = jvp(grad f)(p; v), forward-over-reverse, as jax-js documents it.
      const vs = shapes.map((sh, i) => {
        const a = np.array(inp['p' + i]).reshape(sh);
        owned.push(a);
        return a;
      });
      const f = jit((p: A[], v: A[], xx: A, tt: A) => jax.jvp((pp: A[]) => jax.grad(loss)(pp, xx, tt), [p], [v])[1]);
      return { step: () => Object.fromEntries((f(params.map((p) => p.ref), vs.map((v) => v.ref), x.ref, t.ref) as unknown as A[]).map((g, i) => ['p' + i, g])) };
    }
    case 'adam': {
      // One fused (jit) Adam step over all parameters per iteration; moments carried across iterations.
      let p = s.sizes.map((sh, i) => np.array(inp['p' + i]).reshape(sh));
      let m = s.sizes.map((sh) => np.zeros(sh));
      let v = s.sizes.map((sh) => np.zeros(sh));
      const gs = s.sizes.map((sh, i) => up('g' + i, sh));
      let t = 0;
      const f = jit((pp: A[], mm: A[], vv: A[], g: A[], c1: A, c2: A) => {
        const P: A[] = [];
        const M: A[] = [];
        const V: A[] = [];
        for (let i = 0; i < pp.length; i++) {
          const mi = mm[i].mul(ADAM.b1).add(g[i].ref.mul(1 - ADAM.b1));
          const vi = vv[i].mul(ADAM.b2).add(np.square(g[i]).mul(1 - ADAM.b2));
          P.push(pp[i].sub(mi.ref.mul(c1.ref).div(np.sqrt(vi.ref.mul(c2.ref)).add(ADAM.eps))));
          M.push(mi);
          V.push(vi);
        }
        c1.dispose();
        c2.dispose();
        return [P, M, V];
      });
      disposers.push(() => {
        for (const a of [...p, ...m, ...v]) a.dispose();
      });
      return {
        step: () => {
          t++;
          const c1 = np.array(new Float32Array([ADAM.lr / (1 - ADAM.b1 ** t)]));
          const c2 = np.array(new Float32Array([1 / (1 - ADAM.b2 ** t)]));
          [p, m, v] = f(p, m, v, gs.map((g) => g.ref), c1, c2) as unknown as [A[], A[], A[]];
          return { p0: p[0].ref, ...(t === 1 ? Object.fromEntries(p.slice(1).map((a, i) => ['p' + (i + 1), a.ref])) : {}) };
        },
        check: true,
      };
    }
    case 'elementwise': {
      const a = up('a', [s.n]);
      const b = up('b', [s.n]);
      const f = jit((x: A, y: A) => (s.op === 'add' ? x.add(y) : np.tanh(x.ref.mul(y).add(x))));
      return { step: () => ({ y: f(a.ref, b.ref) }), check: true };
    }
    case 'reduce': {
      const x = up('x', [s.rows, s.cols]);
      return { step: () => ({ y: s.op === 'sum_all' ? np.sum(x.ref) : np.sum(x.ref, 1) }), check: true };
    }
    case 'roundtrip': {
      const x = np.array(new Float32Array([1]));
      owned.push(x);
      return {
        step: () => ({ y: x.ref.add(1) }),
        syncEach: true,
        timing: { maxIters: 2000 },
        note: 'below the adapter\'s own round trip: jax-js seems to answer this 1-element case without a GPU round trip',
      };
    }
    case 'dispatch': {
      const x = np.ones([s.n]);
      owned.push(x);
      return {
        note: 'each op realised with blockUntilReady so jax-js cannot fuse the chain',
        step: () => {
          // Each op realised on its own so jax-js cannot fuse the chain into one kernel.
          let y: A = x.ref.add(1);
          for (let i = 1; i < s.count; i++) {
            void y.ref.blockUntilReady().then((r) => r.dispose());
            y = y.add(1);
          }
          return { y };
        },
      };
    }
    default:
      throw new Error(`jax-js: ${(s as CaseSpec).kind} not implemented`);
  }
}
