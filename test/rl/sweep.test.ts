// Sweeps: sweep-file validation (errors name the field), grid expansion counted by hand,
// re-planning rules, the SLURM script (array syntax, resources, `bash -n`), the Kubernetes
// manifest validated against the Kubernetes schema (and a broken one rejected), and the local
// backend on real `train` processes: one tiny PPO cell succeeds, a cell with a bad config key
// fails on both attempts and is reported, nothing is dropped, a rerun skips what is done.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { expandCells, parseSweepSpec, readSweepFile } from '../../rl/sweep/spec.ts';
import { cellState, readStatus, startMode, trainArgs, type SweepManifest } from '../../rl/sweep/manifest.ts';
import { planSweep } from '../../rl/sweep/cli.ts';
import { arraySpec, cellsToSubmit, parseArraySpec, renderSbatch } from '../../rl/sweep/slurm.ts';
import { renderK8s } from '../../rl/sweep/k8s.ts';
import { runLocal } from '../../rl/sweep/local.ts';
import { codeVersion } from '../../rl/sweep/cell.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sweep-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const base = { out: 'runs/x', algos: ['ppo'], envs: ['cartpole'], seeds: [0] };
const err = (raw: unknown) => {
  try {
    parseSweepSpec(raw, 's.yaml');
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
};

describe('sweep file validation', () => {
  it('names the field and the problem', () => {
    expect(err({ ...base, out: undefined })).toMatch(/^s\.yaml: out: missing/);
    expect(err({ ...base, algos: 'ppo' })).toMatch(/^s\.yaml: algos: expected a list, got "ppo"/);
    expect(err({ ...base, seeds: [0, 'a'] })).toMatch(/^s\.yaml: seeds\[1\]: expected an integer ≥ 0, got "a"/);
    expect(err({ ...base, seeds: [1, 1] })).toMatch(/seeds: seed 1 appears twice/);
    expect(err({ ...base, envs: [{ id: 'minatar/breakout', presets: [3] }] })).toMatch(/envs\[0\]\.presets\[0\]: expected a non-empty string, got 3/);
    expect(err({ ...base, sedes: [0] })).toMatch(/^s\.yaml: sedes: unknown field \(valid: name, out, algos/);
    expect(err({ ...base, backend: 'pbs' })).toMatch(/backend: 'pbs' is not a backend \(valid: local, slurm, k8s\)/);
    expect(err({ ...base, slurm: { time: '3 hours' } })).toMatch(/slurm\.time: '3 hours' is not a SLURM time/);
    expect(err({ ...base, slurm: { gpu: 1 } })).toMatch(/slurm\.gpu: unknown field \(valid: .*gpus/);
    expect(err({ ...base, k8s: { cpu: 'two' } })).toMatch(/k8s\.cpu: 'two' is not a Kubernetes quantity/);
    expect(err({ ...base, set: { totalSteps: 5 } })).toMatch(/set\.totalSteps: set 'totalSteps' with the sweep's own field \(steps\)/);
    expect(err({ ...base, grid: { lr: 0.1 } })).toMatch(/grid\.lr: expected a list, got 0\.1/);
    expect(err({ ...base, set: { lr: { a: 1 } } })).toMatch(/set\.lr: expected a number, string, boolean, null or list of numbers, got an object/);
    expect(err({ ...base, algos: ['ppo; rm -rf /'] })).toMatch(/algos\[0\]: .* cannot go in a file name/);
  });

  it('reads JSON as well as YAML, to the same spec', () => {
    const raw = { ...base, seeds: { from: 2, count: 2 }, grid: { lr: [0.1, 0.2] } };
    fs.writeFileSync(path.join(tmp, 'a.json'), JSON.stringify(raw));
    fs.writeFileSync(path.join(tmp, 'a.yaml'), YAML.stringify(raw));
    const j = readSweepFile(path.join(tmp, 'a.json')), y = readSweepFile(path.join(tmp, 'a.yaml'));
    expect(j).toEqual(y);
    expect(j.seeds).toEqual([2, 3]);
    expect(j.name).toBe('a');
  });

  it('names the file on a YAML syntax error', () => {
    const f = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(f, 'out: x\nalgos: [ppo\nenvs: []\n');
    expect(() => readSweepFile(f)).toThrow(/bad\.yaml: not valid YAML/);
  });
});

describe('grid expansion', () => {
  const spec = parseSweepSpec({
    name: 'g', out: 'runs/g', steps: 1000,
    algos: ['ppo', { name: 'sprig', set: { frameStack: 2 } }],
    envs: ['cartpole', { id: 'minatar/breakout', presets: ['paper', 'gymnax'], steps: 5000 }],
    grid: { lr: [0.001, 0.0003] },
    seeds: { from: 3, count: 3 },
    exclude: [{ algo: 'sprig', env: 'cartpole' }],
    set: { entCoef: 0 }, checkpointEvery: 512,
  });
  const cells = expandCells(spec);

  it('is the product minus exclusions, counted by hand', () => {
    // ppo: (1 + 2 presets) × 2 lr × 3 seeds = 18; sprig: breakout only: 2 × 2 × 3 = 12.
    expect(cells.length).toBe(30);
    expect(new Set(cells.map((c) => c.id)).size).toBe(30);
    expect(cells.map((c) => c.index)).toEqual([...Array(30).keys()]);
    expect(new Set(cells.map((c) => c.seed))).toEqual(new Set([3, 4, 5]));
    expect(cells.filter((c) => c.algo === 'sprig').every((c) => c.env === 'minatar/breakout' && c.set.frameStack === 2)).toBe(true);
  });

  it('gives each cell its own run directory and the exact train arguments', () => {
    const c = cells.find((x) => x.algo === 'sprig' && x.preset === 'gymnax' && x.set.lr === 0.0003 && x.seed === 4)!;
    expect(c.runDir).toBe('sprig/minatar_breakout@gymnax/lr=0.0003/seed4');
    expect(c.label).toBe('sprig (lr=0.0003)');
    expect(trainArgs(c, '/r')).toEqual(['train', '--algo', 'sprig', '--env', 'minatar/breakout', '--seeds', '4', '--out', '/r/sprig/minatar_breakout@gymnax/lr=0.0003',
      '--steps', '5000', '--set', 'entCoef=0', '--set', 'frameStack=2', '--set', 'lr=0.0003', '--set', 'checkpointEvery=512', '--set', 'preset=gymnax']);
    expect(new Set(cells.map((x) => x.runDir)).size).toBe(30);
  });

  it('labels name the config preset when one algorithm runs under several in a task', () => {
    const c = expandCells(parseSweepSpec({ ...base, algos: [{ name: 'ppo', config: 'a' }, { name: 'ppo', config: 'b.json' }, 'sprig'] }));
    expect(c.map((x) => `${x.id}:${x.label}`)).toEqual(['ppo__cartpole__a__s0:ppo [a]', 'ppo__cartpole__b__s0:ppo [b.json]', 'sprig__cartpole__s0:sprig']);
  });

  it('start mode: fresh, overwrite leftovers without a checkpoint, resume from a checkpoint', () => {
    const root = path.join(tmp, 'modes');
    const c = cells[0];
    expect(startMode(root, c)).toBe('fresh');
    fs.mkdirSync(path.join(root, c.runDir), { recursive: true });
    fs.writeFileSync(path.join(root, c.runDir, 'metrics.jsonl'), '');
    expect(startMode(root, c)).toBe('overwrite');
    fs.writeFileSync(path.join(root, c.runDir, 'checkpoint.safetensors'), '');
    expect(startMode(root, c)).toBe('resume');
    expect(trainArgs(c, root, 'resume')).toContain('--resume');
  });

  it('re-planning keeps indices, appends new cells, refuses changed ones', () => {
    const f = path.join(tmp, 'plan.yaml');
    const root = path.join(tmp, 'plan');
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0, 1], steps: 100 }));
    const a = planSweep(f).manifest;
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [2, 0, 1], steps: 100 }));
    const b = planSweep(f).manifest;
    expect(b.cells.map((c) => `${c.index}:${c.seed}`)).toEqual(['0:0', '1:1', '2:2']);
    expect(b.cells.slice(0, 2)).toEqual(a.cells);
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0], steps: 200 }));
    expect(() => planSweep(f)).toThrow(/cell ppo__cartpole__s0 already exists .* with other arguments/);
    // a file cut down to one seed after the whole grid was planned: the manifest keeps all three
    // cells, the cells to run are that seed's alone
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [1], steps: 100 }));
    const c = planSweep(f);
    expect(c.manifest.cells.map((x) => x.seed)).toEqual([0, 1, 2]);
    expect(c.current.cells.map((x) => `${x.index}:${x.seed}`)).toEqual(['1:1']);
  });

  it('an unknown algorithm or env id is refused before the out root is touched', () => {
    const f = path.join(tmp, 'typo.yaml');
    const root = path.join(tmp, 'typo');
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole', 'minatar/breakuot'], seeds: [0], steps: 100 }));
    expect(() => planSweep(f)).toThrow(/envs\[1\]: unknown env id 'minatar\/breakuot' \(valid: .*minatar\/breakout/);
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo', 'ppoo'], envs: ['cartpole'], seeds: [0], steps: 100 }));
    expect(() => planSweep(f)).toThrow(/algos\[1\]: unknown algorithm 'ppoo' \(valid: ppo, sprig/);
    expect(fs.existsSync(root)).toBe(false);
  });

  it('planning with write: false (--list) leaves the out root untouched', () => {
    const f = path.join(tmp, 'list.yaml');
    const root = path.join(tmp, 'list');
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0, 1, 2], steps: 100 }));
    expect(planSweep(f, { write: false }).current.cells).toHaveLength(3);
    expect(fs.existsSync(root)).toBe(false);
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0], steps: 100 }));
    planSweep(f);
    fs.writeFileSync(f, YAML.stringify({ out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0, 1, 2], steps: 100 }));
    planSweep(f, { write: false });
    expect(JSON.parse(fs.readFileSync(path.join(root, 'sweep.json'), 'utf8')).cells).toHaveLength(1);
  });
});

