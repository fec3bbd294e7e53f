/**
 * The Azure Blob store against the real Azurite emulator on loopback: round trips, metadata, listing, replace,
 * delete, failed uploads that leave no blob, and Azurite killed in the middle of a large upload.
 * (These follow the shared store contract's behaviours until the contract lands; see the report.)
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import type { AzureStorageConfig } from "../src/snapshot-agent/config-types.js";
import { AzureBlobStore, type AzureBlobStoreOptions } from "../src/snapshot-agent/store-azure.js";
import { type Azurite, startAzurite } from "./support/azurite.js";
import { bodyOf, MiB, metaOf, sha256Of } from "./support/store-data.js";

/** Short retries, so a dead emulator fails a call in a second or two rather than the SDK's half minute. */
const FAST_RETRY = { maxTries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 500 };

function config(overrides: Partial<AzureStorageConfig> = {}): AzureStorageConfig {
  return {
    accountName: "devstoreaccount1",
    accountKey: "a2V5",
    containerName: "backups",
    environment: "AZUREPUBLICCLOUD",
    prefix: "consul-snapshot",
    ...overrides,
  };
}

/** Rejects if `p` has not settled within `ms`: a bound on a wait, so a hang fails the test instead of stalling it. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe("AzureBlobStore configuration", () => {
  test("each Azure environment selects its blob endpoint, case-insensitively", () => {
    const cases: [string, string][] = [
      ["AZUREPUBLICCLOUD", "https://devstoreaccount1.blob.core.windows.net"],
      ["AZURECHINACLOUD", "https://devstoreaccount1.blob.core.chinacloudapi.cn"],
      ["AZUREGERMANCLOUD", "https://devstoreaccount1.blob.core.cloudapi.de"],
      ["AZUREUSGOVERNMENTCLOUD", "https://devstoreaccount1.blob.core.usgovcloudapi.net"],
      ["AzureChinaCloud", "https://devstoreaccount1.blob.core.chinacloudapi.cn"],
    ];
    for (const [environment, endpoint] of cases) {
      const store = new AzureBlobStore(config({ environment }), { env: {} });
      assert.equal(store.endpoint, endpoint);
      assert.equal(store.label, "azure://devstoreaccount1/backups/consul-snapshot");
    }
  });

  test("an unknown environment is an error naming it", () => {
    assert.throws(
      () => new AzureBlobStore(config({ environment: "AZUREMOONCLOUD" }), { env: {} }),
      /unknown Azure environment "AZUREMOONCLOUD" \(expected one of AZUREPUBLICCLOUD, /,
    );
    assert.throws(
      () => new AzureBlobStore(config({ environment: "" }), { env: {} }),
      /unknown Azure environment ""/,
    );
  });

  test("bad account, key or container names are errors naming the setting", () => {
    assert.throws(
      () => new AzureBlobStore(config({ accountName: "Has_Upper" }), { env: {} }),
      /account_name/,
    );
    assert.throws(() => new AzureBlobStore(config({ accountKey: "" }), { env: {} }), /account_key/);
    assert.throws(
      () => new AzureBlobStore(config({ accountKey: "not base64!" }), { env: {} }),
      /account_key/,
    );
    assert.throws(
      () => new AzureBlobStore(config({ containerName: "Backups" }), { env: {} }),
      /container_name/,
    );
    assert.throws(() => new AzureBlobStore(config({ containerName: "a--b" }), { env: {} }), /container_name/);
    assert.throws(
      () => new AzureBlobStore(config({ prefix: "a//b" }), { env: {} }),
      /prefix: empty path segment/,
    );
  });

  test("AZURE_STORAGE_CONNECTION_STRING gives the endpoint; its account must be the configured one", () => {
    const cs = (account: string) =>
      `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/${account};`;
    const store = new AzureBlobStore(config(), {
      env: { AZURE_STORAGE_CONNECTION_STRING: cs("devstoreaccount1") },
    });
    assert.equal(store.endpoint, "http://127.0.0.1:1/devstoreaccount1");
    assert.throws(
      () => new AzureBlobStore(config(), { env: { AZURE_STORAGE_CONNECTION_STRING: cs("otheraccount") } }),
      /AZURE_STORAGE_CONNECTION_STRING is for account "otheraccount" \(http:\/\/127\.0\.0\.1:1\/otheraccount\), but azure_blob_storage account_name is "devstoreaccount1"/,
    );
    // Azure Stack and other clouds: an account's own endpoint suffix.
    const stack = new AzureBlobStore(config(), {
      env: {
        AZURE_STORAGE_CONNECTION_STRING:
          "DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=a2V5;EndpointSuffix=local.azurestack.external",
      },
    });
    assert.equal(stack.endpoint, "https://devstoreaccount1.blob.local.azurestack.external");
    assert.throws(
      () => new AzureBlobStore(config(), { env: { AZURE_STORAGE_CONNECTION_STRING: "nonsense" } }),
      /^Error: AZURE_STORAGE_CONNECTION_STRING: /,
    );
  });

  test("the prefix is trimmed of slashes, and an empty prefix stores names at the container's root", () => {
    assert.equal(
      new AzureBlobStore(config({ prefix: "/a/b/" }), { env: {} }).label,
      "azure://devstoreaccount1/backups/a/b",
    );
    assert.equal(
      new AzureBlobStore(config({ prefix: "" }), { env: {} }).label,
      "azure://devstoreaccount1/backups",
    );
  });
});

describe("AzureBlobStore against Azurite", () => {
  let azurite: Azurite;
  let container: ContainerClient;
  let n = 0;

  /** A store on a container of its own, so that tests do not see each other's blobs. */
  async function freshStore(
    overrides: Partial<AzureStorageConfig> = {},
    options: AzureBlobStoreOptions = {},
  ): Promise<AzureBlobStore> {
    const containerName = `test-${++n}`;
    container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      containerName,
    );
    await container.create();
    return storeOn(containerName, overrides, options);
  }

  function storeOn(
    containerName: string,
    overrides: Partial<AzureStorageConfig> = {},
    options: AzureBlobStoreOptions = {},
  ): AzureBlobStore {
    return new AzureBlobStore(
      config({ accountName: azurite.account, accountKey: azurite.key, containerName, ...overrides }),
      {
        env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
        retry: FAST_RETRY,
        ...options,
      },
    );
  }

  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.stop();
  });

  test("put then head and get: megabytes over several blocks come back byte for byte, with their metadata", async () => {
    const store = await freshStore();
    const data = randomBytes(9 * MiB + 12345);
    const meta = metaOf(data, 1479360073);
    await store.put("consul-1.snap", bodyOf(data), meta);

    const head = await store.head("consul-1.snap");
    assert.ok(head !== null);
    assert.equal(head.name, "consul-1.snap");
    assert.equal(head.size, data.length);
    assert.ok(head.modified instanceof Date && !Number.isNaN(head.modified.getTime()));
    assert.deepEqual(head.meta, meta);

    const got = await sha256Of(await store.get("consul-1.snap"));
    assert.deepEqual(got, { sha256: meta.sha256, size: data.length });

    // Stored under <prefix>/<name>, in blocks (more than one, so the parallel staged path was taken).
    const blocks = await container
      .getBlockBlobClient("consul-snapshot/consul-1.snap")
      .getBlockList("committed");
    assert.ok((blocks.committedBlocks?.length ?? 0) > 1);
  });

  test("an empty object round-trips", async () => {
    const store = await freshStore();
    const meta = metaOf(Buffer.alloc(0), 1);
    await store.put("empty.snap", Readable.from([]), meta);
    assert.deepEqual((await store.head("empty.snap"))?.meta, meta);
    assert.deepEqual(await sha256Of(await store.get("empty.snap")), { sha256: meta.sha256, size: 0 });
  });

  test("list: sorted by name, filtered by startsWith, only under the prefix, with metadata", async () => {
    const store = await freshStore();
    for (const [name, i] of [
      ["consul-3.snap", 3],
      ["consul-1.snap", 1],
      ["other-2.snap", 2],
      ["consul-2.snap", 4],
    ] as const) {
      const data = Buffer.from(name);
      await store.put(name, bodyOf(data), metaOf(data, i));
    }
    // Blobs beside the prefix, and one under it that cairn did not write (no metadata).
    await container.getBlockBlobClient("elsewhere/consul-9.snap").upload("x", 1);
    await container.getBlockBlobClient("consul-snapshotx/consul-8.snap").upload("x", 1);
    await container.getBlockBlobClient("consul-snapshot/consul-0.foreign").upload("abc", 3);

    const all = await store.list("");
    assert.deepEqual(
      all.map((o) => o.name),
      ["consul-0.foreign", "consul-1.snap", "consul-2.snap", "consul-3.snap", "other-2.snap"],
    );
    assert.equal(all[0]?.meta, undefined);
    assert.equal(all[0]?.size, 3);
    assert.deepEqual(all[1]?.meta, metaOf(Buffer.from("consul-1.snap"), 1));
    assert.deepEqual(all[2]?.meta?.index, 4);

    const consul = await store.list("consul-");
    assert.deepEqual(
      consul.map((o) => o.name),
      ["consul-0.foreign", "consul-1.snap", "consul-2.snap", "consul-3.snap"],
    );
    assert.deepEqual(await store.list("none-"), []);
    assert.equal((await store.head("consul-0.foreign"))?.meta, undefined);

    // A store without a prefix sees every blob of the container, by its full name.
    const root = storeOn(container.containerName, { prefix: "" });
    assert.deepEqual(
      (await root.list("elsewhere/")).map((o) => o.name),
      ["elsewhere/consul-9.snap"],
    );
  });

  test("put replaces an existing object; delete removes it, and deleting again is no error", async () => {
    const store = await freshStore();
    const first = randomBytes(5 * MiB);
    const second = randomBytes(MiB + 7);
    await store.put("consul-1.snap", bodyOf(first), metaOf(first, 1));
    await store.put("consul-1.snap", bodyOf(second), metaOf(second, 2));
    assert.deepEqual((await store.head("consul-1.snap"))?.meta, metaOf(second, 2));
    assert.deepEqual(await sha256Of(await store.get("consul-1.snap")), {
      sha256: metaOf(second, 2).sha256,
      size: second.length,
    });
    assert.equal((await store.list("")).length, 1);

    await store.delete("consul-1.snap");
    assert.equal(await store.head("consul-1.snap"), null);
    assert.deepEqual(await store.list(""), []);
    await store.delete("consul-1.snap");
  });

  test("head of a missing object is null; get of one rejects, naming it", async () => {
    const store = await freshStore();
    assert.equal(await store.head("nothing.snap"), null);
    await assert.rejects(
      store.get("nothing.snap"),
      /azure:\/\/devstoreaccount1\/test-\d+\/consul-snapshot: get "nothing.snap": The specified blob does not exist\. \(HTTP 404 BlobNotFound\)/,
    );
  });

  test("a missing container is an error, not an empty store", async () => {
    const store = storeOn("no-such-container");
    await assert.rejects(store.head("x.snap"), /head "x.snap": HTTP 404 ContainerNotFound/);
    await assert.rejects(store.list(""), /list "": The specified container does not exist\./);
    const data = Buffer.from("x");
    await assert.rejects(
      store.put("x.snap", bodyOf(data), metaOf(data, 1)),
      /put "x.snap": .*ContainerNotFound/,
    );
  });

  test("a body that fails half-way rejects the put and leaves no blob, nor any change to the one it replaced", async () => {
    const store = await freshStore();
    const staged = container.getBlockBlobClient("consul-snapshot/consul-7.snap");
    /** 12 MiB (three blocks), then, once the service holds staged blocks of it, an error. */
    const failing = (waitForStaged: boolean): Readable =>
      Readable.from(
        (async function* () {
          for (let i = 0; i < 12; i++) yield randomBytes(MiB);
          for (let tries = 0; waitForStaged && tries < 200; tries++) {
            const list = await staged.getBlockList("uncommitted").catch(() => null);
            if ((list?.uncommittedBlocks?.length ?? 0) > 0) break;
            await new Promise((r) => setTimeout(r, 25));
          }
          throw new Error("source broke after 12 MiB");
        })(),
      );
    const meta = metaOf(Buffer.alloc(0), 7);
    const body = failing(true);
    await assert.rejects(
      store.put("consul-7.snap", body, meta),
      /put "consul-7.snap": source broke after 12 MiB/,
    );
    assert.ok(body.destroyed);
    // Blocks of it were staged, but a blob exists only once its block list is committed.
    const uncommitted = [];
    for await (const b of container.listBlobsFlat({ includeUncommitedBlobs: true })) uncommitted.push(b.name);
    assert.deepEqual(uncommitted, ["consul-snapshot/consul-7.snap"]);
    assert.equal(await store.head("consul-7.snap"), null);
    assert.deepEqual(await store.list(""), []);
    await assert.rejects(store.get("consul-7.snap"), /BlobNotFound/);

    const old = randomBytes(2 * MiB);
    await store.put("consul-8.snap", bodyOf(old), metaOf(old, 8));
    await assert.rejects(store.put("consul-8.snap", failing(false), meta), /source broke/);
    assert.deepEqual((await store.head("consul-8.snap"))?.meta, metaOf(old, 8));
    assert.deepEqual(await sha256Of(await store.get("consul-8.snap")), {
      sha256: metaOf(old, 8).sha256,
      size: old.length,
    });
  });

  test("bad names and metadata are refused before anything is written", async () => {
    const store = await freshStore();
    const data = Buffer.from("x");
    for (const name of ["", "/abs.snap", "a//b.snap", "../up.snap", "a/./b", "tab\there", "x".repeat(1020)]) {
      await assert.rejects(store.put(name, bodyOf(data), metaOf(data, 1)), /object name/, name);
      await assert.rejects(store.head(name), /object name/);
      await assert.rejects(store.delete(name), /object name/);
    }
    await assert.rejects(
      store.put("a.snap", bodyOf(data), { ...metaOf(data, 1), index: -1 }),
      /index must be/,
    );
    await assert.rejects(
      store.put("a.snap", bodyOf(data), { ...metaOf(data, 1), sha256: "ABC" }),
      /sha256 must be/,
    );
    await assert.rejects(
      store.put("a.snap", bodyOf(data), { ...metaOf(data, 1), version: "é" }),
      /version must be/,
    );
    assert.deepEqual(await store.list(""), []);
    // Names with directories are fine.
    await store.put("dc1/consul-1.snap", bodyOf(data), metaOf(data, 1));
    assert.deepEqual(
      (await store.list("dc1/")).map((o) => o.name),
      ["dc1/consul-1.snap"],
    );
  });
});

