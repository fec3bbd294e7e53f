import { createReadStream, createWriteStream } from "node:fs";
import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
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
  readArchive,
  readStateBinBatches,
  sizedStateBin,
  writeArchive,
} from "../snapshot/index.js";
import { fsyncDir, writeFileAtomic } from "../storage/index.js";
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

export function fromMeta(m: SnapshotMeta): SnapshotRef {
  const r = parseRef(m.handle);
  return { ...r, index: m.index, term: m.term, conf: m.conf };
}

function sidecar(blobs: BlobStore, handle: string): string {
  return join(blobs.dir, `${handle}.json`);
}

/**
 * Writes an archive of `view` (the store's O(1) point-in-time view taken at raft `index`) and its sidecar;
 * returns the ref. With `pace`, encoding yields to writes (pace.ts). Crash-safe: temp name, fsync, rename, fsync the directory; the sidecar last.
 */
export async function saveSnapshot(
  blobs: BlobStore,
  view: KvSnapshot,
  ref: Omit<SnapshotRef, "handle" | "lockDelays">,
  servers: ArchiveMetaInput["Configuration"],
  pace?: PaceOptions,
): Promise<SnapshotRef> {
  const handle = `snap-${ref.term}-${ref.index}`;
  const full: SnapshotRef = { ...ref, handle, lockDelays: lockDelayJson(view.lock) };
  const tmp = join(blobs.dir, `.${handle}.tmp`);
  const fsmIndex = ref.index + ref.indexOffset;
  const meta: ArchiveMetaInput = {
    ID: `${ref.term}-${fsmIndex}-${Date.now()}`,
    Index: fsmIndex,
    Term: ref.term,
    Version: 1,
    ...(servers === undefined ? {} : { Configuration: servers }),
    ConfigurationIndex: fsmIndex,
  };
  try {
    // "auto" (stored, or level 1 for compressible state): internal snapshots are written often and read
    // rarely, and deflating incompressible values at any level costs ~7x storing them.
    // Sized from the view, then streamed straight into the archive: nothing spooled (state-bin-plan.ts).
    const stateBin = await sizedStateBin(view.stateBinPlan());
    // A temp file left by a crash keeps the mode it was made with: remove it, then create afresh, 0600 at
    // creation (never widened by the umask, never narrowed later).
    await rm(tmp, { force: true });
    await writeArchive(createWriteStream(tmp, { flags: "wx", mode: 0o600 }), meta, stateBin, {
      gzipLevel: "auto",
      ...(pace === undefined ? {} : { pace: (tar: AsyncIterable<Uint8Array>) => paced(tar, pace) }),
    });
    const fh = await open(tmp, "r+");
    await fh.sync().finally(() => fh.close());
    await rename(tmp, blobs.path(handle));
    await fsyncDir(blobs.dir);
    await writeFileAtomic(sidecar(blobs, handle), new TextEncoder().encode(JSON.stringify(full)), {
      mode: 0o600,
    });
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await prune(blobs);
  return full;
}

/** Keeps the newest KEEP snapshots (by raft index), deleting older archives and sidecars. */
async function prune(blobs: BlobStore): Promise<void> {
  const refs = await listSnapshots(blobs);
  for (const r of refs.slice(KEEP)) {
    await rm(blobs.path(r.handle), { force: true });
    await rm(sidecar(blobs, r.handle), { force: true });
  }
}

/** Complete snapshots (archive and sidecar both present), newest first. */
export async function listSnapshots(blobs: BlobStore): Promise<SnapshotRef[]> {
  const names = await readdir(blobs.dir);
  const refs: SnapshotRef[] = [];
  for (const n of names) {
    if (!n.startsWith("snap-") || !n.endsWith(".json")) continue;
    const handle = n.slice(0, -".json".length);
    if (!names.includes(`${handle}.bin`)) continue;
    refs.push(parseRef(await readFile(join(blobs.dir, n), "utf8")));
  }
  return refs.sort((a, b) => b.index - a.index);
}

/** Reads of spooled files in 1 MiB chunks: a few hundred awaits for a 340 MB state.bin, not thousands. */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Verifies the archive of `ref` completely, then replaces the store's state with it (built aside and swapped
 * in at once, reads answering from the old state meanwhile: see KvStore.replaceAsync; a failure is the
 * caller's fatal error).
 */
export async function loadSnapshot(blobs: BlobStore, kv: KvStore, ref: SnapshotRef): Promise<void> {
  const verified = await readArchive(createReadStream(blobs.path(ref.handle)), { tmpDir: blobs.dir });
  try {
    await kv.replaceAsync(
      readStateBinBatches(createReadStream(verified.stateBin.path, { highWaterMark: READ_CHUNK_BYTES }), {
        views: true,
      }),
      collectGarbage,
      ref.lockDelays === undefined ? undefined : lockDelaysFromJson(ref.lockDelays),
    );
  } finally {
    await verified.stateBin.remove();
  }
}

/**
 * Installs a committed user restore: the verified state.bin kept as blob `handle` replaces the store's state,
 * streamed from the file into a new state that is swapped in once complete (KvStore.replaceAsync), then a
 * collection so the old state's memory is given back at once.
 */
export async function installRestoreBlob(blobs: BlobStore, kv: KvStore, handle: string): Promise<void> {
  await kv.replaceAsync(
    readStateBinBatches(createReadStream(blobs.path(handle), { highWaterMark: READ_CHUNK_BYTES }), {
      views: true,
    }),
    collectGarbage,
  );
}

/** Stores a sidecar for a snapshot fetched from the leader (its archive is already in the blob store). */
export async function adoptSnapshotRef(blobs: BlobStore, ref: SnapshotRef): Promise<void> {
  await writeFileAtomic(sidecar(blobs, ref.handle), new TextEncoder().encode(JSON.stringify(ref)), {
    mode: 0o600,
  });
  await prune(blobs);
}
