/**
 * What a client agent answers itself, as the ServerApi its /v1/agent/* handlers read (client-agent.ts routes
 * everything else to a server before the router runs): this agent's own facts, the members as the servers list
 * them, leave and join through its ClientLink, and its own metrics. And the catalog its anti-entropy keeps in
 * step, reached through forwarded requests (ForwardedCatalog), so a client's catalog writes take the same path,
 * ACL checks included, as any HTTP client's.
 */

import type { AclApi } from "../api/acl-types.js";
import type { AgentInfo, MemberInfo, Queried, QueryMeta, QueryOptions, ServerApi } from "../api/types.js";
import { type HttpResponse, isStreamBody, memoryRequest } from "../http/index.js";
import { CatalogDeniedError, type CatalogSync } from "../local/anti-entropy.js";
import type { ClientLink } from "../server/client-link.js";
import { type Metrics, metricValues } from "../server/metrics.js";
import { CairnError } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import type { ClientAcl } from "./client-acl.js";
import { type ForwardVia, forwardRequest } from "./forward-client.js";

/** A forwarded request answered with an error status; the text is the server's. */
export class ForwardedStatusError extends CairnError {
  readonly code = "forwarded_status";
  override name = "ForwardedStatusError";
  constructor(
    readonly status: number,
    text: string,
  ) {
    super(`${status}: ${text.trim()}`);
  }
}

/**
 * Reached only through a route the client forwards before its router runs (client-agent.ts): calling it is a bug.
 */
export class ForwardedRouteError extends CairnError {
  readonly code = "forwarded_route";
  override name = "ForwardedRouteError";
}

async function bodyText(r: HttpResponse): Promise<string> {
  if (typeof r.body === "string") return r.body;
  if (!isStreamBody(r.body)) return Buffer.from(r.body).toString("utf8");
  const parts: Uint8Array[] = [];
  for await (const c of r.body.stream) parts.push(c);
  return Buffer.concat(parts).toString("utf8");
}

function metaOf(r: HttpResponse, q: QueryOptions): QueryMeta {
  const h = (name: string): string => {
    const k = Object.keys(r.headers).find((x) => x.toLowerCase() === name.toLowerCase());
    return k === undefined ? "" : (r.headers[k] ?? "");
  };
  return {
    index: Math.max(1, Number(h("X-Consul-Index")) || 1),
    knownLeader: h("X-Consul-KnownLeader") === "true",
    lastContactMs: Number(h("X-Consul-LastContact")) || 0,
    consistency: q.consistency,
  };
}

function consistencyQuery(q: QueryOptions): string {
  return q.consistency === "stale" ? "?stale" : q.consistency === "consistent" ? "?consistent" : "";
}

type CatalogRegisterRequest = Parameters<CatalogSync["catalogRegister"]>[0];
type CatalogDeregisterRequest = Parameters<CatalogSync["catalogDeregister"]>[0];
type NodeServicesJson = NonNullable<Awaited<ReturnType<CatalogSync["catalogNodeServices"]>>["value"]>;
type HealthCheckJson = Awaited<ReturnType<CatalogSync["healthNode"]>>["value"][number];
type ServiceEntryJson = Awaited<ReturnType<ServerApi["healthService"]>>["value"][number];

/**
 * The catalog calls of anti-entropy, and the health reads of the DNS interface, as HTTP requests forwarded to a
 * server: the server answers them as it answers any HTTP client, ACLs included. Each carries a token as Consul's
 * agent picks it (token/store.go): a service's or check's registration its own, else the default token
 * (UserToken); everything else the agent token, else the default token (AgentToken).
 */
export class ForwardedCatalog implements CatalogSync {
  constructor(
    private readonly via: ForwardVia,
    /** acl.tokens.agent: the agent's own calls. */
    private readonly agentToken: string | undefined,
    /** acl.tokens.default: what a registration without a token of its own, or an agent without one, sends. */
    private readonly defaultToken = "",
  ) {}

  /** `token`: a registration's token ("" for none); absent, the agent's own call. */
  private tokenFor(token: string | undefined): string {
    if (token !== undefined) return token || this.defaultToken;
    return this.agentToken || this.defaultToken;
  }

