/**
 * The search structures of the linearizability checker (linearizability.ts): the dancing-links event list, the
 * memo of linearized sets keyed by model state, and the dominance memo of failed search nodes. Plain typed
 * arrays and hashing; no knowledge of the KV model.
 */
import { assert } from "../util/index.js";
import type { KeyHistory } from "./linearizability.js";

export const NONE = -1;

export const HEAD = 0;
export const END = -1;

/**
 * Doubly linked list of the completed ops' call and return events in time order, as typed arrays (dancing
 * links: a lifted node keeps its own links, so unlifting in reverse order restores the list). Node 0 is a
 * head sentinel.
 */
export class EventList {
  readonly next: Int32Array;
  private readonly prev: Int32Array;
  readonly opOf: Int32Array;
  readonly isCall: Uint8Array;
  readonly callNode: Int32Array;
  private readonly returnNode: Int32Array;

  constructor(h: KeyHistory) {
    const completed = h.completedCount;
    const events = Array.from({ length: completed * 2 }, (_, i) => i);
    const rank = (e: number): number => (e & 1 ? h.retRank[e >> 1]! : h.callRank[e >> 1]!);
    events.sort((a, b) => rank(a) - rank(b));
    const nodes = events.length + 1;
    this.next = new Int32Array(nodes);
    this.prev = new Int32Array(nodes);
    this.opOf = new Int32Array(nodes);
    this.isCall = new Uint8Array(nodes);
    this.callNode = new Int32Array(completed);
    this.returnNode = new Int32Array(completed);
    events.forEach((e, i) => {
      const node = i + 1;
      this.opOf[node] = e >> 1;
      this.isCall[node] = e & 1 ? 0 : 1;
      if (e & 1) this.returnNode[e >> 1] = node;
      else this.callNode[e >> 1] = node;
    });
    for (let node = 0; node < nodes; node++) {
      this.prev[node] = node - 1;
      this.next[node] = node + 1 < nodes ? node + 1 : END;
    }
  }

  first(): number {
    return this.next[HEAD]!;
  }

  /** Removes op's call and return. Invariant: the call precedes the return, so the call's next is not END. */
  lift(op: number): void {
    const call = this.callNode[op]!;
    const ret = this.returnNode[op]!;
    this.next[this.prev[call]!] = this.next[call]!;
    this.prev[this.next[call]!] = this.prev[call]!;
    const afterRet = this.next[ret]!;
    this.next[this.prev[ret]!] = afterRet;
    if (afterRet !== END) this.prev[afterRet] = this.prev[ret]!;
  }

  /** Undoes the latest lift(op); lifts must be undone in reverse order for the kept links to be valid. */
  unlift(op: number): void {
    const call = this.callNode[op]!;
    const ret = this.returnNode[op]!;
    const afterRet = this.next[ret]!;
    this.next[this.prev[ret]!] = ret;
    if (afterRet !== END) this.prev[afterRet] = ret;
    this.next[this.prev[call]!] = call;
    this.prev[this.next[call]!] = call;
  }
}

/**
 * Several circular doubly linked lists over items [0, items), as typed arrays (dancing links, as EventList);
 * each item is in at most one list. Node `items + l` is the head of list l.
 */
export class DancingLists {
  private readonly items: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;

  constructor(items: number, lists: number) {
    this.items = items;
    this.next = new Int32Array(items + lists);
    this.prev = new Int32Array(items + lists);
    for (let head = items; head < items + lists; head++) {
      this.next[head] = head;
      this.prev[head] = head;
    }
  }

  append(list: number, item: number): void {
    const head = this.items + list;
    const last = this.prev[head]!;
    this.next[last] = item;
    this.prev[item] = last;
    this.next[item] = head;
    this.prev[head] = item;
  }

  /** The list's first item, or NONE when it is empty. */
  first(list: number): number {
    return this.itemAt(this.next[this.items + list]!);
  }

  /** The item after `item` in its list, or NONE at the end. */
  after(item: number): number {
    return this.itemAt(this.next[item]!);
  }

  lift(item: number): void {
    this.next[this.prev[item]!] = this.next[item]!;
    this.prev[this.next[item]!] = this.prev[item]!;
  }

  unlift(item: number): void {
    this.next[this.prev[item]!] = item;
    this.prev[this.next[item]!] = item;
  }

  private itemAt(node: number): number {
    return node < this.items ? node : NONE;
  }
}

// ---- memoization ---------------------------------------------------------------------------------------

