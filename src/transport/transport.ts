/**
 * The Transport seam, declared by its consumer (the server driver): how raft Messages, snapshot data and the
 * server's own requests reach other servers. Implementations: TcpTransport (real sockets) and MemoryTransport
 * (an in-process twin for tests); both pass the same contract suite (contract.ts).
 *
 * Contract for every implementation:
 * - Delivery is best effort: messages may be lost (raft tolerates loss and retries), but the messages from one
 *   sender to one receiver that do arrive, arrive in the order they were sent, each at most once.
 * - send() never blocks and never throws for network reasons; a message that cannot be delivered (no address,
 *   peer down, queue full) leads to onUnreachable(peer) instead.
 * - Callbacks (onMessage, onUnreachable, ...) are never called synchronously from inside send(), so a driver may
 *   call raft from a callback without re-entering itself.
 * - Messages passed to send() must not be mutated afterwards; received messages are owned by the handler.
 * - After close() resolves, no callback runs, and every pending promise has settled (rejected with
 *   TransportClosedError if it had not finished).
 */
import type { Message, NodeId } from "../raft/types.js";

/** What a server tells another in the handshake (docs/consul-compat.md §9, membership without gossip). */
export interface NodeIdentity {
  /** Consul's node id: a UUID, stable for the data dir's lifetime. */
  readonly nodeId: string;
  /** The server's raft id. Invariant: a positive safe integer. */
  readonly raftId: NodeId;
  readonly name: string;
  readonly datacenter: string;
  /** The cairn version, for compatibility decisions and `members` output. */
  readonly version: string;
}

export type MessageHandler = (m: Message) => void;

/**
 * Receives the data of an InstallSnapshot. `m` is the snap Message (its `snapshot` field is the metadata), to step
 * into raft once the data is durable. `chunks` yields the data in order and throws if the stream is cut or does
 * not verify: the handler must then discard what it wrote. The handler must consume `chunks` to its end before
 * resolving; its promise settling tells the sender whether the snapshot was installed.
 */
export type SnapshotHandler = (from: NodeId, m: Message, chunks: AsyncIterable<Uint8Array>) => Promise<void>;

/** Serves one request method. A throw becomes a RemoteError carrying the error's message at the caller. */
export type RequestHandler = (from: NodeId, body: Uint8Array) => Promise<Uint8Array>;

/** Takes back an answer a RequestHandler lent (see Transport.onRequest). */
export type ReleaseAnswer = (answer: Uint8Array) => void;

export interface Transport {
  /** The raft id of this end. */
  readonly localId: NodeId;
  /** Queues `m` for `to` and returns at once (see the contract above). Invariant: m.from === localId. */
  send(to: NodeId, m: Message): void;
  /**
   * Streams `data` beside the snap Message `m` on a connection of its own (so appends and heartbeats to other
   * peers, and to this one, are not held behind it). Resolves when the receiver's handler succeeded; rejects with
   * SnapshotTransferError, UnreachableError or HandshakeError otherwise; either way the caller reports it to raft.
   */
  sendSnapshot(to: NodeId, m: Message, data: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Calls `method` on `to`. Rejects with UnreachableError (not sent, or the connection broke: outcome unknown),
   * RequestTimeoutError, RemoteError (the handler threw or there is none) or TransportClosedError.
   */
  request(to: NodeId, method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  onMessage(handler: MessageHandler): void;
  onSnapshot(handler: SnapshotHandler): void;
  /**
   * Registers the handler for `method`, replacing any earlier one. `release`, when given, gets each answer the
   * handler resolved once this transport no longer reads its bytes (written to the socket, copied, or dropped
   * with the connection), so the handler may lend a buffer it reuses afterwards. A transport that hands the
   * answer itself to the caller never calls it: the bytes are then the caller's, never to be reused.
   */
  onRequest(method: string, handler: RequestHandler, release?: ReleaseAnswer): void;
  /** Called (asynchronously) when messages to `peer` may have been lost: raft should probe it again. */
  onUnreachable(handler: (peer: NodeId) => void): void;
  close(): Promise<void>;
}

/**
 * A transport that dials its peers by address, as the server driver uses it: the Transport contract plus the
 * address book that membership fills in. TcpTransport implements it; the simulator's network does too.
 */
export interface PeerTransport extends Transport {
  /** Records (or changes) the address of `peer`; messages to it go there from now on. */
  setPeer(peer: NodeId, addr: string): void;
}