  private async send(method: string, target: string, body?: unknown, token?: string): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    const secret = this.tokenFor(token);
    if (secret !== "") headers["x-consul-token"] = secret;
    const text = body === undefined ? undefined : JSON.stringify(body);
    if (text !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(text));
    }
    const req = memoryRequest(method, target, text === undefined ? { headers } : { body: text, headers });
    const r = await forwardRequest(req, headers, this.via);
    if (r.status !== 200) throw new ForwardedStatusError(r.status, await bodyText(r));
    return r;
  }

  private read<T>(target: string, q: QueryOptions): Promise<Queried<T>> {
    return this.readRaw(`${target}${consistencyQuery(q)}`, q);
  }

  async catalogRegister(req: CatalogRegisterRequest, token?: string): Promise<void> {
    await this.write("/v1/catalog/register", req, token);
  }

  async catalogDeregister(req: CatalogDeregisterRequest): Promise<void> {
    await this.write("/v1/catalog/deregister", req, undefined);
  }

  /** A write the server's ACLs refuse (403: permission denied, ACL not found) is CatalogDeniedError. */
  private async write(target: string, body: unknown, token: string | undefined): Promise<void> {
    try {
      await this.send("PUT", target, body, token);
    } catch (e) {
      if (e instanceof ForwardedStatusError && e.status === 403) throw new CatalogDeniedError(e.message);
      throw e;
    }
  }

  catalogNodeServices(node: string, q: QueryOptions): Promise<Queried<NodeServicesJson | null>> {
    return this.read(`/v1/catalog/node/${encodeURIComponent(node)}`, q);
  }

  healthNode(node: string, q: QueryOptions): Promise<Queried<HealthCheckJson[]>> {
    return this.read(`/v1/health/node/${encodeURIComponent(node)}`, q);
  }

  healthService(
    service: string,
    tags: readonly string[],
    passing: boolean,
    q: QueryOptions,
  ): Promise<Queried<ServiceEntryJson[]>> {
    const params = new URLSearchParams(tags.map((t): [string, string] => ["tag", t]));
    if (passing) params.set("passing", "");
    if (q.consistency !== "default") params.set(q.consistency, "");
    const query = params.size > 0 ? `?${params.toString()}` : "";
    return this.readRaw(`/v1/health/service/${encodeURIComponent(service)}${query}`, q);
  }

  private async readRaw<T>(target: string, q: QueryOptions): Promise<Queried<T>> {
    const r = await this.send("GET", target);
    return { meta: metaOf(r, q), value: JSON.parse(await bodyText(r)) as T };
  }
}

export interface ClientApiOptions {
  readonly link: ClientLink;
  /** The agent's ACLs: tokens resolved through the servers (client-acl.ts). */
  readonly acl: ClientAcl;
  /** The catalog reads the client's own parts make (its DNS interface), forwarded to a server. */
  readonly catalog: ForwardedCatalog;
  readonly datacenter: string;
  readonly nodeName: string;
  /** The address this agent advertises (its node's address in the catalog). */
  readonly address: string;
  readonly metrics: Metrics;
  /** Before a leave is told to the servers: stop what would register the node again (anti-entropy). */
  readonly beforeLeave: () => void;
  /** Stops the agent once a leave has been told to the servers. */
  readonly onLeave: () => void;
}

export class ClientApi implements ServerApi {
  readonly datacenter: string;
  /** Consul's default kv_max_value_size; the servers enforce theirs (KV requests are forwarded). */
  readonly kvValueBytesMax = 512 * 1024;
  readonly acl: AclApi;

  constructor(private readonly o: ClientApiOptions) {
    this.datacenter = o.datacenter;
    const forwarded = (): never => {
      throw new ForwardedRouteError("the ACL endpoints of a client agent are forwarded to a server");
    };
    this.acl = {
      aclSettings: () => o.acl.aclSettings(),
      resolve: (secret) => o.acl.resolve(secret),
      // A client holds no ACL state: its tokens are resolved through the servers, whole (ClientAcl).
      aclTokenBySecret: () => null,
      aclPolicies: () => [],
      aclEpoch: () => 0,
      aclBootstrap: forwarded,
      aclTokenCreate: forwarded,
      aclTokenUpdate: forwarded,
      aclTokenDelete: forwarded,
      aclTokenClone: forwarded,
      aclTokenRead: forwarded,
      aclTokenSelf: forwarded,
      aclTokenList: forwarded,
      aclPolicyCreate: forwarded,
      aclPolicyUpdate: forwarded,
      aclPolicyDelete: forwarded,
      aclPolicyRead: forwarded,
      aclPolicyReadByName: forwarded,
      aclPolicyList: forwarded,
    };
  }

  agentSelf(): AgentInfo {
    const servers = this.o.link.knownServers().length;
    return {
      datacenter: this.o.datacenter,
      nodeName: this.o.nodeName,
      nodeId: this.o.link.nodeId,
      server: false,
      version: VERSION,
      revision: "cairn",
      // A client has no server RPC listener; Consul reports its Serf LAN address here.
      rpcAddress: `${this.o.address}:8301`,
      leader: false,
      stats: {
        consul: { server: "false", known_servers: String(servers), known_datacenters: "1" },
      },
    };
  }

