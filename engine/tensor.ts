// Tensors, the global runtime, memory scopes and autodiff graph recording.
//
// A Tensor is a shape plus a reference-counted GPU buffer (views such as reshape share it) and,
// when it was computed from something being differentiated, the GradNode that made it.
// Tensors are always contiguous row-major f32; integer results (argmax, indices) are f32 values
// holding exact integers (exact up to 2^24).

import { Runtime } from './runtime.ts';
import type { AcquireOptions } from './device.ts';

export type Shape = readonly number[];

// ------------------------------------------------------------------ runtime

let RT: Runtime | null = null;

export interface InitOptions extends AcquireOptions {
  /** Wrap every dispatch in a validation error scope so a GPU error names the exact op (slower). */
  validate?: boolean;
}

/** Acquires a device (or adopts `opts.device`) and makes it the engine's runtime. Idempotent. */
export async function init(opts: InitOptions = {}): Promise<Runtime> {
  if (RT && !opts.device) {
    if (opts.validate !== undefined) RT.validate = opts.validate;
    return RT;
  }
  if (RT) RT.destroy();
  RT = await Runtime.create(opts);
  RT.validate = !!opts.validate;
  return RT;
}

export function runtime(): Runtime {
  if (!RT) throw new Error('the engine is not initialised: call `await init()` first');
  return RT;
}

/** Releases every buffer and, if the engine created the device, the device itself. */
export function destroy() {
  RT?.destroy();
  RT = null;
}

// ------------------------------------------------------------------ graph nodes

export interface GradNode {
  op: string;
  inputs: Tensor[];
  /** Tensors other than the inputs and the output that backward reads (kept alive by scopes). */
  saved: Tensor[];
  /** Cotangents of the inputs given the output's cotangent; written with differentiable ops. */
  backward: (g: Tensor, needs: boolean[]) => Array<Tensor | null>;
}

let gradEnabled = true;
/** Depth of active transformations (grad/vjp bodies); backward passes record only inside one. */
let transformDepth = 0;

export function isGradEnabled() {
  return gradEnabled;
}
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
/** Runs fn without recording any graph: results are constants to every transformation (no tangents either). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, () => withoutTangents(fn));
}
export function enterTransform() {
  transformDepth++;
}
export function exitTransform() {
  transformDepth--;
}
export function insideTransform() {
  return transformDepth > 0;
}

// ------------------------------------------------------------------ forward mode (tangents)

// One forward-mode level at a time: while a jvp runs, `tangents` maps each tensor computed from
// its inputs to its tangent. Every differentiable op goes through record(), which computes the
// output's tangent from the inputs' (its own rule, or the transposed backward rule). Tangent
// rules run with forward mode suspended, so a tangent never gets a tangent of its own.
let tangents: Map<Tensor, Tensor> | null = null;
let suspended = 0;
/** True while a forward-mode jvp is propagating tangents. */
export function forwardActive() {
  return tangents !== null && suspended === 0;
}
/** True inside a jvp at all (even where its tangents are suspended): no second level may open. */
export function forwardOpen() {
  return tangents !== null;
}
/** The tangent of t in the active jvp (null: none, i.e. zero). */
export function tangentOf(t: Tensor): Tensor | null {
  return tangents && suspended === 0 ? tangents.get(t) ?? null : null;
}
export function setTangent(t: Tensor, tan: Tensor) {
  if (!tangents) throw new Error('internal: setTangent outside a jvp');
  tangents.set(t, tan);
}
let dualOk = false;
/**
 * Runs fn with a fresh tangent map (the jvp's inputs already in it). `dual`: ops may compute
 * value and tangent in one kernel, whose tangent has no autodiff graph; only when nothing
 * outside the jvp can differentiate its result (a jvp at top level).
 */