function manifestOf(cells: ReturnType<typeof expandCells>, name = 'g'): SweepManifest {
  return { version: 1, name, created: '', source: 'g.yaml', retries: 1, cells };
}

describe('slurm backend', () => {
  it('array syntax round-trips', () => {
    expect(arraySpec([7, 0, 1, 2, 5, 8])).toBe('0-2,5,7-8');
    expect(parseArraySpec('0-2,5,7-8%4')).toEqual([0, 1, 2, 5, 7, 8]);
    expect(arraySpec([3])).toBe('3');
  });

  it('renders a valid bash script with one array task per cell and the resources asked for', () => {
    const spec = parseSweepSpec({ ...base, seeds: [0, 1, 2, 3], slurm: { cpusPerTask: 2, mem: '3G', time: '1:30:00', gpus: 1, partition: 'gpu', maxParallel: 2, setup: ['module load node/20'] } });
    const m = manifestOf(expandCells(spec));
    const s = renderSbatch(m, '/scratch/r', [0, 1, 3], spec.slurm);
    for (const line of ['#SBATCH --array=0-1,3%2', '#SBATCH --cpus-per-task=2', '#SBATCH --mem=3G', '#SBATCH --time=1:30:00', '#SBATCH --gres=gpu:1', '#SBATCH --partition=gpu', 'module load node/20']) {
      expect(s).toContain(line);
    }
    expect(s).toMatch(/rl\/sweep\/cell\.ts \/scratch\/r\/sweep\.json "\$SLURM_ARRAY_TASK_ID" --root \/scratch\/r$/m);
    const f = path.join(tmp, 'x.sbatch');
    fs.writeFileSync(f, s);
    const r = spawnSync('bash', ['-n', f], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(() => renderSbatch(m, '/r', [9], spec.slurm)).toThrow(/cell 9 is out of range \(0\.\.3\)/);
  });

  it('without sbatch on PATH, the CLI writes and prints the script and the command to submit it', () => {
    const f = path.join(tmp, 'nosbatch.yaml');
    const root = path.join(tmp, 'nosbatch');
    fs.writeFileSync(f, YAML.stringify({ ...base, out: root, seeds: [0, 1, 2], backend: 'slurm', slurm: { mem: '1G' } }));
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'rl/cli.ts', 'sweep', f], {
      cwd: path.resolve(import.meta.dirname, '..', '..'), encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent', XDG_RUNTIME_DIR: '/tmp' },
    });
    expect(r.stderr).toContain(`sweep nosbatch: 3 cells → ${root} (backend slurm)`);
    expect(r.stdout).toMatch(/^#SBATCH --array=0-2$/m);
    expect(r.stdout).toMatch(/^#SBATCH --mem=1G$/m);
    expect(r.stdout).toMatch(new RegExp(`# sbatch is not on PATH: submit with  sbatch ${root}/slurm/sweep-.*\\.sbatch`));
    expect(r.status).toBe(0);
    expect(fs.readdirSync(path.join(root, 'slurm')).filter((x) => x.endsWith('.sbatch')).length).toBe(1);
  }, 180_000);

  it('resubmits only cells that are not done', () => {
    const root = path.join(tmp, 'resub');
    const spec = parseSweepSpec({ ...base, seeds: [0, 1, 2], steps: 1000 });
    const m = manifestOf(expandCells(spec));
    // Cell 1 finished (its metrics reached the budget), cell 2 is half-way, cell 0 never started.
    for (const [i, last] of [[1, 1000], [2, 500]]) {
      const d = path.join(root, m.cells[i].runDir);
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'config.json'), '{}');
      fs.writeFileSync(path.join(d, 'metrics.jsonl'), `{"kind":"train","step":${last}}\n`);
    }
    expect(m.cells.map((c) => cellState(root, c).state)).toEqual(['missing', 'done', 'partial']);
    expect(cellsToSubmit(m, root, true)).toEqual([0, 2]);
  });
});

