import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { LocalState } from "../local/state.js";
import { ManualTimers } from "../local/timers.js";
import { memoryRequest } from "./model.js";
import { handle } from "./router.js";
import { call as callServer, text } from "./test-util.js";

function make() {
  const timers = new ManualTimers();
  const local = new LocalState({
    nodeName: "node1",
    datacenter: "dc1",
    timers,
    persist: null,
    random: () => 0,
  });
  return { api: { server: new MemoryServer(), local }, local, timers };
}

/** The handler with this agent's local state, as the HTTP server passes it. */
function call(
  api: { server: MemoryServer; local: LocalState },
  method: string,
  target: string,
  body?: string | Uint8Array,
) {
  return callServer(api.server, method, target, body, api.local);
}

async function expect(p: ReturnType<typeof call>, status: number, body?: string) {
  const res = await p;
  assert.equal(res.status, status, text(res));
  if (body !== undefined) assert.equal(text(res), body);
  return res;
}

describe("/v1/agent/service…", () => {
  it("keeps the request's token (header, ?token=, Bearer) with what it registers, and never shows it", async () => {
    const { api, local } = make();
    const send = async (target: string, headers: Record<string, string>, body?: string) => {
      const res = await handle(
        memoryRequest("PUT", target, body === undefined ? { headers } : { body, headers }),
        api.server,
        local,
      );
      assert.equal(res.status, 200, text(res));
    };
    await send(
      "/v1/agent/service/register",
      { "X-Consul-Token": "hdr" },
      '{"Name":"web","Check":{"TTL":"1m"}}',
    );
    await send("/v1/agent/check/register?token=qry", {}, '{"Name":"disk","TTL":"1m"}');
    await send("/v1/agent/service/register", {}, '{"Name":"db"}');
    await send("/v1/agent/maintenance?enable=true", { Authorization: "Bearer brr" });
    await send("/v1/agent/service/maintenance/web?enable=true", {});
    assert.deepEqual(
      [local.serviceToken("web"), local.checkToken("service:web"), local.checkToken("disk")],
      ["hdr", "hdr", "qry"],
    );
    assert.equal(local.serviceToken("db"), "");
    assert.equal(local.checkToken("_node_maintenance"), "brr");
    assert.equal(local.checkToken("_service_maintenance:web"), "hdr", "none given: the service's");
    for (const target of ["/v1/agent/services", "/v1/agent/checks", "/v1/agent/service/web"]) {
      const body = text(await call(api, "GET", target));
      assert.equal(/hdr|qry|brr/.test(body), false, `${target} shows no token: ${body}`);
    }
  });

  it("registers (case-free keys, snake_case, ns durations), lists and shows services in Consul's shapes", async () => {
    const { api } = make();
    await expect(
      call(
        api,
        "PUT",
        "/v1/agent/service/register",
        '{"name":"web","ID":"web1","tags":["a"],"port":80,"check":{"ttl":10000000000}}',
      ),
      200,
      "",
    );
    const res = await expect(call(api, "GET", "/v1/agent/services"), 200);
    assert.equal(res.headers["Content-Type"], "application/json");
    assert.equal(
      text(res),
      '{"web1":{"ID":"web1","Service":"web","Tags":["a"],"Meta":{},"Port":80,"Address":"",' +
        '"Weights":{"Passing":1,"Warning":1},"EnableTagOverride":false,"Datacenter":"dc1"}}',
    );
    const one = await expect(call(api, "GET", "/v1/agent/service/web1"), 200);
    assert.equal(JSON.parse(text(one)).ContentHash, one.headers["X-Consul-ContentHash"]);
    await expect(call(api, "GET", "/v1/agent/service/nope"), 404, "unknown service ID: nope");
    const checks = JSON.parse(text(await expect(call(api, "GET", "/v1/agent/checks"), 200)));
    assert.deepEqual(Object.keys(checks), ["service:web1"]);
    assert.equal(checks["service:web1"].Status, "critical");
    assert.equal(checks["service:web1"].Type, "ttl");
  });

  it("?hash blocks until the service changes or the wait ends", async () => {
    const { api, timers } = make();
    await expect(call(api, "PUT", "/v1/agent/service/register", '{"Name":"web"}'), 200);
    const first = await expect(call(api, "GET", "/v1/agent/service/web"), 200);
    const hash = first.headers["X-Consul-ContentHash"] ?? "";
    const blocked = call(api, "GET", `/v1/agent/service/web?hash=${hash}&wait=30s`);
    await api.local.registerCheckJson({ Name: "unrelated", TTL: "1m" });
    await api.local.registerServiceJson({ Name: "web", Tags: ["new"] }, false);
    const changed = await expect(blocked, 200);
    assert.notEqual(changed.headers["X-Consul-ContentHash"], hash);
    assert.deepEqual(JSON.parse(text(changed)).Tags, ["new"]);
    const newHash = changed.headers["X-Consul-ContentHash"] ?? "";
    const timedOut = call(api, "GET", `/v1/agent/service/web?hash=${newHash}&wait=30s`);
    await new Promise((r) => setImmediate(r));
    timers.advance(30_000);
    assert.equal((await expect(timedOut, 200)).headers["X-Consul-ContentHash"], newHash);
    api.local.stop();
  });

  it("answers bad input with Consul's errors", async () => {
    const { api, local } = make();
    const reg = (body: string) => call(api, "PUT", "/v1/agent/service/register", body);
    await expect(reg(""), 400, "Request decode failed: EOF");
    await expect(reg("{"), 400);
    await expect(reg('{"Port":1}'), 400, "Missing service name");
    await expect(reg('{"Name":"a","Address":"0.0.0.0"}'), 400, "Invalid service address");
    await expect(
      reg('{"Name":"a","Check":{"Interval":"10s"}}'),
      400,
      "Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval",
    );
    await expect(call(api, "PUT", "/v1/agent/service/deregister/a"), 404, 'Unknown service ID "a"');
    await expect(call(api, "GET", "/v1/agent/service/register"), 405);
    await expect(
      call(api, "GET", "/v1/agent/services?filter=Service%3D%3D"),
      500,
      'Failed to create boolean expression evaluator: 1:10 (9): no match found, expected: "-", "0", "\\"", "`", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    );
    assert.deepEqual(local.services(), []);
  });

  it("replace-existing-checks is presence-based; deregister removes the service and its checks", async () => {
    const { api, local } = make();
    await expect(
      call(api, "PUT", "/v1/agent/service/register", '{"Name":"web","Checks":[{"TTL":"1s"},{"TTL":"1s"}]}'),
      200,
    );
    await expect(
      call(
        api,
        "PUT",
        "/v1/agent/service/register?replace-existing-checks",
        '{"Name":"web","Checks":[{"CheckID":"service:web:1","TTL":"1s"}]}',
      ),
      200,
    );
    assert.deepEqual(
      local.checks().map((c) => c.CheckID),
      ["service:web:1"],
    );
    await expect(call(api, "PUT", "/v1/agent/service/deregister/web"), 200);
    assert.deepEqual([local.services(), local.checks()], [[], []]);
  });
});

describe("/v1/agent/check…", () => {
  it("registers checks and updates TTLs with pass/warn/fail?note and update", async () => {
    const { api, local } = make();
    await expect(call(api, "PUT", "/v1/agent/service/register", '{"Name":"web"}'), 200);
    await expect(
      call(
        api,
        "PUT",
        "/v1/agent/check/register",
        '{"Name":"mem","ID":"service:mem","ServiceID":"web","TTL":"30s"}',
      ),
      200,
    );
    await expect(call(api, "PUT", "/v1/agent/check/pass/service%3Amem?note=fine"), 200);
    assert.deepEqual([local.checks()[0]?.Status, local.checks()[0]?.Output], ["passing", "fine"]);
    await expect(call(api, "PUT", "/v1/agent/check/warn/service:mem"), 200);
    assert.equal(local.checks()[0]?.Status, "warning");
    await expect(call(api, "PUT", "/v1/agent/check/fail/service:mem?note=x"), 200);
    assert.equal(local.checks()[0]?.Status, "critical");
    await expect(
      call(api, "PUT", "/v1/agent/check/update/service:mem", '{"status":"passing","output":"ok"}'),
      200,
    );
    assert.deepEqual([local.checks()[0]?.Status, local.checks()[0]?.Output], ["passing", "ok"]);
    await expect(
      call(api, "PUT", "/v1/agent/check/update/service:mem", '{"Status":"up"}'),
      400,
      "Invalid check status: 'up'",
    );
    await expect(call(api, "PUT", "/v1/agent/check/deregister/service:mem"), 200);
    assert.deepEqual(local.checks(), []);
  });

  it("keeps Consul's texts for a non-TTL check, an unknown check and a bad registration", async () => {
    const { api } = make();
    await expect(
      call(
        api,
        "PUT",
        "/v1/agent/check/register",
        '{"Name":"h","HTTP":"http://127.0.0.1:1/","Interval":"10s"}',
      ),
      200,
    );
    await expect(call(api, "PUT", "/v1/agent/check/pass/h"), 500, 'CheckID "h" does not have associated TTL');
    await expect(
      call(api, "PUT", "/v1/agent/check/pass/zz"),
      404,
      'Unknown check ID "zz". Ensure that the check ID is passed, not the check name.',
    );
    await expect(call(api, "PUT", "/v1/agent/check/deregister/zz"), 404);
    await expect(call(api, "PUT", "/v1/agent/check/register", '{"TTL":"1s"}'), 400, "Missing check name");
    await expect(
      call(api, "PUT", "/v1/agent/check/register", '{"Name":"a","TTL":"1s","ServiceID":"x"}'),
      400,
      'ServiceID "x" does not exist',
    );
    api.local.stop();
  });
});

describe("maintenance and /v1/agent/health/service", () => {
  it("maps aggregated health to 200/429/503/404, in JSON or ?format=text", async () => {
    const { api } = make();
    await expect(
      call(api, "PUT", "/v1/agent/service/register", '{"Name":"web","ID":"w1","Check":{"TTL":"30s"}}'),
      200,
    );
    await expect(call(api, "PUT", "/v1/agent/service/register", '{"Name":"web","ID":"w2"}'), 200);
    await expect(call(api, "GET", "/v1/agent/health/service/id/w1?format=text"), 503, "critical");
    await expect(call(api, "PUT", "/v1/agent/check/warn/service:w1"), 200);
    const res = await expect(call(api, "GET", "/v1/agent/health/service/id/w1"), 429);
    const body = JSON.parse(text(res));
    assert.equal(body.AggregatedStatus, "warning");
    assert.equal(body.Service.ID, "w1");
    await expect(call(api, "GET", "/v1/agent/health/service/id/w2?format=text"), 200, "passing");
    const byName = await expect(call(api, "GET", "/v1/agent/health/service/name/web"), 429);
    assert.equal(JSON.parse(text(byName)).length, 2);
    await expect(
      call(api, "GET", "/v1/agent/health/service/id/zz?format=text"),
      404,
      "ServiceId zz not found",
    );
    await expect(
      call(api, "GET", "/v1/agent/health/service/name/zz?format=text"),
      404,
      "ServiceName zz Not Found",
    );
    await expect(call(api, "PUT", "/v1/agent/service/maintenance/w2?enable=true&reason=deploy"), 200);
    await expect(call(api, "GET", "/v1/agent/health/service/id/w2?format=text"), 503, "maintenance");
    await expect(call(api, "PUT", "/v1/agent/service/maintenance/w2"), 400, "Missing value for enable");
    await expect(
      call(api, "PUT", "/v1/agent/service/maintenance/w2?enable=maybe"),
      400,
      'Invalid value for enable: "maybe"',
    );
    await expect(
      call(api, "PUT", "/v1/agent/service/maintenance/zz?enable=true"),
      404,
      'Unknown service ID "zz"',
    );
    await expect(call(api, "PUT", "/v1/agent/service/maintenance/w2?enable=false"), 200);
    await expect(call(api, "PUT", "/v1/agent/maintenance?enable=1"), 200);
    await expect(call(api, "GET", "/v1/agent/health/service/id/w2?format=text"), 503, "maintenance");
    await expect(call(api, "PUT", "/v1/agent/maintenance?enable=false"), 200);
    await expect(call(api, "GET", "/v1/agent/health/service/id/w2?format=text"), 200, "passing");
    api.local.stop();
  });

  it("answers 500 on a server twin without local state", async () => {
    await expect(callServer(new MemoryServer(), "GET", "/v1/agent/services"), 500);
  });
});
