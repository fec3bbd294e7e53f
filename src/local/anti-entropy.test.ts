import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import type { QueryOptions } from "../api/types.js";
import type { CatalogDeregisterRequest, CatalogRegisterRequest, HealthCheckJson } from "../fsm/index.js";
import { parseDeregister, parseRegister } from "../http/catalog-body.js";
import { AntiEntropy, CatalogDeniedError, type CatalogSync, type NodeInfo } from "./anti-entropy.js";
import { LocalState } from "./state.js";
import { ManualTimers } from "./timers.js";

const NODE: NodeInfo = {
  node: "n1",
  id: "11111111-2222-3333-4444-555555555555",
  datacenter: "dc1",
  address: "10.0.0.1",
  taggedAddresses: { lan: "10.0.0.1", lan_ipv4: "10.0.0.1", wan: "10.0.0.1", wan_ipv4: "10.0.0.1" },
  meta: { "consul-network-segment": "" },
  server: true,
};

/** A catalog edit made behind the agent's back, as a client sends it: Consul's JSON, decoded as the HTTP layer does. */
const body = (v: object): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const register = (api: MemoryServer, v: object) => api.catalogRegister(parseRegister(body(v)));
const deregister = (api: MemoryServer, v: object) => api.catalogDeregister(parseDeregister(body(v)));

const NOW: QueryOptions = { consistency: "default", minIndex: 0, waitMs: 0 };

/** What the catalog holds of a node, read through the ServerApi as anti-entropy reads it. */
async function held(api: MemoryServer, node = "n1") {
  const ns = (await api.catalogNodeServices(node, NOW)).value;
  const checks: Record<string, HealthCheckJson> = {};
  for (const c of (await api.healthNode(node, NOW)).value) checks[c.CheckID] = c;
  return { node: ns?.Node, services: ns?.Services ?? {}, checks };
}

/** The loop over the real catalog: MemoryServer is the real endpoints and rules over an in-memory store. */
function make() {
  const timers = new ManualTimers();
  const catalog = new MemoryServer();
  const local = new LocalState({ nodeName: "n1", datacenter: "dc1", timers, persist: null, random: () => 0 });
  const ae = new AntiEntropy({ catalog, local, node: NODE, timers, random: () => 0 });
  return { timers, catalog, local, ae };
}

