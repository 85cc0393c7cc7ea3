// One error type for everything the engine reports. `code` is a closed union so that callers (and the
// Worker protocol, which rebuilds errors from plain data) can switch on it without parsing messages.

export type WebmoeErrorCode =
  | 'no-webgpu' // navigator.gpu is missing: old browser, insecure context, or WebGPU disabled
  | 'no-adapter' // requestAdapter() returned null
  | 'insufficient-limits' // the adapter cannot hold what the engine or the model needs
  | 'device-lost' // the GPU device went away (driver reset, tab in background too long, ...)
  | 'gpu-validation' // WebGPU rejected a command: a bug in the engine
  | 'gpu-out-of-memory'
  | 'model-format' // a config, manifest, safetensors header or tensor that is malformed or inconsistent
  | 'integrity' // a shard whose SHA-256 does not match its manifest
  | 'network'
  | 'storage-quota'
  | 'context-overflow' // prompt (plus requested tokens) longer than the context the engine was sized for
  | 'invalid-request'
  | 'model-output' // the model's reply breaks its chat format (reasoning or tool-call markup), or its logits are not finite
  | 'worker-lost' // the engine Worker crashed or its script failed to load; pending calls are rejected
  | 'aborted'
  | 'internal';

export interface WebmoeErrorData {
  readonly name: 'WebmoeError';
  readonly code: WebmoeErrorCode;
  readonly message: string;
  readonly detail?: Record<string, unknown>;
}

export class WebmoeError extends Error {
  override readonly name = 'WebmoeError' as const;
  readonly code: WebmoeErrorCode;
  readonly detail?: Record<string, unknown>;

  constructor(code: WebmoeErrorCode, message: string, options: { cause?: unknown; detail?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.detail) this.detail = options.detail;
  }

  toData(): WebmoeErrorData {
    return { name: this.name, code: this.code, message: this.message, ...(this.detail ? { detail: this.detail } : {}) };
  }

  static fromData(data: WebmoeErrorData): WebmoeError {
    return new WebmoeError(data.code, data.message, data.detail ? { detail: data.detail } : {});
  }
}

export function isWebmoeError(e: unknown, code?: WebmoeErrorCode): e is WebmoeError {
  return e instanceof WebmoeError && (code === undefined || e.code === code);
}