/**
 * The set of linearized ops at a search node, kept in a form that makes memo entries small and cheap: the
 * frontier (every completed op below it is in the set, the frontier is not), the ops in the set at or above
 * it (few: completed ops concurrent with the frontier, and indeterminate ops used), a bitset for membership,
 * and Zobrist hashes of its completed and of its indeterminate ops, updated in O(1) (see FailedNodes).
 * Use: add and remove in LIFO order, as the search does; the frontier moves over the extras between.
 */
export class LinearizedSet {
  private readonly completedCount: number;
  private readonly words: Uint32Array;
  completedHash = 0;
  unknownHash = 0;
  frontier = 0;
  completedInSet = 0;
  /** The ops in the set at or above the frontier, unordered; extraAt[op] is an op's position, or NONE. */
  private readonly extraList: Int32Array;
  private readonly extraAt: Int32Array;
  extraCount = 0;

  constructor(completedCount: number, size: number) {
    this.completedCount = completedCount;
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
    this.extraList = new Int32Array(size);
    this.extraAt = new Int32Array(size).fill(NONE);
  }

  has(op: number): boolean {
    return (this.words[op >>> 5]! & (1 << (op & 31))) !== 0;
  }

  extras(): Int32Array {
    return this.extraList.subarray(0, this.extraCount);
  }

  add(op: number): void {
    assert(!this.has(op), "add an op that is not in the set");
    this.flip(op);
    if (op !== this.frontier || op >= this.completedCount) {
      this.pushExtra(op);
      return;
    }
    let f = op + 1;
    for (; f < this.completedCount && this.has(f); f++) this.dropExtra(f);
    this.frontier = f;
  }

  remove(op: number): void {
    assert(this.has(op), "remove an op that is in the set");
    this.flip(op);
    if (op >= this.frontier) {
      this.dropExtra(op);
      return;
    }
    for (let f = op + 1; f < this.frontier; f++) this.pushExtra(f);
    this.frontier = op;
  }

  private flip(op: number): void {
    this.words[op >>> 5] = this.words[op >>> 5]! ^ (1 << (op & 31));
    if (op >= this.completedCount) {
      this.unknownHash = (this.unknownHash ^ mix32(op + 0x9e3779b9)) >>> 0;
      return;
    }
    this.completedHash = (this.completedHash ^ mix32(op + 0x9e3779b9)) >>> 0;
    this.completedInSet += this.has(op) ? 1 : -1;
  }

  private pushExtra(op: number): void {
    this.extraAt[op] = this.extraCount;
    this.extraList[this.extraCount++] = op;
  }

  /** Swap-removes: the list is unordered. */
  private dropExtra(op: number): void {
    const at = this.extraAt[op]!;
    const last = this.extraList[--this.extraCount]!;
    this.extraList[at] = last;
    this.extraAt[last] = at;
    this.extraAt[op] = NONE;
  }
}

/**
 * Search nodes proven to have no completion, with Lowe's memoization widened to dominance. A node is (set of
 * linearized ops, state, afterUnknown). Node A covers node B when they have the same completed ops and state,
 * A used a subset of B's indeterminate ops, and A is no more restricted (A.afterUnknown implies
 * B.afterUnknown). Every completion of B then maps to one of A: B's extra indeterminate ops only remove
 * moves, and where the twin rule lets B use a twin that A may not use yet, A can use an earlier-called one.
 * Only finished nodes are recorded, so by induction on finishing order no entry has a completion; ancestors
 * still being explored need no entry, as Lowe's exact match could never hit them (a descendant's set is
 * larger).
 * Each entry is on two hash chains: by its whole set (Lowe's exact match, O(1)) and by its completed ops only
 * (dominance). A miss on the second must scan the whole chain, which grows with the indeterminate subsets
 * tried, so only the newest DOMINANCE_SCAN_MAX entries are scanned: pruning less is always sound.
 * An entry stores the frontier and the extras (LinearizedSet), not a bitset of every op, so its size follows
 * the concurrency, not the history's length.
 * Use: at most one entry per search step, so the size is bounded by stepsMax. Entries live in one flat
 * Int32Array, to avoid an object per entry.
 */
