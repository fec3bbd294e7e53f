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
