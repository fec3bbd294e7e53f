import assert from "node:assert/strict";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openDataDir } from "./data-dir.js";
import { DataDirError } from "./errors.js";
import { collectLog, ignoresPermissions, withTempDir } from "./test-util.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A pid no process has: 2^22 + 12345 is above Linux's default pid_max of 2^22, checked with kill 0 anyway. */
function deadPid(): number | null {
  const pid = 2 ** 22 + 12345;
  try {
    process.kill(pid, 0);
    return null;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH" ? pid : null;
  }
}

async function rejectsWith(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DataDirError, String(err));
    assert.equal(err.code, "data_dir");
    assert.equal(err.message, message);
    return true;
  });
}

describe("openDataDir", () => {
  it("creates a private dir with a node id and format version, and keeps the id across opens", () =>
    withTempDir(async (root) => {
      const path = join(root, "data");
      const a = await openDataDir(path, { nodeName: "web-1" });
      assert.equal((await stat(path)).mode & 0o777, 0o700);
      assert.match(a.nodeId, UUID_V4);
      assert.equal(await readFile(join(path, "format-version"), "utf8"), "1\n");
      assert.equal(await readFile(join(path, "LOCK"), "utf8"), `${process.pid}\nweb-1\n`);
      assert.ok((await stat(a.raftDir)).isDirectory());
      await a.close();
      await assert.rejects(stat(join(path, "LOCK")), /ENOENT/);
      const b = await openDataDir(path);
      assert.equal(b.nodeId, a.nodeId);
      await b.close();
      await b.close(); // idempotent
    }));

  it("refuses a dir locked by a live agent and leaves its lock alone", () =>
    withTempDir(async (path) => {
      const held = await openDataDir(path);
      await rejectsWith(
        openDataDir(path),
        `data dir "${path}" is in use by another cairn agent (pid ${process.pid})`,
      );
      assert.equal((await readFile(join(path, "LOCK"), "utf8")).split("\n")[0], String(process.pid));
      await held.close();
    }));

  it("takes over the lock of a dead agent, and an empty lock", async (t) => {
    const pid = deadPid();
    if (pid === null) {
      t.skip("pid 2^22+12345 exists on this machine");
      return;
    }
    await withTempDir(async (path) => {
      for (const stale of [`${pid}\n`, ""]) {
        await writeFile(join(path, "LOCK"), stale);
        const { lines, log } = collectLog();
        const d = await openDataDir(path, { log });
        assert.equal(lines.length, 1);
        assert.match(lines[0]!, /taking over a stale lock/);
        assert.equal((await readFile(join(path, "LOCK"), "utf8")).split("\n")[0], String(process.pid));
        await d.close();
      }
    });
  });

  it("refuses a data dir written by a newer cairn, and an unreadable version", () =>
    withTempDir(async (path) => {
      await writeFile(join(path, "format-version"), "2\n");
      await rejectsWith(
        openDataDir(path),
        `data dir "${path}" was written by a newer cairn (format 2); this cairn reads format 1`,
      );
      await assert.rejects(stat(join(path, "LOCK")), /ENOENT/, "a refused open releases the lock");
      await writeFile(join(path, "format-version"), "one");
      await rejectsWith(openDataDir(path), `data dir "${path}" has an unreadable format-version file: "one"`);
    }));

  it("refuses a malformed node-id", () =>
    withTempDir(async (path) => {
      await writeFile(join(path, "node-id"), "not-a-uuid");
      await rejectsWith(openDataDir(path), `data dir "${path}" has a malformed node-id file: "not-a-uuid"`);
    }));

  it("refuses a missing parent, a parent that is a file, and a path that is a file", () =>
    withTempDir(async (root) => {
      const missing = join(root, "no", "data");
      await rejectsWith(
        openDataDir(missing),
        `cannot use data dir "${missing}": parent directory does not exist`,
      );
      const file = join(root, "file");
      await writeFile(file, "x");
      const under = join(file, "data");
      await rejectsWith(openDataDir(under), `cannot use data dir "${under}": a parent is not a directory`);
      await rejectsWith(openDataDir(file), `cannot use data dir "${file}": it exists and is not a directory`);
    }));

  it("refuses a read-only dir", async (t) => {
    if (ignoresPermissions()) {
      t.skip("running as root, which writes through chmod 0500; the ENOTDIR case covers the error path");
      return;
    }
    await withTempDir(async (root) => {
      const path = join(root, "ro");
      await (await openDataDir(path)).close();
      await chmod(path, 0o500);
      try {
        await rejectsWith(openDataDir(path), `cannot use data dir "${path}": permission denied`);
      } finally {
        await chmod(path, 0o700);
      }
    });
  });
});
