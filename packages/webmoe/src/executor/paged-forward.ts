// A recorded forward pass run with paged experts (docs/paging.md): the dispatch list is cut after each
// MoE layer's router; each piece is one submission, after which the router's choices ([T·K] u32, a few
// bytes) are read back, the pager copies the missing experts into their slots and writes the slot of each
// choice, and the next piece runs. A call costs one submission and one small readback per MoE layer, plus
// the last piece's submission.
import { WebmoeError } from '../errors';
import { mapForReading, type GpuContext } from '../gpu/device';
import { USAGE } from '../gpu/buffers';
import { recordDispatches, type Dispatch } from '../gpu/pipelines';
import type { ExpertPager } from './expert-pager';

export interface PagedIo {
  /** The router's ids [maxTokens·K] u32 and the slots buffer the kernels read (FamilyState.pagedExperts). */
  routerIds: GPUBuffer;
  slots: GPUBuffer;
}

/** Where the recorded plan of each MoE layer is cut: right after its router's selection (forward.ts labels it `L<l>.router`). */
export function routerCuts(dispatches: readonly Dispatch[], layers: readonly number[]): { at: number; layer: number }[] {
  const cuts = layers.map((layer) => ({ layer, at: dispatches.findIndex((d) => d.label === `L${layer}.router`) + 1 }));
  const lost = cuts.find((c) => c.at === 0);
  if (lost) throw new WebmoeError('internal', `expert paging: the recorded forward pass has no router dispatch for layer ${lost.layer}`);
  return cuts.sort((a, b) => a.at - b.at);
}

export class PagedForward {
  private readonly staging: GPUBuffer;

  constructor(private readonly gpu: GpuContext, readonly pager: ExpertPager, private readonly io: PagedIo, private readonly topK: number, maxTokens: number) {
    this.staging = gpu.device.createBuffer({ label: 'router_ids:readback', size: 4 * topK * maxTokens, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  }

  /**
   * Runs `dispatches` (a call of `tokens` tokens) piece by piece; `finish` adds the call's last commands
   * (sampling copies) to the last submission. Returns the submissions and the bytes read back.
   */
  async run(dispatches: readonly Dispatch[], tokens: number, finish: (encoder: GPUCommandEncoder) => void): Promise<{ submits: number; readback: number }> {
    const device = this.gpu.device;
    const bytes = 4 * this.topK * tokens;
    let from = 0, submits = 0, readback = 0;
    for (const cut of routerCuts(dispatches, this.pager.layers)) {
      const encoder = device.createCommandEncoder({ label: `paged forward to L${cut.layer}` });
      const pass = encoder.beginComputePass({ label: `paged forward to L${cut.layer}` });
      recordDispatches(pass, dispatches.slice(from, cut.at));
      pass.end();
      encoder.copyBufferToBuffer(this.io.routerIds, 0, this.staging, 0, bytes);
      device.queue.submit([encoder.finish()]);
      submits++;
      await mapForReading(this.gpu, this.staging, 0, bytes);
      const ids = new Uint32Array(this.staging.getMappedRange(0, bytes).slice(0));
      this.staging.unmap();
      readback += bytes;
      device.queue.writeBuffer(this.io.slots, 0, (await this.pager.slotsFor(cut.layer, ids)) as Uint32Array<ArrayBuffer>);
      from = cut.at;
    }
    const encoder = device.createCommandEncoder({ label: 'paged forward tail' });
    const pass = encoder.beginComputePass({ label: 'paged forward tail' });
    recordDispatches(pass, dispatches.slice(from));
    pass.end();
    finish(encoder);
    device.queue.submit([encoder.finish()]);
    this.pager.countTokens(tokens);
    this.gpu.check();
    return { submits: submits + 1, readback };
  }

  destroy(): void {
    this.staging.destroy();
  }
}
