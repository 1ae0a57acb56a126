// Neural-network layer: fused kernels' ops, modules, initialisers, optimizers (see docs/kernels.md).
export {};
