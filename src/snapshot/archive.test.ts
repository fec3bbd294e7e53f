import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { IN_MEMORY_BYTES_MAX, writeArchive } from "./archive.js";
import { archiveBytes } from "./archive-memory.js";
import { readArchive } from "./archive-read.js";
import { decodeMetaJson, encodeMetaJson, legacyPeers } from "./meta.js";
import { type DirEntry, decodeRecord, type RawRecord, type SnapshotRecord } from "./records.js";
import { readStateBin, stateBinBytes, writeStateBin } from "./state-bin.js";
import { type StateBinPlan, sizedStateBin, smallStateBin } from "./state-bin-plan.js";
import { fixture, MemorySink, skipUnlessFixtures, tarMembers, withTempDir } from "./testutil.js";

const BACKUP = readFileSync(fixture("inspect", "backup.snap"));
const CONFIG = {
  Servers: [{ Suffrage: 0 as const, ID: "a577b288-b354-770e-e909-da0972eb20e8", Address: "127.0.0.1:8300" }],
};

async function archiveOf(records: SnapshotRecord[], dir: string, mtimeSec = 1_700_000_000): Promise<Buffer> {
  const sink = new MemorySink();
  const input = { ID: "2-9-1700000000000", Index: 9, Term: 2, Configuration: CONFIG, ConfigurationIndex: 1 };
  await writeArchive(sink, input, Readable.from(writeStateBin({ LastIndex: 9 }, records)), {
    tmpDir: dir,
    mtimeSec,
  });
  return sink.bytes();
}

const SAMPLE: SnapshotRecord[] = [
  {
    kind: "KVS",
    type: 2,
    body: {
      CreateIndex: 4,
      Flags: 42n,
      Key: "app/config",
      LockIndex: 0,
      ModifyIndex: 8,
      Session: "",
      Value: new Uint8Array([1, 2, 3]),
    },
  },
  { kind: "Index", type: 16, body: { Key: "kvs", Value: 8 } },
  { kind: "Opaque", type: 29, body: Uint8Array.of(0x81, 0xa8, ...Buffer.from("ChunkMap"), 0x80) },
];

describe("meta.json", () => {
  it("re-encodes Consul's meta.json byte for byte", () => {
    const raw = readFileSync(fixture("inspect", "raw", "meta.json"));
    const meta = decodeMetaJson(raw);
    assert.equal(meta.Size, 5141);
    assert.deepStrictEqual(Buffer.from(encodeMetaJson(meta)), raw);
    assert.equal(legacyPeers(meta.Configuration), meta.Peers);
  });

  it("escapes like Go's encoding/json and accepts Go's leniency on read", () => {
    const meta = decodeMetaJson(
      Buffer.from(' { "version": 1, "id": "a<b>&c\\u2028", "INDEX": 3, "Extra": true }\n '),
    );
    assert.equal(meta.ID, "a<b>&c\u2028");
    assert.equal(meta.Index, 3);
    const text = Buffer.from(encodeMetaJson(meta)).toString();
    assert.match(text, /"ID":"a\\u003cb\\u003e\\u0026c\\u2028"/);
    assert.match(text, /"Peers":null,"Configuration":\{"Servers":null\}/);
    assert.throws(() => decodeMetaJson(Buffer.from('{"Index":"7"}')), { code: "snapshot_meta" });
  });
});

