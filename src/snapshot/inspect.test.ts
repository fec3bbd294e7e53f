import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { byteSize, formatInspect, type InspectInfo, type InspectOptions, inspectFile } from "./inspect.js";
import { tabwrite } from "./tabwriter.js";
import { fixture, skipUnlessFixtures } from "./testutil.js";

const golden = (name: string): string => readFileSync(fixture("inspect", name), "utf8");

describe("inspect matches Consul's goldens byte for byte", () => {
  const cases: [string, string[], InspectOptions][] = [
    ["TestSnapshotInspectCommand.golden", ["backup.snap"], {}],
    ["TestSnapshotInspectCommandRaw.golden", ["raw", "state.bin"], {}],
    ["TestSnapshotInspectKVDetailsCommand.golden", ["backupWithKV.snap"], { kvDetails: true }],
    [
      "TestSnapshotInspectKVDetailsDepthCommand.golden",
      ["backupWithKV.snap"],
      { kvDetails: true, kvDepth: 3 },
    ],
    [
      "TestSnapshotInspectKVDetailsDepthFilterCommand.golden",
      ["backupWithKV.snap"],
      { kvDetails: true, kvDepth: 3, kvFilter: "vault/logical" },
    ],
  ];
  for (const [name, file, opts] of cases) {
    it(name, async () => {
      assert.equal(await inspectFile(fixture("inspect", ...file), opts), golden(name));
    });
  }

  const synthetic: InspectInfo = {
    Meta: { ID: "one", Size: 2, Index: 3, Term: 4, Version: 1 },
    Stats: [{ Name: "msg", Sum: 1, Count: 2 }],
    StatsKV: [{ Name: "msgKV", Sum: 1, Count: 2 }],
    TotalSize: 1,
    TotalSizeKV: 1,
  };
  it("pretty.golden", () => assert.equal(formatInspect(synthetic, "pretty"), golden("pretty.golden")));
  it("json.golden", () => assert.equal(formatInspect(synthetic, "json"), golden("json.golden")));
});

describe("inspect details", () => {
  it("ignores -kvdepth and -kvfilter without -kvdetails", async () => {
    const out = await inspectFile(fixture("inspect", "backupWithKV.snap"), { kvDepth: 3, kvFilter: "vault" });
    assert.doesNotMatch(out, /Key Name/);
  });

  it("prints StatsKV null in JSON when there are no KV rows, and the record table sorted", async () => {
    const out = JSON.parse(
      await inspectFile(fixture("inspect", "backup.snap"), { format: "json" }),
    ) as InspectInfo;
    assert.equal(out.StatsKV, null);
    assert.equal(out.TotalSize, 5141);
    assert.deepStrictEqual(out.Stats[0], { Name: "Register", Sum: 1750, Count: 3 });
    const sums = out.Stats.map((s) => s.Sum);
    assert.deepStrictEqual(
      sums,
      [...sums].sort((a, b) => b - a),
    );
  });

  it("names Enterprise types Unknown(n) as Consul CE does", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const out = await inspectFile(fixture("decode", "all.snap"));
    assert.match(out, /\n Unknown\(65\) {2,}1 {2,}\d/);
    assert.match(out, /\n Unknown\(69\) /);
  });

  it("refuses an unknown format with Consul's message", async () => {
    await assert.rejects(inspectFile(fixture("inspect", "backup.snap"), { format: "yaml" }), {
      code: "snapshot_usage",
      message: "Unknown format: yaml",
    });
  });

  it("formats sizes as Consul's ByteSize, rounding half to even", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [1, "1B"],
      [1023, "1023B"],
      [1024, "1KB"],
      [1280, "1.2KB"],
      [1331, "1.3KB"],
      [1750, "1.7KB"],
      [17228, "16.8KB"],
      [1024 ** 2 * 5.25, "5.2MB"],
      [1024 ** 3, "1GB"],
      [1024 ** 4 * 3, "3TB"],
    ];
    for (const [n, want] of cases) assert.equal(byteSize(n), want, `${n} bytes`);
  });

  it("lays out columns as Go's tabwriter: blocks split by lines without the column", () => {
    const text = " a\tbb\tc\n aaaa\tb\tc\n\n x\ty";
    assert.equal(
      tabwrite(text, { minWidth: 8, padding: 6 }),
      " a         bb      c\n aaaa      b       c\n\n x      y",
    );
  });
});
