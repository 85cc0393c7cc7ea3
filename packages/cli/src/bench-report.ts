// What `webmoe bench` reports: the per-model results the bench page returns, the JSON summary and the
// text table, and the performance bar evaluated on them. Pure TypeScript, shared by the CLI and the page.
import type { KernelShape, TuningCandidate } from 'webmoe';
import type { KvReport } from '../page/kv-report';

export interface KernelTimeRow {
  kernel: string;
  ms: number;
  launches: number;
  variants: string[];
}

/** One model in one weight format, as measured by the bench page. */
/** A timestamp profile of a prompt's last prefill chunk. */
export interface PrefillProfile {
  prompt: number;
  chunk: number;
  last_chunk: number;
  kernels: KernelTimeRow[];
}

export interface BenchModelResult {
  model: string;
  quant: string;
  adapter: string;
  software: boolean;
  experts: number;
  params_total: number;
  params_active: number;
  load_ms: number;
  /** Prompt length → tokens per second, prompt fed through to the first sampled token. */
  prefill_tokens_per_s: Record<string, number>;
  decode_tokens_per_s: number;
  decode_ms_per_token: number;
  decode_steps: number;
  dispatches_per_token: number;
  submits_per_token: number;
  readback_bytes_per_token: number;
  /** Weights and KV bytes a decode step must read (bench-models.ts decodeStepBytes). */
  bytes_read_per_token: number;
  bytes_read_breakdown: { weights: number; experts: number; kv: number };
  /** Probe (a): streaming read of bytes_read_per_token. */
  read_probe_ms: number | null;
  /** Probe (b): the step's weight kernels alone (and a streaming read of its KV rows). */
  dequant_probe_ms: number | null;
  /**
   * GPU time (timestamps at a pass's beginning and end, without submission and wake-up latency) of probe (a)
   * and of the decode step's plan replayed in one pass (sampling included, readback not); null without
   * timestamp-query. On a GPU, where a step's wall time is mostly latency, these two make the roofline ratio.
   */
  read_probe_gpu_ms: number | null;
  decode_gpu_ms: number | null;
  /**
   * Probe (c): bytes_read_per_token read by a chain of dispatches_per_token dispatches, each after the one
   * before: the floor of a step of that many dispatches on this adapter (wall, and GPU time by timestamps).
   * Decode over it is what the step's kernels cost beyond their number; probe (a) over it, what their number costs.
   */
  chain_probe_ms: number | null;
  chain_probe_gpu_ms: number | null;
  /**
   * Decode ms per token with n steps in flight (GpuModelOptions.decodeAhead, docs/decode-loop.md), by n: the
   * wall time of a whole greedy reply over its tokens, the depths run in alternation; null without the probes.
   */
  decode_ahead_ms_per_token: Record<string, number> | null;
  probes: { read_ms: number; read_shape: string; weights_ms: number; read_gpu_ms: number | null; decode_gpu_ms: number | null; chain_ms: number; chain_gpu_ms: number | null } | null;
  /** Timestamp profile of one decode step, per kernel (summed over layers); null without timestamp-query. */
  kernels: KernelTimeRow[] | null;
  /** Most tokens one prefill submission fed (GpuModel.prefillChunk at this run's context length). */
  prefill_chunk: number;
  /** Timestamp profile of the longest prompt's last prefill chunk (`last_chunk` tokens; chunks of `chunk`). */
  prefill_kernels: PrefillProfile | null;
  /** The same for the shortest prompt when it is shorter (short chunks take other product entries). */
  short_prefill_kernels: PrefillProfile | null;
  kernel_shapes: Record<string, KernelShape>;
  kernel_shape_source: Record<string, string>;
  /** ms per launch of each candidate the autotune measured: the shapes, and `subgroup` for matmul where the device has it. */
  kernel_shape_ms: Partial<Record<string, Partial<Record<TuningCandidate, number>>>>;
  /** Decode plan: kernel → pipelines (kernel/entry point/variant.format) it ran. */
  kernel_variants: Record<string, string[]>;
  /** The prefill products' entry asked for (--matmul-prefill), or 'default' (the engine's choice for the shape). */
  matmul_prefill?: string;
  /** Prefill attention's kernel asked for (--mla-prefill), or 'default'. */
  mla_prefill?: string;
  memory: { weights: number; kvCache: number; scratch: number };
  kv_bytes_per_token: number;
  mha_kv_bytes_per_token: number;
  kv_expected_bytes_per_token: number;
  /** The KV state by layer kind and at long contexts (computed from the configs), with the released V4-Flash and V3. */
  kv_report?: KvReport;
}

export interface ScalingRow {
  experts: number;
  quant: string;
  params_total: number;
  params_active: number;
  decode_ms_per_token: number;
  bytes_read_per_token: number;
  /** The routed experts' share of bytes_read_per_token. */
  expert_bytes_per_token: number;
}