  members(): MemberInfo[] {
    return this.o.link.members().map((m) => ({
      ...m,
      status: (m.status >= 1 && m.status <= 4 ? m.status : 4) as MemberInfo["status"],
    }));
  }

  async leave(): Promise<void> {
    this.o.beforeLeave();
    await this.o.link.leave();
    this.o.onLeave();
  }

  join(addr: string): Promise<void> {
    return this.o.link.join(addr);
  }

  metricsText(): Promise<string> {
    return this.o.metrics.registry.metrics();
  }

  metricsValues(): ReturnType<ServerApi["metricsValues"]> {
    return metricValues(this.o.metrics.registry);
  }

  // ---- answered by a server: the client forwards these routes before its router runs ----

  private forwarded(what: string): never {
    throw new ForwardedRouteError(`${what} is answered by a server: the client forwards its route`);
  }

  kvGet: ServerApi["kvGet"] = async () => this.forwarded("kvGet");
  kvList: ServerApi["kvList"] = async () => this.forwarded("kvList");
  kvKeys: ServerApi["kvKeys"] = async () => this.forwarded("kvKeys");
  kvWrite: ServerApi["kvWrite"] = async () => this.forwarded("kvWrite");
  sessionCreate: ServerApi["sessionCreate"] = async () => this.forwarded("sessionCreate");
  sessionDestroy: ServerApi["sessionDestroy"] = async () => this.forwarded("sessionDestroy");
  sessionRenew: ServerApi["sessionRenew"] = async () => this.forwarded("sessionRenew");
  sessionInfo: ServerApi["sessionInfo"] = async () => this.forwarded("sessionInfo");
  sessionList: ServerApi["sessionList"] = async () => this.forwarded("sessionList");
  sessionNode: ServerApi["sessionNode"] = async () => this.forwarded("sessionNode");
  txn: ServerApi["txn"] = async () => this.forwarded("txn");
  queryMeta: ServerApi["queryMeta"] = () => this.forwarded("queryMeta");
  catalogRegister: ServerApi["catalogRegister"] = async () => this.forwarded("catalogRegister");
  catalogDeregister: ServerApi["catalogDeregister"] = async () => this.forwarded("catalogDeregister");
  catalogNodes: ServerApi["catalogNodes"] = async () => this.forwarded("catalogNodes");
  catalogServices: ServerApi["catalogServices"] = async () => this.forwarded("catalogServices");
  catalogService: ServerApi["catalogService"] = async () => this.forwarded("catalogService");
  // The DNS interface's reads: forwarded, as the HTTP routes that read the same are.
  catalogNodeServices: ServerApi["catalogNodeServices"] = (node, q) =>
    this.o.catalog.catalogNodeServices(node, q);
  catalogDatacenters: ServerApi["catalogDatacenters"] = async () => this.forwarded("catalogDatacenters");
  healthNode: ServerApi["healthNode"] = (node, q) => this.o.catalog.healthNode(node, q);
  healthChecks: ServerApi["healthChecks"] = async () => this.forwarded("healthChecks");
  healthService: ServerApi["healthService"] = (s, tags, passing, q) =>
    this.o.catalog.healthService(s, tags, passing, q);
  healthState: ServerApi["healthState"] = async () => this.forwarded("healthState");
  leaderAddress: ServerApi["leaderAddress"] = () => this.forwarded("leaderAddress");
  peers: ServerApi["peers"] = () => this.forwarded("peers");
  raftConfiguration: ServerApi["raftConfiguration"] = async () => this.forwarded("raftConfiguration");
  removePeer: ServerApi["removePeer"] = async () => this.forwarded("removePeer");
  forceLeaveClient: ServerApi["forceLeaveClient"] = async () => this.forwarded("forceLeaveClient");
  /** A client agent is in no WAN pool (Consul's lists none on a client); its servers' are listed by them. */
  wanMembers: ServerApi["wanMembers"] = () => [];
  transferLeader: ServerApi["transferLeader"] = async () => this.forwarded("transferLeader");
  autopilotHealth: ServerApi["autopilotHealth"] = async () => this.forwarded("autopilotHealth");
  snapshotSave: ServerApi["snapshotSave"] = async () => this.forwarded("snapshotSave");
  snapshotRestore: ServerApi["snapshotRestore"] = async () => this.forwarded("snapshotRestore");
}
