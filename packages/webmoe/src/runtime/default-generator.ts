// The backend createEngine uses when the application names none: the WebGPU forward pass.
// It is built separately (issue 5's GPU half); until it lands, loading without an explicit backend fails
// in plain words instead of half-working.
import { WebmoeError } from '../errors';
import type { GeneratorFactory } from './generator';

export const defaultGeneratorFactory: GeneratorFactory = async () => {
  throw new WebmoeError('internal', 'this build of webmoe has no WebGPU forward pass yet; pass `generator` to createEngine/serveEngine');
};
