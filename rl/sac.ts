// SAC and its Stackelberg versions STSAC-AL (actor leader) and STSAC-CL (critic leader), on the
// run harness. The off-policy machinery (replay, one-dispatch Polyak averaging, the two-player
// update through games/' rules, λ schedule, CG warm start) is rl/ddpg.ts's.
//
// Players (minimise-both): actor f_π(θ, w) = mean(α·log π_θ(ã|s) − min(Q₁, Q₂)_w(s, ã)),
// ã = tanh(μ + σε) reparameterised; critic f_Q(θ, w) = Σᵢ mean (Qᵢ(s, a) − y)²,
// y = r + γ(1 − d)(min Q⁻(s′, a′) − α·log π_θ(a′|s′)), a′ drawn from the CURRENT policy.
//   criticTarget 'standard' (the default of every entry; Spinning Up / CleanRL): y computed
//     without gradient (no θ in f_Q), so the Stackelberg cross terms vanish (STSAC = SAC up to
//     the update order).
//   criticTarget 'released' (the released STSAC code's critic-leader quirk, a named option and
//     the `released` preset): a′ and log π(a′|s′) keep their gradient into θ, so the cross terms
//     are non-zero.
// The noise ε, ε′ of one update is drawn once (GPU RNG, checkpointed by the harness) and reused
// by every evaluation of the losses in that update, so f₁ and f₂ are deterministic functions of
// the parameters (the total derivative differentiates them several times).
// α: fixed 0.2 as released; autoAlpha: true learns log α against the target entropy −dim(A)
// (CleanRL's autotune; log π in the normalised action space).
// Released defaults: 256×256 ReLU, Adam 1e-3 both, batch 100, replay 1e6, polyak 0.995, start
// steps 10k, update after 1000, update every 50.

import * as E from '../engine/index.ts';
import type {
  OffPolicyAlgorithm, OffPolicyAgent, EnvSpec, Transitions, UpdateContext, Stats, ActOptions, ActResult, AgentState, Schema,
} from './harness/types.ts';
import { requireBox, checkFiniteActions, tanhGaussianPolicy, qNetwork, sampleTanhGaussian } from './continuous.ts';
import {
  ContinuousReplay, TwoPlayerUpdater, polyakUpdate, packedCopy, lambdaAt, readStats, validateSt, saveOffPolicyState, loadOffPolicyState, disposePacked,
  ST_SCHEMA, ST_DEFAULTS, RELEASED_PRESETS, PENDULUM_FAST, type DdpgConfig, type CriticTarget, type OffPolicyBatch,
} from './ddpg.ts';
import { OFF_POLICY_SCHEMA, RUN_DEFAULTS } from './harness/config.ts';

type Tensor = E.Tensor;
type Params = E.Params;
type Policy = ReturnType<typeof tanhGaussianPolicy>;
type QNet = ReturnType<typeof qNetwork>;

export interface SacNoise {
  /** ε for the actor's sample at s [B, d]. */
  eps: Tensor;
  /** ε′ for the next action at s′ [B, d]. */
  epsNext: Tensor;
}

/** f_π(θ, w) = mean(α·log π(ã|s) − min(Q₁, Q₂)(s, ã)). alpha: a number or a GPU scalar (a constant here). */
export function sacActorLoss(pi: Policy, q: QNet, actor: Params, critic: Params, b: OffPolicyBatch, n: SacNoise, alpha: number | Tensor): Tensor {
  const { action, logProb } = pi.sample(actor, b.obs, n.eps);
  const q1 = q.apply(critic.q1 as Params, b.obs, action), q2 = q.apply(critic.q2 as Params, b.obs, action);
  return E.mean(E.sub(E.mul(logProb, alpha as Tensor), E.minimum(q1, q2)));
}

/** f_Q(θ, w) = mean(Q₁ − y)² + mean(Q₂ − y)² (see the header for y and the two modes). */
export function sacCriticLoss(
  pi: Policy, q: QNet, actor: Params, critic: Params, target: Params, b: OffPolicyBatch, n: SacNoise, alpha: number | Tensor, gamma: number, mode: CriticTarget,
): Tensor {
  const next = () => {
    const { action, logProb } = pi.sample(actor, b.nextObs, n.epsNext);
    const qn = E.minimum(q.apply(target.q1 as Params, b.nextObs, action), q.apply(target.q2 as Params, b.nextObs, action));
    return E.add(b.rewards, E.mul(E.mul(E.sub(1, b.dones), E.sub(qn, E.mul(logProb, alpha as Tensor))), gamma));
  };
  const y = mode === 'released' ? next() : E.stopGradient(E.noGrad(next));
  return E.add(E.mse(q.apply(critic.q1 as Params, b.obs, b.actions), y), E.mse(q.apply(critic.q2 as Params, b.obs, b.actions), y));
}

