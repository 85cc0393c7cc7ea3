// The chat demo: loads the bundled model (or a pasted folder or .gguf URL, or talks to a server) through
// webmoe's public API, streams replies into the conversation, and shows what the engine is doing. The model
// runs in a Worker when it can.
import { ModelCache, formatBytes, isWebmoeError, type ChatMessage, type EngineStats, type LoadProgress, type RemoteOptions } from 'webmoe';
import { loadEngine, type LoadedEngine } from './engine-loader';
import { renderMarkdown } from './markdown';
import { describeError } from './messages';
import { renderAdapter, renderStats } from './stats-view';

/** The model shipped with the site (demo/public/models/), resolved against the site's base. */
const DEFAULT_MODEL = new URL(`${import.meta.env.BASE_URL}models/webmoe-tiny/`, location.href).href;

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e as T;
}

const ui = {
  status: $('status'),
  modelName: $('model-name'),
  messages: $('messages'),
  empty: $('empty'),
  composer: $<HTMLFormElement>('composer'),
  message: $<HTMLTextAreaElement>('message'),
  send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'),
  newChat: $<HTMLButtonElement>('new-chat'),
  progress: $('progress'),
  progressFill: $('progress-fill'),
  progressText: $('progress-text'),
  modelForm: $<HTMLFormElement>('model-form'),
  modelUrl: $<HTMLInputElement>('model-url'),
  remoteForm: $<HTMLFormElement>('remote-form'),
  remoteUrl: $<HTMLInputElement>('remote-url'),
  remoteModel: $<HTMLInputElement>('remote-model'),
  remoteKey: $<HTMLInputElement>('remote-key'),
  cached: $('cached'),
  storage: $('storage'),
  temperature: $<HTMLInputElement>('temperature'),
  topP: $<HTMLInputElement>('top-p'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  systemPrompt: $<HTMLTextAreaElement>('system-prompt'),
  problem: $('problem'),
  problemTitle: $('problem-title'),
  problemAdvice: $('problem-advice'),
  problemDetail: $('problem-detail'),
  reload: $<HTMLButtonElement>('reload'),
  dismiss: $<HTMLButtonElement>('dismiss'),
};

const cache = new ModelCache();
let current: LoadedEngine | null = null;
let loading: AbortController | null = null;
let replying: AbortController | null = null;
/** The conversation as the model sees it (without the system prompt, which is read at each send). */
let history: ChatMessage[] = [];

type State = 'starting' | 'loading' | 'ready' | 'generating' | 'error';

function setStatus(state: State, text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function updateButtons(): void {
  ui.send.disabled = !current || replying !== null;
  ui.stop.disabled = replying === null;
}

// ---- problems -------------------------------------------------------------------------------------

function showProblem(e: unknown): void {
  const p = describeError(e);
  ui.problemTitle.textContent = p.title;
  ui.problemAdvice.textContent = p.advice;
  ui.problemDetail.textContent = p.detail;
  ui.reload.hidden = !p.reload;
  ui.problem.hidden = false;
  if (p.reload) setStatus('error', p.title);
}

function hideProblem(): void {
  ui.problem.hidden = true;
}

ui.reload.addEventListener('click', () => location.reload());
ui.dismiss.addEventListener('click', hideProblem);

// ---- loading --------------------------------------------------------------------------------------

const PHASES: Record<LoadProgress['phase'], string> = {
  download: 'Downloading',
  verify: 'Verifying',
  upload: 'Uploading to the GPU',
  compile: 'Compiling GPU kernels',
};

function setProgress(percent: number, text: string): void {
  const p = Math.max(0, Math.min(100, percent));
  ui.progress.setAttribute('aria-valuenow', p.toFixed(0));
  ui.progress.setAttribute('aria-valuetext', text);
  ui.progressFill.style.width = `${p}%`;
  ui.progressText.textContent = text;
}

/** "3 min 20 s" from seconds: the download's estimate of the time left. */
function formatDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** The download's speed and time left, when the loader has measured them. */
function rateText(p: LoadProgress): string {
  if (p.phase !== 'download' || !p.bytesPerSecond) return '';
  return `, ${formatBytes(p.bytesPerSecond)}/s${p.secondsLeft !== undefined ? `, about ${formatDuration(p.secondsLeft)} left` : ''}`;
}

function modelName(id: string): string {
  return id.replace(/\/+$/, '').split('/').pop() || id;
}

const WHERE = { worker: 'a Worker', page: 'the page', remote: 'a server' } as const;

async function loadModel(url: string, remote?: RemoteOptions): Promise<void> {
  loading?.abort();
  replying?.abort();
  const controller = new AbortController();
  loading = controller;
  const old = current;
  current = null;
  updateButtons();
  hideProblem();
  await old?.close().catch(() => {});
  if (controller.signal.aborted) return;

  setStatus('loading', 'Loading model…');
  ui.modelName.textContent = modelName(url);
  ui.progress.dataset.state = 'loading';
  setProgress(0, 'Fetching the manifest…');
  // The loader reports each phase's bytes over all shards; the bar shows the furthest point reached.
  let furthest = 0;
  let downloaded = false;
  let total = 0;
  const onProgress = (p: LoadProgress) => {
    if (controller.signal.aborted) return;
    furthest = Math.max(furthest, p.bytesDone);
    total = p.bytesTotal;
    downloaded ||= p.phase === 'download';
    const pct = total ? (100 * furthest) / total : 0;
    if (p.phase === 'compile') setProgress(100, `${PHASES.compile}… (${formatBytes(total)} of weights on the GPU)`);
    else setProgress(pct, `${PHASES[p.phase]}${p.file ? ` ${p.file}` : ''}: ${formatBytes(furthest)} of ${formatBytes(total)} (${pct.toFixed(0)}%${rateText(p)})`);
  };

  try {
    const loaded = await loadEngine({ model: url, onProgress, signal: controller.signal, ...(remote ? { remote } : {}) });
    if (controller.signal.aborted) {
      await loaded.close();
      return;
    }
    current = loaded;
    loading = null;
    ui.modelName.textContent = modelName(loaded.engine.model.id);
    ui.modelName.title = loaded.engine.model.id;
    ui.progress.dataset.state = 'done';
    setProgress(100, remote
      ? `Connected to ${remote.baseURL}: replies come from the server's ${remote.model}.`
      : `Loaded ${formatBytes(total)} of weights ${downloaded ? '(downloaded, now cached)' : 'from the browser cache'}; ${loaded.engine.model.contextLength.toLocaleString('en')}-token context, running in ${WHERE[loaded.where]}.`);
    setStatus('ready', 'Ready');
    updateButtons();
    void cache.requestPersistentStorage().catch(() => false);
    await refreshStats();
  } catch (e) {
    if (controller.signal.aborted) return;
    loading = null;
    ui.progress.dataset.state = 'failed';
    setProgress(furthest && total ? (100 * furthest) / total : 0, `Loading failed: ${describeError(e).title.toLowerCase()}.`);
    setStatus('error', 'Model not loaded');
    showProblem(e);
  } finally {
    updateButtons();
    void refreshCached();
  }
}

ui.modelForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void loadModel(ui.modelUrl.value.trim() || DEFAULT_MODEL);
});

