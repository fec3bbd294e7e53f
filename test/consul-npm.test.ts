import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Consul from "consul";
import { type Agent, Cluster, put, sleep } from "./cluster.js";

/**
 * Existing Consul tooling against cairn, unmodified: the npm `consul` client (2.x) talks to a follower of a
 * 3-server datacenter, so every write is forwarded to the leader as a real deployment would see it.
 */

/**
 * consul@2 resolves a JSON `false` body as undefined (papi's pipeline keeps only truthy results), so a refused
 * write is "not true" through this client; the body itself is checked to be `false` by the curl suite.
 */
async function refused(p: Promise<unknown>): Promise<void> {
  assert.equal(await p, undefined);
}

describe("the npm consul client against a 3-server datacenter", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let follower: Agent;
  let consul: Consul;

  before(async () => {
    cluster = await Cluster.start(3);
    const leader = await cluster.leader();
    follower = cluster.agents.find((a) => a !== leader) as Agent;
    const url = new URL(follower.http);
    consul = new Consul({ host: url.hostname, port: Number(url.port) });
  });

  after(async () => {
    consul.destroy();
    await cluster.stop();
  });

  it("kv: set, get, keys with a separator, cas, flags, recurse and delete", async () => {
    assert.equal(await consul.kv.set("npm/a", "one"), true);
    assert.equal(await consul.kv.set({ key: "npm/dir/b", value: "two", flags: 42 }), true);
    const a = await consul.kv.get("npm/a");
    assert.ok(a !== null);
    assert.equal(a.Value, "one");
    assert.equal(a.Key, "npm/a");
    assert.equal(await consul.kv.get("npm/missing"), undefined);
    assert.deepEqual(await consul.kv.keys({ key: "npm/", separator: "/" }), ["npm/a", "npm/dir/"]);
    const b = await consul.kv.get("npm/dir/b");
    assert.equal(b?.Flags, 42);
    // cas: a stale index is refused, the current one applies.
    await refused(consul.kv.set({ key: "npm/a", value: "x", cas: a.ModifyIndex - 1 }));
    assert.equal(await consul.kv.set({ key: "npm/a", value: "three", cas: a.ModifyIndex }), true);
    assert.equal((await consul.kv.get("npm/a"))?.Value, "three");
    const all = await consul.kv.get({ key: "npm/", recurse: true });
    assert.ok(Array.isArray(all));
    assert.deepEqual(
      all.map((e) => [e.Key, e.Value]),
      [
        ["npm/a", "three"],
        ["npm/dir/b", "two"],
      ],
    );
    const raw = (await consul.kv.get({ key: "npm/dir/b", raw: true })) as unknown;
    assert.ok(Buffer.isBuffer(raw));
    assert.equal(raw.toString(), "two");
    const cur = await consul.kv.get("npm/a");
    await refused(consul.kv.del({ key: "npm/a", cas: (cur?.ModifyIndex ?? 0) + 100 }));
    assert.equal(await consul.kv.del({ key: "npm/a", cas: cur?.ModifyIndex ?? 0 }), true);
    assert.equal(await consul.kv.del({ key: "npm/", recurse: true }), true);
    assert.equal(await consul.kv.get({ key: "npm/", recurse: true }), undefined);
  });

  it("sessions and locks: create, info, renew, list, node, acquire, release, destroy", async () => {
    const { ID } = await consul.session.create({
      name: "npm",
      ttl: "30s",
      lockdelay: "1s",
      behavior: "release",
    });
    const info = await consul.session.info(ID);
    assert.ok(info !== undefined && info !== null);
    assert.equal(info.Name, "npm");
    assert.equal(info.TTL, "30s");
    assert.equal(info.LockDelay, 1_000_000_000);
    const renewed = (await consul.session.renew(ID)) as unknown as { ID: string }[];
    assert.equal(renewed[0]?.ID, ID);
    assert.ok((await consul.session.list()).some((s) => s.ID === ID));
    assert.ok((await consul.session.node(info.Node)).some((s) => s.ID === ID));
    const other = (await consul.session.create({ ttl: "30s" })).ID;

    assert.equal(await consul.kv.set({ key: "npm-lock", value: "me", acquire: ID }), true);
    await refused(consul.kv.set({ key: "npm-lock", value: "you", acquire: other }));
    const held = (await consul.kv.get("npm-lock")) as { Session?: string; LockIndex: number } | null;
    assert.equal(held?.Session, ID);
    assert.equal(held?.LockIndex, 1);
    await refused(consul.kv.set({ key: "npm-lock", value: "done", release: other }));
    assert.equal(await consul.kv.set({ key: "npm-lock", value: "done", release: ID }), true);
    assert.equal(((await consul.kv.get("npm-lock")) as { Session?: string } | null)?.Session, undefined);
    // A voluntary release sets no lock-delay: the other session takes the key at once.
    assert.equal(await consul.kv.set({ key: "npm-lock", value: "you", acquire: other }), true);

    await consul.session.destroy(ID);
    await consul.session.destroy(other);
    assert.equal(await consul.session.info(ID), undefined);
    assert.equal(((await consul.kv.get("npm-lock")) as { Session?: string } | null)?.Session, undefined);
    await assert.rejects(consul.session.renew(ID), /not found/);
  });

  it("txn: applies every op or none (a 409 rejects the call)", async () => {
    const v = (s: string) => Buffer.from(s).toString("base64");
    const ok = await consul.transaction.create([
      { KV: { Verb: "set", Key: "txn-npm/a", Value: v("1") } },
      { KV: { Verb: "set", Key: "txn-npm/b", Value: v("2") } },
      { KV: { Verb: "get", Key: "txn-npm/a" } },
    ] as never);
    assert.equal(ok.Results?.length, 3);
    const got = ok.Results?.[2] as unknown as { KV: { Value: string } } | undefined;
    assert.equal(got?.KV.Value, v("1"));
    await assert.rejects(
      consul.transaction.create([
        { KV: { Verb: "set", Key: "txn-npm/c", Value: v("3") } },
        { KV: { Verb: "check-not-exists", Key: "txn-npm/a" } },
      ] as never),
      (e: Error & { statusCode?: number }) => e.statusCode === 409,
    );
    assert.equal(await consul.kv.get("txn-npm/c"), undefined);
  });

  it("status: leader and peers", async () => {
    const leader = await consul.status.leader();
    const peers = await consul.status.peers();
    assert.equal(peers.length, 3);
    assert.ok(peers.includes(leader as unknown as string), `${String(leader)} not in ${peers.join(",")}`);
  });

  it("catalog and health: the servers' consul service, register, filter by tag and health, deregister", async () => {
    const consulSvc = (await consul.health.service({ service: "consul", passing: true })) as {
      Node: { Node: string };
      Checks: { CheckID: string; Status: string }[];
    }[];
    assert.equal(consulSvc.length, 3);
    for (const e of consulSvc)
      assert.ok(e.Checks.some((c) => c.CheckID === "serfHealth" && c.Status === "passing"));
    await consul.catalog.register({
      node: "ext1",
      address: "10.1.0.1",
      service: { id: "db1", service: "db", port: 5432, tags: ["primary"] },
      checks: [{ checkid: "db1-tcp", name: "db tcp", serviceid: "db1", status: "critical" }],
    });
    await consul.catalog.register({
      node: "ext2",
      address: "10.1.0.2",
      service: { id: "db2", service: "db", port: 5432, tags: ["replica"] },
      checks: [{ checkid: "db2-tcp", name: "db tcp", serviceid: "db2", status: "passing" }],
    });
    assert.deepEqual(((await consul.catalog.services()) as Record<string, string[]>).db, [
      "primary",
      "replica",
    ]);
    const primaries = (await consul.catalog.service.nodes({ service: "db", tag: "primary" })) as {
      Node: string;
    }[];
    assert.deepEqual(
      primaries.map((n) => n.Node),
      ["ext1"],
    );
    const passing = (await consul.health.service({ service: "db", passing: true })) as {
      Node: { Node: string };
    }[];
    assert.deepEqual(
      passing.map((e) => e.Node.Node),
      ["ext2"],
    );
    const critical = (await consul.health.state("critical")) as { CheckID: string }[];
    assert.ok(critical.some((c) => c.CheckID === "db1-tcp"));
    assert.deepEqual(await consul.catalog.datacenters(), ["dc1"]);
    await consul.catalog.deregister({ node: "ext1" });
    await consul.catalog.deregister({ node: "ext2" });
    assert.equal(((await consul.catalog.services()) as Record<string, string[]>).db, undefined);
  });

  it("agent services: register with a TTL check, pass it, see it passing in health.service, deregister", async () => {
    await consul.agent.service.register({
      name: "api",
      id: "api1",
      port: 9000,
      tags: ["v2"],
      check: { ttl: "30s", notes: "npm" },
    } as never);
    const local = (await consul.agent.services()) as Record<string, { Service: string; Port: number }>;
    assert.equal(local.api1?.Port, 9000);
    const passing = async (): Promise<number> =>
      ((await consul.health.service({ service: "api", passing: true })) as unknown[]).length;
    // Registered critical (Consul's default for a new check) until the first pass.
    await consul.agent.check.pass({ id: "service:api1", note: "fine" } as never);
    const deadline = Date.now() + 15_000;
    while ((await passing()) !== 1 && Date.now() < deadline) await sleep(100);
    assert.equal(await passing(), 1, "anti-entropy never brought the passing check to the catalog");
    const entry = (
      (await consul.health.service("api")) as { Checks: { CheckID: string; Output: string }[] }[]
    )[0];
    assert.equal(entry?.Checks.find((c) => c.CheckID === "service:api1")?.Output, "fine");
    await consul.agent.service.deregister("api1");
    const gone = Date.now() + 15_000;
    while (((await consul.catalog.service.nodes("api")) as unknown[]).length > 0 && Date.now() < gone)
      await sleep(100);
    assert.deepEqual(await consul.catalog.service.nodes("api"), []);
  });

  it("a watch on a key fires on each change, with the new value", async () => {
    await consul.kv.set("watched", "v0");
    const watch = consul.watch({ method: consul.kv.get, options: { key: "watched", wait: "5s" } });
    const seen: string[] = [];
    const errors: Error[] = [];
    watch.on("change", (data: { Value?: string } | undefined) => seen.push(data?.Value ?? "<none>"));
    watch.on("error", (e: Error) => errors.push(e));
    try {
      const until = async (n: number): Promise<void> => {
        const deadline = Date.now() + 10_000;
        while (seen.length < n && Date.now() < deadline) await sleep(50);
        assert.ok(seen.length >= n, `only ${seen.length} changes seen: ${seen.join(",")}`);
      };
      await until(1);
      await put(follower, "watched", "v1");
      await until(2);
      await put(follower, "watched", "v2");
      await until(3);
      assert.deepEqual(seen.slice(0, 3), ["v0", "v1", "v2"]);
      assert.deepEqual(errors, []);
    } finally {
      watch.end();
    }
  });
});
