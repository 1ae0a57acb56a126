// What a peer engine provides to bench/run.ts.
import type { CaseSpec, Prepared } from '../common.ts';

export interface Peer {
  /** Engine name in rows and tables: 'tfjs-webgpu', 'jax-js', ... */
  name: string;
  version: string;
  /** Free-form details (backend flags, device). */
  details?: string;
  /** Kinds of CaseSpec this peer implements. */
  supports(spec: CaseSpec): boolean;
  /** Builds the case on the shared inputs: check once, then time (bench/run.ts interleaves engines). */
  prepare(spec: CaseSpec): Promise<Prepared>;
}
