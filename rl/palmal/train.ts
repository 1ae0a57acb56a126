// Training PAL, MAL and the MAL fixes on the 3-state MDP with one of three ways to obtain the
// follower's best response (R runs batched; see games.ts):
//
// - 'implicit': the leader steps along the Stackelberg total derivative (games/ stackelbergGradients
//   'total', i.e. engine/solvers.ts totalDerivative)
//   ∇f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λI)⁻¹ ∇₂f₁ (engine/solvers.ts totalDerivative, CG warm-started from the
//   previous step's solution); the follower tracks its best response with `followerSteps`
//   gradient steps per leader step (after `warmup` steps from its random start).
// - 'inner-outer': per leader step the follower is trained to convergence (warm-started Adam until
//   every run's ‖∇₂f₂‖₂ ≤ `innerTol`, checked every `innerSteps` steps, at most `innerMax` steps),
//   then the leader steps along its own gradient ∇₁f₁ at that best response.
//   This drops the implicit term: the leader does not anticipate how the follower moves (the
//   classical "fit the model, then improve the policy in it" loop for PAL).
// - 'contextual': the poster's contextualised follower: a network g_w(leader) → follower
//   parameters, pre-trained on random leaders to minimise E_leader f₂(leader, g_w(leader)), then
//   frozen and queried; the leader steps along d/dx f₁(x, g_w(x)) (autodiff through the network).
//
// Both players use Adam. Evaluation is float64 on the CPU (tabular.ts): the learned policy's
// exact return in the real MDP and Monte-Carlo rollouts in rl/envs/mdp.ts.

import * as E from '../../engine/index.ts';
import { stackelbergGradients, type Game } from '../../games/game.ts';
import { mlpInit, mlpApply, type Mlp } from './mlp.ts';
import {
  FORMULATIONS, malGame, palGame, realTensors, dataWeights, modelLossParts, modelReturn,
  type Formulation, type GameOptions, type ModelParams, type Real,
} from './games.ts';
import {
  episodeReturn, modelFromLogits, normalisedOccupancy, occupancy as occupancyCpu, policyFromLogits, rolloutReturn,
  trueModel, NN, type TabularModel, type TabularPolicy,
} from './tabular.ts';

type T = E.Tensor;
export type BestResponse = 'implicit' | 'inner-outer' | 'contextual';
export const BEST_RESPONSES: BestResponse[] = ['implicit', 'inner-outer', 'contextual'];

export interface TabularConfig {
  formulation: Formulation;
  method: BestResponse;
  /** Independent runs, batched (each with its own random start). */
  runs: number;
  seed: number;
  /** Leader updates. */
  leaderSteps: number;
  leaderLr: number;
  followerLr: number;
  /** implicit: follower steps per leader step. */
  followerSteps: number;
  /** inner-outer: follower steps between convergence checks; the tolerance on each run's ‖∇₂f₂‖₂; the cap per leader step. */
  innerSteps: number;
  innerTol: number;
  innerMax: number;
  /** implicit: follower steps from its random start before the first leader step (inner-outer converges instead). */
  warmup: number;
  cgIters: number;
  lambda: number;
  alpha: number;
  kappa: number;
  tau: number;
  /** contextual: hidden width, pre-training steps and batch of random leaders, their logit scale. */
  ctxHidden: number;
  ctxSteps: number;
  ctxBatch: number;
  ctxLr: number;
  ctxScale: number;
  /** Record the real return every this many leader steps. */
  recordEvery: number;
  /** Monte-Carlo episodes per run for the final evaluation. */
  episodes: number;
  onProgress?: (msg: string) => void;
}

export const DEFAULTS: Omit<TabularConfig, 'formulation' | 'method'> = {
  runs: 5, seed: 0, leaderSteps: 40, leaderLr: 0.15, followerLr: 0.15, followerSteps: 2, innerSteps: 10, innerTol: 1e-3, innerMax: 1000, warmup: 60,
  cgIters: 8, lambda: 1e-3, alpha: 0.5, kappa: 1e-3, tau: 0.1,
  ctxHidden: 64, ctxSteps: 200, ctxBatch: 32, ctxLr: 3e-3, ctxScale: 2,
  recordEvery: 5, episodes: 1000,
};

export interface RunResult {
  /** Final policy logits φ (flat [s·2 + a]) and the policy. */
  phi: number[];
  policy: TabularPolicy;
  /** The final model (the follower's answer in PAL, the leader in MAL). */
  model: TabularModel;
  /** Exact expected episode return of the policy in the real MDP. */
  realReturn: number;
  /** Monte-Carlo average episode reward in rl/envs/mdp.ts. */
  mcReturn: number;
  /** What the model promises the policy (exact return in the model). */
  modelReturn: number;
  /** ℓ_P of the final model on the policy's real visitation, and the visitation μ̄ itself. */
  ellP: number;
  /** The final model's logits θ (flat [s, a, s′]) and rewards ρ (flat [s, a]). */
  theta: number[];
  rho: number[];
  visitation: number[];
}

