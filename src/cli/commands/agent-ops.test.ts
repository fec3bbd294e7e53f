import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";

describe("force-leave", () => {
  it("removes the named server from the raft configuration, silently as Consul", async (t) => {
    const { agent, api, env } = await cliAgent(t);
    api.raftServers = [
      ...api.raftServers,
      {
        id: "s2-id",
        node: "s2",
        address: "127.0.0.1:8301",
        leader: false,
        voter: true,
        protocolVersion: "3",
        lastIndex: 0,
      },
    ];
    const r = await run(["force-leave", "-prune", "s2"], env);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, "", ""]);
    assert.deepEqual(api.removedPeers, [{ id: "s2-id" }]);
    const sent = agent.requests.at(-1);
    assert.equal(sent?.method, "PUT");
    assert.equal(sent?.rawUrl, "/v1/agent/force-leave/s2?prune=1");
    const wan = await run(["force-leave", "-wan", "s2.dc1"], env);
    assert.equal(wan.code, 0, wan.stderr);
    assert.deepEqual(api.removedPeers, [{ id: "s2-id" }, { id: "s2-id" }]);
  });

  it("fails with Consul's texts", async (t) => {
    const { api, env } = await cliAgent(t);
    const none = await run(["force-leave"], env);
    assert.equal(none.code, 1);
    assert.ok(
      none.stderr.startsWith(
        "A single node name must be specified to force leave.\n\nUsage: cairn force-leave",
      ),
    );
    assert.equal((await run(["force-leave", "a", "b"], env)).code, 1);
    const unknown = await run(["force-leave", "ghost"], env);
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      "Error force leaving: Unexpected response code: 500 (agent: No node found with name 'ghost')\n",
    );
    assert.deepEqual(api.removedPeers, []);
  });
});

describe("reload", () => {
  it("prints Consul's text, or the agent's refusal", async (t) => {
    const { agent, env } = await cliAgent(t);
    const none = await run(["reload"], env);
    assert.equal(none.code, 1);
    assert.equal(
      none.stderr,
      "Error reloading: Unexpected response code: 500 (This agent has no local state for services and checks)\n",
    );
    agent.override = (req) =>
      req.path === "/v1/agent/reload" && req.method === "PUT" ? { status: 200 } : undefined;
    const ok = await run(["reload"], env);
    assert.deepEqual([ok.code, ok.stdout], [0, "Configuration reload triggered\n"]);
  });
});

describe("join", () => {
  it("asks the agent to join each address, as Consul counts and reports them", async (t) => {
    const { api, env } = await cliAgent(t);
    const r = await run(["join", "127.0.0.1:8300", "[::1]:8300"], env);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [0, "Successfully joined cluster by contacting 2 nodes.\n", ""],
    );
    assert.deepEqual(api.joined, ["127.0.0.1:8300", "[::1]:8300"]);
    api.joinFailure = new Error("Failed to join 10.0.0.9:8300: connect ECONNREFUSED");
    const bad = await run(["join", "10.0.0.9"], env);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      "Error joining address '10.0.0.9': Unexpected response code: 500 (Failed to join 10.0.0.9:8300: connect ECONNREFUSED)\n" +
        "Failed to join any nodes.\n",
    );
    const none = await run(["join"], env);
    assert.equal(none.code, 1);
    assert.ok(none.stderr.startsWith("At least one address to join must be specified.\n\nUsage: cairn join"));
  });
});
