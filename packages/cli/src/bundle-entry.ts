// The CLI as scripts/gpu-bench.sh carries it to a machine without node_modules (packages/cli/BENCH.md): the
// same main, with the bench page registered so that `--runtime node` needs no Vite loader there.
import * as benchPage from '../page/bench';
import { registerBundledModule } from './node-runtime';

registerBundledModule('/packages/cli/page/bench.ts', benchPage);
await import('./main');
