// PPO, CleanRL-faithful (ppo.py / ppo_atari.py), read top to bottom: hyperparameters,
// networks, losses, the agent (act + update). The run harness (rl/harness) does the rest:
// rollouts of numSteps × numEnvs transitions (on a CPU env: one GPU forward and one readback
// per vector step, actions drawn on the CPU from the run's seeded Rng; on a GPU env, envDevice:
// the whole rollout on the GPU, one readback), truncation bootstrapping and GAE(γ, λ),
// per-episode logging, evaluation, checkpoints.
//
// Per update: updateEpochs passes over shuffled minibatches: advantage normalisation per
// minibatch, clipped surrogate, clipped value loss ×vfCoef, entropy bonus, global
// gradient-norm clipping, Adam, optional linear LR annealing, optional target-KL early stop.
// SPRIG (rl/sprig.ts) is this agent with another perception and its own minibatch step.

import * as E from '../engine/index.ts';
import { ON_POLICY_SCHEMA, RUN_DEFAULTS, type OnPolicyConfig, type Schema } from './harness/config.ts';
import { sampleCategorical } from './harness/policy.ts';
import { sampleCategoricalGpu } from './harness/sample_gpu.ts';
import { FlatAdam, PpoMlp, ppoMlpShape } from '../engine/nn/ppo_mlp.ts';
import { packedOf } from '../engine/nn/params.ts';
import type { GpuVecEnv } from './envs/gpu/vec.ts';
import type { ActOptions, ActResult, EnvSpec, OnPolicyAgent, OnPolicyAlgorithm, Rollout, Stats, UpdateContext } from './harness/types.ts';
import { abSwitch } from '../engine/switch.ts';

type Tensor = E.Tensor;
type Params = E.Params;

// ------------------------------------------------------------------ hyperparameters

export interface PpoConfig extends OnPolicyConfig {
  minibatchSize: number;
  updateEpochs: number;
  lr: number;
  annealLr: boolean;
  normAdv: boolean;
  clipCoef: number;
  /** CleanRL's clipped value loss. */
  clipVloss: boolean;
  vfCoef: number;
  entCoef: number;
  maxGradNorm: number;
  adamEps: number;
  /** Stop the epochs early once approx KL exceeds this (CleanRL target_kl; null = never). */
  targetKl: number | null;
  /** 'auto': MLP for vector observations, the MinAtar reference conv torso for grids. */
  torso: 'auto' | 'mlp' | 'minatar';
  mlpHidden: number[];
  /**
   * With an MLP torso, train and act through the fused small-MLP kernels (engine/nn/ppo_mlp.ts:
   * a minibatch update in four dispatches, the rollout forward in one). Same algorithm and RNG
   * streams; false takes the composed path (autodiff over the modules).
   */
  fusedMlp: boolean;
}

/** SPRIG's PPO table (rollout 2048, minibatch 64, γ 0.99, λ 0.95, lr 1e-4, 4 epochs, clip 0.2, ...). */
export const PPO_DEFAULTS: PpoConfig = {
  ...RUN_DEFAULTS,
  algo: 'ppo',
  env: 'minatar/breakout',
  totalSteps: 10_000_000,
  numEnvs: 8,
  numSteps: 256,
  gamma: 0.99,
  gaeLambda: 0.95,
  minibatchSize: 64,
  updateEpochs: 4,
  lr: 1e-4,
  annealLr: true,
  normAdv: true,
  clipCoef: 0.2,
  clipVloss: true,
  vfCoef: 0.5,
  entCoef: 0.01,
  maxGradNorm: 0.5,
  adamEps: 1e-5,
  targetKl: null,
  torso: 'auto',
  mlpHidden: [64, 64],
  fusedMlp: true,
  // the GPU env where bench/train_speed.ts measured it faster (PpoAgent.prefersGpuEnv), else the CPU env
  envDevice: 'auto',
};

