// The games/ actor-critic example, interactive (games/figures.ts draws it as a static figure):
// actor θ (leader) maximises J = wθ (− (α/2)θ² with the entropy-style term), critic w
// (follower) minimises L = (wθ + θ²/5)². The arrows are one step of the chosen update rule
// (individual gradient, or the Stackelberg total derivative damped by λ) from the float64 closed
// form; a trajectory comes from the float64 twin at once, or from the engine on this browser's
// GPU (games/ `play` with the real totalDerivative and CG), and the page shows how far the two
// are apart. Click the field to start from another point.

import * as E from '../../engine/index.ts';
import { distanceTo, play, type Trajectory, type UpdateRule } from '../../games/game.ts';
import { actorCritic, actorCriticStepCpu } from '../../games/toys.ts';
import { $, drawPlot, errorText, startEngine, status } from './ui.ts';

const DOMAIN = 1.5;

interface Settings {
  rule: 'individual' | 'stackelberg';
  lambda: number;
  entropy: number;
  lr: number;
  iters: number;
  start: [number, number];
}

function settings(start: [number, number]): Settings {
  const num = (id: string, what: string, ok: (v: number) => boolean, want: string) => {
    const v = Number($<HTMLInputElement>(id).value);
    if (!Number.isFinite(v) || !ok(v)) throw new Error(`${what} must be ${want}, got '${$<HTMLInputElement>(id).value}'`);
    return v;
  };
  return {
    rule: $<HTMLSelectElement>('rule').value as Settings['rule'],
    lambda: num('lambda', 'λ', (v) => v >= 0, 'a number ≥ 0'),
    entropy: num('entropy', 'α', (v) => v >= 0, 'a number ≥ 0'),
    lr: num('lr', 'the step size', (v) => v > 0 && v <= 1, 'in (0, 1]'),
    iters: num('iters', 'iterations', (v) => Number.isInteger(v) && v >= 1 && v <= 200_000, 'an integer in [1, 200000]'),
    start,
  };
}

const lambdaOf = (s: Settings) => (s.rule === 'individual' ? Infinity : s.lambda);

/** The float64 twin's trajectory (games/toys.ts actorCriticStepCpu), recorded like play's. */
export function twinTrajectory(s: Settings, every: number): { iters: number[]; theta: number[]; w: number[] } {
  let [th, w] = s.start;
  const out = { iters: [0], theta: [th], w: [w] };
  for (let k = 1; k <= s.iters; k++) {
    [th, w] = actorCriticStepCpu(th, w, s.lr, lambdaOf(s), s.entropy);
    if (k % every === 0 || k === s.iters) {
      out.iters.push(k);
      out.theta.push(th);
      out.w.push(w);
    }
  }
  return out;
}

/** The same run on the GPU engine: games/ play with the real total derivative (CG, one iteration: exact for a scalar critic). */
async function engineTrajectory(s: Settings, every: number, onProgress: (k: number) => void): Promise<{ iters: number[]; theta: number[]; w: number[] }> {
  const game = actorCritic({ entropy: s.entropy, start: s.start });
  const rule: UpdateRule = s.rule === 'individual' ? { kind: 'simultaneous', leaderLr: s.lr } : { kind: 'stackelberg', leaderLr: s.lr, lambda: s.lambda, cgIters: 1 };
  const start = game.init();
  let t: Trajectory | null = null;
  try {
    t = await play(game, start, rule, s.iters, { recordEvery: every, readEvery: 200, onProgress });
    return { iters: t.iters, theta: t.leader.map((v) => v[0]), w: t.follower.map((v) => v[0]) };
  } finally {
    E.dispose([start.leader, start.follower]);
    if (t) E.dispose([t.final.leader, t.final.follower]);
  }
}

function drawField(canvas: HTMLCanvasElement, s: Settings, paths: Array<{ theta: number[]; w: number[]; color: string }>) {
  const ctx = canvas.getContext('2d')!;
  const W = canvas.width, H = canvas.height;
  const px = (x: number) => ((x + DOMAIN) / (2 * DOMAIN)) * W;
  const py = (y: number) => H - ((y + DOMAIN) / (2 * DOMAIN)) * H;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.strokeStyle = '#ddd';
  ctx.beginPath();
  ctx.moveTo(px(0), 0);
  ctx.lineTo(px(0), H);
  ctx.moveTo(0, py(0));
  ctx.lineTo(W, py(0));
  ctx.stroke();
  // arrows: the direction of one update from each grid point, lengths normalised per field
  const n = 17;
  const vecs: Array<[number, number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const th = -DOMAIN + (2 * DOMAIN * (i + 0.5)) / n, w = -DOMAIN + (2 * DOMAIN * (j + 0.5)) / n;
      const [t2, w2] = actorCriticStepCpu(th, w, 1, lambdaOf(s), s.entropy);
      vecs.push([th, w, t2 - th, w2 - w]);
    }
  }
  const maxLen = Math.max(...vecs.map(([, , a, b]) => Math.hypot(a, b)), 1e-12);
  ctx.strokeStyle = ctx.fillStyle = '#90a4ae';
  for (const [th, w, a, b] of vecs) {
    const len = Math.hypot(a, b);
    if (len === 0) continue;
    const scale = ((0.8 * W) / n) * Math.sqrt(len / maxLen) / len;
    const [x0, y0] = [px(th), py(w)];
    const [x1, y1] = [x0 + a * scale, y0 - b * scale];
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    const ang = Math.atan2(y1 - y0, x1 - x0);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - 4 * Math.cos(ang - 0.5), y1 - 4 * Math.sin(ang - 0.5));
    ctx.lineTo(x1 - 4 * Math.cos(ang + 0.5), y1 - 4 * Math.sin(ang + 0.5));
    ctx.fill();
  }
  for (const p of paths) {
    ctx.strokeStyle = p.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    p.theta.forEach((th, i) => (i ? ctx.lineTo(px(th), py(p.w[i])) : ctx.moveTo(px(th), py(p.w[i]))));
    ctx.stroke();
    ctx.lineWidth = 1;
  }
  ctx.fillStyle = '#000';
  ctx.fillRect(px(0) - 4, py(0) - 4, 8, 8); // the equilibrium (0, 0)
  ctx.strokeStyle = '#000';
  ctx.strokeRect(px(s.start[0]) - 5, py(s.start[1]) - 5, 10, 10);
  ctx.fillStyle = '#333';
  ctx.font = '12px sans-serif';
  ctx.fillText('actor θ →', W - 70, py(0) - 6);
  ctx.fillText('critic w ↑', px(0) + 6, 14);
}

