import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry } from "../raft/types.js";
import { SeededRng } from "../util/rng.js";
import { Life, type Scheduler, SimClock } from "./sim-clock.js";
import { SimDurableDisk } from "./sim-storage.js";

/** A scheduler that runs every callback at once, in order (virtual time does not matter to these cases). */
function immediate(): Scheduler {
  return { nowUs: () => 0, at: (_t, fn) => queueMicrotask(fn) };
}

function entries(lo: number, hi: number, term: number): Entry[] {
  return Array.from({ length: hi - lo }, (_, k) => ({
    index: lo + k,
    term,
    kind: "normal" as const,
    data: new Uint8Array([k]),
  }));
}

async function open(disk: SimDurableDisk) {
  const life = new Life();
  const clock = new SimClock(immediate(), life, { rate: 1, wallScale: 1, wallOffsetMs: 0 });
  return {
    life,
    wal: await disk.openWal(life, clock, () => 1),
    stable: disk.openStable(life, clock, () => 1),
  };
}

describe("simulated disk", () => {
  it("keeps synced entries and loses unsynced ones on a crash without a torn write", async () => {
    const disk = new SimDurableDisk();
    const p = await open(disk);
    await p.wal.append(entries(1, 4, 1));
    await p.wal.sync();
    await p.wal.append(entries(4, 6, 1));
    assert.equal(p.wal.lastIndex(), 5, "appended entries are readable at once");
    p.life.alive = false;
    disk.crash(new SeededRng(1), 0);
    const q = await open(disk);
    assert.equal(q.wal.lastIndex(), 3);
  });

  it("keeps a prefix of the unsynced entries on a torn write, never a hole", async () => {
    const lasts = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimDurableDisk();
      const p = await open(disk);
      await p.wal.append(entries(1, 3, 1));
      await p.wal.sync();
      await p.wal.append(entries(3, 5, 1));
      await p.wal.append(entries(5, 8, 1));
      p.life.alive = false;
      disk.crash(new SeededRng(seed), 1);
      const q = await open(disk);
      const last = q.wal.lastIndex();
      assert.ok(last >= 2 && last <= 7);
      const got = await q.wal.entries(1, last + 1);
      assert.deepEqual(
        got.map((e) => e.index),
        Array.from({ length: last }, (_, k) => k + 1),
      );
      lasts.add(last);
    }
    assert.ok(lasts.size > 3, `torn writes kept only ${[...lasts].join(", ")}`);
  });

  it("drops what a dead process writes, and a hard state saved after its death", async () => {
    const disk = new SimDurableDisk();
    const p = await open(disk);
    await p.stable.save({ term: 2, vote: 1, commit: 0 });
    await p.wal.append(entries(1, 3, 2));
    // Their fsyncs never finish: the process dies first (and a dead life's timers never fire).
    void p.wal.sync();
    void p.stable.save({ term: 3, vote: 2, commit: 0 });
    p.life.alive = false;
    disk.crash(new SeededRng(3), 0);
    await new Promise((r) => setImmediate(r));
    const q = await open(disk);
    assert.equal(q.wal.lastIndex(), 0);
    assert.deepEqual(q.stable.hardState, { term: 2, vote: 1, commit: 0 });
  });
});
