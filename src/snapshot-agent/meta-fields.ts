/**
 * A backup's metadata (`BackupMeta`) as the string fields object stores keep beside an object: Azure blob
 * metadata, Google Cloud Storage custom metadata. Written values are checked first, so a bad one is refused
 * before any byte is uploaded; read values are parsed strictly, and an object whose fields are missing or
 * malformed (one cairn did not write) simply has no `meta`.
 */
import type { BackupMeta } from "./store.js";

/** The field name each part of the metadata is stored under, e.g. `cairnindex` (Azure) or `cairn-index` (GCS). */
export interface MetaFieldNames {
  readonly index: string;
  readonly term: string;
  readonly size: string;
  readonly sha256: string;
  readonly version: string;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
/** Printable ASCII: what every store carries unchanged in a header-borne value. */
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The fields to store; throws a clear error (naming the field) for a value no reader would accept back. */
export function metaToFields(meta: BackupMeta, names: MetaFieldNames): Record<string, string> {
  checkCount(meta.index, "index");
  checkCount(meta.term, "term");
  checkCount(meta.size, "size");
  if (!SHA256_HEX.test(meta.sha256)) {
    throw new Error(
      `backup metadata: sha256 must be 64 lowercase hex digits, got ${JSON.stringify(meta.sha256)}`,
    );
  }
  if (!PRINTABLE_ASCII.test(meta.version) || meta.version.length > 256) {
    throw new Error(
      `backup metadata: version must be 1 to 256 printable ASCII characters, got ${JSON.stringify(meta.version)}`,
    );
  }
  return {
    [names.index]: String(meta.index),
    [names.term]: String(meta.term),
    [names.size]: String(meta.size),
    [names.sha256]: meta.sha256,
    [names.version]: meta.version,
  };
}

/** The metadata in `fields`, or undefined unless every field is present and well formed. */
export function metaFromFields(
  fields: Readonly<Record<string, string | undefined>> | undefined,
  names: MetaFieldNames,
): BackupMeta | undefined {
  if (fields === undefined) return undefined;
  const index = parseCount(fields[names.index]);
  const term = parseCount(fields[names.term]);
  const size = parseCount(fields[names.size]);
  const sha256 = fields[names.sha256];
  const version = fields[names.version];
  if (index === undefined || term === undefined || size === undefined) return undefined;
  if (sha256 === undefined || !SHA256_HEX.test(sha256)) return undefined;
  if (version === undefined || !PRINTABLE_ASCII.test(version)) return undefined;
  return { index, term, size, sha256, version };
}

function checkCount(n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`backup metadata: ${field} must be a non-negative integer, got ${n}`);
  }
}

function parseCount(s: string | undefined): number | undefined {
  if (s === undefined || !DECIMAL.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}
