/**
 * A typed client for the subset of Consul's HTTP API cairn serves: KV, status, operator raft/autopilot, agent
 * self/members, snapshot. It sends requests as Consul's Go `api` package does (presence flags as `stale=`,
 * `X-Consul-Token`, `dc=`), treats 200 as the only success (other 2xx too, as harmless), and reports anything
 * else as ApiError with Go's message. Contract: every call either resolves or rejects within the configured
 * time bounds; the client owns a keep-alive pool, released by `close()`.
 */
import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import {
  type CatalogNode,
  type CatalogQuery,
  type CatalogServiceInstance,
  catalogParams,
  decodeCatalogNode,
  decodeHealthCheck,
  decodeNodeServices,
  decodeServiceInstance,
  decodeServices,
  type HealthCheck,
  type NodeServices,
} from "./catalog.js";
import { ApiError, ClientConfigError, DecodeError, InvalidRequestError } from "./errors.js";
import { type Json, JsonSyntaxError, parseJson } from "./json.js";
import {
  DEFAULT_ADDRESS,
  goFileError,
  parseAddress,
  type RawResponse,
  type TlsOptions,
  Transport,
} from "./transport.js";
import {
  type AgentMember,
  type AutopilotHealth,
  arrayOf,
  decodeAutopilotHealth,
  decodeKVPair,
  decodeMember,
  decodeRaftConfiguration,
  decodeSession,
  type KVPair,
  objectOf,
  type QueryMeta,
  type RaftConfiguration,
  type SessionEntry,
  type SessionSpec,
} from "./types.js";

export interface ClientConfig {
  /** Consul address forms: `host:port`, `http(s)://host:port[/prefix]`, `unix:///path`. Default 127.0.0.1:8500. */
  readonly address?: string;
  /** CONSUL_HTTP_SSL: use TLS even for an address without `https://`. */
  readonly useTls?: boolean;
  readonly token?: string;
  /** Read (and trimmed) when the client is made; a non-empty file token beats `token`, as in Go's api. */
  readonly tokenFile?: string;
  /** CONSUL_HTTP_AUTH as `user:pass` (HTTP basic auth). */
  readonly basicAuth?: string;
  readonly datacenter?: string;
  readonly tls?: TlsOptions;
  readonly requestTimeoutMs?: number;
  readonly streamIdleTimeoutMs?: number;
  readonly responseBytesMax?: number;
}

export const REQUEST_TIMEOUT_MS_DEFAULT = 60_000;
export const STREAM_IDLE_TIMEOUT_MS_DEFAULT = 60_000;
export const RESPONSE_BYTES_MAX_DEFAULT = 256 * 1024 * 1024;
const SOCKETS_MAX = 8;

export interface QueryOptions {
  readonly stale?: boolean;
  readonly consistent?: boolean;
  /** Blocking query: wait for an index above this one. */
  readonly index?: bigint;
  readonly waitMs?: number;
}

export interface KvPutOptions {
  /** 0n: write only if absent; N: only if ModifyIndex == N. */
  readonly cas?: bigint;
  readonly acquire?: string;
  readonly release?: string;
}

export interface KvDeleteOptions {
  readonly recurse?: boolean;
  readonly cas?: bigint;
}

type Query = Array<[string, string]>;

/** A request body: JSON without the bigints a response may hold (JSON.stringify cannot write them). */
export type JsonBody = null | boolean | number | string | JsonBody[] | { [key: string]: JsonBody };

function readTokenFile(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new ClientConfigError(`Error loading token file: ${goFileError(path, err)}`, { cause: err });
  }
}

