/**
 * state.bin from a view that can be walked more than once (the fsm's point-in-time snapshot), written without
 * spooling. meta.json and the tar header come before state.bin and carry its size, so the size is found
 * first, by a walk that encodes nothing it keeps (dirEntryRecordBytes: the size-only twin of the writer,
 * through the same msgpack size rules); the samples that choose the gzip level are encoded from the ranges
 * they cover; then the records are encoded once more, straight into the chunks that stream out. Memory stays
 * at one chunk whatever the size, and the first archive byte waits for two walks, not for the whole encoding.
 */
import type { DirEntry, RawRecord, SnapshotHeader } from "./records.js";
import { encodeHeader } from "./records.js";
import { dirEntryRecordBytes, dirEntryRecordOf, StateBinWriter } from "./state-bin.js";

/**
 * What a writer walks: the header, and the records in state.bin's order, KV entries as runs of `E` (the
 * bulk of a snapshot, encoded by the writer itself). Every call of `parts()` walks the same records: the
 * view is immutable. A run is never changed once a view holds it (the fsm's copy-on-write leaves: a write
 * copies the leaf), so what a writer learns of a run it may remember by the run's identity.
 */
export interface StateBinPlan<E> {
  readonly header: SnapshotHeader;
  parts(): Iterable<RawRecord | readonly E[]>;
  /** A run's element as the DirEntry written for it (a KVS record, type 2). */
  dirEntry(e: E): DirEntry;
}

/** state.bin of a known size, with what writeArchive needs of it (archive.ts). */
export interface SizedStateBin {
  readonly size: number;
  /** The bytes, once; exactly `size` of them (the archive writer checks). */
  chunks(): AsyncIterable<Uint8Array>;
  /** The bytes of each [start, end) range, end ≤ size. */
  ranges(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]>;
}

/**
 * A walk holds the event loop at most this long before it lets other work run: the sizing walk of 1 M keys
 * is tens of ms, and writes arriving meanwhile must not wait for all of it.
 */
const SLICE_MS = 8;
/** Records between two looks at the clock. */
const CHECK_EVERY = 256;

class Slices {
  private start = performance.now();
  private n = 0;

  /** True when the current slice is used up (then await `next()`). */
  due(): boolean {
    if (++this.n < CHECK_EVERY) return false;
    this.n = 0;
    return performance.now() - this.start >= SLICE_MS;
  }

  async next(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.start = performance.now();
  }
}

function isRun<E>(part: RawRecord | readonly E[]): part is readonly E[] {
  return Array.isArray(part);
}

/**
 * Encoded bytes of the runs sized so far, by identity (see StateBinPlan: a run never changes): the next save
 * of a large store that changed a little sizes only the leaves written since, and the walk for the gzip
 * samples skips whole runs. Weak: a run no view holds any more takes its entry with it.
 */
const runBytesSeen = new WeakMap<object, number>();

function runBytes<E>(plan: StateBinPlan<E>, run: readonly E[]): number {
  let n = runBytesSeen.get(run);
  if (n === undefined) {
    n = 0;
    for (const e of run) n += dirEntryRecordBytes(2, plan.dirEntry(e));
    runBytesSeen.set(run, n);
  }
  return n;
}

/** state.bin's exact length in bytes: what stateBinChunks(plan) yields in all. */
export async function stateBinSize<E>(plan: StateBinPlan<E>): Promise<number> {
  let size = encodeHeader(plan.header).length;
  const slices = new Slices();
  for (const part of plan.parts()) {
    size += isRun(part) ? runBytes(plan, part) : 1 + part.body.length;
    if (slices.due()) await slices.next();
  }
  return size;
}

/**
 * The bytes of state.bin in each [start, end) range (any order, overlaps allowed), encoding only the records
 * that overlap one; the walk stops after the last range. Errors: an assertion when the plan is shorter.
 */
export async function stateBinRanges<E>(
  plan: StateBinPlan<E>,
  ranges: readonly (readonly [number, number])[],
): Promise<Uint8Array[]> {
  const outs = ranges.map(([a, b]) => new Uint8Array(Math.max(0, b - a)));
  const last = ranges.reduce((m, [, b]) => Math.max(m, b), 0);
  let at = 0;
  /** Moves past a record of `length` bytes, copying the overlaps of the ranges out of `bytes()`. */
  const take = (length: number, bytes: () => Uint8Array): void => {
    const end = at + length;
    let rec: Uint8Array | null = null;
    for (const [i, [a, b]] of ranges.entries()) {
      if (end <= a || at >= b) continue;
      rec ??= bytes();
      const from = Math.max(a, at);
      const to = Math.min(b, end);
      (outs[i] as Uint8Array).set(rec.subarray(from - at, to - at), from - a);
    }
    at = end;
  };
  const head = encodeHeader(plan.header);
  take(head.length, () => head);
  const slices = new Slices();
  walk: for (const part of plan.parts()) {
    if (isRun(part)) {
      const runEnd = at + runBytes(plan, part);
      if (!ranges.some(([a, b]) => runEnd > a && at < b)) {
        at = runEnd;
        if (slices.due()) await slices.next();
        continue;
      }
      for (const e of part) {
        if (at >= last) break walk;
        const d = plan.dirEntry(e);
        take(dirEntryRecordBytes(2, d), () => dirEntryRecordOf(2, d));
      }
      if (slices.due()) await slices.next();
    } else {
      if (at >= last) break;
      take(1 + part.body.length, () => {
        const rec = new Uint8Array(1 + part.body.length);
        rec[0] = part.type;
        rec.set(part.body, 1);
        return rec;
      });
      if (slices.due()) await slices.next();
    }
  }
  if (at < last) throw new RangeError(`state.bin ends at ${at} bytes, before the range ending at ${last}`);
  return outs;
}

/**
 * state.bin as chunks of about 64 KiB (StateBinWriter): the header, then the records, each KV entry encoded
 * straight into the chunk being filled.
 */
export async function* stateBinChunks<E>(plan: StateBinPlan<E>): AsyncGenerator<Uint8Array> {
  const w = new StateBinWriter(plan.header);
  for (const part of plan.parts()) {
    if (!isRun(part)) w.record(part);
    else {
      for (const e of part) {
        w.dirEntry(2, plan.dirEntry(e));
        const full = w.takeFull();
        if (full !== null) yield full;
      }
    }
    const full = w.takeFull();
    if (full !== null) yield full;
  }
  const last = w.end();
  if (last !== null) yield last;
}

/** The plan sized (one walk), ready for writeArchive. */
export async function sizedStateBin<E>(plan: StateBinPlan<E>): Promise<SizedStateBin> {
  const size = await stateBinSize(plan);
  return {
    size,
    chunks: () => stateBinChunks(plan),
    ranges: (ranges) => stateBinRanges(plan, ranges),
  };
}