export function withTangents<T>(map: Map<Tensor, Tensor>, fn: () => T, dual = false): T {
  if (tangents) throw new Error('internal: nested forward-mode levels');
  tangents = map;
  dualOk = dual;
  const prev = suspended;
  suspended = 0;
  try {
    return fn();
  } finally {
    tangents = null;
    dualOk = false;
    suspended = prev;
  }
}
/** True where an op may use a dual (value + tangent) kernel: see withTangents. */
export function dualTangents() {
  return dualOk && tangents !== null && suspended === 0;
}
/** Runs fn without propagating tangents (tangent rules, constants). */
export function withoutTangents<T>(fn: () => T): T {
  suspended++;
  try {
    return fn();
  } finally {
    suspended--;
  }
}

/** A forward-mode rule: the output's tangent from the inputs' tangents (null = zero). */
export type JvpRule = (tangents: Array<Tensor | null>) => Tensor;
/** The fallback for ops without a rule (set by autodiff.ts): J·t from the linear backward rule. */
let transposeRule: ((out: Tensor, inputs: Tensor[], backward: GradNode['backward'], tans: Array<Tensor | null>) => Tensor) | null = null;
export function setTransposeRule(f: typeof transposeRule) {
  transposeRule = f;
}

function propagateTangent(out: Tensor, op: string, inputs: Tensor[], backward: GradNode['backward'], jvp?: JvpRule) {
  if (tangents!.has(out)) return;
  const tans = inputs.map((x) => tangents!.get(x) ?? null);
  if (tans.every((t) => t === null)) return;
  const tan = withoutTangents(() => (jvp ? jvp(tans) : transposeRule!(out, inputs, backward, tans)));
  if (tan.shape.length !== out.shape.length || tan.shape.some((d, i) => d !== out.shape[i])) {
    throw new Error(`internal: tangent rule of ${op} gave shape ${fmtShape(tan.shape)} for output ${fmtShape(out.shape)}`);
  }
  tangents!.set(out, tan);
}

// ------------------------------------------------------------------ scopes

const scopeStack: Set<Tensor>[] = [];

function track(t: Tensor) {
  if (scopeStack.length) scopeStack[scopeStack.length - 1].add(t);
}

/** Every tensor in a (possibly nested) array/object tree. */
export function collectTensors(x: unknown, out: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (x instanceof Tensor) out.push(x);
  else if (x && typeof x === 'object' && !seen.has(x)) {
    seen.add(x);
    if (Array.isArray(x)) for (const v of x) collectTensors(v, out, seen);
    else if (x.constructor === Object || x instanceof Map) {
      const vals = x instanceof Map ? x.values() : Object.values(x);
      for (const v of vals) collectTensors(v, out, seen);
    }
  }
  return out;
}

/** Tensors reachable from `roots` through autodiff graphs (they must outlive a scope with the roots). */
function graphClosure(roots: Tensor[]): Set<Tensor> {
  const keep = new Set<Tensor>();
  const stack = [...roots];
  while (stack.length) {
    const t = stack.pop()!;
    if (keep.has(t)) continue;
    keep.add(t);
    if (t.node) {
      for (const i of t.node.inputs) stack.push(i);
      for (const s of t.node.saved) stack.push(s);
    }
    // inside a jvp, a kept tensor's tangent is kept with it
    const tan = tangents?.get(t);
    if (tan) stack.push(tan);
  }
  return keep;
}

/**
 * Runs fn and disposes every tensor created inside it except those it returns (found in any
 * nested array/object), those kept with keep(), and those the returned tensors' autodiff graphs
 * still need. Synchronous by design: an await inside would let other work's tensors in.
 */
