// Where runs live. The harness and the algorithm modules reach files only through this
// interface, so they import no node:fs: rl/harness/node_storage.ts implements it for Node, a
// browser build implements it over OPFS/IndexedDB, and MemoryStorage (below) serves tests.
// Paths are '/'-separated strings; `join` builds them.

export interface RunLock {
  release(): Promise<void>;
}

export interface Storage {
  join(...parts: string[]): string;
  exists(path: string): Promise<boolean>;
  /** Entry names of a directory ([] when it does not exist). */
  list(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** Replaces the file so that a crash leaves either the old content or the new one. */
  writeAtomic(path: string, data: Uint8Array | string): Promise<void>;
  append(path: string, text: string): Promise<void>;
  remove(path: string): Promise<void>;
  /**
   * Takes the run directory's lock (one writer per run). Throws, naming the holder, when
   * another live process holds it; a lock left by a dead process is taken over.
   */
  lock(dir: string): Promise<RunLock>;
}

/** An in-memory Storage (tests; a browser session without persistence). */
export class MemoryStorage implements Storage {
  readonly files = new Map<string, Uint8Array>();
  readonly dirs = new Set<string>(['']);
  private locks = new Set<string>();

  join(...parts: string[]) {
    return parts.filter((p) => p !== '').join('/').replace(/\/+/g, '/');
  }
  async exists(p: string) {
    return this.files.has(p) || this.dirs.has(p);
  }
  async list(dir: string) {
    const pre = dir ? dir + '/' : '';
    const out = new Set<string>();
    for (const k of [...this.files.keys(), ...this.dirs]) if (k.startsWith(pre) && k !== dir) out.add(k.slice(pre.length).split('/')[0]);
    return [...out].sort();
  }
  async mkdir(dir: string) {
    const parts = dir.split('/');
    for (let i = 1; i <= parts.length; i++) this.dirs.add(parts.slice(0, i).join('/'));
  }
  async readText(p: string) {
    return new TextDecoder().decode(await this.readBytes(p));
  }
  async readBytes(p: string) {
    const f = this.files.get(p);
    if (!f) throw new Error(`${p} does not exist`);
    return f;
  }
  async writeAtomic(p: string, data: Uint8Array | string) {
    await this.mkdir(p.split('/').slice(0, -1).join('/'));
    this.files.set(p, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }
  async append(p: string, text: string) {
    const old = this.files.get(p) ?? new Uint8Array();
    const add = new TextEncoder().encode(text);
    const out = new Uint8Array(old.length + add.length);
    out.set(old);
    out.set(add, old.length);
    await this.mkdir(p.split('/').slice(0, -1).join('/'));
    this.files.set(p, out);
  }
  async remove(p: string) {
    this.files.delete(p);
  }
  async lock(dir: string): Promise<RunLock> {
    if (this.locks.has(dir)) throw new Error(`run directory ${dir} is locked by another training in this process`);
    this.locks.add(dir);
    return { release: async () => void this.locks.delete(dir) };
  }
}
