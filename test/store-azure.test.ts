/**
 * The Azure Blob store: its configuration (environments, connection strings, names), then, against the real
 * Azurite emulator on loopback, the contract suite every store passes and what is Azure's own: the blob and block
 * layout, a missing container, the uncommitted blocks a failed upload leaves, and Azurite killed mid-upload.
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
import { AzureBlobStore } from "../src/snapshot-agent/store-azure.js";
import { BackupStoreConfigError, BackupStoreError } from "../src/snapshot-agent/store-checks.js";
import {
  backupName,
  metaOf,
  readAll,
  runStoreContract,
  streamOf,
} from "../src/snapshot-agent/store-contract.js";
import { type Azurite, startAzurite } from "./support/azurite.js";
import { generatedBody, MiB, settledWithin } from "./support/store-data.js";

const A = backupName(1479360073448728784n);
const B = backupName(1479360073448728785n);

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

  test("bad account, key, container names or prefix are BackupStoreConfigErrors naming the setting", () => {
    const cases: Array<[Partial<AzureStorageConfig>, RegExp]> = [
      [{ accountName: "Has_Upper" }, /^azure_blob_storage account_name must be/],
      [{ accountKey: "" }, /^azure_blob_storage account_key must be/],
      [{ accountKey: "not base64!" }, /^azure_blob_storage account_key must be/],
      [{ containerName: "Backups" }, /^azure_blob_storage container_name must be/],
      [{ containerName: "a--b" }, /^azure_blob_storage container_name must be/],
      [{ prefix: "a//b" }, /^azure_blob_storage\.prefix: "a\/\/b" has an empty path segment$/],
    ];
    for (const [overrides, message] of cases) {
      assert.throws(
        () => new AzureBlobStore(config(overrides), { env: {} }),
        (e: unknown) => e instanceof BackupStoreConfigError && message.test(e.message),
        JSON.stringify(overrides),
      );
    }
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
      /^BackupStoreConfigError: AZURE_STORAGE_CONNECTION_STRING: /,
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
  let n = 0;

  before(async () => {
    azurite = await startAzurite();
  });
  after(async () => {
    await azurite.stop();
  });

  function storeOn(containerName: string): AzureBlobStore {
    return new AzureBlobStore(
      config({ accountName: azurite.account, accountKey: azurite.key, containerName }),
      { env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString }, retry: FAST_RETRY },
    );
  }

  /** A container of its own, so that tests do not see each other's blobs. */
  async function freshContainer(): Promise<ContainerClient> {
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
      `test-${++n}`,
    );
    await container.create();
    return container;
  }

  runStoreContract("azure (Azurite)", async () => {
    const container = await freshContainer();
    return {
      store: storeOn(container.containerName),
      foreign: async (path, bytes) => {
        await container.getBlockBlobClient(`consul-snapshot/${path}`).upload(bytes, bytes.length);
      },
      cleanup: async () => {
        await container.delete();
      },
    };
  });

  test("a backup is a block blob <prefix>/<name>, staged in several blocks and committed", async () => {
    const container = await freshContainer();
    const store = storeOn(container.containerName);
    const data = randomBytes(9 * MiB + 12345);
    await store.put(A, streamOf(data), metaOf(data, 1));
    const blocks = await container.getBlockBlobClient(`consul-snapshot/${A}`).getBlockList("committed");
    assert.ok((blocks.committedBlocks?.length ?? 0) > 1);
    await container.delete();
  });

  test("a missing container is an error, not an empty store", async () => {
    const store = storeOn("no-such-container");
    await assert.rejects(
      store.head(A),
      (e) => e instanceof BackupStoreError && / failed: HTTP 404 ContainerNotFound$/.test(e.message),
    );
    await assert.rejects(
      store.list(""),
      (e) => e instanceof BackupStoreError && /The specified container does not exist\./.test(e.message),
    );
    const data = Buffer.from("x");
    await assert.rejects(
      store.put(A, streamOf(data), metaOf(data, 1)),
      (e) =>
        e instanceof BackupStoreError &&
        /^put of ".+" in azure:.+ failed: .*ContainerNotFound/.test(e.message),
    );
  });

  test("a body that fails after blocks were staged leaves them uncommitted: there is no blob", async () => {
    const container = await freshContainer();
    const store = storeOn(container.containerName);
    const staged = container.getBlockBlobClient(`consul-snapshot/${A}`);
    /** 12 MiB (three blocks), then, once the service holds staged blocks of it, an error. */
    const body = Readable.from(
      (async function* () {
        for (let i = 0; i < 12; i++) yield randomBytes(MiB);
        for (let tries = 0; tries < 200; tries++) {
          const list = await staged.getBlockList("uncommitted").catch(() => null);
          if ((list?.uncommittedBlocks?.length ?? 0) > 0) break;
          await new Promise((r) => setTimeout(r, 25));
        }
        throw new Error("source broke after 12 MiB");
      })(),
    );
    // Metadata for more than is sent: the body's own error ends the put, not a mismatch.
    const meta = { ...metaOf(Buffer.alloc(0), 7), size: 24 * MiB };
    await assert.rejects(store.put(A, body, meta), /^Error: source broke after 12 MiB$/);
    const uncommitted = [];
    for await (const b of container.listBlobsFlat({ includeUncommitedBlobs: true })) uncommitted.push(b.name);
    assert.deepEqual(uncommitted, [`consul-snapshot/${A}`]);
    assert.equal(await store.head(A), null);
    assert.deepEqual(await store.list(""), []);
    await container.delete();
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
      await storeOf(azurite).put(A, streamOf(kept), metaOf(kept, 1));
      await azurite.stop();
      azurite = await start();
      const store = storeOf(azurite);
      assert.deepEqual((await store.head(A))?.meta, metaOf(kept, 1));

      // 64 MiB made as it is read; the emulator is killed once 16 MiB have been produced.
      const body = generatedBody(64 * MiB);
      let produced = 0;
      let killed: Promise<void> | null = null;
      const victim = azurite;
      const put = store.put(
        B,
        body.make((at) => {
          produced = at;
          if (at >= 16 * MiB) killed ??= victim.kill();
        }),
        body.meta,
      );
      const settled = await settledWithin(put, 60_000);
      assert.ok(killed !== null, "the emulator was killed during the upload");
      await killed;
      assert.ok(typeof settled === "object" && "error" in settled, `put settled with ${String(settled)}`);
      assert.ok(settled.error instanceof BackupStoreError, String(settled.error));
      assert.match(
        settled.error.message,
        /^put of "consul-\d+\.snap" in azure:\/\/devstoreaccount1\/backups\/consul-snapshot failed: /,
      );
      assert.ok(
        produced < 48 * MiB,
        `the failed upload stopped reading its body (read ${produced / MiB} MiB)`,
      );

      azurite = await start();
      const after = storeOf(azurite);
      assert.equal(await after.head(B), null);
      assert.deepEqual(
        (await after.list("")).map((o) => o.name),
        [A],
      );
      assert.deepEqual(await readAll(await after.get(A)), kept);
    } finally {
      for (const a of running) await a.stop();
      rmSync(location, { recursive: true, force: true });
    }
  });
});
