import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RECORDS_PER_ENTRY, snapshotSpacing } from "./snapshotting.js";

describe("snapshotSpacing", () => {
  it("is the configured threshold while the state is small", () => {
    assert.equal(snapshotSpacing(16384, 0), 16384);
    assert.equal(snapshotSpacing(16384, 100_000), 16384);
    assert.equal(snapshotSpacing(50, 200), 50);
  });

  it("grows with the state past threshold x RECORDS_PER_ENTRY, so each entry pays for a bounded share", () => {
    assert.equal(snapshotSpacing(16384, 1_000_000), 125_000);
    assert.equal(snapshotSpacing(16384, 1_000_001), 125_001);
    for (const records of [200_000, 1_000_000, 10_000_000]) {
      assert.ok(records / snapshotSpacing(16384, records) <= RECORDS_PER_ENTRY);
    }
  });
});
