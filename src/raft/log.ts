// Hot-path asserts are written `if (!(cond)) assert(false, msg)` so their messages are built only on failure.
import { assert } from "../util/assert.js";
import { CompactedError } from "../util/errors.js";
import { limitBytes, type Storage } from "./storage.js";
import type { Entry, SnapshotMeta } from "./types.js";

/**
 * Entries not yet durable: a suffix of the log that the next Ready hands to the driver, and possibly a snapshot
 * received from the leader. Invariant: if snapshot is set, offset === snapshot.index + 1.
 */
class Unstable {
  snapshot: SnapshotMeta | null = null;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  lastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.index;
  }

  term(i: number): number | undefined {
    if (i < this.offset) {
      if (this.snapshot !== null && this.snapshot.index === i) return this.snapshot.term;
      return undefined;
    }
    return this.entries[i - this.offset]?.term;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0]!.index;
    if (first === this.offset + this.entries.length) {
      this.entries.push(...ents);
    } else if (first <= this.offset) {
      // Replaces the whole unstable suffix (and part of stable storage, which the driver overwrites).
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(ents);
    }
  }

  /** Marks entries up to (i, t) durable. The term check guards against a suffix replaced meanwhile. */
  stableTo(i: number, t: number): void {
    const term = this.term(i);
    if (term === undefined || term !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.index === i) this.snapshot = null;
  }

  restore(snap: SnapshotMeta): void {
    this.offset = snap.index + 1;
    this.entries = [];
    this.snapshot = snap;
  }
}

/**
 * The log as the core sees it: durable storage followed by the unstable suffix.
 * Invariant: applied <= committed <= lastIndex().
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  committed: number;
  applied: number;
  private readonly committedBytesMax: number;

  /** Test-only broken variant (Bugs.truncateWithoutConflict). */
  truncateWithoutConflict = false;

  constructor(storage: Storage, committedBytesMax: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex();
    this.committed = first - 1;
    this.applied = first - 1;
    this.committedBytesMax = committedBytesMax;
  }

  firstIndex(): number {
    const snap = this.unstable.snapshot;
    return snap !== null ? snap.index + 1 : this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.lastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, "the last entry's term must be known");
    return t;
  }

  /** The term of entry i, or undefined when i is compacted or past the end. */
  term(i: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.term(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (e instanceof CompactedError) return undefined;
      throw e;
    }
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** Log up-to-date check (Raft §5.4.1): compare last terms, then last indexes. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries. Returns the index of the last new entry, or undefined when the log does
   * not contain (prevIndex, prevTerm). Truncates only on a real conflict (a duplicate append changes nothing).
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    ents: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    if (this.truncateWithoutConflict && ents.length > 0) {
      this.unstable.truncateAndAppend(ents);
      this.commitTo(Math.min(commit, lastNew));
      return lastNew;
    }
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      if (!(conflict > this.committed))
        assert(false, `entry ${conflict} conflicts with committed entry ${this.committed}`);
      this.append(ents.slice(conflict - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** The index of the first entry whose term differs from ours (or which we lack); 0 if all match. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Fast back-off: the largest index <= `index` whose term is <= `term`, so a leader can skip a whole term of
   * mismatching entries per round trip instead of one entry.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i >= 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assert(
      ents[0]!.index - 1 >= this.committed,
      `append at ${ents[0]!.index} would overwrite committed entries`,
    );
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries in [lo, hi) limited to bytesMax (at least one). Throws CompactedError when lo is compacted. */
  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) throw new CompactedError(`entries from ${lo} are compacted`);
    if (!(hi <= this.lastIndex() + 1))
      assert(false, `slice [${lo}, ${hi}) is past the last index ${this.lastIndex()}`);
    const uOff = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < uOff) ents = this.storage.entries(lo, Math.min(hi, uOff), bytesMax);
    if (hi > uOff && (ents.length === 0 || ents[ents.length - 1]!.index === Math.min(hi, uOff) - 1)) {
      const from = Math.max(lo, uOff);
      ents = ents.concat(this.unstable.entries.slice(from - uOff, hi - uOff));
    }
    return limitBytes(ents, bytesMax);
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (!(i <= this.lastIndex())) assert(false, `commit ${i} is past the last index ${this.lastIndex()}`);
    this.committed = i;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (!(i <= this.committed)) assert(false, `applied ${i} is past committed ${this.committed}`);
    if (!(i >= this.applied)) assert(false, `applied ${i} goes back from ${this.applied}`);
    this.applied = i;
  }

  hasNextCommitted(): boolean {
    return this.committed > this.applied && this.applied + 1 >= this.firstIndex();
  }

  nextCommitted(): Entry[] {
    if (!this.hasNextCommitted()) return [];
    return this.slice(this.applied + 1, this.committed + 1, this.committedBytesMax);
  }

  /** Installs a snapshot from the leader: the whole log is replaced and everything up to it is committed. */
  restore(snap: SnapshotMeta): void {
    this.committed = snap.index;
    this.unstable.restore(snap);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }
}
