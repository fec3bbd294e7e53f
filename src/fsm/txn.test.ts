import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeCommand, encodeCommand, type KvCommand } from "./command.js";
import { TxnFailedError, TxnTooLargeError } from "./errors.js";
import { type CommandResult, KvStore } from "./kv-store.js";
import { lockDelayJson, lockDelaysFromJson } from "./lock-delay.js";
import type { KvSnapshot } from "./snapshot.js";
import { TXN_OPS_MAX, type TxnOp, type TxnVerb } from "./txn.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const S1 = "s1";

function op(verb: TxnVerb, key: string, over: Partial<TxnOp> = {}): TxnOp {
  return { verb, key, value: null, flags: 0n, index: 0n, session: "", ...over };
}

class Log {
  readonly store = new KvStore();
  i = 0;
  run(cmd: KvCommand): CommandResult {
    this.i += 1;
    return this.store.execute(this.i, decodeCommand(encodeCommand(cmd)));
  }
  txn(ops: TxnOp[], time = 0): CommandResult {
    return this.run({ op: "txn", ops, time });
  }
}

function seeded(): Log {
  const l = new Log();
  l.run({ op: "set", key: "a", value: bytes("A"), flags: 7n }); // 1
  l.run({ op: "set", key: "t/1", value: bytes("1"), flags: 0n }); // 2
  l.run({ op: "set", key: "t/2", value: bytes("2"), flags: 0n }); // 3
  l.run({
    op: "session-create",
    session: {
      ID: S1,
      Name: "",
      Node: "n",
      LockDelay: 1_000_000_000,
      Behavior: "release",
      TTL: "",
      NodeChecks: null,
      ServiceChecks: null,
    },
    time: 0,
  }); // 4
  return l;
}

