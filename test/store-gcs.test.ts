/**
 * The Google Cloud Storage store: its configuration, then, against firebase-tools' Cloud Storage emulator on
 * loopback, the contract suite every store passes, once with resumable and once with simple uploads, and what is
 * GCS's own: listing page by page, and the client's STORAGE_EMULATOR_HOST. firebase-tools is not a dependency:
 * the emulator's tests skip, saying how to run them, unless it is found (test/support/gcs-emulator.ts).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Storage } from "@google-cloud/storage";
import type { GoogleStorageConfig } from "../src/snapshot-agent/config-types.js";
import { backupName, metaOf, runStoreContract, streamOf } from "../src/snapshot-agent/store-contract.js";
import { GcsStore } from "../src/snapshot-agent/store-gcs.js";
import { findFirebaseTools, type GcsEmulator, startGcsEmulator } from "./support/gcs-emulator.js";

// Were the client to look for credentials, these make it fail here (a missing key file; a metadata server on a
// closed loopback port) instead of finding some or reaching beyond loopback: the emulator needs none.
process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/cairn-test-credentials.json";
process.env.GCE_METADATA_HOST = "127.0.0.1:1";
process.env.GCE_METADATA_IP = "127.0.0.1:1";
delete process.env.STORAGE_EMULATOR_HOST;

const firebaseTools = findFirebaseTools();
const skip = "missing" in firebaseTools ? firebaseTools.missing : false;

const A = backupName(1479360073448728784n);

function config(overrides: Partial<GoogleStorageConfig> = {}): GoogleStorageConfig {
  return { bucket: "cairn-backups", prefix: "consul-snapshot", ...overrides };
}

describe("GcsStore configuration", () => {
  test("the label names the bucket and the prefix, trimmed of slashes", () => {
    assert.equal(new GcsStore(config()).label, "gs://cairn-backups/consul-snapshot");
    assert.equal(new GcsStore(config({ prefix: "/a/b/" })).label, "gs://cairn-backups/a/b");
    assert.equal(new GcsStore(config({ prefix: "" })).label, "gs://cairn-backups");
    assert.equal(
      new GcsStore(config({ bucket: "my.bucket.example.com" })).label,
      "gs://my.bucket.example.com/consul-snapshot",
    );
  });

  test("bad bucket names, prefixes and endpoints are errors naming the setting", () => {
    for (const bucket of ["", "ab", "Upper", "-dash", "dash-", "a".repeat(64), "has space", "a..b"]) {
      assert.throws(() => new GcsStore(config({ bucket })), /google_storage bucket must be/, bucket);
    }
    assert.throws(
      () => new GcsStore(config({ prefix: "a//b" })),
      /^BackupStoreConfigError: google_storage\.prefix: "a\/\/b" has an empty path segment$/,
    );
    assert.throws(
      () => new GcsStore(config(), { apiEndpoint: "ftp://127.0.0.1:9199" }),
      /apiEndpoint must be http or https/,
    );
    assert.throws(
      () => new GcsStore(config(), { apiEndpoint: "127.0.0.1:9199" }),
      /apiEndpoint is not a URL/,
    );
  });
});

describe("GcsStore against the emulator", { skip }, () => {
  let emulator: GcsEmulator;
  let storage: Storage;
  let n = 0;

  before(async () => {
    if (!("dir" in firebaseTools)) return; // skipped, saying why
    emulator = await startGcsEmulator(firebaseTools.dir);
    storage = new Storage({ apiEndpoint: emulator.endpoint });
  });
  after(async () => {
    await emulator?.stop();
  });

  /** A bucket of its own (the emulator makes buckets on first use), so that tests do not meet. */
  function freshBucket(): string {
    return `test-${++n}`;
  }

  for (const resumable of [true, false]) {
    // At the bucket's root (an empty prefix): the path of object-names.ts the other stores' suites do not take.
    runStoreContract(`gcs (emulator, ${resumable ? "resumable" : "simple"} uploads)`, async () => {
      const bucket = freshBucket();
      return {
        store: new GcsStore(config({ bucket, prefix: "" }), { apiEndpoint: emulator.endpoint, resumable }),
        foreign: async (path, bytes) => {
          await storage.bucket(bucket).file(path).save(Buffer.from(bytes), { resumable: false });
        },
        cleanup: () => storage.bucket(bucket).deleteFiles({ force: true }),
      };
    });
  }

  test("list follows pages; objects are <prefix>/<name>", async () => {
    const bucket = freshBucket();
    const store = new GcsStore(config({ bucket }), { apiEndpoint: emulator.endpoint });
    const names = Array.from({ length: 1005 }, (_, i) => `consul-${String(i).padStart(4, "0")}.snap`);
    for (const name of names) {
      await storage.bucket(bucket).file(`consul-snapshot/${name}`).save("", { resumable: false });
    }
    assert.deepEqual(
      (await store.list("")).map((o) => o.name),
      names,
    );
    await storage.bucket(bucket).deleteFiles({ force: true });
  });

  test("STORAGE_EMULATOR_HOST, which the client reads, reaches the emulator without an apiEndpoint", async () => {
    const bucket = freshBucket();
    const data = randomBytes(1000);
    await new GcsStore(config({ bucket }), { apiEndpoint: emulator.endpoint }).put(
      A,
      streamOf(data),
      metaOf(data),
    );
    process.env.STORAGE_EMULATOR_HOST = emulator.endpoint;
    try {
      const store = new GcsStore(config({ bucket }));
      assert.deepEqual((await store.head(A))?.meta, metaOf(data));
    } finally {
      delete process.env.STORAGE_EMULATOR_HOST;
      await storage.bucket(bucket).deleteFiles({ force: true });
    }
  });
});