/** The server form's values; the API key stays in the field (never in the page's URL). */
function remoteOptions(): RemoteOptions {
  const key = ui.remoteKey.value.trim();
  return { baseURL: ui.remoteUrl.value.trim(), model: ui.remoteModel.value.trim(), ...(key ? { apiKey: key } : {}) };
}

ui.remoteForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const remote = remoteOptions();
  void loadModel(remote.model, remote);
});

// ---- cached models --------------------------------------------------------------------------------

async function refreshCached(): Promise<void> {
  let list;
  try {
    list = await cache.list();
  } catch (e) {
    ui.cached.replaceChildren(item('muted', 'The browser cache is not available here.'));
    console.warn(e);
    return;
  }
  const loadedId = current?.engine.model.id;
  ui.cached.replaceChildren(...list.map((m) => {
    const name = modelName(m.id);
    const li = document.createElement('li');
    const label = document.createElement('span');
    label.className = 'cached-name';
    label.textContent = name;
    label.title = m.url;
    const size = document.createElement('span');
    size.className = 'num muted';
    size.textContent = m.complete ? formatBytes(m.bytesCached) : `${formatBytes(m.bytesCached)} of ${formatBytes(m.bytesTotal)}`;
    const badges = document.createElement('span');
    badges.className = 'badges';
    if (m.id === loadedId) badges.append(badge('loaded'));
    if (!m.complete) badges.append(badge('partial'));
    const load = button('Load', `Load ${name}`, () => void loadModel(m.url));
    const del = button('Delete', `Delete ${name}`, async () => {
      del.disabled = true;
      await cache.delete(m.id).catch(showProblem);
      await refreshCached();
    });
    li.append(label, badges, size, load, del);
    return li;
  }));
  if (!list.length) ui.cached.append(item('muted', 'Nothing cached yet.'));
  const persisted = await cache.isPersistent().catch(() => false);
  ui.storage.textContent = `${formatBytes(list.reduce((n, m) => n + m.bytesCached, 0))} in IndexedDB${persisted ? ', kept under storage pressure' : ''}.`;
}

function item(className: string, text: string): HTMLLIElement {
  const li = document.createElement('li');
  li.className = className;
  li.textContent = text;
  return li;
}

function badge(text: string): HTMLElement {
  const b = document.createElement('span');
  b.className = `badge ${text}`;
  b.textContent = text;
  return b;
}

