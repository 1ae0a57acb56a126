/**
 * MuJoCo's official WebAssembly build (npm `mujoco-js`, MuJoCo 3.3.x), loaded once per process.
 *
 * The module instantiates asynchronously, so the MuJoCo envs need `await loadMujoco()` (or
 * rl/envs' `preloadEnv` / `makeEnvAsync`) before the synchronous `makeEnv` can build them.
 * The package itself is imported dynamically: importing rl/envs costs nothing until a MuJoCo
 * env is wanted.
 */
import type { MainModule, MjModel } from 'mujoco-js';

let module: MainModule | undefined;
let loading: Promise<MainModule> | undefined;
/** Lines MuJoCo printed while compiling (its XML parser reports there, not by throwing). */
let captured: string[] | null = null;

/** Load (once) and return MuJoCo's WebAssembly module. */
export function loadMujoco(): Promise<MainModule> {
  if (module) return Promise.resolve(module);
  loading ??= (async () => {
    const { default: factory } = await import('mujoco-js');
    // MuJoCo prints its XML parser's errors (to stdout) rather than throwing them.
    const m = await factory({
      print: (s: string) => {
        if (captured) captured.push(s);
        else process.stdout.write(`mujoco: ${s}\n`);
      },
      printErr: (s: string) => {
        if (captured) captured.push(s);
        else process.stderr.write(`mujoco: ${s}\n`);
      },
    });
    // The XML loader reads from the module's in-memory file system.
    m.FS.mkdirTree('/models', 0o777);
    module = m;
    return m;
  })();
  return loading;
}

/** The loaded module, or a clear error saying how to load it. */
export function mujocoModule(what: string): MainModule {
  if (!module) {
    throw new Error(
      `${what} runs on MuJoCo's WebAssembly module, which loads asynchronously: ` +
        `call \`await preloadEnv('${what}')\` or use \`await makeEnvAsync('${what}', …)\` (rl/envs), or \`await loadMujoco()\` (rl/envs/mujoco), first`,
    );
  }
  return module;
}

export function mujocoLoaded(): boolean {
  return module !== undefined;
}

/**
 * The text of a C++ exception MuJoCo threw while compiling. Its XML reader throws `mjXError` and
 * its compiler `mjCError`, neither derived from std::exception, so Emscripten's exception
 * wrapper has no message; both classes start with their `char message[]`, which is read here
 * from the WebAssembly heap (any typed-memory view of the module exposes the heap buffer).
 */
function exceptionText(heap: ArrayBufferLike, e: unknown): string | undefined {
  const ptr = (e as { excPtr?: unknown })?.excPtr;
  if (typeof ptr !== 'number' || ptr <= 0 || ptr >= heap.byteLength) return undefined;
  const bytes = new Uint8Array(heap);
  let end = ptr;
  while (end < bytes.length && end - ptr < 2000 && bytes[end] !== 0) end++;
  const s = new TextDecoder().decode(bytes.subarray(ptr, end)).trim();
  return s.length > 0 ? s : undefined;
}

/** A one-body model kept for the heap view exceptionText needs (the heap buffer changes when memory grows). */
let probe: { model: MjModel; data: { qpos: Float64Array } } | undefined;

function heapBuffer(m: MainModule): ArrayBufferLike {
  if (!probe) {
    m.FS.writeFile('/models/__probe.xml', '<mujoco><worldbody><body><joint/><geom size="0.1"/></body></worldbody></mujoco>');
    const model = m.MjModel.loadFromXML('/models/__probe.xml');
    probe = { model, data: new m.MjData(model) as unknown as { qpos: Float64Array } };
  }
  return probe.data.qpos.buffer;
}

/**
 * Compile an MJCF document. `file` names it in errors (and in MuJoCo's virtual file system).
 * A model that fails to compile throws MuJoCo's own message, prefixed with the file.
 */
export function compileModel(m: MainModule, xml: string, file: string): MjModel {
  heapBuffer(m); // before compiling, so the probe's allocation cannot move the heap under the error
  const vfsPath = `/models/${file.replace(/[^A-Za-z0-9._-]/g, '_')}`;
  m.FS.writeFile(vfsPath, xml);
  captured = [];
  let model: MjModel | null | undefined;
  let thrown: unknown;
  try {
    model = m.MjModel.loadFromXML(vfsPath);
  } catch (e) {
    thrown = e;
  } finally {
    const lines = captured;
    captured = null;
    try {
      m.FS.unlink(vfsPath);
    } catch {
      // already gone
    }
    if (thrown !== undefined || !model) {
      const text =
        (thrown !== undefined ? exceptionText(heapBuffer(m), thrown) : undefined) ??
        (lines.length > 0 ? lines.join('\n').replace(/^Loading error: /, '') : undefined) ??
        (thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown ?? 'no model returned'));
      throw new Error(`MuJoCo could not compile ${file}:\n${text.replaceAll(vfsPath, file)}`);
    }
  }
  return model;
}
