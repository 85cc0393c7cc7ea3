// Every kernel family the harness knows, by the names in lib/families.ts.
import type { KernelFamily } from '../lib/cases';
import type { KernelFamilyName } from '../lib/families';
import { rmsnormFamily } from './rmsnorm';

export const registry: Record<KernelFamilyName, KernelFamily> = {
  rmsnorm: rmsnormFamily,
};
