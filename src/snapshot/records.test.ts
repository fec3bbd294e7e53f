import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { decodeGo } from "./gomsgpack.js";
import { isEnterpriseType, MESSAGE_TYPES, MessageType, messageTypeName } from "./message-types.js";
import {
  decodeRecord,
  encodeHeader,
  encodeRecord,
  type RawRecord,
  type SnapshotRecord,
  tombstone,
} from "./records.js";
import { readStateBin, readStateBinBatches, type StateBinItem, stateBinBytes } from "./state-bin.js";
import { chunks, fixture, skipUnlessFixtures, stateBinOf } from "./testutil.js";

const ARCHIVES = [
  "inspect/backup.snap",
  "inspect/backupWithKV.snap",
  "decode/all.snap",
  "realworld/khayalghosh-data-backup.snap",
];

function stateBinFixture(name: string): Uint8Array {
  return stateBinOf(readFileSync(fixture(...name.split("/"))));
}

async function items(bytes: Uint8Array, chunkSize: number): Promise<StateBinItem[]> {
  const out: StateBinItem[] = [];
  for await (const item of readStateBin(chunks(bytes, chunkSize))) out.push(item);
  return out;
}

function records(list: StateBinItem[]): RawRecord[] {
  return list.flatMap((i) => (i.kind === "record" ? [i.record] : []));
}

describe("message types", () => {
  it("names types as Consul CE's MessageType.String()", () => {
    assert.equal(messageTypeName(MessageType.KVS), "KVS");
    assert.equal(messageTypeName(0), "Register");
    assert.equal(messageTypeName(3), "Session");
    assert.equal(messageTypeName(16), "Index");
    assert.equal(messageTypeName(37), "Unknown(37)");
    assert.equal(messageTypeName(43), "UpdateManualVirtualIPRequestType");
    assert.equal(messageTypeName(65), "Unknown(65)");
    assert.equal(messageTypeName(200), "Unknown(200)");
    assert.equal(MESSAGE_TYPES.length, 45);
    assert.ok(isEnterpriseType(65) && !isEnterpriseType(44) && !isEnterpriseType(128));
  });
});

describe("state.bin reader on Consul's snapshots", () => {
  for (const name of ARCHIVES) {
    const skip = skipUnlessFixtures(name);
    it(`reads ${name} identically at any chunk size, sizes adding up`, { skip }, async () => {
      const bytes = stateBinFixture(name);
      const whole = await items(bytes, bytes.length);
      for (const size of [1, 7, 4096]) assert.deepStrictEqual(await items(bytes, size), whole);
      for (const size of [1, 4096]) {
        const batches: (readonly StateBinItem[])[] = [];
        for await (const b of readStateBinBatches(chunks(bytes, size))) batches.push(b);
        assert.ok(
          batches.every((b) => b.length > 0),
          "no empty batch",
        );
        assert.deepStrictEqual(batches.flat(), whole);
      }
      assert.equal(
        whole.reduce((n, i) => n + i.size, 0),
        bytes.length,
      );
      assert.equal(whole[0]?.kind, "header");
    });

    it(`writes ${name}'s records back byte for byte`, { skip }, async () => {
      const bytes = stateBinFixture(name);
      const list = await items(bytes, 65536);
      const head = list[0];
      assert.ok(head?.kind === "header");
      assert.deepStrictEqual(
        Buffer.from(await stateBinBytes(head.header, records(list))),
        Buffer.from(bytes),
      );
    });

    it(`re-encodes ${name}'s typed records exactly (Register: same decoded value)`, { skip }, async () => {
      for (const raw of records(await items(stateBinFixture(name), 65536))) {
        const rec = decodeRecord(raw);
        const again = encodeRecord(rec);
        assert.equal(again.type, raw.type);
        if (rec.kind === "Register") {
          // Go writes map fields (TaggedAddresses, Meta) in random order: compare decoded.
          assert.deepStrictEqual(decodeGo(again.body), decodeGo(raw.body));
        } else {
          assert.deepStrictEqual(Buffer.from(again.body), Buffer.from(raw.body), `${rec.kind} record`);
        }
      }
    });
  }

  it("decodes a real KV entry, a tombstone, a session and an index row", async () => {
    const recs = records(await items(stateBinFixture("inspect/backupWithKV.snap"), 65536)).map(decodeRecord);
    const kv = recs.find((r) => r.kind === "KVS");
    assert.ok(kv?.kind === "KVS");
    assert.ok(kv.body.Key.startsWith("vault/"));
    assert.equal(typeof kv.body.Flags, "bigint");
    const tomb = recs.find((r) => r.kind === "Tombstone");
    assert.ok(tomb?.kind === "Tombstone" && tomb.body.ModifyIndex > 0 && tomb.body.Value === null);
    const session = recs.find((r) => r.kind === "Session");
    assert.ok(session?.kind === "Session" && session.body.ID.length === 36);
    const index = recs.find((r) => r.kind === "Index");
    assert.ok(index?.kind === "Index" && index.body.Key.length > 0);
    const reg = recs.find((r) => r.kind === "Register" && r.body.Service !== null);
    assert.ok(reg?.kind === "Register" && reg.body.Node === "hashicorp.lan");
  });

  it("keeps Enterprise and other untyped records opaque", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const recs = records(await items(stateBinFixture("decode/all.snap"), 65536)).map(decodeRecord);
    assert.deepStrictEqual(
      recs.slice(0, 2).map((r) => [r.kind, r.type]),
      [
        ["Opaque", 65],
        ["Opaque", 69],
      ],
    );
  });
});

