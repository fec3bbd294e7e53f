/**
 * The npm `consul@2.0.1` client against the catalog and health endpoints (consul-compat.md §8.9), through a real
 * node:http server over the memory twin: what it sends must decode, and what it gets must be what it expects.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import Consul from "consul";
import { MemoryServer } from "../api/memory-server.js";
import { createHttpServer } from "./index.js";

async function client(t: TestContext): Promise<Consul> {
  const server = createHttpServer(new MemoryServer(), { bodyBytesMax: 1 << 20, countRequest: () => {} });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return new Consul({ host: "127.0.0.1", port: (server.address() as AddressInfo).port });
}

describe("npm consul client: catalog and health", () => {
  it("registers, lists, filters by health and deregisters", async (t) => {
    const consul = await client(t);
    await consul.catalog.register({
      node: "n1",
      address: "10.0.0.1",
      nodemeta: { rack: "r1" },
      service: { id: "web1", service: "web", port: 80, tags: ["v1"] },
      checks: [
        {
          checkid: "web1-http",
          name: "web http",
          serviceid: "web1",
          status: "passing",
          definition: { http: "http://10.0.0.1/health", intervalduration: "10s" },
        },
      ],
    });
    assert.deepEqual(await consul.catalog.datacenters({}), ["dc1"]);
    const nodes = (await consul.catalog.nodes({})) as { Node: string; Meta: Record<string, string> }[];
    assert.deepEqual(
      nodes.map((n) => [n.Node, n.Meta.rack]),
      [["n1", "r1"]],
    );
    assert.deepEqual(await consul.catalog.services(), { web: ["v1"] });
    const instances = (await consul.catalog.service.nodes({ service: "web", tag: "v1" })) as {
      ServiceID: string;
    }[];
    assert.deepEqual(
      instances.map((s) => s.ServiceID),
      ["web1"],
    );
    const node = (await consul.catalog.node.services("n1")) as { Services: Record<string, unknown> };
    assert.deepEqual(Object.keys(node.Services), ["web1"]);
    assert.deepEqual(await consul.catalog.connect.nodes("web"), []);
    const healthy = (await consul.health.service({ service: "web", passing: true })) as unknown[];
    assert.equal(healthy.length, 1);
    assert.equal(((await consul.health.checks("web")) as unknown[]).length, 1);
    assert.equal(((await consul.health.node("n1")) as unknown[]).length, 1);
    assert.equal(((await consul.health.state("passing")) as unknown[]).length, 1);
    await consul.catalog.deregister({ node: "n1", serviceid: "web1" });
    assert.deepEqual(await consul.catalog.services(), {});
    // A server-side refusal reaches the caller with Consul's text (plain text under 80 bytes).
    await assert.rejects(
      consul.catalog.register({ node: "n2", address: "x", check: { name: "c", serviceid: "nope" } }),
      /failed inserting check: Missing service registration/,
    );
  });

  it("sends filter= as Consul's clients do, and gets the filtered list or Consul's error", async (t) => {
    const consul = await client(t);
    const nodes: [string, string][] = [
      ["node-1", "darwin"],
      ["node-2", "linux"],
    ];
    for (const [node, os] of nodes) {
      await consul.catalog.register({
        node,
        address: "10.0.0.1",
        nodemeta: { os },
        service: { id: "api", service: "api-internal", port: 9090 },
      });
    }
    const linux = (await consul.catalog.service.nodes({
      service: "api-internal",
      filter: 'NodeMeta.os == "linux"',
    })) as { Node: string }[];
    assert.deepEqual(
      linux.map((s) => s.Node),
      ["node-2"],
    );
    const healthy = (await consul.health.service({
      service: "api-internal",
      filter: "Node.Node != `node-2`",
    })) as { Node: { Node: string } }[];
    assert.deepEqual(
      healthy.map((e) => e.Node.Node),
      ["node-1"],
    );
    // Past 80 bytes the client says only the status ("internal server error"); Consul's text is in the response it keeps.
    await assert.rejects(
      consul.catalog.nodes({ filter: "Meta.os ==" }),
      (e: Error & { response?: { body?: unknown } }) => {
        assert.equal(e.message, "internal server error");
        assert.match(
          String(e.response?.body),
          /^Failed to create boolean expression evaluator: 1:11 \(10\): no match found/,
        );
        return true;
      },
    );
  });
});
