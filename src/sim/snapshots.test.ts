import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runSeed } from "./run.js";

/** Snapshots, compaction and InstallSnapshot on the shipped driver, over the simulator's blob store. */
describe("snapshots in the simulator (sim-blobs.ts)", () => {
  it("lagging and restarted followers install snapshots from the leader, with every check holding", async () => {
    const failures: string[] = [];
    let installed = 0;
    let seedsInstalling = 0;
    for (let seed = 1; seed <= 8; seed++) {
      // Restores off, as these seeds were counted (with the drawn restores, 9 snapshots installed).
      const r = await runSeed({ seed, steps: 600, overrides: { restoreRate: 0 } });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      installed += r.coverage.snapshotsInstalled;
      if (r.coverage.snapshotsInstalled > 0) seedsInstalling++;
    }
    assert.deepEqual(failures, []);
    assert.ok(seedsInstalling >= 3, `snapshots installed on only ${seedsInstalling} of 8 seeds`);
    assert.ok(installed >= 10, `only ${installed} snapshots installed`);
  });

  it("replays a seed with snapshots installed to a byte-identical trace", async () => {
    // Seed 1: a follower installs snapshots (archives written and read through zlib, run as blob work).
    const a = await runSeed({ seed: 1, steps: 600, trace: true });
    const b = await runSeed({ seed: 1, steps: 600, trace: true });
    assert.match(a.trace, /installed snapshot at index \d+ from the leader/);
    assert.equal(a.coverage.snapshotsInstalled, b.coverage.snapshotsInstalled);
    assert.equal(a.trace, b.trace);
  });
});
