// Dispatches and queue submissions counted as they happen: for the duration of `work`, the compute pass
// encoder's dispatch calls (direct and indirect) and the device queue's submit are wrapped, so the bench
// reports what reached the GPU API rather than what a plan says it holds.

export interface Counted<T> {
  dispatches: number;
  submits: number;
  result: T;
}

export async function countGpuCalls<T>(device: GPUDevice, work: () => Promise<T>): Promise<Counted<T>> {
  // The pass encoder's methods live on its prototype, which a throwaway pass reveals.
  const probe = device.createCommandEncoder({ label: 'dispatch-counter' }).beginComputePass();
  probe.end();
  const proto = Object.getPrototypeOf(probe) as GPUComputePassEncoder;
  const direct = proto.dispatchWorkgroups;
  const indirect = proto.dispatchWorkgroupsIndirect;
  const queue = device.queue;
  const submit = queue.submit;
  let dispatches = 0, submits = 0;
  proto.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...args: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) {
    dispatches++;
    return direct.apply(this, args);
  };
  proto.dispatchWorkgroupsIndirect = function (this: GPUComputePassEncoder, ...args: Parameters<GPUComputePassEncoder['dispatchWorkgroupsIndirect']>) {
    dispatches++;
    return indirect.apply(this, args);
  };
  queue.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
    submits++;
    return submit.call(this, buffers);
  };
  try {
    const result = await work();
    return { dispatches, submits, result };
  } finally {
    proto.dispatchWorkgroups = direct;
    proto.dispatchWorkgroupsIndirect = indirect;
    queue.submit = submit;
  }
}