export const PPO_SCHEMA: Schema<PpoConfig> = {
  ...ON_POLICY_SCHEMA,
  minibatchSize: { type: 'int', min: 1 },
  updateEpochs: { type: 'int', min: 1 },
  lr: { type: 'number', positive: true },
  clipCoef: { type: 'number', min: 0 },
  vfCoef: { type: 'number', min: 0 },
  entCoef: { type: 'number' },
  maxGradNorm: { type: 'number', positive: true },
  adamEps: { type: 'number', positive: true },
  targetKl: { type: 'number', positive: true, nullable: true },
  torso: { type: 'string', choices: ['auto', 'mlp', 'minatar'] },
  mlpHidden: { type: 'numbers', int: true, min: 1, minLength: 1 },
  fusedMlp: { type: 'bool' },
};

/** `paper` is the table; the others are tuned for a 2-core machine (CI, the demo) and say so. */
export const PPO_PRESETS: Record<string, Partial<PpoConfig>> = {
  paper: {},
  // CartPole to 475 in CI: many envs, big lr, few large minibatches.
  'cartpole-fast': {
    env: 'cartpole', numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 6, lr: 3e-3,
    annealLr: false, entCoef: 0, totalSteps: 200_000, stopAtReturn: 475, logEvery: 1024,
  },
  // MinAtar within minutes: the paper's γ, λ, clip, value/entropy coefficients and clipping,
  // with bigger minibatches, fewer epochs and a bigger lr.
  'minatar-fast': { numEnvs: 16, numSteps: 64, minibatchSize: 256, updateEpochs: 2, lr: 1e-3, logEvery: 1024 },
};

export function validatePpo(c: PpoConfig) {
  const batch = c.numEnvs * c.numSteps;
  if (batch % c.minibatchSize !== 0) {
    throw new Error(`rollout size ${batch} (numEnvs ${c.numEnvs} × numSteps ${c.numSteps}) is not a multiple of minibatchSize ${c.minibatchSize}`);
  }
}

// ------------------------------------------------------------------ networks

/** Observations → features; SPRIG's perception also returns its attention cost. */
export interface Perception {
  /** Network input shape per sample (frameStack × obs shape when stacked). */
  inputShape: number[];
  featureDim: number;
  init(seed: number): Params;
  /**
   * `inference`: the caller differentiates nothing (inside E.noGrad), so a perception may take kernels with no backward.
   * `firstOrder`: the caller takes first-order gradients only (no HVPs, no tangents), so a perception may take ops whose backward is not differentiable again.
   */
  apply(params: Params, obs: Tensor, opts?: { inference?: boolean; firstOrder?: boolean }): { features: Tensor; cost?: Tensor; gates?: Tensor[] };
  /** An all-tanh MLP's layer keys in order ('0', '2', ...): what the fused kernels can run. */
  mlpLayers?: string[];
}

/** CleanRL's torsos: MLP (tanh, orthogonal √2) for vectors; for MinAtar grids the reference
 * Conv(C→16, 3×3) → ReLU → flatten → Linear(→128) → ReLU. */
export function ppoTorso(cfg: Pick<PpoConfig, 'torso' | 'mlpHidden'>, obsShape: number[]): Perception {
  const kind = cfg.torso === 'auto' ? (obsShape.length === 3 ? 'minatar' : 'mlp') : cfg.torso;
  let net: E.Module<Params>;
  let featureDim: number;
  if (kind === 'minatar') {
    if (obsShape.length !== 3) throw new Error(`the MinAtar torso needs [H, W, C] observations, got [${obsShape}]`);
    const [h, w, c] = obsShape;
    featureDim = 128;
    net = E.Sequential([E.Conv2d(c, 16, 3, { gain: Math.SQRT2 }), E.ReLU(), E.Flatten(), E.Linear((h - 2) * (w - 2) * 16, featureDim, { gain: Math.SQRT2 }), E.ReLU()]);
  } else {
    const d = obsShape.reduce((a, b) => a * b, 1);
    featureDim = cfg.mlpHidden[cfg.mlpHidden.length - 1];
    net = E.MLP([d, ...cfg.mlpHidden], { activation: 'tanh', outActivation: 'tanh', gain: Math.SQRT2 });
  }
  return {
    inputShape: obsShape,
    featureDim,
    init: (seed) => net.init(seed),
    apply: (p, x) => ({ features: net.apply(p, x) }),
    ...(kind === 'mlp' ? { mlpLayers: cfg.mlpHidden.map((_, i) => String(2 * i)) } : {}),
  };
}

