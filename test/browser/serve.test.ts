// scripts/serve.mjs serves the built pages and nothing else: '..' segments, encoded
// separators, absolute paths and symbolic links out of the root are refused before the file
// system is asked; it binds 127.0.0.1 by default. No browser needed.

import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveModule, type Server } from './harness.ts';

/** A raw request (GET unless told): the path is sent exactly as given (no URL normalisation on the way). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('scripts/serve.mjs', () => {
  let dir: string;
  let server: Server;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'serve-test-'));
    mkdirSync(join(dir, 'root', 'js'), { recursive: true });
    writeFileSync(join(dir, 'root', 'index.html'), '<p>index</p>');
    writeFileSync(join(dir, 'root', 'js', 'a.js'), 'export const a = 1;');
    writeFileSync(join(dir, 'secret.txt'), 'secret');
    symlinkSync(join(dir, 'secret.txt'), join(dir, 'root', 'link.txt'));
    server = await (await serveModule()).serve({ root: join(dir, 'root'), port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 by default and serves the root with content types', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const idx = await get(server.port, '/');
    expect(idx).toEqual({ status: 200, body: '<p>index</p>' });
    expect((await get(server.port, '/js/a.js?v=1')).body).toBe('export const a = 1;');
    expect((await get(server.port, '/missing.js')).status).toBe(404);
    for (const m of ['POST', 'PUT', 'DELETE']) expect((await get(server.port, '/index.html', m)).status, m).toBe(405);
  });

  it('the command (npm run serve) binds 127.0.0.1 unless --host says otherwise', async () => {
    const child = spawn(process.execPath, ['scripts/serve.mjs', '--no-build', '--root', join(dir, 'root'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const line = await new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) ok(out);
        });
        child.on('exit', (code) => fail(new Error(`serve.mjs exited with ${code}`)));
      });
      const port = Number(/^serving .* at http:\/\/127\.0\.0\.1:(\d+)\//.exec(line)?.[1]);
      expect(port, line).toBeGreaterThan(0);
      expect((await get(port, '/')).body).toBe('<p>index</p>');
    } finally {
      child.kill();
    }
  });

  it("refuses '..', encoded separators, backslashes, NUL, absolute paths and links out of the root", async () => {
    for (const [path, status] of [
      ['/../secret.txt', 403],
      ['/js/../../secret.txt', 403],
      ['/%2e%2e/secret.txt', 403],
      ['/js/%2e%2e/%2e%2e/secret.txt', 403],
      ['/..%2fsecret.txt', 400],
      ['/..%5csecret.txt', 400],
      ['/..\\secret.txt', 400],
      ['/index.html%00.js', 400],
      ['//etc/passwd', 403],
      ['/%2fetc/passwd', 400],
      ['/link.txt', 403],
      ['http://127.0.0.1/../secret.txt', 400],
      ['/%E0%A4%A', 400],
    ] as const) {
      const r = await get(server.port, path);
      expect({ path, status: r.status }).toEqual({ path, status });
      expect(r.body).not.toContain('secret');
    }
  });
});
