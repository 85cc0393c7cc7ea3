// The MTP harness (e2e/mtp/main.ts) on the decoding harness page, shared by every test of the worker
// (lib/harness-page.ts) and with the decode-ahead and speculative harnesses (one GPU device, lib/page-gpu.ts):
// mtp.spec.ts's and mtp-v3.spec.ts's page tests compile the engine's pipelines once, not once per test.
import type { MtpHarness } from '../mtp/main';
import type { HarnessCall, HarnessPages } from './harness-page';

export function openMtp(pages: HarnessPages): Promise<HarnessCall<MtpHarness>> {
  return pages<MtpHarness>('/e2e/decoding/index.html', 'mtpHarness');
}
