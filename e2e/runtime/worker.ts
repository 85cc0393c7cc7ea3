// TEST ONLY: the engine worker of the runtime tests: webmoe's serveEngine with the toy backend and the
// toy model server (the worker makes its own, identical one: same seed, same bytes).
import { ModelCache, idbCacheStore, serveEngine } from 'webmoe';
import { createToyServer } from './toy-server';
import { toyGeneratorFactory } from '../../packages/webmoe/test-support/toy-generator';

// serveEngine must run before the first message arrives, so the server is awaited lazily.
const server = createToyServer();

serveEngine({
  generator: toyGeneratorFactory({ stepDelayMs: 2 }),
  fetch: async (input, init) => (await server).fetch(input, init),
  cache: new ModelCache({ store: idbCacheStore('webmoe-test-worker') }),
});

// The crash test's trigger: an uncaught error thrown outside any request, as a crash would.
self.addEventListener('message', (e: MessageEvent) => {
  if ((e.data as { testCrash?: boolean } | null)?.testCrash) {
    setTimeout(() => {
      throw new Error('test: the worker crashed on purpose');
    });
  }
});
