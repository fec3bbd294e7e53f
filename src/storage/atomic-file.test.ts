import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeFileAtomic } from "./atomic-file.js";
import { withTempDir } from "./test-util.js";

describe("writeFileAtomic", () => {
  it("creates, then replaces, a file with the given mode and leaves no temp file", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "f");
      await writeFileAtomic(path, Buffer.from("one"), { mode: 0o640 });
      await writeFileAtomic(path, Buffer.from("two"));
      assert.equal(await readFile(path, "utf8"), "two");
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(dir), ["f"]);
    }));

  it("removes its temp file and keeps the old content when the rename fails", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "target");
      await mkdir(path); // renaming a file over a non-empty directory fails
      await writeFile(join(path, "x"), "keep");
      await assert.rejects(writeFileAtomic(path, Buffer.from("new")), /EISDIR|ENOTEMPTY|EEXIST/);
      assert.deepEqual(await readdir(dir), ["target"]);
      assert.equal(await readFile(join(path, "x"), "utf8"), "keep");
    }));

  it("fails without leaving anything when the directory does not exist", () =>
    withTempDir(async (dir) => {
      await assert.rejects(writeFileAtomic(join(dir, "no", "f"), Buffer.from("x")), /ENOENT/);
      assert.deepEqual(await readdir(dir), []);
    }));
});
