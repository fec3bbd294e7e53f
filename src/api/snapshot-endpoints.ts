/**
 * Snapshot save and restore over one RaftServer. A save streams a Consul archive of a point-in-time view (after
 * a quorum round when consistent); a restore is verified whole before anything changes, then the leader fetches
 * the verified state.bin from the server that received it and proposes it through Raft, so every server installs
 * the same state.
 */
import { Readable } from "node:stream";
import { BlobStore } from "../server/blobs.js";
import { type RaftServer, RESTORE_APPLY_MS_MAX } from "../server/raft-server.js";
import { call, serve } from "../server/rpc.js";
import { RPC } from "../server/rpc-methods.js";
import { archiveOf, restoreOnLeader } from "../server/snapshots.js";
import { failureAnswer, toWire, unwrap } from "../server/write-answer.js";
import { readArchiveInto } from "../snapshot/index.js";
import type { QueryMeta, QueryOptions } from "./types.js";

/** Test-only throttle: bytes of the archive per interval. */
const THROTTLE_CHUNK_BYTES = 4096;

export interface SnapshotOptions {
  readonly raft: RaftServer;
  /** The query meta of an answer at `index` in the request's mode. */
  readonly meta: (index: number, q: QueryOptions) => QueryMeta;
  /**
   * Test-only (CAIRN_TEST_SNAPSHOT_THROTTLE_MS): slows archive streaming to 4 KiB per interval, so tests can
   * kill a server in the middle of a save without needing gigabytes of state.
   */
  readonly throttleMs: number;
}

export class SnapshotEndpoints {
  constructor(private readonly o: SnapshotOptions) {
    serve(o.raft.transport, RPC.restore, async (ref) => {
      try {
        await this.restoreHere(ref, [ref.from]);
        return toWire(true);
      } catch (e) {
        return failureAnswer(e);
      }
    });
  }

  async save(
    stale: boolean,
  ): Promise<{ meta: QueryMeta; archive: AsyncIterable<Uint8Array>; bytesEstimate: number }> {
    const q: QueryOptions = { consistency: stale ? "stale" : "consistent", minIndex: 0, waitMs: 0 };
    // Consistent: the leader confirms it still leads with a quorum round (a follower asks it through ReadIndex)
    // and this server waits until it has applied everything committed before the request: the archive then
    // holds every acknowledged write. Leaderless or no quorum: fails within the hold timeout, before any byte.
    if (!stale) await this.o.raft.readBarrier(false);
    const { index, archive, bytesEstimate } = await archiveOf(this.o.raft);
    return {
      meta: this.o.meta(index, q),
      bytesEstimate,
      archive: this.o.throttleMs > 0 ? throttled(archive, this.o.throttleMs) : archive,
    };
  }

  async restore(archive: AsyncIterable<Uint8Array>): Promise<void> {
    const raft = this.o.raft;
    const handle = BlobStore.newHandle();
    // Spooled into the blob store and verified completely (every hash, entry and record) before anything
    // changes; kept (durably) only once verified.
    const draft = await raft.blobs.files.draft(handle, false);
    let archiveIndex: number;
    try {
      archiveIndex = (await readArchiveInto(Readable.from(archive), (chunk) => draft.append(chunk))).meta
        .Index;
      await draft.commit();
    } catch (e) {
      await draft.discard();
      throw e;
    }
    const leader = await raft.waitForLeader();
    const ref = { handle, archiveIndex };
    if (leader === raft.self.raftId) return await this.restoreHere(ref, []);
    const request = { ...ref, from: raft.self.raftId };
    const r = unwrap(await call(raft.transport, leader, RPC.restore, request, RESTORE_APPLY_MS_MAX + 10_000));
    if (r instanceof Error) throw r;
  }

  /** On the leader: the blob fetched from the server that received the archive, then proposed (snapshots.ts). */
  private restoreHere(ref: { handle: string; archiveIndex: number }, from: readonly number[]): Promise<void> {
    return restoreOnLeader(this.o.raft, ref, from);
  }
}

async function* throttled(source: AsyncIterable<Uint8Array>, ms: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length; i += THROTTLE_CHUNK_BYTES) {
      yield chunk.subarray(i, i + THROTTLE_CHUNK_BYTES);
      await new Promise((r) => setTimeout(r, ms));
    }
  }
}
