/**
 * The Google Cloud Storage store against firebase-tools' Cloud Storage emulator on loopback, with resumable and
 * with simple uploads: round trips, metadata, listing, replace, delete, and failed uploads that leave no object.
 * firebase-tools is not a dependency: these skip, saying how to run them, unless it is found
 * (test/support/gcs-emulator.ts). (They follow the shared store contract's behaviours until it lands.)
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Storage } from "@google-cloud/storage";
import type { GoogleStorageConfig } from "../src/snapshot-agent/config-types.js";
import { GcsStore } from "../src/snapshot-agent/store-gcs.js";
import { findFirebaseTools, type GcsEmulator, startGcsEmulator } from "./support/gcs-emulator.js";
import { bodyOf, MiB, metaOf, sha256Of } from "./support/store-data.js";

// Were the client to look for credentials, these make it fail here (a missing key file; a metadata server on a
// closed loopback port) instead of finding some or reaching beyond loopback: the emulator needs none.
process.env.GOOGLE_APPLICATION_CREDENTIALS = "/nonexistent/cairn-test-credentials.json";
process.env.GCE_METADATA_HOST = "127.0.0.1:1";
process.env.GCE_METADATA_IP = "127.0.0.1:1";
delete process.env.STORAGE_EMULATOR_HOST;

const firebaseTools = findFirebaseTools();
const skip = "missing" in firebaseTools ? firebaseTools.missing : false;

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
      /google_storage prefix: empty path segment/,
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

for (const resumable of [true, false]) {
  describe(`GcsStore against the emulator, ${resumable ? "resumable" : "simple"} uploads`, { skip }, () => {
    let emulator: GcsEmulator;
    let n = 0;
    let bucketName = "";

    /** A store on a bucket of its own (the emulator makes buckets on first use), so tests do not meet. */
    function freshStore(overrides: Partial<GoogleStorageConfig> = {}): GcsStore {
      bucketName = `test-${resumable ? "r" : "s"}-${++n}`;
      return storeOn(bucketName, overrides);
    }

    function storeOn(bucket: string, overrides: Partial<GoogleStorageConfig> = {}): GcsStore {
      return new GcsStore(config({ bucket, ...overrides }), { apiEndpoint: emulator.endpoint, resumable });
    }

    /** Writes an object as another program would, without cairn's metadata. */
    async function foreign(key: string, content: string): Promise<void> {
      const storage = new Storage({ apiEndpoint: emulator.endpoint });
      await storage.bucket(bucketName).file(key).save(content, { resumable: false });
    }

    before(async () => {
      if ("dir" in firebaseTools) emulator = await startGcsEmulator(firebaseTools.dir);
    });
    after(async () => {
      await emulator?.stop();
    });

    test("put then head and get: megabytes come back byte for byte, with their metadata", async () => {
      const store = freshStore();
      const data = randomBytes(9 * MiB + 12345);
      const meta = metaOf(data, 1479360073);
      await store.put("consul-1.snap", bodyOf(data), meta);

      const head = await store.head("consul-1.snap");
      assert.ok(head !== null);
      assert.equal(head.name, "consul-1.snap");
      assert.equal(head.size, data.length);
      assert.ok(head.modified instanceof Date && head.modified.getTime() > 0);
      assert.deepEqual(head.meta, meta);
      assert.deepEqual(await sha256Of(await store.get("consul-1.snap")), {
        sha256: meta.sha256,
        size: data.length,
      });
    });

    test("an empty object round-trips", async () => {
      const store = freshStore();
      const meta = metaOf(Buffer.alloc(0), 1);
      await store.put("empty.snap", Readable.from([]), meta);
      assert.deepEqual((await store.head("empty.snap"))?.meta, meta);
      assert.deepEqual(await sha256Of(await store.get("empty.snap")), { sha256: meta.sha256, size: 0 });
    });

    test("list: sorted by name, filtered by startsWith, only under the prefix, with metadata", async () => {
      const store = freshStore();
      for (const [name, i] of [
        ["consul-3.snap", 3],
        ["consul-1.snap", 1],
        ["other-2.snap", 2],
        ["consul-2.snap", 4],
      ] as const) {
        const data = Buffer.from(name);
        await store.put(name, bodyOf(data), metaOf(data, i));
      }
      await foreign("elsewhere/consul-9.snap", "x");
      await foreign("consul-snapshotx/consul-8.snap", "x");
      await foreign("consul-snapshot/consul-0.foreign", "abc");

      const all = await store.list("");
      assert.deepEqual(
        all.map((o) => o.name),
        ["consul-0.foreign", "consul-1.snap", "consul-2.snap", "consul-3.snap", "other-2.snap"],
      );
      assert.equal(all[0]?.meta, undefined);
      assert.equal(all[0]?.size, 3);
      assert.deepEqual(all[1]?.meta, metaOf(Buffer.from("consul-1.snap"), 1));
      assert.equal(all[2]?.meta?.index, 4);
      assert.deepEqual(
        (await store.list("consul-")).map((o) => o.name),
        ["consul-0.foreign", "consul-1.snap", "consul-2.snap", "consul-3.snap"],
      );
      assert.deepEqual(await store.list("none-"), []);
      assert.equal((await store.head("consul-0.foreign"))?.meta, undefined);
      assert.deepEqual(
        (await storeOn(bucketName, { prefix: "" }).list("elsewhere/")).map((o) => o.name),
        ["elsewhere/consul-9.snap"],
      );
    });

    test("list follows pages", async () => {
      const store = freshStore();
      const names = Array.from({ length: 1005 }, (_, i) => `consul-${String(i).padStart(4, "0")}.snap`);
      const storage = new Storage({ apiEndpoint: emulator.endpoint });
      for (const name of names)
        await storage.bucket(bucketName).file(`consul-snapshot/${name}`).save("", { resumable: false });
      assert.deepEqual(
        (await store.list("")).map((o) => o.name),
        names,
      );
    });

    test("put replaces an existing object; delete removes it, and deleting again is no error", async () => {
      const store = freshStore();
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
      const store = freshStore();
      assert.equal(await store.head("nothing.snap"), null);
      await assert.rejects(
        store.get("nothing.snap"),
        /^Error: gs:\/\/test-[rs]-\d+\/consul-snapshot: get "nothing.snap": no such object$/,
      );
    });

    test("a body that fails half-way rejects the put and leaves no object, nor any change to the one it replaced", async () => {
      const store = freshStore();
      const failing = (): Readable =>
        Readable.from(
          (async function* () {
            for (let i = 0; i < 6; i++) yield randomBytes(MiB);
            throw new Error("source broke after 6 MiB");
          })(),
        );
      const meta = metaOf(Buffer.alloc(0), 7);
      const body = failing();
      await assert.rejects(
        store.put("consul-7.snap", body, meta),
        /put "consul-7.snap": source broke after 6 MiB/,
      );
      assert.ok(body.destroyed);
      assert.equal(await store.head("consul-7.snap"), null);
      assert.deepEqual(await store.list(""), []);

      const old = randomBytes(2 * MiB);
      await store.put("consul-8.snap", bodyOf(old), metaOf(old, 8));
      await assert.rejects(store.put("consul-8.snap", failing(), meta), /source broke/);
      assert.deepEqual((await store.head("consul-8.snap"))?.meta, metaOf(old, 8));
      assert.deepEqual(await sha256Of(await store.get("consul-8.snap")), {
        sha256: metaOf(old, 8).sha256,
        size: old.length,
      });
      assert.deepEqual(
        (await store.list("")).map((o) => o.name),
        ["consul-8.snap"],
      );
    });

    test("bad names and metadata are refused before anything is written", async () => {
      const store = freshStore();
      const data = Buffer.from("x");
      for (const name of [
        "",
        "/abs.snap",
        "a//b.snap",
        "../up.snap",
        "a/./b",
        "tab\there",
        "x".repeat(1020),
      ]) {
        await assert.rejects(store.put(name, bodyOf(data), metaOf(data, 1)), /object name/, name);
        await assert.rejects(store.head(name), /object name/);
        await assert.rejects(store.delete(name), /object name/);
      }
      await assert.rejects(
        store.put("a.snap", bodyOf(data), { ...metaOf(data, 1), term: 1.5 }),
        /term must be/,
      );
      await assert.rejects(
        store.put("a.snap", bodyOf(data), { ...metaOf(data, 1), sha256: "ABC" }),
        /sha256 must be/,
      );
      assert.deepEqual(await store.list(""), []);
      await store.put("dc1/consul-1.snap", bodyOf(data), metaOf(data, 1));
      assert.deepEqual(
        (await store.list("dc1/")).map((o) => o.name),
        ["dc1/consul-1.snap"],
      );
    });

    test("STORAGE_EMULATOR_HOST, which the client reads, reaches the emulator without an apiEndpoint", async () => {
      const writer = freshStore();
      const data = randomBytes(1000);
      await writer.put("consul-1.snap", bodyOf(data), metaOf(data, 1));
      process.env.STORAGE_EMULATOR_HOST = emulator.endpoint;
      try {
        const store = new GcsStore(config({ bucket: bucketName }), { resumable });
        assert.deepEqual((await store.head("consul-1.snap"))?.meta, metaOf(data, 1));
      } finally {
        delete process.env.STORAGE_EMULATOR_HOST;
      }
    });
  });
}
