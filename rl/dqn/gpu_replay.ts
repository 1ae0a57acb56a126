// The replay buffer on the GPU, for DQN-family runs on a GPU env (cfg.envDevice 'gpu'): a
// vector step's transitions go from the env's output tensors into the buffer by one kernel,
// with no readback; a batch is gathered on the GPU from indices drawn on the caller's CPU Rng
// (rng.int(size), as ReplayBuffer.sampleIndices draws them) and uploaded, so a run on the GPU
// env samples exactly the transitions its CPU twin samples. Layout and checkpoint format are
// ReplayBuffer's (rl/replay.ts): 0/1 observations bit-packed (32 cells a u32 word, whose little-
// endian bytes are ReplayBuffer's 8-cells-a-byte layout), other observations as float32; the
// next observation of a finished episode is its final one.

import { runtime, Tensor } from '../../engine/tensor.ts';
import type { Rng } from '../../engine/nn/rng.ts';
import type { NamedArrays } from '../../engine/safetensors.ts';
import { ReplayBuffer, type BatchTensors, type ObsStorage } from '../replay.ts';

const WG = 64;

function kernels(S: number, bits: boolean) {
  const W = bits ? Math.ceil(S / 32) : S; // u32 words per observation
  // write: one thread per (row, word); word 0 also writes the row's scalars
  const write = {
    name: `replay_write_${bits ? 'bits' : 'f32'}_${S}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> OBS: array<f32>;
@group(0) @binding(1) var<storage, read> NOBS: array<f32>;
@group(0) @binding(2) var<storage, read> FIN: array<f32>;
@group(0) @binding(3) var<storage, read> ACT: array<f32>;
@group(0) @binding(4) var<storage, read> REW: array<f32>;
@group(0) @binding(5) var<storage, read> TERM: array<f32>;
@group(0) @binding(6) var<storage, read> TRUNC: array<f32>;
@group(0) @binding(7) var<storage, read_write> RO: array<u32>;
@group(0) @binding(8) var<storage, read_write> RN: array<u32>;
// (action, reward, terminal) per slot: one buffer, as the adapter allows 10 storage bindings
@group(0) @binding(9) var<storage, read_write> RS: array<f32>;
struct P { rows: u32, pos: u32, cap: u32 }
@group(0) @binding(10) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  if (t >= p.rows * ${W}u) { return; }
  let i = t / ${W}u;
  let w = t % ${W}u;
  let slot = (p.pos + i) % p.cap;
  let done = TERM[i] > 0.5 || TRUNC[i] > 0.5;
  ${bits ? /* wgsl */ `
  var o = 0u;
  var n = 0u;
  for (var k = 0u; k < 32u; k++) {
    let j = w * 32u + k;
    if (j >= ${S}u) { break; }
    if (OBS[i * ${S}u + j] > 0.5) { o = o | (1u << k); }
    let nv = select(NOBS[i * ${S}u + j], FIN[i * ${S}u + j], done);
    if (nv > 0.5) { n = n | (1u << k); }
  }
  RO[slot * ${W}u + w] = o;
  RN[slot * ${W}u + w] = n;` : /* wgsl */ `
  RO[slot * ${W}u + w] = bitcast<u32>(OBS[i * ${S}u + w]);
  RN[slot * ${W}u + w] = bitcast<u32>(select(NOBS[i * ${S}u + w], FIN[i * ${S}u + w], done));`}
  if (w == 0u) {
    RS[3u * slot] = ACT[i];
    RS[3u * slot + 1u] = REW[i];
    RS[3u * slot + 2u] = select(0.0, 1.0, TERM[i] > 0.5);
  }
}`,
  };
  // gather: one thread per (batch row, cell); cell 0 also copies the scalars
  const gather = {
    name: `replay_gather_${bits ? 'bits' : 'f32'}_${S}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> IDX: array<u32>;
@group(0) @binding(1) var<storage, read> RO: array<u32>;
@group(0) @binding(2) var<storage, read> RN: array<u32>;
@group(0) @binding(3) var<storage, read> RS: array<f32>;
@group(0) @binding(4) var<storage, read_write> BO: array<f32>;
@group(0) @binding(5) var<storage, read_write> BN: array<f32>;
@group(0) @binding(6) var<storage, read_write> BA: array<f32>;
@group(0) @binding(7) var<storage, read_write> BR: array<f32>;
@group(0) @binding(8) var<storage, read_write> BD: array<f32>;
struct P { batch: u32 }
@group(0) @binding(9) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.y * ${WG * 1024}u + gid.x;
  if (t >= p.batch * ${S}u) { return; }
  let r = t / ${S}u;
  let j = t % ${S}u;
  let s = IDX[r];
  ${bits ? /* wgsl */ `
  BO[t] = f32((RO[s * ${W}u + j / 32u] >> (j % 32u)) & 1u);
  BN[t] = f32((RN[s * ${W}u + j / 32u] >> (j % 32u)) & 1u);` : /* wgsl */ `
  BO[t] = bitcast<f32>(RO[s * ${W}u + j]);
  BN[t] = bitcast<f32>(RN[s * ${W}u + j]);`}
  if (j == 0u) {
    BA[r] = RS[3u * s];
    BR[r] = RS[3u * s + 1u];
    BD[r] = RS[3u * s + 2u];
  }
}`,
  };
  return { W, write, gather };
}

