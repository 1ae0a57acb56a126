// CartPole-v1 stepped on the GPU: a batch of envs whose state, episode bookkeeping and random
// streams live in GPU buffers, so a rollout needs no readback at all (the actions come from a
// policy's tensors, the observations go to the next forward pass as tensors). The rules, the
// reset distribution, autoreset, truncation and the Philox streams are those of the CPU env
// (rl/envs/cartpole.ts inside rl/envs/vec.ts): env i of seed s draws the same words on both.
// The one difference is precision: the CPU integrates in float64, the GPU in float32, so
// trajectories agree to float32 rounding and drift apart slowly where the dynamics amplify it
// (test/envs/gpu_cartpole.test.ts measures both).
import { Tensor, runtime } from '../../../engine/tensor.ts';
import { checkSeed } from '../rng.ts';
import { CARTPOLE } from '../cartpole.ts';
import { philoxWgsl, seedKey } from './philox.ts';

const WG = 64;
const C = CARTPOLE;

// Shared WGSL: the reset draw (four uniforms in [-0.05, 0.05), consumed in the order the CPU
// env's reset() draws x, ẋ, θ, θ̇).
const common = /* wgsl */ `
${philoxWgsl}
struct P { n: u32, k0: u32, k1: u32, cap: u32, mode: u32 }
fn reset_env(i: u32, key: vec2u) {
  var w = Cn[2u * i + 1u];
  for (var j = 0u; j < 4u; j++) {
    S[4u * i + j] = -0.05 + 0.1 * env_uniform(key, i, w);
    w = w + 1u;
  }
  Cn[2u * i + 1u] = w;
  Cn[2u * i] = 0u;
  St[4u * i] = 0.0;
}`;

const resetKernel = {
  name: 'gpu_cartpole_reset',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> Cn: array<u32>;
@group(0) @binding(2) var<storage, read_write> St: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${common}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  // mode 1: re-keyed streams restart at word 0 (VecEnv.reset(seed)); mode 0: they continue.
  if (p.mode == 1u) { Cn[2u * i + 1u] = 0u; }
  reset_env(i, vec2u(p.k0, p.k1));
  for (var j = 0u; j < 4u; j++) { O[4u * i + j] = S[4u * i + j]; }
}`,
};

const stepKernel = {
  name: 'gpu_cartpole_step',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read_write> S: array<f32>;
@group(0) @binding(2) var<storage, read_write> Cn: array<u32>;
@group(0) @binding(3) var<storage, read_write> St: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> R: array<f32>;
@group(0) @binding(6) var<storage, read_write> T: array<f32>;
@group(0) @binding(7) var<storage, read_write> U: array<f32>;
@group(0) @binding(8) var<storage, read_write> F: array<f32>;
@group(0) @binding(9) var<uniform> p: P;
${common}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  let b = 4u * i;
  var x = S[b];
  var xd = S[b + 1u];
  var th = S[b + 2u];
  var thd = S[b + 3u];
  // Action 1 pushes right; the policy's index arrives as a float (>= 0.5 is 1, NaN is 0).
  let force = select(-${C.forceMag.toFixed(1)}, ${C.forceMag.toFixed(1)}, A[i] >= 0.5);
  let total = ${(C.massCart + C.massPole).toFixed(6)};
  let mpl = ${(C.massPole * C.halfLength).toFixed(6)};
  let c = cos(th);
  let s = sin(th);
  let temp = (force + mpl * thd * thd * s) / total;
  let thacc = (${C.gravity.toFixed(6)} * s - c * temp) / (${C.halfLength.toFixed(6)} * (4.0 / 3.0 - ${C.massPole.toFixed(6)} * c * c / total));
  let xacc = temp - mpl * thacc * c / total;
  // Euler, positions from the old velocities (as the CPU env and Gymnasium).
  x = x + ${C.tau} * xd;
  xd = xd + ${C.tau} * xacc;
  th = th + ${C.tau} * thd;
  thd = thd + ${C.tau} * thacc;
  S[b] = x;
  S[b + 1u] = xd;
  S[b + 2u] = th;
  S[b + 3u] = thd;
  let term = x < -${C.xThreshold.toFixed(6)} || x > ${C.xThreshold.toFixed(6)} || th < -${C.thetaThreshold.toFixed(9)} || th > ${C.thetaThreshold.toFixed(9)};
  let len = Cn[2u * i] + 1u;
  let ret = St[b] + 1.0;
  let trunc = !term && p.cap > 0u && len >= p.cap;
  R[i] = 1.0;
  T[i] = select(0.0, 1.0, term);
  U[i] = select(0.0, 1.0, trunc);
  if (term || trunc) {
    for (var j = 0u; j < 4u; j++) { F[b + j] = S[b + j]; }
    St[b + 1u] = St[b + 1u] + 1.0;
    St[b + 2u] = St[b + 2u] + ret;
    St[b + 3u] = St[b + 3u] + f32(len);
    reset_env(i, vec2u(p.k0, p.k1));
  } else {
    Cn[2u * i] = len;
    St[b] = ret;
  }
  for (var j = 0u; j < 4u; j++) { O[b + j] = S[b + j]; }
}`,
};

