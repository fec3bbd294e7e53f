/**
 * Where the snapshot agent keeps backups: one small interface over local disk, S3 (and S3-compatible stores),
 * Azure Blob Storage and Google Cloud Storage, so that saving, verifying, listing, retention and restore are
 * written once. Object names are relative to the store's own prefix (bucket + key prefix, container + prefix,
 * directory); every method streams, so memory stays bounded whatever the archive's size.
 *
 * The rules every store keeps, checked once in store-checks.ts and tested once by the contract suite
 * (store-contract.ts) against each store's real backend: a name is a plain file name without a slash, and a bad
 * one is a BackupInputError from every method; a put verifies its body against `meta` (BackupBodyMismatchError)
 * and owns it (destroyed when the put fails); `get` of a missing name is a BackupNotFoundError; a failing backend
 * is a BackupStoreError that names the store and the object.
 */
import type { Readable } from "node:stream";

/** What the agent records on every backup it writes (S3 metadata, blob metadata, a sidecar on disk). */
export interface BackupMeta {
  /** Raft index of the snapshot (meta.json Index). */
  readonly index: number;
  readonly term: number;
  /** Bytes of the archive as stored. */
  readonly size: number;
  /** SHA-256 of the archive as stored, lowercase hex. */
  readonly sha256: string;
  /** The cairn version that wrote it. */
  readonly version: string;
}

export interface StoredObject {
  /** Name relative to the store's prefix, e.g. `consul-1479360073448728784.snap`. */
  readonly name: string;
  readonly size: number;
  /** When the store says it was last written. */
  readonly modified: Date;
  /** The metadata written with it, when the store kept it (absent for objects not written by cairn). */
  readonly meta?: BackupMeta;
}

export interface BackupStore {
  /** A short description for logs and metrics labels: `local:/backups`, `s3://bucket/prefix`, … */
  readonly label: string;
  /**
   * Writes `name` from `body`, atomically where the store allows it (a temp name then a rename on disk; a single
   * PUT or a committed multipart upload in object stores): a reader never sees a partial object under `name`.
   * Rejects when the upload fails, or when `body` is not `meta.size` bytes with SHA-256 `meta.sha256`; a failed
   * upload leaves no new object under `name` behind, and keeps the one it would have replaced.
   */
  put(name: string, body: Readable, meta: BackupMeta): Promise<void>;
  /** The object's size and metadata, or null when there is none. */
  head(name: string): Promise<StoredObject | null>;
  /** Streams the object's bytes. Rejects when there is none. */
  get(name: string): Promise<Readable>;
  /**
   * Every object directly under the prefix whose name starts with `startsWith` (all when ""), by name, byte for
   * byte. Objects another program wrote are listed when their names are backup names (without `meta`); those in
   * sub-folders, or named as cairn never names a backup, are not.
   */
  list(startsWith: string): Promise<StoredObject[]>;
  /** Deletes the object; no error when it is already gone. */
  delete(name: string): Promise<void>;
  /**
   * Removes what interrupted uploads left (temp files on disk); returns their names. Called only by the agent
   * that holds the lock, so no upload of another agent is running. Stores whose uploads commit atomically
   * leave nothing to sweep and do not implement it.
   */
  sweep?(): Promise<string[]>;
}
