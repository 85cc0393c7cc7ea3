// Per-MoE-layer expert counters on the GPU (the router kernels add to them), read back once per reply for
// the demo's heatmap: never per token.
import { BufferGroup, createStorage, readBuffer } from '../gpu/buffers';

export class ExpertUsage {
  /** MoE layer → counts buffer [E] u32. */
  readonly buffers = new Map<number, GPUBuffer>();
  private readonly group: BufferGroup;
  private readonly experts: number;

  /** @param layers the MoE layers to count (none: counting off); @param experts routed experts per layer. */
  constructor(private readonly device: GPUDevice, layers: readonly number[], experts: number) {
    this.group = new BufferGroup(device, 'expert_usage:');
    if (experts) for (const l of layers) this.buffers.set(l, this.group.storage(`${l}`, experts * 4));
    this.experts = experts;
  }

  get bytes(): number {
    return this.group.bytes;
  }

  /** Expert choices per MoE layer since the last reset: layer → counts [E], in one readback. */
  async read(): Promise<Map<number, Uint32Array>> {
    const out = new Map<number, Uint32Array>();
    if (!this.buffers.size) return out;
    const E = this.experts;
    const layers = [...this.buffers.keys()];
    const all = createStorage(this.device, 'usage:all', layers.length * E * 4);
    const encoder = this.device.createCommandEncoder({ label: 'usage:gather' });
    layers.forEach((l, i) => encoder.copyBufferToBuffer(this.buffers.get(l)!, 0, all, i * E * 4, E * 4));
    this.device.queue.submit([encoder.finish()]);
    const counts = new Uint32Array(await readBuffer(this.device, all, layers.length * E * 4));
    all.destroy();
    layers.forEach((l, i) => out.set(l, counts.slice(i * E, (i + 1) * E)));
    return out;
  }

  reset(): void {
    if (!this.buffers.size) return;
    const encoder = this.device.createCommandEncoder({ label: 'usage:clear' });
    for (const u of this.buffers.values()) encoder.clearBuffer(u);
    this.device.queue.submit([encoder.finish()]);
  }

  destroy(): void {
    this.group.destroy();
  }
}
