import {
  type KvSnapshot,
  type KvStore,
  type LockDelayJson,
  lockDelayJson,
  lockDelaysFromJson,
} from "../fsm/index.js";
import type { ConfState, SnapshotMeta } from "../raft/index.js";
import {
  type ArchiveMetaInput,
  archiveBytes,
  IN_MEMORY_BYTES_MAX,
  readArchiveBytes,
  readArchiveInto,
  readStateBinBatches,
  sizedStateBin,
  smallStateBin,
  writeArchive,
} from "../snapshot/index.js";
import { type BlobFiles, draftWritable } from "./blob-files.js";
import type { BlobStore } from "./blobs.js";
import { collectGarbage } from "./gc.js";
import { type ServerRecord, serverRecord } from "./members.js";
import { type PaceOptions, paced } from "./pace.js";
import { arrayOf, type Check, int, object, optional, str } from "./rpc.js";

/**
 * The server's own snapshots (docs/ARCHITECTURE.md: one snapshot format everywhere): each is a Consul archive in the blob
 * store (`snap-<term>-<index>`), beside a small JSON sidecar with what raft needs and Consul's meta lacks: the raft
 * index and term, the membership, and the offset between raft and state-store indexes. Any of them is itself a
 * restorable backup. The same files travel to lagging followers as InstallSnapshot data.
 */
export interface SnapshotRef {
  readonly handle: string;
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
  /** State-store index minus raft index at the snapshot. */
  readonly indexOffset: number;
  /**
   * Every member's record (id, name, address): the conf entries that carried them are compacted away, and a
   * restarted server must still know where its peers are.
   */
  readonly members: readonly ServerRecord[];
  /**
   * The store's lock-delay deadlines and clock at the snapshot (fsm/lock-delay.ts): replicated state that
   * Consul's state.bin has no record for, so it travels here, in the sidecar and the InstallSnapshot handle.
   * Absent in sidecars written before it: the store then starts with no delays.
   */
  readonly lockDelays?: LockDelayJson | undefined;
}

const KEEP = 2;

export function toMeta(r: SnapshotRef): SnapshotMeta {
  return { index: r.index, term: r.term, conf: r.conf, handle: JSON.stringify(r) };
}

/** A sidecar's or an InstallSnapshot handle's JSON, checked: it comes from disk or from another server. */
const snapshotRef: Check<SnapshotRef> = object({
  handle: str,
  index: int,
  term: int,
  conf: object({ voters: arrayOf(int), learners: arrayOf(int) }),
  indexOffset: int,
  members: arrayOf(serverRecord),
  lockDelays: optional(object({ clock: int, delays: arrayOf(object({ key: str, until: int })) })),
});

function parseRef(text: string): SnapshotRef {
  return snapshotRef(JSON.parse(text));
}

type RefsParsed = Map<string, { readonly text: string; readonly ref: SnapshotRef }>;

/**
 * The sidecars parsed so far, per blob store and handle, with the text each was parsed from: every save
 * lists (prune) them all, and a sidecar, written once, would be parsed again each time. Keyed by the text
 * read, not trusted by handle alone, so a sidecar rewritten (by anyone, or lost in a crash and written anew
 * after a restart) is parsed afresh; only the parse is saved, the read stays. Weak: a store let go takes its
 * entries with it.
 */
const refsParsed = new WeakMap<BlobFiles, RefsParsed>();

function refsParsedOf(files: BlobFiles): RefsParsed {
  let parsed = refsParsed.get(files);
  if (parsed === undefined) {
    parsed = new Map();
    refsParsed.set(files, parsed);
  }
  return parsed;
}

/**
 * Writes `ref` as its sidecar, and keeps it as what the text written parses to (the same check applied to
 * the object itself: what JSON.parse would give back for these plain values), so the listing after a save
 * does not parse the sidecar it just wrote.
 */
async function writeSidecar(files: BlobFiles, ref: SnapshotRef): Promise<void> {
  const text = JSON.stringify(ref);
  await files.writeRef(ref.handle, text);
  refsParsedOf(files).set(ref.handle, { text, ref: snapshotRef(ref) });
}

