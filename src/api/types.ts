import type {
  CatalogDeregisterRequest,
  CatalogRegisterRequest,
  GetResult,
  HealthCheckJson,
  HealthState,
  KeysResult,
  KvCommand,
  ListResult,
  NodeJson,
  NodeServicesJson,
  ServiceEntryJson,
  ServiceNodeJson,
  SessionEntry,
  SessionGetResult,
  SessionListResult,
  TxnOp,
  TxnSuccess,
} from "../fsm/index.js";
import type { RaftServerInfo } from "../server/rpc-methods.js";
import type { ServiceCheck } from "../snapshot/index.js";
import type { AclApi } from "./acl-types.js";

/**
 * What the HTTP layer asks of a server agent. src/http depends only on this interface (docs/ARCHITECTURE.md: http →
 * api, type only), so its handlers are tested against an in-memory twin without sockets or Raft.
 *
 * Errors: methods reject with typed CairnErrors (src/util/errors.ts and the ones below); src/http alone maps
 * them to status codes and Consul's bodies.
 */

export type Consistency = "default" | "consistent" | "stale";

export interface QueryOptions {
  readonly consistency: Consistency;
  /** Blocking query: wait while the result's index is <= this (0 = answer at once). */
  readonly minIndex: number;
  /** How long a blocking query may wait, before jitter; the server caps it (Consul: 10 min). */
  readonly waitMs: number;
}

/** A catalog read's options: QueryOptions plus Consul's `node-meta=key:value` filters (all must match). */
export interface CatalogQueryOptions extends QueryOptions {
  readonly nodeMeta?: readonly (readonly [string, string])[];
}

/** What Consul sends as X-Consul-Index, X-Consul-KnownLeader, X-Consul-LastContact. */
export interface QueryMeta {
  /** Never 0 (Consul sends 1 instead). */
  readonly index: number;
  readonly knownLeader: boolean;
  /** Milliseconds since this server last heard from the leader; 0 on the leader. */
  readonly lastContactMs: number;
  readonly consistency: Consistency;
}

export interface Queried<T> {
  readonly meta: QueryMeta;
  readonly value: T;
}

/**
 * PUT /v1/session/create as the HTTP layer parsed it; absent fields take Consul's defaults (filled in by the
 * server that proposes: Node = its node name, LockDelay 15s, Behavior "release", NodeChecks ["serfHealth"]).
 */
export interface SessionRequest {
  readonly Name?: string;
  readonly Node?: string;
  /** Nanoseconds. */
  readonly LockDelay?: number;
  readonly Behavior?: string;
  /** A Go duration string; "" = no TTL. */
  readonly TTL?: string;
  /** `[]` is kept: a session without node checks (nothing but destroy or its TTL ends it). */
  readonly NodeChecks?: readonly string[] | null;
  readonly ServiceChecks?: readonly ServiceCheck[] | null;
}

export type { RaftServerInfo };

export interface ServerHealth {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly serfStatus: "alive" | "failed" | "left";
  readonly version: string;
  readonly leader: boolean;
  readonly lastContactMs: number;
  readonly lastTerm: number;
  readonly lastIndex: number;
  readonly healthy: boolean;
  readonly voter: boolean;
  /** ISO 8601 time since which the server has been healthy. */
  readonly stableSince: string;
}

export interface MemberInfo {
  readonly name: string;
  readonly addr: string;
  readonly port: number;
  /** Consul's numbers: 1 alive, 2 leaving, 3 left, 4 failed. */
  readonly status: 1 | 2 | 3 | 4;
  readonly tags: Readonly<Record<string, string>>;
}

/**
 * One metric family as prom-client's `getMetricsAsJSON` gives it: a histogram's values are its `<name>_bucket`
 * rows (label `le`), `<name>_sum` and `<name>_count`, told apart by `metricName`.
 */
export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly values: readonly {
    readonly value: number;
    readonly labels: Readonly<Partial<Record<string, string | number>>>;
    readonly metricName?: string;
  }[];
}

