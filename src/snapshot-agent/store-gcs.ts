/**
 * Backups in Google Cloud Storage (`google_storage`): objects named `<prefix>/<name>` in one bucket, with the
 * backup's metadata as custom object metadata. An upload is one resumable session streamed in one request (or
 * one multipart request); GCS creates the object only when the upload completes, so a failed upload leaves
 * nothing under the name. Credentials are Application Default Credentials, looked up on the first request. Names,
 * keys, metadata fields, checks and errors are every store's (store-checks.ts, object-names.ts, meta-fields.ts).
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
import type { GoogleStorageConfig } from "./config-types.js";
import { CAIRN_META_FIELDS, metaFromFields, metaToFields } from "./meta-fields.js";
import { collectListing, LIST_PAGE_SIZE, listKeyPrefix, normalizePrefix, objectKey } from "./object-names.js";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import {
  BackupNotFoundError,
  BackupStoreConfigError,
  putVerified,
  storedObject,
  storeFailure,
} from "./store-checks.js";

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
    this.prefix = normalizePrefix(config.prefix, "google_storage.prefix");
    this.resumable = options.resumable ?? true;
    const storage = new Storage({
      ...(options.apiEndpoint === undefined ? {} : { apiEndpoint: checkEndpoint(options.apiEndpoint) }),
      ...(options.maxRetries === undefined ? {} : { retryOptions: { maxRetries: options.maxRetries } }),
    });
    this.bucket = storage.bucket(config.bucket);
    this.label = `gs://${config.bucket}${this.prefix === "" ? "" : `/${this.prefix}`}`;
  }

  put(name: string, body: Readable, meta: BackupMeta): Promise<void> {
    return putVerified(this.label, name, body, meta, (source) => {
      const upload = this.bucket.file(objectKey(this.prefix, name)).createWriteStream({
        resumable: this.resumable,
        contentType: "application/octet-stream",
        metadata: { metadata: metaToFields(meta, CAIRN_META_FIELDS) },
      });
      return pipeline(source, upload);
    });
  }

  async head(name: string): Promise<StoredObject | null> {
    const metadata = await this.metadataOf(name, "head");
    return metadata === null ? null : storedOf(name, metadata);
  }

  async get(name: string): Promise<Readable> {
    const metadata = await this.metadataOf(name, "get");
    if (metadata === null) throw new BackupNotFoundError(this.label, name);
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
        { label: this.label, prefix: this.prefix, pageSize: LIST_PAGE_SIZE },
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
        (name, file) => storedOf(name, file.metadata),
      );
    } catch (e) {
      throw storeFailure(this.label, "list", startsWith, e);
    }
  }

  async delete(name: string): Promise<void> {
    const key = objectKey(this.prefix, name);
    try {
      await this.bucket.file(key).delete({ ignoreNotFound: true });
    } catch (e) {
      throw storeFailure(this.label, "delete", name, e);
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
      throw storeFailure(this.label, op, name, e);
    }
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
    throw new BackupStoreConfigError(
      `google_storage bucket must be 3 to 63 lowercase letters, digits, dashes and underscores (or dotted parts of at most 63), got ${JSON.stringify(bucket)}`,
    );
  }
}

function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new BackupStoreConfigError(`google storage apiEndpoint is not a URL: ${JSON.stringify(endpoint)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BackupStoreConfigError(
      `google storage apiEndpoint must be http or https: ${JSON.stringify(endpoint)}`,
    );
  }
  return endpoint.replace(/\/+$/, "");
}

function storedOf(name: string, metadata: FileMetadata): StoredObject {
  const meta = metaFromFields(metadata.metadata, CAIRN_META_FIELDS);
  return storedObject(name, Number(metadata.size ?? 0), new Date(metadata.updated ?? 0), meta);
}
