// Compute pipelines cached by a typed key: one shader module per composed WGSL source (gpu/wgsl-compose.ts),
// one pipeline per (source, entry point, variant, override constants). Every launcher builds its pipelines
// through here.
import type { ShaderSource } from './wgsl-compose';
import { lowerWgsl } from './wgsl-lower';

export type OverrideConstants = Record<string, number>;

export interface PipelineKey {
  /** The module's source; its id (the main source and the pieces composed into it) starts the key. */
  readonly source: ShaderSource;
  readonly entryPoint: string;
  /** Which shape of the kernel (for example 'row' or 'workgroup'); part of the label. */
  readonly variant: string;
  readonly constants: OverrideConstants;
}

export function pipelineKeyString(key: PipelineKey): string {
  const c = Object.keys(key.constants).sort().map((k) => `${k}=${key.constants[k]}`).join(',');
  return `${key.source.id}/${key.entryPoint}/${key.variant}{${c}}`;
}

export class PipelineCache {
  private readonly modules = new Map<string, { code: string; module: GPUShaderModule }>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  /**
   * `wgslFeatures`: the WGSL language features the runtime offers; a module whose `requires` names one
   * it lacks is compiled lowered (gpu/wgsl-lower.ts). Absent: every module as written. Tests pass a
   * smaller set to run the lowered kernels on a runtime that has the features.
   */
  constructor(
    readonly device: GPUDevice,
    readonly wgslFeatures?: ReadonlySet<string>,
    /**
     * A diagnostic build's change to every composed source before it is compiled (kernels/mla-reads.ts
     * counts the latent cache's reads this way); a cache with one holds only such builds.
     */
    readonly rewrite?: (code: string) => string,
  ) {}

  /** The module of `source`; refuses a second, different source under an id already compiled. */
  module(source: ShaderSource): GPUShaderModule {
    let m = this.modules.get(source.id);
    if (!m) {
      const written = this.rewrite ? this.rewrite(source.code) : source.code;
      const code = this.wgslFeatures ? lowerWgsl(written, this.wgslFeatures) : written;
      m = { code: source.code, module: this.device.createShaderModule({ label: source.id, code }) };
      this.modules.set(source.id, m);
    } else if (m.code !== source.code) {
      throw new Error(`PipelineCache: two different WGSL sources share the id ${source.id}`);
    }
    return m.module;
  }

  get(key: PipelineKey): GPUComputePipeline {
    const id = pipelineKeyString(key);
    const module = this.module(key.source);
    let p = this.pipelines.get(id);
    if (!p) {
      p = this.device.createComputePipeline({
        label: id,
        layout: 'auto',
        compute: { module, entryPoint: key.entryPoint, constants: key.constants },
      });
      this.pipelines.set(id, p);
    }
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

/** One recorded kernel launch: everything bound, ready to go into a compute pass any number of times. */
export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
}

/**
 * Binds buffers in the convention every kernel follows: inputs (read-only storage) from binding 0, then
 * outputs (read_write storage), then the params uniform last, all in group 0.
 */
export function bindKernel(
  device: GPUDevice,
  label: string,
  pipeline: GPUComputePipeline,
  inputs: readonly GPUBuffer[],
  outputs: readonly GPUBuffer[],
  params: GPUBuffer,
): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = [...inputs, ...outputs, params].map((buffer, binding) => ({ binding, resource: { buffer } }));
  return device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
}

export function recordDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Splits a large 1-D workgroup count over x and y, since each dimension is capped (65535 by default). */
export function grid1d(workgroups: number, maxPerDim = 65535): [number, number, number] {
  if (workgroups <= maxPerDim) return [Math.max(1, workgroups), 1, 1];
  const y = Math.ceil(workgroups / maxPerDim);
  return [Math.ceil(workgroups / y), y, 1];
}

/** Records `dispatches` into one compute pass and submits it: one queue submission. */
export function submitDispatches(device: GPUDevice, label: string, dispatches: readonly Dispatch[]): void {
  const encoder = device.createCommandEncoder({ label });
  const pass = encoder.beginComputePass({ label });
  recordDispatches(pass, dispatches);
  pass.end();
  device.queue.submit([encoder.finish()]);
}
