// What every page shares: the WebGPU check (a page without WebGPU says why and what to enable
// instead of staying blank), the status banner, small DOM helpers, and a canvas line plot.

import * as E from '../../engine/index.ts';

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: element #${id} is missing`);
  return el as T;
};

/** Shows a message in the page's banner (#status); kind 'error' also logs it. */
export function status(text: string, kind: 'info' | 'error' | 'ok' = 'info') {
  const el = document.getElementById('status');
  if (kind === 'error') console.error(text);
  if (!el) return;
  el.textContent = text;
  el.className = `status ${kind}`;
  el.hidden = !text;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Why this browser cannot run the engine, or null when it can: no secure context, no
 * navigator.gpu, or no adapter. The texts name what to enable.
 */
export async function webgpuProblem(): Promise<string | null> {
  if (!globalThis.isSecureContext) {
    return `WebGPU needs a secure context, and ${location.origin} is not one: open the page over https, or from http://127.0.0.1 or http://localhost (\`npm run serve\` serves it there).`;
  }
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    return 'This browser has no WebGPU (navigator.gpu is missing). Chrome and Edge 113 or later have it on by default on Windows, macOS and ChromeOS; ' +
      'on Linux start Chromium with --enable-unsafe-webgpu (add --enable-features=Vulkan for a hardware GPU). ' +
      'Firefox: set dom.webgpu.enabled to true in about:config (on by default on Windows since Firefox 141). Safari: version 26 or later.';
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return `navigator.gpu.requestAdapter() failed: ${errorText(e)}`;
  }
  if (!adapter) {
    return 'WebGPU is present but offered no adapter: the GPU or its driver is blocklisted, or WebGPU is switched off. ' +
      'Chromium: start it with --enable-unsafe-webgpu (without a GPU it then uses its built-in SwiftShader adapter); check chrome://gpu. ' +
      'Firefox: set gfx.webgpu.ignore-blocklist to true in about:config.';
  }
  return null;
}

/** Initialises the engine on navigator.gpu, or shows why it cannot (returns false). */
export async function startEngine(): Promise<boolean> {
  const problem = await webgpuProblem();
  if (problem) {
    status(problem, 'error');
    document.body.classList.add('no-webgpu');
    return false;
  }
  try {
    const rt = await E.init();
    const info = rt.info.adapterInfo;
    const name = [info.vendor, info.architecture, info.description || info.device].filter(Boolean).join(' ');
    const el = document.getElementById('adapter');
    if (el) el.textContent = name || '(adapter without a name)';
    rt.device.lost.then((l) => {
      if (l.reason !== 'destroyed') status(`The GPU device was lost (${l.reason}: ${l.message}). Reload the page.`, 'error');
    });
    return true;
  } catch (e) {
    status(`Could not start the engine on this browser's WebGPU: ${errorText(e)}`, 'error');
    document.body.classList.add('no-webgpu');
    return false;
  }
}

export interface PlotSeries {
  name: string;
  color: string;
  points: Array<[number, number]>;
  /** Draw points only (no line). */
  dots?: boolean;
}

/** A minimal line plot on a canvas: axes with min/max labels, one line or dot set per series. */
export function drawPlot(canvas: HTMLCanvasElement, series: PlotSeries[], o: { xLabel: string; yLabel: string }) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const dpr = globalThis.devicePixelRatio || 1;
  const W = canvas.clientWidth || canvas.width, H = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(W * dpr)) {
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const L = 52, R = 10, T = 10, B = 34;
  ctx.strokeStyle = '#888';
  ctx.lineWidth = 1;
  ctx.strokeRect(L, T, W - L - R, H - T - B);
  ctx.fillStyle = '#444';
  ctx.font = '11px sans-serif';
  ctx.fillText(o.xLabel, (W + L) / 2 - 20, H - 4);
  ctx.save();
  ctx.translate(12, (H + T - B) / 2 + 20);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(o.yLabel, 0, 0);
  ctx.restore();
  canvas.dataset.points = String(all.length);
  if (!all.length) {
    ctx.fillText('no episodes finished yet', L + 8, T + 18);
    return;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (x1 === x0) (x0 -= 1), (x1 += 1);
  if (y1 === y0) (y0 -= 1), (y1 += 1);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toExponential(1) : +v.toPrecision(3) + '');
  ctx.fillText(fmt(y1), 4, T + 10);
  ctx.fillText(fmt(y0), 4, H - B);
  ctx.fillText(fmt(x0), L, H - B + 14);
  ctx.fillText(fmt(x1), W - R - 40, H - B + 14);
  let legendX = L + 8;
  for (const s of series) {
    ctx.strokeStyle = ctx.fillStyle = s.color;
    if (s.dots) {
      for (const [x, y] of s.points) if (Number.isFinite(y)) ctx.fillRect(px(x) - 1.5, py(y) - 1.5, 3, 3);
    } else {
      ctx.lineWidth = 2;
      ctx.beginPath();
      let first = true;
      for (const [x, y] of s.points) {
        if (!Number.isFinite(y)) continue;
        if (first) ctx.moveTo(px(x), py(y));
        else ctx.lineTo(px(x), py(y));
        first = false;
      }
      ctx.stroke();
    }
    ctx.fillText(s.name, legendX, T + 14);
    legendX += ctx.measureText(s.name).width + 16;
  }
}

/** Saves bytes as a file through a temporary object URL (the browser's download). */
export function download(bytes: Uint8Array | string, name: string, type = 'application/octet-stream') {
  const blob = new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Yields to the browser (input, painting) between training steps. A timer rather than
 * requestAnimationFrame, so training goes on while the tab is in the background.
 */
export function yieldToPage(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}
