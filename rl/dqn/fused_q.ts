// Q-values without gradient from the released SCORER MinAtar network (encoder 'mlp', plain
// head) in one dispatch (kernels/q_mlp.ts): the TD target's next-state values (the target
// network, and Double DQN's online-head selector sharing its features) and greedy acting.
// Returns null where the network is not that shape (conv encoder, dueling head, hidden wider
// than the kernel's workgroup memory, input not a multiple of 4): callers then take the
// layer-by-layer path (QNetwork.q), which computes the same function.

import * as E from '../../engine/index.ts';
import { allocTensor, runtime, VIEW_ALIGN_FLOATS } from '../../engine/tensor.ts';
import { qMlpKernel, qMlpRows, Q_MLP_HMAX } from '../../kernels/q_mlp.ts';
import type { QNetwork } from './nets.ts';
import { abSwitch } from '../../engine/switch.ts';

type Tensor = E.Tensor;
const ENC = ['0.weight', '0.bias', '1.weight', '1.bias'];
const HEAD = ['0.weight', '0.bias', '1.weight', '1.bias'];

/** The parameter buffer and its leaves' float offsets (all four leaves must share one buffer, 16-byte aligned). */
function locate(p: E.Params, names: string[]): { buffer: GPUBuffer; offsets: number[]; shapes: number[][] } | null {
  const named = E.namedParams(p);
  if (Object.keys(named).length !== names.length || !names.every((n) => named[n])) return null;
  let buffer: GPUBuffer | null = null;
  const offsets: number[] = [], shapes: number[][] = [];
  for (const n of names) {
    const b = named[n].bufferFor('fused Q forward');
    if (buffer && b.buffer !== buffer) return null;
    if (b.offset % 16 !== 0) return null;
    buffer = b.buffer;
    offsets.push(b.offset / 4);
    shapes.push(named[n].shape);
  }
  return { buffer: buffer!, offsets, shapes };
}

const enabled = abSwitch(true);
/**
 * Whether the DQN family takes the fused forward where it applies (default true); false makes
 * it compute every Q-value layer by layer, for benchmarks comparing the two in one process.
 * Returns the previous setting.
 */
export const fusedQEnabled = enabled.set;

/** Whether `net` is the network the fused forward computes (the MLP encoder and a plain head) and the fused path is on. */
export function fusedQSupported(net: QNetwork): boolean {
  return enabled.on && net.encoder.kind === 'ScorerEncoder' && net.head.kind === 'QHead';
}

/**
 * Q-values [B, A] of `heads` (1 or 2 head parameter trees) on the features encoder(x), no
 * gradient, one dispatch; null where the shapes do not fit the kernel.
 */
export function fusedQ(net: QNetwork, encoder: E.Params, heads: E.Params[], x: Tensor): Tensor[] | null {
  return forward(net, encoder, heads, x, false);
}

/**
 * The greedy actions [B] (argmax of Q, first index on ties, as floats) of one head on
 * encoder(x), no gradient, in the same single dispatch; null where fusedQ would be.
 */
export function fusedGreedy(net: QNetwork, encoder: E.Params, head: E.Params, x: Tensor): Tensor | null {
  return forward(net, encoder, [head], x, true)?.[0] ?? null;
}

function forward(net: QNetwork, encoder: E.Params, heads: E.Params[], x: Tensor, greedy: boolean): Tensor[] | null {
  if (!fusedQSupported(net) || heads.length < 1 || heads.length > 2 || (greedy && heads.length !== 1)) return null;
  const e = locate(encoder, ENC);
  const h = heads.map((hp) => locate(hp, HEAD));
  if (!e || h.some((v) => !v)) return null;
  const [H, IN] = e.shapes[0];
  const A = h[0]!.shapes[2][0];
  if (H > Q_MLP_HMAX || H % 4 !== 0 || IN % 4 !== 0 || e.shapes[2][0] !== H || e.shapes[2][1] !== H) return null;
  for (const v of h) if (v!.shapes[0][0] !== H || v!.shapes[0][1] !== H || v!.shapes[2][0] !== A || v!.shapes[2][1] !== H) return null;
  const B = x.shape[0];
  const rb = qMlpRows(B);
  if (x.size !== B * IN || B < 1 || Math.ceil(B / rb) > 65535) return null;
  const g = h[1] ?? h[0]!;
  // the second head's values start at a view boundary
  const o2 = Math.ceil((B * A) / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
  if (greedy && A > Q_MLP_HMAX) return null;
  const out = allocTensor([greedy ? B : heads.length === 2 ? o2 + B * A : B * A]);
  const whole = (buffer: GPUBuffer) => ({ buffer, offset: 0, size: buffer.size });
  runtime().dispatch({
    kernel: qMlpKernel(heads.length as 1 | 2, greedy, rb),
    inputs: [x.bufferFor('fused Q forward'), whole(e.buffer), whole(h[0]!.buffer), whole(g.buffer), whole(e.buffer)],
    outputs: [out.buffer],
    params: [B, IN, H, A, E.f32bits(1e-8), ...e.offsets, ...h[0]!.offsets, ...g.offsets, o2],
    workgroups: [Math.ceil(B / rb)],
    label: 'fused Q forward',
  });
  if (greedy) return [out];
  if (heads.length === 1) return [E.reshape(out, [B, A])];
  const r = [out.subView(0, [B, A]), out.subView(o2, [B, A])];
  out.dispose();
  return r;
}
