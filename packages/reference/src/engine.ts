// The only engine code the reference uses: its error type (so that callers can switch on one `code`) and its
// seeded RNG (synthetic weights). Nothing here parses or computes: the reference reads config.json and the
// checkpoint files itself, so that a misreading in the engine cannot hide behind the same misreading here.
export { WebmoeError, isWebmoeError, createRng } from 'webmoe/model';
