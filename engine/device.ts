// Device acquisition: the one place that knows where a GPUDevice comes from.
//   - a GPUDevice handed in by the caller (the engine then never destroys it),
//   - browsers: navigator.gpu,
//   - Node: Dawn's bindings from the `webgpu` npm package.
// It also owns the Dawn polling throttle (see throttledWait).
//
// The module is shared with the browser bundle (scripts/build-browser.mjs), so it has no static
// Node imports: Node's built-ins come from process.getBuiltinModule at run time (only on the
// Node path), and `import('webgpu')` is the one Node-only package it names; the browser build
// replaces that package with a module that throws, because a browser takes navigator.gpu first.
import { nodeBuiltin } from '../kernels/common.ts';

export interface AcquireOptions {
  /** Use this device instead of creating one; the engine never destroys it. */
  device?: GPUDevice;
  /** Passed to requestAdapter. */
  powerPreference?: GPUPowerPreference;
  /** Optional features to enable when the adapter has them. */
  optionalFeatures?: GPUFeatureName[];
}

export interface AcquiredDevice {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  /** True when the engine created the device and may destroy it. */
  owned: boolean;
  /** True when running on Dawn's Node bindings (where the polling throttle applies). */
  dawnNode: boolean;
  features: Set<string>;
}

export const NO_ADAPTER_HELP =
  'No WebGPU adapter found. On a machine without a GPU, install a software Vulkan driver: on Debian 12, ' +
  'Mesa >= 24 lavapipe from bookworm-backports (`bash .ci/setup-adapter.sh`, or add bookworm-backports to apt ' +
  'sources and `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`). In a browser, use one ' +
  'with WebGPU enabled. Or pass your own GPUDevice: init({ device }).';

let nodeGpu: GPU | null = null;

async function nodeNavigatorGpu(): Promise<GPU | null> {
  if (nodeGpu) return nodeGpu;
  let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    return null;
  }
  // Dawn's classes (GPUBufferUsage etc.) are needed as globals by any WebGPU code.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  nodeGpu = mod.create([]);
  return nodeGpu;
}

export async function acquireDevice(opts: AcquireOptions = {}): Promise<AcquiredDevice> {
  if (opts.device) {
    return {
      device: opts.device,
      adapterInfo: describe((opts.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo),
      owned: false,
      dawnNode: typeof process !== 'undefined' && !!process.versions?.node,
      features: new Set([...opts.device.features]),
    };
  }
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  let gpu: GPU | null | undefined = nav?.gpu;
  let dawnNode = false;
  if (!gpu && typeof process !== 'undefined' && process.versions?.node) {
    if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
    gpu = await nodeNavigatorGpu();
    dawnNode = true;
  }
  if (!gpu) throw new Error(NO_ADAPTER_HELP);
  const g = gpu;
  const request = () => g.requestAdapter({ powerPreference: opts.powerPreference });
  const adapter = dawnNode ? await withNativeStderrFiltered(request, DAWN_LIMIT_WARNINGS) : await request();
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const wanted: GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups', ...(opts.optionalFeatures ?? [])];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  const L = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxBufferSize: L.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(L.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    },
  });
  return { device, adapterInfo: describe(adapter.info), owned: true, dawnNode, features: new Set(requiredFeatures) };
}

/**
 * Dawn prints these two lines to the process's stderr from native code (its Log.cpp fprintf)
 * whenever it enumerates a Vulkan adapter whose dynamic-buffer limits exceed what it can
 * allocate (lavapipe reports 1,000,000): harmless, but they opened every command.
 */
export const DAWN_LIMIT_WARNINGS = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/**
 * Runs `fn` with file descriptor 2 pointed at a temporary file, then writes what landed there
 * back to the real stderr minus the lines matching `drop`. Native code writes to fd 2 directly,
 * so process.stderr.write cannot intercept it; Node has no dup2, but open() returns the lowest
 * free descriptor, so closing 2 and opening a file gives the file descriptor 2. The real stderr
 * is reopened through /proc/self/fd afterwards. Linux only; anywhere else, when that reopen is
 * impossible (stderr a socket), or with STACKELBERG_GPU_NATIVE_STDERR=keep, `fn` runs untouched.
 */
let stderrFilterActive = false;

export async function withNativeStderrFiltered<T>(fn: () => Promise<T>, drop: RegExp): Promise<T> {
  // One at a time: overlapping calls (two adapters requested at once) would restore descriptor 2
  // out of order, so a call made while another is active runs unfiltered.
  if (stderrFilterActive || typeof process === 'undefined' || process.platform !== 'linux' || process.env.STACKELBERG_GPU_NATIVE_STDERR === 'keep') return fn();
  stderrFilterActive = true;
  try {
    return await filterStderr(fn, drop);
  } finally {
    stderrFilterActive = false;
  }
}


async function filterStderr<T>(fn: () => Promise<T>, drop: RegExp): Promise<T> {
  const fs = nodeBuiltin<typeof import('node:fs')>('node:fs');
  const os = nodeBuiltin<typeof import('node:os')>('node:os');
  const path = nodeBuiltin<typeof import('node:path')>('node:path');
  if (!fs || !os || !path) return fn();
  let saved: number;
  try {
    saved = fs.openSync('/proc/self/fd/2', 'a');
  } catch {
    return fn();
  }
  const tmp = path.join(os.tmpdir(), `stackelberg-gpu-stderr-${process.pid}-${Date.now()}`);
  const restore = () => {
    try {
      fs.closeSync(2);
    } catch {
      /* already closed */
    }
    // open() gives the lowest free descriptor: 2, unless 0 or 1 were closed as well
    const fd = fs.openSync(`/proc/self/fd/${saved}`, 'a');
    if (fd !== 2) throw new Error(`could not restore stderr on descriptor 2 (the reopen got ${fd})`);
  };
  let closed = false;
  let captured = false;
  try {
    fs.closeSync(2);
    closed = true;
    const fd = fs.openSync(tmp, 'w+');
    if (fd === 2) captured = true;
    else fs.closeSync(fd);
  } catch {
    /* left as it was, or restored just below */
  }
  if (!captured) {
    if (closed) restore();
    fs.closeSync(saved);
    fs.rmSync(tmp, { force: true });
    return fn();
  }
  try {
    return await fn();
  } finally {
    restore();
    fs.closeSync(saved);
    let text = '';
    try {
      text = fs.readFileSync(tmp, 'utf8');
    } catch {
      /* nothing written */
    }
    fs.rmSync(tmp, { force: true });
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const kept = lines.filter((l) => !drop.test(l));
    if (kept.length) fs.writeSync(2, kept.join('\n') + '\n');
  }
}

