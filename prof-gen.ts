import { generateCheckpoint } from './packages/converter/src/generate';
import { PRESETS } from './packages/converter/src/presets';
await generateCheckpoint('/tmp/wm/prof', { config: { ...PRESETS['v3-tiny'], vocab_size: 16000, hidden_size: 1024, intermediate_size: 2048, moe_intermediate_size: 1024, num_hidden_layers: 3, n_routed_experts: 16, q_lora_rank: 256, kv_lora_rank: 128 }, seed: 1, mtp: false, force: true });
