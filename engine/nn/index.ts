// Neural-network layer: fused kernels' ops, modules, initialisers, optimizers (see docs/kernels.md).
import { runtime } from '../tensor.ts';
import { setAdapterInfoSource } from '../../kernels/tune.ts';

// kernels/ never imports engine/: tell the tuning tables where the current adapter is.
setAdapterInfoSource(() => {
  try {
    const rt = runtime();
    const l = rt.device.limits;
    return {
      key: rt,
      info: rt.info.adapterInfo,
      limits: { maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX, maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY },
    };
  } catch {
    return null;
  }
});

export {
  linear, activate, softmax, logSoftmax, categoricalLogProb, categoricalEntropy, gaussianLogProb, tanhGaussian,
  mse, huber, layerNorm, nnDualKernels, nnFoldMinWorkgroups, nnFoldDualForward, type Activation, type TanhGaussianOptions,
} from './functional.ts';
export { conv2d, conv2dBackInput, conv2dBackWeight, convOutputSize, convFlippedBackInput, convVec4, convLinearPaths, type Conv2dArgs } from './conv.ts';
export { attention, attentionComposed, type AttentionOptions } from './attention.ts';
export { l1Norm, l1NormComposed } from './l1norm.ts';
export {
  ppoLoss, ppoLossComposed, packPpoBatch, PPO_STAT_NAMES, sprigLeaderLoss, type PpoLossOptions, type PpoBatch, type SprigLeaderLossOptions,
} from './ppo_loss.ts';
// SPRIG's perception blocks as first-order ops (one dispatch forward, two backward each; rl/sprig.ts)
export {
  sprigSpatialBlock, sprigTemporalBlock, gatedAttentionLayout, temporalBlockLayout, type GatedAttentionParams, type TemporalBlockParams,
} from './sprig_blocks.ts';
export {
  Linear, Conv2d, LayerNorm, MultiHeadAttention, MLP, Sequential, ReLU, Tanh, Sigmoid, Flatten,
  type Module, type LinearParams, type LinearOptions, type Conv2dOptions, type MhaParams, type MlpOptions,
} from './modules.ts';
export { namedParams, fromNamed, packParams, packedOf, packLayout, type Params, type Packed, type PackLayout } from './params.ts';
export {
  orthogonal, orthogonalData, xavierUniform, kaimingUniform, uniformInit, normalInit, initTensor, childSeed, fans, Rng,
  type InitSpec, type RngState,
} from './init.ts';
export {
  adam, adamw, sgd, rmsprop, clipGradNorm, linearDecay,
  type Optimizer, type StepOptions, type AdamOptions, type SgdOptions, type RmspropOptions,
} from './optim.ts';
export {
  tileFor, setTile, clearTiles, tunedTiles, loadTunedTiles, classifyAdapter, setAdapterClass, getAdapterClass, DEFAULT_TABLES,
  type AdapterClass, type ConvTile, type AttentionTile, type KernelFamily, type AnyTile,
} from '../../kernels/tune.ts';
export { autotune, ensureTuned } from './tune.ts';
export type { MatmulTile } from '../../kernels/matmul.ts';
export {
  CANDIDATES, TUNE_SHAPES, autotuneWith, shapeClass, hostFingerprint, tuneKey, describeAdapter, defaultCacheFile, readTuneCache,
  loadCachedTiles, setAutoLoadTiles, tilesLoadedFrom, setTuneNote, fitTile, tileMisfit, type AutotuneOptions, type TuneResult, type TileLimits,
} from '../../kernels/tune.ts';
