import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { noCoverage } from "./coverage.js";
import { runSeed } from "./run.js";

/** The operator on: changes and transfers often, two spares to add, a cluster of three to grow and shrink. */
const ADMIN = { confChangeRate: 0.03, transferRate: 0.01, spares: 2, voters: 3 };
const SEEDS = 8;
const STEPS = 1000;

describe("the admin on the shipped driver (admin.ts)", () => {
  it(`changes membership and moves leadership on seeds 1..${SEEDS} with every check passing`, async () => {
    const failures: string[] = [];
    const reached = noCoverage();
    let sparesPromoted = 0;
    let leadersRemoved = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await runSeed({ seed, steps: STEPS, trace: true, overrides: ADMIN });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      reached.membershipChanges += r.coverage.membershipChanges;
      reached.leadershipTransfers += r.coverage.leadershipTransfers;
      reached.electedOverConfChange += r.coverage.electedOverConfChange;
      // A spare (n4, n5) joined as a learner and the leader promoted it (RaftServer's own promotion).
      if (/admin: addVoter n[45] committed/.test(r.trace)) sparesPromoted++;
      // remove-peer sent to the leader naming itself: it commits the change, then steps down.
      if (/admin: remove n(\d+) at n\1 /.test(r.trace)) leadersRemoved++;
    }
    assert.deepEqual(failures, []);
    assert.ok(reached.membershipChanges > 80, `only ${reached.membershipChanges} membership changes`);
    assert.ok(reached.leadershipTransfers > 15, `only ${reached.leadershipTransfers} transfers completed`);
    assert.ok(reached.electedOverConfChange > 0, "no leader elected over an uncommitted membership change");
    assert.ok(sparesPromoted >= SEEDS / 2, `a spare was promoted on only ${sparesPromoted} seeds`);
    assert.ok(leadersRemoved > 0, "no leader removed itself");
  });

  it("keeps a restarted server's configuration (five voters: seeds that caught one going back)", async () => {
    // Before raft-server.ts saved the commit index ahead of applying a membership change, a restarted server
    // came back with the configuration of its saved commit, older than the one it had applied, and could win an
    // election on a quorum of it that missed the current one's. Seed 9: n2 came back having applied 23 of the 27
    // committed conf entries and led term 37 without index 449, committed in term 36 (leader completeness);
    // seed 32 likewise. (Before the raft knobs were drawn per seed, seeds 37 and 41 caught it: a re-added server
    // back with the bootstrap configuration, and a leader that had removed itself back as a voter.)
    // Snapshots off: a snapshot saves the configuration too, and narrows the window to the changes since.
    const overrides = { ...ADMIN, voters: 5, snapshotEvery: Number.MAX_SAFE_INTEGER };
    const failures: string[] = [];
    for (const seed of [9, 32]) {
      const r = await runSeed({ seed, steps: 2000, overrides });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
    }
    assert.deepEqual(failures, []);
  });

  it("restores snapshots through the leader, recorded as writes of every key, with every check passing", async () => {
    // Restores often, lock keys too (a restore ends every session and lock-delay: the lock checker must hear of
    // it). Seeds 1..8 of this mix applied 55 restores, 10 of them leaders elected over an uncommitted restore.
    const overrides = { restoreRate: 0.01, lockKeys: 2 };
    const failures: string[] = [];
    const reached = noCoverage();
    for (let seed = 1; seed <= 8; seed++) {
      const r = await runSeed({ seed, steps: 2000, overrides });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      reached.restoresApplied += r.coverage.restoresApplied;
      reached.electedOverRestore += r.coverage.electedOverRestore;
    }
    assert.deepEqual(failures, []);
    assert.ok(reached.restoresApplied > 30, `only ${reached.restoresApplied} restores applied`);
    assert.ok(reached.electedOverRestore > 0, "no leader elected over an uncommitted restore");
  });

  it("lets the lock checker hear of each restore (it ends every lock-delay)", async () => {
    // Seed 38 of this mix grants a lock after a restore within a lock-delay set before it (71 restores applied
    // by then): with the observed store's report of restores taken out, the checker failed it at "lock-delay".
    const r = await runSeed({ seed: 38, steps: 2000, overrides: { restoreRate: 0.05, lockKeys: 1 } });
    assert.equal(r.ok, true, `${r.invariant}: ${r.message}`);
    assert.ok(r.coverage.restoresApplied > 50, `only ${r.coverage.restoresApplied} restores applied`);
  });

  it("replays a seed with membership changes, transfers and restores to a byte-identical trace", async () => {
    const overrides = { ...ADMIN, restoreRate: 0.01 };
    const a = await runSeed({ seed: 5, steps: 600, trace: true, overrides });
    const b = await runSeed({ seed: 5, steps: 600, trace: true, overrides });
    assert.match(a.trace, /admin: addLearner n\d+ committed/);
    assert.match(a.trace, /admin: restore restore-sim-\d+ applied/);
    assert.match(a.trace, /admin: leadership moved/);
    assert.equal(a.trace, b.trace);
  });
});
