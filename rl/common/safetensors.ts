// Moved: safetensors encoding is engine/safetensors.ts (exported by the engine); atomic file
// writes are rl/harness/node_storage.ts. These Node wrappers keep in-flight imports working;
// use the harness's Storage instead. To be removed.
import * as fs from 'node:fs';
import { decodeSafetensors, encodeSafetensors, type NamedArrays } from '../../engine/safetensors.ts';
import { writeFileAtomic } from '../harness/node_storage.ts';

export { decodeSafetensors, encodeSafetensors, writeFileAtomic, type NamedArrays };

export function saveSafetensors(file: string, tensors: NamedArrays, metadata: Record<string, string> = {}) {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function loadSafetensors(file: string) {
  if (!fs.existsSync(file)) throw new Error(`checkpoint ${file} does not exist`);
  const b = fs.readFileSync(file);
  return decodeSafetensors(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), `checkpoint ${file}`);
}
