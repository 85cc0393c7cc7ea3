// @webmoe/reference: a float64 CPU model of DeepSeek V2/V3 written from shared/deepseek.md, sharing no code
// with the GPU engine, to check it. Naive (non-absorbed) MLA, plain loops, Float64Array throughout.
export { referenceArgs, type ReferenceArgs, type ReferenceOptions, type YarnArgs, type FfnKind } from './args';
export { ReferenceModel, type GreedyResult } from './model';
export { route, type RoutingDecision } from './routing';
export { ropeInvFreq, softmaxScale, yarnCorrectionRange, yarnMscale } from './rope';
export { MapWeightSource, type WeightSource, type Tensor64 } from './weights';
export { syntheticWeights } from './synthetic';
export { loadWeights, loadCheckpointWeights, loadWebmoeWeights, loadReferenceModel, runReference, type LoadedWeights } from './load';
export { relativeError } from './math';
