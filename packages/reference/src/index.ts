// @webmoe/reference: float64 CPU models of DeepSeek V2/V3 (docs/architecture-v3.md) and V4
// (docs/architecture-v4.md), written from the math and sharing no code with the GPU engine, to check it.
// It reads config.json and the weight files itself. Plain loops, Float64Array throughout.
export { referenceArgs, type ReferenceArgs, type ReferenceOptions, type YarnArgs, type FfnKind } from './args';
export { modelFamily, type ModelFamily } from './family';
export { ReferenceModel } from './model';
export { greedyDecode, type GreedyResult, type CausalModel } from './decoding';
export { route, type RoutingDecision } from './routing';
export { Rope, ropeInvFreq, softmaxScale, yarnCorrectionRange, yarnMscale } from './rope';
export { MapWeightSource, type WeightSource, type Tensor64 } from './weights';
export { CheckpointSource } from './checkpoint';
export { WebmoeFolderSource } from './webmoe-folder';
export { SyntheticWeights, syntheticWeights } from './synthetic';
export {
  loadWeights, loadCheckpointWeights, loadWebmoeWeights, loadReferenceModel, createReferenceModel, runReference,
  type LoadedWeights, type AnyReferenceModel,
} from './load';
export { relativeError } from './math';
export { v4Args, layerKind, type V4Args, type V4LayerKind } from './v4/args';
export { V4ReferenceModel, type V4Options } from './v4/model';
export { fp8RoundTrip, fp4RoundTrip, hadamardInPlace, roundE4m3, roundE2m1, powerOfTwoAtLeast } from './v4/quant-sim';
export { sinkhorn } from './v4/mhc';
