// Linear algebra: matmul (numpy semantics), dot, outer, and dense solve/inv/det by Gaussian
// elimination with partial pivoting.
import { broadcastShapes, broadcastTo, mul } from './elementwise.ts';
import { ND, type NDLike, asND, fmtShape, ravel, size, unravel, zeros } from './nd.ts';
import { reshape } from './shape.ts';

/**
 * numpy.matmul: a [..., M, K] @ b [..., K, N] → [..., M, N] with the batch dimensions broadcast.
 * A 1-D a is treated as [1, K] and a 1-D b as [K, 1], and the added axis is removed afterwards.
 */
export function matmul(a: NDLike, b: NDLike): ND {
  let A = asND(a), B = asND(b);
  if (A.rank === 0 || B.rank === 0) throw new Error(`matmul: operands must be at least 1-D, got ${fmtShape(A.shape)} and ${fmtShape(B.shape)}`);
  const aVec = A.rank === 1, bVec = B.rank === 1;
  if (aVec) A = reshape(A, [1, A.shape[0]]);
  if (bVec) B = reshape(B, [B.shape[0], 1]);
  const M = A.shape[A.rank - 2], K = A.shape[A.rank - 1];
  const K2 = B.shape[B.rank - 2], N = B.shape[B.rank - 1];
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: ${fmtShape(asND(a).shape)} @ ${fmtShape(asND(b).shape)}`);
  const batch = broadcastShapes(A.shape.slice(0, -2), B.shape.slice(0, -2));
  const Ab = broadcastTo(A, [...batch, M, K]);
  const Bb = broadcastTo(B, [...batch, K, N]);
  const out = zeros([...batch, M, N]);
  for (let bi = 0; bi < size(batch); bi++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += Ab.data[bi * M * K + i * K + k] * Bb.data[bi * K * N + k * N + j];
        out.data[bi * M * N + i * N + j] = s;
      }
    }
  }
  return reshape(out, [...batch, ...(aVec ? [] : [M]), ...(bVec ? [] : [N])]);
}

/**
 * numpy.dot: a scalar operand multiplies; otherwise sums over the last axis of a and the
 * second-to-last axis of b (the only axis if b is 1-D). No broadcasting: the output shape is
 * a.shape[:-1] + b.shape[:-2] + b.shape[-1:].
 */
export function dot(a: NDLike, b: NDLike): ND {
  const A = asND(a), B = asND(b);
  if (A.rank === 0 || B.rank === 0) return mul(A, B);
  const K = A.shape[A.rank - 1];
  const bAx = B.rank === 1 ? 0 : B.rank - 2;
  if (B.shape[bAx] !== K) throw new Error(`dot: shapes ${fmtShape(A.shape)} and ${fmtShape(B.shape)} not aligned`);
  const aRest = A.shape.slice(0, -1);
  const bRest = B.shape.filter((_, d) => d !== bAx);
  const outShape = [...aRest, ...bRest];
  const out = zeros(outShape);
  for (let i = 0; i < out.size; i++) {
    const oi = unravel(i, outShape);
    const ai = oi.slice(0, aRest.length);
    const bi = oi.slice(aRest.length);
    let s = 0;
    for (let k = 0; k < K; k++) {
      const bIdx = [...bi];
      bIdx.splice(bAx, 0, k);
      s += A.data[ravel([...ai, k], A.shape)] * B.data[ravel(bIdx, B.shape)];
    }
    out.data[i] = s;
  }
  return out;
}

/** Outer product of the flattened arrays: [size(a), size(b)]. */
export function outer(a: NDLike, b: NDLike): ND {
  const A = asND(a), B = asND(b);
  const out = zeros([A.size, B.size]);
  for (let i = 0; i < A.size; i++) for (let j = 0; j < B.size; j++) out.data[i * B.size + j] = A.data[i] * B.data[j];
  return out;
}

/** Sum of the diagonal of a 2-D array. */
export function trace(a: ND): number {
  if (a.rank !== 2) throw new Error(`trace: needs a 2-D array, got ${fmtShape(a.shape)}`);
  let s = 0;
  for (let i = 0; i < Math.min(a.shape[0], a.shape[1]); i++) s += a.data[i * a.shape[1] + i];
  return s;
}

/** The diagonal of a 2-D array, or the square diagonal matrix of a 1-D array. */
export function diag(a: ND): ND {
  if (a.rank === 1) {
    const n = a.shape[0];
    const out = zeros([n, n]);
    for (let i = 0; i < n; i++) out.data[i * n + i] = a.data[i];
    return out;
  }
  if (a.rank !== 2) throw new Error(`diag: needs a 1-D or 2-D array, got ${fmtShape(a.shape)}`);
  const n = Math.min(a.shape[0], a.shape[1]);
  const out = zeros([n]);
  for (let i = 0; i < n; i++) out.data[i] = a.data[i * a.shape[1] + i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Dense solves on plain number[][] matrices.

function rowsOf(data: Float64Array, offset: number, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => data[offset + i * cols + j]));
}

/** Solves A X = B for one n×n A and n×k B by Gaussian elimination with partial pivoting. */
function solveDense(A: number[][], B: number[][]): number[][] {
  const n = A.length, k = B[0]?.length ?? 0;
  const M = A.map((r) => [...r]);
  const R = B.map((r) => [...r]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    if (M[p][c] === 0) throw new Error('solve: singular matrix');
    [M[c], M[p]] = [M[p], M[c]];
    [R[c], R[p]] = [R[p], R[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let j = c; j < n; j++) M[r][j] -= f * M[c][j];
      for (let j = 0; j < k; j++) R[r][j] -= f * R[c][j];
    }
  }
  const X = Array.from({ length: n }, () => new Array<number>(k).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = 0; j < k; j++) {
      let s = R[i][j];
      for (let m = i + 1; m < n; m++) s -= M[i][m] * X[m][j];
      X[i][j] = s / M[i][i];
    }
  }
  return X;
}

/** Determinant of one n×n matrix: product of the pivots of partial-pivoting elimination. */
function detDense(A: number[][]): number {
  const n = A.length;
  const M = A.map((r) => [...r]);
  let d = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[p][c])) p = r;
    if (M[p][c] === 0) return 0;
    if (p !== c) {
      [M[c], M[p]] = [M[p], M[c]];
      d = -d;
    }
    d *= M[c][c];
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c];
      for (let j = c; j < n; j++) M[r][j] -= f * M[c][j];
    }
  }
  return d;
}

function checkSquare(A: ND, what: string): number {
  if (A.rank < 2 || A.shape[A.rank - 1] !== A.shape[A.rank - 2]) throw new Error(`${what}: needs [..., n, n], got ${fmtShape(A.shape)}`);
  return A.shape[A.rank - 1];
}

/**
 * Solves A x = b. A is [..., n, n]; b is [..., n, k], or [n] for a single right-hand side (numpy
 * 2 semantics: b is a vector only when it is 1-D). Batch dimensions broadcast. Throws on an exactly
 * singular pivot.
 */
export function solve(A: ND, b: ND): ND {
  const n = checkSquare(A, 'solve');
  if (b.rank === 1) {
    if (b.shape[0] !== n) throw new Error(`solve: A ${fmtShape(A.shape)} and b ${fmtShape(b.shape)} do not match`);
    return reshape(solve(A, reshape(b, [n, 1])), [...A.shape.slice(0, -2), n]);
  }
  if (b.rank < 2 || b.shape[b.rank - 2] !== n) throw new Error(`solve: A ${fmtShape(A.shape)} and b ${fmtShape(b.shape)} do not match`);
  const k = b.shape[b.rank - 1];
  const batch = broadcastShapes(A.shape.slice(0, -2), b.shape.slice(0, -2));
  const Ab = broadcastTo(A, [...batch, n, n]);
  const bb = broadcastTo(b, [...batch, n, k]);
  const out = zeros([...batch, n, k]);
  for (let bi = 0; bi < size(batch); bi++) {
    const X = solveDense(rowsOf(Ab.data, bi * n * n, n, n), rowsOf(bb.data, bi * n * k, n, k));
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out.data[bi * n * k + i * k + j] = X[i][j];
  }
  return out;
}

/** Inverse of [..., n, n] (solve against the identity). */
export function inv(A: ND): ND {
  const n = checkSquare(A, 'inv');
  const I = zeros([n, n]);
  for (let i = 0; i < n; i++) I.data[i * n + i] = 1;
  return solve(A, broadcastTo(I, A.shape));
}

/** Determinant of [..., n, n] → [...]. */
export function det(A: ND): ND {
  const n = checkSquare(A, 'det');
  const batch = A.shape.slice(0, -2);
  const out = zeros(batch);
  for (let bi = 0; bi < size(batch); bi++) out.data[bi] = detDense(rowsOf(A.data, bi * n * n, n, n));
  return out;
}
