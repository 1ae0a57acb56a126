// On-policy actor-critic as released with the Stackelberg actor-critic paper (a Spinning Up VPG
// variant), and STAC, its actor-leader version, on the run harness.
//
// Per batch (numEnvs × numSteps env steps, 4000 as released; GAE(γ, λ) by the harness, advantages
// normalised over the batch as Spinning Up's buffer does): ONE plain-SGD step of the actor
// (lr 0.1), then m = followerSteps plain-SGD steps of the critic (lr 0.01; 80 as released).
// Networks: (64, 32) tanh, Gaussian (state-independent log-std) on Box spaces, categorical on
// discrete ones; V(s) with the same hidden sizes.
//
// The game (minimise-both), with J(θ) = mean(log π_θ(a|s)·Â):
//   leader (actor)   f₁(θ, w) = −J(θ) − mean V_w(s)
//     (the released code's two pieces: ∇_θ f₁ from the policy-gradient surrogate, ∇_w f₁ from
//     the critic's mean value; f₁ is their sum, which has exactly those partial derivatives)
//   follower (critic) f₂(θ, w) = mean (V_w(s) − R)² + a zero-valued cross term that gives
//     ∇²_θw f₂ the score-function (likelihood-ratio) estimate:
//     crossTerm 'score' (default): mean(ρ_θ·(V_w(s) − R)²) with ρ = π_θ/stopgrad(π_θ) (value 1),
//       ∇_θ∇_w f₂ = mean(∇log π(a|s)·2(V_w(s) − R)∇V_w(s)) (the line the released code has
//       commented out);
//     crossTerm 'released': + 2(J − stopgrad J)(R₀ − V_w(s₀)) (the released surrogate: one
//       sample, s₀ the batch's first state).
//   Neither changes f₂'s value, ∇_w f₂ or ∇²_ww f₂ (tests check this).
// leaderRule 'total' (STAC): the actor follows ∇₁f₁ − ∇²₂₁f₂ (∇²₂₂f₂ + λ_t I)⁻¹ ∇₂f₁ (CG,
// cgIters, warm start from the previous batch's solution, negative curvature stops CG);
// 'sequential' (AC): the individual gradient ∇₁f₁ = −∇J. Released: λ = 0 on CartPole, 500 on
// continuous tasks. Value targets: the harness's GAE(λ) returns (Spinning Up uses the plain
// discounted rewards-to-go; a documented difference).

import * as E from '../engine/index.ts';
import { stackelbergGradients, followerGradient } from '../games/game.ts';
import type {
  OnPolicyAlgorithm, OnPolicyAgent, OnPolicyConfig, EnvSpec, Rollout, UpdateContext, Stats, ActOptions, ActResult, AgentState, Schema,
} from './harness/types.ts';
import { ON_POLICY_SCHEMA, RUN_DEFAULTS } from './harness/config.ts';
import { sampleCategorical, sampleDiagGaussian } from './harness/policy.ts';
import { categoricalPolicy, gaussianPolicy, vNetwork, checkFiniteActions } from './continuous.ts';
import { lambdaAt, readStats, disposePacked } from './ddpg.ts';
import type { NamedArrays } from '../engine/safetensors.ts';

type Tensor = E.Tensor;
type Params = E.Params;

export type CrossTerm = 'score' | 'released';

export interface AcBatch {
  obs: Tensor;
  /** [B] action indices (discrete) or [B, d] actions (Box, normalised). */
  actions: Tensor;
  /** [B] normalised advantages. */
  adv: Tensor;
  /** [B] value targets. */
  returns: Tensor;
}

type AnyPolicy = ReturnType<typeof categoricalPolicy> | ReturnType<typeof gaussianPolicy>;
type VNet = ReturnType<typeof vNetwork>;

/** J(θ) = mean(log π_θ(a|s)·Â). */
export function acObjective(pi: AnyPolicy, actor: Params, b: AcBatch): Tensor {
  return E.mean(E.mul(pi.logProb(actor, b.obs, b.actions), b.adv));
}

