// Builds the browser pages into out/web/: the static files of web/ (HTML, CSS) and one ESM
// bundle per page plus the library entries (engine, games, rl), with code splitting so the
// engine exists once however many of them a page loads.
//
//   node scripts/build-browser.mjs            (npm run build:browser)
//   node scripts/build-browser.mjs --out dir  (another output directory)
//
// The bundle is built for platform 'browser': a module of ours on the engine/games/rl path that
// imports a Node built-in (node:fs, path, os, child_process, ...) fails this build, naming the
// importer; npm packages get esbuild's own handling (their "browser" field, else an error). Three npm packages are Node-only by nature and
// are replaced by modules that throw a clear error if they are ever reached (NODE_ONLY below):
// the Dawn addon (engine/device.ts takes navigator.gpu first in a browser), resvg (PNG
// rasterising; the page draws the envs' SVG itself) and mujoco-js (MuJoCo tasks are not offered
// in the browser).
import { build } from 'esbuild';
import { builtinModules } from 'node:module';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Page and library entries: out/web/js/<name>.js. */
export const BROWSER_ENTRIES = {
  train: 'web/src/train.ts',
  bench: 'web/src/bench.ts',
  embed: 'web/src/embed.ts',
  figures: 'web/src/figures.ts',
  engine: 'index.ts',
  games: 'games/index.ts',
  rl: 'rl/index.ts',
};

/** Node-only packages → what a browser gets instead (each export throws, naming the package). */
export const NODE_ONLY = {
  webgpu: {
    why: "the `webgpu` package is Dawn's Node addon; in a browser the engine uses navigator.gpu (or init({ device }))",
    exports: ['create', 'globals'],
  },
  '@resvg/resvg-js': {
    why: '@resvg/resvg-js (svgToPng, VecEnv.renderPng) is a native Node addon; in a browser draw renderSvg() instead',
    exports: ['Resvg'],
  },
  'mujoco-js': {
    why: 'the MuJoCo tasks are not part of the browser build (mujoco-js is loaded as a Node module here); choose CartPole, Pendulum, a MinAtar game or the 3-state MDP',
    exports: [],
  },
};

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Refuses Node built-ins with the importer named; swaps NODE_ONLY packages for throwing stubs. */
export const browserGuard = {
  name: 'browser-guard',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      // A package's own Node imports are left to esbuild: it applies the package's "browser"
      // field (tfjs maps util and crypto to nothing) and errors on an unmapped built-in itself.
      const fromPackage = /[\\/]node_modules[\\/]/.test(args.importer);
      if (!fromPackage && (NODE_BUILTINS.has(args.path) || args.path.startsWith('node:'))) {
        return {
          errors: [{
            text: `Node built-in '${args.path}' imported by ${args.importer ? relative(process.cwd(), args.importer) : '(entry)'} is on the browser path. ` +
              'Move it behind an interface (rl/harness/storage.ts) or look it up at run time on the Node path only (rl/envs/node_fs.ts, process.getBuiltinModule).',
          }],
        };
      }
      if (Object.hasOwn(NODE_ONLY, args.path)) return { path: args.path, namespace: 'node-only' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'node-only' }, (args) => {
      const { why, exports } = NODE_ONLY[args.path];
      const fail = `function fail() { throw new Error(${JSON.stringify(why)}); }`;
      const named = exports.map((n) => `export const ${n} = new Proxy(function () {}, { get: fail, apply: fail, construct: fail });`);
      return { contents: [fail, ...named, 'export default fail;'].join('\n'), loader: 'js' };
    });
  },
};

/**
 * Versions of the bench page's peers, from their package.json (jax-js exports no version; tfjs
 * does, but one table for both): `__PEER_VERSIONS__` in web/src/bench.ts.
 */
export function peerVersions() {
  const v = {};
  for (const p of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', '@jax-js/jax']) {
    try {
      v[p] = JSON.parse(readFileSync(join('node_modules', p, 'package.json'), 'utf8')).version;
    } catch {
      /* not installed: the page's loader then fails and says so in its rows */
    }
  }
  return v;
}

export function browserOptions(outdir = 'out/web') {
  return {
    entryPoints: BROWSER_ENTRIES,
    outdir: join(outdir, 'js'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [browserGuard],
    define: { __PEER_VERSIONS__: JSON.stringify(peerVersions()) },
    metafile: true,
    logLevel: 'warning',
  };
}

/** Copies web/'s static files (everything but the sources: src/, tsconfig.json) to outdir. */
function copyStatic(outdir) {
  for (const f of readdirSync('web')) {
    if (f === 'src' || f === 'tsconfig.json') continue;
    const src = join('web', f);
    cpSync(src, join(outdir, f), { recursive: statSync(src).isDirectory() });
  }
}

export async function buildBrowser(outdir = 'out/web') {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const r = await build(browserOptions(outdir));
  copyStatic(outdir);
  const bytes = Object.values(r.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  return { outdir, bytes, inputs: Object.keys(r.metafile.inputs) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const outdir = i > 0 ? process.argv[i + 1] : 'out/web';
  if (!outdir) throw new Error('--out needs a directory');
  try {
    const { bytes, inputs } = await buildBrowser(outdir);
    console.log(`built ${outdir}/: ${Object.keys(BROWSER_ENTRIES).join(', ')} (${(bytes / 1e6).toFixed(2)} MB of JS and maps, ${inputs.length} modules)`);
  } catch (e) {
    // esbuild has printed each error with its location already.
    console.error(`browser build failed: ${e.errors?.length ?? ''} error(s)`);
    process.exit(1);
  }
}