describe("typed records", () => {
  it("round-trips a KV entry with a 64-bit flag and a nil value", () => {
    const rec: SnapshotRecord = {
      kind: "KVS",
      type: 2,
      body: {
        CreateIndex: 5,
        Flags: 2n ** 64n - 1n,
        Key: "a/b",
        LockIndex: 0,
        ModifyIndex: 7,
        Session: "",
        Value: null,
      },
    };
    assert.deepStrictEqual(decodeRecord(encodeRecord(rec)), rec);
    const t: SnapshotRecord = { kind: "Tombstone", type: 5, body: tombstone("gone", 9) };
    assert.deepStrictEqual(decodeRecord(encodeRecord(t)), t);
  });

  it("refuses a field of the wrong type with the record and field named", () => {
    const raw = encodeRecord({ kind: "Index", type: 16, body: { Key: "kvs", Value: 3 } });
    const bad = { type: 2, body: raw.body.map((b) => (b === 0x03 ? 0xa1 : b)) };
    assert.throws(() => decodeRecord({ type: 2, body: Uint8Array.of(0x81, 0xa3, 0x4b, 0x65, 0x79, 0x05) }), {
      code: "snapshot_record",
      message: 'decode KVS field "Key": expected a string, got a number',
    });
    assert.throws(() => decodeRecord(bad), { code: "snapshot_msgpack" });
  });
});

describe("state.bin reader errors", () => {
  it("refuses an empty stream, a truncated record and a never-used byte", async () => {
    await assert.rejects(items(new Uint8Array(0), 1), {
      code: "snapshot_state_bin",
      message: /snapshot header/,
    });
    const bytes = stateBinFixture("inspect/backup.snap");
    await assert.rejects(items(bytes.subarray(0, bytes.length - 3), 100), {
      code: "snapshot_state_bin",
      message: /msg type ChunkingState at offset 5129: state\.bin ends after 9 bytes of it: unexpected EOF/,
    });
    const bad = Buffer.concat([bytes, Uint8Array.of(2, 0xc1)]);
    await assert.rejects(items(bad, 100), { code: "snapshot_state_bin", message: /invalid byte 0xc1/ });
  });

  it("refuses a record above the size bound", async () => {
    // A record announcing a 64 KiB string: refused before the bytes arrive.
    const oneStr = Buffer.concat([encodeHeader({ LastIndex: 1 }), Uint8Array.of(99, 0xdb, 0, 1, 0, 0)]);
    const run = async (): Promise<void> => {
      for await (const _ of readStateBin(chunks(oneStr, 4), { recordBytesMax: 1000 })) {
        // drain
      }
    };
    await assert.rejects(run(), { code: "snapshot_limit" });
  });
});
