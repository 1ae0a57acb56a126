// The project's plotting helper: small builders that return Vega-Lite specs, and one function
// that renders a spec (or an SVG string) to `.svg` and `.png` files.
//
// Vega-Lite is the grammar (a spec is plain JSON, so callers can tweak any field before
// rendering); Vega renders it headless to SVG (renderer 'none', no canvas or DOM needed);
// resvg turns the SVG into a PNG with the system's fonts. Nothing here touches the GPU.
//
//   import { lineChart, savePlot } from '../util/plot.ts';
//   await savePlot(lineChart({ title: 'CartPole', xLabel: 'steps', yLabel: 'return',
//     series: [{ name: 'PPO', x, y, lo, hi }] }), 'docs/figures/cartpole');
//   // → docs/figures/cartpole.svg and docs/figures/cartpole.png
//
// Builders: lineChart (lines with optional shaded bands, log axes), vectorField (arrows of a
// 2-D field with optional trajectories and marked points), and grid (panels side by side or
// in rows). Every builder takes optional width/height in pixels.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { resvg } from '../rl/envs/render.ts';

/** A Vega-Lite spec (top level or a layer/panel); plain JSON. */
export type VlSpec = Record<string, unknown>;

/** One line of a chart: x/y values, and optionally a band [lo, hi] drawn shaded around it. */
export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  lo?: ArrayLike<number>;
  hi?: ArrayLike<number>;
  /** Dash pattern, e.g. [4, 2]; solid when absent. */
  dash?: number[];
}

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  logX?: boolean;
  logY?: boolean;
  /** Fixed axis ranges; otherwise the data decide (with a nice rounding). */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Legend placement (default 'right'; 'none' hides it). */
  legend?: 'right' | 'bottom' | 'top' | 'none';
  /** Color per series name, e.g. { PPO: '#1f77b4' }; otherwise the category10 palette. */
  colors?: Record<string, string>;
}

export interface LineChartOptions extends ChartOptions {
  series: Series[];
  /** Draw a point at every sample as well (default false). */
  points?: boolean;
  /** Line width in pixels (default 2). */
  strokeWidth?: number;
  /** At most this many samples per series are drawn (evenly strided, last kept); default 4000. */
  maxPoints?: number;
}

/** Drops non-finite values, and (for log axes) non-positive ones, so one bad value can't blank a chart. */
function usable(v: number, log: boolean) {
  return Number.isFinite(v) && (!log || v > 0);
}

/** Evenly strided indices 0..n-1 (always including the last), at most max of them. */
export function strideIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  const step = (n - 1) / (max - 1);
  for (let k = 0; k < max; k++) out.push(Math.round(k * step));
  return [...new Set(out)];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The color of each series: `colors[name]`, else the category10 palette in series order. */
function seriesColors(names: string[], colors?: Record<string, string>): string[] {
  return names.map((n, i) => colors?.[n] ?? PALETTE[i % PALETTE.length]);
}

function colorScale(names: string[], colors?: Record<string, string>) {
  return { domain: names, range: seriesColors(names, colors) };
}

function legendOf(o: ChartOptions) {
  if (o.legend === 'none') return null;
  return { orient: o.legend ?? 'right', title: null };
}

function axisScale(log: boolean | undefined, domain?: [number, number]) {
  const s: Record<string, unknown> = log ? { type: 'log' } : { zero: false };
  if (domain) {
    s.domain = domain;
    s.clamp = true;
  }
  return s;
}

/**
 * Lines (one per series) over a shared x axis, with optional shaded bands (mean ± spread
 * across seeds, min/max, ...). Returns a Vega-Lite spec for savePlot/renderSvg.
 */