export interface SacConfig extends Omit<DdpgConfig, 'actNoise'> {
  /** Entropy temperature α (fixed, as released), or its initial value with autoAlpha. */
  alpha: number;
  autoAlpha: boolean;
  alphaLr: number;
}

const SAC_DEFAULTS: SacConfig = {
  ...RUN_DEFAULTS,
  algo: 'sac',
  env: 'pendulum',
  numEnvs: 1,
  totalSteps: 100_000,
  logEvery: 1000,
  gamma: 0.99,
  learningStarts: 1000,
  trainFreq: 50,
  gradientSteps: 50,
  randomSteps: 10_000,
  batchSize: 100,
  bufferSize: 1_000_000,
  polyak: 0.995,
  actorLr: 1e-3,
  criticLr: 1e-3,
  hidden: [256, 256],
  activation: 'relu',
  alpha: 0.2,
  autoAlpha: false,
  alphaLr: 1e-3,
  ...ST_DEFAULTS,
};

const SAC_SCHEMA: Schema<SacConfig> = {
  ...OFF_POLICY_SCHEMA,
  ...(ST_SCHEMA as Schema<SacConfig>),
  batchSize: { type: 'int', min: 1 },
  bufferSize: { type: 'int', min: 1 },
  polyak: { type: 'number', min: 0, max: 1 },
  actorLr: { type: 'number', positive: true },
  criticLr: { type: 'number', positive: true },
  hidden: { type: 'numbers', int: true, min: 1, minLength: 1 },
  activation: { type: 'string', choices: ['relu', 'tanh'] },
  alpha: { type: 'number', positive: true },
  alphaLr: { type: 'number', positive: true },
};

class SacAgent implements OffPolicyAgent {
  readonly params: { actor: Params; critic: Params; target: Params; logAlpha?: Params };
  readonly optimizers: Record<string, E.Optimizer>;
  private pi: Policy;
  private q: QNet;
  private replay: ContinuousReplay;
  private st: TwoPlayerUpdater<Params, Params>;
  private obsDim: number;
  private actDim: number;

  constructor(private cfg: SacConfig, private env: EnvSpec) {
    requireBox(env, cfg.algo);
    this.obsDim = env.obsSize;
    this.actDim = env.actionDim;
    this.pi = tanhGaussianPolicy(this.obsDim, this.actDim, cfg.hidden, cfg.activation);
    this.q = qNetwork(this.obsDim, this.actDim, cfg.hidden, cfg.activation);
    const actor = E.packParams(this.pi.init(E.childSeed(cfg.seed, 'actor'))).params;
    const critic = E.packParams({ q1: this.q.init(E.childSeed(cfg.seed, 'q1')), q2: this.q.init(E.childSeed(cfg.seed, 'q2')) }).params;
    this.params = { actor, critic, target: packedCopy(critic) };
    this.optimizers = { actor: E.adam(actor, { lr: cfg.actorLr }), critic: E.adam(critic, { lr: cfg.criticLr }) };
    if (cfg.autoAlpha) {
      const la = E.packParams({ value: E.tensor([Math.log(cfg.alpha)], [1]) }).params;
      this.params.logAlpha = la;
      this.optimizers.alpha = E.adam(la, { lr: cfg.alphaLr });
    }
    this.st = new TwoPlayerUpdater(cfg, this.optimizers.actor, this.optimizers.critic);
    this.replay = new ContinuousReplay(Math.min(cfg.bufferSize, Math.max(cfg.totalSteps, 1)), this.obsDim, this.actDim);
  }

