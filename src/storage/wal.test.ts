import assert from "node:assert/strict";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Entry } from "../raft/types.js";
import { CorruptWalError } from "./errors.js";
import { type LogStoreFactory, makeEntries, runLogStoreContract } from "./log-store-contract.js";
import { MemoryWal } from "./memory-wal.js";
import { RECORD_BYTES_MIN } from "./record.js";
import { collectLog, withTempDir } from "./test-util.js";
import { DiskWal, type DiskWalOptions } from "./wal.js";

function diskFactory(extra: DiskWalOptions = {}): LogStoreFactory {
  return async (opts) => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-"));
    const walOpts = { ...opts, ...extra };
    let store = await DiskWal.open(dir, walOpts);
    return {
      store,
      reopen: async () => {
        await store.close();
        store = await DiskWal.open(dir, walOpts);
        return store;
      },
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  };
}

runLogStoreContract("DiskWal", diskFactory());
runLogStoreContract("DiskWal without a cache (every read from disk)", diskFactory({ cacheBytesMax: 0 }));
runLogStoreContract("MemoryWal", async (opts) => {
  const store = new MemoryWal(opts);
  return { store, cleanup: () => store.close() };
});

const walDir = (dataDir: string): string => join(dataDir, "raft", "wal");
const seg = (dataDir: string, first: number): string =>
  join(walDir(dataDir), `${first.toString(16).padStart(16, "0")}.wal`);

/** Entries [lo, hi) of term 1 with `bytes` bytes of data each: records of RECORD_BYTES_MIN + bytes. */
function sized(lo: number, hi: number, bytes: number): Entry[] {
  return makeEntries(lo, hi, 1).map((e) => ({ ...e, data: new Uint8Array(bytes).fill(e.index) }));
}

async function writeWal(dir: string, entries: Entry[], opts: DiskWalOptions): Promise<void> {
  const wal = await DiskWal.open(dir, opts);
  await wal.append(entries);
  await wal.sync();
  await wal.close();
}

async function indexesOf(wal: DiskWal): Promise<number[]> {
  return (await wal.entries(wal.firstIndex(), wal.lastIndex() + 1)).map((e) => e.index);
}

const range = (lo: number, hi: number): number[] => Array.from({ length: hi - lo }, (_, k) => lo + k);

