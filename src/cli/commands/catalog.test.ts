import assert from "node:assert/strict";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { run } from "../../../test/support/cli-harness.js";
import { MemoryServer } from "../../api/memory-server.js";
import type { Env } from "../../client/index.js";
import { createHttpServer } from "../../http/index.js";
import { formatServices } from "./catalog.js";

/** A MemoryServer with two nodes behind a real node:http server on 127.0.0.1:0. */
async function catalogAgent(t: TestContext): Promise<Env> {
  const api = new MemoryServer();
  const base = {
    Datacenter: "",
    TaggedAddresses: {},
    Service: null,
    Checks: [],
    SkipNodeUpdate: false,
  };
  const svc = (name: string, tags: string[]) => ({
    ID: name,
    Service: name,
    Tags: tags,
    Address: "",
    TaggedAddresses: {},
    Meta: {},
    Port: 80,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: "",
  });
  await api.catalogRegister({
    ...base,
    ID: "1b662d97-7a4e-4c5d-9d2e-3f4a5b6c7d8e",
    Node: "worker-01",
    Address: "10.4.5.31",
    TaggedAddresses: { wan: "1.2.3.4", lan: "10.4.5.31" },
    NodeMeta: { rack: "r1" },
    Service: svc("redis", ["v2", "primary"]),
  });
  await api.catalogRegister({
    ...base,
    ID: "",
    Node: "db",
    Address: "10.0.0.9",
    NodeMeta: {},
    Service: svc("web", []),
  });
  const server = createHttpServer(api, { bodyBytesMax: 1 << 20, countRequest: () => {} });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { CONSUL_HTTP_ADDR: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("cairn catalog", () => {
  it("nodes: columns, -detailed, -node-meta, -service, none found", async (t) => {
    const env = await catalogAgent(t);
    const plain = await run(["catalog", "nodes"], env);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(
      plain.stdout,
      "Node       ID        Address    DC\ndb                   10.0.0.9   dc1\nworker-01  1b662d97  10.4.5.31  dc1\n",
    );
    const detailed = await run(["catalog", "nodes", "-detailed", "-node-meta", "rack=r1"], env);
    assert.equal(
      detailed.stdout,
      "Node       ID                                    Address    DC   TaggedAddresses             Meta\n" +
        "worker-01  1b662d97-7a4e-4c5d-9d2e-3f4a5b6c7d8e  10.4.5.31  dc1  lan=10.4.5.31, wan=1.2.3.4  rack=r1\n",
    );
    const bySvc = await run(["catalog", "nodes", "-service=web"], env);
    assert.match(bySvc.stdout, /^Node\s+ID\s+Address\s+DC\ndb\s+10\.0\.0\.9\s+dc1\n$/);
    const none = await run(["catalog", "nodes", "-node-meta", "rack=zz"], env);
    assert.deepEqual(
      [none.code, none.stdout, none.stderr],
      [0, "", "No nodes match the given query - try expanding your search.\n"],
    );
  });

  it("services: sorted names, -tags, -node, datacenters, extra arguments", async (t) => {
    const env = await catalogAgent(t);
    assert.equal((await run(["catalog", "services"], env)).stdout, "redis\nweb\n");
    assert.equal(
      (await run(["catalog", "services", "-tags"], env)).stdout,
      "redis      primary,v2\nweb        \n",
    );
    assert.equal((await run(["catalog", "services", "-node=db"], env)).stdout, "web\n");
    const none = await run(["catalog", "services", "-node=ghost"], env);
    assert.equal(none.stderr, "No services match the given query - try expanding your search.\n");
    assert.equal((await run(["catalog", "datacenters"], env)).stdout, "dc1\n");
    const extra = await run(["catalog", "nodes", "x", "y"], env);
    assert.deepEqual([extra.code, extra.stderr], [1, "Too many arguments (expected 0, got 2)\n"]);
  });

  it("formats tags through a tabwriter with padding 6", () => {
    assert.equal(formatServices({ a: ["y", "x"], consul: [] }, true), "a           x,y\nconsul      ");
  });
});
