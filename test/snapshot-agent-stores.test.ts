/**
 * The snapshot agent writing to several real stores at once: local disk, S3 (s3rver) and Azure Blob (Azurite),
 * all on loopback, through the real SDKs. Every tick lands in every store and each copy is a verified archive; a
 * store killed mid-run makes the backups fail (counted, logged) instead of being skipped silently.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { BlobServiceClient } from "@azure/storage-blob";
import { verifyArchive } from "../src/snapshot/index.js";
import { parseObjectName } from "../src/snapshot-agent/naming.js";
import type { BackupStore } from "../src/snapshot-agent/store.js";
import { AzureBlobStore } from "../src/snapshot-agent/store-azure.js";
import { LocalStore } from "../src/snapshot-agent/store-local.js";
import { S3Store } from "../src/snapshot-agent/store-s3.js";
import { Cluster, freePort, waitFor } from "./cluster.js";
import { type Azurite, startAzurite } from "./support/azurite.js";
import { type S3rverServer, s3rverStorageConfig, startS3rver } from "./support/s3rver.js";

const MAIN = resolve(fileURLToPath(import.meta.url), "..", "..", "src", "main.js");
const CONTAINER = "backups";
const PREFIX = "dc1";

async function ours(store: BackupStore): Promise<string[]> {
  return (await store.list("consul-")).map((o) => o.name).filter((n) => parseObjectName(n) !== null);
}

async function metricsOf(listen: string): Promise<string> {
  try {
    return await (await fetch(`http://${listen}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  } catch {
    return "";
  }
}

function counter(metrics: string, result: "success" | "failure"): number {
  const m = new RegExp(`^cairn_snapshot_agent_snapshots_total\\{result="${result}"\\} (\\d+)`, "m").exec(
    metrics,
  );
  return Number(m?.[1] ?? 0);
}

describe("snapshot agent with local, S3 and Azure stores at once", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let s3: S3rverServer;
  let azurite: Azurite;
  const dir = mkdtempSync(join(tmpdir(), "cairn-agent-stores-"));
  let agent: ChildProcess | null = null;
  let output = "";

  before(async () => {
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    [cluster, s3, azurite] = await Promise.all([Cluster.start(1), startS3rver(), startAzurite()]);
    await cluster.leader(30_000);
    await BlobServiceClient.fromConnectionString(azurite.connectionString)
      .getContainerClient(CONTAINER)
      .create();
  });
  after(async () => {
    if (agent !== null && agent.exitCode === null) agent.kill("SIGKILL");
    await Promise.all([cluster.stop(), s3.stop(), azurite.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("every tick lands verified in every store; a store killed mid-run fails the backups, counted and logged", async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const aws = s3rverStorageConfig(s3, { keyPrefix: PREFIX });
    const args = [MAIN, "snapshot", "agent", "-interval", "1s", "-retain", "0", "-listen", listen];
    args.push("-http-addr", cluster.agents[0]!.http.replace("http://", ""));
    args.push("-aws-s3-bucket", s3.bucket, "-aws-s3-region", "us-east-1", "-aws-s3-endpoint", s3.endpoint);
    args.push("-aws-s3-force-path-style", "-aws-s3-key-prefix", PREFIX);
    args.push("-aws-access-key-id", aws.accessKeyId, "-aws-secret-access-key", aws.secretAccessKey);
    args.push("-azure-blob-account-name", azurite.account, "-azure-blob-account-key", azurite.key);
    args.push("-azure-blob-container-name", CONTAINER, "-azure-blob-prefix", PREFIX);
    const env = { ...process.env, AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
    agent = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    agent.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    agent.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });

    const stores: BackupStore[] = [
      new S3Store(aws),
      new AzureBlobStore(
        {
          accountName: azurite.account,
          accountKey: azurite.key,
          containerName: CONTAINER,
          environment: "AZUREPUBLICCLOUD",
          prefix: PREFIX,
        },
        { env },
      ),
    ];
    await waitFor("three successful backups", 90_000, async () =>
      counter(await metricsOf(listen), "success") >= 3 ? true : undefined,
    );
    const [inS3, inAzure] = await Promise.all(stores.map(ours));
    assert.ok(inS3!.length >= 3, `s3: ${inS3}`);
    // Every backup counted a success is in both stores (one more may be under way in either).
    for (const name of inS3!.slice(0, -1)) assert.ok(inAzure!.includes(name), `${name} in Azure too`);
    for (const store of stores) {
      const name = (await ours(store))[0]!;
      const head = await store.head(name);
      assert.ok(
        head?.meta !== undefined && head.meta.size === head.size,
        `${store.label}: metadata of ${name}`,
      );
      await verifyArchive(await store.get(name));
    }
    assert.deepEqual(await ours(new LocalStore(dir)), [], "no local backups: a remote store turns local off");

    await s3.kill();
    const failuresBefore = counter(await metricsOf(listen), "failure");
    await waitFor("a failed backup while S3 is down", 60_000, async () =>
      counter(await metricsOf(listen), "failure") > failuresBefore ? true : undefined,
    );
    assert.match(output, /Snapshot failed \(will retry at next interval\): upload failed: .*s3:\/\//);
    await s3.restart();
    const successes = counter(await metricsOf(listen), "success");
    await waitFor("backups succeeding again", 60_000, async () =>
      counter(await metricsOf(listen), "success") > successes ? true : undefined,
    );
  });
});
