import { f16Toward } from './packages/webmoe/src/model/quantize';
import { f16ToF32 } from './packages/webmoe/src/model/formats';
const rows = 1024, cols = 4096, GROUP = 32;
const v = new Float32Array(rows * cols).map(() => (Math.random() - 0.5) * 0.1);
function a(v: Float32Array) { // only amax
  const G = cols / GROUP; let acc = 0;
  for (let r = 0; r < rows; r++) for (let g = 0; g < G; g++) { const base = r * cols + g * GROUP; let amax = 0;
    for (let i = 0; i < GROUP; i++) { const x = v[base + i]; const a = x < 0 ? -x : x; if (a > amax) amax = a; } acc += amax; }
  return acc;
}
function b(v: Float32Array) { // amax + f16Toward
  const G = cols / GROUP; let acc = 0;
  for (let r = 0; r < rows; r++) for (let g = 0; g < G; g++) { const base = r * cols + g * GROUP; let amax = 0;
    for (let i = 0; i < GROUP; i++) { const x = v[base + i]; const a = x < 0 ? -x : x; if (a > amax) amax = a; } acc += f16ToF32(f16Toward(amax / 127, 1)); }
  return acc;
}
function c(v: Float32Array) { // full q8 w/o scale
  const G = cols / GROUP; const q = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let g = 0; g < G; g++) { const base = r * cols + g * GROUP; let amax = 0;
    for (let i = 0; i < GROUP; i++) { const x = v[base + i]; const a = x < 0 ? -x : x; if (a > amax) amax = a; }
    const inv = 127 / amax;
    for (let i = 0; i < GROUP; i++) { const k = Math.round(v[base + i] * inv); q[base + i] = k > 127 ? 127 : k < -127 ? -127 : k; } }
  return q;
}
for (const [n, f] of [['amax', a], ['amax+f16', b], ['q8 core', c]] as const) {
  f(v); const t = performance.now(); for (let k = 0; k < 3; k++) f(v);
  console.log(n, ((performance.now() - t) / 3 / (rows * cols) * 1e6).toFixed(1), 'ns/elem');
}