const clearKernel = {
  name: 'gpu_cartpole_clear_stats',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> St: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
struct P { n: u32, k0: u32, k1: u32, cap: u32, mode: u32 }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  St[4u * i + 1u] = 0.0;
  St[4u * i + 2u] = 0.0;
  St[4u * i + 3u] = 0.0;
}`,
};

export interface GpuCartPoleOptions {
  numEnvs: number;
  seed?: number;
  /** Step cap per episode, reported as truncated; 0 = none. Default 500 (CartPole-v1). */
  maxEpisodeSteps?: number;
}

/** One step's results: new tensors the caller owns (dispose them). */
export interface GpuStepResult {
  /** [numEnvs, 4]: the observation to act on next (already the reset one where done). */
  obs: Tensor;
  /** [numEnvs] */
  rewards: Tensor;
  /** [numEnvs] 1 where the env's own terminal condition fired. */
  terminated: Tensor;
  /** [numEnvs] 1 where the step cap cut the episode (never together with terminated). */
  truncated: Tensor;
  /** [numEnvs, 4]: the last observation of the episode that just ended (rows where done). */
  finalObs: Tensor;
}

/** Episodes finished since the last drain, summed over envs (one readback). */
export interface GpuEpisodeStats {
  episodes: number;
  returnSum: number;
  lengthSum: number;
}

/** A batch of CartPole-v1 envs whose whole state stays on the GPU. */
export class GpuCartPole {
  readonly id = 'cartpole';
  readonly numEnvs: number;
  readonly obsSize = 4;
  readonly maxEpisodeSteps: number;
  private seed: number;
  private started = false;
  private disposed = false;
  // state [n×4] f32; counters [n×2] u32 (episode length, words consumed); stats [n×4] f32
  // (return so far, episodes finished, their return sum, their length sum).
  private readonly S: GPUBuffer;
  private readonly Cn: GPUBuffer;
  private readonly St: GPUBuffer;

  constructor(o: GpuCartPoleOptions) {
    if (!Number.isInteger(o.numEnvs) || o.numEnvs < 1) throw new Error(`numEnvs must be a positive integer, got ${o.numEnvs}`);
    const cap = o.maxEpisodeSteps ?? C.maxEpisodeSteps;
    if (!Number.isInteger(cap) || cap < 0) throw new Error(`maxEpisodeSteps must be a non-negative integer (0 = none), got ${cap}`);
    const seed = o.seed ?? 0;
    checkSeed(seed);
    this.numEnvs = o.numEnvs;
    this.maxEpisodeSteps = cap;
    this.seed = seed;
    const rt = runtime();
    const n = o.numEnvs;
    this.S = rt.upload(new Float32Array(4 * n));
    this.Cn = rt.upload(new Uint32Array(2 * n));
    this.St = rt.upload(new Float32Array(4 * n));
  }

  private params(mode: number): number[] {
    const [k0, k1] = seedKey(this.seed);
    return [this.numEnvs, k0, k1, this.maxEpisodeSteps, mode];
  }

  private alive(what: string) {
    if (this.disposed) throw new Error(`GpuCartPole: cannot ${what} after dispose()`);
  }

  /**
   * Starts a new episode in every env; returns the observations [numEnvs, 4]. With a seed the
   * streams are re-keyed and restart at word 0 (as VecEnv.reset(seed)); without, they continue
   * (the first call uses the construction seed). Episodes in progress are dropped unrecorded.
   */
  reset(seed?: number): Tensor {
    this.alive('reset');
    let mode = this.started ? 0 : 1;
    if (seed !== undefined) {
      checkSeed(seed);
      this.seed = seed;
      mode = 1;
    }
    const rt = runtime();
    const obs = Tensor.fromBuffer(rt.alloc(16 * this.numEnvs), [this.numEnvs, 4]);
    rt.dispatch({
      kernel: resetKernel,
      inputs: [],
      outputs: [this.S, this.Cn, this.St, obs.buffer],
      params: this.params(mode),
      workgroups: [Math.ceil(this.numEnvs / WG)],
      label: 'gpu_cartpole_reset',
    });
    this.started = true;
    return obs;
  }

  /** Steps every env with `actions` ([numEnvs], action indices as floats). No readback. */
  step(actions: Tensor): GpuStepResult {
    this.alive('step');
    if (!this.started) throw new Error('cartpole (GPU): call reset() before step()');
    const n = this.numEnvs;
    if (actions.size !== n || (actions.shape.length !== 1 && !(actions.shape.length === 2 && actions.shape[1] === 1))) {
      throw new Error(`cartpole (GPU): actions must have shape [${n}] (one per env), got [${actions.shape.join(', ')}]`);
    }
    const rt = runtime();
    const t = (shape: number[]) => Tensor.fromBuffer(rt.alloc(4 * shape.reduce((a, b) => a * b, 1)), shape);
    const out: GpuStepResult = { obs: t([n, 4]), rewards: t([n]), terminated: t([n]), truncated: t([n]), finalObs: t([n, 4]) };
    rt.dispatch({
      kernel: stepKernel,
      inputs: [actions.bufferFor('cartpole step')],
      outputs: [this.S, this.Cn, this.St, out.obs.buffer, out.rewards.buffer, out.terminated.buffer, out.truncated.buffer, out.finalObs.buffer],
      params: this.params(0),
      workgroups: [Math.ceil(n / WG)],
      label: 'gpu_cartpole_step',
    });
    return out;
  }

  /** Episodes finished since the last call, summed over envs; clears the sums. One readback. */
  async drainEpisodes(): Promise<GpuEpisodeStats> {
    this.alive('read episode statistics');
    const rt = runtime();
    const [ab] = await rt.readMany([{ buffer: this.St, bytes: 16 * this.numEnvs }]);
    const st = new Float32Array(ab);
    const r: GpuEpisodeStats = { episodes: 0, returnSum: 0, lengthSum: 0 };
    for (let i = 0; i < this.numEnvs; i++) {
      r.episodes += st[4 * i + 1];
      r.returnSum += st[4 * i + 2];
      r.lengthSum += st[4 * i + 3];
    }
    rt.dispatch({ kernel: clearKernel, inputs: [], outputs: [this.St], params: this.params(0), workgroups: [Math.ceil(this.numEnvs / WG)], label: 'gpu_cartpole_clear' });
    return r;
  }

  /**
   * The batch's state in the CPU VecEnv's checkpoint format (rl/envs/types.ts VecEnvState, with
   * the float32 state widened), so a run can move between the GPU and the CPU env. Finished
   * episodes not yet drained are not part of it (drain first). One readback.
   */
  async getState(): Promise<GpuCartPoleState> {
    this.alive('read its state');
    const [s, c, st] = await runtime().readMany([
      { buffer: this.S, bytes: 16 * this.numEnvs },
      { buffer: this.Cn, bytes: 8 * this.numEnvs },
      { buffer: this.St, bytes: 16 * this.numEnvs },
    ]);
    const S = new Float32Array(s), Cn = new Uint32Array(c), St = new Float32Array(st);
    const n = this.numEnvs;
    return {
      id: this.id,
      numEnvs: n,
      seed: this.seed,
      started: this.started,
      rng: Array.from({ length: n }, (_, i) => ({ seed: this.seed, stream: i, words: Cn[2 * i + 1] })),
      cores: Array.from({ length: n }, (_, i) => ({ x: S[4 * i], xDot: S[4 * i + 1], theta: S[4 * i + 2], thetaDot: S[4 * i + 3], terminated: false })),
      episodeReturns: Array.from({ length: n }, (_, i) => St[4 * i]),
      episodeLengths: Array.from({ length: n }, (_, i) => Cn[2 * i]),
      completed: [],
    };
  }

  /** Restores a state from getState() or from a CPU cartpole VecEnv's getState(). */
  setState(st: GpuCartPoleState): void {
    this.alive('restore a state');
    if (st.id !== this.id) throw new Error(`cartpole (GPU): this state is of env ${JSON.stringify(st.id)}, not cartpole`);
    if (st.numEnvs !== this.numEnvs) throw new Error(`cartpole (GPU): state has ${st.numEnvs} envs, this batch ${this.numEnvs}`);
    const n = this.numEnvs;
    const S = new Float32Array(4 * n), Cn = new Uint32Array(2 * n), Stats = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) {
      const c = st.cores[i] as { x: number; xDot: number; theta: number; thetaDot: number };
      S.set([c.x, c.xDot, c.theta, c.thetaDot], 4 * i);
      const words = st.rng[i].words;
      if (!Number.isInteger(words) || words < 0 || words >= 2 ** 32) throw new Error(`cartpole (GPU): env ${i}'s stream is ${words} words in; the GPU counter holds < 2^32`);
      Cn[2 * i] = st.episodeLengths[i];
      Cn[2 * i + 1] = words;
      Stats[4 * i] = st.episodeReturns[i];
    }
    checkSeed(st.seed);
    this.seed = st.seed;
    this.started = st.started;
    const q = runtime().device.queue;
    // The batch recorded so far may still read these buffers: submit it before overwriting.
    runtime().flush();
    q.writeBuffer(this.S, 0, S);
    q.writeBuffer(this.Cn, 0, Cn);
    q.writeBuffer(this.St, 0, Stats);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const rt = runtime();
    rt.release(this.S);
    rt.release(this.Cn);
    rt.release(this.St);
  }
}

export interface GpuCartPoleState {
  id: string;
  numEnvs: number;
  seed: number;
  started: boolean;
  rng: { seed: number; stream: number; words: number }[];
  cores: unknown[];
  episodeReturns: number[];
  episodeLengths: number[];
  completed: unknown[];
}
