// Seeded test data. The generator is mulberry32 (Tommy Ettinger's 32-bit generator): a 32-bit
// state advanced by the constant 0x6D2B79F5, then scrambled by two multiply-xorshift rounds. It
// is not cryptographic, but it is tiny, fast, and gives the same stream on every platform for a
// given seed, which is all tests need.
import { ND, size } from './nd.ts';

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer (one mulberry32 step). */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller; 1 - u keeps the log argument in (0, 1]). */
  normal(): number {
    const u1 = 1 - this.next();
    const u2 = this.next();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [lo, hiExclusive). */
  int(lo: number, hiExclusive: number): number {
    if (!(hiExclusive > lo)) throw new Error(`rng.int: empty range [${lo}, ${hiExclusive})`);
    return lo + Math.floor(this.next() * (hiExclusive - lo));
  }

  /** True with probability p. */
  bool(p = 0.5): boolean {
    return this.next() < p;
  }

  /** A uniformly chosen element. */
  choice<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)];
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  ndUniform(shape: readonly number[], lo = -1, hi = 1): ND {
    const data = new Float64Array(size(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.uniform(lo, hi);
    return new ND(shape, data);
  }

  ndNormal(shape: readonly number[], mean = 0, std = 1): ND {
    const data = new Float64Array(size(shape));
    for (let i = 0; i < data.length; i++) data[i] = mean + std * this.normal();
    return new ND(shape, data);
  }

  /** Integer-valued ND (e.g. indices or actions) uniform in [lo, hiExclusive). */
  ndInt(shape: readonly number[], lo: number, hiExclusive: number): ND {
    const data = new Float64Array(size(shape));
    for (let i = 0; i < data.length; i++) data[i] = this.int(lo, hiExclusive);
    return new ND(shape, data);
  }

  /** A shape of the given rank with every dimension uniform in [1, maxDim]. */
  randomShape(rank: number, maxDim: number): number[] {
    return Array.from({ length: rank }, () => this.int(1, maxDim + 1));
  }

  /**
   * Two shapes that broadcast together (numpy rules) to a shape of the given rank. One of them
   * has the full rank, the other a random rank in [0, rank] (so 0-d and lower-rank operands
   * occur), and each dimension of either is independently replaced by 1 with probability 1/3
   * (so size-1 broadcasting occurs on either side). Which operand is the shorter one is random.
   */
  randomBroadcastPair(rank: number, maxDim: number): [number[], number[]] {
    const target = this.randomShape(rank, maxDim);
    const withOnes = (s: number[]) => s.map((d) => (this.bool(1 / 3) ? 1 : d));
    const full = withOnes(target);
    const shortRank = this.int(0, rank + 1);
    const short = withOnes(target.slice(rank - shortRank));
    return this.bool() ? [full, short] : [short, full];
  }
}

/** A seeded generator (mulberry32). The same seed always gives the same stream. */
export function rng(seed: number): Rng {
  return new Rng(seed);
}
