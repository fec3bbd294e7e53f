/**
 * The data types of the pure Raft core: log entries, hard state, snapshots, messages and the Ready batch.
 * Indexes and terms are plain numbers: a server would need 2^53 writes to overflow them.
 */

/** A server's id. Invariant: a positive safe integer; 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

/**
 * Kinds of log entries.
 * - normal: opaque command bytes for the state machine; empty data is the leader's start-of-term no-op.
 * - conf: a ConfChange (encoded with encodeConfChange), takes effect when applied (etcd's model).
 * - restore: a user restore; data is an opaque handle naming a snapshot that the driver made durable before it
 *   persisted the entry. Applying it replaces the state machine's whole state.
 */
export type EntryKind = "normal" | "conf" | "restore";

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it leaves this server. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or NONE. */
  readonly vote: NodeId;
  /** Invariant: commit <= last durable index. */
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NONE, commit: 0 };

/** Cluster membership. Learners receive the log but never vote or count toward a quorum. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export type ConfChangeType = "addVoter" | "addLearner" | "remove";

/** One membership change at a time (Raft thesis §4.1). addVoter on a learner promotes it. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly node: NodeId;
  /** Opaque context for the driver (e.g. the new server's address). */
  readonly context?: string;
}

/** Snapshot metadata: the core never sees snapshot data, only this and an opaque handle. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
  /** Opaque to raft: names the data in the driver's snapshot store. */
  readonly handle: string;
}

export type MessageType =
  | "app" // AppendEntries
  | "appResp"
  | "vote"
  | "voteResp"
  | "preVote"
  | "preVoteResp"
  | "heartbeat"
  | "heartbeatResp"
  | "snap" // InstallSnapshot (metadata; the data travels beside it)
  | "timeoutNow" // leadership transfer: campaign at once
  | "readIndex" // a follower forwarding a read request to the leader
  | "readIndexResp"
  | "prop"; // a follower forwarding a proposal to the leader

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** app: prev log index; appResp: the index acknowledged or rejected; vote: candidate's last index. */
  readonly index: number;
  /** app: prev log term; vote: candidate's last term. */
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  /** appResp on reject: the follower's hint of the last index that may match (fast back-off). */
  readonly rejectHint: number;
  /** appResp on reject: the term at rejectHint in the follower's log. */
  readonly hintTerm: number;
  readonly snapshot: SnapshotMeta | null;
  /** heartbeat/heartbeatResp: the leader's read confirmation round; readIndex: the read request id. */
  readonly context: number;
  /** vote/preVote: a leadership transfer, so lease and pre-vote checks are bypassed. */
  readonly transfer: boolean;
}

/** A read that may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  /** The id the caller passed to readIndex(). */
  readonly requestId: number;
}

export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that the driver may show (leader, role) but need not persist. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * One batch of work from the core. The driver must, in this order:
 * 1. persist `snapshot` (if any), then `entries` and `hardState` (fsync);
 * 2. send `messages`;
 * 3. apply `committed` entries (and install `snapshot` into the state machine first, if any);
 * 4. call advance(ready).
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  /** Entries to append to stable storage; they may overwrite a conflicting suffix. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader, to persist and install. */
  readonly snapshot: SnapshotMeta | null;
  /** Invariant: every committed entry is durable once this Ready's entries are persisted. */
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}
