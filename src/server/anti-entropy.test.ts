import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AntiEntropy, catalogSyncOf, type NodeInfo } from "./anti-entropy.js";
import { LocalState } from "./local-state.js";
import { ManualTimers } from "./local-timers.js";
import { chk, dereg, MemoryCatalog, reg, svc } from "./memory-catalog.test.js";

const NODE: NodeInfo = {
  node: "n1",
  id: "11111111-2222-3333-4444-555555555555",
  datacenter: "dc1",
  address: "10.0.0.1",
  taggedAddresses: { lan: "10.0.0.1", lan_ipv4: "10.0.0.1", wan: "10.0.0.1", wan_ipv4: "10.0.0.1" },
  meta: { "consul-network-segment": "" },
  server: true,
};

function make() {
  const timers = new ManualTimers();
  const catalog = new MemoryCatalog();
  const local = new LocalState({ nodeName: "n1", datacenter: "dc1", timers, persist: null, random: () => 0 });
  const ae = new AntiEntropy({ catalog, local, node: NODE, timers, random: () => 0 });
  return { timers, catalog, local, ae };
}

describe("anti-entropy", () => {
  it("finds the catalog port of a server API by its methods, or none", () => {
    const catalog = new MemoryCatalog();
    assert.equal(catalogSyncOf(catalog), catalog);
    assert.equal(catalogSyncOf({ catalogRegister() {}, healthNode() {} }), null);
  });

  it("a full sync at start registers the node, the services and their checks", async () => {
    const { catalog, local, ae } = make();
    await local.registerServiceJson({ Name: "web", Port: 80, Tags: ["a"], Check: { TTL: "10s" } }, false);
    await local.registerCheckJson({ Name: "disk", TTL: "10s" });
    ae.start();
    await ae.idle();
    assert.equal(catalog.nodes.get("n1")?.address, "10.0.0.1");
    assert.deepEqual(catalog.nodes.get("n1")?.meta, { "consul-network-segment": "" });
    assert.deepEqual(catalog.service("n1", "web")?.Tags, ["a"]);
    assert.equal(catalog.check("n1", "service:web")?.ServiceName, "web");
    assert.equal(catalog.check("n1", "disk")?.Status, "critical");
    ae.stop();
  });

  it("partial syncs push additions, status changes and removals; output-only changes wait 5 min", async () => {
    const { catalog, local, ae, timers } = make();
    ae.start();
    await ae.idle();
    await local.registerServiceJson({ Name: "web", Check: { TTL: "10m" } }, false);
    await ae.idle();
    assert.notEqual(catalog.service("n1", "web"), undefined);
    await local.updateTtl("service:web", "passing", "one");
    await ae.idle();
    assert.deepEqual(
      [catalog.check("n1", "service:web")?.Status, catalog.check("n1", "service:web")?.Output],
      ["passing", "one"],
    );
    const writes = catalog.log.length;
    await local.updateTtl("service:web", "passing", "two");
    await ae.idle();
    assert.equal(catalog.log.length, writes, "an output-only change is not pushed at once");
    timers.advance(5 * 60_000);
    await ae.idle();
    assert.equal(catalog.check("n1", "service:web")?.Output, "two");
    await local.deregisterService("web");
    await ae.idle();
    assert.equal(catalog.service("n1", "web"), undefined);
    assert.equal(catalog.check("n1", "service:web"), undefined);
    ae.stop();
  });

  it("a full sync removes foreign entries of its node but keeps serfHealth and a server's consul service", async () => {
    const { catalog, local, ae } = make();
    const base = { Node: "n1", Address: "10.0.0.1" };
    await catalog.catalogRegister(reg({ ...base, Service: svc({ Service: "consul", Port: 8300 }) }));
    await catalog.catalogRegister(
      reg({
        ...base,
        Service: svc({ Service: "rogue" }),
        Checks: [chk({ CheckID: "rogue-check", ServiceID: "rogue" })],
      }),
    );
    await catalog.catalogRegister(
      reg({
        ...base,
        Checks: [chk({ CheckID: "serfHealth", Status: "passing" }), chk({ CheckID: "stray" })],
      }),
    );
    await catalog.catalogRegister(
      reg({ Node: "other", Address: "10.0.0.2", Service: svc({ Service: "elsewhere" }) }),
    );
    await local.registerServiceJson({ Name: "web" }, false);
    ae.start();
    await ae.idle();
    const n = catalog.nodes.get("n1");
    assert.deepEqual([...(n?.services.keys() ?? [])].sort(), ["consul", "web"]);
    assert.deepEqual([...(n?.checks.keys() ?? [])].sort(), ["serfHealth"]);
    assert.notEqual(
      catalog.service("other", "elsewhere"),
      undefined,
      "other nodes are not this agent's business",
    );
    ae.stop();
  });

  it("retries after a failure, and undoes catalog edits made behind its back at the next full sync", async () => {
    const { catalog, local, ae, timers } = make();
    await local.registerServiceJson({ Name: "web" }, false);
    catalog.failNext = new Error("No cluster leader");
    ae.start();
    await ae.idle();
    assert.equal(ae.failures, 1);
    assert.equal(catalog.service("n1", "web"), undefined);
    timers.advance(14_999);
    await ae.idle();
    assert.equal(catalog.service("n1", "web"), undefined);
    timers.advance(1);
    await ae.idle();
    assert.notEqual(catalog.service("n1", "web"), undefined, "retried after 15 s");
    await catalog.catalogDeregister(dereg({ Node: "n1", ServiceID: "web" }));
    timers.advance(60_000);
    await ae.idle();
    assert.notEqual(catalog.service("n1", "web"), undefined, "restored by the next full sync");
    ae.stop();
    assert.equal(timers.size, 0);
  });
});
