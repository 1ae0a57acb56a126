// A replay batch of bit-packed binary observations unpacked on the GPU: the host uploads each
// sampled observation's bits (MinAtar frames: 400 cells in 13 words, 32× less than floats) and
// the batch's actions, rewards and dones, and one dispatch writes the float batch the DQN
// kernels read. Why: on lavapipe a queue.writeBuffer costs about its byte count (a 32-row
// batch of two 400-float observations is 100 KB, measured 0.3–0.6 ms at load 2–7), and the
// upload sits on a greedy step's critical path (the update cannot start before it).
//
// U (u32): [obs rows][next rows], each row w words, bit k of the row's word k/32 at position
// k % 32 (the replay's byte order: cell 8b + j is bit j of byte b, bytes little-endian in a
// word); then actions, rewards and dones as f32 bits, `rows` each.
// O (f32): obs [rows, n] at 0, next obs at p.next, actions, rewards, dones at p.act, p.rew,
// p.done (float offsets): the layout ReplayBuffer.sampleTensors hands out as views.

import { flatIndex, grid, WG } from './common.ts';

export const replayUnpackKernel = {
  name: 'replay_unpack_bits',
  code: /* wgsl */ `
${flatIndex}
struct P { rows: u32, n: u32, w: u32, next: u32, act: u32, rew: u32, done: u32 }
@group(0) @binding(0) var<storage, read> U: array<u32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let f = flat_index(gid, nw);
  let cells = p.rows * p.n;
  if (f < 2u * cells) {
    let which = f / cells;
    let r = (f % cells) / p.n;
    let k = f % p.n;
    let word = U[(which * p.rows + r) * p.w + k / 32u];
    O[select(0u, p.next, which == 1u) + r * p.n + k] = f32((word >> (k % 32u)) & 1u);
    return;
  }
  let g = f - 2u * cells;
  if (g >= 3u * p.rows) { return; }
  let part = g / p.rows;
  let i = g % p.rows;
  let dst = select(select(p.done, p.rew, part == 1u), p.act, part == 0u);
  O[dst + i] = bitcast<f32>(U[2u * p.rows * p.w + g]);
}`,
};

/** Workgroups of replayUnpackKernel for `rows` observations of n cells (and their three scalars). */
export function replayUnpackGroups(rows: number, n: number): [number, number] {
  return grid(2 * rows * n + 3 * rows, WG);
}
