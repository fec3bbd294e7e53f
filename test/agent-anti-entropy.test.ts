import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { type Agent, Cluster, getJson, sleep } from "./cluster.js";

/** Anti-entropy in a real agent: the local services and checks reach the catalog, and leave it. */
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

type HealthCheck = { CheckID: string; Status: string; Output: string; ServiceID: string };

describe("cairn agent: anti-entropy with the catalog", () => {
  let cluster: Cluster | null = null;
  after(async () => {
    await cluster?.stop();
  });

  it("pushes config-file and API services with their checks, status changes and removals", async (t) => {
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
    const node = a.name;
    const services = () =>
      getJson(a, `/v1/catalog/node/${node}`) as Promise<{ Services: Record<string, unknown> } | null>;
    const checks = () => getJson(a, `/v1/health/node/${node}`) as Promise<HealthCheck[]>;

    await until(
      "the config-file service in the catalog",
      async () => (await services())?.Services["from-config"] !== undefined,
    );
    await agentPut(a, "/v1/agent/service/register", { Name: "api", Port: 8080, Check: { TTL: "5m" } });
    await until("the API service", async () => (await services())?.Services.api !== undefined);
    await agentPut(a, "/v1/agent/check/pass/service%3Aapi?note=up");
    await until("the passing status", async () =>
      (await checks()).some(
        (c) => c.CheckID === "service:api" && c.Status === "passing" && c.Output === "up",
      ),
    );
    await agentPut(a, "/v1/agent/service/deregister/api");
    await until("the removal", async () => (await services())?.Services.api === undefined);
    const left = await checks();
    assert.equal(
      left.some((c) => c.ServiceID === "api"),
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
});
