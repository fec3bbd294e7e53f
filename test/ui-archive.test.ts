/**
 * The UI's in-browser archive reader (ui/archive.js) run under Node, which has the same DecompressionStream,
 * Blob and crypto.subtle: Consul's own archive reads and verifies; a truncated one still shows its meta.json but
 * does not verify; tampered sums, a missing entry and bytes that are not gzip are refused with a reason.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

interface Meta {
  readonly Index: number;
  readonly Term: number;
  readonly ID: string;
}
interface ArchiveModule {
  archiveMeta(blob: Blob): Promise<Meta>;
  verifyArchive(blob: Blob): Promise<{ meta: Meta; verified: boolean }>;
}

/** dist/test/ → the repository. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const FIXTURES = join(ROOT, "test", "fixtures", "consul");
// The page's module itself, not a copy: it is plain JavaScript, loaded by its path.
const archive = (await import(pathToFileURL(join(ROOT, "ui", "archive.js")).href)) as ArchiveModule;

const consulSnap = readFileSync(join(FIXTURES, "inspect", "backup.snap"));

function tarFixture(name: string): Blob {
  return new Blob([gzipSync(readFileSync(join(FIXTURES, "archive-tars", `${name}.tar`)))]);
}

describe("ui/archive.js", () => {
  it("reads and verifies Consul's archive: index 13, term 2 (as consul snapshot inspect says)", async () => {
    const meta = await archive.archiveMeta(new Blob([consulSnap]));
    assert.deepEqual([meta.Index, meta.Term, meta.ID], [13, 2, "2-13-1602222343947"]);
    const v = await archive.verifyArchive(new Blob([consulSnap]));
    assert.equal(v.verified, true);
    assert.equal(v.meta.Index, 13);
  });

  it("a truncated archive: meta.json still reads, verification fails", async () => {
    const half = new Blob([consulSnap.subarray(0, Math.floor(consulSnap.length / 2))]);
    assert.equal((await archive.archiveMeta(half)).Index, 13);
    await assert.rejects(archive.verifyArchive(half), /not a snapshot archive|gzip/);
  });

  it("tampered sums and missing entries are refused, each with its reason", async () => {
    await assert.rejects(archive.verifyArchive(tarFixture("corrupt-sha")), /lists nope, which the archive/);
    await assert.rejects(archive.verifyArchive(tarFixture("corrupt-meta")), /meta\.json does not match/);
    await assert.rejects(archive.verifyArchive(tarFixture("corrupt-state")), /state\.bin does not match/);
    await assert.rejects(archive.verifyArchive(tarFixture("missing-meta")), /no meta\.json/);
    await assert.rejects(archive.archiveMeta(tarFixture("missing-meta")), /no meta\.json/);
    await assert.rejects(archive.verifyArchive(tarFixture("missing-sha")), /no SHA256SUMS/);
    // meta.json itself reads (the preview shows it); only the sums tell it was changed.
    assert.equal((await archive.archiveMeta(tarFixture("corrupt-meta"))).Index, 5);
  });

  it("bytes that are not gzip: the gzip stream is broken", async () => {
    await assert.rejects(archive.archiveMeta(new Blob(["not a snapshot\n"])), /the gzip stream is broken/);
  });
});
