import { tmpdir } from "node:os";
import { Readable } from "node:stream";
import {
  CatalogError,
  type CommandResult,
  decodeCommand,
  encodeCommand,
  InvalidBehaviorError,
  InvalidSessionError,
  type KvCommand,
  type KvEntry,
  type KvStore,
  normalizeBehavior,
  passLockDelay,
  type ReadSpec,
  reads,
  type SessionEntry,
  SessionIdError,
  SessionTtlError,
  stampTime,
  TxnFailedError,
  type TxnOp,
  type TxnOpError,
  type TxnSuccess,
  TxnTooLargeError,
  VALUE_BYTES_MAX,
  validateSessionTtl,
} from "../fsm/index.js";
import { NONE } from "../raft/index.js";
import { BlobStore } from "../server/blobs.js";
import type { Metrics } from "../server/metrics.js";
import { type ProposalResult, type RaftServer, RESTORE_APPLY_MS_MAX } from "../server/raft-server.js";
import { call, serve } from "../server/rpc.js";
import { type RaftConfigurationAnswer, RPC } from "../server/rpc-methods.js";
import { archiveOf } from "../server/snapshots.js";
import {
  failureAnswer,
  InvalidWriteError,
  toWire,
  unwrap,
  type WriteAnswer,
} from "../server/write-answer.js";
import { readArchive } from "../snapshot/index.js";
import { RemoteError, RequestTimeoutError, UnreachableError } from "../transport/index.js";
import { CairnError, errorText, ProposalDroppedError, UnavailableError } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import { CatalogEndpoints, reconcileHost } from "./catalog.js";
import { CatalogReconciler } from "./catalog-reconcile.js";
import { SessionTimers, sessionSpecOf } from "./sessions.js";
import type {
  AgentInfo,
  MemberInfo,
  Queried,
  QueryMeta,
  QueryOptions,
  RaftServerInfo,
  ServerApi,
  ServerHealth,
  SessionRequest,
} from "./types.js";

const WAIT_MS_MAX = 10 * 60 * 1000;

export interface ServerServiceOptions {
  readonly raft: RaftServer;
  readonly datacenter: string;
  readonly metrics: Metrics;
  /** Called once a graceful leave has completed, to stop the agent. */
  readonly onLeave?: () => void;
  /**
   * Test-only (CAIRN_TEST_SNAPSHOT_THROTTLE_MS): slows archive streaming to 4 KiB per interval, so tests can
   * kill a server in the middle of a save without needing gigabytes of state.
   */
  readonly snapshotThrottleMs?: number;
}

/**
 * The ServerApi over one RaftServer: reads in the three consistency modes with blocking queries, writes through
 * Raft (forwarded to the leader over the transport), and the status/operator/agent views.
 */
export class ServerService implements ServerApi {
  readonly datacenter: string;
  readonly kvValueBytesMax = VALUE_BYTES_MAX;
  private readonly raft: RaftServer;
  private readonly kv: KvStore;
  private readonly metrics: Metrics;
  private readonly startedAt = new Date().toISOString();
  /** The leader's session TTL timers; idle on followers. */
  readonly sessionTimers: SessionTimers;
  /** The leader's registration of the servers in the catalog; idle on followers. */
  readonly reconciler: CatalogReconciler;
  private readonly catalog: CatalogEndpoints;

  /** Test-only: see ServerServiceOptions.snapshotThrottleMs. */
  private readonly throttleMs: number;

  private readonly onLeave: () => void;

