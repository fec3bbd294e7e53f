/**
 * MemoryServer: a test twin of the server agent (not used in production). It implements ServerApi over a real
 * KvStore applied in-process, one raft index per write, with blocking queries done for real (KvStore.watch
 * plus a timer), so handler tests exercise Consul's blocking semantics without Raft or sockets.
 *
 * Knobs for tests: `hasLeader` (false: writes and non-stale reads fail with NotLeaderError, as a server
 * without a leader does), `failNext` (the next call rejects with that error), `sessions` (the sessions an
 * acquire may use), and the plain fields behind the status, operator and agent endpoints.
 */

import { createReadStream } from "node:fs";
import { PassThrough, Readable } from "node:stream";
import {
  encodeCommand,
  InvalidSessionError,
  type KvCommand,
  KvStore,
  type SessionView,
  VALUE_BYTES_MAX,
  type WatchKind,
} from "../fsm/index.js";
import type {
  AgentInfo,
  MemberInfo,
  Queried,
  QueryMeta,
  QueryOptions,
  RaftServerInfo,
  ServerApi,
  ServerHealth,
} from "../server/api.js";
import { readArchive, readStateBin, writeArchive } from "../snapshot/index.js";
import { NotLeaderError } from "../util/index.js";

/** Consul's cap on a blocking query's wait (max_query_time default). */
export const WAIT_MAX_MS = 10 * 60 * 1000;

const ADDRESS = "127.0.0.1:8300";

export class MemoryServer implements ServerApi {
  readonly datacenter: string;
  readonly kvValueBytesMax: number;
  readonly store = new KvStore();
  /** Session ids an acquire may name. */
  readonly sessions = new Set<string>();
  /** Sessions whose keys refuse acquires (lock-delay). */
  readonly lockDelayed = new Set<string>();
  hasLeader = true;
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
    return this.block(q, key, "key", () => this.store.get(key));
  }

  kvList(prefix: string, q: QueryOptions) {
    return this.block(q, prefix, "prefix", () => this.store.list(prefix));
  }

  kvKeys(prefix: string, separator: string, q: QueryOptions) {
    return this.block(q, prefix, "prefix", () => this.store.keys(prefix, separator));
  }

  /**
   * Consul's blocking loop: answer at once when minIndex is 0 or the result is past it; else wait for a
   * watch on the data or the timeout, re-read, and go on waiting while the index has not moved (a wake is a
   * hint, not a change). On timeout the current result is the answer.
   */
  private async block<T extends { readonly index: number }>(
    q: QueryOptions,
    target: string,
    kind: WatchKind,
    read: () => T,
  ): Promise<Queried<T>> {
    this.check(q.consistency === "stale");
    let value = read();
    const deadline = Date.now() + Math.min(q.waitMs, WAIT_MAX_MS);
    while (q.minIndex !== 0 && value.index <= q.minIndex) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await this.wake(target, kind, left);
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
  private wake(target: string, kind: WatchKind, ms: number): Promise<void> {
    this.waiting += 1;
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiting -= 1;
        resolve();
      };
      const cancel = this.store.watch(target, kind, () => {
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
    const view: SessionView = {
      isValid: (id) => this.sessions.has(id),
      isLockDelayed: (key) => this.lockDelayed.has(key),
    };
    const result = this.store.apply(this.store.appliedIndex + 1, bytes, view);
    if (result instanceof InvalidSessionError) throw result;
    return result;
  }

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
