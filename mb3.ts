import { f16Toward } from './packages/webmoe/src/model/quantize';
import { f16ToF32 } from './packages/webmoe/src/model/formats';
const rows = 1024, cols = 4096, GROUP = 32;
const v = new Float32Array(rows * cols).map(() => (Math.random() - 0.5) * 0.1);
const T = new Float32Array(65536); for (let h = 0; h < 65536; h++) T[h] = f16ToF32(h);
function mine(v: Float32Array, lut: boolean, poisonOn: boolean) {
  const G = Math.ceil(cols / GROUP);
  const q = new Int8Array(rows * G * GROUP);
  const scales = new Uint16Array(rows * G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const base = r * cols + g * GROUP;
      const n = Math.min(GROUP, cols - g * GROUP);
      let amax = 0;
      let poison = 0;
      for (let i = 0; i < n; i++) {
        const x = v[base + i];
        if (poisonOn) poison += x * 0;
        const a = x < 0 ? -x : x;
        if (a > amax) amax = a;
      }
      if (poison !== 0) throw new Error();
      const h = f16Toward(amax / 127, 1);
      const s = lut ? T[h] : f16ToF32(h);
      const inv = s > 0 ? 1 / s : 0;
      const out = (r * G + g) * GROUP;
      for (let i = 0; i < n; i++) {
        const k = Math.round(v[base + i] * inv);
        q[out + i] = k > 127 ? 127 : k < -127 ? -127 : k;
      }
      scales[r * G + g] = h;
    }
  }
  return q;
}
for (const [n, f] of [['as is', (v: Float32Array) => mine(v, false, true)], ['lut', (v: Float32Array) => mine(v, true, true)], ['lut nopoison', (v: Float32Array) => mine(v, true, false)]] as const) {
  f(v); const t = performance.now(); for (let k = 0; k < 3; k++) f(v);
  console.log(n, ((performance.now() - t) / 3 / (rows * cols) * 1e6).toFixed(1), 'ns/elem');
}
