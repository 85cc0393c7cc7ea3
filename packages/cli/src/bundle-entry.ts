// The CLI as scripts/gpu-bench.sh carries it to a machine without node_modules (packages/cli/BENCH.md): the
// same main, with the bench page and the kernel grid registered so that `--runtime node` and `kernels` need
// no Vite loader there.
import * as benchPage from '../page/bench';
import * as kernelGrid from '../../../e2e/harness/grid';
import { GRID_MODULE } from './kernels';
import { registerBundledModule } from './node-runtime';

registerBundledModule('/packages/cli/page/bench.ts', benchPage);
registerBundledModule(GRID_MODULE, kernelGrid);
await import('./main');