function describe(info: GPUAdapterInfo | undefined) {
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
  };
}

// Dawn's Node binding re-arms setImmediate in a loop while a mapAsync/onSubmittedWorkDone is
// pending, spinning a core at 100%. On a 2-core lavapipe machine that starves lavapipe's worker
// threads (big kernels ran 1.6x slower). The binding looks setImmediate up on globalThis each
// time, so while we wait we let it spin for ~300 us (short round trips stay fast) and then make
// each re-arm yield the core first. Everything else's setImmediate is only affected during that
// window. Every wake of this thread takes a core from lavapipe's workers, so the modes differ in
// when they wake:
//   'timer' (the default until session 8): re-arms past 300 us go through setTimeout(cb, 1).
//     Node's timers have 1 ms granularity, so a wait of a few ms (a DQN greedy step's readback,
//     ~3 ms of GPU work) wakes up to ~1 ms late, ~0.5 ms on average.
//   'throttled' (the default since session 9): the same 1 ms timer while the wait is far from
//     its expected end, and sub-millisecond sleeps (Atomics.wait: fractional milliseconds,
//     blocking without spinning) near it. The expected end is the shortest of the last 4 waits
//     (a training loop waits for the same work every step): the thread sleeps to 80 % of it, then
//     in steps of 5 % of it; past it, in steps of an eighth of the wait so far, and on the 1 ms
//     timer once such a step would be 1 ms or more. So it never wakes later than the timer mode
//     would (no sleep is longer than its 1 ms), a long wait (a big matmul) polls as the timer
//     mode does, and a repeated short wait wakes within ~5 % of its end with a few more wakes.
//   'busy': Dawn's own loop, untouched.
export type PollingMode = 'throttled' | 'timer' | 'busy';
const POLLING_MODES: PollingMode[] = ['throttled', 'timer', 'busy'];
let pollingMode: PollingMode = 'throttled';
export function setPollingMode(mode: PollingMode) {
  if (!POLLING_MODES.includes(mode)) throw new Error(`setPollingMode('${mode}'): unknown mode; valid: ${POLLING_MODES.join(', ')}`);
  pollingMode = mode;
}
export function getPollingMode(): PollingMode {
  return pollingMode;
}

const realSetImmediate = globalThis.setImmediate;
/** The first 300 us of a wait poll at full speed: a round trip (~90 us on lavapipe) stays fast. */
const SPIN_MS = 0.3;
/** The shortest sleep (Linux wakes a futex wait within tens of µs). */
const NAP_MIN_MS = 0.05;
// A cell nobody notifies: Atomics.wait on it is a plain sub-millisecond sleep.
const napCell = typeof SharedArrayBuffer !== 'undefined' ? new Int32Array(new SharedArrayBuffer(4)) : null;
let waiters = 0;
let waitStart = 0;
/** The last 4 waits' lengths (ms, from the first waiter in to the last out): their minimum is the expected wait. */
const recentWaits = [0, 0, 0, 0];
let recentAt = 0;
/** Sleeps taken by the 'throttled' mode (for tests: the sleep path ran). */
let naps = 0;
export function pollingNaps() {
  return naps;
}

/** 'throttled': how long to sleep before the next poll, `waited` ms into a wait; null: the 1 ms timer. */
export function napMs(waited: number, expected: number): number | null {
  let nap: number;
  if (waited < 0.8 * expected) nap = 0.8 * expected - waited;
  else if (waited < expected) nap = 0.05 * expected;
  else nap = waited / 8;
  return nap >= 1 ? null : Math.max(NAP_MIN_MS, nap);
}

function throttledSetImmediate(cb: (...a: unknown[]) => void, ...args: unknown[]) {
  if (waiters > 0) {
    const waited = performance.now() - waitStart;
    if (waited > SPIN_MS) {
      const nap = pollingMode === 'throttled' && napCell ? napMs(waited, Math.min(...recentWaits)) : null;
      if (nap === null) return setTimeout(cb, 1, ...args) as unknown as NodeJS.Immediate;
      naps++;
      Atomics.wait(napCell!, 0, 0, nap);
    }
  }
  return realSetImmediate(cb, ...args);
}

/** Awaits a promise that Dawn resolves by polling, with the throttle applied (Node only). */
export async function throttledWait<T>(p: Promise<T>, dawnNode: boolean): Promise<T> {
  if (!dawnNode || pollingMode === 'busy' || !realSetImmediate) return p;
  if (waiters++ === 0) {
    waitStart = performance.now();
    (globalThis as { setImmediate: unknown }).setImmediate = throttledSetImmediate;
  }
  try {
    return await p;
  } finally {
    if (--waiters === 0) {
      (globalThis as { setImmediate: unknown }).setImmediate = realSetImmediate;
      recentWaits[recentAt++ % recentWaits.length] = performance.now() - waitStart;
    }
  }
}
