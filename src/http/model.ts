/**
 * The request/response model of src/http: no framework, no sockets. Handlers are pure async functions of an
 * HttpRequest and a ServerApi (docs/ARCHITECTURE.md), so tests build requests in memory; node-adapter.ts is
 * the only code that knows about node:http.
 */
import type { ServerApi } from "../api/types.js";
import type { LocalAgent } from "../local/state.js";

export interface HttpRequest {
  readonly method: string;
  /** The request target's path, raw: still %-encoded (the router decodes it once). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** A header's value by case-insensitive name, or undefined when absent. */
  headers(name: string): string | undefined;
  /**
   * The whole body. Bounded: rejects with BodyTooLargeError once more than `bytesMax` bytes arrive (the
   * adapter's limit, or a smaller one given here), so a handler never holds more than it allows.
   * May be called once.
   */
  body(bytesMax?: number): Promise<Uint8Array>;
  /**
   * The body as it arrives, for uploads too large to hold (a snapshot restore). Bounded like `body`, but by
   * the adapter's stream limit (or a smaller one given here): the iteration throws BodyTooLargeError once
   * more arrives. Never buffers more than one chunk. Either this or `body` may be called, once.
   */
  stream(bytesMax?: number): AsyncIterable<Uint8Array>;
}

/**
 * A body produced while it is sent (a snapshot archive). The adapter writes it with backpressure; if the
 * iteration throws midway the connection is destroyed, never ended cleanly, so that a client cannot take a
 * truncated body for a whole one.
 */
export interface StreamBody {
  readonly stream: AsyncIterable<Uint8Array>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array | StreamBody;
}

export function isStreamBody(body: HttpResponse["body"]): body is StreamBody {
  return typeof body === "object" && !(body instanceof Uint8Array);
}

/** What the router hands a handler besides the request: the decoded path and what follows the route's prefix. */
export interface RouteContext {
  /** The path, URL-decoded once (%2F included), as Go's req.URL.Path. */
  readonly path: string;
  /** The decoded path after the route's pattern: the key of /v1/kv/<key>; "" for exact routes. */
  readonly rest: string;
  /** The agent's own services and checks; absent where the API is served without local state (answers 500). */
  readonly local: LocalAgent | undefined;
}

/** A pure handler: no sockets, no globals; everything it needs comes in. */
export type Handler = (req: HttpRequest, api: ServerApi, ctx: RouteContext) => Promise<HttpResponse>;

/** The body went past a limit; errors.ts answers 413 with the message. */
export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
  /** Bytes received (or announced by Content-Length) when the limit was hit. */
  readonly bytes: number;
  readonly bytesMax: number;
  constructor(bytes: number, bytesMax: number, message?: string) {
    super(message ?? `Request body(${bytes} bytes) too large, max size: ${bytesMax} bytes`);
    this.bytes = bytes;
    this.bytesMax = bytesMax;
  }
}

/** Go's net/http sniffs an error body written without a type as this; the npm client needs text/plain. */
export const TEXT_PLAIN = "text/plain; charset=utf-8";
export const APPLICATION_JSON = "application/json";

/** A text/plain response (Consul's error bodies and messages). */
export function textResponse(
  status: number,
  body: string,
  headers: Record<string, string> = {},
): HttpResponse {
  return { status, headers: { "Content-Type": TEXT_PLAIN, ...headers }, body };
}

/** A response with no body and no Content-Type (Consul's 404 for a missing key, 200 for a removed peer). */
export function emptyResponse(status: number, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, body: "" };
}

/** Builds an in-memory request, for tests and for callers that already hold the whole body. */
export function memoryRequest(
  method: string,
  target: string,
  init: { readonly body?: string | Uint8Array; readonly headers?: Readonly<Record<string, string>> } = {},
): HttpRequest {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? "" : target.slice(q + 1));
  const bytes = typeof init.body === "string" ? new TextEncoder().encode(init.body) : (init.body ?? null);
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(init.headers ?? {})) headers.set(k.toLowerCase(), v);
  if (bytes !== null && !headers.has("content-length")) headers.set("content-length", String(bytes.length));
  return {
    method,
    path,
    query,
    headers: (name) => headers.get(name.toLowerCase()),
    body: async (bytesMax = Number.POSITIVE_INFINITY) => {
      const b = bytes ?? new Uint8Array(0);
      if (b.length > bytesMax) throw new BodyTooLargeError(b.length, bytesMax);
      return b;
    },
    stream: (bytesMax = Number.POSITIVE_INFINITY) => boundedChunks([bytes ?? new Uint8Array(0)], bytesMax),
  };
}

/** Passes chunks through, throwing BodyTooLargeError as soon as their total passes `bytesMax`. */
export async function* boundedChunks(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  bytesMax: number,
): AsyncGenerator<Uint8Array> {
  let n = 0;
  for await (const chunk of source) {
    n += chunk.length;
    if (n > bytesMax) throw new BodyTooLargeError(n, bytesMax);
    if (chunk.length > 0) yield chunk;
  }
}
