/**
 * The LogStore contract suite, run against every implementation (hono's common.case.test.ts idea): the disk WAL
 * and MemoryWal must be indistinguishable through the interface. Not exported from index.ts, since it imports
 * node:test.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry, EntryKind } from "../raft/types.js";
import { AssertionError } from "../util/assert.js";
import { CompactedError } from "../util/errors.js";
import { EntryTooLargeError } from "./errors.js";
import type { LogStore } from "./log-store.js";

/** A store under test. `reopen` (disk only) closes the store and opens it again from its files. */
export interface LogStoreHarness {
  readonly store: LogStore;
  readonly reopen?: () => Promise<LogStore>;
  /** Releases the store and removes its files. */
  readonly cleanup: () => Promise<void>;
}

/** Options every factory must honour so the suite can exercise limits and segment boundaries. */
export interface LogStoreFactoryOptions {
  /** Tiny in the suite so a handful of entries spans several segments (ignored by memory stores). */
  readonly segmentBytesMax: number;
  readonly entryBytesMax: number;
}

export type LogStoreFactory = (opts: LogStoreFactoryOptions) => Promise<LogStoreHarness>;

const FACTORY_OPTIONS: LogStoreFactoryOptions = { segmentBytesMax: 200, entryBytesMax: 1024 };

/** Entries [lo, hi) of `term`, each with data naming its index and term so mismatches show in diffs. */
export function makeEntries(lo: number, hi: number, term: number, kind: EntryKind = "normal"): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i < hi; i++) {
    out.push({ index: i, term, kind, data: new TextEncoder().encode(`e${i}t${term}`) });
  }
  return out;
}

