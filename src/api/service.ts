/**
 * The ServerApi over one RaftServer: the composition of its parts (store-endpoints.ts: KV, sessions, txn;
 * catalog.ts; operator.ts; snapshot-endpoints.ts), with what makes them a server's: reads in the three
 * consistency modes (blocking.ts), and writes committed through Raft, forwarded to the leader over the
 * transport, where fsm/leader-write.ts stamps the leader's clock and judges lock-delay.
 */
import {
  type CommandResult,
  decodeCommand,
  encodeCommand,
  type KvCommand,
  leaderWrite,
  type ReadSpec,
  VALUE_BYTES_MAX,
} from "../fsm/index.js";
import { NONE } from "../raft/index.js";
import { JoinError } from "../server/boot.js";
import { type Metrics, metricValues } from "../server/metrics.js";
import type { RaftServer } from "../server/raft-server.js";
import { call, serve } from "../server/rpc.js";
import { RPC, RPC_HOLD_TIMEOUT_MS } from "../server/rpc-methods.js";
import { failureAnswer, toWire, unwrap, type WriteAnswer } from "../server/write-answer.js";
import { RemoteError, RequestTimeoutError, UnreachableError } from "../transport/index.js";
import { CairnError, errorText, UnavailableError } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import { AclEndpoints } from "./acl.js";
import { ACL_DISABLED, type AclSettings } from "./acl-types.js";
import { type BlockingEnv, blockingQuery } from "./blocking.js";
import { CatalogEndpoints, reconcileHost } from "./catalog.js";
import { CatalogReconciler } from "./catalog-reconcile.js";
import { OperatorEndpoints } from "./operator.js";
import { SessionTimers } from "./sessions.js";
import { SnapshotEndpoints } from "./snapshot-endpoints.js";
import { StoreEndpoints } from "./store-endpoints.js";
import type { MemberInfo, MetricFamily, Queried, QueryMeta, QueryOptions, ServerApi } from "./types.js";

/** A new leader registers the servers in the catalog before a checked session create, waiting at most this. */
const RECONCILE_WAIT_MS = 5000;

export interface ServerServiceOptions {
  readonly raft: RaftServer;
  readonly datacenter: string;
  readonly metrics: Metrics;
  /** Called once a graceful leave has completed, to stop the agent. */
  readonly onLeave?: () => void;
  /** Test-only: see SnapshotOptions.throttleMs. */
  readonly snapshotThrottleMs?: number;
  /** The server's discovery join (server/boot.ts); absent, joins are refused. */
  readonly join?: (addr: string) => Promise<void>;
  /** The agent's `acl { … }` settings; absent, ACLs are disabled. */
  readonly acl?: AclSettings;
  /** Members besides the servers (client agents, client-reconcile.ts); absent, none. */
  readonly otherMembers?: () => MemberInfo[];
  /** Client agent `node` forced to leave: the leader deregisters it (agent/server-clients.ts); absent, refused. */
  readonly forceLeaveClient?: (node: string) => Promise<void>;
  /** Servers of other datacenters known over the WAN (server/wan.ts); absent, none. */
  readonly wanServers?: () => readonly {
    readonly name: string;
    readonly datacenter: string;
    readonly nodeId: string;
    /** The WAN address, "host:port". */
    readonly addr: string;
    readonly failed: boolean;
  }[];
  /** Every datacenter known over the WAN, nearest first (server/wan.ts); absent, this one alone. */
  readonly datacenters?: () => string[];
}

/** A force-leave this server cannot carry out (no client agents are wired to it); answered 500 with the reason. */
export class ForceLeaveError extends CairnError {
  readonly code = "force_leave_failed";
  override name = "ForceLeaveError";
}

