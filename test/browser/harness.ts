// What the browser tests share: Debian's chromium driven by playwright-core (its own browser
// downloads cannot be reached from CI), the pages built once into out/browser/web and served
// over http on 127.0.0.1 (a random port), screenshots into out/browser/ (gitignored).
//
// Without a GPU, Chromium gives WebGPU through its bundled SwiftShader adapter, but only with
// --enable-unsafe-webgpu (without it requestAdapter returns null); --no-sandbox because CI runs
// as root. When the binary is missing the suites skip and say why (.ci/setup-chromium.sh
// installs it).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_REASON = HAVE_CHROMIUM ? '' : `${CHROMIUM} is missing: install Debian's chromium (bash .ci/setup-chromium.sh) or set CHROMIUM_PATH`;
if (!HAVE_CHROMIUM) console.warn(`browser tests skipped: ${SKIP_REASON}`);

export const ARTIFACTS = resolve('out/browser');
export const WEB_ROOT = resolve('out/browser/web');
export const WEBGPU_FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu'];

/** Builds the pages with scripts/build-browser.mjs (a failed build fails the suite with esbuild's errors). */
export function buildPages(root = WEB_ROOT) {
  mkdirSync(ARTIFACTS, { recursive: true });
  execFileSync(process.execPath, ['scripts/build-browser.mjs', '--out', root], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export interface Server {
  url: string;
  port: number;
  close: () => Promise<void>;
}

interface ServeModule {
  serve(o: { root: string; host?: string; port?: number }): Promise<Server>;
  resolveRequest(root: string, url: string): { status: number; reason?: string; file?: string };
}

/** scripts/serve.mjs (plain JS, loaded by URL so the type checker does not look for declarations). */
export async function serveModule(): Promise<ServeModule> {
  return (await import(pathToFileURL(resolve('scripts/serve.mjs')).href)) as ServeModule;
}

export async function launch(flags = WEBGPU_FLAGS): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: flags });
}

// ------------------------------------------------------------------ Firefox (second browser)
//
// Debian's firefox-esr (153 here) driven by puppeteer-core over WebDriver BiDi (playwright-core's
// Firefox needs Playwright's own patched build). WebGPU is behind dom.webgpu.enabled on Linux,
// and without a GPU its only adapter is Mesa's lavapipe through Vulkan, which Firefox's blocklist
// refuses unless gfx.webgpu.ignore-blocklist is set. Firefox runs as root without a flag.

export const FIREFOX = process.env.FIREFOX_PATH ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p)) ?? '/usr/bin/firefox-esr';
export const HAVE_FIREFOX = existsSync(FIREFOX);
export const FIREFOX_PREFS = { 'dom.webgpu.enabled': true, 'gfx.webgpu.ignore-blocklist': true };
/** The pages for the Firefox suite: its own copy, so that it can build while the Chromium suite serves its own. */
export const FIREFOX_WEB_ROOT = resolve('out/browser/web-firefox');

/** The part of puppeteer-core's API the Firefox suite uses (the package's own types may be absent when it is not installed). */
export interface PptrPage {
  goto(url: string): Promise<unknown>;
  evaluate<T>(f: (() => T) | string): Promise<T>;
  click(sel: string): Promise<void>;
  screenshot(o: { path: string; fullPage?: boolean }): Promise<unknown>;
  on(ev: 'pageerror', f: (e: Error) => void): unknown;
}
export interface PptrBrowser {
  newPage(): Promise<PptrPage>;
  version(): Promise<string>;
  close(): Promise<void>;
}
interface Pptr {
  launch(o: Record<string, unknown>): Promise<PptrBrowser>;
}

/** puppeteer-core, or why it cannot be loaded (PUPPETEER_CORE_PATH names another copy of the package). */
export async function loadPuppeteer(): Promise<Pptr | string> {
  const spec = process.env.PUPPETEER_CORE_PATH ?? 'puppeteer-core';
  try {
    const mod = (await import(/* @vite-ignore */ spec)) as { default?: Pptr } & Pptr;
    return mod.default ?? mod;
  } catch (e) {
    return `puppeteer-core could not be loaded (${spec}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}); it drives Firefox here (npm i -D puppeteer-core@24.43.1: 25.x needs Node 22)`;
  }
}

export async function launchFirefox(pptr: Pptr): Promise<PptrBrowser> {
  return pptr.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, extraPrefsFirefox: FIREFOX_PREFS });
}
