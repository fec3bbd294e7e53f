/**
 * The UI's one way to reach the agent: same-origin fetches of Consul's HTTP API, the ACL token from
 * sessionStorage as X-Consul-Token, and two bounded loops (a blocking query, a poll) that back off while the
 * agent cannot be reached and report it, so a dead agent never causes a storm of requests.
 */

const TOKEN_KEY = "cairn.acl-token";
/** A blocking query's wait; the agent answers at the latest after this (plus its jitter). */
const BLOCKING_WAIT = "30s";
/** Never two blocking rounds closer than this, even if the index moves on every answer (Consul's advice). */
const BLOCKING_GAP_MS = 250;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A plain read that hangs longer than this is given up (and retried by its loop). */
const REQUEST_TIMEOUT_MS = 10_000;

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Kept for this browser tab only: never localStorage, never a cookie. */
export function setToken(value) {
  if (value === "") sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

/** An answer that is not 2xx: its status and the agent's text as it came (a 403's reason included). */
export class ApiError extends Error {
  constructor(status, text) {
    super(text.trim() === "" ? `HTTP ${status}` : text.trim());
    this.status = status;
  }
}

/** The agent could not be reached at all (it died, or the network between is gone). */
export class UnreachableError extends Error {}

/**
 * One request. Resolves with { status, index, text } for 2xx (and for the statuses in `accept`); rejects with
 * ApiError for other statuses and UnreachableError when no answer came.
 */
export async function request(
  method,
  path,
  { body, signal, accept = [], timeoutMs = REQUEST_TIMEOUT_MS } = {},
) {
  const headers = {};
  const t = token();
  if (t !== "") headers["X-Consul-Token"] = t;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signals = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal: signals, cache: "no-store" });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new UnreachableError(`the agent does not answer (${e.message})`);
  }
  const text = await res.text();
  if (!res.ok && !accept.includes(res.status)) throw new ApiError(res.status, text);
  return { status: res.status, index: Number(res.headers.get("X-Consul-Index") ?? 0), text };
}

export async function getJson(path, options = {}) {
  const r = await request("GET", path, options);
  return { ...r, json: r.text === "" ? null : JSON.parse(r.text) };
}

/** A key's path for /v1/kv/: each segment escaped, the slashes kept. */
export function kvPath(key) {
  return `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Resolves once the page is visible (at once if it is), or when `signal` aborts: hidden tabs do not poll. */
function visible(signal) {
  return new Promise((resolve) => {
    if (!document.hidden || signal.aborted) return resolve();
    const done = () => {
      document.removeEventListener("visibilitychange", onChange);
      resolve();
    };
    const onChange = () => {
      if (!document.hidden) done();
    };
    document.addEventListener("visibilitychange", onChange);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Doubling delays between failed tries, up to BACKOFF_MAX_MS, with jitter so tabs do not retry in step. */
function backoff(failures) {
  const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.min(failures, 10));
  return ms / 2 + Math.random() * (ms / 2);
}

/**
 * Follows `path` with blocking queries until `signal` aborts: `onData(json, index)` on each answer (404 gives
 * null), `onError(error)` on a failure before the next try. An index that goes backwards (a restore, another
 * leader) starts over from 0, as Consul's client rules ask.
 */
export async function follow(path, { signal, onData, onError, accept = [] }) {
  let index = 0;
  let failures = 0;
  while (!signal.aborted) {
    const started = Date.now();
    const sep = path.includes("?") ? "&" : "?";
    const target = index > 0 ? `${path}${sep}index=${index}&wait=${BLOCKING_WAIT}` : path;
    try {
      // A blocking answer may take the whole wait; allow for it and the agent's jitter.
      const r = await getJson(target, { signal, accept, timeoutMs: 45_000 });
      failures = 0;
      index = r.index < index || r.index <= 0 ? 0 : r.index;
      onData(r.status === 404 ? null : r.json, r.index);
      await sleep(Math.max(0, BLOCKING_GAP_MS - (Date.now() - started)), signal);
    } catch (e) {
      if (signal.aborted) return;
      onError(e);
      index = 0;
      await sleep(backoff(failures++), signal);
    }
  }
}

/**
 * Calls `load()` every `intervalMs` until `signal` aborts, for endpoints without blocking queries, and only
 * while the page is visible; after a failure, waits with backoff instead. `onError(e)` on failure,
 * `onData(result)` on success.
 */
export async function poll(load, { signal, intervalMs, onData, onError }) {
  let failures = 0;
  while (!signal.aborted) {
    await visible(signal);
    if (signal.aborted) return;
    try {
      onData(await load());
      failures = 0;
      await sleep(intervalMs, signal);
    } catch (e) {
      if (signal.aborted) return;
      onError(e);
      await sleep(backoff(failures++), signal);
    }
  }
}

/**
 * A GET whose body may be large (a snapshot): read as it arrives, `onProgress(bytes, expected)` after each chunk
 * (expected from X-Cairn-Snapshot-Size, or null), and returned whole as a Blob with the answer's index. No
 * timeout: the user cancels through `signal`.
 */
export async function download(path, { signal, onProgress }) {
  const headers = {};
  const t = token();
  if (t !== "") headers["X-Consul-Token"] = t;
  let res;
  try {
    res = await fetch(path, { headers, signal, cache: "no-store" });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new UnreachableError(`the agent does not answer (${e.message})`);
  }
  if (!res.ok) throw new ApiError(res.status, await res.text());
  const expected = Number(res.headers.get("X-Cairn-Snapshot-Size") ?? 0) || null;
  const parts = [];
  let bytes = 0;
  const reader = res.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    parts.push(r.value);
    bytes += r.value.length;
    onProgress(bytes, expected);
  }
  return { index: Number(res.headers.get("X-Consul-Index") ?? 0), blob: new Blob(parts) };
}

/**
 * Sends `body` (a Blob) with XMLHttpRequest, the one browser API that reports upload progress:
 * `onProgress(sent, total)` as it goes. Resolves with the answer's text on 2xx; rejects with ApiError otherwise
 * and UnreachableError when no answer came.
 */
export function upload(method, path, body, { onProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    const t = token();
    if (t !== "") xhr.setRequestHeader("X-Consul-Token", t);
    xhr.upload.addEventListener("progress", (ev) => onProgress(ev.loaded, ev.total));
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.responseText);
      else reject(new ApiError(xhr.status, xhr.responseText));
    });
    xhr.addEventListener("error", () => reject(new UnreachableError("the agent does not answer")));
    xhr.send(body);
  });
}
