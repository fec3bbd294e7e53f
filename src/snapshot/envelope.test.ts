import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { verifyArchive } from "./archive-read.js";
import {
  CHUNK_HEADER_BYTES,
  decryptStream,
  ENVELOPE_CHUNK_SIZE_DEFAULT,
  ENVELOPE_HEADER_BYTES,
  encryptedSize,
  encryptStream,
  isEncrypted,
  TAG_BYTES,
} from "./envelope.js";
import { generateKey, keyId, readKeyFile } from "./envelope-key.js";
import { EnvelopeError, type EnvelopeErrorCode } from "./errors.js";
import { chunks, fixture, MemorySink, withTempDir } from "./testutil.js";

const KEY = generateKey();
const OTHER_KEY = generateKey();
const FRAME_OVERHEAD = CHUNK_HEADER_BYTES + TAG_BYTES;
const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Runs `bytes`, cut into pieces of `pieceSize`, through `transform` and returns all it wrote. */
async function through(transform: Transform, bytes: Uint8Array, pieceSize = 4096): Promise<Buffer> {
  const sink = new MemorySink();
  await pipeline(Readable.from(chunks(bytes, pieceSize)), transform, sink);
  return sink.bytes();
}

async function encrypt(plain: Uint8Array, chunkSize?: number, pieceSize?: number): Promise<Buffer> {
  return through(encryptStream(KEY, chunkSize === undefined ? {} : { chunkSize }), plain, pieceSize);
}

/** Decrypts, keeping what the stream emitted before it failed (if it did). */
async function decrypt(
  sealed: Uint8Array,
  key: Uint8Array = KEY,
  pieceSize = 4096,
): Promise<{ out: Buffer; error: EnvelopeError | null }> {
  const sink = new MemorySink();
  try {
    await pipeline(Readable.from(chunks(sealed, pieceSize)), decryptStream(key), sink);
    return { out: sink.bytes(), error: null };
  } catch (e) {
    assert.ok(e instanceof EnvelopeError, `expected an EnvelopeError, got ${String(e)}`);
    return { out: sink.bytes(), error: e };
  }
}

async function refused(
  sealed: Uint8Array,
  code: EnvelopeErrorCode,
  message: RegExp,
  key = KEY,
): Promise<Buffer> {
  const { out, error } = await decrypt(sealed, key);
  assert.ok(error !== null, "decryption should have failed");
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return out;
}

/** The byte ranges of the chunks of an encrypted backup of `plainBytes` bytes. */
function chunkRanges(plainBytes: number, chunkSize: number): [number, number][] {
  const count = Math.max(1, Math.ceil(plainBytes / chunkSize));
  const ranges: [number, number][] = [];
  for (let k = 0; k < count; k++) {
    const start = ENVELOPE_HEADER_BYTES + k * (chunkSize + FRAME_OVERHEAD);
    const plain = k < count - 1 ? chunkSize : plainBytes - k * chunkSize;
    ranges.push([start, start + plain + FRAME_OVERHEAD]);
  }
  return ranges;
}

/** Which chunk holds byte `at` of an encrypted backup (the header counts as chunk 0's). */
function chunkAt(at: number, chunkSize: number): number {
  return at < ENVELOPE_HEADER_BYTES
    ? 0
    : Math.floor((at - ENVELOPE_HEADER_BYTES) / (chunkSize + FRAME_OVERHEAD));
}

/** What a stream refused at chunk k may have emitted: a prefix of the plaintext, of whole chunks before k. */
function assertNothingPast(out: Buffer, plain: Uint8Array, k: number, chunkSize: number): void {
  assert.ok(out.length <= k * chunkSize, `emitted ${out.length} bytes, damage in chunk ${k} of ${chunkSize}`);
  assert.ok(out.equals(plain.subarray(0, out.length)), "emitted bytes are not the plaintext's prefix");
}

