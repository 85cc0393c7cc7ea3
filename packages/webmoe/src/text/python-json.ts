// JSON text exactly as Python's json.dumps(value, ensure_ascii=False) writes it. DeepSeek-V4's chat format
// embeds tool schemas and tool-call arguments in this form, and the model was trained on it: ", " between
// items and ": " after keys (JSON.stringify writes neither space).

/**
 * Keys keep their insertion order; strings are escaped as JSON.stringify escapes them, which for
 * ensure_ascii=False is what Python does (quotes, backslashes, control characters; no other escapes).
 * Differences that cannot be helped: JavaScript has one number type, so a Python float with an integral
 * value (1.0) comes out as 1, and exponents are written as JavaScript writes them (1e-7, not 1e-07).
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (Number.isFinite(value)) return JSON.stringify(value);
      return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
      const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`).join(', ')}}`;
    }
    default:
      throw new TypeError(`pythonJson: a ${typeof value} has no JSON form`);
  }
}