export class ServerService implements ServerApi {
  readonly datacenter: string;
  readonly kvValueBytesMax = VALUE_BYTES_MAX;
  /** The leader's session TTL timers; idle on followers. */
  readonly sessionTimers: SessionTimers;
  /** The leader's registration of the servers in the catalog; idle on followers. */
  readonly reconciler: CatalogReconciler;
  private readonly raft: RaftServer;
  private readonly metrics: Metrics;
  private readonly joinFn: ((addr: string) => Promise<void>) | undefined;
  private readonly forceLeaveFn: ((node: string) => Promise<void>) | undefined;
  private readonly wanServersFn: ServerServiceOptions["wanServers"];
  private readonly otherMembers: (() => MemberInfo[]) | undefined;
  private readonly datacentersFn: (() => string[]) | undefined;
  private readonly store: StoreEndpoints;
  private readonly catalog: CatalogEndpoints;
  private readonly operator: OperatorEndpoints;
  private readonly snapshots: SnapshotEndpoints;
  readonly acl: AclEndpoints;

  constructor(o: ServerServiceOptions) {
    const { raft, datacenter } = o;
    this.raft = raft;
    this.datacenter = datacenter;
    this.metrics = o.metrics;
    this.joinFn = o.join;
    this.forceLeaveFn = o.forceLeaveClient;
    this.wanServersFn = o.wanServers;
    this.otherMembers = o.otherMembers;
    this.datacentersFn = o.datacenters;
    const kv = raft.kv;
    const host = {
      kv,
      datacenter,
      nodeName: raft.self.name,
      checkSessions: true,
      query: <T extends { index: number }>(q: QueryOptions, spec: ReadSpec<T>) => this.query(q, spec),
      propose: (cmd: KvCommand) => this.propose(cmd),
    };
    this.store = new StoreEndpoints(host);
    this.catalog = new CatalogEndpoints(host);
    this.acl = new AclEndpoints({ ...host, settings: o.acl ?? ACL_DISABLED, now: Date.now });
    this.operator = new OperatorEndpoints({ raft, datacenter, onLeave: o.onLeave ?? (() => {}) });
    this.snapshots = new SnapshotEndpoints({
      raft,
      meta: (index, q) => this.meta(index, q),
      throttleMs: o.snapshotThrottleMs ?? 0,
    });
    this.sessionTimers = new SessionTimers(
      {
        sessions: () => [...kv.sessions.entries()].map(([, s]) => s),
        watch: (wake) => kv.watchSessions(wake),
        invalidate: async (id) => {
          const r = await this.writeHere({ op: "session-invalidate", id, time: 0 });
          if ("error" in r) throw new UnavailableError(r.error);
        },
        log: (level, msg) => raft.log(level, msg),
      },
      // The driver's clock: the agent gives the RaftServer realClock, the simulator its virtual one.
      raft.clock,
    );
    raft.leadershipListeners.add((leader) => this.sessionTimers.leadershipChanged(leader));
    this.reconciler = new CatalogReconciler(reconcileHost(raft, this.catalog, datacenter, VERSION));
    raft.leadershipListeners.add((leader) => this.reconciler.leadershipChanged(leader));
    raft.leadershipListeners.add((leader) => {
      if (!leader) return;
      // Consul's initializeACLs on establishing leadership; a failure (leadership lost mid-way) is retried by
      // the next leader, which runs the same checks.
      this.acl.initialize().catch((e: unknown) => raft.log("warn", `ACL initialization: ${errorText(e)}`));
    });
    serve(raft.transport, RPC.write, (body) => this.writeForwarded(body));
  }

  // ---- reads ----

  queryMeta(index: number): QueryMeta {
    return this.meta(index, { consistency: "default", minIndex: 0, waitMs: 0 });
  }

  private meta(index: number, q: QueryOptions): QueryMeta {
    const r = this.raft.raw.raft;
    const leader = r.role === "leader";
    return {
      index: Math.max(1, index),
      knownLeader: r.leader !== NONE,
      lastContactMs: leader ? 0 : Math.max(0, Date.now() - this.raft.lastLeaderContactMs),
      consistency: q.consistency,
    };
  }

  /** What every read's blocking loop runs against; one object for all, not one per query. */
  private readonly blockingEnv: BlockingEnv = {
    now: Date.now,
    random: Math.random,
    // Default reads may use the leader's lease; consistent ones confirm leadership with a quorum round.
    barrier: (c) => (c === "stale" ? Promise.resolve() : this.raft.readBarrier(c === "default")),
    restores: () => this.raft.kv.restoreCount,
  };

