/**
 * Property: any sequence of appends (overwriting suffixes), compactions, resets, syncs and reopens leaves the disk
 * WAL and MemoryWal with the same log (the etcd quorum/quick_test.go idea: the real thing against a naive twin).
 * Tiny segments and caches make every run cross segment boundaries and read from disk.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Entry } from "../raft/types.js";
import type { LogStore } from "./log-store.js";
import { MemoryWal } from "./memory-wal.js";
import { withTempDir } from "./test-util.js";
import { DiskWal, type DiskWalOptions } from "./wal.js";

type Op =
  | {
      readonly op: "append";
      readonly back: number;
      readonly count: number;
      readonly termBump: number;
      readonly bytes: number;
    }
  | { readonly op: "compact"; readonly at: number }
  | { readonly op: "reset"; readonly past: number }
  | { readonly op: "sync" }
  | { readonly op: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      back: fc.nat(12),
      count: fc.integer({ min: 1, max: 9 }),
      termBump: fc.nat(2),
      bytes: fc.nat(60),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("compact" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("reset" as const), past: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.constant({ op: "sync" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "reopen" as const }) },
);

/** The entries an append op adds to `model`: from `back` entries before its end, terms never going down. */
function entriesFor(model: LogStore, o: Extract<Op, { op: "append" }>): Entry[] {
  const start = Math.max(model.firstIndex(), model.lastIndex() + 1 - o.back);
  const term = model.term(start - 1) + o.termBump;
  return Array.from({ length: o.count }, (_, k) => ({
    index: start + k,
    term,
    kind: k % 5 === 4 ? ("conf" as const) : ("normal" as const),
    data: new Uint8Array(o.bytes).fill((start + k + term) & 0xff),
  }));
}

async function applyOp(
  o: Op,
  disk: LogStore,
  model: LogStore,
  reopen: () => Promise<LogStore>,
): Promise<LogStore> {
  switch (o.op) {
    case "append": {
      const entries = entriesFor(model, o);
      await model.append(entries);
      await disk.append(entries);
      return disk;
    }
    case "compact": {
      const at = model.boundary().index + (o.at % (model.lastIndex() - model.boundary().index + 1));
      await model.compact(at);
      await disk.compact(at);
      return disk;
    }
    case "reset": {
      const index = model.lastIndex() + o.past + 1;
      const term = model.term(model.lastIndex()) + 1;
      await model.resetToSnapshot(index, term);
      await disk.resetToSnapshot(index, term);
      return disk;
    }
    case "sync":
      await disk.sync();
      return disk;
    case "reopen":
      return reopen();
  }
}

async function assertSameLog(disk: LogStore, model: LogStore, step: string): Promise<void> {
  assert.deepEqual(disk.boundary(), model.boundary(), step);
  assert.equal(disk.firstIndex(), model.firstIndex(), step);
  assert.equal(disk.lastIndex(), model.lastIndex(), step);
  for (let i = model.boundary().index; i <= model.lastIndex(); i++)
    assert.equal(disk.term(i), model.term(i), step);
  const lo = model.firstIndex();
  const hi = model.lastIndex() + 1;
  assert.deepEqual(await disk.entries(lo, hi), await model.entries(lo, hi), step);
}

describe("DiskWal against MemoryWal", () => {
  it("agrees after random appends, overwrites, compactions, resets and reopens", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        fc.constantFrom(0, 150, 1 << 20),
        (ops, cache) =>
          withTempDir(async (dir) => {
            const opts: DiskWalOptions = { segmentBytesMax: 256, cacheBytesMax: cache };
            const model = new MemoryWal();
            let disk: LogStore = await DiskWal.open(dir, opts);
            const reopen = async (): Promise<LogStore> => {
              await disk.close();
              return DiskWal.open(dir, opts);
            };
            try {
              for (const [k, o] of ops.entries()) {
                disk = await applyOp(o, disk, model, reopen);
                await assertSameLog(disk, model, `step ${k}: ${JSON.stringify(o)}`);
              }
            } finally {
              await disk.close();
            }
          }),
      ),
      { numRuns: 100 },
    );
  });
});
