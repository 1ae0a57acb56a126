// The docs claim only what runs: figures that prose quotes from a committed benchmark run must
// equal that run's (bench/quotes.ts), and the generated implicit-differentiation table shows one
// unit of work per column.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DAWN_LIMIT_WARNINGS } from '../engine/device.ts';
import { checkQuotes, implicitRatioTo, QUOTE_RE, QUOTE_SOURCES, quoteValue, rewriteQuotes, type QuoteRun } from '../bench/quotes.ts';

const read = (p: string) => readFileSync(new URL(`../${p}`, import.meta.url), 'utf8');

describe('docs/benchmarks.md quotes the committed run', () => {
  for (const [doc, source] of Object.entries(QUOTE_SOURCES)) {
    it(`every figure quoted in ${doc} equals ${source}`, () => {
      const run = JSON.parse(read(source)) as QuoteRun;
      const quotes = checkQuotes(read(doc), run);
      expect(quotes.length).toBeGreaterThan(doc === "docs/benchmarks.md" ? 30 : 0);
      const wrong = quotes.filter((q) => q.written !== q.value).map((q) => `line ${q.line}: "${q.spec}" says ${q.written}, the run ${q.value}`);
      expect(wrong).toEqual([]);
    });
  }

  it('the Goals prose quotes no run figure by hand (only targets, after ≥ or ≤, stay unmarked)', () => {
    const md = read('docs/benchmarks.md');
    const section = md.slice(md.indexOf('## Goals: where they stand'), md.indexOf('## Results'));
    expect(section.length).toBeGreaterThan(1000);
    const bare = section.replace(QUOTE_RE, 'Q').replace(/`[^`]*`/g, 'C');
    const ratios = [...bare.matchAll(/(\d+(?:\.\d+)?)×(?!\d)/g)].filter((m) => !/[≥≤] $/.test(bare.slice(Math.max(0, m.index! - 2), m.index!)));
    expect(ratios.map((m) => bare.slice(Math.max(0, m.index! - 30), m.index! + 6))).toEqual([]);
    const decimals = [...bare.matchAll(/\d+\.\d+/g)].filter((m) => !/[≥≤] $/.test(bare.slice(Math.max(0, m.index! - 2), m.index!)));
    expect(decimals.map((m) => bare.slice(Math.max(0, m.index! - 30), m.index! + 8))).toEqual([]);
  });

  it('quotes are computed from the run, not copied: a changed row changes the quote, a missing row is an error naming the rows', () => {
    const run = JSON.parse(read('bench/results/llvmpipe.json')) as QuoteRun;
    const id = 'conv2d fwd+bwd N32 4×10×10→16 3×3/1';
    const ours = run.rows.find((r) => r.id === id && r.engine === 'ours')!;
    const jax = run.rows.find((r) => r.id === id && r.engine === 'jax-js')!;
    expect(quoteValue(run, `ratio|jax-js|${id}`)).toBe(`${(jax.wall!.median / ours.wall!.median).toFixed(2)}×`);
    const slower = { ...run, rows: run.rows.map((r) => (r === jax ? { ...r, wall: { ...r.wall!, median: ours.wall!.median * 3 } } : r)) };
    expect(rewriteQuotes(`x <!--q ratio|jax-js|${id}-->1.16×<!--/q--> y`, slower)).toBe(`x <!--q ratio|jax-js|${id}-->3.00×<!--/q--> y`);
    expect(() => quoteValue(run, 'ratio|jax-js|conv2d nosuch')).toThrow(/no jax-js row "conv2d nosuch".*conv2d fwd\+bwd N32/);
    expect(() => quoteValue(run, 'speed|x')).toThrow(/unknown kind "speed"; kinds: ratio/);
  });
});

describe('the implicit-differentiation table shows one unit per column', () => {
  it('every time is per unit of work and matches its ratio', () => {
    const run = JSON.parse(read('bench/results/llvmpipe.json')) as QuoteRun;
    const md = read('docs/benchmarks.md');
    const table = md.slice(md.indexOf('#### implicit differentiation'), md.indexOf('#### dispatch overhead'));
    const lines = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| case'));
    const implicit = run.rows.filter((r) => r.group === 'implicit' && r.engine === 'ours');
    expect(lines.length).toBe(implicit.length);
    const byId = new Map(lines.map((l) => [l.split('|')[1]!.trim(), l.split('|').map((c) => c.trim())]));
    for (const r of implicit) {
      const cells = byId.get(r.id)!;
      const perUnit = Number(cells[3]!.split(' ')[0]);
      const ms = (r as { ms?: number }).ms ?? r.wall!.median;
      expect(Math.abs(perUnit - ms) / ms).toBeLessThan(0.01);
      // the wall ratio is this row's per-unit time over its reference gradient's per-unit time
      // the reference gradient of the same network (the id's last two words), as the row's note names it
      const net = r.id.split(' ').slice(-2).join(' ');
      const { toActor, toCritic } = implicitRatioTo(r as { id: string; note?: string });
      const ref = toActor ? `actor grad ${net}` : toCritic ? `grad ${net}` : r.id;
      if (ref === r.id && !/^(actor )?grad /.test(r.id)) continue; // a row with no reference ratio
      const refMs = Number(byId.get(ref)![3]!.split(' ')[0]);
      expect(Math.abs(Number(cells[4]!.split('×')[0]) - perUnit / refMs)).toBeLessThan(0.02 * (perUnit / refMs) + 0.01);
    }
  });
});

describe('README.md', () => {
  it('its algorithm table is the one generated from rl/registry.ts, and every file the registry names exists', async () => {
    const { ALGORITHMS } = await import('../rl/registry.ts');
    const { renderAlgorithmTable, missingFiles, TABLE_BEGIN, TABLE_END } = await import('../scripts/readme-table.ts');
    const readme = read('README.md');
    const b = readme.indexOf(TABLE_BEGIN);
    const e = readme.indexOf(TABLE_END);
    expect(b).toBeGreaterThan(0);
    expect(readme.slice(b + TABLE_BEGIN.length, e).trim()).toBe(renderAlgorithmTable(ALGORITHMS));
    expect(missingFiles(ALGORITHMS, new URL('..', import.meta.url).pathname)).toEqual([]);
    // the table comes before any other section: the README opens with what runs
    expect(b).toBeLessThan(readme.indexOf('\n## '));
  });

  it('the table follows the registry: a registered name is listed with its status, a planned one without a line says "no"', async () => {
    const { renderAlgorithmTable } = await import('../scripts/readme-table.ts');
    const t = renderAlgorithmTable([
      { name: 'scorer', summary: 'SCORER', paper: 'p', status: { implemented: true, tested: 'test/rl/a.test.ts', results: null } },
    ]);
    expect(t).toContain('| `scorer` | SCORER | yes | [a.test.ts](test/rl/a.test.ts) | no |');
    expect(t).not.toContain('SCORER: Stackelberg DQN');
    expect(t).toContain('| — | STAC: Stackelberg actor-critic (on-policy) | no | no | no |');
    // PAL/MAL run through their own sub-command, listed with it and their tests
    expect(t).toContain('| `npm run rl -- palmal` | PAL: policy-as-leader');
    // variants named after a planned algorithm cover it
    const v = renderAlgorithmTable([{ name: 'scorer-dqn', summary: 'SCORER over DQN', paper: 'p', status: { implemented: true, tested: null, results: null } }]);
    expect(v).not.toContain('SCORER: Stackelberg DQN');
    expect(v).toContain('| — | DQN (the SCORER baseline) | no | no | no |');
  });

  it('the engine example runs as written', () => {
    const readme = read('README.md');
    const from = readme.indexOf('## The engine in a short example');
    const code = readme.slice(readme.indexOf('```ts', from) + 5, readme.indexOf('```', readme.indexOf('```ts', from) + 5));
    expect(code).toContain("from 'stackelberg-gpu'");
    const dir = mkdtempSync(join(tmpdir(), 'readme-example-'));
    try {
      const file = join(dir, 'example.mts');
      writeFileSync(file, code.replace(/from 'stackelberg-gpu'/, `from ${JSON.stringify(new URL('../engine/index.ts', import.meta.url).pathname)}`));
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
        cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8', timeout: 90_000,
        env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      });
      // (a socket stderr, as here, keeps Dawn's two limit warnings: engine/device.ts)
      expect(r.stderr.split('\n').filter((l) => l && !DAWN_LIMIT_WARNINGS.test(l))).toEqual([]);
      expect(r.status).toBe(0);
      // three printed arrays, then the scalar, the live-buffer count and the counters
      expect(r.stdout).toMatch(/Float32Array/);
      expect(r.stdout).toMatch(/dispatches/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
