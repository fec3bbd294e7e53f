import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runSeedReal } from "./real-run.js";

/** The simulator on the shipped driver (src/server's RaftServer): npm test runs a few seeds of it. */
describe("simulator on the shipped driver (--driver real)", () => {
  it("keeps election safety, state machine safety, linearizability and liveness on seeds 1..6", async () => {
    const failures: string[] = [];
    let ops = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const r = await runSeedReal({ seed, steps: 600 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      ops += r.ops;
    }
    assert.deepEqual(failures, []);
    assert.ok(ops > 300, `only ${ops} client operations completed`);
  });

  it("replays a seed to a byte-identical trace", async () => {
    const a = await runSeedReal({ seed: 42, steps: 300, trace: true });
    const b = await runSeedReal({ seed: 42, steps: 300, trace: true });
    assert.ok(a.trace.length > 1000, "the trace says what happened");
    assert.equal(a.trace, b.trace);
  });

  it("catches a core that serves reads without the ReadIndex quorum round", async () => {
    // As the old driver's case: long partitions that cut the leader off, clients stuck to a deposed leader.
    const overrides = { partitionRate: 0.02, healRate: 0.005, keys: 1, clients: 4 };
    let caught: string | null = null;
    for (let seed = 1; seed <= 30 && caught === null; seed++) {
      const r = await runSeedReal({ seed, steps: 1000, bugs: { readWithoutQuorum: true }, overrides });
      if (!r.ok) caught = r.invariant;
    }
    assert.equal(caught, "linearizability");
  });
});
