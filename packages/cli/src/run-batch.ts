// `webmoe run --batch FILE`: several run requests in one headless Chromium page, so that the engine's
// pipelines are compiled once on one GPU device and reused by each later load of the same shapes (each
// request still loads its own model). FILE holds a JSON array with one array of `webmoe run` arguments per
// request; the output is one JSON line per request, in order.
import { UsageError, parseArgs } from './args';
import { RUN_OPTIONS, parseRunRequest, type ParsedRun } from './run-request';

/** Options that belong to the batch as a whole (one browser session), not to one of its requests. */
const SESSION_OPTIONS = ['batch', 'profile', 'runtime', 'verbose', 'help'] as const;

/** The requests of a batch file's text (`source` names it in errors); a UsageError naming the bad request. */
export function parseBatch(text: string, source: string, usage: string): ParsedRun[] {
  let items: unknown;
  try {
    items = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--batch ${source}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!Array.isArray(items) || !items.length) throw new UsageError(`--batch ${source}: must be a non-empty JSON array of argument arrays`);
  return items.map((item, i) => {
    const where = `--batch ${source}, request ${i + 1}`;
    if (!Array.isArray(item) || !item.every((a) => typeof a === 'string')) throw new UsageError(`${where}: must be an array of strings (webmoe run's arguments)`);
    try {
      const { options, positionals } = parseArgs(item, RUN_OPTIONS);
      if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
      const session = SESSION_OPTIONS.find((s) => options[s] !== undefined);
      if (session) throw new UsageError(`--${session} applies to the whole batch, not to one request`);
      return parseRunRequest(options, usage);
    } catch (e) {
      if (e instanceof UsageError) throw new UsageError(`${where}: ${e.message.split('\n')[0]}`);
      throw e;
    }
  });
}