export function scope<T>(fn: () => T): T {
  const mine = new Set<Tensor>();
  scopeStack.push(mine);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopeStack.pop();
    for (const t of mine) if (!t.kept) t.dispose();
    throw e;
  }
  scopeStack.pop();
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    throw new Error('scope(fn): fn returned a Promise; scopes are synchronous (await outside the scope)');
  }
  const keep = graphClosure(collectTensors(result));
  const parent = scopeStack[scopeStack.length - 1];
  for (const t of mine) {
    if (keep.has(t) || t.kept) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * Runs fn and returns every tensor it created alongside its result; nothing is freed, and the
 * created tensors still belong to the enclosing scope (if any). For APIs that hand a graph to
 * the caller and free it later (vjp).
 */
export function captureCreated<T>(fn: () => T): { result: T; created: Set<Tensor> } {
  const mine = new Set<Tensor>();
  scopeStack.push(mine);
  try {
    const result = fn();
    return { result, created: mine };
  } finally {
    scopeStack.pop();
    const parent = scopeStack[scopeStack.length - 1];
    if (parent) for (const t of mine) parent.add(t);
  }
}

let deferred: Tensor[] | null = null;
/**
 * Runs fn with every dispose() deferred: nothing fn frees goes back to the buffer pool, so no
 * buffer fn used is handed to another tensor while fn runs. Returns the tensors fn disposed; the
 * caller releases them (releaseDeferred) once it no longer replays fn's dispatches.
 */
export function deferDisposal<T>(fn: () => T): { result: T; held: Tensor[] } {
  if (deferred) throw new Error('internal: nested deferDisposal');
  deferred = [];
  const held = deferred;
  try {
    return { result: fn(), held };
  } finally {
    deferred = null;
  }
}
/** Whether a deferDisposal is running (it does not nest). */
export function disposalDeferred(): boolean {
  return deferred !== null;
}
export function releaseDeferred(held: Tensor[]) {
  for (const t of held) t.dispose('released after a deferred disposal');
}

/** Exempts tensors from the enclosing scopes' cleanup. */
export function keep<T>(x: T): T {
  for (const t of collectTensors(x)) t.kept = true;
  return x;
}

/** Disposes every tensor in a tree. */
export function dispose(x: unknown) {
  for (const t of collectTensors(x)) t.dispose();
}

// ------------------------------------------------------------------ tensor

// A GPU buffer shared by a tensor and its views. Sub-storages (tensors living at an offset
// inside a bigger buffer, e.g. every parameter of a model packed into one flat buffer so an
// optimizer updates them all in one dispatch) hold a reference on their parent.
class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly rt: Runtime,
    readonly offset = 0,
    readonly parent: Storage | null = null,
  ) {}
  release() {
    if (--this.refs > 0) return;
    if (this.parent) this.parent.release();
    else this.rt.release(this.buffer);
  }
}

/** Storage-buffer binding offsets must be multiples of 256 bytes (minStorageBufferOffsetAlignment). */
export const VIEW_ALIGN_FLOATS = 64;

let nextId = 1;

export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: Shape) {
  return `[${shape.join(', ')}]`;
}

export class Tensor {
  readonly id = nextId++;
  readonly shape: number[];
  readonly size: number;
  readonly dtype = 'float32' as const;
  node: GradNode | null = null;
  /** True while this tensor is a variable of an active grad/vjp. */
  isVar = false;
  /** Exempt from scope cleanup. */
  kept = false;
  private storage: Storage | null;
  private disposedBy: string | null = null;

  constructor(storage: Storage, shape: Shape) {
    this.storage = storage;
    this.shape = shape.slice();
    this.size = shapeSize(shape);
    track(this);
  }

  static fromBuffer(buffer: GPUBuffer, shape: Shape): Tensor {
    return new Tensor(new Storage(buffer, runtime()), shape);
  }

  /** A new tensor sharing this one's buffer (reshape, variable aliases). */
  view(shape: Shape): Tensor {
    const s = this.liveStorage('view');
    s.refs++;
    return new Tensor(s, shape);
  }

  get rank() {
    return this.shape.length;
  }
  get tracked() {
    return this.node !== null || this.isVar;
  }
  get disposed() {
    return this.storage === null;
  }