/** parseRef of sidecar `handle`'s `text`, from `parsed` when the text is unchanged. */
function parsedRef(parsed: RefsParsed, handle: string, text: string): SnapshotRef {
  const kept = parsed.get(handle);
  if (kept !== undefined && kept.text === text) return kept.ref;
  const ref = parseRef(text);
  parsed.set(handle, { text, ref });
  return ref;
}

export function fromMeta(m: SnapshotMeta): SnapshotRef {
  const r = parseRef(m.handle);
  return { ...r, index: m.index, term: m.term, conf: m.conf };
}

/**
 * Writes an archive of `view` (the store's O(1) point-in-time view taken at raft `index`) and its sidecar;
 * returns the ref. With `pace`, encoding yields to writes (pace.ts). `nowMs`: the wall clock's time, for the
 * archive's ID and mtime. Crash-safe: temp name, fsync, rename, fsync the directory; the sidecar last.
 */
export async function saveSnapshot(
  blobs: BlobStore,
  view: KvSnapshot,
  ref: Omit<SnapshotRef, "handle" | "lockDelays">,
  servers: ArchiveMetaInput["Configuration"],
  pace?: PaceOptions,
  nowMs: number = Date.now(),
): Promise<SnapshotRef> {
  const files = blobs.files;
  const handle = `snap-${ref.term}-${ref.index}`;
  const full: SnapshotRef = { ...ref, handle, lockDelays: lockDelayJson(view.lock) };
  const fsmIndex = ref.index + ref.indexOffset;
  const meta: ArchiveMetaInput = {
    ID: `${ref.term}-${fsmIndex}-${nowMs}`,
    Index: fsmIndex,
    Term: ref.term,
    Version: 1,
    ...(servers === undefined ? {} : { Configuration: servers }),
    ConfigurationIndex: fsmIndex,
  };
  const draft = await files.draft(handle, false);
  try {
    await files.work(async () => {
      // "auto" (stored, or level 1 for compressible state): internal snapshots are written often and read
      // rarely, and deflating incompressible values at any level costs ~7x storing them.
      const plan = view.stateBinPlan();
      const options = { gzipLevel: "auto", mtimeSec: Math.round(nowMs / 1000) } as const;
      // A small state (a small cluster, the simulator: saved every few entries) is archived in one buffer
      // and written in one append; the same bytes as streamed (archive-memory.ts).
      const small = smallStateBin(plan, IN_MEMORY_BYTES_MAX);
      if (small !== null) {
        await draft.append(archiveBytes(meta, small, options).bytes);
        return;
      }
      // Sized from the view, then streamed straight into the archive: nothing spooled (state-bin-plan.ts).
      await writeArchive(draftWritable(draft), meta, await sizedStateBin(plan), {
        ...options,
        ...(pace === undefined ? {} : { pace: (tar: AsyncIterable<Uint8Array>) => paced(tar, pace) }),
      });
    });
    await draft.commit();
    await writeSidecar(files, full);
  } catch (e) {
    await draft.discard();
    throw e;
  }
  await prune(blobs);
  return full;
}

/**
 * Keeps the newest KEEP snapshots (by raft index), and any a follower was just sent (pinned: its fetch may
 * outlast two newer snapshots), deleting older archives and sidecars.
 */
async function prune(blobs: BlobStore): Promise<void> {
  const refs = await listSnapshots(blobs);
  for (const r of refs.slice(KEEP)) if (!blobs.pinned(r.handle)) await blobs.files.remove(r.handle);
}

/** Complete snapshots (archive and sidecar both present), newest first. */
export async function listSnapshots(blobs: BlobStore): Promise<SnapshotRef[]> {
  const files = blobs.files;
  const parsed = refsParsedOf(files);
  const present = await files.list();
  const blobsPresent = new Set(present.blobs);
  const refs: SnapshotRef[] = [];
  for (const handle of present.refs) {
    if (!handle.startsWith("snap-") || !blobsPresent.has(handle)) continue;
    refs.push(parsedRef(parsed, handle, await files.readRef(handle)));
  }
  // Sidecars gone (pruned) leave the cache too: it holds no more than the store does.
  const listed = new Set(present.refs);
  for (const handle of parsed.keys()) if (!listed.has(handle)) parsed.delete(handle);
  return refs.sort((a, b) => b.index - a.index);
}

