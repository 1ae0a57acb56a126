// WGSL twin of rl/envs/rng.ts: Philox4x32-10 with the same stream derivation, so an env on the
// GPU draws the very words its CPU twin draws for the same (seed, env index, words consumed).
// WGSL has no 64-bit integers: the 32×32 → 64-bit product is assembled from 16-bit halves.
import { STREAM_TAG } from '../rng.ts';

export const philoxWgsl = /* wgsl */ `
fn philox_mulhilo(a: u32, b: u32) -> vec2u {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2u(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}
fn philox4x32_10(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2u(0x9e3779b9u, 0xbb67ae85u); }
    let m0 = philox_mulhilo(0xd2511f53u, c.x);
    let m1 = philox_mulhilo(0xcd9e8d57u, c.z);
    c = vec4u(m1.x ^ c.y ^ k.x, m1.y, m0.x ^ c.w ^ k.y, m0.y);
  }
  return c;
}
// Word number w of env stream s under seed key (k0, k1): block w / 4, element w % 4 (rng.ts).
fn env_word(key: vec2u, s: u32, w: u32) -> u32 {
  let o = philox4x32_10(vec4u(w / 4u, 0u, s, ${STREAM_TAG >>> 0}u), key);
  return o[w % 4u];
}
// rng.ts's uniform(): word / 2^32 (here in f32, so within 2^-24 relative of the CPU's double).
fn env_uniform(key: vec2u, s: u32, w: u32) -> f32 { return f32(env_word(key, s, w)) * 2.3283064365386963e-10; }`;

/** The (k0, k1) key of a seed, as rng.ts derives it. */
export function seedKey(seed: number): [number, number] {
  return [seed % 2 ** 32 >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}
