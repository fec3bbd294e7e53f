import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidSessionError, TxnFailedError } from "../fsm/index.js";
import { MemoryNetwork, RemoteError } from "../transport/index.js";
import { call, RpcDecodeError, serve } from "./rpc.js";
import { RPC } from "./rpc-methods.js";
import { toWire, unwrap } from "./write-answer.js";

function pair() {
  const net = new MemoryNetwork();
  return { a: net.join(1), b: net.join(2) };
}

describe("server RPC registry", () => {
  it("names every method once", () => {
    const names = Object.values(RPC).map((m) => m.name);
    assert.equal(new Set(names).size, names.length);
  });

  it("carries typed requests and answers between two servers", async () => {
    const { a, b } = pair();
    serve(b, RPC.join, async (r, from) => ({ ok: r.name === "s1" && from === 1 }));
    serve(b, RPC.info, async () => ({ hasState: true, leader: 7 }));
    serve(b, RPC.blobRead, async ({ offset }) => Uint8Array.of(offset));
    const record = { raftId: 5, nodeId: "n", name: "s1", addr: "127.0.0.1:8300" };
    assert.deepEqual(await call(a, 2, RPC.join, record, 1000), { ok: true });
    assert.deepEqual(await call(a, 2, RPC.info, null, 1000), { hasState: true, leader: 7 });
    assert.deepEqual([...(await call(a, 2, RPC.blobRead, { handle: "h", offset: 9 }, 1000))], [9]);
  });

  it("refuses a request that does not have the method's shape, naming the method and the field", async () => {
    const { a, b } = pair();
    let called = false;
    serve(b, RPC.join, async () => {
      called = true;
      return { ok: true };
    });
    const body = new TextEncoder().encode(JSON.stringify({ raftId: "5", nodeId: "n", name: "s", addr: "x" }));
    await assert.rejects(a.request(2, RPC.join.name, body, 1000), (e: unknown) => {
      assert.ok(e instanceof RemoteError);
      assert.match(
        e.remoteMessage,
        /rpc cluster\.join: bad request: raftId: expected an integer, got string/,
      );
      return true;
    });
    assert.equal(called, false);
  });

  it("refuses an answer that does not have the method's shape", async () => {
    const { a, b } = pair();
    b.onRequest(RPC.info.name, async () => new TextEncoder().encode('{"hasState":1,"leader":0}'));
    await assert.rejects(call(a, 2, RPC.info, null, 1000), RpcDecodeError);
  });

  it("a forwarded write's answer rebuilds the store's typed refusals", () => {
    const decode = (v: unknown) => RPC.write.response.decode(new TextEncoder().encode(JSON.stringify(v)));
    const invalid = unwrap(decode(toWire(new InvalidSessionError("s1"))));
    assert.ok(invalid instanceof InvalidSessionError);
    assert.equal(invalid.session, "s1");
    const txn = unwrap(decode(toWire(new TxnFailedError([{ OpIndex: 1, What: "nope" }]))));
    assert.ok(txn instanceof TxnFailedError);
    assert.deepEqual(txn.errors, [{ OpIndex: 1, What: "nope" }]);
    const entry = {
      Key: "k",
      Flags: 42n,
      Value: Uint8Array.of(1, 2),
      CreateIndex: 3,
      ModifyIndex: 4,
      LockIndex: 0,
      Session: "",
    };
    assert.deepEqual(unwrap(decode(toWire({ kind: "txn", results: [entry] }))), {
      kind: "txn",
      results: [entry],
    });
    assert.equal(unwrap(decode(toWire(true))), true);
    assert.throws(() => decode({ error: "x", kind: "maybe" }), /kind: unknown "maybe"/);
    assert.throws(
      () => decode({ ok: { txn: [{ ...entry, Flags: "-1" }] } }),
      /Flags: expected decimal digits/,
    );
  });
});
