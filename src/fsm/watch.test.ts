import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { WatchLimitError } from "./errors.js";
import { type WatchKind, WatchRegistry } from "./watch.js";

interface Spec {
  readonly target: string;
  readonly kind: WatchKind;
}

/**
 * Short keys over a small alphabet, so that keys, prefixes of each other and equal targets are common; with a
 * character above U+FFFF and one just below it, which the ordered maps sort apart from JavaScript's `<`.
 */
const key = fc.string({ unit: fc.constantFrom("a", "b", "/", "\u{1F600}", "\uFFFF"), maxLength: 5 });
const spec = fc.record({ target: key, kind: fc.constantFrom<WatchKind>("key", "prefix") });

/** Registers one watch per spec; `woke` collects the indexes of the specs whose watch fired. */
function registry(specs: readonly Spec[], max?: number) {
  const r = new WatchRegistry(max);
  const woke: number[] = [];
  const cancels = specs.map((s, i) => r.watch(s.target, s.kind, () => woke.push(i)));
  return { r, woke, cancels };
}

const byKey = (k: string) => (s: Spec) => (s.kind === "key" ? s.target === k : k.startsWith(s.target));
const byTree = (p: string) => (s: Spec) =>
  s.kind === "key" ? s.target.startsWith(p) : s.target.startsWith(p) || p.startsWith(s.target);
const indexesWhere = (specs: readonly Spec[], f: (s: Spec) => boolean) =>
  specs.flatMap((s, i) => (f(s) ? [i] : []));

describe("WatchRegistry", () => {
  it("a write to a key wakes exactly that key's watchers and its prefixes' watchers, once", () => {
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 40 }), key, (specs, k) => {
        const { r, woke } = registry(specs);
        r.keyChanged(k);
        const expected = indexesWhere(specs, byKey(k));
        assert.deepEqual(
          woke.sort((a, b) => a - b),
          expected,
        );
        assert.equal(r.size, specs.length - expected.length);
        woke.length = 0;
        r.keyChanged(k);
        assert.deepEqual(woke, [], "one-shot: nobody wakes twice");
      }),
      { numRuns: 500 },
    );
  });

  it("a delete-tree wakes the keys under it and the prefixes that overlap it, and nothing else", () => {
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 40 }), key, (specs, p) => {
        const { r, woke } = registry(specs);
        r.treeChanged(p);
        assert.deepEqual(
          woke.sort((a, b) => a - b),
          indexesWhere(specs, byTree(p)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("after any interleaving of writes and cancels, a write wakes exactly the live matching watchers", () => {
    const step = fc.oneof(
      fc.record({ write: key }),
      fc.record({ cancel: fc.nat(39) }),
      fc.record({ tree: key }),
    );
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 40 }), fc.array(step, { maxLength: 30 }), (specs, steps) => {
        const { r, woke, cancels } = registry(specs);
        const live = new Set(specs.keys());
        for (const s of steps) {
          woke.length = 0;
          let expected: number[] = [];
          if ("cancel" in s) {
            cancels[s.cancel]?.cancel();
            live.delete(s.cancel);
          } else {
            const match = "write" in s ? byKey(s.write) : byTree(s.tree);
            expected = [...live].filter((i) => match(specs[i]!)).sort((a, b) => a - b);
            if ("write" in s) r.keyChanged(s.write);
            else r.treeChanged(s.tree);
            for (const i of expected) live.delete(i);
          }
          assert.deepEqual(
            woke.sort((a, b) => a - b),
            expected,
          );
          assert.equal(r.size, live.size);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("among thousands of watchers on other keys and prefixes, a write wakes only its own", () => {
    const r = new WatchRegistry();
    const woke: string[] = [];
    for (let i = 0; i < 5000; i++) {
      r.watch(`svc/${i}/config`, "key", () => woke.push(`key ${i}`));
      r.watch(`svc/${i}/`, "prefix", () => woke.push(`prefix ${i}`));
    }
    r.watch("svc/", "prefix", () => woke.push("prefix svc/"));
    r.keyChanged("svc/4321/config");
    assert.deepEqual(woke.sort(), ["key 4321", "prefix 4321", "prefix svc/"]);
    assert.equal(r.size, 10_000 - 2);
  });

  it("cancel removes the watch, is idempotent, and is harmless after the wake", () => {
    const r = new WatchRegistry();
    let n = 0;
    const cancelA = r.watch("a", "key", () => n++);
    const cancelB = r.watch("a", "prefix", () => n++);
    r.watch("a", "key", () => n++);
    cancelA.cancel();
    cancelA.cancel();
    assert.equal(r.size, 2);
    r.keyChanged("a");
    assert.equal(n, 2);
    cancelB.cancel(); // already woken: nothing left to remove
    assert.equal(r.size, 0);
    r.keyChanged("a");
    assert.equal(n, 2);
  });

  it("refuses a watch past its limit and registers nothing; a cancel or a wake makes room again", () => {
    const r = new WatchRegistry(2);
    const cancel = r.watch("a", "key", () => {});
    r.watch("b", "prefix", () => {});
    assert.throws(() => r.watch("c", "key", () => {}), WatchLimitError);
    assert.equal(r.size, 2);
    r.keyChanged("c");
    assert.equal(r.size, 2, "the refused watch was never registered");
    cancel.cancel();
    r.watch("c", "key", () => {});
    assert.throws(() => r.watch("d", "key", () => {}), WatchLimitError);
    r.keyChanged("bb"); // wakes the prefix "b"
    r.watch("d", "key", () => {});
    assert.equal(r.size, 2);
  });

  it("a watch registered by a callback is not woken by the same write; a throwing callback stops no one", () => {
    const r = new WatchRegistry();
    const woke: string[] = [];
    r.watch("k", "key", () => {
      woke.push("first");
      r.watch("k", "key", () => woke.push("again"));
      throw new Error("boom");
    });
    r.watch("", "prefix", () => woke.push("root"));
    assert.throws(() => r.keyChanged("k"), /boom/);
    assert.deepEqual(woke.sort(), ["first", "root"]);
    assert.equal(r.size, 1);
    r.keyChanged("k");
    assert.deepEqual(woke.sort(), ["again", "first", "root"]);
  });

  it("all() wakes every watcher of every kind", () => {
    const specs: Spec[] = [
      { target: "a", kind: "key" },
      { target: "a", kind: "prefix" },
      { target: "", kind: "prefix" },
      { target: "zz/y", kind: "key" },
    ];
    const { r, woke } = registry(specs);
    r.all();
    assert.deepEqual(woke.sort(), [0, 1, 2, 3]);
    assert.equal(r.size, 0);
  });
});