/** Policy and value heads: Linear(F→A) (orthogonal gain 0.01) and Linear(F→1) (gain 1). */
export function actorCriticHeads(featureDim: number, numActions: number) {
  const actor = E.Linear(featureDim, numActions, { gain: 0.01 });
  const critic = E.Linear(featureDim, 1, { gain: 1 });
  return {
    init: (seed: number): Params => ({ actor: actor.init(E.childSeed(seed, 'actor')), critic: critic.init(E.childSeed(seed, 'critic')) }),
    apply: (p: Params, f: Tensor) => ({
      logits: actor.apply(p.actor as E.LinearParams, f),
      value: E.reshape(critic.apply(p.critic as E.LinearParams, f), [f.shape[0]]),
    }),
    /** The policy head alone (SPRIG's leader objective reads no value). */
    logits: (p: Params, f: Tensor) => actor.apply(p.actor as E.LinearParams, f),
  };
}
export type Heads = ReturnType<typeof actorCriticHeads>;

// ------------------------------------------------------------------ losses

const packedBatch = abSwitch(true);
/** Benchmarks' A/B switch: false makes the composed update hand E.ppoLoss five [M] tensors (session 8: it concatenates them, 5 dispatches). Returns the previous setting. */
export const ppoPackedBatch = packedBatch.set;

/** One minibatch, on the GPU. */
export interface Minibatch {
  obs: Tensor;
  /** Action indices [M] (as floats). */
  actions: Tensor;
  oldLogp: Tensor;
  /** Advantages, already normalised when cfg.normAdv. */
  adv: Tensor;
  returns: Tensor;
  oldValues: Tensor;
  /** The same five rows packed [5, M] in PPO_DATA_ROWS order (E.ppoLoss's input: one upload instead of five concat dispatches), when the caller made it. */
  data?: Tensor;
}

/** The PPO loss terms (CleanRL's names), from logits and values of the minibatch. */
export function ppoLossTerms(logits: Tensor, value: Tensor, mb: Minibatch, cfg: Pick<PpoConfig, 'clipCoef' | 'clipVloss' | 'vfCoef' | 'entCoef'>) {
  const logp = E.categoricalLogProb(logits, mb.actions);
  const entropy = E.categoricalEntropy(logits);
  const logratio = E.sub(logp, mb.oldLogp);
  const ratio = E.exp(logratio);
  const pg1 = E.mul(E.neg(mb.adv), ratio);
  const pg2 = E.mul(E.neg(mb.adv), E.minimum(E.maximum(ratio, 1 - cfg.clipCoef), 1 + cfg.clipCoef));
  const pgLoss = E.mean(E.maximum(pg1, pg2));
  let vLoss: Tensor;
  if (cfg.clipVloss) {
    const unclipped = E.square(E.sub(value, mb.returns));
    const d = E.sub(value, mb.oldValues);
    const vClipped = E.add(mb.oldValues, E.minimum(E.maximum(d, -cfg.clipCoef), cfg.clipCoef));
    const clipped = E.square(E.sub(vClipped, mb.returns));
    vLoss = E.mul(E.mean(E.maximum(unclipped, clipped)), 0.5);
  } else {
    vLoss = E.mul(E.mean(E.square(E.sub(value, mb.returns))), 0.5);
  }
  const entLoss = E.mean(entropy);
  const loss = E.add(E.sub(pgLoss, E.mul(entLoss, cfg.entCoef)), E.mul(vLoss, cfg.vfCoef));
  return { loss, pgLoss, vLoss, entropy: entLoss, logratio, ratio };
}

