import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type LockStats, noLockStats } from "./locks.js";
import type { ProposerBugs, SimOptions } from "./options.js";
import { type RunResult, runSeed } from "./run.js";

/** Sessions and locks on the shipped driver: server-locks.ts. */
describe("sessions and locks on the shipped driver", () => {
  it("keeps lock exclusivity, lock-delay and every other check on seeds 1..16", async () => {
    const failures: string[] = [];
    const locks = noLockStats();
    for (let seed = 1; seed <= 16; seed++) {
      const r = await runSeed({ seed, steps: 1000 });
      if (!r.ok) failures.push(`seed ${seed}: ${r.invariant}: ${r.message}`);
      for (const k of Object.keys(locks) as (keyof LockStats)[]) locks[k] += r.locks[k];
    }
    assert.deepEqual(failures, []);
    // The lock checks must have had something to check: locks taken, holders invalidated (by their clients
    // and by the service's TTL timers), acquires refused for lock-delay.
    assert.ok(locks.granted > 300, `only ${locks.granted} locks granted`);
    assert.ok(locks.invalidatedHolding > 40, `only ${locks.invalidatedHolding} holders invalidated`);
    assert.ok(locks.delayed > 25, `only ${locks.delayed} acquires refused for lock-delay`);
  });

  it("replays a seed with locks on to a byte-identical trace", async () => {
    const run = () => runSeed({ seed: 3, steps: 600, trace: true });
    const a = await run();
    const b = await run();
    assert.ok(a.locks.granted > 0, "locks were granted");
    assert.match(a.trace, /expired \(TTL/, "the service's TTL timers invalidated a session");
    assert.equal(a.trace, b.trace);
  });
});

/** The first seed on which the broken variant fails a check, or null. */
async function firstCatch(
  proposerBugs: ProposerBugs,
  seedsMax: number,
  steps: number,
  overrides: Partial<SimOptions>,
): Promise<RunResult | null> {
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = await runSeed({ seed, steps, proposerBugs, overrides });
    if (!r.ok) return r;
  }
  return null;
}

describe("broken lock variants are caught on the shipped driver", () => {
  it("a leader that proposes acquires without judging lock-delay", async () => {
    const r = await firstCatch({ skipLockDelay: true }, 5, 1000, { lockKeys: 1 });
    assert.ok(r !== null, "no seed caught it");
    assert.equal(r.invariant, "lock-delay");
  });

  it("a leader that answers the renew of a gone session by creating it again", async () => {
    const r = await firstCatch({ resurrectSessions: true }, 5, 1000, { lockKeys: 1 });
    assert.ok(r !== null, "no seed caught it");
    assert.equal(r.invariant, "lock grant");
  });

  it("a server that installs snapshots without their lock-delay state (in memory only, as before)", async () => {
    // Caught mostly by the replicas' state fingerprints (world-checks.ts): a replica that lost
    // a delay grants an acquire the others refuse.
    const r = await firstCatch({ dropLockDelays: true }, 10, 1000, { lockKeys: 1, snapshotEvery: 5 });
    assert.ok(r !== null, "no seed caught it");
    assert.match(r.invariant ?? "", /replica state|lock-delay/);
  });
});