describe('k8s backend', () => {
  const spec = parseSweepSpec({ ...base, name: 'My_Sweep', seeds: [0, 1, 2], k8s: { image: 'registry.example/sg:1', parallelism: 2, cpu: '1500m', memory: '3Gi', gpus: 1, pvc: 'runs' } });
  const m = manifestOf(expandCells(spec), spec.name);

  it('renders an Indexed Job + ConfigMap that validate against the Kubernetes schema', () => {
    const r = renderK8s(m, '/runs/my', spec.k8s);
    const docs = YAML.parseAllDocuments(r.yaml).map((d) => d.toJS());
    const [cm, job] = docs;
    expect(cm.kind).toBe('ConfigMap');
    expect(JSON.parse(cm.data['sweep.json']).cells.length).toBe(3);
    expect(job.kind).toBe('Job');
    expect(job.metadata.name).toMatch(/^sweep-my-sweep-[0-9a-f]{6}$/);
    expect(job.spec).toMatchObject({ completionMode: 'Indexed', completions: 3, parallelism: 2 });
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(['node', '--import', 'tsx', 'rl/sweep/cell.ts', '/etc/sweep/sweep.json', '--root', '/sweep']);
    expect(c.resources).toEqual({ requests: { cpu: '1500m', memory: '3Gi' }, limits: { memory: '3Gi', 'nvidia.com/gpu': '1' } });
    expect(job.spec.template.spec.volumes[0]).toEqual({ name: 'runs', persistentVolumeClaim: { claimName: 'runs' } });
    // The parsed YAML validates on its own too (what kubectl would send).
    expect(() => new Job(job).validate()).not.toThrow();
  });

  it('--resume writes a new Job name over the same indices', async () => {
    const { writeK8s } = await import('../../rl/sweep/k8s.ts');
    const root = path.join(tmp, 'k8sroot');
    const a = writeK8s(m, root, spec.k8s, false), b = writeK8s(m, root, spec.k8s, true);
    expect(path.basename(a.file)).toBe('job.yaml');
    expect(path.basename(b.file)).toBe('job-r1.yaml');
    expect(b.render.jobName).toBe(`${a.render.jobName}-r1`);
    expect(b.render.objects[1]).toMatchObject({ spec: { completions: 3 } });
  });

  it('the schema check is not vacuous: broken Jobs are rejected', () => {
    const job = YAML.parseAllDocuments(renderK8s(m, '/runs/my', spec.k8s).yaml)[1].toJS();
    const bad1 = structuredClone(job);
    bad1.spec.completionMode = 'Indexd';
    expect(() => new Job(bad1).validate()).toThrow(/completionMode must be equal to one of the allowed values/);
    const bad2 = structuredClone(job);
    bad2.spec.completions = '3';
    expect(() => new Job(bad2).validate()).toThrow(/completions must be integer/);
    const bad3 = structuredClone(job);
    delete bad3.spec.template.spec.containers[0].name;
    expect(() => new Job(bad3).validate()).toThrow(/containers\/0 must have required property name/);
  });
});

