// Sweep files (YAML or JSON): a grid of algorithms × envs × env presets × config presets ×
// hyperparameter values × seeds, expanded into cells. Every field is checked, and an error
// names the file and the field (`envs[1].presets[0]: expected a string, got 3`).
// Format reference: docs/sweeps.md.

import * as fs from 'node:fs';
import * as path from 'node:path';
import YAML from 'yaml';
import type { SetValue, SweepCell, SweepManifest } from './manifest.ts';

export type Backend = 'local' | 'slurm' | 'k8s';
export const BACKENDS: Backend[] = ['local', 'slurm', 'k8s'];

export interface SlurmOptions {
  partition?: string;
  account?: string;
  qos?: string;
  /** Wall-clock limit per cell, SLURM format ("HH:MM:SS", "D-HH:MM:SS"). */
  time: string;
  cpusPerTask: number;
  /** Memory per cell, SLURM format ("4G"). */
  mem: string;
  /** GPUs per cell (--gres=gpu:N); 0 = none. */
  gpus: number;
  /** At most this many cells at once (%N of --array); 0 = no cap. */
  maxParallel: number;
  /** Shell lines run before each cell (module load, venv activation, ...). */
  setup: string[];
  /** Extra #SBATCH options, verbatim ("--constraint=a100"). */
  extra: string[];
}

export interface K8sOptions {
  image: string;
  namespace: string;
  /** Pods at once. */
  parallelism: number;
  cpu: string;
  memory: string;
  /** GPUs per pod (nvidia.com/gpu); 0 = none. */
  gpus: number;
  /** PersistentVolumeClaim holding the sweep root (shared by all pods). */
  pvc: string;
  /** Where the claim is mounted in the pod; the sweep root is this folder. */
  mountPath: string;
  /** Pod failures tolerated per index (the cell runner already retries the run itself). */
  backoffLimitPerIndex: number;
}

export interface SweepSpec {
  name: string;
  /** Output root (resolved against the current directory). */
  out: string;
  algos: Array<{ name: string; config?: string; set: Record<string, SetValue> }>;
  envs: Array<{ id: string; presets: Array<string | null>; config?: string; steps?: number; set: Record<string, SetValue> }>;
  configs: Array<string | null>;
  seeds: number[];
  steps: number | null;
  set: Record<string, SetValue>;
  grid: Record<string, SetValue[]>;
  exclude: Array<Record<string, string>>;
  checkpointEvery: number | null;
  evalEvery: number | null;
  retries: number;
  backend: Backend;
  local: { parallel: number | null };
  slurm: SlurmOptions;
  k8s: K8sOptions;
}

