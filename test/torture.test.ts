import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FAULT_KINDS } from "../src/torture/faults.js";
import { runTorture } from "../src/torture/run.js";

/**
 * `npm test`'s torture: 3 real cairn servers for 2 minutes under every finished fault while clients write and
 * read; the report (and, on a failure, the seed, schedule and logs' directory) is printed either way.
 * TORTURE_SEED replays a seed, TORTURE_MINUTES runs longer.
 */
const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 1_000_000);
const minutes = Number(process.env.TORTURE_MINUTES ?? 2);

describe("torture: real processes under faults", () => {
  it(`3 servers, ${minutes} min, faults ${FAULT_KINDS.join(",")}, seed ${seed}: linearizable, no acknowledged write lost`, {
    timeout: (minutes + 4) * 60_000,
  }, async () => {
    const r = await runTorture({
      servers: 3,
      minutes,
      faults: [...FAULT_KINDS],
      seed,
      workers: 6,
      progress: () => {},
    });
    process.stdout.write(`${r.text}\n`);
    assert.ok(r.passed, r.text);
    assert.ok(r.operations > 0, "the clients ran");
    assert.ok(Object.keys(r.injected).length > 0, "faults were injected");
  });

  // The check must bite where a lease is what keeps reads right: a leader whose clock runs at an eighth of true
  // speed while cut off keeps its lease past the others' election, and its default reads go stale.
  it(`deliberate bug clock-drift, seed ${seed}: the linearizability check catches a lease trusted too long`, {
    timeout: 6 * 60_000,
  }, async () => {
    const r = await runTorture({
      servers: 3,
      minutes: 1.5,
      faults: [],
      seed,
      workers: 6,
      bug: "clock-drift",
      progress: () => {},
    });
    process.stdout.write(`${r.text}\n`);
    assert.equal(r.passed, false, r.text);
    assert.equal(r.verdicts?.linearizability.outcome, "illegal", r.text);
    assert.ok((r.injected.drift ?? 0) > 0, "the leader's clock drifted");
  });
});
