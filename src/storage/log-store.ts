/**
 * LogStore: the raft log's durable home. Declared here until the server driver (its consumer) exists; it is what
 * the driver persists a Ready's entries into and what the raft core's storage view reads from.
 */
import type { Entry } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { CompactedError } from "../util/errors.js";
import { EntryTooLargeError } from "./errors.js";

/** The last entry covered by a snapshot: the log's entries start right after it. (0, 0) in a fresh log. */
export interface LogBoundary {
  readonly index: number;
  readonly term: number;
}

/** 64 MiB: raft batches far smaller entries; a larger one is a bug or abuse and would stall replication. */
export const ENTRY_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;

/**
 * Contract (both the disk WAL and its in-memory twin; log-store-contract.ts checks it):
 * - The log is the entries [firstIndex(), lastIndex()], preceded by the boundary (index, term).
 *   Invariant: firstIndex() === boundary().index + 1 and lastIndex() >= boundary().index.
 * - Index reads (`firstIndex`, `lastIndex`, `boundary`, `term`) are synchronous and do no I/O.
 * - Reads below the log throw CompactedError (the caller sends a snapshot instead); reads past `lastIndex` are
 *   caller bugs and throw AssertionError.
 * - Mutations are not re-entrant: the one driver loop awaits each before the next. A call made while another is
 *   in flight is queued behind it.
 * - `append` makes entries readable at once but durable only after the next `sync()` resolves (group commit).
 *   `compact` and `resetToSnapshot` are durable when they resolve.
 * - Ownership: `append` takes ownership of each entry's `data` (the caller must not mutate it afterwards) and
 *   `entries` returns data the caller must not mutate.
 * - After a failed write or sync the store fails stop: every later call throws WalFailedError.
 */
export interface LogStore {
  firstIndex(): number;
  lastIndex(): number;
  boundary(): LogBoundary;
  /** The term of entry `index`, for index in [boundary().index, lastIndex()]. */
  term(index: number): number;
  /**
   * Entries [lo, hi), lo <= hi, with firstIndex() <= lo and hi <= lastIndex() + 1. With `bytesMax`, stops before
   * the entry whose data would take the total past it, but always returns at least one entry of a non-empty range.
   */
  entries(lo: number, hi: number, bytesMax?: number): Promise<Entry[]>;
  /**
   * Appends `entries` (consecutive indexes, terms not decreasing), replacing every existing entry from
   * entries[0].index on. Requires boundary().index < entries[0].index <= lastIndex() + 1: committed (compacted)
   * entries are never overwritten. Throws EntryTooLargeError, writing nothing, if any entry's data exceeds
   * entryBytesMax.
   */
  append(entries: readonly Entry[]): Promise<void>;
  /** Makes every entry appended so far durable (one fdatasync for any number of appends). */
  sync(): Promise<void>;
  /**
   * Discards entries up to and including `index` (boundary().index <= index <= lastIndex()), which a durable
   * snapshot now covers; the boundary becomes (index, term(index)). An index at or below the boundary is a no-op.
   */
  compact(index: number): Promise<void>;
  /**
   * Discards the whole log for a snapshot that does not match it (raft-notes §1.11): afterwards the log is empty
   * and boundary() is (index, term). Requires index > boundary().index.
   */
  resetToSnapshot(index: number, term: number): Promise<void>;
  /** Syncs, then releases files. The store is unusable afterwards. */
  close(): Promise<void>;
}

/** Checks an append against the log it extends; both implementations call it so they refuse the same inputs. */
export function checkAppend(
  store: Pick<LogStore, "boundary" | "lastIndex" | "term">,
  entries: readonly Entry[],
  entryBytesMax: number,
): void {
  const first = entries[0];
  if (first === undefined) return;
  const { index: snapIndex } = store.boundary();
  assert(
    first.index > snapIndex,
    `cannot append at ${first.index}: entries up to ${snapIndex} are compacted`,
  );
  assert(
    first.index <= store.lastIndex() + 1,
    `cannot append at ${first.index}: log ends at ${store.lastIndex()}`,
  );
  let prevTerm = store.term(first.index - 1);
  let prevIndex = first.index - 1;
  for (const e of entries) {
    assert(e.index === prevIndex + 1, `appended entries are not consecutive: ${e.index} after ${prevIndex}`);
    assert(
      Number.isSafeInteger(e.term) && e.term >= prevTerm,
      `entry ${e.index} term ${e.term} < ${prevTerm}`,
    );
    if (e.data.length > entryBytesMax) throw new EntryTooLargeError(e.index, e.data.length, entryBytesMax);
    prevIndex = e.index;
    prevTerm = e.term;
  }
}

/** Checks a term read; throws CompactedError below the boundary. */
export function checkTermRead(store: Pick<LogStore, "boundary" | "lastIndex">, index: number): void {
  const snapIndex = store.boundary().index;
  if (index < snapIndex)
    throw new CompactedError(`cannot read term ${index}: log compacted up to ${snapIndex}`);
  assert(index <= store.lastIndex(), `cannot read term ${index}: log ends at ${store.lastIndex()}`);
}

/** Checks an entries read of [lo, hi); throws CompactedError when lo is below the log. */
export function checkRangeRead(
  store: Pick<LogStore, "firstIndex" | "lastIndex">,
  lo: number,
  hi: number,
): void {
  assert(
    Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo <= hi,
    `bad entries range [${lo}, ${hi})`,
  );
  const first = store.firstIndex();
  if (lo < first) throw new CompactedError(`cannot read entries [${lo}, ${hi}): log starts at ${first}`);
  assert(hi <= store.lastIndex() + 1, `cannot read entries [${lo}, ${hi}): log ends at ${store.lastIndex()}`);
}

/** How many of the `count` entries (sized by `bytesOf(k)`, in order) fit in `bytesMax`; at least one of any. */
export function countWithin(
  count: number,
  bytesOf: (k: number) => number,
  bytesMax: number | undefined,
): number {
  if (bytesMax === undefined) return count;
  let total = 0;
  let n = 0;
  while (n < count) {
    const s = bytesOf(n);
    if (n > 0 && total + s > bytesMax) break;
    total += s;
    n++;
  }
  return n;
}
