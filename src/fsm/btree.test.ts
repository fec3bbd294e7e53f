import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareKeys, OrderedMap } from "./btree.js";

/** The reference order, computed independently: Go compares the UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Characters that exercise the UTF-16 vs UTF-8 ordering trap, plus separators. */
const keyChar = fc.constantFrom("a", "b", "/", "-", "0", "é", "\u{e000}", "\u{ffff}", "😀", "\u{10000}");
const key = fc.array(keyChar, { maxLength: 5 }).map((cs) => cs.join(""));

type Op =
  | { op: "set"; key: string; value: number }
  | { op: "delete"; key: string }
  | { op: "clone" }
  | { op: "check" };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), key, value: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("delete" as const), key }) },
  { weight: 1, arbitrary: fc.constant({ op: "clone" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "check" as const }) },
);

function modelEntries(model: Map<string, number>): [string, number][] {
  return [...model.entries()].sort((x, y) => byteOrder(x[0], y[0]));
}

function assertSame(tree: OrderedMap<number>, model: Map<string, number>): void {
  tree.checkInvariants();
  assert.equal(tree.size, model.size);
  assert.deepEqual([...tree.entries()], modelEntries(model));
}

describe("compareKeys", () => {
  it("orders like Go's byte-wise UTF-8 comparison", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byteOrder(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it("puts a character above U+FFFF after U+E000..U+FFFF, unlike UTF-16 order", () => {
    assert.ok(compareKeys("😀", "\u{ffff}") > 0);
    assert.ok("😀" < "\u{ffff}");
  });
});

describe("OrderedMap", () => {
  it("matches a Map + sorted keys model; clones never change afterwards", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const tree = new OrderedMap<number>({ nodeEntriesMax: 4 });
        const model = new Map<string, number>();
        const clones: { tree: OrderedMap<number>; frozen: [string, number][] }[] = [];
        for (const o of ops) {
          if (o.op === "set") assert.equal(tree.set(o.key, o.value), !model.has(o.key));
          if (o.op === "set") model.set(o.key, o.value);
          if (o.op === "delete") assert.equal(tree.delete(o.key), model.delete(o.key));
          if (o.op === "clone") clones.push({ tree: tree.clone(), frozen: modelEntries(model) });
          if (o.op === "check") assertSame(tree, model);
        }
        assertSame(tree, model);
        for (const [k, v] of model) assert.equal(tree.get(k), v);
        for (const c of clones) assert.deepEqual([...c.tree.entries()], c.frozen);
      }),
      { numRuns: 300 },
    );
  });

  it("lists a prefix in key order", () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 200 }), key, (keys, prefix) => {
        const tree = new OrderedMap<number>({ nodeEntriesMax: 4 });
        for (const [i, k] of keys.entries()) tree.set(k, i);
        const want = [...new Set(keys)].filter((k) => k.startsWith(prefix)).sort(byteOrder);
        assert.deepEqual(
          [...tree.prefix(prefix)].map(([k]) => k),
          want,
        );
      }),
      { numRuns: 500 },
    );
  });

  it("grows and shrinks through several levels, with writes to the clone kept apart", () => {
    const tree = new OrderedMap<number>();
    const n = 20_000;
    for (let i = 0; i < n; i++) tree.set(`k${(i * 7919) % n}`, i);
    tree.checkInvariants();
    const snap = tree.clone();
    for (let i = 0; i < n; i += 2) tree.delete(`k${i}`);
    snap.set("k0", -1);
    tree.checkInvariants();
    snap.checkInvariants();
    assert.equal(tree.size, n / 2);
    assert.equal(snap.size, n);
    assert.equal(snap.get("k0"), -1);
    assert.equal(tree.get("k0"), undefined);
    assert.equal(tree.get("k1"), snap.get("k1"));
    for (let i = 1; i < n; i += 2) tree.delete(`k${i}`);
    tree.checkInvariants();
    assert.equal(tree.size, 0);
    assert.equal(snap.size, n);
    snap.checkInvariants();
  });
});

describe("OrderedMap.loader", () => {
  /** Node sizes where the last-leaf and last-branch fix-ups happen at small counts. */
  const nodeEntriesMax = fc.constantFrom(4, 6, 8, 32);

  /** The same map built by `set` one key at a time: the reference the loader must equal. */
  function bySet(entries: readonly [string, number][], max: number): OrderedMap<number> {
    const tree = new OrderedMap<number>({ nodeEntriesMax: max });
    for (const [k, v] of entries) tree.set(k, v);
    return tree;
  }

  function load(entries: readonly [string, number][], max: number): OrderedMap<number> {
    const loader = OrderedMap.loader<number>({ nodeEntriesMax: max });
    for (const [k, v] of entries) loader.add(k, v);
    return loader.finish();
  }

  it("builds from sorted keys the tree set() builds, with the invariants holding", () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 600 }), nodeEntriesMax, (keys, max) => {
        const entries = keys.sort(byteOrder).map((k, i): [string, number] => [k, i]);
        const loader = OrderedMap.loader<number>({ nodeEntriesMax: max });
        for (const [k, v] of entries) loader.add(k, v);
        assert.equal(loader.sorted, true);
        const tree = loader.finish();
        tree.checkInvariants();
        const want = bySet(entries, max);
        assert.equal(tree.size, want.size);
        assert.deepEqual([...tree.entries()], [...want.entries()]);
      }),
      { numRuns: 400 },
    );
  });

  it("falls back to set() on keys out of order or repeated, and still equals the set-built tree", () => {
    fc.assert(
      fc.property(fc.array(key, { maxLength: 400 }), nodeEntriesMax, (keys, max) => {
        const entries = keys.map((k, i): [string, number] => [k, i]);
        const tree = load(entries, max);
        tree.checkInvariants();
        assert.deepEqual([...tree.entries()], [...bySet(entries, max).entries()]);
      }),
      { numRuns: 400 },
    );
  });

  it("gives a tree that later writes, deletes and clones treat like any other", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 300 }),
        fc.array(op, { maxLength: 200 }),
        nodeEntriesMax,
        (keys, ops, max) => {
          const entries = keys.sort(byteOrder).map((k, i): [string, number] => [k, i]);
          const tree = load(entries, max);
          const model = new Map(entries);
          const snap = tree.clone();
          for (const o of ops) {
            if (o.op === "set") assert.equal(tree.set(o.key, o.value), !model.has(o.key));
            if (o.op === "set") model.set(o.key, o.value);
            if (o.op === "delete") assert.equal(tree.delete(o.key), model.delete(o.key));
            if (o.op === "check") assertSame(tree, model);
          }
          assertSame(tree, model);
          snap.checkInvariants();
          assert.deepEqual([...snap.entries()], entries);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("loads a large sorted input over several levels, and refuses use after finish", () => {
    const loader = OrderedMap.loader<number>();
    const n = 100_003;
    const keys = Array.from({ length: n }, (_, i) => `k${String(i).padStart(6, "0")}`);
    for (const [i, k] of keys.entries()) loader.add(k, i);
    const tree = loader.finish();
    tree.checkInvariants();
    assert.equal(tree.size, n);
    assert.equal(tree.get("k050000"), 50_000);
    assert.deepEqual(
      [...tree.entriesFrom("k100001")].map(([k]) => k),
      ["k100001", "k100002"],
    );
    assert.throws(() => loader.add("z", 1), /finished tree loader/);
    assert.throws(() => loader.finish(), /finish a tree loader once/);
  });

  it("finishes an empty input as an empty map", () => {
    const tree = OrderedMap.loader<number>().finish();
    tree.checkInvariants();
    assert.equal(tree.size, 0);
  });
});
