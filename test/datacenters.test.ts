/**
 * Two datacenters of three servers each, joined over their WAN ports (issue 15 slice 2, docs/membership.md), and a
 * client agent in dc1: `catalog datacenters` lists both, nearest (this one) first; `-datacenter dc2` (`?dc=dc2`)
 * through the dc1 client reaches dc2 for KV, the catalog and snapshots both ways, without touching dc1; an unknown
 * datacenter is Consul's `No path to datacenter`; with every dc2 server killed, dc2 is Consul's `Remote DC has no
 * server currently reachable` and dc1 goes on.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, freePort, runCairn, waitFor } from "./cluster.js";

interface Reply {
  readonly status: number;
  readonly text: string;
}

async function req(a: Agent, method: string, path: string, body?: string): Promise<Reply> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(20_000) };
  if (body !== undefined) init.body = body;
  const r = await fetch(a.http + path, init);
  return { status: r.status, text: await r.text() };
}

const wanAddrs = (ports: readonly number[]): string[] => ports.map((p) => `127.0.0.1:${p}`);

describe("datacenters joined over the WAN", { timeout: 240_000 }, () => {
  let dc1: Cluster;
  let dc2: Cluster;
  let client: Agent;

  before(async () => {
    const wan1 = await Promise.all([1, 2, 3].map(() => freePort()));
    const wan2 = await Promise.all([1, 2, 3].map(() => freePort()));
    // Each dc1 server is told of one dc2 server and the other way round: the rest is learnt from exchanges.
    dc1 = await Cluster.start(3, 3, ["-datacenter", "dc1"], {
      wanPorts: wan1,
      wanJoin: wanAddrs(wan2.slice(0, 1)),
    });
    dc2 = await Cluster.start(3, 3, ["-datacenter", "dc2"], {
      wanPorts: wan2,
      wanJoin: wanAddrs(wan1.slice(1, 2)),
    });
    await Promise.all([dc1.leader(), dc2.leader()]);
    client = await dc1.addClient("c1");
    // Every server of both datacenters knows the other, and the client reaches its servers.
    for (const a of [...dc1.servers, ...dc2.servers, client]) {
      await waitFor(`${a.name} knows both datacenters`, 30_000, async () => {
        const r = await req(a, "GET", "/v1/catalog/datacenters").catch(() => null);
        return r?.status === 200 && JSON.parse(r.text).length === 2 ? true : undefined;
      }).catch((e: unknown) => assert.fail(`${String(e)}\n${a.output}`));
    }
  });

  after(async () => {
    await Promise.all([dc1?.stop(), dc2?.stop()]);
  });

  it("lists the datacenters, this one first, over HTTP and with `catalog datacenters`", async () => {
    assert.deepEqual(JSON.parse((await req(client, "GET", "/v1/catalog/datacenters")).text), ["dc1", "dc2"]);
    assert.deepEqual(
      JSON.parse((await req(dc2.servers[2] as Agent, "GET", "/v1/catalog/datacenters")).text),
      ["dc2", "dc1"],
    );
    const r = await runCairn(["catalog", "datacenters", "-http-addr", client.http]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, "dc1\ndc2\n");
  });

  it("members -wan lists the servers of both datacenters as <node>.<dc>", async () => {
    const server = dc1.servers[0] as Agent;
    const want = ["s0.dc1", "s0.dc2", "s1.dc1", "s1.dc2", "s2.dc1", "s2.dc2"];
    // A server learns the others' servers from its exchanges, one round or two after it knows their datacenter.
    const members = await waitFor("six WAN members", 20_000, async () => {
      const m = JSON.parse((await req(server, "GET", "/v1/agent/members?wan=1")).text) as {
        Name: string;
        Addr: string;
        Port: number;
        Status: number;
        Tags: { role: string; dc: string };
      }[];
      return m
        .map((x) => x.Name)
        .sort()
        .join() === want.join()
        ? m
        : undefined;
    });
    for (const m of members) {
      assert.equal(m.Tags.role, "consul");
      assert.equal(m.Tags.dc, m.Name.split(".")[1]);
      assert.equal(m.Status, 1);
    }
    // dc2's servers are listed at their WAN addresses.
    const dc2Ports = new Set(
      dc2.servers
        .map((a) => a.args ?? [])
        .flatMap((a) => a.slice(1, 2))
        .map(Number),
    );
    for (const m of members.filter((x) => x.Tags.dc === "dc2"))
      assert.ok(dc2Ports.has(m.Port), `${m.Name} ${m.Port}`);
    const r = await runCairn(["members", "-wan", "-http-addr", server.http]);
    assert.equal(r.code, 0, r.out);
    const names = r.out
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(
      names,
      want.slice().sort((a, b) => (a < b ? -1 : 1)),
    );
    assert.match(r.out, /s0\.dc2\s+127\.0\.0\.1:\d+\s+alive\s+server\s+\S+\s+2\s+dc2/);
  });

  it("kv put and get -datacenter dc2 through the dc1 client reach dc2 alone", async () => {
    const put = await runCairn([
      "kv",
      "put",
      "-http-addr",
      client.http,
      "-datacenter",
      "dc2",
      "where",
      "dc2",
    ]);
    assert.equal(put.code, 0, put.out);
    assert.match(put.out, /Success! Data written to: where/);
    const get = await runCairn(["kv", "get", "-http-addr", client.http, "-datacenter", "dc2", "where"]);
    assert.equal(get.code, 0, get.out);
    assert.equal(get.out, "dc2\n");
    assert.equal((await req(dc2.servers[1] as Agent, "GET", "/v1/kv/where")).status, 200);
    assert.equal((await req(client, "GET", "/v1/kv/where")).status, 404);
    assert.equal((await req(dc1.servers[0] as Agent, "GET", "/v1/kv/where")).status, 404);
  });

  it("reads dc2's catalog through the dc1 client", async () => {
    const nodes = JSON.parse((await req(client, "GET", "/v1/catalog/nodes?dc=dc2")).text) as {
      Node: string;
    }[];
    assert.deepEqual(nodes.map((n) => n.Node).sort(), ["s0", "s1", "s2"]);
    const dc2Nodes = JSON.parse((await req(client, "GET", "/v1/catalog/nodes")).text) as { Node: string }[];
    assert.ok(
      dc2Nodes.some((n) => n.Node === "c1"),
      "dc1's catalog has its client",
    );
    assert.ok(!nodes.some((n) => n.Node === "c1"), "dc2's catalog does not");
    const r = await runCairn(["catalog", "services", "-http-addr", client.http, "-datacenter", "dc2"]);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, "consul\n");
  });

  it("snapshot save and restore -datacenter dc2 through the dc1 client", async () => {
    const file = join(dc1.dir, "dc2.snap");
    assert.equal((await req(client, "PUT", "/v1/kv/saved?dc=dc2", "yes")).text, "true");
    assert.equal((await req(client, "PUT", "/v1/kv/dc1-only", "yes")).text, "true");
    const save = await runCairn(["snapshot", "save", "-http-addr", client.http, "-datacenter", "dc2", file]);
    assert.equal(save.code, 0, save.out);
    assert.match(save.out, /Saved and verified snapshot to index \d+/);
    // Changed after the save: the restore must bring the saved state back, in dc2 only.
    assert.equal((await req(client, "DELETE", "/v1/kv/saved?dc=dc2")).text, "true");
    assert.equal((await req(client, "PUT", "/v1/kv/after?dc=dc2", "x")).text, "true");
    const restore = await runCairn([
      "snapshot",
      "restore",
      "-http-addr",
      client.http,
      "-datacenter",
      "dc2",
      file,
    ]);
    assert.equal(restore.code, 0, restore.out);
    assert.match(restore.out, /Restored snapshot/);
    const dc2Server = dc2.servers[0] as Agent;
    assert.equal((await req(dc2Server, "GET", "/v1/kv/saved?consistent")).status, 200);
    assert.equal((await req(dc2Server, "GET", "/v1/kv/after?consistent")).status, 404);
    assert.equal((await req(dc2Server, "GET", "/v1/kv/dc1-only?consistent")).status, 404);
    assert.equal((await req(client, "GET", "/v1/kv/dc1-only?consistent")).status, 200);
  });

  it("an unknown datacenter is Consul's 500 No path to datacenter", async () => {
    for (const a of [client, dc1.servers[1] as Agent]) {
      const r = await req(a, "GET", "/v1/kv/where?dc=dc9");
      assert.equal(r.status, 500);
      assert.equal(r.text, "No path to datacenter");
    }
    const cli = await runCairn(["kv", "get", "-http-addr", client.http, "-datacenter", "dc9", "where"]);
    assert.equal(cli.code, 1);
    assert.match(cli.out, /No path to datacenter/);
  });

  it("with every dc2 server killed, dc2 answers Consul's error and dc1 goes on", async () => {
    for (const a of dc2.servers) dc2.kill9(a);
    const r = await waitFor("dc2 unreachable", 20_000, async () => {
      const x = await req(client, "GET", "/v1/kv/where?dc=dc2");
      return x.status === 500 && x.text === "Remote DC has no server currently reachable" ? x : undefined;
    });
    assert.equal(r.status, 500);
    assert.equal((await req(client, "PUT", "/v1/kv/still", "up")).text, "true");
    assert.equal((await req(client, "GET", "/v1/kv/still")).status, 200);
    assert.deepEqual(JSON.parse((await req(client, "GET", "/v1/catalog/datacenters")).text), ["dc1", "dc2"]);
  });
});
