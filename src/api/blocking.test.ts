import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeCommand, KvStore, reads, WatchLimitError } from "../fsm/index.js";
import { type BlockingEnv, blockingQuery } from "./blocking.js";
import type { QueryOptions } from "./types.js";

/** A write that changes `key` (a set of the same value would leave its index alone, as Consul's does). */
function put(store: KvStore, key: string): void {
  const value = new TextEncoder().encode(String(store.appliedIndex));
  store.apply(store.appliedIndex + 1, encodeCommand({ op: "set", key, value, flags: 0n }));
}

function env(store: KvStore, o: Partial<BlockingEnv> = {}): BlockingEnv & { barriers: string[] } {
  const barriers: string[] = [];
  return {
    barriers,
    now: Date.now,
    random: () => 0,
    barrier: async (c) => void barriers.push(c),
    restores: () => store.restoreCount,
    ...o,
  };
}

const q = (minIndex: number, waitMs: number): QueryOptions => ({
  consistency: "consistent",
  minIndex,
  waitMs,
});

describe("blockingQuery", () => {
  it("answers at once without an index, and when the index has passed minIndex", async () => {
    const store = new KvStore();
    put(store, "a");
    const e = env(store);
    assert.equal((await blockingQuery(q(0, 1000), reads.kvGet(store, "a"), e)).index, 1);
    assert.equal((await blockingQuery(q(0, 1000), reads.kvGet(store, "b"), e)).index, 1);
    assert.deepEqual(e.barriers, ["consistent", "consistent"]);
  });

  it("waits while the index is at or below minIndex (a wake is a hint), and returns once it passes", async () => {
    const store = new KvStore();
    put(store, "a");
    const e = env(store);
    const waiting = blockingQuery(q(5, 10_000), reads.kvList(store, ""), e);
    put(store, "a"); // index 2: woken, still below 5
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 4; i++) put(store, "a");
    assert.equal((await waiting).index, 6);
    assert.ok(e.barriers.length >= 2, "each run re-checks the barrier");
    assert.equal(store.watchCount, 0, "no watch left behind");
  });

  it("a restore ends the wait at once, even with the index gone backwards", async () => {
    const store = new KvStore();
    for (let i = 0; i < 3; i++) put(store, "a");
    const waiting = blockingQuery(q(3, 10_000), reads.kvGet(store, "a"), env(store));
    store.restore([]);
    assert.ok((await waiting).index < 3);
  });

  it("times out with the current value once the wait (plus its jitter) is over", async () => {
    const store = new KvStore();
    put(store, "a");
    const started = Date.now();
    const waiting = blockingQuery(q(1, 150), reads.kvGet(store, "a"), env(store, { random: () => 0.999 }));
    put(store, "b"); // not the watched key: no wake
    assert.equal((await waiting).index, 1);
    assert.ok(Date.now() - started >= 150);
    assert.equal(store.watchCount, 0);
  });
});

describe("blockingQuery at the watch limit", () => {
  it("fails with the registry's error and leaves no timer behind", async () => {
    const store = new KvStore({ watchesMax: 0 });
    put(store, "a");
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    await assert.rejects(blockingQuery(q(1, 60_000), reads.kvGet(store, "a"), env(store)), WatchLimitError);
    assert.equal(timers(), before);
    assert.equal(store.watchCount, 0);
  });
});

describe("blockingQuery at scale", () => {
  it("a thousand blocked queries share one timer, and leave none once woken", async () => {
    const store = new KvStore();
    for (let i = 0; i < 1000; i++) put(store, `k${i}`);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const e = env(store, { random: Math.random });
    const waiting = Array.from({ length: 1000 }, (_, i) =>
      blockingQuery(q(store.get(`k${i}`).index, 60_000 + i), reads.kvGet(store, `k${i}`), e),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(store.watchCount, 1000);
    assert.equal(timers(), before + 1);
    for (let i = 0; i < 1000; i++) put(store, `k${i}`);
    const answers = await Promise.all(waiting);
    for (const [i, a] of answers.entries()) assert.equal(a.entry?.Key, `k${i}`);
    assert.equal(store.watchCount, 0);
    assert.equal(timers(), before);
  });
});
