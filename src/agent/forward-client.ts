/**
 * The caller's side of a forwarded HTTP request (server/rpc-http.ts, forward-serve.ts): a client agent carries a
 * request it does not answer itself to a server, and a server carries a request for another datacenter to a
 * server of that one. The answer is the remote router's, headers and status unchanged; its body streams back.
 *
 * Failures before an answer are Consul's 500s: no server to ask (`No known Consul servers`), or the call failed
 * (`rpc error making call: …`). Only a call that certainly never reached a server, or a read, is tried on another
 * server (ClientLink.call); a write whose connection broke mid-way may have been applied and is not repeated.
 */
import { randomUUID } from "node:crypto";
import {
  BodyTooLargeError,
  errorResponse,
  type HttpRequest,
  type HttpResponse,
  parseQueryOptions,
} from "../http/index.js";
import type { ServerCalls } from "../server/rpc.js";
import { FORWARD_CHUNK_BYTES, type ForwardPart } from "../server/rpc-http.js";
import { FORWARD, RPC_HOLD_TIMEOUT_MS } from "../server/rpc-methods.js";
import { CairnError, errorText } from "../util/errors.js";
import { ParkedWaitError, type Parking } from "./forward-park.js";
import { RATE_EXCEEDED_TEXT } from "./forward-serve.js";

/** How a forwarder reaches servers: any one (with failover), or the one an exchange started on. */
export interface ForwardVia extends ServerCalls {
  /** Present: blocking requests may be parked on the server while they wait (forward-park.ts). */
  readonly parking?: Parking | undefined;
}

type Part = { readonly head: ForwardPart; readonly bytes: Uint8Array };

/** A call answering one chunk (of the body either way) may take this long. */
export const CHUNK_TIMEOUT_MS = 120_000;
/** A restore's last chunk waits for the whole archive to be verified and installed through Raft. */
const RESTORE_TIMEOUT_MS = 15 * 60_000;
/** Consul's blocking-query wait is capped at 10 min (its default, 5 min, is parseQueryOptions'), plus wait/16 of jitter. */
const WAIT_MAX_MS = 10 * 60_000;

/** Hop-by-hop headers (RFC 9110 §7.6.1) and Host: they describe this connection, not the request. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
]);

export function forwardableHeaders(
  all: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(all)) {
    if (v === undefined || HOP_BY_HOP.has(k.toLowerCase())) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

const TEXT = "text/plain; charset=utf-8";

function fail(text: string): HttpResponse {
  // Consul answers a server's rate-limit refusal with 429 Too Many Requests.
  const status = text.includes(RATE_EXCEEDED_TEXT) ? 429 : 500;
  return { status, headers: { "Content-Type": TEXT }, body: text };
}

/**
 * How long the answer's first part may take: a blocking query waits up to its `wait` (plus jitter) on the server,
 * which may first hold up to RPC_HOLD_TIMEOUT_MS for a leader.
 */
export function answerTimeoutMs(req: HttpRequest): number {
  if (req.method === "PUT" && req.path === "/v1/snapshot") return RESTORE_TIMEOUT_MS;
  const waitMs = blockingWaitMs(req);
  if (waitMs === null) return CHUNK_TIMEOUT_MS;
  return waitMs + waitMs / 16 + RPC_HOLD_TIMEOUT_MS + 10_000;
}

/** A blocking query's `wait` (default and cap as Consul's); null for any other request. */
function blockingWaitMs(req: HttpRequest): number | null {
  try {
    const q = parseQueryOptions(req.query);
    return q.minIndex > 0 ? Math.min(q.waitMs, WAIT_MAX_MS) : null;
  } catch {
    // A bad parameter is the server's to refuse (400); it answers at once.
    return null;
  }
}

/** Reads a body in pieces of at most FORWARD_CHUNK_BYTES, telling which is the last. */
class Pieces {
  private readonly it: AsyncIterator<Uint8Array>;
  private held: Uint8Array = new Uint8Array(0);
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.it = source[Symbol.asyncIterator]();
  }

  async next(): Promise<{ bytes: Uint8Array; done: boolean }> {
    while (!this.ended && this.held.length <= FORWARD_CHUNK_BYTES) {
      const step = await this.it.next();
      if (step.done === true) this.ended = true;
      else this.held = this.held.length === 0 ? step.value : Buffer.concat([this.held, step.value]);
    }
    const bytes = this.held.subarray(0, FORWARD_CHUNK_BYTES);
    this.held = this.held.subarray(bytes.length);
    return { bytes, done: this.ended && this.held.length === 0 };
  }

  /** Stops reading the source (the server answered before the body ended). */
  stop(): void {
    void this.it.return?.();
  }
}

