import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { FIXTURE_ARCHIVES, fuzzReader, loadSeeds } from "../../bench/fuzz.js";
import { readArchive } from "./archive-read.js";
import { buildMutant, checkMutant, type Mutation, type SeedArchive } from "./fuzz.js";
import { skipUnlessFixtures, withTempDir } from "./testutil.js";

/** Consul's fixture archives (the optional ones when present) and two generated ones (bench/fuzz.ts). */
function seeds(): Promise<SeedArchive[]> {
  return withTempDir((dir) => loadSeeds(dir));
}

describe("snapshot reader fuzz", { timeout: 60_000 }, () => {
  let all: SeedArchive[] = [];
  before(async () => {
    all = await seeds();
  });

  it("takes each seed apart into regions that tile it, and its segmented gzip reads as the original", async () => {
    for (const s of all) {
      assert.deepEqual(Buffer.from(gunzipSync(s.segmented)), Buffer.from(s.tar), s.name);
      for (const regions of [s.gzipRegions, s.tarRegions, s.segmentedRegions]) {
        assert.equal(regions[0]?.lo, 0);
        for (let i = 1; i < regions.length; i++) assert.equal(regions[i]?.lo, regions[i - 1]?.hi, s.name);
      }
      assert.equal(s.segmentedRegions.at(-1)?.hi, s.segmented.length);
      await withTempDir(async (dir) => {
        const a = await readArchive([s.segmented], { tmpDir: dir });
        assert.equal(a.stateBin.sha256, s.stateSha256);
        await a.stateBin.remove();
      });
    }
  });

  it("seeds from every Consul archive, the optional ones included", {
    skip: skipUnlessFixtures(...FIXTURE_ARCHIVES),
  }, () => {
    assert.deepEqual(
      all.slice(0, FIXTURE_ARCHIVES.length).map((s) => s.name),
      FIXTURE_ARCHIVES,
    );
  });

  it("gives each kind of mutation its expected outcome on Consul's backup.snap", async () => {
    const seed = all[0] as SeedArchive;
    const cases: [Mutation, string][] = [
      [{ kind: "truncate", layer: "gzip", region: 1, offset: 100 }, "snapshot_decompress"],
      [{ kind: "truncate", layer: "tar", region: 1, offset: 10 }, "snapshot_tar"],
      [{ kind: "truncate", layer: "tar", region: seed.tarRegions.length - 1, offset: 512 }, "accepted"],
      [{ kind: "flip", layer: "gzip", flips: [{ region: 0, offset: 5, bit: 3 }] }, "accepted"], // gzip MTIME
      [{ kind: "flip", layer: "gzip", flips: [{ region: 2, offset: 0, bit: 0 }] }, "snapshot_decompress"],
      [{ kind: "flip", layer: "tar", flips: [{ region: 4, offset: 7, bit: 0 }] }, "snapshot_integrity"],
      [{ kind: "extra-entry", name: "nope", size: 3, at: 3 }, "snapshot_unexpected_file"],
      [{ kind: "missing-entry", which: 2 }, "snapshot_integrity"],
      [{ kind: "reorder-entries", perm: 4 }, "accepted"],
      [{ kind: "duplicate-entry", which: 1, at: 3 }, "snapshot_duplicate_file"],
      [{ kind: "sums", op: "digit", line: 1, pos: 9 }, "snapshot_integrity"],
      [{ kind: "sums", op: "uppercase", line: 0, pos: 0 }, "accepted"],
      [{ kind: "no-trailer", drop: 8 }, "snapshot_decompress"],
      [{ kind: "trailing", layer: "gzip", zero: true, length: 3, byte: 1 }, "snapshot_trailing_data"],
      [{ kind: "trailing", layer: "gzip", zero: false, length: 3, byte: 0x41 }, "snapshot_decompress"],
      [{ kind: "trailing", layer: "tar", zero: true, length: 512, byte: 1 }, "snapshot_trailing_data"],
      [{ kind: "huge-meta", delta: 0 }, "accepted"],
      [{ kind: "huge-meta", delta: 1 }, "snapshot_limit"],
      [{ kind: "unknown-record", type: 200, at: 3, garbage: false }, "accepted"],
      [{ kind: "unknown-record", type: 50, at: 3, garbage: true }, "snapshot_state_bin"],
      [{ kind: "tar-field", entry: 1, field: "size-base256", value: 7 }, "snapshot_tar"],
      [{ kind: "tar-field", entry: 0, field: "name", value: 5 }, "snapshot_unexpected_file"],
      [{ kind: "tar-field", entry: 2, field: "magic", value: 1 }, "accepted"],
      [{ kind: "empty" }, "snapshot_decompress"],
      [{ kind: "not-gzip", variant: "plain-tar", length: 1 }, "snapshot_decompress"],
      [{ kind: "not-gzip", variant: "random", length: 100 }, "snapshot_decompress"],
    ];
    await withTempDir(async (dir) => {
      for (const [m, want] of cases) {
        for (const feed of [
          { size: 65_536, cuts: [] },
          { size: 1, cuts: [0, 8] },
        ]) {
          const outcome = await checkMutant(buildMutant(seed, m), feed, dir, 10_000);
          const got = outcome.accepted ? "accepted" : outcome.code;
          assert.equal(got, want, `${JSON.stringify(m)} fed ${JSON.stringify(feed)}`);
        }
      }
    });
  });

  it("fails a run that breaks the contract: an accepted must-reject mutant, or the wrong state.bin", async () => {
    const seed = all[0] as SeedArchive;
    const valid = { bytes: seed.archive, label: "valid", expectSha256: seed.stateSha256, mustReject: false };
    const feed = { size: 4096, cuts: [] };
    await withTempDir(async (dir) => {
      assert.deepEqual(await checkMutant(valid, feed, dir, 10_000), { accepted: true });
      await assert.rejects(checkMutant({ ...valid, mustReject: true }, feed, dir, 10_000), /must be refused/);
      await assert.rejects(checkMutant({ ...valid, expectSha256: "0" }, feed, dir, 10_000), /want 0$/);
    });
  });

  it("reads 400 random mutants: each accepted intact or refused with a SnapshotError, nothing left behind", async () => {
    await withTempDir(async (dir) => {
      const stats = await fuzzReader(all, { runs: 400, seed: 20_261_128, tmpDir: dir });
      assert.equal(stats.runs, 400);
      assert.ok(
        stats.accepted > 0 && stats.rejectedByCode.size >= 6,
        JSON.stringify([...stats.rejectedByCode]),
      );
    });
  });
});
