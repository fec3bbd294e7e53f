import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SessionEntry } from "../fsm/index.js";
import { realClock } from "../util/clock.js";
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
        return () => {
          watcher = null;
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
});
