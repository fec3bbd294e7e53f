/**
 * state.bin: a msgpack header {LastIndex}, then records, each one raw type byte followed by one msgpack value.
 * There is no length prefix, count or trailer, so a record ends where its msgpack value ends (§2.1); the reader
 * finds that point with scanValue and holds at most one record (plus one chunk) in memory.
 */
import { assert } from "../util/assert.js";
import { dirEntryBytes, dirEntryBytesMax, encodeDirEntryFast, Out, writeDirEntry } from "./dir-entry-fast.js";
import { SnapshotError, SnapshotLimitError, StateBinError } from "./errors.js";
import { scanValue } from "./gomsgpack.js";
import { messageTypeName } from "./message-types.js";
import {
  type DirEntry,
  decodeHeader,
  encodeHeader,
  encodeRecord,
  type RawRecord,
  type SnapshotHeader,
  type SnapshotRecord,
} from "./records.js";

/** Default bound on one record: far above Consul's 512 KiB KV value limit, far below memory trouble. */
export const RECORD_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

export interface StateBinReadOptions {
  /** Refuse a header or record larger than this many bytes. */
  readonly recordBytesMax?: number;
  /**
   * Records as views into the read buffer instead of copies of their own: for a reader that copies what it
   * keeps before it asks for the next batch (a restore: Restorer.addBatch), which saves an allocation per record.
   */
  readonly views?: boolean;
}