/** Failures whose message is Consul's own text: no server known, no path to the datacenter, none reachable. */
const CONSUL_TEXTS = new Set(["no_servers", "no_dc_path", "dc_unavailable"]);

/** An error answered by the forwarder itself, with Consul's text for it. */
function failureText(e: unknown): string {
  if (e instanceof CairnError && CONSUL_TEXTS.has(e.code)) return e.message;
  if (e instanceof CairnError && e.code === "transport_remote") {
    return `rpc error making call: ${(e as CairnError & { remoteMessage?: string }).remoteMessage ?? e.message}`;
  }
  return `rpc error making call: ${errorText(e)}`;
}

/** Forwards `req` (its headers given whole, as the listener received them) and returns the remote answer. */
export async function forwardRequest(
  req: HttpRequest,
  headers: Readonly<Record<string, string>>,
  via: ForwardVia,
): Promise<HttpResponse> {
  const id = randomUUID();
  let pieces: Pieces;
  let first: { bytes: Uint8Array; done: boolean };
  try {
    pieces = new Pieces(req.stream());
    first = await pieces.next();
  } catch (e) {
    // The caller's body broke a bound (413) or its connection went away.
    return errorResponse(e);
  }
  const timeoutMs = answerTimeoutMs(req);
  const readOnly = (req.method === "GET" || req.method === "HEAD") && first.done;
  const parking = readOnly && blockingWaitMs(req) !== null ? via.parking : undefined;
  let server: number;
  let part: Part;
  try {
    const started = await via.call(
      FORWARD.start,
      {
        head: {
          id,
          method: req.method,
          path: req.path,
          query: req.query.toString(),
          headers: { ...headers },
          bodyDone: first.done,
          parkAs: parking?.caller ?? "",
        },
        bytes: first.bytes,
      },
      first.done ? timeoutMs : CHUNK_TIMEOUT_MS,
      readOnly,
    );
    server = started.server;
    part = started.answer;
  } catch (e) {
    return fail(failureText(e));
  }
  try {
    if (part.head.parked) {
      if (parking === undefined) throw new ParkedWaitError("the server parked a request not sent parkable");
      await parking.wait(server, id, timeoutMs);
      part = await via.callOn(server, FORWARD.next, { id }, CHUNK_TIMEOUT_MS);
    }
    while (part.head.head === null) {
      const p = await pieces.next();
      part = await via.callOn(
        server,
        FORWARD.send,
        { head: { id, done: p.done }, bytes: p.bytes },
        p.done ? timeoutMs : CHUNK_TIMEOUT_MS,
      );
    }
  } catch (e) {
    void via.callOn(server, FORWARD.cancel, { id }, 5000).catch(() => {});
    pieces.stop();
    if (e instanceof BodyTooLargeError) return errorResponse(e);
    return fail(failureText(e));
  }
  pieces.stop();
  const { status, headers: answerHeaders } = part.head.head;
  if (part.head.done) return { status, headers: answerHeaders, body: part.bytes };
  return { status, headers: answerHeaders, body: { stream: rest(via, server, id, part.bytes) } };
}

/**
 * The rest of a streamed answer, pulled part by part. A failure midway throws, so the listener cuts the
 * connection instead of ending the body cleanly; a caller that leaves early cancels the exchange.
 */
async function* rest(
  via: ForwardVia,
  server: number,
  id: string,
  first: Uint8Array,
): AsyncGenerator<Uint8Array> {
  let done = false;
  try {
    if (first.length > 0) yield first;
    while (!done) {
      const p = await via.callOn(server, FORWARD.next, { id }, CHUNK_TIMEOUT_MS);
      done = p.head.done;
      if (p.bytes.length > 0) yield p.bytes;
    }
  } finally {
    if (!done) void via.callOn(server, FORWARD.cancel, { id }, 5000).catch(() => {});
  }
}
