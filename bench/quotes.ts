// Numbers that hand-written prose quotes from a committed benchmark run. In the markdown a quoted
// figure is written between two HTML comments that GitHub does not render:
//
//   conv2d on the MinAtar torso: <!--q ratio|jax-js|conv2d fwd+bwd N32 4×10×10→16 3×3/1-->1.16×<!--/q-->
//
// `npm run bench` (after it rewrites its table) and `npx tsx scripts/docs.ts` rewrite every
// quoted figure from bench/results/<adapter>.json; test/docs.test.ts fails when one differs, so
// the prose cannot drift from the run it sits beside.
//
// Kinds (arguments separated by |):
//   ratio|<peer>|<case id>      peer wall time / ours, "1.16×"
//   metric|<key>|<case id>      our row's metrics[key]: "×" for ratio keys, else the number
//   perunit|<case id>           our wall ms per unit of work (an implicit row's ms field, else the wall median)
//   gflops|<engine>|<case id>   GFLOP/s of that engine's row
//   ms|<engine>|<case id>       that engine's median wall ms
//   status|<goal prefix>        met / missed / not measured, from the run's goals
//   load|start, load|end        the 1-min load average at the start / end of the run
//   date                        "YYYY-MM-DD HH:MM UTC" of the run
//   commit                      the commit the run measured
// Every quote names its adapter through the file it is checked against (QUOTE_SOURCES below).

import type { Row } from './common.ts';

export interface QuoteRun {
  date: string;
  machine: { loadavgStart: number; loadavgEnd: number };
  versions: Record<string, string>;
  rows: (Row & { ms?: number })[];
  goals?: Array<{ goal: string; status: string }>;
}

/** Which results file each document's quotes come from (paths from the repository root). */
export const QUOTE_SOURCES: Record<string, string> = {
  'docs/benchmarks.md': 'bench/results/llvmpipe.json',
  'docs/games.md': 'bench/results/llvmpipe.json',
  'docs/engine-internals.md': 'bench/results/llvmpipe.json',
  'docs/kernels.md': 'bench/results/llvmpipe.json',
};

export const QUOTE_RE = /<!--q ([^>]*?)-->([^<]*)<!--\/q-->/g;

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}

function row(run: QuoteRun, id: string, engine: string): Row & { ms?: number } {
  const r = run.rows.find((x) => x.id === id && x.engine === engine);
  if (!r) {
    const ids = [...new Set(run.rows.filter((x) => x.engine === engine).map((x) => x.id))];
    throw new Error(`no ${engine} row "${id}" in the run; ${engine} rows: ${ids.join(', ') || 'none'}`);
  }
  if (r.status !== 'ok' || !r.wall) throw new Error(`row "${id}" (${engine}) has no valid time (status ${r.status})`);
  return r;
}

/** The text a quote stands for, from the run. Throws a message naming the problem for a bad quote. */
export function quoteValue(run: QuoteRun, spec: string): string {
  const [kind, ...args] = spec.split('|').map((s) => s.trim());
  const need = (n: number) => {
    if (args.length !== n) throw new Error(`quote "${spec}": ${kind} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
  };
  switch (kind) {
    case 'ratio': {
      need(2);
      const [peer, id] = args as [string, string];
      return `${(row(run, id, peer).wall!.median / row(run, id, 'ours').wall!.median).toFixed(2)}×`;
    }
    case 'metric': {
      need(2);
      const [key, id] = args as [string, string];
      const v = row(run, id, 'ours').metrics?.[key];
      if (v === undefined) throw new Error(`quote "${spec}": row "${id}" has no metric ${key}`);
      return /ratio/i.test(key) ? `${v.toFixed(2)}×` : Number.isInteger(v) ? String(v) : v.toFixed(1);
    }
    case 'perunit': {
      need(1);
      const r = row(run, args[0]!, 'ours');
      return fmtMs(r.ms ?? r.wall!.median);
    }
    case 'gflops': {
      need(2);
      const r = row(run, args[1]!, args[0]!);
      if (!r.flops) throw new Error(`quote "${spec}": row has no flop count`);
      return (r.flops / r.wall!.median / 1e6).toFixed(1);
    }
    case 'ms': {
      need(2);
      return fmtMs(row(run, args[1]!, args[0]!).wall!.median);
    }
    case 'status': {
      need(1);
      const g = (run.goals ?? []).filter((x) => x.goal.startsWith(args[0]!));
      if (g.length !== 1) throw new Error(`quote "${spec}": ${g.length} goals start with "${args[0]}"; goals: ${(run.goals ?? []).map((x) => x.goal).join('; ')}`);
      return g[0]!.status;
    }
    case 'load': {
      need(1);
      if (args[0] === 'start') return String(run.machine.loadavgStart);
      if (args[0] === 'end') return String(run.machine.loadavgEnd);
      throw new Error(`quote "${spec}": load takes start or end`);
    }
    case 'date':
      need(0);
      return `${run.date.slice(0, 16).replace('T', ' ')} UTC`;
    case 'commit':
      need(0);
      if (!run.versions.commit) throw new Error(`quote "${spec}": the run recorded no commit`);
      return run.versions.commit;
    default:
      throw new Error(`quote "${spec}": unknown kind "${kind}"; kinds: ratio, metric, perunit, gflops, ms, status, load, date, commit`);
  }
}

export interface QuoteCheck {
  spec: string;
  written: string;
  value: string;
  line: number;
}

/** Every quote of a document with what it says and what the run says. */
export function checkQuotes(markdown: string, run: QuoteRun): QuoteCheck[] {
  const out: QuoteCheck[] = [];
  for (const m of markdown.matchAll(QUOTE_RE)) {
    const line = markdown.slice(0, m.index).split('\n').length;
    let value: string;
    try {
      value = quoteValue(run, m[1]!);
    } catch (e) {
      throw new Error(`line ${line}: ${(e as Error).message}`);
    }
    out.push({ spec: m[1]!, written: m[2]!, value, line });
  }
  return out;
}

/** The document with every quote rewritten from the run. */
export function rewriteQuotes(markdown: string, run: QuoteRun): string {
  return markdown.replace(QUOTE_RE, (_all, spec: string) => `<!--q ${spec}-->${quoteValue(run, spec)}<!--/q-->`);
}

/** Whether an implicit-differentiation row's ratios are to the actor's or to the critic's gradient (its note says). */
export function implicitRatioTo(r: { id: string; note?: string }): { toActor: boolean; toCritic: boolean } {
  const n = r.note ?? '';
  return { toActor: /ratio to the actor's individual gradient/.test(n), toCritic: /ratio to the critic-loss gradient/.test(n) };
}
