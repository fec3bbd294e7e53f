/**
 * Client agents (issue 15, docs/membership.md) as real processes: three servers and two clients on loopback.
 * Everything but /v1/agent/* reaches the servers through the client (KV, sessions, catalog, blocking queries,
 * snapshots both ways, its DNS interface's reads); a client's node carries serfHealth, kept by the leader from its heartbeats; it fails
 * over when the server it forwards to is killed; it keeps its services across a restart; killed, its node turns
 * critical and its session's lock is released; leaving, its node is gone.
 */
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { after, before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { type Agent, Cluster, freePort, runCairn, waitFor } from "./cluster.js";

interface Reply {
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
  readonly bytes: Buffer;
}

async function req(a: Agent, method: string, path: string, body?: string | Uint8Array): Promise<Reply> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(20_000) };
  if (body !== undefined) init.body = body;
  const r = await fetch(a.http + path, init);
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, text: bytes.toString("utf8"), headers: r.headers, bytes };
}

async function ok(a: Agent, method: string, path: string, body?: string | Uint8Array): Promise<Reply> {
  const r = await req(a, method, path, body);
  assert.equal(r.status, 200, `${method} ${path} through ${a.name}: ${r.status} ${r.text}`);
  return r;
}

const json = <T>(r: Reply): T => JSON.parse(r.text) as T;

async function serfHealth(server: Agent, node: string): Promise<string | undefined> {
  const r = await req(server, "GET", `/v1/health/node/${node}`);
  if (r.status !== 200) return undefined;
  return json<{ CheckID: string; Status: string }[]>(r).find((c) => c.CheckID === "serfHealth")?.Status;
}

