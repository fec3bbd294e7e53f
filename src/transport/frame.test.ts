import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AssertionError } from "../util/assert.js";
import { CodecError, FrameTooLargeError } from "./errors.js";
import { encodeFrame, FRAME_HEADER_BYTES, type Frame, FrameDecoder, FrameType } from "./frame.js";

function stream(): { bytes: Uint8Array; frames: Frame[] } {
  const frames: Frame[] = [
    { type: FrameType.hello, payload: new TextEncoder().encode('{"a":1}') },
    { type: FrameType.message, payload: new Uint8Array(0) },
    { type: FrameType.snapChunk, payload: Uint8Array.from({ length: 300 }, (_, i) => i & 0xff) },
    { type: FrameType.response, payload: Uint8Array.of(7) },
  ];
  const encoded = frames.map((f) => encodeFrame(f.type, f.payload));
  return { bytes: Uint8Array.from(encoded.flatMap((b) => [...b])), frames };
}

function summary(frames: readonly Frame[]): string[] {
  return frames.map((f) => `${f.type}:${Buffer.from(f.payload).toString("hex")}`);
}

function feed(decoder: FrameDecoder, bytes: Uint8Array, cuts: readonly number[]): Frame[] {
  const out: Frame[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(at, cut)));
    at = cut;
  }
  return out;
}

describe("FrameDecoder", () => {
  it("decodes the same frames whatever single split point the stream has", () => {
    const { bytes, frames } = stream();
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder(1024);
      assert.deepEqual(summary(feed(d, bytes, [cut])), summary(frames), `split at ${cut}`);
      assert.equal(d.buffered, 0);
    }
  });

  it("decodes a stream fed one byte at a time, and in random chunkings", () => {
    const { bytes, frames } = stream();
    const oneByOne = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(summary(feed(new FrameDecoder(1024), bytes, oneByOne)), summary(frames));
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: bytes.length }), { maxLength: 20 }), (cuts) => {
        const sorted = [...cuts].sort((a, b) => a - b);
        assert.deepEqual(summary(feed(new FrameDecoder(1024), bytes, sorted)), summary(frames));
      }),
    );
  });

  it("refuses an oversize length from the header alone, without buffering the body", () => {
    const d = new FrameDecoder(100);
    const ok = encodeFrame(FrameType.message, new Uint8Array(100));
    assert.equal(d.push(ok).length, 1);
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    new DataView(header.buffer).setUint32(0, 0xffffffff);
    header[4] = FrameType.message;
    assert.throws(() => d.push(header), FrameTooLargeError);
    assert.equal(d.buffered, 0);
    assert.throws(() => d.push(ok), AssertionError, "a refused stream stays refused");
  });

  it("refuses an unknown frame type", () => {
    assert.throws(() => new FrameDecoder().push(Uint8Array.of(0, 0, 0, 0, 99)), CodecError);
    assert.throws(() => new FrameDecoder().push(Uint8Array.of(0, 0, 0, 0, 0)), /unknown frame type 0/);
  });
});
