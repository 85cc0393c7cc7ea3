// `webmoe run --runtime node`: the demo model on Dawn with SwiftShader's Vulkan driver, its greedy tokens
// against the float64 reference's (packages/reference) on the same converted folder. CI gets the driver
// from Debian's chromium, which scripts/bootstrap.mjs installs for the GPU tests.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runReference } from '@webmoe/reference';
import { REPO_ROOT } from './browser';
import { SWIFTSHADER_ICD } from './node-runtime';

const MAIN = join(REPO_ROOT, 'packages/cli/src/main.ts');
const MODEL = join(REPO_ROOT, 'demo/public/models/webmoe-tiny');
const TOKENS = 24;

/** Runs the CLI in a child process (the Vulkan loader is found at process start; node-runtime.ts). */
function webmoeCli(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stdout, stderr })));
  });
}

const missing = !existsSync(SWIFTSHADER_ICD);
if (missing) console.warn(`skipping the Dawn tests: ${SWIFTSHADER_ICD} is absent (install Debian's chromium: apt-get install chromium)`);

describe.skipIf(missing)('webmoe run --runtime node (Dawn on SwiftShader)', () => {
  it('gives the float64 reference\'s greedy tokens on the demo model', async () => {
    // The prompt of the trained model's greedy fixture; its tokens are computed here by the reference.
    const prompt = (JSON.parse(readFileSync(join(REPO_ROOT, 'fixtures/trained/greedy.json'), 'utf8')) as { prompt: number[] }).prompt;
    const [ref, run] = await Promise.all([
      runReference(MODEL, prompt, TOKENS),
      webmoeCli(['run', '--runtime', 'node', '--model', MODEL, '--prompt-ids', prompt.join(','), '--max-tokens', String(TOKENS), '--json']),
    ]);
    const result = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as { tokens: number[]; adapter: string; timings: { decode_tokens_per_s: number } };
    expect(result.adapter).toMatch(/swiftshader/i);
    // The reference does not stop at end-of-sequence; the run does, after emitting it.
    const manifest = JSON.parse(readFileSync(join(MODEL, 'manifest.json'), 'utf8')) as { model: { config: { eosTokenIds: number[] } } };
    const eos = ref.tokens.findIndex((t) => manifest.model.config.eosTokenIds.includes(t));
    expect(result.tokens).toEqual(eos < 0 ? ref.tokens : ref.tokens.slice(0, eos + 1));
    expect(result.timings.decode_tokens_per_s).toBeGreaterThan(0);
  }, 600_000);

  it('runs kernel grids (webmoe kernels) and skips, by name, a family whose feature the adapter lacks', async () => {
    const run = await webmoeCli(['kernels', '--families', 'rmsnorm,matmul-gemm-f16', '--filter', 'rows=7', '--json']);
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '') as {
      adapter: { description: string; features: string[] }; families: { family: string; passed: number; total: number }[];
      skipped: { family: string; reason: string }[]; passed: number; total: number;
    };
    expect(report.adapter.description).toMatch(/swiftshader/i);
    expect(report.families.map((f) => f.family)).toEqual(['rmsnorm']);
    expect(report.total).toBeGreaterThan(0);
    expect(report.passed).toBe(report.total);
    // SwiftShader has no shader-f16: the f16 family is reported as skipped, never as passed.
    expect(report.adapter.features).not.toContain('shader-f16');
    expect(report.skipped).toEqual([{ family: 'matmul-gemm-f16', reason: 'the device has no shader-f16' }]);
    await expect(webmoeCli(['kernels', '--families', 'no-such-family'])).rejects.toThrow(/unknown kernel family no-such-family/);
  }, 300_000);
});
