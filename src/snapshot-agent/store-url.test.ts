import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { S3 } from "./config-testutil.js";
import { AzureBlobStore } from "./store-azure.js";
import { GcsStore } from "./store-gcs.js";
import { LocalStore } from "./store-local.js";
import { S3Store } from "./store-s3.js";
import {
  isStoreUrl,
  LATEST,
  parseStoreUrl,
  type StoreUrl,
  storeForReading,
  storeFromUrl,
  type UrlEnv,
} from "./store-url.js";

const ID = "1700000000123456789";
const KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const AZURE_ENV: UrlEnv = { AZURE_STORAGE_KEY: KEY };

function refused(url: string, env: UrlEnv, message: RegExp): void {
  assert.throws(() => parseStoreUrl(url, env), { code: "backup_store_config", message }, url);
}

describe("parseStoreUrl: local directories", () => {
  it("plain paths and file:// URLs name a directory, and maybe one backup or the newest", () => {
    const cases: [string, StoreUrl][] = [
      ["/var/backups", { kind: "local", dir: "/var/backups", name: null }],
      ["/var/backups/", { kind: "local", dir: "/var/backups", name: null }],
      ["rel/dir", { kind: "local", dir: resolve("rel/dir"), name: null }],
      [`/var/backups/consul-${ID}.snap`, { kind: "local", dir: "/var/backups", name: `consul-${ID}.snap` }],
      [`/b/consul-${ID}.snap.enc`, { kind: "local", dir: "/b", name: `consul-${ID}.snap.enc` }],
      ["/var/backups/latest", { kind: "local", dir: "/var/backups", name: LATEST }],
      ["file:///var/backups", { kind: "local", dir: "/var/backups", name: null }],
      ["file:///var/backups/", { kind: "local", dir: "/var/backups", name: null }],
      ["file://localhost/var/backups", { kind: "local", dir: "/var/backups", name: null }],
      ["FILE:///var/backups/latest", { kind: "local", dir: "/var/backups", name: LATEST }],
      ["file:///var/my%20backups/latest", { kind: "local", dir: "/var/my backups", name: LATEST }],
      [`file:///b/consul-${ID}.snap`, { kind: "local", dir: "/b", name: `consul-${ID}.snap` }],
      ["file:///", { kind: "local", dir: "/", name: null }],
      // Not a backup's name: part of the directory.
      ["/b/consul-x.snap", { kind: "local", dir: "/b/consul-x.snap", name: null }],
      ["/b/backup.snap", { kind: "local", dir: "/b/backup.snap", name: null }],
    ];
    for (const [url, want] of cases) assert.deepEqual(parseStoreUrl(url, {}), want, url);
  });

  it("refuses an empty URL, a host, a query, a fragment and a scheme without //", () => {
    refused("", {}, /^store URL "": empty \(expected a directory/);
    refused("file://host/dir", {}, /unexpected host "host"/);
    refused("file:///dir?x=1", {}, /unexpected query parameter "x" \(this scheme takes none\)/);
    refused("file:///dir#frag", {}, /unexpected fragment "#frag"/);
    refused("s3:bucket/prefix", {}, /expected s3:\/\/ after the scheme/);
    refused("file:dir", {}, /expected file:\/\/ after the scheme/);
  });
});

describe("parseStoreUrl: S3", () => {
  const base = { ...S3, region: "us-east-1", bucket: "bucket", keyPrefix: "" };

  it("bucket, prefix, region, endpoint and path style; credentials and defaults from the environment", () => {
    assert.deepEqual(parseStoreUrl("s3://bucket?region=us-east-1", {}), {
      kind: "s3",
      config: base,
      name: null,
    });
    assert.deepEqual(
      parseStoreUrl(
        `s3://bucket/consul-snapshot/a%20b/consul-${ID}.snap?region=eu-west-1&endpoint=http://127.0.0.1:9000&path-style`,
        {},
      ),
      {
        kind: "s3",
        config: {
          ...base,
          region: "eu-west-1",
          keyPrefix: "consul-snapshot/a b",
          endpoint: "http://127.0.0.1:9000",
          forcePathStyle: true,
        },
        name: `consul-${ID}.snap`,
      },
    );
    const env: UrlEnv = {
      AWS_REGION: "ap-south-1",
      AWS_DEFAULT_REGION: "ignored",
      AWS_S3_ENDPOINT: "https://minio.internal:9000",
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "secret",
      AWS_SESSION_TOKEN: "token",
    };
    assert.deepEqual(parseStoreUrl("s3://bucket/p/latest/?path-style=false", env), {
      kind: "s3",
      config: {
        ...base,
        region: "ap-south-1",
        keyPrefix: "p",
        endpoint: "https://minio.internal:9000",
        accessKeyId: "AKID",
        secretAccessKey: "secret",
        sessionToken: "token",
      },
      name: LATEST,
    });
    // The URL's own region and endpoint win over the environment's; AWS_DEFAULT_REGION is the last resort.
    const p = parseStoreUrl("s3://bucket?region=r1&endpoint=http://127.0.0.1:1", env);
    assert.ok(p.kind === "s3");
    assert.deepEqual([p.config.region, p.config.endpoint], ["r1", "http://127.0.0.1:1"]);
    const d = parseStoreUrl("s3://bucket", { AWS_DEFAULT_REGION: "r2" });
    assert.ok(d.kind === "s3");
    assert.equal(d.config.region, "r2");
  });

  it("refuses each bad part, naming it", () => {
    const r = "region=r";
    refused(`s3:///prefix?${r}`, {}, /no bucket \(s3:\/\/BUCKET\/prefix\)/);
    refused(`s3://b/prefix?${r}`, {}, /bucket "b" must be 3 to 255 letters/);
    refused("s3://bucket/prefix", {}, /no region: add \?region=… or set AWS_REGION/);
    refused(`s3://bucket?${r}&endpoint=ftp://x`, {}, /endpoint "ftp:\/\/x" must be http:\/\/ or https:\/\//);
    refused(`s3://bucket?${r}&endpoint=nope`, {}, /endpoint "nope" is not a URL/);
    refused(`s3://bucket?${r}&endpoint=`, {}, /"endpoint" is empty/);
    refused(`s3://bucket?${r}&path-style=yes`, {}, /path-style="yes": expected no value, true or false/);
    refused(
      `s3://bucket?${r}&regoin=x`,
      {},
      /unknown query parameter "regoin" \(expected "region", "endpoint", "path-style"\)/,
    );
    refused(`s3://bucket?${r}&region=s`, {}, /query parameter "region" is given twice/);
    refused(`s3://bucket:9000/p?${r}`, {}, /unexpected port ":9000" \(an endpoint goes in \?endpoint=\)/);
    refused(`s3://bucket/a//b?${r}`, {}, /empty path segment in "\/a\/\/b"/);
    refused(`s3://bucket/a%zz?${r}`, {}, /path segment "a%zz" is not valid %-encoding/);
    refused(
      `s3://bucket?${r}`,
      { AWS_ACCESS_KEY_ID: "AKID" },
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together/,
    );
  });

  it("never echoes credentials given in the URL", () => {
    assert.throws(
      () => parseStoreUrl("s3://AKID:s3cr3t@bucket/p?region=r", {}),
      (e: Error) => {
        assert.match(e.message, /credentials do not belong in the URL/);
        assert.doesNotMatch(e.message, /s3cr3t|AKID/);
        return true;
      },
    );
  });
});

describe("parseStoreUrl: Azure and GCS", () => {
  it("azure://account/container/prefix with the key from AZURE_STORAGE_KEY", () => {
    assert.deepEqual(parseStoreUrl("azure://acct/backups", AZURE_ENV), {
      kind: "azure",
      config: {
        accountName: "acct",
        accountKey: KEY,
        containerName: "backups",
        environment: "AZUREPUBLICCLOUD",
        prefix: "",
      },
      name: null,
    });
    assert.deepEqual(
      parseStoreUrl(
        `azure://acct/backups/consul-snapshot/x/consul-${ID}.snap.enc?environment=AZURECHINACLOUD`,
        AZURE_ENV,
      ),
      {
        kind: "azure",
        config: {
          accountName: "acct",
          accountKey: KEY,
          containerName: "backups",
          environment: "AZURECHINACLOUD",
          prefix: "consul-snapshot/x",
        },
        name: `consul-${ID}.snap.enc`,
      },
    );
    const latest = parseStoreUrl("azure://acct/backups/latest", AZURE_ENV);
    assert.ok(latest.kind === "azure");
    assert.deepEqual([latest.config.prefix, latest.name], ["", LATEST]);
  });

  it("refuses a missing account, container or key, a bad key, and unknown parameters", () => {
    refused("azure:///backups", AZURE_ENV, /no account \(azure:\/\/ACCOUNT\/container\/prefix\)/);
    refused("azure://acct", AZURE_ENV, /no container \(azure:\/\/account\/CONTAINER\/prefix\)/);
    refused("azure://acct/", AZURE_ENV, /no container/);
    refused("azure://acct/backups", {}, /no account key: set AZURE_STORAGE_KEY/);
    refused(
      "azure://acct/backups",
      { AZURE_STORAGE_KEY: "not base64!" },
      /AZURE_STORAGE_KEY must be the account's base64/,
    );
    refused(
      "azure://acct/backups?prefix=x",
      AZURE_ENV,
      /unknown query parameter "prefix" \(expected "environment"\)/,
    );
    refused("azure://acct/backups?environment=", AZURE_ENV, /"environment" is empty/);
  });

  it("gs://bucket/prefix, with an emulator's endpoint", () => {
    assert.deepEqual(parseStoreUrl("gs://bucket/consul-snapshot/latest", {}), {
      kind: "gcs",
      config: { bucket: "bucket", prefix: "consul-snapshot" },
      endpoint: "",
      name: LATEST,
    });
    assert.deepEqual(parseStoreUrl(`gs://bucket/consul-${ID}.snap?endpoint=http://127.0.0.1:9199`, {}), {
      kind: "gcs",
      config: { bucket: "bucket", prefix: "" },
      endpoint: "http://127.0.0.1:9199",
      name: `consul-${ID}.snap`,
    });
    refused("gs:///p", {}, /no bucket \(gs:\/\/BUCKET\/prefix\)/);
    refused("gs://bucket?region=x", {}, /unknown query parameter "region" \(expected "endpoint"\)/);
    refused("gs://bucket?endpoint=unix:/x", {}, /must be http:\/\/ or https:\/\//);
  });

  it("refuses other schemes, naming them", () => {
    refused(
      "http://host/backups",
      {},
      /unsupported scheme "http:\/\/" \(expected a directory, file:\/\/, s3:\/\//,
    );
    refused("gcs://bucket", {}, /unsupported scheme "gcs:\/\/"/);
  });
});

describe("storeFromUrl", () => {
  it("makes each store, with its label, and passes on the backup named", async () => {
    const local = await storeFromUrl("/var/backups/latest", {});
    assert.ok(local.store instanceof LocalStore);
    assert.deepEqual([local.store.label, local.name], ["local:/var/backups", LATEST]);
    const azure = await storeFromUrl(`azure://acct/backups/consul-snapshot/consul-${ID}.snap`, AZURE_ENV);
    assert.ok(azure.store instanceof AzureBlobStore);
    assert.equal(azure.store.label, "azure://acct/backups/consul-snapshot");
    assert.equal(azure.store.endpoint, "https://acct.blob.core.windows.net");
    assert.equal(azure.name, `consul-${ID}.snap`);
    const gcs = await storeFromUrl("gs://bucket/p?endpoint=http://127.0.0.1:9199", {});
    assert.ok(gcs.store instanceof GcsStore);
    assert.deepEqual([gcs.store.label, gcs.name], ["gs://bucket/p", null]);
  });

  it("Azure's endpoint comes from AZURE_STORAGE_CONNECTION_STRING, as the agent's store takes it", async () => {
    const env = {
      ...AZURE_ENV,
      AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`,
    };
    const { store } = await storeFromUrl("azure://devstoreaccount1/backups", env);
    assert.ok(store instanceof AzureBlobStore);
    assert.equal(store.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
  });

  it("a store's own refusal says which URL it came from", async () => {
    const url = "azure://Not_An_Account/backups";
    await assert.rejects(storeFromUrl(url, AZURE_ENV), {
      code: "backup_store_config",
      message:
        /^store URL "azure:\/\/Not_An_Account\/backups": azure_blob_storage account_name must be 3 to 24/,
    });
    await assert.rejects(storeFromUrl("azure://acct/backups?environment=MARS", AZURE_ENV), {
      message: /^store URL .*: azure_blob_storage environment: unknown Azure environment "MARS"/,
    });
    await assert.rejects(storeFromUrl("gs://B!/p", {}), { message: /google_storage bucket must be/ });
  });

  it("an S3 store on the bucket and prefix, its endpoint and addressing as the URL says", async () => {
    const { store, name } = await storeFromUrl(
      `s3://bucket/consul-snapshot/latest?region=r&endpoint=http://127.0.0.1:9000&path-style`,
      { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret" },
    );
    assert.ok(store instanceof S3Store);
    assert.deepEqual([store.label, name], ["s3://bucket/consul-snapshot", LATEST]);
    const endpoint = await store.client.config.endpoint?.();
    assert.deepEqual(
      [endpoint?.hostname, endpoint?.port, store.client.config.forcePathStyle],
      ["127.0.0.1", 9000, true],
    );
    assert.equal(await store.client.config.region(), "r");
    const { accessKeyId, secretAccessKey } = await store.client.config.credentials();
    assert.deepEqual([accessKeyId, secretAccessKey], ["AKID", "secret"]);
  });
});

describe("storeForReading", () => {
  it("a local store's directory must exist and is never created", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-store-url-"));
    try {
      const missing = join(dir, "nope");
      await assert.rejects(storeForReading(`${missing}/latest`, {}), {
        code: "backup_store_config",
        message: `backup directory ${missing}: no such directory`,
      });
      await assert.rejects(storeForReading(join(dir, "nope", "deeper"), {}), {
        message: /no such directory/,
      });
      const file = join(dir, "file");
      await writeFile(file, "x");
      await assert.rejects(storeForReading(`file://${file}`, {}), {
        message: `backup directory ${file}: not a directory`,
      });
      const { store, name } = await storeForReading(`file://${dir}/latest`, {});
      assert.deepEqual([store.label, name], [`local:${dir}`, LATEST]);
      assert.deepEqual((await readdir(dir)).sort(), ["file"]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("isStoreUrl", () => {
  it("tells URLs from paths", () => {
    for (const u of ["file:///x", "s3://b", "AZURE://a/c", "gs://b"]) assert.equal(isStoreUrl(u), true, u);
    for (const p of ["/x", "x/latest", "C:\\backups", "s3:bucket", "http://x", ""])
      assert.equal(isStoreUrl(p), false, p);
  });
});
