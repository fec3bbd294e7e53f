/**
 * The S3 backup store against a real S3 server: s3rver, as a child process on 127.0.0.1 (test/support/s3rver.ts).
 * The contract suite every store passes, then what is S3's own: key layout, metadata and encryption headers on
 * the wire, pagination, credentials, configuration refusals, a connection cut mid-PUT, and the server killed
 * mid-upload.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import type { AwsStorageConfig } from "../src/snapshot-agent/config-types.js";
import { BackupStoreConfigError, BackupStoreError } from "../src/snapshot-agent/store-checks.js";
import {
  backupName,
  metaOf,
  readAll,
  runStoreContract,
  sha256,
  streamOf,
} from "../src/snapshot-agent/store-contract.js";
import { S3Store, type S3StoreOptions } from "../src/snapshot-agent/store-s3.js";
import { S3RVER_CREDENTIALS, type S3rverServer, s3rverStorageConfig, startS3rver } from "./support/s3rver.js";
import { generatedBody, MiB, settledWithin } from "./support/store-data.js";
import { startTcpProxy } from "./support/tcp-proxy.js";

// The SDK must never look for credentials on an instance metadata service (nothing may leave loopback).
process.env.AWS_EC2_METADATA_DISABLED = "true";

let server: S3rverServer;
before(async () => {
  server = await startS3rver();
});
after(async () => {
  await server?.stop();
});

function awsConfig(overrides: Partial<AwsStorageConfig> = {}): AwsStorageConfig {
  return s3rverStorageConfig(server, overrides);
}

let prefixes = 0;
/** A store on a key prefix no other test uses. */
function freshStore(overrides: Partial<AwsStorageConfig> = {}, options: S3StoreOptions = {}): S3Store {
  prefixes++;
  return new S3Store(awsConfig({ keyPrefix: `t${prefixes}/consul-snapshot`, ...overrides }), options);
}

async function emptied(store: S3Store): Promise<void> {
  for (const o of await store.list("")) await store.delete(o.name);
  store.close();
}

async function rawKeys(store: S3Store, prefix: string): Promise<string[]> {
  const res = await store.client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }));
  return (res.Contents ?? []).map((o) => o.Key ?? "").sort();
}

const A = backupName(1479360073448728784n);

runStoreContract("s3 (s3rver)", async () => {
  const keyPrefix = `c${++prefixes}/consul-snapshot`;
  const store = new S3Store(awsConfig({ keyPrefix }));
  return {
    store,
    foreign: async (path, bytes) => {
      await store.client.send(
        new PutObjectCommand({ Bucket: server.bucket, Key: `${keyPrefix}/${path}`, Body: bytes }),
      );
    },
    // Every key under the prefix: the backups, and what the test wrote beside them as another program.
    cleanup: async () => {
      for (const key of await rawKeys(store, `${keyPrefix}/`)) {
        await store.client.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: key }));
      }
      store.close();
    },
  };
});

