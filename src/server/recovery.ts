import { readFile, rename } from "node:fs/promises";
import { type Entry, MemoryStorage } from "../raft/index.js";
import { listSnapshots, loadSnapshot, type SnapshotRef, saveSnapshot, toMeta } from "./fsm-snapshot.js";
import { parsePeersJson, type ServerRecord } from "./members.js";
import type { RaftServerOptions, ServerHandle } from "./server-parts.js";

/** What a restarting server recovered from its data dir. */
export interface DurableState {
  /** The core's in-memory mirror of the WAL, starting after the snapshot. */
  readonly storage: MemoryStorage;
  /** The newest complete snapshot, already loaded into the state store; undefined when there is none. */
  readonly latest: SnapshotRef | undefined;
}

/**
 * Loads the newest snapshot into the state store and the durable log behind it into a fresh in-memory
 * storage, with the stable store's term and vote, and its commit index capped at the log's end.
 */
export async function loadDurableState(
  o: Pick<RaftServerOptions, "blobs" | "kv" | "wal" | "stable">,
): Promise<DurableState> {
  const storage = new MemoryStorage();
  const latest = (await listSnapshots(o.blobs))[0];
  if (latest !== undefined) {
    await loadSnapshot(o.blobs, o.kv, latest);
    storage.applySnapshot(toMeta(latest));
  }
  const first = Math.max(o.wal.firstIndex(), storage.firstIndex());
  const last = o.wal.lastIndex();
  for (let lo = first; lo <= last; ) {
    const ents = await o.wal.entries(lo, last + 1, 16 * 1024 * 1024);
    storage.append(ents);
    lo += ents.length;
  }
  const hs = o.stable.hardState;
  storage.setHardState({ term: hs.term, vote: hs.vote, commit: Math.min(hs.commit, storage.lastIndex()) });
  return { storage, latest };
}

/** The server as recovery drives it, before it has started. */
export interface RecoveringServer extends Pick<ServerHandle, "storage" | "indexOffset"> {
  apply(e: Entry): Promise<void>;
  /** Starts the core over afresh from `storage`, with `applied` applied, and learns the members. */
  restart(storage: MemoryStorage, applied: number, members: readonly ServerRecord[]): void;
}

/**
 * Consul's manual recovery (peers.json in raft/): when quorum is lost for good, the operator lists the
 * surviving servers and restarts them. As hashicorp's RecoverCluster does, every entry in this server's log
 * is taken as committed and applied, a snapshot with the new membership is written at the last index, and the
 * log is reset behind it. The file is renamed to peers.info so a later restart does not recover again.
 */
export async function recoverIfAsked(
  path: string,
  o: Pick<RaftServerOptions, "blobs" | "kv" | "wal" | "stable" | "log" | "clock">,
  server: RecoveringServer,
): Promise<void> {
  const text = await readFile(path, "utf8").catch(() => null);
  if (text === null) return;
  const peers = parsePeersJson(text, path);
  const storage = server.storage();
  const from = o.kv.appliedIndex - server.indexOffset() + 1;
  for (let i = Math.max(from, storage.firstIndex()); i <= storage.lastIndex(); i++) {
    await server.apply(storage.entries(i, i + 1, Number.MAX_SAFE_INTEGER)[0]!);
  }
  const index = storage.lastIndex();
  const term = storage.term(index);
  const voters = peers.filter((p) => !p.nonVoter).map((p) => p.record.raftId);
  const learners = peers.filter((p) => p.nonVoter).map((p) => p.record.raftId);
  const members = peers.map((p) => p.record);
  const ref = await saveSnapshot(
    o.blobs,
    o.kv.snapshot(),
    { index, term, conf: { voters, learners }, indexOffset: server.indexOffset(), members },
    undefined,
    undefined,
    o.clock.now(),
  );
  if (index > o.wal.boundary().index) await o.wal.resetToSnapshot(index, term);
  const hs = o.stable.hardState;
  const fresh = new MemoryStorage();
  fresh.applySnapshot(toMeta(ref));
  fresh.setHardState({ term: hs.term, vote: hs.vote, commit: index });
  server.restart(fresh, index, members);
  await rename(path, path.replace(/peers\.json$/, "peers.info"));
  o.log("info", `recovered from peers.json: ${members.map((m) => m.name).join(", ")} at index ${index}`);
}
