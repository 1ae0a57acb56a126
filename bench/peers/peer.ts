// What a peer engine provides to bench/run.ts.
import type { CaseSpec, Row } from '../common.ts';

export interface Peer {
  /** Engine name in rows and tables: 'tfjs-webgpu', 'jax-js', 'torch-cpu', ... */
  name: string;
  version: string;
  /** Free-form details (backend flags, device). */
  details?: string;
  /** Kinds of CaseSpec this peer implements. */
  supports(spec: CaseSpec): boolean;
  /** Checks its result against the float64 reference once, then times the case. */
  run(spec: CaseSpec, id: string, group: string): Promise<Row>;
}
