/**
 * The six MuJoCo tasks as Gymnasium v5 defines them (Farama-Foundation/Gymnasium,
 * gymnasium/envs/mujoco/<task>_v5.py and mujoco_env.py, read at commit 3f0476a for their
 * rules; documented on gymnasium.farama.org/environments/mujoco/). Default arguments only.
 *
 * Common to all: one env step sets ctrl to the action (MuJoCo clamps it to the actuator's
 * ctrlrange [−1, 1]) and runs `frameSkip` mj_step calls; dt = frameSkip × timestep; the
 * control cost is taken on the action as given (not the clamped one), as v5 does; reset is
 * mj_resetData, qpos = qpos0 + noise, qvel = noise, then mj_forward.
 */
import { MODEL_XML } from './models.ts';

export const MUJOCO_TASKS = ['hopper', 'walker2d', 'halfcheetah', 'swimmer', 'reacher', 'ant'] as const;
export type MujocoTaskName = (typeof MUJOCO_TASKS)[number];

export type ResetNoise =
  /** qpos += U(−s, s), qvel += U(−s, s) (Hopper, Walker2d, Swimmer). */
  | { kind: 'uniform'; scale: number }
  /** qpos += U(−s, s), qvel += s·N(0, 1) (HalfCheetah, Ant). */
  | { kind: 'uniform-normal'; scale: number }
  /** Reacher's own rule (see MujocoCore.reset). */
  | { kind: 'reacher' };

export interface MujocoTask {
  name: MujocoTaskName;
  /** Gymnasium's id of the task followed. */
  gymId: string;
  xml: () => string;
  frameSkip: number;
  /** Gymnasium's registered TimeLimit. */
  maxEpisodeSteps: number;
  obsSize: number;
  nq: number;
  nv: number;
  nu: number;
  resetNoise: ResetNoise;
  /** Bodies the task reads by name (a replacement model must have them). */
  bodies: string[];
  /** How renderSvg looks at the model. */
  view: 'side' | 'top' | 'side+top';
  description: string;
}

export const TASKS: Record<MujocoTaskName, MujocoTask> = {
  hopper: {
    name: 'hopper',
    gymId: 'Hopper-v5',
    xml: MODEL_XML.hopper,
    frameSkip: 4, // hopper_v5.py frame_skip 4 → dt 0.008
    maxEpisodeSteps: 1000,
    obsSize: 11, // qpos[1:] (5) + clip(qvel, ±10) (6)
    nq: 6,
    nv: 6,
    nu: 3,
    resetNoise: { kind: 'uniform', scale: 5e-3 },
    bodies: ['torso'],
    view: 'side',
    description: 'Hopper-v5 (11 floats, 3 torques in [−1, 1], cap 1000)',
  },
  walker2d: {
    name: 'walker2d',
    gymId: 'Walker2d-v5',
    xml: MODEL_XML.walker2d,
    frameSkip: 4, // walker2d_v5.py frame_skip 4 → dt 0.008
    maxEpisodeSteps: 1000,
    obsSize: 17, // qpos[1:] (8) + clip(qvel, ±10) (9)
    nq: 9,
    nv: 9,
    nu: 6,
    resetNoise: { kind: 'uniform', scale: 5e-3 },
    bodies: ['torso'],
    view: 'side',
    description: 'Walker2d-v5 (17 floats, 6 torques in [−1, 1], cap 1000)',
  },
  halfcheetah: {
    name: 'halfcheetah',
    gymId: 'HalfCheetah-v5',
    xml: MODEL_XML.halfcheetah,
    frameSkip: 5, // half_cheetah_v5.py frame_skip 5 → dt 0.05
    maxEpisodeSteps: 1000,
    obsSize: 17, // qpos[1:] (8) + qvel (9)
    nq: 9,
    nv: 9,
    nu: 6,
    resetNoise: { kind: 'uniform-normal', scale: 0.1 },
    bodies: ['torso'],
    view: 'side',
    description: 'HalfCheetah-v5 (17 floats, 6 torques in [−1, 1], cap 1000, never terminates)',
  },
  swimmer: {
    name: 'swimmer',
    gymId: 'Swimmer-v5',
    xml: MODEL_XML.swimmer,
    frameSkip: 4, // swimmer_v5.py frame_skip 4 → dt 0.04
    maxEpisodeSteps: 1000,
    obsSize: 8, // qpos[2:] (3) + qvel (5)
    nq: 5,
    nv: 5,
    nu: 2,
    resetNoise: { kind: 'uniform', scale: 0.1 },
    bodies: ['torso'],
    view: 'top',
    description: 'Swimmer-v5 (8 floats, 2 torques in [−1, 1], cap 1000, never terminates)',
  },
  reacher: {
    name: 'reacher',
    gymId: 'Reacher-v5',
    xml: MODEL_XML.reacher,
    frameSkip: 2, // reacher_v5.py frame_skip 2 → dt 0.02
    maxEpisodeSteps: 50,
    obsSize: 10, // cos θ (2), sin θ (2), target xy (2), θ̇ (2), (fingertip − target) xy (2)
    nq: 4,
    nv: 4,
    nu: 2,
    resetNoise: { kind: 'reacher' },
    bodies: ['fingertip', 'target'],
    view: 'top',
    description: 'Reacher-v5 (10 floats, 2 torques in [−1, 1], cap 50, never terminates)',
  },
  ant: {
    name: 'ant',
    gymId: 'Ant-v5',
    xml: MODEL_XML.ant,
    frameSkip: 5, // ant_v5.py frame_skip 5 → dt 0.05
    maxEpisodeSteps: 1000,
    obsSize: 105, // qpos[2:] (13) + qvel (14) + clip(cfrc_ext[1:], ±1) (13 bodies × 6)
    nq: 15,
    nv: 14,
    nu: 8,
    resetNoise: { kind: 'uniform-normal', scale: 0.1 },
    bodies: ['torso'],
    view: 'side+top',
    description: 'Ant-v5 (105 floats incl. contact forces, 8 torques in [−1, 1], cap 1000)',
  },
};

/** Reward weights and health ranges (the v5 defaults). */
export const V5 = {
  hopper: {
    forwardWeight: 1,
    ctrlCostWeight: 1e-3,
    healthyReward: 1,
    /** Open intervals: healthy when every bound holds strictly. */
    healthyZ: [0.7, Infinity],
    healthyAngle: [-0.2, 0.2],
    /** On qpos[2:] and all of qvel. */
    healthyState: [-100, 100],
    obsVelClip: 10,
  },
  walker2d: {
    forwardWeight: 1,
    ctrlCostWeight: 1e-3,
    healthyReward: 1,
    healthyZ: [0.8, 2.0],
    healthyAngle: [-1, 1],
    obsVelClip: 10,
  },
  halfcheetah: { forwardWeight: 1, ctrlCostWeight: 0.1 },
  swimmer: { forwardWeight: 1, ctrlCostWeight: 1e-4 },
  reacher: { distWeight: 1, ctrlWeight: 1, goalRadius: 0.2, qposNoise: 0.1, qvelNoise: 0.005 },
  ant: {
    forwardWeight: 1,
    ctrlCostWeight: 0.5,
    contactCostWeight: 5e-4,
    healthyReward: 1,
    /** Closed interval on the torso height qpos[2], plus every qpos/qvel finite. */
    healthyZ: [0.2, 1.0],
    contactForceRange: [-1, 1],
  },
} as const;
