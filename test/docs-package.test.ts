// The package's entries (scripts/build.mjs ENTRIES, built with esbuild): the engine at the root
// must not pull in the CLI, progress-bar or plotting packages, nor any rl/ or games/ code; no
// module may be bundled into two outputs (two engine copies would mean two runtimes).
import { build, type Metafile } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { ENTRIES, esbuildOptions } from '../scripts/build.mjs';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

let meta: Metafile | null = null;
async function metafile(): Promise<Metafile> {
  if (meta) return meta;
  const r = await build({ ...esbuildOptions('/tmp/docs-package-test-out'), absWorkingDir: root, write: false, metafile: true, sourcemap: false, logLevel: 'silent' });
  if (!r.metafile) throw new Error('esbuild returned no metafile');
  meta = r.metafile;
  return r.metafile;
}

/** Every output an entry loads (itself and the chunks it imports, transitively), with its externals. */
function closure(m: Metafile, entry: string) {
  const outs = Object.entries(m.outputs);
  const start = outs.find(([, o]) => o.entryPoint === entry);
  if (!start) throw new Error(`no output for entry ${entry}; outputs: ${outs.map(([k]) => k).join(', ')}`);
  const seen = new Set<string>();
  const externals = new Set<string>();
  const stack = [start[0]];
  while (stack.length) {
    const k = stack.pop()!;
    if (seen.has(k)) continue;
    seen.add(k);
    for (const imp of m.outputs[k]!.imports) {
      if (imp.external) externals.add(imp.path);
      else stack.push(imp.path);
    }
  }
  const inputs = new Set([...seen].flatMap((k) => Object.keys(m.outputs[k]!.inputs)));
  return { outputs: seen, inputs, externals };
}

// CLI, progress-bar, plotting, rendering and the other runtime packages an engine user never needs.
const NOT_FOR_THE_ENGINE = [
  ...new Set([
    'commander', 'cli-progress', 'vega', 'vega-lite', '@resvg/resvg-js',
    ...Object.keys({ ...pkg.dependencies, ...pkg.devDependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies }),
  ]),
].filter((d) => d !== 'webgpu' && d !== '@webgpu/types');

describe('package entries', () => {
  it('lists the engine, games and rl entries', () => {
    expect(ENTRIES).toEqual({ '.': 'index.ts', './games': 'games/index.ts', './rl': 'rl/index.ts' });
  });

  it('the engine entry loads only engine/ and kernels/ code, and no package but webgpu and node builtins', async () => {
    const m = await metafile();
    const c = closure(m, 'index.ts');
    const foreign = [...c.inputs].filter((f) => !/^(engine|kernels)\//.test(f) && f !== 'index.ts');
    expect(foreign).toEqual([]);
    const pkgs = [...c.externals].filter((p) => !p.startsWith('node:'));
    expect(pkgs.filter((p) => p !== 'webgpu')).toEqual([]);
    for (const p of NOT_FOR_THE_ENGINE) expect(c.externals.has(p)).toBe(false);
  });

  it('the games entry carries no CLI, progress bar or plotting', async () => {
    const c = closure(await metafile(), 'games/index.ts');
    for (const p of ['commander', 'cli-progress', 'vega', 'vega-lite', '@resvg/resvg-js']) expect(c.externals.has(p)).toBe(false);
    expect([...c.inputs].filter((f) => /^(rl|util|bench)\//.test(f) || f === 'games/figures.ts')).toEqual([]);
  });

  it('the rl entry carries no CLI or progress bar', async () => {
    const c = closure(await metafile(), 'rl/index.ts');
    for (const p of ['commander', 'cli-progress']) expect(c.externals.has(p)).toBe(false);
    expect([...c.inputs].filter((f) => /^(bench|util)\//.test(f) || /^rl\/(cli|demo)\.ts$/.test(f))).toEqual([]);
  });

  it('every source module is bundled into exactly one output (the engine is shared, not copied per entry)', async () => {
    const m = await metafile();
    const where = new Map<string, string[]>();
    for (const [out, o] of Object.entries(m.outputs)) for (const inp of Object.keys(o.inputs)) where.set(inp, [...(where.get(inp) ?? []), out]);
    const twice = [...where].filter(([, outs]) => outs.length > 1);
    expect(twice).toEqual([]);
    // and the engine's runtime really is in a chunk the games entry shares with the root
    const rootC = closure(m, 'index.ts');
    const gamesC = closure(m, 'games/index.ts');
    const runtimeOut = [...where.get('engine/runtime.ts')!][0]!;
    expect(rootC.outputs.has(runtimeOut) && gamesC.outputs.has(runtimeOut)).toBe(true);
  });
});

describe('the built package', () => {
  it('npm run build writes every "exports" entry with its .d.ts, and they import under the package name with one shared engine', () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe', timeout: 240_000 });
    for (const [sub, target] of Object.entries(pkg.exports as Record<string, { types: string; import: string } | string>)) {
      if (typeof target === 'string') continue;
      expect(ENTRIES[sub as keyof typeof ENTRIES]).toBeDefined();
      expect(existsSync(join(root, target.import))).toBe(true);
      expect(existsSync(join(root, target.types))).toBe(true);
    }
    // self-reference through "exports": what a user of the published package imports
    const code = `
      import * as E from 'stackelberg-gpu';
      import * as G from 'stackelberg-gpu/games';
      import * as R from 'stackelberg-gpu/rl';
      await E.init();
      const g = G.actorCritic();
      const start = g.init();
      const t = await G.play(g, start, { kind: 'stackelberg', leaderLr: 0.01, lambda: 0, cgIters: 1 }, 5);
      E.dispose([start, t.final]);
      const env = R.makeEnv('cartpole', { numEnvs: 2 });
      console.log(JSON.stringify({ steps: t.iters.length, obs: env.reset().length, algos: R.ALGORITHM_NAMES(), live: E.memory().liveBuffers }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    // the games entry ran on the runtime the root entry initialised (one engine), and freed what it made
    expect(r.steps).toBe(6);
    expect(r.obs).toBe(8);
    expect(r.algos).toEqual(expect.arrayContaining(['ppo', 'sprig']));
    expect(r.live).toBe(0);
  }, 300_000);
});
