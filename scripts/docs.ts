// Regenerates the generated parts of the docs from their sources:
//   README.md's algorithm table          from rl/registry.ts        (scripts/readme-table.ts)
//   figures quoted in docs/benchmarks.md from bench/results/*.json  (bench/quotes.ts)
//
//   npx tsx scripts/docs.ts           rewrite them
//   npx tsx scripts/docs.ts --check   change nothing; exit 1 and name what is stale
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ALGORITHMS } from '../rl/registry.ts';
import { QUOTE_SOURCES, rewriteQuotes } from '../bench/quotes.ts';
import { missingFiles, withTable } from './readme-table.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const stale: string[] = [];

function update(file: string, make: (text: string) => string) {
  const abs = path.join(root, file);
  const before = readFileSync(abs, 'utf8');
  const after = make(before);
  if (after === before) return;
  stale.push(file);
  if (!check) writeFileSync(abs, after);
}

const missing = missingFiles(ALGORITHMS, root);
if (missing.length) {
  console.error(`rl/registry.ts names files that do not exist: ${missing.join('; ')}`);
  process.exit(1);
}
update('README.md', (t) => withTable(t, ALGORITHMS));
for (const [doc, source] of Object.entries(QUOTE_SOURCES)) {
  update(doc, (t) => rewriteQuotes(t, JSON.parse(readFileSync(path.join(root, source), 'utf8'))));
}
if (check) {
  if (stale.length) {
    console.error(`stale: ${stale.join(', ')} (run npx tsx scripts/docs.ts)`);
    process.exit(1);
  }
  console.log('docs: up to date');
} else console.log(stale.length ? `docs: rewrote ${stale.join(', ')}` : 'docs: up to date');
