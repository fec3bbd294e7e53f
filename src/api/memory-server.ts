/**
 * MemoryServer: a test twin of the server agent (not used in production). It implements ServerApi over a real
 * KvStore applied in-process, one raft index per write, with blocking queries done for real (KvStore.watch
 * plus a timer), so handler tests exercise Consul's blocking semantics without Raft or sockets.
 *
 * Knobs for tests: `hasLeader` (false: writes and non-stale reads fail with NotLeaderError, as a server
 * without a leader does), `failNext` (the next call rejects with that error), `sessions` (the sessions an
 * acquire may use besides the store's own), `now` (the clock stamped into timed commands, as a leader does),
 * and the plain fields behind the status, operator and agent endpoints. Session TTLs are not timed here.
 * Catalog writes and reads use the real store and the server's validation; session creates are not judged
 * against the catalog here (the server's are: `checked`), so session handler tests need no registered node.
 */

import { randomUUID } from "node:crypto";
import { createReadStream } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import {
  type CatalogRead,
  type CatalogReads,
  type CommandResult,
  encodeCommand,
  InvalidSessionError,
  type KvCommand,
  KvStore,
  normalizeBehavior,
  preApplyDeregister,
  preApplyRegister,
  type ReadSpec,
  reads,
  type SessionEntry,
  type SessionSpec,
  type SessionView,
  type TxnOp,
  type TxnSuccess,
  VALUE_BYTES_MAX,
  validateSessionTtl,
} from "../fsm/index.js";
import { readArchive, readStateBin, writeArchive } from "../snapshot/index.js";
import { NotLeaderError } from "../util/index.js";
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

/** Consul's cap on a blocking query's wait (max_query_time default). */
export const WAIT_MAX_MS = 10 * 60 * 1000;

const ADDRESS = "127.0.0.1:8300";

/** Registers a one-shot wake on the data a read depends on; returns its cancel. */
type Watch = (wake: () => void) => () => void;

export class MemoryServer implements ServerApi {
  readonly datacenter: string;
  readonly kvValueBytesMax: number;
  readonly store = new KvStore();
  /** Session ids an acquire may name besides the sessions in the store. */
  readonly sessions = new Set<string>();
  /** Sessions whose keys refuse acquires (lock-delay). */
  readonly lockDelayed = new Set<string>();
  hasLeader = true;
  /** The leader's wall clock (ms) put into timed commands. */
  now: () => number = () => Date.now();
  /** Rejects the next ServerApi call with this error, then clears. */
  failNext: Error | null = null;
  /** Every KV command written, in order (what the handlers asked for). */
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

  constructor(opts: { readonly datacenter?: string; readonly kvValueBytesMax?: number } = {}) {
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
  }

  /** The raft index of the last write. */
  get index(): number {
    return this.store.appliedIndex;
  }

  private check(stale: boolean): void {
    const err = this.failNext;
    if (err !== null) {
      this.failNext = null;
      throw err;
    }
    if (!stale && !this.hasLeader) throw new NotLeaderError(0);
  }

  kvGet(key: string, q: QueryOptions) {
    return this.block(q, reads.kvGet(this.store, key));
  }

  kvList(prefix: string, q: QueryOptions) {
    return this.block(q, reads.kvList(this.store, prefix));
  }

  kvKeys(prefix: string, separator: string, q: QueryOptions) {
    return this.block(q, reads.kvKeys(this.store, prefix, separator));
  }

  sessionInfo(id: string, q: QueryOptions) {
    return this.block(q, reads.sessionInfo(this.store, id));
  }

  sessionList(q: QueryOptions) {
    return this.block(q, reads.sessionList(this.store));
  }

  sessionNode(node: string, q: QueryOptions) {
    return this.block(q, reads.sessionNode(this.store, node));
  }

