/**
 * The long-lived outgoing connection to one peer: a bounded queue, one batched socket write per event-loop turn,
 * reconnection with exponential backoff, and the caller's side of requests (responses come back on this socket).
 *
 * Memory bound per peer: queueBytesMax queued, plus at most one batch of writeBytesMax handed to the socket while
 * it is not asking for drain. Raft messages that do not fit are dropped (oldest app/heartbeat first), and the
 * transport reports the peer unreachable, so raft probes it again: raft tolerates loss, not unbounded memory.
 */
import type { Socket } from "node:net";
import type { MessageType, NodeId } from "../raft/types.js";
import { AssertionError, assert } from "../util/assert.js";
import type { Rng } from "../util/rng.js";
import { dial } from "./dial.js";
import {
  HandshakeError,
  RemoteError,
  RequestTimeoutError,
  TransportClosedError,
  UnreachableError,
} from "./errors.js";
import type { Frame, FrameDecoder } from "./frame.js";
import { FrameType } from "./frame.js";
import { decodeResponse, requestFrame } from "./rpc.js";
import type { TransportTls } from "./tls.js";
import type { NodeIdentity } from "./transport.js";
import { writeFrames } from "./turn-writer.js";

export type LogLevel = "info" | "warn" | "error";
export type Log = (level: LogLevel, message: string) => void;

export interface LinkOptions {
  readonly local: NodeIdentity;
  readonly rng: Rng;
  readonly log: Log;
  readonly frameBytesMax: number;
  readonly queueMsgsMax: number;
  readonly queueBytesMax: number;
  readonly writeBytesMax: number;
  readonly backoffMsMin: number;
  readonly backoffMsMax: number;
  readonly handshakeTimeoutMs: number;
  readonly tls: TransportTls["dial"] | undefined;
  /** Deferred by the caller: never called synchronously inside send(). */
  readonly unreachable: (peer: NodeId) => void;
  /** Registers each socket with the transport, whose close() destroys what is left. */
  readonly track: (socket: Socket) => void;
  /** The peer's identity, learned at each handshake. */
  readonly identified: (peer: NodeIdentity) => void;
}

/** Lossy messages go first when the queue is full: the next heartbeat or append supersedes them. */
const LOSSY: ReadonlySet<MessageType> = new Set(["app", "heartbeat", "appResp", "heartbeatResp"]);

interface QueueItem {
  /** A whole frame, header included. */
  readonly frame: Uint8Array;
  readonly lossy: boolean;
  /** The request id for request frames, else 0. */
  readonly requestId: number;
}

interface PendingRequest {
  readonly method: string;
  readonly resolve: (body: Uint8Array) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type LinkState = "idle" | "connecting" | "up" | "backoff" | "closed";

export class PeerLink {
  readonly peer: NodeId;
  readonly addr: string;
  private readonly o: LinkOptions;
  private state: LinkState = "idle";
  private socket: Socket | null = null;
  private decoder: FrameDecoder | null = null;
  /** Invariant: queue.length <= queueMsgsMax and queuedBytes (sum of frame lengths) <= queueBytesMax. */
  private queue: QueueItem[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  /** Consecutive failed connection attempts; 0 once a handshake succeeds. */
  private failures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private nextRequestId = 1;
  private readonly pending = new Map<number, PendingRequest>();
  /** Messages dropped for lack of room since creation (for metrics and tests). */
  dropped = 0;

  constructor(peer: NodeId, addr: string, o: LinkOptions) {
    this.peer = peer;
    this.addr = addr;
    this.o = o;
  }

  get isDown(): boolean {
    return this.state === "backoff";
  }

  stats(): { msgs: number; bytes: number; dropped: number } {
    return { msgs: this.queue.length, bytes: this.queuedBytes, dropped: this.dropped };
  }

  /** Queues one message frame; false when it was dropped (or others were) for lack of room. */
  sendFrame(frame: Uint8Array, type: MessageType): boolean {
    if (this.state === "closed") return false;
    const lossy = LOSSY.has(type);
    const made = this.makeRoom(frame.length);
    if (!made) {
      this.dropped++;
      return false;
    }
    this.push({ frame, lossy, requestId: 0 });
    return this.dropped === made.droppedBefore && this.state !== "backoff";
  }

  request(method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.state === "closed") return Promise.reject(new TransportClosedError());
    if (this.state === "backoff") {
      return Promise.reject(new UnreachableError(this.peer, `connection to "${this.addr}" is down`));
    }
    const id = this.nextRequestId++;
    const frame = requestFrame(id, method, body);
    if (!this.makeRoom(frame.length)) {
      return Promise.reject(new UnreachableError(this.peer, "send queue is full"));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestTimeoutError(this.peer, method, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.push({ frame, lossy: false, requestId: id });
    });
  }

