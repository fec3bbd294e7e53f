import { assert } from "../util/assert.js";
import { CompactedError, UnavailableError } from "../util/errors.js";
import { encodeConfChange } from "./confchange.js";
import {
  type ConfChange,
  type ConfState,
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  NONE,
  type SnapshotMeta,
} from "./types.js";

/**
 * The read side of stable storage, as the core sees it (etcd-io/raft's Storage). The driver owns writing: it
 * persists what a Ready hands out, then mirrors it here before calling advance().
 * Contract: every method is synchronous and reflects only durable state.
 */
export interface Storage {
  initialState(): { readonly hardState: HardState; readonly conf: ConfState };
  /** Entries in [lo, hi), at least one if any, at most `bytesMax` bytes after the first. Throws CompactedError
   * when lo is behind the first index, UnavailableError when hi is past lastIndex + 1. */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /** The term of entry i, for i in [firstIndex - 1, lastIndex]; throws CompactedError/UnavailableError. */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The newest snapshot's metadata (index 0 when there is none). */
  snapshot(): SnapshotMeta;
}

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };
export const EMPTY_SNAPSHOT: SnapshotMeta = { index: 0, term: 0, conf: EMPTY_CONF, handle: "" };

export function entryBytes(e: Entry): number {
  // A fixed overhead per entry so that empty entries still count toward message limits.
  return e.data.length + 24;
}

/** Keeps a prefix of `ents` whose total size stays within bytesMax, but always at least one entry. */
export function limitBytes(ents: Entry[], bytesMax: number): Entry[] {
  let size = 0;
  for (let i = 0; i < ents.length; i++) {
    size += entryBytes(ents[i]!);
    if (i > 0 && size > bytesMax) return ents.slice(0, i);
  }
  return ents;
}

/**
 * An in-memory Storage: the sim's disk image and the server's cache of the durable log.
 * Invariant: ents[0] is a dummy entry holding the snapshot's index and term; ents are contiguous.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: SnapshotMeta = EMPTY_SNAPSHOT;
  private ents: Entry[] = [{ term: 0, index: 0, kind: "normal", data: new Uint8Array() }];

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hardState, conf: this.snap.conf };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): number {
    const offset = this.offset();
    if (i < offset) throw new CompactedError(`term of index ${i} is compacted (first index ${offset + 1})`);
    if (i > this.lastIndex()) throw new UnavailableError(`term of index ${i} is past the last index`);
    return this.ents[i - offset]!.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset)
      throw new CompactedError(`entries from ${lo} are compacted (first index ${offset + 1})`);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(`entries up to ${hi} are past the last index`);
    return limitBytes(this.ents.slice(lo - offset, hi - offset), bytesMax);
  }

  snapshot(): SnapshotMeta {
    return this.snap;
  }

  /**
   * Writes the first membership of a brand-new cluster as committed conf entries at indexes 1..n, term 1 (as
   * etcd's Bootstrap and hashicorp's BootstrapCluster do). Being in the log, the membership reaches servers that
   * join later with the rest of the log. The driver applies them like any committed conf entry.
   */
  bootstrap(conf: ConfState): void {
    assert(this.snap.index === 0 && this.lastIndex() === 0, "bootstrap needs an empty storage");
    const changes: ConfChange[] = [
      ...conf.voters.map((node): ConfChange => ({ type: "addVoter", node })),
      ...conf.learners.map((node): ConfChange => ({ type: "addLearner", node })),
    ];
    this.append(
      changes.map((cc, i): Entry => ({ term: 1, index: i + 1, kind: "conf", data: encodeConfChange(cc) })),
    );
    this.hardState = { term: 1, vote: NONE, commit: changes.length };
  }

  /** Installs a snapshot received from a leader: the whole log is replaced. */
  applySnapshot(snap: SnapshotMeta): void {
    if (snap.index <= this.snap.index) return;
    this.snap = snap;
    this.ents = [{ term: snap.term, index: snap.index, kind: "normal", data: new Uint8Array() }];
  }

  /**
   * Records a snapshot of the state machine taken at `index` (<= applied) and compacts the log behind it,
   * keeping `keepEntries` entries before it so slightly lagging followers still catch up by appends.
   */
  createSnapshot(index: number, conf: ConfState, handle: string, keepEntries = 0): SnapshotMeta {
    assert(index > this.snap.index, `snapshot index ${index} must pass the previous one ${this.snap.index}`);
    assert(index <= this.lastIndex(), `snapshot index ${index} is past the last index ${this.lastIndex()}`);
    this.snap = { index, term: this.term(index), conf, handle };
    this.compact(Math.max(this.offset(), index - keepEntries));
    return this.snap;
  }

  /** Drops entries before `index` (the entry at `index` becomes the dummy). */
  compact(index: number): void {
    const offset = this.offset();
    if (index <= offset) return;
    assert(index <= this.lastIndex(), `compact ${index} is past the last index ${this.lastIndex()}`);
    const dummy = this.ents[index - offset]!;
    const head: Entry = { term: dummy.term, index: dummy.index, kind: "normal", data: new Uint8Array() };
    this.ents = [head, ...this.ents.slice(index - offset + 1)];
  }

  /** Appends entries, replacing any conflicting suffix. Entries before the first index are ignored. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return;
    const fresh = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const start = fresh[0]!.index;
    if (start > this.lastIndex() + 1)
      assert(false, `append at ${start} leaves a gap after ${this.lastIndex()}`);
    // In place: copying the whole in-memory log on every append made appends O(log length).
    this.ents.length = start - this.offset();
    for (const e of fresh) this.ents.push(e);
  }
}
