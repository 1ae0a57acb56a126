// The fresh HVP's session-10 paths (engine/solvers.ts hessianVectorProduct, engine/nn/functional.ts):
// the 1-wide output layer and MSE loss, value and tangent, in one kernel (fuseOutputDual,
// kernels/nn.ts outputDualKernel), and the dual kernels' workgroups folded for narrow layers
// (the forward like the backward; the backward keeping two workgroups). Against: H·v of a float64
// critic (a hand-written float64 gradient differenced along v), the unfused path, the dispatches
// each path runs, live buffers.
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import * as E from '../engine/index.ts';
import * as R from './ref/index.ts';
import { randn, up } from './kernels/helpers.ts';

beforeAll(async () => {
  await E.init();
});

type Act = 'tanh' | 'relu';
type Layer = { w: E.Tensor; b: E.Tensor };
type L64 = { W: R.ND; b: R.ND };
const act64 = (a: Act) => (a === 'tanh' ? R.tanh : R.relu);
const dact64 = (a: Act, y: number) => (a === 'tanh' ? 1 - y * y : y > 0 ? 1 : 0);

/** ∇ of mean((mlp(X) − t)²) over every layer's W [out, in] and b, by the chain rule in float64. */
function grad64(ls: L64[], X: R.ND, t: R.ND, act: Act): L64[] {
  const hs = [X];
  ls.forEach((l, i) => {
    const z = R.add(R.matmul(hs[i], R.transpose(l.W)), l.b);
    hs.push(i < ls.length - 1 ? act64(act)(z) : z);
  });
  const M = X.shape[0];
  let gz = R.zip(R.reshape(hs[ls.length], [M]), t, (q, y) => (2 / M) * (q - y));
  gz = R.reshape(gz, [M, 1]);
  const out: L64[] = new Array(ls.length);
  for (let i = ls.length - 1; i >= 0; i--) {
    out[i] = { W: R.matmul(R.transpose(gz), hs[i]), b: R.sum(gz, 0) };
    if (i > 0) gz = R.zip(R.matmul(gz, ls[i].W), hs[i], (g, y) => g * dact64(act, y));
  }
  return out;
}
/** H·v by central differences of grad64 along v (float64: exact to ~1e-9 here; ReLU masks do not flip at this step). */
function hvp64(ls: L64[], v: L64[], X: R.ND, t: R.ND, act: Act): L64[] {
  const h = 1e-6;
  const at = (s: number) => ls.map((l, i) => ({ W: R.zip(l.W, v[i].W, (a, b) => a + s * h * b), b: R.zip(l.b, v[i].b, (a, b) => a + s * h * b) }));
  const gp = grad64(at(1), X, t, act), gm = grad64(at(-1), X, t, act);
  return gp.map((g, i) => ({ W: R.zip(g.W, gm[i].W, (a, b) => (a - b) / (2 * h)), b: R.zip(g.b, gm[i].b, (a, b) => (a - b) / (2 * h)) }));
}

function game(seed: number, M: number, sizes: number[], act: Act) {
  const rng = R.rng(seed);
  const X = randn(rng, [M, sizes[0]]), t = randn(rng, [M]);
  const ls: L64[] = sizes.slice(1).map((n, i) => ({ W: randn(rng, [n, sizes[i]], 1 / Math.sqrt(sizes[i])), b: randn(rng, [n], 0.3) }));
  const v: L64[] = ls.map((l) => ({ W: randn(rng, l.W.shape), b: randn(rng, l.b.shape) }));
  const Xg = up(X), tg = up(t);
  const critic: Layer[] = ls.map((l) => ({ w: up(l.W), b: up(l.b) }));
  const vg: Layer[] = v.map((l) => ({ w: up(l.W), b: up(l.b) }));
  const f = (c: Layer[]) => {
    let x = Xg;
    c.forEach((l, i) => {
      x = E.linear(x, l.w, l.b, i < c.length - 1 ? act : 'none');
    });
    return E.mse(E.reshape(x, [M]), tg);
  };
  const want = hvp64(ls, v, X, t, act);
  return { f, critic, vg, want, dispose: () => E.dispose([Xg, tg, critic, vg]) };
}

