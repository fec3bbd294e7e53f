/**
 * Length-prefixed frames: u32 big-endian payload length | u8 frame type | payload.
 * The decoder is a push parser for a byte stream: TCP may split a frame across chunks or coalesce many frames in
 * one chunk. It checks a frame's announced length against `frameBytesMax` before buffering any of it, so a peer
 * (or a corrupted stream) can never make this process allocate an attacker-chosen size.
 */
import { assert } from "../util/assert.js";
import { CodecError, FrameTooLargeError } from "./errors.js";

export const FRAME_HEADER_BYTES = 5;
/** Default bound on one frame's payload: far above a raft append batch or a snapshot chunk, far below RAM. */
export const FRAME_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/** Wire values: append only, never reorder. */
export const FrameType = {
  /** Dialer -> listener, first frame of every connection: who I am, whom I expect (JSON, see handshake.ts). */
  hello: 1,
  /** Listener -> dialer: accepted, and who I am. */
  helloOk: 2,
  /** Either way: a refusal with a UTF-8 reason; the sender closes the connection after it. */
  refuse: 3,
  /** One encoded raft Message (codec.ts). */
  message: 4,
  /** varint request id | method | body. */
  request: 5,
  /** varint request id | u8 status (0 ok, 1 error) | body or UTF-8 error text. */
  response: 6,
  /** On a snapshot connection: the snap Message whose data follows. */
  snapBegin: 7,
  /** Raw snapshot bytes, in order. */
  snapChunk: 8,
  /** varint total bytes | 32-byte SHA-256 of all chunk bytes. */
  snapEnd: 9,
  /** Receiver -> sender: u8 status (0 installed, 1 failed) | UTF-8 reason. */
  snapResult: 10,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];
const FRAME_TYPE_MAX = FrameType.snapResult;

export interface Frame {
  readonly type: FrameType;
  /** Owned by the receiver: never reused by the decoder (it may be a view into a received chunk). */
  readonly payload: Uint8Array;
}

/** Writes a frame header at `buf[at..at+5)` for a payload of `payloadBytes`. */
export function writeFrameHeader(buf: Uint8Array, at: number, type: FrameType, payloadBytes: number): void {
  assert(Number.isInteger(payloadBytes) && payloadBytes >= 0 && payloadBytes <= 0xffffffff, "frame length");
  const view = new DataView(buf.buffer, buf.byteOffset + at, FRAME_HEADER_BYTES);
  view.setUint32(0, payloadBytes);
  view.setUint8(4, type);
}

/** A whole frame in one new buffer. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Uint8Array {
  const buf = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeFrameHeader(buf, 0, type, payload.length);
  buf.set(payload, FRAME_HEADER_BYTES);
  return buf;
}

/**
 * Streaming frame parser. `push` returns the frames completed by a chunk (possibly none, possibly many).
 * After it throws (oversize length, unknown type) the stream is unusable: the caller closes the connection.
 * Memory: holds at most one partial frame, which is <= FRAME_HEADER_BYTES + frameBytesMax.
 */
export class FrameDecoder {
  private frameBytesMax: number;
  /** Received bytes not yet returned as frames, oldest first. Invariant: their sum is `bufferedBytes`. */
  private parts: Uint8Array[] = [];
  private bufferedBytes = 0;
  /** Payload length of the frame being assembled, once its header has been read; -1 before. */
  private payloadBytes = -1;
  private type: FrameType = FrameType.hello;
  private failed = false;

  constructor(frameBytesMax: number = FRAME_BYTES_MAX_DEFAULT) {
    assert(Number.isSafeInteger(frameBytesMax) && frameBytesMax > 0, "frameBytesMax must be positive");
    this.frameBytesMax = Math.min(frameBytesMax, 0xffffffff);
  }

  /** Raises (or lowers) the bound for frames not yet started, e.g. from the handshake's bound once it is done. */
  setFrameBytesMax(frameBytesMax: number): void {
    assert(Number.isSafeInteger(frameBytesMax) && frameBytesMax > 0, "frameBytesMax must be positive");
    this.frameBytesMax = Math.min(frameBytesMax, 0xffffffff);
  }

  /** Bytes held for a partial frame (for tests and metrics). */
  get buffered(): number {
    return this.bufferedBytes;
  }

  push(chunk: Uint8Array): Frame[] {
    assert(!this.failed, "FrameDecoder used after it refused its input");
    const frames: Frame[] = [];
    if (chunk.length === 0) return frames;
    this.parts.push(chunk);
    this.bufferedBytes += chunk.length;
    try {
      for (;;) {
        if (this.payloadBytes < 0) {
          if (this.bufferedBytes < FRAME_HEADER_BYTES) break;
          this.readHeader();
        }
        if (this.bufferedBytes < this.payloadBytes) break;
        frames.push({ type: this.type, payload: this.take(this.payloadBytes) });
        this.payloadBytes = -1;
      }
    } catch (err) {
      this.failed = true;
      this.parts = [];
      this.bufferedBytes = 0;
      throw err;
    }
    return frames;
  }

  private readHeader(): void {
    const header = this.take(FRAME_HEADER_BYTES);
    const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER_BYTES);
    const length = view.getUint32(0);
    const type = view.getUint8(4);
    if (length > this.frameBytesMax) throw new FrameTooLargeError(length, this.frameBytesMax);
    if (type < FrameType.hello || type > FRAME_TYPE_MAX) {
      throw new CodecError(`cannot decode frame: unknown frame type ${type}`);
    }
    this.payloadBytes = length;
    this.type = type as FrameType;
  }

  /** Removes and returns the next `n` buffered bytes: a view when they lie in one part, else one copy. */
  private take(n: number): Uint8Array {
    assert(n <= this.bufferedBytes, "take beyond buffered bytes");
    this.bufferedBytes -= n;
    const first = this.parts[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.parts.shift();
      else this.parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const part = this.parts[0];
      assert(part !== undefined, "frame parts ran out");
      const used = Math.min(part.length, n - filled);
      out.set(part.subarray(0, used), filled);
      filled += used;
      if (used === part.length) this.parts.shift();
      else this.parts[0] = part.subarray(used);
    }
    return out;
  }
}
