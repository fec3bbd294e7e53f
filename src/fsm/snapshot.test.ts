import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeRecord,
  MessageType,
  type RawRecord,
  readArchive,
  readStateBin,
  readStateBinBatches,
  type StateBinItem,
  writeStateBin,
} from "../snapshot/index.js";
import { StateBinSplitter } from "../snapshot/state-bin.js";
import { fixture, skipUnlessFixtures } from "../snapshot/testutil.js";
import type { KvCommand } from "./command.js";
import { KvStore, type SessionView } from "./kv-store.js";
import type { KvSnapshot } from "./snapshot.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const anySession: SessionView = { isValid: (id) => id.startsWith("s"), isLockDelayed: () => false };

async function stateBin(view: KvSnapshot): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of view.stateBin()) parts.push(chunk);
  return Buffer.concat(parts);
}

function recordBytes(view: KvSnapshot): Buffer[] {
  return [...view.records()].map((r) => Buffer.concat([Uint8Array.of(r.type), r.body]));
}

const keyArb = fc.constantFrom("a", "a/b", "a/c", "b", "b/x/y", "😀", "\u{ffff}", "");
const valueArb = fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null });
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    key: keyArb,
    value: valueArb,
    flags: fc.bigUint64Array({ minLength: 1, maxLength: 1 }).map((a) => a[0] as bigint),
  }),
  fc.record({
    op: fc.constant("cas" as const),
    key: keyArb,
    value: valueArb,
    flags: fc.constant(1n),
    index: fc.bigInt({ min: 0n, max: 40n }),
  }),
  fc.record({
    op: fc.constant("acquire" as const),
    key: keyArb,
    value: valueArb,
    flags: fc.constant(0n),
    session: fc.constantFrom("s1", "s2", "x"),
  }),
  fc.record({
    op: fc.constant("release" as const),
    key: keyArb,
    value: valueArb,
    flags: fc.constant(0n),
    session: fc.constantFrom("s1", "s2"),
  }),
  fc.record({ op: fc.constant("delete" as const), key: keyArb }),
  fc.record({ op: fc.constant("delete-cas" as const), key: keyArb, index: fc.bigInt({ min: 0n, max: 40n }) }),
  fc.record({ op: fc.constant("delete-tree" as const), prefix: fc.constantFrom("a", "a/", "b/", "") }),
  fc.record({ op: fc.constant("tombstone-reap" as const), index: fc.bigInt({ min: 0n, max: 40n }) }),
);

