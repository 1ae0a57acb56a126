// Dawn's two "maxDynamic…BuffersPerPipelineLayout artificially reduced" lines come from native
// code writing to file descriptor 2; engine/device.ts filters them by pointing descriptor 2 at a
// file while the adapter is requested. These run child processes so the real descriptor 2 is a
// pipe the test reads.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

/**
 * Runs `code` (an ES module, TypeScript allowed) in a child Node. `stderrTo`: 'file' (a regular
 * file) or 'pipe' (a kernel pipe through sh; Node's own 'pipe' stdio is a socketpair, which
 * /proc/self/fd cannot reopen, so the filter leaves a socket stderr alone: 'socket').
 */
function runChild(code: string, stderrTo: 'file' | 'pipe' | 'socket', env: Record<string, string> = {}) {
  const envAll = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', ...env };
  const args = ['--import', 'tsx', '--input-type=module', '-e', code];
  if (stderrTo === 'socket') {
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: envAll, timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const dir = mkdtempSync(join(tmpdir(), 'stderr-test-'));
  try {
    const outFile = join(dir, 'out');
    const errFile = join(dir, 'err');
    if (stderrTo === 'file') {
      const err = openSync(errFile, 'w');
      const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: envAll, timeout: 60_000, stdio: ['ignore', 'pipe', err] });
      closeSync(err);
      return { status: r.status, stdout: r.stdout, stderr: readFileSync(errFile, 'utf8') };
    }
    // stderr into `cat` through a shell pipe; stdout to a file
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `${[process.execPath, ...args].map(q).join(' ')} 2>&1 >${q(outFile)} | cat`;
    const r = spawnSync('sh', ['-c', cmd], { cwd: root, encoding: 'utf8', env: envAll, timeout: 60_000 });
    return { status: r.status, stdout: readFileSync(outFile, 'utf8'), stderr: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const FAKE_NATIVE = `
  import fs from 'node:fs';
  import { withNativeStderrFiltered, DAWN_LIMIT_WARNINGS } from './engine/device.ts';
  const v = await withNativeStderrFiltered(async () => {
    fs.writeSync(2, 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
    fs.writeSync(2, 'a real native error\\n');
    fs.writeSync(2, 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n');
    fs.writeSync(2, 'Warning: something else artificially reduced\\n');
    return 42;
  }, DAWN_LIMIT_WARNINGS);
  console.error('after', v);
  console.log('stdout ok');
`;
const WARN_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';
const WARN_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

describe('native stderr filter', () => {
  for (const to of ['file', 'pipe'] as const) {
    it(`drops only the matching lines written to descriptor 2, keeps the rest in order, restores stderr (stderr a ${to})`, () => {
      const r = runChild(FAKE_NATIVE, to);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('stdout ok\n');
      expect(r.stderr).toBe('a real native error\nWarning: something else artificially reduced\nafter 42\n');
    });
  }

  it('leaves a socket stderr alone (it cannot be reopened): every line still arrives', () => {
    const r = runChild(FAKE_NATIVE, 'socket');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(`${WARN_U}\na real native error\n${WARN_S}\nWarning: something else artificially reduced\nafter 42\n`);
  });

  it('overlapping calls: the second runs unfiltered, and stderr is whole afterwards', () => {
    const r = runChild(`
      import fs from 'node:fs';
      import { withNativeStderrFiltered, DAWN_LIMIT_WARNINGS } from './engine/device.ts';
      const W = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\\n';
      let release;
      const gate = new Promise((r) => (release = r));
      const first = withNativeStderrFiltered(async () => { fs.writeSync(2, W); await gate; fs.writeSync(2, 'first\\n'); }, DAWN_LIMIT_WARNINGS);
      const second = withNativeStderrFiltered(async () => { fs.writeSync(2, 'second\\n'); }, DAWN_LIMIT_WARNINGS);
      await second;
      release();
      await first;
      console.error('after');
    `, 'file');
    expect(r.status).toBe(0);
    // the second call wrote into the first's capture (unfiltered call, same descriptor 2); all
    // kept lines come back in order, the warning does not, and stderr works afterwards
    expect(r.stderr).toBe('second\nfirst\nafter\n');
  });

  it('restores stderr when the wrapped call throws', () => {
    const r = runChild(`
      import fs from 'node:fs';
      import { withNativeStderrFiltered, DAWN_LIMIT_WARNINGS } from './engine/device.ts';
      try {
        await withNativeStderrFiltered(async () => { fs.writeSync(2, 'kept\\n'); throw new Error('boom'); }, DAWN_LIMIT_WARNINGS);
      } catch (e) { console.error('caught', e.message); }
    `, 'file');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('kept\ncaught boom\n');
  });

  it('E.init() prints no Dawn limit warning (and, on lavapipe, the opt-out shows they exist)', () => {
    const code = `
      import * as E from './engine/index.ts';
      const rt = await E.init();
      console.log(JSON.stringify(rt.info.adapterInfo));
    `;
    const filtered = runChild(code, 'pipe');
    expect(filtered.status).toBe(0);
    expect(filtered.stderr).not.toMatch(/maxDynamic/);
    const info = JSON.parse(filtered.stdout.trim().split('\n').pop()!);
    if (/llvmpipe/i.test(`${info.device} ${info.description}`)) {
      const kept = runChild(code, 'pipe', { STACKELBERG_GPU_NATIVE_STDERR: 'keep' });
      expect(kept.stderr).toMatch(/maxDynamicUniformBuffersPerPipelineLayout artificially reduced/);
    }
  });
});
