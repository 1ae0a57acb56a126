/**
 * Pictures of a MuJoCo state without an OpenGL context (the WebAssembly build has no offscreen
 * renderer): an orthographic projection of the geoms, from the side (x right, z up) or from
 * above (x right, y up). Capsules project exactly to a thick segment with round caps, spheres
 * to discs; cylinders are drawn as thick segments and planes as the ground line (side) or a
 * grid (top). SVG for PNGs (rasterised by ../render.ts), characters for the terminal.
 */
import { escapeXml } from '../render.ts';

/** Geometry of one state (from forward kinematics): flat arrays as MuJoCo lays them out. */
export interface Pose {
  ngeom: number;
  type: number[];
  /** 3 per geom. */
  size: number[];
  body: number[];
  /** 3 per geom. */
  xpos: number[];
  /** 9 per geom, row-major rotation. */
  xmat: number[];
  qpos: number[];
}

// mjtGeom
const PLANE = 0;
const SPHERE = 2;
const CAPSULE = 3;
const ELLIPSOID = 4;
const CYLINDER = 5;
const BOX = 6;

type Axis = 0 | 1 | 2;
interface Projection {
  u: Axis;
  v: Axis;
  depth: Axis;
  /** Larger depth drawn first (side view: the camera looks along +y from −y). */
  farFirst: boolean;
}
const SIDE: Projection = { u: 0, v: 2, depth: 1, farFirst: true };
const TOP: Projection = { u: 0, v: 1, depth: 2, farFirst: false };

interface Shape {
  kind: 'segment' | 'disc' | 'box';
  a: [number, number];
  b: [number, number];
  r: number;
  depth: number;
  body: number;
  /** box: projected corners */
  poly?: [number, number][];
}

/** The geoms' silhouettes in the projection plane (planes excluded). */
function shapes(p: Pose, pr: Projection): Shape[] {
  const out: Shape[] = [];
  for (let g = 0; g < p.ngeom; g++) {
    const t = p.type[g]!;
    const c = [p.xpos[3 * g]!, p.xpos[3 * g + 1]!, p.xpos[3 * g + 2]!];
    const R = p.xmat.slice(9 * g, 9 * g + 9);
    const s = p.size.slice(3 * g, 3 * g + 3);
    const depth = c[pr.depth]!;
    if (t === CAPSULE || t === CYLINDER) {
      const h = s[1]!;
      // The geom's own z axis is the third column of its rotation.
      const ax = [R[2]!, R[5]!, R[8]!];
      const a: [number, number] = [c[pr.u]! - h * ax[pr.u]!, c[pr.v]! - h * ax[pr.v]!];
      const b: [number, number] = [c[pr.u]! + h * ax[pr.u]!, c[pr.v]! + h * ax[pr.v]!];
      out.push({ kind: 'segment', a, b, r: s[0]!, depth, body: p.body[g]! });
    } else if (t === SPHERE || t === ELLIPSOID) {
      out.push({ kind: 'disc', a: [c[pr.u]!, c[pr.v]!], b: [c[pr.u]!, c[pr.v]!], r: s[0]!, depth, body: p.body[g]! });
    } else if (t === BOX) {
      const poly: [number, number][] = [];
      for (const sx of [-1, 1]) {
        for (const sy of [-1, 1]) {
          for (const sz of [-1, 1]) {
            const l = [sx * s[0]!, sy * s[1]!, sz * s[2]!];
            const w = [0, 1, 2].map((i) => c[i]! + R[3 * i]! * l[0]! + R[3 * i + 1]! * l[1]! + R[3 * i + 2]! * l[2]!);
            poly.push([w[pr.u]!, w[pr.v]!]);
          }
        }
      }
      out.push({ kind: 'box', a: [c[pr.u]!, c[pr.v]!], b: [c[pr.u]!, c[pr.v]!], r: 0, depth, body: p.body[g]!, poly: hull(poly) });
    }
  }
  out.sort((x, y) => (pr.farFirst ? y.depth - x.depth : x.depth - y.depth));
  return out;
}