describe("KvSnapshot", () => {
  it("stays as it was taken while writes go on", async () => {
    const s = new KvStore();
    for (let i = 1; i <= 200; i++) s.apply(i, { op: "set", key: `k/${i}`, value: bytes(`v${i}`), flags: 0n });
    const view = s.snapshot();
    const before = await stateBin(view);
    const records = view.records();
    records.next(); // start streaming, then write underneath it
    for (let i = 201; i <= 400; i++) s.apply(i, { op: "delete", key: `k/${i - 200}` });
    s.apply(401, { op: "set", key: "k/new", value: null, flags: 0n });
    assert.equal([...records].length, 200 - 1 + 1, "the rest of the stream: 199 KV records and 1 index row");
    assert.deepEqual(await stateBin(view), before);
    assert.equal(view.get("k/1").entry?.ModifyIndex, 1);
    assert.equal(s.get("k/1").entry, null);
  });

  it("restore(records(snapshot)) gives the same store and the same bytes; replicas agree byte for byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 60 }), fc.nat(60), async (cmds, cut) => {
        const a = new KvStore();
        const b = new KvStore();
        const ra = cmds.map((c, i) => a.apply(i + 1, c, anySession));
        // Replica b restores from a snapshot of a taken midway, then applies the rest of the log.
        const at = Math.min(cut, cmds.length);
        const mid = new KvStore();
        for (const [i, c] of cmds.slice(0, at).entries()) mid.apply(i + 1, c, anySession);
        b.restore(mid.snapshot().records());
        const rb = cmds.slice(at).map((c, i) => b.apply(at + i + 1, c, anySession));
        assert.deepEqual(rb, ra.slice(at));
        assert.deepEqual(await stateBin(b.snapshot()), await stateBin(a.snapshot()));
        assert.equal(b.snapshot().digest(), a.snapshot().digest());
        const c = new KvStore();
        c.restore(a.snapshot().records());
        assert.deepEqual(c.list("").entries, a.list("").entries);
        assert.deepEqual([...c.tombstones.entries()], [...a.tombstones.entries()]);
        assert.deepEqual(c.index, a.index);
        assert.deepEqual(recordBytes(c.snapshot()), recordBytes(a.snapshot()));
        for (const k of ["a", "a/", "b/", ""]) assert.deepEqual(c.list(k), a.list(k));
      }),
      { numRuns: 300 },
    );
  });

  it("replaceAsync from views in chunks of any size, over any live state, gives the store a restore() gives", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArb, { maxLength: 60 }),
        fc.nat(60),
        fc.integer({ min: 1, max: 200 }),
        async (cmds, cut, chunkBytes) => {
          const a = new KvStore();
          for (const [i, c] of cmds.entries()) a.apply(i + 1, c, anySession);
          const raw = await stateBin(a.snapshot());
          // The live state: a prefix of the same log, so some entries are shared and some are not.
          const live = new KvStore();
          for (const [i, c] of cmds.slice(0, Math.min(cut, cmds.length)).entries())
            live.apply(i + 1, c, anySession);
          const chunks: Uint8Array[] = [];
          for (let at = 0; at < raw.length; at += chunkBytes)
            chunks.push(new Uint8Array(raw.subarray(at, at + chunkBytes)));
          async function* scribbled(): AsyncGenerator<readonly StateBinItem[]> {
            for await (const batch of readStateBinBatches(chunks, { views: true })) {
              yield batch;
              for (const item of batch) if (item.kind === "record") item.record.body.fill(0xc1);
            }
          }
          await live.replaceAsync(scribbled());
          const c = new KvStore();
          c.restore(a.snapshot().records());
          assert.deepEqual(live.list("").entries, c.list("").entries);
          assert.deepEqual([...live.tombstones.entries()], [...c.tombstones.entries()]);
          assert.deepEqual(live.index, c.index);
          assert.equal(live.appliedIndex, c.appliedIndex);
          assert.deepEqual(await stateBin(live.snapshot()), raw);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("stateBin() writes the bytes writeStateBin(header, records()) writes, across chunk borders", async () => {
    const longKey = fc.string({ unit: fc.constantFrom("a", "/", "é", "😀"), minLength: 20, maxLength: 300 });
    const value = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.integer({ min: 60_000, max: 70_000 }).map((n) => new Uint8Array(n).fill(7)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.oneof(keyArb, longKey), value), { maxLength: 30 }),
        async (puts) => {
          const s = new KvStore();
          for (const [i, [key, v]] of puts.entries())
            s.apply(i + 1, { op: "set", key, value: v, flags: BigInt(i) });
          s.apply(puts.length + 1, { op: "delete", key: "a" });
          const view = s.snapshot();
          const want: Uint8Array[] = [];
          for await (const chunk of writeStateBin(view.header(), view.records())) want.push(chunk);
          assert.deepEqual(await stateBin(view), Buffer.concat(want));
        },
      ),
      { numRuns: 200 },
    );
  });
});

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-fsm-test-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** state.bin's items, read synchronously from its bytes. */
function readStateBinItems(raw: Uint8Array): StateBinItem[] {
  const splitter = new StateBinSplitter();
  const items = splitter.push(raw);
  splitter.end();
  return items;
}

/** The state.bin of a Consul archive: its items as read, and its exact bytes. */
async function readFixture(name: string): Promise<{ items: StateBinItem[]; raw: Buffer }> {
  return withTempDir(async (dir) => {
    const a = await readArchive(createReadStream(fixture(name)), { tmpDir: dir });
    try {
      const items: StateBinItem[] = [];
      for await (const item of readStateBin(createReadStream(a.stateBin.path))) items.push(item);
      const parts: Buffer[] = [];
      for await (const chunk of createReadStream(a.stateBin.path)) parts.push(chunk as Buffer);
      return { items, raw: Buffer.concat(parts) };
    } finally {
      await a.stateBin.remove();
    }
  });
}

const SERVED = new Set<number>([MessageType.KVS, MessageType.Tombstone, MessageType.Index]);

