// The runtime: one per device. Owns the buffer pool, the pipeline cache, the open compute pass
// that eager ops encode into, the uniform-parameter arena, counters, and GPU error reporting.
//
// Why batched eager execution: on lavapipe a submit+wait round trip costs ~90 us and each
// dispatch ~20 us, so we never submit per op. Ops append dispatches to one open compute pass;
// a submit happens only at a readback, an explicit flush(), or when the parameter arena fills.

import { acquireDevice, throttledWait, type AcquireOptions, type AcquiredDevice } from './device.ts';
import { nodeBuiltin } from '../kernels/common.ts';

export interface Counters {
  dispatches: number;
  submits: number;
  readbacks: number;
  uploads: number;
  pipelines: number;
}

export interface KernelSpec {
  /** Kernel family/name, used for labels and error messages. */
  name: string;
  /** WGSL source. Bindings: inputs (read-only storage) 0..n-1, outputs n..n+m-1, params (uniform) last. */
  code: string;
  /** Pipeline-overridable constants (tile sizes, workgroup sizes). */
  constants?: Record<string, number>;
}

export interface DispatchArgs {
  kernel: KernelSpec;
  inputs: Array<GPUBuffer | GPUBufferBinding>;
  outputs: Array<GPUBuffer | GPUBufferBinding>;
  /** Raw 32-bit words for the uniform params struct (use f32bits for floats). Omit for none. */
  params?: ArrayLike<number>;
  workgroups: [number, number?, number?];
  /** The user-facing op, for error messages. */
  label: string;
}

const ARENA_BYTES = 256 * 1024;
const PARAM_STRIDE = 256; // minUniformBufferOffsetAlignment
const PARAM_MAX_BYTES = 256;

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
/** Bit pattern of a float, to pass floats through the u32 params array. */
export function f32bits(x: number): number {
  f32buf[0] = x;
  return u32buf[0];
}

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  layoutId: number;
  bindings: number;
}

/** Bind groups kept for reuse; each pins a descriptor set in the driver. */
const BIND_GROUP_CACHE = 4096;

/**
 * A full garbage collection, where the host allows one: Node (through process.getBuiltinModule,
 * so no import statement reaches a browser bundle) exposes V8's gc() after --expose-gc is set at
 * run time. Browsers manage their GPU objects themselves; there it is null.
 */
const collectGarbage: (() => void) | null = (() => {
  const g = globalThis as { gc?: () => void };
  if (typeof g.gc === 'function') return g.gc;
  const v8 = nodeBuiltin<{ setFlagsFromString(f: string): void }>('node:v8');
  const vm = nodeBuiltin<{ runInNewContext(code: string): unknown }>('node:vm');
  if (!v8 || !vm) return null;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : null;
  } catch {
    return null;
  }
})();

interface PooledBuffer {
  buffer: GPUBuffer;
  /** The buffer's id (creation order); free lists are kept in descending id order. */
  id: number;
  bytes: number;
  /** Batch in which the buffer was released; an upload must not reuse it in the same batch. */
  freedInBatch: number;
}

export class Runtime {
  readonly device: GPUDevice;
  readonly info: AcquiredDevice;
  readonly counters: Counters = { dispatches: 0, submits: 0, readbacks: 0, uploads: 0, pipelines: 0 };

  private pipelines = new Map<string, Map<string, CompiledKernel>>();
  private free = new Map<number, PooledBuffer[]>();
  private live = new Set<GPUBuffer>();
  private liveBytesCount = 0;
  private freeBytesCount = 0;
  private batch = 1;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: GPUBuffer;
  private arenaCpu = new Uint32Array(ARENA_BYTES / 4);
  private arenaUsed = 0;
  private batchOps: string[] = [];
  private pendingError: Error | null = null;
  private lostReason: string | null = null;
  private destroyed = false;
  private readbackPool: GPUBuffer[] = [];
  /** Validate mode: an error scope per dispatch, so a failure names the exact op. */
  validate = false;
  private scopes: Array<{ label: string; p: Promise<GPUError | null> }> = [];