export function lineChart(o: LineChartOptions): VlSpec {
  const max = o.maxPoints ?? 4000;
  const rows: Array<Record<string, unknown>> = [];
  for (const s of o.series) {
    if (s.x.length !== s.y.length) throw new Error(`lineChart: series '${s.name}' has ${s.x.length} x values and ${s.y.length} y values`);
    for (const [k, arr] of [['lo', s.lo], ['hi', s.hi]] as const) {
      if (arr && arr.length !== s.x.length) throw new Error(`lineChart: series '${s.name}' has ${s.x.length} x values and ${arr.length} ${k} values`);
    }
    for (const i of strideIndices(s.x.length, max)) {
      const x = s.x[i], y = s.y[i];
      if (!usable(x, !!o.logX) || !usable(y, !!o.logY)) continue;
      const row: Record<string, unknown> = { series: s.name, x, y };
      if (s.lo && s.hi && usable(s.lo[i], !!o.logY) && usable(s.hi[i], !!o.logY)) {
        row.lo = s.lo[i];
        row.hi = s.hi[i];
      }
      rows.push(row);
    }
  }
  const names = o.series.map((s) => s.name);
  const color = { field: 'series', type: 'nominal', scale: colorScale(names, o.colors), legend: legendOf(o), sort: names };
  const x = { field: 'x', type: 'quantitative', title: o.xLabel ?? 'x', scale: axisScale(o.logX, o.xDomain) };
  const yScale = axisScale(o.logY, o.yDomain);
  const layers: VlSpec[] = [];
  // Bands: one layer per series with a fixed color (no color encoding, so no second legend).
  const palette = seriesColors(names, o.colors);
  o.series.forEach((s, i) => {
    if (!s.lo || !s.hi) return;
    layers.push({
      mark: { type: 'area', opacity: 0.2, color: palette[i], clip: true },
      transform: [{ filter: { and: [{ field: 'series', equal: s.name }, 'isValid(datum.lo) && isValid(datum.hi)'] } }],
      encoding: { x, y: { field: 'lo', type: 'quantitative', scale: yScale, title: o.yLabel ?? 'y' }, y2: { field: 'hi' } },
    });
  });
  const dashed = o.series.filter((s) => s.dash);
  layers.push({
    mark: { type: 'line', strokeWidth: o.strokeWidth ?? 2, point: !!o.points, clip: true },
    encoding: {
      x,
      y: { field: 'y', type: 'quantitative', scale: yScale, title: o.yLabel ?? 'y' },
      color,
      ...(dashed.length
        ? {
            strokeDash: {
              field: 'series', type: 'nominal', legend: null,
              scale: { domain: names, range: o.series.map((s) => s.dash ?? [1, 0]) },
            },
          }
        : {}),
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(o.title ? { title: o.title } : {}),
    width: o.width ?? 480,
    height: o.height ?? 300,
    data: { values: rows },
    layer: layers,
  };
}

/** A 2-D vector field: arrows at sample points, with optional trajectories and marked points. */
export interface VectorFieldOptions extends ChartOptions {
  /** The field f(x, y) → [u, v], sampled on an n×n grid over the domains (or give `arrows`). */
  field?: (x: number, y: number) => [number, number];
  /** Grid resolution per axis for `field` (default 15). */
  gridSize?: number;
  /** Explicit arrows instead of `field`. */
  arrows?: Array<{ x: number; y: number; u: number; v: number }>;
  /**
   * Arrow length: 'normalized' (default) draws every arrow the same length (direction only,
   * magnitude as color); 'scaled' draws lengths proportional to the magnitude (longest = one cell).
   */
  arrowLength?: 'normalized' | 'scaled';
  /** Trajectories drawn as lines (x, y are the path's coordinates), in order of the samples. */
  trajectories?: Series[];
  /** Marked points (equilibria, starts): drawn as labelled symbols. */
  points?: Array<{ x: number; y: number; label?: string; shape?: string; color?: string }>;
  /** Max samples per trajectory (evenly strided); default 4000. */
  maxPoints?: number;
}

/**
 * A quiver plot of a 2-D field over xDomain × yDomain (both required), with trajectories on top.
 * Arrows are rule marks (shaft) plus rotated triangle points (head); magnitude sets their shade.
 */
export function vectorField(o: VectorFieldOptions): VlSpec {
  if (!o.xDomain || !o.yDomain) throw new Error('vectorField: xDomain and yDomain are required');
  const [x0, x1] = o.xDomain, [y0, y1] = o.yDomain;
  const n = o.gridSize ?? 15;
  let arrows = o.arrows;
  if (!arrows) {
    if (!o.field) throw new Error('vectorField: give `field` or `arrows`');
    arrows = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const x = x0 + ((i + 0.5) / n) * (x1 - x0);
        const y = y0 + ((j + 0.5) / n) * (y1 - y0);
        const [u, v] = o.field(x, y);
        arrows.push({ x, y, u, v });
      }
    }
  }
  // Arrow lengths in data units: a fraction of one grid cell per axis, so arrows don't overlap.
  const cx = ((x1 - x0) / n) * 0.8, cy = ((y1 - y0) / n) * 0.8;
  const width = o.width ?? 420, height = o.height ?? 420;
  const mags = arrows.map((a) => Math.hypot(a.u, a.v));
  const maxMag = Math.max(1e-30, ...mags.filter(Number.isFinite));
  const arrowRows = arrows.flatMap((a, k) => {
    const m = mags[k];
    if (!Number.isFinite(m) || m === 0) return [];
    // Direction in screen units (pixels per data unit differ per axis), so heads point along the shaft.
    const len = o.arrowLength === 'scaled' ? m / maxMag : 1;
    const sx = (a.u / m) * len * cx, sy = (a.v / m) * len * cy;
    const px = (sx / (x1 - x0)) * width, py = (sy / (y1 - y0)) * height;
    // Vega angles: degrees clockwise from up (screen y grows downward).
    const angle = (Math.atan2(px, py) * 180) / Math.PI;
    return [{ x: a.x - sx / 2, y: a.y - sy / 2, x2: a.x + sx / 2, y2: a.y + sy / 2, angle, mag: m }];
  });
  const xEnc = { type: 'quantitative', title: o.xLabel ?? 'x', scale: { domain: [x0, x1], nice: false, zero: false } };
  const yEnc = { type: 'quantitative', title: o.yLabel ?? 'y', scale: { domain: [y0, y1], nice: false, zero: false } };
  const shade = { field: 'mag', type: 'quantitative', scale: { range: ['#c8c8c8', '#404040'] }, legend: null };
  const layers: VlSpec[] = [
    {
      data: { values: arrowRows },
      mark: { type: 'rule', strokeWidth: 1.2 },
      encoding: { x: { field: 'x', ...xEnc }, y: { field: 'y', ...yEnc }, x2: { field: 'x2' }, y2: { field: 'y2' }, color: shade },
    },
    {
      data: { values: arrowRows },
      mark: { type: 'point', shape: 'triangle', filled: true, size: 22, opacity: 1 },
      encoding: { x: { field: 'x2', ...xEnc }, y: { field: 'y2', ...yEnc }, angle: { field: 'angle', type: 'quantitative', scale: null }, color: shade },
    },
  ];
  const trajs = o.trajectories ?? [];
  if (trajs.length) {
    const rows: Array<Record<string, unknown>> = [];
    for (const t of trajs) {
      for (const i of strideIndices(t.x.length, o.maxPoints ?? 4000)) {
        if (Number.isFinite(t.x[i]) && Number.isFinite(t.y[i])) rows.push({ series: t.name, px: t.x[i], py: t.y[i], order: i });
      }
    }
    const names = trajs.map((t) => t.name);
    layers.push({
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 2, clip: true },
      encoding: {
        x: { field: 'px', ...xEnc },
        y: { field: 'py', ...yEnc },
        order: { field: 'order', type: 'quantitative' },
        color: { field: 'series', type: 'nominal', scale: colorScale(names, o.colors), legend: legendOf(o), sort: names },
        ...(trajs.some((t) => t.dash)
          ? { strokeDash: { field: 'series', type: 'nominal', legend: null, scale: { domain: names, range: trajs.map((t) => t.dash ?? [1, 0]) } } }
          : {}),
      },
    });
  }
  if (o.points?.length) {
    const rows = o.points.map((p) => ({ px: p.x, py: p.y, label: p.label ?? '', shape: p.shape ?? 'circle', c: p.color ?? 'black' }));
    layers.push({
      data: { values: rows },
      mark: { type: 'point', filled: true, size: 70 },
      encoding: {
        x: { field: 'px', ...xEnc }, y: { field: 'py', ...yEnc },
        shape: { field: 'shape', type: 'nominal', scale: null },
        color: { field: 'c', type: 'nominal', scale: null },
      },
    });
    layers.push({
      data: { values: rows },
      mark: { type: 'text', dx: 6, dy: -8, align: 'left', fontSize: 11 },
      encoding: { x: { field: 'px', ...xEnc }, y: { field: 'py', ...yEnc }, text: { field: 'label' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(o.title ? { title: o.title } : {}),
    width,
    height,
    layer: layers,
    resolve: { scale: { color: 'independent' } },
  };
}

/** Panels in a row (columns = panels.length) or wrapped into rows of `columns`. */
export function grid(panels: VlSpec[], opts: { columns?: number; title?: string } = {}): VlSpec {
  const strip = (p: VlSpec) => {
    const { $schema: _s, ...rest } = p;
    return rest;
  };
  const cols = opts.columns ?? panels.length;
  const rows: VlSpec[] = [];
  for (let i = 0; i < panels.length; i += cols) rows.push({ hconcat: panels.slice(i, i + cols).map(strip) });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(opts.title ? { title: opts.title } : {}),
    ...(rows.length === 1 ? rows[0] : { vconcat: rows }),
    // Panels keep their own color scales (each legend belongs to its panel).
    resolve: { scale: { color: 'independent' } },
  };
}

/** Renders a Vega-Lite spec to an SVG string (headless, white background). */
export async function renderSvg(spec: VlSpec): Promise<string> {
  const withBg = { background: 'white', ...spec };
  // Vega-Lite's warnings (e.g. merging a legend disabled on one layer) are noise here.
  const compiled = vl.compile(withBg as any, { logger: vega.logger(vega.Error) as any }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG string to PNG bytes (scale 2 by default, for crisp figures in docs). */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  const r = new (resvg())(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return r.render().asPng();
}

export interface SaveOptions {
  /** Write the PNG as well (default true). */
  png?: boolean;
  /** PNG zoom factor (default 2). */
  scale?: number;
}

/**
 * Writes `<path>.svg` and `<path>.png` (creating folders) from a Vega-Lite spec or an SVG string.
 * Returns the paths written.
 */
export async function savePlot(specOrSvg: VlSpec | string, path: string, opts: SaveOptions = {}): Promise<string[]> {
  const svg = typeof specOrSvg === 'string' ? specOrSvg : await renderSvg(specOrSvg);
  const base = path.replace(/\.(svg|png)$/i, '');
  mkdirSync(dirname(base) || '.', { recursive: true });
  const out = [`${base}.svg`];
  writeFileSync(out[0], svg);
  if (opts.png ?? true) {
    out.push(`${base}.png`);
    writeFileSync(out[1], svgToPng(svg, opts.scale ?? 2));
  }
  return out;
}
