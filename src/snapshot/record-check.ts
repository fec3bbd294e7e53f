/**
 * The record half of archive verification: every state.bin record must decode (typed records into their
 * structs, every other type as one well-formed msgpack value). It runs on the bytes as they stream out of the
 * tar, beside the hash, so a verification reads state.bin once and never from a spooled copy.
 *
 * Consul checks the hashes before anything else, so a record failure is held back (`error`) and reported only
 * when the archive's hashes and sizes are right: a corrupted archive names its hash, as in Consul.
 */
import { checkDirEntryFast } from "./dir-entry-fast.js";
import { SnapshotError, StateBinError } from "./errors.js";
import { decodeGo } from "./gomsgpack.js";
import { MessageType, messageTypeName } from "./message-types.js";
import { decodeRecord, type RawRecord } from "./records.js";
import { type StateBinReadOptions, StateBinSplitter } from "./state-bin.js";

/**
 * Decodes one record; throws StateBinError naming its type, ordinal and offset. Typed records decode once
 * (their decoder reads the whole value); opaque ones are decoded as msgpack so a malformed body is caught.
 */
export function checkRecord(raw: RawRecord, ordinal: number, offset: number): void {
  // KV and tombstone records (nearly all of a big state): decodeRecord takes decodeDirEntryFast's entry for
  // every body checkDirEntryFast accepts, so such a body decodes; the check just builds no entry.
  const dirEntry = raw.type === MessageType.KVS || raw.type === MessageType.Tombstone;
  if (dirEntry && checkDirEntryFast(raw.body)) return;
  try {
    if (decodeRecord(raw).kind === "Opaque") decodeGo(raw.body);
  } catch (err) {
    if (!(err instanceof SnapshotError)) throw err;
    throw new StateBinError(
      err.code,
      `failed to decode msg type ${messageTypeName(raw.type)}, error ${err.message} (record ${ordinal} at offset ${offset})`,
      { cause: err },
    );
  }
}

/** Checks state.bin pushed in chunk by chunk; counts records per type. */
export class RecordChecker {
  readonly counts = new Map<number, number>();
  /** The first failure (codec errors only); once set, later chunks are not looked at. */
  error: SnapshotError | null = null;
  private readonly splitter: StateBinSplitter;
  private ordinal = 0;

  constructor(options: StateBinReadOptions = {}) {
    // Views, not copies: each record is decoded and dropped before the next chunk comes.
    this.splitter = new StateBinSplitter(options, false);
  }

  push(chunk: Uint8Array): void {
    if (this.error !== null) return;
    this.guard(() => {
      for (const item of this.splitter.push(chunk)) {
        if (item.kind === "header") continue;
        checkRecord(item.record, this.ordinal, item.offset);
        this.counts.set(item.record.type, (this.counts.get(item.record.type) ?? 0) + 1);
        this.ordinal++;
      }
    });
  }

  /** The stream is complete: a state.bin that stops inside an item is an error too. */
  finish(): void {
    if (this.error !== null) return;
    this.guard(() => this.splitter.end());
  }

  private guard(f: () => void): void {
    try {
      f();
    } catch (err) {
      if (!(err instanceof SnapshotError)) throw err;
      this.error = err;
    }
  }
}
