import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '@webmoe/cli/chromium';

const port = Number(process.env.WEBMOE_TEST_PORT ?? 5179);

export default defineConfig({
  testDir: '.',
  testMatch: '**/*.spec.ts',
  // SwiftShader runs every kernel on the CPU cores; parallel pages only fight over them.
  workers: 1,
  fullyParallel: false,
  timeout: 10 * 60_000,
  reporter: [['list']],
  outputDir: '../test-results',
  use: {
    baseURL: `http://localhost:${port}`,
    launchOptions: { executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] },
  },
  webServer: {
    command: `pnpm exec vite --port ${port} --strictPort --bypass-lock`,
    cwd: '..',
    url: `http://localhost:${port}/e2e/harness/index.html`,
    reuseExistingServer: !process.env.CI,
    env: { WEBMOE_NO_HMR: '1' },
    timeout: 120_000,
  },
});
