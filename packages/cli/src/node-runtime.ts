// `--runtime node` and `webmoe serve`: the engine in this Node process on Dawn (the npm `webgpu` package)
// instead of in headless Chromium. The engine's source and the runner pages are loaded through Vite's SSR
// loader, as the browser path serves them, so that both runtimes run the same code without a build step; the
// model's files are read with node:fs. On a machine without a Vulkan driver, Debian's Chromium brings
// SwiftShader's, which is used then (docs/runtimes.md).
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { REPO_ROOT } from './browser';

/** Debian's chromium package: SwiftShader's Vulkan driver and a Vulkan loader beside it. */
const CHROMIUM_LIB = '/usr/lib/chromium';
export const SWIFTSHADER_ICD = join(CHROMIUM_LIB, 'vk_swiftshader_icd.json');
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const LOADER_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];
const REEXEC_MARK = 'WEBMOE_VULKAN_LOADER_SET';

export type Runtime = 'chromium' | 'node';

export function runtimeOption(value: unknown): Runtime {
  if (value === undefined || value === 'chromium' || value === 'node') return (value ?? 'chromium') as Runtime;
  throw new Error(`--runtime must be chromium or node (got ${String(value)})`);
}

/**
 * Dawn loads the Vulkan loader (libvulkan.so.1) by name, and the dynamic linker reads LD_LIBRARY_PATH only
 * when a process starts: without a system loader, this command runs again as a child with Chromium's on the
 * path, and this process waits for it, passes signals on and exits with its status (it never returns then).
 */
export async function ensureVulkanLoader(log: (s: string) => void): Promise<void> {
  if (process.platform !== 'linux' || process.env[REEXEC_MARK]) return;
  const paths = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if ([...paths, ...LOADER_DIRS].some((d) => existsSync(join(d, 'libvulkan.so.1')))) return;
  if (!existsSync(join(CHROMIUM_LIB, 'libvulkan.so.1'))) return; // nodeGpu then says what to install
  log(`no system Vulkan loader: using Chromium's (${CHROMIUM_LIB})`);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [REEXEC_MARK]: '1', LD_LIBRARY_PATH: [CHROMIUM_LIB, ...paths].join(':') },
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  const code = await new Promise<number>((done) => child.on('exit', (c, s) => done(c ?? (s ? 128 : 1))));
  process.exit(code);
}

/**
 * Dawn's instance flags from WEBMOE_DAWN_FLAGS (space-separated), such as
 * `disable-dawn-features=timestamp_quantization`: Dawn rounds timestamps to 2^16 ns by default, which a GPU's
 * microsecond kernels cannot be timed through (docs/runtimes.md#dawn-flags).
 */
export function dawnFlags(env: Record<string, string | undefined> = process.env): string[] {
  return (env.WEBMOE_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** Dawn's GPU object, with the WebGPU globals (GPUBufferUsage, …) the engine uses installed on globalThis. */
export async function nodeGpu(log: (s: string) => void): Promise<GPU> {
  const hasDriver = ICD_DIRS.some((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json')));
  if (!process.env.VK_ICD_FILENAMES && !hasDriver && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    log(`no Vulkan driver installed: using SwiftShader (${SWIFTSHADER_ICD})`);
  }
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const flags = dawnFlags();
  if (flags.length) log(`Dawn flags: ${flags.join(' ')}`);
  const gpu = create(flags);
  if (!(await gpu.requestAdapter())) {
    throw new Error('Dawn found no GPU adapter: install a Vulkan driver and its loader (Debian: libvulkan1 and mesa-vulkan-drivers), '
      + `or Debian's chromium for SwiftShader (VK_ICD_FILENAMES=${SWIFTSHADER_ICD})`);
  }
  return gpu;
}

/** fetch for file: URLs (a model folder on disk), streamed from node:fs; other URLs go to the global fetch. */
export const fileFetch: typeof fetch = async (input, init) => {
  const href = input instanceof Request ? input.url : String(input);
  if (!href.startsWith('file:')) return fetch(input, init);
  const path = fileURLToPath(href);
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a file');
    size = st.size;
  } catch {
    return new Response(`not found: ${path}`, { status: 404, statusText: 'Not Found' });
  }
  const body = Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
  return new Response(body, { headers: { 'content-length': String(size) } });
};

/** A folder as the directory URL the engine loads from. */
export function folderUrl(dir: string): string {
  const href = pathToFileURL(dir).href;
  return href.endsWith('/') ? href : `${href}/`;
}

/** Modules a bundle of the CLI carries already (scripts/gpu-bench.sh), by their repository path. */
const bundled = new Map<string, unknown>();

export function registerBundledModule(path: string, module: unknown): void {
  bundled.set(path, module);
}

/**
 * A module of this repository (`/packages/...`) loaded through Vite's SSR loader, with the aliases and
 * `?raw` WGSL imports the browser path has (or the bundle's copy of it); `close` ends the loader.
 */
export async function loadRepoModule<T>(path: string): Promise<{ module: T; close(): Promise<void> }> {
  if (bundled.has(path)) return { module: bundled.get(path) as T, close: async () => undefined };
  const { createServer } = await import('vite');
  const server = await createServer({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    root: REPO_ROOT,
    logLevel: 'error',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, watch: null },
  });
  try {
    return { module: (await server.ssrLoadModule(path)) as T, close: () => server.close() };
  } catch (e) {
    await server.close().catch(() => undefined);
    throw e;
  }
}
