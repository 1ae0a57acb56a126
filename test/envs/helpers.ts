import type { Rng } from '../../rl/envs/rng.ts';
import { GRID, type Game } from '../../rl/envs/minatar/common.ts';

/**
 * A stand-in for Rng that hands out scripted uniforms in [0, 1): uniform() returns the next
 * value, int(n) returns floor(value·n). Throws when the script runs out, so a test also pins
 * down how many draws a step makes.
 */
export function scriptedRng(values: number[] = []): Rng & { remaining(): number } {
  let i = 0;
  const next = (): number => {
    if (i >= values.length) throw new Error(`scripted rng exhausted after ${values.length} draws`);
    return values[i++]!;
  };
  return {
    uniform: next,
    int: (n: number) => Math.floor(next() * n),
    uniformRange: (lo: number, hi: number) => lo + (hi - lo) * next(),
    nextU32: () => Math.floor(next() * 2 ** 32),
    bernoulli: (p: number) => next() < p,
    remaining: () => values.length - i,
  } as unknown as Rng & { remaining(): number };
}

/** Observation of a game in a fresh array. */
export function obsOf(g: Game): Float32Array {
  const o = new Float32Array(GRID * GRID * g.channels);
  g.writeObs(o, 0);
  return o;
}

/** Cells "y,x" set in channel c, sorted. */
export function cells(obs: Float32Array, C: number, c: number, offset = 0): string[] {
  const out: string[] = [];
  for (let y = 0; y < GRID; y++) {
    for (let x = 0; x < GRID; x++) if (obs[offset + (y * GRID + x) * C + c] === 1) out.push(`${y},${x}`);
  }
  return out.sort();
}

/** Every entry is exactly 0 or 1. */
export function isBinary(obs: Float32Array): boolean {
  for (const v of obs) if (v !== 0 && v !== 1) return false;
  return true;
}

/** Order-sensitive 2×32-bit digest of float32 values (cheap to compare, unlike long arrays). */
export class Digest {
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  private n = 0;
  private readonly f = new Float32Array(1);
  private readonly u = new Uint32Array(this.f.buffer);
  add(values: ArrayLike<number>): this {
    for (let i = 0; i < values.length; i++) {
      this.f[0] = values[i]!;
      const w = this.u[0]!;
      this.h1 = Math.imul(this.h1 ^ w, 0x01000193) >>> 0;
      this.h2 = (Math.imul(this.h2 + w, 0x85ebca6b) ^ (this.h2 >>> 13)) >>> 0;
      this.n++;
    }
    return this;
  }
  value(): string {
    return `${this.n}:${this.h1.toString(16)}:${this.h2.toString(16)}`;
  }
}
