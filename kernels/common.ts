// Shared WGSL snippets and launch helpers for the kernel families.

/** Max tensor rank the strided kernels index (shape/strides travel as 2 x vec4<u32>). */
export const MAX_RANK = 8;
export const WG = 256;

/** Workgroup grid for n flat items of `per` items per workgroup, folded into 2-D past 65535. */
export function grid(n: number, per = WG): [number, number] {
  const groups = Math.ceil(n / per);
  if (groups <= 65535) return [groups, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/** WGSL: the flat invocation index for a grid made by `grid` with WG-sized workgroups. */
export const flatIndex = /* wgsl */ `
fn flat_index(gid: vec3u, nw: vec3u) -> u32 { return gid.x + gid.y * nw.x * ${WG}u; }`;

/** WGSL: reading element d of a rank<=8 array packed as array<vec4u, 2>. */
export const packedAt = /* wgsl */ `
fn at8(a: array<vec4u, 2>, d: u32) -> u32 { return a[d / 4u][d % 4u]; }`;

/** Packs up to 8 numbers into 8 u32 words (zero padded). */
export function pack8(xs: readonly number[]): number[] {
  if (xs.length > MAX_RANK) throw new Error(`rank ${xs.length} exceeds the engine's maximum rank ${MAX_RANK}`);
  const out = new Array(8).fill(0);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i];
  return out;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Memoises a kernel factory: kernels are built once per argument tuple and then reused by
 * identity, so the runtime's pipeline lookup never re-hashes WGSL source in the hot path.
 */
export function memoKernel<A extends unknown[], K>(make: (...args: A) => K): (...args: A) => K {
  const cache = new Map<string, K>();
  return (...args: A) => {
    const key = args.length === 1 && typeof args[0] !== 'object' ? String(args[0]) : JSON.stringify(args);
    let k = cache.get(key);
    if (!k) cache.set(key, (k = make(...args)));
    return k;
  };
}

/** Activation codes shared by the fused kernels (pipeline-overridable ACT constant). */
/**
 * WGSL `wg_sum(t, v)`: the sum of `v` over a workgroup of `wg` threads (a power of two), tree
 * reduction in workgroup memory; every thread gets the total. `type` is the summed WGSL type
 * (several sums at once in a vector). Every thread of the workgroup must call it.
 */
export function wgSumWgsl(type: 'f32' | 'vec2f' | 'vec4f', wg: number): string {
  return /* wgsl */ `
var<workgroup> acc: array<${type}, ${wg}>;
fn wg_sum(t: u32, v: ${type}) -> ${type} {
  acc[t] = v;
  workgroupBarrier();
  for (var w = ${wg / 2}u; w > 0u; w = w / 2u) {
    if (t < w) { acc[t] += acc[t + w]; }
    workgroupBarrier();
  }
  let r = acc[0];
  workgroupBarrier();
  return r;
}`;
}

export const ACTIVATIONS = { none: 0, relu: 1, tanh: 2, sigmoid: 3 } as const;
export type Activation = keyof typeof ACTIVATIONS;

/** WGSL: the fused activation selected by the ACT override, and the HAS_BIAS switch. */
export const actWgsl = /* wgsl */ `
override ACT: u32 = 0u;
override HAS_BIAS: bool = true;
fn act(v: f32) -> f32 {
  switch ACT {
    case 1u: { return max(v, 0.0); }
    case 2u: { return tanh(clamp(v, -15.0, 15.0)); }
    case 3u: { return 1.0 / (1.0 + exp(-v)); }
    default: { return v; }
  }
}`;

/**
 * A Node built-in module looked up at call time (process.getBuiltinModule), null outside Node:
 * modules shared with the browser bundle reach node:fs and friends this way, with no static
 * import for scripts/build-browser.mjs to refuse.
 */
export function nodeBuiltin<T>(name: string): T | null {
  const p = (globalThis as { process?: { getBuiltinModule?: (n: string) => unknown } }).process;
  try {
    return (p?.getBuiltinModule?.(name) as T) ?? null;
  } catch {
    return null;
  }
}