export interface TabularResult {
  config: Omit<TabularConfig, 'onProgress'>;
  runs: RunResult[];
  curve: { step: number; realReturn: number[] }[];
  /** implicit: CG directions with non-positive curvature, summed over all leader steps (games/ 'stop' mode truncates CG there). */
  negativeCurvature: number;
  /** inner-outer: per inner loop (one before each leader step and one after the last) the follower steps taken and the largest per-run ‖∇₂f₂‖₂ at its end. */
  inner?: { steps: number[]; gradNorm: number[] };
  seconds: number;
}

function randn(rng: E.Rng, n: number, std: number, mean = 0) {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = mean + std * rng.normal();
  return d;
}

/** Starting parameters: near-uniform policy, random model logits, small rewards. */
function initPlayers(R: number, seed: number) {
  const rng = new E.Rng(seed);
  const phi = E.tensor(randn(rng, R * 4, 0.1), [R, 2, 2]);
  const theta = E.tensor(randn(rng, R * 12, 1), [R, 2, 2, NN]);
  const rho = E.tensor(randn(rng, R * 4, 0.1), [R, 2, 2]);
  return { phi, theta, rho };
}

/** μ̄ of random policies in the real MDP (mean over 8 policies with N(0, 1) logits), per run. */
function randomVisitation(R: number, seed: number): T {
  const rng = new E.Rng(seed ^ 0x5eed);
  const real = trueModel();
  const out: number[] = [];
  for (let r = 0; r < R; r++) {
    const acc = [0, 0, 0, 0];
    for (let k = 0; k < 8; k++) {
      const w = normalisedOccupancy(occupancyCpu(real, policyFromLogits(randn(rng, 4, 1))));
      w.forEach((x, i) => (acc[i] += x / 8));
    }
    out.push(...acc);
  }
  return E.tensor(Float32Array.from(out), [R, 2, 2]);
}

// ---------------------------------------------------------------- contextual follower network

type Net = Mlp;

/** Leader parameters as the network's input [R, B, d], and the follower from its output. */
function flatLeader(f: Formulation, L: any): T {
  if (f === 'pal') return E.reshape(L.phi, [L.phi.shape[0], -1, 4]);
  const R = L.theta.shape[0];
  return E.concat([E.reshape(L.theta, [R, -1, 12]), E.reshape(L.rho, [R, -1, 4])], -1);
}

function followerFromNet(f: Formulation, out: T): any {
  const [R, B] = out.shape as [number, number];
  if (f !== 'pal') return { phi: E.reshape(out, [R, B, 2, 2]) };
  return {
    theta: E.reshape(E.slice(out, [null, null, [0, 12]]), [R, B, 2, 2, NN]),
    rho: E.reshape(E.slice(out, [null, null, [12, 16]]), [R, B, 2, 2]),
  };
}

// ---------------------------------------------------------------- training

/** Leader and follower losses of formulation f on packed trees {phi} / {theta, rho}. */
function losses(f: Formulation, real: Real, o: GameOptions) {
  if (f === 'pal') {
    const g: Game<T, ModelParams> = palGame(real, o);
    return {
      f1: (L: any, F: any) => g.leaderLoss(L.phi, F as ModelParams),
      f2: (L: any, F: any) => g.followerLoss(L.phi, F as ModelParams),
    };
  }
  const g: Game<ModelParams, T> = malGame(f, real, o);
  return {
    f1: (L: any, F: any) => g.leaderLoss(L as ModelParams, F.phi),
    f2: (L: any, F: any) => g.followerLoss(L as ModelParams, F.phi),
  };
}