export interface BarItem {
  item: string;
  target: string;
  measured: string;
  pass: boolean | null;
}

export interface BenchSummary {
  adapter: string;
  software: boolean;
  quick: boolean;
  settings: { prompts: number[]; decode_prompt: number; decode_tokens: number; repeats: number };
  notes: string[];
  models: (BenchModelResult & { decode_over_read_probe: number | null; decode_over_dequant_probe: number | null; decode_gpu_over_read_probe_gpu: number | null })[];
  moe_scaling: ScalingRow[];
  bar: BarItem[];
}

const ratio = (a: number, b: number | null) => (b && b > 0 ? a / b : null);

const spread = (v: number[]) => (v.length ? Math.max(...v) / Math.min(...v) - 1 : NaN);
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** The issue's bar, item by item; null `pass` where this run did not measure the item. */
export function evaluateBar(models: BenchModelResult[], scaling: ScalingRow[], prompts: number[]): BarItem[] {
  const bar: BarItem[] = [];
  for (const quant of ['q4', 'f32']) {
    const m = models.find((r) => r.model === '100M' && r.quant === quant);
    const x = m ? ratio(m.decode_ms_per_token, m.dequant_probe_ms) : null;
    bar.push({
      item: `decode 100M ${quant} vs probe (b)`, target: '≤ 1.5×',
      measured: x === null ? 'not measured' : `${x.toFixed(2)}× (${m!.decode_ms_per_token.toFixed(2)} ms vs ${m!.dequant_probe_ms!.toFixed(2)} ms)`,
      pass: x === null ? null : x <= 1.5,
    });
  }
  // The issue's headline: decode against probe (a), the plain read of the bytes a step must touch, on the
  // 500M q4 model; in wall time, and in GPU time where timestamps exist (latency left out of both sides).
  const big = models.find((r) => r.model === '500M' && r.quant === 'q4');
  const wallX = big ? ratio(big.decode_ms_per_token, big.read_probe_ms) : null;
  bar.push({
    item: 'decode 500M q4 vs probe (a), wall time', target: '≤ 1.5×',
    measured: wallX === null ? 'not measured' : `${wallX.toFixed(2)}× (${big!.decode_ms_per_token.toFixed(3)} ms vs ${big!.read_probe_ms!.toFixed(3)} ms)`,
    pass: wallX === null ? null : wallX <= 1.5,
  });
  const gpuX = big?.decode_gpu_ms != null ? ratio(big.decode_gpu_ms, big.read_probe_gpu_ms) : null;
  bar.push({
    item: 'decode 500M q4 vs probe (a), GPU time (timestamps)', target: '≤ 1.5×',
    measured: gpuX === null ? 'not measured' : `${gpuX.toFixed(2)}× (${big!.decode_gpu_ms!.toFixed(3)} ms vs ${big!.read_probe_gpu_ms!.toFixed(3)} ms)`,
    pass: gpuX === null ? null : gpuX <= 1.5,
  });
  const subs = models.map((r) => r.submits_per_token);
  const rb = models.map((r) => r.readback_bytes_per_token);
  bar.push({
    item: 'queue submissions and readback per decode step', target: '1 submission, ≤ 8 bytes',
    measured: models.length ? `${Math.max(...subs)} submission(s), ${Math.max(...rb)} bytes` : 'not measured',
    pass: models.length ? subs.every((s) => s === 1) && rb.every((b) => b <= 8) : null,
  });
  const byQuant = new Map<string, ScalingRow[]>();
  for (const s of scaling) byQuant.set(s.quant, [...(byQuant.get(s.quant) ?? []), s]);
  for (const [quant, rows] of byQuant) {
    const bytes = spread(rows.map((r) => r.bytes_read_per_token));
    const expertBytes = spread(rows.map((r) => r.expert_bytes_per_token));
    const time = spread(rows.map((r) => r.decode_ms_per_token));
    bar.push({
      item: `bytes read per step across ${rows.map((r) => r.experts).join('/')} experts (${quant})`, target: 'within 10%',
      measured: `${pct(bytes)} (routed experts' bytes: ${pct(expertBytes)}; the rest is the router's E × d weights per MoE layer)`, pass: bytes <= 0.1,
    });
    bar.push({ item: `decode time across ${rows.map((r) => r.experts).join('/')} experts (${quant})`, target: 'within 15%', measured: pct(time), pass: time <= 0.15 });
  }
  if (!byQuant.size) bar.push({ item: 'MoE scaling', target: 'within 10% / 15%', measured: 'not measured', pass: null });
  const q = models.find((r) => r.model === '100M' && r.quant === 'q4');
  const longest = Math.max(...prompts);
  if (q) {
    const x = q.prefill_tokens_per_s[longest] / q.decode_tokens_per_s;
    bar.push({
      item: `prefill of ${longest} tokens vs decode, 100M q4`, target: `≥ 4× decode tokens/s${longest < 1024 ? ' (issue: 1024-token prompt)' : ''}`,
      measured: `${x.toFixed(2)}×`, pass: longest >= 1024 ? x >= 4 : null,
    });
  }
  const kvOk = models.every((r) => r.kv_bytes_per_token === r.kv_expected_bytes_per_token);
  bar.push({
    item: 'KV bytes per token', target: '(kv_lora_rank + rope) × layers × 4',
    measured: models.map((r) => `${r.model}: ${r.kv_bytes_per_token} (MHA ${r.mha_kv_bytes_per_token})`).filter((v, i, a) => a.indexOf(v) === i).join('; '),
    pass: models.length ? kvOk : null,
  });
  return bar;
}

