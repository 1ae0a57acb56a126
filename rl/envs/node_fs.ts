// The few synchronous file-system calls that modules shared with the browser bundle make on
// their Node-only paths (an MJCF file named by path). Node's built-ins come from
// process.getBuiltinModule at call time, so importing this module pulls no node:fs into a
// browser build (scripts/build-browser.mjs refuses node: imports); calling readFileSync there
// throws an error that says what is missing.
import { nodeBuiltin as builtin } from '../../kernels/common.ts';

type NodeFs = typeof import('node:fs');
type NodePath = typeof import('node:path');


/** fs.readFileSync(file, 'utf8') under Node; outside Node an error naming the file. */
export function readFileSync(file: string, encoding: 'utf8'): string {
  const fs = builtin<NodeFs>('node:fs');
  if (!fs) throw new Error(`cannot read ${file}: reading files by path needs Node's file system (this is a browser); pass the content instead`);
  return fs.readFileSync(file, encoding);
}

/** path.basename under Node; elsewhere the part after the last '/' or '\\'. */
export function basename(file: string): string {
  const path = builtin<NodePath>('node:path');
  return path ? path.basename(file) : file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
}
