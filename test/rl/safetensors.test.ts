import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, saveSafetensors } from '../../rl/common/safetensors.ts';

describe('safetensors', () => {
  const tensors = {
    'a.weight': { data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
    'b': { data: Float32Array.from([-1.5]), shape: [1] },
  };

  it('round-trips tensors and metadata, with the header layout of the format', () => {
    const buf = encodeSafetensors(tensors, { note: 'hi' });
    const hlen = Number(buf.readBigUInt64LE(0));
    expect((8 + hlen) % 8).toBe(0);
    const header = JSON.parse(buf.subarray(8, 8 + hlen).toString());
    expect(header['a.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
    expect(header.__metadata__).toEqual({ note: 'hi' });
    const back = decodeSafetensors(buf);
    expect(Array.from(back.tensors['a.weight'].data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(back.tensors.b.shape).toEqual([1]);
    expect(back.metadata.note).toBe('hi');
  });

  it('writes atomically (no temp file left) and names corrupt or truncated files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'st-'));
    const f = path.join(dir, 'x.safetensors');
    saveSafetensors(f, tensors);
    expect(fs.readdirSync(dir)).toEqual(['x.safetensors']);
    expect(loadSafetensors(f).tensors.b.data[0]).toBe(-1.5);
    const full = fs.readFileSync(f);
    fs.writeFileSync(f, full.subarray(0, full.length - 5));
    expect(() => loadSafetensors(f)).toThrow(/corrupt or truncated/);
    fs.writeFileSync(f, full.subarray(0, 4));
    expect(() => loadSafetensors(f)).toThrow(/corrupt or truncated/);
    const bad = Buffer.from(full);
    bad.write('@@@@', 9);
    fs.writeFileSync(f, bad);
    expect(() => loadSafetensors(f)).toThrow(/not valid JSON/);
    expect(() => loadSafetensors(path.join(dir, 'missing.safetensors'))).toThrow(/does not exist/);
  });
});
