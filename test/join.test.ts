import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type Agent, Cluster, getJson, runCairn, sleep } from "./cluster.js";

/** Polls `probe` until it returns true (bounded: 100 tries, 20 s). */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    if (await probe().catch(() => false)) return;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const serverNames = async (a: Agent): Promise<string[]> => {
  const cfg = (await getJson(a, "/v1/operator/raft/configuration")) as { Servers: { Node: string }[] };
  return cfg.Servers.map((s) => s.Node).sort();
};

describe("cairn join: real servers without gossip", () => {
  const clusters: Cluster[] = [];
  after(async () => {
    await Promise.all(clusters.map((c) => c.stop()));
  });

  it("a server in a cluster adds a fresh server; a second cluster is refused with the reason", async () => {
    const main = await Cluster.start(1, 1);
    clusters.push(main);
    const leader = await main.leader();
    const lone = new Cluster();
    clusters.push(lone);
    const fresh = await lone.addServer("fresh");
    await until("the fresh server to start", async () => (await getJson(fresh, "/v1/status/peers")) !== null);

    const r = await runCairn(["join", `-http-addr=${leader.http}`, `127.0.0.1:${fresh.rpcPort}`]);
    assert.deepEqual([r.code, r.out], [0, "Successfully joined cluster by contacting 1 nodes.\n"]);
    await until("the fresh server in the raft configuration", async () => {
      const names = await serverNames(leader);
      return names.length === 2 && names.includes("fresh");
    });
    await until(
      "the fresh server to know the leader",
      async () => (await getJson(fresh, "/v1/status/leader")) !== "",
    );

    const other = await Cluster.start(1, 1);
    clusters.push(other);
    const stranger = await other.leader();
    const bad = await runCairn(["join", `-http-addr=${leader.http}`, `127.0.0.1:${stranger.rpcPort}`]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.out,
      /^Error joining address '127\.0\.0\.1:\d+': Unexpected response code: 500 \(Failed to join 127\.0\.0\.1:\d+: it is a server of another cluster \(Raft cannot merge two clusters\)\)\nFailed to join any nodes\.\n$/,
    );
    const nobody = await runCairn(["join", `-http-addr=${leader.http}`, "127.0.0.1:1"]);
    assert.equal(nobody.code, 1);
    assert.match(
      nobody.out,
      /^Error joining address '127\.0\.0\.1:1': Unexpected response code: 500 \(Failed to join 127\.0\.0\.1:1: /,
    );
    assert.deepEqual(await serverNames(leader), ["fresh", "s0"]);
  });
});
