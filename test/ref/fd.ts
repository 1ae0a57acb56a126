// Central finite differences. Every function perturbs private copies of the inputs, so the arrays
// passed in are never modified. Each difference quotient divides by the step actually taken,
// (x + eps) - (x - eps) in floating point, rather than by 2·eps.
import { ND, fmtShape, sameShape, zeros } from './nd.ts';

/** A scalar function result: a number or a size-1 ND. */
export type ScalarLike = number | ND;

function toScalar(v: ScalarLike, what: string): number {
  if (typeof v === 'number') return v;
  if (v.size !== 1) throw new Error(`${what}: function must return a scalar, got shape ${fmtShape(v.shape)}`);
  return v.data[0];
}

/**
 * Gradient of a scalar function of several arrays by central differences:
 * g[t][i] = (f(..., x_t + eps·e_i, ...) - f(..., x_t - eps·e_i, ...)) / (2·eps).
 */
export function numGrad(f: (xs: ND[]) => ScalarLike, xs: readonly ND[], eps = 1e-5): ND[] {
  const work = xs.map((x) => x.clone());
  const grads = xs.map((x) => zeros(x.shape));
  for (let t = 0; t < work.length; t++) {
    const w = work[t];
    for (let i = 0; i < w.size; i++) {
      const orig = w.data[i];
      const xp = orig + eps, xm = orig - eps;
      w.data[i] = xp;
      const fp = toScalar(f(work), 'numGrad');
      w.data[i] = xm;
      const fm = toScalar(f(work), 'numGrad');
      w.data[i] = orig;
      grads[t].data[i] = (fp - fm) / (xp - xm);
    }
  }
  return grads;
}

/**
 * Jacobian of an array-valued function by central differences. For each input t the result has
 * shape [...outShape, ...xs[t].shape]: J[t][o, i] = d f(xs)[o] / d xs[t][i].
 */
export function numJacobian(f: (xs: ND[]) => ND, xs: readonly ND[], eps = 1e-5): ND[] {
  const work = xs.map((x) => x.clone());
  const outShape = f(work).shape;
  const outSize = outShape.reduce((p, d) => p * d, 1);
  const jacs = xs.map((x) => zeros([...outShape, ...x.shape]));
  for (let t = 0; t < work.length; t++) {
    const w = work[t];
    const n = w.size;
    for (let i = 0; i < n; i++) {
      const orig = w.data[i];
      const xp = orig + eps, xm = orig - eps;
      w.data[i] = xp;
      const fp = f(work);
      w.data[i] = xm;
      const fm = f(work);
      w.data[i] = orig;
      if (!sameShape(fp.shape, outShape) || !sameShape(fm.shape, outShape)) throw new Error('numJacobian: output shape changed under perturbation');
      for (let o = 0; o < outSize; o++) jacs[t].data[o * n + i] = (fp.data[o] - fm.data[o]) / (xp - xm);
    }
  }
  return jacs;
}

/** Directional derivative (Jacobian-vector product) of an array-valued function along vs. */
export function numJvp(f: (xs: ND[]) => ND, xs: readonly ND[], vs: readonly ND[], eps = 1e-5): ND {
  checkDirections(xs, vs, 'numJvp');
  const plus = xs.map((x, t) => shifted(x, vs[t], eps));
  const minus = xs.map((x, t) => shifted(x, vs[t], -eps));
  const fp = f(plus), fm = f(minus);
  const out = zeros(fp.shape);
  for (let o = 0; o < out.size; o++) out.data[o] = (fp.data[o] - fm.data[o]) / (2 * eps);
  return out;
}

/**
 * Hessian-vector product by central differences of a gradient function along the direction vs:
 * (gradF(xs + eps·vs) - gradF(xs - eps·vs)) / (2·eps), one array per gradient output.
 */
export function numHvp(gradF: (xs: ND[]) => ND[], xs: readonly ND[], vs: readonly ND[], eps = 1e-4): ND[] {
  checkDirections(xs, vs, 'numHvp');
  const gp = gradF(xs.map((x, t) => shifted(x, vs[t], eps)));
  const gm = gradF(xs.map((x, t) => shifted(x, vs[t], -eps)));
  if (gp.length !== gm.length) throw new Error('numHvp: gradient count changed under perturbation');
  return gp.map((g, k) => {
    const out = zeros(g.shape);
    for (let i = 0; i < out.size; i++) out.data[i] = (g.data[i] - gm[k].data[i]) / (2 * eps);
    return out;
  });
}

/**
 * Dense Hessian of a scalar function of one array, shape [...x.shape, ...x.shape], from the
 * four-point formula H[i][j] = (f(x+h·e_i+h·e_j) - f(x+h·e_i-h·e_j) - f(x-h·e_i+h·e_j)
 * + f(x-h·e_i-h·e_j)) / (4h²), which is symmetric by construction.
 */
export function numHessian(f: (x: ND) => ScalarLike, x: ND, eps = 1e-4): ND {
  const n = x.size;
  const w = x.clone();
  const H = zeros([...x.shape, ...x.shape]);
  const at = (i: number, si: number, j: number, sj: number): number => {
    const oi = w.data[i], oj = w.data[j];
    w.data[i] += si * eps;
    w.data[j] += sj * eps;
    const v = toScalar(f(w), 'numHessian');
    w.data[i] = oi;
    w.data[j] = oj;
    return v;
  };
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      H.data[i * n + j] = (at(i, 1, j, 1) - at(i, 1, j, -1) - at(i, -1, j, 1) + at(i, -1, j, -1)) / (4 * eps * eps);
    }
  }
  return H;
}

function checkDirections(xs: readonly ND[], vs: readonly ND[], what: string): void {
  if (xs.length !== vs.length) throw new Error(`${what}: ${xs.length} inputs but ${vs.length} directions`);
  xs.forEach((x, t) => {
    if (!sameShape(x.shape, vs[t].shape)) throw new Error(`${what}: input ${t} has shape ${fmtShape(x.shape)} but direction ${fmtShape(vs[t].shape)}`);
  });
}

function shifted(x: ND, v: ND, s: number): ND {
  const out = zeros(x.shape);
  for (let i = 0; i < out.size; i++) out.data[i] = x.data[i] + s * v.data[i];
  return out;
}
