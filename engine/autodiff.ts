// The functional autodiff API: grad, valueAndGrad, vjp, jvp, hvp, mixed second derivatives.
//
// Reverse mode over the GradNodes recorded by engine/ops.ts. Backward rules are written with
// differentiable ops, and a backward pass records its own graph whenever it runs inside another
// transformation (transformDepth > 0), so derivatives nest: grad(grad(f)), hvp = grad of ⟨∇f, v⟩.
// At top level backward runs without recording, so first-order gradients keep no graph.
//
// Variables are aliases of the caller's tensors (sharing the buffer). Inside an enclosing
// transformation the alias is an identity node on the original, so an outer derivative flows
// through the inner one (no perturbation confusion: variables are identified by object).
//
// Every transformation runs inside a scope: intermediates are freed when it returns.

import {
  Tensor, scope, noGrad, withGradMode, isGradEnabled, enterTransform, exitTransform, insideTransform,
  fmtShape, captureCreated, forwardOpen, tangentOf, setTangent, withTangents, setTransposeRule, type GradNode,
} from './tensor.ts';
import { add, onesLike, zerosLike, mul, sum } from './ops.ts';

// ------------------------------------------------------------------ parameter trees

export type Tree = Tensor | Tree[] | { [k: string]: Tree };

/** Leaves of a tree of tensors in a fixed order, and a function that rebuilds the tree. */
export function flattenTree(tree: unknown): { leaves: Tensor[]; rebuild: (leaves: Tensor[]) => any } {
  const leaves: Tensor[] = [];
  const build = (x: unknown): (it: Iterator<Tensor>) => unknown => {
    if (x instanceof Tensor) {
      leaves.push(x);
      return (it) => it.next().value;
    }
    if (Array.isArray(x)) {
      const parts = x.map(build);
      return (it) => parts.map((p) => p(it));
    }
    if (x && typeof x === 'object' && x.constructor === Object) {
      const keys = Object.keys(x);
      const parts = keys.map((k) => build((x as Record<string, unknown>)[k]));
      return (it) => Object.fromEntries(keys.map((k, i) => [k, parts[i](it)]));
    }
    throw new Error(`expected a tensor or an array/object of tensors, found ${x === null ? 'null' : typeof x}`);
  };
  const make = build(tree);
  return { leaves, rebuild: (ls: Tensor[]) => make(ls[Symbol.iterator]()) };
}

// ------------------------------------------------------------------ core reverse pass

function makeVariable(t: Tensor): Tensor {
  const v = t.view(t.shape);
  v.isVar = true;
  if (isGradEnabled() && t.tracked) {
    v.node = { op: 'identity', inputs: [t], saved: [], backward: (g) => [g] };
  }
  // a gradient taken inside a jvp is differentiated forward through its variables
  const tan = tangentOf(t);
  if (tan) setTangent(v, tan);
  return v;
}

/**
 * Cotangents of `targets` given cotangents of `outputs`. Only the part of the graph between
 * them is walked. Returns zeros for targets the outputs do not depend on.
 */
function backward(outputs: Tensor[], cotangents: Tensor[], targets: Tensor[]): Tensor[] {
  const targetSet = new Set(targets);
  // Iterative DFS: topological order of tensors that depend on some target.
  const relevant = new Map<Tensor, boolean>();
  const order: Tensor[] = [];
  const visit = (root: Tensor) => {
    const stack: Array<[Tensor, number]> = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      if (i === 0 && relevant.has(t)) {
        stack.pop();
        continue;
      }
      if (targetSet.has(t) || !t.node) {
        relevant.set(t, targetSet.has(t));
        if (targetSet.has(t)) order.push(t);
        stack.pop();
        continue;
      }
      const inputs = t.node.inputs;
      if (i < inputs.length) {
        top[1]++;
        if (!relevant.has(inputs[i])) stack.push([inputs[i], 0]);
        continue;
      }
      const r = inputs.some((x) => relevant.get(x));
      relevant.set(t, r);
      if (r) order.push(t);
      stack.pop();
    }
  };
  for (const o of outputs) visit(o);

  const ct = new Map<Tensor, Tensor>();
  const accumulate = (t: Tensor, g: Tensor) => {
    const prev = ct.get(t);
    ct.set(t, prev ? add(prev, g) : g);
  };
  outputs.forEach((o, i) => {
    if (relevant.get(o)) accumulate(o, cotangents[i]);
  });
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    if (targetSet.has(t)) continue;
    const g = ct.get(t);
    const node = t.node;
    if (!g || !node) continue;
    const needs = node.inputs.map((x) => !!relevant.get(x));
    const gs = node.backward(g, needs);
    node.inputs.forEach((x, i) => {
      const gi = gs[i];
      if (gi && needs[i]) {
        if (gi.shape.length !== x.shape.length || gi.shape.some((d, j) => d !== x.shape[j])) {
          throw new Error(`internal: backward of ${node.op} gave shape ${fmtShape(gi.shape)} for input ${fmtShape(x.shape)}`);
        }
        accumulate(x, gi);
      }
    });
  }
  return targets.map((t) => ct.get(t) ?? zerosLike(t));
}

