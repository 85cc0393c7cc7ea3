// A small argument parser for the CLI: positionals, `--flag`, `--key value` and `--key=value`, with the
// allowed options declared up front so that a typo is an error instead of being ignored.

export interface OptionSpec {
  /** 'flag' takes no value. */
  type: 'flag' | 'string' | 'number';
}

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | number | boolean>;
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const positionals: string[] = [];
  const options: Record<string, string | number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new UsageError(`unknown option --${name}`);
    if (s.type === 'flag') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      options[name] = true;
      continue;
    }
    const raw = eq >= 0 ? a.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`--${name} needs a value`);
    if (s.type === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} needs a number, got "${raw}"`);
      options[name] = n;
    } else {
      options[name] = raw;
    }
  }
  return { positionals, options };
}

/** "a, b,,c" → ["a", "b", "c"]: comma-separated option values. */
export function splitList(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

/**
 * A command's arguments with the usual checks: null after printing `usage` for --help (the spec must declare
 * `help`), an error for a positional argument.
 */
export function parseCommandArgs(argv: readonly string[], spec: Record<string, OptionSpec>, usage: string): ParsedArgs['options'] | null {
  const { options, positionals } = parseArgs(argv, spec);
  if (options.help) {
    process.stdout.write(`${usage}\n`);
    return null;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n${usage}`);
  return options;
}
