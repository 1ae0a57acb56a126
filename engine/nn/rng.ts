// The one CPU random generator of the project (parameter initialisation, action sampling,
// minibatch shuffling, replay sampling, exploration noise). xoshiro128** on four u32 words;
// its whole state (the words and the spare normal deviate of Box–Muller) is plain JSON, so a
// checkpoint can store it and a resumed run draws exactly the numbers an uninterrupted one
// would. The environments keep their own counter-based Philox streams (rl/envs/rng.ts): those
// are a different thing, one independent stream per env index.

/** JSON state of an Rng: the four xoshiro words and the cached second Box–Muller deviate. */
export interface RngState {
  s: [number, number, number, number];
  spare: number | null;
}

export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // Two 32-bit halves of the seed mixed into four words (never all zero), then warmed up.
    let x = (seed >>> 0) ^ 0x9e3779b9;
    let y = Math.floor(seed / 2 ** 32) ^ 0x85ebca6b;
    for (let i = 0; i < 4; i++) {
      x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) ^ y;
      y = Math.imul(y ^ (y >>> 13), 0xc2b2ae35) + 0x27d4eb2f;
      x ^= x >>> 15;
      this.s[i] = (x + i * 0x6d2b79f5) >>> 0 || 1;
    }
    for (let i = 0; i < 8; i++) this.nextU32();
  }

  static fromState(st: RngState): Rng {
    const r = new Rng(0);
    r.setState(st);
    return r;
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

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Alias of uniform() (the name the RL code used before the RNGs were merged). */
  random(): number {
    return this.uniform();
  }

  /** Integer in [0, n) (n ≥ 1). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal deviate (Box–Muller; the second deviate of each pair is cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates permutation of 0..n−1. */
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
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  setState(st: RngState) {
    if (!st || !Array.isArray(st.s) || st.s.length !== 4 || !st.s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)) {
      throw new Error(`Rng.setState: expected { s: four u32 words, spare }, got ${JSON.stringify(st)}`);
    }
    for (let i = 0; i < 4; i++) this.s[i] = st.s[i] >>> 0;
    this.spare = st.spare ?? null;
  }
}

function rotl(x: number, k: number) {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
