// Small helpers for the buffers every kernel uses. Everything gets a label so that WebGPU's error
// messages (and captures in browser tools) say which tensor is involved.

// The spec's flag values, spelled out so that this module also loads where WebGPU's globals are absent (Node).
export const USAGE = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
export const STORAGE = USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC;

/** Storage buffers must be a multiple of 4 bytes and at least 4; round up once here. */
export function alignedSize(bytes: number, align = 4): number {
  return Math.max(align, Math.ceil(bytes / align) * align);
}

// Storage buffers are sized in whole vec4s, so that kernels may view any of them as array<vec4<f32>>.
const STORAGE_ALIGN = 16;

export function createStorage(device: GPUDevice, label: string, bytes: number, extraUsage = 0): GPUBuffer {
  return device.createBuffer({ label, size: alignedSize(bytes, STORAGE_ALIGN), usage: STORAGE | extraUsage });
}

/**
 * Storage buffers that live and die together (a model's activations, its caches): made through the group,
 * counted by `bytes` (their allocated sizes) and destroyed by one `destroy()`.
 */
export class BufferGroup {
  private readonly buffers: GPUBuffer[] = [];
  /** `prefix` starts every label. */
  constructor(private readonly device: GPUDevice, private readonly prefix = '') {}

  storage(label: string, bytes: number): GPUBuffer {
    const buffer = createStorage(this.device, `${this.prefix}${label}`, bytes);
    this.buffers.push(buffer);
    return buffer;
  }

  /** A storage buffer of `floats` 32-bit words. */
  f32(label: string, floats: number): GPUBuffer {
    return this.storage(label, floats * 4);
  }

  /** A storage buffer filled from `data`. */
  upload(label: string, data: ArrayBufferView): GPUBuffer {
    const buffer = uploadStorage(this.device, `${this.prefix}${label}`, data);
    this.buffers.push(buffer);
    return buffer;
  }

  get bytes(): number {
    return this.buffers.reduce((sum, b) => sum + b.size, 0);
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/** A storage buffer filled from `data` (padded to 16 bytes). */
export function uploadStorage(device: GPUDevice, label: string, data: ArrayBufferView, extraUsage = 0): GPUBuffer {
  const buffer = device.createBuffer({ label, size: alignedSize(data.byteLength, STORAGE_ALIGN), usage: STORAGE | extraUsage, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** Copies `bytes` from `source` through a staging buffer and returns them. One round trip: use it in tests and at the end of a step, never per kernel. */
export async function readBuffer(device: GPUDevice, source: GPUBuffer, bytes = source.size, offset = 0): Promise<ArrayBuffer> {
  const size = alignedSize(bytes);
  const staging = device.createBuffer({ label: `${source.label}:readback`, size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
  const encoder = device.createCommandEncoder({ label: `${source.label}:readback` });
  encoder.copyBufferToBuffer(source, offset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(1 /* GPUMapMode.READ */);
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.destroy();
  return copy;
}

export async function readF32(device: GPUDevice, source: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, source, count * 4, offset));
}

/**
 * A uniform block built field by field in declaration order with WGSL's alignment rules for scalars
 * (4 bytes each); vec/mat fields are not used in params blocks on purpose, which keeps the layout trivial.
 */
export class ParamsWriter {
  private readonly view: DataView;
  private offset = 0;
  constructor(private readonly bytes = 256) {
    this.view = new DataView(new ArrayBuffer(bytes));
  }
  u32(v: number): this {
    this.view.setUint32(this.offset, v >>> 0, true);
    this.offset += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.offset, v | 0, true);
    this.offset += 4;
    return this;
  }
  f32(v: number): this {
    this.view.setFloat32(this.offset, v, true);
    this.offset += 4;
    return this;
  }
  /** The block padded to 16 bytes, as uniform buffers require. */
  finish(): Uint8Array {
    return new Uint8Array(this.view.buffer, 0, alignedSize(this.offset, 16));
  }
}

export function createUniform(device: GPUDevice, label: string, params: ParamsWriter | Uint8Array): GPUBuffer {
  const data = params instanceof ParamsWriter ? params.finish() : params;
  const buffer = device.createBuffer({ label, size: alignedSize(data.byteLength, 16), usage: USAGE.UNIFORM | USAGE.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(data);
  buffer.unmap();
  return buffer;
}