  /**
   * Consul's blocking loop: answer at once when minIndex is 0 or the result is past it; else wait for a
   * watch on the data or the timeout, re-read, and go on waiting while the index has not moved (a wake is a
   * hint, not a change). On timeout the current result is the answer.
   */
  private async block<T extends { readonly index: number }>(
    q: QueryOptions,
    { watch, run: read }: ReadSpec<T>,
  ): Promise<Queried<T>> {
    this.check(q.consistency === "stale");
    let value = read();
    const deadline = Date.now() + Math.min(q.waitMs, WAIT_MAX_MS);
    while (q.minIndex !== 0 && value.index <= q.minIndex) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.wake(watch, left);
      value = read();
    }
    return {
      meta: {
        index: Math.max(1, value.index),
        knownLeader: this.hasLeader,
        lastContactMs: 0,
        consistency: q.consistency,
      },
      value,
    };
  }

  /** Blocking queries waiting right now (each holds one watch and one timer). */
  get watchCount(): number {
    return this.waiting;
  }
  private waiting = 0;

  /** Resolves on the first write to the target or after `ms`, whichever comes first; leaves nothing behind. */
  private wake(watch: Watch, ms: number): Promise<void> {
    this.waiting += 1;
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiting -= 1;
        resolve();
      };
      const cancel = watch(() => {
        clearTimeout(timer);
        done();
      });
      const timer = setTimeout(() => {
        cancel();
        done();
      }, ms);
    });
  }

  async kvWrite(cmd: KvCommand): Promise<boolean> {
    this.check(false);
    // Encode as the real server does for the raft log, so that limit and key errors are the same.
    const bytes = encodeCommand(cmd);
    this.writes.push(cmd);
    const time = this.now();
    const view: SessionView = {
      isValid: (id) => this.sessions.has(id) || this.store.sessions.has(id),
      isLockDelayed: (key) => this.lockDelayed.has(key) || time < (this.store.lockDelays.get(key) ?? 0),
    };
    const result = this.store.apply(this.store.appliedIndex + 1, bytes, view);
    if (result instanceof InvalidSessionError) throw result;
    return result;
  }

  /** Applies a timed command as the leader would: stamped with `now`, encoded as for the raft log. */
  private execute(cmd: KvCommand): Exclude<CommandResult, Error> {
    this.check(false);
    const stamped = "time" in cmd ? { ...cmd, time: this.now() } : cmd;
    const result = this.store.execute(this.store.appliedIndex + 1, encodeCommand(stamped));
    if (result instanceof Error) throw result;
    return result;
  }

  /** Consul's create defaults, as the real server fills them in (src/server/sessions.ts). */
  async sessionCreate(req: SessionRequest): Promise<string> {
    const session: SessionSpec = {
      ID: randomUUID(),
      Name: req.Name ?? "",
      Node: req.Node === undefined || req.Node === "" ? this.self.nodeName : req.Node,
      LockDelay: req.LockDelay ?? 15_000_000_000,
      Behavior: req.Behavior === undefined || req.Behavior === "" ? "release" : req.Behavior,
      TTL: req.TTL ?? "",
      NodeChecks: req.NodeChecks === undefined ? ["serfHealth"] : req.NodeChecks,
      ServiceChecks: req.ServiceChecks ?? null,
    };
    const bad = validateSessionTtl(session.TTL) ?? normalizeBehavior(session.Behavior);
    if (bad instanceof Error) throw bad;
    this.execute({ op: "session-create", session, time: 0 });
    return session.ID;
  }

  async sessionDestroy(id: string): Promise<void> {
    this.execute({ op: "session-destroy", id, time: 0 });
  }

  async sessionRenew(id: string): Promise<SessionEntry | null> {
    const r = this.execute({ op: "session-renew", id, time: 0 });
    return r === null || typeof r === "boolean" || "kind" in r ? null : r;
  }

  async txn(ops: readonly TxnOp[]): Promise<TxnSuccess> {
    const r = this.execute({ op: "txn", ops, time: 0 });
    if (r === null || typeof r === "boolean" || !("kind" in r)) throw new Error("txn: unexpected result");
    return r;
  }

  // ---- catalog: the real store's tables and reads, validated as the server does ----

  private catalogRead<T>(q: QueryOptions, f: (r: CatalogReads) => CatalogRead<T>): Promise<Queried<T>> {
    return this.block(q, reads.catalog(this.store, f)).then((r) => ({ meta: r.meta, value: r.value.value }));
  }

  catalogRegister: ServerApi["catalogRegister"] = async (req) => {
    this.execute({ op: "catalog-register", req: preApplyRegister(req, this.datacenter), time: 0 });
  };
  catalogDeregister: ServerApi["catalogDeregister"] = async (req) => {
    this.execute({ op: "catalog-deregister", req: preApplyDeregister(req, this.datacenter), time: 0 });
  };
  catalogNodes: ServerApi["catalogNodes"] = (q) => this.catalogRead(q, (r) => r.nodes(q.nodeMeta));
  catalogServices: ServerApi["catalogServices"] = (q) => this.catalogRead(q, (r) => r.services(q.nodeMeta));
  catalogService: ServerApi["catalogService"] = (name, tags, q) =>
    this.catalogRead(q, (r) => r.service(name, tags, q.nodeMeta));
  catalogNodeServices: ServerApi["catalogNodeServices"] = (node, q) =>
    this.catalogRead(q, (r) => r.nodeServices(node));
  catalogDatacenters: ServerApi["catalogDatacenters"] = async () => [this.datacenter];
  healthNode: ServerApi["healthNode"] = (node, q) => this.catalogRead(q, (r) => r.healthNode(node));
  healthChecks: ServerApi["healthChecks"] = (s, q) => this.catalogRead(q, (r) => r.healthChecks(s));
  healthService: ServerApi["healthService"] = (s, tags, passing, q) =>
    this.catalogRead(q, (r) => r.healthService(s, tags, passing, q.nodeMeta));
  healthState: ServerApi["healthState"] = (state, q) => this.catalogRead(q, (r) => r.healthState(state));

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

  async metricsText(): Promise<string> {
    return this.metrics;
  }

  /** Set by leave(): the twin records the request (a real server leaves the configuration and stops). */
  left = false;

  async leave(): Promise<void> {
    this.left = true;
  }

  queryMeta(index: number): QueryMeta {
    return {
      index: Math.max(1, index),
      knownLeader: this.hasLeader,
      lastContactMs: 0,
      consistency: "default",
    };
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
    const meta: QueryMeta = {
      index: Math.max(1, index),
      knownLeader: this.hasLeader,
      lastContactMs: 0,
      consistency: stale ? "stale" : "consistent",
    };
    return { meta, archive: out };
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
