/**
 * Test support, not part of the production API: a fake Consul agent on a real node:http server that answers
 * the client's endpoints with Consul's documented shapes, status codes and headers (docs/consul-compat.md
 * §0-§2, §6), backed by an in-memory KV with Consul's index, cas, flags and lock rules. It records every request
 * and lets a test override any answer. Listen on 127.0.0.1 port 0 (tests run in parallel), a unix socket, or TLS.
 */
import { once } from "node:events";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export interface FakeEntry {
  key: string;
  value: Buffer;
  flags: bigint;
  createIndex: bigint;
  modifyIndex: bigint;
  lockIndex: bigint;
  session: string;
}

export interface RecordedRequest {
  readonly method: string;
  /** Decoded path, as Go's req.URL.Path. */
  readonly path: string;
  readonly rawUrl: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface FakeAnswer {
  readonly status: number;
  readonly body?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

const TEXT = { "content-type": "text/plain; charset=utf-8" } as const;
const JSON_TYPE = { "content-type": "application/json" } as const;
const REQUEST_BYTES_MAX = 64 * 1024 * 1024;

/** JSON text with bigint written as full-digit numbers, as Go writes uint64. */
export function goJson(v: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x !== "bigint") return x;
    marks.push(x.toString());
    return `\u0000big${marks.length - 1}\u0000`;
  });
  return text.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? "0");
}

function entryJson(e: FakeEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { LockIndex: e.lockIndex, Key: e.key, Flags: e.flags };
  out.Value = e.value.byteLength === 0 ? null : e.value.toString("base64");
  if (e.session !== "") out.Session = e.session;
  out.CreateIndex = e.createIndex;
  out.ModifyIndex = e.modifyIndex;
  return out;
}

export class FakeConsul {
  readonly kv = new Map<string, FakeEntry>();
  readonly requests: RecordedRequest[] = [];
  /** Raft index of the last write; never 0 on the wire. */
  index = 10n;
  /** Index of the last delete, so prefix indexes move on deletes as Consul's tombstones make them. */
  tombstoneIndex = 0n;
  leader = "127.0.0.1:8300";
  peers = ["127.0.0.1:8300"];
  knownLeader = true;
  raftConfiguration: unknown = { Servers: [], Index: 1 };
  autopilotHealth: unknown = { Healthy: true, FailureTolerance: 0, Servers: [] };
  members: unknown[] = [];
  self: unknown = { Config: { Datacenter: "dc1", NodeName: "node1", Version: "1.0.0" } };
  sessions = new Set<string>();
  snapshot: Buffer = Buffer.alloc(0);
  snapshotIndex = 42n;
  restored: Buffer | null = null;
  transferSuccess = true;
  /** Return an answer to replace the fake's own for this request. */
  override: ((req: RecordedRequest) => FakeAnswer | undefined) | undefined;
  private server: http.Server | undefined;

