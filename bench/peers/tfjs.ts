// TensorFlow.js on its WebGPU backend, sharing our engine's GPUDevice (same adapter, same
// process). Small ops are kept on the GPU (WEBGPU_CPU_FORWARD = false). Waits go through
// `polled`, i.e. the same Dawn polling mode as our engine.
//
// The same adapter runs in Node (bench/run.ts: tfjs imported here, Dawn through env.ts's
// navigator shim) and in the browser bench page (web/src/bench.ts passes the tfjs modules and
// their version, as its bundle holds them; the device is then the page's, shared the same way).

import * as E from '../../engine/index.ts';
import { type CaseSpec, caseInputs, mlpShapes, polled, ADAM } from '../common.ts';
import { checkOutputs, transposeArray } from './reference.ts';
import { nodePackageVersion, peerEnvironment } from './env.ts';
import type { Peer } from './peer.ts';

// tfjs-core's API is all this adapter uses (the full @tensorflow/tfjs re-exports it).
type TF = typeof import('@tensorflow/tfjs-core');
type T = import('@tensorflow/tfjs-core').Tensor;
type WebGPUModule = typeof import('@tensorflow/tfjs-backend-webgpu');

export interface TfjsModules {
  tf: TF;
  webgpu: WebGPUModule;
  /** @tensorflow/tfjs(-core)'s version, for the rows' details. */
  version: string;
}

/** tfjs-webgpu as a bench peer; without `modules` (Node) it imports @tensorflow/tfjs and the WebGPU backend itself. */
export async function createTfjsPeer(modules?: TfjsModules): Promise<Peer> {
  await peerEnvironment();
  const tf: TF = modules?.tf ?? ((await import('@tensorflow/tfjs')) as unknown as TF);
  const webgpu: WebGPUModule = modules?.webgpu ?? (await import('@tensorflow/tfjs-backend-webgpu'));
  const rt = E.runtime();
  // Share our device: replace the self-registered backend with one on our GPUDevice.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  const info = { vendor: rt.info.adapterInfo.vendor, architecture: rt.info.adapterInfo.architecture } as GPUAdapterInfo;
  tf.registerBackend('webgpu', () => new webgpu.WebGPUBackend(rt.device, info), 3);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: could not set the webgpu backend');
  await tf.ready();
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const shared = (tf.backend() as unknown as { device?: GPUDevice }).device === rt.device;
  const version = modules?.version ?? nodePackageVersion('@tensorflow/tfjs', import.meta.url) ?? '?';
  const pkg = modules ? '@tensorflow/tfjs-core' : '@tensorflow/tfjs';

  const kinds = new Set(['matmul', 'conv2d', 'attention', 'linear', 'mlp_grad', 'adam', 'elementwise', 'reduce', 'roundtrip', 'dispatch']);

  return {
    name: 'tfjs-webgpu',
    version,
    details: `${pkg} ${version} + tfjs-backend-webgpu, ${shared ? 'sharing our GPUDevice' : 'its own GPUDevice on the same adapter'}, WEBGPU_CPU_FORWARD=false`,
    supports: (s) => kinds.has(s.kind),
    async prepare(spec) {
      const owned: T[] = [];
      const hold = <X extends T>(t: X) => (owned.push(t), t);
      let last: T[] = [];
      const dispose = () => {
        for (const t of last) t.dispose();
        last = [];
        for (const t of owned) t.dispose();
        owned.length = 0;
      };
      try {
        const c = build(tf, spec, hold);
        const check = c.check
          ? async () => {
              const outs = c.step();
              const data: Record<string, Float32Array> = {};
              for (const [k, t] of Object.entries(outs)) data[k] = (await polled(t.data())) as Float32Array;
              for (const t of Object.values(outs)) t.dispose();
              return checkOutputs(spec, c.check!(data));
            }
          : undefined;
        const step = async () => {
          for (const t of last) t.dispose();
          last = Object.values(c.step());
          if (c.syncEach) await polled(last[0].data());
        };
        const wait = async () => {
          if (last.length) await polled(last[0].data());
        };
        return { check, step, wait, dispose, timing: c.timing };
      } catch (e) {
        dispose();
        throw e;
      }
    },
  };
}

interface Built {
  step: () => Record<string, T>;
  /** Maps the engine's outputs (read back) to canonical layouts for checkOutputs. */
  check?: (d: Record<string, Float32Array>) => Record<string, ArrayLike<number>>;
  syncEach?: boolean;
  timing?: { maxIters?: number };
}

