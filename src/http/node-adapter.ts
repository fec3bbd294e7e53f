/**
 * The node:http adapter: the only code in src/http that touches sockets. It turns an IncomingMessage into an
 * HttpRequest (body read lazily and bounded), runs the pure `handle`, and writes the HttpResponse. Everything
 * Consul-specific lives in the handlers; this file only moves bytes and counts requests.
 */
import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ServerApi } from "../api/types.js";
import type { LocalAgent } from "../local/state.js";
import {
  BodyTooLargeError,
  boundedChunks,
  type HttpRequest,
  type HttpResponse,
  isStreamBody,
  type StreamBody,
  TEXT_PLAIN,
} from "./model.js";
import { logRequest, type RequestLog } from "./request-log.js";
import { handle, routeLabel } from "./router.js";
import type { UiAssets } from "./ui.js";

export interface HttpServerOptions {
  /** Bound on any request body, in bytes; handlers may ask for less (KV asks for kv_max_value_size). */
  readonly bodyBytesMax: number;
  /** Bound on a streamed request body (a snapshot restore), which is never buffered; default 64 GiB. */
  readonly streamBytesMax?: number;
  /** Called once per answered request, for metrics. `route` is a pattern (routeLabel), never a raw key. */
  readonly countRequest?: (route: string, method: string, status: number, durationMs: number) => void;
  /**
   * Idle keep-alive connections are closed after this long. Longer than Node's 5 s default so that clients'
   * keep-alive agents (the npm client's, Go's 90 s) rarely reuse a socket the server is closing.
   */
  readonly keepAliveTimeoutMs?: number;
  /** Called with a bug (an AssertionError out of a handler) after a 500 is sent; default: crash the process. */
  readonly onBug?: (err: unknown) => void;
  /** Consul's request log (request-log.ts: tokens hidden); none when absent. */
  readonly requestLog?: RequestLog;
  /** The agent's own services and checks (/v1/agent/service…, /v1/agent/check…); without it those answer 500. */
  readonly local?: LocalAgent;
  /** The web UI's files, served at /ui/ (ui-assets.ts loads them); without them /ui answers 404. */
  readonly ui?: UiAssets;
}

const KEEP_ALIVE_TIMEOUT_MS_DEFAULT = 65_000;
/** Consul's largest real snapshots are a few GiB; the archive reader's own state.bin bound is the same. */
export const STREAM_BYTES_MAX_DEFAULT = 64 * 1024 ** 3;
/** Methods counted by name; anything else is "other", so a client cannot grow the label set. */
const COUNTED_METHODS = new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD"]);

function splitTarget(url: string): { path: string; query: string } {
  if (url.startsWith("/")) {
    const q = url.indexOf("?");
    return q === -1 ? { path: url, query: "" } : { path: url.slice(0, q), query: url.slice(q + 1) };
  }
  // absolute-form (a proxy's request line) or "*": keep the path, drop scheme and host.
  try {
    const u = new URL(url);
    return { path: u.pathname, query: u.search.slice(1) };
  } catch {
    return { path: url, query: "" };
  }
}

function headerValue(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(", ") : v;
}

/**
 * Reads the body up to `bytesMax`. Over the limit (announced by Content-Length or seen while streaming) it
 * stops reading and rejects with BodyTooLargeError: nothing past the limit is buffered, and the response then
 * closes the connection (see writeResponse) instead of draining the rest.
 */
function readBody(req: http.IncomingMessage, bytesMax: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > bytesMax) {
    return Promise.reject(new BodyTooLargeError(Number(declared), bytesMax));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (c: Buffer): void => {
      n += c.length;
      if (n > bytesMax) {
        cleanup();
        req.pause();
        reject(new BodyTooLargeError(n, bytesMax));
        return;
      }
      chunks.push(c);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, n));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error("read request body: the client closed the connection"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/** The body as it arrives, refused up front when Content-Length already announces too much. */
async function* streamBody(req: http.IncomingMessage, bytesMax: number): AsyncGenerator<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && /^[0-9]+$/.test(declared) && Number(declared) > bytesMax) {
    throw new BodyTooLargeError(Number(declared), bytesMax);
  }
  // A client that goes away mid-upload makes the iteration throw (premature close): never a clean end.
  yield* boundedChunks(req, bytesMax);
}