export interface AgentInfo {
  readonly datacenter: string;
  readonly nodeName: string;
  readonly nodeId: string;
  readonly server: boolean;
  readonly version: string;
  readonly revision: string;
  /** Server RPC address "ip:port". */
  readonly rpcAddress: string;
  readonly leader: boolean;
  readonly stats: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface ServerApi {
  readonly datacenter: string;
  /** Consul's /v1/acl/* endpoints and the enforcer's local reads (acl.ts), one implementation for every server. */
  readonly acl: AclApi;
  /** Consul's kv_max_value_size. */
  readonly kvValueBytesMax: number;

  kvGet(key: string, q: QueryOptions): Promise<Queried<GetResult>>;
  kvList(prefix: string, q: QueryOptions): Promise<Queried<ListResult>>;
  kvKeys(prefix: string, separator: string, q: QueryOptions): Promise<Queried<KeysResult>>;
  /** Commits a KV write through Raft (forwarded to the leader) and returns Consul's boolean. */
  kvWrite(cmd: KvCommand): Promise<boolean>;

  /**
   * Sessions. Writes go through Raft stamped with the leader's clock; they reject with the store's typed errors
   * (SessionTtlError, InvalidBehaviorError, SessionIdError). Reads block on the sessions table like KV reads.
   */
  sessionCreate(spec: SessionRequest): Promise<string>;
  /** True also for an unknown session, as Consul. */
  sessionDestroy(id: string): Promise<void>;
  /** The session (its TTL timer reset on the leader), or null when it does not exist. */
  sessionRenew(id: string): Promise<SessionEntry | null>;
  sessionInfo(id: string, q: QueryOptions): Promise<Queried<SessionGetResult>>;
  sessionList(q: QueryOptions): Promise<Queried<SessionListResult>>;
  sessionNode(node: string, q: QueryOptions): Promise<Queried<SessionListResult>>;
  /** A KV transaction through Raft: its results, or rejects with TxnFailedError (nothing applied). */
  txn(ops: readonly TxnOp[]): Promise<TxnSuccess>;

  /**
   * Query-meta for a read answered outside the blocking-query path (a read-only txn, which cairn commits through
   * Raft and so answers linearizably): `index` with this server's leader knowledge and last contact.
   */
  queryMeta(index: number): QueryMeta;

  /**
   * The catalog (consul-compat.md §8.2–8.4). Writes are validated with Consul's texts (rejecting with
   * CatalogError, nothing proposed), then committed through Raft like kvWrite. Reads honour the consistency
   * mode and block on the catalog with Consul's indexes; values are the JSON shapes of §8.1.
   */
  catalogRegister(req: CatalogRegisterRequest): Promise<void>;
  catalogDeregister(req: CatalogDeregisterRequest): Promise<void>;
  catalogNodes(q: CatalogQueryOptions): Promise<Queried<NodeJson[]>>;
  /** Service name → its distinct tags, sorted. */
  catalogServices(q: CatalogQueryOptions): Promise<Queried<Record<string, string[]>>>;
  /** The instances of `name` carrying every tag of `tags` (case-insensitive). */
  catalogService(
    name: string,
    tags: readonly string[],
    q: CatalogQueryOptions,
  ): Promise<Queried<ServiceNodeJson[]>>;
  /** The node and its services, or null for an unknown node. */
  catalogNodeServices(node: string, q: QueryOptions): Promise<Queried<NodeServicesJson | null>>;
  /** Datacenters, nearest first: this one alone. */
  catalogDatacenters(): Promise<string[]>;
  healthNode(node: string, q: QueryOptions): Promise<Queried<HealthCheckJson[]>>;
  healthChecks(service: string, q: QueryOptions): Promise<Queried<HealthCheckJson[]>>;
  /** `passing`: only the instances whose every check (node checks included) passes. */
  healthService(
    service: string,
    tags: readonly string[],
    passing: boolean,
    q: CatalogQueryOptions,
  ): Promise<Queried<ServiceEntryJson[]>>;
  healthState(state: HealthState, q: QueryOptions): Promise<Queried<HealthCheckJson[]>>;

  /** The leader's server RPC address, or "" when there is none. */
  leaderAddress(): string;
  /** Server RPC addresses of the voters. */
  peers(): string[];
  raftConfiguration(
    stale: boolean,
  ): Promise<{ readonly servers: readonly RaftServerInfo[]; readonly index: number }>;
  removePeer(by: { readonly id: string } | { readonly address: string }): Promise<void>;
  /** Transfers leadership to the given server id, or to the most caught-up voter. Returns true on success. */
  transferLeader(id: string | null): Promise<boolean>;
  autopilotHealth(stale: boolean): Promise<{
    readonly healthy: boolean;
    readonly failureTolerance: number;
    readonly servers: readonly ServerHealth[];
  }>;
  agentSelf(): AgentInfo;
  members(): MemberInfo[];
  /** The servers of other datacenters known over the WAN, named `<node>.<dc>` as Consul's WAN pool lists them. */
  wanMembers(): MemberInfo[];
  /**
   * PUT /v1/agent/leave: leaves the datacenter gracefully: a leader hands over leadership, the server is removed
   * from the raft configuration, then the agent shuts down (after the answer is sent).
   */
  leave(): Promise<void>;
  /**
   * PUT /v1/agent/join/<addr>: adds a fresh server at `addr` to this server's cluster, or this fresh server to
   * the cluster of the one at `addr` (there is no gossip pool to join). Rejects with the reason when neither fits.
   */
  join(addr: string): Promise<void>;
  /**
   * PUT /v1/agent/force-leave/<node> naming a client agent: the leader deregisters its node (Consul's "left"
   * member, reaped). A client still alive registers again at its next heartbeat, as a Serf member rejoins.
   */
  forceLeaveClient(node: string): Promise<void>;
  /** The Prometheus text exposition of the server's metrics. */
  metricsText(): Promise<string>;
  /** The same metrics as values (Consul's JSON summary at /v1/agent/metrics is built from them). */
  metricsValues(): Promise<MetricFamily[]>;

  /**
   * GET /v1/snapshot: a point-in-time Consul archive (gzip tar of meta.json, state.bin, SHA256SUMS) of the
   * replicated state. Consistent (default): taken on the leader after it confirmed leadership with a quorum
   * round; rejects with NotLeaderError/UnavailableError when leaderless or degraded, before any byte is produced.
   * `stale`: taken on this server from its own state. The archive streams; meta.index is X-Consul-Index.
   */
  snapshotSave(stale: boolean): Promise<{
    readonly meta: QueryMeta;
    readonly archive: AsyncIterable<Uint8Array>;
    /** The archive's expected size in bytes, when known before it streams (for a client's progress ETA). */
    readonly bytesEstimate?: number;
  }>;
  /**
   * PUT /v1/snapshot: spools the archive, verifies it completely (hashes, entries, records) before changing
   * anything, then installs it through Raft at an index above every index used so far. Rejects with a typed
   * error for a bad archive (the caller answers 500 with the reader's text, as Consul) and changes nothing.
   */
  snapshotRestore(archive: AsyncIterable<Uint8Array>): Promise<void>;
}