function checkCotangent(out: Tensor, g: Tensor, i: number) {
  if (g.shape.length !== out.shape.length || g.shape.some((d, j) => d !== out.shape[j])) {
    throw new Error(`vjp: cotangent ${i} has shape ${fmtShape(g.shape)} but the output has shape ${fmtShape(out.shape)}`);
  }
}

type Fn = (...args: any[]) => any;

function normArgnums(argnums: number | number[] | undefined, nargs: number): number[] {
  const list = argnums === undefined ? [0] : typeof argnums === 'number' ? [argnums] : argnums;
  for (const a of list) if (a < 0 || a >= nargs) throw new Error(`argnums ${a} is out of range for ${nargs} argument(s)`);
  return list;
}

/** Runs f with the args at argnums replaced by variables; returns outputs and the variables. */
function traced(f: Fn, args: unknown[], argnums: number[]) {
  const vars: Tensor[][] = [];
  const rebuilds: Array<(l: Tensor[]) => unknown> = [];
  const newArgs = args.slice();
  for (const a of argnums) {
    const { leaves, rebuild } = flattenTree(args[a]);
    const vs = leaves.map(makeVariable);
    vars.push(vs);
    rebuilds.push(rebuild);
    newArgs[a] = rebuild(vs);
  }
  enterTransform();
  let out: unknown;
  try {
    out = withGradMode(true, () => f(...newArgs));
  } finally {
    exitTransform();
    for (const vs of vars) for (const v of vs) v.isVar = false;
  }
  // Variables stay identifiable to backward through this set even after isVar is cleared.
  return { out, vars, rebuilds };
}

/**
 * Backward without recording at top level; recording (for higher derivatives) inside a
 * transformation. Tangents still flow through it inside a jvp (forward-over-reverse).
 */
function runBackward(outs: Tensor[], cts: Tensor[], targets: Tensor[]): Tensor[] {
  const record = insideTransform() && isGradEnabled();
  return record ? backward(outs, cts, targets) : withGradMode(false, () => backward(outs, cts, targets));
}

function scalarOut(out: unknown, who: string): Tensor {
  if (!(out instanceof Tensor)) throw new Error(`${who}: the function must return a scalar Tensor, got ${typeof out}`);
  if (out.size !== 1) {
    throw new Error(`${who}: the function must return a scalar (one element), got shape ${fmtShape(out.shape)}; use vjp for non-scalar outputs`);
  }
  return out;
}

// ------------------------------------------------------------------ public API

/**
 * valueAndGrad(f, argnums?)(...args) → [f(...args), gradient(s)]. With one argnum the gradient
 * has the structure of that argument (a tensor, array or object of tensors); with several, an array.
 */
export function valueAndGrad<F extends Fn>(f: F, argnums?: number | number[]) {
  return (...args: Parameters<F>): [Tensor, any] =>
    scope(() => {
      const nums = normArgnums(argnums, args.length);
      const { out, vars, rebuilds } = traced(f, args, nums);
      const y = scalarOut(out, 'grad');
      const flat = vars.flat();
      const grads = runBackward([y], [onesLike(y)], flat);
      // At top level nothing can differentiate the value later: drop its graph so the scope frees it.
      if (!insideTransform()) y.node = null;
      let k = 0;
      const trees = vars.map((vs, i) => rebuilds[i](grads.slice(k, (k += vs.length))));
      return [y, typeof argnums === 'object' ? trees : trees[0]];
    });
}

/** grad(f, argnums?)(...args): the gradient of a scalar function. */
export function grad<F extends Fn>(f: F, argnums?: number | number[]) {
  const vg = valueAndGrad(f, argnums);
  return (...args: Parameters<F>): any => {
    const [v, g] = vg(...args);
    if (!insideTransform()) v.dispose();
    return g;
  };
}

