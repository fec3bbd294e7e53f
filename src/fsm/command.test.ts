import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeCommand,
  encodeCommand,
  isWellFormed,
  KEY_BYTES_MAX,
  type KvCommand,
  VALUE_BYTES_MAX,
} from "./command.js";
import { CommandDecodeError, CommandLimitError, InvalidKeyError } from "./errors.js";

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const key = fc.string({ unit: "grapheme", maxLength: 20 });
const value = fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null });
const write = { key, value, flags: u64 };

const command: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ op: fc.constant("set" as const), ...write }),
  fc.record({ op: fc.constant("cas" as const), ...write, index: u64 }),
  fc.record({ op: fc.constant("acquire" as const), ...write, session: key }),
  fc.record({ op: fc.constant("release" as const), ...write, session: key }),
  fc.record({ op: fc.constant("delete" as const), key }),
  fc.record({ op: fc.constant("delete-cas" as const), key, index: u64 }),
  fc.record({ op: fc.constant("delete-tree" as const), prefix: key }),
  fc.record({ op: fc.constant("tombstone-reap" as const), index: u64 }),
);

describe("command codec", () => {
  it("round-trips every command, and the bytes re-encode to themselves", () => {
    fc.assert(
      fc.property(command, (cmd) => {
        const bytes = encodeCommand(cmd);
        const back = decodeCommand(bytes);
        assert.deepEqual({ ...back }, { ...cmd });
        assert.deepEqual(encodeCommand(back), bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps values binary-safe, up to 512 KiB, and tells nil from empty", () => {
    const big = new Uint8Array(VALUE_BYTES_MAX).map((_, i) => (i * 31) & 0xff);
    const back = decodeCommand(encodeCommand({ op: "set", key: "k", value: big, flags: 0n }));
    assert.ok(back.op === "set" && back.value !== null);
    assert.deepEqual(back.value, big);
    const empty = decodeCommand(encodeCommand({ op: "set", key: "k", value: new Uint8Array(0), flags: 0n }));
    assert.ok(empty.op === "set");
    assert.deepEqual(empty.value, new Uint8Array(0));
    const nil = decodeCommand(encodeCommand({ op: "set", key: "k", value: null, flags: 0n }));
    assert.ok(nil.op === "set");
    assert.equal(nil.value, null);
  });

  it("refuses oversized values and keys, and keys with lone surrogates", () => {
    const tooBig = new Uint8Array(VALUE_BYTES_MAX + 1);
    assert.throws(() => encodeCommand({ op: "set", key: "k", value: tooBig, flags: 0n }), CommandLimitError);
    const longKey = "x".repeat(KEY_BYTES_MAX + 1);
    assert.throws(() => encodeCommand({ op: "delete", key: longKey }), CommandLimitError);
    assert.throws(() => encodeCommand({ op: "delete", key: "a\ud800" }), InvalidKeyError);
    assert.equal(isWellFormed("a😀b"), true);
    assert.equal(isWellFormed("\udc00"), false);
  });

  it("refuses truncated, trailing, unknown and malformed bytes", () => {
    const good = encodeCommand({ op: "cas", key: "a/b", value: Uint8Array.of(1, 2), flags: 7n, index: 9n });
    for (let n = 0; n < good.length; n++) {
      assert.throws(() => decodeCommand(good.subarray(0, n)), CommandDecodeError, `prefix of ${n} bytes`);
    }
    assert.throws(() => decodeCommand(Uint8Array.of(...good, 0)), CommandDecodeError);
    assert.throws(() => decodeCommand(Uint8Array.of(2, 1)), /unknown version 2/);
    assert.throws(() => decodeCommand(Uint8Array.of(1, 99)), /unknown opcode 99/);
    // delete with a key of one byte 0xff: not UTF-8.
    assert.throws(() => decodeCommand(Uint8Array.of(1, 3, 0, 0, 0, 1, 0xff)), /invalid UTF-8/);
    // set with value tag 2.
    assert.throws(() => decodeCommand(Uint8Array.of(1, 1, 0, 0, 0, 0, 2)), /tag 2/);
  });

  it("decodes arbitrary bytes to a command or a typed error, never anything else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          assert.deepEqual(encodeCommand(decodeCommand(bytes)), bytes);
        } catch (err) {
          assert.ok(err instanceof CommandDecodeError || err instanceof CommandLimitError, String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
