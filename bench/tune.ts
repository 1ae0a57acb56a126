// `npm run tune [-- --families matmul,linear] [--keep]`: times every candidate tile of each kernel
// family on this adapter and host and caches the fastest (default ~/.cache/stackelberg-gpu/
// tiles.json, or $STACKELBERG_TUNE_CACHE). Without --keep the cached entry is re-timed.
// The engine reads the cache by itself when it meets the same adapter on the same host.

import * as E from '../engine/index.ts';
import os from 'node:os';

const args = process.argv.slice(2);
const famArg = args.find((a) => a.startsWith('--families'));
const famIdx = args.indexOf('--families');
const famList = famArg?.includes('=') ? famArg.split('=')[1] : famIdx >= 0 ? args[famIdx + 1] : undefined;
const families = famList ? (famList.split(',') as E.KernelFamily[]) : undefined;
const valid = Object.keys(E.CANDIDATES);
for (const f of families ?? []) if (!valid.includes(f)) throw new Error(`tune: unknown kernel family '${f}' (valid: ${valid.join(', ')})`);

await E.init();
const rt = E.runtime();
const t0 = performance.now();
console.log(`tune: adapter ${E.describeAdapter(rt.info.adapterInfo)}; host ${E.hostFingerprint(rt.info.adapterInfo) || '(hardware adapter: not part of the key)'}; load ${os.loadavg()[0].toFixed(2)}`);
const res = await E.autotune({ families, force: !args.includes('--keep'), log: (l) => console.log(`  ${l}`) });
console.log(`tune: ${res.fromCache ? 'cached entry kept' : 'tuned'} in ${((performance.now() - t0) / 1000).toFixed(0)} s; key "${res.adapter}"; file ${res.file ?? '(none)'}`);
for (const [k, t] of Object.entries(res.chosen)) console.log(`  ${k}: ${JSON.stringify(t)}`);
process.exit(0);
