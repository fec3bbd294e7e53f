/**
 * One accepted connection: the listener's side of the handshake, then either raft traffic (messages in, requests
 * in and responses out) or a single snapshot stream, handed to snapshot.ts. Anything malformed closes the
 * connection with a logged reason; it never throws into the event loop.
 */
import type { Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import { AssertionError } from "../util/assert.js";
import { errorText } from "../util/errors.js";
import { decodeMessage } from "./codec.js";
import { HandshakeError } from "./errors.js";
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "./frame.js";
import { decodeHello, encodeIdentity, HANDSHAKE_BYTES_MAX, refuseHello } from "./handshake.js";
import type { Log } from "./peer-link.js";
import { decodeRequest, responseFrame } from "./rpc.js";
import type { NodeIdentity } from "./transport.js";
import { TurnWriter } from "./turn-writer.js";

/** The receiving half of one snapshot stream (snapshot.ts). */
export interface FrameSink {
  frame(f: Frame): void;
  closed(): void;
}

export interface InboundDeps {
  readonly local: NodeIdentity;
  readonly log: Log;
  readonly frameBytesMax: number;
  readonly handshakeTimeoutMs: number;
  /** Requests served at once on one connection; more are answered with an error rather than queued. */
  readonly requestsInflightMax: number;
  /** The pool of partial-frame bytes shared by every accepted connection (TcpTransportOptions.inboundPartialBytesMax). */
  readonly partialBytes: { used: number; readonly max: number };
  readonly identified: (peer: NodeIdentity) => void;
  readonly deliver: (m: Message) => void;
  readonly serve: (from: NodeId, method: string, body: Uint8Array) => Promise<Served>;
  /** A sink for a snapshot stream, or the reason to refuse it. */
  readonly snapshot: (peer: NodeIdentity, socket: Socket) => FrameSink | string;
}

/** A request's answer, and what to call once the socket no longer reads its bytes (a lent buffer's return). */
export interface Served {
  readonly answer: Uint8Array;
  readonly written: (() => void) | undefined;
}

const utf8 = new TextEncoder();

export class InboundConnection {
  private readonly socket: Socket;
  private readonly d: InboundDeps;
  private readonly decoder = new FrameDecoder(HANDSHAKE_BYTES_MAX);
  private peer: NodeIdentity | null = null;
  private sink: FrameSink | null = null;
  private inflight = 0;
  /** This connection's share of `partialBytes.used`: what its decoder held when last accounted. */
  private held = 0;
  private readonly timer: NodeJS.Timeout;
  /** Answers to requests, one write per event-loop turn. */
  private readonly answers: TurnWriter;

  constructor(socket: Socket, d: InboundDeps) {
    this.socket = socket;
    this.d = d;
    this.answers = new TurnWriter(socket);
    socket.setNoDelay(true);
    this.timer = setTimeout(
      () => this.fail(`no handshake within ${d.handshakeTimeoutMs} ms`),
      d.handshakeTimeoutMs,
    );
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    socket.on("error", () => {}); // the close that follows is what matters
    socket.on("close", () => {
      clearTimeout(this.timer);
      this.d.partialBytes.used -= this.held;
      this.held = 0;
      this.sink?.closed();
    });
  }

  private get who(): string {
    return this.peer ? `node ${this.peer.raftId} ("${this.peer.name}")` : `"${this.socket.remoteAddress}"`;
  }

  /** Logs and closes. A refusal is flushed first (end, not destroy), so the dialer can log the reason too. */
  private fail(why: string, flush = false): void {
    this.d.log("error", `closing connection from ${this.who}: ${why}`);
    if (flush) this.socket.end();
    else this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    try {
      for (const f of this.decoder.push(chunk)) {
        if (this.socket.destroyed || this.socket.writableEnded) return;
        this.frame(f);
      }
    } catch (err) {
      // A broken invariant (ours, or the message handler's) must stop the process, not just this connection.
      if (err instanceof AssertionError) throw err;
      this.fail(errorText(err), err instanceof HandshakeError);
      return;
    }
    const pool = this.d.partialBytes;
    pool.used += this.decoder.buffered - this.held;
    this.held = this.decoder.buffered;
    if (pool.used > pool.max) {
      this.fail(`partial frames of all connections past ${pool.max} bytes (this one holds ${this.held})`);
    }
  }

  private frame(f: Frame): void {
    if (this.sink) {
      this.sink.frame(f);
      return;
    }
    if (!this.peer) {
      this.hello(f);
      return;
    }
    if (f.type === FrameType.message) {
      this.message(decodeMessage(f.payload), this.peer);
      return;
    }
    if (f.type === FrameType.request) {
      this.request(f.payload, this.peer);
      return;
    }
    this.fail(`unexpected frame type ${f.type}`);
  }

  private hello(f: Frame): void {
    if (f.type !== FrameType.hello) {
      this.fail(`expected a hello, got frame type ${f.type}`);
      return;
    }
    const h = decodeHello(f.payload);
    const why = refuseHello(this.d.local, h);
    if (why !== null) throw new HandshakeError(this.refuse(`refusing handshake: ${why}`));
    clearTimeout(this.timer);
    if (h.purpose === "snapshot") {
      const sink = this.d.snapshot(h, this.socket);
      if (typeof sink === "string") throw new HandshakeError(this.refuse(sink));
      this.sink = sink;
    }
    this.peer = h;
    this.decoder.setFrameBytesMax(this.d.frameBytesMax);
    this.socket.write(encodeFrame(FrameType.helloOk, encodeIdentity(this.d.local)));
    if (h.purpose === "raft") this.d.identified(h);
    else if (h.purpose === "probe") this.socket.end();
  }

  /** Tells the dialer why (so its operator sees it too); the caller then closes. Returns `why`. */
  private refuse(why: string): string {
    this.socket.write(encodeFrame(FrameType.refuse, utf8.encode(why)));
    return why;
  }

  private message(m: Message, peer: NodeIdentity): void {
    // The handshake vouched for the peer's raft id; a message claiming another sender is a bug or an impostor.
    if (m.from !== peer.raftId || m.to !== this.d.local.raftId) {
      throw new HandshakeError(
        `message ${m.type} from ${m.from} to ${m.to} on a connection from ${peer.raftId}`,
      );
    }
    this.d.deliver(m);
  }

  private request(payload: Uint8Array, peer: NodeIdentity): void {
    const { id, method, body } = decodeRequest(payload);
    if (this.inflight >= this.d.requestsInflightMax) {
      this.answers.write(responseFrame(id, { error: `busy: ${this.inflight} requests in flight` }));
      return;
    }
    this.inflight++;
    this.d.serve(peer.raftId, method, body).then(
      ({ answer, written }) => this.respond(responseFrame(id, { ok: answer }), written),
      (err: unknown) => this.respond(responseFrame(id, { error: errorText(err) }), undefined),
    );
  }

  private respond(frame: readonly Uint8Array[], written: (() => void) | undefined): void {
    this.inflight--;
    this.answers.write(frame, written);
  }
}
