// Every tensor of a DeepSeek-V4 checkpoint, by DeepSeek's own names (no `model.` prefix: `embed.weight`,
// `layers.L.attn.wq_a.weight`, `mtp.0.e_proj.weight`), with logical shapes [out, in]. FP4 experts are
// stored packed, two per byte, with half the columns: the checkpoint reader maps those to these shapes.
// Tensor list and dtypes: docs/architecture-v4.md#tensors.
import { CSA_RATIO, type V4Config, type V4LayerSpec } from './config-v4';
import type { TensorKind, TensorSpec } from './tensor-spec';

type Entry = [name: string, shape: number[], kind: TensorKind];

/** The mHC parameters of one mixing site (`hc_attn`, `hc_ffn`): pre, post and the hc×hc mixing matrix. */
function hcSite(c: V4Config, site: string): Entry[] {
  const hc = c.hc.mult;
  const mix = (2 + hc) * hc;
  return [
    [`${site}_fn`, [mix, hc * c.hiddenSize], 'precise'],
    [`${site}_base`, [mix], 'precise'],
    [`${site}_scale`, [3], 'precise'],
  ];
}

/** hc_head: collapses the streams into one before the final norm (main model and each MTP module). */
function hcHead(c: V4Config, prefix: string): Entry[] {
  const hc = c.hc.mult;
  return [
    [`${prefix}hc_head_fn`, [hc, hc * c.hiddenSize], 'precise'],
    [`${prefix}hc_head_base`, [hc], 'precise'],
    [`${prefix}hc_head_scale`, [1], 'precise'],
  ];
}

/** A KV compressor: gated pooling of c·width features per token over blocks of `ratio` tokens (c = 2 overlaps blocks). */
function compressor(c: V4Config, prefix: string, ratio: number, width: number): Entry[] {
  const feats = (ratio === CSA_RATIO ? 2 : 1) * width;
  return [
    [`${prefix}.wkv.weight`, [feats, c.hiddenSize], 'precise'],
    [`${prefix}.wgate.weight`, [feats, c.hiddenSize], 'precise'],
    [`${prefix}.ape`, [ratio, feats], 'precise'],
    [`${prefix}.norm.weight`, [width], 'norm'],
  ];
}

function attention(c: V4Config, layer: V4LayerSpec, a: string): Entry[] {
  const d = c.hiddenSize;
  const D = c.headDim;
  const HD = c.numHeads * D;
  const GR = c.oGroups * c.oLoraRank;
  const out: Entry[] = [
    [`${a}.attn_sink`, [c.numHeads], 'precise'],
    [`${a}.wq_a.weight`, [c.qLoraRank, d], 'linear'],
    [`${a}.q_norm.weight`, [c.qLoraRank], 'norm'],
    [`${a}.wq_b.weight`, [HD, c.qLoraRank], 'linear'],
    [`${a}.wkv.weight`, [D, d], 'linear'],
    [`${a}.kv_norm.weight`, [D], 'norm'],
    [`${a}.wo_a.weight`, [GR, HD / c.oGroups], 'linear'],
    [`${a}.wo_b.weight`, [d, GR], 'linear'],
  ];
  if (layer.compressRatio > 0) out.push(...compressor(c, `${a}.compressor`, layer.compressRatio, D));
  if (layer.attention === 'csa') {
    const { nHeads, headDim } = c.indexer;
    out.push(
      [`${a}.indexer.wq_b.weight`, [nHeads * headDim, c.qLoraRank], 'linear'],
      [`${a}.indexer.weights_proj.weight`, [nHeads, d], 'precise'],
      ...compressor(c, `${a}.indexer.compressor`, CSA_RATIO, headDim),
    );
  }
  return out;
}

/** One block (`layers.L.` or `mtp.K.`): mHC sites, attention, MoE with its router, experts and shared experts. */
function block(c: V4Config, layer: V4LayerSpec, p: string, index: number, mtp: boolean): TensorSpec[] {
  const d = c.hiddenSize;
  const m = c.moe;
  const spec = ([name, shape, kind]: Entry, expert: number | null = null): TensorSpec => ({ name, shape, kind, layer: index, expert, mtp });
  const out: TensorSpec[] = [
    spec([`${p}.attn_norm.weight`, [d], 'norm']),
    spec([`${p}.ffn_norm.weight`, [d], 'norm']),
    ...hcSite(c, `${p}.hc_attn`).map((e) => spec(e)),
    ...hcSite(c, `${p}.hc_ffn`).map((e) => spec(e)),
    ...attention(c, layer, `${p}.attn`).map((e) => spec(e)),
    spec([`${p}.ffn.gate.weight`, [m.nRoutedExperts, d], 'router']),
    layer.hashRouting ? spec([`${p}.ffn.gate.tid2eid`, [c.vocabSize, m.topK], 'table']) : spec([`${p}.ffn.gate.bias`, [m.nRoutedExperts], 'bias']),
  ];
  const swiglu = (q: string, inter: number): Entry[] => [
    [`${q}.w1.weight`, [inter, d], 'linear'],
    [`${q}.w3.weight`, [inter, d], 'linear'],
    [`${q}.w2.weight`, [d, inter], 'linear'],
  ];
  for (let e = 0; e < m.nRoutedExperts; e++) out.push(...swiglu(`${p}.ffn.experts.${e}`, m.intermediateSize).map((x) => spec(x, e)));
  if (m.nSharedExperts > 0) out.push(...swiglu(`${p}.ffn.shared_experts`, m.intermediateSize * m.nSharedExperts).map((x) => spec(x)));
  return out;
}

/** All tensors of a V4 checkpoint: embedding, main layers, final norm, head, hc_head, then the MTP modules (when `includeMtp`). */
export function expectedTensorsV4(c: V4Config, includeMtp: boolean): TensorSpec[] {
  const d = c.hiddenSize;
  const top = (name: string, shape: number[], kind: TensorKind): TensorSpec => ({ name, shape, kind, layer: null, expert: null, mtp: false });
  const out: TensorSpec[] = [top('embed.weight', [c.vocabSize, d], 'embedding')];
  c.layers.forEach((l, i) => out.push(...block(c, l, `layers.${i}`, i, false)));
  out.push(top('norm.weight', [d], 'norm'), top('head.weight', [c.vocabSize, d], 'linear'), ...hcHead(c, '').map(([n, s, k]) => top(n, s, k)));
  if (!includeMtp) return out;
  c.mtpLayers.forEach((l, k) => {
    const p = `mtp.${k}`;
    const index = c.numLayers + k;
    const own = (e: Entry): TensorSpec => ({ name: e[0], shape: e[1], kind: e[2], layer: index, expert: null, mtp: true });
    out.push(
      ...([
        [`${p}.e_proj.weight`, [d, d], 'linear'],
        [`${p}.h_proj.weight`, [d, d], 'linear'],
        [`${p}.enorm.weight`, [d], 'norm'],
        [`${p}.hnorm.weight`, [d], 'norm'],
        [`${p}.norm.weight`, [d], 'norm'],
        ...hcHead(c, `${p}.`),
      ] as Entry[]).map(own),
      ...block(c, l, p, index, true),
    );
  });
  return out;
}