/** f₁(θ, w) = −J(θ) − mean V_w(s). */
export function acLeaderLoss(pi: AnyPolicy, v: VNet, actor: Params, critic: Params, b: AcBatch): Tensor {
  return E.neg(E.add(acObjective(pi, actor, b), E.mean(v.apply(critic, b.obs))));
}

/** f₂(θ, w) = mean(V_w(s) − R)² plus the zero-valued cross term (see the header). */
export function acFollowerLoss(pi: AnyPolicy, v: VNet, actor: Params, critic: Params, b: AcBatch, cross: CrossTerm): Tensor {
  const V = v.apply(critic, b.obs);
  const sq = E.square(E.sub(V, b.returns));
  if (cross === 'score') {
    const lp = pi.logProb(actor, b.obs, b.actions);
    const rho = E.exp(E.sub(lp, E.stopGradient(lp)));
    return E.mean(E.mul(rho, sq));
  }
  const J = acObjective(pi, actor, b);
  const dJ = E.sub(J, E.stopGradient(J));
  const r0 = E.sub(E.slice(b.returns, [[0, 1]]), E.slice(V, [[0, 1]]));
  return E.add(E.mean(sq), E.mul(E.sum(r0), E.mul(dJ, 2)));
}

export interface AcConfig extends OnPolicyConfig {
  hidden: number[];
  activation: 'tanh' | 'relu';
  piLr: number;
  vfLr: number;
  /** m: critic steps per actor step (train_v_iters: 80 as released). */
  followerSteps: number;
  leaderRule: 'total' | 'sequential';
  lambda: number;
  lambdaDecay: number;
  cgIters: number;
  /** CG on a direction with pᵀ(∇²₂₂f₂ + λI)p ≤ 0 (engine/solvers.ts NegativeCurvatureMode). */
  negativeCurvature: 'stop' | 'damp' | 'ignore';
  crossTerm: CrossTerm;
  normAdv: boolean;
}

const AC_DEFAULTS: AcConfig = {
  ...RUN_DEFAULTS,
  algo: 'ac',
  env: 'cartpole',
  numEnvs: 4,
  numSteps: 1000,
  totalSteps: 200_000,
  logEvery: 4000,
  gamma: 0.99,
  gaeLambda: 0.97,
  hidden: [64, 32],
  activation: 'tanh',
  piLr: 0.1,
  vfLr: 0.01,
  followerSteps: 80,
  leaderRule: 'sequential',
  lambda: 0,
  lambdaDecay: 0,
  cgIters: 10,
  negativeCurvature: 'stop',
  crossTerm: 'score',
  normAdv: true,
};

const AC_SCHEMA: Schema<AcConfig> = {
  ...ON_POLICY_SCHEMA,
  hidden: { type: 'numbers', int: true, min: 1, minLength: 1 },
  activation: { type: 'string', choices: ['tanh', 'relu'] },
  piLr: { type: 'number', positive: true },
  vfLr: { type: 'number', positive: true },
  followerSteps: { type: 'int', min: 1 },
  leaderRule: { type: 'string', choices: ['total', 'sequential'] },
  lambda: { type: 'number', min: 0 },
  lambdaDecay: { type: 'number', min: 0 },
  cgIters: { type: 'int', min: 1 },
  negativeCurvature: { type: 'string', choices: ['stop', 'damp', 'ignore'] },
  crossTerm: { type: 'string', choices: ['score', 'released'] },
};

class AcAgent implements OnPolicyAgent {
  readonly params: { actor: Params; critic: Params };
  readonly optimizers: Record<string, E.Optimizer>;
  private pi: AnyPolicy;
  private v: VNet;
  private discrete: boolean;
  private obsDim: number;
  private actDim: number;
  private warm: Params | null = null;
  private negCurvature: Tensor = E.keep(E.zeros([]));

