import type { CommandResult, KvCommand, KvEntry, LockDelayJson } from "../fsm/index.js";
import { decodeCommand, encodeCommand, leaderWrite } from "../fsm/index.js";
import { decodeConfChange } from "../raft/confchange.js";
import { RawNode } from "../raft/node.js";
import type { ConfState, Entry, Message, NodeId, Ready } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { CairnError } from "../util/errors.js";
import type { Rng } from "../util/rng.js";
import type { SimDisk } from "./disk.js";
import { type Applied, delayedAtApply, type Proposal } from "./locks.js";
import { SimMachine } from "./machine.js";
import type { SimOptions } from "./options.js";
import { touchesLocks } from "./proposer.js";
import { LeaderTimers } from "./ttl.js";

/** A write's answer: the store's result, the proposer's lock-delay refusal, or "lost" (entry overwritten). */
export type WriteAnswer =
  | { readonly kind: "result"; readonly result: CommandResult }
  | { readonly kind: "delayed" }
  | "lost";

export type { Applied, Proposal };

/** What the node tells the world: messages to send, client answers, and facts for the checkers. */
export interface NodeHost {
  now(): number;
  sendMessage(from: NodeId, m: Message, snapshotData: Uint8Array | null): void;
  scheduleFsync(node: NodeId, gen: number, delayUs: number): void;
  /** A write finished on this node: the result, or "lost" when its entry was overwritten (never applied). */
  writeDone(opId: number, answer: WriteAnswer): void;
  readDone(opId: number, entry: KvEntry | null): void;
  /** The server's wall clock in ms (the leader's time in commands). */
  wallMs(node: NodeId): number;
  onProposed(node: SimNode, index: number, term: number, p: Proposal): void;
  onReady(node: SimNode, rd: Ready): void;
  onDurable(node: SimNode, entries: readonly Entry[]): void;
  onApplied(node: SimNode, entry: Entry, applied: Applied | null): void;
  onSnapshotInstalled(node: SimNode, index: number): void;
  /** A snapshot chosen for a follower was compacted away before it could be sent. */
  onSnapshotGone(): void;
  onSnapshotSaved(node: SimNode, index: number, data: Uint8Array): void;
  blob(handle: string): Uint8Array;
  trace(line: string): void;
}

interface PendingWrite {
  readonly opId: number;
  readonly term: number;
}

/**
 * The simulator's driver for one server: the same loop a real server runs (docs/raft-notes.md §6), over a
 * simulated disk.
 * Per Ready: persist (an fsync that takes virtual time) → send → apply → advance.
 */
export class SimNode {
  readonly id: NodeId;
  /** Bumped by each restart, so events for an earlier life are dropped. */
  readonly gen: number;
  readonly raw: RawNode;
  readonly kv = new SimMachine();
  private readonly timers = new LeaderTimers();
  readonly disk: SimDisk;
  conf: ConfState;
  private readonly host: NodeHost;
  private readonly opts: SimOptions;
  private readonly rng: Rng;
  private persisting: Ready | null = null;
  private readonly writes = new Map<number, PendingWrite>();
  private readonly reads = new Map<number, { opId: number; key: string }>();
  private readsReady: { index: number; requestId: number }[] = [];
  /** Incoming snapshot data by handle, delivered beside the snap message. */
  private readonly incoming = new Map<string, Uint8Array>();
  private nextRequestId = 1;
  private snapshotSeq = 0;

  constructor(id: NodeId, gen: number, disk: SimDisk, host: NodeHost, opts: SimOptions, rng: Rng) {
    this.id = id;
    this.gen = gen;
    this.disk = disk;
    this.host = host;
    this.opts = opts;
    this.rng = rng;
    const snap = disk.storage.snapshot();
    if (snap.index > 0) {
      const data = disk.blobs.get(snap.handle);
      assert(data !== undefined, `snapshot ${snap.handle} must be on disk with its data`);
      this.kv.restore(data, snap.index, this.snapshotLock(snap.handle));
    }
    this.conf = snap.conf;
    this.raw = new RawNode({
      id,
      storage: disk.storage,
      rng,
      electionTicks: opts.electionTicks,
      heartbeatTicks: 1,
      applied: snap.index,
      preVote: opts.preVote,
      checkQuorum: opts.checkQuorum,
      appendBytesMax: opts.appendBytesMax,
      inflightMsgsMax: opts.inflightMsgsMax,
      uncommittedEntriesMax: 2000,
      readsPendingMax: 1000,
      bugs: opts.bugs,
    });
  }

  tick(): void {
    this.raw.tick();
    this.expireSessions();
    this.pump();
  }