/** `/v1/kv/` + key, each segment escaped and `/` kept, as Go's url.URL escapes a path. */
function kvPath(key: string): string {
  if (key.startsWith("/"))
    throw new InvalidRequestError(`Invalid key. Key must not begin with a '/': ${key}`);
  return `/v1/kv/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function queryMeta(res: RawResponse): QueryMeta {
  const h = (name: string): string => {
    const v = res.headers[name];
    return (Array.isArray(v) ? v[0] : v) ?? "";
  };
  const index = h("x-consul-index");
  const contact = h("x-consul-lastcontact");
  return {
    lastIndex: /^\d+$/.test(index) ? BigInt(index) : 0n,
    knownLeader: h("x-consul-knownleader") === "true",
    lastContactMs: /^\d+$/.test(contact) ? Number(contact) : 0,
  };
}

function readOptions(q: QueryOptions | undefined): Query {
  const out: Query = [];
  if (q?.stale === true) out.push(["stale", ""]);
  if (q?.consistent === true) out.push(["consistent", ""]);
  if (q?.index !== undefined) out.push(["index", q.index.toString()]);
  if (q?.waitMs !== undefined) out.push(["wait", `${Math.trunc(q.waitMs)}ms`]);
  return out;
}

function decodeBody(res: RawResponse, what: string): Json {
  try {
    return parseJson(res.body.toString("utf8"));
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new DecodeError(`Failed to decode ${what}: ${err.message}`);
    throw err;
  }
}

function decodeBool(res: RawResponse): boolean {
  // Go's api compares the trimmed body with "true".
  return res.body.toString("utf8").trim() === "true";
}

export class ConsulClient {
  private readonly transport: Transport;
  private readonly headers: Record<string, string> = {};
  private readonly datacenter: string;

  /** Throws ClientConfigError for a bad address scheme or unreadable token/TLS files; nothing is sent yet. */
  constructor(config: ClientConfig = {}) {
    const endpoint = parseAddress(config.address ?? DEFAULT_ADDRESS, config.useTls === true);
    let token = config.token ?? "";
    if (config.tokenFile !== undefined && config.tokenFile !== "") {
      const fromFile = readTokenFile(config.tokenFile);
      if (fromFile !== "") token = fromFile;
    }
    if (token !== "") this.headers["x-consul-token"] = token;
    if (config.basicAuth !== undefined && config.basicAuth !== "") {
      this.headers.authorization = `Basic ${Buffer.from(config.basicAuth).toString("base64")}`;
    }
    this.datacenter = config.datacenter ?? "";
    this.transport = new Transport({
      endpoint,
      ...(config.tls === undefined ? {} : { tls: config.tls }),
      requestTimeoutMs: config.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs ?? STREAM_IDLE_TIMEOUT_MS_DEFAULT,
      responseBytesMax: config.responseBytesMax ?? RESPONSE_BYTES_MAX_DEFAULT,
      socketsMax: SOCKETS_MAX,
    });
  }

  close(): void {
    this.transport.close();
  }

  private async send(
    method: string,
    path: string,
    query: Query,
    opts: {
      body?: Uint8Array | Readable;
      sink?: Writable;
      ok?: readonly number[];
      contentType?: string;
    } = {},
  ): Promise<RawResponse> {
    const params = new URLSearchParams(query);
    if (this.datacenter !== "") params.set("dc", this.datacenter);
    const headers = { ...this.headers };
    if (opts.body !== undefined) headers["content-type"] = opts.contentType ?? "application/octet-stream";
    const res = await this.transport.request({
      method,
      path,
      query: params,
      headers,
      ...(opts.body === undefined ? {} : { body: opts.body }),
      ...(opts.sink === undefined ? {} : { sink: opts.sink }),
    });
    const accepted = (res.status >= 200 && res.status < 300) || (opts.ok ?? []).includes(res.status);
    if (!accepted) throw new ApiError(res.status, res.body.toString("utf8"));
    return res;
  }

  // --- KV -------------------------------------------------------------------------------------------------

  /** One key; `entry` is null when it does not exist (404). */
  async kvGet(key: string, q?: QueryOptions): Promise<{ entry: KVPair | null; meta: QueryMeta }> {
    const res = await this.send("GET", kvPath(key), readOptions(q), { ok: [404] });
    if (res.status === 404) return { entry: null, meta: queryMeta(res) };
    const list = arrayOf(decodeBody(res, "KV entry"), "KV entry");
    return { entry: list.length === 0 ? null : decodeKVPair(list[0]), meta: queryMeta(res) };
  }

  /** Every entry whose key starts with `prefix` (string prefix, sorted by the server); [] when none. */
  async kvList(prefix: string, q?: QueryOptions): Promise<{ entries: KVPair[]; meta: QueryMeta }> {
    const res = await this.send("GET", kvPath(prefix), [["recurse", ""], ...readOptions(q)], { ok: [404] });
    if (res.status === 404) return { entries: [], meta: queryMeta(res) };
    const entries = arrayOf(decodeBody(res, "KV list"), "KV list").map(decodeKVPair);
    return { entries, meta: queryMeta(res) };
  }

  /** Key names under `prefix`, cut after the first `separator` past the prefix when one is given. */
  async kvKeys(
    prefix: string,
    separator: string,
    q?: QueryOptions,
  ): Promise<{ keys: string[]; meta: QueryMeta }> {
    const query: Query = [["keys", ""]];
    if (separator !== "") query.push(["separator", separator]);
    const res = await this.send("GET", kvPath(prefix), [...query, ...readOptions(q)], { ok: [404] });
    if (res.status === 404) return { keys: [], meta: queryMeta(res) };
    const keys = arrayOf(decodeBody(res, "KV keys"), "KV keys").map((k) => {
      if (typeof k !== "string") throw new DecodeError("Failed to decode KV keys: expected strings");
      return k;
    });
    return { keys, meta: queryMeta(res) };
  }

  /** The raw value bytes of one key (`?raw`); null when it does not exist. */
  async kvGetRaw(key: string, q?: QueryOptions): Promise<{ value: Buffer | null; meta: QueryMeta }> {
    const res = await this.send("GET", kvPath(key), [["raw", ""], ...readOptions(q)], { ok: [404] });
    return { value: res.status === 404 ? null : res.body, meta: queryMeta(res) };
  }

  /** Writes a key; resolves false when a cas/acquire/release condition did not hold. */
  async kvPut(key: string, value: Uint8Array, flags = 0n, opts: KvPutOptions = {}): Promise<boolean> {
    const query: Query = [];
    if (flags !== 0n) query.push(["flags", flags.toString()]);
    if (opts.cas !== undefined) query.push(["cas", opts.cas.toString()]);
    if (opts.acquire !== undefined) query.push(["acquire", opts.acquire]);
    if (opts.release !== undefined) query.push(["release", opts.release]);
    return decodeBool(await this.send("PUT", kvPath(key), query, { body: value }));
  }

  /** Deletes a key, or every key under a prefix with `recurse`; false when a `cas` did not hold. */
  async kvDelete(key: string, opts: KvDeleteOptions = {}): Promise<boolean> {
    const query: Query = [];
    if (opts.recurse === true) query.push(["recurse", ""]);
    if (opts.cas !== undefined) query.push(["cas", opts.cas.toString()]);
    return decodeBool(await this.send("DELETE", kvPath(key), query));
  }

  // --- sessions -------------------------------------------------------------------------------------------

  /** Creates a session and returns its ID; unset fields take the server's defaults. */
  async sessionCreate(spec: SessionSpec = {}): Promise<string> {
    const body: Record<string, Json> = {};
    if (spec.name !== undefined) body.Name = spec.name;
    if (spec.ttl !== undefined) body.TTL = spec.ttl;
    if (spec.lockDelay !== undefined) body.LockDelay = spec.lockDelay;
    if (spec.behavior !== undefined) body.Behavior = spec.behavior;
    if (spec.nodeChecks !== undefined) body.NodeChecks = [...spec.nodeChecks];
    const res = await this.send("PUT", "/v1/session/create", [], {
      body: Buffer.from(JSON.stringify(body)),
      contentType: "application/json",
    });
    const id = objectOf(decodeBody(res, "session"), "session").ID;
    if (typeof id !== "string") throw new DecodeError("Failed to decode session: ID is not a string");
    return id;
  }

  /** Renews a TTL session; null when the session no longer exists (the server's 404), as Go's api. */
  async sessionRenew(id: string): Promise<SessionEntry | null> {
    const res = await this.send("PUT", `/v1/session/renew/${encodeURIComponent(id)}`, [], { ok: [404] });
    if (res.status === 404) return null;
    const list = arrayOf(decodeBody(res, "session"), "session");
    return list.length === 0 ? null : decodeSession(list[0]);
  }

  async sessionDestroy(id: string): Promise<void> {
    await this.send("PUT", `/v1/session/destroy/${encodeURIComponent(id)}`, []);
  }

  async sessionInfo(
    id: string,
    q?: QueryOptions,
  ): Promise<{ session: SessionEntry | null; meta: QueryMeta }> {
    const res = await this.send("GET", `/v1/session/info/${encodeURIComponent(id)}`, readOptions(q));
    const list = arrayOf(decodeBody(res, "session"), "session");
    return { session: list.length === 0 ? null : decodeSession(list[0]), meta: queryMeta(res) };
  }

  /** Every session of the datacenter (GET /v1/session/list). */
  async sessionList(q?: QueryOptions): Promise<{ sessions: SessionEntry[]; meta: QueryMeta }> {
    const res = await this.send("GET", "/v1/session/list", readOptions(q));
    const sessions = arrayOf(decodeBody(res, "sessions"), "sessions").map(decodeSession);
    return { sessions, meta: queryMeta(res) };
  }

  // --- status, operator, agent ----------------------------------------------------------------------------

  /** The leader's server RPC address, "" when there is none. */
  async statusLeader(): Promise<string> {
    const v = decodeBody(await this.send("GET", "/v1/status/leader", []), "leader");
    if (typeof v !== "string") throw new DecodeError("Failed to decode leader: expected a string");
    return v;
  }

  async statusPeers(): Promise<string[]> {
    const v = arrayOf(decodeBody(await this.send("GET", "/v1/status/peers", []), "peers"), "peers");
    return v.map((p) => (typeof p === "string" ? p : ""));
  }

  async raftConfiguration(q?: QueryOptions): Promise<RaftConfiguration> {
    const res = await this.send("GET", "/v1/operator/raft/configuration", readOptions(q));
    return decodeRaftConfiguration(decodeBody(res, "raft configuration"));
  }

  /** Autopilot's view; Consul answers 429 with the same body when unhealthy, which is not an error here. */
  async autopilotHealth(q?: QueryOptions): Promise<AutopilotHealth> {
    const res = await this.send("GET", "/v1/operator/autopilot/health", readOptions(q), { ok: [429] });
    return decodeAutopilotHealth(decodeBody(res, "autopilot health"));
  }

  async raftRemovePeer(peer: { readonly address: string } | { readonly id: string }): Promise<void> {
    const query: Query = "address" in peer ? [["address", peer.address]] : [["id", peer.id]];
    await this.send("DELETE", "/v1/operator/raft/peer", query);
  }

  /** Asks the leader to hand over leadership (to `id` when given); resolves the server's Success flag. */
  async raftTransferLeader(id = ""): Promise<boolean> {
    const res = await this.send("POST", "/v1/operator/raft/transfer-leader", id === "" ? [] : [["id", id]]);
    const v = decodeBody(res, "transfer-leader reply");
    return typeof v === "object" && v !== null && !Array.isArray(v) && v.Success === true;
  }

  /** Asks the agent to leave the datacenter gracefully and shut down (PUT /v1/agent/leave). */
  async agentLeave(): Promise<void> {
    await this.send("PUT", "/v1/agent/leave", []);
  }

  /** Asks the agent to join the server at `addr` (PUT /v1/agent/join/<addr>, `wan=1` as Go's api). */
  async agentJoin(addr: string, wan = false): Promise<void> {
    await this.send("PUT", `/v1/agent/join/${encodeURIComponent(addr)}`, wan ? [["wan", "1"]] : []);
  }

  /** Asks the agent to read its configuration again (PUT /v1/agent/reload). */
  async agentReload(): Promise<void> {
    await this.send("PUT", "/v1/agent/reload", []);
  }

  /** Forces a member out (PUT /v1/agent/force-leave/<node>), with Go's api `prune=1` and `wan=1`. */
  async agentForceLeave(node: string, opts: { prune?: boolean; wan?: boolean } = {}): Promise<void> {
    const query: Query = [];
    if (opts.prune === true) query.push(["prune", "1"]);
    if (opts.wan === true) query.push(["wan", "1"]);
    await this.send("PUT", `/v1/agent/force-leave/${encodeURIComponent(node)}`, query);
  }

  /** The agent's self description (Config, Member, Stats, ...), kept as JSON since its shape is wide. */
  async agentSelf(): Promise<{ [key: string]: Json }> {
    const v = decodeBody(await this.send("GET", "/v1/agent/self", []), "agent self");
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new DecodeError("Failed to decode agent self");
    return v;
  }

  async agentMembers(
    opts: { wan?: boolean; segment?: string; filter?: string } = {},
  ): Promise<AgentMember[]> {
    const query: Query = [];
    if (opts.segment !== undefined && opts.segment !== "") query.push(["segment", opts.segment]);
    if (opts.wan === true) query.push(["wan", "1"]);
    if (opts.filter !== undefined && opts.filter !== "") query.push(["filter", opts.filter]);
    const res = await this.send("GET", "/v1/agent/members", query);
    return arrayOf(decodeBody(res, "members"), "members").map(decodeMember);
  }

  // --- agent services -------------------------------------------------------------------------------------

  /**
   * Registers a service on the agent (PUT /v1/agent/service/register): `service` is an AgentServiceRegistration
   * in Consul's JSON (Name, ID, Tags, Port, Check, Checks, ...).
   */
  async agentServiceRegister(
    service: { [key: string]: Json },
    opts: { replaceExistingChecks?: boolean } = {},
  ): Promise<void> {
    const query: Query = opts.replaceExistingChecks === true ? [["replace-existing-checks", "true"]] : [];
    const body = new TextEncoder().encode(
      JSON.stringify(service, (_k, v) => (typeof v === "bigint" ? Number(v) : v)),
    );
    await this.send("PUT", "/v1/agent/service/register", query, { body, contentType: "application/json" });
  }

  /** Removes a service and its checks from the agent (PUT /v1/agent/service/deregister/<id>). */
  async agentServiceDeregister(id: string): Promise<void> {
    await this.send("PUT", `/v1/agent/service/deregister/${encodeURIComponent(id)}`, []);
  }

  /** The agent's services by ID, in Consul's JSON. */
  async agentServices(): Promise<{ [id: string]: Json }> {
    const v = decodeBody(await this.send("GET", "/v1/agent/services", []), "agent services");
    if (typeof v !== "object" || v === null || Array.isArray(v))
      throw new DecodeError("Failed to decode agent services");
    return v;
  }

  /** Sets a TTL check's status and output (PUT /v1/agent/check/update/<id>), as Go's api.UpdateTTL. */
  async agentCheckUpdate(id: string, status: "passing" | "warning" | "critical", output = ""): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ Status: status, Output: output }));
    await this.send("PUT", `/v1/agent/check/update/${encodeURIComponent(id)}`, [], {
      body,
      contentType: "application/json",
    });
  }

  /** Registers a check on the agent (PUT /v1/agent/check/register), in Consul's JSON (Name, CheckID, TTL, ...). */
  async agentCheckRegister(check: { [key: string]: Json }): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify(check));
    await this.send("PUT", "/v1/agent/check/register", [], { body, contentType: "application/json" });
  }

  /** Removes a check from the agent (PUT /v1/agent/check/deregister/<id>). */
  async agentCheckDeregister(id: string): Promise<void> {
    await this.send("PUT", `/v1/agent/check/deregister/${encodeURIComponent(id)}`, []);
  }

  // --- catalog and health ------------------------------------------------------------------------------

  async catalogDatacenters(): Promise<string[]> {
    const v = decodeBody(await this.send("GET", "/v1/catalog/datacenters", []), "datacenters");
    return arrayOf(v, "datacenters").map((d) => (typeof d === "string" ? d : ""));
  }

  async catalogNodes(c: CatalogQuery = {}, q?: QueryOptions): Promise<CatalogNode[]> {
    const res = await this.send("GET", "/v1/catalog/nodes", [...catalogParams(c), ...readOptions(q)]);
    return arrayOf(decodeBody(res, "nodes"), "nodes").map(decodeCatalogNode);
  }

  /** Service name → tags. */
  async catalogServices(c: CatalogQuery = {}, q?: QueryOptions): Promise<Record<string, string[]>> {
    const res = await this.send("GET", "/v1/catalog/services", [...catalogParams(c), ...readOptions(q)]);
    return decodeServices(decodeBody(res, "services"));
  }

  async catalogService(
    name: string,
    c: CatalogQuery = {},
    q?: QueryOptions,
  ): Promise<CatalogServiceInstance[]> {
    const path = `/v1/catalog/service/${encodeURIComponent(name)}`;
    const res = await this.send("GET", path, [...catalogParams(c), ...readOptions(q)]);
    return arrayOf(decodeBody(res, "service"), "service").map(decodeServiceInstance);
  }

  /** The node and its services (name → tags), or null for an unknown node. */
  async catalogNode(node: string, q?: QueryOptions): Promise<NodeServices | null> {
    const res = await this.send("GET", `/v1/catalog/node/${encodeURIComponent(node)}`, readOptions(q));
    return decodeNodeServices(decodeBody(res, "node"));
  }

  /** PUT /v1/catalog/register with a body in Consul's JSON shape (§8.2). */
  async catalogRegister(body: Json): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(body));
    await this.send("PUT", "/v1/catalog/register", [], { body: bytes, contentType: "application/json" });
  }

  async catalogDeregister(body: { Node: string; ServiceID?: string; CheckID?: string }): Promise<void> {
    const bytes = Buffer.from(JSON.stringify(body));
    await this.send("PUT", "/v1/catalog/deregister", [], { body: bytes, contentType: "application/json" });
  }

  async healthState(state: string, q?: QueryOptions): Promise<HealthCheck[]> {
    const res = await this.send("GET", `/v1/health/state/${encodeURIComponent(state)}`, readOptions(q));
    return arrayOf(decodeBody(res, "checks"), "checks").map(decodeHealthCheck);
  }

  // --- watches ------------------------------------------------------------------------------------------

  /**
   * A read of any JSON endpoint, kept as JSON, for `cairn watch`: its result goes to a handler as the server
   * wrote it. `notFound` answers a 404 (a missing key), which Go's api reads as "no result", not an error.
   */
  async readJson(
    path: string,
    params: readonly [string, string][],
    q?: QueryOptions,
  ): Promise<{ value: Json; notFound: boolean; meta: QueryMeta }> {
    const res = await this.send("GET", path, [...params, ...readOptions(q)], { ok: [404] });
    if (res.status === 404) return { value: null, notFound: true, meta: queryMeta(res) };
    return { value: decodeBody(res, "response"), notFound: false, meta: queryMeta(res) };
  }

  // --- JSON calls of other API families --------------------------------------------------------------

  /**
   * One call of a JSON endpoint, for the API families kept in their own module (acl.ts): `body`, when given, goes
   * as JSON; the answer is decoded JSON. Any status but 2xx is an ApiError, as Go's requireOK, except a 404 when
   * `notFoundOk` (Go's requireNotFoundOrOK), which resolves `notFound` and a null value.
   */
  async callJson(
    method: string,
    path: string,
    opts: { query?: readonly [string, string][]; body?: JsonBody; notFoundOk?: boolean; what?: string } = {},
  ): Promise<{ value: Json; notFound: boolean; meta: QueryMeta }> {
    const res = await this.send(method, path, [...(opts.query ?? [])], {
      ...(opts.body === undefined
        ? {}
        : { body: Buffer.from(JSON.stringify(opts.body)), contentType: "application/json" }),
      ...(opts.notFoundOk === true ? { ok: [404] } : {}),
    });
    if (res.status === 404) return { value: null, notFound: true, meta: queryMeta(res) };
    return { value: decodeBody(res, opts.what ?? "response"), notFound: false, meta: queryMeta(res) };
  }

  // --- snapshot -------------------------------------------------------------------------------------------

  /** Streams a snapshot archive into `sink`; resolves the snapshot's index (X-Consul-Index) once written. */
  async snapshotSave(sink: Writable, q?: QueryOptions): Promise<{ index: bigint; meta: QueryMeta }> {
    const res = await this.send("GET", "/v1/snapshot", readOptions(q), { sink });
    const meta = queryMeta(res);
    return { index: meta.lastIndex, meta };
  }

  /** Streams an archive to the servers, which verify and install it. */
  async snapshotRestore(source: Readable): Promise<void> {
    await this.send("PUT", "/v1/snapshot", [], { body: source });
  }
}