/**
 * A restore is followed by a full collection (collectGarbage) only when the state it replaced, or the one it
 * built, holds this many records: then the old state's memory and the restore's own garbage come back at
 * once. Below it a full collection costs more than the little it frees (a small cluster, or the simulator,
 * installs snapshots often).
 */
const COLLECT_RECORDS_MIN = 100_000;

/** What replaceAsync runs once the new state is in (call before the restore starts: it notes the old size). */
function afterSwap(kv: KvStore): () => void {
  const before = kv.recordCount;
  return () => {
    if (Math.max(before, kv.recordCount) >= COLLECT_RECORDS_MIN) collectGarbage();
  };
}

/**
 * An archive up to this size is read in memory (loadSnapshot); its tar may still be too large
 * (IN_MEMORY_TAR_BYTES_MAX: a very compressible state), and then it streams.
 */
const SMALL_ARCHIVE_BYTES_MAX = IN_MEMORY_BYTES_MAX;
/** Reads of an archive in the stream's usual 64 KiB chunks (gunzip takes them as they come). */
const ARCHIVE_CHUNK_BYTES = 64 * 1024;
/** Reads of spooled files in 1 MiB chunks: a few hundred awaits for a 340 MB state.bin, not thousands. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Verifies the archive of `ref` completely (its state.bin spooled beside it), then replaces the store's state
 * with it (built aside and swapped in at once, reads answering from the old state meanwhile: see
 * KvStore.replaceAsync; a failure is the caller's fatal error).
 */
export async function loadSnapshot(blobs: BlobStore, kv: KvStore, ref: SnapshotRef): Promise<void> {
  const files = blobs.files;
  const lockDelays = ref.lockDelays === undefined ? undefined : lockDelaysFromJson(ref.lockDelays);
  await files.work(async () => {
    // A small archive (a small cluster's, the simulator's) is read whole in one call and verified in memory,
    // its state.bin going straight into the store: no streams, no spool (readArchiveBytes).
    const head = await files.readAt(ref.handle, 0, SMALL_ARCHIVE_BYTES_MAX + 1);
    if (head.length <= SMALL_ARCHIVE_BYTES_MAX) {
      const read = await readArchiveBytes(head);
      if (read !== null) {
        await kv.replaceAsync(
          readStateBinBatches([read.stateBin], { views: true }),
          afterSwap(kv),
          lockDelays,
        );
        return;
      }
    }
    const spool = await files.draft(ref.handle, true);
    try {
      await readArchiveInto(files.read(ref.handle, ARCHIVE_CHUNK_BYTES), (chunk) => spool.append(chunk));
      await kv.replaceAsync(
        readStateBinBatches(spool.read(READ_CHUNK_BYTES), { views: true }),
        afterSwap(kv),
        lockDelays,
      );
    } finally {
      await spool.discard();
    }
  });
}

/**
 * Installs a committed user restore: the verified state.bin kept as blob `handle` replaces the store's state,
 * streamed from the blob into a new state that is swapped in once complete (KvStore.replaceAsync), then a
 * collection when the states are large (afterSwap).
 */
export async function installRestoreBlob(blobs: BlobStore, kv: KvStore, handle: string): Promise<void> {
  const files = blobs.files;
  await files.work(() =>
    kv.replaceAsync(
      readStateBinBatches(files.read(handle, READ_CHUNK_BYTES), { views: true }),
      afterSwap(kv),
    ),
  );
}

/** Stores a sidecar for a snapshot fetched from the leader (its archive is already in the blob store). */
export async function adoptSnapshotRef(blobs: BlobStore, ref: SnapshotRef): Promise<void> {
  await writeSidecar(blobs.files, ref);
  await prune(blobs);
}
