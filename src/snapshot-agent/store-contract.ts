/**
 * The BackupStore contract suite, run against every store (local disk, S3, Azure Blob, GCS) against a real
 * backend: whatever the store, the agent sees the same behaviour through the interface. It asks nothing of a
 * store beyond `store.ts` and `store-checks.ts` (names and metadata checked, a body verified against its
 * metadata). Not exported from any index, since it imports node:test.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";

/** A store under test, on a fresh, empty place of its own (a new directory, a new key prefix…). */
export interface StoreHarness {
  readonly store: BackupStore;
  /** Removes what the test stored and releases the store. */
  readonly cleanup: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreHarness>;

/** The agent's object names: `consul-<19-digit nanosecond id>.snap` (docs/consul-compat.md §6.4). */
export function backupName(id: bigint): string {
  return `consul-${id.toString().padStart(19, "0")}.snap`;
}

/** Metadata that is true of `bytes`. */
export function metaOf(bytes: Uint8Array, index = 42, term = 3): BackupMeta {
  return {
    index,
    term,
    size: bytes.length,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    version: "0.1.0-test",
  };
}

/** `bytes` as a stream of `chunk`-byte pieces (as a download arrives), never one big write. */
export function streamOf(bytes: Uint8Array, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length; at += chunk) yield Buffer.from(bytes.subarray(at, at + chunk));
    })(),
  );
}

/** A body that gives `bytesBeforeError` random bytes, then fails with `message`, as a download cut off. */
export function failingStream(bytesBeforeError: number, message: string, chunk = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < bytesBeforeError; sent += chunk) {
        yield randomBytes(Math.min(chunk, bytesBeforeError - sent));
      }
      throw new Error(message);
    })(),
  );
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function withStore(make: StoreFactory, body: (store: BackupStore) => Promise<void>): Promise<void> {
  const h = await make();
  try {
    await body(h.store);
  } finally {
    await h.cleanup();
  }
}

async function put(store: BackupStore, name: string, bytes: Uint8Array, meta = metaOf(bytes)): Promise<void> {
  await store.put(name, streamOf(bytes), meta);
}

function names(objects: readonly StoredObject[]): string[] {
  return objects.map((o) => o.name);
}

/** What every store must do. `name` labels the suite; each case gets a fresh store from `make`. */
export function runStoreContract(name: string, make: StoreFactory): void {
  describe(`BackupStore contract: ${name}`, () => contractCases(make));
}

