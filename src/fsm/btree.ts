/**
 * A copy-on-write B+tree keyed by string: the ordered map under the KV store, with an O(1) `clone()` so a
 * snapshot can stream out while writes go on.
 *
 * Key order is Go's string order (byte-wise over UTF-8), which for well-formed strings is code-point order.
 * JavaScript's `<` compares UTF-16 code units instead, and the two disagree when one string has a character
 * above U+FFFF (a surrogate pair, units D800–DFFF) where the other has one in U+E000–U+FFFF. `compareKeys`
 * maps each code unit so that surrogates sort above E000–FFFF; since the map is per unit and monotone
 * elsewhere, the order stays lexicographic over units (prefix ranges are contiguous) and equals UTF-8 byte
 * order for every well-formed string. A lone surrogate has no UTF-8 form; it still sorts consistently.
 *
 * Sharing: every node records the `owner` token of the map that may mutate it in place. `clone()` hands both
 * maps fresh tokens, so neither may touch the shared nodes any more: each copies a node the first time it
 * writes through it (path copying, amortized over later writes). A clone therefore never sees a later write
 * to the original, nor the original one to the clone.
 *
 * Iterating a map while writing to that same map is not supported (use a clone); iterating a clone while
 * writing to the original is the intended use.
 */
import { assert } from "../util/index.js";

/** Entries per node at most by default; 32 keeps a 1 M-key tree 4 levels deep. */
const NODE_ENTRIES_MAX_DEFAULT = 32;

type Owner = object;

interface Leaf<V> {
  owner: Owner;
  readonly leaf: true;
  /** Invariant: strictly increasing under compareKeys; `vals[i]` belongs to `keys[i]`. */
  keys: string[];
  vals: V[];
}

interface Branch<V> {
  owner: Owner;
  readonly leaf: false;
  /** Invariant: `keys[i]` is the smallest key under `kids[i]`. */
  keys: string[];
  kids: Node<V>[];
}

type Node<V> = Leaf<V> | Branch<V>;

/** Maps a UTF-16 code unit so that unit order equals code-point order (see the file comment). */
function unitRank(c: number): number {
  if (c < 0xd800) return c;
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** Go's (byte-wise UTF-8) string order: negative, zero or positive. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return unitRank(x) - unitRank(y);
  }
  return a.length - b.length;
}

/** The first index i with keys[i] >= key (keys.length if none). */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid] as string, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The child of `b` whose range holds `key`: the last i with keys[i] <= key, or 0. */
function childIndex<V>(b: Branch<V>, key: string): number {
  const i = lowerBound(b.keys, key);
  if (i < b.keys.length && b.keys[i] === key) return i;
  return i === 0 ? 0 : i - 1;
}

function firstKey<V>(node: Node<V>): string {
  const k = node.keys[0];
  assert(k !== undefined, "read the first key of an empty tree node");
  return k;
}

export interface OrderedMapOptions {
  /** Entries per node at most (even, >= 4); a non-root node keeps at least half. Tests use small nodes. */
  readonly nodeEntriesMax?: number;
}

/**
 * Builds a map from entries given one at a time; see OrderedMap.loader. `add` has `set`'s meaning (a repeated
 * key keeps the last value), so the result equals a map built by `set` calls, whatever the input order.
 */
export interface OrderedMapLoader<V> {
  add(key: string, value: V): void;
  /** The map; the loader may not be used afterwards. */
  finish(): OrderedMap<V>;
  /** Whether every key so far came in increasing order (the bottom-up path); false once it fell back. */
  readonly sorted: boolean;
}

export class OrderedMap<V> {
  private root: Node<V> | null = null;
  private count = 0;
  private owner: Owner = {};
  private readonly max: number;
  private readonly min: number;

  constructor(options: OrderedMapOptions = {}) {
    this.max = options.nodeEntriesMax ?? NODE_ENTRIES_MAX_DEFAULT;
    assert(this.max >= 4 && this.max % 2 === 0, `use an even nodeEntriesMax >= 4, not ${this.max}`);
    this.min = this.max / 2;
  }

