import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Agent, Cluster, runCairn, sleep } from "./cluster.js";

interface Check {
  Node: string;
  CheckID: string;
  Status: string;
  Output: string;
}
interface Entry {
  Node: { Node: string; Address: string };
  Service: { ID: string; Port: number; Meta: Record<string, string> };
  Checks: Check[];
}

async function call(a: Agent, method: string, path: string, body?: unknown) {
  const r = await fetch(a.http + path, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: r.status, index: Number(r.headers.get("X-Consul-Index")), text: await r.text() };
}

async function json<T>(a: Agent, path: string): Promise<{ body: T; index: number }> {
  const r = await call(a, "GET", path);
  assert.equal(r.status, 200, `${path}: ${r.text}`);
  return { body: JSON.parse(r.text) as T, index: r.index };
}

/** Polls `probe` until it returns true, at most `ms`. */
async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

describe("catalog and health on a 3-server datacenter", { timeout: 180_000 }, () => {
  it("servers, register/deregister, ?passing, blocking on a check, kill -9 turns serfHealth critical", async () => {
    const c = await Cluster.start(3);
    try {
      const leader = await c.leader();
      const follower = c.agents.find((a) => a !== leader) as Agent;
      // The leader registers every server: the consul service, 3 instances, serfHealth passing.
      await until("3 passing consul instances", 15_000, async () => {
        const r = await json<Entry[]>(follower, "/v1/health/service/consul?passing");
        return r.body.length === 3;
      });
      const consul = await json<Entry[]>(leader, "/v1/health/service/consul");
      for (const e of consul.body) {
        const agent = c.agents.find((a) => a.name === e.Node.Node) as Agent;
        assert.equal(e.Service.Port, agent.rpcPort);
        assert.equal(e.Node.Address, "127.0.0.1");
        assert.equal(e.Service.Meta.raft_version, "3");
        assert.deepEqual(
          e.Checks.map((x) => [x.CheckID, x.Status, x.Output]),
          [["serfHealth", "passing", "Agent alive and reachable"]],
        );
      }
      const nodes = await runCairn(["catalog", "nodes", `-http-addr=${follower.http}`]);
      assert.equal(nodes.code, 0, nodes.out);
      assert.match(nodes.out, /^Node\s+ID\s+Address\s+DC\n/);
      assert.equal(nodes.out.trim().split("\n").length, 4, nodes.out);

      // register through a follower (forwarded), then read with ?passing.
      const reg = {
        Node: "ext",
        Address: "10.1.2.3",
        Service: { Service: "web", Tags: ["v1"], Port: 80 },
        Check: { Name: "web ok", ServiceID: "web", Status: "passing" },
      };
      assert.equal((await call(follower, "PUT", "/v1/catalog/register", reg)).status, 200);
      const web = await json<Entry[]>(leader, "/v1/health/service/web?passing&consistent");
      assert.equal(web.body.length, 1);
      const services = await runCairn(["catalog", "services", "-tags", `-http-addr=${leader.http}`]);
      assert.match(services.out, /^consul\s*\nweb\s+v1\n$/);

      // A blocking query wakes when the check changes.
      const t0 = Date.now();
      const blocked = call(follower, "GET", `/v1/health/service/web?index=${web.index}&wait=20s`);
      await sleep(300);
      const failing = { ...reg, Check: { ...reg.Check, Status: "critical" } };
      assert.equal((await call(leader, "PUT", "/v1/catalog/register", failing)).status, 200);
      const woke = await blocked;
      assert.ok(Date.now() - t0 < 15_000, "woken by the change");
      assert.ok(woke.index > web.index);
      assert.match(woke.text, /"Status":"critical"/);
      assert.deepEqual((await json<Entry[]>(leader, "/v1/health/service/web?passing")).body, []);
      assert.equal((await call(leader, "PUT", "/v1/catalog/deregister", { Node: "ext" })).status, 200);
      assert.deepEqual((await json<unknown[]>(leader, "/v1/catalog/service/web")).body, []);
      // "Must provide address if SkipNodeUpdate is not set": catalog_endpoint.go's plain error, a 500.
      assert.equal((await call(leader, "PUT", "/v1/catalog/register", { Node: "x" })).status, 500);

      // Sessions are judged against the catalog: an unknown node is refused with Consul's text.
      const ghost = await call(leader, "PUT", "/v1/session/create", { Node: "ghost" });
      assert.deepEqual([ghost.status, ghost.text], [500, "Missing node registration"]);
      // A session on the victim's node, bound to its serfHealth, holding a lock.
      const victim = c.agents.find((a) => a !== leader && a !== follower) as Agent;
      const created = await call(leader, "PUT", "/v1/session/create", { Node: victim.name });
      assert.equal(created.status, 200, created.text);
      const sid = (JSON.parse(created.text) as { ID: string }).ID;
      assert.equal((await call(leader, "PUT", `/v1/kv/held?acquire=${sid}`, "x")).text, "true");

      // kill -9 a follower: its serfHealth goes critical within the failure timeout.
      c.kill9(victim);
      await until("serfHealth critical", 20_000, async () => {
        const r = await json<Check[]>(leader, `/v1/health/node/${victim.name}`);
        return r.body.some((x) => x.CheckID === "serfHealth" && x.Status === "critical");
      });
      const critical = await json<Check[]>(follower, "/v1/health/state/critical?stale");
      assert.deepEqual(
        critical.body.map((x) => [x.Node, x.Output]),
        [[victim.name, "Agent not live or unreachable"]],
      );
      // ... which ended the session bound to it and released its lock, in the same apply.
      assert.deepEqual((await json<unknown[]>(leader, `/v1/session/info/${sid}`)).body, []);
      const held = await json<{ Session?: string }[]>(leader, "/v1/kv/held");
      assert.equal(held.body[0]?.Session, undefined);
      // The key is under the session's lock-delay (15 s from the leader's clock at the invalidation).
      const other = await call(leader, "PUT", "/v1/session/create", { Node: leader.name });
      const oid = (JSON.parse(other.text) as { ID: string }).ID;
      assert.equal((await call(leader, "PUT", `/v1/kv/held?acquire=${oid}`, "y")).text, "false");
    } finally {
      await c.stop();
    }
  });
});
