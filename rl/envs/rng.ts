/**
 * Counter-based random streams for the environments: Philox4x32-10 (Salmon, Moraes, Dror &
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
 *
 * Stream derivation (this is the contract; checkpoints and tests rely on it):
 *
 *   key     = (seed mod 2^32, floor(seed / 2^32) mod 2^32)        seed: integer in [0, 2^53)
 *   counter = (block mod 2^32, floor(block / 2^32), envIndex, STREAM_TAG)
 *
 * Env `i` of a batch draws its words from the blocks 0, 1, 2, ... of the counter
 * (·, ·, i, STREAM_TAG), four 32-bit words per block, consumed in order x0, x1, x2, x3.
 * A stream's whole state is therefore (seed, envIndex, words consumed): it is independent of
 * the batch size, so env 0 of a 1-env batch and env 0 of a 1024-env batch see the same numbers.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO32 = 4294967296;

/** Tag in the fourth counter word reserved for environment streams (other users pick others). */
export const STREAM_TAG = 0x656e7673; // 'envs'

/** High 32 bits of the 64-bit product of two uint32 values, exact in double arithmetic. */
function mulhi(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const t = (ah * bl + al * bh) * 65536 + al * bl; // < 2^50, exact
  return (ah * bh + Math.floor(t / TWO32)) >>> 0;
}

/**
 * One Philox4x32-10 block: 4 counter words and 2 key words (uint32) → 4 output words written
 * to `out` (which may be the counter array itself).
 */
export function philox4x32_10(
  ctr: ArrayLike<number>,
  key: ArrayLike<number>,
  out: Uint32Array | number[] = new Uint32Array(4),
): Uint32Array | number[] {
  let c0 = ctr[0]! >>> 0;
  let c1 = ctr[1]! >>> 0;
  let c2 = ctr[2]! >>> 0;
  let c3 = ctr[3]! >>> 0;
  let k0 = key[0]! >>> 0;
  let k1 = key[1]! >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

export function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`seed must be an integer in [0, 2^53), got ${seed}`);
  }
}

/** JSON-serialisable state of one stream. */
export interface RngState {
  seed: number;
  stream: number;
  /** 32-bit words consumed so far. */
  words: number;
}

/** One env's random stream: a Philox counter keyed by the run seed, indexed by env. */
export class Rng {
  private k0 = 0;
  private k1 = 0;
  private seed = 0;
  readonly stream: number;
  private block = 0; // index of the block held in buf (valid when pos < 4)
  private pos = 4; // next word of buf to hand out; 4 = buf exhausted
  private nextBlock = 0; // block the next refill computes
  private readonly buf = new Uint32Array(4);
  private readonly ctr = new Uint32Array(4);
  private readonly key = new Uint32Array(2);

  constructor(seed: number, stream: number) {
    if (!Number.isInteger(stream) || stream < 0 || stream >= TWO32) {
      throw new Error(`stream index must be a uint32, got ${stream}`);
    }
    this.stream = stream;
    this.reseed(seed);
  }

  /** Re-key with a new seed; the counter restarts at 0. */
  reseed(seed: number): void {
    checkSeed(seed);
    this.seed = seed;
    this.k0 = seed % TWO32 >>> 0;
    this.k1 = Math.floor(seed / TWO32) >>> 0;
    this.key[0] = this.k0;
    this.key[1] = this.k1;
    this.block = -1;
    this.pos = 4;
    this.nextBlock = 0;
  }

  private refill(): void {
    const b = this.nextBlock;
    this.ctr[0] = b % TWO32;
    this.ctr[1] = Math.floor(b / TWO32);
    this.ctr[2] = this.stream;
    this.ctr[3] = STREAM_TAG;
    philox4x32_10(this.ctr, this.key, this.buf);
    this.block = b;
    this.nextBlock = b + 1;
    this.pos = 0;
  }

  /** Next uniform uint32. */
  nextU32(): number {
    if (this.pos >= 4) this.refill();
    return this.buf[this.pos++]!;
  }

  /** Uniform double in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / TWO32;
  }

  /** Uniform double in [lo, hi). */
  uniformRange(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Unbiased integer in [0, n), n ≥ 1 (Lemire's multiply-shift with rejection). */
  int(n: number): number {
    if (n <= 1) return 0;
    const threshold = (TWO32 - n) % n; // = 2^32 mod n
    for (;;) {
      const x = this.nextU32();
      const m = x * n; // < 2^53, exact
      const lo = m % TWO32;
      if (lo >= threshold) return Math.floor(m / TWO32);
    }
  }

  /** true with probability p (one word consumed). */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** Words consumed so far. */
  get words(): number {
    return this.pos >= 4 ? this.nextBlock * 4 : this.block * 4 + this.pos;
  }

  getState(): RngState {
    return { seed: this.seed, stream: this.stream, words: this.words };
  }

  setState(s: RngState): void {
    if (s.stream !== this.stream) {
      throw new Error(`rng state is for stream ${s.stream}, this is stream ${this.stream}`);
    }
    if (!Number.isSafeInteger(s.words) || s.words < 0) throw new Error(`bad rng word count ${s.words}`);
    this.reseed(s.seed);
    const block = Math.floor(s.words / 4);
    const pos = s.words % 4;
    if (pos === 0) {
      this.nextBlock = block;
      this.pos = 4;
    } else {
      this.nextBlock = block;
      this.refill();
      this.pos = pos;
    }
  }
}
