import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import Consul from "consul";
import { MemoryServer } from "../api/memory-server.js";
import { LocalState } from "../local/state.js";
import { ManualTimers } from "../local/timers.js";
import { createHttpServer } from "./node-adapter.js";

/** The npm `consul` client (2.0.1, unmodified) against the agent endpoints served over real HTTP. */
describe("the npm consul client against /v1/agent/service… and /v1/agent/check…", () => {
  it("registers, updates, lists, maintains and deregisters services and checks", async (t) => {
    const local = new LocalState({
      nodeName: "n1",
      datacenter: "dc1",
      timers: new ManualTimers(),
      persist: null,
    });
    const server = createHttpServer(new MemoryServer(), { bodyBytesMax: 1 << 20, local });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const consul = new Consul({ host: "127.0.0.1", port: (server.address() as AddressInfo).port });
    t.after(() => {
      consul.destroy();
      local.stop();
      server.close();
      server.closeAllConnections();
    });

    // The package's .d.ts wants `timeout` on every check and has no `id` for check.register, though its code
    // reads both as Consul documents them: the options go through `unknown` to the declared parameter types.
    type ServiceOpts = Parameters<typeof consul.agent.service.register>[0];
    type CheckOpts = Parameters<typeof consul.agent.check.register>[0];
    await consul.agent.service.register({
      name: "web",
      id: "web1",
      tags: ["v1"],
      port: 8080,
      meta: { team: "a" },
      check: { ttl: "30s", notes: "app heartbeat" },
    } as unknown as ServiceOpts);
    await consul.agent.check.pass({ id: "service:web1", note: "alive" });
    const services = (await consul.agent.service.list()) as Record<string, { Service: string; Port: number }>;
    assert.deepEqual([services.web1?.Service, services.web1?.Port], ["web", 8080]);
    const checks = (await consul.agent.check.list()) as Record<
      string,
      { Status: string; Output: string; Notes: string }
    >;
    assert.deepEqual(checks["service:web1"], {
      ...checks["service:web1"],
      Status: "passing",
      Output: "alive",
      Notes: "app heartbeat",
    });

    await consul.agent.check.register({ name: "disk", id: "disk", ttl: "1m" } as unknown as CheckOpts);
    await consul.agent.check.warn({ id: "disk", note: "80%" });
    assert.equal(local.check("disk")?.Status, "warning");
    await consul.agent.check.fail("disk");
    assert.equal(local.check("disk")?.Status, "critical");
    await consul.agent.check.deregister("disk");

    await consul.agent.service.maintenance({ id: "web1", enable: true, reason: "deploy" });
    assert.equal(local.check("_service_maintenance:web1")?.Notes, "deploy");
    await consul.agent.maintenance({ enable: true });
    assert.equal(local.check("_node_maintenance")?.Status, "critical");
    await consul.agent.maintenance({ enable: false });
    await consul.agent.service.maintenance({ id: "web1", enable: false });

    // papi shows text bodies under 80 bytes only; Consul's text is longer, so the client says "not found".
    await assert.rejects(consul.agent.check.pass({ id: "nope" }), /not found/);
    await consul.agent.service.deregister("web1");
    assert.deepEqual([local.services(), local.checks()], [[], []]);
  });
});
