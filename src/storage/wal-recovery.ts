/**
 * Opening a WAL directory: list the segments, verify every record, cut a torn tail, refuse corruption, finish a
 * compaction or snapshot reset that a crash interrupted, and build the in-memory index.
 *
 * What a crash can leave, given how wal.ts writes (each rule below follows from one of these):
 * - Only the last segment can end in a partial or unsynced record: a segment is fdatasynced before the next one is
 *   created, so a bad record anywhere else, or one followed by good records, was not made by a crash.
 * - An empty last segment (created, nothing written yet) holds nothing acknowledged.
 * - The boundary file is written (durably) before segments are deleted, so segments wholly at or below it, and a
 *   log whose term at the boundary differs from it (a reset cut short), are leftovers to delete.
 */
import { open, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { assert } from "../util/assert.js";
import { fsyncDir } from "./atomic-file.js";
import { EntryIndex } from "./entry-index.js";
import { CorruptWalError } from "./errors.js";
import type { LogBoundary } from "./log-store.js";
import { PAYLOAD_HEADER_BYTES, parseSegment } from "./record.js";
import { readStateFile } from "./state-file.js";

export const BOUNDARY_FILE = "boundary";
export const BOUNDARY_MAGIC = "CWAB";
const SEGMENT_NAME = /^([0-9a-f]{16})\.wal$/;
/** Leftover temp files of writeFileAtomic (a crash between create and rename). */
const TEMP_NAME = /^\..+\.tmp-\d+-[0-9a-f]+$/;

export function segmentFileName(firstIndex: number): string {
  return `${firstIndex.toString(16).padStart(16, "0")}.wal`;
}

/** A segment file: entries from `firstIndex` on, `bytes` long. */
export interface SegmentInfo {
  readonly firstIndex: number;
  readonly path: string;
  bytes: number;
}

export interface RecoveredWal {
  readonly boundary: LogBoundary;
  /** Sorted by firstIndex; consecutive (each starts where the previous ends); never an empty one. */
  readonly segments: SegmentInfo[];
  readonly index: EntryIndex;
}

export interface RecoverOptions {
  readonly entryBytesMax: number;
  readonly cacheBytesMax: number;
  readonly log: (msg: string) => void;
}

export async function recoverWal(dir: string, opts: RecoverOptions): Promise<RecoveredWal> {
  const fields = await readStateFile(join(dir, BOUNDARY_FILE), BOUNDARY_MAGIC, 2);
  const boundary = fields === null ? { index: 0, term: 0 } : { index: fields[0]!, term: fields[1]! };
  const listed = await listSegments(dir, opts.log);
  const kept = await dropCompactedSegments(dir, listed, boundary.index, opts.log);
  const index = new EntryIndex(kept[0]?.firstIndex ?? boundary.index + 1, opts.cacheBytesMax);
  const segments: SegmentInfo[] = [];
  for (const [k, seg] of kept.entries()) {
    const isLast = k === kept.length - 1;
    const prevTerm = index.end > index.base ? index.term(index.end - 1) : 0;
    if (seg.firstIndex !== index.end) {
      const problem = `WAL segment starts at index ${seg.firstIndex} where ${index.end} was expected`;
      throw new CorruptWalError(problem, seg.path, -1);
    }
    await loadSegment(seg, { isLast, prevTerm, index, ...opts });
    if (seg.bytes > 0) segments.push(seg);
    else await removeEmptyLastSegment(dir, seg, opts.log);
  }
  return reconcileBoundary(dir, { boundary, segments, index }, opts.log);
}

async function listSegments(dir: string, log: (msg: string) => void): Promise<SegmentInfo[]> {
  const segments: SegmentInfo[] = [];
  for (const name of await readdir(dir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m) {
      const firstIndex = Number.parseInt(m[1]!, 16);
      if (!Number.isSafeInteger(firstIndex) || firstIndex < 1) {
        throw new CorruptWalError(`WAL segment name has bad index ${m[1]}`, join(dir, name), -1);
      }
      segments.push({ firstIndex, path: join(dir, name), bytes: 0 });
    } else if (TEMP_NAME.test(name)) {
      log(`WAL: removing leftover temp file "${join(dir, name)}"`);
      await unlink(join(dir, name));
    }
  }
  return segments.sort((a, b) => a.firstIndex - b.firstIndex);
}

/**
 * Deletes segments whose entries all lie at or below the boundary (a compaction that crashed before deleting
 * them), judged by the next segment's name so they need not be read. The last segment is judged after loading.
 */
async function dropCompactedSegments(
  dir: string,
  segments: SegmentInfo[],
  boundaryIndex: number,
  log: (msg: string) => void,
): Promise<SegmentInfo[]> {
  let drop = 0;
  while (drop + 1 < segments.length && segments[drop + 1]!.firstIndex - 1 <= boundaryIndex) drop++;
  for (const seg of segments.slice(0, drop)) {
    log(`WAL: removing segment "${seg.path}" left over from a compaction to ${boundaryIndex}`);
    await unlink(seg.path);
  }
  if (drop > 0) await fsyncDir(dir);
  return segments.slice(drop);
}

interface LoadOptions extends RecoverOptions {
  readonly isLast: boolean;
  readonly prevTerm: number;
  readonly index: EntryIndex;
}

/** Verifies one segment and adds its entries to the index; cuts a torn tail (last segment only). */
async function loadSegment(seg: SegmentInfo, opts: LoadOptions): Promise<void> {
  const buf = await readFile(seg.path);
  const parsed = parseSegment(buf, {
    firstIndex: seg.firstIndex,
    prevTerm: opts.prevTerm,
    payloadBytesMax: PAYLOAD_HEADER_BYTES + opts.entryBytesMax,
    isLast: opts.isLast,
  });
  const end = parsed.end;
  if (end.kind === "corrupt") throw new CorruptWalError(end.problem, seg.path, end.offset);
  if (!opts.isLast && parsed.records.length === 0)
    throw new CorruptWalError("empty WAL segment", seg.path, 0);
  for (const r of parsed.records) {
    opts.index.push(r.index, r.term, r.kind, r.offset, new Uint8Array(r.data));
  }
  seg.bytes = buf.length;
  if (end.kind === "torn") {
    opts.log(
      `WAL: truncating torn tail of "${seg.path}" at offset ${end.offset} (${end.problem}): ` +
        `${buf.length - end.offset} bytes dropped, last entry kept ${opts.index.end - 1}`,
    );
    const fh = await open(seg.path, "r+");
    try {
      await fh.truncate(end.offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    seg.bytes = end.offset;
  }
}

async function removeEmptyLastSegment(
  dir: string,
  seg: SegmentInfo,
  log: (msg: string) => void,
): Promise<void> {
  log(`WAL: removing empty last segment "${seg.path}"`);
  await unlink(seg.path);
  await fsyncDir(dir);
}

/**
 * Checks the log against the boundary and finishes an interrupted compaction or reset. The log must reach back to
 * the boundary (a segment starting past boundary + 1 means entries are missing). If it reaches the boundary's
 * index with another term, or its first entry after the boundary has a lower term, a reset was cut short: the
 * whole log goes, as the reset meant.
 */
async function reconcileBoundary(
  dir: string,
  wal: RecoveredWal,
  log: (msg: string) => void,
): Promise<RecoveredWal> {
  const { boundary, segments, index } = wal;
  const first = segments[0];
  if (first === undefined)
    return { boundary, segments, index: new EntryIndex(boundary.index + 1, index.cacheBytesMax) };
  if (first.firstIndex > boundary.index + 1) {
    const problem = `WAL starts at index ${first.firstIndex} but the snapshot boundary is ${boundary.index}: entries are missing`;
    throw new CorruptWalError(problem, first.path, -1);
  }
  const lastIndex = index.end - 1;
  const resetCutShort = !continuesBoundary(index, boundary);
  if (lastIndex > boundary.index && !resetCutShort) return wal;
  const why = resetCutShort ? "an interrupted snapshot reset" : "a compaction";
  for (const seg of segments) {
    log(`WAL: removing segment "${seg.path}" left over from ${why} to ${boundary.index}`);
    await unlink(seg.path);
  }
  await fsyncDir(dir);
  return { boundary, segments: [], index: new EntryIndex(boundary.index + 1, index.cacheBytesMax) };
}

/**
 * Whether the indexed log is a valid continuation of the boundary: the same term at the boundary's index if the
 * log holds it, and no lower term right after it. A log that had a different entry at the boundary's index holds
 * only lower terms after it (a committed entry is in every later leader's log), so this tells the leftovers of an
 * interrupted reset even when the segment holding the boundary's index was already deleted.
 */
function continuesBoundary(index: EntryIndex, boundary: LogBoundary): boolean {
  const lastIndex = index.end - 1;
  if (
    boundary.index >= index.base &&
    boundary.index <= lastIndex &&
    index.term(boundary.index) !== boundary.term
  ) {
    return false;
  }
  const after = boundary.index + 1;
  return !(after >= index.base && after <= lastIndex && index.term(after) < boundary.term);
}

/** Checks the recovered WAL's invariants (pair assertion with the checks made while writing). */
export function assertRecovered(wal: RecoveredWal): void {
  const { boundary, segments, index } = wal;
  assert(index.base <= boundary.index + 1, `WAL index base ${index.base} past boundary ${boundary.index}`);
  assert(index.end - 1 >= boundary.index, `WAL ends at ${index.end - 1} before boundary ${boundary.index}`);
  for (const [k, seg] of segments.entries()) {
    assert(seg.bytes > 0, `WAL segment "${seg.path}" is empty`);
    const next = segments[k + 1];
    if (next) assert(next.firstIndex > seg.firstIndex, `WAL segments out of order at "${next.path}"`);
  }
}
