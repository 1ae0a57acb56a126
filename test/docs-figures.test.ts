// `npm run figures` (games/figures.ts): writes to out/figures under the working directory unless
// told otherwise (never into the tracked docs/figures by default), prints its time estimate
// before the long runs, and rejects bad arguments before doing any work.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const script = join(root, 'games/figures.ts');
const tsx = join(root, 'node_modules/tsx/dist/esm/index.mjs');

function run(args: string[], cwd: string) {
  return spawnSync(process.execPath, ['--import', tsx, script, ...args], {
    cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  });
}

describe('games/figures.ts', () => {
  it('writes out/figures by default, prints an estimate first, leaves docs/figures alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'figures-'));
    const docsFig = join(root, 'docs/figures/actor-critic.png');
    const before = statSync(docsFig).mtimeMs;
    try {
      const r = run(['--iters', '30'], dir);
      expect(r.status, r.stderr).toBe(0);
      expect(readdirSync(join(dir, 'out/figures')).sort()).toEqual(['actor-critic-entropy.png', 'actor-critic-entropy.svg', 'actor-critic.png', 'actor-critic.svg']);
      const err = r.stderr.replace(/\r/g, '\n');
      const est = err.indexOf('figures: 5 runs × 30 steps on the GPU engine');
      expect(est).toBeGreaterThanOrEqual(0);
      expect(err.slice(est)).toMatch(/that is about \d+ (s|min)\. .*Writing to out\/figures\//);
      // the estimate comes before the first run's progress
      expect(est).toBeLessThan(err.indexOf('individual: '));
      expect(statSync(docsFig).mtimeMs).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);

  it('a bad --iters or --engine is an error naming the flag, and nothing is written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'figures-'));
    try {
      const a = run(['--iters', 'abc'], dir);
      expect(a.status).not.toBe(0);
      expect(a.stderr).toMatch(/--iters must be a positive integer, got "abc"/);
      const b = run(['--engine', 'tpu'], dir);
      expect(b.status).not.toBe(0);
      expect(b.stderr).toMatch(/--engine must be gpu or cpu, got "tpu"/);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