export class FailedNodes {
  private readonly completedCount: number;
  /** Entry layout: header fields at these offsets, then the extras. */
  private static readonly FRONTIER = 0;
  /** state * 2 + (afterUnknown ? 1 : 0). */
  private static readonly NODE_STATE = 1;
  /** The next entry with the same exact bucket, and with the same completed-ops bucket. */
  private static readonly EXACT_CHAIN = 2;
  private static readonly COMPLETED_CHAIN = 3;
  private static readonly COMPLETED_EXTRAS = 4;
  private static readonly EXTRAS = 5;
  private static readonly HEADER = 6;
  /** Measured: a larger scan prunes few more nodes than 4 and costs more per node than it saves. */
  private static readonly DOMINANCE_SCAN_MAX = 4;
  private arena = new Int32Array(4096);
  private used = 0;
  private readonly exactBuckets = new Map<number, number>();
  private readonly completedBuckets = new Map<number, number>();

  constructor(completedCount: number) {
    this.completedCount = completedCount;
  }

  covers(set: LinearizedSet, state: number, afterUnknown: boolean): boolean {
    const { arena } = this;
    const exact = this.exactBuckets.get(exactBucket(set, state)) ?? END;
    for (let e = exact; e !== END; e = arena[e + FailedNodes.EXACT_CHAIN]!) {
      if (arena[e + FailedNodes.EXTRAS] === set.extraCount && this.matches(e, set, state, afterUnknown)) {
        return true;
      }
    }
    let e = this.completedBuckets.get(completedBucket(set, state)) ?? END;
    for (let scanned = 0; e !== END && scanned < FailedNodes.DOMINANCE_SCAN_MAX; scanned++) {
      if (this.matches(e, set, state, afterUnknown)) return true;
      e = arena[e + FailedNodes.COMPLETED_CHAIN]!;
    }
    return false;
  }

  add(set: LinearizedSet, state: number, afterUnknown: boolean): void {
    const extras = set.extras();
    const size = FailedNodes.HEADER + extras.length;
    if (this.used + size > this.arena.length) this.grow(size);
    const { arena } = this;
    const e = this.used;
    let completedExtras = 0;
    for (const op of extras) if (op < this.completedCount) completedExtras++;
    const exact = exactBucket(set, state);
    const completed = completedBucket(set, state);
    arena[e + FailedNodes.FRONTIER] = set.frontier;
    arena[e + FailedNodes.NODE_STATE] = state * 2 + (afterUnknown ? 1 : 0);
    arena[e + FailedNodes.EXACT_CHAIN] = this.exactBuckets.get(exact) ?? END;
    arena[e + FailedNodes.COMPLETED_CHAIN] = this.completedBuckets.get(completed) ?? END;
    arena[e + FailedNodes.COMPLETED_EXTRAS] = completedExtras;
    arena[e + FailedNodes.EXTRAS] = extras.length;
    arena.set(extras, e + FailedNodes.HEADER);
    this.exactBuckets.set(exact, e);
    this.completedBuckets.set(completed, e);
    this.used += size;
  }

  /**
   * Whether entry e covers the node. With equal frontiers and equal completed-extra counts, every stored
   * extra being in `set` makes the completed ops equal and the stored indeterminate ops a subset.
   */
  private matches(e: number, set: LinearizedSet, state: number, afterUnknown: boolean): boolean {
    const { arena } = this;
    const stored = arena[e + FailedNodes.NODE_STATE]!;
    // Same state, and the stored node not restricted unless this one is.
    if (stored >> 1 !== state || (stored & 1) > (afterUnknown ? 1 : 0)) return false;
    if (arena[e + FailedNodes.FRONTIER] !== set.frontier) return false;
    if (arena[e + FailedNodes.COMPLETED_EXTRAS] !== set.completedInSet - set.frontier) return false;
    const start = e + FailedNodes.HEADER;
    const end = start + arena[e + FailedNodes.EXTRAS]!;
    for (let i = start; i < end; i++) if (!set.has(arena[i]!)) return false;
    return true;
  }

  private grow(atLeast: number): void {
    const arena = new Int32Array(Math.max(this.arena.length * 2, this.used + atLeast));
    arena.set(this.arena.subarray(0, this.used));
    this.arena = arena;
  }
}

/** 30 bits keep a Map key a small integer (a V8 Smi); exact comparison resolves collisions. */
export function completedBucket(set: LinearizedSet, state: number): number {
  return mix32(set.completedHash ^ mix32(state + 0x7f4a7c15)) & 0x3fffffff;
}

export function exactBucket(set: LinearizedSet, state: number): number {
  return mix32(completedBucket(set, state) ^ set.unknownHash) & 0x3fffffff;
}

/** murmur3's fmix32 finalizer: a cheap, well-spread 32-bit mix. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
