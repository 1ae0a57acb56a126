// The training page: pick an environment and an algorithm from the registry, train on this
// browser's GPU through the same harness the CLI uses (rl/harness Trainer), watch env 0 play,
// the learning curve and the engine's counters; pause and resume; download the full checkpoint
// (the CLI's safetensors format, byte for byte the same layout) and load one back.
//
// URL parameters preset the form (shareable runs, and the browser tests):
//   ?env=cartpole&algo=ppo&preset=cartpole-fast&seed=0&steps=20000&set={"numEnvs":4}&autostart=1

import * as E from '../../engine/index.ts';
import { encodeSafetensors } from '../../engine/safetensors.ts';
import { ENV_IDS, describeEnvs, makeEnv } from '../../rl/envs/index.ts';
import { resolveLayers, resolveRunConfig, type ConfigLayer } from '../../rl/harness/config.ts';
import { Trainer, checkpointInfo, type EvalLine, type LogLine } from '../../rl/harness/trainer.ts';
import type { Algorithm, RunConfig } from '../../rl/harness/types.ts';
import { ALGORITHMS, getAlgorithm } from '../../rl/registry.ts';
import { $, download, drawPlot, errorText, startEngine, status, yieldToPage } from './ui.ts';

/** Env ids the page offers: everything but MuJoCo (its WebAssembly module is not in the browser build). */
export const PAGE_ENVS = ENV_IDS.filter((id) => !id.startsWith('mujoco/'));

type State = 'idle' | 'running' | 'paused' | 'done' | 'failed';

interface Point {
  step: number;
  recent: number | null;
  episodic: number | null;
}

class TrainingPage {
  state: State = 'idle';
  trainer: Trainer | null = null;
  algo: Algorithm | null = null;
  points: Point[] = [];
  evals: EvalLine[] = [];
  lastLog: LogLine | null = null;
  /** Wall time of the last iteration (one update on-policy, one vector step off-policy), ms. */
  msPerUpdate: number | null = null;
  dispatchesPerUpdate: number | null = null;
  readbacksPerUpdate: number | null = null;
  updates = 0;
  engineReady = false;
  /** Serialises GPU work: a training step and a checkpoint never interleave. */
  private lock: Promise<unknown> = Promise.resolve();
  private lastFrame = 0;
  /** The running loop (null when none): pausing waits for its current update to finish. */
  private loopDone: Promise<void> | null = null;
  private pauseRequested = false;

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- form

  selected() {
    return {
      env: $<HTMLSelectElement>('env').value,
      algo: $<HTMLSelectElement>('algo').value,
      preset: $<HTMLSelectElement>('preset').value,
      envPreset: $<HTMLSelectElement>('env-preset').value,
      seed: $<HTMLInputElement>('seed').value,
      steps: $<HTMLInputElement>('steps').value,
      overrides: $<HTMLTextAreaElement>('overrides').value,
    };
  }

  /** Loads the chosen algorithm's module and refreshes its preset list and the compatibility note. */
  async onAlgoOrEnvChange(keepPreset?: string) {
    const { algo: name, env } = this.selected();
    $('env-preset-row').hidden = !env.startsWith('minatar/');
    const presetSel = $<HTMLSelectElement>('preset');
    try {
      this.algo = await getAlgorithm(name);
    } catch (e) {
      this.algo = null;
      status(errorText(e), 'error');
      return;
    }
    const names = Object.keys(this.algo.presets ?? {});
    presetSel.replaceChildren(new Option('(the paper defaults)', ''), ...names.map((n) => new Option(n, n)));
    const prefer = keepPreset ?? defaultPreset(names, env);
    presetSel.value = names.includes(prefer) ? prefer : '';
    const kind = makeEnv(env, { numEnvs: 1 }).actionSpace.kind;
    const ok = this.algo.actionSpaces.includes(kind);
    $('compat').textContent = ok ? '' : `${name} handles ${this.algo.actionSpaces.join(' and ')} actions; ${env} has ${kind} actions. Pick another pair.`;
    this.showConfig();
  }

