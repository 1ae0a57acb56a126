// A small seedable CPU RNG (xoshiro128**) whose whole state is four u32 words, so a checkpoint
// can store it and a resumed run draws exactly the numbers an uninterrupted one would.
// Used for action sampling and minibatch shuffling, which run on the CPU next to the envs.

export type RngState = [number, number, number, number];

function splitmix32(a: number) {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
}

export class Rng {
  private s = new Uint32Array(4);
  constructor(seed = 0) {
    const sm = splitmix32(seed >>> 0 ^ Math.floor(seed / 2 ** 32));
    for (let i = 0; i < 4; i++) this.s[i] = sm();
    if (!(this.s[0] | this.s[1] | this.s[2] | this.s[3])) this.s[0] = 1;
  }
  /** Uniform u32. */
  nextU32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  /** Uniform [0, 1) with 32 random bits. */
  random(): number {
    return this.nextU32() / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }
  /** Fisher–Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
  getState(): RngState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }
  setState(st: RngState) {
    for (let i = 0; i < 4; i++) this.s[i] = st[i] >>> 0;
  }
}

function rotl(x: number, k: number) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