function button(text: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'small ghost';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

// ---- chat -----------------------------------------------------------------------------------------

interface Bubble {
  readonly root: HTMLElement;
  readonly content: HTMLElement;
  readonly meta: HTMLElement;
}

function bubble(role: 'user' | 'assistant'): Bubble {
  ui.empty.hidden = true;
  const root = document.createElement('article');
  root.className = `msg ${role}`;
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = role === 'user' ? 'You' : 'Model';
  const content = document.createElement('div');
  content.className = 'content';
  content.dataset.role = role;
  const meta = document.createElement('div');
  meta.className = 'meta';
  root.append(who, content, meta);
  ui.messages.append(root);
  return { root, content, meta };
}

function nearBottom(): boolean {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

function showText(b: Bubble, text: string): void {
  const follow = nearBottom();
  // renderMarkdown escapes everything first: the model's text never becomes markup.
  b.content.innerHTML = renderMarkdown(text);
  if (follow) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function number(input: HTMLInputElement, fallback: number, min: number, max: number): number {
  const v = Number(input.value);
  return Number.isFinite(v) && input.value !== '' ? Math.min(max, Math.max(min, v)) : fallback;
}

async function send(): Promise<void> {
  const engine = current?.engine;
  const text = ui.message.value.trim();
  if (!engine || replying || !text) return;
  hideProblem();
  ui.message.value = '';
  // New chat may replace `history` while this reply runs: the reply belongs to the conversation it started in.
  const turns = history;
  turns.push({ role: 'user', content: text });
  const user = bubble('user');
  user.content.textContent = text;
  const reply = bubble('assistant');
  reply.root.dataset.finish = 'streaming';
  reply.content.classList.add('typing');
  ui.messages.scrollTop = ui.messages.scrollHeight;

  const controller = new AbortController();
  replying = controller;
  updateButtons();
  setStatus('generating', 'Generating…');
  ui.messages.setAttribute('aria-busy', 'true');

  const system = ui.systemPrompt.value.trim();
  let answer = '';
  let finish = 'stopped';
  let meta = '';
  let frame = 0;
  try {
    const stream = await engine.chat.completions.create({
      messages: [...(system ? [{ role: 'system' as const, content: system }] : []), ...turns],
      stream: true,
      temperature: number(ui.temperature, 0.7, 0, 2),
      top_p: number(ui.topP, 0.95, 0.01, 1),
      // A server that does not say its context length reports 0.
      max_tokens: Math.round(number(ui.maxTokens, 200, 1, engine.model.contextLength || Infinity)),
      signal: controller.signal,
    });
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta.content) {
        answer += choice.delta.content;
        // One render per frame however fast tokens come.
        frame ||= requestAnimationFrame(() => {
          frame = 0;
          showText(reply, answer);
        });
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
      if (chunk.usage && chunk.timings) meta = `${chunk.usage.completion_tokens} tokens · ${chunk.timings.decode_tokens_per_second.toFixed(1)} tok/s`;
    }
    if (finish === 'length') meta += ' · hit the max tokens';
  } catch (e) {
    if (isWebmoeError(e, 'aborted')) {
      finish = 'stopped';
      meta = 'stopped';
    } else {
      finish = 'error';
      meta = 'failed';
      showProblem(e);
    }
  } finally {
    cancelAnimationFrame(frame);
    showText(reply, answer);
    reply.content.classList.remove('typing');
    reply.root.dataset.finish = finish;
    reply.meta.textContent = meta;
    turns.push({ role: 'assistant', content: answer });
    replying = null;
    ui.messages.removeAttribute('aria-busy');
    if (ui.status.dataset.state === 'generating') setStatus('ready', 'Ready');
    updateButtons();
  }
  const stats = await refreshStats();
  const last = stats?.lastReply;
  if (finish === 'stopped' && last?.finishReason === 'aborted') {
    reply.meta.textContent = `stopped after ${last.usage.completion_tokens} tokens · ${last.timings.decode_tokens_per_second.toFixed(1)} tok/s`;
  }
}

async function refreshStats(): Promise<EngineStats | null> {
  const loaded = current;
  if (!loaded) return null;
  try {
    const stats = await loaded.engine.stats();
    renderStats(stats);
    renderAdapter(stats.model, loaded.where === 'page' ? 'the page (no Worker)' : WHERE[loaded.where]);
    return stats;
  } catch (e) {
    showProblem(e);
    return null;
  }
}

ui.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void send();
});
ui.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    if (!ui.send.disabled) ui.composer.requestSubmit();
  }
});
ui.stop.addEventListener('click', () => replying?.abort());
ui.newChat.addEventListener('click', () => {
  replying?.abort();
  history = [];
  for (const m of ui.messages.querySelectorAll('.msg')) m.remove();
  ui.empty.hidden = false;
  void current?.engine.resetChat().catch(showProblem);
  ui.message.focus();
});

// ---- start ----------------------------------------------------------------------------------------

renderAdapter(null, '');
const params = new URLSearchParams(location.search);
const requested = params.get('model');
ui.modelUrl.placeholder = DEFAULT_MODEL;
if (requested) ui.modelUrl.value = requested;
// ?remote=<base URL, /v1 included>&remoteModel=<id>: chat with a server instead of loading a model.
ui.remoteUrl.value = params.get('remote') ?? '';
ui.remoteModel.value = params.get('remoteModel') ?? '';
if (ui.remoteUrl.value) void loadModel(ui.remoteModel.value, remoteOptions());
else void loadModel(requested || DEFAULT_MODEL);
