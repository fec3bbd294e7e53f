import type { KvStore } from "../fsm/index.js";
import {
  type ConfChange,
  type Entry,
  encodeConfChange,
  type HardState,
  type MemoryStorage,
  type Message,
  NONE,
  type NodeId,
  RawNode,
  type Ready,
} from "../raft/index.js";
import type { PeerTransport } from "../transport/index.js";
import type { Clock, Timer } from "../util/clock.js";
import { NotLeaderError, UnavailableError } from "../util/errors.js";
import { Applier, encodeRestoreHandle, SnapshotGoneError } from "./applier.js";
import type { BlobStore } from "./blobs.js";
import { encodeMemberContext, type ServerRecord } from "./members.js";
import { PendingProposals, type ProposalResult } from "./proposals.js";
import { ReadBarriers } from "./reads.js";
import { loadDurableState, recoverIfAsked } from "./recovery.js";
import type { RaftServerOptions, ServerHandle } from "./server-parts.js";
import { type ArchiveConfiguration, Snapshotter } from "./snapshotting.js";
import { Wakeups } from "./waiters.js";

export type { ProposalResult } from "./proposals.js";
export type { RaftServerOptions, RaftTuning } from "./server-parts.js";

/**
 * How long a restore may take to commit and apply. A state of millions of keys takes tens of seconds to
 * install on a busy machine; Consul dropped its fixed restore timeout for the same reason (hashicorp/consul
 * #3326, PR #3745), so this bound only catches a restore that is stuck.
 */
export const RESTORE_APPLY_MS_MAX = 15 * 60_000;

/** The most ticks one timer firing may catch up: past an election timeout twice, the lease and quorum are decided. */
const TICKS_CATCH_UP_MAX = (electionTicks: number): number => 2 * electionTicks + 2;

/**
 * The driver of one server: the only place that turns the pure core's Ready batches into I/O, in the order
 * docs/ARCHITECTURE.md sets: persist (WAL append + one fsync for the whole batch: group commit; term and vote
 * in the stable store) → send → apply → advance. The leader ships its appends before its own fsync, counting
 * itself only once durable (the core does that in advance). Sole owner of wall-clock time: a timer drives
 * tick(). Its parts: the Applier turns committed entries into state, the Snapshotter takes snapshots and
 * compacts, PendingProposals and ReadBarriers hold the clients waiting on the loop, recovery.ts reads the
 * data dir at start.
 */
export class RaftServer {
  readonly self: ServerRecord;
  /** Replaced only by bootstrap(), before the node has any state, and by peers.json recovery before start. */
  raw: RawNode;
  readonly kv: KvStore;
  readonly transport: PeerTransport;
  readonly clock: Clock;
  readonly blobs: BlobStore;
  /** Replaced only by peers.json recovery, before the node has started. */
  private storage: MemoryStorage;
  private readonly o: RaftServerOptions;
  readonly peers = new Map<NodeId, ServerRecord>();
  private readonly proposals: PendingProposals;
  private readonly reads: ReadBarriers;
  private readonly applier: Applier;
  private readonly snapshots: Snapshotter;
  /** Callers of waitForLeader, woken when a soft state names a leader. */
  private readonly leaderWakeups: Wakeups;
  /** Told whether this server leads after every soft-state change, and false on stop (session TTL timers). */
  readonly leadershipListeners = new Set<(leader: boolean) => void>();
  private ticker: Timer | undefined;
  /** The monotonic ms of the last counted tick interval (tickDue). */
  private tickedAt: number;
  private pumping = false;
  private again = false;
  private stopped = false;
  private savedHard: HardState;
  /** Wall-clock ms when this follower last heard from a leader (for X-Consul-LastContact). */
  lastLeaderContactMs = 0;
  /** Wall-clock ms when this server last received any raft message from each peer: the leader's liveness signal. */
  readonly lastHeardMs = new Map<NodeId, number>();
  private failure: Error | null = null;
  /** The raft index of the snapshot this server started from (0: none). */
  private readonly startApplied: number;

