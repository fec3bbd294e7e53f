/**
 * The S3 backup store (`aws_storage`), for AWS and S3-compatible stores (`s3_endpoint`, path-style addressing):
 * objects `<s3_key_prefix>/<name>` (just `<name>` when the prefix is empty; object-names.ts), cairn's metadata as S3
 * user metadata (`x-amz-meta-cairn-index`, `-term`, `-size`, `-sha256`, `-version`; meta-fields.ts). Uploads
 * stream through lib-storage's `Upload`: one PUT when the body fits in a part, else a multipart upload with a
 * bounded number of parts in flight, so memory stays about partSize × (queueSize + 1) whatever the size. Nothing
 * is visible under a name until the PUT or the multipart completion succeeds.
 *
 * Credentials: `access_key_id` and `secret_access_key` (and `session_token`) when given, otherwise the SDK's
 * default chain (AWS_ACCESS_KEY_ID…, the shared files, web identity through AWS_ROLE_ARN and
 * AWS_WEB_IDENTITY_TOKEN_FILE, the ECS and EC2 roles). The configuration keys of role assumption (`role_arn`,
 * `role_session_name`, `web_identity_token_file`, `sts_endpoint`, `iam_endpoint`) are refused for now: wiring
 * them needs `@aws-sdk/credential-providers`, which is not a dependency.
 *
 * A failed multipart upload is aborted (lib-storage does it unless told not to). A bucket should still carry a
 * lifecycle rule AbortIncompleteMultipartUpload, for the uploads of a process that died mid-way.
 */

import { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { AwsStorageConfig } from "./config-types.js";
import { CAIRN_META_FIELDS, metaFromFields, metaToFields } from "./meta-fields.js";
import {
  collectListing,
  LIST_PAGE_SIZE,
  listKeyPrefix,
  normalizePrefix,
  objectKey,
  prefixProblem,
} from "./object-names.js";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import {
  BackupNotFoundError,
  BackupStoreConfigError,
  backupNameProblem,
  putVerified,
  storedObject,
  storeFailure,
} from "./store-checks.js";

/** S3's smallest part (all but the last) and its largest number of parts. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

/**
 * S3's smallest part (5 MiB) and 4 parts in flight: the SDK holds about partSize × (queue + 1) while uploading.
 * With 8 MiB parts a 1 M-key archive's tick grew the agent by +110 MB over idle (target +100 MB); with 5 MiB,
 * +83 MB, the tick at 1.13× save + plain upload (`npm run bench -- agent`, s3rver on loopback).
 */
export const S3_PART_BYTES_DEFAULT = MIN_PART_SIZE;
export const S3_QUEUE_DEFAULT = 4;

export interface S3StoreOptions {
  /** Bytes per part of a multipart upload [5 MiB, the least S3 takes]; raised when a body would need > 10000. */
  readonly partSize?: number;
  /** Parts uploaded at once [4]. */
  readonly queueSize?: number;
  /** Keys per page of ListObjectsV2 [1000, S3's most]. */
  readonly listPageSize?: number;
  /** Attempts per request, retries included (the SDK's standard retry with backoff) [3]. */
  readonly maxAttempts?: number;
  /** How long a connection may take to open [10 s]. */
  readonly connectionTimeoutMs?: number;
  /** How long a socket may sit idle mid-request before the request fails [120 s]: a hung server is an error. */
  readonly socketTimeoutMs?: number;
}

/** The configuration keys this store cannot honour yet, with their names in the `aws_storage` object. */
const ROLE_KEYS: ReadonlyArray<readonly [keyof AwsStorageConfig, string]> = [
  ["roleArn", "role_arn"],
  ["roleSessionName", "role_session_name"],
  ["webIdentityTokenFile", "web_identity_token_file"],
  ["stsEndpoint", "sts_endpoint"],
  ["iamEndpoint", "iam_endpoint"],
];

function positiveInt(value: number | undefined, fallback: number, what: string, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min)
    throw new BackupStoreConfigError(`${what} must be an integer ≥ ${min}`);
  return v;
}

