// The speculation section's models (Node side): the demo model after a chat prompt, with the held-out text
// its MTP module never trained on (fixtures/trained/heldout.txt), and the generated models with random MTP
// modules after a random prompt. The page tokenizes (page/speculation.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './browser';
import type { SpeculationModel } from '../page/speculation';

export const DEMO_MODEL_DIR = join(REPO_ROOT, 'demo/public/models/webmoe-tiny');
const HELD_OUT_TEXT = join(REPO_ROOT, 'fixtures/trained/heldout.txt');

export function demoSpeculationModel(url: string): SpeculationModel {
  return { url, label: 'demo (webmoe-tiny)', prompt: { chat: 'Tell me about light.' }, heldOutText: readFileSync(HELD_OUT_TEXT, 'utf8') };
}

export function generatedSpeculationModel(url: string, label: string, promptTokens: number): SpeculationModel {
  return { url, label, prompt: { randomIds: promptTokens }, heldOutText: null };
}
