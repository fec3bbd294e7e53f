/**
 * The two object stores of the snapshot agent benchmark, each an emulator on loopback (s3rver, Azurite) with what
 * the benchmark does to it: the flags and environment that point `cairn snapshot agent` at it, and a plain SDK
 * upload and read-back of a file, with the same part or block size and parallelism as the agent's store
 * (src/snapshot-agent/store-s3.ts, store-azure.ts), so the baseline differs from the agent only in what the agent
 * adds (verification, read-back, retention), not in how it uploads.
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { AZURE_BLOCK_BYTES_DEFAULT, AZURE_BUFFERS_DEFAULT } from "../src/snapshot-agent/store-azure.js";
import { S3_PART_BYTES_DEFAULT, S3_QUEUE_DEFAULT } from "../src/snapshot-agent/store-s3.js";
import { startAzurite } from "../test/support/azurite.js";
import { S3RVER_CREDENTIALS, startS3rver } from "../test/support/s3rver.js";
import { tracked } from "./children.js";

/** The stores' own defaults, so the baseline uploads as the agent does (S3 raises the part size past 10,000 parts). */
const S3_PART_SIZE = S3_PART_BYTES_DEFAULT;
const S3_MAX_PARTS = 10_000;
const S3_QUEUE_SIZE = S3_QUEUE_DEFAULT;
const AZURE_BLOCK_BYTES = AZURE_BLOCK_BYTES_DEFAULT;
const AZURE_BUFFERS = AZURE_BUFFERS_DEFAULT;
const BUCKET = "cairn-bench";
const REGION = "us-east-1";

export interface BenchStore {
  readonly name: string;
  /** How the baseline uploads: the SDK call and its part size and parallelism. */
  readonly uploadHow: string;
  /** The `cairn snapshot agent` flags that make this its only store. */
  readonly agentArgs: readonly string[];
  /** Environment the agent needs besides its flags. */
  readonly agentEnv: Readonly<Record<string, string>>;
  /** A plain SDK upload of `file` under `key`. */
  upload(file: string, key: string): Promise<void>;
  /** Downloads `key` whole, hashing it, as the agent's read-back does. */
  readBack(key: string): Promise<{ bytes: number; sha256: string }>;
  remove(key: string): Promise<void>;
  /** Stops the emulator and removes its data (cleanup() does it too, on an error or a signal). */
  stop(): Promise<void>;
}

async function hashed(body: AsyncIterable<Uint8Array | string>): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    hash.update(b);
    bytes += b.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** s3rver on loopback with the bucket created; stopped (and its directory removed) by cleanup(). */
export async function s3rverStore(): Promise<BenchStore> {
  const server = await startS3rver({ bucket: BUCKET });
  // Static credentials and no metadata probe: nothing may leave loopback.
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  const client = new S3Client({
    region: REGION,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
  });
  const stop = tracked(async () => {
    client.destroy();
    await server.stop();
  });
  return {
    name: "s3rver",
    uploadHow: `lib-storage Upload, ${S3_PART_SIZE / 1024 / 1024} MiB parts, queue ${S3_QUEUE_SIZE}`,
    agentArgs: [
      `-aws-s3-bucket=${BUCKET}`,
      `-aws-s3-region=${REGION}`,
      `-aws-s3-endpoint=${server.endpoint}`,
      "-aws-s3-force-path-style",
      `-aws-access-key-id=${S3RVER_CREDENTIALS.accessKeyId}`,
      `-aws-secret-access-key=${S3RVER_CREDENTIALS.secretAccessKey}`,
    ],
    agentEnv: { AWS_EC2_METADATA_DISABLED: "true" },
    async upload(file, key) {
      const size = statSync(file).size;
      await new Upload({
        client,
        params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) },
        partSize: Math.max(S3_PART_SIZE, Math.ceil(size / S3_MAX_PARTS)),
        queueSize: S3_QUEUE_SIZE,
        leavePartsOnError: false,
      }).done();
    },
    async readBack(key) {
      const body = (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body;
      // In Node the SDK's body is the response itself, an IncomingMessage.
      if (!(body instanceof Readable)) throw new Error(`s3rver: get of ${key} has no body`);
      return hashed(body);
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    },
    stop,
  };
}

/** Azurite's blob service on loopback with the container created; stopped by cleanup(). */
export async function azuriteStore(): Promise<BenchStore> {
  const azurite = await startAzurite();
  const stop = tracked(azurite.stop);
  const container: ContainerClient = BlobServiceClient.fromConnectionString(
    azurite.connectionString,
  ).getContainerClient(BUCKET);
  await container.createIfNotExists();
  return {
    name: "Azurite",
    uploadHow: `BlockBlobClient.uploadStream, ${AZURE_BLOCK_BYTES / 1024 / 1024} MiB blocks, ${AZURE_BUFFERS} buffers`,
    agentArgs: [
      `-azure-blob-account-name=${azurite.account}`,
      `-azure-blob-account-key=${azurite.key}`,
      `-azure-blob-container-name=${BUCKET}`,
    ],
    agentEnv: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString },
    async upload(file, key) {
      await container
        .getBlockBlobClient(key)
        .uploadStream(createReadStream(file), AZURE_BLOCK_BYTES, AZURE_BUFFERS, {
          blobHTTPHeaders: { blobContentType: "application/octet-stream" },
        });
    },
    async readBack(key) {
      const body = (await container.getBlobClient(key).download(0)).readableStreamBody;
      if (body === undefined) throw new Error(`Azurite: download of ${key} has no body`);
      return hashed(body);
    },
    async remove(key) {
      await container.getBlobClient(key).deleteIfExists();
    },
    stop,
  };
}
