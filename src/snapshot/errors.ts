/**
 * Operating errors of the snapshot codec. Messages keep Consul's wording where Consul has one (users search
 * for those strings; docs/snapshot-format.md §1), with the value that failed quoted.
 */
import { CairnError } from "../util/errors.js";

export type SnapshotErrorCode =
  | "snapshot_decompress" // not gzip, truncated or corrupt gzip stream
  | "snapshot_trailing_data" // bytes after the tar end marker or after the gzip stream
  | "snapshot_tar" // malformed tar structure
  | "snapshot_unexpected_file" // a tar entry other than meta.json, state.bin, SHA256SUMS
  | "snapshot_duplicate_file" // the same entry twice
  | "snapshot_entry_order" // entries out of Consul's writer order (strict mode only)
  | "snapshot_integrity" // SHA256SUMS missing, malformed or not matching
  | "snapshot_size_mismatch" // meta.json Size differs from state.bin's length
  | "snapshot_meta" // meta.json unreadable
  | "snapshot_version" // meta.json Version other than 1
  | "snapshot_state_bin" // state.bin framing: header, truncated record
  | "snapshot_record" // a record whose value does not decode as its type requires
  | "snapshot_limit" // an entry or record beyond a configured bound
  | "snapshot_usage" // bad options to inspect (unknown format, negative kvdepth)
  | "snapshot_msgpack"; // msgpack bytes that do not decode

/** An operating error whose code is one of a closed set: the archive's codes, the envelope's. */
abstract class CodedError<Code extends string> extends CairnError {
  readonly code: Code;
  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export class SnapshotError extends CodedError<SnapshotErrorCode> {
  override name = "SnapshotError";
}

/** The gzip or tar container is broken, or holds entries Consul would refuse. */
export class ArchiveFormatError extends SnapshotError {
  override name = "ArchiveFormatError";
}

/** SHA256SUMS does not vouch for the content, or meta.json's Size disagrees with state.bin. */
export class ArchiveIntegrityError extends SnapshotError {
  override name = "ArchiveIntegrityError";
  /** The entry that failed, when one did. */
  readonly file: string | undefined;
  constructor(code: SnapshotErrorCode, message: string, file?: string) {
    super(code, message);
    this.file = file;
  }
}

/** meta.json cannot be used: bad JSON, wrong field types, or an unsupported Version. */
export class SnapshotMetaError extends SnapshotError {
  override name = "SnapshotMetaError";
}

/** state.bin does not parse: bad header, truncated or undecodable record. */
export class StateBinError extends SnapshotError {
  override name = "StateBinError";
}

/** A record's msgpack value lacks a field its type needs, or has one of the wrong type. */
export class RecordDecodeError extends SnapshotError {
  override name = "RecordDecodeError";
  constructor(message: string, options?: ErrorOptions) {
    super("snapshot_record", message, options);
  }
}

export class MsgpackDecodeError extends SnapshotError {
  override name = "MsgpackDecodeError";
  constructor(message: string, options?: ErrorOptions) {
    super("snapshot_msgpack", message, options);
  }
}

/** An entry or record larger than the bound the caller allows (each bound is an option with a default). */
export class SnapshotLimitError extends SnapshotError {
  override name = "SnapshotLimitError";
  constructor(message: string) {
    super("snapshot_limit", message);
  }
}

export type EnvelopeErrorCode =
  | "wrong_key" // the backup was encrypted with another key (the header's key id says so)
  | "truncated" // the input ends before the final chunk: a cut download or a partial copy
  | "corrupt" // a damaged header or chunk, chunks out of order or duplicated, data after the final chunk
  | "not_encrypted" // the input does not begin with the envelope's magic
  | "unsupported_version" // an envelope version this cairn does not read
  | "key_file"; // the key file is missing, unreadable, not base64 or not 32 bytes

/**
 * An encrypted backup (snapshot-format.md §9) that cannot be decrypted, or a key file that cannot be used.
 */
export class EnvelopeError extends CodedError<EnvelopeErrorCode> {
  override name = "EnvelopeError";
}