  async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const [m, s] = E.scope(() => {
      const d = this.pi.dist(this.params.actor, E.tensor(obs.subarray(0, rows * this.obsDim), [rows, this.obsDim]));
      return [d.mean, d.logStd];
    });
    const [mean, logStd] = await E.readAll([m, s]);
    E.dispose([m, s]);
    const n = o.sample;
    checkFiniteActions(mean.subarray(0, n * this.actDim), this.actDim, o.step, this.env.id, this.cfg.algo);
    const actions = sampleTanhGaussian(mean, logStd, n, this.actDim, o.rng, o.mode === 'greedy', new Float32Array(n * this.actDim));
    checkFiniteActions(actions, this.actDim, o.step, this.env.id, this.cfg.algo);
    return { actions };
  }

  observe(t: Transitions) {
    this.replay.add(t);
  }

  /** α as a GPU scalar constant (exp(log α), no gradient), or the fixed number. */
  private alpha(): number | Tensor {
    const la = this.params.logAlpha;
    return la ? E.stopGradient(E.exp(E.reshape(la.value as Tensor, []))) : this.cfg.alpha;
  }

  async train(ctx: UpdateContext): Promise<Stats> {
    const { cfg } = this;
    const p = this.params;
    let last: Record<string, Tensor> | null = null;
    for (let k = 0; k < cfg.gradientSteps; k++) {
      const b = this.replay.sample(cfg.batchSize, ctx.rng);
      const r = E.scope(() => {
        const noise: SacNoise = { eps: E.randn([cfg.batchSize, this.actDim]), epsNext: E.randn([cfg.batchSize, this.actDim]) };
        const alpha = this.alpha();
        const losses = this.st.update(
          p.actor, p.critic,
          (a, c) => sacActorLoss(this.pi, this.q, a, c, b, noise, alpha),
          (a, c) => sacCriticLoss(this.pi, this.q, a, c, p.target, b, noise, alpha, cfg.gamma, cfg.criticTarget),
          ctx.step,
        );
        const out: Record<string, Tensor> = { ...losses };
        if (p.logAlpha) {
          // CleanRL's temperature loss −log α·(log π + target entropy), target entropy −dim(A).
          const logp = E.noGrad(() => this.pi.sample(p.actor, b.obs, noise.eps).logProb);
          const [la, g] = E.valueAndGrad((t: Params) => E.neg(E.mean(E.mul(E.reshape(t.value as Tensor, []), E.sub(logp, this.actDim)))))(p.logAlpha);
          this.optimizers.alpha.step(p.logAlpha, g as Params);
          out.alpha_loss = la;
          out.alpha = E.exp(E.reshape(p.logAlpha.value as Tensor, []));
        }
        return E.keep(out);
      });
      polyakUpdate([[p.critic, p.target]], cfg.polyak);
      E.dispose(b);
      if (last) E.dispose(last);
      last = r;
      if (k % 10 === 9) await E.sync();
    }
    if (!ctx.wantStats || !last) {
      if (last) E.dispose(last);
      return {};
    }
    const { actorLoss, criticLoss, ...rest } = last;
    const stats = await readStats({ actor_loss: actorLoss, critic_loss: criticLoss, ...rest, neg_curvature: this.st.negCurvature });
    E.dispose(last);
    return { ...stats, lambda: lambdaAt(cfg, ctx.step), ...(p.logAlpha ? {} : { alpha: cfg.alpha }) };
  }

  saveState(): Promise<AgentState> {
    return saveOffPolicyState(this.replay, this.st);
  }

  async loadState(s: AgentState) {
    loadOffPolicyState(this.replay, this.st, this.st.o.stackelberg === 'critic-leader' ? this.params.actor : this.params.critic, s);
  }

  dispose() {
    this.st.dispose();
    for (const o of Object.values(this.optimizers)) o.dispose();
    for (const g of Object.values(this.params)) disposePacked(g);
  }
}

function sacFamily(name: string, over: Partial<SacConfig>): OffPolicyAlgorithm<SacConfig> {
  return {
    name,
    kind: 'off-policy',
    actionSpaces: ['box'],
    defaults: { ...SAC_DEFAULTS, ...over, algo: name },
    schema: SAC_SCHEMA,
    presets: {
      // A budget that fits this 2-core machine (docs/actor-critic.md): small nets, one update per step.
      'pendulum-fast': PENDULUM_FAST,
      ...RELEASED_PRESETS,
    },
    validate: validateSt,
    fixedOnResume: ['hidden', 'activation', 'stackelberg', 'autoAlpha'],
    create: (cfg, env) => new SacAgent(cfg, env),
  };
}

/** SAC (fixed α 0.2 as released; autoAlpha for CleanRL's learned temperature). */
export const sac = sacFamily('sac', {});
/** STSAC-AL: actor leader (total derivative), critics follower; `--config released` for the released critic target. */
export const stsacAl = sacFamily('stsac-al', { stackelberg: 'actor-leader' });
/** STSAC-CL: critics leader, actor follower; `--config released` for the released critic target. */
export const stsacCl = sacFamily('stsac-cl', { stackelberg: 'critic-leader' });
export default sac;
