/**
 * A client agent in a datacenter with ACLs (default deny), as real processes: the client enforces its own
 * /v1/agent/* endpoints with tokens resolved through a server, forwards everything else with the request's token
 * for the server to enforce, and its anti-entropy registers with the agent token.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, waitFor } from "./cluster.js";

const MANAGEMENT = "5d1e6c0a-7b4f-4c2e-9a8d-1f3e5b7c9d0e";

async function req(
  a: Agent,
  method: string,
  path: string,
  token?: string,
  body?: string,
): Promise<{ status: number; text: string }> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(20_000) };
  if (token !== undefined) init.headers = { "X-Consul-Token": token };
  if (body !== undefined) init.body = body;
  const r = await fetch(a.http + path, init);
  return { status: r.status, text: await r.text() };
}

describe("a client agent with ACLs", { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let client: Agent;
  let configDir = "";

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "cairn-acl-"));
    const config = join(configDir, "acl.json");
    writeFileSync(
      config,
      JSON.stringify({
        acl: {
          enabled: true,
          default_policy: "deny",
          tokens: { initial_management: MANAGEMENT, agent: MANAGEMENT },
        },
      }),
    );
    cluster = await Cluster.start(3, 3, ["-config-file", config]);
    // /v1/agent/self needs a token here: wait for a leader through /v1/status/leader, which needs none.
    await waitFor("a leader", 30_000, async () => {
      const r = await req(cluster.agents[0] as Agent, "GET", "/v1/status/leader").catch(() => null);
      return r?.status === 200 && r.text !== '""' ? true : undefined;
    });
    client = await cluster.addClient("c1");
    await waitFor("c1 alive in the catalog", 30_000, async () => {
      const r = await req(cluster.agents[0] as Agent, "GET", "/v1/health/node/c1", MANAGEMENT).catch(
        () => null,
      );
      return r?.status === 200 && r.text.includes('"serfHealth"') && r.text.includes('"passing"')
        ? true
        : undefined;
    });
  });

  after(async () => {
    await cluster?.stop();
    if (configDir !== "") rmSync(configDir, { recursive: true, force: true });
  });

  it("enforces its own agent endpoints with tokens resolved through a server", async () => {
    const service = JSON.stringify({ Name: "web", Port: 80 });
    const anonymous = await req(client, "PUT", "/v1/agent/service/register", undefined, service);
    assert.equal(anonymous.status, 403, anonymous.text);
    assert.match(anonymous.text, /Permission denied: anonymous token lacks permission 'service:write'/);
    const unknown = await req(
      client,
      "PUT",
      "/v1/agent/service/register",
      "00000000-0000-4000-8000-000000000000",
      service,
    );
    assert.equal(unknown.status, 403);
    assert.equal(unknown.text, "ACL not found");
    assert.equal((await req(client, "PUT", "/v1/agent/service/register", MANAGEMENT, service)).status, 200);
    assert.equal((await req(client, "GET", "/v1/agent/self")).status, 403);
    assert.equal((await req(client, "GET", "/v1/agent/self", MANAGEMENT)).status, 200);
  });

  it("registers through anti-entropy with the agent token; forwarded requests are the server's to enforce", async () => {
    await waitFor("web in the catalog", 20_000, async () => {
      const r = await req(client, "GET", "/v1/catalog/service/web", MANAGEMENT);
      return r.status === 200 && JSON.parse(r.text).length === 1 ? true : undefined;
    });
    // Without a token the catalog read is filtered by the server: nothing.
    assert.equal((await req(client, "GET", "/v1/catalog/service/web")).text, "[]");
    const denied = await req(client, "PUT", "/v1/kv/secret", undefined, "x");
    assert.equal(denied.status, 403);
    assert.match(denied.text, /anonymous token lacks permission 'key:write'/);
    assert.equal((await req(client, "PUT", "/v1/kv/secret", MANAGEMENT, "x")).text, "true");
  });
});
