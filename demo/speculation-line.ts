// The stats panel's speculation line: what speculative decoding with the model's MTP module did during the
// last reply (docs/speculative.md), or that it was off (the engine's default: docs/speculative.md#speed).
import type { DecodingStats } from 'webmoe';

const pct = (n: number) => `${(100 * n).toFixed(0)} %`;

export function speculationLine(d: DecodingStats | undefined): string {
  if (!d) return 'Speculation: —';
  if (d.speculative === 'off') return 'Speculation: off';
  if (d.steps === 0) return 'Speculation (MTP): no decode step yet';
  const perStep = (d.tokens / d.steps).toFixed(2);
  const accepted = d.drafted ? `${d.accepted}/${d.drafted} drafts accepted (${pct(d.accepted / d.drafted)})` : 'no draft verified';
  return `Speculation (MTP): ${perStep} tokens per step, ${accepted}`;
}
