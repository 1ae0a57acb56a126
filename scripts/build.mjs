// Builds dist/: one ESM bundle per public entry (esbuild) plus type declarations (tsc).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['index.ts'],
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  sourcemap: true,
  // Native addon and heavy runtime deps stay external: resolved from node_modules at run time.
  external: ['webgpu', 'vega', 'vega-lite', '@resvg/resvg-js', 'commander', 'cli-progress', 'node:*', 'fs', 'path', 'os', 'url', 'crypto', 'child_process'],
  logLevel: 'warning',
});
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('built dist/');
