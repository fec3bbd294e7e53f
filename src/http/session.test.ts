import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function create(api: MemoryServer, body?: string): Promise<string> {
  const res = await call(api, "PUT", "/v1/session/create", body);
  assert.equal(res.status, 200, text(res));
  const { ID } = JSON.parse(text(res)) as { ID: string };
  assert.match(ID, UUID);
  return ID;
}

describe("PUT /v1/session/create", () => {
  it("an empty body takes Consul's defaults; info shows Consul's JSON shape", async () => {
    const api = new MemoryServer();
    const id = await create(api);
    const res = await call(api, "GET", `/v1/session/info/${id}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Index"], "1");
    assert.equal(
      text(res),
      `[{"ID":"${id}","Name":"","Node":"node1","LockDelay":15000000000,"Behavior":"release","TTL":"",` +
        `"NodeChecks":["serfHealth"],"ServiceChecks":null,"CreateIndex":1,"ModifyIndex":1}]`,
    );
  });

  it("takes LockDelay as a duration or a number (below 1000: seconds), NodeChecks [] and case-free names", async () => {
    const api = new MemoryServer();
    const a = await create(
      api,
      '{"Name":"a","LockDelay":"1s","TTL":"10s","NodeChecks":[],"Behavior":"delete"}',
    );
    const b = await create(api, '{"lockdelay":7}');
    const c = await create(api, '{"LockDelay":2000000000}');
    const s = (id: string) => api.store.sessionInfo(id).session;
    assert.deepEqual(
      [s(a)?.LockDelay, s(a)?.TTL, s(a)?.NodeChecks, s(a)?.Behavior, s(a)?.Name],
      [1e9, "10s", [], "delete", "a"],
    );
    assert.equal(s(b)?.LockDelay, 7e9);
    assert.equal(s(c)?.LockDelay, 2e9);
  });

  it("lockdelay-out-of-range: a negative LockDelay or one past 2^53 ns is a 400 and creates nothing, not a crash", async () => {
    const api = new MemoryServer();
    for (const body of [
      '{"LockDelay":"-1s"}',
      '{"LockDelay":-5}',
      '{"LockDelay":1e308}',
      '{"LockDelay":"100000h"}',
    ]) {
      const before = api.index;
      const res = await call(api, "PUT", "/v1/session/create", body);
      assert.equal(res.status, 400, body);
      assert.match(text(res), /^Request decode failed: LockDelay .* is out of range/, body);
      assert.equal(api.index, before, `${body} wrote nothing`);
    }
  });

  it("refuses a bad TTL or Behavior with 500, a bad body with 400, and Consul's texts", async () => {
    const api = new MemoryServer();
    // TTL and Behavior are checked by agent/consul/session_endpoint.go Apply (plain errors: 500); the body by
    // decodeBody in agent/session_endpoint.go (400).
    const cases: [string, number, string][] = [
      ['{"TTL":"5s"}', 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"],
      ['{"TTL":"abc"}', 500, `Session TTL 'abc' invalid: time: invalid duration "abc"`],
      ['{"Behavior":"keep"}', 500, "Invalid Behavior setting 'keep'"],
      ["{", 400, "Request decode failed: "],
    ];
    for (const [body, status, msg] of cases) {
      const res = await call(api, "PUT", "/v1/session/create", body);
      assert.equal(res.status, status, body);
      assert.ok(text(res).startsWith(msg), `${body}: ${text(res)}`);
    }
    assert.equal(api.store.sessionList().sessions.length, 0);
  });
});

describe("session destroy, renew, list, node", () => {
  it("renew answers the session, or 404 with Consul's text; destroy is true even when unknown", async () => {
    const api = new MemoryServer();
    const id = await create(api, '{"TTL":"15s"}');
    const renewed = await call(api, "PUT", `/v1/session/renew/${id}`);
    assert.equal(renewed.status, 200);
    assert.match(text(renewed), new RegExp(`^\\[\\{"ID":"${id}",.*"TTL":"15s"`));
    assert.equal(text(await call(api, "PUT", `/v1/session/destroy/${id}`)), "true");
    assert.equal(text(await call(api, "PUT", `/v1/session/destroy/${id}`)), "true");
    const gone = await call(api, "PUT", `/v1/session/renew/${id}`);
    assert.equal(gone.status, 404);
    assert.equal(text(gone), `Session id '${id}' not found`);
    assert.equal(text(await call(api, "GET", `/v1/session/info/${id}`)), "[]");
    assert.equal((await call(api, "PUT", "/v1/session/destroy/")).status, 400);
    assert.equal(text(await call(api, "GET", "/v1/session/node/")), "Missing node name");
  });

  it("list and node list the sessions; a blocking list wakes on a create", async () => {
    const api = new MemoryServer();
    await create(api, '{"Node":"other"}');
    const list = await call(api, "GET", "/v1/session/list");
    assert.equal((JSON.parse(text(list)) as unknown[]).length, 1);
    assert.equal(text(await call(api, "GET", "/v1/session/node/node1")), "[]");
    const waiting = call(api, "GET", "/v1/session/list?index=1&wait=5s");
    const t0 = Date.now();
    setTimeout(() => void create(api), 50);
    const res = await waiting;
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(res.headers["X-Consul-Index"], "2");
    assert.equal((JSON.parse(text(res)) as unknown[]).length, 2);
    const mine = JSON.parse(text(await call(api, "GET", "/v1/session/node/node1"))) as { Node: string }[];
    assert.deepEqual(
      mine.map((s) => s.Node),
      ["node1"],
    );
  });
});

describe("KV acquire/release with real sessions", () => {
  it("acquire is true for the first session and false for a second; destroy releases under lock-delay", async () => {
    const api = new MemoryServer();
    let now = 1_000_000;
    api.now = () => now;
    const a = await create(api, '{"LockDelay":"1s"}');
    const b = await create(api);
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${a}`, "x")), "true");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${b}`, "y")), "false");
    assert.equal(text(await call(api, "PUT", `/v1/session/destroy/${a}`)), "true");
    assert.equal(api.store.get("lock").entry?.Session, "");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${b}`, "y")), "false");
    now += 1001;
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${b}`, "y")), "true");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?release=${b}`)), "true");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?release=${b}`)), "false");
  });

  it("an unknown session on acquire is a 500 with Consul's message (state/kvs.go kvsLockTxn)", async () => {
    const api = new MemoryServer();
    const res = await call(api, "PUT", "/v1/kv/k?acquire=nope", "x");
    assert.equal(res.status, 500);
    assert.equal(text(res), 'invalid session "nope"');
  });
});
