/**
 * DiskWal: the raft log in `<dataDir>/raft/wal/`, as segment files named by their first index in 16 hex digits
 * (`0000000000000001.wal`), each a run of records (format in record.ts), plus a `boundary` state file holding the
 * (index, term) of the last compacted entry. Recovery rules are in wal-recovery.ts.
 *
 * Memory: terms, kinds and offsets of every entry since the first kept segment, and the data of the newest
 * entries up to `cacheBytesMax` (see entry-index.ts); older data is read from disk, checksums verified again.
 *
 * Write ordering (what recovery relies on): a segment is fdatasynced, and the directory fsynced if it changed,
 * before the next segment is created; an overwrite deletes the later segments (directory fsynced) and truncates
 * (fdatasynced) before writing new records, so stale records never sit after new ones; compaction and resets
 * write the boundary file durably before deleting segments.
 */
import { writeSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Entry } from "../raft/types.js";
import { assert } from "../util/assert.js";
import { fsyncDir, mkdirDurable } from "./atomic-file.js";
import { EntryIndex } from "./entry-index.js";
import { CorruptWalError, WalFailedError } from "./errors.js";
import {
  checkAppend,
  checkRangeRead,
  checkTermRead,
  countWithin,
  ENTRY_BYTES_MAX_DEFAULT,
  type LogBoundary,
  type LogStore,
} from "./log-store.js";
import { encodeRecords, PAYLOAD_HEADER_BYTES, RECORD_BYTES_MIN, readRecord, recordBytes } from "./record.js";
import { writeStateFile } from "./state-file.js";
import {
  assertRecovered,
  BOUNDARY_FILE,
  BOUNDARY_MAGIC,
  type RecoveredWal,
  recoverWal,
  type SegmentInfo,
  segmentFileName,
} from "./wal-recovery.js";

export interface DiskWalOptions {
  /** Rotate to a new segment before a record would take the current one past this (64 MiB by default). */
  readonly segmentBytesMax?: number;
  /** Larger entries are refused (64 MiB by default). */
  readonly entryBytesMax?: number;
  /** Entry data kept in memory for reads without I/O (64 MiB by default). */
  readonly cacheBytesMax?: number;
  /** Receives recovery warnings (torn tail cut, leftovers removed). */
  readonly log?: (msg: string) => void;
}

const MIB = 1024 * 1024;

interface WalLimits {
  readonly segmentBytesMax: number;
  readonly entryBytesMax: number;
  readonly cacheBytesMax: number;
}

export class DiskWal implements LogStore {
  /** `<dataDir>/raft/wal`. */
  readonly dir: string;
  readonly segmentBytesMax: number;
  readonly entryBytesMax: number;
  #boundary: LogBoundary;
  /** Invariant: sorted, consecutive, never empty except the last right after its creation or a truncation. */
  #segments: SegmentInfo[];
  #index: EntryIndex;
  /** Open for writing on the last segment, or null when there is none or it has not been needed yet. */
  #active: FileHandle | null = null;
  /** Records written to #active since its last fdatasync. */
  #activeDirty = false;
  /** Directory entries created or removed since the last directory fsync. */
  #dirDirty = false;
  /** Every operation touching files runs in this chain, one at a time, in call order. */
  #queue: Promise<unknown> = Promise.resolve();
  #failed: WalFailedError | null = null;
  #closed = false;

  private constructor(dir: string, opts: WalLimits, recovered: RecoveredWal) {
    this.dir = dir;
    this.segmentBytesMax = opts.segmentBytesMax;
    this.entryBytesMax = opts.entryBytesMax;
    this.#boundary = recovered.boundary;
    this.#segments = recovered.segments;
    this.#index = recovered.index;
  }

  /**
   * Opens (creating if needed) the WAL of the data dir `dataDir`, recovering as wal-recovery.ts describes.
   * Throws CorruptWalError or CorruptStateError when the files cannot be trusted.
   */
  static async open(dataDir: string, opts: DiskWalOptions = {}): Promise<DiskWal> {
    const dir = join(dataDir, "raft", "wal");
    await mkdirDurable(dir);
    const limits: WalLimits = {
      segmentBytesMax: opts.segmentBytesMax ?? 64 * MIB,
      entryBytesMax: opts.entryBytesMax ?? ENTRY_BYTES_MAX_DEFAULT,
      cacheBytesMax: opts.cacheBytesMax ?? 64 * MIB,
    };
    assert(
      limits.segmentBytesMax >= RECORD_BYTES_MIN,
      `segmentBytesMax too small: ${limits.segmentBytesMax}`,
    );
    assert(limits.entryBytesMax >= 0, `entryBytesMax must be >= 0, got ${limits.entryBytesMax}`);
    const recovered = await recoverWal(dir, { ...limits, log: opts.log ?? (() => {}) });
    assertRecovered(recovered);
    return new DiskWal(dir, limits, recovered);
  }

  firstIndex(): number {
    return this.#boundary.index + 1;
  }

