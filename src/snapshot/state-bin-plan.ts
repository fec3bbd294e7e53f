/**
 * state.bin from a view that can be walked more than once (the fsm's point-in-time snapshot), written without
 * spooling. meta.json and the tar header come before state.bin and carry its size, so the size is found
 * first, by a walk that encodes nothing it keeps (dirEntryRecordBytes: the size-only twin of the writer,
 * through the same msgpack size rules); the samples that choose the gzip level are encoded for just the
 * ranges they cover, found from what that walk kept; then the records are encoded once more, straight into
 * the chunks that stream out. Memory stays at one chunk whatever the size, and the first archive byte waits
 * for one walk (and a short one for the start sample), not for the whole encoding.
 */

import { zeroBytes } from "./bytes.js";
import { SAMPLE_BYTES } from "./gzip-level.js";
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
  /**
   * The bytes, once; exactly `size` of them (the archive writer checks). Each chunk is valid only until the
   * next one is asked for: a consumer copies what it keeps (the archive writer cuts them into pieces).
   */
  chunks(): AsyncIterable<Uint8Array>;
  /** The bytes of each [start, end) range, end ≤ size. */
  ranges(ranges: readonly (readonly [number, number])[]): Promise<Uint8Array[]>;
}

/**
 * A walk holds the event loop at most this long before it lets other work run: the sizing walk of 1 M keys
 * is tens of ms, and writes arriving meanwhile must not wait for all of it.
 */
const SLICE_MS = 8;
/** Parts (records, or runs of up to a leaf's entries) between two looks at the clock. */
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

type Part<E> = RawRecord | readonly E[];

/**
 * What the sizing walk keeps for the ranges asked next (the gzip level's samples, taken at the start, the
 * middle and the end), so that they need no second walk: where each run starts (the runs are the view's
 * own arrays), and the parts covering the last TAIL_BYTES. A range inside consecutive runs or inside the
 * tail is encoded from there; any other is found by a walk (stateBinRanges), which for the start of
 * state.bin stops after it.
 */
interface SizeIndex<E> {
  readonly runAt: number[];
  readonly runs: (readonly E[])[];
  /** The tail's parts and where each starts (two arrays: no object per part of a million-key walk). */
  readonly tailAt: number[];
  readonly tail: Part<E>[];
}

/** The tail kept: one sample's length (gzip-level.ts), so the last sample is always in it. */
const TAIL_BYTES = SAMPLE_BYTES;

async function sizeWalk<E>(
  plan: StateBinPlan<E>,
  keep: boolean,
): Promise<{ size: number; index: SizeIndex<E> | null }> {
  let size = encodeHeader(plan.header).length;
  const index: SizeIndex<E> | null = keep ? { runAt: [], runs: [], tailAt: [], tail: [] } : null;
  let head = 0;
  const slices = new Slices();
  for (const part of plan.parts()) {
    const at = size;
    if (isRun(part)) {
      size += runBytes(plan, part);
      index?.runAt.push(at);
      index?.runs.push(part);
    } else size += 1 + part.body.length;
    if (index !== null) {
      const tailAt = index.tailAt;
      tailAt.push(at);
      index.tail.push(part);
      // The first part may go once the ones after it cover TAIL_BYTES: the end only moves on.
      while (head < tailAt.length - 1 && size - (tailAt[head + 1] as number) >= TAIL_BYTES) head++;
      if (head >= 4096) {
        tailAt.splice(0, head);
        index.tail.splice(0, head);
        head = 0;
      }
    }
    if (slices.due()) await slices.next();
  }
  index?.tailAt.splice(0, head);
  index?.tail.splice(0, head);
  return { size, index };
}

/** state.bin's exact length in bytes: what stateBinChunks(plan) yields in all. */
export async function stateBinSize<E>(plan: StateBinPlan<E>): Promise<number> {
  return (await sizeWalk(plan, false)).size;
}

/**
 * Copies the overlaps of `ranges` (into `outs`, same order) out of `parts`, the first of which starts at
 * offset `at`, encoding only the records that overlap one; stops once past `last`. Returns where it stopped.
 */
async function fillRanges<E>(
  plan: StateBinPlan<E>,
  parts: Iterable<Part<E>>,
  at: number,
  ranges: readonly (readonly [number, number])[],
  outs: readonly Uint8Array[],
  last: number,
): Promise<number> {
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
  const slices = new Slices();
  walk: for (const part of parts) {
    if (at >= last) break;
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
    } else {
      take(1 + part.body.length, () => {
        const rec = new Uint8Array(1 + part.body.length);
        rec[0] = part.type;
        rec.set(part.body, 1);
        return rec;
      });
    }
    if (slices.due()) await slices.next();
  }
  return at;
}

/**
 * The bytes of state.bin in each [start, end) range (any order, overlaps allowed), by a walk from the start
 * that encodes only the records overlapping one and stops after the last range. Errors: a RangeError when
 * the plan is shorter.
 */
export async function stateBinRanges<E>(
  plan: StateBinPlan<E>,
  ranges: readonly (readonly [number, number])[],
): Promise<Uint8Array[]> {
  const outs = ranges.map(([a, b]) => new Uint8Array(Math.max(0, b - a)));
  const last = ranges.reduce((m, [, b]) => Math.max(m, b), 0);
  const head = encodeHeader(plan.header);
  for (const [i, [a, b]] of ranges.entries()) {
    if (a >= head.length || b <= a) continue;
    (outs[i] as Uint8Array).set(head.subarray(a, Math.min(head.length, b)), 0);
  }
  const at = await fillRanges(plan, plan.parts(), head.length, ranges, outs, last);
  if (at < last) throw new RangeError(`state.bin ends at ${at} bytes, before the range ending at ${last}`);
  return outs;
}

