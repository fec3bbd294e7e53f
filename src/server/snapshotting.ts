import type { NodeId } from "../raft/index.js";
import { errorText } from "../util/errors.js";
import { saveSnapshot, toMeta } from "./fsm-snapshot.js";
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
 * The snapshot and compaction policy: a state-store snapshot every snapshotThreshold applied entries, taken
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

  /** Takes a state-store snapshot every snapshotThreshold applied entries, in the background. */
  maybeSnapshot(): void {
    const raft = this.server.raw().raft;
    const storage = this.server.storage();
    const index = raft.log.applied;
    if (this.saving || index - storage.snapshot().index < this.o.snapshotThreshold) return;
    const term = raft.log.term(index);
    if (term === undefined || index > storage.lastIndex()) return;
    this.saving = true;
    const conf = raft.confState();
    const members = [...conf.voters, ...conf.learners].flatMap((id) => this.server.peers.get(id) ?? []);
    const ref = { index, term, conf, indexOffset: this.server.indexOffset(), members };
    const pace = snapshotPace(() => this.o.kv.appliedIndex, this.o.clock);
    saveSnapshot(this.o.blobs, this.o.kv.snapshot(), ref, this.archiveConfiguration(), pace)
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

  /** A snapshot sent but never acknowledged (lost, or the follower failed): probe again after a while. */
  watchSend(to: NodeId, index: number): void {
    this.o.clock.setTimeout(
      () => {
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
