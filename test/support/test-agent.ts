/**
 * Test support for the client's and the CLI's tests: a Consul agent that is cairn's real HTTP stack (the
 * adapter's request listener and the pure `handle`) over a MemoryServer (the real KV, session, txn, catalog and
 * snapshot endpoints over a real KvStore), on a real node:http or https server. So a client test checks the
 * client against the answers cairn's server gives, not against a second hand-written copy of Consul's rules.
 *
 * Two things a production server does not have: every request is recorded as it arrived (to check what a client
 * sends: escaping, query, headers), and a test may `override` any answer, for the Consul answers cairn's server
 * never gives (a 403, a proxy's path prefix, an index past 2^53). Set up state through `api` (its writes take the
 * real store's indexes: the first write is index 1) or through its fixture fields (raftServers, memberList…).
 */
import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { TestContext } from "node:test";
import { MemoryServer } from "../../src/api/memory-server.js";
import type { KvEntry } from "../../src/fsm/index.js";
import {
  type Answer,
  DEFAULT_ACL_POLICY_HEADER,
  errorResponse,
  type HttpResponse,
  handle,
  memoryRequest,
  requestListener,
} from "../../src/http/index.js";

export interface RecordedRequest {
  readonly method: string;
  /** Decoded path, as Go's req.URL.Path (the raw one when it does not decode). */
  readonly path: string;
  /** The request target as sent: path and query, still %-encoded. */
  readonly rawUrl: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A canned answer; the agent adds the headers Consul sends on every response (docs/consul-compat.md §0.2). */
export interface CannedAnswer {
  readonly status: number;
  readonly body?: string | Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ListenOptions {
  /** Listen on this unix socket instead of 127.0.0.1 port 0. */
  readonly socketPath?: string;
  /** Serve https with these options (key, cert, and for mutual TLS ca and requestCert). */
  readonly tls?: https.ServerOptions;
}

/**
 * Bound on a request body, which the agent holds whole to record it: far above any test's (a snapshot archive
 * of a few keys), far below what would hurt a test run.
 */
const BODY_BYTES_MAX = 64 * 1024 * 1024;

function decodedPath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export class TestAgent {
  readonly api: MemoryServer;
  /** Every request, in the order they arrived (overridden ones included). */
  readonly requests: RecordedRequest[] = [];
  /** An answer to give instead of the real one; undefined lets the real handler answer. */
  override: ((req: RecordedRequest) => CannedAnswer | undefined) | undefined;
  private server: http.Server | undefined;

  constructor(api = new MemoryServer()) {
    this.api = api;
  }

  /**
   * PUT /v1/kv/<key> through the real handler, in memory (not recorded): the store's next index, and an empty
   * value stored as the endpoint stores it (Go's nil).
   */
  async put(key: string, value: string | Uint8Array, flags = 0n): Promise<void> {
    const path = key.split("/").map(encodeURIComponent).join("/");
    const req = memoryRequest("PUT", `/v1/kv/${path}?flags=${flags}`, { body: value });
    const res = await handle(req, this.api);
    if (res.status !== 200) throw new Error(`put ${JSON.stringify(key)}: status ${res.status}`);
  }

  /** The store's entry for `key`, or null. */
  entry(key: string): KvEntry | null {
    return this.api.store.get(key).entry;
  }

  /** The stored value of `key` (empty for Go's nil), or undefined when there is no such key. */
  value(key: string): Buffer | undefined {
    const e = this.entry(key);
    return e === null ? undefined : Buffer.from(e.Value ?? []);
  }

  /**
   * Reads the whole body first (the record needs it, and so may an override), then answers from the recorded
   * bytes: the handlers still ask for their own bounds (KV's value size), which the replayed body enforces.
   */
  private readonly answer: Answer = async (request, incoming) => {
    let body: Uint8Array;
    try {
      body = await request.body(BODY_BYTES_MAX);
    } catch (err) {
      return errorResponse(err);
    }
    const rec: RecordedRequest = {
      method: request.method,
      path: decodedPath(request.path),
      rawUrl: incoming.url ?? "",
      query: request.query,
      headers: incoming.headers,
      body: Buffer.from(body),
    };
    this.requests.push(rec);
    const canned = this.override?.(rec);
    if (canned !== undefined) return cannedResponse(canned);
    const replay = memoryRequest(request.method, "/", { body });
    return handle({ ...request, body: replay.body, stream: replay.stream }, this.api);
  };

  /** Starts listening; resolves the address to give a client: `127.0.0.1:port`, `https://…` or `unix://…`. */
  async start(opts: ListenOptions = {}): Promise<string> {
    const listener = requestListener(this.answer, { bodyBytesMax: BODY_BYTES_MAX });
    const server =
      opts.tls === undefined ? http.createServer(listener) : https.createServer(opts.tls, listener);
    this.server = server;
    if (opts.socketPath !== undefined) server.listen(opts.socketPath);
    else server.listen(0, "127.0.0.1");
    await once(server, "listening");
    if (opts.socketPath !== undefined) return `unix://${opts.socketPath}`;
    const port = (server.address() as AddressInfo).port;
    return opts.tls === undefined ? `127.0.0.1:${port}` : `https://127.0.0.1:${port}`;
  }

  /** Stops listening and drops open connections; a second call does nothing. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function cannedResponse(a: CannedAnswer): HttpResponse {
  return {
    status: a.status,
    headers: { ...a.headers, [DEFAULT_ACL_POLICY_HEADER]: "allow" },
    body: a.body ?? "",
  };
}

/** A started agent, closed when the test ends, and its address. */
export async function startTestAgent(
  t: TestContext,
  opts: ListenOptions & { readonly api?: MemoryServer } = {},
): Promise<{ agent: TestAgent; api: MemoryServer; address: string }> {
  const agent = new TestAgent(opts.api);
  t.after(() => agent.close());
  const address = await agent.start(opts);
  return { agent, api: agent.api, address };
}