  /** Starts listening; resolves the address to give the client (`127.0.0.1:port`, `https://...`, `unix://...`). */
  async start(opts: { socketPath?: string; tls?: https.ServerOptions } = {}): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        res.writeHead(500, TEXT).end(String(err));
      });
    };
    this.server = opts.tls === undefined ? http.createServer(handler) : https.createServer(opts.tls, handler);
    if (opts.socketPath !== undefined) this.server.listen(opts.socketPath);
    else this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    if (opts.socketPath !== undefined) return `unix://${opts.socketPath}`;
    const port = (this.server.address() as AddressInfo).port;
    return opts.tls === undefined ? `127.0.0.1:${port}` : `https://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  put(key: string, value: string | Buffer, flags = 0n): FakeEntry {
    this.index++;
    const old = this.kv.get(key);
    const e: FakeEntry = {
      key,
      value: Buffer.from(value),
      flags,
      createIndex: old?.createIndex ?? this.index,
      modifyIndex: this.index,
      lockIndex: old?.lockIndex ?? 0n,
      session: old?.session ?? "",
    };
    this.kv.set(key, e);
    return e;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).byteLength;
      if (size > REQUEST_BYTES_MAX) throw new Error("request too large");
      chunks.push(c as Buffer);
    }
    const rec: RecordedRequest = {
      method: req.method ?? "",
      path: decodeURIComponent(url.pathname),
      rawUrl: req.url ?? "",
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks),
    };
    this.requests.push(rec);
    const answer = this.override?.(rec) ?? this.route(rec);
    res.setHeader("X-Consul-Default-ACL-Policy", "allow");
    res.writeHead(answer.status, { ...answer.headers });
    res.end(answer.body ?? "");
  }

  private meta(index: bigint): Record<string, string> {
    return {
      "X-Consul-Index": (index === 0n ? 1n : index).toString(),
      "X-Consul-KnownLeader": String(this.knownLeader),
      "X-Consul-LastContact": "0",
    };
  }

  private json(v: unknown, extra: Record<string, string> = {}): FakeAnswer {
    return { status: 200, body: goJson(v), headers: { ...JSON_TYPE, ...extra } };
  }

  private route(r: RecordedRequest): FakeAnswer {
    if (r.path.startsWith("/v1/kv/")) {
      const key = r.path.slice("/v1/kv/".length);
      if (r.method === "GET") return this.kvGet(key, r.query);
      if (r.method === "PUT") return this.kvPut(key, r.query, r.body);
      if (r.method === "DELETE") return this.kvDelete(key, r.query);
      return {
        status: 405,
        body: `method ${r.method} not allowed`,
        headers: { Allow: "OPTIONS,GET,PUT,DELETE" },
      };
    }
    return this.routeOther(r);
  }

  private routeOther(r: RecordedRequest): FakeAnswer {
    const m = `${r.method} ${r.path}`;
    switch (m) {
      case "GET /v1/status/leader":
        return this.json(this.leader);
      case "GET /v1/status/peers":
        return this.json(this.peers);
      case "GET /v1/operator/raft/configuration":
        return this.json(this.raftConfiguration);
      case "GET /v1/operator/autopilot/health": {
        const a = this.json(this.autopilotHealth);
        const healthy = (this.autopilotHealth as { Healthy?: boolean }).Healthy === true;
        return healthy ? a : { ...a, status: 429 };
      }
      case "DELETE /v1/operator/raft/peer":
        return this.removePeer(r.query);
      case "POST /v1/operator/raft/transfer-leader":
        return this.json({ Success: this.transferSuccess });
      case "GET /v1/agent/self":
        return this.json(this.self);
      case "GET /v1/agent/members":
        return this.json(this.members);
      case "GET /v1/snapshot":
        return {
          status: 200,
          body: this.snapshot,
          headers: { ...this.meta(this.snapshotIndex), "content-type": "application/x-gzip" },
        };
      case "PUT /v1/snapshot":
        this.restored = r.body;
        return { status: 200 };
      default:
        return { status: 404, body: "Invalid URL path: not a recognized HTTP API endpoint\n", headers: TEXT };
    }
  }

  private removePeer(q: URLSearchParams): FakeAnswer {
    if (q.has("id") && q.has("address"))
      return { status: 400, body: "Must specify only one of ?id or ?address", headers: TEXT };
    if (!q.has("id") && !q.has("address")) {
      const body = "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove";
      return { status: 400, body, headers: TEXT };
    }
    return { status: 200 };
  }

  private prefixIndex(prefix: string): bigint {
    let max = this.tombstoneIndex;
    for (const e of this.kv.values())
      if (e.key.startsWith(prefix) && e.modifyIndex > max) max = e.modifyIndex;
    return max;
  }

  private kvGet(key: string, q: URLSearchParams): FakeAnswer {
    const sorted = [...this.kv.values()]
      .filter((e) => e.key.startsWith(key))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    if (q.has("keys")) {
      const sep = q.get("separator") ?? "";
      const keys = new Set<string>();
      for (const e of sorted) {
        const cut = sep === "" ? -1 : e.key.indexOf(sep, key.length);
        keys.add(cut < 0 ? e.key : e.key.slice(0, cut + sep.length));
      }
      const meta = this.meta(this.prefixIndex(key));
      if (keys.size === 0 && key !== "") return { status: 404, headers: meta };
      return this.json([...keys], meta);
    }
    if (q.has("recurse")) {
      const meta = this.meta(this.prefixIndex(key));
      if (sorted.length === 0) return { status: 404, headers: meta };
      return this.json(sorted.map(entryJson), meta);
    }
    if (key === "") return { status: 400, body: "Missing key name", headers: TEXT };
    const e = this.kv.get(key);
    if (e === undefined) return { status: 404, headers: this.meta(this.index) };
    if (q.has("raw"))
      return {
        status: 200,
        body: e.value,
        headers: { ...this.meta(e.modifyIndex), "content-type": "text/plain" },
      };
    return this.json([entryJson(e)], this.meta(e.modifyIndex));
  }

  private kvPut(key: string, q: URLSearchParams, body: Buffer): FakeAnswer {
    if (key === "") return { status: 400, body: "Missing key name", headers: TEXT };
    const conflicting = ["cas", "acquire", "release"].filter((p) => q.has(p)).length > 1;
    if (conflicting) return { status: 400, body: `Conflicting flags: ${q.toString()}\n`, headers: TEXT };
    const flags = BigInt(q.get("flags") ?? "0");
    const old = this.kv.get(key);
    const cas = q.get("cas");
    if (cas !== null && (BigInt(cas) === 0n ? old !== undefined : old?.modifyIndex !== BigInt(cas)))
      return this.json(false);
    const acquire = q.get("acquire");
    if (acquire !== null) {
      if (!this.sessions.has(acquire))
        return { status: 500, body: `invalid session "${acquire}"`, headers: TEXT };
      if (old !== undefined && old.session !== "" && old.session !== acquire) return this.json(false);
      const e = this.put(key, body, flags);
      if (e.session !== acquire) e.lockIndex++;
      e.session = acquire;
      return this.json(true);
    }
    const release = q.get("release");
    if (release !== null) {
      if (old?.session !== release) return this.json(false);
      this.put(key, body, flags).session = "";
      return this.json(true);
    }
    this.put(key, body, flags);
    return this.json(true);
  }

  private kvDelete(key: string, q: URLSearchParams): FakeAnswer {
    if (q.has("recurse") && q.has("cas"))
      return { status: 400, body: `Conflicting flags: ${q.toString()}\n`, headers: TEXT };
    const cas = q.get("cas");
    if (cas !== null) {
      const e = this.kv.get(key);
      if (e === undefined || e.modifyIndex !== BigInt(cas)) return this.json(false);
    }
    this.index++;
    this.tombstoneIndex = this.index;
    if (q.has("recurse")) {
      for (const k of [...this.kv.keys()]) if (k.startsWith(key)) this.kv.delete(k);
    } else {
      if (key === "") return { status: 400, body: "Missing key name", headers: TEXT };
      this.kv.delete(key);
    }
    return this.json(true);
  }
}
