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