class SpecError extends Error {}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `"${v}"`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Checks one sweep-file object; `where` prefixes errors (the file name). */
export function parseSweepSpec(raw: unknown, where = 'sweep file', defaultName = 'sweep'): SweepSpec {
  const fail = (field: string, msg: string): never => {
    throw new SpecError(`${where}: ${field}: ${msg}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(raw)) fail('(top level)', `expected a mapping of fields (name, out, algos, envs, seeds, ...), got ${typeName(raw)}`);
  const r = raw as Record<string, unknown>;
  const TOP = ['name', 'out', 'algos', 'envs', 'configs', 'seeds', 'steps', 'set', 'grid', 'exclude', 'checkpointEvery', 'evalEvery', 'retries', 'backend', 'local', 'slurm', 'k8s'];
  const unknownKeys = (obj: Record<string, unknown>, valid: string[], at: string) => {
    for (const k of Object.keys(obj)) if (!valid.includes(k)) fail(at ? `${at}.${k}` : k, `unknown field (valid: ${valid.join(', ')})`);
  };
  unknownKeys(r, TOP, '');
  const str = (v: unknown, f: string, pattern?: RegExp): string => {
    if (typeof v !== 'string' || !v.trim()) fail(f, `expected a non-empty string, got ${typeName(v)}`);
    if (pattern && !pattern.test(v as string)) fail(f, `'${v}' has characters that cannot go in a file name or a job name (letters, digits, . _ - / @ only)`);
    return v as string;
  };
  const int = (v: unknown, f: string, min = 0): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(f, `expected an integer ≥ ${min}, got ${typeName(v)}`);
    return v as number;
  };
  const list = (v: unknown, f: string, nonEmpty = true): unknown[] => {
    if (!Array.isArray(v)) fail(f, `expected a list, got ${typeName(v)}`);
    if (nonEmpty && !(v as unknown[]).length) fail(f, 'the list is empty');
    return v as unknown[];
  };
  const SAFE = /^[A-Za-z0-9._\-/@]+$/;
  const setValue = (v: unknown, f: string): SetValue => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v as SetValue;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as number[];
    return fail(f, `expected a number, string, boolean, null or list of numbers, got ${typeName(v)}`);
  };
  const sets = (v: unknown, f: string): Record<string, SetValue> => {
    if (v === undefined) return {};
    if (!isObj(v)) fail(f, `expected a mapping of config keys to values, got ${typeName(v)}`);
    const out: Record<string, SetValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`${f}.${k}`, 'config keys are identifiers');
      if (['algo', 'env', 'seed', 'totalSteps'].includes(k)) fail(`${f}.${k}`, `set '${k}' with the sweep's own field (${k === 'totalSteps' ? 'steps' : k + 's'}), not as an override`);
      out[k] = setValue(x, `${f}.${k}`);
    }
    return out;
  };

  const name = r.name === undefined ? defaultName : str(r.name, 'name', /^[A-Za-z0-9._-]+$/);
  const out = r.out === undefined ? fail('out', 'missing: the output root of the sweep (e.g. out: runs/sweeps/minatar)') : str(r.out, 'out');

  if (r.algos === undefined) fail('algos', 'missing: the algorithms to run (e.g. algos: [ppo, sprig])');
  const algos = list(r.algos, 'algos').map((a, i) => {
    const f = `algos[${i}]`;
    if (typeof a === 'string') return { name: str(a, f, SAFE), set: {} };
    if (!isObj(a)) fail(f, `expected an algorithm name or { name, config?, set? }, got ${typeName(a)}`);
    const o = a as Record<string, unknown>;
    unknownKeys(o, ['name', 'config', 'set'], f);
    return { name: str(o.name, `${f}.name`, SAFE), config: o.config === undefined ? undefined : str(o.config, `${f}.config`), set: sets(o.set, `${f}.set`) };
  });
  if (r.envs === undefined) fail('envs', 'missing: the environments (e.g. envs: [cartpole, minatar/breakout])');
  const envs = list(r.envs, 'envs').map((e, i) => {
    const f = `envs[${i}]`;
    if (typeof e === 'string') {
      const [id, preset] = e.split('@');
      return { id: str(id, f, SAFE), presets: [preset ? str(preset, f, SAFE) : null], set: {} };
    }
    if (!isObj(e)) fail(f, `expected an env id ("minatar/breakout", "minatar/breakout@gymnax") or { id, presets?, config?, steps?, set? }, got ${typeName(e)}`);
    const o = e as Record<string, unknown>;
    unknownKeys(o, ['id', 'preset', 'presets', 'config', 'steps', 'set'], f);
    if (o.preset !== undefined && o.presets !== undefined) fail(f, 'give preset or presets, not both');
    const presets = o.presets !== undefined ? list(o.presets, `${f}.presets`).map((p, j) => (p === null ? null : str(p, `${f}.presets[${j}]`, SAFE)))
      : [o.preset === undefined || o.preset === null ? null : str(o.preset, `${f}.preset`, SAFE)];
    return {
      id: str(o.id, `${f}.id`, SAFE), presets,
      config: o.config === undefined ? undefined : str(o.config, `${f}.config`),
      steps: o.steps === undefined ? undefined : int(o.steps, `${f}.steps`, 1),
      set: sets(o.set, `${f}.set`),
    };
  });
  const configs = r.configs === undefined ? [null] : list(r.configs, 'configs').map((c, i) => (c === null ? null : str(c, `configs[${i}]`)));
  let seeds: number[];
  if (r.seeds === undefined) fail('seeds', 'missing: a list of seeds ([0, 1, 2]) or { from: 0, count: 5 }');
  if (isObj(r.seeds)) {
    const o = r.seeds as Record<string, unknown>;
    unknownKeys(o, ['from', 'count'], 'seeds');
    const from = o.from === undefined ? 0 : int(o.from, 'seeds.from');
    const count = int(o.count, 'seeds.count', 1);
    seeds = Array.from({ length: count }, (_, i) => from + i);
  } else {
    seeds = list(r.seeds, 'seeds').map((s, i) => int(s, `seeds[${i}]`));
    const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
    if (dup !== undefined) fail('seeds', `seed ${dup} appears twice`);
  }
  const steps = r.steps === undefined ? null : int(r.steps, 'steps', 1);
  const grid: Record<string, SetValue[]> = {};
  if (r.grid !== undefined) {
    if (!isObj(r.grid)) fail('grid', `expected a mapping of config keys to lists of values (grid: { lr: [0.001, 0.0003] }), got ${typeName(r.grid)}`);
    for (const [k, v] of Object.entries(r.grid as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) fail(`grid.${k}`, 'config keys are identifiers');
      grid[k] = list(v, `grid.${k}`).map((x, i) => setValue(x, `grid.${k}[${i}]`));
    }
  }
  const exclude = r.exclude === undefined ? [] : list(r.exclude, 'exclude', false).map((x, i) => {
    if (!isObj(x)) fail(`exclude[${i}]`, `expected a mapping like { algo: sprig, env: cartpole }, got ${typeName(x)}`);
    unknownKeys(x as Record<string, unknown>, ['algo', 'env', 'preset', 'config'], `exclude[${i}]`);
    return Object.fromEntries(Object.entries(x as Record<string, unknown>).map(([k, v]) => [k, str(v, `exclude[${i}].${k}`)]));
  });
  const backend = r.backend === undefined ? 'local' : (str(r.backend, 'backend') as Backend);
  if (!BACKENDS.includes(backend)) fail('backend', `'${backend}' is not a backend (valid: ${BACKENDS.join(', ')})`);

  const section = (k: 'local' | 'slurm' | 'k8s', valid: string[]) => {
    if (r[k] === undefined) return {} as Record<string, unknown>;
    if (!isObj(r[k])) fail(k, `expected a mapping, got ${typeName(r[k])}`);
    unknownKeys(r[k] as Record<string, unknown>, valid, k);
    return r[k] as Record<string, unknown>;
  };
  const lo = section('local', ['parallel']);
  const so = section('slurm', ['partition', 'account', 'qos', 'time', 'cpusPerTask', 'mem', 'gpus', 'maxParallel', 'setup', 'extra']);
  const ko = section('k8s', ['image', 'namespace', 'parallelism', 'cpu', 'memory', 'gpus', 'pvc', 'mountPath', 'backoffLimitPerIndex']);
  const optStr = (o: Record<string, unknown>, k: string, f: string, d?: string) => (o[k] === undefined ? d : str(o[k], f));
  const strList = (o: Record<string, unknown>, k: string, f: string) => (o[k] === undefined ? [] : list(o[k], f, false).map((x, i) => str(x, `${f}[${i}]`)));
  const slurmTime = optStr(so, 'time', 'slurm.time', '04:00:00')!;
  if (!/^(\d+-)?\d{1,2}(:\d{2}){0,2}$|^\d+$/.test(slurmTime)) fail('slurm.time', `'${slurmTime}' is not a SLURM time (MM, HH:MM:SS or D-HH:MM:SS)`);
  const mem = optStr(so, 'mem', 'slurm.mem', '4G')!;
  if (!/^\d+[KMGT]?$/.test(mem)) fail('slurm.mem', `'${mem}' is not a SLURM memory size (e.g. 4G, 4000M)`);
  const qty = (o: Record<string, unknown>, k: string, f: string, d: string) => {
    const v = o[k] === undefined ? d : typeof o[k] === 'number' ? String(o[k]) : str(o[k], f);
    if (!/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(v)) fail(f, `'${v}' is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)`);
    return v;
  };
  const mountPath = optStr(ko, 'mountPath', 'k8s.mountPath', '/sweep')!;
  if (!mountPath.startsWith('/')) fail('k8s.mountPath', `'${mountPath}' must be an absolute path`);
  return {
    name, out, algos, envs, configs, seeds, steps,
    set: sets(r.set, 'set'), grid, exclude,
    checkpointEvery: r.checkpointEvery === undefined ? null : int(r.checkpointEvery, 'checkpointEvery', 0),
    evalEvery: r.evalEvery === undefined ? null : int(r.evalEvery, 'evalEvery', 0),
    retries: r.retries === undefined ? 1 : int(r.retries, 'retries'),
    backend,
    local: { parallel: lo.parallel === undefined ? null : int(lo.parallel, 'local.parallel', 1) },
    slurm: {
      partition: optStr(so, 'partition', 'slurm.partition'), account: optStr(so, 'account', 'slurm.account'), qos: optStr(so, 'qos', 'slurm.qos'),
      time: slurmTime, mem,
      cpusPerTask: so.cpusPerTask === undefined ? 1 : int(so.cpusPerTask, 'slurm.cpusPerTask', 1),
      gpus: so.gpus === undefined ? 0 : int(so.gpus, 'slurm.gpus'),
      maxParallel: so.maxParallel === undefined ? 0 : int(so.maxParallel, 'slurm.maxParallel'),
      setup: strList(so, 'setup', 'slurm.setup'), extra: strList(so, 'extra', 'slurm.extra'),
    },
    k8s: {
      image: optStr(ko, 'image', 'k8s.image', 'stackelberg-gpu:latest')!,
      namespace: optStr(ko, 'namespace', 'k8s.namespace', 'default')!,
      parallelism: ko.parallelism === undefined ? 4 : int(ko.parallelism, 'k8s.parallelism', 1),
      cpu: qty(ko, 'cpu', 'k8s.cpu', '2'), memory: qty(ko, 'memory', 'k8s.memory', '4Gi'),
      gpus: ko.gpus === undefined ? 0 : int(ko.gpus, 'k8s.gpus'),
      pvc: optStr(ko, 'pvc', 'k8s.pvc', `${name}-runs`)!,
      mountPath,
      backoffLimitPerIndex: ko.backoffLimitPerIndex === undefined ? 1 : int(ko.backoffLimitPerIndex, 'k8s.backoffLimitPerIndex'),
    },
  };
}

