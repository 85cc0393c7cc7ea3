import { describe, expect, it } from 'vitest';
import { WebmoeError } from '../errors';
import { errorFromHttp, httpErrorOf } from './remote-errors';

describe('errors across HTTP', () => {
  it('answers each WebmoeError with a fitting status and an OpenAI-shaped body', () => {
    const field = httpErrorOf(new WebmoeError('invalid-request', 'tools is not supported', { detail: { field: 'tools' } }));
    expect(field).toEqual({ status: 400, body: { error: { message: 'tools is not supported', type: 'invalid_request_error', code: 'invalid-request', param: 'tools' } } });
    const overflow = httpErrorOf(new WebmoeError('context-overflow', 'too long'));
    expect([overflow.status, overflow.body.error.code, overflow.body.error.type]).toEqual([400, 'context_length_exceeded', 'invalid_request_error']);
    const lost = httpErrorOf(new WebmoeError('device-lost', 'gone'));
    expect([lost.status, lost.body.error.code, lost.body.error.type]).toEqual([500, 'device-lost', 'server_error']);
    const plain = httpErrorOf(new TypeError('boom'));
    expect([plain.status, plain.body.error.code, plain.body.error.message]).toEqual([500, 'internal', 'boom']);
  });

  it('reads back the same code from webmoe\'s replies', () => {
    for (const code of ['invalid-request', 'context-overflow', 'device-lost', 'internal'] as const) {
      const { status, body } = httpErrorOf(new WebmoeError(code, 'x'));
      expect(errorFromHttp(status, JSON.parse(JSON.stringify(body)), 'http://h/v1/chat/completions').code).toBe(code);
    }
  });

  it('maps other servers\' replies by code, wording and status', () => {
    const url = 'http://h/v1/chat/completions';
    const cases: [number, unknown, string][] = [
      [400, { object: 'error', message: 'This model\'s maximum context length is 4096 tokens. However, you requested 5000 tokens', type: 'BadRequestError', code: 400 }, 'context-overflow'],
      [400, { error: { message: 'bad temperature', type: 'invalid_request_error', code: null } }, 'invalid-request'],
      [413, 'Payload Too Large', 'context-overflow'],
      [404, { error: { message: 'The model `x` does not exist.', code: 'model_not_found' } }, 'invalid-request'],
      [401, { error: { message: 'Incorrect API key provided' } }, 'invalid-request'],
      [429, { error: { message: 'Rate limit reached' } }, 'network'],
      [503, '<html>Service Unavailable</html>', 'network'],
      [500, { detail: 'CUDA error' }, 'internal'],
    ];
    for (const [status, body, code] of cases) {
      const e = errorFromHttp(status, body, url);
      expect([status, e.code]).toEqual([status, code]);
      expect(e.message).toContain(`HTTP ${status}`);
      expect(e.detail).toMatchObject({ status, url });
    }
  });
});
