import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "./rng.js";

describe("SeededRng", () => {
  it("replays the same sequence from the same seed", () => {
    const a = new SeededRng(42);
    const b = new SeededRng(42);
    for (let i = 0; i < 1000; i++) assert.equal(a.nextU32(), b.nextU32());
  });

  it("gives different sequences for different seeds, including seeds past 2^32", () => {
    const seqs = [1, 2, 2 ** 32 + 1, 2 ** 40].map((s) => {
      const r = new SeededRng(s);
      return [r.nextU32(), r.nextU32(), r.nextU32()].join(",");
    });
    assert.equal(new Set(seqs).size, seqs.length);
  });

  it("keeps int() inside [lo, hi) and reaches both ends", () => {
    const r = new SeededRng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(3, 8);
      assert.ok(v >= 3 && v < 8, `value ${v} out of range`);
      seen.add(v);
    }
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6, 7]);
  });

  it("refuses an empty range", () => {
    assert.throws(() => new SeededRng(1).int(5, 5), /lo < hi/);
  });
});
