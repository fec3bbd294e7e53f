import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { backupName, failingStream, metaOf, runStoreContract, streamOf } from "./store-contract.js";
import { LocalStore } from "./store-local.js";

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-store-local-"));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runStoreContract("local", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cairn-store-local-"));
  // A directory the store must create itself.
  const backups = join(dir, "backups");
  return {
    store: new LocalStore(backups),
    foreign: async (path, bytes) => {
      await mkdir(dirname(join(backups, path)), { recursive: true });
      await writeFile(join(backups, path), bytes);
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

const A = backupName(1479360073448728784n);
const B = backupName(1479360073448728785n);

describe("LocalStore on disk", () => {
  it("creates its directory (0700, parents too) and writes the backup and its sidecar 0600", () =>
    withDir(async (root) => {
      const dir = join(root, "a", "b");
      const store = new LocalStore(dir);
      const bytes = randomBytes(10_000);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      assert.equal((await stat(dir)).mode & 0o777, 0o700);
      assert.deepEqual((await readdir(dir)).sort(), [A, `${A}.meta.json`]);
      assert.equal((await stat(join(dir, A))).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, `${A}.meta.json`))).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(await readFile(join(dir, `${A}.meta.json`), "utf8")), metaOf(bytes));
      assert.deepEqual(await readFile(join(dir, A)), bytes);
      assert.equal(store.label, `local:${dir}`);
    }));

  it("a failed put leaves no temp file", () =>
    withDir(async (dir) => {
      const store = new LocalStore(dir);
      const bytes = randomBytes(10_000);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      await assert.rejects(store.put(A, failingStream(500_000, "cut"), metaOf(randomBytes(600_000))), /cut/);
      await assert.rejects(store.put(B, streamOf(bytes), { ...metaOf(bytes), size: 9_999 }));
      assert.deepEqual((await readdir(dir)).sort(), [A, `${A}.meta.json`]);
    }));

  it("ignores crash leftovers in list and head, and sweep removes them", () =>
    withDir(async (dir) => {
      const store = new LocalStore(dir);
      const bytes = randomBytes(1000);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      const leftovers = [`${B}.tmp-0a1b2c3d4e5f`, `${B}.meta.json.tmp-0a1b2c3d4e5f`, `${B}.meta.json`];
      for (const f of leftovers) await writeFile(join(dir, f), "partial");
      await mkdir(join(dir, "consul-0000000000000000001.snap")); // a directory is not a backup either
      assert.deepEqual(
        (await store.list("")).map((o) => o.name),
        [A],
      );
      assert.equal(await store.head(B), null);
      assert.deepEqual(await store.sweep(), [...leftovers].sort());
      assert.deepEqual((await readdir(dir)).sort(), ["consul-0000000000000000001.snap", A, `${A}.meta.json`]);
      assert.deepEqual(await store.sweep(), []);
      assert.deepEqual((await store.head(A))?.meta, metaOf(bytes));
    }));

  it("distrusts a damaged sidecar, and one that disagrees on the size", () =>
    withDir(async (dir) => {
      const store = new LocalStore(dir);
      const bytes = randomBytes(1000);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      await store.put(B, streamOf(bytes), metaOf(bytes));
      await writeFile(join(dir, `${A}.meta.json`), "{not json");
      await writeFile(join(dir, `${B}.meta.json`), JSON.stringify({ ...metaOf(bytes), size: 999 }));
      assert.deepEqual(
        (await store.list("")).map((o) => [o.name, o.size, o.meta]),
        [
          [A, 1000, undefined],
          [B, 1000, undefined],
        ],
      );
      assert.equal((await store.head(A))?.meta, undefined);
    }));
});
