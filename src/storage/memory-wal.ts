/**
 * MemoryWal: the in-memory twin of the disk WAL (hashicorp/raft's InmemStore). The reference model in property
 * tests, and the log of any test that does not care about files. "Durable" means for the life of the object.
 */
import type { Entry } from "../raft/types.js";
import { assert } from "../util/assert.js";
import {
  checkAppend,
  checkRangeRead,
  checkTermRead,
  countWithin,
  ENTRY_BYTES_MAX_DEFAULT,
  type LogBoundary,
  type LogStore,
} from "./log-store.js";

export interface MemoryWalOptions {
  readonly entryBytesMax?: number;
}

export class MemoryWal implements LogStore {
  readonly entryBytesMax: number;
  #boundary: LogBoundary = { index: 0, term: 0 };
  /** Invariant: #log[k].index === #boundary.index + 1 + k. */
  #log: Entry[] = [];
  #closed = false;

  constructor(opts: MemoryWalOptions = {}) {
    this.entryBytesMax = opts.entryBytesMax ?? ENTRY_BYTES_MAX_DEFAULT;
  }

  firstIndex(): number {
    return this.#boundary.index + 1;
  }

  lastIndex(): number {
    return this.#boundary.index + this.#log.length;
  }

  boundary(): LogBoundary {
    return this.#boundary;
  }

  term(index: number): number {
    this.#checkOpen();
    checkTermRead(this, index);
    if (index === this.#boundary.index) return this.#boundary.term;
    return this.#log[index - this.firstIndex()]!.term;
  }

  async entries(lo: number, hi: number, bytesMax?: number): Promise<Entry[]> {
    this.#checkOpen();
    checkRangeRead(this, lo, hi);
    const start = lo - this.firstIndex();
    const n = countWithin(hi - lo, (k) => this.#log[start + k]!.data.length, bytesMax);
    return this.#log.slice(start, start + n);
  }

  async append(entries: readonly Entry[]): Promise<void> {
    this.#checkOpen();
    checkAppend(this, entries, this.entryBytesMax);
    const first = entries[0];
    if (first === undefined) return;
    this.#log.length = first.index - this.firstIndex();
    for (const e of entries) this.#log.push({ index: e.index, term: e.term, kind: e.kind, data: e.data });
  }

  async sync(): Promise<void> {
    this.#checkOpen();
  }

  async compact(index: number): Promise<void> {
    this.#checkOpen();
    if (index <= this.#boundary.index) return;
    assert(index <= this.lastIndex(), `cannot compact to ${index}: log ends at ${this.lastIndex()}`);
    const term = this.term(index);
    this.#log = this.#log.slice(index - this.#boundary.index);
    this.#boundary = { index, term };
  }

  async resetToSnapshot(index: number, term: number): Promise<void> {
    this.#checkOpen();
    assert(index > this.#boundary.index, `cannot reset to ${index}: boundary is ${this.#boundary.index}`);
    assert(term >= this.#boundary.term, `cannot reset to term ${term} below ${this.#boundary.term}`);
    this.#log = [];
    this.#boundary = { index, term };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #checkOpen(): void {
    assert(!this.#closed, "MemoryWal used after close");
  }
}
