/**
 * The BackupStore contract suite, run against every store (local disk, S3, Azure Blob, GCS) against a real
 * backend: whatever the store, the agent sees the same behaviour through the interface. It asks nothing of a
 * store beyond `store.ts` and `store-checks.ts` (names and metadata checked, a body verified against its
 * metadata and owned by the put, the same error classes). Not exported from any index, since it imports node:test.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import { BackupBodyMismatchError, BackupInputError, BackupNotFoundError } from "./store-checks.js";

/** A store under test, on a fresh, empty place of its own (a new directory, a new key prefix…). */
export interface StoreHarness {
  readonly store: BackupStore;
  /**
   * Writes `bytes` under `path` below the store's place (its directory, its key prefix) as another program would:
   * straight to the backend, without cairn's metadata. `path` may go into a sub-folder (`dc1/x.snap`).
   */
  readonly foreign: (path: string, bytes: Uint8Array) => Promise<void>;
  /** Removes what the test stored and releases the store. */
  readonly cleanup: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreHarness>;

export interface StoreContractOptions {
  /** Skip the suite, with this reason (a backend that is not installed here). */
  readonly skip?: string;
}

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

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function withStore(
  make: StoreFactory,
  body: (store: BackupStore, harness: StoreHarness) => Promise<void>,
): Promise<void> {
  const h = await make();
  try {
    await body(h.store, h);
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
export function runStoreContract(name: string, make: StoreFactory, options: StoreContractOptions = {}): void {
  describe(`BackupStore contract: ${name}`, { skip: options.skip ?? false }, () => contractCases(make));
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

  it(`objects another program wrote are listed and read without metadata; sub-folders and other names are not`, () =>
    withStore(make, async (store, h) => {
      const readme = Buffer.from("not a backup, but a file beside them");
      await h.foreign("README", readme);
      await h.foreign(`dc1/${B}`, randomBytes(100));
      await h.foreign(`${B}.tmp-0a1b2c3d4e5f`, randomBytes(100));
      const bytes = randomBytes(1000);
      await put(store, A, bytes);
      const listed = await store.list("");
      assert.deepEqual(names(listed), ["README", A]);
      assert.equal(listed[0]?.size, readme.length);
      assert.equal(listed[0]?.meta, undefined);
      const head = await store.head("README");
      assert.equal(head?.size, readme.length);
      assert.equal(head?.meta, undefined);
      assert.deepEqual(await readAll(await store.get("README")), readme);
      assert.deepEqual((await store.head(A))?.meta, metaOf(bytes));
      assert.deepEqual(names(await store.list("consul-")), [A]);
    }));

  it(`delete removes the object; deleting a missing one is no error`, () =>
    withStore(make, async (store) => {
      await put(store, A, randomBytes(5000));
      await put(store, B, randomBytes(5000));
      await store.delete(A);
      assert.equal(await store.head(A), null);
      assert.deepEqual(names(await store.list("")), [B]);
      await assert.rejects(store.get(A), BackupNotFoundError);
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

  it(`get of a missing name is a BackupNotFoundError naming it; head of one is null`, () =>
    withStore(make, async (store) => {
      await assert.rejects(
        store.get(A),
        (e: unknown) => e instanceof BackupNotFoundError && e.message.includes(A),
      );
      assert.equal(await store.head(A), null);
    }));

  for (const [what, bytes] of [
    ["in its first MB", 300 * 1024],
    ["after 12 MB (past a multipart part or block)", 12 * 1024 * 1024],
  ] as const) {
    it(`a body that fails ${what} fails the put with its own error, destroyed, and leaves no object`, () =>
      withStore(make, async (store) => {
        const meta = metaOf(randomBytes(24 * 1024 * 1024));
        const body = failingStream(bytes, "download cut off");
        await assert.rejects(
          store.put(A, body, meta),
          (e: unknown) => e instanceof Error && e.message.includes("download cut off"),
        );
        assert.ok(body.destroyed);
        assert.equal(await store.head(A), null);
        assert.deepEqual(await store.list(""), []);
      }));
  }

  it(`a body that is not what its metadata says fails the put and leaves no object`, () =>
    withStore(make, async (store) => {
      const bytes = randomBytes(100_000);
      const good = metaOf(bytes);
      for (const meta of [
        { ...good, size: good.size + 1 },
        { ...good, size: good.size - 1 },
        metaOf(randomBytes(100_000)),
      ]) {
        const body = streamOf(bytes);
        await assert.rejects(store.put(A, body, meta), BackupBodyMismatchError, JSON.stringify(meta));
        assert.ok(body.destroyed);
      }
      assert.equal(await store.head(A), null);
      assert.deepEqual(await store.list(""), []);
    }));

  it(`a put that fails keeps the object it would have replaced`, () =>
    withStore(make, async (store) => {
      const old = randomBytes(2 * 1024 * 1024);
      await put(store, A, old, metaOf(old, 8));
      const meta = metaOf(randomBytes(24 * 1024 * 1024));
      await assert.rejects(store.put(A, failingStream(12 * 1024 * 1024, "download cut off"), meta));
      await assert.rejects(store.put(A, streamOf(old), { ...metaOf(old), size: old.length + 1 }));
      assert.deepEqual((await store.head(A))?.meta, metaOf(old, 8));
      assert.equal(sha256(await readAll(await store.get(A))), sha256(old));
      assert.deepEqual(names(await store.list("")), [A]);
    }));

  it(`bad names, list prefixes and metadata are BackupInputErrors, destroy the body and change nothing`, () =>
    withStore(make, async (store) => {
      const bytes = randomBytes(1000);
      await put(store, A, bytes);
      const badNames = [
        "",
        "a/b",
        "/abs.snap",
        "../x",
        ".hidden",
        "tab\there",
        "x".repeat(256),
        `${A}.meta.json`,
        `${A}.tmp-1234`,
      ];
      for (const bad of badNames) {
        const what = JSON.stringify(bad);
        const body = streamOf(bytes);
        await assert.rejects(store.put(bad, body, metaOf(bytes)), BackupInputError, `put ${what}`);
        assert.ok(body.destroyed, `put ${what} destroys its body`);
        await assert.rejects(store.head(bad), BackupInputError, `head ${what}`);
        await assert.rejects(store.get(bad), BackupInputError, `get ${what}`);
        await assert.rejects(store.delete(bad), BackupInputError, `delete ${what}`);
      }
      for (const bad of ["dc1/", "../", "tab\t"]) {
        await assert.rejects(store.list(bad), BackupInputError, `list ${JSON.stringify(bad)}`);
      }
      for (const meta of [
        { ...metaOf(bytes), sha256: "ABC" },
        { ...metaOf(bytes), index: -1 },
        { ...metaOf(bytes), term: 1.5 },
        { ...metaOf(bytes), version: "has space" },
      ]) {
        const body = streamOf(bytes);
        await assert.rejects(store.put(B, body, meta), BackupInputError, JSON.stringify(meta));
        assert.ok(body.destroyed);
      }
      assert.deepEqual(names(await store.list("")), [A]);
      assert.equal(sha256(await readAll(await store.get(A))), sha256(bytes));
    }));
}
