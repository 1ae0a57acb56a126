// The pages in a real browser (Debian's chromium, WebGPU through SwiftShader when there is no
// GPU), against independent references:
//   - the training page trains a few PPO updates on CartPole: the curve, the frames and the
//     engine counters move; pause stops the updates and resume continues them;
//   - a checkpoint downloaded from the page decodes in Node (engine/safetensors.ts), equals the
//     page's weights bit for bit and restores into a Node Trainer of the harness; that trainer's
//     checkpoint after one more update loads into the page with Node's weights; a truncated file
//     and a checkpoint of another env or algorithm are refused; files dropped on the page with a
//     header length beyond the file, a null header or a tensor past the end are refused with the
//     message Node's decodeSafetensors gives for the same bytes;
//   - Stop releases every GPU buffer the run held;
//   - a fixed graph (matmul, tanh, sum and its gradient) gives the Node engine's numbers and a
//     float64 reference's;
//   - embedding (embed.html, docs/browser.md's examples): init({ device }) with the page's own
//     GPUDevice, destroy() leaves it usable; a render pass draws an engine tensor's buffer;
//     tfjs-webgpu on the same device takes a tensor from and gives one to the engine by GPUBuffer;
//   - without WebGPU (no adapter; no navigator.gpu) the page says what to enable;
//   - the actor-critic game page runs the Stackelberg update on the GPU engine and lands where
//     the float64 closed form does;
//   - the benchmark page lists every case of `npm run bench` with a spec and runs two of them on
//     ours, tfjs-webgpu and jax-js, each checked against float64; a peer that cannot start gets a
//     failed row with its error.
// Small networks and few updates: SwiftShader runs the kernels on the CPU.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import { decodeSafetensors, encodeSafetensors } from '../../engine/safetensors.ts';
import { Trainer, checkpointInfo } from '../../rl/harness/trainer.ts';
import type { RunConfig } from '../../rl/harness/types.ts';
import { getAlgorithm } from '../../rl/registry.ts';
import { makeEnv } from '../../rl/envs/index.ts';
import { actorCriticStepCpu } from '../../games/toys.ts';
import { CORE_CASES } from '../../bench/core.ts';
import { KERNEL_CASES } from '../../bench/common.ts';
import { ARTIFACTS, HAVE_CHROMIUM, SKIP_REASON, WEB_ROOT, buildPages, launch, serveModule, type Server } from './harness.ts';
import { TINY, checkFixedGraph, counters, waitFor } from './page_checks.ts';

// The callbacks given to page.evaluate run in the page, where `document` exists; the Node
// program is type-checked without the DOM library.
declare const document: any;
declare const navigator: any;

