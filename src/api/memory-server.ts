/**
 * MemoryServer: an in-memory twin of a server agent, for tests (not used in production). It is the real
 * endpoints (store-endpoints.ts, catalog.ts) over a real KvStore, with the real blocking loop (blocking.ts) and
 * the leader's real write rules (fsm/leader-write.ts); only the commit differs: a command applies in-process at the
 * next index instead of going through Raft. So a handler test through it runs the rules a server runs.
 *
 * Knobs for tests: `hasLeader` (false: writes and non-stale reads fail with NotLeaderError, as a server
 * without a leader does), `failNext` (the next call rejects with that error), `now` (the leader's clock stamped
 * into timed commands), `writes` (every command proposed, in order), and the plain fields behind the status,
 * operator and agent endpoints, which on a server come from Raft. Session TTLs are not timed here, and session
 * creates are not checked against the catalog (no servers register themselves in the twin's).
 */

import { createReadStream } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import {
  type CommandResult,
  encodeCommand,
  type KvCommand,
  KvStore,
  leaderWrite,
  type ReadSpec,
  VALUE_BYTES_MAX,
} from "../fsm/index.js";
import { createMetrics, metricValues } from "../server/metrics.js";
import { readArchive, readStateBin, writeArchive } from "../snapshot/index.js";
import { NotLeaderError } from "../util/index.js";
import { AclEndpoints } from "./acl.js";
import { ACL_DISABLED, type AclSettings } from "./acl-types.js";
import { blockingQuery } from "./blocking.js";
import { CatalogEndpoints } from "./catalog.js";
import { StoreEndpoints } from "./store-endpoints.js";
import type {
  AgentInfo,
  MemberInfo,
  MetricFamily,
  Queried,
  QueryMeta,
  QueryOptions,
  RaftServerInfo,
  ServerApi,
  ServerHealth,
} from "./types.js";

const ADDRESS = "127.0.0.1:8300";

export class MemoryServer implements ServerApi {
  readonly datacenter: string;
  readonly kvValueBytesMax: number;
  readonly store = new KvStore();
  hasLeader = true;
  /** The leader's wall clock (ms) put into timed commands. */
  now: () => number = () => Date.now();
  /** Rejects the next ServerApi call with this error, then clears. */
  failNext: Error | null = null;
  /** Every command proposed, in order (what the handlers asked for). */
  readonly writes: KvCommand[] = [];
  readonly removedPeers: ({ readonly id: string } | { readonly address: string })[] = [];
  readonly transfers: (string | null)[] = [];
  transferResult = true;
  raftServers: RaftServerInfo[] = [
    {
      id: "11111111-2222-3333-4444-555555555555",
      node: "node1",
      address: ADDRESS,
      leader: true,
      voter: true,
      protocolVersion: "3",
      lastIndex: 0,
    },
  ];
  health: { healthy: boolean; failureTolerance: number; servers: ServerHealth[] } = {
    healthy: true,
    failureTolerance: 0,
    servers: [],
  };
  memberList: MemberInfo[] = [];
  self: AgentInfo;
  metrics = "# TYPE cairn_up gauge\ncairn_up 1\n";
  private readonly endpoints: StoreEndpoints;
  private readonly catalog: CatalogEndpoints;

  readonly acl: AclEndpoints;
  /** The leader's ACL initialization (policy, anonymous and initial management tokens); settled once done. */
  readonly aclReady: Promise<void>;

