import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { HardState } from "../raft/types.js";
import { AssertionError } from "../util/assert.js";
import { CorruptStateError } from "./errors.js";
import { FileStableStore, MemoryStableStore, type StableStore } from "./stable-store.js";
import { withTempDir } from "./test-util.js";

/** The transition rules hold for both implementations. */
function transitionCases(name: string, make: (dir: string) => Promise<StableStore>): void {
  describe(`StableStore rules: ${name}`, () => {
    it("starts empty, saves, and refuses a term or commit going back and a second vote in a term", () =>
      withTempDir(async (dir) => {
        const s = await make(dir);
        assert.deepEqual(s.hardState, { term: 0, vote: 0, commit: 0 });
        await s.save({ term: 2, vote: 3, commit: 5 });
        assert.deepEqual(s.hardState, { term: 2, vote: 3, commit: 5 });
        await assert.rejects(s.save({ term: 1, vote: 3, commit: 5 }), AssertionError);
        await assert.rejects(s.save({ term: 2, vote: 3, commit: 4 }), AssertionError);
        await assert.rejects(
          s.save({ term: 2, vote: 4, commit: 5 }),
          /vote changed from 3 to 4 within term 2/,
        );
        await s.save({ term: 3, vote: 4, commit: 6 });
        assert.deepEqual(s.hardState, { term: 3, vote: 4, commit: 6 });
        await s.close();
      }));
  });
}

transitionCases("FileStableStore", (dir) => FileStableStore.open(dir));
transitionCases("MemoryStableStore", async () => new MemoryStableStore());

describe("FileStableStore", () => {
  it("round-trips the hard state across reopen, with no temp file left", () =>
    withTempDir(async (dir) => {
      const a = await FileStableStore.open(dir);
      const hs: HardState = { term: 2 ** 40 + 7, vote: 3, commit: 2 ** 52 };
      await a.save(hs);
      await a.close();
      const b = await FileStableStore.open(dir);
      assert.deepEqual(b.hardState, hs);
      assert.deepEqual(await readdir(join(dir, "raft")), ["state"]);
    }));

  it("refuses to start on any flipped byte, a truncated file or a foreign file", () =>
    withTempDir(async (dir) => {
      const s = await FileStableStore.open(dir);
      await s.save({ term: 9, vote: 2, commit: 40 });
      const path = join(dir, "raft", "state");
      const good = await readFile(path);
      const bads: Buffer[] = [
        good.subarray(0, good.length - 1),
        Buffer.from("term=9 vote=2\n"),
        Buffer.alloc(0),
      ];
      for (let b = 0; b < good.length; b++) {
        const bad = Buffer.from(good);
        bad[b] = bad[b]! ^ 0x01;
        bads.push(bad);
      }
      for (const bad of bads) {
        await writeFile(path, bad);
        await assert.rejects(FileStableStore.open(dir), (err: unknown) => {
          assert.ok(err instanceof CorruptStateError, String(err));
          assert.equal(err.code, "corrupt_state");
          assert.match(err.message, new RegExp(`^refusing to start: .* in "${path}"$`));
          return true;
        });
      }
    }));
});
