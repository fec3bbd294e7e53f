/**
 * A client agent in a datacenter with ACLs (default deny), as real processes: the client enforces its own
 * /v1/agent/* endpoints with tokens resolved through a server, forwards everything else with the request's token
 * for the server to enforce; its anti-entropy registers the node with the agent token and each service with the
 * token it was registered with, which the client keeps in its data dir across restarts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
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

  it("registers through anti-entropy with the service's token; forwarded requests are the server's to enforce", async () => {
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

  it("keeps each service's token: registers it with it, across a restart; a service whose token lacks the right is refused", async () => {
    const server = cluster.agents[0] as Agent;
    const ok = async (method: string, path: string, body: object): Promise<string> => {
      const r = await req(server, method, path, MANAGEMENT, JSON.stringify(body));
      assert.equal(r.status, 200, r.text);
      return r.text;
    };
    const tokenWith = async (name: string, rules: string): Promise<string> => {
      const p = JSON.parse(await ok("PUT", "/v1/acl/policy", { Name: name, Rules: rules }));
      return JSON.parse(await ok("PUT", "/v1/acl/token", { Policies: [{ ID: p.ID }] })).SecretID as string;
    };
    // The agent token may write its node only (and read the services it syncs), as Consul's docs advise.
    const agentToken = await tokenWith(
      "c2-agent",
      'node "c2" { policy = "write" } service_prefix "" { policy = "read" }',
    );
    const apiToken = await tokenWith("api-write", 'service "api" { policy = "write" }');
    const otherToken = await tokenWith("other-write", 'service "other" { policy = "write" }');
    const config = join(configDir, "c2.json");
    writeFileSync(
      config,
      JSON.stringify({
        acl: { tokens: { agent: agentToken } },
        // A config file's service with a token that may not write it: anti-entropy is refused, and says so.
        service: { name: "cfgsvc", token: otherToken },
      }),
    );
    const c2 = await cluster.addClient("c2", ["-config-file", config]);
    const inCatalog = async (name: string): Promise<string[]> => {
      const r = await req(server, "GET", `/v1/catalog/service/${name}`, MANAGEMENT);
      return r.status === 200 ? (JSON.parse(r.text) as { Node: string }[]).map((e) => e.Node) : [];
    };
    await waitFor("c2 up", 30_000, async () => {
      const r = await req(c2, "GET", "/v1/agent/self", MANAGEMENT).catch(() => null);
      return r?.status === 200 ? true : undefined;
    });
    const denied = await req(
      c2,
      "PUT",
      "/v1/agent/service/register",
      otherToken,
      JSON.stringify({ Name: "api" }),
    );
    assert.equal(denied.status, 403, "the client's own endpoint checks the request's token");
    const registered = await req(
      c2,
      "PUT",
      "/v1/agent/service/register",
      apiToken,
      JSON.stringify({ Name: "api" }),
    );
    assert.equal(registered.status, 200, registered.text);
    await waitFor("api in the catalog, registered with its token", 30_000, async () =>
      (await inCatalog("api")).includes("c2") ? true : undefined,
    );
    await waitFor("cfgsvc refused by ACLs, and logged", 30_000, async () =>
      /Service registration blocked by ACLs: service=cfgsvc: .*Permission denied/.test(c2.output)
        ? true
        : undefined,
    );
    assert.deepEqual(await inCatalog("cfgsvc"), []);
    assert.equal(
      c2.output.includes(apiToken) || c2.output.includes(otherToken),
      false,
      "no token in the log",
    );

    // The token is in the service's file (0600), and a restart registers the service with it again: the agent
    // token alone could not, so api's return after being removed behind the agent's back proves it.
    await cluster.stopAgent(c2);
    const file = join(c2.dataDir, "services", createHash("md5").update("api").digest("hex"));
    assert.equal(JSON.parse(readFileSync(file, "utf8")).Token, apiToken);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await ok("PUT", "/v1/catalog/deregister", { Node: "c2", ServiceID: "api" });
    assert.deepEqual(await inCatalog("api"), []);
    c2.output = "";
    cluster.launch(c2, 0);
    await waitFor("api back in the catalog after the restart", 30_000, async () =>
      (await inCatalog("api")).includes("c2") ? true : undefined,
    );
    await waitFor("cfgsvc refused again after the restart", 30_000, async () =>
      c2.output.includes("Service registration blocked by ACLs: service=cfgsvc") ? true : undefined,
    );
    assert.deepEqual(await inCatalog("cfgsvc"), []);
  });
});