  private liveStorage(what: string): Storage {
    if (!this.storage) {
      throw new Error(
        `cannot ${what}: tensor #${this.id} with shape ${fmtShape(this.shape)} was disposed` +
          (this.disposedBy ? ` (${this.disposedBy})` : ''),
      );
    }
    return this.storage;
  }

  /** The buffer binding (buffer, byte offset, byte size) for kernels; throws a clear error if disposed. */
  bufferFor(what: string): GPUBufferBinding & { buffer: GPUBuffer; offset: number; size: number } {
    const s = this.liveStorage(what);
    return { buffer: s.buffer, offset: s.offset, size: Math.max(4, this.size * 4) };
  }
  get buffer() {
    return this.bufferFor('use it');
  }

  /**
   * A tensor of `shape` living inside this one's buffer at element `offset` (a multiple of
   * VIEW_ALIGN_FLOATS). Writes through either are visible to both; no autodiff link.
   */
  subView(offset: number, shape: Shape): Tensor {
    const s = this.liveStorage('subView');
    if (offset % VIEW_ALIGN_FLOATS !== 0) throw new Error(`subView: offset ${offset} is not a multiple of ${VIEW_ALIGN_FLOATS} floats`);
    if (offset + shapeSize(shape) > this.size) {
      throw new Error(`subView: ${fmtShape(shape)} at offset ${offset} overruns a tensor of ${this.size} elements`);
    }
    s.refs++;
    return new Tensor(new Storage(s.buffer, s.rt, s.offset + offset * 4, s), shape);
  }

  dispose(reason = 'dispose() was called') {
    if (!this.storage) return;
    if (deferred) {
      deferred.push(this);
      return;
    }
    this.storage.release();
    this.storage = null;
    this.disposedBy = reason;
    this.node = null;
  }

  /** Reads the values back (flushes pending work). */
  async data(): Promise<Float32Array> {
    const b = this.bufferFor('read data()');
    const [ab] = await runtime().readMany([{ buffer: b.buffer, offset: b.offset, bytes: this.size * 4 }]);
    return new Float32Array(ab);
  }

  /** Reads a size-1 tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return (await this.data())[0];
  }

  /** Reads the values back as nested arrays. */
  async array(): Promise<unknown> {
    const d = await this.data();
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return d[off];
      const stride = shapeSize(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * stride));
    };
    return build(0, 0);
  }

  toString() {
    return `Tensor#${this.id}(${fmtShape(this.shape)}${this.disposed ? ', disposed' : ''})`;
  }
}

/** A new uninitialised tensor of `shape` (at least one element's buffer): every op's output. */
export function allocTensor(shape: Shape): Tensor {
  return Tensor.fromBuffer(runtime().alloc(Math.max(1, shapeSize(shape)) * 4), shape);
}

/** Reads several tensors back with one submit and one wait. */
export async function readAll(ts: Tensor[]): Promise<Float32Array[]> {
  const bufs = ts.map((t) => {
    const b = t.bufferFor('read data()');
    return { buffer: b.buffer, offset: b.offset, bytes: t.size * 4 };
  });
  const abs = await runtime().readMany(bufs);
  return abs.map((ab) => new Float32Array(ab));
}

/**
 * Attaches a GradNode to `out` when grad mode is on and some input is being differentiated, and
 * inside a jvp gives `out` its tangent (by `jvp`, else by transposing `backward`).
 */
export function record(
  out: Tensor,
  op: string,
  inputs: Tensor[],
  backward: GradNode['backward'],
  saved: Tensor[] = [],
  jvp?: JvpRule,
): Tensor {
  if (tangents && suspended === 0) propagateTangent(out, op, inputs, backward, jvp);
  if (!gradEnabled) return out;
  for (const x of inputs) {
    if (x.tracked) {
      out.node = { op, inputs, saved, backward };
      break;
    }
  }
  return out;
}
