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
export function buildPages() {
  mkdirSync(ARTIFACTS, { recursive: true });
  execFileSync(process.execPath, ['scripts/build-browser.mjs', '--out', WEB_ROOT], { stdio: ['ignore', 'ignore', 'pipe'] });
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