export function summarize(models: BenchModelResult[], scaling: ScalingRow[], o: { quick: boolean; prompts: number[]; decodePrompt: number; decodeTokens: number; repeats: number; notes: string[] }): BenchSummary {
  const rows = scaling;
  return {
    adapter: models[0]?.adapter ?? 'unknown',
    software: models[0]?.software ?? false,
    quick: o.quick,
    settings: { prompts: o.prompts, decode_prompt: o.decodePrompt, decode_tokens: o.decodeTokens, repeats: o.repeats },
    notes: o.notes,
    models: models.map((r) => ({
      ...r, decode_over_read_probe: ratio(r.decode_ms_per_token, r.read_probe_ms), decode_over_dequant_probe: ratio(r.decode_ms_per_token, r.dequant_probe_ms),
      decode_gpu_over_read_probe_gpu: r.decode_gpu_ms === null ? null : ratio(r.decode_gpu_ms, r.read_probe_gpu_ms),
    })),
    moe_scaling: rows,
    bar: evaluateBar(models, rows, o.prompts),
  };
}

/** Bytes over milliseconds as GB/s, with two decimals below 10. */
const gbs = (bytes: number, ms: number | null) => (ms ? num(bytes / ms / 1e6, bytes / ms / 1e6 < 10 ? 2 : 1) : '–');
const mb = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1)}`;
export const num = (v: number | null | undefined, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const m = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)}M`;

