/**
 * InstallSnapshot data beside the snap Message, on a connection of its own (purpose "snapshot" in the hello):
 *   sender -> snapBegin(encoded snap Message), snapChunk*, snapEnd(total bytes, SHA-256)
 *   receiver -> snapResult(status, reason) once its handler settled; then both close.
 * Chunks are at most snapshotChunkBytesMax. Both sides respect backpressure: the sender waits for 'drain', and the
 * receiver pauses the socket while more than bufferBytesMax wait for the handler, so neither side buffers a
 * whole snapshot. The receiver fails the stream (the handler's iterator throws) if the hash or length differs.
 */
import { createHash, type Hash } from "node:crypto";
import type { Socket } from "node:net";
import type { Message, NodeId } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { errorText } from "../util/errors.js";
import { decodeMessage, encodeMessage, Reader, varintBytes, Writer } from "./codec.js";
import { dial } from "./dial.js";
import { SnapshotTransferError } from "./errors.js";
import { encodeFrame, FRAME_HEADER_BYTES, type Frame, FrameType, writeFrameHeader } from "./frame.js";
import type { FrameSink } from "./inbound.js";
import type { Log } from "./peer-link.js";
import type { TransportTls } from "./tls.js";
import type { NodeIdentity, SnapshotHandler } from "./transport.js";

const SHA256_BYTES = 32;
const utf8 = new TextEncoder();
const utf8Lenient = new TextDecoder();

function endFrame(totalBytes: number, digest: Uint8Array): Uint8Array {
  const payload = new Uint8Array(varintBytes(totalBytes) + SHA256_BYTES);
  const w = new Writer(payload);
  w.varint(totalBytes);
  w.bytes(digest);
  return encodeFrame(FrameType.snapEnd, payload);
}

function resultFrame(error: string | null): Uint8Array {
  const reason = utf8.encode(error ?? "");
  return encodeFrame(FrameType.snapResult, Uint8Array.of(error === null ? 0 : 1, ...reason));
}

export interface SendSnapshotOptions {
  readonly local: NodeIdentity;
  readonly addr: string;
  readonly to: NodeId;
  readonly m: Message;
  readonly data: AsyncIterable<Uint8Array>;
  readonly frameBytesMax: number;
  readonly chunkBytesMax: number;
  readonly handshakeTimeoutMs: number;
  /** The stream fails when neither side makes progress for this long. */
  readonly idleTimeoutMs: number;
  /** Registers the socket so the transport's close() can destroy it. */
  readonly track: (socket: Socket) => void;
  readonly tls: TransportTls["dial"] | undefined;
}

/** Streams one snapshot; resolves when the receiver's handler succeeded. */
export async function sendSnapshotStream(o: SendSnapshotOptions): Promise<void> {
  const { local, addr, to, frameBytesMax, handshakeTimeoutMs, track } = o;
  const d = await dial({
    track,
    local,
    addr,
    expectRaftId: to,
    purpose: "snapshot",
    frameBytesMax,
    handshakeTimeoutMs,
    tls: o.tls,
  });
  const socket = d.socket;
  let outcome: string | null | undefined; // undefined: not yet; null: installed; string: why not
  let closedWhy = "connection closed before the receiver answered";
  const settled = new Promise<void>((resolve) => {
    const settle = (why: string | null): void => {
      if (outcome === undefined) outcome = why;
      resolve();
    };
    socket.on("data", (chunk: Buffer) => {
      try {
        for (const f of d.decoder.push(chunk)) {
          if (f.type !== FrameType.snapResult)
            throw new SnapshotTransferError(`unexpected frame type ${f.type}`);
          settle(f.payload[0] === 0 ? null : utf8Lenient.decode(f.payload.subarray(1)) || "refused");
        }
      } catch (err) {
        settle(errorText(err));
      }
    });
    socket.on("error", (err) => {
      closedWhy = err.message;
    });
    socket.on("close", () => settle(closedWhy));
    socket.setTimeout(o.idleTimeoutMs, () => settle(`no progress for ${o.idleTimeoutMs} ms`));
  });
  socket.resume();
  try {
    await writeStream(o, socket, () => outcome !== undefined);
    await settled;
  } finally {
    socket.destroy();
  }
  if (outcome) throw new SnapshotTransferError(`cannot send snapshot to node ${to}: ${outcome}`);
}

/** Writes begin, chunks and end, waiting for drain; stops early once `stopped()` (the receiver answered). */
async function writeStream(o: SendSnapshotOptions, socket: Socket, stopped: () => boolean): Promise<void> {
  socket.write(encodeFrame(FrameType.snapBegin, encodeMessage(o.m)));
  const hash = createHash("sha256");
  let total = 0;
  for await (const data of o.data) {
    for (let at = 0; at < data.length; at += o.chunkBytesMax) {
      if (stopped()) return;
      const piece = data.subarray(at, Math.min(data.length, at + o.chunkBytesMax));
      hash.update(piece);
      total += piece.length;
      const header = new Uint8Array(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, FrameType.snapChunk, piece.length);
      socket.write(header);
      if (!socket.write(piece)) await drained(socket);
    }
  }
  if (!stopped()) socket.write(endFrame(total, hash.digest()));
}

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

