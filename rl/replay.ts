// Experience replay for the DQN family and SCORER.
//
// Observations are stored compactly: MinAtar frames are 0/1, so by default ('auto') a buffer
// whose first observations are all 0/1 bit-packs them (8 cells a byte: Breakout's 400 floats
// become 50 bytes, 32× less than float32); 'uint8' keeps one byte a cell (for small integer
// observations) and 'float32' stores anything. A value the chosen storage cannot hold exactly
// is an error, never a silent rounding.
//
// Each transition keeps its own next observation (for a finished episode that is the final
// observation, not the autoreset one), so wrap-around needs no episode bookkeeping.
// Sampling is uniform with replacement (as CleanRL's ReplayBuffer) and draws from the caller's
// checkpointed CPU RNG, so a resumed run samples exactly what an uninterrupted one would.
// `sampleTensors` uploads the batch to the GPU: uploads only, nothing is read back. Bit-packed
// observations travel as their bits and are unpacked there (kernels/replay_unpack.ts): one
// dispatch instead of 32× the upload bytes.

import * as E from '../engine/index.ts';
import { VIEW_ALIGN_FLOATS, Tensor, allocTensor, runtime } from '../engine/tensor.ts';
import { replayUnpackKernel, replayUnpackGroups } from '../kernels/replay_unpack.ts';
import type { Rng } from '../engine/nn/rng.ts';
import type { NamedArrays } from '../engine/safetensors.ts';
import { abSwitch } from '../engine/switch.ts';

export type ObsStorage = 'bits' | 'uint8' | 'float32';

export interface ReplayOptions {
  capacity: number;
  /** Floats per observation. */
  obsSize: number;
  /** 'auto' (default): 'bits' when the first observations added are all 0/1, else 'float32'. */
  storage?: ObsStorage | 'auto';
  /**
   * Bytes the buffer may take (default: 80 % of the memory free at construction). A larger
   * buffer is refused with the size it would need.
   */
  maxBytes?: number;
}

export interface Batch {
  obs: Float32Array;
  nextObs: Float32Array;
  actions: Float32Array;
  rewards: Float32Array;
  /** 1 where the transition ended in a terminal state (no bootstrap); truncation is 0. */
  dones: Float32Array;
  indices: Int32Array<ArrayBuffer>;
}

export interface BatchTensors {
  obs: E.Tensor;
  nextObs: E.Tensor;
  actions: E.Tensor;
  rewards: E.Tensor;
  dones: E.Tensor;
}

/** Bytes one transition takes with this storage (two observations, action, reward, done). */
export function transitionBytes(obsSize: number, storage: ObsStorage): number {
  return 2 * obsBytes(obsSize, storage) + 4 + 4 + 1;
}

function obsBytes(obsSize: number, storage: ObsStorage): number {
  return storage === 'bits' ? Math.ceil(obsSize / 8) : storage === 'uint8' ? obsSize : 4 * obsSize;
}

const FORMAT = 'stackelberg-gpu/replay/v1';

const gpuUnpack = abSwitch(true);
/**
 * Whether sampleTensors uploads bit-packed observations as bits and unpacks them on the GPU
 * (default true) or decodes them on the CPU and uploads floats (the same values). Returns the
 * previous setting; for tests and benchmarks comparing the two.
 */
export const replayGpuUnpack = gpuUnpack.set;

/** 80 % of the free memory where Node tells it (no node: import, so browser builds bundle this file), else 2 GiB. */
function defaultMaxBytes(): number {
  const os = (globalThis as { process?: { getBuiltinModule?: (m: string) => { freemem(): number } | undefined } }).process?.getBuiltinModule?.('os');
  return os ? Math.floor(0.8 * os.freemem()) : 2 ** 31;
}

export class ReplayBuffer {
  readonly capacity: number;
  readonly obsSize: number;
  /** Bytes per stored observation. */
  private ob = 0;
  storage: ObsStorage | null;
  private obs: Uint8Array = new Uint8Array(0);
  private next: Uint8Array = new Uint8Array(0);
  readonly actions: Int32Array;
  readonly rewards: Float32Array;
  readonly dones: Uint8Array;
  /** Next slot to write. */
  pos = 0;
  /** Transitions held (≤ capacity). */
  size = 0;
  private readonly maxBytes: number;