function contractCases(make: StoreFactory): void {
  const A = backupName(1479360073448728784n);
  const B = backupName(1479360073448728785n);
  const C = backupName(1700000000000000000n);

  it(`put, head and get round-trip a few MB of random bytes and their metadata`, () =>
    withStore(make, async (store) => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      const meta = metaOf(bytes, 1234567, 9);
      await put(store, A, bytes, meta);
      const head = await store.head(A);
      assert.ok(head !== null);
      assert.equal(head.name, A);
      assert.equal(head.size, bytes.length);
      assert.deepEqual(head.meta, meta);
      assert.ok(head.modified instanceof Date && !Number.isNaN(head.modified.getTime()));
      assert.equal(sha256(await readAll(await store.get(A))), meta.sha256);
    }));

  it(`an empty body is a backup too`, () =>
    withStore(make, async (store) => {
      const empty = new Uint8Array(0);
      await put(store, A, empty);
      assert.deepEqual((await store.head(A))?.meta, metaOf(empty));
      assert.equal((await readAll(await store.get(A))).length, 0);
    }));

  it(`list gives the objects whose names start with the prefix, sorted by name`, () =>
    withStore(make, async (store) => {
      assert.deepEqual(await store.list(""), []);
      const other = "other-1.snap";
      for (const n of [C, A, other, B]) await put(store, n, randomBytes(1000 + n.length));
      const listed = await store.list("consul-");
      assert.deepEqual(names(listed), [A, B, C]);
      assert.deepEqual(names(await store.list("")), [A, B, C, other]);
      assert.deepEqual(names(await store.list("consul-17")), [C]);
      assert.deepEqual(await store.list("nothing-"), []);
      for (const o of listed) {
        const head = await store.head(o.name);
        assert.equal(o.size, head?.size);
        assert.ok(o.modified instanceof Date && !Number.isNaN(o.modified.getTime()));
        // A store may list without metadata (S3 cannot), but what it lists must be what was written.
        if (o.meta !== undefined) assert.deepEqual(o.meta, head?.meta);
      }
    }));

  it(`delete removes the object; deleting a missing one is no error`, () =>
    withStore(make, async (store) => {
      await put(store, A, randomBytes(5000));
      await put(store, B, randomBytes(5000));
      await store.delete(A);
      assert.equal(await store.head(A), null);
      assert.deepEqual(names(await store.list("")), [B]);
      await assert.rejects(store.get(A));
      await store.delete(A);
      await store.delete(C);
      assert.deepEqual(names(await store.list("")), [B]);
    }));

  it(`put replaces an object of the same name, bytes and metadata`, () =>
    withStore(make, async (store) => {
      const first = randomBytes(200_000);
      await put(store, A, first, metaOf(first, 1, 1));
      const second = randomBytes(300_000);
      const meta = metaOf(second, 2, 2);
      await put(store, A, second, meta);
      assert.deepEqual((await store.head(A))?.meta, meta);
      assert.equal(sha256(await readAll(await store.get(A))), meta.sha256);
      assert.deepEqual(names(await store.list("")), [A]);
    }));

  it(`get of a missing name rejects, naming it; head of one is null`, () =>
    withStore(make, async (store) => {
      await assert.rejects(store.get(A), (e: unknown) => e instanceof Error && e.message.includes(A));
      assert.equal(await store.head(A), null);
    }));

  for (const [what, bytes] of [
    ["in its first MB", 300 * 1024],
    ["after 12 MB (past a multipart part or block)", 12 * 1024 * 1024],
  ] as const) {
    it(`a body that fails ${what} fails the put and leaves no object`, () =>
      withStore(make, async (store) => {
        const meta = metaOf(randomBytes(24 * 1024 * 1024));
        await assert.rejects(
          store.put(A, failingStream(bytes, "download cut off"), meta),
          (e: unknown) => e instanceof Error && e.message.includes("download cut off"),
        );
        assert.equal(await store.head(A), null);
        assert.deepEqual(await store.list(""), []);
      }));
  }

  it(`a body that is not what its metadata says fails the put and leaves no object`, () =>
    withStore(make, async (store) => {
      const bytes = randomBytes(100_000);
      const good = metaOf(bytes);
      await assert.rejects(store.put(A, streamOf(bytes), { ...good, size: good.size + 1 }));
      await assert.rejects(store.put(A, streamOf(bytes), { ...good, size: good.size - 1 }));
      await assert.rejects(store.put(A, streamOf(bytes), metaOf(randomBytes(100_000))));
      assert.equal(await store.head(A), null);
      assert.deepEqual(await store.list(""), []);
    }));

  it(`bad names and metadata are refused and change nothing`, () =>
    withStore(make, async (store) => {
      const bytes = randomBytes(1000);
      await put(store, A, bytes);
      for (const bad of ["", "a/b", "../x", ".hidden", `${A}.meta.json`, `${A}.tmp-1234`]) {
        await assert.rejects(store.put(bad, streamOf(bytes), metaOf(bytes)), `put ${JSON.stringify(bad)}`);
        await assert.rejects(store.head(bad), `head ${JSON.stringify(bad)}`);
        await assert.rejects(store.get(bad), `get ${JSON.stringify(bad)}`);
        await assert.rejects(store.delete(bad), `delete ${JSON.stringify(bad)}`);
      }
      for (const meta of [
        { ...metaOf(bytes), sha256: "ABC" },
        { ...metaOf(bytes), index: -1 },
        { ...metaOf(bytes), version: "has space" },
      ]) {
        await assert.rejects(store.put(B, streamOf(bytes), meta), JSON.stringify(meta));
      }
      assert.deepEqual(names(await store.list("")), [A]);
      assert.equal(sha256(await readAll(await store.get(A))), sha256(bytes));
    }));
}
