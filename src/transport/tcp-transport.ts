/**
 * TcpTransport: the Transport (transport.ts) over TCP. One long-lived outgoing connection per peer carries raft
 * messages and requests (peer-link.ts); each peer dials us for its own messages (inbound.ts); each snapshot stream
 * gets a connection of its own (snapshot.ts). Frames: frame.ts; messages: codec.ts; handshake: handshake.ts.
 * Ownership: the transport owns every socket and timer it creates, and close() ends them all.
 */
import { createServer, type Server, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Message, NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import type { Rng } from "../util/rng.js";
import { encodeMessage } from "./codec.js";
import { formatAddress, type HostPort, parseAddress } from "./dial.js";
import { TransportClosedError, UnreachableError } from "./errors.js";
import { FRAME_BYTES_MAX_DEFAULT, FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from "./frame.js";
import { type FrameSink, InboundConnection, type Served } from "./inbound.js";
import { type Log, PeerLink } from "./peer-link.js";
import { SnapshotReceiver, sendSnapshotStream } from "./snapshot.js";
import type { TransportTls } from "./tls.js";
import type {
  MessageHandler,
  NodeIdentity,
  PeerTransport,
  ReleaseAnswer,
  RequestHandler,
  SnapshotHandler,
} from "./transport.js";

export const RAFT_PORT_DEFAULT = 8300;

export interface TcpTransportOptions {
  readonly identity: NodeIdentity;
  /** Jitter for reconnect backoff, so peers restarted together do not retry in lockstep. */
  readonly rng: Rng;
  /** Where connection trouble is reported; defaults to console.error for warn and error. */
  readonly log?: Log;
  /** Bound on one frame's payload, sent or received. Default 64 MiB. */
  readonly frameBytesMax?: number;
  /** Per-peer send queue bounds. Defaults 4096 messages, 64 MiB. */
  readonly queueMsgsMax?: number;
  readonly queueBytesMax?: number;
  /** Bytes handed to the socket in one write. Default 4 MiB. */
  readonly writeBytesMax?: number;
  /** Reconnect delay: starts at backoffMsMin, doubles per failure up to backoffMsMax (defaults 50, 2000). */
  readonly backoffMsMin?: number;
  readonly backoffMsMax?: number;
  readonly handshakeTimeoutMs?: number;
  /** Default 1 MiB. */
  readonly snapshotChunkBytesMax?: number;
  readonly snapshotIdleTimeoutMs?: number;
  /** Inbound snapshot streams at once; more are refused (raft retries). Default 2. */
  readonly snapshotsInflightMax?: number;
  /** Bytes of snapshot data waiting for the handler before the socket is paused. Default 4 MiB. */
  readonly snapshotBufferBytesMax?: number;
  /** Requests served at once per inbound connection. Default 256. */
  readonly requestsInflightMax?: number;
  /** Accepted connections at once (peers, their snapshot streams, strangers mid-handshake). Default 1024. */
  readonly inboundConnectionsMax?: number;
  /**
   * Bytes of partly received frames held across all accepted connections; the connection whose bytes would pass
   * it is closed. Without it, peers announcing frames of frameBytesMax and sending them slowly could make this
   * process hold frameBytesMax × inboundConnectionsMax. At least frameBytesMax. Default 256 MiB.
   */
  readonly inboundPartialBytesMax?: number;
  /** Mutual TLS with the other servers (tls.ts); absent: plain TCP. Every server of a datacenter must agree. */
  readonly tls?: TransportTls | undefined;
}

type Defaulted<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };
type WithDefaults = Defaulted<Omit<TcpTransportOptions, "tls">> & Pick<TcpTransportOptions, "tls">;

function withDefaults(o: TcpTransportOptions): WithDefaults {
  const mib = 1024 * 1024;
  return {
    log: (level, message) => {
      if (level !== "info") console.error(`[transport] ${level}: ${message}`);
    },
    frameBytesMax: FRAME_BYTES_MAX_DEFAULT,
    queueMsgsMax: 4096,
    queueBytesMax: 64 * mib,
    writeBytesMax: 4 * mib,
    backoffMsMin: 50,
    backoffMsMax: 2000,
    handshakeTimeoutMs: 5000,
    snapshotChunkBytesMax: mib,
    snapshotIdleTimeoutMs: 30_000,
    snapshotsInflightMax: 2,
    snapshotBufferBytesMax: 4 * mib,
    requestsInflightMax: 256,
    inboundConnectionsMax: 1024,
    inboundPartialBytesMax: 256 * mib,
    ...o,
  } as WithDefaults;
}

export class TcpTransport implements PeerTransport {
  private readonly o: WithDefaults;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly identities = new Map<NodeId, NodeIdentity>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  private bound: HostPort | null = null;
  private closed = false;
  private messageHandler: MessageHandler | null = null;
  private snapshotHandler: SnapshotHandler | null = null;
  private readonly requestHandlers = new Map<
    string,
    { readonly handler: RequestHandler; readonly release: ReleaseAnswer | undefined }
  >();
  private readonly unreachableHandlers: ((peer: NodeId) => void)[] = [];
  private snapshotsInflight = 0;
  /** Bytes of partial frames the accepted connections hold now (inbound.ts accounts them). */
  private readonly partialBytes: { used: number; readonly max: number };

  constructor(options: TcpTransportOptions) {
    this.o = withDefaults(options);
    const o = this.o;
    assert(
      o.inboundPartialBytesMax >= o.frameBytesMax,
      "inboundPartialBytesMax must be at least frameBytesMax",
    );
    this.partialBytes = { used: 0, max: o.inboundPartialBytesMax };
    assert(
      Number.isSafeInteger(o.identity.raftId) && o.identity.raftId > 0,
      "raftId must be a positive integer",
    );
    assert(o.snapshotChunkBytesMax <= o.frameBytesMax, "snapshotChunkBytesMax must not exceed frameBytesMax");
    assert(o.queueMsgsMax > 0 && o.queueBytesMax > 0 && o.writeBytesMax > 0, "queue bounds must be positive");
    assert(
      o.backoffMsMin > 0 && o.backoffMsMin <= o.backoffMsMax,
      "backoffMsMin must be in (0, backoffMsMax]",
    );
  }

  get localId(): NodeId {
    return this.o.identity.raftId;
  }

  /** Bytes of partly received frames the accepted connections hold now (for tests and metrics). */
  get inboundPartialBytes(): number {
    return this.partialBytes.used;
  }

  /** The bound "host:port", once listening. */
  get address(): string | null {
    return this.bound ? formatAddress(this.bound) : null;
  }

  /** Accepts peers' connections on host:port (port 0: any free port). Resolves with the bound address. */
  listen(host: string, port: number = RAFT_PORT_DEFAULT): Promise<HostPort> {
    assert(!this.server && !this.closed, "listen called twice or after close");
    const tls = this.o.tls;
    const server =
      tls === undefined
        ? createServer((socket) => this.accept(socket))
        : createTlsServer(tls.listen, (socket) => this.accept(socket));
    // A peer refused at the TLS handshake (no certificate, another CA) never reaches accept(): say who and why.
    server.on("tlsClientError", (err, socket) => {
      // The address is gone once the handshake failed and the socket closed; say it only when still known.
      const from = socket.remoteAddress === undefined ? "" : ` from ${socket.remoteAddress}`;
      this.o.log("warn", `refused a TLS connection${from}: ${err.message}`);
    });
    server.maxConnections = this.o.inboundConnectionsMax;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        const a = server.address();
        assert(a !== null && typeof a === "object", "a TCP server has an address");
        this.bound = { host: a.address, port: a.port };
        resolve(this.bound);
      });
    });
  }

  /** Sets (or changes) where `peer` listens. A changed address drops the old connection and what it had queued. */
  setPeer(peer: NodeId, addr: string): void {
    assert(peer !== this.localId, `setPeer: ${peer} is this node`);
    parseAddress(addr);
    const old = this.links.get(peer);
    if (old?.addr === addr || this.closed) return;
    void old?.close();
    this.links.set(peer, this.newLink(peer, addr));
  }

  removePeer(peer: NodeId): void {
    void this.links.get(peer)?.close();
    this.links.delete(peer);
  }

  /** The identity `peer` presented at its last handshake (either direction), if any. */
  peerInfo(peer: NodeId): NodeIdentity | undefined {
    return this.identities.get(peer);
  }

  /** The send queue to `peer`, for metrics and tests. */
  queueStats(peer: NodeId): { msgs: number; bytes: number; dropped: number } | undefined {
    return this.links.get(peer)?.stats();
  }

  send(to: NodeId, m: Message): void {
    assert(
      m.from === this.localId && m.to === to,
      `send: message ${m.from}->${m.to} passed as ${this.localId}->${to}`,
    );
    if (this.closed) return;
    const link = this.links.get(to);
    if (!link) {
      this.unreachable(to);
      return;
    }
    const frame = encodeMessage(m, FRAME_HEADER_BYTES);
    const payloadBytes = frame.length - FRAME_HEADER_BYTES;
    if (payloadBytes > this.o.frameBytesMax) {
      this.o.log("error", `dropping ${m.type} to node ${to}: ${payloadBytes} bytes exceeds frameBytesMax`);
      this.unreachable(to);
      return;
    }
    writeFrameHeader(frame, 0, FrameType.message, payloadBytes);
    if (!link.sendFrame(frame, m.type)) this.unreachable(to);
  }

  sendSnapshot(to: NodeId, m: Message, data: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    const link = this.links.get(to);
    if (!link) return Promise.reject(new UnreachableError(to, "no address for this node"));
    return sendSnapshotStream({
      local: this.o.identity,
      addr: link.addr,
      to,
      m,
      data,
      frameBytesMax: this.o.frameBytesMax,
      chunkBytesMax: this.o.snapshotChunkBytesMax,
      handshakeTimeoutMs: this.o.handshakeTimeoutMs,
      idleTimeoutMs: this.o.snapshotIdleTimeoutMs,
      track: (s) => this.track(s),
      tls: this.o.tls?.dial,
    });
  }

  request(to: NodeId, method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TransportClosedError());
    const link = this.links.get(to);
    if (!link) return Promise.reject(new UnreachableError(to, "no address for this node"));
    return link.request(method, body, timeoutMs);
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onSnapshot(handler: SnapshotHandler): void {
    this.snapshotHandler = handler;
  }

  onRequest(method: string, handler: RequestHandler, release?: ReleaseAnswer): void {
    this.requestHandlers.set(method, { handler, release });
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandlers.push(handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const server = this.server;
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    const links = [...this.links.values()].map((l) => l.close());
    this.links.clear();
    const sockets = [...this.sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once("close", () => resolve());
          s.destroy();
        }),
    );
    await Promise.all([serverClosed, ...links, ...sockets]);
  }

  private newLink(peer: NodeId, addr: string): PeerLink {
    const o = this.o;
    return new PeerLink(peer, addr, {
      local: o.identity,
      rng: o.rng,
      log: o.log,
      frameBytesMax: o.frameBytesMax,
      queueMsgsMax: o.queueMsgsMax,
      queueBytesMax: o.queueBytesMax,
      writeBytesMax: o.writeBytesMax,
      backoffMsMin: o.backoffMsMin,
      backoffMsMax: o.backoffMsMax,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      tls: o.tls?.dial,
      unreachable: (p) => this.unreachable(p),
      track: (s) => this.track(s),
      identified: (id) => this.identities.set(id.raftId, id),
    });
  }

  /** Deferred, so a driver calling send() from inside raft's Ready handling is never re-entered. */
  private unreachable(peer: NodeId): void {
    queueMicrotask(() => {
      if (this.closed) return;
      for (const h of this.unreachableHandlers) h(peer);
    });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    if (this.closed) socket.destroy();
  }

  private accept(socket: Socket): void {
    this.track(socket);
    const o = this.o;
    new InboundConnection(socket, {
      local: o.identity,
      log: o.log,
      frameBytesMax: o.frameBytesMax,
      handshakeTimeoutMs: o.handshakeTimeoutMs,
      requestsInflightMax: o.requestsInflightMax,
      partialBytes: this.partialBytes,
      identified: (id) => this.identities.set(id.raftId, id),
      deliver: (m) => {
        if (!this.closed) this.messageHandler?.(m);
      },
      serve: (from, method, body) => this.serve(from, method, body),
      snapshot: (peer, s) => this.snapshotSink(peer, s),
    });
  }

  private async serve(from: NodeId, method: string, body: Uint8Array): Promise<Served> {
    const served = this.requestHandlers.get(method);
    if (!served) throw new Error(`no handler for method "${method}"`);
    const answer = await served.handler(from, body);
    const release = served.release;
    return { answer, written: release === undefined ? undefined : () => release(answer) };
  }

  private snapshotSink(peer: NodeIdentity, socket: Socket): FrameSink | string {
    const handler = this.snapshotHandler;
    if (!handler) return "this server accepts no snapshots (no handler)";
    if (this.snapshotsInflight >= this.o.snapshotsInflightMax) {
      return `busy: ${this.snapshotsInflight} snapshot streams in flight (snapshotsInflightMax)`;
    }
    this.snapshotsInflight++;
    return new SnapshotReceiver(peer, socket, {
      local: this.o.identity,
      log: this.o.log,
      handler,
      bufferBytesMax: this.o.snapshotBufferBytesMax,
      done: () => this.snapshotsInflight--,
    });
  }
}
