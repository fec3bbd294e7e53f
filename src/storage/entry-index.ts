/**
 * The disk WAL's in-memory index: for every entry on disk, its term, kind, segment offset and data length, so that
 * term() and range planning never touch a file; plus the data of the newest entries up to `cacheBytesMax`, because
 * raft reads mostly the tail (replicating to followers that are nearly caught up). Older data is read from disk.
 *
 * Memory: about 40 bytes per indexed entry plus the cache; compaction is what bounds the entry count.
 */
import type { EntryKind } from "../raft/types.js";
import { assert } from "../util/assert.js";

export class EntryIndex {
  readonly cacheBytesMax: number;
  /** The index of slot 0. Invariant: slot k describes entry base + k. */
  #base: number;
  #terms: number[] = [];
  #kinds: EntryKind[] = [];
  /** Byte offset of the entry's record header in its segment file. */
  #offsets: number[] = [];
  /** Data length in bytes. */
  #lens: number[] = [];
  /** Invariant: #data[k] is defined exactly for entries >= #cacheLo. */
  #data: (Uint8Array | undefined)[] = [];
  #cacheLo: number;
  /** Invariant: the sum of the cached data lengths; <= cacheBytesMax after every push. */
  #cacheBytes = 0;

  constructor(base: number, cacheBytesMax: number) {
    assert(Number.isSafeInteger(base) && base >= 1, `entry index base must be >= 1, got ${base}`);
    assert(cacheBytesMax >= 0, `cacheBytesMax must be >= 0, got ${cacheBytesMax}`);
    this.#base = base;
    this.#cacheLo = base;
    this.cacheBytesMax = cacheBytesMax;
  }

  /** The first indexed entry. */
  get base(): number {
    return this.#base;
  }

  /** One past the last indexed entry: the range is [base, end). */
  get end(): number {
    return this.#base + this.#terms.length;
  }

  /** Entries in [cacheLo, end) have their data in memory. */
  get cacheLo(): number {
    return this.#cacheLo;
  }

  get cacheBytes(): number {
    return this.#cacheBytes;
  }

  /** Adds entry `index` (=== end), caching its data and evicting the oldest cached data past the bound. */
  push(index: number, term: number, kind: EntryKind, offset: number, data: Uint8Array): void {
    assert(index === this.end, `entry index push out of order: ${index}, expected ${this.end}`);
    this.#terms.push(term);
    this.#kinds.push(kind);
    this.#offsets.push(offset);
    this.#lens.push(data.length);
    this.#data.push(data);
    this.#cacheBytes += data.length;
    while (this.#cacheBytes > this.cacheBytesMax && this.#cacheLo < this.end) {
      const k = this.#cacheLo - this.#base;
      this.#cacheBytes -= this.#lens[k]!;
      this.#data[k] = undefined;
      this.#cacheLo++;
    }
  }

  /** Drops entries [index, end). */
  truncateFrom(index: number): void {
    assert(
      index >= this.#base && index <= this.end,
      `cannot truncate index at ${index}: [${this.#base}, ${this.end})`,
    );
    for (let i = Math.max(index, this.#cacheLo); i < this.end; i++)
      this.#cacheBytes -= this.#lens[i - this.#base]!;
    const keep = index - this.#base;
    this.#terms.length = keep;
    this.#kinds.length = keep;
    this.#offsets.length = keep;
    this.#lens.length = keep;
    this.#data.length = keep;
    this.#cacheLo = Math.min(this.#cacheLo, index);
  }

  /** Drops entries [base, index); base becomes index (which may be past end when all is dropped). */
  dropBefore(index: number): void {
    assert(index >= this.#base, `cannot drop index before ${index}: base is ${this.#base}`);
    if (index >= this.end) {
      this.#terms = [];
      this.#kinds = [];
      this.#offsets = [];
      this.#lens = [];
      this.#data = [];
      this.#cacheBytes = 0;
      this.#base = index;
      this.#cacheLo = index;
      return;
    }
    const n = index - this.#base;
    for (let i = this.#cacheLo; i < index; i++) this.#cacheBytes -= this.#lens[i - this.#base]!;
    this.#terms.splice(0, n);
    this.#kinds.splice(0, n);
    this.#offsets.splice(0, n);
    this.#lens.splice(0, n);
    this.#data.splice(0, n);
    this.#base = index;
    this.#cacheLo = Math.max(this.#cacheLo, index);
  }

  #slot(index: number): number {
    assert(
      index >= this.#base && index < this.end,
      `entry ${index} not indexed: [${this.#base}, ${this.end})`,
    );
    return index - this.#base;
  }

  term(index: number): number {
    return this.#terms[this.#slot(index)]!;
  }

  kind(index: number): EntryKind {
    return this.#kinds[this.#slot(index)]!;
  }

  offset(index: number): number {
    return this.#offsets[this.#slot(index)]!;
  }

  dataBytes(index: number): number {
    return this.#lens[this.#slot(index)]!;
  }

  /** The cached data of `index`, or undefined when it must be read from disk. */
  cached(index: number): Uint8Array | undefined {
    return this.#data[this.#slot(index)];
  }
}