  constructor(private cfg: AcConfig, private env: EnvSpec) {
    this.obsDim = env.obsSize;
    this.discrete = env.actionSpace.kind === 'discrete';
    this.actDim = env.actionDim;
    this.pi = env.actionSpace.kind === 'discrete'
      ? categoricalPolicy(this.obsDim, env.actionSpace.n, cfg.hidden, cfg.activation)
      : gaussianPolicy(this.obsDim, this.actDim, cfg.hidden, cfg.activation);
    this.v = vNetwork(this.obsDim, cfg.hidden, cfg.activation);
    const actor = E.packParams(this.pi.init(E.childSeed(cfg.seed, 'actor'))).params;
    const critic = E.packParams(this.v.init(E.childSeed(cfg.seed, 'critic'))).params;
    this.params = { actor, critic };
    this.optimizers = { actor: E.sgd(actor, { lr: cfg.piLr }), critic: E.sgd(critic, { lr: cfg.vfLr }) };
  }

  async act(obs: Float32Array, rows: number, o: ActOptions): Promise<ActResult> {
    const p = this.params;
    const outs = E.scope(() => {
      const x = E.tensor(obs.subarray(0, rows * this.obsDim), [rows, this.obsDim]);
      const V = this.v.apply(p.critic, x);
      if (this.pi.kind === 'categorical') return [this.pi.logits(p.actor, x), V];
      return [this.pi.mean(p.actor, x), V, E.clone(p.actor.logStd as Tensor)];
    });
    const vals = await E.readAll(outs);
    E.dispose(outs);
    const n = o.sample;
    const logp = new Float32Array(n);
    let actions: Int32Array | Float32Array;
    if (this.pi.kind === 'categorical') {
      checkFiniteActions(vals[0].subarray(0, n * this.pi.numActions), this.pi.numActions, o.step, this.env.id, this.cfg.algo);
      actions = new Int32Array(n);
      sampleCategorical(vals[0], n, this.pi.numActions, o.rng, o.mode === 'greedy', actions, logp);
    } else {
      actions = new Float32Array(n * this.actDim);
      sampleDiagGaussian(vals[0], vals[2], n, this.actDim, o.rng, o.mode === 'greedy', actions, logp);
      checkFiniteActions(actions, this.actDim, o.step, this.env.id, this.cfg.algo);
    }
    return { actions, logp, values: vals[1] };
  }

  async update(ro: Rollout, ctx: UpdateContext): Promise<Stats> {
    const { cfg } = this;
    const p = this.params;
    const B = ro.T * ro.N;
    const adv = Float32Array.from(ro.advantages);
    if (cfg.normAdv) {
      let m = 0, s = 0;
      for (const a of adv) m += a;
      m /= B;
      for (const a of adv) s += (a - m) ** 2;
      const sd = Math.sqrt(s / B) || 1;
      for (let i = 0; i < B; i++) adv[i] = (adv[i] - m) / sd;
    }
    const b: AcBatch = {
      obs: E.tensor(ro.obs.subarray(0, B * this.obsDim), [B, this.obsDim]),
      actions: this.discrete ? E.tensor(ro.actions.subarray(0, B), [B]) : E.tensor(ro.actions.subarray(0, B * this.actDim), [B, this.actDim]),
      adv: E.tensor(adv, [B]),
      returns: E.tensor(ro.returns, [B]),
    };
    const game = {
      leaderLoss: (a: Params, c: Params) => acLeaderLoss(this.pi, this.v, a, c, b),
      followerLoss: (a: Params, c: Params) => acFollowerLoss(this.pi, this.v, a, c, b, cfg.crossTerm),
    };
    const out = E.scope(() => {
      const rule = cfg.leaderRule === 'total'
        ? { kind: 'total' as const, lambda: lambdaAt(cfg, ctx.step), cgIters: cfg.cgIters, negativeCurvature: cfg.negativeCurvature, ...(this.warm ? { warmStart: this.warm } : {}) }
        : { kind: 'sequential' as const };
      const sg = stackelbergGradients(game, p.actor, p.critic, rule);
      const piLoss = acObjective(this.pi, p.actor, b);
      const ent = this.pi.kind === 'categorical' ? this.pi.entropy(p.actor, b.obs) : this.pi.entropy(p.actor);
      const gradNorm = E.sqrt(E.innerProduct(sg.leaderGrad, sg.leaderGrad));
      this.optimizers.actor.step(p.actor, sg.leaderGrad as Params);
      if (sg.implicit) {
        const old = this.warm;
        this.warm = E.keep(sg.implicit as Params);
        if (old) E.dispose(old);
      }
      if (sg.negativeCurvature) {
        const acc = E.keep(E.add(this.negCurvature, sg.negativeCurvature));
        this.negCurvature.dispose();
        this.negCurvature = acc;
      }
      let vLoss: Tensor = E.zeros([]);
      for (let k = 0; k < cfg.followerSteps; k++) {
        const g = followerGradient(game, p.actor, p.critic);
        this.optimizers.critic.step(p.critic, g.grad as Params);
        if (k === 0) vLoss = g.value;
      }
      return E.keep({ pi_objective: piLoss, v_loss: vLoss, entropy: ent, leader_grad_norm: gradNorm });
    });
    E.dispose(b);
    const stats = await readStats({ ...out, neg_curvature: this.negCurvature });
    E.dispose(out);
    return { ...stats, lambda: lambdaAt(cfg, ctx.step) };
  }

