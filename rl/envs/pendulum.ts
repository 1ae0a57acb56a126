import { escapeXml, textGauge } from './render.ts';
import type { Rng } from './rng.ts';
import type { BoxSpace, EnvCore } from './types.ts';

// docs/spec/classic.md § Pendulum-v1.
export const PENDULUM = {
  maxSpeed: 8,
  maxTorque: 2,
  dt: 0.05,
  g: 10,
  m: 1,
  l: 1,
  maxEpisodeSteps: 200,
} as const;

export const pendulumObservationSpace: BoxSpace = {
  kind: 'box',
  shape: [3],
  low: [-1, -1, -PENDULUM.maxSpeed],
  high: [1, 1, PENDULUM.maxSpeed],
};
export const pendulumActionSpace: BoxSpace = {
  kind: 'box',
  shape: [1],
  low: [-PENDULUM.maxTorque],
  high: [PENDULUM.maxTorque],
};

/** ((x + π) mod 2π) − π with a floored (always non-negative) mod. */
export function angleNormalize(x: number): number {
  const t = 2 * Math.PI;
  const y = (x + Math.PI) % t;
  return (y < 0 ? y + t : y) - Math.PI;
}

export interface PendulumState {
  theta: number;
  thetaDot: number;
  lastU: number;
}

/** Pendulum-v1 (float64 state); the action is a torque, clipped to [−2, 2]; never terminates. */
export class Pendulum implements EnvCore {
  state: PendulumState = { theta: 0, thetaDot: 0, lastU: 0 };
  readonly terminated = false;

  reset(rng: Rng): void {
    this.state.theta = rng.uniformRange(-Math.PI, Math.PI);
    this.state.thetaDot = rng.uniformRange(-1, 1);
    this.state.lastU = 0;
  }

  step(action: number): number {
    const s = this.state;
    const { maxSpeed, maxTorque, dt, g, m, l } = PENDULUM;
    const u = Math.min(maxTorque, Math.max(-maxTorque, action));
    const th = s.theta;
    const thDot = s.thetaDot;
    const n = angleNormalize(th);
    const cost = n * n + 0.1 * thDot * thDot + 0.001 * u * u;
    let newThDot = thDot + ((3 * g) / (2 * l) * Math.sin(th) + (3 / (m * l * l)) * u) * dt;
    newThDot = Math.min(maxSpeed, Math.max(-maxSpeed, newThDot));
    s.theta = th + newThDot * dt;
    s.thetaDot = newThDot;
    s.lastU = u;
    return -cost;
  }

  writeObs(out: Float32Array, o: number): void {
    out[o] = Math.cos(this.state.theta);
    out[o + 1] = Math.sin(this.state.theta);
    out[o + 2] = this.state.thetaDot;
  }

  getState(): PendulumState {
    return { ...this.state };
  }

  setState(st: unknown): void {
    this.state = { ...(st as PendulumState) };
  }

  /** Current state, or the one an observation [cos θ, sin θ, θ̇] shows (no torque then). */
  private view(obs?: Float32Array): PendulumState {
    if (!obs) return this.state;
    return { theta: Math.atan2(obs[1]!, obs[0]!), thetaDot: obs[2]!, lastU: 0 };
  }

  renderText(obs?: Float32Array): string {
    const s = this.view(obs);
    const n = angleNormalize(s.theta);
    // θ = 0 is upright; draw the tip on a small 9×9 dial.
    const R = 4;
    const rows: string[][] = Array.from({ length: 2 * R + 1 }, () => Array(2 * R + 1).fill(' '));
    for (let k = 1; k <= R; k++) {
      const x = Math.round(R + k * Math.sin(n));
      const y = Math.round(R - k * Math.cos(n));
      rows[y]![x] = k === R ? 'O' : '*';
    }
    rows[R]![R] = '+';
    return [
      ...rows.map((r) => ' ' + r.join(' ')),
      `θ ${(n * 180 / Math.PI).toFixed(1)}°  θ̇ ${s.thetaDot.toFixed(3)}`,
      `u ${textGauge(s.lastU, -2, 2, 21)} ${s.lastU.toFixed(2)}`,
    ].join('\n');
  }

  renderSvg(obs?: Float32Array): string {
    const s = this.view(obs);
    const W = 300;
    const c = W / 2;
    const len = 100;
    const x = c + len * Math.sin(s.theta);
    const y = c - len * Math.cos(s.theta);
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${W}" viewBox="0 0 ${W} ${W}">`,
      `<rect width="${W}" height="${W}" fill="#ffffff"/>`,
      `<line x1="${c}" y1="${c}" x2="${x}" y2="${y}" stroke="#cc4c4c" stroke-width="18" stroke-linecap="round"/>`,
      `<circle cx="${c}" cy="${c}" r="5" fill="#000"/>`,
      `<text x="8" y="20" font-family="sans-serif" font-size="14">${escapeXml(
        `pendulum θ=${((angleNormalize(s.theta) * 180) / Math.PI).toFixed(1)}° u=${s.lastU.toFixed(2)}`,
      )}</text>`,
      '</svg>',
    ].join('');
  }
}
