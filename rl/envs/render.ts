import { nodeBuiltin } from '../../kernels/common.ts';
import type { Resvg as ResvgClass } from '@resvg/resvg-js';

// resvg (SVG -> PNG) is loaded on first use rather than at import time: it is a native addon,
// and a bundled entry point (bench/*.ts packed by scripts/device-bench.sh for a lent GPU
// machine, which has no node_modules) must load without it; only a PNG request needs it.

let cached: typeof ResvgClass | null = null;

/** The Resvg class; throws a clear error where the package is not installed. */
export function resvg(): typeof ResvgClass {
  if (cached) return cached;
  // A computed specifier keeps bundlers from inlining the native binding.
  const name = ['@resvg', 'resvg-js'].join('/');
  const mod = nodeBuiltin<typeof import('node:module')>('node:module');
  if (!mod) throw new Error(`PNG output needs Node (the ${name} package); in a browser draw the SVG instead`);
  try {
    cached = (mod.createRequire(import.meta.url)(name) as { Resvg: typeof ResvgClass }).Resvg;
  } catch (e) {
    throw new Error(`PNG output needs the ${name} package, which did not load here (${(e as Error).message.split('\n')[0]}); SVG output works without it`);
  }
  return cached;
}

/** Rasterise an SVG document to PNG bytes (optionally fit to a pixel width). */
export function svgToPng(svg: string, width?: number): Uint8Array {
  const r = new (resvg())(svg, {
    fitTo: width ? { mode: 'width', value: width } : { mode: 'original' },
    background: 'white',
  });
  return r.render().asPng();
}

/** How one channel of a grid observation is drawn. Earlier entries win a shared cell. */
export interface ChannelStyle {
  channel: number;
  name: string;
  char: string;
  color: string;
}

/**
 * Text frame of a 10×10×C grid observation ((row, col, channel) layout): one character per
 * cell (doubled for a squarer aspect), '·' for an empty cell, plus a legend line.
 */
export function gridText(obs: Float32Array, C: number, styles: ChannelStyle[], H = 10, W = 10): string {
  const lines: string[] = [];
  lines.push('+' + '-'.repeat(2 * W) + '+');
  for (let y = 0; y < H; y++) {
    let line = '|';
    for (let x = 0; x < W; x++) {
      let ch = ' .';
      for (const s of styles) {
        if (obs[(y * W + x) * C + s.channel]! > 0) {
          ch = s.char.length === 1 ? s.char + s.char : s.char.slice(0, 2);
          break;
        }
      }
      line += ch;
    }
    lines.push(line + '|');
  }
  lines.push('+' + '-'.repeat(2 * W) + '+');
  lines.push(styles.map((s) => `${s.char}=${s.name}`).join(' '));
  return lines.join('\n');
}

/** SVG frame of a grid observation: each cell coloured by the first channel present in it. */
export function gridSvg(
  obs: Float32Array,
  C: number,
  styles: ChannelStyle[],
  title: string,
  cell = 24,
  H = 10,
  W = 10,
): string {
  const top = 20;
  const w = W * cell;
  const h = H * cell + top;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`,
    `<rect x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text x="4" y="15" font-family="sans-serif" font-size="13" fill="#222">${escapeXml(title)}</text>`,
    `<rect x="0" y="${top}" width="${w}" height="${H * cell}" fill="#111111"/>`,
  ];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (const s of styles) {
        if (obs[(y * W + x) * C + s.channel]! > 0) {
          parts.push(
            `<rect x="${x * cell + 1}" y="${top + y * cell + 1}" width="${cell - 2}" height="${cell - 2}" fill="${s.color}"/>`,
          );
          break;
        }
      }
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A one-line horizontal gauge: `value` in [lo, hi] as a marker on a `width`-char track. */
export function textGauge(value: number, lo: number, hi: number, width = 41): string {
  const t = Math.min(1, Math.max(0, (value - lo) / (hi - lo)));
  const k = Math.round(t * (width - 1));
  return '[' + '-'.repeat(k) + '#' + '-'.repeat(width - 1 - k) + ']';
}
