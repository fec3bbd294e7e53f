import { MemoryStorage } from "../raft/storage.js";
import type { ConfState, Entry, HardState, SnapshotMeta } from "../raft/types.js";
import type { Rng } from "../util/rng.js";

/** A write handed to the disk and not yet fsynced: lost, or torn, if the server crashes first. */
interface PendingWrite {
  readonly snapshot: SnapshotMeta | null;
  readonly snapshotData: Uint8Array | null;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | null;
  /** Blobs of restore entries, written with them. */
  readonly blobs: ReadonlyMap<string, Uint8Array>;
}

/**
 * A server's simulated disk. `storage` holds only what is durable, and survives crashes; the pending write is
 * what a crash may lose. Order within a write follows a real WAL: snapshot, then entries, then hard state, so a
 * torn write may keep a prefix of the entries but never a hard state ahead of them.
 */
export class SimDisk {
  readonly storage = new MemoryStorage();
  /** Snapshot data and restore blobs by handle. */
  readonly blobs = new Map<string, Uint8Array>();
  private pending: PendingWrite | null = null;

  constructor(bootstrap: ConfState | null) {
    if (bootstrap !== null) this.storage.bootstrap(bootstrap);
  }

  begin(write: PendingWrite): void {
    this.pending = write;
  }

  /** fsync finished: the pending write is durable. */
  complete(): void {
    const w = this.pending;
    if (w === null) return;
    this.pending = null;
    this.applyWrite(w, w.entries.length, true);
  }

  private applyWrite(w: PendingWrite, entryCount: number, withHardState: boolean): void {
    for (const [h, d] of w.blobs) this.blobs.set(h, d);
    if (w.snapshot !== null && w.snapshotData !== null) {
      this.blobs.set(w.snapshot.handle, w.snapshotData);
      this.storage.applySnapshot(w.snapshot);
    }
    this.storage.append(w.entries.slice(0, entryCount));
    if (withHardState && w.hardState !== null) this.storage.setHardState(w.hardState);
  }

  /** The server crashed: the pending write is lost, or (torn) a prefix of its entries reached the platter. */
  crash(rng: Rng, tornWriteRate: number): void {
    const w = this.pending;
    this.pending = null;
    if (w === null || !rng.chance(tornWriteRate)) return;
    if (w.snapshot !== null && rng.chance(0.5)) return;
    this.applyWrite(w, rng.int(0, w.entries.length + 1), false);
  }

  /** Saves a state machine snapshot (written atomically, as storage/ does) and compacts the log behind it. */
  saveSnapshot(index: number, conf: ConfState, data: Uint8Array, handle: string): void {
    this.blobs.set(handle, data);
    const old = this.storage.snapshot().handle;
    this.storage.createSnapshot(index, conf, handle);
    // Keep the newest snapshot and restore blobs; older snapshot data is garbage (a storage snapshot's handle is
    // never a restore blob's).
    if (old !== "" && old !== handle) this.blobs.delete(old);
  }
}