/** A text table; the first two columns left-aligned, the others right-aligned. */
export function columns(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

/** The main table: one row per model and format. */
export function formatTable(models: BenchModelResult[]): string {
  if (!models.length) return '';
  const prompts = [...new Set(models.flatMap((r) => Object.keys(r.prefill_tokens_per_s)))].sort((a, b) => Number(a) - Number(b));
  const head = ['model', 'quant', 'params', 'active', ...prompts.map((p) => `pre@${p} t/s`), 'dec t/s', 'ms/tok', 'disp', 'subm', 'rb B',
    'MiB/step', 'read ms', '×', 'deq ms', '×', 'KV B/tok', 'MHA B/tok'];
  const rows = models.map((r) => [
    r.model, r.quant, m(r.params_total), m(r.params_active), ...prompts.map((p) => num(r.prefill_tokens_per_s[p])),
    num(r.decode_tokens_per_s), num(r.decode_ms_per_token, 2), String(r.dispatches_per_token), String(r.submits_per_token), String(r.readback_bytes_per_token),
    mb(r.bytes_read_per_token), num(r.read_probe_ms, 2), num(ratio(r.decode_ms_per_token, r.read_probe_ms)), num(r.dequant_probe_ms, 2),
    num(ratio(r.decode_ms_per_token, r.dequant_probe_ms), 2), String(r.kv_bytes_per_token), String(r.mha_kv_bytes_per_token),
  ]);
  return columns(head, rows);
}

function kernelLines(kernels: readonly KernelTimeRow[]): string[] {
  return kernels.filter((k) => k.ms > 0).slice(0, 12)
    .map((k) => `    ${k.kernel.padEnd(18)} ${num(k.ms, 3).padStart(9)} ms  ${String(k.launches).padStart(3)}×  ${k.variants.join(' ')}`);
}

/** Everything after the main table: per-kernel times, variants, memory, MoE scaling, the bar. */
export function formatDetails(s: BenchSummary): string {
  const out: string[] = [];
  for (const r of s.models) {
    const b = r.bytes_read_breakdown;
    out.push('', `${r.model} ${r.quant}: kernel shapes ${Object.entries(r.kernel_shapes).map(([f, v]) => `${f}=${v} (${r.kernel_shape_source[f]})`).join(', ')}`,
      `  GPU memory: weights ${mb(r.memory.weights)} MiB, KV cache ${mb(r.memory.kvCache)} MiB, scratch ${mb(r.memory.scratch)} MiB; load ${num(r.load_ms / 1000, 1)} s`,
      `  read per decode step: non-expert weights ${mb(b.weights)} MiB + ${r.experts ? 'selected experts' : 'experts'} ${mb(b.experts)} MiB + KV ${mb(b.kv)} MiB; read probe: ${r.probes?.read_shape ?? '–'} shape`,
      `  GPU time (timestamps): decode plan in one pass ${num(r.decode_gpu_ms, 3)} ms, read probe (a) ${num(r.read_probe_gpu_ms, 3)} ms (${num(ratio(r.decode_gpu_ms ?? NaN, r.read_probe_gpu_ms), 2)}×, `
        + `${gbs(r.bytes_read_per_token, r.read_probe_gpu_ms)} GB/s read; decode ${gbs(r.bytes_read_per_token, r.decode_gpu_ms)} GB/s of its bytes)`,
      `  probe (c), the same bytes read by ${r.dispatches_per_token} chained dispatches: ${num(r.chain_probe_ms, 3)} ms wall, ${num(r.chain_probe_gpu_ms, 3)} ms GPU; `
        + `decode ${num(ratio(r.decode_ms_per_token, r.chain_probe_ms), 2)}× of it (wall), ${num(ratio(r.decode_gpu_ms ?? NaN, r.chain_probe_gpu_ms), 2)}× (GPU)`);
    if (r.decode_ahead_ms_per_token) {
      out.push(`  decode with n steps in flight (decodeAhead), ms/token: ${Object.entries(r.decode_ahead_ms_per_token).map(([n, ms]) => `n=${n} ${num(ms, 3)}`).join(', ')}`);
    }
    if (r.kernels) {
      const total = r.kernels.reduce((a, k) => a + k.ms, 0);
      out.push(`  timestamp profile of one decode step (${num(total, 2)} ms in ${r.dispatches_per_token - 1} passes; sampling not included):`);
      out.push(...kernelLines(r.kernels));
    } else {
      out.push('  (no timestamp-query feature: no per-kernel times)');
    }
    for (const pk of [r.short_prefill_kernels, r.prefill_kernels]) {
      if (!pk) continue;
      const total = pk.kernels.reduce((a, k) => a + k.ms, 0);
      out.push(`  timestamp profile of the last ${pk.last_chunk}-token chunk of a ${pk.prompt}-token prompt (chunks of ${pk.chunk}; ${num(total, 1)} ms):`);
      out.push(...kernelLines(pk.kernels));
    }
  }
  if (s.moe_scaling.length) {
    out.push('', 'MoE scaling (same active parameters):');
    out.push(columns(['experts', 'quant', 'params', 'active', 'ms/tok', 'MiB/step', 'expert MiB/step'], s.moe_scaling.map((r) => [
      String(r.experts), r.quant, m(r.params_total), m(r.params_active), num(r.decode_ms_per_token, 2), mb(r.bytes_read_per_token), mb(r.expert_bytes_per_token),
    ])));
  }
  const report = s.models.find((r) => r.kv_report)?.kv_report;
  if (report) out.push('', ...kvReportLines(report));
  out.push('', 'The bar:');
  for (const b of s.bar) out.push(`  [${b.pass === null ? ' -- ' : b.pass ? 'pass' : 'MISS'}] ${b.item}: ${b.measured} (target ${b.target})`);
  if (s.notes.length) out.push('', ...s.notes.map((n) => `note: ${n}`));
  return out.join('\n');
}

/** The released configurations' KV state at long contexts, computed by the executor's sizing code. */
export function kvReportLines(report: KvReport): string[] {
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  const out = ['KV state at long contexts (computed from the released configs; V3 latent cache in f32 as this engine keeps it):'];
  const rows = Object.entries(report.released).map(([name, f]) => [
    name, Object.entries(f.perTokenByKind).map(([k, v]) => `${k} ${num(v, 1)}`).join(' + '),
    ...f.at.flatMap((a) => [gib(a.bytes), gib(a.mhaBytes)]),
  ]);
  const heads = ['model', 'B/token by layer kind', ...report.released['DeepSeek-V4-Flash'].at.flatMap((a) => [`GiB @${a.tokens}`, `MHA GiB @${a.tokens}`])];
  out.push(columns(heads, rows));
  const b = report.contextPerBudget;
  if (b) {
    out.push('', `Context within ${gib(b.budgetBytes)} GiB of latent KV cache, by cache format (computed):`);
    const fmt = (list: typeof b.model) => list.map((f) => `${f.format} ${num(f.tokens, 0)} (${num(f.bytesPerToken, 0)} B/token)`).join(', ');
    if (b.model.length) out.push(`  this model: ${fmt(b.model)}`);
    out.push(`  DeepSeek-V3: ${fmt(b['DeepSeek-V3'])}`);
  }
  return out;
}
