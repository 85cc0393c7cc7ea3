// Which model family a config.json describes: V2 and V3 (MLA, one residual stream) run on ReferenceModel,
// V4 (shared-KV sparse attention, hyper-connections) on V4ReferenceModel. model_type decides; a config
// without it is placed by its first architectures entry.
import { JsonFields } from './json-fields';

export type ModelFamily = 'deepseek_v2' | 'deepseek_v3' | 'deepseek_v4';

const BY_ARCHITECTURE: Record<string, ModelFamily> = {
  DeepseekV2ForCausalLM: 'deepseek_v2',
  DeepseekV3ForCausalLM: 'deepseek_v3',
  DeepseekV4ForCausalLM: 'deepseek_v4',
};
const FAMILIES: readonly ModelFamily[] = ['deepseek_v2', 'deepseek_v3', 'deepseek_v4'];

export function modelFamily(json: unknown, file = 'config.json'): ModelFamily {
  const f: JsonFields = JsonFields.of(json, file);
  if (f.has('model_type')) {
    const t = f.json.model_type;
    f.check(FAMILIES.includes(t as ModelFamily), 'model_type', `${JSON.stringify(t)} is not supported (the reference runs ${FAMILIES.join(', ')})`);
    return t as ModelFamily;
  }
  const arch = Array.isArray(f.json.architectures) ? f.json.architectures[0] : undefined;
  const family = typeof arch === 'string' ? BY_ARCHITECTURE[arch] : undefined;
  if (!family) f.fail('model_type', `is missing and architectures ${JSON.stringify(f.json.architectures)} names no supported model (${Object.keys(BY_ARCHITECTURE).join(', ')})`);
  return family;
}
