import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";

describe("info", () => {
  it("prints the agent's Stats as Consul: sorted sections, then sorted `key = value` lines", async (t) => {
    const { api, env } = await cliAgent(t);
    api.self = {
      ...api.self,
      stats: {
        raft: { term: "3", state: "Leader", applied_index: "12" },
        consul: { server: "true", leader: "true" },
        build: { version: "1.21.0", Prerelease: "" },
      },
    };
    const r = await run(["info"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      "build:\n\tPrerelease = \n\tversion = 1.21.0\n" +
        "consul:\n\tleader = true\n\tserver = true\n" +
        "raft:\n\tapplied_index = 12\n\tstate = Leader\n\tterm = 3\n",
    );
  });

  it("fails with Consul's texts when the agent does not answer as one", async (t) => {
    const { agent, env } = await cliAgent(t);
    agent.override = (req) =>
      req.path === "/v1/agent/self"
        ? { status: 200, body: '{"Stats":{"raft":{"term":3,"ok":true}}}' }
        : undefined;
    assert.equal(
      (await run(["info"], env)).stdout,
      "raft:\n\tok = %!s(bool=true)\n\tterm = %!s(float64=3)\n",
    );
    agent.override = (req) =>
      req.path === "/v1/agent/self" ? { status: 200, body: '{"Config":{}}' } : undefined;
    assert.deepEqual(await run(["info"], env).then((r) => [r.code, r.stderr]), [
      1,
      "Agent response did not contain 'Stats' key\n",
    ]);
    agent.override = () => ({ status: 403, body: "Permission denied" });
    const denied = await run(["info"], env);
    assert.equal(denied.code, 1);
    assert.match(
      denied.stderr,
      /^Error querying agent: Unexpected response code: 403 \(Permission denied\)\n$/,
    );
  });
});
