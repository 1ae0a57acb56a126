// Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11), the generator JAX uses. It needs only 32-bit adds,
// rotates and xors, so it runs unchanged on every WebGPU adapter, and element i of a draw is a
// pure function of (key, counter + i): results do not depend on workgroup sizes or batching.
// Each invocation encrypts the counter pair (base + i, 0) under the 2-word key and yields two
// words: uniform draws use both; normal draws turn the pair into two normals (Box–Muller).

import { flatIndex, WG } from './common.ts';

export const threefryWgsl = /* wgsl */ `
fn rotl(x: u32, r: u32) -> u32 { return (x << r) | (x >> (32u - r)); }
fn threefry2x32(k0: u32, k1: u32, c0: u32, c1: u32) -> vec2u {
  let k2 = k0 ^ k1 ^ 0x1BD11BDAu;
  let ks = array<u32, 3>(k0, k1, k2);
  let R = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
  var x0 = c0 + k0;
  var x1 = c1 + k1;
  for (var i = 0u; i < 20u; i++) {
    x0 = x0 + x1;
    x1 = rotl(x1, R[i % 8u]);
    x1 = x1 ^ x0;
    if (i % 4u == 3u) {
      let s = i / 4u + 1u;
      x0 = x0 + ks[s % 3u];
      x1 = x1 + ks[(s + 1u) % 3u] + s;
    }
  }
  return vec2u(x0, x1);
}
// 24 high bits -> [0, 1); (u + 1) * 2^-24 -> (0, 1] for logs.
fn u01(x: u32) -> f32 { return f32(x >> 8u) * 5.9604645e-8; }
fn u01_open(x: u32) -> f32 { return f32((x >> 8u) + 1u) * 5.9604645e-8; }`;

/** params: n (elements), k0, k1, counter base, lo, hi (f32 bits), dist (0 uniform, 1 normal). */
export const randomKernel = {
  name: 'random_threefry',
  code: /* wgsl */ `
${flatIndex}
${threefryWgsl}
@group(0) @binding(0) var<storage, read_write> O: array<f32>;
struct P { n: u32, k0: u32, k1: u32, base: u32, lo: f32, hi: f32, dist: u32 }
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = flat_index(gid, nw);
  if (2u * i >= p.n) { return; }
  let w = threefry2x32(p.k0, p.k1, p.base + i, 0u);
  var a: f32;
  var b: f32;
  if (p.dist == 0u) {
    a = p.lo + (p.hi - p.lo) * u01(w.x);
    b = p.lo + (p.hi - p.lo) * u01(w.y);
  } else {
    let r = sqrt(-2.0 * log(u01_open(w.x)));
    let t = 6.283185307179586 * u01(w.y);
    a = p.lo + p.hi * r * cos(t);
    b = p.lo + p.hi * r * sin(t);
  }
  O[2u * i] = a;
  if (2u * i + 1u < p.n) { O[2u * i + 1u] = b; }
}`,
};

/** CPU Threefry-2x32-20, the same function as the WGSL above (tests and host-side seeding). */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const R = [13, 15, 26, 6, 17, 29, 16, 24];
  const ks = [k0 >>> 0, k1 >>> 0, (k0 ^ k1 ^ 0x1bd11bda) >>> 0];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let i = 0; i < 20; i++) {
    x0 = (x0 + x1) >>> 0;
    const r = R[i % 8];
    x1 = ((x1 << r) | (x1 >>> (32 - r))) >>> 0;
    x1 = (x1 ^ x0) >>> 0;
    if (i % 4 === 3) {
      const s = (i >> 2) + 1;
      x0 = (x0 + ks[s % 3]) >>> 0;
      x1 = (x1 + ks[(s + 1) % 3] + s) >>> 0;
    }
  }
  return [x0, x1];
}