describe('code version of a cell attempt', () => {
  it('names the commit and the changed source files, and is null outside a git checkout', () => {
    const repo = path.join(tmp, 'gitrepo');
    fs.mkdirSync(path.join(repo, 'rl'), { recursive: true });
    const git = (...a: string[]) => spawnSync('git', ['-C', repo, '-c', 'user.email=t@t', '-c', 'user.name=t', ...a], { encoding: 'utf8' });
    if (git('init', '-q').status !== 0) return; // no git on this machine: codeVersion's null case below still runs
    fs.writeFileSync(path.join(repo, 'rl', 'a.ts'), 'export const a = 1;\n');
    fs.writeFileSync(path.join(repo, 'README.md'), 'x\n');
    git('add', '.');
    git('commit', '-qm', 'one');
    const head = git('rev-parse', 'HEAD').stdout.trim();
    expect(codeVersion(repo)).toEqual({ commit: head, dirty: [] });
    // Only source files count: an edited README does not, an edited or new rl/ file does.
    fs.writeFileSync(path.join(repo, 'README.md'), 'y\n');
    fs.writeFileSync(path.join(repo, 'rl', 'a.ts'), 'export const a = 2;\n');
    fs.writeFileSync(path.join(repo, 'rl', 'b.ts'), 'export const b = 1;\n');
    expect(codeVersion(repo)).toEqual({ commit: head, dirty: ['rl/a.ts', 'rl/b.ts'] });
    const plain = fs.mkdtempSync(path.join(os.tmpdir(), 'not-git-'));
    try {
      expect(codeVersion(plain)).toBeNull();
    } finally {
      fs.rmSync(plain, { recursive: true, force: true });
    }
  });
});