  constructor(
    opts: {
      readonly datacenter?: string;
      readonly kvValueBytesMax?: number;
      /** ACL settings; absent, ACLs are disabled. */
      readonly acl?: AclSettings;
    } = {},
  ) {
    this.datacenter = opts.datacenter ?? "dc1";
    this.kvValueBytesMax = opts.kvValueBytesMax ?? VALUE_BYTES_MAX;
    this.self = {
      datacenter: this.datacenter,
      nodeName: "node1",
      nodeId: "11111111-2222-3333-4444-555555555555",
      server: true,
      version: "1.21.0",
      revision: "cairn",
      rpcAddress: ADDRESS,
      leader: true,
      stats: { raft: { state: "Leader" } },
    };
    const host = {
      kv: this.store,
      datacenter: this.datacenter,
      nodeName: this.self.nodeName,
      checkSessions: false,
      query: <T extends { index: number }>(q: QueryOptions, spec: ReadSpec<T>) => this.query(q, spec),
      propose: (cmd: KvCommand) => this.propose(cmd),
    };
    this.endpoints = new StoreEndpoints(host);
    this.catalog = new CatalogEndpoints(host);
    this.acl = new AclEndpoints({ ...host, settings: opts.acl ?? ACL_DISABLED, now: () => this.now() });
    // The twin is leader from the start: it initializes its ACLs as a server does on gaining leadership.
    this.aclReady = this.acl.initialize();
  }

  /** The raft index of the last write. */
  get index(): number {
    return this.store.appliedIndex;
  }

  /** Watches of blocking queries waiting right now (none is left behind by one that returned). */
  get watchCount(): number {
    return this.store.watchCount;
  }

  private check(stale: boolean): void {
    const err = this.failNext;
    if (err !== null) {
      this.failNext = null;
      throw err;
    }
    if (!stale && !this.hasLeader) throw new NotLeaderError(0);
  }

  private async query<T extends { index: number }>(q: QueryOptions, spec: ReadSpec<T>): Promise<Queried<T>> {
    const value = await blockingQuery(q, spec, {
      now: Date.now,
      random: Math.random,
      barrier: async (c) => this.check(c === "stale"),
      restores: () => this.store.restoreCount,
    });
    return { meta: this.meta(value.index, q.consistency), value };
  }

  private meta(index: number, consistency: QueryMeta["consistency"]): QueryMeta {
    return { index: Math.max(1, index), knownLeader: this.hasLeader, lastContactMs: 0, consistency };
  }

  /** The leader's part of a write (fsm/leader-write.ts), then applied at the next index, encoded as for the log. */
  private async propose(cmd: KvCommand): Promise<CommandResult> {
    this.check(false);
    this.writes.push(cmd);
    const w = leaderWrite(this.store, cmd, this.now());
    if ("refused" in w) return w.refused;
    return this.store.execute(this.store.appliedIndex + 1, encodeCommand(w.propose));
  }

  kvGet: ServerApi["kvGet"] = (key, q) => this.endpoints.kvGet(key, q);
  kvList: ServerApi["kvList"] = (prefix, q) => this.endpoints.kvList(prefix, q);
  kvKeys: ServerApi["kvKeys"] = (prefix, separator, q) => this.endpoints.kvKeys(prefix, separator, q);
  sessionInfo: ServerApi["sessionInfo"] = (id, q) => this.endpoints.sessionInfo(id, q);
  sessionList: ServerApi["sessionList"] = (q) => this.endpoints.sessionList(q);
  sessionNode: ServerApi["sessionNode"] = (node, q) => this.endpoints.sessionNode(node, q);
  kvWrite: ServerApi["kvWrite"] = (cmd) => this.endpoints.kvWrite(cmd);
  sessionCreate: ServerApi["sessionCreate"] = (req) => this.endpoints.sessionCreate(req);
  sessionDestroy: ServerApi["sessionDestroy"] = (id) => this.endpoints.sessionDestroy(id);
  sessionRenew: ServerApi["sessionRenew"] = (id) => this.endpoints.sessionRenew(id);
  txn: ServerApi["txn"] = (ops) => this.endpoints.txn(ops);

