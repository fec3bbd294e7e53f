import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, getJson, runCairn, sleep } from "./cluster.js";

/**
 * A real `cairn agent`: services from a config file, the HTTP API and the CLI, anti-entropy into the catalog, and
 * a restart on its data dir.
 */
async function agentPut(a: Agent, path: string, body?: unknown): Promise<void> {
  const r = await fetch(a.http + path, {
    method: "PUT",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(r.status, 200, `${path}: ${await r.text()}`);
}

/** Polls `probe` until it returns true (bounded: 100 tries, 20 s). */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

type Checks = Record<string, { Status: string; Output: string; ServiceID: string }>;
type HealthCheck = { CheckID: string; Status: string; Output: string; ServiceID: string };

describe("cairn agent: local services and checks", () => {
  let cluster: Cluster;
  let a: Agent;
  let cfgDir: string;

  before(async () => {
    cfgDir = mkdtempSync(join(tmpdir(), "cairn-cfg-"));
    const cfg = join(cfgDir, "services.json");
    writeFileSync(
      cfg,
      JSON.stringify({ service: { name: "from-config", port: 7000, check: { ttl: "30s" } } }),
    );
    cluster = await Cluster.start(1, 1, ["-config-file", cfg]);
    a = cluster.agents[0] as Agent;
    await cluster.leader();
  });

  after(async () => {
    await cluster.stop();
    rmSync(cfgDir, { recursive: true, force: true });
  });

  it("anti-entropy pushes config-file and API services with their checks, status changes and removals", async () => {
    const node = a.name;
    const services = () =>
      getJson(a, `/v1/catalog/node/${node}`) as Promise<{ Services: Record<string, unknown> } | null>;
    const checks = () => getJson(a, `/v1/health/node/${node}`) as Promise<HealthCheck[]>;
    await until(
      "the config-file service",
      async () => (await services())?.Services["from-config"] !== undefined,
    );
    await agentPut(a, "/v1/agent/service/register", { Name: "ae", Port: 8080, Check: { TTL: "5m" } });
    await until("the API service", async () => (await services())?.Services.ae !== undefined);
    await agentPut(a, "/v1/agent/check/pass/service%3Aae?note=up");
    await until("the passing status", async () =>
      (await checks()).some((c) => c.CheckID === "service:ae" && c.Status === "passing" && c.Output === "up"),
    );
    await agentPut(a, "/v1/agent/service/deregister/ae");
    await until("the removal", async () => (await services())?.Services.ae === undefined);
    const left = await checks();
    assert.equal(
      left.some((c) => c.ServiceID === "ae"),
      false,
    );
    assert.equal(
      left.some((c) => c.CheckID === "serfHealth"),
      true,
      "serfHealth stays (the leader's)",
    );
    assert.notEqual(
      (await services())?.Services.consul,
      undefined,
      "the consul service stays (the leader's)",
    );
  });

  it("registers through HTTP and the CLI, and keeps API registrations and TTL state across a restart", async () => {
    await agentPut(a, "/v1/agent/service/register", { Name: "api", Port: 8080, Check: { TTL: "5m" } });
    await agentPut(a, "/v1/agent/check/pass/service%3Aapi?note=up");
    const reg = await runCairn(["services", "register", `-http-addr=${a.http}`, "-name=cli-svc", "-port=9"]);
    assert.equal(reg.code, 0, reg.out);
    assert.equal(reg.out, "Registered service: cli-svc\n");
    const gone = await runCairn(["services", "register", `-http-addr=${a.http}`, "-name=temp"]);
    assert.equal(gone.code, 0, gone.out);
    const dereg = await runCairn(["services", "deregister", `-http-addr=${a.http}`, "-id=temp"]);
    assert.equal(dereg.out, "Deregistered service: temp\n");

    const beforeRestart = (await getJson(a, "/v1/agent/services")) as Record<string, { Port: number }>;
    assert.deepEqual(Object.keys(beforeRestart).sort(), ["api", "cli-svc", "from-config"]);

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

  it("cairn reload applies the rewritten config file: a service gone, one added, API registrations kept", async () => {
    writeFileSync(
      join(cfgDir, "services.json"),
      JSON.stringify({ service: { name: "reloaded", port: 7001 } }),
    );
    const r = await runCairn(["reload", `-http-addr=${a.http}`]);
    assert.deepEqual([r.code, r.out], [0, "Configuration reload triggered\n"]);
    const services = (await getJson(a, "/v1/agent/services")) as Record<string, { Port: number }>;
    assert.deepEqual(Object.keys(services).sort(), ["api", "cli-svc", "reloaded"]);
    await until("the catalog to follow the reload", async () => {
      const n = (await getJson(a, `/v1/catalog/node/${a.name}`)) as {
        Services: Record<string, unknown>;
      } | null;
      const names = Object.keys(n?.Services ?? {});
      return names.includes("reloaded") && !names.includes("from-config");
    });
    writeFileSync(join(cfgDir, "services.json"), "{ not json");
    const bad = await runCairn(["reload", `-http-addr=${a.http}`]);
    assert.equal(bad.code, 1);
    assert.match(bad.out, /^Error reloading: Unexpected response code: 500 \(Failed to reload configs: /);
  });
});