/** Why this configuration cannot make an S3 store, or "" when it can. */
export function awsConfigProblem(c: AwsStorageConfig): string {
  if (c.bucket === "") return "aws_storage: s3_bucket is required";
  if (c.region === "") return "aws_storage: s3_region is required";
  if ((c.accessKeyId === "") !== (c.secretAccessKey === "")) {
    return "aws_storage: access_key_id and secret_access_key go together";
  }
  if (c.sessionToken !== "" && c.accessKeyId === "") {
    return "aws_storage: session_token needs access_key_id and secret_access_key";
  }
  const role = ROLE_KEYS.filter(([k]) => c[k] !== "").map(([, key]) => key);
  if (role.length > 0) {
    return `aws_storage: ${role.join(", ")} not supported yet; assume a role through AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE (the SDK's default credentials) instead`;
  }
  if (c.kmsKey !== "" && !c.enableKms) return "aws_storage: s3_kms_key is set but s3_enable_kms is not";
  const prefix = prefixProblem(c.keyPrefix);
  if (prefix !== "") return `aws_storage: s3_key_prefix: ${prefix}`;
  if (c.staticSnapshotName !== "") {
    const problem = backupNameProblem(c.staticSnapshotName);
    if (problem !== "") return `aws_storage: s3_static_snapshot_name: ${problem}`;
  }
  if (c.endpoint !== "") {
    let url: URL;
    try {
      url = new URL(c.endpoint);
    } catch {
      return `aws_storage: s3_endpoint ${JSON.stringify(c.endpoint)} is not a URL (e.g. https://minio.example:9000)`;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      return `aws_storage: s3_endpoint ${JSON.stringify(c.endpoint)} must be http:// or https://`;
    }
  }
  return "";
}

/** A 404: on a HEAD (which has no body to tell a missing bucket from a missing key), or NoSuchKey. */
function isNotFound(e: unknown): boolean {
  const err = e as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | undefined;
  return err?.name === "NotFound" || err?.name === "NoSuchKey" || err?.$metadata?.httpStatusCode === 404;
}

/** What identifies one write of an object: a replaced or rewritten object differs in one or the other. */
interface Version {
  readonly etag: string;
  readonly modified: number;
}

export class S3Store implements BackupStore {
  readonly label: string;
  /** The SDK client (its middleware stack is where metrics or logging of requests would hook in). */
  readonly client: S3Client;
  private readonly bucket: string;
  /** The key prefix without slashes at either end; "" when objects sit at the top of the bucket. */
  private readonly prefix: string;
  private readonly encryption: Pick<PutObjectCommandInput, "ServerSideEncryption" | "SSEKMSKeyId">;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number;

  constructor(config: AwsStorageConfig, options: S3StoreOptions = {}) {
    const problem = awsConfigProblem(config);
    if (problem !== "") throw new BackupStoreConfigError(problem);
    this.partSize = positiveInt(options.partSize, S3_PART_BYTES_DEFAULT, "S3 part size", MIN_PART_SIZE);
    this.queueSize = positiveInt(options.queueSize, S3_QUEUE_DEFAULT, "S3 upload queue size");
    this.listPageSize = positiveInt(options.listPageSize, LIST_PAGE_SIZE, "S3 list page size");
    this.bucket = config.bucket;
    this.prefix = normalizePrefix(config.keyPrefix, "aws_storage: s3_key_prefix");
    this.label = `s3://${this.bucket}/${this.prefix}`;
    this.encryption = config.enableKms
      ? { ServerSideEncryption: "aws:kms", ...(config.kmsKey !== "" ? { SSEKMSKeyId: config.kmsKey } : {}) }
      : config.serverSideEncryption
        ? { ServerSideEncryption: "AES256" }
        : {};
    const clientConfig: S3ClientConfig = {
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      maxAttempts: positiveInt(options.maxAttempts, 3, "S3 max attempts"),
      requestHandler: {
        connectionTimeout: positiveInt(options.connectionTimeoutMs, 10_000, "S3 connection timeout"),
        socketTimeout: positiveInt(options.socketTimeoutMs, 120_000, "S3 socket timeout"),
      },
      ...(config.endpoint !== "" ? { endpoint: config.endpoint } : {}),
      ...(config.accessKeyId !== ""
        ? {
            credentials: {
              accessKeyId: config.accessKeyId,
              secretAccessKey: config.secretAccessKey,
              ...(config.sessionToken !== "" ? { sessionToken: config.sessionToken } : {}),
            },
          }
        : {}),
    };
    this.client = new S3Client(clientConfig);
  }

