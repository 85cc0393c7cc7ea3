import { convertCheckpoint } from './packages/converter/src/convert';
const q = process.argv[2] as 'q4';
const t = performance.now(); const c = process.cpuUsage();
await convertCheckpoint('/tmp/wm/prof', '/tmp/wm/prof-out', { quant: q, force: true });
const s = (performance.now() - t) / 1000; const u = process.cpuUsage(c); const cpu = (u.user + u.system) / 1e6;
console.log(q, 'wall', s.toFixed(2), 's', (230e6 / s / 1e6).toFixed(0), 'MB/s; cpu', cpu.toFixed(2), 's', (230e6 / cpu / 1e6).toFixed(0), 'MB/s');
