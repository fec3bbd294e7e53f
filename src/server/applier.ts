import { decodeCommand } from "../fsm/index.js";
import { type ConfChange, decodeConfChange, type Entry, NONE, type SnapshotMeta } from "../raft/index.js";
import { CairnError, errorText } from "../util/errors.js";
import { adoptSnapshotRef, fromMeta, installRestoreBlob, loadSnapshot } from "./fsm-snapshot.js";
import { decodeMemberContext } from "./members.js";
import type { PendingProposals, ProposalResult } from "./proposals.js";
import { int, object, str } from "./rpc.js";
import type { RaftServerOptions, ServerHandle } from "./server-parts.js";

type ApplierOptions = Pick<RaftServerOptions, "self" | "kv" | "blobs" | "wal" | "metrics" | "log" | "clock">;

/**
 * Turns committed entries into state, in log order: commands into the state store, user restores into a
 * whole new state, configuration changes into the core's membership; and a leader's snapshot into the state
 * in place of the entries it covers. Each entry settles the proposal this server made for it.
 */
export class Applier {
  /**
   * The state store's index is the raft index plus this offset. A restored archive may carry indexes above the
   * raft log's; the offset moves the store's index past them so X-Consul-Index never goes backwards for
   * blocking queries. Deterministic: every server computes it from the restore entry alone.
   */
  private offset: number;

  constructor(
    private readonly o: ApplierOptions,
    private readonly server: Pick<ServerHandle, "raw" | "storage" | "stopped" | "learnPeer">,
    private readonly proposals: PendingProposals,
    indexOffset: number,
  ) {
    this.offset = indexOffset;
  }

  get indexOffset(): number {
    return this.offset;
  }

  async apply(e: Entry): Promise<void> {
    const started = this.o.clock.monotonicMs();
    let result: ProposalResult = true;
    if (e.kind === "conf") this.applyConf(decodeConfChange(e.data));
    else if (e.kind === "restore") await this.applyRestore(e);
    else if (e.data.length > 0) {
      try {
        result = this.o.kv.execute(e.index + this.offset, decodeCommand(e.data));
      } catch (err) {
        // A command that decodes but cannot apply is refused by every replica alike (deterministic).
        if (err instanceof CairnError) result = err;
        else throw err;
      }
    }
    this.o.metrics.applySeconds.observe((this.o.clock.monotonicMs() - started) / 1000);
    this.o.metrics.appliedIndex.set(e.index);
    this.proposals.applied(e, result);
  }

  /** Replaces the whole state with the restored archive's, and moves the index past both logs. */
  private async applyRestore(e: Entry): Promise<void> {
    const r = decodeRestore(e.data);
    await installRestoreBlob(this.o.blobs, this.o.kv, r.handle);
    const restoredIndex = Math.max(e.index + this.offset, r.archiveIndex + 1);
    this.offset = restoredIndex - e.index;
    this.o.log(
      "info",
      `restored snapshot ${r.handle} (archive index ${r.archiveIndex}) at raft index ${e.index}`,
    );
  }

  private applyConf(cc: ConfChange): void {
    const record = decodeMemberContext(cc.node, cc.context);
    if (record !== null && cc.type !== "remove") this.server.learnPeer(record);
    this.server.raw().applyConfChange(cc);
    this.o.log("info", `membership: ${cc.type} ${record?.name ?? cc.node}`);
  }

  /**
   * A snapshot from the leader: fetch its archive (data moves beside raft, docs/ARCHITECTURE.md), verify and
   * install it in the state store, then make the log start after it. Everything here happens before the
   * acknowledgement.
   */
  async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const ref = fromMeta(meta);
    try {
      await this.ensureBlob(ref.handle);
    } catch (e) {
      if (this.server.stopped()) throw e;
      throw new SnapshotGoneError(ref.handle, e);
    }
    await loadSnapshot(this.o.blobs, this.o.kv, ref);
    this.offset = ref.indexOffset;
    for (const m of ref.members ?? []) this.server.learnPeer(m);
    await adoptSnapshotRef(this.o.blobs, ref);
    if (ref.index > this.o.wal.boundary().index) await this.o.wal.resetToSnapshot(ref.index, ref.term);
    this.server.storage().applySnapshot(meta);
    this.o.log("info", `installed snapshot at index ${ref.index} from the leader`);
  }

  /** A restore entry may be persisted (and so acknowledged) only once its data is durable here. */
  async ensureRestoreData(entries: readonly Entry[]): Promise<void> {
    for (const e of entries) if (e.kind === "restore") await this.ensureBlob(decodeRestore(e.data).handle);
  }

  /** Fetches the blob `handle` from the other members unless this server has it already. */
  private async ensureBlob(handle: string): Promise<void> {
    const blobs = this.o.blobs;
    for (let attempt = 0; !(await blobs.has(handle)); attempt++) {
      const r = this.server.raw().raft;
      const order = [r.leader, ...r.voters, ...r.learners].filter(
        (id) => id !== NONE && id !== this.o.self.raftId,
      );
      try {
        await blobs.fetch(handle, [...new Set(order)]);
      } catch (err) {
        if (this.server.stopped() || attempt >= 50) throw err;
        this.o.log("warn", `fetching restore data ${handle}: ${errorText(err)}`);
        await this.o.clock.sleep(200);
      }
    }
  }
}

/**
 * The archive of a snapshot from the leader could not be fetched from any server (each may have pruned it
 * since: a fetch that stalled past two newer snapshots). Nothing of it was installed; the server drops the
 * snapshot, as if its message had been lost, and the leader sends a newer one.
 */
export class SnapshotGoneError extends Error {
  override name = "SnapshotGoneError";
  constructor(handle: string, cause: unknown) {
    super(`no server has the archive of snapshot ${handle} any more`, { cause });
  }
}

interface RestoreRef {
  readonly handle: string;
  /** The archive's own index (meta.json Index). */
  readonly archiveIndex: number;
}

/** A restore entry carries its blob handle and the archive's index, as JSON: rare, small, readable. */
export function encodeRestoreHandle(r: RestoreRef): string {
  return JSON.stringify(r);
}

const restoreRef = object({ handle: str, archiveIndex: int });

function decodeRestore(data: Uint8Array): RestoreRef {
  return restoreRef(JSON.parse(new TextDecoder().decode(data)), "restore entry");
}