  constructor(o: ServerServiceOptions) {
    const { raft, datacenter } = o;
    this.throttleMs = o.snapshotThrottleMs ?? 0;
    this.onLeave = o.onLeave ?? (() => {});
    this.raft = raft;
    this.kv = raft.kv;
    this.datacenter = datacenter;
    this.metrics = o.metrics;
    this.sessionTimers = new SessionTimers({
      sessions: () => [...this.kv.sessions.entries()].map(([, s]) => s),
      watch: (wake) => this.kv.watchSessions(wake),
      invalidate: async (id) => {
        const r = await this.writeHere(encodeCommand({ op: "session-invalidate", id, time: 0 }));
        if ("error" in r) throw new UnavailableError(r.error);
      },
      log: (level, msg) => raft.log(level, msg),
    });
    raft.leadershipListeners.add((leader) => this.sessionTimers.leadershipChanged(leader));
    this.catalog = new CatalogEndpoints({
      datacenter,
      kv: this.kv,
      query: (q, spec) => this.query(q, spec),
      propose: (cmd) => this.propose(cmd),
    });
    this.reconciler = new CatalogReconciler(reconcileHost(raft, this.catalog, datacenter, VERSION));
    raft.leadershipListeners.add((leader) => this.reconciler.leadershipChanged(leader));
    const t = raft.transport;
    serve(t, RPC.write, (body) => this.writeHere(body));
    serve(t, RPC.restore, async (ref) => {
      try {
        await this.restoreHere(ref, [ref.from]);
        return toWire(true);
      } catch (e) {
        return failureAnswer(e);
      }
    });
    serve(t, RPC.remove, async ({ raftId }) => {
      if (this.raft.raw.raft.role !== "leader") throw new UnavailableError("not the leader");
      this.raft.proposeConfChange({ type: "remove", node: raftId });
      return true;
    });
    serve(t, RPC.raftConfiguration, () => this.raftConfiguration(true));
  }

