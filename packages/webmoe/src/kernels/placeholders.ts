// Placeholders bound where a launcher's optional input or output is absent (and switched off by a params
// flag): one read-only and one writable buffer per device, since a buffer cannot be both in one dispatch.
import { createStorage } from '../gpu/buffers';

const placeholders = new WeakMap<GPUDevice, { read: GPUBuffer; write: GPUBuffer }>();

export function placeholder(device: GPUDevice): { read: GPUBuffer; write: GPUBuffer } {
  let p = placeholders.get(device);
  if (!p) {
    p = { read: createStorage(device, 'placeholder:read', 4), write: createStorage(device, 'placeholder:write', 4) };
    placeholders.set(device, p);
  }
  return p;
}