function summary(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.index}/${e.term}/${e.kind}/${new TextDecoder().decode(e.data)}`);
}

async function withStore(make: LogStoreFactory, body: (h: LogStoreHarness) => Promise<void>): Promise<void> {
  const h = await make(FACTORY_OPTIONS);
  try {
    await body(h);
  } finally {
    await h.cleanup();
  }
}

export function runLogStoreContract(name: string, make: LogStoreFactory): void {
  describe(`LogStore contract: ${name}`, () => {
    readAndAppendCases(make);
    overwriteAndCompactionCases(make);
    refusalCases(make);
  });
}

function readAndAppendCases(make: LogStoreFactory): void {
  it("starts empty with boundary (0, 0)", () =>
    withStore(make, async ({ store }) => {
      assert.equal(store.firstIndex(), 1);
      assert.equal(store.lastIndex(), 0);
      assert.deepEqual(store.boundary(), { index: 0, term: 0 });
      assert.equal(store.term(0), 0);
      assert.deepEqual(await store.entries(1, 1), []);
    }));

  it("appends and reads half-open ranges", () =>
    withStore(make, async ({ store }) => {
      await store.append(makeEntries(1, 4, 1));
      await store.append([...makeEntries(4, 6, 2), ...makeEntries(6, 7, 2, "conf")]);
      await store.sync();
      assert.equal(store.lastIndex(), 6);
      assert.deepEqual(summary(await store.entries(2, 5)), [
        "2/1/normal/e2t1",
        "3/1/normal/e3t1",
        "4/2/normal/e4t2",
      ]);
      assert.deepEqual(summary(await store.entries(6, 7)), ["6/2/conf/e6t2"]);
      assert.deepEqual(await store.entries(3, 3), []);
      assert.equal((await store.entries(1, 7)).length, 6);
      assert.equal(store.term(3), 1);
      assert.equal(store.term(4), 2);
    }));

  it("keeps empty data (the leader's no-op) and every kind", () =>
    withStore(make, async ({ store }) => {
      const kinds: EntryKind[] = ["normal", "conf", "restore"];
      await store.append(kinds.map((kind, k) => ({ index: k + 1, term: 1, kind, data: new Uint8Array() })));
      const got = await store.entries(1, 4);
      assert.deepEqual(
        got.map((e) => [e.kind, e.data.length]),
        kinds.map((k) => [k, 0]),
      );
    }));

  it("limits a read by bytesMax but returns at least one entry", () =>
    withStore(make, async ({ store }) => {
      await store.append(makeEntries(1, 11, 1)); // data "eNt1": 4 bytes each below 10
      assert.equal((await store.entries(1, 11, 8)).length, 2);
      assert.equal((await store.entries(1, 11, 9)).length, 2);
      assert.equal((await store.entries(1, 11, 1)).length, 1);
      assert.equal((await store.entries(1, 11, 0)).length, 1);
    }));

  it("overwrites a conflicting suffix", () =>
    withStore(make, async ({ store }) => {
      await store.append(makeEntries(1, 6, 1));
      await store.append(makeEntries(4, 5, 3));
      assert.equal(store.lastIndex(), 4);
      assert.deepEqual(summary(await store.entries(1, 5)).slice(2), ["3/1/normal/e3t1", "4/3/normal/e4t3"]);
      await store.append(makeEntries(5, 7, 3));
      assert.deepEqual(summary(await store.entries(4, 7)), [
        "4/3/normal/e4t3",
        "5/3/normal/e5t3",
        "6/3/normal/e6t3",
      ]);
    }));
}

function overwriteAndCompactionCases(make: LogStoreFactory): void {
  it("overwrites a suffix spanning several segments", () =>
    withStore(make, async (h) => {
      // 200-byte segments and ~30-byte records: 40 entries span about six segments.
      await h.store.append(makeEntries(1, 41, 1));
      await h.store.sync();
      await h.store.append(makeEntries(3, 8, 2));
      await h.store.sync();
      const store = h.reopen ? await h.reopen() : h.store;
      assert.equal(store.lastIndex(), 7);
      assert.deepEqual(summary(await store.entries(1, 8)), [
        ...summary(makeEntries(1, 3, 1)),
        ...summary(makeEntries(3, 8, 2)),
      ]);
      await store.append(makeEntries(8, 30, 2));
      assert.equal(store.term(29), 2);
    }));

  it("compacts, keeps the boundary term, and refuses compacted reads", () =>
    withStore(make, async (h) => {
      await h.store.append([...makeEntries(1, 20, 1), ...makeEntries(20, 41, 2)]);
      await h.store.compact(25);
      const check = async (store: LogStore): Promise<void> => {
        assert.equal(store.firstIndex(), 26);
        assert.deepEqual(store.boundary(), { index: 25, term: 2 });
        assert.equal(store.term(25), 2);
        assert.throws(() => store.term(24), CompactedError);
        await assert.rejects(store.entries(25, 30), CompactedError);
        assert.deepEqual(summary(await store.entries(26, 27)), ["26/2/normal/e26t2"]);
        await store.compact(10); // at or below the boundary: no-op
        assert.equal(store.firstIndex(), 26);
      };
      await check(h.store);
      if (h.reopen) await check(await h.reopen());
    }));

  it("compacts everything, then appends after the boundary", () =>
    withStore(make, async (h) => {
      await h.store.append(makeEntries(1, 11, 1));
      await h.store.compact(10);
      const store = h.reopen ? await h.reopen() : h.store;
      assert.equal(store.firstIndex(), 11);
      assert.equal(store.lastIndex(), 10);
      assert.equal(store.term(10), 1);
      await assert.rejects(store.append(makeEntries(10, 11, 1)), AssertionError);
      await store.append(makeEntries(11, 13, 2));
      assert.deepEqual(summary(await store.entries(11, 13)), ["11/2/normal/e11t2", "12/2/normal/e12t2"]);
    }));

  it("resets to a snapshot past the log", () =>
    withStore(make, async (h) => {
      await h.store.append(makeEntries(1, 30, 1));
      await h.store.resetToSnapshot(100, 4);
      const store = h.reopen ? await h.reopen() : h.store;
      assert.deepEqual(store.boundary(), { index: 100, term: 4 });
      assert.equal(store.firstIndex(), 101);
      assert.equal(store.lastIndex(), 100);
      assert.throws(() => store.term(99), CompactedError);
      await store.append(makeEntries(101, 103, 5));
      assert.equal(store.term(102), 5);
    }));

  it("reads back everything after a reopen", () =>
    withStore(make, async (h) => {
      if (!h.reopen) return;
      await h.store.append(makeEntries(1, 50, 1));
      await h.store.append(makeEntries(30, 60, 2));
      await h.store.sync();
      const store = await h.reopen();
      assert.equal(store.lastIndex(), 59);
      assert.deepEqual(summary(await store.entries(1, 60)), [
        ...summary(makeEntries(1, 30, 1)),
        ...summary(makeEntries(30, 60, 2)),
      ]);
    }));
}

function refusalCases(make: LogStoreFactory): void {
  it("refuses reads past the end and bad ranges as caller bugs", () =>
    withStore(make, async ({ store }) => {
      await store.append(makeEntries(1, 4, 1));
      assert.throws(() => store.term(4), AssertionError);
      await assert.rejects(store.entries(2, 5), AssertionError);
      await assert.rejects(store.entries(3, 2), AssertionError);
    }));

  it("refuses appends that leave a gap, go back in term or skip an index", () =>
    withStore(make, async ({ store }) => {
      await store.append(makeEntries(1, 4, 2));
      await assert.rejects(store.append(makeEntries(6, 7, 2)), AssertionError);
      await assert.rejects(store.append(makeEntries(4, 5, 1)), AssertionError);
      const skip = [...makeEntries(4, 5, 2), ...makeEntries(6, 7, 2)];
      await assert.rejects(store.append(skip), AssertionError);
      assert.equal(store.lastIndex(), 3);
    }));

  it("refuses an entry over entryBytesMax and writes nothing of its batch", () =>
    withStore(make, async ({ store }) => {
      const big: Entry = { index: 2, term: 1, kind: "normal", data: new Uint8Array(1025) };
      await assert.rejects(store.append([...makeEntries(1, 2, 1), big]), EntryTooLargeError);
      assert.equal(store.lastIndex(), 0);
      await store.append([{ ...big, index: 1, data: new Uint8Array(1024) }]);
      assert.equal(store.lastIndex(), 1);
    }));
}