describe("anti-entropy", () => {
  it("a full sync at start registers the node, the services and their checks", async () => {
    const { catalog, local, ae } = make();
    await local.registerServiceJson({ Name: "web", Port: 80, Tags: ["a"], Check: { TTL: "10s" } }, false);
    await local.registerCheckJson({ Name: "disk", TTL: "10s" });
    ae.start();
    await ae.idle();
    const h = await held(catalog);
    assert.equal(h.node?.Address, "10.0.0.1");
    assert.deepEqual(h.node?.Meta, { "consul-network-segment": "" });
    assert.deepEqual(h.services.web?.Tags, ["a"]);
    assert.equal(h.checks["service:web"]?.ServiceName, "web");
    assert.equal(h.checks.disk?.Status, "critical");
    ae.stop();
  });

  it("partial syncs push additions, status changes and removals; output-only changes wait 5 min", async () => {
    const { catalog, local, ae, timers } = make();
    ae.start();
    await ae.idle();
    await local.registerServiceJson({ Name: "web", Check: { TTL: "10m" } }, false);
    await ae.idle();
    assert.notEqual((await held(catalog)).services.web, undefined);
    await local.updateTtl("service:web", "passing", "one");
    await ae.idle();
    const pushed = (await held(catalog)).checks["service:web"];
    assert.deepEqual([pushed?.Status, pushed?.Output], ["passing", "one"]);
    const writes = catalog.writes.length;
    await local.updateTtl("service:web", "passing", "two");
    await ae.idle();
    assert.equal(catalog.writes.length, writes, "an output-only change is not pushed at once");
    timers.advance(5 * 60_000);
    await ae.idle();
    assert.equal((await held(catalog)).checks["service:web"]?.Output, "two");
    await local.deregisterService("web");
    await ae.idle();
    const gone = await held(catalog);
    assert.equal(gone.services.web, undefined);
    assert.equal(gone.checks["service:web"], undefined);
    ae.stop();
  });

  it("a full sync removes foreign entries of its node but keeps serfHealth and a server's consul service", async () => {
    const { catalog, local, ae } = make();
    const base = { Node: "n1", Address: "10.0.0.1" };
    await register(catalog, { ...base, Service: { Service: "consul", Port: 8300 } });
    await register(catalog, {
      ...base,
      Service: { Service: "rogue" },
      Checks: [{ CheckID: "rogue-check", ServiceID: "rogue" }],
    });
    await register(catalog, {
      ...base,
      Checks: [{ CheckID: "serfHealth", Status: "passing" }, { CheckID: "stray" }],
    });
    await register(catalog, { Node: "other", Address: "10.0.0.2", Service: { Service: "elsewhere" } });
    await local.registerServiceJson({ Name: "web" }, false);
    ae.start();
    await ae.idle();
    const n = await held(catalog);
    assert.deepEqual(Object.keys(n.services).sort(), ["consul", "web"]);
    assert.deepEqual(Object.keys(n.checks).sort(), ["serfHealth"]);
    assert.notEqual(
      (await held(catalog, "other")).services.elsewhere,
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
    assert.equal((await held(catalog)).services.web, undefined);
    timers.advance(14_999);
    await ae.idle();
    assert.equal((await held(catalog)).services.web, undefined);
    timers.advance(1);
    await ae.idle();
    assert.notEqual((await held(catalog)).services.web, undefined, "retried after 15 s");
    await deregister(catalog, { Node: "n1", ServiceID: "web" });
    timers.advance(60_000);
    await ae.idle();
    assert.notEqual((await held(catalog)).services.web, undefined, "restored by the next full sync");
    ae.stop();
    assert.equal(timers.size, 0);
  });

  it("a failing agent retries at once when the servers change, a healthy one does not sync for it", async () => {
    const { catalog, local, ae, timers } = make();
    await local.registerServiceJson({ Name: "web" }, false);
    catalog.failNext = new Error("No cluster leader");
    ae.start();
    await ae.idle();
    ae.serversChanged();
    timers.advance(0);
    await ae.idle();
    assert.notEqual((await held(catalog)).services.web, undefined, "retried without waiting 15 s");
    const writes = catalog.writes.length;
    ae.serversChanged();
    timers.advance(3_000);
    await ae.idle();
    assert.equal(catalog.writes.length, writes);
    ae.stop();
  });

  it("registers, updates and removes, keeping serfHealth, with requests the catalog accepts", async () => {
    const { catalog, local, ae } = make();
    await register(catalog, {
      Node: "n1",
      Address: "10.0.0.1",
      Checks: [{ CheckID: "serfHealth", Name: "Serf Health Status", Status: "passing" }],
    });
    await register(catalog, { Node: "n1", Address: "10.0.0.1", Service: { ID: "rogue", Service: "rogue" } });
    await local.registerServiceJson(
      { Name: "web", Port: 80, Checks: [{ TTL: "1m" }, { TTL: "1m", Status: "passing" }] },
      false,
    );
    await local.registerCheckJson({ Name: "disk", TTL: "1m" });
    ae.start();
    await ae.idle();
    assert.equal(ae.failures, 0);
    const services = async () => Object.keys((await held(catalog)).services).sort();
    const checks = async () =>
      Object.fromEntries(Object.values((await held(catalog)).checks).map((c) => [c.CheckID, c.Status]));
    assert.deepEqual(await services(), ["web"]);
    assert.deepEqual(await checks(), {
      disk: "critical",
      serfHealth: "passing",
      "service:web:1": "critical",
      "service:web:2": "passing",
    });
    await local.updateTtl("disk", "warning", "80%");
    await local.deregisterService("web");
    await ae.idle();
    assert.deepEqual(await services(), []);
    assert.deepEqual(await checks(), { disk: "warning", serfHealth: "passing" });
    ae.stop();
    local.stop();
  });

  it("registers each service and check with its own token; the node and removals are the agent's", async () => {
    const timers = new ManualTimers();
    const memory = new MemoryServer();
    /** Each write and the token it came with (null: the agent's own); the token "denied" is refused by ACLs. */
    const calls: { what: string; token: string | null }[] = [];
    const catalog: CatalogSync = {
      catalogNodeServices: (node, q) => memory.catalogNodeServices(node, q),
      healthNode: (node, q) => memory.healthNode(node, q),
      async catalogRegister(req: CatalogRegisterRequest, token?: string) {
        const what = `reg ${req.Service?.ID ?? "-"} [${req.Checks.map((c) => c.CheckID).join(",")}]`;
        calls.push({ what, token: token ?? null });
        if (token === "denied")
          throw new CatalogDeniedError("Permission denied: token lacks 'service:write'");
        await memory.catalogRegister(req);
      },
      async catalogDeregister(req: CatalogDeregisterRequest) {
        calls.push({ what: `dereg ${req.ServiceID || req.CheckID}`, token: null });
        await memory.catalogDeregister(req);
      },
    };
    const logs: string[] = [];
    const local = new LocalState({
      nodeName: "n1",
      datacenter: "dc1",
      timers,
      persist: null,
      random: () => 0,
    });
    const ae = new AntiEntropy({
      catalog,
      local,
      node: NODE,
      timers,
      random: () => 0,
      log: (_level, msg) => logs.push(msg),
    });
    await local.registerServiceJson(
      { Name: "web", Check: { CheckID: "web-a", TTL: "1m" } },
      false,
      "web-tok",
    );
    // A check of web's registered with another token must not ride on web's token.
    await local.registerCheckJson({ Name: "b", CheckID: "web-b", ServiceID: "web", TTL: "1m" }, "other-tok");
    await local.registerServiceJson({ Name: "db" }, false);
    await local.registerServiceJson({ Name: "secret" }, false, "denied");
    ae.start();
    await ae.idle();
    assert.deepEqual(calls, [
      { what: "reg - []", token: null },
      { what: "reg web [web-a]", token: "web-tok" },
      { what: "reg db []", token: "" },
      { what: "reg secret []", token: "denied" },
      { what: "reg web [web-b]", token: "other-tok" },
    ]);
    assert.equal(ae.failures, 0, "a denial does not fail the sync");
    assert.equal(ae.blocked, 1);
    assert.match(logs.join("\n"), /Service registration blocked by ACLs: service=secret: Permission denied/);
    assert.equal(logs.join("\n").includes("web-tok"), false, "tokens are never logged");
    assert.deepEqual(Object.keys((await held(memory)).services).sort(), ["db", "web"]);
    // Denied is done until the next full sync: a partial sync does not retry it...
    calls.length = 0;
    await local.registerCheckJson({ Name: "disk", TTL: "10m" });
    await ae.idle();
    assert.deepEqual(calls, [{ what: "reg - [disk]", token: "" }]);
    // ...a full sync does; removals go with the agent token, whatever token registered the entry.
    calls.length = 0;
    await local.deregisterService("web");
    await ae.idle();
    assert.deepEqual(calls, [{ what: "dereg web", token: null }]);
    calls.length = 0;
    timers.advance(60_000);
    await ae.idle();
    assert.deepEqual(calls, [{ what: "reg secret []", token: "denied" }]);
    assert.equal(ae.blocked, 2);
    ae.stop();
    local.stop();
  });
});
