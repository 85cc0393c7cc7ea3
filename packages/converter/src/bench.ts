// Measures the figures in packages/converter/README.md:
//   npx tsx packages/converter/src/bench.ts [--skip-throughput] [--skip-error]
// Throughput: converts a generated ~1 GB BF16 checkpoint to q4 and fp8 (MB/s of source bytes, page cache
// warm), then deletes everything. Error: converts the v3-small preset to every format and reports, over
// all quantized (linear and embedding) weights, the RMS relative error ‖ŵ−w‖/‖w‖ and the largest
// max|ŵ−w| / max|w| of any tensor.
import { rm, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtemp } from 'node:fs/promises';
import { BITS_PER_WEIGHT, WEIGHT_FORMATS, type WeightFormat } from 'webmoe/model';
import { convertCheckpoint } from './convert';
import { generateCheckpoint } from './generate';
import { PRESETS } from './presets';
import { openCheckpoint } from './safetensors';
import { openWebmoeModel } from './model-folder';

const BIG_CONFIG = {
  ...PRESETS['v3-tiny'],
  vocab_size: 32000,
  hidden_size: 1536,
  intermediate_size: 4096,
  moe_intermediate_size: 1024,
  num_hidden_layers: 4,
  num_attention_heads: 8,
  num_key_value_heads: 8,
  n_routed_experts: 24,
  n_group: 4,
  topk_group: 2,
  num_experts_per_tok: 4,
  q_lora_rank: 512,
  kv_lora_rank: 256,
  qk_nope_head_dim: 64,
  qk_rope_head_dim: 32,
  v_head_dim: 64,
};

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(join(dir, f))).size;
  return total;
}

async function throughput(work: string): Promise<void> {
  const src = join(work, 'big');
  let t = performance.now();
  await generateCheckpoint(src, { config: BIG_CONFIG, seed: 1, mtp: false });
  const bytes = await folderBytes(src);
  console.log(`generated ${(bytes / 1e6).toFixed(0)} MB BF16 in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  for (const quant of ['q4', 'fp8', 'q8'] as WeightFormat[]) {
    const out = join(work, `big-${quant}`);
    t = performance.now();
    const cpu0 = process.cpuUsage();
    await convertCheckpoint(src, out, { quant });
    const secs = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSecs = (cpu.user + cpu.system) / 1e6;
    // CPU time too: on a shared machine the wall clock mostly measures the other processes.
    console.log(`convert → ${quant}: ${secs.toFixed(1)} s, ${(bytes / 1e6 / secs).toFixed(0)} MB/s of source (${(bytes / 1e6 / cpuSecs).toFixed(0)} MB per CPU-second; ` +
      `${((await folderBytes(out)) / 1e6).toFixed(0)} MB written; load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores)`);
    await rm(out, { recursive: true, force: true });
  }
}

async function errors(work: string): Promise<void> {
  const src = join(work, 'small');
  await generateCheckpoint(src, { config: 'v3-small', seed: 1 });
  const ckpt = await openCheckpoint(src);
  console.log('| format | bits/weight | RMS relative error | max relative error (worst tensor) |');
  console.log('|---|---|---|---|');
  for (const quant of WEIGHT_FORMATS) {
    const out = join(work, `small-${quant}`);
    const manifest = await convertCheckpoint(src, out, { quant });
    const model = await openWebmoeModel(out);
    let errSq = 0;
    let refSq = 0;
    let worst = 0;
    for (const t of manifest.tensors) {
      if (t.kind !== 'linear' && t.kind !== 'embedding') continue;
      const w = await ckpt.readF32(t.name);
      const q = await model.readF32(t.name);
      let maxErr = 0;
      let maxRef = 0;
      for (let i = 0; i < w.length; i++) {
        const e = q[i] - w[i];
        errSq += e * e;
        refSq += w[i] * w[i];
        maxErr = Math.max(maxErr, Math.abs(e));
        maxRef = Math.max(maxRef, Math.abs(w[i]));
      }
      worst = Math.max(worst, maxErr / maxRef);
    }
    await model.close();
    console.log(`| ${quant} | ${BITS_PER_WEIGHT[quant].toFixed(3)} | ${Math.sqrt(errSq / refSq).toExponential(2)} | ${worst.toExponential(2)} |`);
  }
  await ckpt.close();
}

const work = await mkdtemp(join(tmpdir(), 'webmoe-bench-'));
try {
  if (!process.argv.includes('--skip-error')) await errors(work);
  if (!process.argv.includes('--skip-throughput')) await throughput(work);
} finally {
  await rm(work, { recursive: true, force: true });
}