describe("restoring Consul's archives", () => {
  for (const name of [
    "inspect/backup.snap",
    "inspect/backupWithKV.snap",
    "decode/all.snap",
    "realworld/khayalghosh-data-backup.snap",
  ]) {
    it(`${name}: KV readable, foreign records written back byte for byte`, {
      skip: skipUnlessFixtures(name),
    }, async () => {
      const { items, raw } = await readFixture(name);
      const records = items.flatMap((i) => (i.kind === "record" ? [i.record] : []));
      const s = new KvStore();
      s.restore(items);
      const kvRecords = records.filter((r) => r.type === MessageType.KVS);
      assert.equal(s.kv.size, kvRecords.length);
      for (const e of s.list("").entries) assert.equal(s.get(e.Key).entry, e);
      const view = s.snapshot();
      const opaque = (rs: Iterable<RawRecord>): Buffer[] =>
        [...rs].filter((r) => !SERVED.has(r.type)).map((r) => Buffer.concat([Uint8Array.of(r.type), r.body]));
      assert.deepEqual(opaque(view.records()), opaque(records), "foreign records, in order, byte for byte");
      assert.deepEqual(await stateBin(view), raw, "the whole state.bin comes back byte for byte");
      const sessionRecords = records.filter((r) => r.type === MessageType.Session);
      assert.equal(s.sessionList().sessions.length, sessionRecords.length, "sessions restored");
      // Register records become the catalog: every node, service and check is readable.
      const registers = records.filter((r) => r.type === MessageType.Register).map(decodeRecord);
      const bodies = registers.flatMap((r) => (r.kind === "Register" ? [r.body] : []));
      const nodes = new Set(bodies.map((b) => b.Node));
      assert.deepEqual(new Set(s.catalogReads.nodes().value.map((n) => n.Node)), nodes, "nodes restored");
      const checks = bodies.filter((b) => b.Check !== null).length;
      assert.equal(s.catalogReads.healthState("any").value.length, checks, "checks restored");
      for (const b of bodies) {
        if (b.Service === null) continue;
        const found = s.catalogReads.service(b.Service.Service, []).value;
        assert.ok(
          found.some((x) => x.ServiceID === b.Service?.ID && x.Node === b.Node),
          b.Service.ID,
        );
      }
      // A write lands in the KV group; everything foreign stays as it was.
      s.apply(view.header().LastIndex + 1, { op: "set", key: "cairn/new", value: bytes("x"), flags: 0n });
      const after = s.snapshot();
      assert.deepEqual(opaque(after.records()), opaque(records));
      assert.equal(after.get("cairn/new").entry?.Value?.length, 1);
      const types = [...after.records()].map((r) => r.type);
      const kvAt = types.indexOf(MessageType.KVS);
      assert.ok(kvAt >= 0 && types.slice(kvAt + 1).every((t) => t !== MessageType.Register));
    });
  }

  for (const name of [
    "inspect/backupWithKV.snap",
    "decode/all.snap",
    "realworld/khayalghosh-data-backup.snap",
  ]) {
    it(`${name}: a restore from views of a read buffer reused after each batch keeps nothing of it`, {
      skip: skipUnlessFixtures(name),
    }, async () => {
      const { raw } = await readFixture(name);
      // Chunks of 97 bytes cut records anywhere. Each record's bytes are scribbled over once its batch has been
      // taken, as a reader reusing its buffer would: the state must hold copies of whatever it keeps.
      async function* scribbled(): AsyncGenerator<readonly StateBinItem[]> {
        const chunks: Uint8Array[] = [];
        for (let at = 0; at < raw.length; at += 97) chunks.push(new Uint8Array(raw.subarray(at, at + 97)));
        for await (const batch of readStateBinBatches(chunks, { views: true })) {
          yield batch;
          for (const item of batch) if (item.kind === "record") item.record.body.fill(0xc1);
        }
      }
      const fresh = new KvStore();
      await fresh.replaceAsync(scribbled());
      assert.deepEqual(await stateBin(fresh.snapshot()), raw, "a fresh store writes the archive back");
      // Over a live copy of the same state (entries shared with it) and over a different one.
      const same = new KvStore();
      same.restore(readStateBinItems(raw));
      await same.replaceAsync(scribbled());
      assert.deepEqual(await stateBin(same.snapshot()), raw, "over the same state");
      const other = new KvStore();
      other.apply(1, { op: "set", key: "other", value: bytes("x"), flags: 0n });
      await other.replaceAsync(scribbled());
      assert.deepEqual(await stateBin(other.snapshot()), raw, "over another state");
    });
  }

  it("backupWithKV.snap: Vault's keys read back with Consul's index rules", async () => {
    const { items } = await readFixture("inspect/backupWithKV.snap");
    const s = new KvStore();
    s.restore(items);
    const vault = s.list("vault/");
    assert.ok(vault.entries.length > 0);
    assert.equal(
      vault.index,
      Math.max(
        ...vault.entries.map((e) => e.ModifyIndex),
        ...[...s.tombstones.prefix("vault/")].map(([, t]) => t.index),
      ),
    );
    assert.ok(s.keys("vault/", "/").keys.every((k) => k.startsWith("vault/")));
  });
});
