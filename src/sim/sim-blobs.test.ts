import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EventQueue } from "./queue.js";
import { BlobWork, type SimBlobFiles, simBlobDisk } from "./sim-blobs.js";
import { Life, SimClock } from "./sim-clock.js";
import { SimDurableDisk } from "./sim-storage.js";

/**
 * A hand-run world: events only when popped, and between them nothing but microtasks. A promise that settles
 * here settled without real I/O or real timers (they would need a macrotask, which these turns never give).
 */
class HandWorld {
  private time = 0;
  private readonly queue = new EventQueue<() => void>();
  readonly disk = new SimDurableDisk();
  readonly work = new BlobWork();
  gone: string[] = [];

  nowUs(): number {
    return this.time;
  }

  at(atUs: number, fn: () => void): void {
    this.queue.push(atUs, fn);
  }

  /** A process over this disk; each fsync takes 1 ms of its clock. */
  open(): { life: Life; files: SimBlobFiles } {
    const life = new Life();
    const clock = new SimClock(this, life, { rate: 1, wallScale: 1, wallOffsetMs: 0 });
    const files = simBlobDisk(this.disk).open(life, clock, () => 1, this.work, {
      goneAsked: (h) => this.gone.push(h),
    });
    return { life, files };
  }

  /** Lets microtasks run (a bounded number of turns), no macrotask. */
  async turns(): Promise<void> {
    for (let i = 0; i < 200; i++) await Promise.resolve();
  }

  /** Pops events up to `untilUs`, microtasks between them. */
  async runUntil(untilUs: number): Promise<void> {
    await this.turns();
    for (let n = 0; n < 10_000; n++) {
      const t = this.queue.peekTime();
      if (t === undefined || t > untilUs) break;
      const ev = this.queue.pop()!;
      this.time = ev.time;
      ev.item();
      await this.turns();
    }
    this.time = untilUs;
  }
}

/** Whether `p` has settled, after the microtasks `world` lets run. */
async function settled(world: HandWorld, p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  await world.turns();
  return done;
}

async function bytesOf(it: AsyncIterable<Uint8Array>): Promise<number[]> {
  const out: number[] = [];
  for await (const c of it) out.push(...c);
  return out;
}

describe("SimBlobFiles", () => {
  it("a committed blob is seen after the data's fsync and survives a crash after the directory's", async () => {
    const w = new HandWorld();
    const a = w.open();
    const draft = await a.files.draft("snap-1-5", false);
    await draft.append(new Uint8Array([1, 2, 3]));
    await draft.writeAt(new Uint8Array([9]), 5);
    assert.deepEqual(await bytesOf(draft.read(2)), [1, 2, 3, 0, 0, 9], "a draft reads back what was written");
    assert.equal(await a.files.has("snap-1-5"), false, "a draft is not a blob");
    const commit = draft.commit();
    assert.equal(await settled(w, commit), false, "the commit waits for its fsyncs, events of the world");
    await w.runUntil(1000);
    assert.equal(await a.files.has("snap-1-5"), true, "renamed after the data's fsync");
    assert.equal(simBlobDisk(w.disk).blobs.has("snap-1-5"), false, "not durable before the dir's");
    await w.runUntil(2000);
    assert.equal(await settled(w, commit), true);
    a.life.alive = false;
    const b = w.open();
    assert.deepEqual(await bytesOf(b.files.read("snap-1-5", 4)), [1, 2, 3, 0, 0, 9]);
    assert.deepEqual([...(await b.files.readAt("snap-1-5", 4, 10))], [0, 9]);
    assert.deepEqual([...(await b.files.readAt("snap-1-5", 9, 10))], []);
  });

  it("loses on a crash what was not synced: a draft, a blob between its fsyncs, a ref before its own", async () => {
    const w = new HandWorld();
    const a = w.open();
    const kept = await a.files.draft("snap-1-1", false);
    await kept.append(new Uint8Array([7]));
    const keptDone = Promise.all([kept.commit(), a.files.writeRef("snap-1-1", "{}")]);
    await w.runUntil(2000);
    assert.equal(await settled(w, keptDone), true);
    const unsynced = await a.files.draft("snap-1-2", false);
    await unsynced.append(new Uint8Array([8]));
    const halfway = await a.files.draft("restore-x", true);
    await halfway.append(new Uint8Array([9]));
    void halfway.commit();
    void a.files.writeRef("snap-1-3", "{}");
    await w.runUntil(3000);
    assert.equal(await a.files.has("restore-x"), true, "the process saw the rename");
    a.life.alive = false;
    await w.runUntil(10_000);
    const b = w.open();
    assert.deepEqual(await b.files.list(), { blobs: ["snap-1-1"], refs: ["snap-1-1"] });
    assert.equal(await b.files.readRef("snap-1-1"), "{}");
  });

  it("removes at once and durably; a later ask for a removed blob is told to the observer", async () => {
    const w = new HandWorld();
    const a = w.open();
    simBlobDisk(w.disk).put("restore-r", new Uint8Array([5, 6]));
    assert.equal(
      await a.files.has("restore-r"),
      true,
      "a blob put on the disk is seen by the running process",
    );
    const ref = a.files.writeRef("restore-r", "{}");
    await w.runUntil(2000);
    assert.equal(await settled(w, ref), true);
    await a.files.remove("restore-r");
    await assert.rejects(a.files.readAt("restore-r", 0, 10));
    assert.deepEqual(w.gone, ["restore-r"]);
    a.life.alive = false;
    const b = w.open();
    assert.deepEqual(await b.files.list(), { blobs: [], refs: [] });
    await assert.rejects(b.files.draft("../escape", false), /invalid blob handle/);
  });

  it("runs blob work one at a time in the order started, and a drain waits for all of it", async () => {
    const w = new HandWorld();
    const { files } = w.open();
    const order: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = files.work(async () => {
      await gate;
      order.push("first");
    });
    const second = files.work(async () => {
      order.push("second");
      return 2;
    });
    await w.turns();
    assert.deepEqual(order, [], "the second waits for the first");
    setTimeout(release, 5);
    await w.work.drain(() => new Promise((r) => setImmediate(r)));
    assert.deepEqual(order, ["first", "second"]);
    await first;
    assert.equal(await second, 2);
  });
});
