import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as turn } from "node:timers/promises";
import { readStateBinBatches } from "../snapshot/index.js";
import { encodeCommand, type KvCommand } from "./command.js";
import { KvStore } from "./kv-store.js";

const text = new TextEncoder();
const str = (v: Uint8Array | null): string => (v === null ? "<nil>" : new TextDecoder().decode(v));
const set = (key: string, value: string): KvCommand => ({
  op: "set",
  key,
  value: text.encode(value),
  flags: 0n,
});

const KEYS = 600;
const key = (i: number): string => `k/${String(i).padStart(4, "0")}`;

/** The old state: KEYS keys valued old-i. */
function oldStore(): KvStore {
  const s = new KvStore();
  for (let i = 0; i < KEYS; i++) s.apply(10 + i, encodeCommand(set(key(i), `old-${i}`)));
  return s;
}

/** The archive's state: the old one, then every third key rewritten, every fifth deleted, and new keys added. */
async function newState(from: KvStore): Promise<{ bin: Uint8Array; store: KvStore }> {
  const s = new KvStore();
  await s.restoreAsync(readStateBinBatches(from.snapshot().stateBin()));
  let at = s.appliedIndex + 1;
  for (let i = 0; i < KEYS; i += 3) s.apply(at++, encodeCommand(set(key(i), `new-${i}`)));
  for (let i = 1; i < KEYS; i += 5) s.apply(at++, encodeCommand({ op: "delete", key: key(i) }));
  for (let i = KEYS; i < KEYS + 50; i++) s.apply(at++, encodeCommand(set(key(i), `new-${i}`)));
  const parts: Uint8Array[] = [];
  for await (const chunk of s.snapshot().stateBin()) parts.push(chunk);
  return { bin: Buffer.concat(parts), store: s };
}

/**
 * The archive in small chunks with a macrotask between them, as a file read would: the reader loop runs while
 * the rebuild is under way. `failAfter` throws after that many chunks (a restore that cannot finish).
 */
async function* slowly(bin: Uint8Array, failAfter = Number.POSITIVE_INFINITY): AsyncGenerator<Uint8Array> {
  let n = 0;
  for (let off = 0; off < bin.length; off += 512) {
    if (n++ >= failAfter) throw new Error("the disk went away");
    await turn();
    yield bin.subarray(off, Math.min(bin.length, off + 512));
  }
}

/** Every key's value in a list read, as "key=value" strings. */
function listed(s: KvStore): string[] {
  return s.list("k/").entries.map((e) => `${e.Key}=${str(e.Value)}`);
}

describe("KvStore.replaceAsync: reads during the rebuild", () => {
  it("see the old state or the new one, never a partial or empty one; watches wake after the swap", async () => {
    const live = oldStore();
    const { bin, store: want } = await newState(live);
    const oldList = listed(live);
    const newList = listed(want);
    const oldGet = live.get(key(0));
    const newGet = want.get(key(0));
    assert.notDeepEqual(oldList, newList);
    let woke = false;
    live.watch(key(0), "key", () => {
      woke = true;
    });
    const restoresBefore = live.restoreCount;

    let done = false;
    const replacing = live.replaceAsync(readStateBinBatches(slowly(bin))).finally(() => {
      done = true;
    });
    let during = 0;
    let sawNew = false;
    for (let rounds = 0; !done && rounds < 100_000; rounds++) {
      const l = listed(live);
      const g = live.get(key(0));
      const isOld = !sawNew && l.join() === oldList.join();
      const isNew = l.join() === newList.join();
      assert.ok(
        isOld || isNew,
        `round ${rounds}: a list of ${l.length} entries is neither the old nor the new`,
      );
      if (isNew) sawNew = true;
      assert.deepEqual(
        { index: g.index, value: str(g.entry?.Value ?? null) },
        isNew
          ? { index: newGet.index, value: str(newGet.entry?.Value ?? null) }
          : { index: oldGet.index, value: str(oldGet.entry?.Value ?? null) },
      );
      if (!isNew) {
        assert.equal(woke, false, "no watch fires before the swap");
        assert.equal(live.restoreCount, restoresBefore);
        during += 1;
      }
      await turn();
    }
    await replacing;
    assert.ok(during >= 10, `reads ran while the rebuild was under way (${during})`);
    assert.deepEqual(listed(live), newList);
    assert.equal(live.appliedIndex, want.appliedIndex);
    assert.equal(live.restoreCount, restoresBefore + 1);
    assert.equal(woke, true, "the swap wakes the watches");
  });

  it("shares the entries the archive holds unchanged with the old table, and copies none of the others", async () => {
    const live = oldStore();
    const { bin } = await newState(live);
    const before = new Map([...live.kv.entries()]);
    await live.replaceAsync(readStateBinBatches(slowly(bin)));
    let shared = 0;
    for (const [k, e] of live.kv.entries()) {
      const old = before.get(k);
      const same = old !== undefined && str(old.Value) === str(e.Value) && old.ModifyIndex === e.ModifyIndex;
      assert.equal(e === old, same, `${k}: shared exactly when unchanged`);
      if (same) shared += 1;
    }
    assert.ok(shared > KEYS / 2, `most entries are shared (${shared})`);
  });

  it("a rebuild that fails leaves the old state readable and wakes nothing", async () => {
    const live = oldStore();
    const { bin } = await newState(live);
    const oldList = listed(live);
    let woke = false;
    live.watch(key(0), "key", () => {
      woke = true;
    });
    await assert.rejects(live.replaceAsync(readStateBinBatches(slowly(bin, 3))), /the disk went away/);
    assert.deepEqual(listed(live), oldList);
    assert.equal(live.restoreCount, 0);
    assert.equal(woke, false);
  });
});
