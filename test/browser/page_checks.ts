// What the browser suites check in a page, for any driver (playwright-core's Chromium page,
// puppeteer-core's Firefox page): the training page's counters, and a fixed graph run by the
// page's engine, the Node engine and a float64 reference.

import { expect } from 'vitest';
import type * as E from '../../engine/index.ts';

// The callbacks given to page.evaluate run in the page, where `document` exists; the Node
// program is type-checked without the DOM library.
declare const document: any;

/** The one method both drivers' pages share that these checks use. */
export interface AnyPage {
  evaluate<T>(f: () => T): Promise<T>;
  evaluate(expression: string): Promise<unknown>;
}

// Tiny PPO on CartPole: 4 envs × 16 steps, one epoch of one minibatch per update.
export const TINY = { numEnvs: 4, numSteps: 16, minibatchSize: 64, updateEpochs: 1 };

export interface Counters {
  state: string;
  updates: number;
  step: number;
  dispatchesPerUpdate: number;
  totalDispatches: number;
  live: number;
  points: number;
  frames: number;
  status: string;
}

export async function counters(page: AnyPage): Promise<Counters> {
  return page.evaluate(() => {
    const t = (id: string) => document.getElementById(id)!.textContent ?? '';
    const n = (id: string) => Number(t(id).replace(/,/g, '')) || 0;
    return {
      state: document.body.dataset.state ?? '',
      updates: n('c-updates'),
      step: n('c-step'),
      dispatchesPerUpdate: n('c-dispatches'),
      totalDispatches: n('c-total-dispatches'),
      live: n('c-live'),
      points: Number(document.getElementById('curve')!.dataset.points ?? 0),
      frames: Number(document.getElementById('game')!.dataset.frames ?? 0),
      status: t('status'),
    };
  });
}

export async function waitFor(page: AnyPage, what: string, pred: (c: Counters) => boolean, timeoutMs = 60_000): Promise<Counters> {
  const t0 = Date.now();
  for (;;) {
    const c = await counters(page);
    if (pred(c)) return c;
    if (c.state === 'failed') throw new Error(`the page failed while waiting for ${what}: ${c.status}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(c)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The function the page and Node both run: sum(tanh(A·B)) and its gradient in A and B. */
export async function fixedGraph(En: typeof E) {
  await En.init();
  const a = En.tensor(Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1)), [3, 4]);
  const b = En.tensor(Float32Array.from({ length: 8 }, (_, i) => Math.cos(2 * i + 1)), [4, 2]);
  const [v, [ga, gb]] = En.valueAndGrad((x: E.Tensor, y: E.Tensor) => En.sum(En.tanh(En.matmul(x, y))), [0, 1])(a, b);
  const out = { value: Array.from(await v.data()) as number[], gA: Array.from(await ga.data()) as number[], gB: Array.from(await gb.data()) as number[], live: 0 };
  En.dispose([a, b, v, ga, gb]);
  out.live = En.memory().liveBuffers;
  return out;
}

/** float64 reference of fixedGraph (inputs rounded to f32 as the engines hold them). */
export function fixedGraphRef() {
  const A = Array.from({ length: 12 }, (_, i) => Math.fround(Math.sin(i + 1)));
  const B = Array.from({ length: 8 }, (_, i) => Math.fround(Math.cos(2 * i + 1)));
  const T = Array.from({ length: 6 }, (_, k) => {
    const [i, j] = [Math.floor(k / 2), k % 2];
    let c = 0;
    for (let p = 0; p < 4; p++) c += A[i * 4 + p] * B[p * 2 + j];
    return Math.tanh(c);
  });
  const D = T.map((t) => 1 - t * t);
  const gA = Array.from({ length: 12 }, (_, k) => {
    const [i, p] = [Math.floor(k / 4), k % 4];
    return D[i * 2] * B[p * 2] + D[i * 2 + 1] * B[p * 2 + 1];
  });
  const gB = Array.from({ length: 8 }, (_, k) => {
    const [p, j] = [Math.floor(k / 2), k % 2];
    return A[p] * D[j] + A[4 + p] * D[2 + j] + A[8 + p] * D[4 + j];
  });
  return { value: [T.reduce((s, t) => s + t, 0)], gA, gB };
}

export function expectClose(got: number[], want: number[], tol: number, what: string) {
  expect(got.length, what).toBe(want.length);
  const err = Math.max(...got.map((g, i) => Math.abs(g - want[i]) / Math.max(1, Math.abs(want[i]))));
  expect(err, what).toBeLessThan(tol);
}

/**
 * The page's engine (its /js/engine.js bundle), the Node engine `En` and the float64 reference
 * run fixedGraph and agree to 1e-5; the page frees every buffer it made. `who` names the page in
 * the messages.
 */
export async function checkFixedGraph(page: AnyPage, En: typeof E, who: string) {
  // A string, so the test runner's module transform leaves the page's import() alone.
  const inPage = (await page.evaluate(`(async () => (${fixedGraph.toString()})(await import('/js/engine.js')))()`)) as Awaited<ReturnType<typeof fixedGraph>>;
  const inNode = await fixedGraph(En);
  const ref = fixedGraphRef();
  for (const k of ['value', 'gA', 'gB'] as const) {
    expectClose(inPage[k], ref[k], 1e-5, `${who} ${k} vs float64`);
    expectClose(inPage[k], inNode[k], 1e-5, `${who} ${k} vs Node`);
  }
  expect(inPage.live).toBe(0);
}
