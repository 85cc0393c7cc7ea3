import { describe, expect, it } from 'vitest';
import { UsageError } from './args';
import { parseBatch } from './run-batch';

const parse = (items: unknown) => parseBatch(JSON.stringify(items), 'b.json', 'USAGE');

describe('webmoe run --batch input', () => {
  it('makes each request as the same arguments make a single run', () => {
    const [a, b] = parse([
      ['--model', 'fixtures/golden/v3', '--quant', 'f32', '--prompt-ids', '5,7', '--max-tokens', '3', '--logits', '--json'],
      ['--model', 'm', '--prompt', 'hi', '--kv-cache=fp8', '--logits', '--mtp'],
    ]);
    expect(a.model).toBe('fixtures/golden/v3');
    expect(a.quant).toBe('f32');
    expect(a.needsMtp).toBe(false);
    expect(a.request).toMatchObject({ promptIds: [5, 7], maxTokens: 3, logits: true, mtp: false, temperature: 0 });
    expect(b.quant).toBe('q4');
    expect(b.needsMtp).toBe(true);
    expect(b.request).toMatchObject({ prompt: 'hi', kvCacheFormat: 'fp8', mtp: true });
    expect('promptIds' in b.request).toBe(false);
  });

  it('refuses a file that is not a non-empty array of argument arrays', () => {
    expect(() => parseBatch('[["--model"', 'b.json', 'USAGE')).toThrow(/--batch b\.json: not JSON/);
    expect(() => parse([])).toThrow(/non-empty JSON array/);
    expect(() => parse({ model: 'a' })).toThrow(/non-empty JSON array/);
    expect(() => parse([['--model', 'a', '--prompt', 'x'], '--model a'])).toThrow(/request 2: must be an array of strings/);
    expect(() => parse([['--model', 'a', '--max-tokens', 3]])).toThrow(/request 1: must be an array of strings/);
  });

  it('names the request whose arguments are bad, with the single run\'s message', () => {
    const bad = (args: string[], message: RegExp) => {
      let err: unknown;
      try {
        parse([['--model', 'ok', '--prompt-ids', '1'], args]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(/^--batch b\.json, request 2: /);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    };
    bad(['--prompt-ids', '1'], /--model is required/);
    bad(['--model', 'a', '--prompt-ids', '1,-2'], /--prompt-ids must be comma-separated non-negative integers/);
    bad(['--model', 'a', '--prompt', 'x', '--quant', 'q3'], /--quant must be one of/);
    bad(['--model', 'a', '--prompt', 'x', '--mtp'], /--mtp needs --logits/);
    bad(['--model', 'a', '--prompt', 'x', '--colour'], /unknown option --colour/);
    bad(['--model', 'a', '--prompt', 'x', 'extra'], /unexpected argument extra/);
  });

  it('keeps options of the whole session out of a request', () => {
    for (const opt of [['--profile', 'p'], ['--runtime', 'node'], ['--verbose'], ['--batch', 'other.json'], ['--help']]) {
      expect(() => parse([['--model', 'a', '--prompt', 'x', ...opt]])).toThrow(new RegExp(`request 1: ${opt[0]} applies to the whole batch`));
    }
  });
});