  lastIndex(): number {
    return Math.max(this.#boundary.index, this.#index.end - 1);
  }

  boundary(): LogBoundary {
    return this.#boundary;
  }

  term(index: number): number {
    this.#checkUsable();
    checkTermRead(this, index);
    return index === this.#boundary.index ? this.#boundary.term : this.#index.term(index);
  }

  async entries(lo: number, hi: number, bytesMax?: number): Promise<Entry[]> {
    this.#checkUsable();
    checkRangeRead(this, lo, hi);
    const n = countWithin(hi - lo, (k) => this.#index.dataBytes(lo + k), bytesMax);
    // The cache answers at once; a disk read waits its turn so no truncation or compaction deletes its file.
    if (lo >= this.#index.cacheLo) return this.#fromCache(lo, lo + n);
    return this.#run(async () => {
      checkRangeRead(this, lo, lo + n);
      const cacheLo = Math.max(lo, Math.min(this.#index.cacheLo, lo + n));
      return [...(await this.#readDisk(lo, cacheLo)), ...this.#fromCache(cacheLo, lo + n)];
    });
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.#run(async () => {
      checkAppend(this, entries, this.entryBytesMax);
      const first = entries[0];
      if (first === undefined) return;
      await this.#io(async () => {
        if (first.index < this.#index.end) await this.#truncateFrom(first.index);
        await this.#write(entries);
      });
    });
  }

  sync(): Promise<void> {
    return this.#run(() => this.#io(() => this.#syncNow()));
  }

  compact(index: number): Promise<void> {
    return this.#run(async () => {
      if (index <= this.#boundary.index) return;
      assert(index <= this.lastIndex(), `cannot compact to ${index}: log ends at ${this.lastIndex()}`);
      const term = this.term(index);
      await this.#io(() => this.#compactTo({ index, term }));
    });
  }

  resetToSnapshot(index: number, term: number): Promise<void> {
    return this.#run(async () => {
      assert(index > this.#boundary.index, `cannot reset to ${index}: boundary is ${this.#boundary.index}`);
      assert(term >= this.#boundary.term, `cannot reset to term ${term} below ${this.#boundary.term}`);
      await this.#io(async () => {
        await writeStateFile(join(this.dir, BOUNDARY_FILE), BOUNDARY_MAGIC, [index, term]);
        this.#boundary = { index, term };
        await this.#dropSegments(this.#segments.length);
        this.#index = new EntryIndex(index + 1, this.#index.cacheBytesMax);
        await this.#syncNow();
      });
    });
  }

  /** Idempotent; after a write failure it releases the files without syncing. */
  close(): Promise<void> {
    const result = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        if (!this.#failed) await this.#io(() => this.#syncNow());
      } finally {
        this.#closed = true;
        await this.#active?.close().catch(() => {});
        this.#active = null;
      }
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Runs `op` after every earlier operation, refusing once the WAL has failed or closed. */
  #run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(() => {
      this.#checkUsable();
      return op();
    });
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Runs file I/O whose failure leaves the files in an unknown state: the WAL then fails stop. */
  async #io<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      this.#failed = new WalFailedError(err);
      throw this.#failed;
    }
  }

  #checkUsable(): void {
    if (this.#failed) throw this.#failed;
    assert(!this.#closed, `WAL "${this.dir}" used after close`);
  }

  #fromCache(lo: number, hi: number): Entry[] {
    const out: Entry[] = [];
    for (let i = lo; i < hi; i++) {
      const data = this.#index.cached(i);
      assert(data !== undefined, `entry ${i} not cached`);
      out.push({ index: i, term: this.#index.term(i), kind: this.#index.kind(i), data });
    }
    return out;
  }

  /** Reads entries [lo, hi) from their segments, one read per segment, verifying each record again. */
  async #readDisk(lo: number, hi: number): Promise<Entry[]> {
    const out: Entry[] = [];
    let i = lo;
    while (i < hi) {
      const k = this.#segmentOf(i);
      const seg = this.#segments[k]!;
      const segEnd = Math.min(hi, this.#segments[k + 1]?.firstIndex ?? hi);
      const start = this.#index.offset(i);
      const last = segEnd - 1;
      const end = this.#index.offset(last) + RECORD_BYTES_MIN + this.#index.dataBytes(last);
      const buf = await readRange(seg.path, start, end - start);
      for (let off = 0; i < segEnd; i++) {
        const read = readRecord(buf, off, PAYLOAD_HEADER_BYTES + this.entryBytesMax);
        if (!read.ok) throw new CorruptWalError(read.problem, seg.path, start + off);
        const r = read.record;
        if (r.index !== i)
          throw new CorruptWalError(`WAL record has index ${r.index} not ${i}`, seg.path, start + off);
        out.push({ index: r.index, term: r.term, kind: r.kind, data: new Uint8Array(r.data) });
        off += r.bytes;
      }
    }
    return out;
  }

  /** The position in #segments of the segment holding entry `index`. */
  #segmentOf(index: number): number {
    let lo = 0;
    let hi = this.#segments.length - 1;
    assert(hi >= 0 && index >= this.#segments[0]!.firstIndex, `entry ${index} is in no segment`);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#segments[mid]!.firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async #syncNow(): Promise<void> {
    if (this.#activeDirty && this.#active) await this.#active.datasync();
    this.#activeDirty = false;
    if (this.#dirDirty) await fsyncDir(this.dir);
    this.#dirDirty = false;
  }

  /** Removes entries [index, end): deletes later segments (newest first), then truncates the one holding index. */
  async #truncateFrom(index: number): Promise<void> {
    const k = this.#segmentOf(index);
    if (k < this.#segments.length - 1) {
      await this.#active?.close();
      this.#active = null;
      this.#activeDirty = false;
      await this.#dropSegments(this.#segments.length - 1 - k, "newest");
      await fsyncDir(this.dir);
      this.#dirDirty = false;
    }
    const seg = this.#segments[k]!;
    const offset = this.#index.offset(index);
    const fh = await this.#activeHandle();
    await fh.truncate(offset);
    await fh.datasync();
    this.#activeDirty = false;
    seg.bytes = offset;
    this.#index.truncateFrom(index);
  }

  /** Deletes `count` segments from the oldest or the newest end, closing the active handle if it goes. */
  async #dropSegments(count: number, from: "oldest" | "newest" = "oldest"): Promise<void> {
    if (count === 0) return;
    if (from === "newest" || count === this.#segments.length) {
      await this.#active?.close();
      this.#active = null;
      this.#activeDirty = false;
    }
    const doomed =
      from === "oldest" ? this.#segments.splice(0, count) : this.#segments.splice(-count).reverse();
    for (const seg of doomed) await unlink(seg.path);
    this.#dirDirty = true;
  }

  async #compactTo(b: LogBoundary): Promise<void> {
    await writeStateFile(join(this.dir, BOUNDARY_FILE), BOUNDARY_MAGIC, [b.index, b.term]);
    this.#boundary = b;
    let drop = 0;
    const segs = this.#segments;
    const lastOf = (k: number): number => (segs[k + 1]?.firstIndex ?? this.#index.end) - 1;
    while (drop < segs.length && lastOf(drop) <= b.index) drop++;
    await this.#dropSegments(drop);
    this.#index.dropBefore(this.#segments[0]?.firstIndex ?? b.index + 1);
  }

  /** The write handle of the last segment, opened on first use. */
  async #activeHandle(): Promise<FileHandle> {
    if (this.#active === null) {
      const seg = this.#segments.at(-1);
      assert(seg !== undefined, "no segment to write");
      this.#active = await open(seg.path, "r+");
    }
    return this.#active;
  }

  /** Appends records at the end of the log, rotating segments at segmentBytesMax. */
  async #write(entries: readonly Entry[]): Promise<void> {
    let i = 0;
    while (i < entries.length) {
      const firstBytes = recordBytes(entries[i]!);
      const seg = this.#segments.at(-1);
      if (seg === undefined || (seg.bytes > 0 && seg.bytes + firstBytes > this.segmentBytesMax)) {
        await this.#rotate(entries[i]!.index);
      }
      const active = this.#segments.at(-1)!;
      let j = i + 1;
      let bytes = firstBytes;
      while (j < entries.length && active.bytes + bytes + recordBytes(entries[j]!) <= this.segmentBytesMax) {
        bytes += recordBytes(entries[j]!);
        j++;
      }
      await this.#writeChunk(active, entries.slice(i, j), bytes);
      i = j;
    }
  }

  async #writeChunk(seg: SegmentInfo, chunk: readonly Entry[], bytes: number): Promise<void> {
    const buf = Buffer.allocUnsafe(bytes);
    assert(encodeRecords(chunk, buf, 0) === bytes, "encoded size differs from the planned size");
    const fh = await this.#activeHandle();
    // Into the page cache on this thread: copying a batch's records there takes microseconds, less than a round
    // trip through libuv's thread pool and the two wakeups it costs. Durability is the fdatasync's job (sync()),
    // which stays off the event loop; nothing is acknowledged before it.
    for (let done = 0; done < bytes; ) {
      const written = writeSync(fh.fd, buf, done, bytes - done, seg.bytes + done);
      assert(written > 0, "a write to a WAL segment wrote nothing");
      done += written;
    }
    this.#activeDirty = true;
    let offset = seg.bytes;
    for (const e of chunk) {
      // A view into a larger buffer (a network frame) would pin all of it in the cache: keep a copy instead.
      const data = e.data.byteLength === e.data.buffer.byteLength ? e.data : e.data.slice();
      this.#index.push(e.index, e.term, e.kind, offset, data);
      offset += recordBytes(e);
    }
    seg.bytes = offset;
  }

  /** Seals the current segment (durably, see the file comment) and starts one whose first entry is `firstIndex`. */
  async #rotate(firstIndex: number): Promise<void> {
    await this.#syncNow();
    await this.#active?.close();
    this.#active = null;
    const path = join(this.dir, segmentFileName(firstIndex));
    this.#active = await open(path, "wx", 0o600);
    this.#segments.push({ firstIndex, path, bytes: 0 });
    this.#dirDirty = true;
  }
}

async function readRange(path: string, position: number, length: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await fh.read(buf, done, length - done, position + done);
      assert(bytesRead > 0, `"${path}" ends before offset ${position + length}`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}
