import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type KvCommand, KvStore } from "../fsm/index.js";
import { stateBinBytes } from "../snapshot/index.js";
import { encodeStateBin, stateDigest } from "./machine.js";

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

describe("the simulator's state helpers", () => {
  it("encodes state.bin exactly as the streaming writer does", async () => {
    const store = new KvStore();
    for (const [i, c] of commands().entries()) store.execute(i + 1, c);
    const view = store.snapshot();
    assert.deepEqual(encodeStateBin(view), await stateBinBytes(view.header(), view.records()));
  });

  it("fingerprints a state: equal for equal histories, different after any change", () => {
    const a = new KvStore();
    const b = new KvStore();
    for (const [i, c] of commands().entries()) {
      a.execute(i + 1, c);
      b.execute(i + 1, c);
    }
    assert.equal(stateDigest(a, 5), stateDigest(b, 5));
    // The raft index is part of it (a no-op entry moves it, the store does not).
    assert.notEqual(stateDigest(a, 6), stateDigest(b, 5));
    b.execute(6, { op: "session-destroy", id: SESSION, time: 3000 });
    assert.equal(b.get("lock/0").entry?.Session, "");
    assert.notEqual(stateDigest(a, 6), stateDigest(b, 6));
  });
});
