import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../engine/safetensors.ts';
import { nodeStorage } from '../../rl/harness/node_storage.ts';

describe('safetensors', () => {
  const tensors = {
    'a.weight': { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
    'b': { data: Float32Array.from([-1.5]), shape: [1] },
  };

  it('round-trips tensors and metadata, with the header layout of the format', () => {
    const buf = encodeSafetensors(tensors, { note: 'hi' });
    const hlen = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect((8 + hlen) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + hlen)));
    expect(header['a.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header.__metadata__).toEqual({ note: 'hi' });
    const back = decodeSafetensors(buf);
    expect(Array.from(back.tensors['a.weight'].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.b.shape).toEqual([1]);
    expect(back.metadata.note).toBe('hi');
  });

  it('keeps each typed array\'s dtype (a uint8 replay stays uint8; float64 stays exact)', () => {
    const u8 = Uint8Array.from([0, 1, 255, 7]);
    const f64 = Float64Array.from([Math.PI, 1e-300]);
    const i32 = Int32Array.from([-5, 2 ** 31 - 1]);
    const buf = encodeSafetensors({ u8: { data: u8, shape: [2, 2] }, f64: { data: f64, shape: [2] }, i32: { data: i32, shape: [2] } });
    const back = decodeSafetensors(buf).tensors;
    expect(back.u8.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(back.u8.data)).toEqual([0, 1, 255, 7]);
    expect(Array.from(back.f64.data)).toEqual([Math.PI, 1e-300]);
    expect(Array.from(back.i32.data)).toEqual([-5, 2 ** 31 - 1]);
  });

  it('writes atomically (no temp file left) and names corrupt or truncated files', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    const f = path.join(dir, 'x.safetensors');
    await nodeStorage.writeAtomic(f, encodeSafetensors(tensors));
    expect(fs.readdirSync(dir)).toEqual(['x.safetensors']);
    const full = new Uint8Array(fs.readFileSync(f));
    expect(decodeSafetensors(full).tensors.b.data[0]).toBe(-1.5);
    expect(() => decodeSafetensors(full.subarray(0, full.length - 5), f)).toThrow(/corrupt or truncated/);
    expect(() => decodeSafetensors(full.subarray(0, 4), f)).toThrow(/corrupt or truncated/);
    const bad = full.slice();
    bad.set(new TextEncoder().encode('@@@@'), 9);
    expect(() => decodeSafetensors(bad, f)).toThrow(/not valid JSON/);
  });

  it('a header that is JSON null (or not an object) is named as such', () => {
    const h = new TextEncoder().encode('null    ');
    const buf = new Uint8Array(8 + h.length);
    new DataView(buf.buffer).setBigUint64(0, BigInt(h.length), true);
    buf.set(h, 8);
    expect(() => decodeSafetensors(buf, 'checkpoint x')).toThrow(/checkpoint x is corrupt or truncated: header is JSON null/);
  });
});