/** Reads and checks a sweep file (.yaml, .yml or .json). */
export function readSweepFile(file: string): SweepSpec {
  if (!fs.existsSync(file)) throw new Error(`sweep file ${file} does not exist`);
  const text = fs.readFileSync(file, 'utf8');
  let raw: unknown;
  try {
    raw = /\.json$/i.test(file) ? JSON.parse(text) : YAML.parse(text, { prettyErrors: true });
  } catch (e) {
    throw new Error(`${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  return parseSweepSpec(raw, file, path.basename(file).replace(/\.(ya?ml|json)$/i, ''));
}

function slug(s: string) {
  return s.replace(/\//g, '_').replace(/[^A-Za-z0-9._@=,-]/g, '-');
}

function product<T>(lists: T[][]): T[][] {
  return lists.reduce<T[][]>((acc, l) => acc.flatMap((a) => l.map((x) => [...a, x])), [[]]);
}

/** Expands a sweep into its cells, in a stable order (algo, env, preset, config, grid point, seed). */
export function expandCells(s: SweepSpec): SweepCell[] {
  const cells: SweepCell[] = [];
  const gridKeys = Object.keys(s.grid).sort();
  const points = product(gridKeys.map((k) => s.grid[k]));
  for (const a of s.algos) {
    for (const e of s.envs) {
      if (a.config && e.config) throw new Error(`sweep: algorithm '${a.name}' and env '${e.id}' both name a config; give it on one of them`);
      const configs = a.config ? [a.config] : e.config ? [e.config] : s.configs;
      for (const preset of e.presets) {
        for (const config of configs) {
          const tags = { algo: a.name, env: e.id, preset: preset ?? '', config: config ?? '' };
          if (s.exclude.some((x) => Object.entries(x).every(([k, v]) => tags[k as keyof typeof tags] === v))) continue;
          for (const pt of points) {
            const gridSet = Object.fromEntries(gridKeys.map((k, i) => [k, pt[i]]));
            const gridTag = gridKeys.map((k, i) => `${k}=${Array.isArray(pt[i]) ? (pt[i] as number[]).join('x') : String(pt[i])}`).join(',');
            for (const seed of s.seeds) {
              const set: Record<string, SetValue> = { ...s.set, ...a.set, ...e.set, ...gridSet };
              if (s.checkpointEvery !== null) set.checkpointEvery = s.checkpointEvery;
              if (s.evalEvery !== null) set.evalEvery = s.evalEvery;
              const parts = [slug(a.name), slug(e.id) + (preset ? `@${slug(preset)}` : '')];
              if (config) parts.push(slug(path.basename(config).replace(/\.json$/, '')));
              if (gridTag) parts.push(slug(gridTag));
              const outDir = parts.join('/');
              cells.push({
                index: cells.length,
                id: `${parts.join('__').replace(/\//g, '_')}__s${seed}`,
                label: a.name + (gridTag ? ` (${gridTag})` : ''),
                algo: a.name, env: e.id, preset, config, seed,
                steps: e.steps ?? s.steps,
                set, outDir, runDir: `${outDir}/seed${seed}`,
              });
            }
          }
        }
      }
    }
  }
  if (!cells.length) throw new Error('sweep: the grid is empty (every combination excluded?)');
  // An algorithm run under several config presets in one task is several variants: name the preset.
  const configsOf = new Map<string, Set<string>>();
  for (const c of cells) {
    const k = `${c.algo}\u0000${c.env}\u0000${c.preset}`;
    configsOf.set(k, (configsOf.get(k) ?? new Set()).add(c.config ?? ''));
  }
  for (const c of cells) {
    if (configsOf.get(`${c.algo}\u0000${c.env}\u0000${c.preset}`)!.size > 1) c.label = c.label.replace(c.algo, `${c.algo} [${path.basename(c.config ?? 'default')}]`);
  }
  const ids = new Set<string>();
  for (const c of cells) {
    if (ids.has(c.id)) throw new Error(`sweep: two cells share the id ${c.id} (an algorithm, env or preset listed twice?)`);
    ids.add(c.id);
  }
  return cells;
}

export function makeManifest(s: SweepSpec, source: string): SweepManifest {
  return { version: 1, name: s.name, created: new Date().toISOString(), source, retries: s.retries, cells: expandCells(s) };
}
