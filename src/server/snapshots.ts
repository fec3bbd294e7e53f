import { PassThrough } from "node:stream";
import type { NodeId } from "../raft/index.js";
import { type ArchiveMetaInput, sizedStateBin, writeArchive } from "../snapshot/index.js";
import { paced, snapshotPace } from "./pace.js";
import { type RaftServer, RESTORE_APPLY_MS_MAX } from "./raft-server.js";

/**
 * Streams a Consul archive of the state store as of now (O(1) point-in-time view: writes go on while it
 * streams). state.bin is sized from the view first (a walk that keeps nothing), so the archive streams from
 * its first byte on with nothing spooled; resolves once the first bytes are ready, so a failure before them
 * (sizing, the gzip level's samples) is reported as an error, not as a cut archive. The returned stream
 * carries gzip(tar(meta.json, state.bin, SHA256SUMS)), and `bytesEstimate` its size give or take gzip's
 * framing (the tar's size: deflate only ever makes it smaller).
 */
export async function archiveOf(
  raft: RaftServer,
): Promise<{ index: number; archive: PassThrough; bytesEstimate: number }> {
  const view = raft.kv.snapshot();
  const index = raft.kv.appliedIndex;
  const term = raft.raw.raft.log.term(raft.raw.raft.log.applied) ?? raft.raw.raft.term;
  const meta: ArchiveMetaInput = {
    ID: `${term}-${index}-${raft.clock.now()}`,
    Index: index,
    Term: term,
    Version: 1,
    Configuration: raft.archiveConfiguration(),
    ConfigurationIndex: index,
  };
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const first = new Promise<void>((resolve, reject) => {
    out.once("readable", () => resolve());
    out.once("error", reject);
  });
  // writeArchive ends `out` through its pipeline; a failure must surface to the reader as an error, never as
  // a short archive that looks complete.
  let bytesEstimate = 0;
  // "auto": random values are stored rather than deflated, which is what keeps a save cheap for the writes
  // that go on meanwhile; compressible state is still deflated (at level 1).
  // Encoding and hashing run on the loop that serves writes: while they apply, a quarter of it (pace.ts).
  const pace = snapshotPace(() => raft.kv.appliedIndex, raft.clock);
  const options = {
    gzipLevel: "auto" as const,
    pace: (tar: AsyncIterable<Uint8Array>) => paced(tar, pace),
    onSpooled: (_meta: unknown, tarBytes: number) => {
      bytesEstimate = tarBytes;
    },
  };
  sizedStateBin(view.stateBinPlan())
    .then((stateBin) => writeArchive(out, meta, stateBin, options))
    .catch((e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
  await first;
  return { index, archive: out, bytesEstimate };
}

/**
 * A user restore's last step, on the leader (the snapshot endpoint's, and the simulator's admin's): the blob
 * is fetched from `from` unless it is here already; the other voters fetch it from here, and once a quorum
 * holds it the restore is proposed: the entry then commits as fast as any, and no follower stops its Ready
 * loop (heartbeats, other writes) for the length of a fetch to persist it. Resolves once applied here.
 */
export async function restoreOnLeader(
  raft: RaftServer,
  ref: { readonly handle: string; readonly archiveIndex: number },
  from: readonly NodeId[],
): Promise<void> {
  if (!(await raft.blobs.has(ref.handle))) await raft.blobs.fetch(ref.handle, from);
  const self = raft.self.raftId;
  const voters = raft.raw.raft.voters;
  const others = voters.filter((id) => id !== self);
  // Failures are left to the fetch on persist, which every member still makes for a blob it lacks.
  await raft.blobs.prefetchOn(
    ref.handle,
    others,
    [self],
    Math.floor(voters.length / 2),
    RESTORE_APPLY_MS_MAX,
  );
  const r = await raft.proposeRestoreLocal(ref.handle, ref.archiveIndex);
  if (r instanceof Error) throw r;
}