  private get transport() {
    return this.raft.transport;
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
      consistency: q.consistency === "default" ? "default" : q.consistency,
    };
  }

  /**
   * Consul's blocking query: answer at once unless minIndex > 0; otherwise wait (up to wait + wait/16 jitter,
   * capped at 10 minutes) for a write the `watch` registration wakes on, re-running the query each time.
   */
  private async query<T extends { index: number }>(
    q: QueryOptions,
    { watch, run }: ReadSpec<T>,
  ): Promise<Queried<T>> {
    const wait = Math.min(q.waitMs > 0 ? q.waitMs : 5 * 60 * 1000, WAIT_MS_MAX);
    const deadline = Date.now() + wait + Math.floor(Math.random() * (wait / 16));
    for (;;) {
      if (q.consistency !== "stale") await this.raft.readBarrier(q.consistency === "default");
      const value = run();
      const done = q.minIndex === 0 || value.index !== q.minIndex || Date.now() >= deadline;
      if (done || value.index < q.minIndex) return { meta: this.meta(value.index, q), value };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          cancel();
          resolve();
        }, deadline - Date.now());
        const cancel = watch(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  kvGet(key: string, q: QueryOptions) {
    return this.query(q, reads.kvGet(this.kv, key));
  }

  kvList(prefix: string, q: QueryOptions) {
    return this.query(q, reads.kvList(this.kv, prefix));
  }

  kvKeys(prefix: string, separator: string, q: QueryOptions) {
    return this.query(q, reads.kvKeys(this.kv, prefix, separator));
  }

  sessionInfo(id: string, q: QueryOptions) {
    return this.query(q, reads.sessionInfo(this.kv, id));
  }

  sessionList(q: QueryOptions) {
    return this.query(q, reads.sessionList(this.kv));
  }

  sessionNode(node: string, q: QueryOptions) {
    return this.query(q, reads.sessionNode(this.kv, node));
  }

  // ---- catalog (catalog-api.ts) ----

  catalogRegister: ServerApi["catalogRegister"] = (req) => this.catalog.register(req);
  catalogDeregister: ServerApi["catalogDeregister"] = (req) => this.catalog.deregister(req);
  catalogNodes: ServerApi["catalogNodes"] = (q) => this.catalog.nodes(q);
  catalogServices: ServerApi["catalogServices"] = (q) => this.catalog.services(q);
  catalogService: ServerApi["catalogService"] = (name, tags, q) => this.catalog.service(name, tags, q);
  catalogNodeServices: ServerApi["catalogNodeServices"] = (node, q) => this.catalog.nodeServices(node, q);
  catalogDatacenters: ServerApi["catalogDatacenters"] = async () => [this.datacenter];
  healthNode: ServerApi["healthNode"] = (node, q) => this.catalog.healthNode(node, q);
  healthChecks: ServerApi["healthChecks"] = (service, q) => this.catalog.healthChecks(service, q);
  healthService: ServerApi["healthService"] = (s, tags, passing, q) =>
    this.catalog.healthService(s, tags, passing, q);
  healthState: ServerApi["healthState"] = (state, q) => this.catalog.healthState(state, q);

  // ---- writes ----

  async kvWrite(cmd: KvCommand): Promise<boolean> {
    const r = await this.propose(cmd);
    if (typeof r !== "boolean")
      throw r instanceof Error ? r : new InvalidWriteError(`unexpected result of ${cmd.op}`);
    return r;
  }

  async sessionCreate(req: SessionRequest): Promise<string> {
    const session = sessionSpecOf(req, this.raft.self.name);
    // Consul's endpoint checks these before Raft, so a refused create uses no index.
    const bad = validateSessionTtl(session.TTL) ?? normalizeBehavior(session.Behavior);
    if (bad instanceof Error) throw bad;
    const r = await this.propose({ op: "session-create", session, time: 0, checked: true });
    if (r instanceof Error) throw r;
    return session.ID;
  }

  async sessionDestroy(id: string): Promise<void> {
    const r = await this.propose({ op: "session-destroy", id, time: 0 });
    if (r instanceof Error) throw r;
  }

  async sessionRenew(id: string): Promise<SessionEntry | null> {
    const r = await this.propose({ op: "session-renew", id, time: 0 });
    if (r instanceof Error) throw r;
    return r === null || typeof r === "boolean" || "kind" in r ? null : r;
  }

  async txn(ops: readonly TxnOp[]): Promise<TxnSuccess> {
    const r = await this.propose({ op: "txn", ops, time: 0 });
    if (r instanceof Error) throw r;
    if (r === null || typeof r === "boolean" || !("kind" in r))
      throw new InvalidWriteError("txn: unexpected result");
    return r;
  }

  /**
   * Commits a command through the leader (forwarded when this server follows) and returns its full result; a
   * refusal by the store comes back as its typed error (rebuilt after forwarding). The `time` of timed commands
   * is set by the leader (writeHere), whatever the caller put there.
   */
  private async propose(cmd: KvCommand): Promise<CommandResult> {
    const body = encodeCommand(cmd);
    const leader = await this.raft.waitForLeader();
    if (leader === this.raft.self.raftId) return unwrap(await this.writeHere(body));
    try {
      return unwrap(await call(this.transport, leader, RPC.write, body, 7000));
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

  /** On the leader: stamp the leader's clock into timed commands, commit, and answer in wire form. */
  private async writeHere(body: Uint8Array): Promise<WriteAnswer> {
    if (this.raft.raw.raft.role !== "leader") return { error: "No cluster leader", kind: "unavailable" };
    try {
      const now = Date.now();
      const decoded = stampTime(decodeCommand(body), now);
      const refused = this.lockDelayRefusal(decoded, now);
      if (refused !== null) return toWire(refused);
      const cmd = passLockDelay(decoded);
      // A new leader registers the servers first, so sessions created at start find their node and serfHealth.
      if (cmd.op === "session-create" && cmd.checked === true) await this.reconciler.reconciled(5000);
      const r = await this.raft.proposeLocal(encodeCommand(cmd));
      if (cmd.op === "session-renew" && r !== null && typeof r === "object" && "ID" in r) {
        this.sessionTimers.renew(r);
      }
      return toWire(r);
    } catch (e) {
      return failureAnswer(e);
    }
  }
  /**
   * Lock-delay is judged here, on the leader, before the write (as Consul does): the deadlines live only in
   * memory, so a replica that installed a snapshot has none, and judging them on apply would let replicas
   * disagree. Returns the refusal (acquire: false; txn: Consul's per-op errors), or null to go on.
   */
  private lockDelayRefusal(cmd: KvCommand, now: number): ProposalResult | null {
    const delayed = (key: string): boolean => (this.kv.lockDelays.get(key) ?? 0) > now;
    if (cmd.op === "acquire") return delayed(cmd.key) ? false : null;
    if (cmd.op !== "txn") return null;
    const errors = cmd.ops.flatMap((op, i) =>
      op.verb === "lock" && op.key !== "" && delayed(op.key)
        ? [{ OpIndex: i, What: `failed to lock key "${op.key}" due to lock delay` }]
        : [],
    );
    return errors.length === 0 ? null : new TxnFailedError(errors);
  }

  // ---- status and operator ----

  leaderAddress(): string {
    const leader = this.raft.raw.raft.leader;
    return leader === NONE ? "" : (this.raft.peers.get(leader)?.addr ?? "");
  }

  peers(): string[] {
    return this.raft.raw.raft.voters.map((id) => this.raft.peers.get(id)?.addr ?? "").filter((a) => a !== "");
  }

  async raftConfiguration(stale: boolean): Promise<RaftConfigurationAnswer> {
    const r = this.raft.raw.raft;
    if (!stale && r.role !== "leader") {
      const leader = await this.raft.waitForLeader();
      if (leader !== this.raft.self.raftId) {
        return await call(this.transport, leader, RPC.raftConfiguration, null, 7000);
      }
    }
    const st = this.raft.status();
    const servers = [
      ...r.voters.map((id) => [id, true] as const),
      ...r.learners.map((id) => [id, false] as const),
    ].map(([id, voter]): RaftServerInfo => {
      const p = this.raft.peers.get(id);
      const lastIndex = id === this.raft.self.raftId ? st.lastIndex : (st.matches.get(id) ?? 0);
      return {
        id: p?.nodeId ?? String(id),
        node: p?.name ?? "(unknown)",
        address: p?.addr ?? "",
        leader: id === r.leader,
        voter,
        protocolVersion: "3",
        lastIndex,
      };
    });
    return { servers, index: st.commit };
  }

  async removePeer(by: { readonly id: string } | { readonly address: string }): Promise<void> {
    const match = [...this.raft.peers.values()].find((p) =>
      "id" in by ? p.nodeId === by.id : p.addr === by.address,
    );
    if (match === undefined) {
      throw new InvalidWriteError(
        `address "${"id" in by ? by.id : by.address}" was not found in the Raft configuration`,
      );
    }
    await this.raft.waitForLeader();
    if (this.raft.raw.raft.role !== "leader")
      throw new UnavailableError("remove-peer must be sent to the leader");
    this.raft.proposeConfChange({ type: "remove", node: match.raftId });
  }

  async transferLeader(id: string | null): Promise<boolean> {
    const r = this.raft.raw.raft;
    if (r.role !== "leader") throw new UnavailableError("transfer-leader must be sent to the leader");
    const target = id === null ? null : [...this.raft.peers.values()].find((p) => p.nodeId === id);
    if (id !== null && target === undefined)
      throw new InvalidWriteError(`server id "${id}" is not in the configuration`);
    if (target) this.raft.raw.transferLeadership(target.raftId);
    else await this.raft.transferIfLeader(0);
    this.raft.kick();
    return true;
  }

  async autopilotHealth(stale: boolean) {
    const cfg = await this.raftConfiguration(stale);
    const leader = cfg.servers.find((s) => s.leader);
    const lastIndex = leader?.lastIndex ?? 0;
    const servers: ServerHealth[] = cfg.servers.map((s) => ({
      id: s.id,
      name: s.node,
      address: s.address,
      serfStatus: "alive",
      version: VERSION,
      leader: s.leader,
      lastContactMs: 0,
      lastTerm: this.raft.raw.raft.term,
      lastIndex: s.lastIndex,
      healthy: s.leader || lastIndex - s.lastIndex <= 250,
      voter: s.voter,
      stableSince: this.startedAt,
    }));
    const voters = servers.filter((s) => s.voter);
    const healthyVoters = voters.filter((s) => s.healthy).length;
    const quorum = Math.floor(voters.length / 2) + 1;
    return {
      healthy: leader !== undefined && servers.every((s) => s.healthy),
      failureTolerance: Math.max(0, healthyVoters - quorum),
      servers,
    };
  }

  agentSelf(): AgentInfo {
    const r = this.raft.raw.raft;
    const st = this.raft.status();
    return {
      datacenter: this.datacenter,
      nodeName: this.raft.self.name,
      nodeId: this.raft.self.nodeId,
      server: true,
      version: VERSION,
      revision: "cairn",
      rpcAddress: this.raft.self.addr,
      leader: r.role === "leader",
      stats: {
        consul: { leader: String(r.role === "leader"), server: "true", known_datacenters: "1" },
        raft: {
          state: r.role === "leader" ? "Leader" : r.role === "follower" ? "Follower" : "Candidate",
          term: String(st.term),
          commit_index: String(st.commit),
          applied_index: String(st.applied),
          last_log_index: String(st.lastIndex),
          num_peers: String(Math.max(0, r.voters.length - 1)),
        },
      },
    };
  }

  members(): MemberInfo[] {
    const r = this.raft.raw.raft;
    return [...r.voters, ...r.learners].map((id) => {
      const p = this.raft.peers.get(id);
      const [host, port] = (p?.addr ?? ":8300").split(/:(?=\d+$)/);
      return {
        name: p?.name ?? String(id),
        addr: host ?? "",
        port: Number(port ?? 8300),
        status: 1,
        tags: {
          role: "consul",
          build: `${VERSION}:cairn`,
          dc: this.datacenter,
          id: p?.nodeId ?? "",
          port: port ?? "8300",
          vsn: "2",
          raft_vsn: "3",
        },
      };
    });
  }

  async leave(): Promise<void> {
    const self = this.raft.self.raftId;
    await this.raft.transferIfLeader(5000);
    const leader = await this.raft.waitForLeader();
    const r = this.raft.raw.raft;
    if (r.voters.length + r.learners.length > 1) {
      if (leader === self) this.raft.proposeConfChange({ type: "remove", node: self });
      else await call(this.transport, leader, RPC.remove, { raftId: self }, 7000);
      const deadline = Date.now() + 10_000;
      const member = () =>
        this.raft.raw.raft.voters.includes(self) || this.raft.raw.raft.learners.includes(self);
      while (member() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      if (member()) throw new UnavailableError("timed out leaving the raft configuration");
    }
    setImmediate(() => this.onLeave());
  }

  metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }

  async snapshotSave(
    stale: boolean,
  ): Promise<{ meta: QueryMeta; archive: AsyncIterable<Uint8Array>; bytesEstimate: number }> {
    const q: QueryOptions = { consistency: stale ? "stale" : "consistent", minIndex: 0, waitMs: 0 };
    // Consistent: the leader confirms it still leads with a quorum round (a follower asks it through ReadIndex)
    // and this server waits until it has applied everything committed before the request: the archive then
    // holds every acknowledged write. Leaderless or no quorum: fails within the hold timeout, before any byte.
    if (!stale) await this.raft.readBarrier(false);
    const { index, archive, bytesEstimate } = await archiveOf(this.raft, tmpdir());
    return {
      meta: this.meta(index, q),
      bytesEstimate,
      archive: this.throttleMs > 0 ? throttled(archive, this.throttleMs) : archive,
    };
  }

  async snapshotRestore(archive: AsyncIterable<Uint8Array>): Promise<void> {
    // Spooled and verified completely (every hash, entry and record) before anything changes.
    const verified = await readArchive(Readable.from(archive), { tmpDir: this.raft.blobs.dir });
    try {
      const handle = BlobStore.newHandle();
      await this.raft.blobs.adopt(handle, verified.stateBin.path);
      const leader = await this.raft.waitForLeader();
      const ref = { handle, archiveIndex: verified.meta.Index };
      if (leader === this.raft.self.raftId) return await this.restoreHere(ref, []);
      const request = { ...ref, from: this.raft.self.raftId };
      const r = unwrap(
        await call(this.transport, leader, RPC.restore, request, RESTORE_APPLY_MS_MAX + 10_000),
      );
      if (r instanceof Error) throw r;
    } finally {
      await verified.stateBin.remove();
    }
  }

  /** On the leader: the blob is fetched from the server that received the archive, then the restore proposed. */
  private async restoreHere(
    ref: { handle: string; archiveIndex: number },
    from: readonly number[],
  ): Promise<void> {
    if (!(await this.raft.blobs.has(ref.handle))) await this.raft.blobs.fetch(ref.handle, from);
    const r = await this.raft.proposeRestoreLocal(ref.handle, ref.archiveIndex);
    if (r instanceof Error) throw r;
  }
}

async function* throttled(source: AsyncIterable<Uint8Array>, ms: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length; i += 4096) {
      yield chunk.subarray(i, i + 4096);
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}