  async saveState(): Promise<AgentState> {
    const arrays: NamedArrays = {};
    if (this.warm) {
      const named = E.namedParams(this.warm);
      const vals = await E.readAll(Object.values(named));
      Object.keys(named).forEach((k, i) => (arrays[`warm.${k}`] = { data: vals[i], shape: named[k].shape }));
    }
    arrays.negCurvature = { data: await this.negCurvature.data(), shape: [] };
    return { arrays };
  }

  async loadState(s: AgentState) {
    const a = s.arrays ?? {};
    const shapes = E.namedParams(this.params.critic);
    const names = Object.keys(shapes);
    if (names.every((n) => a[`warm.${n}`])) {
      if (this.warm) E.dispose(this.warm);
      this.warm = E.keep(E.fromNamed(Object.fromEntries(names.map((n) => [n, E.tensor(a[`warm.${n}`].data as Float32Array, shapes[n].shape)]))));
    }
    if (a.negCurvature) {
      this.negCurvature.dispose();
      this.negCurvature = E.keep(E.tensor(a.negCurvature.data as Float32Array, []));
    }
  }

  dispose() {
    if (this.warm) E.dispose(this.warm);
    this.negCurvature.dispose();
    for (const o of Object.values(this.optimizers)) o.dispose();
    for (const g of Object.values(this.params)) disposePacked(g);
  }
}

function acFamily(name: string, over: Partial<AcConfig>): OnPolicyAlgorithm<AcConfig> {
  return {
    name,
    kind: 'on-policy',
    actionSpaces: ['discrete', 'box'],
    defaults: { ...AC_DEFAULTS, ...over, algo: name },
    schema: AC_SCHEMA,
    presets: {
      // CartPole at a budget this 2-core machine can afford (docs/actor-critic.md).
      // (The released actor step 0.1 needs ~10⁵ steps on CartPole; 0.5 learns within this budget.
      // At that step STAC's released λ = 0 collapses the policy (docs/actor-critic.md, λ ablation);
      // λ = 100 is this preset's. `ac` ignores λ.)
      'cartpole-fast': { env: 'cartpole', numEnvs: 4, numSteps: 250, totalSteps: 20_000, followerSteps: 20, piLr: 0.5, lambda: 100, logEvery: 1000 },
      // The paper's continuous-task λ.
      pendulum: { env: 'pendulum', lambda: 500 },
    },
    validate(cfg) {
      if (cfg.leaderRule === 'sequential' && cfg.cgIters !== AC_DEFAULTS.cgIters) throw new Error(`${cfg.algo}: cgIters applies to leaderRule 'total' (STAC) only`);
    },
    fixedOnResume: ['hidden', 'activation'],
    create: (cfg, env) => new AcAgent(cfg, env),
  };
}

/** On-policy actor-critic as released (individual gradients, the sequential rule). */
export const ac = acFamily('ac', {});
/** STAC: the actor leads with the total derivative (λ = 0 on CartPole as released). */
export const stac = acFamily('stac', { leaderRule: 'total' });
export default ac;