async function main() {
  const q = new URLSearchParams(location.search);
  for (const k of ['rule', 'lambda', 'entropy', 'lr', 'iters']) if (q.get(k) !== null) ($(k) as HTMLInputElement).value = q.get(k)!;
  let start: [number, number] = [Number(q.get('theta') ?? -1), Number(q.get('w') ?? 1)];
  const field = $<HTMLCanvasElement>('field');
  let gpuPath: { iters: number[]; theta: number[]; w: number[] } | null = null;
  let formError = false;

  const redraw = () => {
    try {
      const s = settings(start);
      const every = Math.max(1, Math.floor(s.iters / 2000));
      const twin = twinTrajectory(s, every);
      const paths = [{ ...twin, color: '#1565c0' }];
      if (gpuPath) paths.push({ ...gpuPath, color: '#e65100' });
      drawField(field, s, paths);
      const dist = (t: { iters: number[]; theta: number[]; w: number[] }) =>
        distanceTo({ iters: t.iters, leader: t.theta.map((v) => [v]), follower: t.w.map((v) => [v]), final: null as never }, { leader: [0], follower: [0] });
      const series = [{ name: 'float64 twin', color: '#1565c0', points: twin.iters.map((k, i) => [k, Math.log10(Math.max(1e-12, dist(twin)[i]))] as [number, number]) }];
      if (gpuPath) {
        const g = gpuPath;
        series.push({ name: 'GPU engine', color: '#e65100', points: g.iters.map((k, i) => [k, Math.log10(Math.max(1e-12, dist(g)[i]))] as [number, number]) });
      }
      drawPlot($<HTMLCanvasElement>('distance'), series, { xLabel: 'iteration', yLabel: 'log10 ‖(θ, w)‖' });
      const end = twin.theta.length - 1;
      $('summary').textContent = `float64 twin after ${s.iters} steps: θ = ${twin.theta[end].toPrecision(4)}, w = ${twin.w[end].toPrecision(4)}, distance to (0, 0) ${dist(twin)[end].toExponential(2)}`;
      field.dataset.points = String(twin.theta.length);
      if (formError) status('');
      formError = false;
    } catch (e) {
      formError = true;
      status(errorText(e), 'error');
    }
  };
  for (const id of ['rule', 'lambda', 'entropy', 'lr', 'iters']) {
    $(id).oninput = () => {
      gpuPath = null;
      $('gpu-result').textContent = '';
      redraw();
    };
  }
  field.onclick = (ev) => {
    const r = field.getBoundingClientRect();
    start = [((ev.clientX - r.left) / r.width) * 2 * DOMAIN - DOMAIN, DOMAIN - ((ev.clientY - r.top) / r.height) * 2 * DOMAIN];
    gpuPath = null;
    $('gpu-result').textContent = '';
    redraw();
  };
  redraw();

  const ok = await startEngine();
  document.body.dataset.ready = ok ? 'yes' : 'no-webgpu';
  const btn = $<HTMLButtonElement>('run-gpu');
  btn.disabled = !ok;
  const runGpu = async () => {
    btn.disabled = true;
    document.body.dataset.state = 'running';
    try {
      const s = settings(start);
      const every = Math.max(1, Math.floor(s.iters / 2000));
      const t0 = performance.now();
      const d0 = E.counters().dispatches;
      const g = await engineTrajectory(s, every, (k) => ($('gpu-result').textContent = `GPU engine: ${k} / ${s.iters} steps…`));
      const ms = performance.now() - t0;
      const twin = twinTrajectory(s, every);
      const gap = Math.max(...g.theta.map((v, i) => Math.max(Math.abs(v - twin.theta[i]), Math.abs(g.w[i] - twin.w[i]))));
      gpuPath = g;
      redraw();
      const res = { steps: s.iters, ms: +ms.toFixed(1), dispatches: E.counters().dispatches - d0, maxGapToTwin: gap, final: [g.theta[g.theta.length - 1], g.w[g.w.length - 1]], live: E.memory().liveBuffers };
      $('gpu-result').textContent = `GPU engine: ${s.iters} steps in ${(ms / 1000).toFixed(2)} s (${(ms / s.iters).toFixed(2)} ms per step, ${res.dispatches} dispatches); ` +
        `largest gap to the float64 twin ${gap.toExponential(2)}; live buffers after ${res.live}`;
      $('gpu-result').dataset.result = JSON.stringify(res);
      document.body.dataset.state = 'done';
    } catch (e) {
      document.body.dataset.state = 'failed';
      status(errorText(e), 'error');
    } finally {
      btn.disabled = false;
    }
  };
  btn.onclick = () => void runGpu();
  if (ok && q.get('autorun') === '1') await runGpu();
}

void main().catch((e) => status(`the page failed to start: ${errorText(e)}`, 'error'));
