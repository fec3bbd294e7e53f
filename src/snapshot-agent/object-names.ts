/**
 * Object keys in the object stores (S3, Azure Blob, Google Cloud Storage): a backup `name` is stored under the key
 * `<prefix>/<name>` (just `<name>` when the prefix is empty), and a listing by key prefix maps keys back to names.
 * All three cap a key at 1024 bytes of UTF-8 and treat `/` as an ordinary character. Backup names have no slash
 * (store-checks.ts), so a store's objects are exactly the keys one level below its prefix: a key deeper down, or
 * one whose name cairn would refuse, is another program's and is never listed.
 */
import type { StoredObject } from "./store.js";
import {
  BackupStoreConfigError,
  BackupStoreError,
  backupNameProblem,
  byName,
  checkBackupName,
  checkListPrefix,
  NAME_BYTES_MAX,
} from "./store-checks.js";

/** The longest key S3, Azure Blob Storage and Google Cloud Storage all accept, in bytes of UTF-8. */
const MAX_KEY_BYTES = 1024;
/** The longest prefix: any backup name still fits after it and its slash, so a key is never too long. */
const MAX_PREFIX_BYTES = MAX_KEY_BYTES - 1 - NAME_BYTES_MAX;

/** Objects asked for per listing page: the most all three services return in one page. */
export const LIST_PAGE_SIZE = 1000;

/**
 * The most keys a listing reads before it gives up: a prefix holding more is not a backup location cairn wrote
 * (retention keeps far fewer), and a bound keeps memory and time finite.
 */
const MAX_LISTED_KEYS = 100_000;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `prefix` cannot be a key prefix, or "" when it can; slashes at either end do not count (they are dropped). */
export function prefixProblem(prefix: string): string {
  const trimmed = trimSlashes(prefix);
  if (CONTROL.test(trimmed)) return `${JSON.stringify(prefix)} has a control character`;
  if (trimmed.includes("//")) return `${JSON.stringify(prefix)} has an empty path segment`;
  if (Buffer.byteLength(trimmed) > MAX_PREFIX_BYTES) {
    return `${JSON.stringify(prefix)} is longer than ${MAX_PREFIX_BYTES} bytes`;
  }
  return "";
}

/** The prefix without slashes at either end ("" for none); a bad one is a BackupStoreConfigError naming `setting`. */
export function normalizePrefix(prefix: string, setting: string): string {
  const problem = prefixProblem(prefix);
  if (problem !== "") throw new BackupStoreConfigError(`${setting}: ${problem}`);
  return trimSlashes(prefix);
}

/** The key of backup `name` under a normalized `prefix`; a bad name is a BackupInputError. */
export function objectKey(prefix: string, name: string): string {
  checkBackupName(name);
  return prefix === "" ? name : `${prefix}/${name}`;
}

/** The key prefix that lists the names starting with `startsWith` ("" lists everything under the prefix). */
export function listKeyPrefix(prefix: string, startsWith: string): string {
  checkListPrefix(startsWith);
  return prefix === "" ? startsWith : `${prefix}/${startsWith}`;
}

/** Where a listing reads, for its bounds and its errors. */
export interface Listing {
  /** The store's label, for errors. */
  readonly label: string;
  /** The store's normalized prefix. */
  readonly prefix: string;
  /** Keys asked for per page. */
  readonly pageSize: number;
}

/**
 * The backups of a listing by key prefix, page by page, in name order whatever order the service used: keys
 * outside `prefix`, below it in sub-folders, or whose names cairn refuses are passed over. A BackupStoreError past
 * MAX_LISTED_KEYS keys, or past the pages they would take (with room for a service's short pages).
 */
export async function collectListing<T>(
  listing: Listing,
  pages: AsyncIterable<readonly T[]>,
  keyOf: (item: T) => string,
  storedOf: (name: string, item: T) => StoredObject,
): Promise<StoredObject[]> {
  const maxPages = Math.ceil((2 * MAX_LISTED_KEYS) / listing.pageSize);
  const found: StoredObject[] = [];
  let pageCount = 0;
  let keyCount = 0;
  for await (const page of pages) {
    if (++pageCount > maxPages) {
      throw new BackupStoreError(`list of ${listing.label}: more than ${maxPages} pages of objects`);
    }
    keyCount += page.length;
    if (keyCount > MAX_LISTED_KEYS) {
      throw new BackupStoreError(`list of ${listing.label}: more than ${MAX_LISTED_KEYS} objects`);
    }
    for (const item of page) {
      const name = nameOfKey(listing.prefix, keyOf(item));
      if (name !== null) found.push(storedOf(name, item));
    }
  }
  return found.sort((a, b) => byName(a.name, b.name));
}

/** The backup name of a listed key, or null for a key that holds none (see collectListing). */
function nameOfKey(prefix: string, key: string): string | null {
  const head = prefix === "" ? "" : `${prefix}/`;
  if (!key.startsWith(head)) return null;
  const name = key.slice(head.length);
  return backupNameProblem(name) === "" ? name : null;
}

function trimSlashes(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}
