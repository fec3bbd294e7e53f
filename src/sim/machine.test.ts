import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeCommand, type KvCommand, KvStore } from "../fsm/index.js";
import { stateBinBytes } from "../snapshot/index.js";
import { decodeStateBin, encodeStateBin, SimMachine } from "./machine.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const SESSION = "00000000-0000-4000-8000-000100000001";

function commands(): KvCommand[] {
  return [
    { op: "set", key: "k0", value: enc("a"), flags: 0n },
    {
      op: "session-create",
      time: 1000,
      session: {
        ID: SESSION,
        Name: "c1",
        Node: "client-1",
        LockDelay: 5e9,
        Behavior: "release",
        TTL: "10s",
        NodeChecks: [],
        ServiceChecks: null,
      },
    },
    { op: "acquire", key: "lock/0", value: enc("b"), flags: 0n, session: SESSION, time: 2000 },
    { op: "delete", key: "k0" },
    { op: "set", key: "k1", value: null, flags: 7n },
  ];
}

describe("SimMachine", () => {
  it("encodes state.bin exactly as the streaming writer does", async () => {
    const store = new KvStore();
    for (const [i, c] of commands().entries()) store.execute(i + 1, c);
    const view = store.snapshot();
    assert.deepEqual(encodeStateBin(view), await stateBinBytes(view.header(), view.records()));
  });

  it("restores a snapshot to the same state and the same bytes, at the snapshot's raft index", () => {
    const a = new SimMachine();
    for (const [i, c] of commands().entries()) a.execute(i + 1, encodeCommand(c));
    a.skip(6); // a no-op entry: the raft index moves, the store does not
    const bytes = a.snapshot();
    const b = new SimMachine();
    b.restore(bytes, 6, a.lockJson());
    assert.equal(b.applied, 6);
    assert.deepEqual(b.snapshot(), bytes);
    assert.deepEqual(b.lockJson(), a.lockJson());
    assert.equal(b.digest(), a.digest());
    assert.equal(b.get("lock/0")?.Session, SESSION);
    assert.equal(b.text("k1"), "");
    assert.equal(b.text("k0"), null);
    // The restored store goes on applying where the raft log does.
    b.execute(7, encodeCommand({ op: "session-destroy", id: SESSION, time: 3000 }));
    assert.equal(b.get("lock/0")?.Session, "");
    assert.notEqual(b.digest(), a.digest());
  });

  it("refuses to go backwards and to decode a torn state.bin", () => {
    const m = new SimMachine();
    m.skip(3);
    assert.throws(() => m.skip(3), /must pass applied/);
    const bytes = encodeStateBin(new KvStore().snapshot());
    assert.equal(decodeStateBin(bytes).length, 1, "an empty store has only the header");
    const store = new KvStore();
    store.execute(1, commands()[0]!);
    const one = encodeStateBin(store.snapshot());
    assert.throws(() => decodeStateBin(one.subarray(0, one.length - 1)), /must be whole/);
  });
});