export async function trainTabular(cfg: TabularConfig): Promise<TabularResult> {
  if (!FORMULATIONS.includes(cfg.formulation)) throw new Error(`formulation '${cfg.formulation}' unknown; choose one of ${FORMULATIONS.join(', ')}`);
  if (!BEST_RESPONSES.includes(cfg.method)) throw new Error(`best-response method '${cfg.method}' unknown; choose one of ${BEST_RESPONSES.join(', ')}`);
  const t0 = performance.now();
  const f = cfg.formulation, R = cfg.runs;
  const real = realTensors();
  const rv = f === 'mal-noise' ? randomVisitation(R, cfg.seed) : undefined;
  const o: GameOptions = { alpha: cfg.alpha, kappa: cfg.kappa, tau: cfg.tau, randomVisitation: rv };
  const init = initPlayers(R, cfg.seed);
  const pal = f === 'pal';
  const Lp = E.packParams(pal ? { phi: init.phi } : { theta: init.theta, rho: init.rho });
  const Fp = E.packParams(pal ? { theta: init.theta, rho: init.rho } : { phi: init.phi });
  const L = Lp.params as any, F = Fp.params as any;
  const flats: T[] = [Lp.flat, Fp.flat];
  const { f1, f2 } = losses(f, real, o);
  const lOpt = E.adam(L, { lr: cfg.leaderLr });
  const fOpt = E.adam(F, { lr: cfg.followerLr });
  const curve: TabularResult['curve'] = [];
  const log = cfg.onProgress ?? (() => {});

  const followerStep = () => E.scope(() => fOpt.step(F, E.grad(f2, 1)(L, F)));

  // The contextual follower: its network, pre-trained on random leaders.
  let net: Net | null = null;
  let ctxO = o;
  if (cfg.method === 'contextual') {
    const dIn = pal ? 4 : 16, dOut = pal ? 16 : 4;
    const np = E.packParams(mlpInit([dIn, cfg.ctxHidden, cfg.ctxHidden, dOut], cfg.seed + 17, { batch: R, outScale: 0.5 }));
    net = np.params as Net;
    flats.push(np.flat);
    if (rv) ctxO = { ...o, randomVisitation: E.expandDims(rv, 1) };
    const ctx = losses(f, real, ctxO);
    const nOpt = E.adam(net, { lr: cfg.ctxLr });
    const rng = new E.Rng(cfg.seed + 99);
    const B = cfg.ctxBatch, s = cfg.ctxScale;
    for (let k = 0; k < cfg.ctxSteps; k++) {
      E.scope(() => {
        const Lr = pal
          ? { phi: E.tensor(randn(rng, R * B * 4, s), [R, B, 2, 2]) }
          : { theta: E.tensor(randn(rng, R * B * 12, s), [R, B, 2, 2, NN]), rho: E.tensor(randn(rng, R * B * 4, 0.5, 0.4), [R, B, 2, 2]) };
        const loss = (p: Net) => E.div(ctx.f2(Lr, followerFromNet(f, mlpApply(p, flatLeader(f, Lr)))), B);
        nOpt.step(net!, E.grad(loss)(net!));
      });
      if ((k + 1) % 100 === 0) await E.sync();
      if ((k + 1) % 200 === 0) log(`ctx pretrain ${k + 1}/${cfg.ctxSteps}`);
    }
    nOpt.dispose();
  }
  const ctxFollower = (Lx: any) => {
    const out = followerFromNet(f, mlpApply(net!, flatLeader(f, Lx)));
    // B = 1: drop the batch axis so the follower has the trainer's shapes.
    if (pal) return { theta: E.reshape(out.theta, [R, 2, 2, NN]), rho: E.reshape(out.rho, [R, 2, 2]) };
    return { phi: E.reshape(out.phi, [R, 2, 2]) };
  };

  /** The current follower (the network's answer for 'contextual'), as plain tensors. */
  const currentFollower = () => (net ? E.scope(() => ctxFollower(L)) : F);

  const record = async (step: number) => {
    const Fc = currentFollower();
    const phiT: T = pal ? L.phi : Fc.phi;
    const phis = await phiT.data();
    if (Fc !== F) E.dispose(Fc);
    const rr: number[] = [];
    for (let r = 0; r < R; r++) rr.push(episodeReturn(trueModel(), policyFromLogits(phis.subarray(r * 4, r * 4 + 4))));
    curve.push({ step, realReturn: rr });
  };

  /** Each run's ‖∇₂f₂‖₂ at the current (leader, follower); runs are summed in f₂, so each run's block is its own gradient. */
  const followerGradNorms = async (): Promise<number[]> => {
    const n = E.scope(() => {
      const g = E.grad(f2, 1)(L, F) as Record<string, T>;
      let acc: T | null = null;
      for (const t of Object.values(g)) {
        const s2 = E.sum(E.reshape(E.square(t), [R, -1]), -1);
        acc = acc ? E.add(acc, s2) : s2;
      }
      return E.sqrt(acc!);
    });
    const d = Array.from(await n.data());
    n.dispose();
    return d;
  };
  const inner = { steps: [] as number[], gradNorm: [] as number[] };
  /** inner-outer: the follower trained until every run's ‖∇₂f₂‖₂ ≤ innerTol (or innerMax steps). */
  const innerLoop = async () => {
    let used = 0;
    let norms = await followerGradNorms();
    while (Math.max(...norms) > cfg.innerTol && used < cfg.innerMax) {
      for (let k = 0; k < cfg.innerSteps; k++) followerStep();
      used += cfg.innerSteps;
      norms = await followerGradNorms();
    }
    inner.steps.push(used);
    inner.gradNorm.push(Math.max(...norms));
  };

  if (cfg.method === 'implicit') {
    for (let k = 0; k < cfg.warmup; k++) {
      followerStep();
      if ((k + 1) % 100 === 0) await E.sync();
    }
  }
  await record(0);
  let implicit: any = null;
  let negCurv: T | null = null;
  for (let it = 1; it <= cfg.leaderSteps; it++) {
    if (cfg.method === 'implicit') {
      const sg = stackelbergGradients({ leaderLoss: f1, followerLoss: f2 }, L, F, { kind: 'total', lambda: cfg.lambda, cgIters: cfg.cgIters, warmStart: implicit ?? undefined });
      lOpt.step(L, sg.leaderGrad);
      fOpt.step(F, sg.followerGrad!);
      const prevNeg: T | null = negCurv;
      negCurv = E.keep(prevNeg ? E.add(prevNeg, sg.negativeCurvature!) : E.clone(sg.negativeCurvature!));
      prevNeg?.dispose();
      if (implicit) E.dispose(implicit);
      implicit = E.keep(sg.implicit);
      sg.dispose();
      for (let k = 1; k < cfg.followerSteps; k++) followerStep();
    } else if (cfg.method === 'inner-outer') {
      await innerLoop();
      const sg = stackelbergGradients({ leaderLoss: f1, followerLoss: f2 }, L, F, { kind: 'sequential' });
      lOpt.step(L, sg.leaderGrad);
      sg.dispose();
    } else {
      E.scope(() => lOpt.step(L, E.grad((Lx: any) => f1(Lx, ctxFollower(Lx)))(L)));
    }
    if (it % cfg.recordEvery === 0 || it === cfg.leaderSteps) {
      await record(it);
      const last = curve[curve.length - 1]!.realReturn;
      log(`${f} ${cfg.method} step ${it}/${cfg.leaderSteps}: real return ${last.map((x) => x.toFixed(2)).join(' ')}`);
    } else if (it % 10 === 0) await E.sync();
  }
  // The returned follower is the best response to the final leader.
  if (cfg.method === 'inner-outer') await innerLoop();
  if (implicit) E.dispose(implicit);
  const negativeCurvature = negCurv ? Math.round(await negCurv.item()) : 0;
  negCurv?.dispose();

  // Final evaluation (float64, CPU).
  const Fc = currentFollower();
  const Mt: ModelParams = pal ? Fc : L;
  const phiT: T = pal ? L.phi : Fc.phi;
  const [phis, thetas, rhos] = await Promise.all([phiT.data(), Mt.theta.data(), Mt.rho.data()]);
  if (Fc !== F) E.dispose(Fc);
  const realM = trueModel();
  const runs: RunResult[] = [];
  for (let r = 0; r < R; r++) {
    const phi = Array.from(phis.subarray(r * 4, r * 4 + 4));
    const policy = policyFromLogits(phi);
    const model = modelFromLogits(thetas.subarray(r * 12, r * 12 + 12), rhos.subarray(r * 4, r * 4 + 4));
    const visitation = normalisedOccupancy(occupancyCpu(realM, policy));
    let ellP = 0;
    for (let i = 0; i < 4; i++) {
      const [s, a] = [Math.floor(i / 2), i % 2];
      const p = realM.P[s]![a]!, q = model.P[s]![a]!;
      ellP += visitation[i]! * p.reduce((acc, pk, k) => acc + (pk > 0 ? pk * Math.log(pk / q[k]!) : 0), 0);
    }
    runs.push({
      phi, policy, model, visitation, ellP,
      theta: Array.from(thetas.subarray(r * 12, r * 12 + 12)), rho: Array.from(rhos.subarray(r * 4, r * 4 + 4)),
      realReturn: episodeReturn(realM, policy),
      mcReturn: rolloutReturn(policy, cfg.episodes, cfg.seed * 1000 + r).mean,
      modelReturn: episodeReturn(model, policy),
    });
  }
  lOpt.dispose();
  fOpt.dispose();
  E.dispose([L, F, real, rv, net, flats]);
  const { onProgress: _, ...config } = cfg;
  return { config, runs, curve, negativeCurvature, ...(cfg.method === 'inner-outer' ? { inner } : {}), seconds: (performance.now() - t0) / 1000 };
}

// Re-exported for the tests (engine-side objectives on plain tensors).
export { dataWeights, modelLossParts, modelReturn };