describe("DiskWal recovery", () => {
  it("cut at every byte of the last two records keeps exactly the whole records before the cut", () =>
    withTempDir(async (root) => {
      // 20-byte data: 45-byte records, 4 per 200-byte segment: segments start at 1, 5, 9; the last holds 9 and 10.
      const rec = RECORD_BYTES_MIN + 20;
      const opts = { segmentBytesMax: 200 };
      const src = join(root, "src");
      await writeWal(src, sized(1, 11, 20), opts);
      const full = await readFile(seg(src, 9));
      assert.equal(full.length, 2 * rec);
      for (let cut = 0; cut <= full.length; cut++) {
        const dir = join(root, `cut-${cut}`);
        await mkdir(walDir(dir), { recursive: true });
        for (const first of [1, 5]) await copyFile(seg(src, first), seg(dir, first));
        await writeFile(seg(dir, 9), full.subarray(0, cut));
        const { lines, log } = collectLog();
        const wal = await DiskWal.open(dir, { ...opts, log });
        const whole = Math.floor(cut / rec);
        assert.deepEqual(await indexesOf(wal), range(1, 9 + whole), `cut at ${cut}`);
        const torn = cut % rec !== 0;
        assert.equal(
          lines.some((l) => l.includes("torn tail")),
          torn,
          `cut at ${cut}: ${lines.join("; ")}`,
        );
        // The log goes on from the cut, and a reopen sees the same.
        await wal.append(sized(9 + whole, 12, 20));
        await wal.close();
        const again = await DiskWal.open(dir, opts);
        assert.deepEqual(await indexesOf(again), range(1, 12), `cut at ${cut}, reopened`);
        await again.close();
      }
    }));

  it("flipping any byte of a middle record refuses to open, naming the file and the record's offset", () =>
    withTempDir(async (root) => {
      const rec = RECORD_BYTES_MIN + 20;
      const src = join(root, "src");
      await writeWal(src, sized(1, 6, 20), {});
      const good = await readFile(seg(src, 1));
      const middle = 2 * rec; // record of entry 3
      for (let b = middle; b < middle + rec; b++) {
        const dir = join(root, `flip-${b}`);
        await mkdir(walDir(dir), { recursive: true });
        const bad = Buffer.from(good);
        bad[b] = bad[b]! ^ 0xff;
        await writeFile(seg(dir, 1), bad);
        const err = await DiskWal.open(dir).then(
          () => assert.fail(`flip at ${b} was not detected`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof CorruptWalError, `flip at ${b}: ${String(err)}`);
        assert.equal(err.code, "corrupt_wal");
        assert.equal(err.path, seg(dir, 1));
        assert.equal(err.offset, middle, `flip at ${b}: ${err.message}`);
        assert.match(
          err.message,
          /^refusing to start: WAL record .* in ".*0000000000000001\.wal" at offset 90$/,
        );
      }
    }));

  it("refuses a bad last record of a segment that is not the last", () =>
    withTempDir(async (dir) => {
      await writeWal(dir, sized(1, 11, 20), { segmentBytesMax: 200 });
      const path = seg(dir, 5);
      const bytes = await readFile(path);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
      await writeFile(path, bytes);
      await assert.rejects(DiskWal.open(dir), (err: unknown) => {
        assert.ok(err instanceof CorruptWalError);
        assert.equal(
          err.message,
          `refusing to start: WAL record checksum mismatch in "${path}" at offset 135`,
        );
        return true;
      });
    }));

  it("cuts trailing zero bytes after the last good record", () =>
    withTempDir(async (dir) => {
      await writeWal(dir, sized(1, 4, 10), {});
      const path = seg(dir, 1);
      const size = (await stat(path)).size;
      await writeFile(path, Buffer.concat([await readFile(path), Buffer.alloc(4096)]));
      const { lines, log } = collectLog();
      const wal = await DiskWal.open(dir, { log });
      assert.deepEqual(await indexesOf(wal), [1, 2, 3]);
      assert.match(
        lines.join("\n"),
        /torn tail .* at offset \d+ \(trailing zero bytes\): 4096 bytes dropped/,
      );
      await wal.close();
      assert.equal((await stat(path)).size, size);
    }));

  it("refuses zero bytes followed by a good record", () =>
    withTempDir(async (dir) => {
      await writeWal(dir, sized(1, 4, 10), {});
      const path = seg(dir, 1);
      const bytes = await readFile(path);
      const rec = RECORD_BYTES_MIN + 10;
      const holed = Buffer.concat([bytes.subarray(0, rec), Buffer.alloc(rec), bytes.subarray(2 * rec)]);
      await writeFile(path, holed);
      await assert.rejects(DiskWal.open(dir), new RegExp(`at offset ${rec}$`));
    }));

  it("refuses a missing middle segment and a misnamed one", () =>
    withTempDir(async (dir) => {
      await writeWal(dir, sized(1, 13, 20), { segmentBytesMax: 200 });
      await rename(seg(dir, 5), join(dir, "aside"));
      await assert.rejects(
        DiskWal.open(dir),
        /segment starts at index 9 where 5 was expected in ".*0009\.wal"$/,
      );
      await rename(join(dir, "aside"), seg(dir, 5));
      await rename(seg(dir, 1), seg(dir, 2));
      await assert.rejects(
        DiskWal.open(dir),
        /record has index 1 where 2 was expected in ".*0002\.wal" at offset 0$/,
      );
    }));

  it("refuses a log that starts after the snapshot boundary", () =>
    withTempDir(async (dir) => {
      const wal = await DiskWal.open(dir, { segmentBytesMax: 200 });
      await wal.append(sized(1, 13, 20));
      await wal.compact(3);
      await wal.close();
      await unlink(seg(dir, 1));
      await assert.rejects(
        DiskWal.open(dir),
        /WAL starts at index 5 but the snapshot boundary is 3: entries are missing/,
      );
    }));

  it("removes segments left over from an interrupted compaction", () =>
    withTempDir(async (dir) => {
      await writeWal(dir, sized(1, 21, 20), { segmentBytesMax: 200 });
      const saved = join(dir, "saved");
      await mkdir(saved);
      for (const first of [1, 5, 9]) await copyFile(seg(dir, first), join(saved, String(first)));
      const wal = await DiskWal.open(dir, { segmentBytesMax: 200 });
      await wal.compact(14);
      await wal.close();
      for (const first of [1, 5, 9]) await copyFile(join(saved, String(first)), seg(dir, first));
      const { lines, log } = collectLog();
      const again = await DiskWal.open(dir, { log });
      assert.equal(lines.filter((l) => l.includes("left over from a compaction to 14")).length, 3);
      assert.deepEqual(await indexesOf(again), range(15, 21));
      await again.close();
      assert.deepEqual(
        (await readdir(walDir(dir))).sort(),
        ["0000000000000011.wal", "000000000000000d.wal", "boundary"].sort(),
      );
    }));

  for (const keep of ["all", "after"] as const) {
    it(`finishes a snapshot reset cut short (${keep} old segments left)`, () =>
      withTempDir(async (dir) => {
        await writeWal(dir, sized(1, 31, 20), { segmentBytesMax: 200 });
        const firsts = range(0, 8).map((k) => 1 + 4 * k); // 1, 5, ..., 29
        const saved = join(dir, "saved");
        await mkdir(saved);
        for (const f of firsts) await copyFile(seg(dir, f), join(saved, String(f)));
        const wal = await DiskWal.open(dir, { segmentBytesMax: 200 });
        await wal.resetToSnapshot(20, 3); // the log has term 1 at 20: it does not match
        await wal.close();
        // "after": the segment holding 20 went, those after it (from 21 on) did not.
        for (const f of firsts.filter((f) => keep === "all" || f > 20)) {
          await copyFile(join(saved, String(f)), seg(dir, f));
        }
        const { lines, log } = collectLog();
        const again = await DiskWal.open(dir, { log });
        assert.ok(
          lines.some((l) => l.includes("interrupted snapshot reset")),
          lines.join("; "),
        );
        assert.deepEqual(again.boundary(), { index: 20, term: 3 });
        assert.equal(again.lastIndex(), 20);
        await again.close();
      }));
  }

  it("refuses a record damaged after open when reading it from disk", () =>
    withTempDir(async (dir) => {
      const wal = await DiskWal.open(dir, { cacheBytesMax: 0 });
      await wal.append(sized(1, 4, 10));
      await wal.sync();
      const path = seg(dir, 1);
      const bytes = await readFile(path);
      bytes[RECORD_BYTES_MIN + 10 + 20] = bytes[RECORD_BYTES_MIN + 10 + 20]! ^ 1;
      await writeFile(path, bytes);
      assert.equal((await wal.entries(1, 2)).length, 1);
      await assert.rejects(wal.entries(1, 4), /checksum mismatch in ".*" at offset 35$/);
      await wal.close();
    }));

  it("puts a record larger than segmentBytesMax alone in its segment", () =>
    withTempDir(async (dir) => {
      const wal = await DiskWal.open(dir, { segmentBytesMax: 100 });
      await wal.append([...sized(1, 2, 10), ...sized(2, 3, 500), ...sized(3, 5, 10)]);
      await wal.close();
      assert.deepEqual((await readdir(walDir(dir))).filter((n) => n.endsWith(".wal")).length, 3);
      assert.equal((await stat(seg(dir, 2))).size, RECORD_BYTES_MIN + 500);
      const again = await DiskWal.open(dir, { segmentBytesMax: 100 });
      assert.equal((await again.entries(2, 3))[0]?.data.length, 500);
      await again.close();
    }));
});
