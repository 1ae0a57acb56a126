// Every algorithm of rl/, one line each. The CLI resolves --algo here (an unknown name prints
// this list), and the README's algorithm table is generated from / checked against it (the
// docs engineer's test), so `status` must stay true at every commit:
//   implemented  the module exists and trains through the harness (`train --algo <name>` runs)
//   tested       the test file(s) that check its behaviour, or null
//   results      the docs page with measured results (command and host named there), or null
// Adding an algorithm: write its module (export default an OnPolicyAlgorithm/OffPolicyAlgorithm,
// see rl/harness/types.ts) and add ONE line below. Factories import lazily, so a module in
// progress never breaks the others.

import type { Algorithm } from './harness/types.ts';

export interface AlgorithmEntry {
  name: string;
  summary: string;
  /** The paper (authors, title, venue/year). */
  paper: string;
  factory: () => Promise<Algorithm>;
  status: { implemented: boolean; tested: string | null; results: string | null };
}

export const ALGORITHMS: AlgorithmEntry[] = [
  { name: 'ppo', summary: 'PPO, CleanRL-faithful (clipped surrogate, GAE, clipped value loss)', paper: 'Schulman et al., Proximal Policy Optimization Algorithms, 2017', factory: async () => (await import('./ppo.ts')).default, status: { implemented: true, tested: 'test/rl/learning.test.ts, test/rl/gpu_rollout.test.ts', results: 'docs/rl.md' } },
  { name: 'sprig', summary: 'SPRIG: perception leader (conv + gated spatio-temporal attention), policy/value follower inside PPO; sequential or exact total-derivative leader update', paper: 'SPRIG (Stackelberg perception-RL game; Algorithm 1 and Eq. 8 as described in docs/rl.md)', factory: async () => (await import('./sprig.ts')).default, status: { implemented: true, tested: 'test/rl/learning.test.ts, test/rl/sprig.test.ts, test/rl/gpu_rollout.test.ts', results: 'docs/rl.md' } },
  { name: 'dqn', summary: 'DQN (MinAtar reference settings by default; Huber/MSE, centred RMSProp/Adam, hard target copies)', paper: 'Mnih et al., Human-level control through deep reinforcement learning, Nature 2015; Young & Tian, MinAtar, 2019', factory: async () => (await import('./dqn.ts')).dqnAlgorithms['dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'double-dqn', summary: 'Double DQN (online argmax, target value)', paper: 'van Hasselt, Guez & Silver, Deep Reinforcement Learning with Double Q-learning, AAAI 2016', factory: async () => (await import('./dqn.ts')).dqnAlgorithms['double-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'dueling-dqn', summary: 'Dueling DQN (V and A streams, Q = V + A − mean A)', paper: 'Wang et al., Dueling Network Architectures for Deep Reinforcement Learning, ICML 2016', factory: async () => (await import('./dqn.ts')).dqnAlgorithms['dueling-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'dueling-double-dqn', summary: 'Dueling Double DQN', paper: 'Wang et al., ICML 2016 with van Hasselt et al., AAAI 2016', factory: async () => (await import('./dqn.ts')).dqnAlgorithms['dueling-double-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'scorer-dqn', summary: 'SCORER over dqn: Q-head leader (MSBE), encoder follower (BEV) on a fresh batch; options: MSBE follower, reversed roles, exact total-derivative leader', paper: 'SCORER (Stackelberg DQN: control leads, perception follows; as described in docs/dqn.md)', factory: async () => (await import('./scorer.ts')).scorerAlgorithms['scorer-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'scorer-double-dqn', summary: 'SCORER over double-dqn: Q-head leader (MSBE), encoder follower (BEV) on a fresh batch; options: MSBE follower, reversed roles, exact total-derivative leader', paper: 'SCORER (Stackelberg DQN: control leads, perception follows; as described in docs/dqn.md)', factory: async () => (await import('./scorer.ts')).scorerAlgorithms['scorer-double-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'scorer-dueling-dqn', summary: 'SCORER over dueling-dqn: Q-head leader (MSBE), encoder follower (BEV) on a fresh batch; options: MSBE follower, reversed roles, exact total-derivative leader', paper: 'SCORER (Stackelberg DQN: control leads, perception follows; as described in docs/dqn.md)', factory: async () => (await import('./scorer.ts')).scorerAlgorithms['scorer-dueling-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'scorer-dueling-double-dqn', summary: 'SCORER over dueling-double-dqn: Q-head leader (MSBE), encoder follower (BEV) on a fresh batch; options: MSBE follower, reversed roles, exact total-derivative leader', paper: 'SCORER (Stackelberg DQN: control leads, perception follows; as described in docs/dqn.md)', factory: async () => (await import('./scorer.ts')).scorerAlgorithms['scorer-dueling-double-dqn'], status: { implemented: true, tested: 'test/rl/dqn_losses.test.ts, test/rl/dqn_nets.test.ts, test/rl/replay.test.ts, test/rl/dqn_resume.test.ts, test/rl/scorer.test.ts, test/rl/dqn_learning.test.ts, test/rl/dqn_gpu_env.test.ts', results: 'docs/dqn.md' } },
  { name: 'ac', summary: 'On-policy actor-critic as released with STAC (VPG-style: GAE, (64, 32) tanh, plain SGD, m critic steps)', paper: 'Zheng, Fiez, Alumbaugh, Chasnov, Ratliff, Stackelberg Actor-Critic: Game-Theoretic Reinforcement Learning Algorithms, AAAI 2022', factory: async () => (await import('./ac.ts')).ac, status: { implemented: true, tested: 'test/rl/ac.test.ts, test/rl/ac_total_derivative.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'stac', summary: 'STAC: actor leader with the total derivative (CG, λ schedule, warm start), critic follower with m steps', paper: 'Zheng, Fiez, Alumbaugh, Chasnov, Ratliff, Stackelberg Actor-Critic: Game-Theoretic Reinforcement Learning Algorithms, AAAI 2022', factory: async () => (await import('./ac.ts')).stac, status: { implemented: true, tested: 'test/rl/ac.test.ts, test/rl/ac_total_derivative.test.ts, test/rl/ac_share_primal.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'ddpg', summary: 'DDPG (Spinning Up, as the released STDDPG builds on): deterministic tanh actor + noise, target networks, one-dispatch Polyak', paper: 'Lillicrap et al., Continuous control with deep reinforcement learning, ICLR 2016', factory: async () => (await import('./ddpg.ts')).ddpg, status: { implemented: true, tested: 'test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'stddpg-al', summary: 'STDDPG-AL: actor leader (total derivative), critic follower; stop-gradient critic target (--config released: the released quirk)', paper: 'Zheng et al., Stackelberg Actor-Critic, AAAI 2022', factory: async () => (await import('./ddpg.ts')).stddpgAl, status: { implemented: true, tested: 'test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts, test/rl/ac_resume.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'stddpg-cl', summary: 'STDDPG-CL: critic leader (total derivative), actor follower; stop-gradient critic target (--config released: the released quirk)', paper: 'Zheng et al., Stackelberg Actor-Critic, AAAI 2022', factory: async () => (await import('./ddpg.ts')).stddpgCl, status: { implemented: true, tested: 'test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts, test/rl/sac.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'sac', summary: 'SAC (two Q networks, tanh-Gaussian actor, fixed α 0.2 as released; autoAlpha option)', paper: 'Haarnoja et al., Soft Actor-Critic, ICML 2018', factory: async () => (await import('./sac.ts')).sac, status: { implemented: true, tested: 'test/rl/sac.test.ts, test/rl/sac_alpha.test.ts, test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'stsac-al', summary: 'STSAC-AL: actor leader (total derivative), critics follower; stop-gradient critic target (--config released: the released quirk)', paper: 'Zheng et al., Stackelberg Actor-Critic, AAAI 2022', factory: async () => (await import('./sac.ts')).stsacAl, status: { implemented: true, tested: 'test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts, test/rl/sac.test.ts', results: 'docs/actor-critic.md' } },
  { name: 'stsac-cl', summary: 'STSAC-CL: critics leader (total derivative), actor follower; stop-gradient critic target (--config released: the released quirk)', paper: 'Zheng et al., Stackelberg Actor-Critic, AAAI 2022', factory: async () => (await import('./sac.ts')).stsacCl, status: { implemented: true, tested: 'test/rl/ac_total_derivative.test.ts, test/rl/ac_policies.test.ts, test/rl/ac_updater.test.ts, test/rl/ac_resume.test.ts', results: 'docs/actor-critic.md' } },
];

export const ALGORITHM_NAMES = (): string[] => ALGORITHMS.map((a) => a.name);

/** The registry as lines "name  summary" (for `--algo` errors and `rl list`). */
export function algorithmList(): string {
  const w = Math.max(...ALGORITHMS.map((a) => a.name.length));
  return ALGORITHMS.map((a) => `  ${a.name.padEnd(w)}  ${a.summary}${a.status.implemented ? '' : ' (not implemented yet)'}`).join('\n');
}

/** The algorithm module registered as `name`; an unknown name is an error listing the registry. */
export async function getAlgorithm(name: string): Promise<Algorithm> {
  const e = ALGORITHMS.find((a) => a.name === name);
  if (!e) throw new Error(`unknown algorithm '${name}'; registered algorithms:\n${algorithmList()}`);
  if (!e.status.implemented) throw new Error(`algorithm '${name}' is registered but not implemented yet`);
  const algo = await e.factory();
  if (algo.name !== name) throw new Error(`registry: the module of '${name}' exports '${algo.name}'`);
  return algo;
}
