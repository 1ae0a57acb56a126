// util/plot.ts: specs are well-formed and render to SVG and PNG files.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lineChart, vectorField, grid, renderSvg, savePlot, strideIndices } from '../../util/plot.ts';

describe('util/plot', () => {
  it('strides long series keeping the first and last sample', () => {
    expect(strideIndices(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const s = strideIndices(1000, 11);
    expect(s.length).toBe(11);
    expect(s[0]).toBe(0);
    expect(s[10]).toBe(999);
  });

  it('renders a line chart with bands, log axis and dashed series to SVG and PNG', async () => {
    const x = Array.from({ length: 50 }, (_, i) => i);
    const y = x.map((i) => Math.exp(-i / 10));
    const spec = lineChart({
      title: 'curves', xLabel: 'step', yLabel: 'value', logY: true,
      series: [
        { name: 'mean', x, y, lo: y.map((v) => v / 2), hi: y.map((v) => v * 2) },
        { name: 'other', x, y: y.map((v) => v * 3), dash: [4, 2] },
        { name: 'bad', x: [0, 1], y: [NaN, -1] }, // dropped, not fatal
      ],
    });
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('curves');
    const dir = mkdtempSync(join(tmpdir(), 'plot-'));
    const files = await savePlot(spec, join(dir, 'sub', 'chart'));
    expect(files).toEqual([join(dir, 'sub', 'chart.svg'), join(dir, 'sub', 'chart.png')]);
    const png = readFileSync(files[1]);
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
  });

  it('renders a vector field with trajectories and points, and panels in a grid', async () => {
    const t = Array.from({ length: 100 }, (_, i) => i / 10);
    const vf = vectorField({
      title: 'rotation', xDomain: [-1, 1], yDomain: [-1, 1], gridSize: 8, field: (x, y) => [-y, x],
      trajectories: [{ name: 'orbit', x: t.map((s) => 0.5 * Math.cos(s)), y: t.map((s) => 0.5 * Math.sin(s)) }],
      points: [{ x: 0, y: 0, label: 'eq' }],
    });
    const lc = lineChart({ series: [{ name: 'a', x: [0, 1], y: [1, 2] }] });
    const svg = await renderSvg(grid([vf, lc]));
    expect(svg).toContain('rotation');
    expect(() => lineChart({ series: [{ name: 'a', x: [0, 1], y: [1] }] })).toThrow(/2 x values and 1 y values/);
    expect(() => vectorField({ field: () => [0, 0] })).toThrow(/xDomain and yDomain/);
  });
});
