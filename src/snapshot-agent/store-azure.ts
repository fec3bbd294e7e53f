/**
 * Backups in Azure Blob Storage (`azure_blob_storage`): block blobs named `<prefix>/<name>` in one container,
 * with the backup's metadata as blob metadata. An upload stages blocks from a few bounded buffers in parallel and
 * then commits the block list; until that commit there is no blob under the name, so a failed upload leaves
 * nothing a reader could mistake for a backup (its staged blocks are uncommitted, and the service discards them
 * after a week). Names, keys, checks and errors are every store's (store-checks.ts, object-names.ts).
 */
import { Readable } from "node:stream";
import {
  BlobServiceClient,
  type ContainerClient,
  RestError,
  type StorageRetryOptions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { errorText } from "../util/index.js";
import type { AzureStorageConfig } from "./config-types.js";
import { type MetaFieldNames, metaFromFields, metaToFields } from "./meta-fields.js";
import { collectListing, LIST_PAGE_SIZE, listKeyPrefix, normalizePrefix, objectKey } from "./object-names.js";
import type { BackupMeta, BackupStore, StoredObject } from "./store.js";
import {
  BackupNotFoundError,
  BackupStoreConfigError,
  putVerified,
  storedObject,
  storeFailure,
} from "./store-checks.js";

/** The blob endpoint's host suffix of each Azure cloud, by Consul's `environment` names. */
export const AZURE_BLOB_SUFFIXES: Readonly<Record<string, string>> = {
  AZUREPUBLICCLOUD: "blob.core.windows.net",
  AZURECHINACLOUD: "blob.core.chinacloudapi.cn",
  AZUREGERMANCLOUD: "blob.core.cloudapi.de",
  AZUREUSGOVERNMENTCLOUD: "blob.core.usgovcloudapi.net",
};

/** Blob metadata names must be C# identifiers: no dashes. */
export const AZURE_META_FIELDS: MetaFieldNames = {
  index: "cairnindex",
  term: "cairnterm",
  size: "cairnsize",
  sha256: "cairnsha256",
  version: "cairnversion",
};

/** The environment variable that, when set, gives the blob endpoint (Azurite, Azure Stack). */
export const AZURE_CONNECTION_STRING_VAR = "AZURE_STORAGE_CONNECTION_STRING";

/** 4 MiB blocks, 4 buffers: an upload holds at most 16 MiB, and a blob may reach 50,000 blocks (195 GiB). */
export const AZURE_BLOCK_BYTES_DEFAULT = 4 * 1024 * 1024;
export const AZURE_BUFFERS_DEFAULT = 4;

const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:-?[a-z0-9])*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface AzureBlobStoreOptions {
  /** Where AZURE_STORAGE_CONNECTION_STRING is read from [process.env]. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The SDK's retries of each request [its defaults: 4 tries, exponential from 4 s]. */
  readonly retry?: StorageRetryOptions;
  /** Bytes per staged block [4 MiB]. */
  readonly blockBytes?: number;
  /** Block buffers, and so at most that many × blockBytes in memory per upload [4]. */
  readonly buffers?: number;
}

export class AzureBlobStore implements BackupStore {
  readonly label: string;
  /** The blob service endpoint, e.g. `https://account.blob.core.windows.net`. */
  readonly endpoint: string;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly blockBytes: number;
  private readonly buffers: number;

  /** Throws a clear error naming the setting for a bad configuration; nothing is contacted until the first call. */
  constructor(config: AzureStorageConfig, options: AzureBlobStoreOptions = {}) {
    checkConfig(config);
    this.prefix = normalizePrefix(config.prefix, "azure_blob_storage.prefix");
    this.blockBytes = options.blockBytes ?? AZURE_BLOCK_BYTES_DEFAULT;
    this.buffers = options.buffers ?? AZURE_BUFFERS_DEFAULT;
    if (
      !Number.isSafeInteger(this.blockBytes) ||
      this.blockBytes < 1 ||
      this.blockBytes > 100 * 1024 * 1024
    ) {
      throw new BackupStoreConfigError(
        `azure blob store: blockBytes must be 1 byte to 100 MiB, got ${this.blockBytes}`,
      );
    }
    if (!Number.isSafeInteger(this.buffers) || this.buffers < 1 || this.buffers > 64) {
      throw new BackupStoreConfigError(`azure blob store: buffers must be 1 to 64, got ${this.buffers}`);
    }
    const suffix = blobSuffix(config.environment);
    const connectionString = (options.env ?? process.env)[AZURE_CONNECTION_STRING_VAR];
    this.endpoint =
      connectionString === undefined || connectionString === ""
        ? `https://${config.accountName}.${suffix}`
        : endpointOfConnectionString(connectionString, config.accountName);
    const credential = new StorageSharedKeyCredential(config.accountName, config.accountKey);
    const service = new BlobServiceClient(
      this.endpoint,
      credential,
      options.retry === undefined ? {} : { retryOptions: options.retry },
    );
    this.container = service.getContainerClient(config.containerName);
    this.label = `azure://${config.accountName}/${config.containerName}${this.prefix === "" ? "" : `/${this.prefix}`}`;
  }

  put(name: string, body: Readable, meta: BackupMeta): Promise<void> {
    return putVerified(this.label, name, body, meta, async (source) => {
      const blob = this.container.getBlockBlobClient(objectKey(this.prefix, name));
      try {
        await blob.uploadStream(source, this.blockBytes, this.buffers, {
          metadata: metaToFields(meta, AZURE_META_FIELDS),
          blobHTTPHeaders: { blobContentType: "application/octet-stream" },
        });
      } catch (e) {
        throw this.failure("put", name, e);
      }
    });
  }

