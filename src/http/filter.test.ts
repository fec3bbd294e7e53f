/**
 * `?filter=` on the catalog, health and agent endpoints (consul-compat.md §8.10): Consul's documented examples
 * (website/content/api-docs/features/filtering.mdx) against the real endpoints over MemoryServer, the datum of
 * each endpoint, and that filtering leaves the blocking index alone.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import type { LocalState } from "../local/state.js";
import { manualLocalState } from "../local/test-util.js";
import { call, text } from "./test-util.js";

async function put(api: MemoryServer, body: unknown): Promise<void> {
  const res = await call(api, "PUT", "/v1/catalog/register", JSON.stringify(body));
  assert.equal(res.status, 200, text(res));
}

async function get<T>(api: MemoryServer, path: string, filter?: string, local?: LocalState) {
  const target = filter === undefined ? path : `${path}?filter=${encodeURIComponent(filter)}`;
  const res = await call(api, "GET", target, undefined, local);
  assert.equal(res.status, 200, `${target}: ${text(res)}`);
  return { body: JSON.parse(text(res)) as T, index: res.headers["X-Consul-Index"] };
}

/** The catalog of the documented Catalog API example: api-internal on node-1, node-2 and node-4. */
async function apiInternal(): Promise<MemoryServer> {
  const api = new MemoryServer();
  const nodes: [string, string, Record<string, string>, string[], string][] = [
    ["node-1", "198.18.0.1", { agent: "true", arch: "i386", os: "darwin" }, ["tag"], "qa"],
    ["node-2", "198.18.0.2", { arch: "arm", os: "linux" }, ["test", "tag"], "production"],
    ["node-4", "198.18.0.4", { arch: "i386", os: "freebsd" }, [], "qa"],
  ];
  for (const [node, address, meta, tags, environment] of nodes) {
    await put(api, {
      Node: node,
      Address: address,
      NodeMeta: meta,
      Service: { Service: "api-internal", Tags: tags, Port: 9090, Meta: { environment } },
    });
  }
  return api;
}

describe("?filter= on Consul's documented examples", () => {
  it('Catalog API: /v1/catalog/service/api-internal with NodeMeta.os == "linux"', async () => {
    const api = await apiInternal();
    const all = await get<{ Node: string }[]>(api, "/v1/catalog/service/api-internal");
    assert.deepEqual(
      all.body.map((s) => s.Node),
      ["node-1", "node-2", "node-4"],
    );
    const linux = await get<{ Node: string }[]>(
      api,
      "/v1/catalog/service/api-internal",
      'NodeMeta.os == "linux"',
    );
    assert.deepEqual(
      linux.body.map((s) => s.Node),
      ["node-2"],
    );
    assert.equal(linux.index, all.index, "filtering leaves the index alone");
  });

  it('Health API: /v1/health/node/node-1 with ServiceName != ""', async () => {
    const api = new MemoryServer();
    await put(api, {
      Node: "node-1",
      Address: "198.18.0.1",
      Service: { ID: "web", Service: "web", Port: 80 },
      Checks: [
        { CheckID: "node-health", Name: "Node level check", Status: "critical" },
        { CheckID: "svc-web-health", Name: "Service level check - web", Status: "warning", ServiceID: "web" },
      ],
    });
    const all = await get<{ CheckID: string }[]>(api, "/v1/health/node/node-1");
    assert.deepEqual(all.body.map((c) => c.CheckID).sort(), ["node-health", "svc-web-health"]);
    const svc = await get<{ CheckID: string }[]>(api, "/v1/health/node/node-1", 'ServiceName != ""');
    assert.deepEqual(
      svc.body.map((c) => c.CheckID),
      ["svc-web-health"],
    );
    assert.equal(svc.index, all.index);
  });

  it('Agent API: /v1/agent/services with Meta.env == "qa"', async () => {
    const local = manualLocalState();
    const api = new MemoryServer();
    const services: [string, string[], Record<string, string>, number][] = [
      ["redis1", ["primary", "production"], { env: "production", foo: "bar" }, 1234],
      ["redis2", ["secondary", "production"], { env: "production", foo: "bar" }, 1235],
      ["redis3", ["primary", "qa"], { env: "qa" }, 1234],
    ];
    for (const [id, tags, meta, port] of services) {
      const body = JSON.stringify({ ID: id, Name: "redis", Tags: tags, Meta: meta, Port: port });
      const res = await call(api, "PUT", "/v1/agent/service/register", body, local);
      assert.equal(res.status, 200, text(res));
    }
    const qa = await get<Record<string, { ID: string }>>(
      api,
      "/v1/agent/services",
      'Meta.env == "qa"',
      local,
    );
    assert.deepEqual(Object.keys(qa.body), ["redis3"]);
    const primary = await get<Record<string, unknown>>(api, "/v1/agent/services", "primary in Tags", local);
    assert.deepEqual(Object.keys(primary.body).sort(), ["redis1", "redis3"]);
    const bar = await get<Record<string, unknown>>(api, "/v1/agent/services", "Meta.foo is empty", local);
    assert.deepEqual(Object.keys(bar.body), ["redis3"], "a key missing from a map is empty");
    await call(api, "PUT", "/v1/agent/check/register", '{"Name":"disk","ID":"disk","TTL":"10s"}', local);
    const checks = await get<Record<string, unknown>>(api, "/v1/agent/checks", 'Name == "disk"', local);
    assert.deepEqual(Object.keys(checks.body), ["disk"]);
    const none = await get<Record<string, unknown>>(api, "/v1/agent/checks", 'Status == "passing"', local);
    assert.deepEqual(none.body, {});
  });
});