/**
 * vjp(f, ...primals) → [out, vjpFn]: vjpFn(cotangent) returns the cotangents of every primal
 * (as an array, each shaped like its primal). Call vjpFn.dispose() when done, or run inside scope().
 */
export function vjp<F extends Fn>(f: F, ...primals: Parameters<F>): [any, ((ct: any) => any[]) & { dispose: () => void }] {
  const { result, created } = captureCreated(() => traced(f, primals, primals.map((_, i) => i)));
  const outTree = flattenTree(result.out);
  // At top level the graph is only for vjpFn; its intermediates are freed by vjpFn.dispose().
  const fn = ((ct: unknown) =>
    scope(() => {
      const { leaves: cts } = flattenTree(ct);
      if (cts.length !== outTree.leaves.length) throw new Error(`vjp: expected ${outTree.leaves.length} cotangent tensor(s), got ${cts.length}`);
      cts.forEach((g, i) => checkCotangent(outTree.leaves[i], g, i));
      const grads = runBackward(outTree.leaves, cts, result.vars.flat());
      let k = 0;
      return result.vars.map((vs, i) => result.rebuilds[i](grads.slice(k, (k += vs.length))));
    })) as ((ct: unknown) => any[]) & { dispose: () => void };
  fn.dispose = () => {
    const outs = new Set(outTree.leaves);
    for (const t of created) if (!outs.has(t)) t.dispose();
    for (const o of outTree.leaves) if (!insideTransform()) o.node = null;
  };
  return [result.out, fn];
}

function checkTangents(primals: unknown[], tangents: unknown[], who: string) {
  if (primals.length !== tangents.length) throw new Error(`${who}: ${primals.length} primals but ${tangents.length} tangents`);
  primals.forEach((p, i) => {
    const a = flattenTree(p).leaves, b = flattenTree(tangents[i]).leaves;
    if (a.length !== b.length) throw new Error(`${who}: tangent ${i} has ${b.length} tensor(s) but its primal has ${a.length}`);
    a.forEach((t, j) => {
      if (t.shape.join() !== b[j].shape.join()) {
        throw new Error(`${who}: tangent ${i} leaf ${j} has shape ${fmtShape(b[j].shape)} but its primal has ${fmtShape(t.shape)}`);
      }
    });
  });
}

/**
 * jvp(f, primals, tangents) → [out, J·tangents] in forward mode: every op computes its output's
 * tangent as it runs (its own rule, or its backward rule transposed), so the cost is one pass of
 * f plus its tangent rules. Inside another jvp (one forward level at a time) it falls back to
 * transposing the vjp. At top level elementwise ops and small matmuls compute value and tangent
 * in one dual kernel; `{ dual: false }` uses the op-composed rules instead.
 */
export function jvp<F extends Fn>(f: F, primals: unknown[], tangents: unknown[], opts: { dual?: boolean } = {}): [any, any] {
  checkTangents(primals, tangents, 'jvp');
  if (forwardOpen()) return jvpByTransposition(f, primals, tangents);
  return scope(() => {
    const map = new Map<Tensor, Tensor>();
    const args = primals.map((p, i) => {
      const { leaves, rebuild } = flattenTree(p);
      const tl = flattenTree(tangents[i]).leaves;
      return rebuild(leaves.map((t, j) => {
        // an alias per argument: only uses through the argument carry the tangent
        const v = t.view(t.shape);
        if (isGradEnabled() && t.tracked) v.node = { op: 'identity', inputs: [t], saved: [], backward: (g) => [g] };
        map.set(v, tl[j]);
        return v;
      }));
    });
    let outTan: Tensor[] = [];
    // At top level nothing differentiates the tangents, so ops may use their dual kernels
    // (value and tangent in one dispatch, the tangent without a graph); dual: false forces the
    // op-composed rules everywhere.
    const dual = !insideTransform() && opts.dual !== false;
    const out = withTangents(map, () => {
      const o = f(...args);
      outTan = flattenTree(o).leaves.map((l) => map.get(l) ?? noGrad(() => zerosLike(l)));
      return o;
    }, dual);
    return [out, flattenTree(out).rebuild(outTan)];
  });
}