  private constructor(
    o: RaftServerOptions,
    storage: MemoryStorage,
    startApplied: number,
    indexOffset: number,
  ) {
    this.o = o;
    this.startApplied = startApplied;
    this.self = o.self;
    this.kv = o.kv;
    this.transport = o.transport;
    this.clock = o.clock;
    this.tickedAt = o.clock.monotonicMs();
    this.proposals = new PendingProposals(o.clock);
    this.leaderWakeups = new Wakeups(o.clock);
    this.blobs = o.blobs;
    this.storage = storage;
    this.savedHard = o.stable.hardState;
    this.peers.set(o.self.raftId, o.self);
    this.raw = this.makeRaw(this.startApplied);
    const server: ServerHandle = {
      raw: () => this.raw,
      storage: () => this.storage,
      stopped: () => this.stopped,
      kick: () => this.kick(),
      learnPeer: (r) => this.learnPeer(r),
      peers: this.peers,
      indexOffset: () => this.indexOffset,
    };
    this.applier = new Applier(o, server, this.proposals, indexOffset);
    this.snapshots = new Snapshotter(o, server);
    this.reads = new ReadBarriers(server, o.holdTimeoutMs, o.rng, o.clock);
  }

  /**
   * The state store's index is the raft index plus this offset: a restored archive may carry indexes above
   * the raft log's, and the offset keeps X-Consul-Index from going backwards (the Applier keeps it).
   */
  get indexOffset(): number {
    return this.applier.indexOffset;
  }

  private makeRaw(applied: number): RawNode {
    const o = this.o;
    const t = o.raftTuning ?? {};
    return new RawNode({
      id: o.self.raftId,
      storage: this.storage,
      rng: o.rng,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      applied,
      preVote: t.preVote ?? true,
      checkQuorum: t.checkQuorum ?? true,
      inflightMsgsMax: t.inflightMsgsMax ?? 256,
      ...(t.appendBytesMax === undefined ? {} : { appendBytesMax: t.appendBytesMax }),
      bugs: o.raftBugs ?? {},
    });
  }

  /**
   * Writes the first configuration of a brand-new cluster (docs/ARCHITECTURE.md: the lowest node id among the
   * -bootstrap-expect servers does it) as committed conf entries at indexes 1..n, each carrying the server's
   * address, so servers that join later learn every address from the log. Only on a server with no state.
   */
  async bootstrap(servers: readonly ServerRecord[]): Promise<void> {
    if (this.hasState() || this.raw.raft.term !== 0) return;
    const entries: Entry[] = servers.map((r, i) => ({
      term: 1,
      index: i + 1,
      kind: "conf",
      data: encodeConfChange({ type: "addVoter", node: r.raftId, context: encodeMemberContext(r) }),
    }));
    await this.o.wal.append(entries);
    await this.o.wal.sync();
    const hs: HardState = { term: 1, vote: NONE, commit: entries.length };
    await this.o.stable.save(hs);
    this.savedHard = hs;
    this.storage.append(entries);
    this.storage.setHardState(hs);
    // The core read its storage when built: build it again over the bootstrapped log.
    this.raw = this.makeRaw(0);
    this.o.log("info", `bootstrapped a new cluster of ${servers.map((r) => r.name).join(", ")}`);
    this.kick();
  }

  /** Loads the durable log into the core's in-memory mirror and starts ticking and receiving. */
  static async start(o: RaftServerOptions): Promise<RaftServer> {
    const { storage, latest } = await loadDurableState(o);
    const s = new RaftServer(o, storage, latest?.index ?? 0, latest?.indexOffset ?? 0);
    for (const m of latest?.members ?? []) s.learnPeer(m);
    if (o.peersJsonPath !== undefined) await s.recoverIfAsked(o.peersJsonPath);
    o.transport.onMessage((m) => s.receive(m));
    o.transport.onUnreachable((peer) => {
      s.raw.reportUnreachable(peer);
    });
    s.tickedAt = o.clock.monotonicMs();
    s.ticker = o.clock.setInterval(() => s.tick(), o.tickMs);
    s.kick();
    return s;
  }

