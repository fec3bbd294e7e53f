/**
 * `cairn snapshot list|inspect|restore` of backups in object stores, against real servers on loopback: s3rver and
 * Azurite always, Google's Cloud Storage emulator when firebase-tools is found (skipped, saying how, otherwise). The
 * backups are written by the snapshot agent's own code into the store a destination URL makes, and restored into
 * a running datacenter (the real HTTP stack over an in-memory server).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { Storage } from "@google-cloud/storage";
import type { Env } from "../src/client/index.js";
import { byteSize } from "../src/snapshot/index.js";
import { S3Store } from "../src/snapshot-agent/store-s3.js";
import { storeFromUrl } from "../src/snapshot-agent/store-url.js";
import { agentBackup, keyFile, privateTmpdir, succeeded, verifiedColumn } from "./support/agent-backups.js";
import { type Azurite, startAzurite } from "./support/azurite.js";
import { cliAgent, run } from "./support/cli-harness.js";
import { findFirebaseTools, type GcsEmulator, startGcsEmulator } from "./support/gcs-emulator.js";
import { S3RVER_CREDENTIALS, type S3rverServer, startS3rver } from "./support/s3rver.js";

// The AWS SDK must never probe the EC2 instance metadata address (tests reach loopback only).
process.env.AWS_EC2_METADATA_DISABLED = "true";

/** `base` with one more path segment, before its query. */
function under(base: string, segment: string): string {
  const q = base.indexOf("?");
  return q < 0 ? `${base}/${segment}` : `${base.slice(0, q)}/${segment}${base.slice(q)}`;
}

/** A running datacenter holding keys a and b/c, and the CLI's env for it plus `extra`; a TMPDIR of the test's own. */
async function datacenter(t: TestContext, extra: Env) {
  await privateTmpdir(t);
  const { agent, api, env } = await cliAgent(t);
  for (const k of ["a", "b/c"]) await api.kvWrite({ op: "set", key: k, value: Buffer.from(k), flags: 0n });
  const address = env.CONSUL_HTTP_ADDR as string;
  const restores = (): number =>
    agent.requests.filter((r) => r.method === "PUT" && r.path === "/v1/snapshot").length;
  const keys = (): string[] => api.store.list("").entries.map((e) => e.Key);
  return { api, address, env: { ...env, ...extra }, restores, keys };
}

/**
 * What every store must do from the CLI: list the agent's backups newest first (another program's object left
 * out), verify them by reading them back, inspect and restore the latest into the datacenter.
 */
async function listInspectRestore(
  t: TestContext,
  base: string,
  extra: Env,
  foreign: (name: string) => Promise<void>,
): Promise<void> {
  const dc = await datacenter(t, extra);
  const { store } = await storeFromUrl(base, dc.env);
  const first = await agentBackup(store, dc.address);
  const second = await agentBackup(store, dc.address);
  await foreign("notes.txt");
  await foreign("consul-0001.snap.bak");

  const listed = await run(["snapshot", "list", base], dc.env);
  succeeded(listed);
  const lines = listed.stdout.trimEnd().split("\n");
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/)[0]),
    ["ID", second.id, first.id],
  );
  assert.deepEqual(verifiedColumn(listed), ["Verified", "yes", "yes"]);
  const verified = await run(["snapshot", "list", "-verify", base], dc.env);
  succeeded(verified);
  assert.deepEqual(verifiedColumn(verified), ["Verified", "ok", "ok"]);

  const inspected = await run(["snapshot", "inspect", under(base, "latest")], dc.env);
  succeeded(inspected);
  assert.match(inspected.stdout, new RegExp(`\\n Index\\s+${second.index}\\n`));
  assert.equal(inspected.stderr, `Fetched ${second.name} (${byteSize(second.bytes)}) from ${store.label}\n`);

  await dc.api.kvWrite({ op: "delete-tree", prefix: "" });
  const restored = await run(["snapshot", "restore", under(base, first.name)], dc.env);
  succeeded(restored);
  assert.deepEqual([restored.stdout, dc.keys(), dc.restores()], ["Restored snapshot\n", ["a", "b/c"], 1]);
}

describe("snapshot list, inspect and restore in S3 (s3rver)", () => {
  let server: S3rverServer;
  const env: Env = {
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  };
  const url = (bucket: string, prefix: string): string =>
    `s3://${bucket}/${prefix}?region=us-east-1&endpoint=${server.endpoint}&path-style`;

  before(async () => {
    server = await startS3rver();
  });
  after(async () => {
    await server?.stop();
  });

  test("list (others' objects left out), -verify, inspect and restore into a running datacenter", async (t) => {
    const base = url(server.bucket, "cli/consul-snapshot");
    await listInspectRestore(t, base, env, async (name) => {
      const { store } = await storeFromUrl(base, env);
      assert.ok(store instanceof S3Store);
      const put = { Bucket: server.bucket, Key: `cli/consul-snapshot/${name}`, Body: "not a backup" };
      await store.client.send(new PutObjectCommand(put));
    });
  });

  test("AWS_S3_ENDPOINT stands for ?endpoint=; a bucket that is not there: exit 1, saying why", async (t) => {
    const dc = await datacenter(t, { ...env, AWS_S3_ENDPOINT: server.endpoint, AWS_REGION: "us-east-1" });
    const listed = await run(["snapshot", "list", `s3://${server.bucket}/empty?path-style`], dc.env);
    assert.deepEqual([listed.code, listed.stderr], [0, `No backups in s3://${server.bucket}/empty\n`]);
    const missing = await run(["snapshot", "list", url("no-such-bucket", "p")], dc.env);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^Error listing backups: .*NoSuchBucket|^Error listing backups: .*bucket does not exist/i,
    );
  });
});

