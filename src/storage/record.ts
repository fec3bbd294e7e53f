/**
 * The WAL's on-disk record format and the pure parser that recovery runs over a segment's bytes.
 *
 * Record framing (little-endian):
 *   [u32 payload length][u32 CRC32C of the payload][payload]
 * Payload, one raft entry:
 *   [u64 index][u64 term][u8 kind: 0 normal, 1 conf, 2 restore][data: the rest]
 * Index and term are u64 on disk though JS numbers hold 2^53: the format need not change if indexes ever move to
 * bigint, and a value >= 2^53 on read is refused as corruption. The index is first so the torn-tail check can read
 * it at a fixed offset without decoding the rest.
 */
import type { Entry, EntryKind } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { crc32c } from "./crc32c.js";

export const RECORD_HEADER_BYTES = 8;
export const PAYLOAD_HEADER_BYTES = 17;
/** The smallest record: an entry with empty data (the leader's no-op). Also why a zero length is never valid. */
export const RECORD_BYTES_MIN = RECORD_HEADER_BYTES + PAYLOAD_HEADER_BYTES;

const KINDS: readonly EntryKind[] = ["normal", "conf", "restore"];
const TWO_32 = 0x1_0000_0000;

export function recordBytes(entry: Entry): number {
  return RECORD_BYTES_MIN + entry.data.length;
}

function writeU64(buf: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `cannot encode ${value} as u64`);
  buf.writeUInt32LE(value % TWO_32, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
}

/** Reads a u64 that must fit a safe integer; -1 when it does not (only corruption can write one). */
function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32LE(offset + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * TWO_32 + buf.readUInt32LE(offset);
}

/** Encodes `entries` as consecutive records into `buf` starting at `offset`; returns the offset after them. */
export function encodeRecords(entries: readonly Entry[], buf: Buffer, offset: number): number {
  let off = offset;
  for (const e of entries) {
    const payloadStart = off + RECORD_HEADER_BYTES;
    const payloadBytes = PAYLOAD_HEADER_BYTES + e.data.length;
    writeU64(buf, payloadStart, e.index);
    writeU64(buf, payloadStart + 8, e.term);
    buf[payloadStart + 16] = KINDS.indexOf(e.kind);
    buf.set(e.data, payloadStart + PAYLOAD_HEADER_BYTES);
    const payload = buf.subarray(payloadStart, payloadStart + payloadBytes);
    buf.writeUInt32LE(payloadBytes, off);
    buf.writeUInt32LE(crc32c(payload), off + 4);
    off = payloadStart + payloadBytes;
  }
  return off;
}

/** One decoded record. `data` is a view into the parsed buffer: copy it to keep it past that buffer's life. */
export interface DecodedRecord {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
  /** Byte offset of the record's header in its buffer. */
  readonly offset: number;
  /** Header plus payload. */
  readonly bytes: number;
}

export type RecordRead =
  | { readonly ok: true; readonly record: DecodedRecord }
  | { readonly ok: false; problem: string };

/**
 * Reads the record at `offset`. Fails (with the problem named for the error message) on a short header, a length
 * out of [payload header, payloadBytesMax], a record running past the buffer, a checksum mismatch, or a checksummed
 * payload that still does not decode (an index past 2^53, an unknown kind): the last two are bugs or tampering.
 */
export function readRecord(buf: Buffer, offset: number, payloadBytesMax: number): RecordRead {
  if (offset + RECORD_HEADER_BYTES > buf.length) return { ok: false, problem: "WAL record header cut short" };
  const payloadBytes = buf.readUInt32LE(offset);
  if (payloadBytes < PAYLOAD_HEADER_BYTES || payloadBytes > payloadBytesMax) {
    return { ok: false, problem: `WAL record length ${payloadBytes} out of range` };
  }
  const start = offset + RECORD_HEADER_BYTES;
  const end = start + payloadBytes;
  if (end > buf.length) return { ok: false, problem: "WAL record runs past the end of its segment" };
  if (crc32c(buf.subarray(start, end)) !== buf.readUInt32LE(offset + 4)) {
    return { ok: false, problem: "WAL record checksum mismatch" };
  }
  const index = readU64(buf, start);
  const term = readU64(buf, start + 8);
  const kind = KINDS[buf[start + 16]!];
  if (index < 1 || term < 0 || kind === undefined) {
    return { ok: false, problem: "WAL record with a valid checksum does not decode" };
  }
  const data = buf.subarray(start + PAYLOAD_HEADER_BYTES, end);
  return { ok: true, record: { index, term, kind, data, offset, bytes: end - offset } };
}

