// One tensor a checkpoint must hold: its name, logical shape [out, in], and what it is for (the kind decides
// how the converter stores it). Every family's tensor list is made of these.
export type TensorKind = 'linear' | 'embedding' | 'norm' | 'router' | 'bias' | 'precise' | 'table';
export const TENSOR_KINDS: readonly TensorKind[] = ['linear', 'embedding', 'norm', 'router', 'bias', 'precise', 'table'];

export interface TensorSpec {
  name: string;
  shape: number[];
  kind: TensorKind;
  /** Decoder layer index (MTP layers count on from numLayers), or null for model-level tensors. */
  layer: number | null;
  /** Routed expert index, or null. An expert's three matrices are kept contiguous by the converter. */
  expert: number | null;
  /** Part of a multi-token-prediction module, which the main forward pass does not use. */
  mtp: boolean;
}
