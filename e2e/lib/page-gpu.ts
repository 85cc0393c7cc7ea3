// The GPU device of a harness page, shared by every harness module the page hosts (e2e/decoding/index.html:
// decode-ahead, MTP and speculative): the engine's pipelines are compiled once per device and model shape,
// so a model shape one harness loaded is not compiled again for another (the V3 and V4 goldens and the demo
// model are loaded by all three). Each harness still loads and disposes its own models.
import { acquireGpu, type GpuContext } from 'webmoe';

let gpu: Promise<GpuContext> | null = null;

export const pageGpu = (): Promise<GpuContext> => (gpu ??= acquireGpu());
