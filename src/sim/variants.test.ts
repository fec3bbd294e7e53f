import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Bugs } from "../raft/config.js";
import type { ProposerBugs, SimOptions } from "./options.js";
import { PAUSED_LEADERS } from "./profiles.js";
import { type RunResult, runSeed } from "./run.js";

/**
 * Proof that the checks can fail on the shipped driver: each deliberately broken variant must be caught within
 * the seeds tried. The fault profile that exposes each one is given as overrides (documented per case); the
 * first seed that catches it is in docs/simulator.md.
 */
/**
 * Sessions and locks, the admin (membership changes, transfers, user restores) off: each profile below was chosen
 * to expose one bug, and these move its schedules (the drawn swarm runs them all, on every seed of npm run sim).
 */
const CALM = { lockKeys: 0, confChangeRate: 0, transferRate: 0, restoreRate: 0 } as const;

async function firstCatch(
  seedsMax: number,
  steps: number,
  overrides: Partial<SimOptions>,
  bugs: Bugs = {},
  proposerBugs: ProposerBugs = {},
): Promise<RunResult | null> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = await runSeed({ seed, steps, bugs, proposerBugs, overrides: { ...CALM, ...overrides } });
    if (!r.ok) return r;
  }
  return null;
}

describe("broken variants are caught on the shipped driver", () => {
  it("granting votes without the log up-to-date check (§5.4.1)", async () => {
    const r = await firstCatch(10, 800, {}, { voteWithoutLogCheck: true });
    assert.ok(r !== null, "no seed caught it");
    assert.match(r.invariant ?? "", /leader completeness|state machine safety|linearizability|log matching/);
  });

  it("committing an entry of a previous term by counting replicas (Figure 8, §5.4.2)", async () => {
    // Figure 8's window (an older term's entry on a quorum, the new term's not yet) opens when entries travel one
    // per append, one append in flight, and leaders crash with their tail on a minority again and again.
    const overrides = { leaderCrashRate: 0.5, appendBytesMax: 1, inflightMsgsMax: 1 };
    const r = await firstCatch(20, 1000, overrides, { commitPreviousTerm: true });
    assert.ok(r !== null, "no seed caught it");
    assert.match(r.invariant ?? "", /leader completeness|state machine safety|linearizability/);
  });

  it("serving a read without the ReadIndex quorum round", async () => {
    // A deposed leader keeps answering only while it believes it leads: without check-quorum, and with the
    // leader cut off by long partitions, clients stuck to it read stale values.
    const overrides = { checkQuorum: false, partitionRate: 0.02, healRate: 0.005, keys: 1, clients: 4 };
    const r = await firstCatch(10, 1000, overrides, { readWithoutQuorum: true });
    assert.ok(r !== null, "no seed caught it");
    assert.equal(r.invariant, "linearizability");
  });

  it("truncating a follower's log on an append without a conflict (raft-notes 1.8)", async () => {
    // A stale duplicate append erases entries the follower acknowledged: duplicates and reordering (several
    // appends in flight, a wide delay spread) make them, and crashes with lagging followers (drops) elect a
    // leader without the erased entries.
    const overrides = {
      voters: 3,
      clients: 5,
      duplicateRate: 0.1,
      dropRate: 0.05,
      crashRate: 0.01,
      delayMaxUs: 30_000,
      appendBytesMax: 200,
      inflightMsgsMax: 4,
    };
    const r = await firstCatch(15, 1000, overrides, { truncateWithoutConflict: true });
    assert.ok(r !== null, "no seed caught it");
    assert.match(r.invariant ?? "", /leader completeness|state machine safety|linearizability|log matching/);
  });

  it("a lease that outlives a pause (a monotonic clock that stops with the process)", async () => {
    // Paused leaders cut off while a new leader takes writes (profiles.ts).
    const r = await firstCatch(10, 1000, PAUSED_LEADERS, {}, { clockStopsWhenPaused: true });
    assert.ok(r !== null, "no seed caught it");
    assert.equal(r.invariant, "linearizability");
  });
});
