import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fuzzReader, liveCheck, loadSeeds, putKeys, RejectedSample } from "../bench/fuzz.js";
import { Cluster } from "./cluster.js";

describe("snapshot fuzz against a live datacenter", { timeout: 60_000 }, () => {
  it("refuses 10 fuzzed bad archives on PUT /v1/snapshot with 500 and leaves KV and X-Consul-Index as they were", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-fuzz-test-"));
    const c = await Cluster.start(3);
    try {
      const sample = new RejectedSample(10);
      const stats = await fuzzReader(await loadSeeds(dir), {
        runs: 150,
        seed: 6_005,
        tmpDir: dir,
        onRejected: (m, code) => sample.add(m, code),
      });
      assert.ok(stats.rejectedByCode.size >= 5, JSON.stringify([...stats.rejectedByCode]));
      const leader = await c.leader();
      await putKeys(leader.http, 20);
      const mutants = sample.take();
      assert.equal(mutants.length, 10);
      const result = await liveCheck(
        c.agents.map((a) => a.http),
        mutants,
      );
      assert.deepEqual(result.statuses, Array(10).fill(500));
      assert.notEqual(result.index, "");
    } finally {
      await c.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
