/**
 * One MuJoCo task instance (an EnvCore): its own MjData on a model shared by the batch.
 * See tasks.ts for the rules followed and docs/mujoco.md.
 */
import type { MainModule, MjData, MjModel } from 'mujoco-js';
import type { Rng } from '../rng.ts';
import type { EnvCore } from '../types.ts';
import { renderMujocoSvg, renderMujocoText, type Pose } from './render.ts';
import { TASKS, V5, type MujocoTask, type MujocoTaskName } from './tasks.ts';

/** The reward of the last step, by component, as Gymnasium v5's info dict names them. */
export interface RewardInfo {
  /** forward weight × x velocity (0 for Reacher). */
  reward_forward: number;
  /** −ctrl cost (Reacher: −‖a‖²). */
  reward_ctrl: number;
  /** healthy reward (Hopper, Walker2d, Ant; 0 otherwise). */
  reward_survive: number;
  /** −contact cost (Ant; 0 otherwise). */
  reward_contact: number;
  /** −‖fingertip − target‖ (Reacher; 0 otherwise). */
  reward_dist: number;
  /** (x after − x before) / dt: qpos[0] for the planar tasks and Swimmer, the torso's xpos for Ant. */
  x_velocity: number;
  y_velocity: number;
}

/** JSON checkpoint of one core: MuJoCo's integration state plus what the task caches. */
export interface MujocoCoreState {
  task: MujocoTaskName;
  time: number;
  qpos: number[];
  qvel: number[];
  /** qacc_warmstart: the constraint solver starts from it, so an exact resume needs it. */
  warmstart: number[];
  obs: number[];
  terminated: boolean;
  /** Ant: torso xy at the end of the last step (the x velocity's "before"). */
  prevXY: [number, number];
  info: RewardInfo;
}

const zeroInfo = (): RewardInfo => ({
  reward_forward: 0,
  reward_ctrl: 0,
  reward_survive: 0,
  reward_contact: 0,
  reward_dist: 0,
  x_velocity: 0,
  y_velocity: 0,
});

/** A model shared by the cores of one batch; freed when the last core is disposed. */
export class SharedModel {
  private users = 0;
  constructor(
    readonly mj: MainModule,
    readonly model: MjModel,
  ) {}
  acquire(): void {
    this.users++;
  }
  release(): void {
    if (--this.users === 0) this.model.delete();
  }
}

// MjData lives on the WebAssembly heap, out of the garbage collector's sight: free it when a
// core is collected without dispose().
interface Handle {
  data: MjData;
  scratch?: MjData;
  shared: SharedModel;
}
const finalizer = new FinalizationRegistry<Handle>((h) => {
  h.scratch?.delete();
  h.data.delete();
  h.shared.release();
});