describe("envelope: round trips", () => {
  for (const [name, size, chunkSize] of [
    ["0 bytes", 0, 64],
    ["1 byte", 1, 64],
    ["exactly one chunk", 64, 64],
    ["one chunk and a byte", 65, 64],
    ["three chunks and some", 3 * 64 + 5, 64],
    ["one-byte chunks", 50, 1],
  ] as const) {
    it(name, async () => {
      const plain = randomBytes(size);
      const sealed = await encrypt(plain, chunkSize, 7);
      assert.equal(sealed.length, encryptedSize(size, chunkSize));
      assert.ok(isEncrypted(sealed));
      const { out, error } = await decrypt(sealed, KEY, 5);
      assert.equal(error, null);
      assert.ok(out.equals(plain));
    });
  }

  it("an empty plaintext is the header and one final empty chunk", async () => {
    const sealed = await encrypt(new Uint8Array(0), 64);
    assert.equal(sealed.length, ENVELOPE_HEADER_BYTES + FRAME_OVERHEAD);
    const chunk = sealed.subarray(ENVELOPE_HEADER_BYTES);
    assert.equal(chunk.readUInt32BE(0), 0, "index");
    assert.equal(chunk[4], 1, "flags: final");
    assert.equal(chunk.readUInt32BE(5), 0, "length");
  });

  it("the header holds the magic, the version, the chunk size and the key id", async () => {
    const sealed = await encrypt(randomBytes(10), 4096);
    assert.equal(sealed.subarray(0, 8).toString("latin1"), "CAIRNENC");
    assert.equal(sealed[8], 1);
    assert.equal(sealed.readUInt32BE(9), 4096);
    assert.equal(sealed.subarray(45, 53).toString("hex"), sha(KEY).slice(0, 16));
    assert.equal(keyId(KEY), sha(KEY).slice(0, 16));
  });

  it("encrypting the same bytes twice gives different files (a fresh salt each time)", async () => {
    const plain = randomBytes(100);
    const a = await encrypt(plain, 64);
    const b = await encrypt(plain, 64);
    assert.ok(!a.subarray(13, 45).equals(b.subarray(13, 45)));
    assert.ok(!a.subarray(ENVELOPE_HEADER_BYTES).equals(b.subarray(ENVELOPE_HEADER_BYTES)));
  });

  for (const [name, size, chunkSize] of [
    ["5 MB in 4 KiB chunks", 5_000_000, 4096],
    ["6 MB in the default chunk size", 6_000_000, ENVELOPE_CHUNK_SIZE_DEFAULT],
  ] as const) {
    it(name, async () => {
      const plain = randomBytes(size);
      const sealed = await encrypt(plain, chunkSize, 100_003);
      assert.equal(sealed.length, encryptedSize(size, chunkSize));
      const { out, error } = await decrypt(sealed, KEY, 65_537);
      assert.equal(error, null);
      assert.equal(sha(out), sha(plain));
    });
  }

  it("a Consul archive, encrypted and decrypted, still verifies", async () => {
    const archive = readFileSync(fixture("inspect", "backup.snap"));
    const sealed = await through(encryptStream(KEY, { chunkSize: 1000 }), archive);
    const plain = await pipeline(Readable.from(chunks(sealed, 333)), decryptStream(KEY), async (source) =>
      verifyArchive(source),
    );
    assert.ok(plain.Index > 0);
  });

  it("property: any plaintext, chunk size and cutting of the input round-trips", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 700 }),
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 200 }),
        async (plain, chunkSize, inPiece, outPiece) => {
          const sealed = await encrypt(plain, chunkSize, inPiece);
          const { out, error } = await decrypt(sealed, KEY, outPiece);
          assert.equal(error, null);
          assert.ok(out.equals(plain));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("envelope: refusals", () => {
  it("a different key is named before anything is decrypted", async () => {
    const sealed = await encrypt(randomBytes(300), 64);
    const out = await refused(
      sealed,
      "wrong_key",
      new RegExp(`different key \\(key id ${keyId(KEY)}, this key ${keyId(OTHER_KEY)}\\)`),
      OTHER_KEY,
    );
    assert.equal(out.length, 0);
  });

  it("a plain archive, or anything else, is not encrypted", async () => {
    assert.equal((await refused(gzipSync("x"), "not_encrypted", /like a plain snapshot archive/)).length, 0);
    assert.equal(
      (await refused(Buffer.from("hello world"), "not_encrypted", /does not begin with CAIRNENC/)).length,
      0,
    );
    assert.ok(!isEncrypted(gzipSync("x")));
    assert.ok(!isEncrypted(Buffer.from("CAIRNEN")), "too short to tell");
  });

  it("a newer format version is refused as such", async () => {
    const sealed = await encrypt(randomBytes(10), 64);
    sealed[8] = 2;
    await refused(sealed, "unsupported_version", /format version 2; this cairn reads version 1/);
  });

  it("an empty input, a cut header and a missing final chunk are truncations", async () => {
    const sealed = await encrypt(randomBytes(200), 64);
    await refused(sealed.subarray(0, 0), "truncated", /after 0 bytes: it is empty/);
    await refused(sealed.subarray(0, 5), "truncated", /after 5 bytes: its header takes 85/);
    await refused(sealed.subarray(0, 60), "truncated", /after 60 bytes: its header takes 85/);
    const [, second] = chunkRanges(200, 64);
    const out = await refused(
      sealed.subarray(0, second![1]),
      "truncated",
      new RegExp(`truncated after ${second![1]} bytes: the final chunk is missing`),
    );
    assert.equal(out.length, 128, "the two whole chunks before the cut");
    await refused(sealed.subarray(0, second![1] + 4), "truncated", /chunk 2 is cut short in its header/);
    await refused(
      sealed.subarray(0, sealed.length - 1),
      "truncated",
      /the final chunk \(chunk 3\) is cut short/,
    );
    await refused(
      sealed.subarray(0, second![1] - 1),
      "truncated",
      /chunk 1 is cut short and the final chunk is missing/,
    );
  });

  it("reordered, duplicated and missing chunks are named", async () => {
    const plain = randomBytes(64 * 4);
    const sealed = await encrypt(plain, 64);
    const parts = chunkRanges(plain.length, 64).map(([a, b]) => sealed.subarray(a, b));
    const head = sealed.subarray(0, ENVELOPE_HEADER_BYTES);
    const [c0, c1, c2, c3] = parts as [Buffer, Buffer, Buffer, Buffer];
    let out = await refused(
      Buffer.concat([head, c0, c2, c1, c3]),
      "corrupt",
      /chunk 1 .* is out of place: it is chunk 2 of this backup \(chunks missing or out of order\)/,
    );
    assertNothingPast(out, plain, 1, 64);
    out = await refused(
      Buffer.concat([head, c0, c1, c1, c2, c3]),
      "corrupt",
      /chunk 2 .* it is chunk 1 .*\(chunks duplicated or out of order\)/,
    );
    assertNothingPast(out, plain, 2, 64);
    await refused(Buffer.concat([head, c0, c2, c3]), "corrupt", /chunk 1 .* it is chunk 2 .*missing/);
    await refused(
      Buffer.concat([head, c0, c1, c2, c3, c3]),
      "corrupt",
      /corrupt: there is data after its final chunk \(the backup should end at byte 441\)/,
    );
  });

  it("bytes after the final chunk are refused, and its plaintext is never emitted", async () => {
    const plain = randomBytes(100);
    const sealed = await encrypt(plain, 64);
    const out = await refused(
      Buffer.concat([sealed, Buffer.from([0])]),
      "corrupt",
      new RegExp(`should end at byte ${sealed.length}`),
    );
    assertNothingPast(out, plain, 1, 64);
  });

  it("a final chunk whose length field grew is corrupt, not truncated", async () => {
    const sealed = await encrypt(randomBytes(70), 64);
    const [, last] = chunkRanges(70, 64);
    sealed.writeUInt32BE(10, last![0] + 5); // holds 6
    await refused(sealed, "corrupt", /chunk 1 is damaged: its length field reads 10 but it holds 6 bytes/);
  });

  it("rewriting a chunk's clear index or final flag does not make it pass: both are sealed in", async () => {
    const plain = randomBytes(64 * 4);
    const sealed = await encrypt(plain, 64);
    const head = sealed.subarray(0, ENVELOPE_HEADER_BYTES);
    const parts = chunkRanges(plain.length, 64).map(([a, b]) => Buffer.from(sealed.subarray(a, b)));
    const [c0, c1, c2, c3] = parts as [Buffer, Buffer, Buffer, Buffer];
    // Cut after chunk 1 and mark it final: a truncation dressed up as a whole file.
    const cut = Buffer.from(c1);
    cut[4] = 1;
    let out = await refused(
      Buffer.concat([head, c0, cut]),
      "corrupt",
      /chunk 1 .* is damaged: its authentication failed/,
    );
    assertNothingPast(out, plain, 1, 64);
    // Swap chunks 1 and 2 and renumber them to fit their new places.
    const [moved2, moved1] = [Buffer.from(c2), Buffer.from(c1)];
    moved2.writeUInt32BE(1, 0);
    moved1.writeUInt32BE(2, 0);
    out = await refused(
      Buffer.concat([head, c0, moved2, moved1, c3]),
      "corrupt",
      /chunk 1 .* authentication failed/,
    );
    assertNothingPast(out, plain, 1, 64);
  });

  it("a damaged key id under the right key is corruption, not a wrong key", async () => {
    const sealed = await encrypt(randomBytes(70), 64);
    sealed[50]! ^= 0x10;
    await refused(sealed, "corrupt", /header is damaged: its key id field reads/);
  });

  /** A plaintext, a chunk size, and its encrypted backup, for the damage properties. */
  const sealedCase = fc.record({
    plain: fc.uint8Array({ maxLength: 400 }),
    chunkSize: fc.integer({ min: 1, max: 48 }),
  });
  /** Where damage goes: in the header, in a chunk's header, or anywhere (which mostly hits ciphertext). */
  type Spot = "header" | "chunk header" | "anywhere";
  const spot = fc.tuple(
    fc.constantFrom<Spot>("header", "chunk header", "anywhere"),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  );
  const pickBit = (
    [kind, d]: [Spot, number],
    c: { plain: Uint8Array; chunkSize: number },
    length: number,
  ): number => {
    if (kind === "header") return Math.floor(d * ENVELOPE_HEADER_BYTES * 8);
    if (kind === "anywhere") return Math.floor(d * length * 8);
    const ranges = chunkRanges(c.plain.length, c.chunkSize);
    const k = Math.floor(d * ranges.length);
    return ranges[k]![0] * 8 + Math.floor((d * ranges.length - k) * CHUNK_HEADER_BYTES * 8);
  };
  const prepare = (c: { plain: Uint8Array; chunkSize: number }): Promise<Buffer> =>
    encrypt(c.plain, c.chunkSize, 37);

  it("property: any single flipped bit is refused with the code of where it is", async () => {
    await fc.assert(
      fc.asyncProperty(sealedCase, spot, async (c, where) => {
        const sealed = await prepare(c);
        const bit = pickBit(where, c, sealed.length);
        const at = bit >> 3;
        sealed[at]! ^= 1 << (bit & 7);
        const expected: EnvelopeErrorCode =
          at < 8 ? "not_encrypted" : at === 8 ? "unsupported_version" : "corrupt";
        const { out, error } = await decrypt(sealed, KEY, 29);
        assert.equal(error?.code, expected, `bit ${bit}: ${error?.message}`);
        assertNothingPast(out, c.plain, chunkAt(at, c.chunkSize), c.chunkSize);
      }),
      { numRuns: 400 },
    );
  });

  it("property: any truncation is refused as truncated", async () => {
    await fc.assert(
      fc.asyncProperty(sealedCase, spot, async (c, where) => {
        const sealed = await prepare(c);
        const length = pickBit(where, c, sealed.length) >> 3;
        const { out, error } = await decrypt(sealed.subarray(0, length), KEY, 29);
        assert.equal(error?.code, "truncated", `cut at ${length}: ${error?.message}`);
        assertNothingPast(out, c.plain, chunkAt(length, c.chunkSize), c.chunkSize);
      }),
      { numRuns: 300 },
    );
  });

  it("property: swapping two chunks, or repeating one anywhere, is refused as corrupt", async () => {
    await fc.assert(
      fc.asyncProperty(sealedCase, fc.nat(), fc.nat(), fc.boolean(), async (c, x, y, swap) => {
        const sealed = await prepare(c);
        const parts = chunkRanges(c.plain.length, c.chunkSize).map(([a, b]) => sealed.subarray(a, b));
        const original = [...parts];
        const i = x % parts.length;
        if (swap) {
          const j = y % parts.length;
          fc.pre(i !== j);
          [parts[i], parts[j]] = [parts[j]!, parts[i]!];
        } else {
          parts.splice(y % (parts.length + 1), 0, parts[i]!); // a copy of chunk i, anywhere (at the end too)
        }
        const firstDamaged = parts.findIndex((part, k) => part !== original[k]);
        const { out, error } = await decrypt(
          Buffer.concat([sealed.subarray(0, ENVELOPE_HEADER_BYTES), ...parts]),
          KEY,
          29,
        );
        assert.ok(error !== null, "refused");
        assert.equal(error.code, "corrupt", error.message);
        assert.match(error.message, /out of order|after its final chunk/);
        assertNothingPast(out, c.plain, firstDamaged, c.chunkSize);
      }),
      { numRuns: 300 },
    );
  });

  it("property: bytes appended to a backup are refused as corrupt", async () => {
    await fc.assert(
      fc.asyncProperty(sealedCase, fc.uint8Array({ minLength: 1, maxLength: 100 }), async (c, extra) => {
        const sealed = await prepare(c);
        const { out, error } = await decrypt(Buffer.concat([sealed, extra]), KEY, 29);
        assert.ok(error !== null, "refused");
        assert.equal(error.code, "corrupt", error.message);
        assert.match(error.message, /after its final chunk/);
        const chunks = Math.max(1, Math.ceil(c.plain.length / c.chunkSize));
        assertNothingPast(out, c.plain, chunks - 1, c.chunkSize);
      }),
      { numRuns: 200 },
    );
  });
});

describe("envelope: bounded memory", () => {
  /**
   * Writes `piece` to `stream`, which nobody reads, until it asks to wait; returns how many writes it took.
   */
  function fillUnread(stream: Transform, piece: Buffer, limit: number): number {
    for (let n = 1; n <= limit; n++) if (!stream.write(piece)) return n;
    return limit + 1;
  }

  it("encrypting holds at most a chunk and what the reader has not taken yet", () => {
    const chunkSize = 64 * 1024;
    const piece = randomBytes(256 * 1024);
    const stream = encryptStream(KEY, { chunkSize });
    assert.equal(fillUnread(stream, piece, 100), 1);
    assert.ok(stream.readableLength + stream.writableLength <= 2 * piece.length + chunkSize);
    stream.destroy();
  });

  it("decrypting holds at most a chunk and what the reader has not taken yet", async () => {
    const chunkSize = 256 * 1024;
    const sealed = await encrypt(randomBytes(4 * 1024 * 1024), chunkSize, 1 << 20);
    const stream = decryptStream(KEY);
    const pieces = [...chunks(sealed, 16 * 1024)];
    let written = 0;
    while (written < pieces.length && stream.write(pieces[written]!)) written++;
    assert.ok(written < pieces.length / 4, `accepted ${written} of ${pieces.length} pieces without a reader`);
    assert.ok(stream.readableLength + stream.writableLength <= 2 * (chunkSize + 16 * 1024));
    stream.destroy();
  });
});

describe("envelope: key files", () => {
  const keyText = `${KEY.toString("base64")}\n`;

  /** Writes a key file with exactly this mode (whatever the umask) and returns its path. */
  async function keyFile(dir: string, content: string, mode: number): Promise<string> {
    const path = join(dir, "backup.key");
    await writeFile(path, content);
    await chmod(path, mode);
    return path;
  }

  it("reads a key file of one base64 line, with no warning at mode 0600", async () => {
    await withTempDir(async (dir) => {
      const file = await readKeyFile(await keyFile(dir, keyText, 0o600));
      assert.ok(file.key.equals(KEY));
      assert.equal(file.warning, null);
      const sealed = await encrypt(randomBytes(1000), 100);
      const { out, error } = await decrypt(sealed, file.key);
      assert.equal(error, null);
      assert.equal(out.length, 1000);
    });
  });

  it("warns, without failing, when others may read the key file", {
    skip: process.platform === "win32",
  }, async () => {
    await withTempDir(async (dir) => {
      const file = await readKeyFile(await keyFile(dir, keyText, 0o644));
      assert.ok(file.key.equals(KEY));
      assert.match(file.warning ?? "", /has mode 0644: users other than its owner may read it; .*chmod 600/);
    });
  });

  for (const [name, content, message] of [
    ["empty", "\n", /is empty: it must hold one line, the base64 of 32 random bytes/],
    ["not base64", "this is not a key\n", /is not base64: .*openssl rand -base64 32/],
    ["two lines", `${keyText}${keyText}`, /is not base64/],
    ["base64url", `${KEY.toString("base64url")}\n`, /is not base64/],
    ["16 bytes", `${randomBytes(16).toString("base64")}\n`, /holds 16 bytes, not 32/],
    ["64 bytes", randomBytes(64).toString("base64"), /holds 64 bytes, not 32/],
    ["large", "A".repeat(10_000), /too large for a key file/],
  ] as const) {
    it(`refuses a key file that is ${name}`, async () => {
      await withTempDir(async (dir) => {
        const path = await keyFile(dir, content, 0o600);
        await assert.rejects(readKeyFile(path), (e: unknown) => {
          assert.ok(e instanceof EnvelopeError);
          assert.equal(e.code, "key_file");
          assert.match(e.message, message);
          assert.ok(e.message.includes(path));
          return true;
        });
      });
    });
  }

  it("refuses a missing key file, and a directory", async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(readKeyFile(join(dir, "nope.key")), {
        code: "key_file",
        message: /nope.key" does not exist/,
      });
      await mkdir(join(dir, "d"));
      await assert.rejects(readKeyFile(join(dir, "d")), {
        code: "key_file",
        message: /is not a regular file/,
      });
    });
  });

  it("generates distinct 32-byte keys", () => {
    const a = generateKey();
    assert.equal(a.length, 32);
    assert.ok(!a.equals(generateKey()));
  });
});
