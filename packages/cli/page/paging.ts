// The bench's expert-paging rows (docs/paging.md): each model loaded fully resident and then with a quarter of
// its experts in GPU slots (or the slots asked for), both decoded greedily from the same random prompt; the
// paged run's hit rate, bytes per token and tokens/s against the resident run's.
import { createRng, type GpuModel, type GpuModelOptions, type Manifest } from 'webmoe';
import type { PagingRow } from '../src/bench-paging';
import { pagingReport } from './paging-report';
import { timedDecode } from './speculation';

export interface PagingBenchModel {
  url: string;
  label: string;
  /** Slots per MoE layer; default a quarter of the experts (at least top_k). */
  slots?: number;
}

export interface PagingBenchRequest {
  models: PagingBenchModel[];
  promptTokens: number;
  decodeTokens: number;
}

type Loader = (url: string, contextLength: number, opts: GpuModelOptions) => Promise<{ model: GpuModel; manifest: Manifest }>;

async function decodeOnce(load: Loader, url: string, context: number, opts: GpuModelOptions, prompt: (m: Manifest) => number[], tokens: number) {
  const { model, manifest } = await load(url, context, { ...opts, speculative: 'off' });
  try {
    const ids = prompt(manifest);
    await timedDecode(model, ids, 2); // warm-up: pipelines, and the paged run's first slots
    const r = await timedDecode(model, ids, tokens);
    return { manifest, tokensPerS: tokens / (r.ms / 1000), out: r.out, paging: pagingReport(model.pagingStats()), submits: model.stepStats()?.submitsPerToken ?? null };
  } finally {
    model.dispose();
  }
}

export async function measurePaging(load: Loader, req: PagingBenchRequest): Promise<PagingRow[]> {
  const rows: PagingRow[] = [];
  const context = req.promptTokens + req.decodeTokens + 4;
  for (const m of req.models) {
    const prompt = (manifest: Manifest) => {
      const rng = createRng(97);
      return Array.from({ length: req.promptTokens }, () => 2 + rng.int(manifest.model.config.vocabSize - 2));
    };
    const resident = await decodeOnce(load, m.url, context, {}, prompt, req.decodeTokens);
    const moe = resident.manifest.model.config.family === 'v4' ? null : resident.manifest.model.config.moe;
    if (!moe) throw new Error(`${m.label}: expert paging needs a V2/V3 MoE model`);
    const slots = m.slots ?? Math.max(moe.topK, Math.floor(moe.nRoutedExperts / 4));
    const paged = await decodeOnce(load, m.url, context, { expertSlots: slots }, prompt, req.decodeTokens);
    const p = paged.paging!;
    rows.push({
      model: m.label, quant: resident.manifest.quant, experts: moe.nRoutedExperts, slots_per_layer: slots,
      resident_tokens_per_s: resident.tokensPerS, paged_tokens_per_s: paged.tokensPerS,
      hit_rate: p.hit_rate, bytes_uploaded_per_token: p.bytes_uploaded_per_token, bytes_read_per_token: p.bytes_read_per_token,
      host_hit_rate: p.host_hit_rate, submits_per_token: paged.submits,
      same_greedy_tokens: paged.out.every((t, i) => t === resident.out[i]),
    });
  }
  return rows;
}
