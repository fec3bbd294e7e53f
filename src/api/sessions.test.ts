import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SessionEntry } from "../fsm/index.js";
import { type Clock, realClock } from "../util/clock.js";
import { expiryMs, SessionTimers, sessionSpecOf } from "./sessions.js";

function session(ID: string, TTL: string): SessionEntry {
  return {
    ID,
    Name: "",
    Node: "n",
    LockDelay: 0,
    Behavior: "release",
    TTL,
    NodeChecks: null,
    ServiceChecks: null,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

/** A host over a plain list; `wake` fires the registered session watch as a store write would. */
function host(list: SessionEntry[]) {
  const invalidated: string[] = [];
  let watcher: (() => void) | null = null;
  return {
    invalidated,
    wake: () => {
      const w = watcher;
      watcher = null;
      w?.();
    },
    h: {
      sessions: () => list,
      watch: (wake: () => void) => {
        watcher = wake;
        return {
          cancel: () => {
            watcher = null;
          },
        };
      },
      invalidate: async (id: string) => {
        invalidated.push(id);
        const i = list.findIndex((s) => s.ID === id);
        if (i >= 0) list.splice(i, 1);
      },
      log: () => {},
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Clock whose time moves only when the test advances it: timers fire in due order, deferred calls at once. */
function handClock() {
  let now = 0;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const clock: Clock = {
    now: () => now,
    monotonicMs: () => now,
    setTimeout(fn, ms) {
      const id = seq++;
      timers.set(id, { at: now + ms, fn });
      return { cancel: () => timers.delete(id) };
    },
    setInterval() {
      throw new Error("SessionTimers uses no interval");
    },
    defer: (fn) => queueMicrotask(fn),
    sleep: () => Promise.resolve(),
  };
  /** Moves time to `to`, running each timer due by then (bounded by the timers armed). */
  const advance = (to: number) => {
    for (let guard = 0; guard < 1000; guard++) {
      const due = [...timers]
        .filter(([, t]) => t.at <= to)
        .sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (due === undefined) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = to;
  };
  return { clock, advance, armed: () => timers.size };
}

describe("session TTL timers", () => {
  it("periods are 2xTTL; no TTL, no timer", () => {
    assert.equal(expiryMs("10s"), 20_000);
    assert.equal(expiryMs(""), null);
    assert.equal(expiryMs("0s"), null);
  });

  it("fill Consul's create defaults and keep an explicit empty NodeChecks", () => {
    const s = sessionSpecOf({}, "node1");
    assert.deepEqual(
      [s.Node, s.LockDelay, s.Behavior, s.NodeChecks],
      ["node1", 15e9, "release", ["serfHealth"]],
    );
    assert.deepEqual(sessionSpecOf({ NodeChecks: [] }, "n").NodeChecks, []);
    assert.notEqual(sessionSpecOf({}, "n").ID, s.ID);
  });

  it("invalidate an unrenewed session after 2xTTL, not a renewed one; stop drops every timer", async () => {
    const list = [session("a", "40ms"), session("b", "40ms"), session("c", "")];
    const { h, invalidated } = host(list);
    const t = new SessionTimers(h, realClock);
    t.leadershipChanged(true);
    assert.equal(t.size, 2);
    for (let i = 0; i < 4; i++) {
      await sleep(30);
      t.renew(list.find((s) => s.ID === "b") as SessionEntry);
    }
    assert.deepEqual(invalidated, ["a"]);
    t.leadershipChanged(false);
    assert.equal(t.size, 0);
    await sleep(120);
    assert.deepEqual(invalidated, ["a"]);
  });

  it("follows creates and destroys through the session watch", async () => {
    const list: SessionEntry[] = [];
    const { h, wake, invalidated } = host(list);
    const t = new SessionTimers(h, realClock);
    t.start();
    list.push(session("x", "1h"));
    wake();
    await sleep(5);
    assert.equal(t.size, 1);
    list.splice(0, 1);
    wake();
    await sleep(5);
    assert.equal(t.size, 0);
    t.stop();
    assert.deepEqual(invalidated, []);
  });

  it("run on the Clock they are given: a session expires at 2xTTL of that clock's time, not before", async () => {
    const list = [session("a", "10s")];
    const { h, invalidated } = host(list);
    const c = handClock();
    const t = new SessionTimers(h, c.clock);
    t.leadershipChanged(true);
    assert.equal(c.armed(), 1);
    c.advance((expiryMs("10s") as number) - 1);
    await Promise.resolve();
    assert.deepEqual(invalidated, []);
    c.advance(expiryMs("10s") as number);
    await Promise.resolve();
    assert.deepEqual(invalidated, ["a"]);
    t.leadershipChanged(false);
    assert.equal(c.armed(), 0);
  });
});