/** What one HVP dispatches (labels; PRIMAL = 0 marked) and its leaves. */
function run(fn: () => Layer[]) {
  const seen: Array<{ label: string; wg: number[]; code: string }> = [];
  const rt = E.runtime() as unknown as { dispatch(a: { label: string; workgroups: number[]; kernel: { code: string } }): void };
  const d0 = rt.dispatch;
  rt.dispatch = function (a) {
    seen.push({ label: a.label, wg: [...a.workgroups], code: a.kernel.code });
    return d0.call(this, a);
  };
  try {
    return { out: fn(), seen };
  } finally {
    rt.dispatch = d0;
  }
}
async function expectHv(out: Layer[], want: L64[], tol: number, what: string) {
  for (const [i, l] of out.entries()) {
    const w = R.relError(await l.w.data(), want[i].W), b = R.relError(await l.b.data(), want[i].b);
    expect(w, `${what}: layer ${i} W (rel ${w.toExponential(2)})`).toBeLessThan(tol);
    expect(b, `${what}: layer ${i} b (rel ${b.toExponential(2)})`).toBeLessThan(tol);
  }
}
const FUSED = 'output layer + mse, value and tangent (fused)';

describe('fresh HVP: fused output layer + MSE, folded dual kernels', () => {
  const saved = E.tunedTiles();
  afterEach(() => {
    E.clearTiles();
    E.loadTunedTiles(saved);
  });

  for (const act of ['tanh', 'relu'] as Act[]) {
    it(`${act} critic: the output layer and MSE run as one dispatch (4 fewer with the seed's fill), = float64 H·v and = the four dual kernels; no leaked buffers`, async () => {
      const g = game(act === 'tanh' ? 81 : 82, 37, [6, 12, 9, 1], act);
      await E.sync();
      const live = E.memory().liveBuffers;
      const a = run(() => E.hessianVectorProduct(g.f, g.critic, g.vg));
      const b = run(() => E.hessianVectorProduct(g.f, g.critic, g.vg, { fuseOutput: false }));
      await expectHv(a.out, g.want, 1e-4, `${act} fused`);
      await expectHv(b.out, g.want, 1e-4, `${act} unfused`);
      for (const [i, l] of a.out.entries()) {
        expect(R.relError(await l.w.data(), await b.out[i].w.data())).toBeLessThan(2e-6);
        expect(R.relError(await l.b.data(), await b.out[i].b.data())).toBeLessThan(2e-6);
      }
      const labels = (s: typeof a.seen) => s.map((x) => x.label);
      expect(labels(a.seen).filter((l) => l === FUSED).length).toBe(1);
      expect(labels(b.seen).filter((l) => l === FUSED).length).toBe(0);
      for (const gone of ['mse backward (dual)', 'linear (dual)'])
        expect(labels(a.seen).filter((l) => l === gone).length, gone).toBe(labels(b.seen).filter((l) => l === gone).length - 1);
      // the backward's seed (a fill of 1) is a constant of the fused kernel
      expect(labels(a.seen).filter((l) => l === 'full').length).toBe(0);
      expect(a.seen.length).toBe(b.seen.length - 4);
      E.dispose([a.out, b.out]);
      await E.sync();
      expect(E.memory().liveBuffers).toBe(live);
      g.dispose();
    });
  }

  it('a scaled loss (0.5·mse: the MSE backward reads the scaled seed, bound as a buffer) still fuses, = float64 H·v / 2', async () => {
    const g = game(85, 29, [5, 7, 1], 'relu');
    const half = (c: Layer[]) => E.mul(g.f(c), 0.5);
    const a = run(() => E.hessianVectorProduct(half, g.critic, g.vg));
    expect(a.seen.filter((x) => x.label === FUSED).length).toBe(1);
    await expectHv(a.out, g.want.map((l) => ({ W: R.map(l.W, (u) => u / 2), b: R.map(l.b, (u) => u / 2) })), 1e-4, '0.5·mse');
    E.dispose(a.out);
    g.dispose();
  });

  it('a batch beyond the fused kernel\'s workgroup memory (OUTPUT_DUAL_MAX_ROWS rows) keeps the four dual kernels, = float64 H·v', async () => {
    const g = game(83, 2049, [3, 4, 1], 'tanh');
    const a = run(() => E.hessianVectorProduct(g.f, g.critic, g.vg));
    expect(a.seen.some((x) => x.label === FUSED)).toBe(false);
    await expectHv(a.out, g.want, 1e-4, 'M = 2049');
    E.dispose(a.out);
    g.dispose();
  });

  it('narrow layers at a wide tuned tile: the dual forward folds its workgroup, the dual weight gradient keeps two workgroups; = float64 H·v either way', async () => {
    // the tiles this host's tuner chose for the 256-wide layer (64×1 workgroups), pinned for every class
    for (const cls of ['small', 'medium', 'large'] as const) {
      E.setTile('linearDual', cls, { TM: 4, TN: 8, WX: 64, WY: 1 });
      E.setTile('matmul', cls, { TM: 4, TN: 8, WX: 64, WY: 1 });
    }
    const g = game(84, 64, [10, 64, 32, 1], 'tanh');
    const fwd = (s: Array<{ label: string; wg: number[]; code: string }>) => s.filter((x) => x.label === 'linear (dual)');
    const dw = (s: Array<{ label: string; wg: number[]; code: string }>) => s.filter((x) => x.label === 'linear backward (dw, db, dual)');
    const folded = run(() => E.hessianVectorProduct(g.f, g.critic, g.vg));
    const prev = [E.nnFoldDualForward(false), E.nnFoldMinWorkgroups(1)] as const;
    let plain: ReturnType<typeof run>;
    try {
      plain = run(() => E.hessianVectorProduct(g.f, g.critic, g.vg));
    } finally {
      E.nnFoldDualForward(prev[0]);
      E.nnFoldMinWorkgroups(prev[1]);
    }
    await expectHv(folded.out, g.want, 1e-4, 'folded');
    await expectHv(plain.out, g.want, 1e-4, 'as tuned');
    // the 32-wide layer's forward: 4 busy columns of threads, so 4-wide workgroups (4 × 8: 16 rows of
    // threads keep two of them) instead of 64 × 1
    expect(fwd(plain.seen)[1].code).toContain('@workgroup_size(64, 1, 1)');
    expect(fwd(folded.seen)[1].code).toContain('@workgroup_size(4, 8, 1)');
    // its weight gradient (32 rows of 4 = 8 rows of threads): one workgroup folded all the way, two now
    const n = (x: { wg: number[] }) => x.wg.reduce((p, q) => p * q, 1);
    expect(n(dw(plain.seen)[1])).toBe(1);
    expect(n(dw(folded.seen)[1])).toBe(2);
    E.dispose([folded.out, plain.out]);
    g.dispose();
  });

  it('the runtime keeps its fast (hidden-class) properties through a fresh HVP and a leader update, whose hooks are put on it and taken off', async () => {
    // V8's %HasFastProperties: deleting the hooks in any order but the reverse of their addition
    // had left the runtime a dictionary object, every later dispatch reading its fields slowly
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--allow-natives-syntax');
    const fast = new Function('o', 'return %HasFastProperties(o)') as (o: unknown) => boolean;
    const rt = E.runtime();
    const g = game(86, 9, [4, 5, 1], 'tanh');
    expect(fast(rt)).toBe(true);
    E.dispose(E.hessianVectorProduct(g.f, g.critic, g.vg));
    expect(fast(rt), 'after hessianVectorProduct').toBe(true);
    const leader = g.vg.slice(0, 1);
    const f2 = (a: Layer[], c: Layer[]) => E.add(g.f(c), E.mul(E.sum(E.square(a[0].w)), 0.1));
    E.dispose(E.totalDerivative({ leaderLoss: f2, followerLoss: f2, leader, follower: g.critic, lambda: 1, cgIters: 2 }));
    expect(fast(rt), 'after totalDerivative').toBe(true);
    g.dispose();
  });

  it('bad input: a fold minimum that is not a positive integer names the problem', () => {
    expect(() => E.nnFoldMinWorkgroups(0)).toThrow(/nnFoldMinWorkgroups: expected a positive integer, got 0/);
  });
});
