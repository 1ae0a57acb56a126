// PyTorch as a peer: a separate Python process (bench/torch_bench.py) runs the same specs on
// the same inputs (written here as float32 files) and writes its outputs back; we check them
// against the same float64 references as every other engine. Absent torch = no torch columns.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaseSpec, type Row, caseInputs, mlpShapes, opts, errMessage, specFlops, specBytes } from '../common.ts';
import { checkOutputs } from './reference.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
// beside bench/peers/ in a checkout; under the working directory in gpu-pack.sh's bundle
const script = [process.env.BENCH_TORCH_SCRIPT, path.resolve(here, '..', 'torch_bench.py'), path.resolve('bench', 'torch_bench.py')]
  .filter((p): p is string => !!p)
  .find((p) => fs.existsSync(p)) ?? path.resolve(here, '..', 'torch_bench.py');

export interface TorchInfo {
  python: string;
  version: string;
  device: string;
  details?: string;
}

/** The first python with torch among $BENCH_PYTHON, python3, /usr/bin/python3; null if none. */
export function findTorch(): TorchInfo | null {
  const cands = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3', 'python'].filter((x): x is string => !!x);
  for (const py of [...new Set(cands)]) {
    const r = spawnSync(py, [script, '--probe'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) {
      try {
        const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
        return { python: py, version: j.version, device: j.device, details: j.details };
      } catch {
        /* try the next */
      }
    }
  }
  return null;
}

const SUPPORTED = new Set(['matmul', 'conv2d', 'attention', 'linear', 'mlp_grad', 'adam', 'elementwise', 'reduce', 'roundtrip', 'dispatch']);

function inputShapes(s: CaseSpec): Record<string, number[]> {
  switch (s.kind) {
    case 'matmul':
      return s.batch > 1 ? { a: [s.batch, s.m, s.k], b: [s.batch, s.k, s.n] } : { a: [s.m, s.k], b: [s.k, s.n] };
    case 'conv2d': {
      const oh = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1;
      const ow = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
      return { x: [s.n, s.c, s.h, s.w], w: [s.o, s.c, s.kh, s.kw], g: [s.n, s.o, oh, ow] };
    }
    case 'attention': {
      const sh = [s.b, s.heads, s.s, s.d];
      return { q: sh, k: sh, v: sh, g: sh };
    }
    case 'linear':
      return { x: [s.m, s.k], w: [s.k, s.n], b: [s.n] };
    case 'mlp_grad':
      return {
        x: [s.batch, s.sizes[0]],
        t: [s.batch, s.sizes[s.sizes.length - 1]],
        ...Object.fromEntries(mlpShapes(s.sizes).map((sh, i) => ['p' + i, sh])),
      };
    case 'adam':
      return Object.fromEntries(s.sizes.flatMap((sh, i) => [['p' + i, sh], ['g' + i, sh]]));
    case 'elementwise':
      return { a: [s.n], b: [s.n] };
    case 'reduce':
      return { x: [s.rows, s.cols] };
    default:
      return {};
  }
}

export async function runTorch(t: TorchInfo, cases: Array<{ id: string; group: string; spec: CaseSpec }>): Promise<Row[]> {
  const engine = `torch-${t.device}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-torch-'));
  const todo = cases.filter((c) => SUPPORTED.has(c.spec.kind));
  try {
    const list = todo.map((c, i) => {
      fs.mkdirSync(path.join(dir, String(i)));
      const inp = caseInputs(c.spec);
      const shapes = inputShapes(c.spec);
      for (const k of Object.keys(shapes)) fs.writeFileSync(path.join(dir, String(i), k + '.bin'), inp[k]);
      return { i, id: c.id, spec: c.spec, inputs: shapes };
    });
    const o = opts();
    fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify({ options: { targetMs: o.targetMs, repeats: o.repeats, warmup: o.warmup }, cases: list }));
    const r = spawnSync(t.python, [script, dir], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit'], timeout: 30 * 60_000 });
    if (r.status !== 0) throw new Error(`torch_bench.py exited with ${r.status ?? r.signal}`);
    const res = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as {
      results: Array<{ i: number; status: 'ok' | 'failed'; wall?: Row['wall']; metrics?: Record<string, number>; note?: string }>;
    };
    return res.results.map((x) => {
      const c = todo[x.i];
      const row: Row = { id: c.id, group: c.group, engine, status: x.status, spec: c.spec, flops: specFlops(c.spec), bytes: specBytes(c.spec), wall: x.wall, metrics: x.metrics, note: x.note };
      if (row.status === 'ok') {
        try {
          const outs: Record<string, Float32Array> = {};
          for (const f of fs.readdirSync(path.join(dir, String(x.i)))) {
            if (f.startsWith('out_')) {
              const b = fs.readFileSync(path.join(dir, String(x.i), f));
              outs[f.slice(4, -4)] = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
            }
          }
          if (Object.keys(outs).length) row.err = checkOutputs(c.spec, outs);
        } catch (e) {
          row.status = 'failed';
          row.note = errMessage(e);
          delete row.wall;
        }
      }
      return row;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
