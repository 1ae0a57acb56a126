// The Node implementation of Storage: the only file of the harness that imports node:fs.
// Atomic writes: temp file in the same directory, fsync, rename, fsync of the directory.
// The run lock is a file `run.lock` created with O_EXCL holding the owner's pid and host; a
// lock whose pid is gone (same host) is stale and taken over.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RunLock, Storage } from './storage.ts';

export const LOCK_FILE = 'run.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class NodeStorage implements Storage {
  join(...parts: string[]) {
    return path.join(...parts);
  }
  async exists(p: string) {
    return fs.existsSync(p);
  }
  async list(dir: string) {
    return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  }
  async mkdir(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }
  async readText(p: string) {
    return new TextDecoder().decode(await this.readBytes(p));
  }
  async readBytes(p: string) {
    if (!fs.existsSync(p)) throw new Error(`${p} does not exist`);
    const b = fs.readFileSync(p);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  async writeAtomic(p: string, data: Uint8Array | string) {
    writeFileAtomic(p, data);
  }
  async append(p: string, text: string) {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.appendFileSync(p, text);
  }
  async remove(p: string) {
    fs.rmSync(p, { force: true });
  }
  async lock(dir: string): Promise<RunLock> {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, LOCK_FILE);
    const me = `${process.pid} ${os.hostname()}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(file, 'wx');
        fs.writeSync(fd, me + '\n');
        fs.closeSync(fd);
        const release = () => {
          try {
            if (fs.readFileSync(file, 'utf8').trim() === me) fs.rmSync(file, { force: true });
          } catch {
            // already gone
          }
        };
        process.once('exit', release);
        return {
          release: async () => {
            process.removeListener('exit', release);
            release();
          },
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const [pidS, host] = fs.readFileSync(file, 'utf8').trim().split(' ');
        const pid = Number(pidS);
        if (host === os.hostname() && Number.isInteger(pid) && !alive(pid)) {
          fs.rmSync(file, { force: true }); // stale: its process is gone
          continue;
        }
        throw new Error(`run directory ${dir} is in use by process ${pidS} on ${host} (${file}); wait for it to finish, or delete the lock file if that process is gone`);
      }
    }
    throw new Error(`could not lock ${dir}`);
  }
}

/** Writes a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, data: Uint8Array | string) {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(dir, 'r');
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
  } catch {
    // Directory fsync is not supported everywhere (e.g. some network filesystems).
  }
}

export const nodeStorage = new NodeStorage();
