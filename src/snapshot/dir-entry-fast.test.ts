import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  checkDirEntryFast,
  decodeDirEntryFast,
  dirEntryBytes,
  encodeDirEntryFast,
} from "./dir-entry-fast.js";
import { asMap, Fields } from "./fields.js";
import { decodeGo, encodeGo } from "./gomsgpack.js";
import { type DirEntry, decodeDirEntry, dirEntryToGo } from "./records.js";

/** The general path, the twin the fast paths must agree with: the entry, or the error it throws. */
function general(body: Uint8Array): DirEntry | Error {
  try {
    return decodeDirEntry(new Fields(asMap(decodeGo(body), "KVS"), "KVS"));
  } catch (e) {
    return e as Error;
  }
}

const u53 = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.maxSafeNat());
const plainEntry: fc.Arbitrary<DirEntry> = fc.record({
  CreateIndex: u53,
  Flags: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  // Binary strings, and ASCII ones across the fixstr/str16 border and the ASCII fast path's length limit
  // (with the odd non-ASCII unit, which sends the encoder back to the general UTF-8 path midway).
  Key: fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ minLength: 25, maxLength: 300, size: "max" }),
    fc.string({ unit: fc.constantFrom("a", "/", "é", "😀"), maxLength: 300, size: "max" }),
  ),
  LockIndex: u53,
  ModifyIndex: u53,
  Session: fc.oneof(fc.constant(""), fc.uuid()),
  Value: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 300 })),
});

