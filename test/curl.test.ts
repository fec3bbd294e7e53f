import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Agent, Cluster } from "./cluster.js";

/** Runs test/curl-suite.sh (curl + jq against every KV, session and txn endpoint) against a follower. */
const SUITE = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "test", "curl-suite.sh");

describe("the curl suite against a 3-server datacenter", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let follower: Agent;

  before(async () => {
    cluster = await Cluster.start(3);
    const leader = await cluster.leader();
    follower = cluster.agents.find((a) => a !== leader) as Agent;
  });

  after(async () => {
    await cluster.stop();
  });

  it("every check passes", () => {
    for (const tool of ["curl", "jq"]) {
      assert.equal(
        spawnSync("sh", ["-c", `command -v ${tool}`]).status,
        0,
        `${tool} is needed by the curl suite`,
      );
    }
    const r = spawnSync("bash", [SUITE, follower.http], { encoding: "utf8", timeout: 100_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /curl suite: \d+ checks, 0 failed/);
  });
});
