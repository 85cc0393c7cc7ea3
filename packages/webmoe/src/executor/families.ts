// The architecture family a model folder's config names, bound to that config.
import type { AnyModelConfig } from '../model/config';
import { bindFamily, type BoundFamily } from './family';
import { V3_FAMILY } from './v3/state';
import { V4_FAMILY } from './v4/state';

export function familyOf(config: AnyModelConfig): BoundFamily {
  return config.family === 'v4' ? bindFamily(V4_FAMILY, config) : bindFamily(V3_FAMILY, config);
}