/** Standard normal draw (Box–Muller on two of the env's uniform words). */
function normal(rng: Rng): number {
  const u1 = 1 - rng.uniform(); // (0, 1]
  const u2 = rng.uniform();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

export class MujocoCore implements EnvCore {
  readonly task: MujocoTask;
  readonly mj: MainModule;
  readonly model: MjModel;
  readonly data: MjData;
  /** dt = frameSkip × timestep (the velocity in the forward reward is Δx / dt). */
  readonly dt: number;
  readonly nq: number;
  readonly nv: number;
  readonly nu: number;
  terminated = false;
  /** Reward components of the last step (overwritten each step; kept through autoreset). */
  readonly info: RewardInfo = zeroInfo();
  /** The current observation in float64 (writeObs rounds it to float32). */
  readonly obs: Float64Array;
  private readonly qpos0: Float64Array;
  private prevXY: [number, number] = [0, 0];
  private readonly bodyIds: Record<string, number> = {};
  private readonly handle: Handle;
  private disposed = false;
  /** Cached heap views (re-made when the WebAssembly memory grows and detaches them). */
  private v!: {
    qpos: Float64Array;
    qvel: Float64Array;
    ctrl: Float64Array;
    xpos: Float64Array;
    cfrc: Float64Array;
    warm: Float64Array;
  };

  constructor(
    task: MujocoTaskName,
    private readonly shared: SharedModel,
  ) {
    this.task = TASKS[task];
    this.mj = shared.mj;
    this.model = shared.model;
    this.data = new this.mj.MjData(this.model);
    shared.acquire();
    this.handle = { data: this.data, shared };
    finalizer.register(this, this.handle, this);
    this.nq = this.model.nq;
    this.nv = this.model.nv;
    this.nu = this.model.nu;
    this.dt = this.model.opt.timestep * this.task.frameSkip;
    this.qpos0 = Float64Array.from(this.model.qpos0 as Float64Array);
    for (const b of this.task.bodies) this.bodyIds[b] = this.mj.mj_name2id(this.model, this.mj.mjtObj.mjOBJ_BODY.value, b);
    this.obs = new Float64Array(this.task.obsSize);
    this.views();
  }

  /** Heap views, refreshed when a memory growth detached the cached ones. */
  private views() {
    if (this.disposed) throw new Error(`mujoco/${this.task.name}: this env was disposed`);
    if (!this.v || this.v.qpos.byteLength === 0) {
      const d = this.data;
      this.v = {
        qpos: d.qpos as Float64Array,
        qvel: d.qvel as Float64Array,
        ctrl: d.ctrl as Float64Array,
        xpos: d.xpos as Float64Array,
        cfrc: d.cfrc_ext as Float64Array,
        warm: d.qacc_warmstart as Float64Array,
      };
    }
    return this.v;
  }

  private bodyXpos(name: string, k: number): number {
    return this.views().xpos[3 * this.bodyIds[name]! + k]!;
  }

  reset(rng: Rng): void {
    const { mj, model, data } = this;
    mj.mj_resetData(model, data);
    const { qpos, qvel } = this.views();
    const nz = this.task.resetNoise;
    if (nz.kind === 'reacher') {
      const R = V5.reacher;
      for (let i = 0; i < this.nq; i++) qpos[i] = this.qpos0[i]! + rng.uniformRange(-R.qposNoise, R.qposNoise);
      let gx: number;
      let gy: number;
      do {
        gx = rng.uniformRange(-R.goalRadius, R.goalRadius);
        gy = rng.uniformRange(-R.goalRadius, R.goalRadius);
      } while (!(Math.hypot(gx, gy) < R.goalRadius));
      qpos[this.nq - 2] = gx;
      qpos[this.nq - 1] = gy;
      for (let i = 0; i < this.nv; i++) qvel[i] = rng.uniformRange(-R.qvelNoise, R.qvelNoise);
      qvel[this.nv - 2] = 0;
      qvel[this.nv - 1] = 0;
    } else {
      const s = nz.scale;
      for (let i = 0; i < this.nq; i++) qpos[i] = this.qpos0[i]! + rng.uniformRange(-s, s);
      for (let i = 0; i < this.nv; i++) qvel[i] = nz.kind === 'uniform' ? rng.uniformRange(-s, s) : s * normal(rng);
    }
    mj.mj_forward(model, data);
    this.terminated = false;
    // `info` keeps the last step's components through (auto)reset: after a step that ended an
    // episode, they describe that step.
    if (this.task.name === 'ant') this.prevXY = [this.bodyXpos('torso', 0), this.bodyXpos('torso', 1)];
    this.computeObs();
  }

  step(action: number, _rng: Rng, actions?: ArrayLike<number>, offset = 0): number {
    const { mj, model, data, nu } = this;
    const { qpos, ctrl } = this.views();
    let sq = 0;
    for (let k = 0; k < nu; k++) {
      const a = actions ? actions[offset + k]! : k === 0 ? action : 0;
      ctrl[k] = a;
      sq += a * a;
    }
    const x0 = qpos[0]!;
    const y0 = qpos[1]!;
    for (let f = 0; f < this.task.frameSkip; f++) mj.mj_step(model, data);
    const info = this.info;
    const v = this.views();
    let reward: number;
    switch (this.task.name) {
      case 'hopper':
      case 'walker2d': {
        const W = this.task.name === 'hopper' ? V5.hopper : V5.walker2d;
        info.x_velocity = (v.qpos[0]! - x0) / this.dt;
        info.y_velocity = 0;
        const healthy = this.healthy();
        info.reward_forward = W.forwardWeight * info.x_velocity;
        info.reward_survive = healthy ? W.healthyReward : 0;
        info.reward_ctrl = -W.ctrlCostWeight * sq;
        reward = info.reward_forward + info.reward_survive + info.reward_ctrl;
        this.terminated = !healthy;
        break;
      }
      case 'halfcheetah':
      case 'swimmer': {
        const W = V5[this.task.name];
        info.x_velocity = (v.qpos[0]! - x0) / this.dt;
        info.y_velocity = this.task.name === 'swimmer' ? (v.qpos[1]! - y0) / this.dt : 0;
        info.reward_forward = W.forwardWeight * info.x_velocity;
        info.reward_ctrl = -W.ctrlCostWeight * sq;
        reward = info.reward_forward + info.reward_ctrl;
        break;
      }
      case 'reacher': {
        // v5 takes the distance after the step, from the bodies' xpos as mj_step leaves them.
        const dx = this.bodyXpos('fingertip', 0) - this.bodyXpos('target', 0);
        const dy = this.bodyXpos('fingertip', 1) - this.bodyXpos('target', 1);
        const dz = this.bodyXpos('fingertip', 2) - this.bodyXpos('target', 2);
        info.reward_dist = -Math.sqrt(dx * dx + dy * dy + dz * dz) * V5.reacher.distWeight;
        info.reward_ctrl = -sq * V5.reacher.ctrlWeight;
        reward = info.reward_dist + info.reward_ctrl;
        break;
      }
      case 'ant': {
        const A = V5.ant;
        // cfrc_ext is only filled by mj_rnePostConstraint (Gymnasium calls it after stepping).
        mj.mj_rnePostConstraint(model, data);
        const x1 = this.bodyXpos('torso', 0);
        const y1 = this.bodyXpos('torso', 1);
        info.x_velocity = (x1 - this.prevXY[0]) / this.dt;
        info.y_velocity = (y1 - this.prevXY[1]) / this.dt;
        this.prevXY = [x1, y1];
        const healthy = this.healthy();
        info.reward_forward = A.forwardWeight * info.x_velocity;
        info.reward_survive = healthy ? A.healthyReward : 0;
        info.reward_ctrl = -A.ctrlCostWeight * sq;
        const cf = this.views().cfrc;
        let c = 0;
        for (let i = 0; i < cf.length; i++) {
          const x = Math.min(A.contactForceRange[1], Math.max(A.contactForceRange[0], cf[i]!));
          c += x * x;
        }
        info.reward_contact = -A.contactCostWeight * c;
        reward = info.reward_forward + info.reward_survive + info.reward_ctrl + info.reward_contact;
        this.terminated = !healthy;
        break;
      }
    }
    this.computeObs();
    return reward;
  }

  /** The task's health rule on the current state (always true for tasks without one). */
  healthy(): boolean {
    const { qpos, qvel } = this.views();
    switch (this.task.name) {
      case 'hopper': {
        const H = V5.hopper;
        const z = qpos[1]!;
        const a = qpos[2]!;
        if (!(H.healthyZ[0] < z && z < H.healthyZ[1])) return false;
        if (!(H.healthyAngle[0] < a && a < H.healthyAngle[1])) return false;
        const [lo, hi] = H.healthyState;
        for (let i = 2; i < this.nq; i++) if (!(lo < qpos[i]! && qpos[i]! < hi)) return false;
        for (let i = 0; i < this.nv; i++) if (!(lo < qvel[i]! && qvel[i]! < hi)) return false;
        return true;
      }
      case 'walker2d': {
        const H = V5.walker2d;
        const z = qpos[1]!;
        const a = qpos[2]!;
        return H.healthyZ[0] < z && z < H.healthyZ[1] && H.healthyAngle[0] < a && a < H.healthyAngle[1];
      }
      case 'ant': {
        for (let i = 0; i < this.nq; i++) if (!Number.isFinite(qpos[i]!)) return false;
        for (let i = 0; i < this.nv; i++) if (!Number.isFinite(qvel[i]!)) return false;
        const z = qpos[2]!;
        return V5.ant.healthyZ[0] <= z && z <= V5.ant.healthyZ[1];
      }
      default:
        return true;
    }
  }

  private computeObs(): void {
    const o = this.obs;
    const { qpos, qvel, cfrc } = this.views();
    const nq = this.nq;
    const nv = this.nv;
    let k = 0;
    switch (this.task.name) {
      case 'hopper':
      case 'walker2d': {
        const c = V5[this.task.name].obsVelClip;
        for (let i = 1; i < nq; i++) o[k++] = qpos[i]!;
        for (let i = 0; i < nv; i++) o[k++] = Math.min(c, Math.max(-c, qvel[i]!));
        break;
      }
      case 'halfcheetah':
        for (let i = 1; i < nq; i++) o[k++] = qpos[i]!;
        for (let i = 0; i < nv; i++) o[k++] = qvel[i]!;
        break;
      case 'swimmer':
        for (let i = 2; i < nq; i++) o[k++] = qpos[i]!;
        for (let i = 0; i < nv; i++) o[k++] = qvel[i]!;
        break;
      case 'reacher':
        o[k++] = Math.cos(qpos[0]!);
        o[k++] = Math.cos(qpos[1]!);
        o[k++] = Math.sin(qpos[0]!);
        o[k++] = Math.sin(qpos[1]!);
        for (let i = 2; i < nq; i++) o[k++] = qpos[i]!;
        o[k++] = qvel[0]!;
        o[k++] = qvel[1]!;
        o[k++] = this.bodyXpos('fingertip', 0) - this.bodyXpos('target', 0);
        o[k++] = this.bodyXpos('fingertip', 1) - this.bodyXpos('target', 1);
        break;
      case 'ant': {
        for (let i = 2; i < nq; i++) o[k++] = qpos[i]!;
        for (let i = 0; i < nv; i++) o[k++] = qvel[i]!;
        const [lo, hi] = V5.ant.contactForceRange;
        for (let i = 6; i < cfrc.length; i++) o[k++] = Math.min(hi, Math.max(lo, cfrc[i]!)); // bodies 1… (row 0 is the world)
        break;
      }
    }
  }

  writeObs(out: Float32Array, offset: number): void {
    out.set(this.obs, offset);
  }

  getState(): MujocoCoreState {
    const v = this.views();
    return {
      task: this.task.name,
      time: this.data.time,
      qpos: Array.from(v.qpos),
      qvel: Array.from(v.qvel),
      warmstart: Array.from(v.warm),
      obs: Array.from(this.obs),
      terminated: this.terminated,
      prevXY: [...this.prevXY],
      info: { ...this.info },
    };
  }

  setState(state: unknown): void {
    const s = state as MujocoCoreState;
    const want = { qpos: this.nq, qvel: this.nv, warmstart: this.nv, obs: this.task.obsSize } as const;
    if (!s || s.task !== this.task.name) throw new Error(`mujoco/${this.task.name}: state is for task '${s?.task}'`);
    for (const [k, n] of Object.entries(want)) {
      const a = (s as unknown as Record<string, unknown>)[k];
      if (!Array.isArray(a) || a.length !== n || !a.every((x) => typeof x === 'number')) {
        throw new Error(`mujoco/${this.task.name}: state.${k} must be ${n} numbers, got ${Array.isArray(a) ? `${a.length} entries` : typeof a}`);
      }
    }
    const { mj, model, data } = this;
    mj.mj_resetData(model, data);
    let v = this.views();
    v.qpos.set(s.qpos);
    v.qvel.set(s.qvel);
    data.time = s.time;
    mj.mj_forward(model, data);
    v = this.views();
    // After mj_forward, which must not get the last word on the solver's warm start.
    v.warm.set(s.warmstart);
    this.obs.set(s.obs);
    this.terminated = s.terminated;
    this.prevXY = [s.prevXY[0], s.prevXY[1]];
    Object.assign(this.info, s.info);
  }

  /** qpos of the pose an observation shows (x, and y where the observation omits it, set to 0). */
  qposFromObs(obs: Float32Array | Float64Array): Float64Array {
    const q = new Float64Array(this.nq);
    switch (this.task.name) {
      case 'hopper':
      case 'walker2d':
      case 'halfcheetah':
        for (let i = 1; i < this.nq; i++) q[i] = obs[i - 1]!;
        break;
      case 'swimmer':
      case 'ant':
        for (let i = 2; i < this.nq; i++) q[i] = obs[i - 2]!;
        break;
      case 'reacher':
        q[0] = Math.atan2(obs[2]!, obs[0]!);
        q[1] = Math.atan2(obs[3]!, obs[1]!);
        q[2] = obs[4]!;
        q[3] = obs[5]!;
        break;
    }
    return q;
  }

  /** Geometry of the current state, or of the pose `obs` shows, from forward kinematics on a scratch MjData. */
  pose(obs?: Float32Array): Pose {
    const { mj, model } = this;
    this.handle.scratch ??= new mj.MjData(model);
    const sd = this.handle.scratch;
    (sd.qpos as Float64Array).set(obs ? this.qposFromObs(obs) : this.views().qpos);
    mj.mj_kinematics(model, sd);
    const m = model as unknown as Record<string, ArrayLike<number>>;
    const d = sd as unknown as Record<string, ArrayLike<number>>;
    return {
      ngeom: model.ngeom,
      type: Array.from(m.geom_type!),
      size: Array.from(m.geom_size!),
      body: Array.from(m.geom_bodyid!),
      xpos: Array.from(d.geom_xpos!),
      xmat: Array.from(d.geom_xmat!),
      qpos: Array.from(sd.qpos as Float64Array),
    };
  }

  renderText(obs?: Float32Array): string {
    const p = this.pose(obs);
    const where = this.task.name === 'reacher' ? `θ ${p.qpos[0]!.toFixed(3)} ${p.qpos[1]!.toFixed(3)}` : `x ${p.qpos[0]!.toFixed(3)}`;
    const head = `${this.task.gymId}  ` + (obs ? '(final observation; x not observed)' : where);
    const r = this.info;
    const parts = [
      `fwd ${r.reward_forward.toFixed(3)}`,
      `ctrl ${r.reward_ctrl.toFixed(4)}`,
      this.task.name === 'reacher' ? `dist ${r.reward_dist.toFixed(3)}` : '',
      ['hopper', 'walker2d', 'ant'].includes(this.task.name) ? `survive ${r.reward_survive}` : '',
      this.task.name === 'ant' ? `contact ${r.reward_contact.toFixed(4)}` : '',
    ].filter(Boolean);
    return renderMujocoText(p, this.task.view === 'top' ? 'top' : 'side') + '\n' + head + '\n' + parts.join('  ');
  }

  renderSvg(obs?: Float32Array): string {
    const p = this.pose(obs);
    const r = this.info;
    const now = this.task.name === 'reacher' ? `  distance=${(-r.reward_dist).toFixed(3)}` : `  x=${p.qpos[0]!.toFixed(2)}  v=${r.x_velocity.toFixed(2)}`;
    const title = `${this.task.gymId}` + (obs ? ' (final obs)' : now);
    return renderMujocoSvg(p, this.task.view, title);
  }

  /** Free this env's MuJoCo memory now (otherwise when the core is garbage-collected). */
  dispose(): void {
    if (this.disposed) return;
    finalizer.unregister(this);
    this.handle.scratch?.delete();
    this.data.delete();
    this.shared.release();
    this.disposed = true;
  }
}