  /** The leader's TTL timers (src/server/sessions.ts): propose an invalidation for each session past 2×TTL. */
  private expireSessions(): void {
    const leader = this.raw.raft.role === "leader";
    this.timers.leadership(leader, this.raw.raft.term);
    if (!leader) return;
    const now = this.host.wallMs(this.id);
    for (const id of this.timers.due(
      [...this.kv.kv.sessions.entries()].map(([, s]) => s),
      now,
    )) {
      this.host.trace(`n${this.id} invalidates expired session ${id}`);
      if (!this.proposeCommand(-1, { op: "session-invalidate", id, time: now })) this.timers.failed(id, now);
    }
  }

  receive(m: Message, snapshotData: Uint8Array | null): void {
    if (m.snapshot !== null && snapshotData !== null) this.incoming.set(m.snapshot.handle, snapshotData);
    this.raw.step(m);
    this.pump();
  }

  /**
   * A client write, handled by the leader's rule the server uses (fsm/leader-write.ts): stamp the leader's clock into timed
   * commands, judge lock-delay before the write (an acquire in lock-delay answers false without a proposal),
   * and let the committed acquire pass every replica's lock-delays alike. Returns false when this server cannot
   * take it (not the leader, or backpressure).
   */
  propose(opId: number, cmd: KvCommand): boolean {
    if (this.raw.raft.role !== "leader") return false;
    const now = this.host.wallMs(this.id);
    const w = leaderWrite(this.kv.kv, cmd, now, this.opts.proposerBugs);
    if ("refused" in w) {
      this.host.writeDone(opId, { kind: "delayed" });
      return true;
    }
    return this.proposeCommand(opId, w.propose);
  }

  private proposeCommand(opId: number, cmd: KvCommand): boolean {
    if (this.raw.raft.role !== "leader") return false;
    const timeMs = this.host.wallMs(this.id);
    try {
      const index = this.raw.propose(encodeCommand(cmd));
      this.writes.set(index, { opId, term: this.raw.raft.term });
      const p: Proposal = { node: this.id, timeMs };
      this.host.onProposed(this, index, this.raw.raft.term, p);
    } catch (e) {
      if (e instanceof CairnError) return false;
      throw e;
    }
    this.pump();
    return true;
  }

  proposeRestore(opId: number, handle: string): boolean {
    try {
      const index = this.raw.proposeRestore(handle);
      this.writes.set(index, { opId, term: this.raw.raft.term });
    } catch (e) {
      if (e instanceof CairnError) return false;
      throw e;
    }
    this.pump();
    return true;
  }

  /** A linearizable read through ReadIndex; answered by readDone once applied reaches the read index. */
  read(opId: number, key: string): boolean {
    const requestId = this.nextRequestId++;
    try {
      // Half the reads use the leader lease when check-quorum makes it valid, so its safety under clock skew
      // and message delay is checked by linearizability like the ReadIndex path.
      this.raw.readIndex(requestId, this.opts.checkQuorum && this.rng.chance(0.5));
    } catch (e) {
      if (e instanceof CairnError) return false;
      throw e;
    }
    this.reads.set(requestId, { opId, key });
    this.pump();
    return true;
  }

  /** Handles Ready batches until none is left or one waits for its fsync. */
  pump(): void {
    while (this.persisting === null && this.raw.hasReady()) {
      const rd = this.raw.ready();
      this.host.onReady(this, rd);
      if (rd.entries.length > 0 || rd.hardState !== null || rd.snapshot !== null) {
        this.beginPersist(rd);
        return;
      }
      this.finish(rd);
    }
  }

  private beginPersist(rd: Ready): void {
    let snapshotData: Uint8Array | null = null;
    if (rd.snapshot !== null) {
      snapshotData = this.incoming.get(rd.snapshot.handle) ?? null;
      assert(snapshotData !== null, `snapshot ${rd.snapshot.handle} arrived without its data`);
    }
    const blobs = new Map<string, Uint8Array>();
    for (const e of rd.entries) {
      if (e.kind === "restore") {
        const handle = new TextDecoder().decode(e.data);
        blobs.set(handle, this.host.blob(handle));
      }
    }
    this.disk.begin({
      snapshot: rd.snapshot,
      snapshotData,
      entries: rd.entries,
      hardState: rd.hardState,
      blobs,
    });
    this.persisting = rd;
    this.host.scheduleFsync(this.id, this.gen, this.rng.int(this.opts.fsyncMinUs, this.opts.fsyncMaxUs + 1));
  }

  fsyncDone(): void {
    const rd = this.persisting;
    if (rd === null) return;
    this.disk.complete();
    this.host.onDurable(this, rd.entries);
    this.persisting = null;
    this.finish(rd);
    this.pump();
  }