describe("S3Store on s3rver", () => {
  it("keys are <prefix>/<name>; slashes around the prefix are dropped; an empty prefix means no slash", async () => {
    const stores = ["k1/consul-snapshot", "/k2/", ""].map(
      (keyPrefix) => new S3Store(awsConfig({ keyPrefix })),
    );
    try {
      const bytes = randomBytes(2000);
      for (const s of stores) await s.put(A, streamOf(bytes), metaOf(bytes));
      assert.deepEqual(await rawKeys(stores[0]!, "k"), [`k1/consul-snapshot/${A}`, `k2/${A}`]);
      assert.deepEqual(await rawKeys(stores[0]!, "consul-"), [A]);
      assert.deepEqual(
        stores.map((s) => s.label),
        ["s3://cairn-test/k1/consul-snapshot", "s3://cairn-test/k2", "s3://cairn-test/"],
      );
      // Each store sees only its own level: the top-level store does not list the others' "folders".
      assert.deepEqual(
        (await stores[2]!.list("")).map((o) => o.name),
        [A],
      );
    } finally {
      for (const s of stores) await emptied(s);
    }
  });

  it("writes cairn's metadata as x-amz-meta-cairn-* user metadata", async () => {
    const store = freshStore();
    try {
      const bytes = randomBytes(3000);
      const meta = metaOf(bytes, 77, 5);
      await store.put(A, streamOf(bytes), meta);
      const head = await store.client.send(
        new HeadObjectCommand({ Bucket: server.bucket, Key: `t${prefixes}/consul-snapshot/${A}` }),
      );
      assert.deepEqual(head.Metadata, {
        "cairn-index": "77",
        "cairn-term": "5",
        "cairn-size": "3000",
        "cairn-sha256": meta.sha256,
        "cairn-version": meta.version,
      });
    } finally {
      await emptied(store);
    }
  });

  for (const [what, overrides, headers] of [
    ["no encryption asked: no encryption header", {}, []],
    ["SSE-S3", { serverSideEncryption: true }, ["x-amz-server-side-encryption: AES256"]],
    [
      "SSE-KMS with a key",
      { enableKms: true, kmsKey: "alias/cairn-backups" },
      [
        "x-amz-server-side-encryption: aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id: alias/cairn-backups",
      ],
    ],
    ["SSE-KMS with the default key", { enableKms: true }, ["x-amz-server-side-encryption: aws:kms"]],
  ] as const) {
    it(`sends the encryption headers on a PUT and on a multipart upload: ${what}`, async () => {
      const proxy = await startTcpProxy(server.port);
      const store = freshStore({ ...overrides, endpoint: proxy.endpoint }, { partSize: 5 * 1024 * 1024 });
      try {
        const small = randomBytes(1000);
        await store.put(A, streamOf(small), metaOf(small));
        const big = randomBytes(6 * 1024 * 1024);
        await store.put(backupName(2n), streamOf(big), metaOf(big));
        assert.equal(sha256(await readAll(await store.get(backupName(2n)))), metaOf(big).sha256);
        const sent = proxy.sent();
        assert.match(sent, /\?uploads/, "the big body went as a multipart upload");
        const lines = sent.split("\r\n").filter((l) => /^x-amz-server-side-encryption/i.test(l));
        // Once on the PUT, once on CreateMultipartUpload (parts inherit the upload's encryption).
        const expected = headers.flatMap((h) => [h, h]);
        assert.deepEqual(
          lines.map((l) => l.toLowerCase()).sort(),
          expected.map((h) => h.toLowerCase()).sort(),
        );
      } finally {
        await emptied(store);
        await proxy.close();
      }
    });
  }

  it("lists page by page (continuation tokens) and still sorts by name", async () => {
    const proxy = await startTcpProxy(server.port);
    const store = freshStore({ endpoint: proxy.endpoint }, { listPageSize: 2 });
    try {
      const names = [5n, 3n, 1n, 4n, 2n].map((n) => backupName(1479360073448728780n + n));
      for (const n of names) {
        const bytes = randomBytes(100);
        await store.put(n, streamOf(bytes), metaOf(bytes));
      }
      const before = (proxy.sent().match(/list-type=2/g) ?? []).length;
      assert.deepEqual(
        (await store.list("consul-")).map((o) => o.name),
        [...names].sort(),
      );
      assert.equal((proxy.sent().match(/list-type=2/g) ?? []).length - before, 3, "5 objects in pages of 2");
    } finally {
      await emptied(store);
      await proxy.close();
    }
  });

  it("signs with the static keys given: a key the server does not know is refused", async () => {
    // s3rver checks the key id of a V4 signature, not the signature itself.
    const store = freshStore({ accessKeyId: "NOBODY", secretAccessKey: "S3RVER" }, { maxAttempts: 1 });
    try {
      const bytes = randomBytes(100);
      await assert.rejects(store.put(A, streamOf(bytes), metaOf(bytes)), BackupStoreError);
      await assert.rejects(store.list(""), BackupStoreError);
    } finally {
      store.close();
    }
  });

  it("without static keys, takes credentials from the SDK's default chain (here AWS_ACCESS_KEY_ID…)", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    const store = freshStore({ accessKeyId: "", secretAccessKey: "" });
    try {
      const bytes = randomBytes(100);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      assert.deepEqual((await store.head(A))?.meta, metaOf(bytes));
    } finally {
      await emptied(store);
      restoreEnv("AWS_ACCESS_KEY_ID", saved.id);
      restoreEnv("AWS_SECRET_ACCESS_KEY", saved.secret);
    }
  });

  it("refuses a configuration it cannot honour, with the key to fix", () => {
    const cases: Array<[Partial<AwsStorageConfig>, RegExp]> = [
      [{ bucket: "" }, /s3_bucket is required/],
      [{ region: "" }, /s3_region is required/],
      [{ secretAccessKey: "" }, /access_key_id and secret_access_key go together/],
      [{ accessKeyId: "", secretAccessKey: "", sessionToken: "t" }, /session_token needs/],
      [
        { roleArn: "arn:aws:iam::1:role/r", webIdentityTokenFile: "/t" },
        /role_arn, web_identity_token_file not supported/,
      ],
      [{ stsEndpoint: "https://sts.example" }, /sts_endpoint not supported/],
      [{ kmsKey: "k" }, /s3_kms_key is set but s3_enable_kms is not/],
      [{ endpoint: "not a url" }, /s3_endpoint "not a url" is not a URL/],
      [{ endpoint: "ftp://127.0.0.1:1" }, /must be http:\/\/ or https:\/\//],
      [{ keyPrefix: "a//b" }, /s3_key_prefix: "a\/\/b" has an empty path segment/],
      [{ keyPrefix: "a\nb" }, /s3_key_prefix: "a\\nb" has a control character/],
      [{ staticSnapshotName: "latest/consul.snap" }, /s3_static_snapshot_name: a backup name is letters/],
    ];
    for (const [overrides, message] of cases) {
      assert.throws(
        () => new S3Store(awsConfig(overrides)),
        (e: unknown) => e instanceof BackupStoreConfigError && message.test(e.message),
        JSON.stringify(overrides),
      );
    }
    assert.throws(
      () => new S3Store(awsConfig(), { partSize: 1024 }),
      /part size must be an integer ≥ 5242880/,
    );
  });

  it("a PUT whose connection is cut fails, and leaves no partial object (s3rver keeps one; the store removes it)", async () => {
    const proxy = await startTcpProxy(server.port, { cutAfterBytes: 256 * 1024 });
    const store = freshStore({ endpoint: proxy.endpoint });
    try {
      const bytes = randomBytes(2 * 1024 * 1024); // one part: a single PutObject
      await assert.rejects(store.put(A, streamOf(bytes), metaOf(bytes)), BackupStoreError);
      assert.ok(proxy.cuts() >= 1);
      assert.equal(await store.head(A), null);
      assert.deepEqual(await store.list(""), []);
    } finally {
      await emptied(store);
      await proxy.close();
    }
  });
});