/**
 * The chunks of one inbound stream as an AsyncIterable for the handler. Bounded: the socket is paused while more
 * than `bufferBytesMax` wait here. Single consumer.
 */
class ChunkChannel implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private bufferedBytes = 0;
  private end: "open" | "ok" | Error = "open";
  private wake: (() => void) | null = null;
  private iterated = false;
  /** The consumer saw the verified end: only then may the handler report success. */
  consumedToEnd = false;

  constructor(
    private readonly bufferBytesMax: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > this.bufferBytesMax) this.pause();
    this.notify();
  }

  finish(result: "ok" | Error): void {
    if (this.end === "open") this.end = result;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    assert(!this.iterated, "snapshot chunks may be iterated once");
    this.iterated = true;
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.bufferedBytes -= chunk.length;
        if (this.bufferedBytes <= this.bufferBytesMax) this.resume();
        yield chunk;
      } else if (this.end instanceof Error) {
        throw this.end;
      } else if (this.end === "ok") {
        this.consumedToEnd = true;
        return;
      } else {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    }
  }
}

export interface ReceiveSnapshotOptions {
  readonly local: NodeIdentity;
  readonly log: Log;
  readonly handler: SnapshotHandler;
  readonly bufferBytesMax: number;
  /** Called once when the stream is over, whatever the outcome (releases the in-flight slot). */
  readonly done: () => void;
}

/** The receiving half: feeds the handler, verifies the hash, answers the sender. */
export class SnapshotReceiver implements FrameSink {
  private readonly peer: NodeIdentity;
  private readonly socket: Socket;
  private readonly o: ReceiveSnapshotOptions;
  private channel: ChunkChannel | null = null;
  private readonly hash: Hash = createHash("sha256");
  private totalBytes = 0;
  private ended = false;
  private answered = false;

  constructor(peer: NodeIdentity, socket: Socket, o: ReceiveSnapshotOptions) {
    this.peer = peer;
    this.socket = socket;
    this.o = o;
  }

  frame(f: Frame): void {
    if (this.answered) return;
    if (f.type === FrameType.snapBegin && !this.channel) {
      this.begin(decodeMessage(f.payload));
      return;
    }
    if (f.type === FrameType.snapChunk && this.channel && !this.ended) {
      this.hash.update(f.payload);
      this.totalBytes += f.payload.length;
      this.channel.push(f.payload);
      return;
    }
    if (f.type === FrameType.snapEnd && this.channel && !this.ended) {
      this.verify(f.payload, this.channel);
      return;
    }
    this.answer(`unexpected frame type ${f.type} in a snapshot stream`);
  }

  closed(): void {
    this.channel?.finish(new SnapshotTransferError(`snapshot stream from node ${this.peer.raftId} was cut`));
    if (!this.channel) this.answer("closed");
  }

  private begin(m: Message): void {
    if (m.type !== "snap" || !m.snapshot || m.from !== this.peer.raftId || m.to !== this.o.local.raftId) {
      this.answer(`snapshot stream must begin with a snap message from ${this.peer.raftId}, got ${m.type}`);
      return;
    }
    const s = this.socket;
    const channel = new ChunkChannel(
      this.o.bufferBytesMax,
      () => s.pause(),
      () => s.resume(),
    );
    this.channel = channel;
    const handler = this.o.handler;
    // Through a promise chain, so a handler that throws synchronously is a failed snapshot, not a crash.
    Promise.resolve(channel)
      .then((chunks) => handler(this.peer.raftId, m, chunks))
      .then(
        () =>
          this.answer(channel.consumedToEnd ? null : "the snapshot handler returned before the stream ended"),
        (err: unknown) => this.answer(errorText(err)),
      );
  }

  private verify(payload: Uint8Array, channel: ChunkChannel): void {
    this.ended = true;
    const r = new Reader(payload);
    const total = r.varint("snapshot total bytes");
    const digest = r.bytes(SHA256_BYTES, "snapshot sha256");
    r.end("snapshot end");
    const actual = this.hash.digest();
    if (total !== this.totalBytes) {
      channel.finish(
        new SnapshotTransferError(`snapshot has ${this.totalBytes} bytes, sender says ${total}`),
      );
    } else if (!actual.equals(digest)) {
      channel.finish(
        new SnapshotTransferError(`snapshot data from node ${this.peer.raftId} fails its SHA-256 check`),
      );
    } else {
      channel.finish("ok");
    }
  }

  private answer(error: string | null): void {
    if (this.answered) return;
    this.answered = true;
    this.channel?.finish(new SnapshotTransferError(error ?? "stream answered"));
    if (error !== null) this.o.log("warn", `snapshot from node ${this.peer.raftId} failed: ${error}`);
    if (!this.socket.destroyed) this.socket.end(resultFrame(error));
    this.socket.resume();
    this.o.done();
  }
}
