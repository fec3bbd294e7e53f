/**
 * Watches for blocking queries: a plain registry of one-shot callbacks, woken by the apply of a write that
 * touches the watched key or prefix, and all at once by a restore. The server wires timers and the re-run of
 * the query; a wake is a hint to re-read ("not a guarantee of change", as Consul's docs say), never a result.
 *
 * Cost: a write to key k looks up k itself and, among the prefixes of k, only those whose length some watched
 * prefix has: at most length(k) + 1 map probes, however many watches are registered, so a write costs what
 * its own watchers cost and not what everybody's do. A delete-tree of p walks the watched keys and prefixes
 * under p in key order (a range of an ordered map) and probes the prefixes of p as a write does. A restore
 * wakes everybody.
 *
 * Ownership: callbacks run synchronously inside apply/restore after the state has changed, so they may read
 * the store but must not write to it; they should only schedule work. A callback that throws does not stop
 * the others: the first error is rethrown once all have run.
 */
import { OrderedMap } from "./btree.js";
import { WatchLimitError } from "./errors.js";

/** "key": one exact key (a GET without recurse). "prefix": every key starting with it (recurse/keys). */
export type WatchKind = "key" | "prefix";

/** Default bound on registered watches, so a flood of blocking queries cannot grow memory without limit. */
export const WATCHES_MAX_DEFAULT = 1 << 20;

/**
 * What a watch wakes: a function, or an object whose woken() is called. A blocking query passes itself, so
 * thousands of them asleep hold no closure (and no context) each just to be called back.
 */
export type Wake = (() => void) | { woken(): void };

/** A registered watch; cancel() unregisters it (idempotent, harmless after the wake). */
export interface Watch {
  cancel(): void;
}

/**
 * One registered watch, and its own handle: a class rather than a record plus a cancel closure, which with
 * thousands of blocked queries was a closure and a context apiece.
 */
class Watcher implements Watch {
  constructor(
    readonly target: string,
    readonly kind: WatchKind,
    readonly wake: Wake,
    private readonly registry: WatchRegistry,
  ) {}

  cancel(): void {
    this.registry.take(this);
  }

  fire(): void {
    if (typeof this.wake === "function") this.wake();
    else this.wake.woken();
  }
}

/**
 * The watchers of one target: most targets have one (a blocking query per key), held as itself rather than in
 * a set of its own, which with thousands of blocked queries is most of the registry's memory.
 */
type Watchers = Watcher | Set<Watcher>;

export class WatchRegistry {
  /** Use: wakes for writes to exactly this key. Invariant: a set holds two watchers or more. */
  private readonly keys = new Map<string, Watchers>();
  /** Use: wakes for writes to any key under this prefix. Invariant: a set holds two watchers or more. */
  private readonly prefixes = new Map<string, Watchers>();
  /** The targets of `keys` and of `prefixes` in key order, for a delete-tree's range. */
  private readonly keyOrder = new OrderedMap<true>();
  private readonly prefixOrder = new OrderedMap<true>();
  /** Use: how many keys of `prefixes` have each length, so keyChanged probes only lengths in use. */
  private readonly prefixLengths = new Map<number, number>();
  /** prefixLengths' keys in ascending order; null when it changed since it was last sorted. */
  private lengthsSorted: number[] | null = [];
  private count = 0;

  constructor(private readonly watchesMax = WATCHES_MAX_DEFAULT) {}

  get size(): number {
    return this.count;
  }

  /** Registers a one-shot wake; returns its handle. */
  watch(target: string, kind: WatchKind, wake: Wake): Watch {
    if (this.count >= this.watchesMax) {
      throw new WatchLimitError(`register a watch: ${this.watchesMax} watches are already registered`);
    }
    const w = new Watcher(target, kind, wake, this);
    const map = kind === "key" ? this.keys : this.prefixes;
    const there = map.get(target);
    if (there === undefined) {
      map.set(target, w);
      if (kind === "prefix") {
        this.prefixOrder.set(target, true);
        this.lengthUsed(target.length, 1);
      } else this.keyOrder.set(target, true);
    } else if (there instanceof Set) there.add(w);
    else map.set(target, new Set([there, w]));
    this.count += 1;
    return w;
  }

  /** Wakes the watchers of `key` and of every prefix of it (a set, cas, acquire, release or delete). */
  keyChanged(key: string): void {
    const fired: Watcher[] = [];
    this.collect(this.keys.get(key), fired);
    this.collectPrefixesOf(key, key.length, fired);
    this.fire(fired);
  }

  /** Wakes the watchers of every key under `prefix` and of every prefix that overlaps it (a delete-tree). */
  treeChanged(prefix: string): void {
    const fired: Watcher[] = [];
    // Collected before any is taken: the ordered maps must not change while they are walked.
    for (const [k] of this.keyOrder.prefix(prefix)) this.collect(this.keys.get(k), fired);
    for (const [p] of this.prefixOrder.prefix(prefix)) this.collect(this.prefixes.get(p), fired);
    this.collectPrefixesOf(prefix, prefix.length - 1, fired);
    this.fire(fired);
  }

  /** The watchers of the watched prefixes of `key` no longer than `lengthMax`. */
  private collectPrefixesOf(key: string, lengthMax: number, out: Watcher[]): void {
    if (this.prefixes.size === 0) return;
    this.lengthsSorted ??= [...this.prefixLengths.keys()].sort((a, b) => a - b);
    for (const n of this.lengthsSorted) {
      if (n > lengthMax) break;
      this.collect(this.prefixes.get(n === key.length ? key : key.slice(0, n)), out);
    }
  }

  /** Wakes everybody (a restore replaced the state). */
  all(): void {
    const fired: Watcher[] = [];
    for (const set of this.keys.values()) this.collect(set, fired);
    for (const set of this.prefixes.values()) this.collect(set, fired);
    this.fire(fired);
  }

  private collect(there: Watchers | undefined, out: Watcher[]): void {
    if (there instanceof Set) for (const w of there) out.push(w);
    else if (there !== undefined) out.push(there);
  }

  private lengthUsed(n: number, delta: 1 | -1): void {
    const left = (this.prefixLengths.get(n) ?? 0) + delta;
    if (left === 0) this.prefixLengths.delete(n);
    else this.prefixLengths.set(n, left);
    // Only a length that appears or disappears changes the sorted list.
    if (left === 0 || (delta === 1 && left === 1)) this.lengthsSorted = null;
  }

  /** Unregisters `w`; false when it was not registered (already woken or cancelled). For Watcher.cancel. */
  take(w: Watcher): boolean {
    const map = w.kind === "key" ? this.keys : this.prefixes;
    const there = map.get(w.target);
    if (there === w) {
      map.delete(w.target);
      if (w.kind === "prefix") {
        this.prefixOrder.delete(w.target);
        this.lengthUsed(w.target.length, -1);
      } else this.keyOrder.delete(w.target);
    } else if (!(there instanceof Set && there.delete(w))) return false;
    else if (there.size === 1) map.set(w.target, there.values().next().value as Watcher);
    this.count -= 1;
    return true;
  }

  private fire(fired: readonly Watcher[]): void {
    // Unregister all first, so a callback that registers a new watch does not get woken by this same write.
    const due = fired.filter((w) => this.take(w));
    let first: { error: unknown } | null = null;
    for (const w of due) {
      try {
        w.fire();
      } catch (error) {
        first ??= { error };
      }
    }
    if (first !== null) throw first.error;
  }
}
