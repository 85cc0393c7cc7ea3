import type { KernelFamily } from '../lib/cases';

export const sampleFamily: KernelFamily = { cases: () => [] };
