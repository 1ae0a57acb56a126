// The training page and a fixed graph in a second browser: Debian's Firefox ESR, WebGPU through
// Vulkan on Mesa's lavapipe (no GPU here), driven by puppeteer-core. Skipped, saying why, when
// the firefox binary is missing (bash .ci/setup-firefox.sh installs it) or puppeteer-core is not
// installed.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as E from '../../engine/index.ts';
import {
  ARTIFACTS, FIREFOX, FIREFOX_WEB_ROOT, HAVE_FIREFOX, buildPages, launchFirefox, loadPuppeteer, serveModule,
  type PptrBrowser, type PptrPage, type Server,
} from './harness.ts';
import { TINY, checkFixedGraph, waitFor } from './page_checks.ts';

const pptr = HAVE_FIREFOX ? await loadPuppeteer() : null;
const SKIP = !HAVE_FIREFOX
  ? `${FIREFOX} is missing: install Debian's firefox-esr (bash .ci/setup-firefox.sh) or set FIREFOX_PATH`
  : typeof pptr === 'string' ? pptr : '';
if (SKIP) console.warn(`Firefox tests skipped: ${SKIP}`);

describe.skipIf(!!SKIP)(`browser pages (firefox)${SKIP ? ` — skipped: ${SKIP}` : ''}`, () => {
  let server: Server;
  let browser: PptrBrowser;
  let page: PptrPage;
  const errors: string[] = [];

  beforeAll(async () => {
    buildPages(FIREFOX_WEB_ROOT);
    server = await (await serveModule()).serve({ root: FIREFOX_WEB_ROOT, port: 0 });
    browser = await launchFirefox(pptr as Exclude<typeof pptr, string | null>);
    page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    E.destroy();
  });

  it('the training page trains PPO on CartPole: counters, curve and frames move; Stop releases every GPU buffer', async () => {
    expect(await browser.version()).toMatch(/^firefox\//);
    const q = new URLSearchParams({ env: 'cartpole', algo: 'ppo', preset: 'cartpole-fast', steps: '100000', set: JSON.stringify(TINY), autostart: '1' });
    await page.goto(`${server.url}index.html?${q}`);
    const first = await waitFor(page, 'two updates', (c) => c.updates >= 2, 120_000);
    expect(first.state, first.status).toBe('running');
    const later = await waitFor(page, 'two more updates', (c) => c.updates >= first.updates + 2);
    expect(later.step).toBe(later.updates * TINY.numEnvs * TINY.numSteps);
    expect(later.points).toBeGreaterThan(first.points);
    expect(later.totalDispatches).toBeGreaterThan(first.totalDispatches);
    expect(later.dispatchesPerUpdate).toBeGreaterThan(10);
    expect(later.live).toBeGreaterThan(0);
    expect(later.frames).toBeGreaterThan(0);
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-train-running.png'), fullPage: true });
    await page.click('#stop');
    await waitFor(page, 'the release', (c) => c.state === 'idle' && c.live === 0);
    await page.screenshot({ path: join(ARTIFACTS, 'firefox-train-stopped.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 240_000);

  it('a fixed graph (matmul, tanh, sum and its gradient) gives the Node engine numbers and the float64 reference', async () => {
    await checkFixedGraph(page, E, 'Firefox');
  }, 120_000);
});