  /**
   * A loader for a new map. Keys in strictly increasing order (as a snapshot's records come) are packed
   * into full leaves and the inner levels are built once at the end: no search, split or copy per key, and
   * half the nodes an insert-built tree has. At the first key out of order the tree built so far is
   * installed and the rest go through `set`, so any input gives the same entries.
   */
  static loader<V>(options: OrderedMapOptions = {}): OrderedMapLoader<V> {
    const map = new OrderedMap<V>(options);
    const owner = map.owner;
    const max = map.max;
    const leaves: Leaf<V>[] = [];
    let leaf: Leaf<V> | null = null;
    let last: string | null = null;
    let sorted = true;
    let done = false;
    const install = (): void => {
      map.root = leaves.length === 0 ? null : buildLevels(leaves, owner, max);
      leaves.length = 0;
    };
    return {
      get sorted() {
        return sorted;
      },
      add(key, value) {
        assert(!done, "add to a finished tree loader");
        if (!sorted) {
          map.set(key, value);
          return;
        }
        if (last !== null && compareKeys(last, key) >= 0) {
          sorted = false;
          install();
          map.set(key, value);
          return;
        }
        assert(value !== undefined, `set key ${JSON.stringify(key)} to a defined value`);
        if (leaf === null || leaf.keys.length === max) {
          leaf = { owner, leaf: true, keys: [], vals: [] };
          leaves.push(leaf);
        }
        leaf.keys.push(key);
        leaf.vals.push(value);
        map.count += 1;
        last = key;
      },
      finish() {
        assert(!done, "finish a tree loader once");
        done = true;
        if (sorted) install();
        return map;
      },
    };
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    let node = this.root;
    while (node !== null) {
      if (node.leaf) {
        const i = lowerBound(node.keys, key);
        return node.keys[i] === key ? node.vals[i] : undefined;
      }
      node = node.kids[childIndex(node, key)] as Node<V>;
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** An O(1) copy: later writes to either map are invisible to the other. */
  clone(): OrderedMap<V> {
    const c = new OrderedMap<V>({ nodeEntriesMax: this.max });
    c.root = this.root;
    c.count = this.count;
    this.owner = {};
    return c;
  }

  /** Sets `key` to `value`; returns true when the key was new. Invariant: values are never undefined. */
  set(key: string, value: V): boolean {
    assert(value !== undefined, `set key ${JSON.stringify(key)} to a defined value`);
    if (this.root === null) {
      this.root = { owner: this.owner, leaf: true, keys: [key], vals: [value] };
      this.count = 1;
      return true;
    }
    const root = this.writable(this.root);
    const before = this.count;
    const split = this.insert(root, key, value);
    this.root = split === null ? root : this.branch([root, split]);
    return this.count > before;
  }

  /** Removes `key`; returns true when it was present. */
  delete(key: string): boolean {
    if (this.root === null || !this.has(key)) return false;
    const root = this.writable(this.root);
    this.remove(root, key);
    this.count -= 1;
    if (root.leaf) this.root = root.keys.length === 0 ? null : root;
    else this.root = root.kids.length === 1 ? (root.kids[0] as Node<V>) : root;
    return true;
  }

  /** Entries with key >= `from`, in key order. */
  *entriesFrom(from: string): Generator<[string, V]> {
    if (this.root !== null) yield* walkFrom(this.root, from);
  }

  *entries(): Generator<[string, V]> {
    yield* this.entriesFrom("");
  }

  /**
   * The values in key order, one leaf's array at a time: for a reader of every entry (a snapshot's encoder)
   * that would otherwise pay for an [key, value] pair per entry. The arrays are the tree's own: read them
   * before the next step, and never change them.
   */
  *valueRuns(): Generator<readonly V[]> {
    if (this.root !== null) yield* leafValues(this.root);
  }

  /** Entries whose key starts with `prefix` (code units), in key order; "" lists everything. */
  *prefix(prefix: string): Generator<[string, V]> {
    for (const e of this.entriesFrom(prefix)) {
      if (!e[0].startsWith(prefix)) return;
      yield e;
    }
  }

  /** Checks the structural invariants (tests): order, fill, separator keys, count. */
  checkInvariants(): void {
    if (this.root === null) {
      assert(this.count === 0, "an empty tree counts 0 entries");
      return;
    }
    const seen = checkNode(this.root, true, null, this.max);
    assert(seen === this.count, `tree holds ${seen} entries but counts ${this.count}`);
  }

  private writable<N extends Node<V>>(node: N): N {
    if (node.owner === this.owner) return node;
    const copy: Node<V> = node.leaf
      ? { owner: this.owner, leaf: true, keys: node.keys.slice(), vals: node.vals.slice() }
      : { owner: this.owner, leaf: false, keys: node.keys.slice(), kids: node.kids.slice() };
    return copy as N;
  }

  private branch(kids: Node<V>[]): Branch<V> {
    return { owner: this.owner, leaf: false, keys: kids.map(firstKey), kids };
  }

  /** Inserts into a writable node; returns the new right sibling when the node split. */
  private insert(node: Node<V>, key: string, value: V): Node<V> | null {
    if (node.leaf) {
      const i = lowerBound(node.keys, key);
      if (node.keys[i] === key) {
        node.vals[i] = value;
        return null;
      }
      node.keys.splice(i, 0, key);
      node.vals.splice(i, 0, value);
      this.count += 1;
      if (node.keys.length <= this.max) return null;
      const right: Leaf<V> = {
        owner: this.owner,
        leaf: true,
        keys: node.keys.splice(this.min),
        vals: node.vals.splice(this.min),
      };
      return right;
    }
    const i = childIndex(node, key);
    const child = this.writable(node.kids[i] as Node<V>);
    node.kids[i] = child;
    const split = this.insert(child, key, value);
    node.keys[i] = firstKey(child);
    if (split === null) return null;
    node.kids.splice(i + 1, 0, split);
    node.keys.splice(i + 1, 0, firstKey(split));
    if (node.kids.length <= this.max) return null;
    const right: Branch<V> = {
      owner: this.owner,
      leaf: false,
      keys: node.keys.splice(this.min),
      kids: node.kids.splice(this.min),
    };
    return right;
  }

  /** Removes a key known to be present from a writable node, then refills any child left underfull. */
  private remove(node: Node<V>, key: string): void {
    if (node.leaf) {
      const i = lowerBound(node.keys, key);
      assert(node.keys[i] === key, `remove present key ${JSON.stringify(key)}`);
      node.keys.splice(i, 1);
      node.vals.splice(i, 1);
      return;
    }
    const i = childIndex(node, key);
    const child = this.writable(node.kids[i] as Node<V>);
    node.kids[i] = child;
    this.remove(child, key);
    if (child.keys.length > 0) node.keys[i] = firstKey(child);
    if (child.keys.length < this.min) this.refill(node, i);
  }

  /** Gives the underfull kid `i` of `parent` entries from a sibling, or merges it into one. */
  private refill(parent: Branch<V>, i: number): void {
    if (parent.kids.length < 2) return;
    const li = i > 0 ? i - 1 : i;
    const left = this.writable(parent.kids[li] as Node<V>);
    const right = this.writable(parent.kids[li + 1] as Node<V>);
    parent.kids[li] = left;
    parent.kids[li + 1] = right;
    const total = left.keys.length + right.keys.length;
    if (total <= this.max) {
      moveAll(left, right);
      parent.kids.splice(li + 1, 1);
      parent.keys.splice(li + 1, 1);
    } else {
      rebalance(left, right, total >>> 1);
      parent.keys[li + 1] = firstKey(right);
    }
    if (left.keys.length > 0) parent.keys[li] = firstKey(left);
  }
}

/**
 * The root over `leaves` (in key order, all but the last holding `max` entries): each level groups the one
 * below `max` nodes at a time; on every level the last node, if underfull, shares with the full one before it.
 */
function buildLevels<V>(leaves: Leaf<V>[], owner: Owner, max: number): Node<V> {
  let level: Node<V>[] = leaves;
  evenTail(level, max);
  while (level.length > 1) {
    const up: Node<V>[] = [];
    for (let i = 0; i < level.length; i += max) {
      const kids = level.slice(i, i + max);
      up.push({ owner, leaf: false, keys: kids.map(firstKey), kids });
    }
    evenTail(up, max);
    level = up;
  }
  return level[0] as Node<V>;
}

/**
 * Gives the last node of `level` (fewer than max/2 entries) some of the full one before it: together they
 * hold more than `max`, so both halves hold at least max/2. Both nodes are the loader's own (writable).
 */
function evenTail<V>(level: Node<V>[], max: number): void {
  if (level.length < 2) return;
  const left = level[level.length - 2] as Node<V>;
  const right = level[level.length - 1] as Node<V>;
  if (right.keys.length >= max / 2) return;
  rebalance(left, right, (left.keys.length + right.keys.length) >>> 1);
}

/** Appends all of `right` to `left` (both writable, same kind). */
function moveAll<V>(left: Node<V>, right: Node<V>): void {
  left.keys.push(...right.keys);
  if (left.leaf && right.leaf) left.vals.push(...right.vals);
  else if (!left.leaf && !right.leaf) left.kids.push(...right.kids);
  else assert(false, "merge tree nodes of one kind");
}

/** Moves entries between two siblings (writable, same kind) so that `left` holds `leftCount`. */
function rebalance<V>(left: Node<V>, right: Node<V>, leftCount: number): void {
  if (left.keys.length > leftCount) {
    const moved = left.keys.length - leftCount;
    right.keys.unshift(...left.keys.splice(leftCount, moved));
    if (left.leaf && right.leaf) right.vals.unshift(...left.vals.splice(leftCount, moved));
    else if (!left.leaf && !right.leaf) right.kids.unshift(...left.kids.splice(leftCount, moved));
    else assert(false, "rebalance tree nodes of one kind");
    return;
  }
  const moved = leftCount - left.keys.length;
  left.keys.push(...right.keys.splice(0, moved));
  if (left.leaf && right.leaf) left.vals.push(...right.vals.splice(0, moved));
  else if (!left.leaf && !right.leaf) left.kids.push(...right.kids.splice(0, moved));
  else assert(false, "rebalance tree nodes of one kind");
}

function* leafValues<V>(node: Node<V>): Generator<readonly V[]> {
  if (node.leaf) yield node.vals;
  else for (const kid of node.kids) yield* leafValues(kid);
}

function* walkFrom<V>(node: Node<V>, from: string): Generator<[string, V]> {
  if (node.leaf) {
    for (let i = lowerBound(node.keys, from); i < node.keys.length; i++) {
      yield [node.keys[i] as string, node.vals[i] as V];
    }
    return;
  }
  const start = childIndex(node, from);
  for (let i = start; i < node.kids.length; i++) yield* walkFrom(node.kids[i] as Node<V>, from);
}

/** Returns the number of entries under `node` after checking its invariants. */
function checkNode<V>(
  node: Node<V>,
  isRoot: boolean,
  depthOut: { depth: number } | null,
  max: number,
): number {
  const n = node.keys.length;
  assert(n <= max, `tree node holds ${n} entries, above ${max}`);
  if (!isRoot) assert(n >= max / 2, `tree node holds ${n} entries, below ${max / 2}`);
  for (let i = 1; i < n; i++) {
    assert(compareKeys(node.keys[i - 1] as string, node.keys[i] as string) < 0, "tree keys increase");
  }
  if (node.leaf) {
    assert(node.vals.length === n, "a leaf holds one value per key");
    return n;
  }
  assert(node.kids.length === n && n >= 2, "a branch holds one key per child and at least two children");
  let total = 0;
  const depth = { depth: -1 };
  for (let i = 0; i < n; i++) {
    const kid = node.kids[i] as Node<V>;
    assert(node.keys[i] === firstKey(kid), "a branch key is the first key of its child");
    const d = { depth: 0 };
    total += checkNode(kid, false, d, max);
    if (depth.depth === -1) depth.depth = d.depth;
    assert(depth.depth === d.depth, "all leaves sit at one depth");
  }
  if (depthOut !== null) depthOut.depth = depth.depth + 1;
  return total;
}