  /** Not async: a blocked query should hold no suspended frame here (blocking.ts says why). */
  private query<T extends { index: number }>(q: QueryOptions, spec: ReadSpec<T>): Promise<Queried<T>> {
    return blockingQuery(q, spec, this.blockingEnv, this.answered);
  }

  /** A query's answer from its value: one function for every query (blockingQuery's finish). */
  private readonly answered = <T extends { index: number }>(value: T, q: QueryOptions): Queried<T> => ({
    meta: this.meta(value.index, q),
    value,
  });

  kvGet: ServerApi["kvGet"] = (key, q) => this.store.kvGet(key, q);
  kvList: ServerApi["kvList"] = (prefix, q) => this.store.kvList(prefix, q);
  kvKeys: ServerApi["kvKeys"] = (prefix, separator, q) => this.store.kvKeys(prefix, separator, q);
  sessionInfo: ServerApi["sessionInfo"] = (id, q) => this.store.sessionInfo(id, q);
  sessionList: ServerApi["sessionList"] = (q) => this.store.sessionList(q);
  sessionNode: ServerApi["sessionNode"] = (node, q) => this.store.sessionNode(node, q);

  // ---- writes ----

  kvWrite: ServerApi["kvWrite"] = (cmd) => this.store.kvWrite(cmd);
  sessionCreate: ServerApi["sessionCreate"] = (req) => this.store.sessionCreate(req);
  sessionDestroy: ServerApi["sessionDestroy"] = (id) => this.store.sessionDestroy(id);
  sessionRenew: ServerApi["sessionRenew"] = (id) => this.store.sessionRenew(id);
  txn: ServerApi["txn"] = (ops) => this.store.txn(ops);

  /**
   * Commits a command through the leader (forwarded when this server follows) and returns its full result; a
   * refusal by the store comes back as its typed error (rebuilt after forwarding). The `time` of timed commands
   * is set by the leader (writeHere), whatever the caller put there.
   */
  private async propose(cmd: KvCommand): Promise<CommandResult> {
    // Encoded first, here: a command the codec refuses (a key it cannot carry) is the caller's error, not a 500.
    const body = encodeCommand(cmd);
    const leader = await this.raft.waitForLeader();
    if (leader === this.raft.self.raftId) return unwrap(await this.writeHere(cmd, body));
    try {
      return unwrap(await call(this.raft.transport, leader, RPC.write, body, RPC_HOLD_TIMEOUT_MS));
    } catch (e) {
      if (e instanceof RemoteError) throw new UnavailableError(e.remoteMessage);
      // The leader went away with the request sent or not: its outcome is unknown, so it is not retried (a cas
      // or txn must not apply twice); the client sees a 500 as Consul's clients do when the leader is lost.
      if (e instanceof UnreachableError || e instanceof RequestTimeoutError) {
        throw new UnavailableError(`lost the leader while forwarding the write: ${e.message}`);
      }
      throw e;
    }
  }

  /** A write a follower forwarded, as the bytes it encoded: decoded (and encoded again to propose) here. */
  private writeForwarded(body: Uint8Array): Promise<WriteAnswer> {
    let cmd: KvCommand;
    try {
      cmd = decodeCommand(body);
    } catch (e) {
      return Promise.resolve(failureAnswer(e));
    }
    return this.writeHere(cmd);
  }

  /**
   * On the leader: the leader's rules (fsm/leader-write.ts), then commit, and answer in wire form. `encoded` is
   * `cmd` as this server's codec wrote it, proposed as it is when the leader's rules leave the command unchanged.
   */
  private async writeHere(original: KvCommand, encoded?: Uint8Array): Promise<WriteAnswer> {
    if (this.raft.raw.raft.role !== "leader") return { error: "No cluster leader", kind: "unavailable" };
    try {
      const w = leaderWrite(this.raft.kv, original, Date.now());
      if ("refused" in w) return toWire(w.refused);
      const cmd = w.propose;
      // A new leader registers the servers first, so sessions created at start find their node and serfHealth.
      if (cmd.op === "session-create" && cmd.checked === true)
        await this.reconciler.reconciled(RECONCILE_WAIT_MS);
      const data = cmd === original && encoded !== undefined ? encoded : encodeCommand(cmd);
      const r = await this.raft.proposeLocal(data);
      if (cmd.op === "session-renew" && r !== null && typeof r === "object" && "ID" in r) {
        this.sessionTimers.renew(r);
      }
      return toWire(r);
    } catch (e) {
      return failureAnswer(e);
    }
  }

