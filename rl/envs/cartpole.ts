import { escapeXml, textGauge } from './render.ts';
import type { Rng } from './rng.ts';
import type { BoxSpace, DiscreteSpace, EnvCore } from './types.ts';

// docs/spec/classic.md § CartPole-v1.
export const CARTPOLE = {
  gravity: 9.8,
  massCart: 1.0,
  massPole: 0.1,
  halfLength: 0.5,
  forceMag: 10,
  tau: 0.02,
  xThreshold: 2.4,
  /** 12° in radians (the spec's 0.20944 rounded). */
  thetaThreshold: (12 * 2 * Math.PI) / 360,
  maxEpisodeSteps: 500,
} as const;

export const cartpoleObservationSpace: BoxSpace = {
  kind: 'box',
  shape: [4],
  // Gymnasium's bounds: twice the termination thresholds; velocities unbounded.
  low: [-2 * CARTPOLE.xThreshold, -Infinity, -2 * CARTPOLE.thetaThreshold, -Infinity],
  high: [2 * CARTPOLE.xThreshold, Infinity, 2 * CARTPOLE.thetaThreshold, Infinity],
};
export const cartpoleActionSpace: DiscreteSpace = { kind: 'discrete', n: 2 };

export interface CartPoleState {
  x: number;
  xDot: number;
  theta: number;
  thetaDot: number;
  terminated: boolean;
}

/** CartPole-v1 with float64 state (observations are the float32 rounding of it). */
export class CartPole implements EnvCore {
  state: CartPoleState = { x: 0, xDot: 0, theta: 0, thetaDot: 0, terminated: false };

  get terminated(): boolean {
    return this.state.terminated;
  }

  reset(rng: Rng): void {
    const s = this.state;
    s.x = rng.uniformRange(-0.05, 0.05);
    s.xDot = rng.uniformRange(-0.05, 0.05);
    s.theta = rng.uniformRange(-0.05, 0.05);
    s.thetaDot = rng.uniformRange(-0.05, 0.05);
    s.terminated = false;
  }

  step(action: number): number {
    const s = this.state;
    const { gravity: g, massCart: mc, massPole: mp, halfLength: l, forceMag, tau } = CARTPOLE;
    const total = mc + mp;
    const force = action === 1 ? forceMag : -forceMag;
    const cos = Math.cos(s.theta);
    const sin = Math.sin(s.theta);
    const temp = (force + mp * l * s.thetaDot * s.thetaDot * sin) / total;
    const thetaAcc = (g * sin - cos * temp) / (l * (4 / 3 - (mp * cos * cos) / total));
    const xAcc = temp - (mp * l * thetaAcc * cos) / total;
    // Euler: positions from the old velocities, then velocities.
    s.x += tau * s.xDot;
    s.xDot += tau * xAcc;
    s.theta += tau * s.thetaDot;
    s.thetaDot += tau * thetaAcc;
    s.terminated =
      s.x < -CARTPOLE.xThreshold ||
      s.x > CARTPOLE.xThreshold ||
      s.theta < -CARTPOLE.thetaThreshold ||
      s.theta > CARTPOLE.thetaThreshold;
    return 1;
  }

  writeObs(out: Float32Array, o: number): void {
    const s = this.state;
    out[o] = s.x;
    out[o + 1] = s.xDot;
    out[o + 2] = s.theta;
    out[o + 3] = s.thetaDot;
  }

  getState(): CartPoleState {
    return { ...this.state };
  }

  setState(st: unknown): void {
    this.state = { ...(st as CartPoleState) };
  }

  /** The drawable state: the current one, or the one an observation shows (it is the full state). */
  private view(obs?: Float32Array): CartPoleState {
    if (!obs) return this.state;
    return { x: obs[0]!, xDot: obs[1]!, theta: obs[2]!, thetaDot: obs[3]!, terminated: false };
  }

  renderText(obs?: Float32Array): string {
    const s = this.view(obs);
    const deg = (s.theta * 180) / Math.PI;
    return [
      `cart x ${textGauge(s.x, -2.4, 2.4)} ${s.x.toFixed(3)}`,
      `pole θ ${textGauge(s.theta, -CARTPOLE.thetaThreshold, CARTPOLE.thetaThreshold)} ${deg.toFixed(2)}°`,
      `ẋ ${s.xDot.toFixed(3)}  θ̇ ${s.thetaDot.toFixed(3)}${s.terminated ? '  [terminated]' : ''}`,
    ].join('\n');
  }

  renderSvg(obs?: Float32Array): string {
    const s = this.view(obs);
    const W = 600;
    const H = 300;
    const scale = W / (2 * CARTPOLE.xThreshold * 1.2);
    const cx = W / 2 + s.x * scale;
    const cy = 200;
    const poleLen = 2 * CARTPOLE.halfLength * scale;
    const px = cx + poleLen * Math.sin(s.theta);
    const py = cy - poleLen * Math.cos(s.theta);
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
      `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
      `<line x1="0" y1="${cy + 15}" x2="${W}" y2="${cy + 15}" stroke="#000" stroke-width="1"/>`,
      `<rect x="${cx - 25}" y="${cy - 15}" width="50" height="30" fill="#333"/>`,
      `<line x1="${cx}" y1="${cy}" x2="${px}" y2="${py}" stroke="#ca9865" stroke-width="10" stroke-linecap="round"/>`,
      `<circle cx="${cx}" cy="${cy}" r="5" fill="#8184cb"/>`,
      `<text x="8" y="20" font-family="sans-serif" font-size="14">${escapeXml(
        `cartpole x=${s.x.toFixed(3)} θ=${((s.theta * 180) / Math.PI).toFixed(2)}°`,
      )}</text>`,
      '</svg>',
    ].join('');
  }
}
