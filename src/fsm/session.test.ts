import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeCommand, encodeCommand, type KvCommand } from "./command.js";
import { parseGoDuration } from "./duration.js";
import { InvalidBehaviorError, InvalidSessionError, SessionIdError, SessionTtlError } from "./errors.js";
import { KvStore } from "./kv-store.js";
import type { SessionSpec } from "./session.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const S1 = "11111111-1111-1111-1111-111111111111";
const S2 = "22222222-2222-2222-2222-222222222222";

function spec(over: Partial<SessionSpec> = {}): SessionSpec {
  return {
    ID: S1,
    Name: "lock",
    Node: "n1",
    LockDelay: 15_000_000_000,
    Behavior: "release",
    TTL: "",
    NodeChecks: ["serfHealth"],
    ServiceChecks: null,
    ...over,
  };
}

/** Applies commands through the encoding, as the raft server does. */
class Log {
  readonly store = new KvStore();
  private i = 0;
  run(cmd: KvCommand): ReturnType<KvStore["execute"]> {
    this.i += 1;
    return this.store.execute(this.i, decodeCommand(encodeCommand(cmd)));
  }
  get index(): number {
    return this.i;
  }
}

const create = (over: Partial<SessionSpec> = {}, time = 1000): KvCommand => ({
  op: "session-create",
  session: spec(over),
  time,
});
const acquire = (key: string, session: string, time: number): KvCommand => ({
  op: "acquire",
  key,
  value: bytes("v"),
  flags: 0n,
  session,
  time,
});

describe("Go durations", () => {
  it("parses as time.ParseDuration", () => {
    assert.equal(parseGoDuration("10s"), 10_000_000_000n);
    assert.equal(parseGoDuration("1h30m"), 5_400_000_000_000n);
    assert.equal(parseGoDuration("1.5s"), 1_500_000_000n);
    assert.equal(parseGoDuration("0"), 0n);
    assert.equal(parseGoDuration("-2ms"), -2_000_000n);
    assert.throws(() => parseGoDuration("10"), /^DurationSyntaxError: time: missing unit in duration "10"$/);
    assert.throws(() => parseGoDuration("10x"), /time: unknown unit "x" in duration "10x"/);
    assert.throws(() => parseGoDuration("abc"), /time: invalid duration "abc"/);
  });
});