  // ---- catalog (catalog.ts) ----

  catalogRegister: ServerApi["catalogRegister"] = (req) => this.catalog.register(req);
  catalogDeregister: ServerApi["catalogDeregister"] = (req) => this.catalog.deregister(req);
  catalogNodes: ServerApi["catalogNodes"] = (q) => this.catalog.nodes(q);
  catalogServices: ServerApi["catalogServices"] = (q) => this.catalog.services(q);
  catalogService: ServerApi["catalogService"] = (name, tags, q) => this.catalog.service(name, tags, q);
  catalogNodeServices: ServerApi["catalogNodeServices"] = (node, q) => this.catalog.nodeServices(node, q);
  catalogDatacenters: ServerApi["catalogDatacenters"] = async () =>
    this.datacentersFn?.() ?? [this.datacenter];
  healthNode: ServerApi["healthNode"] = (node, q) => this.catalog.healthNode(node, q);
  healthChecks: ServerApi["healthChecks"] = (service, q) => this.catalog.healthChecks(service, q);
  healthService: ServerApi["healthService"] = (s, tags, passing, q) =>
    this.catalog.healthService(s, tags, passing, q);
  healthState: ServerApi["healthState"] = (state, q) => this.catalog.healthState(state, q);

  // ---- status, operator and agent (operator.ts) ----

  leaderAddress: ServerApi["leaderAddress"] = () => this.operator.leaderAddress();
  peers: ServerApi["peers"] = () => this.operator.peers();
  raftConfiguration: ServerApi["raftConfiguration"] = (stale) => this.operator.raftConfiguration(stale);
  removePeer: ServerApi["removePeer"] = (by) => this.operator.removePeer(by);
  transferLeader: ServerApi["transferLeader"] = (id) => this.operator.transferLeader(id);
  autopilotHealth: ServerApi["autopilotHealth"] = (stale) => this.operator.autopilotHealth(stale);
  agentSelf: ServerApi["agentSelf"] = () => this.operator.agentSelf();
  members: ServerApi["members"] = () => [...this.operator.members(), ...(this.otherMembers?.() ?? [])];
  leave: ServerApi["leave"] = () => this.operator.leave();

  wanMembers(): MemberInfo[] {
    return (this.wanServersFn?.() ?? []).map((s) => {
      const [host, port] = s.addr.replace(/^\[|\](?=:\d+$)/g, "").split(/:(?=\d+$)/);
      return {
        name: `${s.name}.${s.datacenter}`,
        addr: host ?? "",
        port: Number(port ?? 8302),
        status: s.failed ? 4 : 1,
        tags: {
          role: "consul",
          build: `${VERSION}:cairn`,
          dc: s.datacenter,
          id: s.nodeId,
          vsn: "2",
          raft_vsn: "3",
        },
      };
    });
  }

  async forceLeaveClient(node: string): Promise<void> {
    if (this.forceLeaveFn === undefined)
      throw new ForceLeaveError(`agent: No node found with name '${node}'`);
    await this.forceLeaveFn(node);
  }

  async join(addr: string): Promise<void> {
    if (this.joinFn === undefined) throw new JoinError("This server cannot join others");
    await this.joinFn(addr);
  }

  metricsValues(): Promise<MetricFamily[]> {
    return metricValues(this.metrics.registry);
  }

  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  // ---- snapshots (snapshot-endpoints.ts) ----

  snapshotSave: ServerApi["snapshotSave"] = (stale) => this.snapshots.save(stale);
  snapshotRestore: ServerApi["snapshotRestore"] = (archive) => this.snapshots.restore(archive);
}
