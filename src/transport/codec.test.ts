import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Entry, Message, MessageType, SnapshotMeta } from "../raft/types.js";
import { AssertionError } from "../util/assert.js";
import { CODEC_VERSION, decodeMessage, encodeMessage, messageBytes } from "./codec.js";
import { CodecError } from "./errors.js";

const TYPES: MessageType[] = [
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "heartbeat",
  "heartbeatResp",
  "snap",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
  "prop",
];

/** fc.record builds null-prototype objects; decode builds plain ones, and deepStrictEqual compares prototypes. */
function plain<T extends object>(o: T): T {
  return { ...o };
}

// Small and huge values both, so 1-byte and 8-byte varints are exercised.
const num = fc.oneof(fc.nat({ max: 300 }), fc.maxSafeNat());

const entry: fc.Arbitrary<Entry> = fc
  .record({
    term: num,
    index: num,
    kind: fc.constantFrom("normal" as const, "conf" as const, "restore" as const),
    data: fc.uint8Array({ maxLength: 64 }),
  })
  .map(plain);

const snapshot: fc.Arbitrary<SnapshotMeta> = fc
  .record({
    index: num,
    term: num,
    conf: fc.record({ voters: fc.array(num, { maxLength: 5 }), learners: fc.array(num, { maxLength: 5 }) }),
    handle: fc.string({ unit: "grapheme", maxLength: 40 }),
  })
  .map((s) => plain({ ...s, conf: plain(s.conf) }));

export const arbitraryMessage: fc.Arbitrary<Message> = fc
  .record({
    type: fc.constantFrom(...TYPES),
    from: num,
    to: num,
    term: num,
    index: num,
    logTerm: num,
    entries: fc.array(entry, { maxLength: 6 }),
    commit: num,
    reject: fc.boolean(),
    rejectHint: num,
    hintTerm: num,
    snapshot: fc.option(snapshot, { nil: null }),
    context: num,
    transfer: fc.boolean(),
  })
  .map(plain);

function decodesOrRefuses(bytes: Uint8Array): void {
  try {
    decodeMessage(bytes);
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
  }
}

describe("message codec", () => {
  it("round-trips random messages, with messageBytes exact", () => {
    fc.assert(
      fc.property(arbitraryMessage, (m) => {
        const bytes = encodeMessage(m);
        assert.equal(bytes.length, messageBytes(m));
        assert.deepStrictEqual(decodeMessage(bytes), m);
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves headroom in front for a frame header", () => {
    fc.assert(
      fc.property(arbitraryMessage, fc.nat({ max: 8 }), (m, headroom) => {
        const bytes = encodeMessage(m, headroom);
        assert.deepStrictEqual(decodeMessage(bytes.subarray(headroom)), m);
      }),
    );
  });

  it("refuses every truncation of a valid message with CodecError", () => {
    fc.assert(
      fc.property(arbitraryMessage, (m) => {
        const bytes = encodeMessage(m);
        for (let n = 0; n < bytes.length; n++) {
          assert.throws(() => decodeMessage(bytes.subarray(0, n)), CodecError);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("never crashes on flipped bytes or random input: decodes or throws CodecError", () => {
    fc.assert(
      fc.property(arbitraryMessage, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, xor) => {
        const bytes = encodeMessage(m);
        bytes[at % bytes.length]! ^= xor;
        decodesOrRefuses(bytes);
      }),
      { numRuns: 2000 },
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), decodesOrRefuses), { numRuns: 2000 });
  });

  it("names the fault: version, type, flags, kind, trailing bytes, overlong and unsafe integers", () => {
    const m: Message = {
      type: "app",
      from: 1,
      to: 2,
      term: 3,
      index: 4,
      logTerm: 5,
      entries: [{ term: 3, index: 5, kind: "normal", data: new Uint8Array([9]) }],
      commit: 4,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
      snapshot: null,
      context: 0,
      transfer: false,
    };
    const good = encodeMessage(m);
    const patch = (at: number, v: number): Uint8Array => {
      const b = good.slice();
      b[at] = v;
      return b;
    };
    assert.equal(good[0], CODEC_VERSION);
    assert.throws(() => decodeMessage(patch(0, 99)), /unknown version 99/);
    assert.throws(() => decodeMessage(patch(1, 13)), /unknown type 13/);
    assert.throws(() => decodeMessage(patch(11, 0x80)), /unknown flags 128/);
    assert.throws(() => decodeMessage(patch(15, 7)), /entry 0: unknown kind 7/);
    assert.throws(() => decodeMessage(Uint8Array.of(...good, 0)), /1 trailing bytes/);
    // from = 0x80 0x00 is an overlong 0.
    assert.throws(() => decodeMessage(Uint8Array.of(1, 0, 0x80, 0x00)), /overlong varint/);
    const unsafe = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    assert.throws(() => decodeMessage(Uint8Array.of(1, 0, ...unsafe)), /not a safe integer/);
    const tooLong = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert.throws(() => decodeMessage(Uint8Array.of(1, 0, ...tooLong)), /longer than 8 bytes/);
  });

  it("refuses a huge entry count before allocating for it", () => {
    const head = [1, 0, 1, 2, 3, 4, 5, 4, 0, 0, 0, 0];
    const count = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert.throws(() => decodeMessage(Uint8Array.of(...head, ...count)), /do not fit/);
  });

  it("treats an ill-formed message as a bug at encode time", () => {
    const bad = { ...({} as Message), type: "app", from: -1 } as Message;
    assert.throws(() => encodeMessage({ ...bad, entries: [], snapshot: null }), AssertionError);
  });
});