/** The HttpRequest view of an IncomingMessage; the body is read on the first call only. */
export function toHttpRequest(
  req: http.IncomingMessage,
  bodyBytesMax: number,
  streamBytesMax = STREAM_BYTES_MAX_DEFAULT,
): HttpRequest {
  const { path, query } = splitTarget(req.url ?? "/");
  let body: Promise<Uint8Array> | null = null;
  return {
    method: req.method ?? "GET",
    path,
    query: new URLSearchParams(query),
    headers: (name) => headerValue(req, name),
    body: (bytesMax = bodyBytesMax) => {
      body ??= readBody(req, Math.min(bytesMax, bodyBytesMax));
      return body;
    },
    stream: (bytesMax = streamBytesMax) => streamBody(req, Math.min(bytesMax, streamBytesMax)),
  };
}

/**
 * Writes a streamed body with backpressure (pipeline). Chunked, so the end of the body is explicit: if the
 * source throws midway, pipeline destroys the response and with it the socket, and the client sees a reset
 * instead of the final chunk. A client that leaves makes pipeline stop the source (its `return` runs).
 */
async function writeStream(res: http.ServerResponse, r: HttpResponse, body: StreamBody): Promise<void> {
  res.writeHead(r.status, { ...r.headers });
  try {
    await pipeline(Readable.from(body.stream), res);
  } catch {
    res.destroy();
  }
}

async function writeResponse(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  r: HttpResponse,
): Promise<void> {
  if (isStreamBody(r.body)) return writeStream(res, r, r.body);
  const body = r.body;
  // A string body stays a string: node:http then sends it joined to the head in one write, where a Buffer
  // goes as a second one.
  const bytes = typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.length;
  const headers: Record<string, string> = { ...r.headers, "Content-Length": String(bytes) };
  // A body left unread (refused as too large, or never needed) would have to be drained for keep-alive;
  // closing is cheaper and bounded.
  if (!req.complete) headers.Connection = "close";
  res.writeHead(r.status, headers);
  res.end(body);
}

/** What answers one request: the pure `handle` over a ServerApi, or something wrapped around it (a test agent). */
export type Answer = (request: HttpRequest, incoming: http.IncomingMessage) => Promise<HttpResponse>;

export type ListenerOptions = Pick<
  HttpServerOptions,
  "bodyBytesMax" | "streamBytesMax" | "countRequest" | "onBug" | "requestLog"
>;

/**
 * The adapter as a request listener over any `answer`: reads the request as an HttpRequest, writes the answer,
 * counts it, and treats a rejection as a bug (a 500, then `onBug`). Exported so that a server this file does not
 * create (https, or a test agent that records requests and overrides answers) reuses it instead of copying it.
 */
export function requestListener(answer: Answer, options: ListenerOptions): http.RequestListener {
  const onBug =
    options.onBug ??
    ((err: unknown) => {
      process.nextTick(() => {
        throw err;
      });
    });
  return (req, res) => {
    const t0 = performance.now();
    const request = toHttpRequest(req, options.bodyBytesMax, options.streamBytesMax);
    const done = (r: HttpResponse): void => {
      void writeResponse(req, res, r).then(() => {
        const method = COUNTED_METHODS.has(request.method) ? request.method : "other";
        const latencyMs = performance.now() - t0;
        options.countRequest?.(routeLabel(request.path), method, r.status, latencyMs);
        if (options.requestLog !== undefined) {
          // A unix socket has no peer address; Go prints its RemoteAddr as "@".
          const from =
            req.socket.remoteAddress === undefined
              ? "@"
              : `${req.socket.remoteAddress}:${req.socket.remotePort}`;
          logRequest(options.requestLog, {
            method: request.method,
            target: req.url ?? "/",
            from,
            status: r.status,
            latencyMs,
          });
        }
      });
    };
    answer(request, req).then(done, (err: unknown) => {
      done({ status: 500, headers: { "Content-Type": TEXT_PLAIN }, body: "internal error" });
      onBug(err);
    });
  };
}

/** A node:http server answering Consul's API from `api`. The caller listens (TCP; unix sockets later). */
export function createHttpServer(api: ServerApi, options: HttpServerOptions): http.Server {
  const answer: Answer = (request) => handle(request, api, options.local, options.ui);
  const server = http.createServer({ keepAlive: true }, requestListener(answer, options));
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS_DEFAULT;
  return server;
}

/**
 * The same API over HTTPS (Consul's ports.https). `tls` holds the key, certificate and CA; with requestCert and
 * rejectUnauthorized (verify_incoming) a client without a certificate from the CA is refused at the handshake,
 * before any request is read.
 */
export function createHttpsServer(
  api: ServerApi,
  options: HttpServerOptions,
  tls: https.ServerOptions,
): https.Server {
  const answer: Answer = (request) => handle(request, api, options.local, options.ui);
  const server = https.createServer({ ...tls, keepAlive: true }, requestListener(answer, options));
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS_DEFAULT;
  return server;
}
