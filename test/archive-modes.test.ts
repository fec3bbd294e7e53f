/**
 * Every file that holds archive bytes or state is private (0600) however permissive the umask: the server's
 * data-dir snapshots and restore blobs, the spool files of save, restore, inspect and decode, the CLI's saved
 * archive and the snapshot agent's local store. Run as real processes under umask 000 (children inherit it),
 * with TMPDIR inside the test's dir so every scratch file is seen; a file created wider and narrowed after
 * (chmod) would end 0600 too, so a recursive watcher also stats each file as it appears (best effort: a file
 * gone before the stat is skipped).
 */
import assert from "node:assert/strict";
import { type FSWatcher, lstatSync, mkdtempSync, readdirSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Cluster, put, runCairn } from "./cluster.js";

/** Every regular file and directory under `dir`, with its permission bits. */
function walk(dir: string, out: Map<string, number> = new Map()): Map<string, number> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      out.set(`${p}/`, lstatSync(p).mode & 0o777);
      walk(p, out);
    } else if (e.isFile()) out.set(p, lstatSync(p).mode & 0o777);
  }
  return out;
}

describe("archives and state files are 0600 under umask 000", { timeout: 120_000 }, () => {
  let root = "";
  let oldUmask = 0;
  const oldTmp = process.env.TMPDIR;
  let watcher: FSWatcher | null = null;
  /** Files seen by the watcher with any group or other bit set, as they appeared. */
  const seenWide = new Map<string, number>();

  before(() => {
    root = mkdtempSync(join(tmpdir(), "cairn-modes-"));
    oldUmask = process.umask(0o000);
    process.env.TMPDIR = root;
    watcher = watch(root, { recursive: true }, (_event, name) => {
      if (name === null) return;
      const p = join(root, name.toString());
      try {
        const st = lstatSync(p);
        if (st.isFile() && (st.mode & 0o077) !== 0) seenWide.set(p, st.mode & 0o777);
      } catch {
        // removed before it could be looked at (temp files are short-lived)
      }
    });
    // Node 20's recursive watcher scans each new directory itself; one removed before that scan (a spool dir of
    // a few milliseconds) is reported as an error event, which must not become an uncaught exception.
    watcher.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw e;
    });
  });

  after(() => {
    watcher?.close();
    process.umask(oldUmask);
    if (oldTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = oldTmp;
    rmSync(root, { recursive: true, force: true });
  });

  it("a server's data dir, its restore blobs, the CLI's save/restore/inspect/decode and the snapshot agent's store", async () => {
    const cfg = join(root, "raft.json");
    // A low threshold makes the server write data-dir snapshots (archives) during the run.
    writeFileSync(cfg, JSON.stringify({ raft: { snapshot_threshold: 8 } }), { mode: 0o600 });
    const c = await Cluster.start(1, 1, ["-config-file", cfg]);
    const backups = join(root, "backups");
    try {
      const leader = await c.leader();
      const addr = leader.http;
      for (let i = 0; i < 30; i++) assert.equal((await put(leader, `app/${i}`, `v${i}`)).status, 200);
      const file = join(root, "backup.snap");
      const saved = await runCairn(["snapshot", "save", "-http-addr", addr, file]);
      assert.equal(saved.code, 0, saved.out);
      for (const cmd of ["inspect", "decode"]) {
        const r = await runCairn(["snapshot", cmd, file]);
        assert.equal(r.code, 0, r.out);
      }
      const restored = await runCairn(["snapshot", "restore", "-http-addr", addr, file]);
      assert.equal(restored.code, 0, restored.out);
      for (let i = 0; i < 10; i++) assert.equal((await put(leader, `after/${i}`, "x")).status, 200);
      const agent = await runCairn(
        ["snapshot", "agent", "-interval", "0", "-http-addr", addr, "-local-path", backups],
        60_000,
      );
      assert.equal(agent.code, 0, agent.out);
      await c.stopAgent(leader);

      const modes = walk(root);
      const archives = [...modes.keys()].filter((p) => /\.snap$|snap-\d+-\d+/.test(p));
      assert.ok(
        archives.some((p) => p.startsWith(leader.dataDir)),
        "the server wrote data-dir snapshots",
      );
      assert.ok(
        archives.some((p) => p.startsWith(backups)),
        "the snapshot agent stored a backup",
      );
      assert.ok(archives.includes(file));
      const wide = [...modes].filter(
        ([p, m]) => (p.endsWith("/") ? m !== 0o700 : m !== 0o600) && p !== `${root}/`,
      );
      assert.deepEqual(wide, [], "every file 0600 and every directory 0700");
      assert.deepEqual([...seenWide], [], "no file was ever seen wider than 0600");
    } finally {
      await c.stop();
    }
  });
});
