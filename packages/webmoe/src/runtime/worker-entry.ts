// A ready-made engine worker: `new Worker(new URL('webmoe/worker', import.meta.url), { type: 'module' })`.
import { serveEngine } from './worker-host';

serveEngine();
