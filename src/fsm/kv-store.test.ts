import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeCommand, type KvCommand } from "./command.js";
import { InvalidSessionError } from "./errors.js";
import { KvStore, type SessionView } from "./kv-store.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const set = (key: string, value = "v", flags = 0n): KvCommand => ({
  op: "set",
  key,
  value: bytes(value),
  flags,
});
const sessions = (...valid: string[]): SessionView => ({
  isValid: (id) => valid.includes(id),
  isLockDelayed: () => false,
});

/** A store with `cmds` applied at indexes 10, 11, 12, ... (encoded, as they come from the log). */
function storeWith(...cmds: KvCommand[]): KvStore {
  const s = new KvStore();
  for (const [i, c] of cmds.entries()) s.apply(10 + i, encodeCommand(c));
  return s;
}

describe("KvStore verbs", () => {
  it("set creates, then updates keeping CreateIndex; flags are replaced", () => {
    const s = new KvStore();
    assert.equal(s.apply(5, set("a", "1", 42n)), true);
    assert.deepEqual(s.get("a").entry, {
      Key: "a",
      Flags: 42n,
      Value: bytes("1"),
      CreateIndex: 5,
      ModifyIndex: 5,
      LockIndex: 0,
      Session: "",
    });
    assert.equal(s.apply(7, set("a", "2")), true);
    const e = s.get("a").entry;
    assert.equal(e?.CreateIndex, 5);
    assert.equal(e?.ModifyIndex, 7);
    assert.equal(e?.Flags, 0n);
    assert.equal(s.get("a").index, 7);
  });

  it("a set that changes nothing keeps ModifyIndex (Consul skips the write) and still answers true", () => {
    const s = storeWith(set("a", "1"));
    assert.equal(s.apply(20, set("a", "1")), true);
    assert.equal(s.get("a").entry?.ModifyIndex, 10);
    assert.equal(s.index.get("kvs")?.value, 10);
  });

  it("cas: 0 writes only if absent; N only if ModifyIndex == N", () => {
    const s = new KvStore();
    const cas = (key: string, index: bigint, value = "c"): KvCommand => ({
      op: "cas",
      key,
      value: bytes(value),
      flags: 0n,
      index,
    });
    assert.equal(s.apply(1, cas("k", 0n)), true, "cas=0 on a missing key writes");
    assert.equal(s.apply(2, cas("k", 0n)), false, "cas=0 on an existing key refuses");
    assert.equal(s.apply(3, cas("k", 2n)), false, "wrong index");
    assert.equal(s.apply(4, cas("missing", 1n)), false, "cas=N on a missing key refuses");
    assert.equal(s.apply(5, cas("k", 1n, "d")), true);
    assert.equal(s.get("k").entry?.ModifyIndex, 5);
    assert.equal(s.apply(6, cas("k", 1n)), false, "stale index after the write");
    assert.equal(s.apply(7, cas("k", (1n << 64n) - 1n)), false, "uint64 past 2^53 compares exactly");
    assert.equal(s.get("missing").entry, null);
  });

  it("delete is idempotent, leaves a tombstone and moves the prefix index", () => {
    const s = storeWith(set("web/a"), set("web/b"), set("db/x"));
    assert.equal(s.list("web/").index, 11);
    assert.equal(s.apply(20, { op: "delete", key: "web/b" }), true);
    assert.equal(s.get("web/b").entry, null);
    assert.equal(s.tombstones.get("web/b")?.index, 20);
    assert.equal(s.list("web/").index, 20, "the delete moved the prefix index past the live max 10");
    assert.equal(s.list("db/").index, 12, "an unrelated prefix keeps its index");
    assert.equal(s.get("web/b").index, 20, "a miss reports the KV table max");
    assert.equal(s.apply(21, { op: "delete", key: "nope" }), true);
    assert.equal(s.index.get("kvs")?.value, 20, "deleting a missing key changes nothing");
  });

  it("recordCount counts the records a snapshot writes: live keys and tombstones", () => {
    const s = storeWith(set("web/a"), set("web/b"), set("db/x"));
    assert.equal(s.recordCount, 3);
    s.apply(20, { op: "delete", key: "web/b" });
    assert.equal(s.recordCount, 3, "one key fewer, one tombstone more");
    s.apply(21, set("web/a", "again"));
    assert.equal(s.recordCount, 3, "an overwrite adds no record");
    s.apply(22, set("web/c"));
    assert.equal(s.recordCount, 4);
  });

  it("delete-cas: deletes on a matching index, refuses otherwise, and is true for a missing key", () => {
    const s = storeWith(set("k"));
    assert.equal(s.apply(20, { op: "delete-cas", key: "k", index: 9n }), false);
    assert.equal(s.apply(21, { op: "delete-cas", key: "k", index: 0n }), false, "cas=0 never deletes");
    assert.notEqual(s.get("k").entry, null);
    assert.equal(s.apply(22, { op: "delete-cas", key: "k", index: 10n }), true);
    assert.equal(s.get("k").entry, null);
    assert.equal(s.apply(23, { op: "delete-cas", key: "k", index: 10n }), true, "Consul: missing → true");
  });

  it("delete-tree removes the subtree with one tombstone at the prefix; '' removes all, no tombstone", () => {
    const s = storeWith(set("a/1"), set("a/2"), set("a/b/3"), set("ab"), set("b"));
    assert.equal(s.apply(20, { op: "delete-tree", prefix: "a/" }), true);
    assert.deepEqual(
      s.list("").entries.map((e) => e.Key),
      ["ab", "b"],
    );
    assert.deepEqual([...s.tombstones.entries()], [["a/", { index: 20 }]]);
    assert.equal(s.list("a").index, 20);
    assert.equal(s.list("a/b/").index, 20, "nothing under a/b/ now: the table max");
    assert.equal(s.apply(21, { op: "delete-tree", prefix: "zzz" }), true);
    assert.equal(s.index.get("kvs")?.value, 20, "an empty subtree changes nothing");
    assert.equal(s.apply(22, { op: "delete-tree", prefix: "" }), true);
    assert.equal(s.kv.size, 0);
    assert.equal(s.tombstones.size, 1);
    assert.equal(s.get("x").index, 22);
  });

  it("tombstone-reap drops old tombstones; the prefix index may then go back (clients reset)", () => {
    const s = storeWith(set("p/a"), set("p/b"));
    s.apply(20, { op: "delete", key: "p/b" });
    s.apply(21, { op: "delete", key: "q" });
    assert.equal(s.list("p/").index, 20);
    s.apply(30, { op: "tombstone-reap", index: 20n });
    assert.equal(s.tombstones.size, 0);
    assert.equal(s.list("p/").index, 10);
  });

  it("acquire: unknown or missing session is an error; LockIndex counts new holders", () => {
    const s = new KvStore();
    const acq = (key: string, session: string, value = "x"): KvCommand => ({
      op: "acquire",
      key,
      value: bytes(value),
      flags: 0n,
      session,
    });
    const bad = s.apply(1, acq("lock", "s1"));
    assert.ok(bad instanceof InvalidSessionError);
    assert.equal(bad.message, 'invalid session "s1"');
    assert.equal((s.apply(2, acq("lock", "")) as InvalidSessionError).message, "missing session");
    assert.equal(s.get("lock").entry, null);
    const view = sessions("s1", "s2");
    assert.equal(s.apply(3, acq("lock", "s1"), view), true, "a free (even missing) key is acquired");
    assert.equal(s.get("lock").entry?.LockIndex, 1);
    assert.equal(s.get("lock").entry?.Session, "s1");
    assert.equal(s.apply(4, acq("lock", "s1", "y"), view), true, "the holder re-acquires");
    assert.equal(s.get("lock").entry?.LockIndex, 1);
    assert.equal(s.get("lock").entry?.ModifyIndex, 4);
    assert.equal(s.apply(5, acq("lock", "s2"), view), false, "held by another session");
    const delayed: SessionView = { isValid: () => true, isLockDelayed: (k) => k === "lock" };
    assert.equal(s.apply(6, { op: "release", key: "lock", value: null, flags: 0n, session: "s1" }), true);
    assert.equal(s.get("lock").entry?.Session, "");
    assert.equal(s.get("lock").entry?.LockIndex, 1, "release keeps LockIndex");
    assert.equal(s.apply(7, acq("lock", "s2"), delayed), false, "lock-delay refuses");
    assert.equal(s.apply(8, acq("lock", "s2"), view), true);
    assert.equal(s.get("lock").entry?.LockIndex, 2, "a new holder increments LockIndex");
  });

  it("release: only the holder; a plain set keeps the holder but resets LockIndex as Consul's", () => {
    const view = sessions("s1");
    const s = new KvStore();
    s.apply(1, { op: "acquire", key: "k", value: null, flags: 0n, session: "s1" }, view);
    const rel = (session: string): KvCommand => ({
      op: "release",
      key: "k",
      value: null,
      flags: 0n,
      session,
    });
    assert.equal(s.apply(2, rel("s2")), false);
    assert.equal(s.apply(3, { op: "release", key: "nope", value: null, flags: 0n, session: "s1" }), false);
    assert.equal(s.apply(4, set("k", "plain")), true);
    assert.equal(s.get("k").entry?.Session, "s1");
    assert.equal(s.get("k").entry?.LockIndex, 0);
    assert.equal(s.apply(5, rel("s1")), true);
    assert.equal(s.get("k").entry?.Session, "");
  });

  it("refuses an apply index that does not increase", () => {
    const s = storeWith(set("a"));
    assert.throws(() => s.apply(10, set("b")), /apply index 10 after index 10/);
  });
});

