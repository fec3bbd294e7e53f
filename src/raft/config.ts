import type { Rng } from "../util/rng.js";
import type { Storage } from "./storage.js";
import type { NodeId } from "./types.js";

/**
 * Deliberately broken variants, for tests only: each disables one safety rule so tests can prove the simulator's
 * checkers catch its absence. Never set in production code.
 */
export interface Bugs {
  /** Commit an entry of a previous term by counting replicas (Raft §5.4.2, Figure 8). */
  readonly commitPreviousTerm?: boolean;
  /** Grant votes without the log up-to-date check (Raft §5.4.1). */
  readonly voteWithoutLogCheck?: boolean;
  /** Answer ReadIndex from the leader's commit index without a quorum round (etcd-io/etcd#741). */
  readonly readWithoutQuorum?: boolean;
  /** A follower truncates after every append even without a conflict, so a stale duplicate erases
   * acknowledged entries (yldio/skiff, raft-notes §5 anti-pattern 2; raft-notes 1.8). */
  readonly truncateWithoutConflict?: boolean;
}

export interface Config {
  readonly id: NodeId;
  readonly storage: Storage;
  /** Randomizes election timeouts; seeded in the simulator so runs replay. */
  readonly rng: Rng;
  /** A follower campaigns after a random timeout in [electionTicks, 2 * electionTicks). */
  readonly electionTicks: number;
  /** A leader sends heartbeats every heartbeatTicks. Invariant: heartbeatTicks < electionTicks. */
  readonly heartbeatTicks: number;
  /** The index the state machine had applied when this node was started (0 for none). */
  readonly applied?: number;
  /** Pre-vote (thesis §9.6): campaign without raising the term until a majority would vote. Default true. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout. Default true. */
  readonly checkQuorum?: boolean;
  /** Bytes of entries in one AppendEntries (at least one entry is always sent). */
  readonly appendBytesMax?: number;
  /** AppendEntries in flight to one follower in the replicate state. */
  readonly inflightMsgsMax?: number;
  /** Bytes of committed entries handed out by one Ready. */
  readonly committedBytesMax?: number;
  /** Uncommitted entries a leader accepts before it refuses proposals (backpressure). */
  readonly uncommittedEntriesMax?: number;
  /** Reads waiting for a ReadIndex round; more are refused. */
  readonly readsPendingMax?: number;
  /** Ticks of clock drift the lease allows for between servers. */
  readonly leaseDriftTicks?: number;
  readonly bugs?: Bugs;
}

export interface ResolvedConfig {
  readonly id: NodeId;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly appendBytesMax: number;
  readonly inflightMsgsMax: number;
  readonly committedBytesMax: number;
  readonly uncommittedEntriesMax: number;
  readonly readsPendingMax: number;
  readonly leaseDriftTicks: number;
  readonly bugs: Bugs;
}

export function resolveConfig(c: Config): ResolvedConfig {
  const r: ResolvedConfig = {
    id: c.id,
    electionTicks: c.electionTicks,
    heartbeatTicks: c.heartbeatTicks,
    preVote: c.preVote ?? true,
    checkQuorum: c.checkQuorum ?? true,
    appendBytesMax: c.appendBytesMax ?? 1024 * 1024,
    inflightMsgsMax: c.inflightMsgsMax ?? 256,
    committedBytesMax: c.committedBytesMax ?? 64 * 1024 * 1024,
    uncommittedEntriesMax: c.uncommittedEntriesMax ?? 100_000,
    readsPendingMax: c.readsPendingMax ?? 10_000,
    leaseDriftTicks: c.leaseDriftTicks ?? 1,
    bugs: c.bugs ?? {},
  };
  if (!(Number.isSafeInteger(r.id) && r.id > 0))
    throw new RangeError(`raft config: id must be positive, got ${r.id}`);
  if (!(r.heartbeatTicks > 0)) throw new RangeError("raft config: heartbeatTicks must be positive");
  if (!(r.electionTicks > r.heartbeatTicks)) {
    throw new RangeError(
      `raft config: electionTicks ${r.electionTicks} must exceed heartbeatTicks ${r.heartbeatTicks}`,
    );
  }
  if (!(r.inflightMsgsMax > 0)) throw new RangeError("raft config: inflightMsgsMax must be positive");
  return r;
}
