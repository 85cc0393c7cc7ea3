// The CLI as users run it: a child process, exit codes, one-line errors, nothing left behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readFile, readdir, rm, stat, truncate, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE } from 'webmoe/model';
import { verifyModelFolder } from './model-folder';
import { INDEX_FILE, SINGLE_FILE } from './safetensors';
import { copyDir, outputsOf, patchBytes, removeTempDirs, tempDir } from './test-helpers';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'packages/cli/src/main.ts');

function webmoe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, WEBMOE_DEBUG: '' } }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

let work: string;
let good: string;
let sharded: string;

beforeAll(async () => {
  work = await tempDir('cli');
  good = join(work, 'good');
  sharded = join(work, 'sharded');
  const gen = await webmoe('generate', good, '--preset', 'v3-tiny', '--seed', '7');
  expect(gen.stderr).toBe('');
  expect(gen.code).toBe(0);
  expect((await readdir(good)).sort()).toEqual(['config.json', SINGLE_FILE]);
  const gen2 = await webmoe('generate', sharded, '--preset', 'v2lite-tiny', '--shards', '2', '--fp8');
  expect(gen2.code).toBe(0);
}, 60_000);
afterAll(removeTempDirs);

describe('webmoe convert', () => {
  it('converts, printing a plain line per step when not on a terminal, and exits 0', async () => {
    const out = join(work, 'out');
    const r = await webmoe('convert', good, out, '--quant', 'q8');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/validated \d+ tensors/);
    expect(r.stdout).toMatch(/wrote shard-00000\.bin/);
    expect(r.stdout).toMatch(/converted .* q8/);
    const manifest = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8'));
    expect(manifest.quant).toBe('q8');
  });

  it('converts the MTP modules only with --mtp; generates and converts a V4 checkpoint', async () => {
    const r = await webmoe('convert', good, join(work, 'out-mtp'), '--quant', 'q8', '--mtp');
    expect(r.code).toBe(0);
    expect(JSON.parse(await readFile(join(work, 'out-mtp', MANIFEST_FILE), 'utf8')).mtp).toBe(true);
    expect(JSON.parse(await readFile(join(work, 'out', MANIFEST_FILE), 'utf8')).mtp).toBe(false);
    const v4 = join(work, 'v4');
    const gen = await webmoe('generate', v4, '--preset', 'v4-tiny', '--fp8');
    expect(gen.code, gen.stderr).toBe(0);
    const conv = await webmoe('convert', v4, join(work, 'out-v4'), '--quant', 'fp8');
    expect(conv.code, conv.stderr).toBe(0);
    const formats = new Set(JSON.parse(await readFile(join(work, 'out-v4', MANIFEST_FILE), 'utf8')).tensors.map((t: { format: string }) => t.format));
    expect(formats).toEqual(new Set(['bf16', 'fp8', 'fp4', 'f32', 'u32']));
  });

  /** Runs a failing conversion: exit ≠ 0, one stderr line naming what is asked, no stack, no output left. */
  async function failing(dir: string, out: string, args: string[], ...names: string[]): Promise<string> {
    const r = await webmoe('convert', dir, out, ...args);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.length, r.stderr).toBe(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    for (const n of names) expect(r.stderr).toContain(n);
    return r.stderr;
  }

  it('fails on a truncated safetensors file', async () => {
    const dir = await copyDir(good, join(work, 'truncated'));
    const file = join(dir, SINGLE_FILE);
    await truncate(file, (await stat(file)).size - 4096);
    const out = join(work, 'out-truncated');
    await failing(dir, out, [], file, 'tensor "', 'truncated');
    expect(await outputsOf(out)).toEqual([]);
  });

  it('fails on a header that is not JSON', async () => {
    const dir = await copyDir(good, join(work, 'notjson'));
    await patchBytes(join(dir, SINGLE_FILE), 8, new TextEncoder().encode('not json'));
    const out = join(work, 'out-notjson');
    await failing(dir, out, ['--quant', 'fp8'], join(dir, SINGLE_FILE), 'header', 'JSON');
    expect(await outputsOf(out)).toEqual([]);
  });

  it('fails on an unsupported model_type', async () => {
    const dir = await copyDir(good, join(work, 'llama'));
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'llama' }));
    const out = join(work, 'out-llama');
    await failing(dir, out, [], join(dir, 'config.json'), 'model_type', 'llama');
    expect(await outputsOf(out)).toEqual([]);
  });

  it('fails on an index that names a missing shard file', async () => {
    const dir = await copyDir(sharded, join(work, 'missing-shard'));
    await rm(join(dir, 'model-00001-of-00002.safetensors'));
    const out = join(work, 'out-missing-shard');
    await failing(dir, out, [], join(dir, INDEX_FILE), 'model-00001-of-00002.safetensors');
    expect(await outputsOf(out)).toEqual([]);
  });

  it('refuses an existing output folder without --force and leaves it unchanged; rejects bad options', async () => {
    const out = join(work, 'existing');
    await mkdir(out);
    await writeFile(join(out, 'mine.txt'), 'keep');
    await failing(good, out, [], out, 'already exists', '--force');
    expect(await readdir(out)).toEqual(['mine.txt']);
    await failing(good, join(work, 'out-q3'), ['--quant', 'q3'], '--quant', 'q3');
    expect(await outputsOf(join(work, 'out-q3'))).toEqual([]);
  });
});

describe('webmoe generate --quant', () => {
  it('writes a converted folder directly, and refuses checkpoint-only options with it', async () => {
    const out = join(work, 'generated-q4');
    const r = await webmoe('generate', out, '--preset', 'v2lite-tiny', '--quant', 'q4', '--seed', '2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/generated v2lite-tiny \(seed 2\) in .*: q4, \d+ tensors, 1 shard\(s\)/);
    expect((await verifyModelFolder(out)).quant).toBe('q4');
    const bad = await webmoe('generate', join(work, 'generated-fp8'), '--preset', 'v2lite-tiny', '--quant', 'q4', '--fp8');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--fp8 and --shards are for checkpoints');
    expect(await outputsOf(join(work, 'generated-fp8'))).toEqual([]);
  });
});

describe('webmoe', () => {
  it('names the commands when given an unknown one', async () => {
    const r = await webmoe('frobnicate');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stderr).toContain('convert');
    expect(r.stderr).toContain('generate');
  });
});