/** How a segment's bytes end. `torn` and `corrupt` carry the offset of the first bad record. */
export type SegmentEnd =
  | { readonly kind: "clean" }
  | { readonly kind: "torn"; readonly offset: number; readonly problem: string }
  | { readonly kind: "corrupt"; readonly offset: number; readonly problem: string };

export interface ParsedSegment {
  readonly records: readonly DecodedRecord[];
  readonly end: SegmentEnd;
}

export interface ParseSegmentOptions {
  /** The index the first record must have: the segment's name. */
  readonly firstIndex: number;
  /** The term of the entry before the segment (0 for none): terms never go backwards in a raft log. */
  readonly prevTerm: number;
  readonly payloadBytesMax: number;
  /** Only the last segment may end torn: earlier ones were fsynced before the next was created. */
  readonly isLast: boolean;
}

/**
 * Parses a whole segment. The first bad record ends it. It is a torn tail (the unsynced end of the last write
 * before a crash) only in the last segment and only if no valid record with a later index follows it anywhere in
 * the rest of the file; otherwise good data lies beyond it, and dropping that could lose acknowledged entries, so it
 * is corruption. Trailing zero bytes, a partial record and a bad checksum in the last record are all torn tails.
 */
export function parseSegment(buf: Buffer, opts: ParseSegmentOptions): ParsedSegment {
  const records: DecodedRecord[] = [];
  let offset = 0;
  let expected = opts.firstIndex;
  let prevTerm = opts.prevTerm;
  while (offset < buf.length) {
    const read = readRecord(buf, offset, opts.payloadBytesMax);
    if (!read.ok) {
      const tornTail = opts.isLast && !validRecordAfter(buf, offset + 1, expected + 1, opts.payloadBytesMax);
      const problem = tornTail && isAllZero(buf, offset) ? "trailing zero bytes" : read.problem;
      return { records, end: { kind: tornTail ? "torn" : "corrupt", offset, problem } };
    }
    const r = read.record;
    if (r.index !== expected) {
      const problem = `WAL record has index ${r.index} where ${expected} was expected`;
      return { records, end: { kind: "corrupt", offset, problem } };
    }
    if (r.term < prevTerm) {
      const problem = `WAL record ${r.index} has term ${r.term} below the previous term ${prevTerm}`;
      return { records, end: { kind: "corrupt", offset, problem } };
    }
    records.push(r);
    expected++;
    prevTerm = r.term;
    offset += r.bytes;
  }
  return { records, end: { kind: "clean" } };
}

function isAllZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Whether a record with a valid checksum and an index >= minIndex starts at any offset in [from, end). Cheap
 * filters (length in range, fits, plausible index) run before the checksum, so a torn tail of zeros or garbage
 * costs one pass. Runs only once per open, on the last segment's first bad record.
 */
function validRecordAfter(buf: Buffer, from: number, minIndex: number, payloadBytesMax: number): boolean {
  for (let p = from; p + RECORD_BYTES_MIN <= buf.length; p++) {
    const payloadBytes = buf.readUInt32LE(p);
    if (payloadBytes < PAYLOAD_HEADER_BYTES || payloadBytes > payloadBytesMax) continue;
    if (p + RECORD_HEADER_BYTES + payloadBytes > buf.length) continue;
    if (readU64(buf, p + RECORD_HEADER_BYTES) < minIndex) continue;
    const read = readRecord(buf, p, payloadBytesMax);
    if (read.ok) return true;
  }
  return false;
}

/** Builds an Entry from a decoded record, copying the data out of the (possibly large, shared) read buffer. */
export function toEntry(r: DecodedRecord): Entry {
  return { index: r.index, term: r.term, kind: r.kind, data: new Uint8Array(r.data) };
}