describe("S3Store when the server dies mid-upload", () => {
  it("a 64 MB streamed upload fails in bounded time when s3rver is killed; after a restart there is no object", async () => {
    const TOTAL = 64 * MiB;
    const store = freshStore({}, { partSize: 5 * MiB, queueSize: 2, connectionTimeoutMs: 5_000 });
    const body = generatedBody(TOTAL);
    let produced = 0;
    let killed = false;
    try {
      const put = store.put(
        A,
        body.make(async (at) => {
          produced = at;
          if (at >= 16 * MiB && !killed) {
            killed = true;
            await server.kill();
          }
        }),
        body.meta,
      );
      const settled = await settledWithin(put, 120_000);
      assert.ok(killed, "the server was killed mid-upload");
      assert.ok(typeof settled === "object" && "error" in settled, `put settled with ${String(settled)}`);
      assert.ok(settled.error instanceof BackupStoreError, String(settled.error));
      // Streamed: the upload stopped reading at the failure, far from the end of the body.
      assert.ok(produced < TOTAL - 16 * MiB, `read ${produced} of ${TOTAL} bytes`);

      await server.restart();
      assert.equal(await store.head(A), null);
      assert.deepEqual(await store.list(""), []);
      // The restarted server works (the null above is an answer, not an outage).
      const bytes = randomBytes(1000);
      await store.put(A, streamOf(bytes), metaOf(bytes));
      assert.deepEqual((await store.head(A))?.meta, metaOf(bytes));
    } finally {
      if (killed) await server.restart().catch(() => {}); // already running: refused, harmless
      await emptied(store);
    }
  });
});

function restoreEnv(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}
