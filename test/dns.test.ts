import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { Resolver } from "node:dns/promises";
import { createServer } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Agent, Cluster, freePort, runCairn, waitFor } from "./cluster.js";

/** Debian's dig, when the machine has it (this test never installs it). */
function digPath(): string | null {
  try {
    return execFileSync("which", ["dig"], { encoding: "utf8" }).trim() || null;
  } catch {
    return null;
  }
}

function resolverFor(a: Agent): Resolver {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${a.dnsPort}`]);
  return r;
}

async function register(leader: Agent, node: string, address: string, port: number, status: string) {
  const r = await fetch(`${leader.http}/v1/catalog/register`, {
    method: "PUT",
    body: JSON.stringify({
      Node: node,
      Address: address,
      Service: { Service: "web", Port: port, Tags: [status] },
      Check: { CheckID: "web-health", Name: "web", Status: status, ServiceID: "web" },
    }),
    signal: AbortSignal.timeout(20_000),
  });
  assert.equal(r.status, 200, await r.text());
}

describe("DNS on a 3-server datacenter", { timeout: 120_000 }, () => {
  let c: Cluster;
  let leader: Agent;

  before(async () => {
    c = await Cluster.start(3, 3, [], { dns: true });
    leader = await c.leader();
    await register(leader, "w1", "127.0.1.1", 81, "passing");
    await register(leader, "w2", "127.0.1.2", 82, "warning");
    await register(leader, "w3", "127.0.1.3", 83, "critical");
  });
  after(() => c?.stop());

  it("every server answers service, SRV and node lookups from the replicated catalog", async () => {
    for (const a of c.agents) {
      const r = resolverFor(a);
      // Stale reads (Consul's allow_stale): a follower answers once the registrations reached it; w3, the last
      // one registered, being there means all three are.
      await waitFor(`${a.name}: w3's registration`, 15_000, async () =>
        (await r.resolve4("w3.node.consul").catch(() => [])).length > 0 ? true : undefined,
      );
      const addrs = (await r.resolve4("web.service.consul")).sort();
      assert.deepEqual(addrs, ["127.0.1.1", "127.0.1.2"], a.name);
      const srv = (await r.resolveSrv("web.service.dc1.consul")).sort((x, y) => x.port - y.port);
      assert.deepEqual(
        srv.map((s) => [s.port, s.name]),
        [
          [81, "w1.node.dc1.consul"],
          [82, "w2.node.dc1.consul"],
        ],
      );
      assert.deepEqual(await r.resolve4("passing.web.service.consul"), ["127.0.1.1"]);
      assert.deepEqual(await r.resolve4("w3.node.consul"), ["127.0.1.3"]);
      await assert.rejects(r.resolve4("critical.web.service.consul"), { code: "ENOTFOUND" });
      await assert.rejects(r.resolve4("nope.service.consul"), { code: "ENOTFOUND" });
    }
    // The servers themselves, registered by the leader as the consul service on their RPC ports.
    const servers = await waitFor("3 consul instances over SRV", 15_000, async () => {
      const s = await resolverFor(c.agents[0]!)
        .resolveSrv("consul.service.consul")
        .catch(() => []);
      return s.length === 3 ? s : undefined;
    });
    assert.deepEqual(servers.map((s) => s.port).sort(), c.agents.map((a) => a.rpcPort).sort());
    // The servers are the domain's name servers.
    assert.deepEqual((await resolverFor(c.agents[1]!).resolveNs("consul")).sort(), [
      "s0.node.dc1.consul",
      "s1.node.dc1.consul",
      "s2.node.dc1.consul",
    ]);
  });

  const dig = digPath();
  it("dig @127.0.0.1 -p PORT web.service.consul SRV", {
    skip: dig === null ? "dig is not installed (Debian's dnsutils; this test does not install it)" : false,
  }, async () => {
    await waitFor("web's 2 instances on the leader", 15_000, async () =>
      (
        await resolverFor(leader)
          .resolve4("web.service.consul")
          .catch(() => [])
      ).length === 2
        ? true
        : undefined,
    );
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        dig ?? "dig",
        ["@127.0.0.1", "-p", String(leader.dnsPort), "web.service.consul", "SRV", "+short"],
        { timeout: 10_000 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    assert.deepEqual(out.trim().split("\n").sort(), [
      "1 1 81 w1.node.dc1.consul.",
      "1 1 82 w2.node.dc1.consul.",
    ]);
  });
});

describe("the agent's DNS port", { timeout: 60_000 }, () => {
  it("a DNS port in use stops the agent with a clear error (exit 1)", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const ports = ["-http-port", String(await freePort()), "-server-port", String(await freePort())];
      const r = await runCairn(["agent", "-dev", ...ports, "-dns-port", String(port)]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`==> cannot listen for DNS on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });
});
