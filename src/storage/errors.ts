/**
 * Operating errors of the data dir. Each stops the agent at start with a message an operator can act on
 * (which file, which byte, what to do), rather than serving from a state that may have lost acknowledged writes.
 */
import { CairnError, errorText } from "../util/errors.js";

/** The WAL holds a bad record or a gap where a crash cannot have put one: refusing to start is the only safe move. */
export class CorruptWalError extends CairnError {
  readonly code = "corrupt_wal";
  override name = "CorruptWalError";
  /** The file at fault. */
  readonly path: string;
  /** Byte offset of the bad record in `path`, or -1 when the fault is not at one record (a missing segment). */
  readonly offset: number;
  constructor(problem: string, path: string, offset: number) {
    const where = offset >= 0 ? `in "${path}" at offset ${offset}` : `in "${path}"`;
    super(`refusing to start: ${problem} ${where}`);
    this.path = path;
    this.offset = offset;
  }
}

/** A small checksummed state file (hard state, snapshot boundary) does not verify. */
export class CorruptStateError extends CairnError {
  readonly code = "corrupt_state";
  override name = "CorruptStateError";
  readonly path: string;
  constructor(problem: string, path: string) {
    super(`refusing to start: ${problem} in "${path}"`);
    this.path = path;
  }
}

/** The data dir cannot be used: missing parent, permissions, held by another agent, newer format. */
export class DataDirError extends CairnError {
  readonly code = "data_dir";
  override name = "DataDirError";
  readonly path: string;
  constructor(message: string, path: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
  }
}

/** An entry larger than `entryBytesMax`: refused before anything is written. */
export class EntryTooLargeError extends CairnError {
  readonly code = "entry_too_large";
  override name = "EntryTooLargeError";
  constructor(index: number, bytes: number, entryBytesMax: number) {
    super(`cannot append entry ${index}: ${bytes} bytes exceeds entryBytesMax ${entryBytesMax}`);
  }
}

/**
 * A write or fsync failed earlier, so what is on disk is unknown. After a failed fsync the kernel may have dropped
 * the dirty pages and a retry could "succeed" without the data (PostgreSQL's fsyncgate), so the WAL fails stop:
 * every later call throws this, and the agent must restart and recover from what is really on disk.
 */
export class WalFailedError extends CairnError {
  readonly code = "wal_failed";
  override name = "WalFailedError";
  constructor(cause: unknown) {
    super(`WAL is unusable after a failed write: ${errorText(cause)}`, {
      cause,
    });
  }
}
