import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deriveHistory,
  encodeHistory,
  HISTORY_ENTRIES_MAX,
  HISTORY_VERSION,
  type HistoryEntry,
  parseHistory,
} from "./history.js";
import type { StoredObject } from "./store.js";

const MS = 1_700_000_000_000;
const idAt = (ms: number): string => String(BigInt(ms) * 1_000_000n);
const nameAt = (ms: number): string => `consul-${idAt(ms)}.snap`;

function obj(ms: number, size: number, index: number | null): StoredObject {
  return {
    name: nameAt(ms),
    size,
    modified: new Date(ms),
    ...(index === null ? {} : { meta: { index, term: 2, size, sha256: "a".repeat(64), version: "t" } }),
  };
}

function seen(ms: number, extra: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    id: idAt(ms),
    name: nameAt(ms),
    timeMs: ms,
    index: 10,
    size: 100,
    durationMs: 1234,
    verified: true,
    encrypted: false,
    destinations: ["local:/b"],
    ...extra,
  };
}

describe("backup history", () => {
  it("lists what the stores hold, oldest first, with index, size, verified and every store holding it", () => {
    const h = deriveHistory(
      [
        { label: "local:/b", objects: [obj(MS + 2000, 300, 30), obj(MS, 100, 10)] },
        {
          label: "s3://x/p",
          objects: [obj(MS, 100, null), { name: "notes.txt", size: 1, modified: new Date() }],
        },
      ],
      [],
      [],
    );
    assert.deepEqual(
      h.map((e) => [e.timeMs - MS, e.index, e.size, e.verified, e.durationMs, e.destinations]),
      [
        [0, 10, 100, true, null, ["local:/b", "s3://x/p"]],
        [2000, 30, 300, true, null, ["local:/b"]],
      ],
    );
  });

  it("keeps the agent's durations, failures and drills; deleted backups stay with no destination", () => {
    const failure = seen(MS + 1000, {
      name: "",
      size: 0,
      index: 0,
      verified: false,
      destinations: [],
      error: "no leader",
    });
    const drill = { ok: false, atMs: MS + 5000, seconds: 3, keys: 0, error: "boom" };
    const previous = [seen(MS - 1000), seen(MS, { durationMs: 999 })];
    const h = deriveHistory(
      [{ label: "local:/b", objects: [obj(MS, 100, 10), obj(MS + 2000, 300, 30)] }],
      previous,
      [failure, seen(MS + 2000, { index: 30, size: 300, durationMs: 50, drill })],
    );
    assert.deepEqual(
      h.map((e) => [e.timeMs - MS, e.durationMs, e.destinations, e.error ?? "", e.drill?.error ?? null]),
      [
        [-1000, 1234, [], "", null],
        [0, 999, ["local:/b"], "", null],
        [1000, 1234, [], "no leader", null],
        [2000, 50, ["local:/b"], "", "boom"],
      ],
    );
  });

  it("heals a key a restore rolled back: backups it does not know come back from the store", () => {
    const rolledBack = [seen(MS)];
    const h = deriveHistory(
      [{ label: "local:/b", objects: [obj(MS, 100, 10), obj(MS + 1000, 110, 11), obj(MS + 2000, 120, 12)] }],
      rolledBack,
      [],
    );
    assert.deepEqual(
      h.map((e) => e.index),
      [10, 11, 12],
    );
  });

  it("a store that could not be listed keeps its backups' destinations", () => {
    const h = deriveHistory([], [seen(MS, { destinations: ["s3://x/p"] })], [], ["s3://x/p"]);
    assert.deepEqual(h[0]?.destinations, ["s3://x/p"]);
  });

  it("keeps the newest HISTORY_ENTRIES_MAX, and round-trips through the key's value", () => {
    const objects = Array.from({ length: HISTORY_ENTRIES_MAX + 20 }, (_, i) =>
      obj(MS + i * 1000, 100 + i, i + 1),
    );
    const entries = deriveHistory([{ label: "local:/b", objects }], [], []);
    assert.equal(entries.length, HISTORY_ENTRIES_MAX);
    assert.equal(entries[0]?.index, 21);
    const status = { agent: "a", intervalMs: 1000, nextRunMs: MS, lastError: "" };
    const value = encodeHistory({ version: HISTORY_VERSION, updatedMs: MS, status, entries });
    assert.ok(value.length < 512 * 1024, `${value.length} bytes`);
    assert.deepEqual(parseHistory(value), entries);
  });

  it("reads an absent, foreign or garbled value as no history", () => {
    assert.deepEqual(parseHistory(null), []);
    assert.deepEqual(parseHistory(new TextEncoder().encode("{not json")), []);
    assert.deepEqual(parseHistory(new TextEncoder().encode('{"version":99,"entries":[]}')), []);
    assert.deepEqual(parseHistory(new TextEncoder().encode('{"version":1,"entries":[{"id":3}]}')), []);
  });
});
