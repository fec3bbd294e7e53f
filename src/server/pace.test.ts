import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { appliedMoved, type PaceOptions, paced } from "./pace.js";

/** A producer whose every chunk costs `costMs` of a fake clock; records the sleeps asked for. */
function rig(busy: () => boolean, costMs: number, chunks: number) {
  let clock = 0;
  const sleeps: number[] = [];
  const o: PaceOptions = {
    shareMax: 0.25,
    busy,
    now: () => clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock += ms;
    },
  };
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; i < chunks; i++) {
      clock += costMs;
      yield i;
    }
  }
  return { o, sleeps, source, elapsed: () => clock };
}

async function drain<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

describe("paced", () => {
  it("runs flat out while nothing else happens", async () => {
    const r = rig(() => false, 1, 100);
    assert.deepEqual(
      await drain(paced(r.source(), r.o)),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(r.sleeps, []);
    assert.equal(r.elapsed(), 100);
  });

  it("takes at most its share of the time while busy, in pauses of bounded length", async () => {
    const r = rig(() => true, 1, 100);
    await drain(paced(r.source(), r.o));
    // 100 ms of work at a 25 % share: 300 ms of pauses, each at least 2 and at most 50 ms.
    assert.ok(Math.abs(r.elapsed() - 400) <= 3, `elapsed ${r.elapsed()}`);
    assert.ok(r.sleeps.every((ms) => ms >= 2 && ms <= 50));
    const slow = rig(() => true, 40, 3);
    await drain(paced(slow.source(), slow.o));
    assert.deepEqual(slow.sleeps, [50, 50, 50]);
  });

  it("closes the source when the consumer stops, and refuses a share outside (0, 1]", async () => {
    let closed = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const r = rig(() => false, 0, 0);
    for await (const x of paced(source(), r.o)) if (x === 3) break;
    assert.equal(closed, true);
    await assert.rejects(drain(paced(source(), { ...r.o, shareMax: 0 })), RangeError);
  });

  it("appliedMoved says busy only when the index moved since the last call", () => {
    let applied = 5;
    const busy = appliedMoved(() => applied);
    assert.equal(busy(), false);
    applied = 9;
    assert.equal(busy(), true);
    assert.equal(busy(), false);
  });
});
