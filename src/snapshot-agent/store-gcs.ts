/**
 * Backups in Google Cloud Storage (`google_storage`): objects named `<prefix>/<name>` in one bucket, with the
 * backup's metadata as custom object metadata. An upload is one resumable session streamed in one request (or
 * one multipart request); GCS creates the object only when the upload completes, so a failed upload leaves
 * nothing under the name. Credentials are Application Default Credentials, looked up on the first request.
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  ApiError,
  type Bucket,
  type FileMetadata,
  type GetFilesOptions,
  Storage,
} from "@google-cloud/storage";
import { errorText } from "../util/index.js";
import type { GoogleStorageConfig } from "./config-types.js";
import { type MetaFieldNames, metaFromFields, metaToFields } from "./meta-fields.js";
import { collectListing, LIST_PAGE_SIZE, listKeyPrefix, normalizePrefix, objectKey } from "./object-names.js";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";

/** Custom metadata keys (GCS allows dashes; they read as the names in the Azure store). */
export const GCS_META_FIELDS: MetaFieldNames = {
  index: "cairn-index",
  term: "cairn-term",
  size: "cairn-size",
  sha256: "cairn-sha256",
  version: "cairn-version",
};

const BUCKET_NAME = /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/;

export interface GcsStoreOptions {
  /**
   * An emulator's URL, e.g. `http://127.0.0.1:9199`: requests go there without credentials, and none are looked
   * up (the client's emulator mode; `STORAGE_EMULATOR_HOST` does the same). Unset: Google's endpoint with ADC.
   */
  readonly apiEndpoint?: string;
  /** One resumable session [true], or one multipart request (`false`); both stream, neither holds the body. */
  readonly resumable?: boolean;
  /** Retries of a failed request [the client's: 3]. */
  readonly maxRetries?: number;
}

export class GcsStore implements BackupStore {
  readonly label: string;
  private readonly bucket: Bucket;
  private readonly prefix: string;
  private readonly resumable: boolean;

  /** Throws a clear error naming the setting for a bad configuration; nothing is contacted until the first call. */
  constructor(config: GoogleStorageConfig, options: GcsStoreOptions = {}) {
    checkBucketName(config.bucket);
    this.prefix = normalizePrefix(config.prefix, "google_storage prefix");
    this.resumable = options.resumable ?? true;
    const storage = new Storage({
      ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: checkEndpoint(options.apiEndpoint) }),
      ...(options.maxRetries === undefined ? {} : { retryOptions: { maxRetries: options.maxRetries } }),
    });
    this.bucket = storage.bucket(config.bucket);
    this.label = `gs://${config.bucket}${this.prefix === "" ? "" : `/${this.prefix}`}`;
  }

  /** Consumes `body`; on a rejection `body` is destroyed, and no object was created under `name`. */
  async put(name: string, body: Readable, meta: BackupMeta): Promise<void> {
    try {
      const key = objectKey(this.prefix, name);
      const metadata = metaToFields(meta, GCS_META_FIELDS);
      const upload = this.bucket.file(key).createWriteStream({
        resumable: this.resumable,
        contentType: "application/octet-stream",
        metadata: { metadata },
      });
      await pipeline(body, upload);
    } catch (e) {
      body.destroy();
      throw this.failure("put", name, e);
    }
  }

  async head(name: string): Promise<StoredObject | null> {
    const metadata = await this.metadataOf(name, "head");
    return metadata === null ? null : stored(name, metadata);
  }

  async get(name: string): Promise<Readable> {
    const metadata = await this.metadataOf(name, "get");
    if (metadata === null) throw new Error(`${this.label}: get ${JSON.stringify(name)}: no such object`);
    // Pinned to the generation just seen: a replacement written meanwhile cannot mix into this read.
    const generation = metadata.generation;
    const file = this.bucket.file(
      objectKey(this.prefix, name),
      generation === undefined ? {} : { generation },
    );
    return file.createReadStream();
  }

  async list(startsWith: string): Promise<StoredObject[]> {
    const prefix = listKeyPrefix(this.prefix, startsWith);
    const bucket = this.bucket;
    try {
      return await collectListing(
        this.prefix,
        (async function* () {
          let query: GetFilesOptions = { prefix, autoPaginate: false, maxResults: LIST_PAGE_SIZE };
          for (;;) {
            const [files, next] = await bucket.getFiles(query);
            yield files;
            const pageToken = next?.pageToken;
            if (typeof pageToken !== "string" || pageToken === "") return;
            query = { ...query, pageToken };
          }
        })(),
        (file) => file.name,
        (name, file) => stored(name, file.metadata),
      );
    } catch (e) {
      throw this.failure("list", startsWith, e);
    }
  }

  async delete(name: string): Promise<void> {
    const key = objectKey(this.prefix, name);
    try {
      await this.bucket.file(key).delete({ ignoreNotFound: true });
    } catch (e) {
      throw this.failure("delete", name, e);
    }
  }

  /** The object's metadata, or null on a 404. */
  private async metadataOf(name: string, op: string): Promise<FileMetadata | null> {
    const key = objectKey(this.prefix, name);
    try {
      const [metadata] = await this.bucket.file(key).getMetadata();
      return metadata;
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return null;
      throw this.failure(op, name, e);
    }
  }

  private failure(op: string, name: string, e: unknown): Error {
    return new Error(`${this.label}: ${op} ${JSON.stringify(name)}: ${errorText(e)}`, { cause: e });
  }
}

/** Google's bucket naming rules: 3 to 63 characters, or up to 222 in dot-separated parts of at most 63. */
function checkBucketName(bucket: string): void {
  const parts = bucket.split(".");
  const ok =
    BUCKET_NAME.test(bucket) &&
    bucket.length >= 3 &&
    bucket.length <= (parts.length > 1 ? 222 : 63) &&
    parts.every((p) => p.length >= 1 && p.length <= 63);
  if (!ok) {
    throw new Error(
      `google_storage bucket must be 3 to 63 lowercase letters, digits, dashes and underscores (or dotted parts of at most 63), got ${JSON.stringify(bucket)}`,
    );
  }
}

function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`google storage apiEndpoint is not a URL: ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`google storage apiEndpoint must be http or https: ${JSON.stringify(endpoint)}`);
  }
  return endpoint.replace(/\/+$/, "");
}

function stored(name: string, metadata: FileMetadata): StoredObject {
  const meta = metaFromFields(customFields(metadata.metadata), GCS_META_FIELDS);
  const modified = new Date(metadata.updated ?? 0);
  const base = {
    name,
    size: Number(metadata.size ?? 0),
    modified: Number.isNaN(modified.getTime()) ? new Date(0) : modified,
  };
  return meta === undefined ? base : { ...base, meta };
}

/** Custom metadata values may come back as numbers or booleans; cairn's are all strings. */
function customFields(
  fields: Readonly<Record<string, string | number | boolean | null>> | undefined,
): Record<string, string> | undefined {
  if (fields === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (typeof v === "string") out[k] = v;
  return out;
}
