import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Operation } from "../sim/linearizability.js";
import { compareRestored } from "./archives.js";
import { judgeTtlLocks, LOCK_DELAY_MS, TTL_MS, TtlLockLog } from "./ttl-locks.js";
import { judge, lostWrites } from "./verdict.js";

const put = (value: string, call: number, ret: number): Operation => ({
  clientId: 1,
  input: { kind: "put", key: "k", value },
  call,
  ret,
  output: { kind: "ok" },
});
const finalRead = (value: string | null): Operation => ({
  clientId: -1,
  input: { kind: "get", key: "k" },
  call: 1000,
  ret: 1001,
  output: { kind: "value", value },
});

describe("torture verdicts", () => {
  it("a write acknowledged after the final value's writer returned, and not read back, is lost", () => {
    const history = [put("a", 0, 10), put("b", 20, 30)];
    assert.equal(lostWrites(history, [finalRead("a")]).length, 1);
    assert.match(lostWrites(history, [finalRead("a")])[0]!, /k: b/);
    assert.deepEqual(lostWrites(history, [finalRead("b")]), []);
  });

  it("an acknowledged write with the key absent at the end is lost", () => {
    assert.equal(lostWrites([put("a", 0, 10)], [finalRead(null)]).length, 1);
  });

  it("overlapping writes may end in either order", () => {
    const history = [put("a", 0, 30), put("b", 10, 20)];
    assert.deepEqual(lostWrites(history, [finalRead("a")]), []);
    assert.deepEqual(lostWrites(history, [finalRead("b")]), []);
  });

  it("judges linearizability and stale reads of values never written", () => {
    const history = [put("a", 0, 10), put("b", 20, 30)];
    const ok = judge(
      history,
      [finalRead("b")],
      [],
      [{ mode: "stale", key: "k", value: "a", ret: 40 }],
      new Map([
        ["a", 0],
        ["b", 20],
      ]),
    );
    assert.equal(ok.linearizability.outcome, "ok");
    assert.equal(ok.phantomReads.length, 0);
    const bad = judge(
      history,
      [finalRead("a")],
      [],
      [{ mode: "stale", key: "k", value: "z", ret: 40 }],
      new Map([
        ["a", 0],
        ["b", 20],
      ]),
    );
    assert.equal(bad.linearizability.outcome, "illegal");
    assert.equal(bad.phantomReads.length, 1);
  });

  it("judges locks exclusive: a second session's grant while the first holds is illegal", () => {
    const lock = (
      session: string,
      kind: "acquire" | "release",
      call: number,
      ret: number,
      ok: boolean,
    ): Operation => ({
      clientId: session === "s1" ? 1 : 2,
      input: { kind, key: "l", value: kind === "acquire" ? `x|${session}` : "x|", session },
      call,
      ret,
      output: { kind: "cas", ok },
    });
    const exclusive = [
      lock("s1", "acquire", 0, 1, true),
      lock("s1", "release", 2, 3, true),
      lock("s2", "acquire", 4, 5, true),
    ];
    assert.equal(judge(exclusive, [], [], [], new Map()).linearizability.outcome, "ok");
    const shared = [
      lock("s1", "acquire", 0, 1, true),
      lock("s2", "acquire", 2, 3, true),
      lock("s1", "release", 4, 5, true),
    ];
    assert.equal(judge(shared, [], [], [], new Map()).linearizability.outcome, "illegal");
  });
});

describe("TTL-session locks", () => {
  const session = (id: string, createCall: number, renewed: number[], endCall: number) => ({
    id,
    createCall,
    renewed,
    endCall,
  });
  const logOf = (grants: TtlLockLog["grants"]): TtlLockLog => {
    const log = new TtlLockLog();
    log.grants.push(...grants);
    return log;
  };

  it("a grant while the holder's session could not have expired is a violation", () => {
    const s1 = session("s1", 0, [], 30_000);
    const s2 = session("s2", 1_000, [], 40_000);
    const v = judgeTtlLocks(
      logOf([
        { session: s1, key: "k", call: 0, ret: 10 },
        { session: s2, key: "k", call: 100, ret: 200 + TTL_MS - 1_000 },
      ]),
      [],
    );
    assert.equal(v.violations.length, 1);
  });

  it("a grant after a renew that answered ok later is a violation; after expiry and lock-delay it is legal", () => {
    const renewedLater = session("s1", 0, [25_000], 30_000);
    const s2 = session("s2", 1_000, [], 40_000);
    const late = { session: s2, key: "k", call: 100, ret: TTL_MS + LOCK_DELAY_MS + 500 };
    assert.equal(
      judgeTtlLocks(logOf([{ session: renewedLater, key: "k", call: 0, ret: 10 }, late]), []).violations
        .length,
      1,
    );
    const expired = session("s1", 0, [], 30_000);
    const v = judgeTtlLocks(logOf([{ session: expired, key: "k", call: 0, ret: 10 }, late]), []);
    assert.deepEqual([v.violations.length, v.afterExpiry, v.insideLockDelay.length], [0, 1, 0]);
  });

  it("a grant after the expiry but inside the lock-delay fails, unless a clock jump could have moved it", () => {
    const expired = session("s1", 0, [], 30_000);
    const s2 = session("s2", 1_000, [], 40_000);
    const early = { session: s2, key: "k", call: 100, ret: TTL_MS + LOCK_DELAY_MS / 2 };
    const grants = logOf([{ session: expired, key: "k", call: 0, ret: 10 }, early]);
    const d = judgeTtlLocks(grants, []);
    assert.deepEqual([d.violations.length, d.insideLockDelay.length], [0, 1]);
    const jumped = judgeTtlLocks(grants, [{ from: TTL_MS - 3_000, to: TTL_MS - 2_000 }]);
    assert.deepEqual([jumped.insideLockDelay.length, jumped.nearClockJumps], [0, 1]);
    const before = judgeTtlLocks(grants, [{ from: -5_000, to: -1 }]);
    assert.deepEqual([before.insideLockDelay.length, before.nearClockJumps], [1, 0]);
  });
});

describe("an archive restored into the scratch server", () => {
  const e = (value: string, createIndex: number, modifyIndex: number) => ({
    value,
    flags: "0",
    createIndex,
    modifyIndex,
  });
  it("must serve the archive's entries exactly, but for entries the server wrote after the restore", () => {
    const want = new Map([
      ["torture/a", e("1", 5, 7)],
      ["torture/lock/l", e("x|s", 8, 9)],
    ]);
    assert.equal(compareRestored(100, want, new Map(want)), null);
    // a lock released by the leader's catalog reconcile after the restore (index past the archive's)
    assert.equal(compareRestored(100, want, new Map([...want, ["torture/lock/l", e("x|s", 8, 102)]])), null);
    assert.match(
      compareRestored(100, want, new Map([...want, ["torture/a", e("2", 5, 7)]])) ?? "",
      /torture\/a/,
    );
    assert.match(compareRestored(100, want, new Map([["torture/a", e("1", 5, 7)]])) ?? "", /not served/);
    assert.match(
      compareRestored(100, want, new Map([...want, ["torture/z", e("1", 1, 1)]])) ?? "",
      /not in the archive/,
    );
  });
});
