import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  IN_MEMORY_TAR_BYTES_MAX,
  type ReadArchiveOptions,
  readArchive,
  readArchiveBytes,
  readArchiveInto,
  verifyArchive,
} from "./archive-read.js";
import { encryptStream } from "./envelope.js";
import { generateKey } from "./envelope-key.js";
import { encodeMetaJson, type SnapshotMeta } from "./meta.js";
import { stateBinBytes } from "./state-bin.js";
import { tarEnd, tarHeader, tarPadding } from "./tar.js";
import { chunks, fixture, kvStateBin, skipUnlessFixtures, withTempDir } from "./testutil.js";

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Builds a tar from entries exactly as given (order, duplicates, anything). */
function tar(entries: [string, Uint8Array][]): Buffer {
  const parts: Uint8Array[] = [];
  for (const [name, data] of entries)
    parts.push(tarHeader(name, data.length, 1_600_000_000), data, tarPadding(data.length));
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

interface Pieces {
  meta: Uint8Array;
  state: Uint8Array;
  sums: Uint8Array;
}

async function pieces(metaOverride: Partial<SnapshotMeta> = {}, state?: Uint8Array): Promise<Pieces> {
  const st =
    state ??
    (await stateBinBytes({ LastIndex: 3 }, [{ kind: "Index", type: 16, body: { Key: "kvs", Value: 3 } }]));
  const meta = encodeMetaJson({
    Version: 1,
    ID: "2-3-1600000000000",
    Index: 3,
    Term: 2,
    Peers: null,
    Configuration: { Servers: null },
    ConfigurationIndex: 0,
    Size: st.length,
    ...metaOverride,
  });
  const sums = Buffer.from(`${sha(meta)}  meta.json\n${sha(st)}  state.bin\n`);
  return { meta, state: st, sums };
}

function standard(p: Pieces): [string, Uint8Array][] {
  return [
    ["meta.json", p.meta],
    ["state.bin", p.state],
    ["SHA256SUMS", p.sums],
  ];
}

type Outcome = { meta: SnapshotMeta } | { error: unknown };

async function outcome(p: Promise<SnapshotMeta>): Promise<Outcome> {
  return p.then(
    (meta) => ({ meta }),
    (error: unknown) => ({ error }),
  );
}

/** What a test compares of a refusal: which error, and what it says. */
function refusal(o: Outcome): unknown {
  if ("meta" in o) return o;
  const e = o.error as { name?: string; code?: string; message?: string; constructor: unknown };
  return { class: e.constructor, name: e.name, code: e.code, message: e.message };
}

/**
 * Reads `bytes` in a temp dir and checks nothing is left behind whatever happens, both ways: streamed (in
 * chunks of 1000) and whole in memory (readArchiveBytes, which must take it: every archive here is small).
 * Both must accept it with the same meta or refuse it with the same error (class, code and message).
 */
async function read(bytes: Uint8Array, opts: ReadArchiveOptions = {}): Promise<SnapshotMeta> {
  return withTempDir(async (dir) => {
    try {
      const streamed = await outcome(verifyArchive(chunks(bytes, 1000), { ...opts, tmpDir: dir }));
      const inMemory = await outcome(
        readArchiveBytes(bytes, { ...opts, tmpDir: dir }).then((r) => {
          assert.ok(r !== null, "read in memory");
          return r.verified.meta;
        }),
      );
      assert.deepStrictEqual(refusal(inMemory), refusal(streamed), "in memory as streamed");
      if ("error" in streamed) throw streamed.error;
      return streamed.meta;
    } finally {
      assert.deepStrictEqual(await readdir(dir), [], "temp files left behind");
    }
  });
}

describe("readArchive on Consul's archives", () => {
  for (const name of [
    "inspect/backup.snap",
    "inspect/backupWithKV.snap",
    "decode/all.snap",
    "realworld/khayalghosh-data-backup.snap",
  ]) {
    it(`reads and verifies ${name}`, { skip: skipUnlessFixtures(name) }, async () => {
      await withTempDir(async (dir) => {
        const a = await readArchive(createReadStream(fixture(...name.split("/"))), { tmpDir: dir });
        try {
          assert.equal(a.meta.Version, 1);
          assert.equal(a.stateBin.size, a.meta.Size);
          assert.equal(sha(readFileSync(a.stateBin.path)), a.stateBin.sha256);
        } finally {
          await a.stateBin.remove();
        }
        assert.deepStrictEqual(await readdir(dir), []);
      });
    });
  }
});

describe("Consul's archive reader cases (plain tars)", () => {
  const cases: [string, RegExp | null][] = [
    ["empty.tar", /failed checking integrity of snapshot/],
    ["extra.tar", /unexpected file "nope"/],
    ["missing-meta.tar", /hash check failed for "meta.json"/],
    ["missing-state.tar", /hash check failed for "state.bin"/],
    ["missing-sha.tar", /file missing/],
    ["corrupt-meta.tar", /hash check failed for "meta.json"/],
    ["corrupt-state.tar", /hash check failed for "state.bin"/],
    ["corrupt-sha.tar", /list missing hash for "nope"/],
    ["spaces-meta.tar", null],
  ];
  for (const [name, want] of cases) {
    it(`${name}: ${want === null ? "accepted" : want.source}`, async () => {
      const bytes = readFileSync(fixture("archive-tars", name));
      if (want === null) assert.equal((await read(bytes, { gzip: false })).Index, 10);
      else await assert.rejects(read(bytes, { gzip: false }), { message: want });
    });
  }

  it("spaces-meta.tar gzipped fails Consul's full reader on its 10 KiB record padding", async () => {
    const bytes = gzipSync(readFileSync(fixture("archive-tars", "spaces-meta.tar")));
    await assert.rejects(read(bytes), {
      code: "snapshot_trailing_data",
      message: "1536 unread uncompressed bytes remain",
    });
  });
});

describe("corrupt archives", () => {
  it("accepts the well-formed control archive", async () => {
    assert.equal((await read(gzipSync(tar(standard(await pieces()))))).Index, 3);
  });

  it("refuses an empty file and a file that is not gzip", async () => {
    await assert.rejects(read(new Uint8Array(0)), {
      code: "snapshot_decompress",
      message: "failed to decompress snapshot: EOF",
    });
    await assert.rejects(read(Buffer.from("PK\u0003\u0004 not a gzip file")), {
      code: "snapshot_decompress",
      message: "failed to decompress snapshot: gzip: invalid header",
    });
  });

  it("names an encrypted backup as such, wherever its first bytes are split, instead of a bad gzip header", async () => {
    const archive = gzipSync(tar(standard(await pieces())));
    const sealed: Buffer[] = [];
    for await (const c of Readable.from([archive]).pipe(encryptStream(generateKey())))
      sealed.push(c as Buffer);
    const expected = {
      code: "snapshot_decompress",
      message: "failed to decompress snapshot: this is an encrypted cairn backup: use -decrypt-key-file",
    };
    await assert.rejects(read(Buffer.concat(sealed)), expected);
    await assert.rejects(verifyArchive(chunks(Buffer.concat(sealed), 3)), expected);
    // Only the envelope's magic counts: another file starting with "CAIRN" is just not gzip.
    await assert.rejects(read(Buffer.from("CAIRNENX and more bytes")), {
      message: "failed to decompress snapshot: gzip: invalid header",
    });
  });

  it("refuses a truncated archive at any cut", async () => {
    const good = gzipSync(tar(standard(await pieces())));
    for (const cut of [5, 10, 60, Math.floor(good.length / 2), good.length - 4, good.length - 1]) {
      await assert.rejects(
        read(good.subarray(0, cut)),
        { code: "snapshot_decompress", message: /unexpected EOF/ },
        `cut ${cut}`,
      );
    }
  });

  it("refuses a flipped bit, in the compressed stream and under it", async () => {
    const p = await pieces();
    const good = gzipSync(tar(standard(p)));
    const flipped = Buffer.from(good);
    flipped[good.length - 6] = (flipped[good.length - 6] as number) ^ 0x10; // inside the CRC32 trailer
    await assert.rejects(read(flipped), { code: "snapshot_decompress", message: /gzip: invalid checksum/ });
    const state = Buffer.from(p.state);
    state[state.length - 1] = (state[state.length - 1] as number) ^ 0x01;
    const entries = standard(p);
    entries[1] = ["state.bin", state];
    await assert.rejects(read(gzipSync(tar(entries))), {
      code: "snapshot_integrity",
      message:
        'failed to read snapshot file: failed checking integrity of snapshot: hash check failed for "state.bin"',
    });
  });

  it("refuses a wrong or malformed SHA256SUMS", async () => {
    const p = await pieces();
    const wrong = { ...p, sums: Buffer.from(`${sha(p.meta)}  meta.json\n${"0".repeat(64)}  state.bin\n`) };
    await assert.rejects(read(gzipSync(tar(standard(wrong)))), {
      message: /hash check failed for "state.bin"/,
    });
    const short = { ...p, sums: Buffer.from(`${sha(p.meta)}  meta.json\n`) };
    await assert.rejects(read(gzipSync(tar(standard(short)))), { message: /file missing for "state.bin"/ });
    const junk = { ...p, sums: Buffer.from("not a hash line\n") };
    await assert.rejects(read(gzipSync(tar(standard(junk)))), { code: "snapshot_integrity" });
  });

  it("refuses trailing data after the gzip stream or after the tar", async () => {
    const good = gzipSync(tar(standard(await pieces())));
    await assert.rejects(read(Buffer.concat([good, Buffer.from("garbage")])), {
      code: "snapshot_decompress",
      message: /gzip: invalid header/,
    });
    await assert.rejects(read(Buffer.concat([good, Buffer.alloc(7)])), {
      code: "snapshot_trailing_data",
      message: /gzip: invalid header \(7 bytes of trailing data after the gzip stream\)/,
    });
    const padded = Buffer.concat([tar(standard(await pieces())), Buffer.alloc(512)]);
    await assert.rejects(read(gzipSync(padded)), { message: "512 unread uncompressed bytes remain" });
  });

  it("refuses bytes after the gzip stream that arrive in a later chunk, as trailing data (found by fuzz)", async () => {
    const good = gzipSync(tar(standard(await pieces())));
    for (const extra of [Buffer.alloc(2), Buffer.alloc(600), Buffer.from("garbage")]) {
      const bytes = Buffer.concat([good, extra]);
      await withTempDir(async (dir) => {
        await assert.rejects(verifyArchive([good, extra], { tmpDir: dir }), { name: "ArchiveFormatError" });
        await assert.rejects(verifyArchive(chunks(bytes, 1), { tmpDir: dir }), {
          name: "ArchiveFormatError",
        });
        assert.deepStrictEqual(await readdir(dir), []);
      });
    }
  });

  it("reads a second gzip member as Go does (multistream), so its bytes count as trailing data", async () => {
    const good = gzipSync(tar(standard(await pieces())));
    await assert.rejects(read(Buffer.concat([good, gzipSync(Buffer.from("x"))])), {
      message: "1 unread uncompressed bytes remain",
    });
  });

  it("refuses extra, missing and duplicate entries; reordered ones only in strict mode", async () => {
    const p = await pieces();
    await assert.rejects(read(gzipSync(tar([...standard(p), ["nope", Buffer.from("x")]]))), {
      code: "snapshot_unexpected_file",
      message: 'failed to read snapshot file: unexpected file "nope" in snapshot',
    });
    await assert.rejects(read(gzipSync(tar(standard(p).filter(([n]) => n !== "state.bin")))), {
      message: /hash check failed for "state.bin"/,
    });
    await assert.rejects(read(gzipSync(tar(standard(p).filter(([n]) => n !== "SHA256SUMS")))), {
      message: /file missing for "meta.json"/,
    });
    await assert.rejects(read(gzipSync(tar([...standard(p), ["meta.json", p.meta]]))), {
      code: "snapshot_duplicate_file",
    });
    const reordered = gzipSync(
      tar([standard(p)[2], standard(p)[1], standard(p)[0]] as [string, Uint8Array][]),
    );
    assert.equal((await read(reordered)).Index, 3);
    await assert.rejects(read(reordered, { strictOrder: true }), {
      code: "snapshot_entry_order",
      message: 'failed to read snapshot file: expected entry "meta.json", found "SHA256SUMS"',
    });
  });

  it("refuses meta Version 2, naming both versions, and a Size that is not state.bin's", async () => {
    await assert.rejects(read(gzipSync(tar(standard(await pieces({ Version: 2 }))))), {
      code: "snapshot_version",
      message: "unsupported snapshot version 2: this reader supports only version 1",
    });
    await assert.rejects(read(gzipSync(tar(standard(await pieces({ Size: 1 }))))), {
      code: "snapshot_size_mismatch",
      message: /size didn't match \(\d+ != 1\)/,
    });
  });

  it("refuses a state.bin whose records do not decode, even with correct hashes", async () => {
    const state = Buffer.concat([
      await stateBinBytes({ LastIndex: 1 }, []),
      Uint8Array.of(2, 0x81, 0xa3, 0x4b, 0x65, 0x79, 0x05),
    ]);
    await assert.rejects(read(gzipSync(tar(standard(await pieces({}, state))))), {
      code: "snapshot_record",
      message: /failed to decode msg type KVS, error decode KVS field "Key": expected a string/,
    });
    const cut = Buffer.concat([await stateBinBytes({ LastIndex: 1 }, []), Uint8Array.of(2, 0x81)]);
    await assert.rejects(read(gzipSync(tar(standard(await pieces({}, cut))))), {
      code: "snapshot_state_bin",
    });
  });

  it("checks records while state.bin streams, but reports a bad hash or size first, as Consul would", async () => {
    const bad = Buffer.concat([
      await stateBinBytes({ LastIndex: 1 }, []),
      Uint8Array.of(2, 0x81, 0xa3, 0x4b, 0x65, 0x79, 0x05),
    ]);
    const p = await pieces({}, bad);
    const wrongSum = { ...p, sums: Buffer.from(`${sha(p.meta)}  meta.json\n${"0".repeat(64)}  state.bin\n`) };
    await assert.rejects(read(gzipSync(tar(standard(wrongSum)))), {
      message: /hash check failed for "state\.bin"/,
    });
    await assert.rejects(read(gzipSync(tar(standard(await pieces({ Size: 7 }, bad))))), {
      code: "snapshot_size_mismatch",
    });
    // readArchive (spooling, for a restore) and verifyArchive (not spooling, for a save) judge alike.
    await assert.rejects(
      withTempDir((dir) => readArchive(chunks(gzipSync(tar(standard(p))), 7), { tmpDir: dir })),
      { code: "snapshot_record" },
    );
  });

  it("refuses an archive without state.bin even when SHA256SUMS lists the empty hash and Size is 0", async () => {
    const p = await pieces({}, new Uint8Array(0));
    const archive = gzipSync(
      tar([
        ["meta.json", p.meta],
        ["SHA256SUMS", p.sums],
      ]),
    );
    await assert.rejects(read(archive), { code: "snapshot_state_bin", message: /snapshot header/ });
  });

  it("refuses a state.bin above the configured bound before spooling it", async () => {
    await assert.rejects(read(gzipSync(tar(standard(await pieces()))), { stateBinBytesMax: 4 }), {
      code: "snapshot_limit",
      message: /^read state\.bin: \d+ bytes exceed the limit of 4$/,
    });
  });

  it("refuses meta.json that is not JSON before checking hashes, as Consul does", async () => {
    const p = await pieces();
    await assert.rejects(read(gzipSync(tar(standard({ ...p, meta: Buffer.from("{nope") })))), {
      code: "snapshot_meta",
      message: /^failed to read snapshot file: failed to decode snapshot metadata: /,
    });
  });

  it("reads a small archive given whole in memory: the same verified spool and state.bin as streamed", async () => {
    const p = await pieces();
    const archive = gzipSync(tar(standard(p)));
    const spooled = async (source: Uint8Array | Iterable<Uint8Array>) => {
      const kept: Buffer[] = [];
      const verified = await readArchiveInto(source, async (c) => void kept.push(Buffer.from(c)));
      return { verified, state: Buffer.concat(kept) };
    };
    const whole = await spooled(archive);
    assert.deepStrictEqual(whole, await spooled(chunks(archive, 7)));
    assert.deepStrictEqual(whole.state, Buffer.from(p.state));
    const inMemory = await readArchiveBytes(archive);
    assert.ok(inMemory !== null);
    assert.deepStrictEqual(Buffer.from(inMemory.stateBin), Buffer.from(p.state));
    assert.deepStrictEqual(inMemory.verified, whole.verified);
  });

  it("leaves an archive whose tar is over IN_MEMORY_TAR_BYTES_MAX to the stream, which reads it", async () => {
    // Tiny compressed, large uncompressed: the bound is on what gunzip would make.
    const big = await kvStateBin(400, () => new Uint8Array(3000));
    assert.ok(big.length > IN_MEMORY_TAR_BYTES_MAX);
    const archive = gzipSync(tar(standard(await pieces({}, big))));
    assert.equal(await readArchiveBytes(archive), null);
    let spooled = 0;
    const verified = await readArchiveInto(archive, async (c) => {
      spooled += c.length;
    });
    assert.equal(verified.size, big.length);
    assert.equal(spooled, big.length);
  });

  it("streams: a large state.bin never needs the whole archive in memory", async () => {
    const big = await kvStateBin(3000, (i) => new Uint8Array(300).fill(i & 0xff));
    const archive = gzipSync(tar(standard(await pieces({}, big))));
    assert.equal(
      (await withTempDir((dir) => verifyArchive(Readable.from(chunks(archive, 333)), { tmpDir: dir }))).Size,
      big.length,
    );
    assert.ok(gunzipSync(archive).length > 900_000);
  });
});
