import { PassThrough } from "node:stream";
import { type ArchiveMetaInput, sizedStateBin, writeArchive } from "../snapshot/index.js";
import { paced, snapshotPace } from "./pace.js";
import type { RaftServer } from "./raft-server.js";

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