describe("writeArchive", () => {
  it("writes the tar Consul writes: same bytes as backup.snap's tar from the same meta and state.bin", async () => {
    const want = gunzipSync(BACKUP);
    const members = tarMembers(want);
    const meta = decodeMetaJson(members[0]?.data as Uint8Array);
    const mtimeSec = Number.parseInt(
      Buffer.from(members[0]?.header.subarray(136, 147) as Uint8Array).toString(),
      8,
    );
    await withTempDir(async (dir) => {
      const sink = new MemorySink();
      const state = Readable.from([members[1]?.data as Uint8Array]);
      await writeArchive(sink, meta, state, { tmpDir: dir, mtimeSec });
      const got = sink.bytes();
      assert.equal(got.subarray(0, 10).toString("hex"), "1f8b08000000000000ff");
      assert.deepStrictEqual(gunzipSync(got), want);
    });
  });

  it("lays out entries in order with mode 0600, one end marker and no padding", async () => {
    await withTempDir(async (dir) => {
      const tar = gunzipSync(await archiveOf(SAMPLE, dir));
      const members = tarMembers(tar);
      assert.deepStrictEqual(
        members.map((m) => m.name),
        ["meta.json", "state.bin", "SHA256SUMS"],
      );
      for (const m of members) {
        assert.equal(Buffer.from(m.header.subarray(100, 108)).toString(), "0000600\0");
        assert.equal(Buffer.from(m.header.subarray(257, 265)).toString(), "ustar\u000000");
      }
      const last = members[2];
      assert.ok(last !== undefined);
      const end = last.data.byteOffset - tar.byteOffset + Math.ceil(last.data.length / 512) * 512;
      assert.equal(tar.length, end + 1024);
      assert.ok(tar.subarray(end).every((b) => b === 0));
      const sums = Buffer.from(last.data).toString();
      assert.match(sums, /^[0-9a-f]{64} {2}meta\.json\n[0-9a-f]{64} {2}state\.bin\n$/);
    });
  });

  it("refuses a meta whose Size or Version disagrees", async () => {
    await withTempDir(async (dir) => {
      const state = (): Readable => Readable.from([Uint8Array.of(0x80)]);
      const base = { ID: "x", Index: 1, Term: 1 };
      await assert.rejects(writeArchive(new MemorySink(), { ...base, Size: 5 }, state(), { tmpDir: dir }), {
        code: "snapshot_meta",
      });
      await assert.rejects(
        writeArchive(new MemorySink(), { ...base, Version: 2 }, state(), { tmpDir: dir }),
        {
          code: "snapshot_version",
          message: "unsupported snapshot version 2: this reader supports only version 1",
        },
      );
    });
  });

  it("accepts state.bin as a file path, hashing it in place", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "given.bin");
      await writeFile(path, await stateBinBytes({ LastIndex: 9 }, SAMPLE));
      const sink = new MemorySink();
      const meta = await writeArchive(sink, { ID: "x", Index: 9, Term: 2 }, { path }, { tmpDir: dir });
      const back = await readArchive(Readable.from([sink.bytes()]), { tmpDir: dir });
      assert.equal(back.meta.Size, meta.Size);
      await back.stateBin.remove();
    });
  });
});

describe("round trip: write records, read and verify them back", () => {
  it("returns the same meta and the same records", async () => {
    await withTempDir(async (dir) => {
      const archive = await archiveOf(SAMPLE, dir);
      const back = await readArchive(Readable.from([archive]), { tmpDir: dir, strictOrder: true });
      try {
        assert.equal(back.meta.ID, "2-9-1700000000000");
        assert.deepStrictEqual(back.meta.Configuration, CONFIG);
        const got: RawRecord[] = [];
        for await (const item of readStateBin(createReadStream(back.stateBin.path))) {
          if (item.kind === "record") got.push(item.record);
        }
        assert.deepStrictEqual(got.map(decodeRecord), SAMPLE);
        assert.deepStrictEqual(
          [...back.recordCounts],
          [
            [2, 1],
            [16, 1],
            [29, 1],
          ],
        );
      } finally {
        await back.stateBin.remove();
      }
    });
  });

  it("re-archives a real snapshot's records and reads them back unchanged", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    await withTempDir(async (dir) => {
      const first = await readArchive(createReadStream(fixture("decode", "all.snap")), { tmpDir: dir });
      const sink = new MemorySink();
      await writeArchive(sink, first.meta, { path: first.stateBin.path }, { tmpDir: dir });
      const second = await readArchive(Readable.from([sink.bytes()]), { tmpDir: dir });
      assert.equal(second.stateBin.sha256, first.stateBin.sha256);
      assert.deepStrictEqual(Buffer.from(second.metaJson), Buffer.from(first.metaJson));
      await first.stateBin.remove();
      await second.stateBin.remove();
    });
  });
});