describe("KvStore reads and Consul's index rules", () => {
  it("an empty store answers index 1, never 0", () => {
    const s = new KvStore();
    assert.equal(s.get("x").index, 1);
    assert.equal(s.list("").index, 1);
    assert.equal(s.keys("p/").index, 1);
  });

  it("list and keys: max over live entries and tombstones under the prefix, else the table max", () => {
    const s = storeWith(set("a/x"), set("b/y"), set("c"));
    assert.equal(s.list("a/").index, 10);
    assert.equal(s.keys("b/").index, 11);
    assert.equal(s.list("").index, 12);
    assert.equal(s.list("nothing/").index, 12, "no live entry and no tombstone: the table max");
    assert.deepEqual(
      s.list("").entries.map((e) => e.Key),
      ["a/x", "b/y", "c"],
    );
  });

  it("keys with a separator fold at the first separator after the prefix (consul-compat.md §1.2)", () => {
    const s = storeWith(
      set("web/bar"),
      set("web/subdir/a"),
      set("web/subdir/b"),
      set("web/subdir/"),
      set("web/zeta/q/r"),
      set("webx"),
    );
    assert.deepEqual(s.keys("web/", "/").keys, ["web/bar", "web/subdir/", "web/zeta/"]);
    assert.deepEqual(s.keys("", "/").keys, ["web/", "webx"]);
    assert.deepEqual(s.keys("web", "/").keys, ["web/", "webx"]);
    assert.deepEqual(s.keys("web/").keys, [
      "web/bar",
      "web/subdir/",
      "web/subdir/a",
      "web/subdir/b",
      "web/zeta/q/r",
    ]);
    assert.deepEqual(s.keys("web/", "ir/").keys, ["web/bar", "web/subdir/", "web/zeta/q/r"]);
  });

  it("orders keys as Go does (UTF-8 bytes), not as UTF-16", () => {
    const s = storeWith(set("k/😀"), set("k/\u{ffff}"), set("k/z"));
    assert.deepEqual(
      s.list("k/").entries.map((e) => e.Key),
      ["k/z", "k/\u{ffff}", "k/😀"],
    );
  });
});