/** Drops a file on the page as a user would (a drop event carrying it in a DataTransfer). */
async function drop(page: Page, name: string, bytes: Uint8Array) {
  await page.evaluate(
    ({ name, data }) => {
      const G = globalThis as any;
      const dt = new G.DataTransfer();
      dt.items.add(new G.File([new Uint8Array(data)], name));
      document.body.dispatchEvent(new G.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, data: Array.from(bytes) },
  );
}

describe.skipIf(!HAVE_CHROMIUM)(`browser pages (chromium)${SKIP_REASON ? ` — skipped: ${SKIP_REASON}` : ''}`, () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    buildPages();
    server = await (await serveModule()).serve({ root: WEB_ROOT, port: 0 });
    browser = await launch();
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    E.destroy();
  });

  it('the training page trains PPO on CartPole: curve, frames and counters move; pause and resume', async () => {
    const q = new URLSearchParams({ env: 'cartpole', algo: 'ppo', preset: 'cartpole-fast', steps: '100000', set: JSON.stringify(TINY), autostart: '1' });
    await page.goto(`${server.url}index.html?${q}`);
    const first = await waitFor(page, 'two updates', (c) => c.updates >= 2, 90_000);
    expect(first.state).toBe('running');
    const later = await waitFor(page, 'two more updates', (c) => c.updates >= first.updates + 2);
    expect(later.step).toBe(later.updates * TINY.numEnvs * TINY.numSteps);
    expect(later.points).toBeGreaterThan(first.points); // one log line per update → the curve grows
    expect(later.totalDispatches).toBeGreaterThan(first.totalDispatches);
    expect(later.dispatchesPerUpdate).toBeGreaterThan(10);
    expect(later.live).toBeGreaterThan(0); // the agent's parameters and Adam moments
    expect(later.frames).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'train-running.png'), fullPage: true });

    await page.click('#pause');
    const paused = await waitFor(page, 'the pause', (c) => c.state === 'paused');
    await page.waitForTimeout(1500);
    expect((await counters(page)).updates).toBe(paused.updates);
    await page.click('#resume');
    await waitFor(page, 'an update after resume', (c) => c.updates > paused.updates);
    await page.click('#pause');
    await waitFor(page, 'the second pause', (c) => c.state === 'paused');
    expect(errors).toEqual([]);
  }, 240_000);

  it('checkpoints move both ways: the page\'s download restores into a Node Trainer (same weights), Node\'s trained checkpoint loads into the page; another algorithm\'s or env\'s checkpoint and corrupt dropped files are refused with Node\'s checks', async () => {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const bytes = new Uint8Array(readFileSync((await dl.path())!));
    expect(dl.suggestedFilename()).toMatch(/^ppo_cartpole_seed0_step\d+\.safetensors$/);
    const pageWeights = await page.evaluate(() => (globalThis as unknown as { stackelbergTraining: { weights(): Promise<Record<string, number[]>> } }).stackelbergTraining.weights());
    const { tensors, metadata } = decodeSafetensors(bytes, 'page checkpoint');
    const info = checkpointInfo(bytes);
    expect([info.algo, info.env, metadata.format]).toEqual(['ppo', 'cartpole', 'stackelberg-gpu/rl-checkpoint/v2']);
    const names = Object.keys(pageWeights).sort();
    expect(names).toEqual(Object.keys(tensors).filter((n) => n.startsWith('params.')).sort());
    expect(names.length).toBeGreaterThan(3);
    for (const n of names) expect(Array.from(tensors[n].data), n).toEqual(pageWeights[n]);
    expect(Object.keys(tensors).some((n) => n.startsWith('optim.'))).toBe(true);

    writeFileSync(join(ARTIFACTS, 'page-checkpoint.safetensors'), bytes);

    // The harness in Node (Dawn) restores the full state from the page's bytes, trains one more
    // update, and its checkpoint goes back into the page: Node → browser as well.
    await E.init();
    const algo = await getAlgorithm('ppo');
    const cfg = { ...algo.defaults, ...info.config } as RunConfig;
    const t = new Trainer(algo, cfg);
    let nodeBytes: Uint8Array;
    let nodeWeights: Record<string, number[]> = {};
    try {
      await t.loadCheckpoint(bytes);
      expect(t.globalStep).toBe(info.step);
      const weightsOf = async () => {
        const named = E.namedParams(t.agent.params);
        const data = await E.readAll(Object.values(named));
        return Object.fromEntries(Object.keys(named).map((n, i) => [`params.${n}`, Array.from(data[i])]));
      };
      expect(await weightsOf()).toEqual(pageWeights);
      await t.step();
      nodeWeights = await weightsOf();
      expect(nodeWeights).not.toEqual(pageWeights);
      const { tensors: nt, metadata: nm } = await t.checkpointData();
      nodeBytes = encodeSafetensors(nt, nm);
    } finally {
      t.dispose();
    }
    const file = (name: string, buffer: Uint8Array) => ({ name, mimeType: 'application/octet-stream', buffer: Buffer.from(buffer) });
    await page.setInputFiles('#load', file('from-node.safetensors', nodeBytes));
    await page.waitForFunction(() => /^loaded from-node\.safetensors/.test(document.getElementById('status')!.textContent ?? ''));
    expect(await page.evaluate(() => (globalThis as any).stackelbergTraining.weights())).toEqual(nodeWeights);
    expect((await counters(page)).step).toBe(info.step + TINY.numEnvs * TINY.numSteps);

    // The page's own file back into the page: the same weights; a truncated copy and another env's load are refused.
    await page.setInputFiles('#load', file('again.safetensors', bytes));
    await page.waitForFunction(() => /^loaded again\.safetensors/.test(document.getElementById('status')!.textContent ?? ''));
    const reloaded = await page.evaluate(() => (globalThis as unknown as { stackelbergTraining: { weights(): Promise<Record<string, number[]>> } }).stackelbergTraining.weights());
    expect(reloaded).toEqual(pageWeights);
    expect((await counters(page)).step).toBe(info.step);

    await page.setInputFiles('#load', file('cut.safetensors', bytes.subarray(0, bytes.length - 100)));
    await page.waitForFunction(() => document.getElementById('status')!.className.includes('error'));
    expect((await counters(page)).status).toMatch(/checkpoint cut\.safetensors is corrupt or truncated: tensor .* lies outside the data/);

    // the form's change is asynchronous (the algorithm's module loads, then the config is shown):
    // wait for it, so that its status line cannot overwrite the refusal's
    const formShows = (key: string, value: string) =>
      page.waitForFunction((want) => (document.getElementById('config')!.textContent ?? '').includes(want), `"${key}": "${value}"`);
    await page.selectOption('#env', 'pendulum');
    await formShows('env', 'pendulum');
    await page.setInputFiles('#load', file('again.safetensors', bytes));
    await page.waitForFunction(() => /set to ppo on pendulum/.test(document.getElementById('status')!.textContent ?? ''));
    expect((await counters(page)).status).toContain('checkpoint again.safetensors is ppo on cartpole, but this page is set to ppo on pendulum');
    await page.selectOption('#env', 'cartpole');
    await formShows('env', 'cartpole');

    // Files dropped on the page: another algorithm's setting is refused with both named, and three
    // corrupt files are refused by the same checks as in Node, with Node's message for the same
    // bytes (engine/safetensors.ts decodeSafetensors: the header length and the tensors' offsets
    // are checked against the file before anything is sliced or allocated).
    await page.fill('#overrides', ''); // the tiny PPO overrides are not AC's keys
    await page.selectOption('#algo', 'ac');
    await formShows('algo', 'ac');
    await drop(page, 'other-algo.safetensors', bytes);
    await page.waitForFunction(() => /other-algo\.safetensors is/.test(document.getElementById('status')!.textContent ?? ''));
    expect((await counters(page)).status).toContain('checkpoint other-algo.safetensors is ppo on cartpole, but this page is set to ac on cartpole');
    await page.selectOption('#algo', 'ppo');
    await formShows('algo', 'ppo');
    const le64 = (n: number) => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
    const withHeader = (h: string, data = new Uint8Array(0)) => {
      const hb = new TextEncoder().encode(h);
      return new Uint8Array([...le64(hb.length), ...hb, ...data]);
    };
    const corrupt: Array<[string, Uint8Array, RegExp]> = [
      // claims a 1 TiB header in a 10-byte file
      ['header-too-long.safetensors', new Uint8Array([...le64(2 ** 40), 0x7b, 0x7d]), /header length 1099511627776 exceeds the file \(10 bytes\)/],
      ['null-header.safetensors', withHeader('null'), /header is JSON null, not an object of tensors/],
      // a 4 GiB tensor declared over 16 bytes of data
      ['past-the-end.safetensors', withHeader(JSON.stringify({ 'params.w': { dtype: 'F32', shape: [2 ** 30], data_offsets: [0, 2 ** 32] } }), new Uint8Array(16)), /tensor params\.w \[0, 4294967296\) lies outside the data \(16 bytes\)/],
    ];
    for (const [name, file, want] of corrupt) {
      let nodeMessage = '';
      try {
        decodeSafetensors(file, `checkpoint ${name}`);
      } catch (e) {
        nodeMessage = (e as Error).message;
      }
      expect(nodeMessage, name).toMatch(want);
      await drop(page, name, file);
      await page.waitForFunction((n) => (document.getElementById('status')!.textContent ?? '').includes(n), name);
      const st = await page.evaluate(() => ({ text: document.getElementById('status')!.textContent, cls: document.getElementById('status')!.className }));
      expect(st.cls, name).toContain('error');
      expect(st.text, name).toBe(nodeMessage);
    }

    // Stop releases what the run held: the live-buffer count goes back to zero.
    await page.click('#stop');
    await waitFor(page, 'the release', (c) => c.state === 'idle' && c.live === 0);
    await page.screenshot({ path: join(ARTIFACTS, 'train-stopped.png'), fullPage: true });
  }, 240_000);

  it('a fixed graph (matmul, tanh, sum and its gradient) gives the Node engine numbers and the float64 reference', async () => {
    await checkFixedGraph(page, E, 'page');
  }, 120_000);

  it('embedding (embed.html): init({ device }) on the page\'s GPUDevice, destroy() leaves it usable; a render pass draws an engine buffer; tfjs shares the device and a tensor', async () => {
    const seed = 3;
    await page.goto(`${server.url}embed.html?seed=${seed}`);
    await page.waitForFunction(() => document.body.dataset.ready !== 'no', undefined, { timeout: 60_000 });
    const status = await page.evaluate(() => document.getElementById('status')!.textContent);
    expect(await page.evaluate(() => document.body.dataset.ready), status ?? '').toBe('yes');
    const r = JSON.parse((await page.evaluate(() => document.getElementById('result')!.textContent)) ?? '{}');
    expect(r.product).toEqual([7, 10, 15, 22]);
    expect(r.live).toBe(0);
    expect(r.after).toEqual([5, 6, 7, 8]); // the caller's device still works after destroy()
    // The drawn cells are the observation's occupied cells (the same env and seed in Node).
    const obs = makeEnv('minatar/breakout', { numEnvs: 1, seed, preset: 'gymnax' }).reset(seed);
    const C = obs.length / 100;
    const occupied = Array.from({ length: 100 }, (_, k) => (Array.from(obs.subarray(k * C, (k + 1) * C)).some((v) => v > 0.5) ? 1 : 0));
    expect(occupied.reduce((a: number, b) => a + b, 0)).toBeGreaterThan(5);
    expect(r.cells).toEqual(occupied);
    // tfjs-webgpu on the same device: the engine's [[1,2,3],[4,5,6]] goes to tfjs through its
    // GPUBuffer, tfjs computes a·aᵀ, the engine adds 1 to tfjs's buffer
    const a = [[1, 2, 3], [4, 5, 6]];
    const aat1 = a.flatMap((ri) => a.map((rj) => ri.reduce((s, v, k) => s + v * rj[k], 0) + 1));
    expect(r.tfjs).toEqual({ result: aat1, live: 0, shared: true });
    await page.screenshot({ path: join(ARTIFACTS, 'embed.png'), fullPage: true });
  }, 60_000);

  it('the actor-critic game page: the GPU engine trajectory (total derivative, λ) matches the float64 closed form', async () => {
    const [iters, lambda, lr] = [40, 0.04, 0.01];
    await page.goto(`${server.url}figures.html?iters=${iters}&lambda=${lambda}&lr=${lr}&rule=stackelberg&autorun=1`);
    await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state), undefined, { timeout: 90_000 });
    const status = await page.evaluate(() => document.getElementById('status')!.textContent);
    expect(await page.evaluate(() => document.body.dataset.state), status).toBe('done');
    const r = JSON.parse(await page.evaluate(() => document.getElementById('gpu-result')!.dataset.result ?? '{}'));
    // float64 reference: the closed-form Stackelberg step of games/toys.ts from the page's default start (−1, 1)
    let [th, w] = [-1, 1];
    for (let k = 0; k < iters; k++) [th, w] = actorCriticStepCpu(th, w, lr, lambda);
    expect(r.steps).toBe(iters);
    expect(Math.abs(r.final[0] - th)).toBeLessThan(1e-5);
    expect(Math.abs(r.final[1] - w)).toBeLessThan(1e-5);
    expect(r.maxGapToTwin).toBeLessThan(1e-5);
    expect(Math.hypot(th, w)).toBeLessThan(Math.hypot(-1, 1)); // it moved towards (0, 0)
    expect(r.live).toBe(0);
    await page.screenshot({ path: join(ARTIFACTS, 'figures.png'), fullPage: true });
  }, 120_000);

  it('the benchmark page lists every bench case; ours, tfjs-webgpu and jax-js give checked rows side by side; a peer that cannot load gets a row with its error', async () => {
    await page.goto(`${server.url}bench.html`);
    await page.waitForFunction(() => document.body.dataset.ready !== 'no', undefined, { timeout: 60_000 });
    const shown = await page.evaluate(() => ({
      ready: document.body.dataset.ready,
      cases: [...document.querySelectorAll('#cases input')].map((b: any) => b.value),
      peers: [...document.querySelectorAll('#peer-choice input')].map((b: any) => [b.value, b.checked]),
      adapter: document.getElementById('adapter')!.textContent,
    }));
    expect(shown.ready).toBe('yes');
    expect(shown.cases.length).toBe(CORE_CASES.length + Object.keys(KERNEL_CASES).length);
    for (const c of CORE_CASES) expect(shown.cases).toContain(c.id);
    expect(shown.peers).toEqual([['tfjs-webgpu', true], ['jax-js', true]]);
    expect(shown.adapter.length).toBeGreaterThan(0);

    // Two small cases with a float64 check, every engine, on the default tiles: rows in bench/results' layout.
    const cases = ['matmul 256²', 'elementwise add 4M'];
    await page.goto(`${server.url}bench.html?cases=${encodeURIComponent(cases.join(','))}`);
    await page.waitForFunction(() => document.body.dataset.ready === 'yes', undefined, { timeout: 60_000 });
    await page.click('#run');
    await page.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 180_000 });
    const out = await page.evaluate(() => ({ state: document.body.dataset.state, status: document.getElementById('status')!.textContent, json: document.getElementById('json')!.textContent, shownRows: document.querySelectorAll('#rows tr').length }));
    expect(out.state, out.status ?? '').toBe('done');
    const res = JSON.parse(out.json!);
    expect(res.tiles).toBe('defaults');
    expect(Object.keys(res.peers).sort()).toEqual(['jax-js', 'tfjs-webgpu']);
    expect(res.peers['tfjs-webgpu']).toMatch(/sharing our GPUDevice/);
    expect(res.versions['@jax-js/jax']).toMatch(/^\d+\.\d+\.\d+/);
    expect(res.rows.map((r: { id: string; engine: string }) => `${r.engine}: ${r.id}`).sort()).toEqual(
      cases.flatMap((c) => ['ours', 'tfjs-webgpu', 'jax-js'].map((e) => `${e}: ${c}`)).sort(),
    );
    expect(out.shownRows).toBe(res.rows.length);
    for (const r of res.rows) {
      const what = `${r.engine} on ${r.id}: ${r.note ?? ''}`;
      expect(r.status, what).toBe('ok');
      // each engine's result passed the float64 check of `npm run bench` (bench/peers/reference.ts):
      // the three agree with the reference, hence with one another, to float32 rounding
      expect(r.err, what).toBeLessThan(1e-5);
      expect(r.wall.median, what).toBeGreaterThan(0);
      expect(r.wall.repeats, what).toBeGreaterThanOrEqual(3);
      if (r.engine === 'ours') {
        expect(r.metrics.dispatches, what).toBe(1);
        expect(Object.keys(r.ratios).sort(), what).toEqual(['jax-js', 'tfjs-webgpu']);
        for (const e of ['jax-js', 'tfjs-webgpu']) {
          const peer = res.rows.find((x: { id: string; engine: string }) => x.id === r.id && x.engine === e);
          expect(Math.abs(r.ratios[e] / (peer.wall.median / r.wall.median) - 1), what).toBeLessThan(1e-3); // stored to 4 digits
        }
      }
    }
    await page.screenshot({ path: join(ARTIFACTS, 'bench.png'), fullPage: true });

    // A peer that cannot start in this browser: jax-js asks navigator.gpu for an adapter of its
    // own, with powerPreference 'high-performance' (the page and the engine ask without one); an
    // init script makes that request come back empty.
    const ctx = await browser.newContext();
    try {
      const p = await ctx.newPage();
      await p.addInitScript(() => {
        const orig = navigator.gpu.requestAdapter.bind(navigator.gpu);
        navigator.gpu.requestAdapter = async (o?: { powerPreference?: string }) => (o?.powerPreference === 'high-performance' ? null : orig(o));
      });
      await p.goto(`${server.url}bench.html?cases=round trip&peers=jax-js&autorun=1`);
      await p.waitForFunction(() => ['done', 'failed'].includes(document.body.dataset.state ?? ''), undefined, { timeout: 60_000 });
      const r2 = JSON.parse((await p.evaluate(() => document.getElementById('json')!.textContent)) ?? '{}');
      const byEngine = Object.fromEntries(r2.rows.map((r: { engine: string }) => [r.engine, r]));
      expect(Object.keys(byEngine).sort()).toEqual(['jax-js', 'ours']);
      expect(byEngine.ours.status).toBe('ok');
      expect(byEngine['jax-js'].status).toBe('failed');
      expect(byEngine['jax-js'].note).toMatch(/did not load in this browser: jax-js: no webgpu device \(has /);
      expect(r2.notes.join('\n')).toMatch(/jax-js unavailable: jax-js: no webgpu device/);
      expect(await p.evaluate(() => document.getElementById('peer-status')!.textContent)).toMatch(/jax-js: did not load/);
      expect(await p.evaluate(() => document.querySelector('#rows tr[data-engine="jax-js"]')?.getAttribute('data-status'))).toBe('failed');
    } finally {
      await ctx.close();
    }
  }, 300_000);

  it('without WebGPU the page says what to enable instead of staying blank', async () => {
    await page.goto('about:blank'); // the earlier pages' engine and device go away first
    // Two browsers the page must handle, made from this one (a second Chromium launch without
    // --enable-unsafe-webgpu costs ~20 s on this machine): no adapter, and no navigator.gpu.
    for (const [what, url, button, init, want] of [
      ['no adapter', 'index.html', '#start', () => { navigator.gpu.requestAdapter = async () => null; }, /offered no adapter[\s\S]*--enable-unsafe-webgpu/],
      ['no navigator.gpu', 'figures.html', '#run-gpu', () => { Object.defineProperty(Object.getPrototypeOf(navigator), 'gpu', { get: () => undefined }); }, /has no WebGPU \(navigator\.gpu is missing\)[\s\S]*--enable-unsafe-webgpu/],
    ] as const) {
      const ctx = await browser.newContext();
      try {
        const p = await ctx.newPage();
        await p.addInitScript(init);
        await p.goto(`${server.url}${url}`);
        await p.waitForFunction(() => document.body.dataset.ready === 'no-webgpu', undefined, { timeout: 60_000 });
        const text = await p.evaluate(() => document.getElementById('status')!.textContent ?? '');
        expect(text, what).toMatch(want);
        expect(await p.isDisabled(button), what).toBe(true);
        await p.screenshot({ path: join(ARTIFACTS, `no-webgpu-${what.replace(/\W+/g, '-')}.png`), fullPage: true });
      } finally {
        await ctx.close();
      }
    }
  }, 60_000);
});