const kvRecord: fc.Arbitrary<SnapshotRecord> = fc
  .record({
    CreateIndex: fc.nat(),
    ModifyIndex: fc.nat(),
    LockIndex: fc.nat({ max: 1000 }),
    Flags: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    Key: fc.string({ unit: "grapheme", maxLength: 60 }),
    Session: fc.constantFrom("", "a577b288-b354-770e-e909-da0972eb20e8"),
    Value: fc.option(fc.uint8Array({ maxLength: 2000 }), { nil: null }),
  })
  .map((body) => ({ kind: "KVS", type: 2, body: { ...body } }) as const); // spread: fast-check records have no prototype
const opaqueRecord: fc.Arbitrary<SnapshotRecord> = fc
  .tuple(fc.integer({ min: 20, max: 127 }), fc.uint8Array({ maxLength: 300 })) // 20+: no typed codec
  .map(([type, bytes]) => ({
    kind: "Opaque",
    type,
    body: Uint8Array.of(0xc4, Math.min(bytes.length, 255), ...bytes.subarray(0, 255)),
  }));

describe("round trip (property)", () => {
  it("reads back exactly the records written, for random KV and opaque records", async () => {
    await withTempDir(async (dir) => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(kvRecord, opaqueRecord), { maxLength: 40 }), async (recs) => {
          const archive = await archiveOf(recs, dir);
          const back = await readArchive(Readable.from([archive]), { tmpDir: dir, strictOrder: true });
          try {
            const got: SnapshotRecord[] = [];
            for await (const item of readStateBin(createReadStream(back.stateBin.path))) {
              if (item.kind === "record") got.push(decodeRecord(item.record));
            }
            assert.deepStrictEqual(got, recs);
          } finally {
            await back.stateBin.remove();
          }
        }),
        { numRuns: 25 },
      );
    });
  });
});

describe('gzip level "auto" and the size told before streaming', () => {
  it("stores incompressible state (the tar comes out whole), and reports the tar's exact size first", async () => {
    await withTempDir(async (dir) => {
      const { randomBytes } = await import("node:crypto");
      const records: SnapshotRecord[] = Array.from({ length: 500 }, (_, i) => ({
        kind: "KVS" as const,
        type: 2 as const,
        body: {
          CreateIndex: i,
          Flags: 0n,
          Key: `k${i}`,
          LockIndex: 0,
          ModifyIndex: i,
          Session: "",
          Value: randomBytes(256),
        },
      }));
      let told = -1;
      let wroteBeforeTold = false;
      const sink = new (class extends MemorySink {
        override _write(chunk: Buffer, enc: BufferEncoding, done: (err?: Error | null) => void): void {
          if (told < 0) wroteBeforeTold = true;
          super._write(chunk, enc, done);
        }
      })();
      const input = { ID: "2-9-1700000000000", Index: 9, Term: 2 };
      await writeArchive(sink, input, Readable.from(writeStateBin({ LastIndex: 9 }, records)), {
        tmpDir: dir,
        gzipLevel: "auto",
        onSpooled: (_meta, tarBytes) => {
          told = tarBytes;
        },
      });
      const archive = sink.bytes();
      assert.equal(wroteBeforeTold, false);
      assert.equal(gunzipSync(archive).length, told);
      // Stored blocks: the archive is the tar plus gzip's framing (5 bytes per block, header and trailer).
      assert.ok(archive.length >= told && archive.length < told + 1024, `${archive.length} vs ${told}`);
      const read = await readArchive(Readable.from([archive]), { tmpDir: dir });
      await read.stateBin.remove();
    });
  });
});