  async head(name: string): Promise<StoredObject | null> {
    const key = objectKey(this.prefix, name);
    try {
      const p = await this.container.getBlobClient(key).getProperties();
      return storedOf(name, p.contentLength, p.lastModified, p.metadata);
    } catch (e) {
      if (isBlobNotFound(e)) return null;
      throw this.failure("head", name, e);
    }
  }

  async get(name: string): Promise<Readable> {
    const key = objectKey(this.prefix, name);
    let body: NodeJS.ReadableStream | undefined;
    try {
      // The SDK's stream resumes a broken download from where it stopped, pinned to the blob's ETag.
      body = (await this.container.getBlobClient(key).download(0)).readableStreamBody;
    } catch (e) {
      if (isBlobNotFound(e)) throw new BackupNotFoundError(this.label, name);
      throw this.failure("get", name, e);
    }
    if (!(body instanceof Readable)) throw this.failure("get", name, new Error("no body stream"));
    return body;
  }

  async list(startsWith: string): Promise<StoredObject[]> {
    const prefix = listKeyPrefix(this.prefix, startsWith);
    try {
      const pages = this.container
        .listBlobsFlat({ prefix, includeMetadata: true })
        .byPage({ maxPageSize: LIST_PAGE_SIZE });
      return await collectListing(
        { label: this.label, prefix: this.prefix, pageSize: LIST_PAGE_SIZE },
        (async function* () {
          for await (const page of pages) yield page.segment.blobItems;
        })(),
        (item) => item.name,
        (name, item) =>
          storedOf(name, item.properties.contentLength, item.properties.lastModified, item.metadata),
      );
    } catch (e) {
      throw this.failure("list", startsWith, e);
    }
  }

  async delete(name: string): Promise<void> {
    const key = objectKey(this.prefix, name);
    try {
      await this.container.getBlobClient(key).deleteIfExists();
    } catch (e) {
      throw this.failure("delete", name, e);
    }
  }

  private failure(op: string, name: string, e: unknown): Error {
    return storeFailure(this.label, op, name, e, failureText(e));
  }
}

function checkConfig(config: AzureStorageConfig): void {
  if (!ACCOUNT_NAME.test(config.accountName)) {
    throw new BackupStoreConfigError(
      `azure_blob_storage account_name must be 3 to 24 lowercase letters and digits, got ${JSON.stringify(config.accountName)}`,
    );
  }
  if (config.accountKey === "" || !BASE64.test(config.accountKey)) {
    throw new BackupStoreConfigError(
      "azure_blob_storage account_key must be the account's base64 access key",
    );
  }
  if (!CONTAINER_NAME.test(config.containerName)) {
    throw new BackupStoreConfigError(
      `azure_blob_storage container_name must be 3 to 63 lowercase letters, digits and single dashes, got ${JSON.stringify(config.containerName)}`,
    );
  }
}

/** The blob endpoint suffix of an environment name, case-insensitively as Consul (Go's azure SDK) reads it. */
export function blobSuffix(environment: string): string {
  const suffix = AZURE_BLOB_SUFFIXES[environment.toUpperCase()];
  if (suffix === undefined) {
    throw new BackupStoreConfigError(
      `azure_blob_storage environment: unknown Azure environment ${JSON.stringify(environment)} (expected one of ${Object.keys(AZURE_BLOB_SUFFIXES).join(", ")})`,
    );
  }
  return suffix;
}

/**
 * The blob endpoint a connection string names (its BlobEndpoint, or the one its account and suffix make). The
 * endpoint's account must be the configured one, whose key signs the requests.
 */
function endpointOfConnectionString(connectionString: string, accountName: string): string {
  let service: BlobServiceClient;
  try {
    service = BlobServiceClient.fromConnectionString(connectionString);
  } catch (e) {
    throw new BackupStoreConfigError(`${AZURE_CONNECTION_STRING_VAR}: ${errorText(e)}`, { cause: e });
  }
  if (service.accountName !== accountName) {
    throw new BackupStoreConfigError(
      `${AZURE_CONNECTION_STRING_VAR} is for account ${JSON.stringify(service.accountName)} (${service.url}), but azure_blob_storage account_name is ${JSON.stringify(accountName)}`,
    );
  }
  return service.url.replace(/\/+$/, "");
}

function storedOf(
  name: string,
  size: number | undefined,
  modified: Date | undefined,
  metadata: Record<string, string> | undefined,
): StoredObject {
  return storedObject(name, size ?? 0, modified, metaFromFields(metadata, AZURE_META_FIELDS));
}

/**
 * The first line of the service's message (the rest is a request id and a time), with the status and error code;
 * a HEAD answer has no body, and so only those.
 */
function failureText(e: unknown): string {
  if (!(e instanceof RestError)) return errorText(e);
  const line = e.message.split("\n")[0]?.trim() ?? "";
  const code = errorCode(e);
  const status = e.statusCode === undefined ? "" : `HTTP ${e.statusCode}`;
  const detail = [status, code].filter((s) => s !== "").join(" ");
  if (line === "") return detail === "" ? "request failed" : detail;
  return detail === "" ? line : `${line} (${detail})`;
}

function errorCode(e: RestError): string {
  const code = (e.details as { errorCode?: unknown } | undefined)?.errorCode;
  return typeof code === "string" ? code : (e.code ?? "");
}

/** A 404 for the blob itself; a missing container (also a 404) is a configuration error and is reported. */
function isBlobNotFound(e: unknown): boolean {
  return e instanceof RestError && e.statusCode === 404 && errorCode(e) === "BlobNotFound";
}