describe("session commands", () => {
  it("create, info, list, node, renew, destroy with the sessions table index", () => {
    const l = new Log();
    assert.equal(l.store.sessionList().index, 1, "an empty table answers index 1");
    assert.equal(l.run(create()), true);
    assert.equal(l.run(create({ ID: S2, Node: "n2", Behavior: "" })), true);
    const info = l.store.sessionInfo(S1);
    assert.equal(info.index, 2);
    assert.equal(info.session?.CreateIndex, 1);
    assert.equal(info.session?.LockDelay, 15_000_000_000);
    assert.equal(l.store.sessionInfo(S2).session?.Behavior, "release", '"" becomes release');
    assert.deepEqual(
      l.store.sessionList().sessions.map((s) => s.ID),
      [S1, S2],
    );
    assert.deepEqual(
      l.store.nodeSessions("n2").sessions.map((s) => s.ID),
      [S2],
    );
    assert.deepEqual(l.run({ op: "session-renew", id: S1, time: 2000 }), info.session);
    assert.equal(l.run({ op: "session-renew", id: "nope", time: 2000 }), null);
    assert.equal(l.store.sessionList().index, 2, "renew writes nothing");
    assert.equal(l.run({ op: "session-destroy", id: S1, time: 3000 }), true);
    assert.equal(l.run({ op: "session-destroy", id: S1, time: 3000 }), true, "unknown: still true");
    assert.equal(l.store.sessionInfo(S1).session, null);
    assert.equal(l.store.sessionInfo(S1).index, 5, "the first destroy moved it; the no-op did not");
  });

  it("validates TTL and Behavior with Consul's messages, and refuses a missing or reused ID", () => {
    const l = new Log();
    for (const ttl of ["", "0s", "10s", "86400s", "24h", "15m"]) {
      assert.equal(l.run(create({ ID: `id-${ttl}`, TTL: ttl })), true, ttl);
    }
    const bad: [string, string][] = [
      ["9s", "Invalid Session TTL '9000000000', must be between [10s=24h0m0s]"],
      ["86401s", "Invalid Session TTL '86401000000000', must be between [10s=24h0m0s]"],
      ["10", `Session TTL '10' invalid: time: missing unit in duration "10"`],
      ["ten", `Session TTL 'ten' invalid: time: invalid duration "ten"`],
    ];
    for (const [ttl, msg] of bad) {
      const r = l.run(create({ ID: "x", TTL: ttl }));
      assert.ok(r instanceof SessionTtlError, ttl);
      assert.equal(r.message, msg);
    }
    const b = l.run(create({ ID: "x", Behavior: "keep" }));
    assert.ok(b instanceof InvalidBehaviorError);
    assert.equal(b.message, "Invalid Behavior setting 'keep'");
    assert.ok(l.run(create({ ID: "" })) instanceof SessionIdError);
    assert.ok(l.run(create({ ID: "id-" })) instanceof SessionIdError);
    assert.equal(l.store.sessionInfo("x").session, null);
    assert.throws(() => l.store.apply(l.index + 1, create({ ID: "y", TTL: "1s" })), SessionTtlError);
  });

  it("acquire needs a live session; one holder per key", () => {
    const l = new Log();
    assert.ok(l.run(acquire("k", S1, 1)) instanceof InvalidSessionError);
    l.run(create());
    l.run(create({ ID: S2 }));
    assert.equal(l.run(acquire("k", S1, 1)), true);
    assert.equal(l.run(acquire("k", S2, 1)), false, "held by another session");
    assert.equal(l.store.get("k").entry?.Session, S1);
    assert.equal(l.store.get("k").entry?.LockIndex, 1);
    l.run({ op: "session-destroy", id: S1, time: 1 });
    assert.ok(l.run(acquire("j", S1, 100_000)) instanceof InvalidSessionError, "destroyed session");
  });

  for (const behavior of ["release", "delete"] as const) {
    it(`invalidation with Behavior=${behavior}, then lock-delay by the command's time`, () => {
      const l = new Log();
      l.run(create({ Behavior: behavior, LockDelay: 15_000_000_000 }));
      l.run(create({ ID: S2 }));
      l.run(acquire("k", S1, 1000));
      l.run({ op: "set", key: "other", value: null, flags: 0n });
      const before = l.store.get("k").entry;
      assert.equal(l.run({ op: "session-invalidate", id: S1, time: 5000 }), true);
      const after = l.store.get("k").entry;
      if (behavior === "release") {
        assert.equal(after?.Session, "");
        assert.equal(after?.LockIndex, before?.LockIndex);
        assert.equal(after?.ModifyIndex, l.index);
        assert.equal(after?.CreateIndex, before?.CreateIndex);
      } else {
        assert.equal(after, null);
        assert.equal(l.store.tombstones.get("k")?.index, l.index);
      }
      assert.equal(l.store.lockDelays.get("k"), 20_000);
      assert.equal(l.run(acquire("k", S2, 19_999)), false, "inside lock-delay");
      assert.equal(l.run(acquire("k", S2, 20_000)), true, "at time + delay");
      assert.equal(l.store.lockDelays.get("k"), 20_000, "kept until an invalidation past it forgets it");
      l.run({ op: "session-destroy", id: "unknown", time: 20_000 });
      assert.equal(l.store.lockDelays.get("k"), 20_000, "destroying an unknown session changes nothing");
    });
  }

  it("keeps a lock-delay through an acquire an older leader let pass with a time past every deadline", () => {
    // Leaders once judged lock-delay in memory, then proposed the acquire stamped LOCK_DELAY_PASSED
    // (Number.MAX_SAFE_INTEGER) so that replicas applied it alike; such entries may still be in a log. One
    // that lands after the invalidation must not erase the delay that later acquires are judged by.
    const l = new Log();
    l.run(create({ LockDelay: 15_000_000_000 }));
    l.run(acquire("k", S1, 1000));
    l.run({ op: "session-invalidate", id: S1, time: 5000 });
    assert.ok(l.run(acquire("k", S1, Number.MAX_SAFE_INTEGER)) instanceof InvalidSessionError);
    assert.equal(l.store.lockDelays.get("k"), 20_000, "the leader still refuses acquires of k until 20 s");
  });

  it("caps lock-delay at 60s; release does not start one", () => {
    const l = new Log();
    l.run(create({ LockDelay: 600_000_000_000 }));
    l.run(create({ ID: S2, LockDelay: 0 }));
    l.run(acquire("a", S1, 0));
    l.run(acquire("b", S2, 0));
    l.run({ op: "release", key: "a", value: null, flags: 0n, session: S1 });
    assert.equal(l.store.lockDelays.size, 0);
    l.run(acquire("a", S1, 0));
    l.run({ op: "session-destroy", id: S1, time: 1000 });
    l.run({ op: "session-destroy", id: S2, time: 1000 });
    assert.deepEqual([...l.store.lockDelays], [["a", 61_000]]);
    l.run(create({ ID: S2 }));
    l.run({ op: "session-destroy", id: S2, time: 60_999 });
    assert.deepEqual([...l.store.lockDelays], [["a", 61_000]], "not expired yet");
    l.run(create({ ID: S2 }));
    l.run({ op: "session-destroy", id: S2, time: 61_000 });
    assert.equal(l.store.lockDelays.size, 0, "an invalidation forgets the delays expired by its time");
  });

  it("wakes session watchers on session writes only", () => {
    const l = new Log();
    let woke = 0;
    l.store.watchSessions(() => woke++);
    l.run({ op: "set", key: "k", value: null, flags: 0n });
    l.run({ op: "session-renew", id: S1, time: 0 });
    assert.equal(woke, 0);
    l.run(create());
    assert.equal(woke, 1);
    l.store.watchSessions(() => woke++);
    l.run({ op: "session-destroy", id: S1, time: 0 });
    assert.equal(woke, 2);
  });

  it("an acquire encoded without a time (older log entries) still decodes and ignores lock-delay", () => {
    const cmd: KvCommand = { op: "acquire", key: "k", value: null, flags: 0n, session: S1 };
    const enc = encodeCommand(cmd);
    assert.equal(enc[1], 6);
    assert.deepEqual(decodeCommand(enc), cmd);
    assert.equal(encodeCommand(acquire("k", S1, 5))[1], 14);
  });
});
