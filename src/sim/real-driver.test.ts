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

  it("catches a lease that outlives a pause (a monotonic clock that stops with the process)", async () => {
    // Leaders paused (and often cut off) while a new leader takes writes; one key, many clients, three servers.
    const overrides = { pauseRate: 0.02, pauseMaxUs: 1_500_000, keys: 1, clients: 6, voters: 3 };
    let caught: string | null = null;
    for (let seed = 1; seed <= 24 && caught === null; seed++) {
      const proposerBugs = { clockStopsWhenPaused: true };
      const r = await runSeedReal({ seed, steps: 2000, proposerBugs, overrides });
      if (!r.ok) caught = r.invariant;
    }
    assert.equal(caught, "linearizability");
  });

  it("keeps linearizability under the same pauses with the shipped clock (ticks follow the monotonic clock)", async () => {
    const overrides = { pauseRate: 0.02, pauseMaxUs: 1_500_000, keys: 1, clients: 6, voters: 3 };
    const failures: string[] = [];
    let pauses = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runSeedReal({ seed, steps: 2000, overrides });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      pauses += r.coverage.pauses;
    }
    assert.deepEqual(failures, []);
    assert.ok(pauses > 100, `only ${pauses} pauses`);
  });

  it("catches a core that grants votes without the log up-to-date check", async () => {
    let caught: string | null = null;
    for (let seed = 1; seed <= 30 && caught === null; seed++) {
      const r = await runSeedReal({ seed, steps: 2000, bugs: { voteWithoutLogCheck: true } });
      if (!r.ok) caught = r.invariant;
    }
    assert.match(caught ?? "", /state machine safety|linearizability|election safety/);
  });
});
