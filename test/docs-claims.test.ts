// The repository stands alone and its docs claim only what a test asserts:
// - no source file or doc points at rules kept outside the repository (specs/*.md, ../shared);
//   every "docs/spec/<page>.md § <section>" citation names a real section of our own rule pages;
// - every paragraph of the docs that states a determinism figure (bit for bit, identical,
//   deterministic, the same trajectory/numbers) names an existing test file that asserts it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
const textFiles = tracked.filter((f) => /\.(ts|mts|mjs|js|py|sh|md|json|yaml|yml)$/.test(f) && !f.startsWith('bench/results/') && existsSync(`${root}/${f}`));
const read = (f: string) => readFileSync(`${root}/${f}`, 'utf8');

describe('the repository stands alone', () => {
  it('no file cites rules kept outside the repository', () => {
    const bad: string[] = [];
    for (const f of textFiles) {
      if (f.startsWith('docs/spec/') || f === 'test/docs-claims.test.ts') continue;
      read(f).split('\n').forEach((line, i) => {
        // specs/<x>.md not preceded by "docs/spec" (our own pages), or any path into ../shared
        if (/(^|[^/\w])specs\/\w+\.md|\.\.\/shared\/|\/work\/shared\//.test(line)) bad.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(bad).toEqual([]);
  });

  it('every docs/spec citation names a section that exists', () => {
    const headings = new Map<string, Set<string>>();
    const sections = (page: string) => {
      if (!headings.has(page)) {
        const text = existsSync(`${root}/${page}`) ? read(page) : '';
        headings.set(page, new Set([...text.matchAll(/^#{1,4} (.+)$/gm)].map((m) => m[1]!.trim())));
      }
      return headings.get(page)!;
    };
    const cited: string[] = [];
    const bad: string[] = [];
    for (const f of textFiles) {
      for (const m of read(f).matchAll(/(docs\/spec\/[\w-]+\.md) § ([^.\n;,()]+)/g)) {
        const page = m[1]!;
        const section = m[2]!.trim();
        cited.push(`${page} § ${section}`);
        const have = sections(page);
        if (![...have].some((h) => h === section || h.startsWith(`${section} `) || h.startsWith(`${section}:`))) {
          bad.push(`${f}: "${page} § ${section}" (sections: ${[...have].join(' / ') || 'no such page'})`);
        }
      }
    }
    expect(cited.length).toBeGreaterThan(10);
    expect(bad).toEqual([]);
  });
});

describe('determinism figures in the docs name their test', () => {
  // claims that two runs or a resumed run agree; not "deterministic policy/mean/function" (kinds of maths)
  const DETERMINISM = /bit[- ]for[- ]bit|bit-identical|\b(is|are|runs? are|stays?) (fully )?deterministic\b(?! functions?| mean| polic)|\bdeterministic given\b|\bidentical (trajectories|runs?|results?|numbers|weights|parameters|outputs?)\b|\bsame (trajectory|trajectories|numbers|results?)\b/i;
  it('every such paragraph cites an existing test file', () => {
    const docs = textFiles.filter((f) => (f.startsWith('docs/') || f === 'README.md') && f.endsWith('.md'));
    expect(docs.length).toBeGreaterThan(5);
    const bad: string[] = [];
    let found = 0;
    for (const f of docs) {
      // generated benchmark tables are figures of a run, not claims of determinism
      const text = read(f).replace(/<!-- bench:begin[\s\S]*?bench:end[^>]*-->/g, '');
      for (const para of text.split(/\n\s*\n|\n(?=\s*[-*] )|\n(?=\|)/)) {
        if (!DETERMINISM.test(para)) continue;
        found++;
        const tests = [...para.matchAll(/test\/[\w/.-]+\.test\.ts/g)].map((m) => m[0]);
        if (!tests.some((t) => existsSync(`${root}/${t}`))) bad.push(`${f}: ${para.trim().slice(0, 160)}`);
      }
    }
    expect(found).toBeGreaterThan(2);
    expect(bad).toEqual([]);
  });
});