/** jvp as the vjp of u ↦ vjp(f)(u) (linear in u) applied to the tangents (nested forward levels). */
function jvpByTransposition<F extends Fn>(f: F, primals: unknown[], tangents: unknown[]): [any, any] {
  return scope(() => {
    const first = traced(f, primals, primals.map((_, i) => i));
    const outTree = flattenTree(first.out);
    const u0 = outTree.rebuild(outTree.leaves.map((t) => noGrad(() => zerosLike(t))));
    // u ↦ vjp(f)(u) is linear; traced as a transformation, its backward records a graph in u.
    const lin = (u: unknown) => {
      const gs = backward(outTree.leaves, flattenTree(u).leaves, first.vars.flat());
      let k = 0;
      return first.vars.map((vs, i) => first.rebuilds[i](gs.slice(k, (k += vs.length))));
    };
    const second = traced(lin, [u0], [0]);
    const jt = runBackward(flattenTree(second.out).leaves, flattenTree(tangents).leaves, second.vars[0]);
    if (!insideTransform()) for (const o of outTree.leaves) o.node = null;
    return [first.out, outTree.rebuild(jt)];
  });
}

// Ops without a tangent rule: J·t = ∇ᵤ Σᵢ ⟨backwardᵢ(u), tᵢ⟩ (the backward rule is linear in u
// and written with differentiable ops, so one reverse pass over it transposes it).
setTransposeRule((out: Tensor, inputs: Tensor[], bwd: GradNode['backward'], tans: Array<Tensor | null>) => {
  const needs = tans.map((t) => t !== null);
  const f = (u: Tensor) => {
    const gs = bwd(u, needs);
    let acc: Tensor | null = null;
    gs.forEach((g, i) => {
      const t = tans[i];
      if (!g || !t) return;
      const d = sum(mul(g, t));
      acc = acc ? add(acc, d) : d;
    });
    // an op whose backward ignores every input with a tangent has a zero derivative there
    return acc ?? mul(sum(u), 0);
  };
  return grad(f)(noGrad(() => zerosLike(out))) as Tensor;
});

/**
 * hvp(f, primals, tangents) → H·v for a scalar f. Forward over reverse: the jvp of ∇f along v,
 * so the gradient's own pass carries the tangents (one forward + one backward pass, each with
 * its tangent rules). Inside a jvp (one forward level at a time) it is reverse over reverse:
 * the gradient of ⟨∇f(x), v⟩. primals/tangents: arrays of (trees of) tensors, one per argument.
 */
export function hvp<F extends Fn>(f: F, primals: unknown[], tangents: unknown[]): any[] {
  const nums = primals.map((_, i) => i);
  const gradF = (...xs: unknown[]) => (grad(f, nums) as (...a: unknown[]) => unknown[])(...xs);
  if (!forwardOpen()) {
    checkTangents(primals, tangents, 'hvp');
    const [g, hv] = jvp(gradF, primals, tangents);
    const keepHv = new Set(flattenTree(hv).leaves);
    // the gradient itself is not returned (inside a transformation the graph may still need it: the scope frees it)
    if (!insideTransform()) for (const t of flattenTree(g).leaves) if (!keepHv.has(t)) t.dispose();
    return hv as unknown[];
  }
  return hvpReverse(f, primals, tangents);
}

/** H·v by reverse over reverse: the gradient of ⟨∇f(x), v⟩. */
export function hvpReverse<F extends Fn>(f: F, primals: unknown[], tangents: unknown[]): any[] {
  const nums = primals.map((_, i) => i);
  const inner = (...xs: unknown[]) => {
    const g = (grad(f, nums) as (...a: unknown[]) => unknown[])(...xs);
    return innerProduct(g, tangents);
  };
  return grad(inner, nums)(...primals) as unknown[];
}

/** ⟨a, b⟩ summed over all leaves of two trees of the same structure. */
export function innerProduct(a: unknown, b: unknown): Tensor {
  const la = flattenTree(a).leaves, lb = flattenTree(b).leaves;
  if (la.length !== lb.length) throw new Error(`innerProduct: trees have ${la.length} and ${lb.length} leaves`);
  let acc: Tensor | null = null;
  for (let i = 0; i < la.length; i++) {
    if (la[i].shape.join() !== lb[i].shape.join()) {
      throw new Error(`innerProduct: leaf ${i} shapes ${fmtShape(la[i].shape)} and ${fmtShape(lb[i].shape)} differ`);
    }
    const d = sum(mul(la[i], lb[i]));
    acc = acc ? add(acc, d) : d;
  }
  if (!acc) throw new Error('innerProduct: empty trees');
  return acc;
}