describe("txn", () => {
  it("returns Consul's result per verb: values only for get, get-or-empty and get-tree", () => {
    const l = seeded();
    const r = l.txn([
      op("get", "a"),
      op("get-or-empty", "missing", { flags: 3n }),
      op("get-tree", "t/"),
      op("check-index", "a", { index: 1n }),
      op("check-not-exists", "zz"),
      op("set", "b", { value: bytes("B") }),
      op("cas", "a", { value: bytes("A2"), index: 1n }),
      op("lock", "l", { value: bytes("L"), session: S1 }),
      op("check-session", "l", { session: S1 }),
      op("unlock", "l", { session: S1 }),
      op("delete", "t/1"),
      op("delete-cas", "b", { index: 5n }),
      op("delete-tree", "t/"),
    ]);
    assert.ok(r !== null && typeof r === "object" && "kind" in r, String(r));
    const res = r.results;
    assert.equal(
      res.length,
      10,
      "get, get-or-empty, 2 × get-tree, check-index, set, cas, lock, check-session, unlock",
    );
    assert.deepEqual(res[0]?.Value, bytes("A"));
    assert.equal(res[0]?.Flags, 7n);
    assert.deepEqual([res[1]?.Key, res[1]?.Value, res[1]?.Flags], ["missing", null, 3n]);
    assert.deepEqual(
      res.slice(2, 4).map((e) => e.Key),
      ["t/1", "t/2"],
    );
    assert.deepEqual(res[3]?.Value, bytes("2"));
    for (const e of res.slice(4)) assert.equal(e.Value, null, `${e.Key} has no value`);
    assert.deepEqual([res[5]?.Key, res[5]?.ModifyIndex, res[5]?.CreateIndex], ["b", 5, 5]);
    assert.deepEqual([res[7]?.Session, res[7]?.LockIndex], [S1, 1]);
    assert.deepEqual([res[9]?.Session, res[9]?.LockIndex], ["", 1]);
    assert.equal(l.store.get("a").entry?.ModifyIndex, 5);
    assert.equal(l.store.get("b").entry, null);
    assert.equal(l.store.list("t/").entries.length, 0);
    assert.equal(l.store.get("l").entry?.Session, "");
  });

  it("is all or nothing: a failing op leaves nothing applied and reports every error", () => {
    const l = seeded();
    let woke = 0;
    l.store.watch("", "prefix", () => woke++);
    const before = l.store.snapshot();
    const r = l.txn([
      op("set", "new", { value: bytes("x") }),
      op("delete-tree", ""),
      op("get", "a"),
      op("cas", "c", { index: 9n }),
      op("check-index", "nope", { index: 1n }),
      op("lock", "k", { session: "ghost" }),
    ]);
    assert.ok(r instanceof TxnFailedError);
    assert.deepEqual(r.errors, [
      { OpIndex: 2, What: `key "a" doesn't exist` },
      { OpIndex: 3, What: `failed to set key "c", index is stale` },
      { OpIndex: 4, What: `failed to check index, key "nope" doesn't exist` },
      { OpIndex: 5, What: `invalid session "ghost"` },
    ]);
    assert.equal(woke, 0);
    assert.deepEqual(digestOf(l.store.snapshot()), digestOf(before));
    assert.equal(l.store.get("a").entry?.ModifyIndex, 1);
    assert.deepEqual(l.store.index, before.index, "index table unchanged");
    assert.throws(
      () => l.store.apply(l.i + 1, { op: "txn", ops: [op("get", "zz")], time: 0 }),
      TxnFailedError,
    );
  });

  it("reports Consul's texts for checks, unlock, delete-cas, empty keys and lock-delay", () => {
    const l = seeded();
    l.run({ op: "acquire", key: "h", value: null, flags: 0n, session: S1, time: 0 });
    const r = l.txn([
      op("check-index", "a", { index: 2n }),
      op("check-session", "a", { session: S1 }),
      op("check-not-exists", "a"),
      op("unlock", "a", { session: S1 }),
      op("delete-cas", "a", { index: 9n }),
      op("lock", "h", { session: "x" }),
      op("unlock", "h", { session: "" }),
    ]);
    assert.ok(r instanceof TxnFailedError);
    assert.deepEqual(
      r.errors.map((e) => e.What),
      [
        `failed index check for key "a", current modify index 1 != 2`,
        `failed session check for key "a", current session "" != "s1"`,
        `key "a" exists`,
        `failed to unlock key "a", lock isn't held, or is held by another session`,
        `failed to delete key "a", index is stale`,
        `invalid session "x"`,
        "missing session",
      ],
    );
    const empty = l.txn([op("get", ""), op("delete-tree", "")]);
    assert.ok(empty instanceof TxnFailedError);
    assert.deepEqual(empty.errors, [{ OpIndex: 0, What: "Must provide key" }]);
    l.run({ op: "session-destroy", id: S1, time: 10_000 });
    l.run({
      op: "session-create",
      session: {
        ID: "s2",
        Name: "",
        Node: "n",
        LockDelay: 0,
        Behavior: "release",
        TTL: "",
        NodeChecks: null,
        ServiceChecks: null,
      },
      time: 0,
    });
    const delayed = l.txn([op("lock", "h", { session: "s2" })], 10_500);
    assert.ok(delayed instanceof TxnFailedError);
    assert.equal(delayed.errors[0]?.What, `failed to lock key "h" due to lock delay`);
    const ok = l.txn([op("lock", "h", { session: "s2" })], 11_000);
    assert.ok(ok !== null && typeof ok === "object" && "kind" in ok);
  });

  it(`refuses more than ${TXN_OPS_MAX} ops with Consul's text`, () => {
    const ops = Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => op("get-or-empty", `k${i}`));
    assert.throws(
      () => encodeCommand({ op: "txn", ops, time: 0 }),
      (e: unknown) =>
        e instanceof TxnTooLargeError && e.message === "Transaction contains too many operations (129 > 128)",
    );
    const l = new Log();
    assert.ok(l.store.execute(1, { op: "txn", ops, time: 0 }) instanceof TxnTooLargeError);
    l.i = 1;
    const okOps = ops.slice(0, TXN_OPS_MAX);
    const r = l.txn(okOps);
    assert.ok(r !== null && typeof r === "object" && "kind" in r && r.results.length === TXN_OPS_MAX);
  });
});

function digestOf(v: KvSnapshot): number {
  return v.digest();
}

async function stateBin(view: KvSnapshot): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of view.stateBin()) parts.push(chunk);
  return Buffer.concat(parts);
}

