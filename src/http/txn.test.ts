import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("PUT /v1/txn", () => {
  it("commits every op and answers Consul's Results shape (Value only for get)", async () => {
    const api = new MemoryServer();
    const body = JSON.stringify([
      { KV: { Verb: "set", Key: "a", Value: b64("1"), Flags: 7 } },
      { KV: { Verb: "get", Key: "a" } },
      { KV: { Verb: "delete", Key: "zz" } },
    ]);
    const res = await call(api, "PUT", "/v1/txn", body);
    assert.equal(res.status, 200, text(res));
    assert.equal(res.headers["Content-Type"], "application/json");
    assert.equal(
      text(res),
      '{"Results":[{"KV":{"LockIndex":0,"Key":"a","Flags":7,"Value":null,"CreateIndex":1,"ModifyIndex":1}},' +
        '{"KV":{"LockIndex":0,"Key":"a","Flags":7,"Value":"MQ==","CreateIndex":1,"ModifyIndex":1}}],"Errors":null}',
    );
  });

  it("a failing op rolls everything back: 409 with Errors, nothing applied", async () => {
    const api = new MemoryServer();
    const body = JSON.stringify([
      { KV: { Verb: "set", Key: "a", Value: b64("1") } },
      { KV: { Verb: "get", Key: "missing" } },
    ]);
    const res = await call(api, "PUT", "/v1/txn", body);
    assert.equal(res.status, 409);
    assert.equal(
      text(res),
      '{"Results":null,"Errors":[{"OpIndex":1,"What":"key \\"missing\\" doesn\'t exist"}]}',
    );
    assert.equal(api.store.get("a").entry, null);
  });

  it("an unknown verb or a non-KV op fails the txn (409) before Raft", async () => {
    const api = new MemoryServer();
    const body = JSON.stringify([{ KV: { Verb: "frob", Key: "a" } }, { Node: { Verb: "get" } }]);
    const res = await call(api, "PUT", "/v1/txn", body);
    assert.equal(res.status, 409);
    const errors = (JSON.parse(text(res)) as { Errors: { OpIndex: number }[] }).Errors;
    assert.deepEqual(
      errors.map((e) => e.OpIndex),
      [0, 1],
    );
    assert.equal(api.index, 0);
  });

  it("over 128 ops is a 413 with Consul's text; a bad body is a 400", async () => {
    const api = new MemoryServer();
    const ops = Array.from({ length: 129 }, (_, i) => ({ KV: { Verb: "set", Key: `k${i}` } }));
    const big = await call(api, "PUT", "/v1/txn", JSON.stringify(ops));
    assert.equal(big.status, 413);
    assert.equal(text(big), "Transaction contains too many operations (129 > 128)");
    const bad = await call(api, "PUT", "/v1/txn", "{");
    assert.equal(bad.status, 400);
    assert.match(text(bad), /^Failed to parse body: /);
    const badValue = await call(api, "PUT", "/v1/txn", '[{"KV":{"Verb":"set","Key":"a","Value":"!!"}}]');
    assert.equal(badValue.status, 400);
  });

  it("lock/check-session use real sessions", async () => {
    const api = new MemoryServer();
    const created = await call(api, "PUT", "/v1/session/create", "");
    const { ID } = JSON.parse(text(created)) as { ID: string };
    const body = JSON.stringify([
      { KV: { Verb: "lock", Key: "l", Session: ID } },
      { KV: { Verb: "check-session", Key: "l", Session: ID } },
    ]);
    const res = await call(api, "PUT", "/v1/txn", body);
    assert.equal(res.status, 200, text(res));
    assert.equal(api.store.get("l").entry?.Session, ID);
  });
});
