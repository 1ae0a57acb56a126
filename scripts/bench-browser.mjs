// Runs the kernel benchmark page (bench.html) headless and writes its JSON: the numbers of
// docs/browser.md come from here.
//
//   node scripts/bench-browser.mjs [--cases "matmul 256²,elementwise add 4M"] [--peers tfjs-webgpu,jax-js|0]
//                                  [--browser chromium|firefox] [--full] [--out out/browser/bench-<browser>.json]
//
// Chromium: Debian's /usr/bin/chromium (CHROMIUM_PATH) through playwright-core, with
// --enable-unsafe-webgpu (SwiftShader without a GPU). Firefox: firefox-esr (FIREFOX_PATH) through
// puppeteer-core (PUPPETEER_CORE_PATH for a copy outside node_modules) with dom.webgpu.enabled and
// gfx.webgpu.ignore-blocklist. `--full` runs the page's full repeats instead of its quick ones.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildBrowser } from './build-browser.mjs';
import { serve } from './serve.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const known = new Set(['--cases', '--peers', '--browser', '--full', '--out']);
for (const a of args) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}; options: ${[...known].join(', ')}`);
const which = opt('--browser', 'chromium');
if (!['chromium', 'firefox'].includes(which)) throw new Error(`--browser must be chromium or firefox, got ${which}`);
const cases = opt('--cases', 'matmul 256²,elementwise add 4M,reduce sum 4M,dispatch overhead,round trip');
const peers = opt('--peers', 'tfjs-webgpu,jax-js');
const out = resolve(opt('--out', `out/browser/bench-${which}.json`));

const root = resolve('out/browser/web-bench');
await buildBrowser(root);
const server = await serve({ root, port: 0 });
const q = new URLSearchParams({ cases, peers, autorun: '1', ...(args.includes('--full') ? { quick: '0' } : {}) });
const load0 = loadavg()[0];
let browser;
try {
  let page;
  if (which === 'chromium') {
    const { chromium } = await import('playwright-core');
    const exe = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
    page = await browser.newPage();
  } else {
    const spec = process.env.PUPPETEER_CORE_PATH ?? 'puppeteer-core';
    const pptr = (await import(spec.startsWith('/') ? pathToFileURL(spec).href : spec)).default;
    const exe = process.env.FIREFOX_PATH ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p));
    browser = await pptr.launch({ browser: 'firefox', executablePath: exe, headless: true, extraPrefsFirefox: { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true } });
    page = await browser.newPage();
  }
  page.on('console', (m) => m.type() === 'error' && console.error(`page: ${m.text()}`));
  const t0 = Date.now();
  await page.goto(`${server.url}bench.html?${q}`);
  for (;;) {
    const s = await page.evaluate(() => ({ state: document.body.dataset.state, ready: document.body.dataset.ready, status: document.getElementById('status')?.textContent ?? '' }));
    if (s.state === 'done' || s.state === 'failed' || s.ready === 'no-webgpu') {
      if (s.state !== 'done') throw new Error(`the page stopped: ${s.status}`);
      break;
    }
    if (Date.now() - t0 > 30 * 60_000) throw new Error(`timed out; last status: ${s.status}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  const res = JSON.parse(await page.evaluate(() => document.getElementById('json').textContent));
  res.command = `node scripts/bench-browser.mjs ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`.trim();
  res.machine.loadavgStart = +load0.toFixed(2);
  res.machine.loadavgEnd = +loadavg()[0].toFixed(2);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(res, null, 1) + '\n');
  const a = res.adapter;
  console.log(`${res.machine.userAgent}\nadapter: ${[a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' ') || '(no name given)'}; load ${res.machine.loadavgStart} → ${res.machine.loadavgEnd}; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const r of res.rows) {
    const w = r.wall ? `${r.wall.median.toPrecision(3)} ms [${r.wall.min.toPrecision(3)}–${r.wall.max.toPrecision(3)}] ×${r.wall.iters}` : '';
    const ratio = r.ratios ? ' ' + Object.entries(r.ratios).map(([k, v]) => `${k} ${v}×`).join(', ') : '';
    console.log(`${r.engine.padEnd(12)} ${r.id.padEnd(22)} ${r.status.padEnd(6)} ${w}${r.err !== undefined ? ` err ${r.err.toExponential(1)}` : ''}${ratio}${r.note ? ` (${r.note})` : ''}`);
  }
  console.log(`wrote ${out}`);
} finally {
  await browser?.close();
  await server.close();
}
