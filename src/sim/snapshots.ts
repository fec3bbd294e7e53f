import type { NodeId } from "../raft/types.js";
import { SeededRng } from "../util/rng.js";
import type { Coverage } from "./coverage.js";
import type { SimOptions } from "./options.js";
import type { BlobObserver } from "./sim-blobs.js";
import { simBlobDisk } from "./sim-blobs.js";
import type { SimDurableDisk } from "./sim-storage.js";

/**
 * Entries a server keeps behind its snapshot, drawn per seed: none, or a few, so that a follower a little
 * behind (crashed, cut off, its messages lost) already needs the leader's snapshot; or enough for most of
 * them to catch up by appends.
 */
const TRAILING_ENTRIES = [0, 2, 10, 10, 50] as const;

/**
 * The snapshot policy for a seed: a snapshot every `snapshotEvery` applied entries, and the trailing entries drawn from a stream of their own, so every other drawn option of
 * every seed stays as it was.
 */
export function snapshotPolicy(o: SimOptions): { snapshotThreshold: number; trailingEntries: number } {
  const rng = new SeededRng(o.seed ^ 0x7a11);
  return {
    snapshotThreshold: o.snapshotEvery,
    trailingEntries: TRAILING_ENTRIES[rng.int(0, TRAILING_ENTRIES.length)]!,
  };
}

/** Counts, from a server's blob store, the snapshot sends that lost the race with the leader's prune. */
export function blobCoverage(c: Coverage): BlobObserver {
  return {
    goneAsked: (handle) => {
      if (handle.startsWith("snap-")) c.snapshotSendsCompacted++;
    },
  };
}

/** The line the driver logs once a snapshot from the leader is installed (applier.ts installSnapshot). */
const INSTALLED = /^installed snapshot at index \d+ from the leader$/;

/** Counts a server's log line that says it installed a snapshot from the leader. */
export function countServerLog(c: Coverage, msg: string): void {
  if (INSTALLED.test(msg)) c.snapshotsInstalled++;
}

/**
 * Puts a ready-made restore blob (a verified state.bin, as a restore entry names it) durably into server `id`'s
 * blob store, running or not, as an operator's restore has the receiving server keep it before any entry
 * names it: for the world's user restores (propose the entry with the handle once it is there).
 */
export function putRestoreBlob(
  world: { readonly disks: ReadonlyMap<NodeId, SimDurableDisk> },
  id: NodeId,
  handle: string,
  stateBin: Uint8Array,
): void {
  const disk = world.disks.get(id);
  if (disk === undefined) throw new Error(`n${id} has no disk`);
  simBlobDisk(disk).put(handle, stateBin);
}
