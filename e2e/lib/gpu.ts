// Buffer plumbing for kernel cases: upload inputs, run dispatches in one submission, read outputs.
import { createStorage, readF32, submitDispatches, uploadStorage, withErrorScope, type Dispatch, type KernelContext } from 'webmoe';

export class CaseBuffers {
  private readonly owned: GPUBuffer[] = [];
  constructor(private readonly ctx: KernelContext, private readonly label: string) {}

  input(name: string, data: ArrayBufferView): GPUBuffer {
    const b = uploadStorage(this.ctx.device, `${this.label}:${name}`, data);
    this.owned.push(b);
    return b;
  }

  output(name: string, elements: number, bytesPerElement = 4): GPUBuffer {
    const b = createStorage(this.ctx.device, `${this.label}:${name}`, elements * bytesPerElement);
    this.owned.push(b);
    return b;
  }

  async run(make: () => Dispatch[]): Promise<void> {
    await withErrorScope(this.ctx.device, this.label, () => submitDispatches(this.ctx.device, this.label, make()));
  }

  read(buffer: GPUBuffer, elements: number): Promise<Float32Array> {
    return readF32(this.ctx.device, buffer, elements);
  }

  async readU32(buffer: GPUBuffer, elements: number): Promise<Uint32Array> {
    return new Uint32Array((await readF32(this.ctx.device, buffer, elements)).buffer);
  }

  destroy(): void {
    for (const b of this.owned) b.destroy();
  }
}
