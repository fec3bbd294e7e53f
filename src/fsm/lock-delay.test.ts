import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeCommand, encodeCommand, type KvCommand, passLockDelay } from "./command.js";
import { TxnFailedError } from "./errors.js";
import { KvStore } from "./kv-store.js";
import { leaderWrite } from "./leader-write.js";
import { LOCK_DELAY_PASSED, lockDelayJson, lockDelaysFromJson } from "./lock-delay.js";
import type { SessionSpec } from "./session.js";

const S1 = "11111111-1111-1111-1111-111111111111";
const S2 = "22222222-2222-2222-2222-222222222222";

function spec(id: string, lockDelayNs = 15_000_000_000): SessionSpec {
  return {
    ID: id,
    Name: "lock",
    Node: "n1",
    LockDelay: lockDelayNs,
    Behavior: "release",
    TTL: "",
    NodeChecks: ["serfHealth"],
    ServiceChecks: null,
  };
}

const acquire = (key: string, session: string, time: number): KvCommand => ({
  op: "acquire",
  key,
  value: null,
  flags: 0n,
  session,
  time,
});
const lockOp = (key: string, session: string) => ({
  verb: "lock" as const,
  key,
  value: null,
  flags: 0n,
  index: 0n,
  session,
});

/** A replica: applies commands through the encoding, as the raft server does. */
class Replica {
  readonly store: KvStore;
  private i: number;
  constructor(store = new KvStore(), index = 0) {
    this.store = store;
    this.i = index;
  }
  run(cmd: KvCommand): ReturnType<KvStore["execute"]> {
    this.i += 1;
    return this.store.execute(this.i, decodeCommand(encodeCommand(cmd)));
  }
  get index(): number {
    return this.i;
  }
}

/** S1 holds k and S2 exists; S1 is invalidated at 5000 with a 15 s lock-delay: k refuses acquires until 20000. */
function invalidated(): Replica {
  const r = new Replica();
  r.run({ op: "session-create", session: spec(S1), time: 1000 });
  r.run({ op: "session-create", session: spec(S2), time: 1000 });
  assert.equal(r.run(acquire("k", S1, 2000)), true);
  r.run({ op: "session-invalidate", id: S1, time: 5000 });
  return r;
}

