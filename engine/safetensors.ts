// safetensors encoding and decoding (the format PyTorch and Hugging Face tools read): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets},
// __metadata__: {string: string}}, then the raw little-endian data. Pure byte work on
// Uint8Array (no file system), so it runs in Node, browsers and bundlers; whoever owns the
// storage writes the bytes (rl/harness's Node storage writes them atomically).
//
// dtypes: the typed array decides (Float32Array → F32, Float64Array → F64, Int32Array → I32,
// Uint32Array → U32, Int16Array → I16, Uint16Array → U16, Int8Array → I8, Uint8Array → U8), so
// a compact uint8 replay buffer is stored as U8 and read back as a Uint8Array.

export type StArray = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

export interface NamedArrays<A extends StArray = StArray> {
  [name: string]: { data: A; shape: number[] };
}

const DTYPES: Array<[string, { new (b: ArrayBuffer): StArray; BYTES_PER_ELEMENT: number; name: string }]> = [
  ['F32', Float32Array], ['F64', Float64Array], ['I32', Int32Array], ['U32', Uint32Array],
  ['I16', Int16Array], ['U16', Uint16Array], ['I8', Int8Array], ['U8', Uint8Array],
];

function dtypeOf(a: StArray, name: string): string {
  for (const [d, C] of DTYPES) if (a.constructor === C) return d;
  throw new Error(`safetensors: tensor ${name} is a ${(a as object).constructor.name}; supported: ${DTYPES.map(([, C]) => C.name).join(', ')}`);
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeSafetensors(tensors: NamedArrays, metadata: Record<string, string> = {}): Uint8Array {
  if (!littleEndian) throw new Error('safetensors: big-endian hosts are not supported');
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
  }
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const n of names) {
    const { data, shape } = tensors[n];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`safetensors: ${n} has ${data.length} values but shape [${shape}]`);
    header[n] = { dtype: dtypeOf(data, n), shape, data_offsets: [off, off + data.byteLength] };
    off += data.byteLength;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  const pad = (8 - ((8 + enc.encode(json).length) % 8)) % 8;
  json += ' '.repeat(pad);
  const hbytes = enc.encode(json);
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let p = 8 + hbytes.length;
  for (const n of names) {
    const d = tensors[n].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

/** Decodes a safetensors file's bytes; `what` names the file in errors. */
export function decodeSafetensors(buf: Uint8Array, what = 'safetensors file'): { tensors: NamedArrays; metadata: Record<string, string> } {
  const bad = (why: string) => new Error(`${what} is corrupt or truncated: ${why}`);
  if (buf.length < 8) throw bad(`only ${buf.length} bytes`);
  const hlen = Number(new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true));
  if (hlen > buf.length - 8) throw bad(`header length ${hlen} exceeds the file (${buf.length} bytes)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + hlen)));
  } catch (e) {
    throw bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw bad(`header is JSON ${header === null ? 'null' : Array.isArray(header) ? 'array' : typeof header}, not an object of tensors`);
  }
  const dataStart = 8 + hlen;
  const tensors: NamedArrays = {};
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header as Record<string, any>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object') throw bad(`__metadata__ is not an object`);
      metadata = info as Record<string, string>;
      continue;
    }
    if (info === null || typeof info !== 'object') throw bad(`tensor ${name} has no {dtype, shape, data_offsets} entry`);
    const C = DTYPES.find(([d]) => d === info.dtype)?.[1];
    if (!C) throw new Error(`${what}: tensor ${name} has dtype ${info.dtype}; supported: ${DTYPES.map(([d]) => d).join(', ')}`);
    if (!Array.isArray(info.data_offsets) || !Array.isArray(info.shape)) throw bad(`tensor ${name} lacks shape or data_offsets`);
    const [s, e] = info.data_offsets as [number, number];
    if (!(Number.isInteger(s) && Number.isInteger(e)) || dataStart + e > buf.length || s > e || s < 0) {
      throw bad(`tensor ${name} [${s}, ${e}) lies outside the data (${buf.length - dataStart} bytes)`);
    }
    const n = (e - s) / C.BYTES_PER_ELEMENT;
    const shape = info.shape as number[];
    if (shape.reduce((a, b) => a * b, 1) !== n) throw bad(`tensor ${name} has shape [${shape}] but ${n} values`);
    const copy = new Uint8Array(e - s);
    copy.set(buf.subarray(dataStart + s, dataStart + e));
    tensors[name] = { data: new C(copy.buffer), shape };
  }
  return { tensors, metadata };
}
