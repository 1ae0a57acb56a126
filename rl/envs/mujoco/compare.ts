/**
 * Check the models written in models.ts against Gymnasium's own files (not shipped here):
 * compiled model fields side by side, then the same env (same seed, same actions) run on
 * either model.
 *
 *   npx tsx rl/envs/mujoco/compare.ts <Gymnasium checkout>/gymnasium/envs/mujoco/assets [steps]
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeEnvAsync, Rng } from '../index.ts';
import { disposeMujocoEnv, MUJOCO_TASKS, type MujocoCore, type MujocoTaskName } from './index.ts';

/** The file each v5 task loads. */
export const GYMNASIUM_FILES: Record<MujocoTaskName, string> = {
  hopper: 'hopper.xml',
  walker2d: 'walker2d_v5.xml',
  halfcheetah: 'half_cheetah.xml',
  swimmer: 'swimmer.xml',
  reacher: 'reacher.xml',
  ant: 'ant.xml',
};

const FIELDS = [
  'body_mass', 'body_inertia', 'body_ipos', 'body_iquat', 'body_pos', 'qpos0', 'jnt_pos', 'jnt_axis', 'jnt_range',
  'jnt_stiffness', 'jnt_solref', 'jnt_solimp', 'dof_armature', 'dof_damping', 'dof_frictionloss', 'geom_size',
  'geom_pos', 'geom_quat', 'geom_friction', 'geom_solref', 'geom_solimp', 'geom_margin', 'geom_contype',
  'geom_conaffinity', 'geom_condim', 'actuator_gear', 'actuator_ctrlrange',
] as const;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

export interface CompareRow {
  task: MujocoTaskName;
  /** Largest |ours − theirs| over all the compiled fields in FIELDS (Infinity: shapes differ). */
  fieldDiff: number;
  worstField: string;
  /** Largest |Δ| of observations and rewards over `steps` env steps (4 envs, random actions, autoreset). */
  obsDiff: number;
  rewardDiff: number;
  steps: number;
}

export async function compareWithGymnasium(assets: string, steps = 200): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const task of MUJOCO_TASKS) {
    const file = join(assets, GYMNASIUM_FILES[task]);
    if (!existsSync(file)) throw new Error(`no ${GYMNASIUM_FILES[task]} in ${assets}`);
    const ours = await makeEnvAsync(`mujoco/${task}`, { numEnvs: 4, seed: 1 });
    const theirs = await makeEnvAsync(`mujoco/${task}`, { numEnvs: 4, seed: 1, modelFile: file });
    const mo = (ours.envs[0] as MujocoCore).model as unknown as Record<string, ArrayLike<number>>;
    const mt = (theirs.envs[0] as MujocoCore).model as unknown as Record<string, ArrayLike<number>>;
    let fieldDiff = 0;
    let worstField = '';
    for (const k of FIELDS) {
      const d = maxDiff(mo[k]!, mt[k]!);
      if (d > fieldDiff || (d === fieldDiff && !worstField)) [fieldDiff, worstField] = [d, k];
    }
    const pick = new Rng(2, 0);
    let obsDiff = maxDiff(ours.reset(), theirs.reset());
    let rewardDiff = 0;
    for (let t = 0; t < steps; t++) {
      const a = Float32Array.from({ length: 4 * ours.actSize }, () => pick.uniformRange(-1, 1));
      const ra = ours.step(a);
      const oa = ra.obs.slice();
      const rwa = ra.rewards.slice();
      const rb = theirs.step(a);
      obsDiff = Math.max(obsDiff, maxDiff(oa, rb.obs));
      rewardDiff = Math.max(rewardDiff, maxDiff(rwa, rb.rewards));
    }
    rows.push({ task, fieldDiff, worstField, obsDiff, rewardDiff, steps });
    disposeMujocoEnv(ours);
    disposeMujocoEnv(theirs);
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const assets = process.argv[2];
  if (!assets) {
    process.stderr.write('usage: npx tsx rl/envs/mujoco/compare.ts <gymnasium/envs/mujoco/assets> [steps]\n');
    process.exit(2);
  }
  const rows = await compareWithGymnasium(assets, Number(process.argv[3] ?? 200));
  console.log('| task | max field diff (field) | max obs diff | max reward diff | steps × envs |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.task} | ${r.fieldDiff.toExponential(1)} (${r.worstField}) | ${r.obsDiff.toExponential(1)} | ${r.rewardDiff.toExponential(1)} | ${r.steps} × 4 |`);
  }
}
