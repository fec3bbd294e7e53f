import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Agent, Cluster, getJson, runCairn } from "./cluster.js";

/** A real `cairn agent`: services from a config file, the HTTP API and the CLI, and a restart on its data dir. */
async function agentPut(a: Agent, path: string, body?: unknown): Promise<void> {
  const r = await fetch(a.http + path, {
    method: "PUT",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(r.status, 200, `${path}: ${await r.text()}`);
}

type Checks = Record<string, { Status: string; Output: string; ServiceID: string }>;

describe("cairn agent: local services and checks", () => {
  let cluster: Cluster | null = null;
  after(async () => {
    await cluster?.stop();
  });

  it("loads config-file services, registers through HTTP and the CLI, and keeps API registrations and TTL state across a restart", async (t) => {
    const cfgDir = mkdtempSync(join(tmpdir(), "cairn-cfg-"));
    t.after(() => rmSync(cfgDir, { recursive: true, force: true }));
    const cfg = join(cfgDir, "services.json");
    writeFileSync(
      cfg,
      JSON.stringify({ service: { name: "from-config", port: 7000, check: { ttl: "30s" } } }),
    );
    cluster = await Cluster.start(1, 1, ["-config-file", cfg]);
    const a = cluster.agents[0]!;
    await cluster.leader();

    await agentPut(a, "/v1/agent/service/register", { Name: "api", Port: 8080, Check: { TTL: "5m" } });
    await agentPut(a, "/v1/agent/check/pass/service%3Aapi?note=up");
    const reg = await runCairn(["services", "register", `-http-addr=${a.http}`, "-name=cli-svc", "-port=9"]);
    assert.equal(reg.code, 0, reg.out);
    assert.equal(reg.out, "Registered service: cli-svc\n");
    const gone = await runCairn(["services", "register", `-http-addr=${a.http}`, "-name=temp"]);
    assert.equal(gone.code, 0, gone.out);
    const dereg = await runCairn(["services", "deregister", `-http-addr=${a.http}`, "-id=temp"]);
    assert.equal(dereg.out, "Deregistered service: temp\n");

    const before = (await getJson(a, "/v1/agent/services")) as Record<string, { Port: number }>;
    assert.deepEqual(Object.keys(before).sort(), ["api", "cli-svc", "from-config"]);

    await cluster.stopAgent(a);
    cluster.launch(a, 1);
    await cluster.leader();
    const afterRestart = (await getJson(a, "/v1/agent/services")) as Record<string, { Port: number }>;
    assert.deepEqual(Object.keys(afterRestart).sort(), ["api", "cli-svc", "from-config"]);
    assert.equal(afterRestart.api?.Port, 8080);
    const checks = (await getJson(a, "/v1/agent/checks")) as Checks;
    assert.deepEqual([checks["service:api"]?.Status, checks["service:api"]?.Output], ["passing", "up"]);
    assert.equal(checks["service:from-config"]?.Status, "critical", "a config-file check starts critical");
    const health = await fetch(`${a.http}/v1/agent/health/service/id/api?format=text`);
    assert.deepEqual([health.status, await health.text()], [200, "passing"]);
  });
});