  constructor(o: ReplayOptions) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new Error(`replay: capacity must be a positive integer, got ${o.capacity}`);
    if (!Number.isInteger(o.obsSize) || o.obsSize < 1) throw new Error(`replay: obsSize must be a positive integer, got ${o.obsSize}`);
    const storage = o.storage ?? 'auto';
    if (!['auto', 'bits', 'uint8', 'float32'].includes(storage)) throw new Error(`replay: storage must be one of auto, bits, uint8, float32; got '${storage}'`);
    this.capacity = o.capacity;
    this.obsSize = o.obsSize;
    this.maxBytes = o.maxBytes ?? defaultMaxBytes();
    // 'auto' decides on the first add; check now that even the smallest layout fits.
    this.checkFits(storage === 'auto' ? 'bits' : storage);
    this.actions = new Int32Array(o.capacity);
    this.rewards = new Float32Array(o.capacity);
    this.dones = new Uint8Array(o.capacity);
    this.storage = null;
    if (storage !== 'auto') this.allocate(storage);
  }

  /** Total bytes the buffer takes (or would take) with a storage. */
  bytes(storage: ObsStorage = this.storage ?? 'float32'): number {
    return this.capacity * transitionBytes(this.obsSize, storage);
  }

  private checkFits(storage: ObsStorage) {
    const need = this.bytes(storage);
    if (need > this.maxBytes) {
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
      throw new Error(`replay: ${this.capacity} transitions of ${this.obsSize}-float observations stored as ${storage} need ${mb(need)} (${transitionBytes(this.obsSize, storage)} bytes each), more than the ${mb(this.maxBytes)} allowed (80 % of free memory unless maxBytes is given); lower the capacity or use a more compact storage`);
    }
  }

  private allocate(storage: ObsStorage) {
    this.checkFits(storage);
    this.storage = storage;
    this.ob = obsBytes(this.obsSize, storage);
    this.obs = new Uint8Array(this.capacity * this.ob);
    this.next = new Uint8Array(this.capacity * this.ob);
  }

  private encode(src: Float32Array, srcOff: number, dst: Uint8Array, slot: number) {
    const n = this.obsSize, base = slot * this.ob;
    if (this.storage === 'bits') {
      for (let b = 0; b < this.ob; b++) {
        let byte = 0;
        for (let k = 0; k < 8; k++) {
          const j = b * 8 + k;
          if (j >= n) break;
          const v = src[srcOff + j];
          if (v === 1) byte |= 1 << k;
          else if (v !== 0) throw new Error(`replay: bit-packed storage holds only 0/1 observations, got ${v} at index ${j}; use storage 'uint8' or 'float32'`);
        }
        dst[base + b] = byte;
      }
    } else if (this.storage === 'uint8') {
      for (let j = 0; j < n; j++) {
        const v = src[srcOff + j];
        if (!(v >= 0 && v <= 255 && Math.round(v) === v)) throw new Error(`replay: uint8 storage holds only integers 0..255, got ${v} at index ${j}; use storage 'float32'`);
        dst[base + j] = v;
      }
    } else {
      new Float32Array(dst.buffer, dst.byteOffset + base, n).set(src.subarray(srcOff, srcOff + n));
    }
  }

  private decode(src: Uint8Array, slot: number, dst: Float32Array, dstOff: number) {
    const n = this.obsSize, base = slot * this.ob;
    if (this.storage === 'bits') {
      for (let b = 0; b < this.ob; b++) {
        const byte = src[base + b];
        const j0 = b * 8;
        const m = Math.min(8, n - j0);
        for (let k = 0; k < m; k++) dst[dstOff + j0 + k] = (byte >> k) & 1;
      }
    } else if (this.storage === 'uint8') {
      for (let j = 0; j < n; j++) dst[dstOff + j] = src[base + j];
    } else {
      dst.set(new Float32Array(src.buffer, src.byteOffset + base, n), dstOff);
    }
  }

  /**
   * Adds one transition per row: obs[i], actions[i], rewards[i], nextObs[i], terminated[i]
   * (rows of `rows` envs; row-major observations of obsSize floats). nextObs of a finished
   * episode must be its final observation.
   */
  addBatch(rows: number, obs: Float32Array, actions: ArrayLike<number>, rewards: ArrayLike<number>, nextObs: Float32Array, terminated: ArrayLike<number>) {
    const n = this.obsSize;
    if (obs.length < rows * n || nextObs.length < rows * n) throw new Error(`replay.addBatch: ${rows} rows need ${rows * n} observation floats, got ${obs.length} and ${nextObs.length}`);
    if (this.storage === null) {
      let binary = true;
      for (let j = 0; j < rows * n && binary; j++) binary = (obs[j] === 0 || obs[j] === 1) && (nextObs[j] === 0 || nextObs[j] === 1);
      this.allocate(binary ? 'bits' : 'float32');
    }
    for (let i = 0; i < rows; i++) {
      const s = this.pos;
      this.encode(obs, i * n, this.obs, s);
      this.encode(nextObs, i * n, this.next, s);
      this.actions[s] = actions[i];
      this.rewards[s] = rewards[i];
      this.dones[s] = terminated[i] ? 1 : 0;
      this.pos = (s + 1) % this.capacity;
      if (this.size < this.capacity) this.size++;
    }
  }

  /** `batch` indices uniform on [0, size), with replacement. */
  sampleIndices<T extends Int32Array>(batch: number, rng: Rng, out: T = new Int32Array(batch) as T): T {
    if (this.size === 0) throw new Error('replay: cannot sample from an empty buffer');
    for (let j = 0; j < batch; j++) out[j] = rng.int(this.size);
    return out;
  }

  private batchBuf: Batch | null = null;
  /** The batch's float arrays as one buffer (each part at a 64-float boundary, a GPU view offset): one upload a batch. */
  private packed: { data: Float32Array; offsets: number[] } | null = null;

  /** A uniform batch decoded to floats (arrays reused by the next call). */
  sample(batch: number, rng: Rng): Batch {
    const n = this.obsSize;
    const b = this.layout(batch);
    this.sampleIndices(batch, rng, b.indices);
    for (let j = 0; j < batch; j++) {
      const s = b.indices[j];
      this.decode(this.obs, s, b.obs, j * n);
      this.decode(this.next, s, b.nextObs, j * n);
      b.actions[j] = this.actions[s];
      b.rewards[j] = this.rewards[s];
      b.dones[j] = this.dones[s];
    }
    return b;
  }

  /** The batch arrays for `batch` rows (made on the first call of a size). */
  private layout(batch: number): Batch {
    const n = this.obsSize;
    if (!this.batchBuf || this.batchBuf.actions.length !== batch) {
      const sizes = [batch * n, batch * n, batch, batch, batch];
      const offsets: number[] = [];
      let total = 0;
      for (const sz of sizes) {
        offsets.push(total);
        total += Math.ceil(sz / VIEW_ALIGN_FLOATS) * VIEW_ALIGN_FLOATS;
      }
      const data = new Float32Array(total);
      const part = (i: number) => data.subarray(offsets[i], offsets[i] + sizes[i]);
      this.packed = { data, offsets };
      this.batchBuf = { obs: part(0), nextObs: part(1), actions: part(2), rewards: part(3), dones: part(4), indices: new Int32Array(batch) };
    }
    return this.batchBuf;
  }

  /**
   * A uniform batch uploaded to the GPU in one buffer write (the five tensors are views into
   * it); obsShape is the per-sample shape the network wants.
   */
  sampleTensors(batch: number, rng: Rng, obsShape: number[] = [this.obsSize]): BatchTensors {
    let all: Tensor;
    if (this.storage === 'bits' && gpuUnpack.on) all = this.sampleBits(batch, rng);
    else {
      this.sample(batch, rng);
      all = E.tensor(this.packed!.data, [this.packed!.data.length]);
    }
    const { offsets } = this.packed!;
    const out = {
      obs: all.subView(offsets[0], [batch, ...obsShape]),
      nextObs: all.subView(offsets[1], [batch, ...obsShape]),
      actions: all.subView(offsets[2], [batch]),
      rewards: all.subView(offsets[3], [batch]),
      dones: all.subView(offsets[4], [batch]),
    };
    all.dispose();
    return out;
  }

  /** The upload of sampleBits: each row's bits in whole words, then actions, rewards, dones. */
  private bitsBuf: { words: Uint32Array; bytes: Uint8Array; scalars: Float32Array; w: number } | null = null;

  /**
   * sample()'s batch (the same index draws) as the float buffer sampleTensors views, with the
   * observations uploaded as bits and unpacked by one dispatch.
   */
  private sampleBits(batch: number, rng: Rng): Tensor {
    const n = this.obsSize, ob = this.ob, w = Math.ceil(ob / 4);
    const b = this.layout(batch);
    if (!this.bitsBuf || this.bitsBuf.scalars.length !== 3 * batch || this.bitsBuf.w !== w) {
      const words = new Uint32Array(2 * batch * w + 3 * batch);
      this.bitsBuf = { words, bytes: new Uint8Array(words.buffer), scalars: new Float32Array(words.buffer, 8 * batch * w, 3 * batch), w };
    }
    const u = this.bitsBuf;
    this.sampleIndices(batch, rng, b.indices);
    for (let j = 0; j < batch; j++) {
      const s = b.indices[j];
      // a row's bytes past ob stay 0 (never written)
      u.bytes.set(this.obs.subarray(s * ob, s * ob + ob), 4 * w * j);
      u.bytes.set(this.next.subarray(s * ob, s * ob + ob), 4 * w * (batch + j));
      u.scalars[j] = this.actions[s];
      u.scalars[batch + j] = this.rewards[s];
      u.scalars[2 * batch + j] = this.dones[s];
    }
    const rt = runtime();
    const up = Tensor.fromBuffer(rt.upload(u.words), [u.words.length]);
    const { data, offsets } = this.packed!;
    const all = allocTensor([data.length]);
    rt.dispatch({
      kernel: replayUnpackKernel, inputs: [up.buffer], outputs: [all.buffer],
      params: [batch, n, w, offsets[1], offsets[2], offsets[3], offsets[4]],
      workgroups: replayUnpackGroups(batch, n), label: 'replay unpack',
    });
    up.dispose();
    return all;
  }

  /** Observation `slot` decoded (tests, debugging). */
  observation(slot: number, which: 'obs' | 'next' = 'obs'): Float32Array {
    const out = new Float32Array(this.obsSize);
    if (this.storage) this.decode(which === 'obs' ? this.obs : this.next, slot, out, 0);
    return out;
  }

  // ---------------------------------------------------------------- persistence

  /** What fromArrays needs besides the arrays. */
  meta() {
    return { format: FORMAT, capacity: this.capacity, obsSize: this.obsSize, storage: this.storage, pos: this.pos, size: this.size };
  }

  /**
   * The used part of the buffer as named typed arrays (checkpoint tensors keep their dtype:
   * observations U8, actions I32, rewards F32, dones U8). Size = size × transitionBytes
   * (Breakout bit-packed: 109 bytes a transition, 10.9 MB for 100k; Seaquest 259 bytes).
   */
  toArrays(prefix = ''): NamedArrays {
    const n = this.size, ob = this.ob;
    return {
      [`${prefix}obs`]: { data: this.obs.slice(0, n * ob), shape: [n, ob] },
      [`${prefix}next_obs`]: { data: this.next.slice(0, n * ob), shape: [n, ob] },
      [`${prefix}actions`]: { data: this.actions.slice(0, n), shape: [n] },
      [`${prefix}rewards`]: { data: this.rewards.slice(0, n), shape: [n] },
      [`${prefix}dones`]: { data: this.dones.slice(0, n), shape: [n] },
    };
  }

  /** Restores toArrays() output with its meta(); capacity and observation size must match. */
  fromArrays(arrays: NamedArrays, prefix: string, meta: ReturnType<ReplayBuffer['meta']>, what = 'checkpoint') {
    if (meta.format !== FORMAT) throw new Error(`${what}: replay format '${meta.format}' is not ${FORMAT}`);
    if (meta.capacity !== this.capacity || meta.obsSize !== this.obsSize) {
      throw new Error(`${what} holds a replay buffer of capacity ${meta.capacity} × obsSize ${meta.obsSize}, this buffer is ${this.capacity} × ${this.obsSize}`);
    }
    if (meta.storage && this.storage !== meta.storage) this.allocate(meta.storage);
    const n = meta.size;
    const get = <T>(name: string, ctor: { new (...a: never[]): T; name: string }, len: number): T => {
      const a = arrays[prefix + name];
      if (!a) throw new Error(`${what} lacks the replay array ${prefix + name}`);
      if (!(a.data instanceof ctor) || a.data.length !== len) throw new Error(`${what}: replay array ${prefix + name} is ${a.data.constructor.name}[${a.data.length}], expected ${ctor.name}[${len}]`);
      return a.data as T;
    };
    this.obs.set(get('obs', Uint8Array, n * this.ob));
    this.next.set(get('next_obs', Uint8Array, n * this.ob));
    this.actions.set(get('actions', Int32Array, n));
    this.rewards.set(get('rewards', Float32Array, n));
    this.dones.set(get('dones', Uint8Array, n));
    this.pos = meta.pos;
    this.size = n;
  }
}
