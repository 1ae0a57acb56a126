// A batch of environments stepped on the GPU: what rl/envs/vec.ts does on the CPU (autoreset,
// truncation, episode statistics, one Philox stream per env) done by one kernel per step, with
// the per-env rules supplied as WGSL by each env (cartpole.ts, pendulum.ts, mdp.ts here). The
// state, episode lengths and returns, finished-episode sums and stream positions live in GPU
// buffers, so a rollout reads nothing back: actions arrive as a tensor, observations, rewards
// and flags leave as tensors, and drainEpisodes() reads the sums once. Every episode that ends
// is also written to an episode log on the GPU (its return and length at slot k·N + i for env i
// at the k-th vector step since the last takeEpisodeLog()), so a rollout's episodes come back
// one by one, in the CPU VecEnv's completedEpisodes() order, with the rollout's one readback.
//
// An env's WGSL defines, over its `stateSize` floats at S[b..b+stateSize) (b = i·stateSize):
//   fn env_reset(i: u32, b: u32)            draws with draw(i) (the next word's uniform in [0, 1))
//   fn env_step(i: u32, b: u32, a: u32) -> vec2f   (reward, 1 if terminated else 0); the action
//                                           is A[a..a+actSize)
//   fn env_obs(i: u32, b: u32, o: u32)      writes obsSize floats to OUT[o..]
// with the same draws, in the same order, as its CPU twin, so env i of seed s sees the same words.
import { Tensor, runtime } from '../../../engine/tensor.ts';
import { checkSeed } from '../rng.ts';
import type { VecEnvState } from '../types.ts';
import { philoxWgsl, seedKey } from './philox.ts';

const WG = 64;

export interface GpuEnvDef {
  id: string;
  obsSize: number;
  /** Floats per action (1 for a discrete action, given as its index). */
  actSize: number;
  stateSize: number;
  /** The CPU env's cap (Gymnasium's TimeLimit), used when the options give none. */
  defaultMaxEpisodeSteps: number;
  wgsl: string;
  /** CPU core state (the CPU env's getState()) → stateSize floats, and back. */
  packState(core: unknown): number[];
  unpackState(s: Float32Array): unknown;
}

export interface GpuVecEnvOptions {
  numEnvs: number;
  seed?: number;
  /** Step cap per episode, reported as truncated; 0 = none. Default: the env's. */
  maxEpisodeSteps?: number;
  /**
   * Vector steps the episode log holds between takeEpisodeLog() calls (default: what fits in
   * 64 MiB, or the adapter's storage-binding limit if smaller); past it the log restarts and the
   * next takeEpisodeLog() fails, saying so.
   */
  maxLogSteps?: number;
}

/** One step's results: new tensors the caller owns (dispose them). */
export interface GpuStepResult {
  /** [numEnvs, obsSize]: the observation to act on next (already the reset one where done). */
  obs: Tensor;
  /** [numEnvs] */
  rewards: Tensor;
  /** [numEnvs] 1 where the env's own terminal condition fired. */
  terminated: Tensor;
  /** [numEnvs] 1 where the step cap cut the episode (never together with terminated). */
  truncated: Tensor;
  /** [numEnvs, obsSize]: the last observation of the episode that just ended (rows where done). */
  finalObs: Tensor;
}

/** Episodes finished since the last drain, summed over envs (one readback). */
export interface GpuEpisodeStats {
  episodes: number;
  returnSum: number;
  lengthSum: number;
}

/** Sums over envs of takeEpisodeStats()'s rows (episodes, return sum, length sum per env). */
export function sumEpisodeStats(st: Float32Array): GpuEpisodeStats {
  const r: GpuEpisodeStats = { episodes: 0, returnSum: 0, lengthSum: 0 };
  for (let i = 0; i + 2 < st.length; i += 3) {
    r.episodes += st[i];
    r.returnSum += st[i + 1];
    r.lengthSum += st[i + 2];
  }
  return r;
}

