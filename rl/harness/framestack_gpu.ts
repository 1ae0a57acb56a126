// The frame stack of a GPU rollout (SPRIG acts on its last K frames): FrameStack's rules
// (rl/harness/envs.ts) as one kernel per vector step, so a rollout on a GPU env still reads
// nothing back. Rows are [N, K·S] (oldest frame first, as FrameStack.out); an env whose episode
// restarted has its history cleared to zeros before the new frame goes in.
import { allocTensor, runtime, Tensor } from '../../engine/tensor.ts';
import { grid, flatIndex, WG } from '../../kernels/common.ts';

// mode 0: push (clear the history of rows whose flag is set); 1: reset (clear every history);
// 2: withLast (the stack with its newest frame replaced, history kept).
const stackKernel = {
  name: 'frame_stack',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> PREV: array<f32>;
@group(0) @binding(1) var<storage, read> F: array<f32>;
// an episode restarted where either flag is set (terminated, truncated)
@group(0) @binding(2) var<storage, read> RESTART: array<f32>;
@group(0) @binding(3) var<storage, read> RESTART2: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
struct P { n: u32, s: u32, k: u32, mode: u32 }
@group(0) @binding(5) var<uniform> p: P;
${flatIndex}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let idx = flat_index(gid, nw);
  let row = p.s * p.k;
  if (idx >= p.n * row) { return; }
  let i = idx / row;
  let j = idx % row;
  let newest = (p.k - 1u) * p.s;
  if (j >= newest) { OUT[idx] = F[i * p.s + j - newest]; return; }
  let clear = p.mode == 1u || (p.mode == 0u && (RESTART[i] != 0.0 || RESTART2[i] != 0.0));
  if (clear) { OUT[idx] = 0.0; } else { OUT[idx] = PREV[idx + p.s]; }
}`,
};

function run(mode: number, prev: Tensor, frames: Tensor, restart: Tensor, restart2: Tensor, n: number, s: number, k: number): Tensor {
  if (frames.size !== n * s) throw new Error(`frame stack: frames of shape [${frames.shape}] do not hold ${n} rows of ${s}`);
  if (mode !== 1 && prev.size !== n * s * k) throw new Error(`frame stack: the stack of shape [${prev.shape}] does not hold ${n} rows of ${k} × ${s}`);
  const out = allocTensor([n, k * s]);
  runtime().dispatch({
    kernel: stackKernel, inputs: [prev.bufferFor('frame stack'), frames.bufferFor('frame stack'), restart.bufferFor('frame stack'), restart2.bufferFor('frame stack')], outputs: [out.buffer],
    params: [n, s, k, mode], workgroups: grid(n * s * k), label: 'frameStack',
  });
  return out;
}

/** FrameStack on the GPU for N envs, frames of S floats, K frames per row. */
export class GpuFrameStack {
  constructor(readonly numEnvs: number, readonly frameSize: number, readonly k: number) {
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`frame stack: k must be an integer >= 1, got ${k}`);
  }
  get size() {
    return this.frameSize * this.k;
  }
  /** A fresh stack [N, K·S]: zeros, then the first frames [N, S] as the newest. */
  reset(frames: Tensor): Tensor {
    // mode 1 never reads the previous stack or the flags: `frames` stands in for both bindings
    return run(1, frames, frames, frames, frames, this.numEnvs, this.frameSize, this.k);
  }
  /**
   * The next stack: history shifted by one frame (cleared where `restarted` [N] is non-zero, or
   * `restarted2`: a GPU env's terminated and truncated flags, read as they are), `frames` newest.
   */
  push(prev: Tensor, frames: Tensor, restarted: Tensor, restarted2: Tensor = restarted): Tensor {
    for (const r of [restarted, restarted2]) if (r.size !== this.numEnvs) throw new Error(`frame stack: ${r.size} restart flags for ${this.numEnvs} envs`);
    return run(0, prev, frames, restarted, restarted2, this.numEnvs, this.frameSize, this.k);
  }
  /** `prev` with its newest frame replaced by `frames` (a final observation), history kept. */
  withLast(prev: Tensor, frames: Tensor): Tensor {
    return run(2, prev, frames, frames, frames, this.numEnvs, this.frameSize, this.k);
  }
}