export interface GpuReplayOptions {
  capacity: number;
  obsSize: number;
  /** 'bits' for 0/1 observations (MinAtar), 'float32' otherwise. */
  storage: 'bits' | 'float32';
}

export class GpuReplay {
  readonly capacity: number;
  readonly obsSize: number;
  readonly storage: ObsStorage;
  pos = 0;
  size = 0;
  private readonly k: ReturnType<typeof kernels>;
  private readonly RO: GPUBuffer;
  private readonly RN: GPUBuffer;
  private readonly RS: GPUBuffer;
  private disposed = false;

  constructor(o: GpuReplayOptions) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new Error(`replay: capacity must be a positive integer, got ${o.capacity}`);
    if (!Number.isInteger(o.obsSize) || o.obsSize < 1) throw new Error(`replay: obsSize must be a positive integer, got ${o.obsSize}`);
    this.capacity = o.capacity;
    this.obsSize = o.obsSize;
    this.storage = o.storage;
    this.k = kernels(o.obsSize, o.storage === 'bits');
    const rt = runtime();
    const words = o.capacity * this.k.W;
    const limit = rt.device.limits.maxStorageBufferBindingSize;
    if (4 * words > limit) throw new Error(`replay on the GPU: ${o.capacity} observations of ${this.k.W} words need ${(4 * words / 2 ** 20).toFixed(1)} MiB per buffer, more than this adapter's ${(limit / 2 ** 20).toFixed(0)} MiB binding limit; lower bufferSize or use envDevice 'cpu'`);
    this.RO = rt.alloc(4 * words);
    this.RN = rt.alloc(4 * words);
    this.RS = rt.alloc(12 * o.capacity);
  }

  /**
   * One vector step's transitions, from a GPU env's step: obs [rows, S] (acted on), actions,
   * and the step's results (next obs, final obs where done, rewards, terminated, truncated).
   * Only true terminals stop bootstrapping. No readback.
   */
  addGpu(rows: number, obs: Tensor, actions: Tensor, r: { obs: Tensor; finalObs: Tensor; rewards: Tensor; terminated: Tensor; truncated: Tensor }) {
    if (this.disposed) throw new Error('replay: used after dispose()');
    if (rows > this.capacity) throw new Error(`replay.addGpu: ${rows} rows in one step exceed the capacity ${this.capacity} (two rows would race for one slot); raise bufferSize to at least numEnvs`);
    if (obs.size !== rows * this.obsSize) throw new Error(`replay.addGpu: ${rows} rows need observations of ${rows * this.obsSize} floats, got [${obs.shape.join(', ')}]`);
    const b = (t: Tensor) => t.bufferFor('replay.addGpu');
    runtime().dispatch({
      kernel: this.k.write,
      inputs: [b(obs), b(r.obs), b(r.finalObs), b(actions), b(r.rewards), b(r.terminated), b(r.truncated)],
      outputs: [this.RO, this.RN, this.RS],
      params: [rows, this.pos, this.capacity],
      workgroups: [Math.ceil((rows * this.k.W) / WG)],
      label: this.k.write.name,
    });
    // pos and size advance on the CPU (ReplayBuffer.addBatch's arithmetic): nothing to read back
    this.pos = (this.pos + rows) % this.capacity;
    this.size = Math.min(this.capacity, this.size + rows);
  }

  /** As ReplayBuffer.sampleTensors: indices from the caller's Rng, the batch gathered on the GPU. */
  sampleTensors(batch: number, rng: Rng, obsShape: number[] = [this.obsSize]): BatchTensors {
    if (this.size === 0) throw new Error('replay: cannot sample from an empty buffer');
    const idx = new Uint32Array(batch);
    for (let j = 0; j < batch; j++) idx[j] = rng.int(this.size);
    const rt = runtime();
    const ib = rt.upload(idx);
    const S = this.obsSize;
    const t = (shape: number[]) => Tensor.fromBuffer(rt.alloc(4 * shape.reduce((a, c) => a * c, 1)), shape);
    const out: BatchTensors = { obs: t([batch, ...obsShape]), nextObs: t([batch, ...obsShape]), actions: t([batch]), rewards: t([batch]), dones: t([batch]) };
    const groups = Math.ceil((batch * S) / WG);
    rt.dispatch({
      kernel: this.k.gather,
      inputs: [ib, this.RO, this.RN, this.RS],
      outputs: [out.obs.buffer, out.nextObs.buffer, out.actions.buffer, out.rewards.buffer, out.dones.buffer],
      params: [batch],
      workgroups: groups > 1024 ? [1024, Math.ceil(groups / 1024)] : [groups],
      label: this.k.gather.name,
    });
    rt.release(ib);
    return out;
  }

  meta() {
    return { format: 'stackelberg-gpu/replay/v1', capacity: this.capacity, obsSize: this.obsSize, storage: this.storage as ObsStorage | null, pos: this.pos, size: this.size };
  }

  /** ReplayBuffer.toArrays()'s arrays (one readback), so checkpoints move between the two. */
  async toArrays(prefix = ''): Promise<NamedArrays> {
    const n = this.size, W = this.k.W;
    const [o, nx, sc] = await runtime().readMany([
      { buffer: this.RO, bytes: 4 * W * Math.max(1, n) },
      { buffer: this.RN, bytes: 4 * W * Math.max(1, n) },
      { buffer: this.RS, bytes: 12 * Math.max(1, n) },
    ]);
    const S3 = new Float32Array(sc);
    const col = (c: number) => Float32Array.from({ length: n }, (_, s) => S3[3 * s + c]);
    const ob = this.storage === 'bits' ? Math.ceil(this.obsSize / 8) : 4 * this.obsSize;
    const obs = (src: ArrayBuffer) => {
      const bytes = new Uint8Array(src), outp = new Uint8Array(n * ob);
      for (let s = 0; s < n; s++) outp.set(bytes.subarray(4 * W * s, 4 * W * s + ob), s * ob);
      return outp;
    };
    return {
      [`${prefix}obs`]: { data: obs(o), shape: [n, ob] },
      [`${prefix}next_obs`]: { data: obs(nx), shape: [n, ob] },
      [`${prefix}actions`]: { data: Int32Array.from(col(0)), shape: [n] },
      [`${prefix}rewards`]: { data: col(1), shape: [n] },
      [`${prefix}dones`]: { data: Uint8Array.from(col(2)), shape: [n] },
    };
  }

  /** Restores toArrays() output (or a CPU ReplayBuffer's) with its meta(). */
  fromArrays(arrays: NamedArrays, prefix: string, meta: ReturnType<ReplayBuffer['meta']>, what = 'checkpoint') {
    // ReplayBuffer checks the format, sizes and dtypes; it then holds the arrays to upload.
    const cpu = new ReplayBuffer({ capacity: this.capacity, obsSize: this.obsSize, storage: this.storage, maxBytes: Infinity });
    if (meta.storage && meta.storage !== this.storage) throw new Error(`${what}: its replay stores observations as ${meta.storage}; on the GPU this run stores them as ${this.storage}`);
    cpu.fromArrays(arrays, prefix, meta, what);
    const n = meta.size, W = this.k.W;
    const ob = this.storage === 'bits' ? Math.ceil(this.obsSize / 8) : 4 * this.obsSize;
    const words = (src: Uint8Array) => {
      const u8 = new Uint8Array(4 * W * Math.max(1, n));
      for (let s = 0; s < n; s++) u8.set(src.subarray(s * ob, (s + 1) * ob), 4 * W * s);
      return u8;
    };
    const a = arrays[`${prefix}obs`]!.data as Uint8Array, nx = arrays[`${prefix}next_obs`]!.data as Uint8Array;
    const rt = runtime();
    rt.flush();
    const q = rt.device.queue;
    q.writeBuffer(this.RO, 0, words(a));
    q.writeBuffer(this.RN, 0, words(nx));
    const sc = new Float32Array(3 * Math.max(1, n));
    for (let s = 0; s < n; s++) {
      sc[3 * s] = cpu.actions[s];
      sc[3 * s + 1] = cpu.rewards[s];
      sc[3 * s + 2] = cpu.dones[s];
    }
    q.writeBuffer(this.RS, 0, sc);
    this.pos = meta.pos;
    this.size = n;
  }

  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    const rt = runtime();
    for (const b of [this.RO, this.RN, this.RS]) rt.release(b);
  }
}

/**
 * Observations stored bit-packed on the GPU where they are 0/1 (MinAtar's frames, the MDP's
 * one-hot state): what ReplayBuffer's 'auto' picks for them, so checkpoints move both ways.
 */
export function gpuReplayStorage(envId: string): 'bits' | 'float32' {
  return envId.startsWith('minatar/') || envId === 'mdp/three-state' ? 'bits' : 'float32';
}