export type StateBinItem =
  | {
      readonly kind: "header";
      readonly header: SnapshotHeader;
      /** The header's msgpack bytes. */
      readonly raw: Uint8Array;
      /** Bytes this item occupies in state.bin. */
      readonly size: number;
    }
  | {
      readonly kind: "record";
      readonly record: RawRecord;
      /** Offset of the type byte within state.bin. */
      readonly offset: number;
      /** Bytes this item occupies in state.bin (type byte included). */
      readonly size: number;
    };

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Tries to cut the next item from `buf`; returns its end offset, or the negated buffer length it needs. */
function cut(buf: Uint8Array, headerDone: boolean, offset: number): number {
  try {
    if (!headerDone) return scanValue(buf, 0);
    if (buf.length < 1) return -1;
    return scanValue(buf, 1);
  } catch (err) {
    const what = headerDone ? `record at offset ${offset}` : "snapshot header";
    throw new StateBinError("snapshot_state_bin", `decode ${what}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Cuts state.bin into its header and records as chunks are pushed in, for callers that receive the bytes
 * (a tar entry being hashed and spooled) rather than pull them. Holds at most one item plus one chunk.
 */
export class StateBinSplitter {
  private parts: Uint8Array[] = [];
  private total = 0;
  private need = 1;
  private headerDone = false;
  private offset = 0;
  private readonly max: number;

  /**
   * `copy: false` hands out records as views into the read buffer: for a caller that is done with each
   * record before the next push (a verifier), which saves a copy per record. Kept records need the default.
   */
  constructor(
    options: StateBinReadOptions = {},
    private readonly copy = true,
  ) {
    this.max = options.recordBytesMax ?? RECORD_BYTES_MAX_DEFAULT;
  }

  /**
   * Feeds the next chunk; returns the items it completes, in order. Errors: StateBinError for a malformed
   * stream, SnapshotLimitError for an item above the limit (before it is buffered whole).
   */
  push(chunk: Uint8Array): StateBinItem[] {
    this.parts.push(chunk);
    this.total += chunk.length;
    if (this.total < this.need) return [];
    const items: StateBinItem[] = [];
    let buf = concat(this.parts, this.total);
    for (;;) {
      const end = cut(buf, this.headerDone, this.offset);
      if (end < 0) {
        this.need = -end;
        if (this.need > this.max + 1) throw oversized(this.headerDone, this.offset, this.need, this.max);
        break;
      }
      items.push(itemAt(buf, end, this.headerDone, this.offset, this.copy));
      this.headerDone = true;
      this.offset += end;
      buf = buf.subarray(end);
      this.need = 1;
    }
    this.parts = buf.length > 0 ? [buf] : [];
    this.total = buf.length;
    return items;
  }

  /** Declares the stream complete; throws StateBinError when it stops inside the header or a record. */
  end(): void {
    if (!this.headerDone) {
      throw new StateBinError("snapshot_state_bin", truncatedMessage("snapshot header", this.total));
    }
    if (this.total > 0) {
      const name = messageTypeName(this.parts[0]?.[0] ?? 0);
      throw new StateBinError(
        "snapshot_state_bin",
        truncatedMessage(`msg type ${name} at offset ${this.offset}`, this.total),
      );
    }
  }
}

/**
 * Reads state.bin record by record. Yields the header first, then each record with its raw bytes. Errors:
 * StateBinError for a malformed or truncated stream, SnapshotLimitError for an oversized item.
 */
export async function* readStateBin(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: StateBinReadOptions = {},
): AsyncGenerator<StateBinItem> {
  for await (const batch of readStateBinBatches(source, options)) yield* batch;
}

/**
 * readStateBin, the items a source chunk completes at a time (never an empty batch): one await per chunk
 * and not per record, for a reader of millions of records (a restore). Same items, same errors.
 */
export async function* readStateBinBatches(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: StateBinReadOptions = {},
): AsyncGenerator<readonly StateBinItem[]> {
  const splitter = new StateBinSplitter(options, options.views !== true);
  for await (const chunk of source) {
    const items = splitter.push(chunk);
    if (items.length > 0) yield items;
  }
  splitter.end();
}

function truncatedMessage(what: string, have: number): string {
  return `decode ${what}: state.bin ends after ${have} bytes of it: unexpected EOF`;
}

function oversized(headerDone: boolean, offset: number, need: number, max: number): SnapshotLimitError {
  const what = headerDone ? `record at offset ${offset}` : "snapshot header";
  return new SnapshotLimitError(`read ${what}: it needs at least ${need} bytes, above the limit of ${max}`);
}

function itemAt(
  buf: Uint8Array,
  end: number,
  headerDone: boolean,
  offset: number,
  copy: boolean,
): StateBinItem {
  // Copies into plain Uint8Arrays (not Buffers, whatever the source yields), so a caller holding a record
  // does not pin the whole read buffer and values compare equal however they were read.
  if (!headerDone) {
    const raw = new Uint8Array(buf.subarray(0, end));
    let header: SnapshotHeader;
    try {
      header = decodeHeader(raw);
    } catch (err) {
      if (err instanceof SnapshotError) {
        throw new StateBinError("snapshot_state_bin", `decode snapshot header: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
    return { kind: "header", header, raw, size: end };
  }
  const body = buf.subarray(1, end);
  const record = { type: buf[0] as number, body: copy ? new Uint8Array(body) : body };
  return { kind: "record", record, offset, size: end };
}

/** A KVS (2) or Tombstone (5) record by the general encoder: what the writer falls back to. */
function encodeDirEntryRecord(type: 2 | 5, e: DirEntry): RawRecord {
  return encodeRecord(type === 2 ? { kind: "KVS", type, body: e } : { kind: "Tombstone", type, body: e });
}

/** Bytes StateBinWriter.dirEntry appends for `e` (type byte included), found without keeping them. */
export function dirEntryRecordBytes(type: 2 | 5, e: DirEntry): number {
  const n = dirEntryBytes(e);
  return 1 + (n >= 0 ? n : encodeDirEntryRecord(type, e).body.length);
}

/** The bytes StateBinWriter.dirEntry appends for `e` (type byte included), as a fresh array. */
export function dirEntryRecordOf(type: 2 | 5, e: DirEntry): Uint8Array {
  const body = encodeDirEntryFast(e) ?? encodeDirEntryRecord(type, e).body;
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
}

/** How many encoded bytes the writer gathers before yielding a chunk. */
const WRITE_CHUNK_BYTES = 64 * 1024;

/**
 * Fills state.bin chunks of about 64 KiB: the header, then records appended one by one, each encoded or
 * copied straight into the chunk being filled (no per-record arrays). After each append, `takeFull()` hands
 * back a chunk that is complete; a chunk is never reused once handed out, unless the caller gives it back
 * (recycle()).
 */
export class StateBinWriter {
  private chunk: Uint8Array;
  private used: number;
  private full: Uint8Array | null = null;
  /** The whole buffer behind the chunk last completed, and behind the one last taken. */
  private fullBuffer: Uint8Array | null = null;
  private taken: Uint8Array | null = null;
  /** A taken chunk's buffer given back (recycle()): filled again instead of a new one. */
  private spare: Uint8Array | null = null;
  /** Encodes DirEntries into `chunk`. */
  private readonly out = new Out();

  /**
   * `first`: the buffer the first chunk fills, when it holds the header (a caller's scratch, reused from
   * one small state.bin to the next: a fresh 64 KiB per snapshot is external memory that drives collections).
   */
  constructor(header: SnapshotHeader, first?: Uint8Array) {
    const head = encodeHeader(header);
    this.chunk =
      first !== undefined && first.length >= head.length
        ? first
        : new Uint8Array(Math.max(WRITE_CHUNK_BYTES, head.length));
    this.chunk.set(head, 0);
    this.used = head.length;
  }

  /** Appends a record: typed ones encoded in Go's shapes, raw ones as given. */
  record(rec: RawRecord | SnapshotRecord): void {
    if ("kind" in rec && (rec.kind === "KVS" || rec.kind === "Tombstone")) {
      this.dirEntry(rec.type, rec.body);
      return;
    }
    const raw = "kind" in rec ? encodeRecord(rec) : rec;
    assert(
      Number.isInteger(raw.type) && raw.type >= 0 && raw.type <= 255,
      `write record type ${raw.type} as a byte`,
    );
    assert(raw.body.length > 0, `write a record of type ${raw.type} with a msgpack body`);
    this.room(1 + raw.body.length);
    this.chunk[this.used] = raw.type;
    this.chunk.set(raw.body, this.used + 1);
    this.used += 1 + raw.body.length;
  }

  /** Appends a KVS (2) or Tombstone (5) record: the bytes encodeRecord gives, without its copy. */
  dirEntry(type: 2 | 5, e: DirEntry): void {
    this.room(1 + dirEntryBytesMax(e));
    this.out.target(this.chunk, this.used + 1);
    if (!writeDirEntry(this.out, e)) {
      this.record(encodeDirEntryRecord(type, e));
      return;
    }
    this.chunk[this.used] = type;
    this.used = this.out.at;
  }

  /** A completed chunk, once; null while the current one still has room. */
  takeFull(): Uint8Array | null {
    const c = this.full;
    this.full = null;
    if (c !== null) this.taken = this.fullBuffer;
    this.fullBuffer = null;
    return c;
  }

  /**
   * The caller is done with the chunk it took last (it copied it): the writer may fill it again, instead of
   * allocating a new one. Fresh buffers are external memory to V8, and a save of a large state allocating one
   * per 64 KiB triggers collections of the whole heap while writes go on.
   */
  recycle(): void {
    this.spare = this.taken;
    this.taken = null;
  }

  /** The last chunk (null when empty); call after the last record and takeFull(). */
  end(): Uint8Array | null {
    assert(this.full === null, "take the full state.bin chunk before the last one");
    const c = this.used > 0 ? this.chunk.subarray(0, this.used) : null;
    this.used = 0;
    return c;
  }

  /** Makes room for `size` bytes, completing the current chunk when they do not fit. */
  private room(size: number): void {
    if (this.used + size <= this.chunk.length) return;
    assert(this.full === null, "take the full state.bin chunk before appending more");
    if (this.used > 0) {
      this.full = this.chunk.subarray(0, this.used);
      this.fullBuffer = this.chunk;
    }
    const spare = this.spare;
    this.spare = null;
    this.chunk =
      spare !== null && spare.length >= size ? spare : new Uint8Array(Math.max(WRITE_CHUNK_BYTES, size));
    this.used = 0;
  }
}

/**
 * Writes state.bin: the header, then each record (typed ones encoded in Go's shapes, raw ones as given).
 * Yields chunks of about 64 KiB, suitable for Readable.from() (see StateBinWriter).
 */
export async function* writeStateBin(
  header: SnapshotHeader,
  records: AsyncIterable<RawRecord | SnapshotRecord> | Iterable<RawRecord | SnapshotRecord>,
): AsyncGenerator<Uint8Array> {
  const w = new StateBinWriter(header);
  for await (const rec of records) {
    w.record(rec);
    const full = w.takeFull();
    if (full !== null) yield full;
  }
  const last = w.end();
  if (last !== null) yield last;
}

/** Encodes a whole state.bin in memory: for tests and small snapshots only. */
export async function stateBinBytes(
  header: SnapshotHeader,
  records: Iterable<RawRecord | SnapshotRecord>,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of writeStateBin(header, records)) {
    parts.push(chunk);
    total += chunk.length;
  }
  return concat(parts, total);
}