function hull(pts: [number, number][]): [number, number][] {
  const p = [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: number[], a: number[], b: number[]) => (a[0]! - o[0]!) * (b[1]! - o[1]!) - (a[1]! - o[1]!) * (b[0]! - o[0]!);
  const lower: [number, number][] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: [number, number][] = [];
  for (const q of p.reverse()) {
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop();
    upper.push(q);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/** World window [u0, u1] × [v0, v1] around the shapes, padded, at least `minSpan` wide/high. */
function frame(sh: Shape[], planeV: number | undefined, minSpan: number) {
  let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity; // prettier-ignore
  for (const s of sh) {
    for (const q of s.poly ?? [s.a, s.b]) {
      u0 = Math.min(u0, q[0] - s.r);
      u1 = Math.max(u1, q[0] + s.r);
      v0 = Math.min(v0, q[1] - s.r);
      v1 = Math.max(v1, q[1] + s.r);
    }
  }
  if (planeV !== undefined) v0 = Math.min(v0, planeV);
  if (!Number.isFinite(u0)) [u0, u1, v0, v1] = [-1, 1, -1, 1];
  const cu = (u0 + u1) / 2;
  const cv = (v0 + v1) / 2;
  const span = Math.max(minSpan, (u1 - u0) * 1.25, (v1 - v0) * 1.25);
  return { u0: cu - span / 2, v0: cv - span / 2, span };
}

const PALETTE = ['#c8863c', '#3c78b4', '#b4503c', '#5a9a46', '#8a5ab4', '#c8a83c', '#3ca0a0', '#b43c82'];

function planeLevel(p: Pose, pr: Projection): number | undefined {
  for (let g = 0; g < p.ngeom; g++) if (p.type[g] === PLANE) return p.xpos[3 * g + pr.v];
  return undefined;
}

function panelSvg(p: Pose, pr: Projection, x: number, y: number, W: number, label: string): string {
  const sh = shapes(p, pr);
  const ground = pr === SIDE ? planeLevel(p, pr) : undefined;
  const { u0, v0, span } = frame(sh, ground, pr === SIDE ? 2.0 : 0.6);
  const k = W / span;
  const X = (u: number) => (x + (u - u0) * k).toFixed(2);
  const Y = (v: number) => (y + W - (v - v0) * k).toFixed(2);
  const parts: string[] = [`<rect x="${x}" y="${y}" width="${W}" height="${W}" fill="#f4f6f8" stroke="#ccc"/>`];
  // Ground marks every 0.5 m (side: ticks on the floor line; top: a grid), so motion shows.
  const step = span > 3 ? 0.5 : 0.1;
  if (pr === SIDE && ground !== undefined) {
    parts.push(`<rect x="${x}" y="${Y(ground)}" width="${W}" height="${Math.max(0, y + W - Number(Y(ground)))}" fill="#dde5d8"/>`);
    parts.push(`<line x1="${x}" y1="${Y(ground)}" x2="${x + W}" y2="${Y(ground)}" stroke="#6a7a60" stroke-width="1.5"/>`);
    for (let u = Math.ceil(u0 / step) * step; u <= u0 + span; u += step) {
      parts.push(`<line x1="${X(u)}" y1="${Y(ground)}" x2="${X(u)}" y2="${(Number(Y(ground)) + 6).toFixed(2)}" stroke="#6a7a60"/>`);
    }
  } else if (pr === TOP && planeLevel(p, pr) !== undefined) {
    for (let u = Math.ceil(u0 / step) * step; u <= u0 + span; u += step) {
      parts.push(`<line x1="${X(u)}" y1="${y}" x2="${X(u)}" y2="${y + W}" stroke="#e0e4e8"/>`);
    }
    for (let v = Math.ceil(v0 / step) * step; v <= v0 + span; v += step) {
      parts.push(`<line x1="${x}" y1="${Y(v)}" x2="${x + W}" y2="${Y(v)}" stroke="#e0e4e8"/>`);
    }
  }
  for (const s of sh) {
    const col = PALETTE[s.body % PALETTE.length];
    if (s.kind === 'segment') {
      parts.push(
        `<line x1="${X(s.a[0])}" y1="${Y(s.a[1])}" x2="${X(s.b[0])}" y2="${Y(s.b[1])}" stroke="${col}" stroke-width="${Math.max(1, 2 * s.r * k).toFixed(2)}" stroke-linecap="round" stroke-opacity="0.92"/>`,
      );
    } else if (s.kind === 'disc') {
      parts.push(`<circle cx="${X(s.a[0])}" cy="${Y(s.a[1])}" r="${Math.max(1, s.r * k).toFixed(2)}" fill="${col}" fill-opacity="0.92"/>`);
    } else {
      parts.push(`<polygon points="${s.poly!.map((q) => `${X(q[0])},${Y(q[1])}`).join(' ')}" fill="${col}"/>`);
    }
  }
  parts.push(`<text x="${x + 6}" y="${y + W - 6}" font-family="sans-serif" font-size="11" fill="#555">${escapeXml(label)} · 1 m = ${k.toFixed(0)} px</text>`);
  return parts.join('');
}

/** An SVG picture: one panel (side or top view) or both side by side. */
export function renderMujocoSvg(p: Pose, view: 'side' | 'top' | 'side+top', title: string): string {
  const W = 360;
  const top = 22;
  const panels = view === 'side+top' ? [SIDE, TOP] : [view === 'side' ? SIDE : TOP];
  const width = W * panels.length;
  const height = W + top;
  const body = panels.map((pr, i) => panelSvg(p, pr, i * W, top, W, pr === SIDE ? 'side (x→, z↑)' : 'top (x→, y↑)')).join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="#ffffff"/>` +
    `<text x="6" y="16" font-family="sans-serif" font-size="13" fill="#222">${escapeXml(title)}</text>` +
    body +
    '</svg>'
  );
}

/** Distance from point q to segment ab. */
function segDist(q: [number, number], a: [number, number], b: [number, number]): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const L = dx * dx + dy * dy;
  const t = L > 0 ? Math.max(0, Math.min(1, ((q[0] - a[0]) * dx + (q[1] - a[1]) * dy) / L)) : 0;
  return Math.hypot(q[0] - a[0] - t * dx, q[1] - a[1] - t * dy);
}

/** A character picture (cells twice as tall as wide): '#' body, '=' ground. */
export function renderMujocoText(p: Pose, view: 'side' | 'top', cols = 56, rows = 28): string {
  const pr = view === 'side' ? SIDE : TOP;
  const sh = shapes(p, pr);
  const ground = pr === SIDE ? planeLevel(p, pr) : undefined;
  const { u0, v0, span } = frame(sh, ground, pr === SIDE ? 2.0 : 0.6);
  const cw = span / cols; // cell width in metres; rows cover span·rows·2/cols
  const ch = 2 * cw;
  const vTop = v0 + (span + rows * ch) / 2; // centre the rows on the frame
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    let line = '';
    const vv = vTop - (r + 0.5) * ch;
    for (let c = 0; c < cols; c++) {
      const q: [number, number] = [u0 + (c + 0.5) * cw, vv];
      let chr = ' ';
      for (const s of sh) {
        if (segDist(q, s.a, s.b) <= Math.max(s.r, cw / 2)) {
          chr = '#';
          break;
        }
      }
      if (chr === ' ' && ground !== undefined && vv < ground) chr = Math.abs(vv - ground) < ch ? '=' : ' ';
      line += chr;
    }
    lines.push('|' + line + '|');
  }
  return lines.join('\n');
}
