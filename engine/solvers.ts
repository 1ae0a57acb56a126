// Implicit-differentiation solvers: mixed second derivatives, conjugate gradient, total derivative.
export {};
