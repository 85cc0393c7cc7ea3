// Until the chat exists: show the WebGPU adapter, its limits, and one kernel checked on it.
import { acquireGpu, createKernelContext, createRng, isWebmoeError, readF32, rmsnorm, submitDispatches, uploadStorage, createStorage } from 'webmoe';

const status = document.getElementById('status')!;
const adapterList = document.getElementById('adapter')!;
const kernel = document.getElementById('kernel')!;
const limits = document.querySelector('#limits tbody')!;

function row(parent: Element, cells: string[], tag: 'td' | 'dd' = 'td'): void {
  if (tag === 'dd') {
    const dt = document.createElement('dt');
    dt.textContent = cells[0];
    const dd = document.createElement('dd');
    dd.textContent = cells[1];
    parent.append(dt, dd);
    return;
  }
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c;
    tr.append(td);
  }
  parent.append(tr);
}

async function main(): Promise<void> {
  const gpu = await acquireGpu();
  const s = gpu.summary;
  status.textContent = 'Ready';
  for (const [k, v] of [['vendor', s.vendor], ['architecture', s.architecture], ['device', s.device], ['description', s.description],
    ['software adapter', s.isSoftware ? 'yes (WGSL runs on the CPU)' : 'no'], ['features', s.features.join(', ')]] as const) {
    row(adapterList, [k, v || '—'], 'dd');
  }
  for (const [k, v] of Object.entries(s.limits).sort()) row(limits, [k, v.toLocaleString('en')]);

  // A 64×4096 RMSNorm on the GPU against the same math in JavaScript.
  const ctx = createKernelContext(gpu);
  const rows = 64, cols = 4096, rng = createRng(1);
  const x = rng.uniform(rows * cols), w = rng.uniform(cols, 0.5, 1.5);
  const xb = uploadStorage(gpu.device, 'demo:x', x), wb = uploadStorage(gpu.device, 'demo:w', w);
  const yb = createStorage(gpu.device, 'demo:y', rows * cols * 4);
  const t0 = performance.now();
  submitDispatches(gpu.device, 'demo:rmsnorm', [rmsnorm(ctx, { x: xb, weight: wb, y: yb, rows, cols, eps: 1e-6 })]);
  const y = await readF32(gpu.device, yb, rows * cols);
  const ms = performance.now() - t0;
  let maxErr = 0;
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += x[r * cols + c] ** 2;
    const inv = 1 / Math.sqrt(ss / cols + 1e-6);
    for (let c = 0; c < cols; c++) maxErr = Math.max(maxErr, Math.abs(y[r * cols + c] - x[r * cols + c] * inv * w[c]));
  }
  kernel.textContent = `RMSNorm ${rows}×${cols} (${ctx.shape} kernel): ${ms.toFixed(1)} ms including readback, max |error| vs JavaScript ${maxErr.toExponential(2)}.`;
}

main().catch((e: unknown) => {
  status.className = 'error';
  status.textContent = isWebmoeError(e) ? e.message : `Unexpected error: ${String(e)}`;
});