describe("writeArchive in memory (a small state.bin)", () => {
  const recordsOf = (n: number, valueBytes: (i: number) => Uint8Array): SnapshotRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      kind: "KVS",
      type: 2,
      body: {
        CreateIndex: i,
        Flags: 0n,
        Key: `k${i}`,
        LockIndex: 0,
        ModifyIndex: i,
        Session: "",
        Value: valueBytes(i),
      },
    }));
  const input = { ID: "2-9-1700000000000", Index: 9, Term: 2, Configuration: CONFIG };
  const LEVELS = [0, 1, 6, "auto"] as const;
  /** A plan over the records (a server's view is one): what saveSnapshot archives. */
  const planOf = (records: SnapshotRecord[]): StateBinPlan<DirEntry> => ({
    header: { LastIndex: 9 },
    parts: () => [records.map((r) => r.body as DirEntry)],
    dirEntry: (e) => e,
  });

  it("writes the same bytes as the streamed archive, at every level, spooled or from a plan", async () => {
    await withTempDir(async (dir) => {
      const records = recordsOf(40, (i) => new TextEncoder().encode(`value ${i} `.repeat(i)));
      for (const gzipLevel of LEVELS) {
        const ways: Buffer[] = [];
        for (const inMemoryBytesMax of [0, 1 << 20]) {
          const sink = new MemorySink();
          const state = Readable.from(writeStateBin({ LastIndex: 9 }, records));
          const options = { tmpDir: dir, mtimeSec: 1_700_000_000, gzipLevel, inMemoryBytesMax };
          await writeArchive(sink, input, state, options);
          ways.push(sink.bytes());
          const fromPlan = new MemorySink();
          await writeArchive(fromPlan, input, await sizedStateBin(planOf(records)), options);
          ways.push(fromPlan.bytes());
        }
        const small = smallStateBin(planOf(records), IN_MEMORY_BYTES_MAX);
        assert.ok(small !== null);
        ways.push(archiveBytes(input, small, { mtimeSec: 1_700_000_000, gzipLevel }).bytes);
        for (const [i, way] of ways.entries()) assert.deepEqual(way, ways[0], `level ${gzipLevel}, way ${i}`);
        assert.equal(ways[0]![9], 0xff);
      }
    });
  });

  it("leaves a state.bin over IN_MEMORY_BYTES_MAX to the stream, whose bytes the in-memory writer matches", async () => {
    await withTempDir(async (dir) => {
      // ~90 KiB: compressible halves and incompressible ones, so "auto" has samples to judge.
      const records = recordsOf(90, (i) =>
        i % 2 === 0 ? new Uint8Array(1000).fill(i) : Uint8Array.from(randomBytes(1000)),
      );
      const plan = planOf(records);
      assert.equal(smallStateBin(plan, IN_MEMORY_BYTES_MAX), null, "too big for memory");
      const whole = await stateBinBytes({ LastIndex: 9 }, records);
      assert.ok(whole.length > IN_MEMORY_BYTES_MAX);
      for (const gzipLevel of LEVELS) {
        const sink = new MemorySink();
        let paced = false;
        await writeArchive(sink, input, await sizedStateBin(plan), {
          mtimeSec: 1_700_000_000,
          gzipLevel,
          // Only the stream is paced: a pull seen here is a pull of the streamed tar.
          pace: (tar) => {
            paced = true;
            return tar;
          },
        });
        assert.equal(paced, true, `level ${gzipLevel} streamed`);
        const inMemory = archiveBytes(input, whole, { mtimeSec: 1_700_000_000, gzipLevel }).bytes;
        assert.deepEqual(inMemory, sink.bytes(), `level ${gzipLevel}`);
        const read = await readArchive(Readable.from([inMemory]), { tmpDir: dir });
        assert.deepEqual(readFileSync(read.stateBin.path), Buffer.from(whole));
        await read.stateBin.remove();
      }
    });
  });
});