  /** Closes the connection and settles every pending request. Resolves once the socket has closed. */
  close(): Promise<void> {
    this.state = "closed";
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.rejectPending(() => new TransportClosedError());
    this.queue = [];
    this.queuedBytes = 0;
    const socket = this.socket;
    this.socket = null;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once("close", () => resolve());
      socket.destroy();
    });
  }

  /**
   * Drops the oldest lossy items until `bytes` more fit; null when they cannot (nothing lossy left, or the frame
   * alone exceeds queueBytesMax). `droppedBefore` lets the caller tell whether anything was dropped.
   */
  private makeRoom(bytes: number): { droppedBefore: number } | null {
    const droppedBefore = this.dropped;
    const fits = (): boolean =>
      this.queue.length + 1 <= this.o.queueMsgsMax && this.queuedBytes + bytes <= this.o.queueBytesMax;
    while (!fits()) {
      const at = this.queue.findIndex((q) => q.lossy);
      if (at < 0) return null;
      const [gone] = this.queue.splice(at, 1);
      assert(gone !== undefined, "dropped item exists");
      this.queuedBytes -= gone.frame.length;
      this.dropped++;
    }
    return { droppedBefore };
  }

  private push(item: QueueItem): void {
    this.queue.push(item);
    this.queuedBytes += item.frame.length;
    assert(this.queue.length <= this.o.queueMsgsMax, "queue exceeds queueMsgsMax");
    assert(this.queuedBytes <= this.o.queueBytesMax, "queue exceeds queueBytesMax");
    if (this.state === "idle") this.connect();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== "up") return;
    this.flushScheduled = true;
    // One write per event-loop turn: everything the driver sends in one Ready goes out in one syscall.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.state !== "up" || !socket || socket.writableNeedDrain) return;
    const frames: Uint8Array[] = [];
    let bytes = 0;
    let taken = 0;
    for (const item of this.queue) {
      if (taken > 0 && bytes + item.frame.length > this.o.writeBytesMax) break;
      taken++;
      this.queuedBytes -= item.frame.length;
      // A request that timed out while queued is not sent at all.
      if (item.requestId !== 0 && !this.pending.has(item.requestId)) continue;
      frames.push(item.frame);
      bytes += item.frame.length;
    }
    this.queue.splice(0, taken);
    writeFrames(socket, frames, bytes);
    if (this.queue.length > 0 && !socket.writableNeedDrain) this.scheduleFlush();
  }

  private connect(): void {
    this.state = "connecting";
    const { local, frameBytesMax, handshakeTimeoutMs, track } = this.o;
    dial({
      track,
      local,
      addr: this.addr,
      expectRaftId: this.peer,
      purpose: "raft",
      frameBytesMax,
      handshakeTimeoutMs,
      tls: this.o.tls,
    }).then(
      (d) => {
        if (this.state === "closed") {
          d.socket.destroy();
          return;
        }
        this.attach(d.socket, d.decoder, d.leftover);
        this.o.identified(d.peer);
      },
      (err: unknown) => this.failed(err instanceof Error ? err : new Error(String(err))),
    );
  }

  private attach(socket: Socket, decoder: FrameDecoder, leftover: readonly Frame[]): void {
    this.socket = socket;
    this.decoder = decoder;
    this.state = "up";
    if (this.failures > 0) this.o.log("info", `reconnected to node ${this.peer} at "${this.addr}"`);
    this.failures = 0;
    let lastError = "closed by the peer";
    socket.setKeepAlive(true, 10_000);
    socket.on("error", (err) => {
      lastError = err.message;
    });
    socket.on("close", () => {
      if (this.socket === socket)
        this.failed(new UnreachableError(this.peer, `connection lost: ${lastError}`));
    });
    socket.on("drain", () => this.scheduleFlush());
    socket.on("data", (chunk: Buffer) => this.received(socket, () => this.decoder?.push(chunk) ?? []));
    this.received(socket, () => leftover);
    socket.resume();
    this.scheduleFlush();
  }

  private received(socket: Socket, frames: () => readonly Frame[]): void {
    if (this.socket !== socket) return;
    try {
      for (const f of frames()) this.frame(socket, f);
    } catch (err) {
      if (err instanceof AssertionError) throw err;
      this.o.log("error", `closing connection to node ${this.peer}: ${(err as Error).message}`);
      socket.destroy();
    }
  }

  private frame(socket: Socket, f: Frame): void {
    if (f.type === FrameType.response) {
      const r = decodeResponse(f.payload);
      const p = this.pending.get(r.id);
      if (!p) return; // timed out already
      this.pending.delete(r.id);
      clearTimeout(p.timer);
      if ("ok" in r) p.resolve(r.ok);
      else p.reject(new RemoteError(this.peer, p.method, r.error));
      return;
    }
    this.o.log("error", `closing connection to node ${this.peer}: unexpected frame type ${f.type}`);
    socket.destroy();
  }

  /** A dial, handshake or live connection failed: fail what is in flight, back off, try again. */
  private failed(err: Error): void {
    if (this.state === "closed") return;
    this.socket?.destroy();
    this.socket = null;
    this.decoder = null;
    this.rejectPending(() => new UnreachableError(this.peer, err.message));
    this.queue = this.queue.filter((q) => q.requestId === 0);
    this.queuedBytes = this.queue.reduce((n, q) => n + q.frame.length, 0);
    this.failures++;
    // Handshake refusals are configuration errors an operator must see every time; a peer that is simply down is
    // logged once per outage.
    if (err instanceof HandshakeError)
      this.o.log("error", `cannot connect to node ${this.peer}: ${err.message}`);
    else if (this.failures === 1) this.o.log("warn", `node ${this.peer} is unreachable: ${err.message}`);
    const ceiling = Math.min(this.o.backoffMsMax, this.o.backoffMsMin * 2 ** Math.min(this.failures - 1, 30));
    const delayMs = ceiling / 2 + this.o.rng.float() * (ceiling / 2);
    this.state = "backoff";
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === "backoff") this.connect();
    }, delayMs);
    this.o.unreachable(this.peer);
  }

  private rejectPending(make: () => Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(make());
    }
    this.pending.clear();
  }
}
