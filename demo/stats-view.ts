// The stats panel: speeds as big numbers, the KV cache against a standard multi-head cache as two bars,
// GPU memory as one stacked bar, and the experts each MoE layer picked during the last reply as a heatmap
// (a CSS grid: one cell per layer and expert, darker for more picks, the count in its tooltip).
import { formatBytes, type EngineStats, type GeneratorStats } from 'webmoe';
import { speculationLine } from './speculation-line';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { className?: string } = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e;
}

function rate(n: number | undefined): string {
  if (!n || !Number.isFinite(n)) return '—';
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function speeds(s: EngineStats): void {
  const t = s.lastReply?.timings;
  const u = s.lastReply?.usage;
  $('prefill-tps').textContent = rate(t?.prefill_tokens_per_second);
  $('decode-tps').textContent = rate(t?.decode_tokens_per_second);
  $('prefill-detail').textContent = u ? `${u.prefilled_tokens} prompt tokens${u.reused_tokens ? `, ${u.reused_tokens} reused` : ''}` : 'no reply yet';
  $('decode-detail').textContent = u ? `${u.completion_tokens} reply tokens${s.lastReply?.finishReason === 'aborted' ? ', stopped' : ''}` : '';
  $('speculation-line').textContent = speculationLine(s.lastReply ? s.model?.decoding : undefined);
}

/** A labelled horizontal bar whose length is `fraction` of the track. */
function bar(label: string, value: string, fraction: number, kind: string): HTMLElement {
  const fill = el('div', { className: `fill ${kind}` });
  fill.style.width = `${Math.max(0.5, Math.min(100, fraction * 100))}%`;
  return el('div', { className: 'bar-row' },
    el('div', { className: 'bar-label' }, el('span', {}, label), el('span', { className: 'num' }, value)),
    el('div', { className: 'track' }, fill));
}

function kvCache(m: GeneratorStats): void {
  const host = $('kv-bars');
  const { latent, mha } = m.kvBytesPerToken;
  const tokens = m.cachedTokens;
  const per = tokens === 0;
  // With an empty cache the comparison is per token; it is the same ratio.
  const n = per ? 1 : tokens;
  host.replaceChildren(
    bar('Latent cache (MLA)', `${formatBytes(latent * n)}`, (latent * n) / (mha * n), 'kv'),
    bar('Standard multi-head cache', `${formatBytes(mha * n)}`, 1, 'mha'),
  );
  $('kv-caption').textContent = `${per ? 'Per token' : `${tokens.toLocaleString('en')} tokens in the cache`}: ${(mha / latent).toFixed(1)}× smaller than a multi-head cache.`;
}

const MEMORY_KINDS = [
  ['weights', 'Weights'],
  ['kvCache', 'KV cache'],
  ['scratch', 'Scratch'],
] as const;

function memory(m: GeneratorStats): void {
  const total = m.memory.weights + m.memory.kvCache + m.memory.scratch;
  const stack = $('memory-bar');
  const legend = $('memory-legend');
  stack.replaceChildren();
  legend.replaceChildren();
  for (const [key, name] of MEMORY_KINDS) {
    const bytes = m.memory[key];
    const seg = el('div', { className: `seg ${key}`, title: `${name}: ${formatBytes(bytes)}` });
    seg.style.flexGrow = String(bytes);
    stack.append(seg);
    legend.append(el('li', {}, el('span', { className: `swatch ${key}` }), `${name} `, el('span', { className: 'num' }, formatBytes(bytes))));
  }
  stack.setAttribute('aria-label', `GPU memory ${formatBytes(total)}: ${MEMORY_KINDS.map(([k, n]) => `${n} ${formatBytes(m.memory[k])}`).join(', ')}`);
  $('memory-total').textContent = formatBytes(total);
}

function heatmap(m: GeneratorStats): void {
  const grid = $('heatmap');
  const rows = m.expertUsage;
  const E = m.experts;
  grid.replaceChildren();
  if (!rows.length || !E) {
    grid.style.removeProperty('--experts');
    $('heatmap-caption').textContent = m.experts ? 'No reply yet.' : 'This model has no routed experts.';
    grid.setAttribute('aria-label', 'Expert choices: none yet');
    return;
  }
  grid.style.setProperty('--experts', String(E));
  grid.style.setProperty('--rows', String(rows.length));
  // Hundreds of experts (DeepSeek-V3 has 256) only fit without gaps between cells.
  grid.classList.toggle('dense', E > 32 || rows.length > 16);
  let max = 0;
  for (const r of rows) for (const c of r.counts) max = Math.max(max, c);
  const summary: string[] = [];
  for (const r of rows) {
    const total = r.counts.reduce((a, b) => a + b, 0);
    grid.append(el('div', { className: 'layer', textContent: `L${r.layer}` }));
    let top = 0;
    r.counts.forEach((c, e) => {
      if (c > r.counts[top]) top = e;
      const cell = el('div', { className: 'cell', title: `Layer ${r.layer}, expert ${e}: ${c} picks (${total ? ((100 * c) / total).toFixed(0) : 0}%)` });
      cell.dataset.count = String(c);
      // sqrt keeps rarely used experts visible next to popular ones.
      cell.style.setProperty('--heat', max ? Math.sqrt(c / max).toFixed(3) : '0');
      grid.append(cell);
    });
    if (total) summary.push(`layer ${r.layer} mostly expert ${top}`);
  }
  const picks = rows[0].counts.reduce((a, b) => a + b, 0);
  $('heatmap-caption').textContent = `${rows.length} MoE layers × ${E} experts; ${picks.toLocaleString('en')} picks per layer in the last reply (prompt and reply tokens).`;
  grid.setAttribute('aria-label', `Expert choices in the last reply: ${summary.join('; ') || 'none'}`);
}

export function renderStats(s: EngineStats): void {
  speeds(s);
  if (!s.model) return;
  kvCache(s.model);
  memory(s.model);
  heatmap(s.model);
}

/** The adapter the model runs on, as a definition list. */
export function renderAdapter(m: GeneratorStats | null, where: string): void {
  const dl = $('adapter');
  dl.replaceChildren();
  const a = m?.adapter;
  if (!a) {
    dl.append(el('dt', { textContent: 'adapter' }), el('dd', { textContent: 'shown once a model is loaded' }));
    return;
  }
  const limits = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup'];
  const rows: [string, string][] = [
    ['vendor', a.vendor],
    ['architecture', a.architecture],
    ['description', a.description],
    ['software adapter', a.isSoftware ? 'yes (WGSL runs on the CPU)' : 'no'],
    ['model runs in', where],
    ['features', a.features.join(', ')],
    ...limits.filter((k) => k in a.limits).map((k): [string, string] => [k, k.includes('Size') && a.limits[k] >= 2 ** 20 ? formatBytes(a.limits[k]) : a.limits[k].toLocaleString('en')]),
  ];
  for (const [k, v] of rows) dl.append(el('dt', { textContent: k }), el('dd', { textContent: v || '—' }));
}
