// Serves the built browser pages (out/web, from scripts/build-browser.mjs) over http.
//
//   node scripts/serve.mjs                      build, then serve on http://127.0.0.1:8080/
//   node scripts/serve.mjs --port 0 --no-build  any free port, the existing build
//   node scripts/serve.mjs --host 0.0.0.0       other machines too (WebGPU then needs https
//                                               or a browser flag: only localhost counts as secure)
//
// It binds 127.0.0.1 unless told otherwise and serves files under the root only: a request
// path with a '..' segment, a backslash, a NUL, an encoded '/', or anything that resolves
// outside the root is refused (400/403) before the file system is asked. GET and HEAD only.
import { createServer } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The file a request path names under root, or an HTTP status and reason when it is refused.
 * Exported for the tests (test/browser/serve.test.ts).
 */
export function resolveRequest(root, rawUrl) {
  const q = rawUrl.search(/[?#]/);
  const rawPath = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  if (!rawPath.startsWith('/')) return { status: 400, reason: 'the request target must be a path starting with /' };
  if (/%2f|%5c|%00/i.test(rawPath)) return { status: 400, reason: 'encoded /, \\ or NUL in the path' };
  let path;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { status: 400, reason: 'malformed percent-encoding' };
  }
  if (path.includes('\0') || path.includes('\\')) return { status: 400, reason: 'NUL or backslash in the path' };
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '..' || p === '.')) return { status: 403, reason: "'..' and '.' segments are refused" };
  if (path.startsWith('//')) return { status: 403, reason: 'absolute paths are refused' };
  const base = realpathSync(root);
  let file = resolve(base, '.' + path);
  if (file !== base && !file.startsWith(base + sep)) return { status: 403, reason: 'outside the served directory' };
  let st;
  try {
    st = statSync(file);
    if (st.isDirectory()) {
      file = join(file, 'index.html');
      st = statSync(file);
    }
    // a symbolic link inside the root that points out of it is refused too
    const real = realpathSync(file);
    if (!real.startsWith(base + sep)) return { status: 403, reason: 'outside the served directory' };
  } catch {
    return { status: 404, reason: 'not found' };
  }
  if (!st.isFile()) return { status: 404, reason: 'not found' };
  return { status: 200, file, size: st.size };
}

/** Starts the server; resolves with its URL and a close function. */
export function serve({ root = 'out/web', host = '127.0.0.1', port = 8080, log = false } = {}) {
  statSync(join(root, 'index.html')); // fails clearly when the pages are not built
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET and HEAD\n');
      return;
    }
    const r = resolveRequest(root, req.url ?? '/');
    if (log) console.log(`${r.status} ${req.method} ${req.url}`);
    if (r.status !== 200) {
      res.writeHead(r.status, { 'content-type': 'text/plain; charset=utf-8' }).end(`${r.status}: ${r.reason}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(r.file)] ?? 'application/octet-stream',
      'content-length': r.size,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(r.file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      const a = server.address();
      const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      ok({ url: `http://${shown}:${a.port}/`, port: a.port, close: () => new Promise((c) => server.close(() => c())) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
    return v;
  };
  const known = new Set(['--port', '--host', '--root', '--no-build', '--log']);
  for (const a of args) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}; options: ${[...known].join(', ')}`);
  const port = Number(opt('--port', '8080'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer in [0, 65535], got ${opt('--port')}`);
  const root = opt('--root', 'out/web');
  if (!args.includes('--no-build')) {
    const { buildBrowser } = await import('./build-browser.mjs');
    await buildBrowser(root);
  }
  const s = await serve({ root, host: opt('--host', '127.0.0.1'), port, log: args.includes('--log') });
  console.log(`serving ${root} at ${s.url}  (training: ${s.url}index.html, kernels: ${s.url}bench.html, game: ${s.url}figures.html)`);
}
