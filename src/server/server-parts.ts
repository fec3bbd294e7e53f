import type { KvStore } from "../fsm/index.js";
import type { Bugs, Config, MemoryStorage, NodeId, RawNode } from "../raft/index.js";
import type { LogStore, StableStore } from "../storage/index.js";
import type { PeerTransport } from "../transport/index.js";
import type { Clock } from "../util/clock.js";
import type { Rng } from "../util/rng.js";
import type { BlobStore } from "./blobs.js";
import type { ServerRecord } from "./members.js";
import type { Metrics } from "./metrics.js";

/**
 * What the raft server and its parts are built with. The parts live in files of their own and import these
 * types from here rather than from raft-server.ts, so no import goes round in a cycle.
 */
export interface RaftServerOptions {
  readonly self: ServerRecord;
  readonly wal: LogStore;
  readonly stable: StableStore;
  readonly kv: KvStore;
  readonly transport: PeerTransport;
  /** Wall and monotonic time, timers and deferred work (the agent: realClock; the simulator: virtual time). */
  readonly clock: Clock;
  readonly blobs: BlobStore;
  readonly rng: Rng;
  readonly metrics: Metrics;
  readonly log: (level: "debug" | "info" | "warn" | "error", msg: string) => void;
  /** Milliseconds per raft tick. */
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Consul's RPC hold timeout: how long a request waits for a leader before failing. */
  readonly holdTimeoutMs: number;
  /** Applied entries between two state-store snapshots (Consul's raft_snapshot_threshold). */
  readonly snapshotThreshold: number;
  /** Entries kept in the log behind a snapshot, so slightly lagging followers catch up by appends. */
  readonly trailingEntries: number;
  /**
   * The core's replication and election tuning; each knob left out keeps the agent's setting (pre-vote and
   * check-quorum on, 256 appends in flight, the core's append size). The simulator draws them per seed, as the
   * narrow windows of some schedules (Figure 8) open only with one entry per append. Check-quorum off turns the
   * lease off with it: the core answers a leased read only under check-quorum (raft.ts handleReadRequest).
   */
  readonly raftTuning?: RaftTuning;
  /** Deliberate faults in the core: only the simulator's broken variants set them, to show its checks fail. */
  readonly raftBugs?: Bugs;
  /** `<data-dir>/raft/peers.json`: when present at start, manual recovery after a permanent loss of quorum. */
  readonly peersJsonPath?: string;
}

export type RaftTuning = Pick<Config, "preVote" | "checkQuorum" | "appendBytesMax" | "inflightMsgsMax">;

/**
 * What a part of the server reads of the server itself. The core and its storage are replaced (by bootstrap,
 * and by peers.json recovery), so a part reaches them through these calls at each use and never keeps them.
 */
export interface ServerHandle {
  raw(): RawNode;
  storage(): MemoryStorage;
  stopped(): boolean;
  /** Runs the Ready loop soon. */
  kick(): void;
  /** Records a member's address (the transport dials it from then on). */
  learnPeer(r: ServerRecord): void;
  readonly peers: ReadonlyMap<NodeId, ServerRecord>;
  /** The state store's index minus the raft index (the applier owns it). */
  indexOffset(): number;
}