/** The runs from the j-th on, while each starts where the one before ended. */
function* consecutiveRuns<E>(plan: StateBinPlan<E>, index: SizeIndex<E>, j: number): Generator<readonly E[]> {
  for (let k = j; k < index.runs.length; k++) {
    if (k > j) {
      const prev = k - 1;
      if (index.runAt[k] !== (index.runAt[prev] as number) + runBytes(plan, index.runs[prev] as readonly E[]))
        return;
    }
    yield index.runs[k] as readonly E[];
  }
}

/** Fills `out` with [a, b) from the index when it lies in consecutive runs or in the tail; false otherwise. */
async function fillFromIndex<E>(
  plan: StateBinPlan<E>,
  index: SizeIndex<E>,
  range: readonly [number, number],
  out: Uint8Array,
): Promise<boolean> {
  const [a, b] = range;
  if (b <= a) return true;
  const tailAt = index.tailAt;
  if (tailAt.length > 0 && a >= (tailAt[0] as number)) {
    let t = tailAt.length - 1;
    while (t > 0 && (tailAt[t] as number) > a) t--;
    return (await fillRanges(plan, index.tail.slice(t), tailAt[t] as number, [range], [out], b)) >= b;
  }
  // The last run starting at or before a.
  let lo = 0;
  let hi = index.runAt.length - 1;
  if (hi < 0 || (index.runAt[0] as number) > a) return false;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((index.runAt[mid] as number) <= a) lo = mid;
    else hi = mid - 1;
  }
  const at = index.runAt[lo] as number;
  if (a >= at + runBytes(plan, index.runs[lo] as readonly E[])) return false;
  return (await fillRanges(plan, consecutiveRuns(plan, index, lo), at, [range], [out], b)) >= b;
}

/**
 * stateBinChunks, on the loop without a pause: for a walk bounded by its consumer (smallStateBin). `first`:
 * the buffer the first chunk is encoded into (StateBinWriter).
 */
function* stateBinChunksSync<E>(
  plan: StateBinPlan<E>,
  reuse: boolean,
  first?: Uint8Array,
): Generator<Uint8Array> {
  const w = new StateBinWriter(plan.header, first);
  for (const part of plan.parts()) {
    if (!isRun(part)) w.record(part);
    else {
      for (const e of part) {
        w.dirEntry(2, plan.dirEntry(e));
        const full = w.takeFull();
        if (full === null) continue;
        yield full;
        if (reuse) w.recycle();
      }
    }
    const full = w.takeFull();
    if (full === null) continue;
    yield full;
    if (reuse) w.recycle();
  }
  const last = w.end();
  if (last !== null) yield last;
}

/**
 * state.bin as chunks of about 64 KiB (StateBinWriter): the header, then the records, each KV entry encoded
 * straight into the chunk being filled. With `reuse`, a chunk is valid only until the next one is asked for
 * (its buffer is filled again): for a consumer that copies each chunk before it asks for the next.
 */
export async function* stateBinChunks<E>(
  plan: StateBinPlan<E>,
  o: { readonly reuse?: boolean } = {},
): AsyncGenerator<Uint8Array> {
  yield* stateBinChunksSync(plan, o.reuse === true);
}

/** Where smallStateBin encodes: one buffer for every call (each copies its result out before it returns). */
let smallScratch: Uint8Array | null = null;
const SMALL_SCRATCH_BYTES = 64 * 1024;

/**
 * The whole state.bin of `plan` when it is at most `bytesMax` bytes, else null: encoded into one reused
 * buffer and copied out at its exact size (fresh 64 KiB chunks per small snapshot are external memory that
 * drives collections); a second chunk, and a copy of both, only near the bound. For an archive made in memory
 * (archive-memory.ts) without sizing the plan first; a larger plan costs the encoding of about `bytesMax`
 * bytes before it is given up.
 */
export function smallStateBin<E>(plan: StateBinPlan<E>, bytesMax: number): Uint8Array | null {
  smallScratch ??= new Uint8Array(SMALL_SCRATCH_BYTES);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (const chunk of stateBinChunksSync(plan, false, smallScratch)) {
    size += chunk.length;
    if (size > bytesMax) return null;
    chunks.push(chunk);
  }
  // From Node's pool when small: no ArrayBuffer per snapshot (bytes.ts).
  const whole = zeroBytes(size);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.length;
  }
  return whole;
}

/**
 * The plan sized (one walk), ready for writeArchive. The first `ranges` call is answered from what the
 * sizing walk kept (SizeIndex), walking again only for ranges outside it; the index is let go after it.
 */
export async function sizedStateBin<E>(plan: StateBinPlan<E>): Promise<SizedStateBin> {
  const walked = await sizeWalk(plan, true);
  let index = walked.index;
  return {
    size: walked.size,
    chunks: () => stateBinChunks(plan, { reuse: true }),
    ranges: async (ranges) => {
      const kept = index;
      index = null;
      const outs: Uint8Array[] = ranges.map(([a, b]) => new Uint8Array(Math.max(0, b - a)));
      const rest: number[] = [];
      for (const [i, range] of ranges.entries()) {
        if (kept === null || !(await fillFromIndex(plan, kept, range, outs[i] as Uint8Array))) rest.push(i);
      }
      if (rest.length > 0) {
        const walkedOuts = await stateBinRanges(
          plan,
          rest.map((i) => ranges[i] as readonly [number, number]),
        );
        for (const [k, i] of rest.entries()) outs[i] = walkedOuts[k] as Uint8Array;
      }
      return outs;
    },
  };
}
