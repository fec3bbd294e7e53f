import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { WaitClock, type Waiter } from "./wait-clock.js";

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

/** A waiter that records when it timed out, resolving `ended`. */
function waiter(): Waiter & { at: number[]; ended: Promise<void> } {
  let done = () => {};
  const ended = new Promise<void>((r) => {
    done = r;
  });
  const at: number[] = [];
  return {
    at,
    ended,
    timedOut() {
      at.push(performance.now());
      done();
    },
  };
}

describe("WaitClock", () => {
  it("ends each wait once, never before its time; removed waits never end", async () => {
    const clock = new WaitClock();
    const rng = new SeededRng(7);
    const started = performance.now();
    const all = Array.from({ length: 300 }, () => ({ w: waiter(), ms: rng.int(0, 200), tick: 0 }));
    for (const a of all) a.tick = clock.add(a.w, a.ms);
    const removed = all.filter(() => rng.int(0, 2) === 0);
    for (const r of removed) clock.remove(r.w, r.tick);
    const kept = all.filter((a) => !removed.includes(a));
    await Promise.all(kept.map((a) => a.w.ended));
    for (const a of kept) {
      assert.equal(a.w.at.length, 1);
      assert.ok((a.w.at[0] ?? 0) >= started + a.ms, `a wait of ${a.ms} ms ended early`);
    }
    for (const r of removed) assert.deepEqual(r.w.at, []);
    assert.equal(clock.size, 0);
  });

  it("holds no timer once nothing waits, so it keeps no process alive", () => {
    const before = timers();
    const clock = new WaitClock();
    const a = waiter();
    const b = waiter();
    const ta = clock.add(a, 60_000);
    const tb = clock.add(b, 120_000);
    assert.equal(timers(), before + 1, "one timer for every wait");
    clock.remove(a, ta);
    clock.remove(a, ta); // twice: harmless
    assert.equal(clock.size, 1);
    clock.remove(b, tb);
    assert.equal(timers(), before);
    assert.equal(clock.size, 0);
  });

  it("a wait that ends sooner than the one the timer is armed for re-arms it", async () => {
    const clock = new WaitClock();
    const late = waiter();
    const lateTick = clock.add(late, 60_000);
    const early = waiter();
    clock.add(early, 0);
    await early.ended;
    assert.equal(early.at.length, 1);
    assert.deepEqual(late.at, []);
    assert.equal(clock.size, 1);
    clock.remove(late, lateTick);
    assert.equal(clock.size, 0);
  });
});
