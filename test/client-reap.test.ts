/**
 * Reaping (docs/membership.md): a client agent failed for longer than `reconnect_timeout` is deregistered by the
 * leader, as Consul's leader deregisters a member Serf reaped. Consul's least timeout is 8 h; the servers here
 * accept 3 s because CAIRN_TEST_RECONNECT_TIMEOUT_ANY=1 is in their environment. Without it the same config file
 * is refused with Consul's error.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, runCairn, waitFor } from "./cluster.js";

async function serfHealth(server: Agent, node: string): Promise<string | undefined> {
  const r = await fetch(`${server.http}/v1/health/node/${node}`, { signal: AbortSignal.timeout(10_000) });
  const checks = (await r.json()) as { CheckID: string; Status: string }[];
  return checks.find((c) => c.CheckID === "serfHealth")?.Status;
}

describe("reaping failed client agents", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let configFile: string;
  const hadEnv = process.env.CAIRN_TEST_RECONNECT_TIMEOUT_ANY;

  before(async () => {
    process.env.CAIRN_TEST_RECONNECT_TIMEOUT_ANY = "1";
    const dir = new Cluster().dir;
    configFile = join(dir, "reap.json");
    writeFileSync(configFile, JSON.stringify({ reconnect_timeout: "3s" }));
    cluster = await Cluster.start(1, 1, ["-config-file", configFile]);
    await cluster.leader();
  });

  after(async () => {
    await cluster.stop();
    if (hadEnv === undefined) delete process.env.CAIRN_TEST_RECONNECT_TIMEOUT_ANY;
    else process.env.CAIRN_TEST_RECONNECT_TIMEOUT_ANY = hadEnv;
  });

  it("deregisters a client failed for longer than reconnect_timeout", async () => {
    const server = cluster.agents[0] as Agent;
    const c = await cluster.addClient("doomed");
    await waitFor("the client alive", 30_000, async () =>
      (await serfHealth(server, "doomed").catch(() => undefined)) === "passing" ? true : undefined,
    );
    cluster.kill9(c);
    // First failed (critical, still a member), then reaped: gone from the catalog.
    await waitFor("the client failed", 30_000, async () =>
      (await serfHealth(server, "doomed")) === "critical" ? true : undefined,
    );
    await waitFor("the client reaped", 30_000, async () => {
      const r = await fetch(`${server.http}/v1/catalog/node/doomed`, { signal: AbortSignal.timeout(10_000) });
      return (await r.text()).trim() === "null" ? true : undefined;
    });
    const members = (await (await fetch(`${server.http}/v1/agent/members`)).json()) as { Name: string }[];
    assert.ok(!members.some((m) => m.Name === "doomed"));
  });

  it("refuses a reconnect_timeout under 8h without the test switch, as Consul", async () => {
    const r = await runCairn(["agent", "-server", "-dev", "-config-file", configFile], 20_000, {
      env: { ...process.env, CAIRN_TEST_RECONNECT_TIMEOUT_ANY: "" },
    });
    assert.notEqual(r.code, 0);
    assert.match(r.out, /reconnect_timeout must be >= 8h/);
  });
});