describe("lock-delay judged at apply", () => {
  it("refuses an acquire inside the delay that a leader which had not applied the invalidation proposed", () => {
    // The leader's view before the invalidation applied there: nothing refuses k, so it proposes.
    const behind = new Replica();
    behind.run({ op: "session-create", session: spec(S1), time: 1000 });
    behind.run({ op: "session-create", session: spec(S2), time: 1000 });
    behind.run(acquire("k", S1, 2000));
    const w = leaderWrite(behind.store, acquire("k", S2, 0), 6000);
    assert.ok("propose" in w, "the leader does not know the delay");
    assert.deepEqual(w.propose, acquire("k", S2, 6000), "proposed with the leader's time, judged at apply");
    // Every replica applies it after the invalidation, and refuses it alike.
    const r = invalidated();
    assert.equal(r.run(w.propose), false);
    assert.equal(r.store.get("k").entry?.Session, "");
  });

  it("the leader refuses without proposing what its applied state shows in delay, by the same rule", () => {
    const r = invalidated();
    assert.deepEqual(leaderWrite(r.store, acquire("k", S2, 0), 19_999), { refused: false });
    const ok = leaderWrite(r.store, acquire("k", S2, 0), 20_000);
    assert.ok("propose" in ok);
    assert.equal(r.run(ok.propose), true);
    const txn: KvCommand = { op: "txn", ops: [lockOp("k", S2)], time: 0 };
    const refused = leaderWrite(invalidated().store, txn, 10_000);
    assert.ok("refused" in refused && refused.refused instanceof TxnFailedError);
    assert.deepEqual(refused.refused.errors, [
      { OpIndex: 0, What: 'failed to lock key "k" due to lock delay' },
    ]);
  });

  it("judges a txn's lock op at apply", () => {
    const r = invalidated();
    const before = r.store.snapshot();
    const res = r.run({ op: "txn", ops: [lockOp("k", S2)], time: 19_999 });
    assert.ok(res instanceof TxnFailedError);
    assert.match(res.errors[0]?.What ?? "", /due to lock delay/);
    assert.equal(r.store.get("k").entry?.ModifyIndex, before.get("k").entry?.ModifyIndex, "nothing applied");
    assert.ok(!(r.run({ op: "txn", ops: [lockOp("k", S2)], time: 20_000 }) instanceof Error));
    assert.equal(r.store.get("k").entry?.Session, S2);
  });

  it("reads each command's time as max(its time, the largest applied): the FSM's time never goes back", () => {
    // A new leader whose clock is behind: once a command at 25000 applied, 20000 has passed for every replica.
    const r = invalidated();
    r.run({ op: "session-renew", id: S2, time: 25_000 });
    assert.equal(r.store.lockClock, 25_000);
    assert.equal(r.run(acquire("k", S2, 9000)), true, "stamped 9000, judged at 25000");
    // And the other way: a time behind the clock does not reopen a delay that has not passed either.
    const q = invalidated();
    q.run({ op: "session-renew", id: S2, time: 12_000 });
    assert.equal(q.run(acquire("k", S2, 3000)), false, "judged at 12000, inside the delay until 20000");
    assert.equal(q.store.lockClock, 12_000);
    // The deadline starts at the invalidation's FSM time, not at a stamp behind it.
    const p = new Replica();
    p.run({ op: "session-create", session: spec(S1), time: 30_000 });
    p.run({ op: "session-create", session: spec(S2), time: 30_000 });
    p.run(acquire("k", S1, 30_000));
    p.run({ op: "session-destroy", id: S1, time: 1000 });
    assert.equal(p.store.lockDelays.get("k"), 45_000);
  });

  it("applies log entries written before as they applied then: stamped LOCK_DELAY_PASSED or without a time", () => {
    const r = invalidated();
    const legacy = passLockDelay(acquire("k", S2, 6000));
    assert.deepEqual(legacy, acquire("k", S2, LOCK_DELAY_PASSED));
    assert.equal(r.run(legacy), true, "the leader judged it then: granted inside the delay");
    assert.equal(r.store.lockClock, 5000, "and its stamp is no clock");
    assert.equal(r.store.lockDelays.get("k"), 20_000, "the delay stays for acquires judged later");
    const q = invalidated();
    const untimed: KvCommand = { op: "acquire", key: "k", value: null, flags: 0n, session: S2 };
    assert.equal(q.run(untimed), true, "opcode 6 (before sessions had times) is not judged");
    const t = invalidated();
    const txn = passLockDelay({ op: "txn", ops: [lockOp("k", S2)], time: 6000 });
    assert.ok(!(t.run(txn) instanceof Error), "a legacy txn is not judged either");
    assert.equal(t.store.lockClock, 5000);
  });

  it("carries the deadlines and the clock through a snapshot, beside state.bin", () => {
    const r = invalidated();
    const view = r.store.snapshot();
    const json = lockDelayJson(view.lock);
    assert.deepEqual(json, { clock: 5000, delays: [{ key: "k", until: 20_000 }] });
    // Installed from a snapshot (data dir or leader), a replica judges as the others.
    const restored = new KvStore();
    restored.restore(view.records(), lockDelaysFromJson(JSON.parse(JSON.stringify(json))));
    const a = new Replica(restored, r.index);
    assert.equal(a.run(acquire("k", S2, 19_999)), false);
    assert.equal(r.run(acquire("k", S2, 19_999)), false);
    assert.equal(a.run(acquire("k", S2, 20_000)), true);
    // A user's archive carries none: the restored store has no delays and keeps its own clock.
    const user = invalidated();
    user.run({ op: "session-renew", id: S2, time: 7000 });
    user.store.restore(view.records());
    assert.equal(user.store.lockDelays.size, 0);
    assert.equal(user.store.lockClock, 7000);
    assert.equal(new Replica(user.store, user.index).run(acquire("k", S2, 7000)), true);
  });

  it("writes equal JSON for equal states whatever the order the delays were set in", () => {
    const a = lockDelayJson({
      clock: 1,
      until: new Map([
        ["b", 2],
        ["a", 3],
      ]),
    });
    const b = lockDelayJson({
      clock: 1,
      until: new Map([
        ["a", 3],
        ["b", 2],
      ]),
    });
    assert.equal(JSON.stringify(a), JSON.stringify(b));
    assert.deepEqual(
      a.delays.map((d) => d.key),
      ["a", "b"],
    );
  });
});
