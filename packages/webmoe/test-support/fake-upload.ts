// TEST ONLY: what the weight uploader's tests share: a fake GPUDevice that records its buffers and keeps
// WebGPU's rules for writeBuffer, and a V3 manifest around given shards, tensors and experts.
import type { Manifest, ManifestExpert, ManifestTensor } from '../src/model/manifest';

export interface FakeBuffer {
  label: string;
  size: number;
  bytes: Uint8Array;
  destroy(): void;
}

/** `limits`: the adapter's binding limits (absent: none, as the uploader then takes them). */
export function fakeDevice(limits?: { maxStorageBufferBindingSize: number; maxBufferSize: number }) {
  const buffers: FakeBuffer[] = [];
  const device = {
    ...(limits ? { limits } : {}),
    createBuffer({ label, size }: { label: string; size: number }) {
      const b: FakeBuffer = { label, size, bytes: new Uint8Array(size), destroy() {} };
      buffers.push(b);
      return b;
    },
    queue: {
      writeBuffer(b: FakeBuffer, offset: number, data: Uint8Array, dataOffset: number, size: number) {
        // WebGPU's own rules for writeBuffer.
        if (offset % 4 || size % 4) throw new Error(`writeBuffer: unaligned offset ${offset} or size ${size}`);
        if (offset + size > b.size || dataOffset + size > data.byteLength) throw new Error('writeBuffer: out of range');
        b.bytes.set(data.subarray(dataOffset, dataOffset + size), offset);
      },
    },
  };
  return { device: device as unknown as GPUDevice, buffers };
}

/** A one-layer V3 manifest (no MTP) over shards holding `data`. */
export function testManifest(data: Uint8Array[], tensors: ManifestTensor[], experts: ManifestExpert[]): Manifest {
  return {
    model: { config: { family: 'v3', numLayers: 1, numMtpLayers: 0 }, hf: {} },
    mtp: false,
    shards: data.map((d, i) => ({ file: `shard-${i}.bin`, bytes: d.length, sha256: '0'.repeat(64) })),
    tensors,
    experts,
  } as unknown as Manifest;
}
