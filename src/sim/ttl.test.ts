import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SessionEntry } from "../fsm/index.js";
import { expiryMs, INVALIDATE_RETRY_MS, LeaderTimers } from "./ttl.js";

function session(ID: string, TTL: string): SessionEntry {
  return {
    ID,
    Name: "",
    Node: "n",
    LockDelay: 0,
    Behavior: "release",
    TTL,
    NodeChecks: [],
    ServiceChecks: null,
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

describe("LeaderTimers", () => {
  it("reaps a TTL session after 2×TTL without renewal, as the server's timers", () => {
    assert.equal(expiryMs("10s"), 20_000);
    assert.equal(expiryMs(""), null);
    const t = new LeaderTimers();
    const a = session("a", "10s");
    const none = session("b", "");
    assert.deepEqual(t.due([a, none], 0), [], "not leading: no timers");
    t.leadership(true, 1);
    assert.deepEqual(t.due([a, none], 1000), [], "the period starts when leadership does");
    assert.deepEqual(t.due([a, none], 20_999), []);
    t.renewed(a, 15_000);
    assert.deepEqual(t.due([a, none], 34_999), [], "a renew restarts the period");
    assert.deepEqual(t.due([a, none], 35_000), ["a"]);
    assert.deepEqual(t.due([a], 99_000), [], "one invalidation in flight at a time");
    t.failed("a", 99_000);
    assert.deepEqual(t.due([a], 99_000 + INVALIDATE_RETRY_MS - 1), [], "a failed one is retried later");
    assert.deepEqual(t.due([a], 99_000 + INVALIDATE_RETRY_MS), ["a"]);
    assert.deepEqual(t.due([], 99_000), [], "a session that is gone is forgotten");
  });

  it("gives every session a fresh full period after a leadership change", () => {
    const t = new LeaderTimers();
    const a = session("a", "10s");
    t.leadership(true, 1);
    t.due([a], 0);
    t.leadership(false, 1);
    t.leadership(true, 1);
    assert.deepEqual(t.due([a], 19_000), []);
    assert.deepEqual(t.due([a], 38_999), []);
    assert.deepEqual(t.due([a], 39_000), ["a"]);
    t.leadership(true, 2);
    assert.deepEqual(t.due([a], 40_000), [], "leading again in a new term, without a tick between");
    assert.deepEqual(t.due([a], 60_000), ["a"]);
  });
});
