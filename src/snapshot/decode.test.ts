import assert from "node:assert/strict";
import { createReadStream, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { decodeArchiveLines, toGoJson } from "./decode.js";
import { fixture, skipUnlessFixtures, withTempDir } from "./testutil.js";

function countTypes(lines: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const { Type } = JSON.parse(line) as { Type: string };
    counts.set(Type, (counts.get(Type) ?? 0) + 1);
  }
  return counts;
}

async function decodeLines(archive: string[]): Promise<string[]> {
  return withTempDir(async (dir) => {
    const lines: string[] = [];
    for await (const line of decodeArchiveLines(createReadStream(fixture(...archive)), { tmpDir: dir }))
      lines.push(line);
    return lines;
  });
}

describe("decode: one JSON line per record, counts as Consul's decode goldens", () => {
  const cases: [string, string[]][] = [
    ["all.ce.golden", ["decode", "all.snap"]],
    ["no-kv.ce.golden", ["inspect", "backup.snap"]],
    ["with-kv.ce.golden", ["inspect", "backupWithKV.snap"]],
  ];
  for (const [golden, archive] of cases) {
    const skip = skipUnlessFixtures(`decode/${golden}`, archive.join("/"));
    it(`${archive.join("/")} → ${golden}`, { skip }, async () => {
      const want = readFileSync(fixture("decode", golden), "utf8")
        .split("\n")
        .filter((l) => l !== "");
      const got = await decodeLines(archive);
      assert.deepStrictEqual(countTypes(got), countTypes(want));
      assert.equal(got[0], want[0], "the SnapshotHeader line is meta.json as Consul prints it");
    });
  }

  it("prints the records' real data, exact 64-bit values included", async () => {
    const lines = await decodeLines(["inspect", "backupWithKV.snap"]);
    const kv = lines.map((l) => JSON.parse(l) as { Type: string; Data: { Key?: string; Value?: string } });
    const first = kv.find((l) => l.Type === "KVS");
    assert.ok(first?.Data.Key?.startsWith("vault/"));
    assert.equal(typeof first?.Data.Value, "string");
    assert.equal(
      toGoJson({ Flags: 2n ** 64n - 1n, V: new Uint8Array([0xff]), S: "<&>" }),
      '{"Flags":18446744073709551615,"V":"/w==","S":"\\u003c\\u0026\\u003e"}',
    );
  });
});
