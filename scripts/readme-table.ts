// The README's algorithm table, generated from rl/registry.ts so that what the README says runs
// is what the CLI can run. `npx tsx scripts/docs.ts` writes it between the markers below;
// test/docs.test.ts fails when the README and the registry disagree.
import { existsSync } from 'node:fs';
import path from 'node:path';

export const TABLE_BEGIN = '<!-- algorithms:begin (generated from rl/registry.ts by `npx tsx scripts/docs.ts`; edits inside are overwritten) -->';
export const TABLE_END = '<!-- algorithms:end -->';

/** What the table needs of a registry entry (rl/registry.ts AlgorithmEntry). */
export interface RegistryEntry {
  name: string;
  summary: string;
  paper: string;
  status: { implemented: boolean; tested: string | null; results: string | null };
}

/**
 * Algorithms this project sets out to provide (the papers it builds on). One not (yet) in the
 * registry is listed as not implemented, so the README never presents it as running.
 */
export const PLANNED: Array<{ name: string; what: string }> = [
  { name: 'dqn', what: 'DQN (the SCORER baseline)' },
  { name: 'scorer', what: 'SCORER: Stackelberg DQN' },
  { name: 'stac', what: 'STAC: Stackelberg actor-critic (on-policy)' },
  { name: 'stddpg', what: 'STDDPG: Stackelberg DDPG' },
  { name: 'stsac', what: 'STSAC: Stackelberg SAC' },
  { name: 'pal', what: 'PAL: policy-as-leader (model-based)' },
  { name: 'mal', what: 'MAL: model-as-leader (model-based)' },
];

/**
 * Algorithms that do not fit the harness's Algorithm contract and run through a sub-command of
 * their own (PAL/MAL optimise tables and models, not a policy on env steps). Listed with their
 * command in the first column; their status must be as true as a registry line's.
 */
export const SUBCOMMANDS: Array<{ name: string; command: string; what: string; tested: string; results: string }> = [
  { name: 'pal', command: 'npm run rl -- palmal', what: 'PAL: policy-as-leader (model-based): 3-state MDP with three best-response methods; scalable ensemble + NPG', tested: 'test/rl/palmal.test.ts, test/rl/palmal_npg.test.ts', results: 'docs/pal-mal.md' },
  { name: 'mal', command: 'npm run rl -- palmal', what: 'MAL: model-as-leader (model-based), with the agent-reward and random-noise fixes', tested: 'test/rl/palmal.test.ts', results: 'docs/pal-mal.md' },
];

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Links to repository files named in a "a, b" list; each must exist (checked by the caller). */
function links(list: string | null): string {
  if (!list) return 'no';
  return list.split(',').map((p) => p.trim()).filter(Boolean).map((p) => `[${path.basename(p)}](${p})`).join(', ');
}

/** Files a registry entry names that do not exist in the repository (relative to `root`). */
export function missingFiles(entries: RegistryEntry[], root: string): string[] {
  const out: string[] = [];
  const all = [...entries.map((e) => ({ name: e.name, lists: [e.status.tested, e.status.results] })),
    ...SUBCOMMANDS.map((c) => ({ name: c.name, lists: [c.tested, c.results] }))];
  for (const e of all) {
    for (const list of e.lists) {
      for (const p of (list ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
        const file = p.split('#')[0]!;
        if (!existsSync(path.join(root, file))) out.push(`${e.name}: ${p}`);
      }
    }
  }
  return out;
}

export function renderAlgorithmTable(entries: RegistryEntry[]): string {
  const L = [
    '| `--algo` | algorithm | implemented | tested | results |',
    '|---|---|---|---|---|',
  ];
  for (const e of entries) {
    L.push(`| \`${e.name}\` | ${cell(e.summary)} | ${e.status.implemented ? 'yes' : 'no'} | ${links(e.status.tested)} | ${links(e.status.results)} |`);
  }
  // a planned name is covered by its own line or by variants named after it (scorer-dqn, …)
  const covered = (name: string) => entries.some((e) => e.name === name || e.name.startsWith(`${name}-`));
  const bySubcommand = (name: string) => SUBCOMMANDS.find((c) => c.name === name);
  for (const p of PLANNED) {
    if (covered(p.name)) continue;
    const c = bySubcommand(p.name);
    L.push(c ? `| \`${c.command}\` | ${cell(c.what)} | yes | ${links(c.tested)} | ${links(c.results)} |` : `| — | ${cell(p.what)} | no | no | no |`);
  }
  return L.join('\n');
}

/** The README with its table replaced; an error when the markers are missing. */
export function withTable(readme: string, entries: RegistryEntry[]): string {
  const b = readme.indexOf(TABLE_BEGIN);
  const e = readme.indexOf(TABLE_END);
  if (b < 0 || e < b) throw new Error(`README.md has no algorithm table markers (${TABLE_BEGIN} … ${TABLE_END})`);
  return readme.slice(0, b) + `${TABLE_BEGIN}\n${renderAlgorithmTable(entries)}\n${TABLE_END}` + readme.slice(e + TABLE_END.length);
}