function build(tf: TF, s: CaseSpec, hold: <X extends T>(t: X) => X): Built {
  const inp = caseInputs(s);
  const up = (name: string, shape: number[]) => hold(tf.tensor(inp[name], shape));
  const same = (d: Record<string, Float32Array>) => d;
  switch (s.kind) {
    case 'matmul': {
      const sh = (r: number, c: number) => (s.batch > 1 ? [s.batch, r, c] : [r, c]);
      const a = up('a', sh(s.m, s.k));
      const b = up('b', sh(s.k, s.n));
      return { step: () => ({ c: tf.matMul(a, b) }), check: same };
    }
    case 'conv2d': {
      // tfjs wants NHWC input and HWIO filters: converted once, outside the timed loop.
      const x = hold(tf.tensor(transposeArray(inp.x, [s.n, s.c, s.h, s.w], [0, 2, 3, 1]), [s.n, s.h, s.w, s.c]));
      const w = hold(tf.tensor(transposeArray(inp.w, [s.o, s.c, s.kh, s.kw], [2, 3, 1, 0]), [s.kh, s.kw, s.c, s.o]));
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      const g = hold(tf.tensor(transposeArray(inp.g, [s.n, s.o, oh, ow], [0, 2, 3, 1]), [s.n, oh, ow, s.o]));
      const pad = s.pad === 0 ? 'valid' : ([[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
      const conv = (xx: T, ww: T) => tf.conv2d(xx as import('@tensorflow/tfjs-core').Tensor4D, ww as import('@tensorflow/tfjs-core').Tensor4D, s.stride, pad);
      if (!s.backward)
        return {
          step: () => ({ y: conv(x, w) }),
          check: (d) => ({ y: transposeArray(d.y, [s.n, oh, ow, s.o], [0, 3, 1, 2]) }),
        };
      const gradFn = tf.grads((xx: T, ww: T) => tf.sum(tf.mul(conv(xx, ww), g)));
      return {
        step: () => {
          const [dx, dw] = gradFn([x, w]);
          return { dx, dw };
        },
        check: (d) => ({
          dx: transposeArray(d.dx, [s.n, s.h, s.w, s.c], [0, 3, 1, 2]),
          dw: transposeArray(d.dw, [s.kh, s.kw, s.c, s.o], [3, 2, 0, 1]),
        }),
      };
    }
    case 'attention': {
      const sh = [s.b, s.heads, s.s, s.d];
      const q = up('q', sh);
      const k = up('k', sh);
      const v = up('v', sh);
      const g = up('g', sh);
      const scale = 1 / Math.sqrt(s.d);
      const attn = (qq: T, kk: T, vv: T) => tf.matMul(tf.softmax(tf.mul(tf.matMul(qq, kk, false, true), scale)), vv);
      if (!s.backward) return { step: () => ({ out: attn(q, k, v) }), check: same };
      const gradFn = tf.grads((qq: T, kk: T, vv: T) => tf.sum(tf.mul(attn(qq, kk, vv), g)));
      return {
        step: () => {
          const [dq, dk, dv] = gradFn([q, k, v]);
          return { dq, dk, dv };
        },
        check: same,
      };
    }
    case 'linear': {
      const x = up('x', [s.m, s.k]);
      const w = up('w', [s.k, s.n]);
      const b = up('b', [s.n]);
      const act = s.act === 'none' ? 'linear' : s.act;
      return {
        step: () => ({ y: tf.fused.matMul({ a: x, b: w, bias: b, activation: act as 'relu' }) }),
        check: same,
      };
    }
    case 'mlp_grad': {
      const shapes = mlpShapes(s.sizes);
      const params = shapes.map((sh, i) => up('p' + i, sh));
      const x = up('x', [s.batch, s.sizes[0]]);
      const t = up('t', [s.batch, s.sizes[s.sizes.length - 1]]);
      const L = s.sizes.length - 1;
      const loss = (...p: T[]) => {
        let h: T = x;
        for (let l = 0; l < L; l++) {
          h = tf.add(tf.matMul(h, p[2 * l]), p[2 * l + 1]);
          if (l < L - 1) h = tf.relu(h);
        }
        return tf.div(tf.sum(tf.square(tf.sub(h, t))), 2 * s.batch);
      };
      const gradFn = tf.grads(loss);
      return {
        step: () => Object.fromEntries(gradFn(params).map((g, i) => ['p' + i, g])),
        check: same,
      };
    }
    case 'adam': {
      // One optimizer step over all parameters per iteration (tf.train.adam, variables).
      const vars = s.sizes.map((sh, i) => hold(tf.variable(tf.tensor(inp['p' + i], sh), true, `adam_p${i}_${Math.random()}`)));
      const grads = s.sizes.map((sh, i) => up('g' + i, sh));
      const opt = tf.train.adam(ADAM.lr, ADAM.b1, ADAM.b2, ADAM.eps);
      const named = () => vars.map((v, i) => ({ name: v.name, tensor: grads[i] }));
      let first = true;
      return {
        step: () => {
          if (first) {
            first = false;
            opt.applyGradients(named());
            return Object.fromEntries(vars.map((v, i) => ['p' + i, tf.clone(v)]));
          }
          opt.applyGradients(named());
          return { p0: tf.clone(vars[0]) };
        },
        check: same,
      };
    }
    case 'elementwise': {
      const a = up('a', [s.n]);
      const b = up('b', [s.n]);
      return {
        step: () => ({ y: s.op === 'add' ? tf.add(a, b) : tf.tanh(tf.add(tf.mul(a, b), a)) }),
        check: same,
      };
    }
    case 'reduce': {
      const x = up('x', [s.rows, s.cols]);
      return { step: () => ({ y: s.op === 'sum_all' ? tf.sum(x) : tf.sum(x, 1) }), check: same };
    }
    case 'roundtrip': {
      const x = hold(tf.tensor([1]));
      return { step: () => ({ y: tf.add(x, 1) }), syncEach: true, timing: { maxIters: 2000 } };
    }
    case 'dispatch': {
      const x = hold(tf.tensor(new Float32Array(s.n).fill(1)));
      return {
        step: () => {
          let y: T = tf.add(x, 1);
          for (let i = 1; i < s.count; i++) {
            const z = tf.add(y, 1);
            y.dispose();
            y = z;
          }
          return { y };
        },
      };
    }
    default:
      throw new Error(`tfjs: ${s.kind} not implemented`);
  }
}