  /** The run config the form describes (algorithm defaults → env defaults → preset → fields → JSON). */
  config(): RunConfig {
    const s = this.selected();
    if (!this.algo) throw new Error(`algorithm '${s.algo}' is not loaded`);
    const layers: ConfigLayer[] = [];
    if (s.preset) layers.push({ source: `preset ${s.preset}`, values: { ...this.algo.presets[s.preset] } });
    const num = (v: string, what: string) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n)) throw new Error(`${what} must be a number, got '${v}'`);
      return n;
    };
    layers.push({
      source: 'the form',
      values: {
        env: s.env, seed: num(s.seed, 'seed'), totalSteps: num(s.steps, 'steps'),
        preset: s.env.startsWith('minatar/') ? s.envPreset : null,
        // one log line per iteration: the curve and the statistics move with every update
        logEvery: 1, checkpointEvery: 0,
      },
    });
    if (s.overrides.trim()) {
      let values: unknown;
      try {
        values = JSON.parse(s.overrides);
      } catch (e) {
        throw new Error(`config overrides are not valid JSON: ${errorText(e)}`);
      }
      layers.push({ source: 'config overrides', values: values as Record<string, unknown> });
    }
    return resolveRunConfig(this.algo, layers);
  }

  showConfig() {
    try {
      $('config').textContent = JSON.stringify(this.config(), null, 1);
      if (!$('compat').textContent) status('');
    } catch (e) {
      $('config').textContent = '';
      status(errorText(e), 'error');
    }
  }

  // ---------------------------------------------------------------- runs

  async start() {
    await this.stopLoop();
    const cfg = this.config();
    if (!this.algo) return;
    this.reset();
    await this.exclusive(async () => {
      this.trainer = this.makeTrainer(this.algo!, cfg);
    });
    status(`training ${cfg.algo} on ${cfg.env} (seed ${cfg.seed}, ${cfg.totalSteps} steps)`, 'ok');
    this.resume();
  }

  private makeTrainer(algo: Algorithm, cfg: RunConfig): Trainer {
    const env = makeEnv(cfg.env, { numEnvs: cfg.numEnvs, seed: cfg.seed, ...(cfg.preset && cfg.env.startsWith('minatar/') ? { preset: cfg.preset as 'paper' | 'gymnax' } : {}) });
    // Draw env 0 while the rollout plays (at most ~15 frames a second).
    const step = env.step.bind(env);
    env.step = (a) => {
      const r = step(a);
      const now = performance.now();
      if (now - this.lastFrame > 66) {
        this.lastFrame = now;
        this.drawFrame(env.renderSvg(0));
      }
      return r;
    };
    return new Trainer(algo, cfg, {
      env,
      onLog: (l) => {
        this.lastLog = l;
        this.points.push({ step: l.step, recent: l.recent_return, episodic: l.episodic_return });
      },
      onEval: (l) => this.evals.push(l),
    });
  }

  private reset() {
    this.trainer?.dispose();
    this.trainer = null;
    this.points = [];
    this.evals = [];
    this.lastLog = null;
    this.msPerUpdate = this.dispatchesPerUpdate = this.readbacksPerUpdate = null;
    this.updates = 0;
  }

  resume() {
    if (!this.trainer || this.loopDone) return;
    this.pauseRequested = false;
    this.setState('running');
    this.loopDone = this.loop();
  }

  /** Stops after the update in flight; the state reads 'paused' once the loop has stopped. */
  async pause() {
    if (!this.loopDone) return;
    this.pauseRequested = true;
    $('state').textContent = 'pausing after this update…';
    await this.loopDone;
  }

  private async stopLoop() {
    await this.pause();
    await this.lock;
  }

  private async loop() {
    try {
      while (!this.pauseRequested && this.state === 'running' && this.trainer && !this.trainer.done()) {
        await this.exclusive(async () => {
          const t = this.trainer!;
          const c0 = E.counters();
          const t0 = performance.now();
          await t.step();
          await E.sync();
          this.msPerUpdate = performance.now() - t0;
          const c1 = E.counters();
          this.dispatchesPerUpdate = c1.dispatches - c0.dispatches;
          this.readbacksPerUpdate = c1.readbacks - c0.readbacks;
          this.updates++;
        });
        this.render();
        await yieldToPage();
      }
      if (this.trainer?.done() && this.state === 'running') {
        this.setState('done');
        status(`finished at step ${this.trainer.globalStep}${this.trainer.reachedTarget() ? ` (reached the target return ${this.trainer.cfg.stopAtReturn})` : ''}`, 'ok');
      } else if (this.state === 'running') {
        this.setState('paused');
      }
    } catch (e) {
      this.setState('failed');
      status(`training stopped: ${errorText(e)}`, 'error');
    } finally {
      this.loopDone = null;
      this.pauseRequested = false;
      this.render();
    }
  }

  // ---------------------------------------------------------------- checkpoints

  /** The run's full checkpoint (the CLI's format) as bytes. */
  async checkpointBytes(): Promise<Uint8Array> {
    return this.exclusive(async () => {
      if (!this.trainer) throw new Error('no run yet: start one (or load a checkpoint) first');
      const { tensors, metadata } = await this.trainer.checkpointData();
      return encodeSafetensors(tensors, metadata);
    });
  }

  async saveCheckpoint() {
    const bytes = await this.checkpointBytes();
    const t = this.trainer!;
    const name = `${t.cfg.algo}_${t.cfg.env.replace(/\//g, '-')}_seed${t.cfg.seed}_step${t.globalStep}.safetensors`;
    download(bytes, name);
    status(`saved ${name} (${(bytes.length / 1024).toFixed(1)} KiB): load it here, or in Node with \`npm run rl -- eval --checkpoint ${name}\``, 'ok');
  }

  /**
   * Loads a checkpoint file: parsed with the same checks as in Node (engine/safetensors.ts,
   * rl/harness checkpointInfo), refused with the reason when it is for another algorithm or env
   * than the form's, then restored in full (weights, optimiser, RNGs, envs) into a fresh run
   * built from the checkpoint's own config; it resumes with Resume.
   */
  async loadCheckpoint(file: File) {
    await this.stopLoop();
    const what = `checkpoint ${file.name}`;
    const bytes = new Uint8Array(await file.arrayBuffer());
    const info = checkpointInfo(bytes, what);
    const s = this.selected();
    if (info.algo !== s.algo || info.env !== s.env) {
      throw new Error(`${what} is ${info.algo} on ${info.env}, but this page is set to ${s.algo} on ${s.env}: select ${info.algo} and ${info.env} to load it`);
    }
    const algo = await getAlgorithm(info.algo);
    const cfg = resolveLayers(algo.defaults, algo.schema, [{ source: what, values: info.config }]) as RunConfig;
    algo.validate?.(cfg);
    this.reset();
    await this.exclusive(async () => {
      const t = this.makeTrainer(algo, cfg);
      try {
        await t.loadCheckpoint(bytes);
      } catch (e) {
        t.dispose();
        throw e;
      }
      this.trainer = t;
    });
    this.algo = algo;
    $<HTMLInputElement>('seed').value = String(cfg.seed);
    $<HTMLInputElement>('steps').value = String(cfg.totalSteps);
    this.setState('paused');
    this.render();
    this.drawFrame(this.trainer!.env.renderSvg(0));
    status(`loaded ${file.name}: ${info.algo} on ${info.env} at step ${info.step}; Resume continues it`, 'ok');
  }

  /** Every parameter of the current agent, read back (tests compare them with a saved file). */
  async weights(): Promise<Record<string, number[]>> {
    return this.exclusive(async () => {
      if (!this.trainer) return {};
      const named = E.namedParams(this.trainer.agent.params);
      const data = await E.readAll(Object.values(named));
      return Object.fromEntries(Object.keys(named).map((n, i) => [`params.${n}`, Array.from(data[i])]));
    });
  }

  async dispose() {
    await this.stopLoop();
    this.reset();
    this.setState('idle');
    this.render();
  }

  // ---------------------------------------------------------------- drawing

  setState(s: State) {
    this.state = s;
    document.body.dataset.state = s;
    $('state').textContent = s;
    const has = !!this.trainer;
    $<HTMLButtonElement>('pause').disabled = s !== 'running';
    $<HTMLButtonElement>('resume').disabled = !(s === 'paused' && has && !this.trainer!.done());
    $<HTMLButtonElement>('save').disabled = !has || s === 'failed';
    $<HTMLButtonElement>('stop').disabled = !has;
  }

  private frameImg: HTMLImageElement | null = null;
  drawFrame(svg: string) {
    const canvas = $<HTMLCanvasElement>('game');
    const img = (this.frameImg ??= new Image());
    img.onload = () => {
      const ctx = canvas.getContext('2d')!;
      const s = Math.min(canvas.width / img.naturalWidth, canvas.height / img.naturalHeight);
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(img, (canvas.width - img.naturalWidth * s) / 2, (canvas.height - img.naturalHeight * s) / 2, img.naturalWidth * s, img.naturalHeight * s);
      canvas.dataset.frames = String(Number(canvas.dataset.frames ?? 0) + 1);
    };
    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(svg);
  }

  render() {
    const t = this.trainer;
    // before the engine starts (or without WebGPU) the counters read as zero
    const m = this.engineReady ? E.memory() : { liveBuffers: 0, liveBytes: 0, pooledBytes: 0 };
    const c = this.engineReady ? E.counters() : { dispatches: 0, pipelines: 0 };
    const fmt = (v: number | null | undefined, d = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : (+v.toFixed(d)).toLocaleString('en'));
    const set = (id: string, v: string) => ($(id).textContent = v);
    set('c-step', t ? t.globalStep.toLocaleString('en') : '–');
    set('c-updates', t ? String(t.iteration) : '–');
    set('c-ms', fmt(this.msPerUpdate, 1));
    set('c-sps', fmt(this.lastLog?.sps, 0));
    set('c-dispatches', fmt(this.dispatchesPerUpdate, 0));
    set('c-readbacks', fmt(this.readbacksPerUpdate, 0));
    set('c-total-dispatches', c.dispatches.toLocaleString('en'));
    set('c-live', String(m.liveBuffers));
    set('c-live-mb', (m.liveBytes / 1e6).toFixed(2));
    set('c-pooled-mb', (m.pooledBytes / 1e6).toFixed(2));
    set('c-pipelines', String(c.pipelines));
    set('c-recent', fmt(t?.recentMean(), 2));
    const stats = this.lastLog ? Object.entries(this.lastLog).filter(([k, v]) => typeof v === 'number' && !['step', 'update', 'time_s', 'sps', 'episodes'].includes(k)) : [];
    $('stats').textContent = stats.map(([k, v]) => `${k} ${+(v as number).toPrecision(4)}`).join('   ');
    drawPlot($<HTMLCanvasElement>('curve'), [
      { name: 'episode return', color: '#9ab', dots: true, points: this.points.filter((p) => p.episodic !== null).map((p) => [p.step, p.episodic!]) },
      { name: 'mean of last 20', color: '#1565c0', points: this.points.filter((p) => p.recent !== null).map((p) => [p.step, p.recent!]) },
      { name: 'greedy eval', color: '#c62828', points: this.evals.map((e) => [e.step, e.mean_return]) },
    ], { xLabel: 'env steps', yLabel: 'return' });
    this.setState(this.state);
  }
}