describe("KvStore watches", () => {
  it("wakes only the watchers of the touched key or prefix, once", () => {
    const s = storeWith(set("web/a"), set("db/b"));
    const woke: string[] = [];
    s.watch("web/a", "key", () => woke.push("key web/a"));
    s.watch("web/", "prefix", () => woke.push("prefix web/"));
    s.watch("", "prefix", () => woke.push("prefix ''"));
    s.watch("db/b", "key", () => woke.push("key db/b"));
    s.watch("db/", "prefix", () => woke.push("prefix db/"));
    s.apply(20, set("web/a", "new"));
    assert.deepEqual(woke.sort(), ["key web/a", "prefix ''", "prefix web/"]);
    woke.length = 0;
    s.apply(21, set("web/a", "newer"));
    assert.deepEqual(woke, [], "one-shot: the woken watchers are gone");
    s.apply(22, { op: "cas", key: "db/b", value: null, flags: 0n, index: 999n });
    assert.deepEqual(woke, [], "a refused cas changes nothing and wakes nobody");
    s.apply(23, { op: "delete-tree", prefix: "d" });
    assert.deepEqual(woke.sort(), ["key db/b", "prefix db/"]);
  });

  it("a delete-tree wakes watchers inside and above the subtree; cancel removes a watch", () => {
    const s = storeWith(set("a/b/c"), set("z"));
    const woke: string[] = [];
    s.watch("a/b/", "prefix", () => woke.push("inside"));
    s.watch("a", "prefix", () => woke.push("above"));
    s.watch("z", "prefix", () => woke.push("beside"));
    const cancel = s.watch("a/b/c", "key", () => woke.push("cancelled"));
    cancel.cancel();
    s.apply(20, { op: "delete-tree", prefix: "a/" });
    assert.deepEqual(woke.sort(), ["above", "inside"]);
  });

  it("a restore wakes everybody", () => {
    const s = storeWith(set("a"));
    let n = 0;
    s.watch("a", "key", () => n++);
    s.watch("zzz", "prefix", () => n++);
    s.restore(s.snapshot().records());
    assert.equal(n, 2);
  });
});