  private finish(rd: Ready): void {
    for (const m of rd.messages) {
      if (m.type !== "snap" || m.snapshot === null) {
        this.host.sendMessage(this.id, m, null);
        continue;
      }
      // The snapshot may have been replaced by a newer one since the core chose it: report the send failed.
      const data = this.disk.blobs.get(m.snapshot.handle);
      if (data === undefined) {
        this.raw.reportSnapshot(m.to, false);
        this.host.onSnapshotGone();
      } else this.host.sendMessage(this.id, m, data);
    }
    if (rd.snapshot !== null) this.installSnapshot(rd);
    for (const e of rd.committed) this.apply(e);
    for (const rs of rd.readStates) this.readsReady.push(rs);
    this.raw.advance(rd);
    this.serveReads();
    this.maybeCompact();
  }

  private installSnapshot(rd: Ready): void {
    const snap = rd.snapshot!;
    this.kv.restore(this.disk.blobs.get(snap.handle)!, snap.index, this.snapshotLock(snap.handle));
    this.conf = snap.conf;
    this.incoming.delete(snap.handle);
    for (const index of [...this.writes.keys()]) if (index <= snap.index) this.settleUnknown(index);
    this.host.onSnapshotInstalled(this, snap.index);
  }

  /** The lock-delay state a snapshot's handle carries (see snapshotHandle); none in the broken variant. */
  private snapshotLock(handle: string): LockDelayJson | null {
    if (this.opts.proposerBugs.dropLockDelays) return null;
    return (JSON.parse(handle) as { lock: LockDelayJson }).lock;
  }

  /** A write whose entry we never saw applied here (skipped by a snapshot): its client times out. */
  private settleUnknown(index: number): void {
    this.writes.delete(index);
  }

  private apply(e: Entry): void {
    if (e.index <= this.kv.applied) return;
    let applied: Applied | null = null;
    if (e.kind === "conf") {
      this.conf = this.raw.applyConfChange(decodeConfChange(e.data));
      this.kv.skip(e.index);
      this.host.trace(`n${this.id} applies conf ${new TextDecoder().decode(e.data)} at ${e.index}`);
    } else if (e.kind === "restore") {
      const handle = new TextDecoder().decode(e.data);
      const blob = this.disk.blobs.get(handle);
      assert(blob !== undefined, `restore blob ${handle} must be durable before its entry`);
      this.kv.restore(blob, e.index, null);
    } else if (e.data.length === 0) {
      this.kv.skip(e.index);
    } else {
      applied = this.execute(e);
    }
    this.host.onApplied(this, e, applied);
    const w = this.writes.get(e.index);
    if (w === undefined) return;
    this.writes.delete(e.index);
    if (w.term !== e.term) {
      this.host.writeDone(w.opId, "lost");
      return;
    }
    const result: CommandResult = applied?.result ?? true;
    // As the server's writeHere: a renew the leader committed restarts the session's TTL period.
    if (
      applied?.cmd.op === "session-renew" &&
      result !== null &&
      typeof result === "object" &&
      "ID" in result
    ) {
      this.timers.renewed(result, this.host.wallMs(this.id));
    }
    // The server answers this acquire false as any other; the client's history must leave it out, as a refusal
    // by the leader's own check (it changes nothing and says nothing of the holder).
    this.host.writeDone(w.opId, delayedAtApply(applied) ? { kind: "delayed" } : { kind: "result", result });
  }

  private execute(e: Entry): Applied {
    // The checkers compare lock state before and after; an O(1) copy-on-write view, taken only when needed.
    const cmd = decodeCommand(e.data);
    const before = touchesLocks(cmd) ? this.kv.view() : null;
    const { result } = this.kv.execute(e.index, cmd);
    return { cmd, result, before };
  }

  private serveReads(): void {
    const still: { index: number; requestId: number }[] = [];
    for (const rs of this.readsReady) {
      if (rs.index > this.kv.applied) {
        still.push(rs);
        continue;
      }
      const r = this.reads.get(rs.requestId);
      if (r === undefined) continue;
      this.reads.delete(rs.requestId);
      this.host.readDone(r.opId, this.kv.get(r.key));
    }
    this.readsReady = still;
  }

  /** Compacts the log behind a state machine snapshot every `snapshotEvery` applied entries. */
  private maybeCompact(): void {
    const applied = this.kv.applied;
    const last = this.disk.storage.snapshot().index;
    if (applied - last < this.opts.snapshotEvery || applied > this.disk.storage.lastIndex()) return;
    const handle = snapshotHandle(`snap-${this.id}-${this.gen}-${++this.snapshotSeq}`, this.kv.lockJson());
    const data = this.kv.snapshot();
    this.host.onSnapshotSaved(this, applied, data);
    this.disk.saveSnapshot(applied, this.conf, data, handle);
  }
}

/**
 * A snapshot's handle carries its lock-delay state beside state.bin, as the server's (fsm-snapshot.ts: the
 * sidecar's JSON is the InstallSnapshot handle): the name keeps handles unique.
 */
function snapshotHandle(name: string, lock: LockDelayJson): string {
  return JSON.stringify({ name, lock });
}
