// The stats panel's speculation line: what speculative decoding with the model's MTP module did during the
// last reply (docs/speculative.md), or why it was off.
import type { DecodingStats } from 'webmoe';

const pct = (n: number) => `${(100 * n).toFixed(0)} %`;

export function speculationLine(d: DecodingStats | undefined, software: boolean | undefined): string {
  if (!d) return 'Speculation: —';
  if (d.speculative === 'off') {
    // The engine turns it off by default on software adapters, where a two-row step costs more than it gives.
    return software ? 'Speculation: off (software adapter)' : 'Speculation: off';
  }
  if (d.steps === 0) return 'Speculation (MTP): no decode step yet';
  const perStep = (d.tokens / d.steps).toFixed(2);
  const accepted = d.drafted ? `${d.accepted}/${d.drafted} drafts accepted (${pct(d.accepted / d.drafted)})` : 'no draft verified';
  return `Speculation (MTP): ${perStep} tokens per step, ${accepted}`;
}