function defaultPreset(names: string[], env: string): string {
  const family = env.startsWith('minatar/') ? 'minatar' : env.split('/')[0];
  return names.find((n) => n === `${family}-fast`) ?? names.find((n) => n.startsWith(family)) ?? '';
}

async function main() {
  const page = new TrainingPage();
  (globalThis as { stackelbergTraining?: TrainingPage }).stackelbergTraining = page;
  const envSel = $<HTMLSelectElement>('env');
  const algoSel = $<HTMLSelectElement>('algo');
  const descr = new Map(describeEnvs().map((d) => [d.id, d.description]));
  envSel.replaceChildren(...PAGE_ENVS.map((id) => new Option(`${id} — ${descr.get(id)}`, id)));
  algoSel.replaceChildren(...ALGORITHMS.filter((a) => a.status.implemented).map((a) => new Option(`${a.name} — ${a.summary}`, a.name)));
  const q = new URLSearchParams(location.search);
  const pick = (sel: HTMLSelectElement, v: string | null, what: string, valid: string[]) => {
    if (v === null) return;
    if (!valid.includes(v)) throw new Error(`URL parameter ${what}='${v}' is not one of: ${valid.join(', ')}`);
    sel.value = v;
  };
  try {
    pick(envSel, q.get('env') ?? 'cartpole', 'env', PAGE_ENVS);
    pick(algoSel, q.get('algo') ?? 'ppo', 'algo', ALGORITHMS.map((a) => a.name));
    if (q.get('envPreset')) $<HTMLSelectElement>('env-preset').value = q.get('envPreset')!;
    if (q.get('seed')) $<HTMLInputElement>('seed').value = q.get('seed')!;
    if (q.get('steps')) $<HTMLInputElement>('steps').value = q.get('steps')!;
    if (q.get('set')) $<HTMLTextAreaElement>('overrides').value = q.get('set')!;
  } catch (e) {
    status(errorText(e), 'error');
  }
  page.setState('idle');
  const guard = (fn: () => Promise<unknown>) => () => void fn().catch((e) => status(errorText(e), 'error'));
  envSel.onchange = guard(() => page.onAlgoOrEnvChange());
  algoSel.onchange = guard(() => page.onAlgoOrEnvChange());
  for (const id of ['preset', 'env-preset', 'seed', 'steps', 'overrides']) $(id).oninput = () => page.showConfig();
  $('preset').onchange = () => page.showConfig();
  $('start').onclick = guard(() => page.start());
  $('pause').onclick = guard(() => page.pause());
  $('resume').onclick = () => page.resume();
  $('save').onclick = guard(() => page.saveCheckpoint());
  $('stop').onclick = guard(() => page.dispose());
  const fileInput = $<HTMLInputElement>('load');
  fileInput.onchange = guard(async () => {
    const f = fileInput.files?.[0];
    fileInput.value = '';
    if (f) await page.loadCheckpoint(f);
  });
  document.body.addEventListener('dragover', (ev) => ev.preventDefault());
  document.body.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer?.files?.[0];
    if (f) guard(() => page.loadCheckpoint(f))();
  });
  await page.onAlgoOrEnvChange(q.get('preset') ?? undefined);
  page.render();
  if (!(await startEngine())) {
    $<HTMLButtonElement>('start').disabled = true;
    document.body.dataset.ready = 'no-webgpu';
    return;
  }
  page.engineReady = true;
  page.render();
  $<HTMLButtonElement>('start').disabled = false;
  document.body.dataset.ready = 'yes';
  if (q.get('autostart') === '1') guard(() => page.start())();
}

void main().catch((e) => status(`the page failed to start: ${errorText(e)}`, 'error'));