  constructor(info: AcquiredDevice) {
    this.info = info;
    this.device = info.device;
    this.arena = this.device.createBuffer({
      label: 'param-arena',
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.device.addEventListener?.('uncapturederror', (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      if (!this.pendingError) this.pendingError = new Error(`WebGPU error: ${err.message}`);
    });
    this.device.lost?.then((info) => {
      if (!this.destroyed) this.lostReason = `${info.reason}: ${info.message}`;
    });
  }

  static async create(opts: AcquireOptions = {}): Promise<Runtime> {
    return new Runtime(await acquireDevice(opts));
  }

  // ---------------------------------------------------------------- buffers

  /** Bucketed size: multiples of 256 B up to 4 KiB, then quarter-power-of-two steps (<= 25% waste). */
  static bucket(bytes: number): number {
    const b = Math.max(4, bytes);
    if (b <= 4096) return Math.ceil(b / 256) * 256;
    const p = 2 ** Math.floor(Math.log2(b));
    const step = p / 4;
    return Math.ceil(b / step) * step;
  }

  alloc(bytes: number, forUpload = false): GPUBuffer {
    this.checkAlive('allocate a buffer');
    const size = Runtime.bucket(bytes);
    const list = this.free.get(size);
    let buf: GPUBuffer | undefined;
    if (list && list.length) {
      if (!forUpload) buf = list.pop()!.buffer;
      else {
        // queue.writeBuffer lands before the not-yet-submitted batch runs, so a buffer that
        // batch still reads must not receive an upload.
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i].freedInBatch !== this.batch) {
            buf = list.splice(i, 1)[0].buffer;
            break;
          }
        }
      }
      if (buf) this.freeBytesCount -= size;
    }
    if (!buf) {
      if (size > this.device.limits.maxStorageBufferBindingSize) {
        throw new Error(
          `tensor of ${bytes} bytes exceeds this device's maxStorageBufferBindingSize (${this.device.limits.maxStorageBufferBindingSize})`,
        );
      }
      buf = this.device.createBuffer({
        size,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      this.bufId(buf);
    }
    this.live.add(buf);
    this.liveBytesCount += size;
    return buf;
  }

  release(buf: GPUBuffer) {
    if (!this.live.delete(buf)) return;
    const size = buf.size;
    this.liveBytesCount -= size;
    if (this.destroyed) return;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    // Kept in descending id order so alloc() pops the lowest id: the same program then gets the
    // same buffers every iteration, so its bind groups repeat and the cache below hits. (Plain
    // LIFO let long-lived buffers rotate through the pool: the quadratic Stackelberg play made
    // 11,397 distinct bind groups in 100 steps, 16,005 dispatches, and hit the cache 16 % of the
    // time.)
    const id = this.bufId(buf);
    let i = list.length;
    while (i > 0 && list[i - 1].id < id) i--;
    list.splice(i, 0, { buffer: buf, id, bytes: size, freedInBatch: this.batch });
    this.freeBytesCount += size;
  }

  /** Destroys every pooled (free) buffer. Live buffers are untouched. */
  trimPool() {
    this.flush();
    for (const list of this.free.values()) for (const b of list) b.buffer.destroy();
    this.free.clear();
    this.freeBytesCount = 0;
    this.dropBindGroups();
  }

  /**
   * Forgets every cached bind group and, on Node, runs a full garbage collection. A bind group is
   * only released when its JS wrapper is collected, and WebGPU has no destroy() for it; until
   * then Dawn keeps its descriptor set, and lavapipe backs every descriptor set with its own
   * mapping of a memfd. V8 sees only small wrappers and rarely collects, so the sets piled up
   * past the kernel's 65,530-mapping limit (vm.max_map_count) and lavapipe crashed inside
   * createBindGroup (SIGSEGV in memset: the mmap had failed). Collecting here lets Dawn reuse
   * the sets. Measured on the quadratic Stackelberg play (4 × 400 steps, 64,005 dispatches each)
   * before the pool handed out the lowest id: 40,889 memfd mappings after the first 400 steps
   * and 57,556 after the second (the crash came in the third); with this collection 19,032,
   * 20,887, 20,887, 22,391. With the lowest-id pool the cache hits 98 % and it stays under 1,600.
   */
  private dropBindGroups() {
    this.bindGroups.clear();
    this.bindGroupDrops++;
    collectGarbage?.();
  }
  /** Times the bind-group cache was emptied (a high count means bind groups churn). */
  bindGroupDrops = 0;
  /** Bind groups created so far: a loop that repeats one program should stop adding to it. */
  bindGroupsCreated = 0;

  get liveBuffers() {
    return this.live.size;
  }
  get liveBytes() {
    return this.liveBytesCount;
  }
  get pooledBytes() {
    return this.freeBytesCount;
  }

  upload(data: Float32Array | Uint32Array | Int32Array): GPUBuffer {
    const buf = this.alloc(data.byteLength, true);
    if (data.byteLength > 0) {
      this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    this.counters.uploads++;
    return buf;
  }

  // ---------------------------------------------------------------- pipelines and dispatch

  private bySpec = new WeakMap<KernelSpec, CompiledKernel>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 1;
  private nextLayoutId = 1;

  /**
   * Compiles (once) a kernel with an explicit bind-group layout read off its WGSL: read-only
   * storage, storage, and a uniform params binding with a dynamic offset. The dynamic offset is
   * what makes bind groups cacheable: createBindGroup costs ~25 us on Dawn/lavapipe, more than
   * the dispatch itself, and RL loops reuse the same pooled buffers every iteration.
   */
  pipeline(spec: KernelSpec): CompiledKernel {
    const hit = this.bySpec.get(spec);
    if (hit) return hit;
    // Two levels, code then constants: the code string usually comes from a memoised kernel, so
    // V8 keeps its hash, whereas a concatenated code+constants key was a new multi-KB string to
    // flatten and hash on every dispatch of a spec built per call (~20 % of a DQN loop's JS).
    let byConstants = this.pipelines.get(spec.code);
    if (!byConstants) this.pipelines.set(spec.code, (byConstants = new Map()));
    const key = spec.constants ? JSON.stringify(spec.constants) : '';
    let p = byConstants.get(key);
    if (!p) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      for (const m of spec.code.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]+)>/g)) {
        const kind = m[2].replace(/\s+/g, '');
        const type: GPUBufferBindingType =
          kind === 'uniform' ? 'uniform' : kind === 'storage,read' ? 'read-only-storage' : 'storage';
        entries.push({
          binding: Number(m[1]),
          visibility: GPUShaderStage_COMPUTE(),
          buffer: { type, hasDynamicOffset: type === 'uniform' },
        });
      }
      const layout = this.device.createBindGroupLayout({ label: spec.name, entries });
      const module = this.device.createShaderModule({ label: spec.name, code: spec.code });
      const pipeline = this.device.createComputePipeline({
        label: spec.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants: spec.constants },
      });
      p = { pipeline, layout, layoutId: this.nextLayoutId++, bindings: entries.length };
      byConstants.set(key, p);
      this.counters.pipelines++;
    }
    this.bySpec.set(spec, p);
    return p;
  }

  private bufId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  dispatch(a: DispatchArgs) {
    this.checkAlive(a.label);
    const [x, y = 1, z = 1] = a.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (this.validate) this.device.pushErrorScope('validation');
    const k = this.pipeline(a.kernel);
    let key = String(k.layoutId);
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    for (const list of [a.inputs, a.outputs]) {
      for (const b of list) {
        const r: GPUBufferBinding = 'buffer' in b ? b : { buffer: b };
        key += `|${this.bufId(r.buffer)}:${r.offset ?? 0}:${r.size ?? -1}`;
        entries.push({ binding: binding++, resource: r });
      }
    }
    let dyn: number[] | null = null;
    if (a.params && a.params.length) {
      if (a.params.length * 4 > PARAM_MAX_BYTES) throw new Error(`${a.label}: too many kernel parameters`);
      if (this.arenaUsed + PARAM_STRIDE > ARENA_BYTES) this.flush();
      const off = this.arenaUsed;
      this.arenaCpu.set(a.params as ArrayLike<number>, off / 4);
      this.arenaUsed += PARAM_STRIDE;
      entries.push({ binding: binding++, resource: { buffer: this.arena, offset: 0, size: PARAM_MAX_BYTES } });
      dyn = [off];
    }
    if (binding !== k.bindings) {
      throw new Error(`${a.label}: kernel ${a.kernel.name} declares ${k.bindings} bindings but the call supplies ${binding}`);
    }
    let bg = this.bindGroups.get(key);
    if (!bg) {
      // Bounded: each cached bind group pins a descriptor set in the driver (lavapipe ran out
      // of descriptor-pool memory with tens of thousands cached).
      if (this.bindGroups.size >= BIND_GROUP_CACHE) this.dropBindGroups();
      bg = this.device.createBindGroup({ layout: k.layout, entries });
      this.bindGroupsCreated++;
      this.bindGroups.set(key, bg);
    }
    const pass = this.openPass();
    pass.setPipeline(k.pipeline);
    if (dyn) pass.setBindGroup(0, bg, dyn);
    else pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
    if (this.batchOps.length < 64) this.batchOps.push(a.label);
    if (this.validate) this.scopes.push({ label: a.label, p: this.device.popErrorScope() });
  }

  private openPass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  /** Encodes a buffer-to-buffer copy (outside any compute pass). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number) {
    this.checkAlive('copy');
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything encoded so far. Cheap when nothing is pending. */
  flush() {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.arenaUsed > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu.buffer, 0, this.arenaUsed);
      this.arenaUsed = 0;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.counters.submits++;
    this.batch++;
    this.lastBatchOps = this.batchOps;
    this.batchOps = [];
  }
  private lastBatchOps: string[] = [];

  /**
   * GPU errors are reported at the next asynchronous point (sync or readback): uncaptured errors
   * arrive as events, and validate-mode error scopes resolve as promises.
   */
  private async reportErrors() {
    const scopes = this.scopes;
    this.scopes = [];
    let scoped: Error | null = null;
    for (const s of scopes) {
      const err = await s.p;
      if (err && !scoped) scoped = new Error(`WebGPU validation error in ${s.label}: ${err.message}`);
    }
    const pending = this.pendingError;
    this.pendingError = null;
    if (scoped) throw scoped;
    if (pending) {
      const ops = this.lastBatchOps.length ? this.lastBatchOps : this.batchOps;
      throw new Error(
        `${pending.message}\n  (raised by a batch containing: ${ops.slice(-12).join(', ')}; init({ validate: true }) names the exact op)`,
      );
    }
  }

  private checkAlive(what: string) {
    if (this.destroyed) throw new Error(`cannot ${what}: the engine's runtime was destroyed`);
    if (this.lostReason) throw new Error(`cannot ${what}: the GPU device was lost (${this.lostReason})`);
  }

  /** Waits for all submitted work; reports any GPU error raised so far. */
  async sync() {
    this.flush();
    await throttledWait(this.device.queue.onSubmittedWorkDone(), this.info.dawnNode);
    await this.reportErrors();
    this.checkAlive('synchronize');
  }

  /** Reads `bytes` from each buffer in one submit and one wait. */
  async readMany(reqs: Array<{ buffer: GPUBuffer; offset?: number; bytes: number }>): Promise<ArrayBuffer[]> {
    this.checkAlive('read back a tensor');
    const stagings: GPUBuffer[] = [];
    for (const r of reqs) {
      const size = Math.max(4, Math.ceil(r.bytes / 4) * 4);
      const st = this.takeReadback(size);
      if (r.bytes > 0) this.copy(r.buffer, r.offset ?? 0, st, 0, size);
      stagings.push(st);
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    this.flush();
    this.counters.readbacks++;
    await Promise.all(stagings.map((s) => throttledWait(s.mapAsync(GPUMap_READ()), this.info.dawnNode)));
    const mapped = reqs.map((r, i) => stagings[i].getMappedRange(0, Math.max(4, Math.ceil(r.bytes / 4) * 4)).slice(0, r.bytes));
    for (const s of stagings) {
      s.unmap();
      this.readbackPool.push(s);
    }
    await this.reportErrors();
    this.checkAlive('read back a tensor');
    return mapped;
  }

  private takeReadback(size: number): GPUBuffer {
    // Small reads share small staging buffers (bucket() rounds them up to 256 B at least).
    const i = this.readbackPool.findIndex((b) => b.size >= size && b.size <= Math.max(size * 4, 4096));
    if (i >= 0) return this.readbackPool.splice(i, 1)[0];
    if (this.readbackPool.length > 16) this.readbackPool.shift()!.destroy();
    return this.device.createBuffer({
      size: Runtime.bucket(size),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Releases every GPU object this runtime made; destroys the device only if it created it. */
  destroy() {
    if (this.destroyed) return;
    try {
      this.flush();
    } catch {
      /* the device may already be lost */
    }
    this.destroyed = true;
    for (const list of this.free.values()) for (const b of list) b.buffer.destroy();
    for (const b of this.live) b.destroy();
    for (const b of this.readbackPool) b.destroy();
    this.free.clear();
    this.live.clear();
    this.arena.destroy();
    if (this.info.owned) this.info.device.destroy();
  }
}

// GPUMapMode is a global provided by the environment (browsers, or Dawn's globals in Node).
function GPUShaderStage_COMPUTE(): number {
  return (globalThis as unknown as { GPUShaderStage: { COMPUTE: number } }).GPUShaderStage.COMPUTE;
}
function GPUMap_READ(): number {
  return (globalThis as unknown as { GPUMapMode: { READ: number } }).GPUMapMode.READ;
}