/**
 * The episodes of a takeEpisodeLog() read back: slot k·N + i holds (return, length) of the
 * episode env i finished at the k-th vector step of the log, or (0, 0); listed in the CPU
 * VecEnv's completedEpisodes() order (step by step, env by env).
 */
export function episodesOfLog(log: Float32Array, numEnvs: number): { step: number; envIndex: number; return: number; length: number }[] {
  const out: { step: number; envIndex: number; return: number; length: number }[] = [];
  for (let s = 0; 2 * s + 1 < log.length; s++) {
    const len = log[2 * s + 1];
    if (len > 0) out.push({ step: Math.floor(s / numEnvs), envIndex: s % numEnvs, return: log[2 * s], length: len });
  }
  return out;
}

/** The CPU VecEnv's checkpoint format (rl/envs/types.ts), so a batch moves between the two. */
export type GpuVecEnvState = VecEnvState;

/** Env i's random draws: the Philox words of its stream, the word counter in Cn[2i + 1]. */
const envDrawsWgsl = /* wgsl */ `
${philoxWgsl}
// The next uniform of env i's stream.
fn draw(i: u32) -> f32 {
  let w = Cn[2u * i + 1u];
  Cn[2u * i + 1u] = w + 1u;
  return env_uniform(vec2u(p.k0, p.k1), i, w);
}
// The next raw word (for exact integer comparisons against the CPU's double arithmetic).
fn draw_word(i: u32) -> u32 {
  let w = Cn[2u * i + 1u];
  Cn[2u * i + 1u] = w + 1u;
  return env_word(vec2u(p.k0, p.k1), i, w);
}`;

/** A fresh episode of env i: the env's reset, and its length and return counters zeroed. */
function beginEpisodeWgsl(d: GpuEnvDef): string {
  return /* wgsl */ `
fn begin_episode(i: u32) {
  env_reset(i, ${d.stateSize}u * i);
  Cn[2u * i] = 0u;
  St[4u * i] = 0.0;
}`;
}

/**
 * WGSL of one env's whole step (the env's rules, autoreset, truncation at p.cap, episode sums):
 * fn env_advance(i, a, o, fo, k) -> vec3f (reward, terminated, truncated) reads the action at
 * A[a..], writes the next observation to obsArr[o..] and, where the episode ended, its final
 * observation to finArr[fo..]; it writes the episode log's slot k·n + i (the ended episode's
 * return and length, else zeros). Needs storage S, Cn, St, EP, the action array A and a uniform
 * `p` with n, k0, k1 (the seed key) and cap. The step kernel below runs it per env; kernels that step
 * envs inside their own loop (PPO's fused rollout, kernels/ppo_mlp.ts) include it too.
 */
