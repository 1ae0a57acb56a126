// safetensors read/write (the format PyTorch and Hugging Face tools read): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__:
// {string: string}}, then the raw little-endian data. Writes are atomic: temp file, fsync,
// rename, then fsync of the directory, so a crash leaves either the old file or the new one.

import * as fs from 'node:fs';
import * as path from 'node:path';

export interface NamedArrays {
  [name: string]: { data: Float32Array; shape: number[] };
}

export function encodeSafetensors(tensors: NamedArrays, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const n of names) {
    const { data, shape } = tensors[n];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`safetensors: ${n} has ${data.length} values but shape [${shape}]`);
    header[n] = { dtype: 'F32', shape, data_offsets: [off, off + data.length * 4] };
    off += data.length * 4;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  const pad = (8 - ((8 + Buffer.byteLength(json)) % 8)) % 8;
  json += ' '.repeat(pad);
  const hbytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hbytes.length + off);
  out.writeBigUInt64LE(BigInt(hbytes.length), 0);
  hbytes.copy(out, 8);
  let p = 8 + hbytes.length;
  for (const n of names) {
    const d = tensors[n].data;
    const b = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    if (!littleEndian) throw new Error('safetensors: big-endian hosts are not supported');
    b.copy(out, p);
    p += b.length;
  }
  return out;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function decodeSafetensors(buf: Buffer, what = 'safetensors file'): { tensors: NamedArrays; metadata: Record<string, string> } {
  const bad = (why: string) => new Error(`${what} is corrupt or truncated: ${why}`);
  if (buf.length < 8) throw bad(`only ${buf.length} bytes`);
  const hlen = Number(buf.readBigUInt64LE(0));
  if (hlen > buf.length - 8) throw bad(`header length ${hlen} exceeds the file (${buf.length} bytes)`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + hlen;
  const tensors: NamedArrays = {};
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    if (info.dtype !== 'F32') throw new Error(`${what}: tensor ${name} has dtype ${info.dtype}; only F32 is supported`);
    const [s, e] = info.data_offsets as [number, number];
    if (dataStart + e > buf.length || s > e) throw bad(`tensor ${name} [${s}, ${e}) lies outside the data (${buf.length - dataStart} bytes)`);
    const n = (e - s) / 4;
    const shape = info.shape as number[];
    if (shape.reduce((a, b) => a * b, 1) !== n) throw bad(`tensor ${name} has shape [${shape}] but ${n} values`);
    const copy = new Uint8Array(e - s);
    copy.set(buf.subarray(dataStart + s, dataStart + e));
    tensors[name] = { data: new Float32Array(copy.buffer), shape };
  }
  return { tensors, metadata };
}

/** Writes a file atomically: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, data: Buffer | string) {
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

export function saveSafetensors(file: string, tensors: NamedArrays, metadata: Record<string, string> = {}) {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string) {
  if (!fs.existsSync(file)) throw new Error(`checkpoint ${file} does not exist`);
  return decodeSafetensors(fs.readFileSync(file), `checkpoint ${file}`);
}