/** approx_kl (k3 estimator) and the clip fraction, as CleanRL logs them. */
export function klAndClipfrac(logratio: Tensor, ratio: Tensor, clipCoef: number) {
  const approxKl = E.mean(E.sub(E.sub(ratio, 1), logratio));
  const clipfrac = E.mean(E.gt(E.abs(E.sub(ratio, 1)), clipCoef));
  return { approxKl, clipfrac };
}

// ------------------------------------------------------------------ the agent

/** Parameters: the perception (torso) and the heads, as two top-level groups. */
export interface AgentParams extends Params {
  perception: Params;
  heads: Params;
}

export class PpoAgent implements OnPolicyAgent {
  readonly params: AgentParams;
  readonly optimizers: Record<string, E.Optimizer>;
  readonly heads: Heads;
  readonly numActions: number;
  /** Names of the statistics row updateMinibatch returns. */
  statNames = ['pg_loss', 'v_loss', 'entropy', 'approx_kl', 'clipfrac'];

  constructor(readonly cfg: PpoConfig, readonly env: EnvSpec, readonly perception: Perception, readonly frameStack = 1) {
    if (env.actionSpace.kind !== 'discrete') throw new Error(`${cfg.algo} here needs a discrete action space; ${env.id}'s is ${env.actionSpace.kind}`);
    this.numActions = env.actionSpace.n;
    this.heads = actorCriticHeads(perception.featureDim, this.numActions);
    const fresh = E.scope(() => ({
      perception: perception.init(E.childSeed(cfg.seed, 'perception')),
      heads: this.heads.init(E.childSeed(cfg.seed, 'heads')),
    }));
    const { params, optimizers } = this.setup(fresh);
    this.params = E.keep(params);
    this.optimizers = optimizers;
  }

  /** The flat buffers packParams made (the parameter views keep them alive; dispose frees them). */
  protected flats: Tensor[] = [];

  /** The fused small-MLP kernels (engine/nn/ppo_mlp.ts) when cfg.fusedMlp and the torso is an MLP; else null. */
  protected fused: PpoMlp | null = null;

  /** Packs the parameters (engine/nn's one-dispatch optimizers need that) and makes the optimizers. */
  protected setup(fresh: AgentParams): { params: AgentParams; optimizers: Record<string, E.Optimizer> } {
    const params = this.pack(fresh);
    const layers = this.perception.mlpLayers;
    if (this.cfg.fusedMlp !== false && layers) {
      const packed = packedOf(params)!;
      const r = ppoMlpShape(packed.layout, { layers: layers.map((l) => `perception.${l}`), actor: 'heads.actor', critic: 'heads.critic' });
      if ('shape' in r) {
        this.fused = new PpoMlp(r.shape, packed.flat);
        return { params, optimizers: { agent: new FlatAdam(params, { lr: this.cfg.lr, eps: this.cfg.adamEps }) } };
      }
    }
    return { params, optimizers: { agent: E.adam(params, { lr: this.cfg.lr, eps: this.cfg.adamEps }) } };
  }

  protected pack<P extends Params>(tree: P): P {
    const { flat, params } = E.packParams(tree);
    this.flats.push(E.keep(flat));
    return params;
  }

