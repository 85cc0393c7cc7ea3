// The MTP harness page (e2e/mtp/main.ts), shared by every test of the worker (lib/harness-page.ts):
// mtp.spec.ts's and mtp-v3.spec.ts's page tests compile the engine's pipelines once, not once per test.
import type { MtpHarness } from '../mtp/main';
import type { HarnessCall, HarnessPages } from './harness-page';

export function openMtp(pages: HarnessPages): Promise<HarnessCall<MtpHarness>> {
  return pages<MtpHarness>('/e2e/mtp/index.html', 'mtpHarness');
}