describe('local backend on real train processes', () => {
  it('runs the good cell, retries then reports the bad one, skips done cells on a rerun', async () => {
    const root = path.join(tmp, 'local');
    const f = path.join(tmp, 'local.yaml');
    fs.writeFileSync(f, YAML.stringify({
      name: 'local', out: root, algos: ['ppo'],
      envs: ['cartpole', { id: 'mdp/three-state', set: { notAConfigKey: 1 } }],
      seeds: [0], steps: 512, set: { numEnvs: 4, numSteps: 64, minibatchSize: 64, updateEpochs: 1, logEvery: 256 },
    }));
    const { manifest } = planSweep(f);
    const r = await runLocal(manifest, root, { parallel: 2, progress: false, log: () => {} });
    expect(r.done.map((c) => c.id)).toEqual(['ppo__cartpole__s0']);
    expect(r.failed.map((c) => c.id)).toEqual(['ppo__mdp_three-state__s0']);
    const bad = readStatus(root, manifest.cells[1])!;
    expect(bad.state).toBe('failed');
    expect(bad.attempts).toBe(2);
    expect(bad.message).toMatch(/notAConfigKey/);
    const good = readStatus(root, manifest.cells[0])!;
    expect(good).toMatchObject({ state: 'done', attempts: 1, exitCode: 0 });
    // The attempt records the code it ran: this checkout's HEAD, as git itself reports it.
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
    if (head.status === 0) {
      expect(good.history[0].code?.commit).toBe(head.stdout.trim());
      expect(Array.isArray(good.history[0].code?.dirty)).toBe(true);
    } else expect(good.history[0].code).toBeNull();
    const metrics = fs.readFileSync(path.join(root, manifest.cells[0].runDir, 'metrics.jsonl'), 'utf8');
    expect(metrics).toMatch(/"step":512/);
    const again = await runLocal(manifest, root, { parallel: 2, progress: false, log: () => {} });
    expect(again.skipped.map((c) => c.id)).toEqual(['ppo__cartpole__s0']);
    expect(again.failed.map((c) => c.id)).toEqual(['ppo__mdp_three-state__s0']);
  }, 300_000);

  it('an interrupt stops the running cell (interrupted) and starts no other', async () => {
    const root = path.join(tmp, 'abort');
    const f = path.join(tmp, 'abort.yaml');
    fs.writeFileSync(f, YAML.stringify({ name: 'abort', out: root, algos: ['ppo'], envs: ['cartpole'], seeds: [0, 1, 2], steps: 10_000_000 }));
    const { manifest } = planSweep(f);
    const ac = new AbortController();
    const run = runLocal(manifest, root, { parallel: 1, progress: false, log: () => {}, signal: ac.signal });
    // Interrupt once the first cell's train has logged (it is running for sure then).
    const metrics = path.join(root, manifest.cells[0].runDir, 'metrics.jsonl');
    for (let t = 0; t < 1200 && !fs.existsSync(metrics); t++) await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    const r = await run;
    expect(r.interrupted.map((c) => c.id)).toEqual(['ppo__cartpole__s0']);
    expect(readStatus(root, manifest.cells[0])!.state).toBe('interrupted');
    expect(r.done.length + r.failed.length).toBe(0);
    expect(fs.existsSync(path.join(root, 'status', 'ppo__cartpole__s1.json'))).toBe(false);
    expect(cellState(root, manifest.cells[2]).state).toBe('missing');
  }, 180_000);
});

describe('container recipe', () => {
  it('copies files that exist and runs what the Job runs, where the Job expects it', async () => {
    const { IMAGE_WORKDIR } = await import('../../rl/sweep/k8s.ts');
    const root = path.resolve(import.meta.dirname, '..', '..');
    const cf = fs.readFileSync(path.join(root, 'deploy', 'Containerfile'), 'utf8');
    const copies = [...cf.matchAll(/^COPY (?!\. \.)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(copies).toEqual(['.ci/setup-adapter.sh', 'package.json', 'package-lock.json']);
    for (const f of [...copies, 'scripts/probe-adapter.mjs', 'rl/cli.ts', 'rl/sweep/cell.ts']) expect(fs.existsSync(path.join(root, f)), f).toBe(true);
    expect(cf).toMatch(new RegExp(`^WORKDIR ${IMAGE_WORKDIR}$`, 'm'));
    // tsx (the loader the Job's command uses) must be installed by the recipe.
    expect(cf).toMatch(/npm ci --include=dev/);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).devDependencies.tsx).toBeDefined();
  });
});