describe("?filter= on each catalog and health read", () => {
  it("catalog/nodes, catalog/services (over the instances), catalog/node (its Services)", async () => {
    const api = await apiInternal();
    await put(api, {
      Node: "node-2",
      Address: "198.18.0.2",
      Service: { Service: "db", Tags: ["v1"], Port: 5432 },
    });
    const nodes = await get<{ Node: string }[]>(api, "/v1/catalog/nodes", 'Meta.arch == "i386"');
    assert.deepEqual(
      nodes.body.map((n) => n.Node),
      ["node-1", "node-4"],
    );
    const all = await get<Record<string, string[]>>(api, "/v1/catalog/services");
    assert.deepEqual(all.body, { "api-internal": ["tag", "test"], db: ["v1"] });
    const qa = await get<Record<string, string[]>>(
      api,
      "/v1/catalog/services",
      'ServiceMeta.environment == "qa"',
    );
    assert.deepEqual(
      qa.body,
      { "api-internal": ["tag"] },
      "tags of the matching instances only; db has none",
    );
    assert.equal(qa.index, all.index);
    const node = await get<{ Node: { Node: string }; Services: Record<string, unknown> }>(
      api,
      "/v1/catalog/node/node-2",
      'Service == "db"',
    );
    assert.equal(node.body.Node.Node, "node-2");
    assert.deepEqual(Object.keys(node.body.Services), ["db"]);
    assert.equal((await get<null>(api, "/v1/catalog/node/nope", 'Service == "db"')).body, null);
  });

  it("health/service (Node, Service, Checks), health/checks and health/state", async () => {
    const api = await apiInternal();
    const entries = await get<{ Node: { Node: string } }[]>(
      api,
      "/v1/health/service/api-internal",
      'Node.Meta.os matches "^(linux|freebsd)$" and Service.Port == 9090',
    );
    assert.deepEqual(
      entries.body.map((e) => e.Node.Node),
      ["node-2", "node-4"],
    );
    await put(api, {
      Node: "node-1",
      Address: "198.18.0.1",
      Check: { CheckID: "c1", Name: "api", Status: "passing", ServiceID: "api-internal" },
    });
    const checks = await get<{ CheckID: string }[]>(
      api,
      "/v1/health/checks/api-internal",
      "Status == passing",
    );
    assert.deepEqual(
      checks.body.map((c) => c.CheckID),
      ["c1"],
    );
    const state = await get<unknown[]>(api, "/v1/health/state/any", 'Node != "node-1"');
    assert.deepEqual(state.body, []);
  });

  it("a filter the data cannot answer is 500 with go-bexpr's text, as Consul; an empty filter is none", async () => {
    const api = await apiInternal();
    const res = await call(api, "GET", `/v1/catalog/nodes?filter=${encodeURIComponent('node == "x"')}`);
    assert.equal(res.status, 500);
    assert.match(text(res), /^error finding value in datum: \/node at part 0: couldn't find key/);
    const empty = await get<unknown[]>(api, "/v1/catalog/nodes", "");
    assert.equal(empty.body.length, 3);
  });
});