describe("client agents", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  let c1: Agent;
  let c2: Agent;
  let c2Dns: number;

  before(async () => {
    cluster = await Cluster.start(3);
    await cluster.leader();
    c1 = await cluster.addClient("c1");
    c2Dns = await freePort();
    c2 = await cluster.addClient("c2", ["-dns-port", String(c2Dns)]);
    for (const c of [c1, c2]) {
      await waitFor(`${c.name} alive in the catalog`, 30_000, async () =>
        (await serfHealth(cluster.agents[1] as Agent, c.name).catch(() => undefined)) === "passing"
          ? true
          : undefined,
      );
    }
  });

  after(async () => {
    await cluster.stop();
  });

  it("is a client: agent/self says so, and members everywhere list it with role node", async () => {
    const self = json<{ Config: { Server: boolean; NodeName: string }; Member: { Tags: { role: string } } }>(
      await ok(c1, "GET", "/v1/agent/self"),
    );
    assert.equal(self.Config.Server, false);
    assert.equal(self.Config.NodeName, "c1");
    const want = JSON.stringify({ c1: "node", c2: "node", s0: "consul", s1: "consul", s2: "consul" });
    for (const a of [c1, cluster.agents[0] as Agent]) {
      // Members are eventually the five: a client learns them from its heartbeats, a server from the catalog.
      let last = "";
      const members = await waitFor(`the five members on ${a.name}`, 10_000, async () => {
        const m = json<{ Name: string; Status: number; Tags: { role: string } }[]>(
          await ok(a, "GET", "/v1/agent/members"),
        );
        const roles = Object.fromEntries(m.map((x) => [x.Name, x.Tags.role]).sort());
        last = JSON.stringify(m);
        return JSON.stringify(roles) === want ? m : undefined;
      }).catch((e: unknown) => assert.fail(`${String(e)}: last ${last}`));
      assert.ok(members.every((m) => m.Status === 1));
    }
  });

  it("forwards KV with the server's headers, and a blocking query waits on the server", async () => {
    const put = await ok(c1, "PUT", "/v1/kv/client/a", "one");
    assert.equal(put.text, "true");
    const got = await ok(c2, "GET", "/v1/kv/client/a");
    const [entry] = json<{ Value: string; ModifyIndex: number }[]>(got);
    assert.equal(Buffer.from(entry?.Value ?? "", "base64").toString(), "one");
    assert.equal(got.headers.get("x-consul-knownleader"), "true");
    assert.match(got.headers.get("x-consul-lastcontact") ?? "", /^\d+$/);
    const index = Number(got.headers.get("x-consul-index"));
    assert.ok(index >= (entry?.ModifyIndex ?? 0) && index > 0);
    // A blocking read through c1 returns once a write through c2 moves the key.
    const blocked = req(c1, "GET", `/v1/kv/client/a?index=${index}&wait=20s`);
    await ok(c2, "PUT", "/v1/kv/client/a", "two");
    const woke = await blocked;
    assert.equal(woke.status, 200);
    assert.ok(Number(woke.headers.get("x-consul-index")) > index);
    assert.equal(Buffer.from(json<{ Value: string }[]>(woke)[0]?.Value ?? "", "base64").toString(), "two");
    // A server's refusal comes back as the server gave it.
    const bad = await req(c1, "GET", "/v1/kv/client/a?index=x");
    assert.equal(bad.status, 400);
    assert.equal(bad.text, "Invalid index");
    assert.equal((await req(c1, "GET", "/v1/kv/client/missing")).status, 404);
  });

  it("carries 2,000 blocking queries at once through one client, each answered when its key is written", async () => {
    // Past the transport's 256 calls per connection and the server's 512 forwarded exchanges: the waiting
    // queries park on the server (agent/forward-serve.ts) instead of holding a call each.
    const n = 2000;
    const server = cluster.agents[0] as Agent;
    const key = (i: number): string => `load/${String(i).padStart(4, "0")}`;
    const writeAll = async (value: string): Promise<void> => {
      for (let at = 0; at < n; at += 64) {
        const ops = Array.from({ length: Math.min(64, n - at) }, (_, j) => ({
          KV: { Verb: "set", Key: key(at + j), Value: Buffer.from(value).toString("base64") },
        }));
        await ok(server, "PUT", "/v1/txn", JSON.stringify(ops));
      }
    };
    await writeAll("before");
    const listed = json<{ Key: string; ModifyIndex: number }[]>(
      await ok(server, "GET", "/v1/kv/load/?recurse"),
    );
    assert.equal(listed.length, n);
    const failures: string[] = [];
    // Each query blocks on its key's index, as a watch does; a wake without the new value blocks again.
    const watch = async (k: string, index: number): Promise<string> => {
      for (let round = 0; round < 50; round++) {
        const r = await fetch(`${c1.http}/v1/kv/${k}?index=${index}&wait=3m`, {
          signal: AbortSignal.timeout(240_000),
        });
        const text = await r.text();
        if (r.status !== 200) {
          failures.push(`${k}: ${r.status} ${text}`);
          return "";
        }
        const value = Buffer.from(
          json<{ Value: string }[]>({ text } as Reply)[0]?.Value ?? "",
          "base64",
        ).toString();
        if (value === "after") return value;
        index = Number(r.headers.get("x-consul-index"));
      }
      return "";
    };
    const watches = listed.map((e) => watch(e.Key, e.ModifyIndex));
    // Every query is parked on a server (none holds a call) before the writes; none has returned meanwhile.
    const parked = async (): Promise<number> => {
      let sum = 0;
      for (const a of cluster.agents.filter((x) => x.client !== true)) {
        const text = (await req(a, "GET", "/metrics")).text;
        sum += Number(/^cairn_forward_parked (\d+)$/m.exec(text)?.[1] ?? 0);
      }
      return sum;
    };
    await waitFor(`${n} blocking queries parked`, 60_000, async () =>
      (await parked()) >= n ? true : undefined,
    );
    assert.deepEqual(failures, []);
    await writeAll("after");
    const values = await Promise.all(watches);
    assert.deepEqual(failures, []);
    assert.equal(values.filter((v) => v === "after").length, n);
    // Answered, none is left parked.
    await waitFor("no query parked", 30_000, async () => ((await parked()) === 0 ? true : undefined));
  });

  it("registers its services through anti-entropy; the catalog and health read through a client", async () => {
    await ok(
      c1,
      "PUT",
      "/v1/agent/service/register",
      JSON.stringify({ Name: "web", Port: 8080, Tags: ["v1"] }),
    );
    const nodes = await waitFor("web in the catalog", 20_000, async () => {
      const r = json<{ Node: string; ServicePort: number }[]>(await ok(c2, "GET", "/v1/catalog/service/web"));
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(
      nodes.map((n) => [n.Node, n.ServicePort]),
      [["c1", 8080]],
    );
    const services = json<Record<string, string[]>>(await ok(c2, "GET", "/v1/catalog/services"));
    assert.deepEqual(services.web, ["v1"]);
    const health = json<{ Checks: { CheckID: string; Status: string }[] }[]>(
      await ok(c2, "GET", "/v1/health/service/web?passing"),
    );
    assert.equal(health.length, 1);
    assert.ok(health[0]?.Checks.some((c) => c.CheckID === "serfHealth" && c.Status === "passing"));
    // c2's DNS interface answers from the catalog, its reads forwarded to a server.
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${c2Dns}`]);
    assert.deepEqual(await resolver.resolve4("web.service.consul"), ["127.0.0.1"]);
    const srv = await resolver.resolveSrv("web.service.consul");
    assert.deepEqual(
      srv.map((r) => [r.name, r.port]),
      [["c1.node.dc1.consul", 8080]],
    );
    // The agent endpoints are the client's own: c2 has no web service.
    assert.deepEqual(json<Record<string, unknown>>(await ok(c2, "GET", "/v1/agent/services")), {});
  });

  it("sessions made through a client are on its node by default", async () => {
    const id = json<{ ID: string }>(
      await ok(c2, "PUT", "/v1/session/create", JSON.stringify({ Name: "x" })),
    ).ID;
    const [info] = json<{ Node: string }[]>(await ok(c1, "GET", `/v1/session/info/${id}`));
    assert.equal(info?.Node, "c2");
    const named = json<{ ID: string }>(
      await ok(c2, "PUT", "/v1/session/create", JSON.stringify({ Node: "c1" })),
    ).ID;
    assert.equal(json<{ Node: string }[]>(await ok(c1, "GET", `/v1/session/info/${named}`))[0]?.Node, "c1");
    await ok(c1, "PUT", `/v1/session/destroy/${id}`);
    await ok(c1, "PUT", `/v1/session/destroy/${named}`);
  });

  it("saves and restores a snapshot through a client", async () => {
    await ok(c1, "PUT", "/v1/kv/snap/kept", "before");
    const saved = await ok(c1, "GET", "/v1/snapshot");
    assert.ok(Number(saved.headers.get("x-consul-index")) > 0);
    // A whole gzip stream, a tar inside (ustar magic at 257).
    assert.equal(gunzipSync(saved.bytes).subarray(257, 262).toString(), "ustar");
    await ok(c2, "PUT", "/v1/kv/snap/later", "after");
    await ok(c2, "PUT", "/v1/snapshot", saved.bytes);
    assert.equal((await req(c1, "GET", "/v1/kv/snap/later")).status, 404);
    assert.equal((await req(c1, "GET", "/v1/kv/snap/kept")).status, 200);
    // A corrupt archive is refused with the server's text, and changes nothing.
    const bad = await req(c1, "PUT", "/v1/snapshot", saved.bytes.subarray(0, 100));
    assert.equal(bad.status, 500);
    assert.equal((await req(c1, "GET", "/v1/kv/snap/kept")).status, 200);
  });

  it("goes on through another server when the one it forwards to is killed", async () => {
    // A client forwards to the first server it found, the first of its -retry-join list: s0.
    cluster.kill9(cluster.agents[0] as Agent);
    await cluster.leader();
    const r = await ok(c1, "GET", "/v1/kv/client/a");
    assert.equal(Buffer.from(json<{ Value: string }[]>(r)[0]?.Value ?? "", "base64").toString(), "two");
    assert.equal((await ok(c1, "PUT", "/v1/kv/client/b", "b")).text, "true");
    assert.equal((await ok(c2, "PUT", "/v1/kv/client/c", "c")).text, "true");
    assert.equal((await ok(c2, "GET", "/v1/kv/client/b?consistent")).status, 200);
  });

  it("keeps its node id and services across a restart", async () => {
    const before = json<{ Config: { NodeID: string } }>(await ok(c1, "GET", "/v1/agent/self")).Config.NodeID;
    await cluster.stopAgent(c1);
    cluster.launch(c1, 0);
    const self = await waitFor("c1 back", 20_000, async () =>
      req(c1, "GET", "/v1/agent/self")
        .then((r) => (r.status === 200 ? json<{ Config: { NodeID: string } }>(r) : undefined))
        .catch(() => undefined),
    );
    assert.equal(self.Config.NodeID, before);
    assert.deepEqual(Object.keys(json<Record<string, unknown>>(await ok(c1, "GET", "/v1/agent/services"))), [
      "web",
    ]);
    await waitFor("web still in the catalog", 20_000, async () => {
      const r = json<{ Node: string }[]>(await ok(c2, "GET", "/v1/catalog/service/web"));
      return r.length === 1 ? true : undefined;
    });
  });

  it("killed, its node turns critical and its session's lock is released", async () => {
    const server = cluster.agents[1] as Agent;
    const id = json<{ ID: string }>(
      await ok(c2, "PUT", "/v1/session/create", JSON.stringify({ LockDelay: "0s" })),
    ).ID;
    assert.equal((await ok(c2, "PUT", `/v1/kv/lock/c2?acquire=${id}`, "held")).text, "true");
    cluster.kill9(c2);
    await waitFor("c2's serfHealth critical", 30_000, async () =>
      (await serfHealth(server, "c2")) === "critical" ? true : undefined,
    );
    const [entry] = json<{ Session?: string }[]>(await ok(server, "GET", "/v1/kv/lock/c2?consistent"));
    assert.equal(entry?.Session, undefined);
    assert.equal((await req(server, "GET", `/v1/session/info/${id}`)).text.trim(), "[]");
    const members = json<{ Name: string; Status: number }[]>(await ok(server, "GET", "/v1/agent/members"));
    assert.equal(members.find((m) => m.Name === "c2")?.Status, 4);
  });

  it("force-leave of the failed client deregisters its node; an unknown name is Consul's error", async () => {
    const server = cluster.agents[2] as Agent;
    // c2 was killed above: failed, still listed. Forced to leave through c1 (which forwards the route).
    assert.equal(
      json<{ Name: string; Status: number }[]>(await ok(server, "GET", "/v1/agent/members")).find(
        (m) => m.Name === "c2",
      )?.Status,
      4,
    );
    const forced = await runCairn(["force-leave", `-http-addr=${c1.http}`, "-prune", "c2"]);
    assert.equal(forced.code, 0, forced.out);
    assert.equal(forced.out, "");
    assert.equal((await ok(server, "GET", "/v1/catalog/node/c2?consistent")).text.trim(), "null");
    await waitFor("c2 gone from the members", 10_000, async () =>
      json<{ Name: string }[]>(await ok(server, "GET", "/v1/agent/members")).some((m) => m.Name === "c2")
        ? undefined
        : true,
    );
    const unknown = await req(server, "PUT", "/v1/agent/force-leave/nobody");
    assert.equal(unknown.status, 500);
    assert.equal(unknown.text, "agent: No node found with name 'nobody'");
  });

  it("leaves: its node is deregistered and the agent exits", async () => {
    await ok(c1, "PUT", "/v1/agent/leave");
    const server = cluster.agents[1] as Agent;
    await waitFor("c1's node gone", 20_000, async () =>
      (await req(server, "GET", "/v1/catalog/node/c1")).text.trim() === "null" ? true : undefined,
    );
    await waitFor("c1 exits", 15_000, async () => (c1.proc === null ? true : undefined));
    const members = json<{ Name: string }[]>(await ok(server, "GET", "/v1/agent/members"));
    assert.ok(!members.some((m) => m.Name === "c1"));
  });
});
