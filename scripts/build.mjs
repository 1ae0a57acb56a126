// Builds dist/: one ESM file per package entry (esbuild, code splitting so the engine exists once
// however many entries a user imports) plus type declarations (tsc, tsconfig.build.json).
//
//   node scripts/build.mjs            (npm run build)
//
// The entries are package.json's "exports": "." (the engine), "./games", "./rl".
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Package subpath → source entry; dist/<entry without .ts>.js and .d.ts are what "exports" names. */
export const ENTRIES = {
  '.': 'index.ts',
  './games': 'games/index.ts',
  './rl': 'rl/index.ts',
};

/**
 * Packages resolved from node_modules at run time rather than bundled: the native Dawn addon and
 * the rest of the runtime dependencies (bundling them would copy them into dist/).
 */
export const EXTERNAL = [
  'webgpu', 'vega', 'vega-lite', '@resvg/resvg-js', 'commander', 'cli-progress', 'yaml', 'jstat', 'mujoco-js',
  'node:*', 'fs', 'path', 'os', 'url', 'crypto', 'child_process',
];

/** esbuild options for dist/ (the test in test/docs-package.test.ts builds with these in memory). */
export function esbuildOptions(outdir = 'dist') {
  return {
    entryPoints: Object.values(ENTRIES),
    outdir,
    outbase: '.',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    sourcemap: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: EXTERNAL,
    logLevel: 'warning',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  rmSync('dist', { recursive: true, force: true });
  await build(esbuildOptions('dist'));
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  console.log(`built dist/: ${Object.entries(ENTRIES).map(([k, v]) => `${k} (${v})`).join(', ')}`);
}
