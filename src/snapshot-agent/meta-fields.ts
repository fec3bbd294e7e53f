/**
 * A backup's metadata (`BackupMeta`) as the string fields object stores keep beside an object: S3 user metadata
 * (`x-amz-meta-cairn-index`…), Azure blob metadata, Google Cloud Storage custom metadata. Written values are
 * checked first (store-checks.ts), so a bad one is refused before any byte is uploaded; read values are parsed
 * strictly, and an object whose fields are missing or malformed (one cairn did not write) simply has no `meta`.
 */
import type { BackupMeta } from "./store.js";
import { checkBackupMeta, parseBackupMeta } from "./store-checks.js";

/** The field name each part of the metadata is stored under, e.g. `cairn-index` (S3, GCS) or `cairnindex` (Azure). */
export interface MetaFieldNames {
  readonly index: string;
  readonly term: string;
  readonly size: string;
  readonly sha256: string;
  readonly version: string;
}

/**
 * The names of S3 user metadata and GCS custom metadata (S3 sends them as `x-amz-meta-<name>` headers, lowercase).
 * Azure's names must be C# identifiers, without dashes: store-azure.ts has its own.
 */
export const CAIRN_META_FIELDS: MetaFieldNames = {
  index: "cairn-index",
  term: "cairn-term",
  size: "cairn-size",
  sha256: "cairn-sha256",
  version: "cairn-version",
};

/** The fields to store; bad metadata is a BackupInputError naming what is wrong. */
export function metaToFields(meta: BackupMeta, names: MetaFieldNames): Record<string, string> {
  checkBackupMeta(meta);
  return {
    [names.index]: String(meta.index),
    [names.term]: String(meta.term),
    [names.size]: String(meta.size),
    [names.sha256]: meta.sha256,
    [names.version]: meta.version,
  };
}

/** The metadata in `fields`, or null unless every field is present as a string and well formed. */
export function metaFromFields(
  fields: Readonly<Record<string, unknown>> | undefined,
  names: MetaFieldNames,
): BackupMeta | null {
  if (fields === undefined) return null;
  const field = (key: string): string | undefined => {
    const value = fields[key];
    return typeof value === "string" ? value : undefined;
  };
  return parseBackupMeta({
    index: field(names.index),
    term: field(names.term),
    size: field(names.size),
    sha256: field(names.sha256),
    version: field(names.version),
  });
}