  /** peers.json recovery (recovery.ts), before start: it applies the whole log and starts the core over. */
  private recoverIfAsked(path: string): Promise<void> {
    return recoverIfAsked(path, this.o, {
      storage: () => this.storage,
      indexOffset: () => this.indexOffset,
      apply: (e) => this.applier.apply(e),
      restart: (storage, applied, members) => {
        this.storage = storage;
        this.raw = this.makeRaw(applied);
        for (const m of members) this.learnPeer(m);
      },
    });
  }

  /** The agent's log, for the server's other parts (session timers). */
  log(level: "debug" | "info" | "warn" | "error", msg: string): void {
    this.o.log(level, msg);
  }

  /** Whether this server has any raft state: a configuration, or a log. */
  hasState(): boolean {
    return this.storage.lastIndex() > 0 || this.raw.raft.voters.length > 0;
  }

  // ---- inputs ----

  /**
   * The core counts time in ticks, and its lease and check-quorum are only as right as that count. A timer does
   * not catch up after the process was stopped (SIGSTOP, a VM freeze) or its event loop blocked: one late firing
   * would count as one tick however long the gap. So the ticks follow the monotonic clock: each firing ticks as
   * many times as tick intervals have passed (at least once), up to enough to lapse a lease and trigger
   * check-quorum, so a leader resumed after a pause no longer believes its lease (docs/raft-notes.md §1.7).
   */
  private tick(): void {
    if (this.stopped) return;
    this.tickDue(1);
    if (this.raw.raft.role === "leader") this.promoteCaughtUpLearners();
    this.kick();
  }

  /** Ticks the core for the intervals passed since the last tick, at least `atLeast` times. */
  private tickDue(atLeast: 0 | 1): void {
    const now = this.clock.monotonicMs();
    const passed = Math.floor((now - this.tickedAt) / this.o.tickMs);
    const ticks = Math.min(Math.max(atLeast, passed), TICKS_CATCH_UP_MAX(this.o.electionTicks));
    if (ticks === 0) return;
    // Behind by more than the catch-up bound: start counting afresh from now.
    this.tickedAt = passed > ticks ? now : this.tickedAt + ticks * this.o.tickMs;
    for (let i = 0; i < ticks; i++) this.raw.tick();
  }

  private receive(m: Message): void {
    if (this.stopped) return;
    const now = this.clock.now();
    this.lastHeardMs.set(m.from, now);
    if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") this.lastLeaderContactMs = now;
    try {
      this.raw.step(m);
    } catch (e) {
      this.fail(e);
      return;
    }
    this.kick();
  }