  /** Logits [rows, A] and values [rows] in one readback; actions for the first o.sample rows. */
  async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    if (this.fused) return this.actFused(obs, rows, o);
    const out = E.noGrad(() =>
      E.scope(() => {
        const x = E.tensor(obs.subarray(0, rows * this.inputSize), [rows, ...this.perception.inputShape]);
        const { features } = this.perception.apply(this.params.perception, x, { inference: true });
        const { logits, value } = this.heads.apply(this.params.heads, features);
        return [logits, value];
      }),
    );
    const [logits, values] = await E.readAll(out);
    E.dispose(out);
    const actions = new Int32Array(o.sample), logp = new Float32Array(o.sample);
    sampleCategorical(logits, o.sample, this.numActions, o.rng, o.mode === 'greedy', actions, logp);
    return { actions, logp, values };
  }

  /** act() through the fused forward: one dispatch, one readback of [rows, A + 1]. */
  private async actFused(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const A = this.numActions;
    const x = E.tensor(obs.subarray(0, rows * this.inputSize), [rows, this.inputSize]);
    const out = this.fused!.act(x);
    x.dispose();
    return sampleFromPacked(out, rows, A, o);
  }

  /**
   * act() on the GPU for rollouts on a GPU env: values for every row; for the first `sample`
   * rows an action by Gumbel-max (an exact softmax draw, one dispatch: rl/harness/sample_gpu.ts)
   * and its log-probability. No readback.
   */
  actGpu(obs: Tensor, sample: number): { values: Tensor; actions?: Tensor; logp?: Tensor } {
    if (this.fused) {
      const r = this.fused.actSample(obs, sample);
      if (sample) return r;
      E.dispose([r.actions, r.logp]);
      return { values: r.values };
    }
    return E.noGrad(() =>
      E.scope(() => {
        const rows = obs.shape[0];
        const x = E.reshape(obs, [rows, ...this.perception.inputShape]);
        const { features } = this.perception.apply(this.params.perception, x, { inference: true });
        const { logits, value } = this.heads.apply(this.params.heads, features);
        if (!sample) return { values: value };
        const { actions, logp } = sampleCategoricalGpu(sample === rows ? logits : E.slice(logits, [[0, sample]]));
        return { values: value, actions, logp };
      }),
    );
  }

  /** The whole GPU rollout in one dispatch (PpoMlp.rollout) when the fused kernels run this agent; see OnPolicyAgent.rolloutGpu. */
  rolloutGpu(genv: GpuVecEnv, T: number, OB: Tensor, ROW: Tensor): Tensor | null {
    if (!this.fused || genv.obsSize !== this.inputSize || genv.actSize !== 1) return null;
    this.fused.rollout(genv, T, OB, ROW);
    return this.fused.act(OB, T * genv.numEnvs, (T + 1) * genv.numEnvs);
  }

  /**
   * envDevice 'auto' (rl/harness/trainer.ts, autoEnvDevice): the GPU env when the fused kernels
   * run the whole rollout in one dispatch (an MLP torso on an env of the network's input size:
   * CartPole), measured 1.6–4× the CPU env's steps/s (docs/rl.md § Speed).
   */
  prefersGpuEnv(env: EnvSpec): boolean {
    return !!this.fused && this.frameStack === 1 && this.fused.obsSize === env.obsSize && env.actionDim === 1;
  }

  get inputSize() {
    return this.perception.inputShape.reduce((a, b) => a * b, 1);
  }

  /** CleanRL's linear annealing: lr·(1 − update/numUpdates). */
  lr(ctx: UpdateContext): number {
    return this.cfg.annealLr ? (1 - ctx.iteration / ctx.iterations) * this.cfg.lr : this.cfg.lr;
  }

  async update(ro: Rollout, ctx: UpdateContext): Promise<Stats> {
    if (this.fused) return this.updateFused(ro, ctx);
    const cfg = this.cfg;
    const lr = this.lr(ctx);
    const B = ro.T * ro.N, M = cfg.minibatchSize, S = this.inputSize;
    const mbObs = new Float32Array(M * S);
    // the five per-row arrays are views of one [5, M] block (PPO_DATA_ROWS order), uploaded
    // once more as E.ppoLoss's packed input
    const mbData = new Float32Array(5 * M);
    const [mbAct, mbLogp, mbAdv, mbRet, mbVal] = [0, 1, 2, 3, 4].map((k) => mbData.subarray(k * M, (k + 1) * M));
    let statsT: Tensor | null = null;
    const nMb = B / M;
    for (let epoch = 0; epoch < cfg.updateEpochs; epoch++) {
      const perm = ctx.rng.permutation(B);
      for (let s = 0; s < nMb; s++) {
        let mean = 0;
        for (let j = 0; j < M; j++) {
          const k = perm[s * M + j];
          mbObs.set(ro.obs.subarray(k * S, (k + 1) * S), j * S);
          mbAct[j] = ro.actions[k];
          mbLogp[j] = ro.logp[k];
          mbAdv[j] = ro.advantages[k];
          mbRet[j] = ro.returns[k];
          mbVal[j] = ro.values[k];
          mean += ro.advantages[k];
        }
        if (cfg.normAdv) {
          mean /= M;
          let v = 0;
          for (let j = 0; j < M; j++) v += (mbAdv[j] - mean) ** 2;
          const std = Math.sqrt(v / (M - 1)); // torch.std is unbiased
          for (let j = 0; j < M; j++) mbAdv[j] = (mbAdv[j] - mean) / (std + 1e-8);
        }
        // Statistics of the last minibatch (CleanRL logs those); with targetKl, of every epoch's last.
        const last = s === nMb - 1 && (epoch === cfg.updateEpochs - 1 || cfg.targetKl !== null);
        E.scope(() => {
          const mb: Minibatch = {
            obs: E.tensor(mbObs, [M, ...this.perception.inputShape]),
            actions: E.tensor(mbAct, [M]),
            oldLogp: E.tensor(mbLogp, [M]),
            adv: E.tensor(mbAdv, [M]),
            returns: E.tensor(mbRet, [M]),
            oldValues: E.tensor(mbVal, [M]),
            data: packedBatch.on ? E.tensor(mbData, [5, M]) : undefined,
          };
          const st = this.updateMinibatch(mb, lr, last);
          if (st) {
            (statsT as Tensor | null)?.dispose();
            statsT = st;
          }
        });
      }
      if (cfg.targetKl !== null && statsT) {
        const kl = (await (statsT as Tensor).data())[this.statNames.indexOf('approx_kl')];
        if (kl > cfg.targetKl) break;
      }
    }
    const stats: Stats = { lr };
    if (statsT) {
      const st: Tensor = statsT;
      const d = await st.data();
      st.dispose();
      this.statNames.forEach((n, i) => (stats[n] = d[i]));
    }
    return stats;
  }

  /**
   * update() through the fused kernels: the rollout uploaded once; each epoch's permutation and
   * per-minibatch normalised advantages made on the CPU (the same Rng draws and float64
   * arithmetic as update()) and uploaded once per update (per epoch with targetKl); then per
   * minibatch the rows and dW kernels, the norm and Adam: four dispatches, all in one submit.
   * One readback at the end for the statistics (and one per epoch with targetKl).
   */
  private async updateFused(ro: Rollout, ctx: UpdateContext): Promise<Stats> {
    const cfg = this.cfg, fused = this.fused!;
    const opt = this.optimizers.agent as FlatAdam;
    const lr = this.lr(ctx);
    const B = ro.T * ro.N, M = cfg.minibatchSize, S = this.inputSize, nMb = B / M;
    const data = new Float32Array(4 * B);
    for (let k = 0; k < B; k++) {
      data[4 * k] = ro.actions[k];
      data[4 * k + 1] = ro.logp[k];
      data[4 * k + 2] = ro.returns[k];
      data[4 * k + 3] = ro.values[k];
    }
    const X = E.tensor(ro.obs.subarray(0, B * S), [B, S]);
    const DATA = E.tensor(data, [B, 4]);
    const stats = E.zeros([5]);
    // With targetKl each epoch's statistics decide whether the next runs: one epoch per batch.
    const per = cfg.targetKl === null ? cfg.updateEpochs : 1;
    const idx = new Uint32Array(per * B), adv = new Float32Array(per * B);
    try {
      for (let epoch = 0; epoch < cfg.updateEpochs; epoch += per) {
        const k = Math.min(per, cfg.updateEpochs - epoch);
        for (let e = 0; e < k; e++) {
          const perm = ctx.rng.permutation(B);
          for (let s = 0; s < nMb; s++) {
            const o = e * B + s * M;
            let mean = 0;
            for (let j = 0; j < M; j++) {
              const r = perm[s * M + j];
              idx[o + j] = r;
              adv[o + j] = ro.advantages[r];
              mean += ro.advantages[r];
            }
            if (cfg.normAdv) {
              mean /= M;
              let v = 0;
              for (let j = 0; j < M; j++) v += (adv[o + j] - mean) ** 2;
              const std = Math.sqrt(v / (M - 1)); // torch.std is unbiased
              for (let j = 0; j < M; j++) adv[o + j] = (adv[o + j] - mean) / (std + 1e-8);
            }
          }
        }
        const IDX = E.Tensor.fromBuffer(E.runtime().upload(idx.subarray(0, k * B)), [k * B]);
        const ADV = E.tensor(adv.subarray(0, k * B), [k * B]);
        for (let e = 0; e < k; e++) {
          for (let s = 0; s < nMb; s++) {
            // Statistics of the last minibatch (CleanRL logs those); with targetKl, of every epoch's last.
            const wantStats = s === nMb - 1 && (epoch + e === cfg.updateEpochs - 1 || cfg.targetKl !== null);
            fused.minibatchGrad({ X, DATA, IDX, ADV, base: e * B + s * M, M, G: opt.grad, S: stats, wantStats }, cfg);
            opt.stepStaged({ lr, maxGradNorm: cfg.maxGradNorm });
          }
        }
        E.dispose([IDX, ADV]);
        if (cfg.targetKl !== null && epoch + k < cfg.updateEpochs) {
          const kl = (await stats.data())[this.statNames.indexOf('approx_kl')];
          if (kl > cfg.targetKl) break;
        }
      }
      const d = await stats.data();
      const out: Stats = { lr };
      this.statNames.forEach((n, i) => (out[n] = d[i]));
      return out;
    } finally {
      E.dispose([X, DATA, stats]);
    }
  }

  /** One Adam step on the PPO loss; with wantStats, returns a kept row of statNames. */
  protected updateMinibatch(mb: Minibatch, lr: number, wantStats: boolean): Tensor | null {
    const c = this.cfg;
    let stats: Tensor | null = null;
    const [loss, grads] = E.valueAndGrad((p: AgentParams) => {
      const { features } = this.perception.apply(p.perception, mb.obs);
      const { logits, value } = this.heads.apply(p.heads, features);
      // The fused loss (engine/nn/ppo_loss.ts): the same terms as ppoLossTerms in one dispatch
      // forward and one backward, with CleanRL's statistics as a by-product.
      const { loss, stats: st } = E.ppoLoss(logits, value, mb.data ?? mb, c);
      if (wantStats) stats = E.keep(st);
      return loss;
    })(this.params);
    this.optimizers.agent.step(this.params, grads, { lr, maxGradNorm: c.maxGradNorm });
    E.dispose(grads);
    loss.dispose();
    return stats;
  }

  dispose() {
    this.fused?.dispose();
    E.dispose(this.params);
    E.dispose(this.flats);
    for (const o of Object.values(this.optimizers)) o.dispose();
  }
}

// ------------------------------------------------------------------ the algorithm

export const ppo: OnPolicyAlgorithm<PpoConfig> = {
  name: 'ppo',
  kind: 'on-policy',
  actionSpaces: ['discrete'],
  defaults: PPO_DEFAULTS,
  schema: PPO_SCHEMA,
  presets: PPO_PRESETS,
  validate: validatePpo,
  create: (cfg, env) => new PpoAgent(cfg, env, ppoTorso(cfg, env.obsShape)),
};

export default ppo;

/**
 * Reads back (and disposes) a [rows, A + 1] tensor of logits with the value in the last column,
 * as the fused acting forwards write it (one readback), and draws the actions on the CPU.
 */
export async function sampleFromPacked(out: E.Tensor, rows: number, A: number, o: ActOptions): Promise<ActResult> {
  const d = await out.data();
  out.dispose();
  const logits = new Float32Array(rows * A), values = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let a = 0; a < A; a++) logits[i * A + a] = d[i * (A + 1) + a];
    values[i] = d[i * (A + 1) + A];
  }
  const actions = new Int32Array(o.sample), logp = new Float32Array(o.sample);
  sampleCategorical(logits, o.sample, A, o.rng, o.mode === 'greedy', actions, logp);
  return { actions, logp, values };
}
