/**
 * The record counts the restore confirmation shows (ui/archive.js archiveContents) equal what `cairn snapshot
 * inspect` prints for the same archive: Consul's own fixture archives and one cairn wrote, fed in small and
 * large chunks. The page's type names are inspect's, for every type byte; a cut-short state.bin is refused.
 */
import assert from "node:assert/strict";
import { createReadStream, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { inspectArchiveInfo } from "../src/snapshot/inspect.js";
import { messageTypeName } from "../src/snapshot/message-types.js";
import { tarEnd, tarHeader, tarPadding } from "../src/snapshot/tar.js";

interface Contents {
  meta: { Index: number; Term: number };
  stats: { Name: string; Sum: number; Count: number }[];
  totalSize: number;
}
interface ArchiveModule {
  archiveContents(blob: Blob): Promise<Contents>;
  typeName(type: number): string;
  skipValue(buf: Uint8Array, pos: number): number;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "consul");
const archive = (await import(pathToFileURL(join(ROOT, "ui", "archive.js")).href)) as ArchiveModule;

async function sameAsInspect(path: string): Promise<void> {
  const want = await inspectArchiveInfo(createReadStream(path));
  const got = await archive.archiveContents(new Blob([readFileSync(path)]));
  assert.deepEqual(got.stats, want.Stats);
  assert.equal(got.totalSize, want.TotalSize);
  assert.deepEqual([got.meta.Index, got.meta.Term], [want.Meta.Index, want.Meta.Term]);
}

describe("ui/archive.js record counts", () => {
  it("equal cairn snapshot inspect's on Consul's fixture archives", async () => {
    await sameAsInspect(join(FIXTURES, "inspect", "backup.snap"));
    await sameAsInspect(join(FIXTURES, "inspect", "backupWithKV.snap"));
  });

  it("name every type byte as inspect does", () => {
    for (let t = 0; t < 256; t++) assert.equal(archive.typeName(t), messageTypeName(t), `type ${t}`);
  });

  it("skip every msgpack form, and say how many bytes an unfinished value needs", () => {
    // {"a": [1, -1, 3.5, "x", bin(2), nil, true, 300, fixext1]} as msgpack.
    const value = Uint8Array.from([
      0x81, 0xa1, 0x61, 0x99, 0x01, 0xff, 0xcb, 0x40, 0x0c, 0, 0, 0, 0, 0, 0, 0xa1, 0x78, 0xc4, 0x02, 9, 9,
      0xc0, 0xc3, 0xcd, 0x01, 0x2c, 0xd4, 0x01, 0x07,
    ]);
    assert.equal(archive.skipValue(value, 0), value.length);
    for (let cut = 1; cut < value.length; cut++) {
      const need = -archive.skipValue(value.subarray(0, cut), 0);
      assert.ok(need > cut && need <= value.length, `cut at ${cut}: needs ${need}`);
    }
    assert.throws(() => archive.skipValue(Uint8Array.from([0xc1]), 0), /0xc1/);
  });

  it("refuse a state.bin cut short inside a record", async () => {
    const meta = new TextEncoder().encode('{"ID":"x","Size":9,"Index":5,"Term":1,"Version":1}');
    // The header {LastIndex: 5}, then a KVS record whose map promises one entry and stops.
    const state = Uint8Array.from([0x81, 0xa9, ...new TextEncoder().encode("LastIndex"), 0x05, 0x02, 0x81]);
    const entry = (name: string, bytes: Uint8Array) => [
      tarHeader(name, bytes.length, 0),
      bytes,
      tarPadding(bytes.length),
    ];
    const tar = Buffer.concat([...entry("meta.json", meta), ...entry("state.bin", state), tarEnd()]);
    await assert.rejects(archive.archiveContents(new Blob([gzipSync(tar)])), /state\.bin is cut short/);
  });
});