describe("DirEntry fast paths", () => {
  it("encode byte for byte as the general encoder", () => {
    fc.assert(
      fc.property(plainEntry, (e) => {
        assert.deepEqual(encodeDirEntryFast(e), encodeGo(dirEntryToGo(e)));
      }),
      { numRuns: 2000 },
    );
  });

  it("size an entry, without encoding it, at exactly the bytes the encoder writes", () => {
    // Values across str16 and str32 too: the sizer's header rule must agree at every border.
    const sized = fc.record({
      e: plainEntry,
      long: fc.constantFrom(0, 31, 32, 0xffff, 0x10000),
    });
    fc.assert(
      fc.property(sized, ({ e, long }) => {
        const entry = long === 0 ? e : { ...e, Value: new Uint8Array(long) };
        assert.equal(dirEntryBytes(entry), encodeDirEntryFast(entry)?.length);
      }),
      { numRuns: 2000 },
    );
    // Lone surrogates (U+FFFD, 3 bytes each) and a key of every UTF-8 length.
    for (const Key of ["\ud800", "a\udc00b", "é😀\u0800", `${"x".repeat(40)}\ud83d`]) {
      const e = { ...(fc.sample(plainEntry, 1)[0] as DirEntry), Key };
      assert.equal(dirEntryBytes(e), encodeDirEntryFast(e)?.length, JSON.stringify(Key));
    }
  });

  it("leave Enterprise and extra fields to the general encoder", () => {
    const e = fc.sample(plainEntry, 1)[0] as DirEntry;
    assert.equal(encodeDirEntryFast({ ...e, Namespace: "default" }), null);
    assert.equal(encodeDirEntryFast({ ...e, extra: { X: 1 } }), null);
    assert.equal(dirEntryBytes({ ...e, Namespace: "default" }), -1);
    assert.equal(dirEntryBytes({ ...e, extra: { X: 1 } }), -1);
  });

  it("decode what they encode to what the general decoder returns", () => {
    fc.assert(
      fc.property(plainEntry, (e) => {
        const body = encodeGo(dirEntryToGo(e));
        const fast = decodeDirEntryFast(body);
        assert.notEqual(fast, null);
        assert.deepEqual(fast, general(body));
        // Lone surrogates in a JS key become U+FFFD on the wire: compare with what was written.
        assert.equal(fast?.Key, new TextDecoder().decode(new TextEncoder().encode(e.Key)));
      }),
      { numRuns: 2000 },
    );
  });

  it("on any mutation, either agree with the general decoder or defer to it", () => {
    const mutated = fc
      .tuple(plainEntry, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat())
      .map(([e, flips, cut]) => {
        const body = encodeGo(dirEntryToGo(e));
        for (const [at, v] of flips) body[at % body.length] = v;
        return cut % 5 === 0 ? body.subarray(0, cut % body.length) : body;
      });
    fc.assert(
      fc.property(mutated, (body) => {
        const fast = decodeDirEntryFast(body);
        if (fast === null) return;
        // The fast path accepted it: the general path must accept it too, with the same result.
        assert.deepEqual(fast, general(body));
      }),
      { numRuns: 20_000 },
    );
  });

  it("check says a body decodes exactly when the fast decoder decodes it, on valid, mutated and odd UTF-8 input", () => {
    const mutated = fc
      .tuple(plainEntry, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }), fc.nat())
      .map(([e, flips, cut]) => {
        const body = encodeGo(dirEntryToGo(e));
        for (const [at, v] of flips) body[at % body.length] = v;
        return cut % 5 === 0 ? body.subarray(0, cut % body.length) : body;
      });
    // {Key, Session} as fixstr of byte pieces: valid UTF-8, a surrogate, an overlong, above U+10FFFF, a lone
    // continuation, a truncated sequence, a BOM, ASCII.
    const piece = fc.constantFrom(
      [0x61],
      [0xc3, 0xa9],
      [0xf0, 0x9f, 0x98, 0x80],
      [0xed, 0xa0, 0x80],
      [0xc0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0x80],
      [0xe2, 0x82],
      [0xef, 0xbb, 0xbf],
    );
    const str = fc.array(piece, { maxLength: 6 }).map((ps) => ps.flat());
    const oddText = fc
      .tuple(str, str)
      .map(([k, sess]) =>
        Uint8Array.of(
          0x82,
          0xa3,
          ...Buffer.from("Key"),
          0xa0 | k.length,
          ...k,
          0xa7,
          ...Buffer.from("Session"),
          0xa0 | sess.length,
          ...sess,
        ),
      );
    fc.assert(
      fc.property(fc.oneof(mutated, oddText, fc.uint8Array({ maxLength: 40 })), (body) => {
        assert.equal(checkDirEntryFast(body), decodeDirEntryFast(body) !== null);
      }),
      { numRuns: 20_000 },
    );
    // An index above 2^53 (uint64) sends both to the general path; a Flags value that large does not.
    for (const [field, ok] of [
      ["CreateIndex", false],
      ["ModifyIndex", false],
      ["Flags", true],
    ] as const) {
      const body = encodeGo({ ...dirEntryToGo(fc.sample(plainEntry, 1)[0] as DirEntry), [field]: 2n ** 60n });
      assert.equal(checkDirEntryFast(body), ok, field);
      assert.equal(decodeDirEntryFast(body) !== null, ok, field);
    }
  });

  it("reads forms other writers use (str8, bin, nil, uint64, missing fields) as the general path does", () => {
    // Key as str8 (d9), Value as bin8 (c4), Session nil, Flags as uint64: forms other writers use.
    const body = encodeGo({
      CreateIndex: 1,
      Flags: 2n ** 60n,
      Key: "k",
      LockIndex: 0,
      ModifyIndex: 2,
      Session: null,
      Value: null,
    });
    const alt = Uint8Array.from([...body]);
    assert.deepEqual(decodeDirEntryFast(alt), general(alt));
    const str8 = Uint8Array.of(0x81, 0xa3, 0x4b, 0x65, 0x79, 0xd9, 0x01, 0x6b); // {Key: str8 "k"}
    assert.deepEqual(decodeDirEntryFast(str8), general(str8));
    const bin8 = Uint8Array.of(0x81, 0xa5, 0x56, 0x61, 0x6c, 0x75, 0x65, 0xc4, 0x02, 0x01, 0x02); // {Value: bin8}
    assert.deepEqual(decodeDirEntryFast(bin8), general(bin8));
    const unknown = Uint8Array.of(0x81, 0xa1, 0x58, 0x01); // {X: 1}: extra field, general path
    assert.equal(decodeDirEntryFast(unknown), null);
    const badUtf8 = Uint8Array.of(0x81, 0xa3, 0x4b, 0x65, 0x79, 0xa1, 0xff); // Key "\xff"
    assert.equal(decodeDirEntryFast(badUtf8), null);
    assert.ok(general(badUtf8) instanceof Error);
  });
});
