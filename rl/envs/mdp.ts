import { escapeXml } from './render.ts';
import type { Rng } from './rng.ts';
import type { BoxSpace, DiscreteSpace, EnvCore } from './types.ts';

// docs/spec/classic.md § The 3-state MDP of PAL/MAL. States A=0, B=1, C=2 (terminal); actions X=0, Y=1.
/** P[s][a][s′] for s ∈ {A, B}. */
export const MDP_P: readonly (readonly (readonly number[])[])[] = [
  [
    [0.1, 0.6, 0.3], // A, X
    [1, 0, 0], // A, Y
  ],
  [
    [0, 0.2, 0.8], // B, X
    [0.5, 0.5, 0], // B, Y
  ],
];
/** R[s][a][s′] for s ∈ {A, B}. */
export const MDP_R: readonly (readonly (readonly number[])[])[] = [
  [
    [1.0, -0.05, 1.0],
    [0.75, 0, 0],
  ],
  [
    [0, -0.05, 1.0],
    [0.5, -0.05, 0],
  ],
];
export const MDP_START = 1;
export const MDP_TERMINAL = 2;
export const MDP_MAX_STEPS = 50;
export const MDP_STATE_NAMES = ['A', 'B', 'C'] as const;

/** Observation: one-hot of the state (A, B, C). */
export const mdpObservationSpace: BoxSpace = { kind: 'box', shape: [3], low: [0, 0, 0], high: [1, 1, 1] };
export const mdpActionSpace: DiscreteSpace = { kind: 'discrete', n: 2 };

export interface MdpState {
  s: number;
}

export class ThreeStateMdp implements EnvCore {
  state: MdpState = { s: MDP_START };

  get terminated(): boolean {
    return this.state.s === MDP_TERMINAL;
  }

  reset(): void {
    this.state.s = MDP_START;
  }

  /** One uniform draw per step, inverted through the cumulative row P[s][a]. */
  step(action: number, rng: Rng): number {
    const s = this.state.s;
    if (s === MDP_TERMINAL) return 0; // absorbing (unreachable through VecEnv: it autoresets)
    const p = MDP_P[s]![action]!;
    const u = rng.uniform();
    let next = 2;
    let acc = 0;
    for (let k = 0; k < 3; k++) {
      acc += p[k]!;
      if (u < acc) {
        next = k;
        break;
      }
    }
    // Guard against a zero-probability pick when rounding leaves acc just below 1.
    while (p[next] === 0) next--;
    this.state.s = next;
    return MDP_R[s]![action]![next]!;
  }

  writeObs(out: Float32Array, o: number): void {
    out[o] = 0;
    out[o + 1] = 0;
    out[o + 2] = 0;
    out[o + this.state.s] = 1;
  }

  getState(): MdpState {
    return { ...this.state };
  }

  setState(st: unknown): void {
    this.state = { ...(st as MdpState) };
  }

  private view(obs?: Float32Array): number {
    if (!obs) return this.state.s;
    return obs[0]! > 0 ? 0 : obs[1]! > 0 ? 1 : 2;
  }

  renderText(obs?: Float32Array): string {
    const cur = this.view(obs);
    return MDP_STATE_NAMES.map((n, k) => (k === cur ? `[${n}]` : ` ${n} `)).join(' -- ');
  }

  renderSvg(obs?: Float32Array): string {
    const cur = this.view(obs);
    const parts = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="360" height="140" viewBox="0 0 360 140">`,
      `<rect width="360" height="140" fill="#ffffff"/>`,
    ];
    MDP_STATE_NAMES.forEach((n, k) => {
      const cx = 60 + k * 120;
      const on = k === cur;
      parts.push(
        `<circle cx="${cx}" cy="75" r="35" fill="${on ? '#f4b400' : '#eeeeee'}" stroke="#333" stroke-width="${k === MDP_TERMINAL ? 5 : 2}"/>`,
        `<text x="${cx - 8}" y="83" font-family="sans-serif" font-size="24">${escapeXml(n)}</text>`,
      );
    });
    parts.push('</svg>');
    return parts.join('');
  }
}
