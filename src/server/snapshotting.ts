import type { NodeId, SnapshotMeta } from "../raft/index.js";
import { errorText } from "../util/errors.js";
import { fromMeta, saveSnapshot, toMeta } from "./fsm-snapshot.js";
import { snapshotPace } from "./pace.js";
import type { RaftServerOptions, ServerHandle } from "./server-parts.js";

type SnapshotOptions = Pick<
  RaftServerOptions,
  "kv" | "blobs" | "wal" | "log" | "snapshotThreshold" | "trailingEntries" | "clock"
>;

/** The membership as an archive's meta.json carries it (hashicorp's Suffrage: 0 voter, 1 non-voter). */
export interface ArchiveConfiguration {
  Servers: { Suffrage: 0 | 1; ID: string; Address: string }[];
}

/**
 * Records of state per log entry a snapshot may wait for: a snapshot is due once the log since the last one
 * holds max(snapshotThreshold, records / RECORDS_PER_ENTRY) entries. A snapshot encodes every record, so a
 * fixed threshold makes each write pay for a share of the snapshot that grows with the state (at 1 M keys and
 * 16384 entries, ~60 records encoded per write, the larger part of a write's cost); this bound keeps the share
 * at RECORDS_PER_ENTRY whatever the size, while the log held since the last snapshot (in memory and in the WAL)
 * stays at about 1/RECORDS_PER_ENTRY of the state. Consul's raft_snapshot_threshold is a floor in the same sense:
 * its servers also wait for raft_snapshot_interval.
 */
export const RECORDS_PER_ENTRY = 8;

/** Entries to apply after a snapshot before the next one is due, for a state of `records` records. */
export function snapshotSpacing(threshold: number, records: number): number {
  return Math.max(threshold, Math.ceil(records / RECORDS_PER_ENTRY));
}

/**
 * The snapshot and compaction policy: a state-store snapshot every snapshotSpacing applied entries, taken
 * in the background while writes go on; the WAL compacted behind it (keeping trailingEntries) from within the
 * Ready loop; and a snapshot sent to a follower probed again when it is never acknowledged.
 */
export class Snapshotter {
  private saving = false;
  /** WAL compaction to run in the Ready loop (the WAL is not re-entrant). */
  private pendingCompact = 0;

  constructor(
    private readonly o: SnapshotOptions,
    private readonly server: Pick<
      ServerHandle,
      "raw" | "storage" | "stopped" | "kick" | "peers" | "indexOffset"
    >,
  ) {}

  /** Takes a state-store snapshot every snapshotSpacing applied entries, in the background. */
  maybeSnapshot(): void {
    const raft = this.server.raw().raft;
    const storage = this.server.storage();
    const index = raft.log.applied;
    const spacing = snapshotSpacing(this.o.snapshotThreshold, this.o.kv.recordCount);
    if (this.saving || index - storage.snapshot().index < spacing) return;
    const term = raft.log.term(index);
    if (term === undefined || index > storage.lastIndex()) return;
    this.saving = true;
    const conf = raft.confState();
    const members = [...conf.voters, ...conf.learners].flatMap((id) => this.server.peers.get(id) ?? []);
    const ref = { index, term, conf, indexOffset: this.server.indexOffset(), members };
    const pace = snapshotPace(() => this.o.kv.appliedIndex, this.o.clock);
    const now = this.o.clock.now();
    saveSnapshot(this.o.blobs, this.o.kv.snapshot(), ref, this.archiveConfiguration(), pace, now)
      .then((saved) => {
        const storage = this.server.storage();
        if (saved.index <= storage.snapshot().index) return;
        storage.createSnapshot(saved.index, saved.conf, toMeta(saved).handle, this.o.trailingEntries);
        this.pendingCompact = Math.max(0, saved.index - this.o.trailingEntries);
        this.o.log("debug", `snapshot at index ${saved.index}`);
      })
      .catch((e: unknown) => this.o.log("error", `snapshot failed: ${errorText(e)}`))
      .finally(() => {
        this.saving = false;
      });
  }

  /** Compacts the WAL behind the last snapshot taken, if that is still to do; only from the Ready loop. */
  async compactIfDue(): Promise<void> {
    if (this.pendingCompact <= 0) return;
    await this.o.wal.compact(Math.min(this.pendingCompact, this.o.wal.lastIndex()));
    this.pendingCompact = 0;
  }

  archiveConfiguration(): ArchiveConfiguration {
    const r = this.server.raw().raft;
    const peers = this.server.peers;
    const member = (id: NodeId, suffrage: 0 | 1) => ({
      Suffrage: suffrage,
      ID: peers.get(id)?.nodeId ?? String(id),
      Address: peers.get(id)?.addr ?? "",
    });
    return { Servers: [...r.voters.map((id) => member(id, 0)), ...r.learners.map((id) => member(id, 1))] };
  }

  /**
   * A snapshot sent: its archive is kept from pruning while the follower may fetch it; and if it is never
   * acknowledged (lost, or the follower failed), probe again after a while.
   */
  watchSend(to: NodeId, snap: SnapshotMeta): void {
    const index = snap.index;
    const handle = fromMeta(snap).handle;
    this.o.blobs.pin(handle);
    this.o.clock.setTimeout(
      () => {
        this.o.blobs.unpin(handle);
        const raw = this.server.raw();
        const pr = raw.raft.prs.get(to);
        if (this.server.stopped() || pr?.state !== "snapshot" || pr.pendingSnapshot !== index) return;
        raw.reportSnapshot(to, false);
        this.server.kick();
      },
      30_000,
      true,
    );
  }
}