  catalogRegister: ServerApi["catalogRegister"] = (req) => this.catalog.register(req);
  catalogDeregister: ServerApi["catalogDeregister"] = (req) => this.catalog.deregister(req);
  catalogNodes: ServerApi["catalogNodes"] = (q) => this.catalog.nodes(q);
  catalogServices: ServerApi["catalogServices"] = (q) => this.catalog.services(q);
  catalogService: ServerApi["catalogService"] = (name, tags, q) => this.catalog.service(name, tags, q);
  catalogNodeServices: ServerApi["catalogNodeServices"] = (node, q) => this.catalog.nodeServices(node, q);
  catalogDatacenters: ServerApi["catalogDatacenters"] = async () => [this.datacenter];
  healthNode: ServerApi["healthNode"] = (node, q) => this.catalog.healthNode(node, q);
  healthChecks: ServerApi["healthChecks"] = (s, q) => this.catalog.healthChecks(s, q);
  healthService: ServerApi["healthService"] = (s, tags, passing, q) =>
    this.catalog.healthService(s, tags, passing, q);
  healthState: ServerApi["healthState"] = (state, q) => this.catalog.healthState(state, q);

  leaderAddress(): string {
    return this.hasLeader ? ADDRESS : "";
  }

  peers(): string[] {
    return this.raftServers.filter((s) => s.voter).map((s) => s.address);
  }

  async raftConfiguration(stale: boolean) {
    this.check(stale);
    return { servers: this.raftServers, index: Math.max(1, this.store.appliedIndex) };
  }

  async removePeer(by: { readonly id: string } | { readonly address: string }): Promise<void> {
    this.check(false);
    this.removedPeers.push(by);
  }

  async transferLeader(id: string | null): Promise<boolean> {
    this.check(false);
    this.transfers.push(id);
    return this.transferResult;
  }

  async autopilotHealth(stale: boolean) {
    this.check(stale);
    return this.health;
  }

  agentSelf(): AgentInfo {
    return this.self;
  }

  members(): MemberInfo[] {
    return this.memberList;
  }

  /** Set by tests: the twin's servers of other datacenters. */
  wanMemberList: MemberInfo[] = [];

  wanMembers(): MemberInfo[] {
    return this.wanMemberList;
  }

  /** The twin's members are what tests set: a forced leave takes the member out of them. */
  async forceLeaveClient(node: string): Promise<void> {
    this.memberList = this.memberList.filter((m) => m.name !== node);
  }

  async metricsText(): Promise<string> {
    return this.metrics;
  }

  /** A server's real registry, which tests set through `serverMetrics`. */
  readonly serverMetrics = createMetrics();

  metricsValues(): Promise<MetricFamily[]> {
    return metricValues(this.serverMetrics.registry);
  }

  /** Set by leave(): the twin records the request (a real server leaves the configuration and stops). */
  left = false;

  async leave(): Promise<void> {
    this.left = true;
  }

  /** Addresses join() was asked for; the in-memory twin has no peers, so `joinFailure` is its answer when set. */
  readonly joined: string[] = [];
  joinFailure: Error | null = null;

  async join(addr: string): Promise<void> {
    this.joined.push(addr);
    if (this.joinFailure !== null) throw this.joinFailure;
  }

  queryMeta(index: number): QueryMeta {
    return this.meta(index, "default");
  }

  /** The twin's archive: the real codec over the real store's point-in-time view. */
  async snapshotSave(stale: boolean): Promise<{ meta: QueryMeta; archive: AsyncIterable<Uint8Array> }> {
    if (!stale && !this.hasLeader) throw new NotLeaderError(0);
    const index = this.store.appliedIndex;
    const out = new PassThrough();
    writeArchive(
      out,
      { ID: `1-${index}-0`, Index: index, Term: 1, Version: 1 },
      this.store.snapshot().stateBin(),
    ).catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
    return { meta: this.meta(index, stale ? "stale" : "consistent"), archive: out };
  }

  async snapshotRestore(archive: AsyncIterable<Uint8Array>): Promise<void> {
    if (!this.hasLeader) throw new NotLeaderError(0);
    const verified = await readArchive(Readable.from(archive));
    try {
      await this.store.restoreAsync(readStateBin(createReadStream(verified.stateBin.path)));
    } finally {
      await verified.stateBin.remove();
    }
  }
}
