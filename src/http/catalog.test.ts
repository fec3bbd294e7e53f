import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

const WEB = JSON.stringify({
  Node: "n1",
  Address: "10.0.0.1",
  NodeMeta: { rack: "a" },
  TaggedAddresses: { lan: { Address: "10.0.0.1", Port: 8301 } },
  Service: { Service: "web", Tags: ["v1", "primary"], Port: 80 },
  Check: {
    Name: "web alive",
    Status: "passing",
    ServiceID: "web",
    Definition: { HTTP: "http://x", Interval: 10e9 },
  },
  Checks: [{ CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing" }],
});

async function put(api: MemoryServer, path: string, body: string): Promise<string> {
  const res = await call(api, "PUT", path, body);
  assert.equal(res.status, 200, text(res));
  return text(res);
}

async function get<T>(api: MemoryServer, path: string): Promise<{ body: T; index: string }> {
  const res = await call(api, "GET", path);
  assert.equal(res.status, 200, text(res));
  assert.equal(res.headers["Content-Type"], "application/json");
  assert.equal(res.headers["X-Consul-KnownLeader"], "true");
  return { body: JSON.parse(text(res)) as T, index: res.headers["X-Consul-Index"] ?? "" };
}

describe("PUT /v1/catalog/register and /deregister", () => {
  it("registers node, service and checks; reads show Consul's shapes and indexes", async () => {
    const api = new MemoryServer();
    assert.equal(await put(api, "/v1/catalog/register", WEB), "true");
    const nodes = await call(api, "GET", "/v1/catalog/nodes");
    assert.equal(
      text(nodes),
      '[{"ID":"","Node":"n1","Address":"10.0.0.1","Datacenter":"dc1","TaggedAddresses":{"lan":"10.0.0.1"},' +
        '"Meta":{"rack":"a"},"CreateIndex":1,"ModifyIndex":1}]',
    );
    assert.equal(nodes.headers["X-Consul-Index"], "1");
    const services = await get<Record<string, string[]>>(api, "/v1/catalog/services");
    assert.deepEqual(services.body, { web: ["primary", "v1"] });
    const svc = await get<{ ServiceID: string; ServiceWeights: unknown }[]>(
      api,
      "/v1/catalog/service/web?tag=v1&tag=PRIMARY",
    );
    assert.deepEqual(
      svc.body.map((s) => [s.ServiceID, s.ServiceWeights]),
      [["web", { Passing: 1, Warning: 1 }]],
    );
    assert.deepEqual((await get<unknown[]>(api, "/v1/catalog/service/web?tag=v2")).body, []);
    const node = await get<{ Node: { Node: string }; Services: Record<string, { Tags: string[] }> }>(
      api,
      "/v1/catalog/node/n1",
    );
    assert.deepEqual(node.body.Services.web?.Tags, ["v1", "primary"]);
    assert.equal(text(await call(api, "GET", "/v1/catalog/node/ghost")), "null");
    const checks = await get<{ CheckID: string; Definition: unknown }[]>(api, "/v1/health/checks/web");
    assert.deepEqual(checks.body[0], { ...checks.body[0], CheckID: "web alive" });
    assert.deepEqual(checks.body[0]?.Definition, { HTTP: "http://x", Interval: "10s" });
    assert.equal(text(await call(api, "GET", "/v1/catalog/datacenters")), '["dc1"]');
    assert.deepEqual((await get<unknown[]>(api, "/v1/catalog/connect/web")).body, []);
  });

  it("health/service: node checks + instance checks; ?passing keeps only all-passing entries", async () => {
    const api = new MemoryServer();
    await put(api, "/v1/catalog/register", WEB);
    type Entry = { Node: { Node: string }; Service: { ID: string }; Checks: { CheckID: string }[] };
    const all = await get<Entry[]>(api, "/v1/health/service/web");
    assert.deepEqual(
      all.body[0]?.Checks.map((c) => c.CheckID),
      ["serfHealth", "web alive"],
    );
    await put(
      api,
      "/v1/catalog/register",
      '{"Node":"n1","Address":"10.0.0.1","NodeMeta":{"rack":"a"},"Check":{"CheckID":"serfHealth","Status":"warning"}}',
    );
    assert.deepEqual((await get<Entry[]>(api, "/v1/health/service/web?passing=1")).body, []);
    assert.equal((await get<Entry[]>(api, "/v1/health/service/web?passing=false")).body.length, 1);
    assert.equal((await call(api, "GET", "/v1/health/service/web?passing=maybe")).status, 400);
    const warning = await get<{ CheckID: string }[]>(api, "/v1/health/state/warning");
    assert.deepEqual(
      warning.body.map((c) => c.CheckID),
      ["serfHealth"],
    );
    assert.equal((await get<unknown[]>(api, "/v1/health/state/any")).body.length, 2);
    assert.equal((await get<unknown[]>(api, "/v1/health/node/n1")).body.length, 2);
    assert.equal((await get<unknown[]>(api, "/v1/catalog/nodes?node-meta=rack:b")).body.length, 0);
    assert.equal((await get<unknown[]>(api, "/v1/catalog/nodes?node-meta=rack:a")).body.length, 1);
  });

  it("deregister: service, check, node; unknown node is fine", async () => {
    const api = new MemoryServer();
    await put(api, "/v1/catalog/register", WEB);
    await put(api, "/v1/catalog/deregister", '{"Node":"n1","ServiceID":"web"}');
    assert.deepEqual((await get<unknown>(api, "/v1/catalog/services")).body, {});
    const extinct = await get<unknown[]>(api, "/v1/catalog/service/web");
    assert.equal(extinct.index, "2", "the last extinction index");
    await put(api, "/v1/catalog/deregister", '{"Node":"n1","CheckID":"serfHealth"}');
    assert.deepEqual((await get<unknown[]>(api, "/v1/health/node/n1")).body, []);
    await put(api, "/v1/catalog/deregister", '{"Node":"n1"}');
    assert.deepEqual((await get<unknown[]>(api, "/v1/catalog/nodes")).body, []);
    assert.equal(await put(api, "/v1/catalog/deregister", '{"Node":"ghost"}'), "true");
  });

  it("refuses bad requests with Consul's texts and changes nothing", async () => {
    const api = new MemoryServer();
    const cases: [string, string, string][] = [
      ["/v1/catalog/register", "{}", "Must provide node"],
      ["/v1/catalog/register", '{"Node":"n"}', "Must provide address if SkipNodeUpdate is not set"],
      [
        "/v1/catalog/register",
        '{"Node":"n","Address":"a","ID":"x"}',
        "Bad node ID: uuid string is wrong length",
      ],
      [
        "/v1/catalog/register",
        '{"Node":"n","Address":"a","Service":{"ID":"s"}}',
        "Must provide service name with ID",
      ],
      [
        "/v1/catalog/register",
        '{"Node":"n","Address":"a","Service":{"Service":"s","Address":"0.0.0.0"}}',
        "Invalid service address",
      ],
      [
        "/v1/catalog/register",
        '{"Node":"n","Address":"a","Check":{"Name":"c","ServiceID":"nope"}}',
        "failed inserting check: Missing service registration",
      ],
      [
        "/v1/catalog/register",
        '{"Node":7}',
        "Request decode failed: json: cannot unmarshal into Go struct field RegisterRequest.Node",
      ],
      [
        "/v1/catalog/register",
        '{"Node":"n","Address":"a","Check":{"Name":"c","Node":"m"}}',
        'check node "m" does not match node "n"',
      ],
      ["/v1/catalog/deregister", "{}", "Must provide node"],
    ];
    for (const [path, body, msg] of cases) {
      const res = await call(api, "PUT", path, body);
      // decodeBody failures are Consul's 400; the rest are agent/consul/catalog_endpoint.go's plain errors: 500.
      assert.equal(res.status, msg.startsWith("Request decode failed") ? 400 : 500, body);
      assert.equal(text(res), msg, body);
    }
    const bad = await call(api, "PUT", "/v1/catalog/register", "{");
    assert.equal(bad.status, 400);
    assert.match(text(bad), /^Request decode failed: /);
    assert.equal(api.index, 2, "only the two refused in the FSM used an index; nothing was stored");
    assert.deepEqual((await get<unknown[]>(api, "/v1/catalog/nodes")).body, []);
  });

  it("reads: missing segments, a bad filter and an unknown dc are refused", async () => {
    const api = new MemoryServer();
    const cases: [string, number, string][] = [
      ["/v1/catalog/service/", 400, "Missing service name"],
      ["/v1/catalog/node/", 400, "Missing node name"],
      ["/v1/health/node/", 400, "Missing node name"],
      ["/v1/health/state/", 400, "Missing check state"],
      [
        "/v1/catalog/nodes?filter=(Node%3D%3Dx",
        500,
        "Failed to create boolean expression evaluator: 1:9 (8): rule grouping: Unmatched parentheses",
      ],
      ["/v1/catalog/nodes?dc=other", 500, "No path to datacenter"],
      ["/v1/catalog/service/?filter=(", 400, "Missing service name"],
      ["/v1/catalog/nodes?dc=other&filter=(", 500, "No path to datacenter"],
    ];
    for (const [path, status, msg] of cases) {
      const res = await call(api, "GET", path);
      assert.equal(res.status, status, path);
      assert.equal(text(res), msg, path);
    }
    assert.equal((await call(api, "POST", "/v1/catalog/nodes")).status, 405);
  });

  it("a blocking health/service query wakes on a check change", async () => {
    const api = new MemoryServer();
    await put(api, "/v1/catalog/register", WEB);
    const first = await call(api, "GET", "/v1/health/service/web");
    const index = first.headers["X-Consul-Index"];
    const t0 = Date.now();
    const blocked = call(api, "GET", `/v1/health/service/web?index=${index}&wait=5s`);
    setTimeout(() => {
      void call(
        api,
        "PUT",
        "/v1/catalog/register",
        '{"Node":"n1","Address":"10.0.0.1","Check":{"Name":"web alive","ServiceID":"web","Status":"critical"}}',
      );
    }, 50);
    const res = await blocked;
    assert.ok(Date.now() - t0 < 4000, "woken by the write, not the timeout");
    assert.notEqual(res.headers["X-Consul-Index"], index);
    assert.match(text(res), /"Status":"critical"/);
  });
});