describe("snapshot list, inspect and restore in Azure Blob Storage (Azurite)", () => {
  let azurite: Azurite;
  let env: Env;
  let n = 0;

  /** A new container; its blob client, and the URL of the prefix `consul-snapshot` in it. */
  async function container(): Promise<{ blobs: ContainerClient; url: string }> {
    const name = `cli-${++n}`;
    const blobs = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name);
    await blobs.create();
    return { blobs, url: `azure://${azurite.account}/${name}/consul-snapshot` };
  }

  before(async () => {
    azurite = await startAzurite();
    env = { AZURE_STORAGE_KEY: azurite.key, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
  });
  after(async () => {
    await azurite?.stop();
  });

  test("list (others' blobs left out), -verify, inspect and restore into a running datacenter", async (t) => {
    const { blobs, url } = await container();
    await listInspectRestore(t, url, env, async (name) => {
      await blobs.getBlockBlobClient(`consul-snapshot/${name}`).upload("not a backup", 12);
    });
  });

  test("an encrypted backup: restored with its key; refused without it or with another, restoring nothing", async (t) => {
    const { url } = await container();
    const dc = await datacenter(t, env);
    const dir = await mkdtemp(join(tmpdir(), "cairn-keys-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { path: keyPath, key } = await keyFile(dir);
    const { path: otherKey } = await keyFile(dir, "other.key");
    const b = await agentBackup((await storeFromUrl(url, dc.env)).store, dc.address, key);
    await dc.api.kvWrite({ op: "delete-tree", prefix: "" });

    const noKey = await run(["snapshot", "restore", `${url}/latest`], dc.env);
    assert.deepEqual(
      [noKey.code, noKey.stderr],
      [
        1,
        `Error reading backup: ${url}/${b.name} is an encrypted cairn backup: pass -decrypt-key-file FILE with its key\n`,
      ],
    );
    const wrong = await run(["snapshot", "restore", "-decrypt-key-file", otherKey, `${url}/latest`], dc.env);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^Error decrypting backup: encrypted backup was encrypted with a different key/,
    );
    assert.deepEqual([dc.keys(), dc.restores()], [[], 0]);

    const listed = await run(["snapshot", "list", "-verify", "-decrypt-key-file", keyPath, url], dc.env);
    succeeded(listed);
    assert.match(listed.stdout.split("\n")[1] ?? "", new RegExp(`^${b.id}\\s.*\\syes\\s+ok$`));
    const right = await run(["snapshot", "restore", "-decrypt-key-file", keyPath, `${url}/latest`], dc.env);
    succeeded(right);
    assert.deepEqual([dc.keys(), dc.restores()], [["a", "b/c"], 1]);
  });

  test("a blob changed in the store: -verify says MISMATCH, and it is never restored", async (t) => {
    const { blobs, url } = await container();
    const dc = await datacenter(t, env);
    const b = await agentBackup((await storeFromUrl(url, dc.env)).store, dc.address);
    // The same size and the agent's metadata, other bytes: what a bit rot or a careless copy leaves.
    const blob = blobs.getBlockBlobClient(`consul-snapshot/${b.name}`);
    const { metadata } = await blob.getProperties();
    const other = randomBytes(b.bytes);
    await blob.upload(other, other.length, metadata === undefined ? {} : { metadata });

    const listed = await run(["snapshot", "list", url], dc.env);
    assert.deepEqual(verifiedColumn(listed), ["Verified", "yes"]);
    const verified = await run(["snapshot", "list", "-verify", url], dc.env);
    assert.equal(verified.code, 1);
    assert.deepEqual(verifiedColumn(verified), ["Verified", "MISMATCH"]);
    const restored = await run(["snapshot", "restore", `${url}/latest`], dc.env);
    assert.equal(restored.code, 1);
    assert.match(
      restored.stderr,
      new RegExp(`^Error fetching backup: the body of backup "${b.name}" has sha256`),
    );
    assert.equal(dc.restores(), 0);
  });

  test("a store that cannot be read: exit 1, saying why", async (t) => {
    const dc = await datacenter(t, env);
    const url = `azure://${azurite.account}/no-such-container`;
    const r = await run(["snapshot", "list", url], dc.env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`^Error listing backups: list of "consul-" in ${url} failed: .*ContainerNotFound`),
    );
    const noKey = await run(["snapshot", "list", url], { CONSUL_HTTP_ADDR: dc.address });
    assert.deepEqual(
      [noKey.code, noKey.stderr],
      [1, `Error opening backup store: store URL "${url}": no account key: set AZURE_STORAGE_KEY\n`],
    );
  });
});

const firebaseTools = findFirebaseTools();
const skip = "missing" in firebaseTools ? firebaseTools.missing : false;

describe("snapshot list, inspect and restore in Google Cloud Storage (emulator)", { skip }, () => {
  let emulator: GcsEmulator;

  before(async () => {
    if ("dir" in firebaseTools) emulator = await startGcsEmulator(firebaseTools.dir);
  });
  after(async () => {
    await emulator?.stop();
  });

  test("list (others' objects left out), -verify, inspect and restore into a running datacenter", async (t) => {
    const base = `gs://cli-backups/consul-snapshot?endpoint=${emulator.endpoint}`;
    await listInspectRestore(t, base, {}, async (name) => {
      const storage = new Storage({ apiEndpoint: emulator.endpoint });
      await storage
        .bucket("cli-backups")
        .file(`consul-snapshot/${name}`)
        .save("not ours", { resumable: false });
    });
  });
});