  put(name: string, body: Readable, meta: BackupMeta): Promise<void> {
    return putVerified(this.label, name, body, meta, (source) =>
      this.upload(objectKey(this.prefix, name), source, meta),
    );
  }

  private async upload(key: string, source: Readable, meta: BackupMeta): Promise<void> {
    const before = await this.versionOf(key);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: source,
        Metadata: metaToFields(meta, CAIRN_META_FIELDS),
        ...this.encryption,
      },
      partSize: Math.max(this.partSize, Math.ceil(meta.size / MAX_PARTS)),
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (e) {
      await this.removeLeftover(key, before);
      throw e;
    }
  }

  async head(name: string): Promise<StoredObject | null> {
    const key = objectKey(this.prefix, name);
    let out: HeadObjectCommandOutput;
    try {
      out = await this.headRaw(key);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw storeFailure(this.label, "head", name, e);
    }
    const meta = metaFromFields(out.Metadata, CAIRN_META_FIELDS);
    return storedObject(name, out.ContentLength ?? 0, out.LastModified, meta);
  }

  async get(name: string): Promise<Readable> {
    const key = objectKey(this.prefix, name);
    let body: unknown;
    try {
      body = (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))).Body;
    } catch (e) {
      if (isNotFound(e)) throw new BackupNotFoundError(this.label, name);
      throw storeFailure(this.label, "get", name, e);
    }
    // In Node the SDK's body is the response itself (an IncomingMessage).
    if (!(body instanceof Readable)) throw storeFailure(this.label, "get", name, new Error("no body stream"));
    return body;
  }

  /**
   * The backups directly under the prefix (the delimiter keeps "subfolders" out of the pages). Without their
   * metadata: ListObjectsV2 does not return it (`head` does), and a HEAD per object would make a listing of a
   * long retention cost one request per backup.
   */
  async list(startsWith: string): Promise<StoredObject[]> {
    const prefix = listKeyPrefix(this.prefix, startsWith);
    const { client, bucket, listPageSize } = this;
    try {
      return await collectListing(
        { label: this.label, prefix: this.prefix, pageSize: listPageSize },
        (async function* () {
          let token: string | undefined;
          for (;;) {
            const res: ListObjectsV2CommandOutput = await client.send(
              new ListObjectsV2Command({
                Bucket: bucket,
                Prefix: prefix,
                Delimiter: "/",
                MaxKeys: listPageSize,
                ...(token !== undefined ? { ContinuationToken: token } : {}),
              }),
            );
            yield res.Contents ?? [];
            if (res.IsTruncated !== true) return;
            token = res.NextContinuationToken;
            if (token === undefined || token === "") {
              throw new Error("a truncated page without a continuation token");
            }
          }
        })(),
        (o) => o.Key ?? "",
        (name, o) => storedObject(name, o.Size ?? 0, o.LastModified, null),
      );
    } catch (e) {
      throw storeFailure(this.label, "list", startsWith, e);
    }
  }

  async delete(name: string): Promise<void> {
    const key = objectKey(this.prefix, name);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (e) {
      if (!isNotFound(e)) throw storeFailure(this.label, "delete", name, e);
    }
  }

  /** Closes the client's connections. */
  close(): void {
    this.client.destroy();
  }

  private headRaw(key: string): Promise<HeadObjectCommandOutput> {
    return this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  private async versionOf(key: string): Promise<Version | null> {
    try {
      const out = await this.headRaw(key);
      return { etag: out.ETag ?? "", modified: out.LastModified?.getTime() ?? 0 };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  /**
   * After a failed put: removes an object under `key` that this put left, unless it is the very version that was
   * there before. S3 itself never shows a partial object, but a completion whose answer was lost leaves a whole
   * one the caller believes failed, and some S3-compatible servers (s3rver) do show a partial PUT. Best effort:
   * when the store cannot be reached, there is nothing more to do.
   */
  private async removeLeftover(key: string, before: Version | null): Promise<void> {
    try {
      const now = await this.versionOf(key);
      if (now === null) return;
      if (before !== null && now.etag === before.etag && now.modified === before.modified) return;
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch {
      // unreachable store: the put's own error says why
    }
  }
}