const keyArb = fc.constantFrom("a", "a/b", "b", "b/c");
const sidArb = fc.constantFrom("s1", "s2", "s3");
const timeArb = fc.integer({ min: 0, max: 40_000 });
const txnOpArb: fc.Arbitrary<TxnOp> = fc.record({
  verb: fc.constantFrom<TxnVerb>(
    "set",
    "cas",
    "lock",
    "unlock",
    "get",
    "get-tree",
    "check-index",
    "delete",
    "delete-tree",
    "delete-cas",
    "check-session",
  ),
  key: keyArb,
  value: fc.option(fc.uint8Array({ maxLength: 3 }), { nil: null }),
  flags: fc.constant(0n),
  index: fc.bigInt({ min: 0n, max: 30n }),
  session: sidArb,
});
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({
    op: fc.constant("session-create" as const),
    session: fc.record({
      ID: sidArb,
      Name: fc.constant("n"),
      Node: fc.constantFrom("n1", "n2"),
      LockDelay: fc.constantFrom(0, 5_000_000_000, 15_000_000_000),
      Behavior: fc.constantFrom("release", "delete", ""),
      TTL: fc.constantFrom("", "30s", "5s"),
      NodeChecks: fc.constant(["serfHealth"]),
      ServiceChecks: fc.constant(null),
    }),
    time: timeArb,
  }),
  fc.record({
    op: fc.constantFrom("session-destroy" as const, "session-invalidate" as const, "session-renew" as const),
    id: sidArb,
    time: timeArb,
  }),
  fc.record({
    op: fc.constant("acquire" as const),
    key: keyArb,
    value: fc.constant(null),
    flags: fc.constant(0n),
    session: sidArb,
    time: timeArb,
  }),
  fc.record({
    op: fc.constant("release" as const),
    key: keyArb,
    value: fc.constant(null),
    flags: fc.constant(1n),
    session: sidArb,
  }),
  fc.record({
    op: fc.constant("set" as const),
    key: keyArb,
    value: fc.constant(bytes("v")),
    flags: fc.constant(0n),
  }),
  fc.record({ op: fc.constant("delete" as const), key: keyArb }),
  fc.record({ op: fc.constant("txn" as const), ops: fc.array(txnOpArb, { maxLength: 4 }), time: timeArb }),
);

describe("sessions, locks and txns replicate deterministically", () => {
  it("two stores agree byte for byte; a restore midway plus the rest of the log agrees too", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), fc.nat(40), async (cmds, cut) => {
        const a = new KvStore();
        const b = new KvStore();
        const enc = cmds.map((c) => encodeCommand(c));
        const ra = enc.map((c, i) => a.execute(i + 1, c));
        const rb = enc.map((c, i) => b.execute(i + 1, c));
        assert.deepEqual(rb, ra);
        const binA = await stateBin(a.snapshot());
        assert.deepEqual(await stateBin(b.snapshot()), binA);
        const at = Math.min(cut, cmds.length);
        const mid = new KvStore();
        for (const [i, c] of enc.slice(0, at).entries()) mid.execute(i + 1, c);
        const view = mid.snapshot();
        const c = new KvStore();
        // Lock-delays are not in state.bin (as in Consul); snapshots carry them beside it, in JSON.
        c.restore(view.records(), lockDelaysFromJson(lockDelayJson(view.lock)));
        const rc = enc.slice(at).map((x, i) => c.execute(at + i + 1, x));
        const noExtra = (r: CommandResult) =>
          r !== null && typeof r === "object" && "ID" in r ? { ...r, extra: undefined } : r;
        assert.deepEqual(rc.map(noExtra), ra.slice(at).map(noExtra));
        assert.deepEqual(await stateBin(c.snapshot()), binA);
        assert.deepEqual(lockDelayJson(c.snapshot().lock), lockDelayJson(a.snapshot().lock));
        // A restored session keeps the record's unmodelled fields (Checks: nil) in `extra`; compare the rest.
        const plain = (k: KvStore) => k.sessionList().sessions.map(({ extra: _e, ...rest }) => rest);
        assert.deepEqual(plain(c), plain(a));
        assert.equal(c.sessionList().index, a.sessionList().index);
      }),
      { numRuns: 300 },
    );
  });
});