export function envAdvanceWgsl(d: GpuEnvDef, obsArr: string, finArr: string): string {
  const obsFns = d.wgsl.match(/fn env_obs[\s\S]*?\n}/)?.[0];
  if (!obsFns) throw new Error(`${d.id}: its WGSL lacks fn env_obs(...) ending with a line "}"`);
  return /* wgsl */ `
${envDrawsWgsl}
${d.wgsl.replace(/OUT\[/g, `${obsArr}[`)}
${obsFns.replace('fn env_obs', 'fn env_obs_final').replace(/OUT\[/g, `${finArr}[`)}
${beginEpisodeWgsl(d)}
fn env_advance(i: u32, a: u32, o: u32, fo: u32, k: u32) -> vec3f {
  let b = ${d.stateSize}u * i;
  let rt = env_step(i, b, a);
  let term = rt.y > 0.5;
  let len = Cn[2u * i] + 1u;
  let ret = St[4u * i] + rt.x;
  let trunc = !term && p.cap > 0u && len >= p.cap;
  let slot = 2u * (k * p.n + i);
  if (term || trunc) {
    env_obs_final(i, b, fo);
    St[4u * i + 1u] = St[4u * i + 1u] + 1.0;
    St[4u * i + 2u] = St[4u * i + 2u] + ret;
    St[4u * i + 3u] = St[4u * i + 3u] + f32(len);
    EP[slot] = ret;
    EP[slot + 1u] = f32(len);
    begin_episode(i);
  } else {
    Cn[2u * i] = len;
    St[4u * i] = ret;
    EP[slot] = 0.0;
    EP[slot + 1u] = 0.0;
  }
  env_obs(i, b, o);
  return vec3f(rt.x, select(0.0, 1.0, term), select(0.0, 1.0, trunc));
}`;
}

function kernels(d: GpuEnvDef) {
  const decl = /* wgsl */ `
struct P { n: u32, k0: u32, k1: u32, cap: u32, mode: u32 }
${envDrawsWgsl}
${d.wgsl}
${beginEpisodeWgsl(d)}`;
  const reset = {
    name: `gpu_${d.id}_reset`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> S: array<f32>;
@group(0) @binding(1) var<storage, read_write> Cn: array<u32>;
@group(0) @binding(2) var<storage, read_write> St: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
// env_step is compiled here too, unused: its action array is a placeholder.
var<private> A: array<f32, ${Math.max(1, d.actSize)}>;
${decl.replace(/OUT\[/g, 'O[')}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  // mode 1: re-keyed streams restart at word 0 (VecEnv.reset(seed)); mode 0: they continue.
  if (p.mode == 1u) { Cn[2u * i + 1u] = 0u; }
  begin_episode(i);
  env_obs_to_O(i);
}
fn env_obs_to_O(i: u32) { env_obs(i, ${d.stateSize}u * i, ${d.obsSize}u * i); }`,
  };
  const step = {
    name: `gpu_${d.id}_step`,
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
@group(0) @binding(9) var<storage, read_write> EP: array<f32>;
@group(0) @binding(10) var<uniform> p: P;
struct P { n: u32, k0: u32, k1: u32, cap: u32, log_k: u32 }
${envAdvanceWgsl(d, 'O', 'F')}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  let r = env_advance(i, ${d.actSize}u * i, ${d.obsSize}u * i, ${d.obsSize}u * i, p.log_k);
  R[i] = r.x;
  T[i] = r.y;
  U[i] = r.z;
}`,
  };
  const take = {
    name: 'gpu_env_take_stats',
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> St: array<f32>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
struct P { n: u32, k0: u32, k1: u32, cap: u32, mode: u32 }
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= p.n) { return; }
  for (var j = 0u; j < 3u; j++) {
    O[3u * i + j] = St[4u * i + 1u + j];
    St[4u * i + 1u + j] = 0.0;
  }
}`,
  };
  return { reset, step, take };
}

const compiled = new WeakMap<GpuEnvDef, ReturnType<typeof kernels>>();

/** A batch of one env's instances whose whole state stays on the GPU. */
export class GpuVecEnv {
  readonly id: string;
  readonly numEnvs: number;
  readonly obsSize: number;
  readonly actSize: number;
  readonly maxEpisodeSteps: number;
  private readonly def: GpuEnvDef;
  private readonly k: ReturnType<typeof kernels>;
  private seed: number;
  private started = false;
  private disposed = false;
  // state [n × stateSize] f32; counters [n × 2] u32 (episode length, stream words consumed);
  // stats [n × 4] f32 (return so far, episodes finished, their return sum, their length sum).
  private readonly S: GPUBuffer;
  private readonly Cn: GPUBuffer;
  private readonly St: GPUBuffer;
  // The episode log [logCapacity vector steps × n × 2] f32 and the vector steps written since
  // the last takeEpisodeLog(): the CPU knows every step it dispatches, so the slots need no
  // atomics or counters on the GPU, and the log grows (doubling, contents copied) before a
  // step would pass its end.
  private EP: GPUBuffer;
  private logCapacity = 64;
  private logSteps = 0;
  /** Vector steps the episode log holds between takes. */
  readonly maxLogSteps: number;
  /** Steps lost when the log restarted past maxLogSteps since the last take (0: none). */
  private logLost = 0;

  constructor(def: GpuEnvDef, o: GpuVecEnvOptions) {
    if (!Number.isInteger(o.numEnvs) || o.numEnvs < 1) throw new Error(`numEnvs must be a positive integer, got ${o.numEnvs}`);
    const cap = o.maxEpisodeSteps ?? def.defaultMaxEpisodeSteps;
    if (!Number.isInteger(cap) || cap < 0) throw new Error(`maxEpisodeSteps must be a non-negative integer (0 = none), got ${cap}`);
    const seed = o.seed ?? 0;
    checkSeed(seed);
    this.def = def;
    this.id = def.id;
    this.obsSize = def.obsSize;
    this.actSize = def.actSize;
    this.numEnvs = o.numEnvs;
    this.maxEpisodeSteps = cap;
    this.seed = seed;
    let k = compiled.get(def);
    if (!k) compiled.set(def, (k = kernels(def)));
    this.k = k;
    const rt = runtime();
    const n = o.numEnvs;
    // checked before any buffer is made
    const fit = Math.floor(Math.min(64 * 2 ** 20, rt.device.limits.maxStorageBufferBindingSize) / (8 * n));
    this.maxLogSteps = o.maxLogSteps ?? fit;
    if (!Number.isInteger(this.maxLogSteps) || this.maxLogSteps < 1 || this.maxLogSteps > fit) throw new Error(`maxLogSteps must be an integer in [1, ${fit}] for ${n} envs, got ${o.maxLogSteps}`);
    this.S = rt.upload(new Float32Array(def.stateSize * n));
    this.Cn = rt.upload(new Uint32Array(2 * n));
    this.St = rt.upload(new Float32Array(4 * n));
    this.logCapacity = Math.min(this.logCapacity, this.maxLogSteps);
    this.EP = rt.alloc(this.logCapacity * n * 8);
  }

  /** Room in the episode log for `steps` more vector steps (grows it, keeping what it holds). */
  private reserveLog(steps: number) {
    if (steps > this.maxLogSteps) throw new Error(`${this.id} (GPU): ${steps} vector steps at once do not fit the episode log (maxLogSteps ${this.maxLogSteps})`);
    if (this.logSteps + steps > this.maxLogSteps) {
      // nobody took the log (a caller using only the sums, or too rarely): start it over
      this.logLost += this.logSteps;
      this.logSteps = 0;
    }
    const need = this.logSteps + steps;
    if (need <= this.logCapacity) return;
    const rt = runtime(), n = this.numEnvs;
    let cap = this.logCapacity;
    while (cap < need) cap *= 2;
    cap = Math.min(cap, this.maxLogSteps);
    const next = rt.alloc(cap * n * 8);
    if (this.logSteps) rt.copy(this.EP, 0, next, 0, this.logSteps * n * 8);
    rt.release(this.EP);
    this.EP = next;
    this.logCapacity = cap;
  }

  private params(mode: number): number[] {
    const [k0, k1] = seedKey(this.seed);
    return [this.numEnvs, k0, k1, this.maxEpisodeSteps, mode];
  }

  private alive(what: string) {
    if (this.disposed) throw new Error(`${this.id} (GPU): cannot ${what} after dispose()`);
  }

  private tensor(shape: number[]): Tensor {
    return Tensor.fromBuffer(runtime().alloc(4 * shape.reduce((a, b) => a * b, 1)), shape);
  }

  /**
   * Starts a new episode in every env; returns the observations [numEnvs, obsSize]. With a seed
   * the streams are re-keyed and restart at word 0 (as VecEnv.reset(seed)); without, they
   * continue (the first call uses the construction seed). Episodes in progress are dropped.
   */
  reset(seed?: number): Tensor {
    this.alive('reset');
    let mode = this.started ? 0 : 1;
    if (seed !== undefined) {
      checkSeed(seed);
      this.seed = seed;
      mode = 1;
    }
    const obs = this.tensor([this.numEnvs, this.obsSize]);
    runtime().dispatch({
      kernel: this.k.reset,
      inputs: [],
      outputs: [this.S, this.Cn, this.St, obs.buffer],
      params: this.params(mode),
      workgroups: [Math.ceil(this.numEnvs / WG)],
      label: this.k.reset.name,
    });
    this.started = true;
    return obs;
  }

  /**
   * Steps every env. `actions`: [numEnvs] (discrete: the index as a float, rounded down after
   * adding 0.5 and clamped to the valid range, NaN as 0) or [numEnvs, actSize] (Box: clipped
   * by the env as its CPU twin does). No readback.
   */
  step(actions: Tensor): GpuStepResult {
    this.alive('step');
    if (!this.started) throw new Error(`${this.id} (GPU): call reset() before step()`);
    const n = this.numEnvs, A = this.actSize;
    const okShape = actions.size === n * A && (A === 1 ? actions.shape.length === 1 || (actions.shape.length === 2 && actions.shape[1] === 1) : actions.shape.length === 2 && actions.shape[1] === A);
    if (!okShape) {
      const want = A === 1 ? `[${n}]` : `[${n}, ${A}]`;
      throw new Error(`${this.id} (GPU): actions must have shape ${want} (one ${A === 1 ? 'action' : `${A}-vector`} per env), got [${actions.shape.join(', ')}]`);
    }
    const out: GpuStepResult = {
      obs: this.tensor([n, this.obsSize]),
      rewards: this.tensor([n]),
      terminated: this.tensor([n]),
      truncated: this.tensor([n]),
      finalObs: this.tensor([n, this.obsSize]),
    };
    this.reserveLog(1);
    runtime().dispatch({
      kernel: this.k.step,
      inputs: [actions.bufferFor(`${this.id} step`)],
      outputs: [this.S, this.Cn, this.St, out.obs.buffer, out.rewards.buffer, out.terminated.buffer, out.truncated.buffer, out.finalObs.buffer, this.EP],
      params: this.params(this.logSteps++),
      workgroups: [Math.ceil(n / WG)],
      label: this.k.step.name,
    });
    return out;
  }

  /**
   * What a kernel needs to step this batch `steps` vector steps inside its own loop
   * (envAdvanceWgsl): the env's definition, its state buffers (S, Cn, St), the episode log EP
   * with room for those steps, the log step `logBase` its first step writes (step t of the
   * kernel passes k = logBase + t to env_advance) and the uniform words n, k0, k1, cap. The log
   * counts the steps as taken: call it only when the kernel will run them.
   */
  fusedParts(steps: number): { def: GpuEnvDef; S: GPUBuffer; Cn: GPUBuffer; St: GPUBuffer; EP: GPUBuffer; logBase: number; words: number[] } {
    this.alive('step');
    if (!this.started) throw new Error(`${this.id} (GPU): call reset() before stepping`);
    if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`${this.id} (GPU): fusedParts needs a positive integer step count, got ${steps}`);
    this.reserveLog(steps);
    const logBase = this.logSteps;
    this.logSteps += steps;
    return { def: this.def, S: this.S, Cn: this.Cn, St: this.St, EP: this.EP, logBase, words: this.params(0).slice(0, 4) };
  }

  /** Vector steps in the episode log (taken since the last takeEpisodeLog()). */
  get loggedSteps(): number {
    return this.logSteps;
  }

  /**
   * The episode log since the last call, as a tensor [steps·numEnvs, 2] (read it with
   * episodesOfLog, together with other tensors to save a readback), and empties the log; null
   * when no step was taken since.
   */
  takeEpisodeLog(): { log: Tensor; steps: number } | null {
    this.alive('read its episode log');
    if (this.logLost) {
      const lost = this.logLost;
      this.logLost = 0;
      this.logSteps = 0;
      throw new Error(`${this.id} (GPU): the episode log overflowed: more than maxLogSteps (${this.maxLogSteps}) vector steps since the last takeEpisodeLog(), ${lost} of them dropped; take it more often`);
    }
    const steps = this.logSteps;
    if (!steps) return null;
    const log = this.tensor([steps * this.numEnvs, 2]);
    const b = log.bufferFor('episode log');
    runtime().copy(this.EP, 0, b.buffer, b.offset, steps * this.numEnvs * 8);
    this.logSteps = 0;
    return { log, steps };
  }

  /** envAdvanceWgsl of this env over the named arrays. */
  advanceWgsl(obsArr: string, finArr: string): string {
    return envAdvanceWgsl(this.def, obsArr, finArr);
  }

  /** Episodes finished since the last call, summed over envs; clears the sums. One readback. */
  async drainEpisodes(): Promise<GpuEpisodeStats> {
    const t = this.takeEpisodeStats();
    const st = await t.data();
    t.dispose();
    return sumEpisodeStats(st);
  }

  /**
   * The finished-episode sums as a tensor [numEnvs, 3] (episodes, return sum, length sum per
   * env), cleared on the GPU: read it together with other tensors to save a readback.
   */
  takeEpisodeStats(): Tensor {
    this.alive('read episode statistics');
    const out = this.tensor([this.numEnvs, 3]);
    runtime().dispatch({ kernel: this.k.take, inputs: [], outputs: [this.St, out.buffer], params: this.params(0), workgroups: [Math.ceil(this.numEnvs / WG)], label: 'gpu_env_take_stats' });
    return out;
  }

  /**
   * The batch's state in the CPU VecEnv's checkpoint format (float32 state widened to numbers).
   * Finished episodes not yet drained are not part of it (drain first). One readback.
   */
  async getState(): Promise<GpuVecEnvState> {
    this.alive('read its state');
    const n = this.numEnvs, D = this.def.stateSize;
    const [s, c, st] = await runtime().readMany([
      { buffer: this.S, bytes: 4 * D * n },
      { buffer: this.Cn, bytes: 8 * n },
      { buffer: this.St, bytes: 16 * n },
    ]);
    const S = new Float32Array(s), Cn = new Uint32Array(c), St = new Float32Array(st);
    return {
      id: this.id,
      numEnvs: n,
      seed: this.seed,
      started: this.started,
      rng: Array.from({ length: n }, (_, i) => ({ seed: this.seed, stream: i, words: Cn[2 * i + 1] })),
      cores: Array.from({ length: n }, (_, i) => this.def.unpackState(S.subarray(D * i, D * (i + 1)))),
      episodeReturns: Array.from({ length: n }, (_, i) => St[4 * i]),
      episodeLengths: Array.from({ length: n }, (_, i) => Cn[2 * i]),
      completed: [],
    };
  }

  /** Restores a state from getState() or from the CPU VecEnv's getState() of the same env. */
  setState(st: GpuVecEnvState): void {
    this.alive('restore a state');
    if (st.id !== this.id) throw new Error(`${this.id} (GPU): this state is of env ${JSON.stringify(st.id)}, not ${this.id}`);
    if (st.numEnvs !== this.numEnvs) throw new Error(`${this.id} (GPU): the state has ${st.numEnvs} envs, this batch ${this.numEnvs}`);
    checkSeed(st.seed);
    const n = this.numEnvs, D = this.def.stateSize;
    const S = new Float32Array(D * n), Cn = new Uint32Array(2 * n), Stats = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) {
      S.set(this.def.packState(st.cores[i]), D * i);
      const words = st.rng[i].words;
      if (!Number.isInteger(words) || words < 0 || words >= 2 ** 32) throw new Error(`${this.id} (GPU): env ${i}'s stream is ${words} words in; the GPU counter holds < 2^32`);
      Cn[2 * i] = st.episodeLengths[i];
      Cn[2 * i + 1] = words;
      Stats[4 * i] = st.episodeReturns[i];
    }
    this.seed = st.seed;
    this.started = st.started;
    // episodes logged before belong to the replaced state
    this.logSteps = 0;
    this.logLost = 0;
    const rt = runtime();
    // The batch recorded so far may still read these buffers: submit it before overwriting.
    rt.flush();
    rt.device.queue.writeBuffer(this.S, 0, S);
    rt.device.queue.writeBuffer(this.Cn, 0, Cn);
    rt.device.queue.writeBuffer(this.St, 0, Stats);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const rt = runtime();
    rt.release(this.S);
    rt.release(this.Cn);
    rt.release(this.St);
    rt.release(this.EP);
  }
}
