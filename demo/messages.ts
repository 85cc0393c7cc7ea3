// What the page says when something fails: the WebmoeError code picks the plain-words explanation and
// what the reader can do about it; the engine's own message follows as the detail.
import { isWebmoeError } from 'webmoe';

export interface Problem {
  readonly title: string;
  readonly advice: string;
  /** The engine's message, for the curious and for bug reports. */
  readonly detail: string;
  /** Only a reload helps (the GPU is gone). */
  readonly reload: boolean;
}

export function describeError(e: unknown): Problem {
  const detail = e instanceof Error ? e.message : String(e);
  const p = (title: string, advice: string, reload = false): Problem => ({ title, advice, detail, reload });
  if (!isWebmoeError(e)) return p('Something went wrong', 'This looks like a bug in the page. Reloading usually helps; if it keeps happening, please report the detail below.', true);
  switch (e.code) {
    case 'no-webgpu':
      return p('This browser has no WebGPU',
        'Open the page in a recent Chrome or Edge (version 113 or later) on a desktop computer, or in Safari 26. ' +
          'WebGPU only works on pages served over https or from localhost. On Linux, Chrome may need WebGPU switched on at chrome://flags/#enable-unsafe-webgpu.');
    case 'no-adapter':
      return p('No GPU is available to this page',
        'WebGPU is there, but the browser offered no GPU. Check that hardware acceleration is on (chrome://settings/system), update the graphics driver, and look at chrome://gpu for the reason.');
    case 'insufficient-limits':
      return p('This GPU is too small for the model',
        'The model needs larger GPU buffers than this adapter allows. Try a smaller model, or a computer with a bigger GPU.');
    case 'gpu-out-of-memory':
      return p('The GPU ran out of memory', 'Close other tabs that use the GPU, or try a smaller model.');
    case 'device-lost':
      return p('The GPU connection was lost',
        'The graphics driver restarted or the browser reclaimed the GPU (this can happen after sleep or in a background tab). Reload the page to start again; the model is cached and loads quickly.', true);
    case 'gpu-validation':
      return p('The GPU rejected a command', 'This is a bug in webmoe. Reload the page to start again, and please report the detail below.', true);
    case 'network':
      return p('The model could not be downloaded',
        'Check the model URL and your connection, then try again. What was already downloaded is kept, so the next try resumes where this one stopped. A model on another site must allow this page to fetch it (CORS).');
    case 'integrity':
      return p('A downloaded file is damaged', 'Its checksum does not match the model\'s manifest. Try again; if it keeps failing, the copy on the server is broken.');
    case 'model-format':
      return p('This is not a model webmoe can read',
        'The URL should point at a folder made by `webmoe convert` (with manifest.json, tokenizer files and shards) or at a DeepSeek (deepseek2) .gguf file.');
    case 'storage-quota':
      return p('Not enough browser storage for the model', 'Delete a cached model below, or free space on the disk, then load again.');
    case 'context-overflow':
      return p('The conversation is too long for the model', 'Start a New chat, or ask for fewer tokens.');
    case 'invalid-request':
      return p('The request was not accepted', 'Check the settings (temperature, top-p, max tokens).');
    case 'model-output':
      return p('The model\'s reply could not be read',
        'The model wrote its reasoning or tool-call markup in a form the engine cannot split up, or its numbers overflowed (the detail says which). Try again, or allow more tokens if the reply was cut short; numbers that overflow point at broken weights.');
    case 'worker-lost':
      return p('The engine stopped working',
        'The background worker that runs the model crashed (often: the tab ran out of memory). Load the model again; it is cached and loads quickly.');
    case 'aborted':
      return p('Stopped', 'The operation was cancelled.');
    case 'internal':
      return p('Something went wrong inside the engine', 'Reloading the page usually helps; please report the detail below if it keeps happening.', true);
  }
}