describe("AzureBlobStore when Azurite dies during an upload", () => {
  test("put rejects within a bounded time, and after a restart there is no blob under the name", async () => {
    const location = mkdtempSync(join(tmpdir(), "cairn-azurite-kill-"));
    const running: Azurite[] = [];
    const start = async (): Promise<Azurite> => {
      const a = await startAzurite(location);
      running.push(a);
      return a;
    };
    const storeOf = (a: Azurite): AzureBlobStore =>
      new AzureBlobStore(config({ accountName: a.account, accountKey: a.key, containerName: "backups" }), {
        env: { AZURE_STORAGE_CONNECTION_STRING: a.connectionString },
        retry: FAST_RETRY,
      });
    try {
      // A committed backup, made durable by a clean stop, shows the restarted emulator reads the same location.
      let azurite = await start();
      await BlobServiceClient.fromConnectionString(azurite.connectionString)
        .getContainerClient("backups")
        .create();
      const kept = randomBytes(3 * MiB);
      await storeOf(azurite).put("consul-1.snap", bodyOf(kept), metaOf(kept, 1));
      await azurite.stop();
      azurite = await start();
      const store = storeOf(azurite);
      assert.deepEqual((await store.head("consul-1.snap"))?.meta, metaOf(kept, 1));

      // 64 MiB from a generator; the emulator is killed once 16 MiB have been produced.
      let produced = 0;
      const kill: { done: Promise<void> | null } = { done: null };
      const victim = azurite;
      const body = Readable.from(
        (async function* () {
          for (let i = 0; i < 64; i++) {
            if (i === 16) kill.done = victim.kill();
            produced += MiB;
            yield randomBytes(MiB);
          }
        })(),
      );
      await assert.rejects(
        within(store.put("consul-2.snap", body, metaOf(Buffer.alloc(0), 2)), 60_000, "put"),
        (e) => {
          assert.match(
            String(e),
            /azure:\/\/devstoreaccount1\/backups\/consul-snapshot: put "consul-2.snap": /,
          );
          assert.doesNotMatch(String(e), /not settled/);
          return true;
        },
      );
      assert.ok(kill.done !== null, "the emulator was killed during the upload");
      await kill.done;
      assert.ok(
        produced < 64 * MiB,
        `the failed upload stopped reading its body (read ${produced / MiB} MiB)`,
      );

      azurite = await start();
      const after = storeOf(azurite);
      assert.equal(await after.head("consul-2.snap"), null);
      assert.deepEqual(
        (await after.list("")).map((o) => o.name),
        ["consul-1.snap"],
      );
      assert.deepEqual(await sha256Of(await after.get("consul-1.snap")), {
        sha256: metaOf(kept, 1).sha256,
        size: kept.length,
      });
    } finally {
      for (const a of running) await a.stop();
      rmSync(location, { recursive: true, force: true });
    }
  });
});