  /** Runs the Ready loop soon; coalesces many inputs into one batch (group commit). */
  kick(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.clock.defer(() => void this.pump());
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && this.raw.hasReady()) await this.handle(this.raw.ready());
      } while (this.again && !this.stopped);
    } catch (e) {
      this.fail(e);
    } finally {
      this.pumping = false;
    }
  }

  /** A failed fsync or a broken invariant: the server must stop rather than go on with unknown durable state. */
  private fail(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.failure = err;
    this.o.log("error", `raft server stopping: ${err.message}`);
    void this.stop();
  }

  private async handle(rd: Ready): Promise<void> {
    const isLeader = this.raw.raft.role === "leader";
    const early = isLeader ? rd.messages.filter((m) => m.type === "app" || m.type === "heartbeat") : [];
    for (const m of early) this.o.transport.send(m.to, m);
    try {
      await this.persist(rd);
    } catch (e) {
      if (!(e instanceof SnapshotGoneError)) throw e;
      this.dropSnapshot(e);
      return;
    }
    for (const m of rd.messages) {
      if (early.includes(m)) continue;
      this.o.transport.send(m.to, m);
      if (m.type === "snap" && m.snapshot != null) this.snapshots.watchSend(m.to, m.snapshot);
    }
    if (rd.softState !== null) this.onSoftState();
    for (const e of rd.committed) await this.applier.apply(e);
    for (const rs of rd.readStates) this.reads.confirmed(rs.requestId, rs.index);
    this.raw.advance(rd);
    this.reads.releaseApplied(this.raw.raft.log.applied);
    this.snapshots.maybeSnapshot();
  }

  /**
   * Forgets a snapshot from the leader whose archive is gone (SnapshotGoneError): the core, which took it in,
   * is built again from the durable state, as a restart would, and this Ready is dropped unanswered. Nothing of
   * it was persisted or acknowledged, so this is a lost message to the leader, which sends a newer snapshot.
   */
  private dropSnapshot(e: SnapshotGoneError): void {
    this.raw = this.makeRaw(this.raw.raft.log.applied);
    this.o.log("warn", `${e.message}: dropped; waiting for a newer one`);
  }

  private async persist(rd: Ready): Promise<void> {
    const started = this.clock.monotonicMs();
    if (rd.snapshot !== null) await this.applier.installSnapshot(rd.snapshot);
    await this.snapshots.compactIfDue();
    await this.applier.ensureRestoreData(rd.entries);
    if (rd.entries.length > 0) await this.o.wal.append(rd.entries);
    const hs = rd.hardState;
    const voteChanged = hs !== null && (hs.term !== this.savedHard.term || hs.vote !== this.savedHard.vote);
    if (rd.entries.length > 0) await this.o.wal.sync();
    // Term and vote must be durable before any vote or append answer leaves; the commit index is an
    // optimization (a restart relearns it), so it is written only along with them, and before a membership
    // change applies: a restart applies the committed conf entries up to the saved commit again, and a server
    // back with a configuration several changes old could win an election with a quorum of it that misses
    // the current one's (the simulator's admin caught it overwriting a committed entry: admin.test.ts).
    const confCommitted = rd.committed.findLast((e) => e.kind === "conf");
    const confSaved = confCommitted !== undefined && confCommitted.index > this.savedHard.commit;
    if (voteChanged || confSaved) {
      const save = hs ?? { ...this.savedHard, commit: confCommitted!.index };
      await this.o.stable.save(save);
      this.savedHard = save;
    }
    if (rd.entries.length > 0 || voteChanged || confSaved)
      this.o.metrics.fsyncSeconds.observe((this.clock.monotonicMs() - started) / 1000);
    this.storage.append(rd.entries);
    if (hs !== null) {
      this.storage.setHardState(hs);
      this.o.metrics.commitIndex.set(hs.commit);
    }
  }

  // ---- membership ----

  /** The membership as an archive's meta.json carries it (hashicorp's Suffrage: 0 voter, 1 non-voter). */
  archiveConfiguration(): ArchiveConfiguration {
    return this.snapshots.archiveConfiguration();
  }

  learnPeer(r: ServerRecord): void {
    if (r.raftId === this.self.raftId) return;
    const known = this.peers.get(r.raftId);
    if (known?.addr === r.addr) return;
    this.peers.set(r.raftId, r);
    this.o.transport.setPeer(r.raftId, r.addr);
  }

  private onSoftState(): void {
    const st = this.raw.raft;
    this.o.metrics.isLeader.set(st.role === "leader" ? 1 : 0);
    this.o.metrics.term.set(st.term);
    if (st.leader !== NONE) this.leaderWakeups.wakeAll();
    if (st.role !== "leader") this.lastLeaderContactMs = this.clock.now();
    for (const l of this.leadershipListeners) l(st.role === "leader");
    this.o.log(
      "info",
      `raft: ${st.role} in term ${st.term}, leader ${this.peers.get(st.leader)?.name ?? "none"}`,
    );
  }

  // ---- proposals ----

  /** Appends a command through Raft on this server, which must lead; resolves with its apply result. */
  proposeLocal(data: Uint8Array): Promise<ProposalResult> {
    return this.awaitApply(this.raw.propose(data), "write", this.o.holdTimeoutMs);
  }

  /** Proposes a user restore of the blob `handle` (already durable here); resolves once applied. */
  proposeRestoreLocal(handle: string, archiveIndex: number): Promise<ProposalResult> {
    const index = this.raw.proposeRestore(encodeRestoreHandle({ handle, archiveIndex }));
    return this.awaitApply(index, "restore", RESTORE_APPLY_MS_MAX);
  }

  /** The apply result of the entry just proposed at `index` in this term (the Applier settles it). */
  private awaitApply(index: number, what: string, timeoutMs: number): Promise<ProposalResult> {
    const term = this.raw.raft.term;
    this.kick();
    return this.proposals.wait(index, term, what, timeoutMs);
  }

  proposeConfChange(cc: ConfChange): void {
    this.raw.proposeConfChange(cc);
    this.kick();
  }

  /**
   * The leader promotes a learner once it holds nearly the whole log (docs/ARCHITECTURE.md: join as non-voter
   * first).
   */
  private promoteCaughtUpLearners(): void {
    const r = this.raw.raft;
    if (r.pendingConfIndex > r.log.applied) return;
    for (const id of r.learners) {
      const match = r.prs.get(id)?.match ?? 0;
      if (match + 10 < r.log.lastIndex()) continue;
      try {
        this.proposeConfChange({ type: "addVoter", node: id });
      } catch {
        // Another change got in first; try again on a later tick.
      }
      return;
    }
  }

  /** Waits (bounded by the hold timeout) until some server leads; rejects with "No cluster leader". */
  async waitForLeader(): Promise<NodeId> {
    const deadline = this.clock.monotonicMs() + this.o.holdTimeoutMs;
    while (!this.stopped) {
      const leader = this.raw.raft.leader;
      if (leader !== NONE) return leader;
      const left = deadline - this.clock.monotonicMs();
      if (left <= 0) break;
      await this.leaderWakeups.sleep(Math.min(left, 100));
    }
    throw new NotLeaderError(NONE);
  }

  // ---- reads ----

  /**
   * Confirms leadership with a quorum round (ReadIndex; with `lease`, the leader's lease may answer at once)
   * and waits until this server has applied the read index, so a local read is linearizable.
   */
  async readBarrier(lease: boolean): Promise<void> {
    await this.waitForLeader();
    // A read that arrives before the tick timer of a resumed process fires must not see a stale lease.
    if (lease && !this.stopped) this.tickDue(0);
    await this.reads.barrier(lease);
  }

  // ---- lifecycle ----

  get failed(): Error | null {
    return this.failure;
  }

  /** Hands leadership to another voter first when leading (graceful stop), then stops ticking. */
  async transferIfLeader(waitMs: number): Promise<void> {
    const r = this.raw.raft;
    if (r.role !== "leader" || r.voters.length < 2) return;
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of r.voters) {
      const m = r.prs.get(id)?.match ?? 0;
      if (id !== this.self.raftId && m > bestMatch) {
        best = id;
        bestMatch = m;
      }
    }
    if (best === NONE) return;
    this.raw.transferLeadership(best);
    this.kick();
    const deadline = this.clock.monotonicMs() + waitMs;
    while (this.raw.raft.role === "leader" && this.clock.monotonicMs() < deadline) await this.clock.sleep(20);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.ticker?.cancel();
    for (const l of this.leadershipListeners) l(false);
    const gone = new UnavailableError("server is shutting down");
    this.proposals.rejectAll(gone);
    this.reads.rejectAll(gone);
    while (this.pumping) await this.clock.sleep(5);
  }

  status() {
    return this.raw.status();
  }
}
